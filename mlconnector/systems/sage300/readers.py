"""Typed reads from Sage 300: AP vendors, purchase orders and PO invoices (sage300_syspro.md §3–4)."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from datetime import date

from mlconnector.errors import ResponseError

from mlconnector.systems.sage300.client import Page, Sage300Client, odata_string
from mlconnector.systems.sage300.paging import total_count

log = logging.getLogger("mlconnector.sage300")

VENDORS = "AP/APVendors"
PURCHASE_ORDERS = "PO/POPurchaseOrders"
PO_INVOICES = "PO/POInvoices"

# Only what the vendor mapping reads: a smaller answer on every page (fields per §3).
VENDOR_FIELDS = [
    "VendorNumber", "ShortName", "Status", "InactiveDate", "DateLastMaintained", "VendorName",
    "AddressLine1", "AddressLine2", "AddressLine3", "AddressLine4", "City", "StateProvince",
    "ZipPostalCode", "Country", "PhoneNumber", "FaxNumber", "Email", "WebSite",
]


def trim(row: dict) -> dict:
    """Sage view fields are fixed-length; strip the padding from every string, detail lines too."""
    return {k: _trim_value(v) for k, v in row.items()}


def _trim_value(value):
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list):
        return [trim(v) if isinstance(v, dict) else _trim_value(v) for v in value]
    return value


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


def document_pages(
    client: Sage300Client, resource: str, *, changed_field: str, since: date | None, start_skip: int = 0, what: str
) -> Iterator[Page]:
    """Pages of documents (purchase orders, invoices) changed on or after ``since``.

    Which field holds a document's last-edited date is not documented publicly
    (sage300_syspro.md §4.1); it is configurable. A server that refuses the filter is read
    whole, with a warning: unchanged documents are then skipped without a write.
    """
    filter = f"{changed_field} ge {since.isoformat()}T00:00:00Z" if since else None
    try:
        pages = client.pages(resource, filter=filter, start_skip=start_skip, what=what)
        first = next(pages, None)
    except ResponseError as exc:
        if filter is None or exc.status != 400:
            raise
        log.warning("%s: filtering %s on %s was refused (%s); reading every document. Set the stream's "
                    "changed_field to the last-edited field of your Sage 300 (see its PO/$metadata).",
                    client.system, resource, changed_field, exc.reason)
        pages = client.pages(resource, start_skip=start_skip, what=what)
        first = next(pages, None)
    if first is None:
        return
    for page in itertools.chain([first], pages):
        yield Page(skip=page.skip, rows=[trim(r) for r in page.rows], next_skip=page.next_skip)


def find_document(client: Sage300Client, resource: str, number_field: str, number: str, *, what: str) -> dict | None:
    """One document by the number a person sees (``PurchaseOrderNumber eq 'PO000123'``)."""
    body = client.get(resource, params={"$filter": f"{number_field} eq {odata_string(number)}", "$top": 2},
                      what=what)
    rows = body.get("value") if isinstance(body, dict) else None
    if not isinstance(rows, list):
        raise ResponseError(f"{what}: the answer has no 'value' list", system=client.system)
    return trim(rows[0]) if rows else None


def ping(client: Sage300Client) -> int | None:
    """One cheap read; returns the vendor count when the server reports it."""
    body = client.get(VENDORS, params={"$top": 1, "$count": "true"}, what="ping")
    return total_count(body) if isinstance(body, dict) else None


__all__ = ["PO_INVOICES", "PURCHASE_ORDERS", "VENDORS", "document_pages", "find_document", "get_vendor", "ping",
           "vendor_pages", "odata_string"]
