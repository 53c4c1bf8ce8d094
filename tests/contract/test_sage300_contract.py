"""Sage300Client against recorded exchanges with the Sage 300 simulator (cassettes/sage300/)."""

from __future__ import annotations

from datetime import date

import pytest

from mlconnector.errors import AuthError
from mlconnector.systems.sage300.readers import (
    PO_INVOICES,
    PURCHASE_ORDERS,
    document_pages,
    find_document,
    get_vendor,
    vendor_pages,
)

pytestmark = [pytest.mark.vcr, pytest.mark.block_network]


def test_vendor_paging_with_a_date_filter_and_a_server_page_cap(live):
    if live.recording:
        live.sandbox.sage300.page_size = 3  # the IIS PageSize, smaller than the $top we ask for
        for i in range(8):
            live.sandbox.sage300.upsert_vendor(VendorNumber=f"{1000 + i}", VendorName=f"Vendor {i}   ",
                                               DateLastMaintained="2025-06-02" if i % 4 else "2025-05-01")

    with live.sage300(page_size=5) as client:
        pages = list(vendor_pages(client, since=date(2025, 6, 1)))

    assert [[r["VendorNumber"] for r in p.rows] for p in pages] == [["1001", "1002", "1003"], ["1005", "1006", "1007"]]
    assert [(p.skip, p.next_skip) for p in pages] == [(0, 3), (3, None)]
    assert pages[0].rows[0]["VendorName"] == "Vendor 1", "padding trimmed"
    assert set(pages[0].rows[0]) == {"VendorNumber", "ShortName", "Status", "InactiveDate", "DateLastMaintained",
                                     "VendorName", "AddressLine1", "AddressLine2", "AddressLine3", "AddressLine4",
                                     "City", "StateProvince", "ZipPostalCode", "Country", "PhoneNumber", "FaxNumber",
                                     "Email", "WebSite"}, "only the $select fields come back"


def test_a_vendor_by_key_with_a_quote(live):
    if live.recording:
        live.sandbox.sage300.upsert_vendor(VendorNumber="O'NEIL", VendorName="O'Neil Electric  ", City="Waco  ")

    with live.sage300() as client:
        vendor = get_vendor(client, "O'NEIL")

    assert vendor["VendorNumber"] == "O'NEIL"
    assert vendor["VendorName"] == "O'Neil Electric" and vendor["City"] == "Waco"


def test_an_unknown_vendor_is_none(live):
    with live.sage300() as client:
        assert get_vendor(client, "NOPE") is None


def test_a_wrong_password_is_an_auth_error(live):
    with live.sage300(password="Wrong-Password-1") as client:
        with pytest.raises(AuthError) as caught:
            get_vendor(client, "1000")
    assert caught.value.code == "Unauthorized" and caught.value.status == 401
    assert "uppercase_password" in caught.value.hint


def _po_line(category: str, quantity: int, unit_cost: float) -> dict:
    return {"ItemDescription": f"Item {category}   ", "UnitOfMeasure": "EA", "QuantityOrdered": quantity,
            "UnitCost": unit_cost, "Contract": "24017", "Project": "BLDG", "Category": category}


def test_purchase_order_paging_by_last_edited_with_lines_embedded(live):
    if live.recording:
        live.sandbox.sage300.page_size = 2  # the IIS PageSize, smaller than the $top we ask for
        for i in range(6):
            live.sandbox.sage300.upsert_purchase_order(
                PurchaseOrderNumber=f"PO{101 + i:06d}", PurchaseOrderDate="2025-05-20", Vendor="1200",
                Description=f"Order {i}  ", DateLastEdited="2025-06-02" if i % 3 else "2025-05-25",
                PurchaseOrderLines=[_po_line("03-300", 10 + i, 155.5), _po_line("99-900", 1, 350)][:1 + i % 2])

    with live.sage300(page_size=5) as client:
        pages = list(document_pages(client, PURCHASE_ORDERS, changed_field="DateLastEdited", since=date(2025, 6, 1),
                                    what="read purchase orders"))
        one = find_document(client, PURCHASE_ORDERS, "PurchaseOrderNumber", "PO000102", what="read PO000102")
        none = find_document(client, PURCHASE_ORDERS, "PurchaseOrderNumber", "PO999999", what="read PO999999")

    assert [[r["PurchaseOrderNumber"] for r in p.rows] for p in pages] == [["PO000102", "PO000103"],
                                                                          ["PO000105", "PO000106"]]
    assert [(p.skip, p.next_skip) for p in pages] == [(0, 2), (2, None)]
    assert one["Description"] == "Order 1" and one["DateLastEdited"].startswith("2025-06-02")
    assert [(line["LineNumber"], line["Category"], line["ItemDescription"], line["ExtendedCost"])
            for line in one["PurchaseOrderLines"]] == [(1000, "03-300", "Item 03-300", 1710.5),
                                                       (2000, "99-900", "Item 99-900", 350)]
    assert none is None


def test_po_invoices_by_last_edited_and_one_by_number(live):
    if live.recording:
        live.sandbox.sage300.upsert_purchase_order(PurchaseOrderNumber="PO000101", PurchaseOrderDate="2025-05-20",
                                                   Vendor="1200", PurchaseOrderLines=[_po_line("03-300", 10, 100)])
        for number, edited in (("INV-1", "2025-06-03"), ("O'NEIL-7", "2025-06-04"), ("OLD-1", "2025-05-01")):
            live.sandbox.sage300.upsert_po_invoice(
                InvoiceNumber=number, InvoiceDate=edited, DateLastEdited=edited, Vendor="1200",
                PurchaseOrderNumber="PO000101", InvoiceLines=[{"PurchaseOrderLineNumber": 1000, "QuantityReceived": 4,
                                                               "UnitCost": 100, "Contract": "24017"}])

    with live.sage300() as client:
        (page,) = document_pages(client, PO_INVOICES, changed_field="DateLastEdited", since=date(2025, 6, 1),
                                 what="read PO invoices")
        quoted = find_document(client, PO_INVOICES, "InvoiceNumber", "O'NEIL-7", what="read PO invoice O'NEIL-7")

    assert [r["InvoiceNumber"] for r in page.rows] == ["INV-1", "O'NEIL-7"] and page.next_skip is None
    assert quoted["PurchaseOrderNumber"] == "PO000101" and quoted["Total"] == 400
    assert [(line["LineNumber"], line["PurchaseOrderLineNumber"], line["ExtendedCost"])
            for line in quoted["InvoiceLines"]] == [(10, 1000, 400)]
