"""ProcoreClient against recorded exchanges with the Procore simulator (cassettes/procore/)."""

from __future__ import annotations

import pytest

from mlconnector.errors import ResponseError
from mlconnector.sandbox.procore import FIRST_VENDOR_ID
from mlconnector.systems.procore.readers import (
    commitment_line_items,
    find_requisitions_by_origin_id,
    find_vendors_by_origin_id,
    get_vendor,
    iter_vendors,
    list_billing_periods,
    list_cost_codes,
    list_direct_costs,
    list_line_item_types,
    list_projects,
    list_purchase_order_contracts,
    requisition_contract_items,
)
from mlconnector.systems.procore.writers import (
    create_requisition,
    delete_commitment_line_item,
    sync_commitment_line_items,
    sync_direct_cost_line_items,
    sync_direct_costs,
    sync_purchase_order_contracts,
    sync_vendors,
    update_requisition,
    update_requisition_item,
)

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


# -- project financials: the endpoints purchase orders and PO invoices use ------------------------

PO_ORIGIN = "sage300:SAMLTD:PO000101"


def _seed_project(procore, *, open_period: bool = True) -> None:
    """A vendor, two projects (one closed), cost codes, cost types and billing periods."""
    procore.add_vendor(name="Acme Concrete", origin_id="sage300:SAMLTD:ACME", is_active=True)
    project = procore.add_project("Riverside Medical Office", "2024-017")
    procore.add_project("Old Warehouse", "2019-001", active=False)
    for code, name in (("01-100", "General Requirements"), ("03-300", "Cast-in-Place Concrete"),
                       ("26-100", "Electrical")):
        procore.add_cost_code(project["id"], code, name)
    procore.add_line_item_type("M", "Materials", "materials")
    procore.add_line_item_type("S", "Subcontract", "commitment")
    procore.add_billing_period(project["id"], "2026-10-01", "2026-10-31", open=False)
    if open_period:
        procore.add_billing_period(project["id"], "2026-11-01", "2026-11-30")


def _ids(client) -> tuple[int, int, dict[str, int], dict[str, int]]:
    """(project id, vendor id, cost code ids by full code, cost type ids by code) as the API lists them."""
    (project,) = list_projects(client)
    (vendor,) = [v for page in iter_vendors(client, include_inactive=False) for v in page]
    codes = {c["full_code"]: c["id"] for c in list_cost_codes(client, project["id"])}
    types = {t["code"]: t["id"] for t in list_line_item_types(client, project["id"])}
    return project["id"], vendor["id"], codes, types


def test_projects_cost_codes_and_line_item_types_page_by_page(live):
    if live.recording:
        _seed_project(live.sandbox.procore)

    with live.procore(page_size=2) as client:
        projects = list_projects(client)
        codes = list_cost_codes(client, projects[0]["id"])
        types = list_line_item_types(client, projects[0]["id"])

    assert [(p["project_number"], p["name"]) for p in projects] == [("2024-017", "Riverside Medical Office")]
    assert projects[0]["id"] > 2**32, "ids beyond 32 bits survive"
    assert [(c["code"], c["full_code"], c["name"]) for c in codes] == [
        ("01-100", "01-100", "General Requirements"), ("03-300", "03-300", "Cast-in-Place Concrete"),
        ("26-100", "26-100", "Electrical")]
    assert [(t["code"], t["name"], t["base_type"]) for t in types] == [
        ("M", "Materials", "materials"), ("S", "Subcontract", "commitment")]


def test_billing_periods_of_a_project_page_by_page(live):
    if live.recording:
        _seed_project(live.sandbox.procore)

    with live.procore(page_size=1) as client:
        (project,) = list_projects(client)
        periods = list_billing_periods(client, project["id"])
        with pytest.raises(ResponseError) as missing:
            list_billing_periods(client, 1)

    assert [(p["position"], p["start_date"], p["end_date"], p["due_date"], p["status"]) for p in periods] == [
        (1, "2026-10-01", "2026-10-31", "2026-10-31", "closed"), (2, "2026-11-01", "2026-11-30", "2026-11-30", "open")]
    assert {p["project_id"] for p in periods} == {project["id"]}
    assert set(periods[0]) >= {"id", "project_id", "position", "start_date", "end_date", "due_date", "status",
                               "created_at", "updated_at"}  # Procore's OAS BillingPeriod model
    assert missing.value.status == 404


def test_commitment_sync_then_its_line_items_matched_by_origin_id(live):
    if live.recording:
        _seed_project(live.sandbox.procore)

    with live.procore() as client:
        project_id, vendor_id, codes, types = _ids(client)
        outcome = sync_purchase_order_contracts(client, project_id, [
            {"origin_id": PO_ORIGIN, "origin_code": "PO000101", "number": "PO000101", "title": "Concrete - Riverside",
             "vendor_id": vendor_id, "status": "Approved", "contract_date": "2026-10-05"},
            {"origin_id": "sage300:SAMLTD:PO000102", "number": "PO000102", "title": "No vendor"},
        ])
        assert outcome.rejected == {"sage300:SAMLTD:PO000102": "vendor_id: can't be blank"}
        commitment = outcome.written[PO_ORIGIN]
        lines = sync_commitment_line_items(client, project_id, commitment["id"], [
            {"origin_id": f"{PO_ORIGIN}:1000", "amount": "53259.78", "description": "Ready-mix 4000 psi",
             "quantity": "342", "unit_cost": "155.73", "uom": "CY", "cost_code_id": codes["03-300"],
             "line_item_type_id": types["M"]},
            {"origin_id": f"{PO_ORIGIN}:2000", "amount": "1200.00", "description": "Pump truck",
             "cost_code_id": codes["01-100"], "line_item_type_id": types["S"]},
            {"origin_id": f"{PO_ORIGIN}:3000", "amount": "10.00", "description": "Elsewhere", "cost_code_id": 1},
        ])
        assert lines.rejected == {f"{PO_ORIGIN}:3000": "cost_code_id: is not a cost code of this project"}
        first = lines.written[f"{PO_ORIGIN}:1000"]
        # Sent again with another amount: the same line, updated (matched by origin_id).
        again = sync_commitment_line_items(client, project_id, commitment["id"], [
            {"origin_id": f"{PO_ORIGIN}:1000", "amount": "54000.00"}])
        assert again.written[f"{PO_ORIGIN}:1000"]["id"] == first["id"]
        second = lines.written[f"{PO_ORIGIN}:2000"]
        delete_commitment_line_item(client, project_id, commitment["id"], second["id"])
        held = commitment_line_items(client, project_id, commitment["id"])
        listed = list_purchase_order_contracts(client, project_id)
        # Closed: Procore refuses line changes on it.
        closed = sync_purchase_order_contracts(client, project_id, [
            {"id": commitment["id"], "origin_id": PO_ORIGIN, "status": "Closed"}])
        refused = sync_commitment_line_items(client, project_id, commitment["id"], [
            {"origin_id": f"{PO_ORIGIN}:1000", "amount": "1.00"}])

    assert commitment["number"] == commitment["origin_code"] == "PO000101"
    assert commitment["vendor"]["id"] == vendor_id and commitment["status"] == "Approved"
    assert (first["cost_code"]["full_code"], first["line_item_type"]["code"], first["amount"]) == ("03-300", "M",
                                                                                                   "53259.78")
    assert [(li["origin_id"], li["amount"]) for li in held] == [(f"{PO_ORIGIN}:1000", "54000.00")]
    assert [(c["origin_id"], c["grand_total"]) for c in listed] == [(PO_ORIGIN, "54000.00")]
    assert closed.written[PO_ORIGIN]["status"] == "Closed"
    assert refused.rejected == {f"{PO_ORIGIN}:1000": "Line items of a closed commitment cannot be changed"}


def test_direct_cost_sync_then_its_line_items(live):
    if live.recording:
        _seed_project(live.sandbox.procore)

    with live.procore() as client:
        project_id, vendor_id, codes, types = _ids(client)
        outcome = sync_direct_costs(client, project_id, [
            {"origin_id": PO_ORIGIN, "direct_cost_type": "invoice", "invoice_number": "PO000101",
             "description": "Concrete", "status": "approved", "vendor_id": vendor_id,
             "direct_cost_date": "2026-10-05"}])
        cost = outcome.written[PO_ORIGIN]
        lines = sync_direct_cost_line_items(client, project_id, [
            {"direct_cost_id": cost["id"], "origin_id": f"{PO_ORIGIN}:1000", "amount": "500.00",
             "cost_code_id": codes["03-300"], "line_item_type_id": types["M"]},
            {"direct_cost_id": cost["id"], "origin_id": f"{PO_ORIGIN}:2000", "amount": "75.00",
             "cost_code_id": codes["01-100"]},
        ])
        listed = list_direct_costs(client, project_id)

    assert (cost["invoice_number"], cost["status"], cost["vendor"]["id"]) == ("PO000101", "approved", vendor_id)
    assert lines.rejected == {f"{PO_ORIGIN}:2000": "line_item_type_id: can't be blank"}
    assert [(d["origin_id"], d["grand_total"], [li["origin_id"] for li in d["line_items"]]) for d in listed] == [
        (PO_ORIGIN, "500.00", [f"{PO_ORIGIN}:1000"])]


def test_requisition_create_then_bill_its_contract_items(live):
    if live.recording:
        _seed_project(live.sandbox.procore)

    invoice_origin = "sage300:SAMLTD:INV-1"
    with live.procore() as client:
        project_id, vendor_id, codes, _ = _ids(client)
        commitment = sync_purchase_order_contracts(client, project_id, [
            {"origin_id": PO_ORIGIN, "number": "PO000101", "title": "Concrete", "vendor_id": vendor_id,
             "status": "Approved"}]).written[PO_ORIGIN]
        lines = sync_commitment_line_items(client, project_id, commitment["id"], [
            {"origin_id": f"{PO_ORIGIN}:{n}", "amount": amount, "cost_code_id": codes[code]}
            for n, amount, code in ((1000, "1000.00", "03-300"), (2000, "400.00", "26-100"))]).written
        assert find_requisitions_by_origin_id(client, project_id, invoice_origin) == []
        created = create_requisition(client, project_id, commitment["id"], {
            "invoice_number": "INV-1", "origin_id": invoice_origin, "billing_date": "2026-11-03"})
        items = requisition_contract_items(client, project_id, created["id"])
        billed = update_requisition_item(client, project_id, created["id"], items[0]["id"], "250.00")
        update_requisition(client, project_id, commitment["id"], created["id"], {"invoice_number": "INV-1A"})
        (found,) = find_requisitions_by_origin_id(client, project_id, invoice_origin)
        # The same origin_id again (a retried create whose first answer was lost): refused.
        with pytest.raises(ResponseError) as again:
            create_requisition(client, project_id, commitment["id"], {"invoice_number": "INV-1", "origin_id":
                                                                       invoice_origin})

    assert created["commitment_id"] == commitment["id"] and created["status"] == "draft"
    assert created["billing_date"] == "2026-11-03" and created["requisition_start"] == "2026-11-01"
    assert [(i["line_item_id"], i["scheduled_value"]) for i in items] == [
        (lines[f"{PO_ORIGIN}:1000"]["id"], "1000.00"), (lines[f"{PO_ORIGIN}:2000"]["id"], "400.00")]
    assert billed["work_completed_this_period"] == "250.00"
    assert (found["id"], found["invoice_number"], found["total_claimed_amount"]) == (created["id"], "INV-1A", "250.00")
    assert again.value.status == 422 and "origin_id: has already been taken" in again.value.message


def test_a_requisition_without_an_open_billing_period_is_refused(live):
    if live.recording:
        _seed_project(live.sandbox.procore, open_period=False)

    with live.procore() as client:
        project_id, vendor_id, _, _ = _ids(client)
        commitment = sync_purchase_order_contracts(client, project_id, [
            {"origin_id": PO_ORIGIN, "number": "PO000101", "title": "Concrete", "vendor_id": vendor_id}
        ]).written[PO_ORIGIN]
        with pytest.raises(ResponseError) as refused:
            create_requisition(client, project_id, commitment["id"], {"invoice_number": "INV-1",
                                                                       "origin_id": "sage300:SAMLTD:INV-1"})

    assert refused.value.status == 422
    assert ("create subcontractor invoice INV-1: The project must have an open billing period (or admin can specify "
            "a period_id) to create an invoice (HTTP 422)") in refused.value.message
