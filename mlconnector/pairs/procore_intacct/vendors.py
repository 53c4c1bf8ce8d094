"""Vendors both ways: Intacct ``VENDOR`` → Procore company vendors, then Procore changes back.

Both directions map a vendor to one canonical form — the Procore vendor fields both systems
hold — so a hash taken on either side means the same thing:

    Intacct VENDOR                              canonical (Procore vendor field)
    VENDORID                                    origin_code; origin_id "intacct:<COMPANY>:<VENDORID>"
    NAME                                        name
    DISPLAYCONTACT.MAILADDRESS.ADDRESS1, 2      address (non-empty lines joined with ", ")
    ….CITY, ….ZIP                               city, zip
    ….COUNTRYCODE (or COUNTRY)                  country_code (ISO-3166 alpha-2; else left empty)
    ….STATE                                     state_code (when valid for that country)
    DISPLAYCONTACT.PHONE1, FAX                  business_phone, fax_number
    DISPLAYCONTACT.EMAIL1, URL1                 email_address, website
    STATUS (active | inactive)                  is_active

One link joins an Intacct vendor and a Procore vendor, with the hash of the canonical form last
synced. The Intacct → Procore pass (``vendors``) reads Intacct vendors changed since its
watermark; the Procore → Intacct pass (``vendor_changes``) reads Procore vendors changed since
its watermark that carry our ``origin_id`` (vendors created in Procore alone are not pushed into
the ledger: accounting owns the vendor master). A change one pass writes reads back with the
link's hash in the other and is skipped: no echo. When both sides changed a vendor since the
last sync, to different values, the vendor goes to quarantine naming the fields; neither side
is overwritten until a person makes them agree or replays the side that wins.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from mlconnector.engine.stream import Mapped, Match, SourcePage, Stream, Target, Write, WriteResult
from mlconnector.errors import MappingError
from mlconnector.iso3166 import country_code, subdivision_code
from mlconnector.pairs._intacct import controlid_for, repeated_controlid
from mlconnector.pairs._procore import ProcoreVendorTarget
from mlconnector.pairs.procore_intacct._common import (
    changed_pages,
    clean_text,
    intacct_timestamp,
    procore_timestamp,
    since_of,
)

FIELDS = ("name", "address", "city", "state_code", "zip", "country_code", "business_phone", "fax_number",
          "email_address", "website", "is_active")
MAX_NAME = 255
_CONTACT = "DISPLAYCONTACT."
_MAIL = "DISPLAYCONTACT.MAILADDRESS."
# The Intacct fields a vendor is read with (dotted names: readByQuery flattens the contact).
INTACCT_FIELDS = ["RECORDNO", "VENDORID", "NAME", "STATUS", "WHENMODIFIED",
                  _CONTACT + "PHONE1", _CONTACT + "FAX", _CONTACT + "EMAIL1", _CONTACT + "URL1",
                  _MAIL + "ADDRESS1", _MAIL + "ADDRESS2", _MAIL + "CITY", _MAIL + "STATE", _MAIL + "ZIP",
                  _MAIL + "COUNTRY", _MAIL + "COUNTRYCODE"]


def _place(country_text: str, state_text: str) -> tuple[str, str]:
    country = country_code(country_text) or ""
    state = (subdivision_code(country, state_text) or "") if country and state_text else ""
    return country, state


def canonical(values: dict, *, origin_code: str, label: str) -> Mapped:
    payload = {key: values.get(key, "") for key in FIELDS}
    payload["origin_code"] = origin_code
    return Mapped(payload=payload, label=label)


def map_intacct_vendor(row: dict, *, pair: str = "procore-intacct") -> Mapped:
    """An Intacct VENDOR row (dotted field names) -> the canonical vendor."""
    vendor_id = clean_text(row.get("VENDORID"))
    if not vendor_id:
        raise MappingError("the vendor has no VENDORID", pair=pair, stream="vendors", source_key="?",
                           field="VENDORID")
    name = clean_text(row.get("NAME"))
    if not name or len(name) > MAX_NAME:
        raise MappingError(f"NAME is {'empty' if not name else f'{len(name)} characters'}; Procore requires a name "
                           f"of at most {MAX_NAME} characters", pair=pair, stream="vendors", source_key=vendor_id,
                           field="NAME", hint="Correct the vendor name in Intacct; the next sync picks it up.")
    country, state = _place(clean_text(row.get(_MAIL + "COUNTRYCODE")) or clean_text(row.get(_MAIL + "COUNTRY")),
                            clean_text(row.get(_MAIL + "STATE")))
    address = ", ".join(x for x in (clean_text(row.get(_MAIL + "ADDRESS1")), clean_text(row.get(_MAIL + "ADDRESS2")))
                        if x)
    return canonical({
        "name": name, "address": address, "city": clean_text(row.get(_MAIL + "CITY")),
        "state_code": state, "zip": clean_text(row.get(_MAIL + "ZIP")), "country_code": country,
        "business_phone": clean_text(row.get(_CONTACT + "PHONE1")),
        "fax_number": clean_text(row.get(_CONTACT + "FAX")),
        "email_address": clean_text(row.get(_CONTACT + "EMAIL1")),
        "website": clean_text(row.get(_CONTACT + "URL1")),
        "is_active": clean_text(row.get("STATUS")).casefold() != "inactive",
    }, origin_code=vendor_id, label=name)


def map_procore_vendor(row: dict, *, vendor_id: str) -> Mapped:
    """A Procore vendor -> the canonical vendor of Intacct vendor ``vendor_id``."""
    name = clean_text(row.get("name"))
    country, state = _place(clean_text(row.get("country_code")), clean_text(row.get("state_code")))
    values = {key: clean_text(row.get(key)) for key in FIELDS if key not in ("is_active",)}
    values.update(country_code=country, state_code=state, is_active=row.get("is_active") is not False)
    return canonical(values, origin_code=vendor_id, label=name)


def intacct_vendor_fields(mapped: dict, current: dict | None) -> dict:
    """The Intacct VENDOR fields to send for canonical ``mapped``: those that differ from the
    ``current`` canonical form (all when None), so a field Intacct holds in more detail
    (ADDRESS1 and ADDRESS2) is only rewritten when its value really changed."""
    changed = {k for k in FIELDS if current is None or mapped.get(k) != current.get(k)}
    if changed & {"state_code", "country_code"}:
        changed |= {"state_code", "country_code"}  # a state code only means something with its country
    fields: dict = {}
    contact: dict = {}
    mail: dict = {}
    if "name" in changed:
        fields["NAME"] = mapped["name"]
    if "is_active" in changed:
        fields["STATUS"] = "active" if mapped["is_active"] else "inactive"
    for key, element in (("business_phone", "PHONE1"), ("fax_number", "FAX"), ("email_address", "EMAIL1"),
                         ("website", "URL1")):
        if key in changed:
            contact[element] = mapped[key]
    if "address" in changed:
        mail.update(ADDRESS1=mapped["address"], ADDRESS2="")
    for key, element in (("city", "CITY"), ("zip", "ZIP"), ("state_code", "STATE"), ("country_code", "COUNTRYCODE")):
        if key in changed:
            mail[element] = mapped[key]
    if mail:
        contact["MAILADDRESS"] = mail
    if contact:
        fields["DISPLAYCONTACT"] = contact
    return fields


class IntacctVendorStream(Stream):
    """Intacct vendors changed since the watermark → Procore company vendors."""

    name = "vendors"
    noun = "Intacct vendor"
    two_way = True

    def __init__(self, source, target: Target, *, pair: str, lookback_minutes: int) -> None:
        super().__init__(target)
        self.source, self.pair = source, pair
        self.lookback = timedelta(minutes=max(0, lookback_minutes))

    def scan(self, *, watermark: str | None, cursor: dict | None) -> Iterator[SourcePage]:
        from mlconnector.systems.intacct.readers import vendor_pages

        since = since_of(watermark, self.lookback)
        pages = vendor_pages(self.source, since, fields=INTACCT_FIELDS)
        return changed_pages(pages, lambda row: intacct_timestamp(row.get("WHENMODIFIED")), watermark)

    def fetch(self, source_key: str) -> dict | None:
        from mlconnector.systems.intacct.readers import get_vendor

        return get_vendor(self.source, source_key, fields=INTACCT_FIELDS)

    def source_key(self, row: dict) -> str:
        return clean_text(row.get("VENDORID"))

    def map(self, row: dict, refs: dict) -> Mapped:
        return map_intacct_vendor(row, pair=self.pair)


class ProcoreVendorChangeStream(Stream):
    """Procore vendors linked to Intacct and changed since the watermark → Intacct vendors."""

    name = "vendor_changes"
    config_name = "vendors"
    reverse_of = "vendors"
    noun = "Procore vendor"
    two_way = True

    def __init__(self, source, target: Target, *, pair: str, origin_prefix: str, lookback_minutes: int) -> None:
        super().__init__(target)
        self.source, self.pair, self.origin_prefix = source, pair, origin_prefix
        self.lookback = timedelta(minutes=max(0, lookback_minutes))

    def ours(self, row: dict) -> bool:
        return str(row.get("origin_id") or "").startswith(self.origin_prefix)

    def scan(self, *, watermark: str | None, cursor: dict | None) -> Iterator[SourcePage]:
        from mlconnector.systems.procore.readers import vendors_changed

        since = since_of(watermark, self.lookback)
        pages = ([row for row in page if self.ours(row)] for page in vendors_changed(self.source, since))
        return changed_pages(pages, lambda row: procore_timestamp(row.get("updated_at")), watermark)

    def fetch(self, source_key: str) -> dict | None:
        from mlconnector.systems.procore.readers import get_vendor

        row = get_vendor(self.source, source_key)
        return row if row is not None and self.ours(row) else None

    def source_key(self, row: dict) -> str:
        return str(row.get("id"))

    def map(self, row: dict, refs: dict) -> Mapped:
        vendor_id = str(row.get("origin_id"))[len(self.origin_prefix):]
        return map_procore_vendor(row, vendor_id=vendor_id)


class ProcoreTwoWayVendorTarget(ProcoreVendorTarget):
    """Procore vendors as the target of a two-way stream: it can read a vendor back."""

    def current(self, target_id: str) -> Mapped | None:
        from mlconnector.systems.procore.readers import get_vendor

        row = get_vendor(self.client, target_id)
        if row is None:
            return None
        origin = str(row.get("origin_id") or "")
        return map_procore_vendor(row, vendor_id=origin[len(self.origin_prefix):] if origin.startswith(
            self.origin_prefix) else clean_text(row.get("origin_code")))


class IntacctVendorTarget(Target):
    """Intacct vendors as the target of Procore changes: updates of linked vendors only."""

    def __init__(self, client) -> None:
        self.client = client
        self._current: dict[str, Mapped | None] = {}

    def idempotency_key(self, source_key: str) -> str:
        return source_key  # updates only: the Intacct VENDORID is known from the link

    def match(self, source_key: str, mapped: Mapped, *, claimed: set[str]) -> Match:
        # Reached only for a Procore vendor carrying our origin_id whose link is missing (a
        # state file restored from an older backup): its origin_id names the Intacct vendor.
        vendor_id = mapped.payload["origin_code"]
        if vendor_id not in claimed and self.current(vendor_id) is not None:
            return Match(vendor_id, how="origin_id")
        return Match()

    def current(self, target_id: str) -> Mapped | None:
        if target_id not in self._current:
            from mlconnector.systems.intacct.readers import get_vendor

            row = get_vendor(self.client, target_id, fields=INTACCT_FIELDS)
            self._current[target_id] = map_intacct_vendor(row) if row is not None else None
        return self._current[target_id]

    def write(self, writes: list[Write]) -> dict[str, WriteResult]:
        from mlconnector.systems.intacct.client import IntacctResultError
        from mlconnector.systems.intacct.writers import update

        results: dict[str, WriteResult] = {}
        for w in writes:
            vendor_id = w.target_id or w.payload["origin_code"]
            now = self.current(vendor_id)
            if now is None:  # never created from here: accounting owns the vendor master
                results[w.source_key] = WriteResult(error=f"Intacct has no vendor {vendor_id} (or it is linked to "
                                                    "another Procore vendor); create it in Intacct or correct the "
                                                    "Procore vendor's link")
                continue
            fields = intacct_vendor_fields(w.payload, now.payload)
            if fields:
                try:
                    update(self.client, "VENDOR", {"VENDORID": vendor_id, **fields},
                           controlid=controlid_for(vendor_id, f"VENDOR-{vendor_id}", w.payload))
                except IntacctResultError as exc:
                    if not repeated_controlid(exc.message):
                        results[w.source_key] = WriteResult(error=f"Intacct refused the vendor update: {exc.message}")
                        continue
            self._current.pop(vendor_id, None)
            results[w.source_key] = WriteResult(target_id=vendor_id)
        return results

    def find(self, idempotency_key: str) -> str | None:
        return idempotency_key if self.current(idempotency_key) is not None else None
