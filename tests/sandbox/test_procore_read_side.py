"""The Procore simulator's read side for a Procore → ERP sync: subcontracts, updated_at filters,
seeded invoices, owner invoices, standard cost codes and the touch helpers (procore.md §5)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from mlconnector.sandbox import ProcoreSimulator
from tests.sandbox.conftest import FakeClock

API = "/rest/v1.0"
PO, WO, REQ = f"{API}/purchase_order_contracts", f"{API}/work_order_contracts", f"{API}/requisitions"


@dataclass
class Job:
    procore: ProcoreSimulator
    api: httpx.Client
    clock: FakeClock
    project: dict[str, Any]
    vendor: dict[str, Any]
    codes: dict[str, int]
    types: dict[str, int]

    def get(self, path: str, **params: Any) -> Any:
        response = self.api.get(path, params={"project_id": self.project["id"], **params})
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def job(procore: ProcoreSimulator, api: httpx.Client, clock: FakeClock) -> Job:
    project = procore.add_project("Harbor Point Apartments", "2024-021")
    codes = {code: procore.add_cost_code(project["id"], code, name)["id"]
             for code, name in (("03-100", "Concrete Forming"), ("26-100", "Electrical"))}
    types = {code: procore.add_line_item_type(code, name, base)["id"]
             for code, name, base in (("M", "Materials", "materials"), ("S", "Subcontract", "commitment"))}
    procore.add_billing_period(project["id"], "2026-04-01", "2026-04-30")
    vendor = procore.add_vendor(name="Acme Concrete", origin_id="V1")
    return Job(procore, api, clock, project, vendor, codes, types)


def _subcontract(job: Job, number: str = "SC-001", **fields: Any) -> dict[str, Any]:
    return job.procore.add_commitment(
        job.project["id"], kind="WorkOrderContract", number=number, title="Foundations", status="Approved",
        vendor_id=job.vendor["id"], lines=[
            {"amount": "1000", "description": "Forms", "cost_code_id": job.codes["03-100"],
             "line_item_type_id": job.types["S"]},
            {"quantity": "3", "unit_cost": "12.5", "description": "Conduit", "cost_code_id": job.codes["26-100"],
             "line_item_type_id": job.types["M"]}], **fields)


def test_work_order_contracts_list_show_and_line_items(job: Job) -> None:
    sub = _subcontract(job, inclusions="All forms", contract_start_date="2026-04-02")
    po = job.procore.add_commitment(job.project["id"], vendor_id=job.vendor["id"], title="Rebar",
                                    lines=[{"amount": 50, "cost_code_id": job.codes["03-100"]}])
    assert (po["number"], po["status"]) == ("1", "Draft")  # numbered per kind, Draft by default
    listed = job.get(WO)
    assert [c["id"] for c in listed] == [sub["id"]] and "line_items" not in listed[0]
    assert (listed[0]["status"], listed[0]["grand_total"], listed[0]["inclusions"]) == ("Approved", "1037.50",
                                                                                      "All forms")
    assert listed[0]["vendor"] == {"id": job.vendor["id"], "company": "Acme Concrete", "origin_id": "V1"}
    assert [c["id"] for c in job.get(PO)] == [po["id"]]  # a subcontract is not a purchase order
    assert job.api.get(f"{PO}/{sub['id']}", params={"project_id": job.project["id"]}).status_code == 404
    shown = job.get(f"{WO}/{sub['id']}")
    assert shown["contract_start_date"] == "2026-04-02" and "inclusions" not in job.get(f"{PO}/{po['id']}")
    first, second = shown["line_items"]
    assert first["cost_code"]["full_code"] == "03-100" and first["line_item_type"]["code"] == "S"
    assert first["holder"] == {"id": sub["id"], "holder_type": "WorkOrderContract"}
    assert (second["amount"], second["extended_type"]) == ("37.50", "calculated")
    lines = job.get(f"{WO}/{sub['id']}/line_items", **{"filters[cost_code_id]": job.codes["26-100"]})
    assert [li["description"] for li in lines] == ["Conduit"]
    assert len(job.procore.commitments(kind="WorkOrderContract")) == 1 and len(job.procore.commitments()) == 2


def test_add_commitment_refuses_what_procore_would(job: Job) -> None:
    with pytest.raises(ValueError, match="status"):  # "Closed" is a purchase order status
        job.procore.add_commitment(job.project["id"], kind="WorkOrderContract", vendor_id=job.vendor["id"],
                                   status="Closed")
    with pytest.raises(ValueError, match="cost code"):
        job.procore.add_commitment(job.project["id"], vendor_id=job.vendor["id"], lines=[{"amount": 1}])
    with pytest.raises(TypeError, match="inclusions"):
        job.procore.add_commitment(job.project["id"], vendor_id=job.vendor["id"], inclusions="x")
    _subcontract(job)
    with pytest.raises(ValueError, match="already exists"):
        _subcontract(job)


def test_updated_at_filters_and_touch_helpers(job: Job) -> None:
    sub = _subcontract(job)  # 2025-06-15T15:06:40Z
    job.clock.advance(1800)
    other = _subcontract(job, number="SC-002")
    since = {"filters[updated_at]": "2025-06-15T15:30:00Z...2999-12-31T23:59:59Z"}
    assert [c["number"] for c in job.get(WO, **since)] == ["SC-002"]
    assert [c["number"] for c in job.get(WO, **{"filters[updated_at]": "2025-06-15...2025-06-15"})] == [
        "SC-001", "SC-002"]  # a plain end date covers its whole day
    assert job.get(WO, **{"filters[updated_at]": "2025-06-16...2025-06-17"}) == []
    assert [c["number"] for c in job.get(WO, **{"filters[updated_at]": "2025-06-15T16:30:00+01:00..."})] == [
        "SC-002"]
    # An offset whose "+" was not encoded reaches the server as a space; it still reads as an offset.
    raw = job.api.get(f"{WO}?project_id={job.project['id']}&filters[updated_at]=2025-06-15T16:30:00+01:00...")
    assert [c["number"] for c in raw.json()] == ["SC-002"]
    bad = job.api.get(WO, params={"project_id": job.project["id"], "filters[updated_at]": "yesterday"})
    assert bad.status_code == 400

    job.clock.advance(1800)  # someone edits a line of the first subcontract in Procore
    line = job.procore.touch_commitment_line(sub["line_items"][0]["id"], amount="1200", description="Forms rev")
    assert (line["amount"], line["updated_at"]) == ("1200.00", "2025-06-15T16:06:40Z")
    assert [c["number"] for c in job.get(WO, **{"filters[updated_at]": "2025-06-15T16:00:00Z..."})] == ["SC-001"]
    assert [li["description"] for li in job.get(f"{WO}/{sub['id']}/line_items",
                                               **{"filters[updated_at]": "2025-06-15T16:00:00Z..."})] == ["Forms rev"]
    job.clock.advance(60)
    assert job.procore.touch_commitment(other["id"], status="Complete")["updated_at"] == "2025-06-15T16:07:40Z"
    with pytest.raises(ValueError):
        job.procore.touch_commitment(other["id"], status="Received")  # a purchase order status
    with pytest.raises(TypeError, match="colour"):
        job.procore.touch_commitment_line(line["id"], colour="red")
    vendor = job.procore.touch_vendor(job.vendor["id"], name="Acme Concrete LLC")
    assert vendor["updated_at"] == "2025-06-15T16:07:40Z"
    found = job.api.get(f"{API}/vendors", params={"company_id": job.procore.company_id,
                                                  "filters[updated_at]": "2025-06-15T16:07:00Z..."}).json()
    assert [v["name"] for v in found] == ["Acme Concrete LLC"]


def test_seeded_requisitions_items_retainage_and_filters(job: Job) -> None:
    sub = _subcontract(job)
    forms, conduit = (li["id"] for li in sub["line_items"])
    first = job.procore.add_requisition(
        job.project["id"], sub["id"], invoice_number="INV-1", status="approved", billing_date="2026-04-30",
        origin_id=None, items=[{"line_item_id": forms, "work_completed_this_period": "400",
                                "work_completed_retainage_retained_this_period": "40"}])
    assert (first["number"], first["commitment_type"], first["status"]) == (1, "WorkOrderContract", "approved")
    assert first["total_claimed_amount"] == "400.00"
    assert first["summary"]["total_retainage"] == "40.00" and first["summary"]["current_payment_due"] == "360.00"
    items = {i["line_item_id"]: i for i in first["contract_items"]}
    assert items[forms]["work_completed_retainage_retained_this_period"] == "40.00"
    assert (items[conduit]["work_completed_this_period"], items[conduit]["cost_code_id"]) == (
        "0.00", job.codes["26-100"])
    job.clock.advance(3000)  # the access token lives 5400 s on this clock
    second = job.procore.add_requisition(job.project["id"], sub["id"], invoice_number="INV-2", items=[
        {"line_item_id": forms, "work_completed_this_period": "100"}])
    items = {i["line_item_id"]: i for i in second["contract_items"]}
    assert items[forms]["work_completed_from_previous_application"] == "400.00"
    assert items[forms]["work_completed_retainage_from_previous_application"] == "40.00"
    assert second["summary"]["less_previous_certificates_for_payment"] == "360.00"
    assert second["summary"]["current_payment_due"] == "100.00"
    listed = job.get(REQ, **{"filters[updated_at]": "2025-06-15T15:30:00Z...2999-12-31T23:59:59Z"})
    assert [r["invoice_number"] for r in listed] == ["INV-2"]
    contract_items = job.get(f"{REQ}/{first['id']}/contract_items")
    assert [i["work_completed_this_period"] for i in contract_items] == ["400.00", "0.00"]

    job.clock.advance(60)  # the project team corrects an amount: the invoice counts as changed
    item = job.procore.touch_requisition_item(contract_items[1]["id"], work_completed_this_period="12.5")
    assert item["work_completed_this_period"] == "12.50"
    listed = job.get(REQ, **{"filters[updated_at]": "2025-06-15T15:57:00Z..."})
    assert [r["invoice_number"] for r in listed] == ["INV-1"] and listed[0]["total_claimed_amount"] == "412.50"
    assert job.procore.touch_requisition(second["id"], status="approved")["status"] == "approved"
    with pytest.raises(ValueError, match="line_item_id"):
        job.procore.add_requisition(job.project["id"], sub["id"], items=[{"line_item_id": 1}])


def test_payment_applications_list_show_and_touch(job: Job) -> None:
    app = job.procore.add_payment_application(
        job.project["id"], period_start="2026-04-01", period_end="2026-04-30", invoice_number="OI-7",
        billing_date="2026-04-30", contract_company="Harbor Owner LLC", line_items=[
            {"cost_code_id": job.codes["03-100"], "amount": "2500", "scheduled_value": "10000"},
            {"cost_code_id": job.codes["26-100"], "work_completed_this_period": "300",
             "materials_presently_stored": "50", "description_of_work": "Electrical rough-in",
             "work_completed_retainage_retained_this_period": "35"}])
    listed = job.get(f"{API}/payment_applications")
    assert [a["id"] for a in listed] == [app["id"]] and "line_items" not in listed[0]
    row = listed[0]
    assert (row["number"], row["invoice_number"], row["status"], row["period_start"], row["period_end"]) == (
        1, "OI-7", "draft", "2026-04-01", "2026-04-30")
    assert row["total_amount_accrued_this_period"] == "2850.00" and row["formatted_contract_company"] == (
        "Harbor Owner LLC")
    assert row["contract"]["type"] == "PrimeContract" and row["g702"]["total_retainage"] == "35.00"
    shown = job.get(f"{API}/payment_applications/{app['id']}")
    first, second = shown["line_items"]
    assert first["cost_code"] == {"id": job.codes["03-100"], "code": "03-100", "full_code": "03-100",
                                  "name": "Concrete Forming"}
    assert (first["description_of_work"], first["work_completed_this_period"], first["scheduled_value"],
            first["balance_to_finish"]) == ("Concrete Forming", "2500.00", "10000.00", "7500.00")
    assert (second["item_number"], second["materials_presently_stored"]) == (2, "50.00")
    assert job.api.get(f"{API}/payment_applications/{app['id']}", params={"project_id": 1}).status_code == 404
    assert job.api.get(f"{API}/payment_applications").status_code == 400
    job.clock.advance(120)
    job.procore.touch_payment_application_item(first["id"], work_completed_this_period="2600")
    again = job.get(f"{API}/payment_applications/{app['id']}")
    assert again["updated_at"] == "2025-06-15T15:08:40Z" and again["line_items"][0]["work_completed_this_period"] == (
        "2600.00")
    assert job.procore.touch_payment_application(app["id"], status="approved")["status"] == "approved"
    with pytest.raises(ValueError):
        job.procore.touch_payment_application(app["id"], status="paid")


def test_standard_cost_code_lists_codes_and_sync(job: Job) -> None:
    company = {"company_id": job.procore.company_id}
    erp = job.procore.add_standard_cost_code_list("ERP Standard Cost Code List", is_erp_list=True)
    job.procore.add_standard_cost_code_list("Old list", available_to_use_on_new_projects=False)
    lists = job.api.get(f"{API}/standard_cost_code_lists", params=company).json()
    assert lists[0] == {"id": erp["id"], "name": "ERP Standard Cost Code List", "is_erp_list": True,
                        "available_to_use_on_new_projects": True}
    assert len(lists) == 2
    parent = job.procore.add_standard_cost_code(erp["id"], "03", "Concrete", origin_id="GL-03")

    def sync(updates: Any, **params: Any) -> httpx.Response:
        return job.api.patch(f"{API}/standard_cost_codes/sync", params=params, json={
            **company, "standard_cost_code_list_id": erp["id"], "updates": updates})

    answer = sync([{"origin_id": "GL-03-100", "code": "100", "name": "Forming", "parent_id": parent["id"]},
                   {"origin_id": "GL-5000", "code": "5000", "name": "Materials"},
                   {"origin_id": "GL-X", "name": "No code"},
                   {"origin_id": "GL-Y", "code": "5000", "name": "Twin"},
                   {"id": 1, "name": "Nobody"}], view="extended")
    assert answer.status_code == 200
    body = answer.json()
    assert [(e["full_code"], e["name"], e["origin_id"]) for e in body["entities"]] == [
        ("03-100", "Forming", "GL-03-100"), ("5000", "Materials", "GL-5000")]
    assert [e["errors"] for e in body["errors"]] == [
        {"code": ["can't be blank"]}, {"code": ["has already been taken"]}, {"id": ["Entity with this ID not found"]}]
    assert body["errors"][0]["origin_id"] == "GL-X"  # the item is echoed back
    # Resent by origin_id: an update, not a second code; the default view shows ids only.
    again = sync([{"origin_id": "GL-5000", "code": "5000", "name": "Materials & supplies"}]).json()
    assert again["entities"] == [{"id": body["entities"][1]["id"], "standard_cost_code_list_id": erp["id"]}]
    codes = job.api.get(f"{API}/standard_cost_codes", params={
        **company, "standard_cost_code_list_id": erp["id"], "view": "extended"}).json()
    assert [(c["full_code"], c["name"]) for c in codes] == [
        ("03", "Concrete"), ("03-100", "Forming"), ("5000", "Materials & supplies")]
    compact = job.api.get(f"{API}/standard_cost_codes", params={
        **company, "standard_cost_code_list_id": erp["id"], "view": "compact", "filters[origin_id]": "GL-03"}).json()
    assert compact == [{"id": parent["id"], "standard_cost_code_list_id": erp["id"], "origin_id": "GL-03"}]
    assert sync([{"code": str(n), "name": "n"} for n in range(1001)]).status_code == 413
    assert job.api.get(f"{API}/standard_cost_codes", params=company).status_code == 400
    assert job.api.get(f"{API}/standard_cost_codes", params={
        **company, "standard_cost_code_list_id": 1}).status_code == 404
    assert job.api.get(f"{API}/standard_cost_code_lists", params={"company_id": 1}).status_code == 403
    assert job.procore.touch_standard_cost_code(parent["id"], name="Concrete work")["name"] == "Concrete work"
    assert job.procore.standard_cost_codes(erp["id"])[0]["name"] == "Concrete work"
