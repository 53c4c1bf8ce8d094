"""ProcoreClient against recorded exchanges with the Procore simulator (cassettes/procore/)."""

from __future__ import annotations

import pytest

from mlconnector.sandbox.procore import FIRST_VENDOR_ID
from mlconnector.systems.procore.readers import find_vendors_by_origin_id, get_vendor, iter_vendors
from mlconnector.systems.procore.writers import sync_vendors

pytestmark = [pytest.mark.vcr, pytest.mark.block_network]


def test_token_then_list_vendors_page_by_page(live):
    if live.recording:
        for i in range(5):
            live.sandbox.procore.add_vendor(name=f"Vendor {i}", origin_id=f"sage300:SAMLTD:V{i}", is_active=True)
        live.sandbox.procore.add_vendor(name="Old Vendor", is_active=False)

    with live.procore(page_size=2) as client:
        pages = list(iter_vendors(client))
        assert client.tokens.requests == 1, "one token for the whole listing"

    assert [[v["name"] for v in page] for page in pages] == [
        ["Vendor 0", "Vendor 1"], ["Vendor 2", "Vendor 3"], ["Vendor 4"], ["Old Vendor"]]
    assert pages[0][0]["id"] == FIRST_VENDOR_ID, "ids beyond 32 bits survive"
    assert pages[3][0]["is_active"] is False


def test_vendors_sync_creates_and_reports_a_per_item_error(live):
    with live.procore() as client:
        outcome = sync_vendors(client, [
            {"origin_id": "sage300:SAMLTD:1200", "origin_code": "1200", "name": "Acme Concrete",
             "city": "Austin", "state_code": "TX", "country_code": "US", "is_active": True},
            {"origin_id": "sage300:SAMLTD:1300", "origin_code": "1300", "name": "   "},
        ])
        created = outcome.written["sage300:SAMLTD:1200"]
        assert outcome.rejected == {"sage300:SAMLTD:1300": "name: can't be blank"}
        assert [v["id"] for v in find_vendors_by_origin_id(client, "sage300:SAMLTD:1200")] == [created["id"]]
        assert get_vendor(client, created["id"])["name"] == "Acme Concrete"

    assert created["state_code"] == "TX" and created["origin_code"] == "1200"
    if live.recording:
        assert live.sandbox.procore.vendor_by_origin_id("sage300:SAMLTD:1300") is None


def test_an_expired_token_is_renewed_on_401_and_the_call_retried(live):
    if live.recording:
        live.sandbox.procore.add_vendor(name="Acme Concrete")

    with live.procore() as client:
        assert [v["name"] for page in iter_vendors(client, include_inactive=False) for v in page] == ["Acme Concrete"]
        if live.recording:
            live.sandbox.procore.expire_all_tokens()  # Procore revoked it early: the next call gets a 401
        assert [v["name"] for page in iter_vendors(client, include_inactive=False) for v in page] == ["Acme Concrete"]
        assert client.tokens.requests == 2
        assert client.reads == 3, "the 401 and its one retry"
