"""Procore as a target, shared by every ERP → Procore pair: company vendors.

Matching follows DESIGN.md §4.3: a vendor that already carries our ``origin_id`` is ours;
else one whose normalised name equals ours and that no other record or integration owns
(no ``origin_id``, not linked) is linked and its ``origin_id`` back-filled; several such
vendors are ambiguous. The whole directory is listed once per run and matched in memory —
never one lookup request per record.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from mlconnector.engine.stream import Mapped, Match, Target, Write, WriteResult
from mlconnector.systems.procore import ProcoreClient
from mlconnector.systems.procore.readers import find_vendors_by_origin_id, iter_vendors
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


# Reconciling more pending writes than this lists the directory once instead of one look-up each.
FIND_ONE_BY_ONE = 20


class ProcoreVendorTarget(Target):
    batch_size = SYNC_BATCH_SIZE

    def __init__(self, client: ProcoreClient, *, origin_prefix: str) -> None:
        self.client = client
        self.origin_prefix = origin_prefix
        self._index: _VendorIndex | None = None

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

    def match(self, source_key: str, mapped: Mapped, *, claimed: set[str]) -> Match:
        index = self.index
        owned = index.by_origin.get(self.idempotency_key(source_key))
        if owned:
            return Match(owned, how="origin_id")
        name = normalise_name(mapped.payload.get("name"))
        candidates = tuple(v for v in index.unowned_by_name.get(name, []) if v not in claimed)
        if len(candidates) == 1:
            return Match(candidates[0], how="name")
        return Match(candidates=candidates) if candidates else Match()

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
            if origin_id in outcome.written:
                vendor = outcome.written[origin_id]
                results[write.source_key] = WriteResult(target_id=str(vendor["id"]))
                if self._index is not None:
                    self._index.add(vendor)
            elif origin_id in outcome.rejected:
                results[write.source_key] = WriteResult(error=f"Procore rejected it: {outcome.rejected[origin_id]}")
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
        name = self._index.names.get(target_id) if self._index else None
        return f"{target_id} ({name})" if name else target_id


def _procore_id(target_id: str) -> int | str:
    return int(target_id) if target_id.isdigit() else target_id
