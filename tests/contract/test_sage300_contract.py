"""Sage300Client against recorded exchanges with the Sage 300 simulator (cassettes/sage300/)."""

from __future__ import annotations

from datetime import date

import pytest

from mlconnector.errors import AuthError
from mlconnector.systems.sage300.readers import get_vendor, vendor_pages

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
