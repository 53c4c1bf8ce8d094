"""Procore as a target, shared by every ERP → Procore pair: company vendors.

Matching follows DESIGN.md §4.3: a vendor that already carries our ``origin_id`` is ours;
else one whose normalised name equals ours and that no other record or integration owns
(no ``origin_id``, not linked) is linked and its ``origin_id`` back-filled; several such
vendors are ambiguous. The whole directory is listed once per run and matched in memory —
never one lookup request per record. Only the first few records of a run (typically the ones
retried from quarantine on an otherwise idle run) are tried with two targeted look-ups first,
and those may only conclude what a partial answer proves: the vendor carrying our origin_id,
or an ambiguity; anything else still goes to the full listing before a create.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from mlconnector.engine.stream import Mapped, Match, Target, Write, WriteResult
from mlconnector.systems.procore import ProcoreClient
from mlconnector.systems.procore.readers import find_vendors_by_origin_id, iter_vendors, search_vendors
from mlconnector.systems.procore.writers import SYNC_BATCH_SIZE, sync_vendors


def normalise_name(name: str | None) -> str:
    """"Acme Concrete, LLC" and "ACME CONCRETE LLC" -> "acme concrete llc".

    Case, accents, punctuation and spacing differ between systems for the same company;
    words (LLC vs Inc) do not, because they may mean different legal entities.
    """
    text = unicodedata.normalize("NFKD", name or "")
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    return re.sub(r"[\W_]+", " ", text).strip()


@dataclass
class _VendorIndex:
    by_origin: dict[str, str] = field(default_factory=dict)
    # normalised name -> ids of vendors without an origin_id (free to be linked)
    unowned_by_name: dict[str, list[str]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)

    def add(self, vendor: dict) -> None:
        vendor_id = str(vendor["id"])
        self.names[vendor_id] = str(vendor.get("name") or "")
        origin_id = vendor.get("origin_id")
        if origin_id:
            self.by_origin[str(origin_id)] = vendor_id
        else:
            self.unowned_by_name.setdefault(normalise_name(vendor.get("name")), []).append(vendor_id)


# Matching more unlinked records than this lists the directory instead of looking each one up.
MATCH_ONE_BY_ONE = 10
# Reconciling more pending writes than this lists the directory once instead of one look-up each.
FIND_ONE_BY_ONE = 20


class ProcoreVendorTarget(Target):
    batch_size = SYNC_BATCH_SIZE

    def __init__(self, client: ProcoreClient, *, origin_prefix: str) -> None:
        self.client = client
        self.origin_prefix = origin_prefix
        self._index: _VendorIndex | None = None
        self._lookups = 0
        self._names: dict[str, str] = {}

    def idempotency_key(self, source_key: str) -> str:
        return self.origin_prefix + source_key

    @property
    def index(self) -> _VendorIndex:
        if self._index is None:
            index = _VendorIndex()
            for page in iter_vendors(self.client):
                for vendor in page:
                    if isinstance(vendor, dict) and vendor.get("id") is not None:
                        index.add(vendor)
            self._index = index
        return self._index

    def expect_matches(self, count: int) -> None:
        # A page with more unlinked vendors than we would look up one by one needs the listing
        # anyway: take it now instead of spending look-ups on the page's first records.
        if count > MATCH_ONE_BY_ONE:
            self._lookups = MATCH_ONE_BY_ONE

    def match(self, source_key: str, mapped: Mapped, *, claimed: set[str]) -> Match:
        if self._index is None and self._lookups < MATCH_ONE_BY_ONE:
            self._lookups += 1
            found = self._match_by_lookup(source_key, mapped, claimed)
            if found is not None:
                return found
        index = self.index
        owned = index.by_origin.get(self.idempotency_key(source_key))
        if owned:
            return Match(owned, how="origin_id")
        name = normalise_name(mapped.payload.get("name"))
        candidates = tuple(v for v in index.unowned_by_name.get(name, []) if v not in claimed)
        if len(candidates) == 1:
            return Match(candidates[0], how="name")
        return Match(candidates=candidates) if candidates else Match()

    def _match_by_lookup(self, source_key: str, mapped: Mapped, claimed: set[str]) -> Match | None:
        """A certain answer from two look-ups, or None when only the full listing can tell."""
        owned = find_vendors_by_origin_id(self.client, self.idempotency_key(source_key))
        if owned:
            return Match(str(owned[0]["id"]), how="origin_id")
        name = normalise_name(mapped.payload.get("name"))
        term = search_term(mapped.payload.get("name"))
        if not term:
            return None
        candidates = []
        for vendor in search_vendors(self.client, term):
            vendor_id = str(vendor.get("id"))
            if not vendor.get("origin_id") and normalise_name(vendor.get("name")) == name and vendor_id not in claimed:
                self._names[vendor_id] = str(vendor.get("name") or "")
                candidates.append(vendor_id)
        # Two or more are ambiguous whatever else exists; one or none might be a partial answer
        # (the search may not see accent variants or inactive vendors).
        return Match(candidates=tuple(candidates)) if len(candidates) > 1 else None

    def write(self, writes: list[Write]) -> dict[str, WriteResult]:
        by_origin = {w.idempotency_key: w for w in writes}
        items = []
        for w in writes:
            item = dict(w.payload, origin_id=w.idempotency_key)
            if w.target_id:
                item["id"] = _procore_id(w.target_id)
            items.append(item)
        outcome = sync_vendors(self.client, items)
        results: dict[str, WriteResult] = {}
        for origin_id, write in by_origin.items():
            vendor, rejected = outcome.outcome_of(origin_id, write.target_id)
            if vendor is not None:
                results[write.source_key] = WriteResult(target_id=str(vendor["id"]))
                if self._index is not None:
                    self._index.add(dict(vendor, origin_id=vendor.get("origin_id") or origin_id))
            elif rejected is not None:
                results[write.source_key] = WriteResult(error=f"Procore rejected it: {rejected}")
            else:
                results[write.source_key] = WriteResult(error="Procore's answer did not mention this vendor")
        return results

    def find(self, idempotency_key: str) -> str | None:
        if self._index is not None:
            return self._index.by_origin.get(idempotency_key)
        found = find_vendors_by_origin_id(self.client, idempotency_key)
        return str(found[0]["id"]) if found else None

    def find_many(self, idempotency_keys: list[str]) -> dict[str, str | None]:
        # A few look-ups are cheaper than listing a large directory; past that, one listing
        # (which matching the re-read records will need anyway) beats a request per key.
        if self._index is None and len(idempotency_keys) <= FIND_ONE_BY_ONE:
            return super().find_many(idempotency_keys)
        index = self.index
        return {key: index.by_origin.get(key) for key in idempotency_keys}

    def describe(self, target_id: str) -> str:
        name = self._index.names.get(target_id) if self._index else self._names.get(target_id)
        return f"{target_id} ({name})" if name else target_id


def search_term(name: str | None) -> str:
    """The longest word of a name as typed, for ``filters[search]`` (a substring search)."""
    words = re.findall(r"\w+", name or "")
    return max(words, key=len) if words else ""


def _procore_id(target_id: str) -> int | str:
    return int(target_id) if target_id.isdigit() else target_id
