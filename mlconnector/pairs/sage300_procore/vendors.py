"""Sage 300 → Procore: AP vendors to the Procore company directory.

Field mapping (sage300_syspro.md §3 → procore.md §5.1):

    VendorNumber          -> origin_code; origin_id "sage300:<COMPANY>:<VendorNumber>" (set by the target)
    VendorName            -> name (required, at most 255 characters)
    ShortName             -> abbreviated_name
    AddressLine1..4       -> address (non-empty lines joined with ", ")
    City, ZipPostalCode   -> city, zip
    Country               -> country_code, ISO-3166 alpha-2 when it resolves, else left out (warning)
    StateProvince         -> state_code, when valid for that country, else left out (warning)
    PhoneNumber, FaxNumber-> business_phone, fax_number
    Email, WebSite        -> email_address, website
    Status                -> is_active (anything but "Inactive" is active)

``origin_id`` carries the Sage company so two Sage companies feeding one Procore company
cannot collide; it does not carry the system's name in the YAML, so renaming that is safe.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from mlconnector.engine.stream import Mapped
from mlconnector.errors import MappingError
from mlconnector.iso3166 import country_code, subdivision_code
from mlconnector.pairs.sage300_procore._common import (
    DatedStream,
    checked_date,
    clean_text,
    sage_date,
)
from mlconnector.systems.sage300.client import Page
from mlconnector.systems.sage300.readers import get_vendor, vendor_pages

MAX_NAME = 255


def map_vendor(row: dict, *, pair: str = "sage300-procore") -> Mapped:
    """A Sage 300 ``APVendors`` row -> a Procore vendor sync item."""
    number = clean_text(row.get("VendorNumber"))
    if not number:
        name = clean_text(row.get("VendorName"))
        raise MappingError("the vendor" + (f" named {name[:60]!r}" if name else "") + " has no VendorNumber",
                           pair=pair, stream="vendors", source_key="?", field="VendorNumber")
    name = clean_text(row.get("VendorName"))
    if not name:
        raise MappingError("VendorName is empty; Procore requires a name", pair=pair, stream="vendors",
                           source_key=number, field="VendorName",
                           hint="Enter a vendor name in Sage 300 (A/P Vendors); the next sync picks it up.")
    if len(name) > MAX_NAME:
        raise MappingError(f"VendorName is {len(name)} characters; Procore takes at most {MAX_NAME}",
                           pair=pair, stream="vendors", source_key=number, field="VendorName",
                           hint="Shorten the vendor name in Sage 300.")
    warnings: list[str] = []
    address = ", ".join(
        line for line in (clean_text(row.get(f"AddressLine{i}")) for i in range(1, 5)) if line
    )
    payload: dict = {
        "origin_code": number,
        "name": name,
        "abbreviated_name": clean_text(row.get("ShortName")),
        "address": address,
        "city": clean_text(row.get("City")),
        "zip": clean_text(row.get("ZipPostalCode")),
        "business_phone": clean_text(row.get("PhoneNumber")),
        "fax_number": clean_text(row.get("FaxNumber")),
        "email_address": clean_text(row.get("Email")),
        "website": clean_text(row.get("WebSite")),
        "is_active": clean_text(row.get("Status")).casefold() != "inactive",
    }
    country_text = clean_text(row.get("Country"))
    state_text = clean_text(row.get("StateProvince"))
    country = country_code(country_text)
    if country:
        payload["country_code"] = country
        if state_text:
            state = subdivision_code(country, state_text)
            if state:
                payload["state_code"] = state
            else:
                warnings.append(f"StateProvince {state_text!r} is not a state code of {country}: left out")
    elif country_text:
        warnings.append(f"Country {country_text!r} is not an ISO-3166 country: country and state left out")
    try:
        checked_date(row.get("DateLastMaintained"))
    except ValueError as exc:
        warnings.append(f"DateLastMaintained {exc}: the next sync reads this vendor again only with --full "
                        "or once the date is corrected")
    # Empty text is left out rather than sent as "": a target may validate "" (an e-mail, a
    # phone) and reject the whole vendor. The cost: a value cleared in Sage stays in Procore.
    payload = {k: v for k, v in payload.items() if v != ""}
    return Mapped(payload=payload, warnings=tuple(warnings), label=name)


class VendorStream(DatedStream):
    name = "vendors"
    noun = "Sage 300 vendor"

    def changed_on(self, row: dict) -> date | None:
        return sage_date(row.get("DateLastMaintained"))

    def read_pages(self, since: date | None, start_skip: int) -> Iterator[Page]:
        return vendor_pages(self.source, since=since, start_skip=start_skip)

    def fetch(self, source_key: str) -> dict | None:
        return get_vendor(self.source, source_key)

    def source_key(self, row: dict) -> str:
        return clean_text(row.get("VendorNumber"))

    def map(self, row: dict, refs: dict) -> Mapped:
        return map_vendor(row, pair=self.pair)
