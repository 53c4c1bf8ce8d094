"""Typed reads from Sage 300: AP vendors (sage300_syspro.md §3)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from mlconnector.systems.sage300.client import Page, Sage300Client, odata_string
from mlconnector.systems.sage300.paging import total_count

VENDORS = "AP/APVendors"

# Only what the vendor mapping reads: a smaller answer on every page (fields per §3).
VENDOR_FIELDS = [
    "VendorNumber", "ShortName", "Status", "InactiveDate", "DateLastMaintained", "VendorName",
    "AddressLine1", "AddressLine2", "AddressLine3", "AddressLine4", "City", "StateProvince",
    "ZipPostalCode", "Country", "PhoneNumber", "FaxNumber", "Email", "WebSite",
]


def trim(row: dict) -> dict:
    """Sage view fields are fixed-length; strip the padding from every string."""
    return {k: (v.strip() if isinstance(v, str) else v) for k, v in row.items()}


def vendor_pages(client: Sage300Client, *, since: date | None, start_skip: int = 0) -> Iterator[Page]:
    """Pages of vendors maintained on or after ``since`` (all vendors when None).

    ``DateLastMaintained`` is a date without a time, so the filter starts at midnight of
    ``since`` and the boundary day is read again on the next run.
    """
    filter = f"DateLastMaintained ge {since.isoformat()}T00:00:00Z" if since else None
    for page in client.pages(VENDORS, filter=filter, select=VENDOR_FIELDS, start_skip=start_skip, what="read vendors"):
        yield Page(skip=page.skip, rows=[trim(r) for r in page.rows], next_skip=page.next_skip)


def get_vendor(client: Sage300Client, vendor_number: str) -> dict | None:
    row = client.get_entity(VENDORS, vendor_number, what=f"read vendor {vendor_number}")
    return trim(row) if row is not None else None


def ping(client: Sage300Client) -> int | None:
    """One cheap read; returns the vendor count when the server reports it."""
    body = client.get(VENDORS, params={"$top": 1, "$count": "true"}, what="ping")
    return total_count(body) if isinstance(body, dict) else None


__all__ = ["VENDORS", "get_vendor", "ping", "vendor_pages", "odata_string"]
