"""Procore's financial tools in the simulator over real HTTP: projects, cost codes, cost types,
purchase order contracts and their line items, direct costs, billing periods, requisitions."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from mlconnector.sandbox import ProcoreSimulator

from .conftest import FakeClock

API = "/rest/v1.0"
PO = f"{API}/purchase_order_contracts"
REQ = f"{API}/requisitions"
NO_OPEN_PERIOD = "The project must have an open billing period (or admin can specify a period_id) to create an invoice"


@dataclass
class Setup:
    """Two projects with cost codes, cost types, vendors and (for the first only) an open billing period."""

    procore: ProcoreSimulator
    api: httpx.Client
    project: dict[str, Any]
    other: dict[str, Any]
    codes: dict[str, int]  # full code -> id, first project
    other_code: int  # 03-100 of the other project
    types: dict[str, int]  # L/M/S/E/O -> id
    vendor: dict[str, Any]


@pytest.fixture
def fin(procore: ProcoreSimulator, api: httpx.Client) -> Iterator[Setup]:
    procore.set_rate_limits(hourly=100_000, spike=100_000)
    project = procore.add_project("Harbor Point Apartments", "2024-021")
    other = procore.add_project("Mill Street Parking", "2025-009")
    codes = {code: procore.add_cost_code(project["id"], code, name)["id"]
             for code, name in [("03-100", "Concrete Forming"), ("26-100", "Electrical"), ("31-200", "Earthwork")]}
    other_code = procore.add_cost_code(other["id"], "03-100", "Concrete Forming")["id"]
    types = {code: procore.add_line_item_type(code, name, base)["id"] for code, name, base in [
        ("L", "Labor", "labor"), ("M", "Materials", "materials"), ("S", "Subcontract", "commitment"),
        ("E", "Equipment", "equipment"), ("O", "Other", "other")]}
    procore.add_billing_period(project["id"], "2026-03-01", "2026-03-31", open=False)
    procore.add_billing_period(project["id"], "2026-04-01", "2026-04-30")
    procore.add_billing_period(other["id"], "2026-03-01", "2026-03-31", open=False)
    vendor = procore.add_vendor(name="Acme Concrete Supply, Inc.", origin_id="sage300:SAMLTD:ACMESUP")
    yield Setup(procore, api, project, other, codes, other_code, types, vendor)


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _sync(api: httpx.Client, url: str, updates: list, **params: Any) -> dict:
    return _ok(api.patch(url, params=params, json={"updates": updates}))


def _commitment(fin: Setup, **fields: Any) -> dict:
    body = {"project_id": fin.project["id"], "purchase_order_contract": {"vendor_id": fin.vendor["id"], **fields}}
    return _ok(fin.api.post(PO, json=body), 201)


def _lines(fin: Setup, commitment_id: int, updates: list) -> dict:
    return _sync(fin.api, f"{PO}/{commitment_id}/line_items/sync", updates, project_id=fin.project["id"])


def _line(fin: Setup, origin_id: str, amount: str, code: str = "03-100") -> dict:
    return {"origin_id": origin_id, "amount": amount, "cost_code_id": fin.codes[code],
            "line_item_type_id": fin.types["M"], "description": f"line {origin_id}"}


# -- projects, cost codes, cost types, billing periods ---------------------------------------------------


def test_projects_list_filters_show_and_paging(fin: Setup, clock: FakeClock) -> None:
    company = {"company_id": fin.procore.company_id}
    listed = _ok(fin.api.get(f"{API}/projects", params=company))
    assert [p["project_number"] for p in listed] == ["2024-021", "2025-009"]
    assert listed[0] == {
        "id": fin.project["id"], "name": "Harbor Point Apartments",
        "display_name": "2024-021 - Harbor Point Apartments",
        "project_number": "2024-021", "active": True, "origin_id": None, "origin_code": None, "origin_data": None,
        "company": {"id": fin.procore.company_id, "name": fin.procore.company_name},
        "created_at": "2025-06-15T15:06:40Z", "updated_at": "2025-06-15T15:06:40Z"}
    for n in range(3):
        fin.procore.add_project(f"Job {n}", f"2026-00{n}", origin_id=f"P{n}", active=n != 2)
    page = fin.api.get(f"{API}/projects", params={**company, "per_page": 2, "page": 2})
    assert page.headers["Total"] == "4"
    assert 'rel="prev"' in page.headers["Link"] and 'rel="next"' not in page.headers["Link"]
    assert [p["name"] for p in page.json()] == ["Job 0", "Job 1"]  # inactive ones are not listed by default
    def names(**filters: str) -> list[str]:
        return [p["name"] for p in _ok(fin.api.get(f"{API}/projects", params={**company, **filters}))]

    assert names(**{"filters[origin_id]": "P1"}) == ["Job 1"]
    assert names(**{"filters[name]": "point"}) == ["Harbor Point Apartments"]
    assert len(names(**{"filters[by_status]": "All"})) == 5
    assert _ok(fin.api.get(f"{API}/projects/{fin.other['id']}", params=company))["name"] == "Mill Street Parking"
    assert fin.api.get(f"{API}/projects").status_code == 400
    with pytest.raises(ValueError):
        fin.procore.add_project("Dup", "X", origin_id="P1")


def test_cost_codes_line_item_types_and_billing_periods(fin: Setup) -> None:
    codes = _ok(fin.api.get(f"{API}/cost_codes", params={"project_id": fin.project["id"]}))
    assert [c["full_code"] for c in codes] == ["03-100", "26-100", "31-200"]
    assert set(codes[0]) >= {"id", "code", "full_code", "name", "parent", "project_id", "origin_id", "created_at",
                             "updated_at"}
    assert codes[0]["parent"] is None and codes[0]["project_id"] == fin.project["id"]
    assert fin.api.get(f"{API}/cost_codes").json() == {"errors": "param is missing or the value is empty: project_id"}
    assert fin.api.get(f"{API}/cost_codes", params={"project_id": 1}).status_code == 404
    types = _ok(fin.api.get(f"{API}/line_item_types", params={"company_id": fin.procore.company_id,
                                                                "project_id": fin.project["id"]}))
    assert [(t["code"], t["name"], t["base_type"]) for t in types][:3] == [
        ("L", "Labor", "labor"), ("M", "Materials", "materials"), ("S", "Subcontract", "commitment")]
    assert set(types[0]) == {"id", "name", "code", "base_type", "origin_id", "origin_data"}
    periods = _ok(fin.api.get(f"{API}/projects/{fin.project['id']}/billing_periods"))
    assert [(p["start_date"], p["end_date"], p["due_date"], p["status"]) for p in periods] == [
        ("2026-03-01", "2026-03-31", "2026-03-31", "closed"), ("2026-04-01", "2026-04-30", "2026-04-30", "open")]
    assert fin.procore.billing_periods(fin.other["id"])[0]["status"] == "closed"
    with pytest.raises(ValueError):
        fin.procore.add_line_item_type("X", "Bogus", "bogus")


# -- purchase order contracts -------------------------------------------------------------------------


def test_create_commitment_and_its_422s(fin: Setup) -> None:
    created = _commitment(fin, title="Ready-mix concrete", origin_id="PO000101", origin_code="PO000101",
                          status="Approved", executed=True, contract_date="2026-04-02")
    assert created["number"] == "1"  # numbered by Procore when none is given
    assert created["vendor"] == {"id": fin.vendor["id"], "company": fin.vendor["name"],
                                 "origin_id": "sage300:SAMLTD:ACMESUP"}
    assert created["project"] == {"id": fin.project["id"], "name": fin.project["name"]}
    assert (created["status"], created["executed"], created["grand_total"], created["line_items"]) == (
        "Approved", True, "0.00", [])
    assert created["contract_date"] == "2026-04-02" and created["deleted_at"] is None
    post = {"project_id": fin.project["id"]}
    for fields, errors in [
        ({"title": "no vendor"}, {"vendor_id": ["can't be blank"]}),
        ({"vendor_id": 42}, {"vendor_id": ["is invalid"]}),
        ({"vendor_id": fin.vendor["id"], "status": "Open"}, {"status": ["is not included in the list"]}),
        ({"vendor_id": fin.vendor["id"], "origin_id": "PO000101"}, {"origin_id": ["has already been taken"]}),
        ({"vendor_id": fin.vendor["id"], "number": "1"}, {"number": ["has already been taken"]}),
    ]:
        response = fin.api.post(PO, json={**post, "purchase_order_contract": fields})
        assert (response.status_code, response.json()) == (422, {"errors": errors})
    assert fin.api.post(PO, json={"purchase_order_contract": {"vendor_id": fin.vendor["id"]}}).status_code == 400
    assert fin.api.post(PO, json={"project_id": 1, "purchase_order_contract": {}}).status_code == 404
    patched = _ok(fin.api.patch(f"{PO}/{created['id']}", json={**post, "purchase_order_contract": {"title": "New"}}))
    assert patched["title"] == "New" and patched["origin_id"] == "PO000101"


def test_list_show_filters_and_paging_of_commitments(fin: Setup) -> None:
    made = [_commitment(fin, origin_id=f"PO{n}", status="Approved" if n % 2 else "Draft") for n in range(5)]
    params = {"project_id": fin.project["id"]}
    page = fin.api.get(PO, params={**params, "per_page": 2, "page": 3})
    assert page.headers["Total"] == "5" and page.headers["Per-Page"] == "2"
    assert [c["id"] for c in page.json()] == [made[4]["id"]]
    assert "line_items" not in page.json()[0]  # the list is the compact view
    assert [c["origin_id"] for c in _ok(fin.api.get(PO, params={**params, "filters[status]": "Approved"}))] == [
        "PO1", "PO3"]
    assert [c["id"] for c in _ok(fin.api.get(PO, params={**params, "filters[origin_id]": "PO2"}))] == [made[2]["id"]]
    assert _ok(fin.api.get(f"{PO}/{made[0]['id']}", params=params))["line_items"] == []
    assert fin.api.get(f"{PO}/{made[0]['id']}", params={"project_id": fin.other["id"]}).status_code == 404
    assert fin.api.get(PO).status_code == 400
    assert _ok(fin.api.get(PO, params={"project_id": fin.other["id"]})) == []


def test_commitment_sync_matching(fin: Setup) -> None:
    url, pid = f"{PO}/sync", fin.project["id"]
    first = _ok(fin.api.patch(url, json={"project_id": pid, "updates": [
        {"origin_id": "PO000101", "vendor_id": fin.vendor["id"], "title": "Concrete", "number": "PO000101"},
        {"vendor_id": fin.vendor["id"], "title": "No keys"},
        {"origin_id": "PO000102", "title": "No vendor"},
        {"origin_id": "PO000103", "vendor_id": 99, "status": "Closed"},
        {"id": 12345, "title": "Ghost"},
        "not an object",
    ]}))
    concrete, no_keys = first["entities"]
    assert (concrete["number"], concrete["origin_id"], no_keys["origin_id"]) == ("PO000101", "PO000101", None)
    assert first["errors"] == [
        {"origin_id": "PO000102", "title": "No vendor", "errors": {"vendor_id": ["can't be blank"]}},
        {"origin_id": "PO000103", "vendor_id": 99, "status": "Closed", "errors": {"vendor_id": ["is invalid"]}},
        {"id": 12345, "title": "Ghost", "errors": {"id": ["Entity with this ID not found"]}},
        {"item": "not an object", "errors": {"base": ["is invalid"]}},
    ]
    again = _ok(fin.api.patch(url, json={"project_id": pid, "updates": [
        {"origin_id": "PO000101", "status": "Approved"},  # origin_id found: update, vendor not needed
        {"id": no_keys["id"], "origin_id": "PO000104"},  # only a match on id changes origin_id
        {"id": concrete["id"], "origin_id": "PO000104"},  # ... and it stays unique
    ]}))
    assert [(e["id"], e["status"], e["origin_id"], e["title"]) for e in again["entities"]] == [
        (concrete["id"], "Approved", "PO000101", "Concrete"), (no_keys["id"], "Draft", "PO000104", "No keys")]
    assert again["errors"][0]["errors"] == {"origin_id": ["has already been taken"]}
    # origin_id is unique in the company: another project cannot reuse it, nor match it
    elsewhere = _ok(fin.api.patch(url, json={"project_id": fin.other["id"], "updates": [
        {"origin_id": "PO000101", "vendor_id": fin.vendor["id"]}]}))
    assert elsewhere["errors"][0]["errors"] == {"origin_id": ["has already been taken"]}
    assert len(fin.procore.commitments()) == 2 and fin.procore.commitments(fin.other["id"]) == []
    too_many = fin.api.patch(url, json={"project_id": pid, "updates": [{"title": str(n)} for n in range(1001)]})
    assert (too_many.status_code, too_many.json()) == (413, {"errors": "Payload Too Large"})


# -- commitment line items --------------------------------------------------------------------------


def test_line_item_sync_create_update_and_grand_total(fin: Setup, clock: FakeClock) -> None:
    commitment = _commitment(fin, origin_id="PO000101")
    created = _lines(fin, commitment["id"], [
        _line(fin, "PO000101:1000", "1500.5"),
        {"origin_id": "PO000101:2000", "quantity": 12, "unit_cost": "10.125", "uom": "CY",
         "cost_code_id": fin.codes["26-100"]},
    ])
    assert created["errors"] == []
    first, second = created["entities"]
    assert (first["amount"], first["extended_type"], first["position"]) == ("1500.50", "manual", 1)
    assert first["cost_code"] == {"id": fin.codes["03-100"], "code": "03-100", "full_code": "03-100",
                                  "name": "Concrete Forming", "origin_id": None}
    assert first["line_item_type"]["code"] == "M" and first["holder"] == {
        "id": commitment["id"], "holder_type": "PurchaseOrderContract"}
    assert (second["amount"], second["quantity"], second["unit_cost"], second["extended_type"]) == (
        "121.50", "12", "10.125", "calculated")
    assert second["line_item_type"] is None
    clock.advance(60)
    updated = _lines(fin, commitment["id"], [{"origin_id": "PO000101:1000", "amount": 2000}])["entities"][0]
    assert (updated["id"], updated["amount"], updated["description"]) == (first["id"], "2000.00", "line PO000101:1000")
    assert updated["updated_at"] > first["updated_at"]
    shown = _ok(fin.api.get(f"{PO}/{commitment['id']}", params={"project_id": fin.project["id"]}))
    assert shown["grand_total"] == "2121.50" and [li["id"] for li in shown["line_items"]] == [first["id"], second["id"]]
    listed = fin.api.get(f"{PO}/{commitment['id']}/line_items", params={"project_id": fin.project["id"]})
    assert listed.headers["Total"] == "2" and [li["origin_id"] for li in listed.json()] == [
        "PO000101:1000", "PO000101:2000"]


def test_line_item_validation(fin: Setup) -> None:
    commitment = _commitment(fin)
    other_commitment = _commitment(fin)
    _lines(fin, other_commitment["id"], [_line(fin, "TAKEN", "1")])
    result = _lines(fin, commitment["id"], [
        {"origin_id": "A", "amount": "10"},
        {"origin_id": "B", "amount": "10", "cost_code_id": fin.other_code},
        {"origin_id": "C", "amount": "10", "cost_code_id": 999},
        {"origin_id": "D", "amount": "ten", "cost_code_id": fin.codes["03-100"]},
        {"origin_id": "E", "amount": "1", "cost_code_id": fin.codes["03-100"], "line_item_type_id": 999},
        _line(fin, "TAKEN", "1"),  # unique among commitment line items, not only within this contract
    ])
    assert result["entities"] == []
    assert [e["errors"] for e in result["errors"]] == [
        {"cost_code_id": ["can't be blank"]},
        {"cost_code_id": ["is not a cost code of this project"]},
        {"cost_code_id": ["is not a cost code of this project"]},
        {"amount": ["is not a number"]},
        {"line_item_type_id": ["is invalid"]},
        {"origin_id": ["has already been taken"]},
    ]
    assert result["errors"][1]["cost_code_id"] == fin.other_code  # the item is echoed back
    url = f"{PO}/{commitment['id']}/line_items"
    unknown_code = fin.api.post(url, json={"project_id": fin.project["id"],
                                           "line_item": {"amount": "5", "cost_code_id": fin.other_code}})
    assert (unknown_code.status_code, unknown_code.json()) == (
        422, {"errors": {"cost_code_id": ["is not a cost code of this project"]}})
    made = _ok(fin.api.post(url, json={"project_id": fin.project["id"], "line_item": _line(fin, "X", "5")}), 201)
    assert made["amount"] == "5.00"
    assert fin.api.get(url, params={"project_id": fin.other["id"]}).status_code == 404


def test_closed_commitment_refuses_line_changes_approved_does_not(fin: Setup) -> None:
    commitment = _commitment(fin, origin_id="PO1", status="Approved")
    line = _lines(fin, commitment["id"], [_line(fin, "PO1:1000", "100")])["entities"][0]
    assert _lines(fin, commitment["id"], [_line(fin, "PO1:1000", "150")])["errors"] == []
    _sync(fin.api, f"{PO}/sync", [{"origin_id": "PO1", "status": "Closed"}], project_id=fin.project["id"])
    refused = _lines(fin, commitment["id"], [_line(fin, "PO1:1000", "200"), _line(fin, "PO1:2000", "1")])
    assert [e["errors"] for e in refused["errors"]] == [
        {"base": ["Line items of a closed commitment cannot be changed"]}] * 2
    delete = f"{PO}/{commitment['id']}/line_items/{line['id']}"
    assert fin.api.delete(delete, params={"project_id": fin.project["id"]}).status_code == 422
    _sync(fin.api, f"{PO}/sync", [{"origin_id": "PO1", "status": "Approved"}], project_id=fin.project["id"])
    deleted = fin.api.delete(delete, params={"project_id": fin.project["id"]})
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert fin.api.delete(delete, params={"project_id": fin.project["id"]}).status_code == 404
    assert fin.procore.commitments()[0]["line_items"] == []


# -- direct costs ------------------------------------------------------------------------------------


def test_direct_cost_sync_and_line_items(fin: Setup) -> None:
    pid = fin.project["id"]
    sync, lines_sync = f"{API}/projects/{pid}/direct_costs/sync", f"{API}/projects/{pid}/direct_costs/line_items/sync"
    made = _sync(fin.api, sync, [
        {"origin_id": "INV-1", "direct_cost_type": "invoice", "vendor_id": fin.vendor["id"], "invoice_number": "INV-1",
         "direct_cost_date": "2026-04-10", "status": "approved"},
        {"origin_id": "INV-2", "direct_cost_type": "invoice", "invoice_number": "INV-2"},
        {"origin_id": "EXP-1", "direct_cost_type": "expense", "description": "Permit fee"},
        {"origin_id": "BAD", "direct_cost_type": "receipt", "status": "paid", "vendor_id": 5},
    ])
    invoice, expense = made["entities"]
    assert (invoice["vendor"], invoice["vendor_id"], invoice["status"], invoice["grand_total"]) == (
        {"id": fin.vendor["id"], "name": fin.vendor["name"]}, fin.vendor["id"], "approved", "0.00")
    assert expense["vendor"] is None and expense["status"] == "draft"
    assert [e["errors"] for e in made["errors"]] == [
        {"vendor": ["can't be blank"]},
        {"direct_cost_type": ["is not included in the list"], "status": ["is not included in the list"],
         "vendor_id": ["is invalid"]}]
    changed = _sync(fin.api, sync, [{"origin_id": "INV-1", "description": "changed"}])["entities"]
    assert [d["id"] for d in changed] == [invoice["id"]]

    lines = _sync(fin.api, lines_sync, [
        {"direct_cost_id": invoice["id"], "origin_id": "INV-1:10", "amount": "250.00",
         "cost_code_id": fin.codes["31-200"], "line_item_type_id": fin.types["E"], "description": "Haul-off"},
        {"direct_cost_id": invoice["id"], "origin_id": "INV-1:20", "quantity": "3", "unit_cost": "12.5",
         "cost_code_id": fin.codes["03-100"], "line_item_type_id": fin.types["M"]},
        {"direct_cost_id": invoice["id"], "origin_id": "INV-1:30", "amount": "1", "cost_code_id": fin.other_code,
         "line_item_type_id": fin.types["M"]},
        {"direct_cost_id": invoice["id"], "origin_id": "INV-1:40", "amount": "1", "cost_code_id": fin.codes["03-100"]},
        {"origin_id": "INV-1:50", "amount": "1", "cost_code_id": fin.codes["03-100"],
         "line_item_type_id": fin.types["M"]},
        {"direct_cost_id": 1, "origin_id": "INV-1:60", "amount": "1"},
    ])
    assert [(li["amount"], li["holder"]["holder_type"]) for li in lines["entities"]] == [
        ("250.00", "DirectCost"), ("37.50", "DirectCost")]
    assert [e["errors"] for e in lines["errors"]] == [
        {"cost_code_id": ["is not a cost code of this project"]}, {"line_item_type_id": ["can't be blank"]},
        {"direct_cost_id": ["can't be blank"]}, {"direct_cost_id": ["is invalid"]}]
    again = _sync(fin.api, lines_sync, [{"origin_id": "INV-1:10", "amount": 300}])  # origin_id alone finds it
    assert again["entities"][0]["id"] == lines["entities"][0]["id"]
    listed = fin.api.get(f"/rest/v1.1/projects/{pid}/direct_costs", params={"filters[origin_id]": "INV-1"})
    assert listed.headers["Total"] == "1"
    (shown,) = listed.json()
    assert (shown["grand_total"], len(shown["line_items"]), shown["description"]) == ("337.50", 2, "changed")
    assert fin.api.get(f"/rest/v1.1/projects/{fin.other['id']}/direct_costs").json() == []
    assert fin.api.patch(f"{API}/projects/1/direct_costs/sync", json={"updates": []}).status_code == 404
    assert [d["origin_id"] for d in fin.procore.direct_costs(pid)] == ["INV-1", "EXP-1"]


# -- requisitions (subcontractor invoices) -------------------------------------------------------------


def _requisition(fin: Setup, commitment_id: int, project: dict | None = None, **fields: Any) -> httpx.Response:
    return fin.api.post(REQ, json={"project_id": (project or fin.project)["id"], "commitment_id": commitment_id,
                                   "requisition": {"billing_date": "2026-04-20", **fields}})


def test_requisition_lifecycle(fin: Setup) -> None:
    commitment = _commitment(fin, origin_id="PO000101", title="Ready-mix", status="Approved")
    _lines(fin, commitment["id"], [_line(fin, "PO000101:1000", "1000"), _line(fin, "PO000101:2000", "500", "26-100")])
    first = _ok(_requisition(fin, commitment["id"], invoice_number="INV-1", origin_id="INV-1"), 201)
    periods = fin.procore.billing_periods(fin.project["id"])
    assert (first["number"], first["status"], first["period_id"], first["total_claimed_amount"]) == (
        1, "draft", periods[1]["id"], "0.00")  # the open period
    assert (first["commitment_type"], first["contract_name"], first["vendor_name"]) == (
        "PurchaseOrderContract", "Ready-mix", fin.vendor["name"])
    items_url, params = f"{REQ}/{first['id']}/contract_items", {"project_id": fin.project["id"]}
    items = _ok(fin.api.get(items_url, params=params))
    assert [(i["item_type"], i["scheduled_value"], i["work_completed_this_period"]) for i in items] == [
        ("contract", "1000.00", "0.00"), ("contract", "500.00", "0.00")]
    assert items[0]["cost_code_id"] == fin.codes["03-100"] and items[0]["description_of_work"] == "line PO000101:1000"
    item = _ok(fin.api.patch(f"{items_url}/{items[0]['id']}", params=params,
                             json={"requisition_contract_item": {"work_completed_this_period": "400.00"}}))
    assert (item["work_completed_this_period"], item["total_completed_and_stored_to_date"]) == ("400.00", "400.00")
    _ok(fin.api.patch(f"{items_url}/{items[1]['id']}", params=params,
                      json={"requisition_contract_item": {"work_completed_this_period": 100}}))
    bad = fin.api.patch(f"{items_url}/{items[1]['id']}", params=params,
                        json={"requisition_contract_item": {"work_completed_this_period": "lots"}})
    assert (bad.status_code, bad.json()) == (422, {"errors": {"work_completed_this_period": ["is not a number"]}})
    shown = _ok(fin.api.get(f"{REQ}/{first['id']}", params=params))
    assert shown["total_claimed_amount"] == "500.00"

    second = _ok(_requisition(fin, commitment["id"], invoice_number="INV-2", origin_id="INV-2"), 201)
    assert second["number"] == 2
    previous = _ok(fin.api.get(f"{REQ}/{second['id']}/contract_items", params=params))
    assert [i["work_completed_from_previous_application"] for i in previous] == ["400.00", "100.00"]
    not_latest = fin.api.patch(f"{REQ}/{first['id']}", json={**params, "requisition": {"invoice_number": "X"}})
    assert (not_latest.status_code, not_latest.json()) == (
        422, {"errors": "Must be the latest, open subcontractor invoice"})
    approved = _ok(fin.api.patch(f"{REQ}/{second['id']}", json={**params, "requisition": {"status": "approved"}}))
    assert approved["status"] == "approved"
    closed = fin.api.patch(f"{REQ}/{second['id']}", json={**params, "requisition": {"comment": "late"}})
    assert closed.json() == {"errors": "Must be the latest, open subcontractor invoice"}
    locked_item = fin.api.patch(f"{REQ}/{second['id']}/contract_items/{previous[0]['id']}", params=params,
                                json={"requisition_contract_item": {"work_completed_this_period": "1"}})
    assert locked_item.status_code == 422

    listed = fin.api.get(REQ, params={**params, "filters[commitment_id]": commitment["id"]})
    assert [r["number"] for r in listed.json()] == [1, 2] and listed.headers["Total"] == "2"
    assert [r["id"] for r in _ok(fin.api.get(REQ, params={**params, "filters[origin_id]": "INV-2"}))] == [second["id"]]
    (kept,) = [r for r in fin.procore.requisitions(fin.project["id"]) if r["id"] == first["id"]]
    assert [i["work_completed_this_period"] for i in kept["contract_items"]] == ["400.00", "100.00"]


def test_requisition_create_errors(fin: Setup) -> None:
    here = _commitment(fin, origin_id="PO1")
    body = {"project_id": fin.other["id"], "purchase_order_contract": {"vendor_id": fin.vendor["id"]}}
    there = _ok(fin.api.post(PO, json=body), 201)
    no_period = _requisition(fin, there["id"], fin.other, origin_id="INV-9")
    assert (no_period.status_code, no_period.json()) == (422, {"errors": NO_OPEN_PERIOD})
    closed_period = fin.procore.billing_periods(fin.other["id"])[0]["id"]  # an admin may name any period
    assert _ok(_requisition(fin, there["id"], fin.other, period_id=closed_period), 201)["period_id"] == closed_period
    for commitment_id in (there["id"], 999):  # a commitment of another project, an unknown one
        unknown = _requisition(fin, commitment_id)
        assert (unknown.status_code, unknown.json()) == (422, {"errors": {"commitment_id": ["is invalid"]}})
    _ok(_requisition(fin, here["id"], origin_id="INV-1"), 201)
    duplicate = _requisition(fin, here["id"], origin_id="INV-1")
    assert (duplicate.status_code, duplicate.json()) == (422, {"errors": {"origin_id": ["has already been taken"]}})
    assert _requisition(fin, here["id"], status="paid").json() == {
        "errors": {"status": ["is not included in the list"]}}
    assert _requisition(fin, here["id"], period_id=closed_period).json() == {"errors": {"period_id": ["is invalid"]}}
    assert fin.api.post(REQ, json={"commitment_id": here["id"]}).status_code == 400
    assert len(fin.procore.requisitions()) == 2


def test_concurrent_syncs_of_one_origin_id_make_one_record(fin: Setup) -> None:
    commitment = _commitment(fin, origin_id="PO1")
    items = [_line(fin, f"PO1:{n % 3}", str(n)) for n in range(24)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda item: _lines(fin, commitment["id"], [item]), items))
    assert all(r["errors"] == [] for r in results)
    (shown,) = fin.procore.commitments()
    assert sorted(li["origin_id"] for li in shown["line_items"]) == ["PO1:0", "PO1:1", "PO1:2"]
