"""The Procore read-side readers and the standard cost code writer, over real HTTP against the
simulator (paging with a small page size, updated_at filters, lists Procore cannot filter)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from mlconnector.sandbox import ProcoreSimulator
from mlconnector.systems.procore import ProcoreClient, readers, writers
from mlconnector.systems.procore.errors import describe_errors
from mlconnector.systems.procore.settings import ProcoreSettings
from tests.systems.conftest import FakeClock

START = datetime.fromtimestamp(1_750_000_000, UTC)  # the simulator's clock at the start of each test


@pytest.fixture
def procore(clock: FakeClock) -> Iterator[ProcoreSimulator]:
    with ProcoreSimulator(clock=clock, token_lifetime=10**8) as simulator:
        simulator.set_rate_limits(hourly=100_000, spike=100_000)
        yield simulator
    assert simulator.unhandled_errors == []


@pytest.fixture
def client(procore: ProcoreSimulator) -> Iterator[ProcoreClient]:
    settings = ProcoreSettings(name="procore", kind="procore", api_url=procore.url, login_url=procore.url,
                               company_id=procore.company_id, page_size=2)
    procore_client = ProcoreClient(settings, client_id=procore.client_id, client_secret=procore.client_secret)
    yield procore_client
    procore_client.close()


@pytest.fixture
def job(procore: ProcoreSimulator) -> dict[str, Any]:
    project = procore.add_project("Harbor Point Apartments", "2024-021")
    codes = [procore.add_cost_code(project["id"], code, name)["id"]
             for code, name in (("03-100", "Concrete Forming"), ("26-100", "Electrical"))]
    kinds = [procore.add_line_item_type(code, name, base)["id"]
             for code, name, base in (("M", "Materials", "materials"), ("S", "Subcontract", "commitment"))]
    procore.add_billing_period(project["id"], "2026-04-01", "2026-04-30")
    vendor = procore.add_vendor(name="Acme Concrete", origin_id="V1")
    return {"project": project["id"], "codes": codes, "types": kinds, "vendor": vendor["id"]}


def _rows(pages: Iterator[list[dict]]) -> list[dict]:
    return [row for page in pages for row in page]


def _commitment(procore: ProcoreSimulator, job: dict[str, Any], kind: str, number: str) -> dict[str, Any]:
    return procore.add_commitment(job["project"], kind=kind, number=number, title=f"Contract {number}",
                                  vendor_id=job["vendor"], status="Approved", lines=[
                                      {"amount": "100", "cost_code_id": job["codes"][0],
                                       "line_item_type_id": job["types"][1], "description": "a"},
                                      {"amount": "25.5", "cost_code_id": job["codes"][1],
                                       "line_item_type_id": job["types"][0], "description": "b"},
                                      {"amount": "1", "cost_code_id": job["codes"][1], "description": "c"}])


def test_since_is_rendered_as_an_open_utc_range() -> None:
    assert readers.updated_since_filter(None) == {}
    since = datetime(2026, 4, 1, 12, 30, 5, 999, tzinfo=UTC)
    assert readers.updated_since_filter(since) == {
        "filters[updated_at]": "2026-04-01T12:30:05Z...2999-12-31T23:59:59Z"}
    eastern = datetime(2026, 4, 1, 8, 30, tzinfo=UTC).astimezone(ZoneInfo("America/New_York"))
    assert readers.iso_z(eastern) == "2026-04-01T08:30:00Z"
    assert readers.iso_z(datetime(2026, 4, 1)) == "2026-04-01T00:00:00Z"  # naive = UTC
    assert readers.changed_since({"updated_at": "2026-04-01"}, datetime(2026, 4, 1, 18, tzinfo=UTC))
    assert not readers.changed_since({"updated_at": "2026-03-31T23:59:59Z"}, datetime(2026, 4, 1, tzinfo=UTC))
    assert readers.changed_since({}, datetime(2026, 4, 1, tzinfo=UTC))  # unknown: read it again


def test_vendors_changed_reads_active_and_inactive(procore: ProcoreSimulator, client: ProcoreClient,
                                                   clock: FakeClock) -> None:
    for n in range(3):
        procore.add_vendor(name=f"Old {n}")
    procore.add_vendor(name="Old inactive", is_active=False)
    clock.advance(600)
    changed = procore.add_vendor(name="New active")
    gone = procore.add_vendor(name="Gone", is_active=False)
    assert len(_rows(readers.vendors_changed(client, None))) == 6
    since = START + timedelta(seconds=300)
    assert [v["id"] for v in _rows(readers.vendors_changed(client, since))] == [changed["id"], gone["id"]]
    clock.advance(600)
    procore.touch_vendor(procore.vendors()[0]["id"], city="Austin")
    assert [v["name"] for v in _rows(readers.vendors_changed(client, START + timedelta(seconds=900)))] == ["Old 0"]


@pytest.mark.parametrize("kind", ["PurchaseOrderContract", "WorkOrderContract"])
def test_commitments_changed_with_line_items(procore: ProcoreSimulator, client: ProcoreClient, clock: FakeClock,
                                             job: dict[str, Any], kind: str) -> None:
    first = _commitment(procore, job, kind, "C-1")
    other = "WorkOrderContract" if kind == "PurchaseOrderContract" else "PurchaseOrderContract"
    _commitment(procore, job, other, "X-1")  # the other kind is never listed
    clock.advance(60)
    for n in range(2, 5):
        _commitment(procore, job, kind, f"C-{n}")
    rows = _rows(readers.commitments_changed(client, job["project"], None, kind))
    assert [r["number"] for r in rows] == ["C-1", "C-2", "C-3", "C-4"]
    row = rows[0]
    assert (row["kind"], row["status"], row["vendor"]["id"], row["grand_total"]) == (kind, "Approved", job["vendor"],
                                                                                    "126.50")
    assert [(li["cost_code"]["full_code"], (li["line_item_type"] or {}).get("code"), li["amount"])
            for li in row["line_items"]] == [("03-100", "S", "100.00"), ("26-100", "M", "25.50"), ("26-100", None,
                                                                                                 "1.00")]
    assert row["line_items"][0]["holder"] == {"id": first["id"], "holder_type": kind}
    since = START + timedelta(seconds=30)
    assert [r["number"] for r in _rows(readers.commitments_changed(client, job["project"], since, kind))] == [
        "C-2", "C-3", "C-4"]
    clock.advance(60)
    procore.touch_commitment_line(first["line_items"][1]["id"], amount="30")
    changed = _rows(readers.commitments_changed(client, job["project"], START + timedelta(seconds=90), kind))
    assert [(r["number"], r["line_items"][1]["amount"]) for r in changed] == [("C-1", "30.00")]
    with pytest.raises(ValueError, match="kind"):
        next(readers.commitments_changed(client, job["project"], None, "Subcontract"))
    one = readers.get_commitment(client, job["project"], first["id"])  # the kind found by trying both
    assert one is not None and (one["kind"], one["number"], len(one["line_items"])) == (kind, "C-1", 3)
    assert one["line_items"][1]["cost_code"]["full_code"] == "26-100"
    assert readers.get_commitment(client, job["project"], first["id"], kind) is not None
    assert readers.get_commitment(client, job["project"], first["id"], other) is None
    assert readers.get_commitment(client, job["project"], 1) is None


def test_requisitions_changed_and_items(procore: ProcoreSimulator, client: ProcoreClient, clock: FakeClock,
                                        job: dict[str, Any]) -> None:
    sub = _commitment(procore, job, "WorkOrderContract", "SC-1")
    line = sub["line_items"][0]["id"]
    first = procore.add_requisition(job["project"], sub["id"], invoice_number="INV-1", status="approved", items=[
        {"line_item_id": line, "work_completed_this_period": "60",
         "work_completed_retainage_retained_this_period": "6"}])
    clock.advance(60)
    second = procore.add_requisition(job["project"], sub["id"], invoice_number="INV-2")
    assert [r["id"] for r in _rows(readers.requisitions_changed(client, job["project"], None))] == [
        first["id"], second["id"]]
    changed = _rows(readers.requisitions_changed(client, job["project"], START + timedelta(seconds=30)))
    assert [r["invoice_number"] for r in changed] == ["INV-2"]
    assert changed[0]["commitment_type"] == "WorkOrderContract" and changed[0]["commitment_id"] == sub["id"]
    items = readers.requisition_items(client, job["project"], first["id"])
    assert len(items) == 3  # read across pages of two
    assert (items[0]["line_item_id"], items[0]["cost_code_id"], items[0]["work_completed_this_period"],
            items[0]["work_completed_retainage_retained_this_period"]) == (line, job["codes"][0], "60.00", "6.00")
    rows = _rows(readers.requisitions_changed(client, job["project"], None))
    assert rows[0]["summary"]["current_payment_due"] == "54.00"
    shown = readers.get_requisition(client, job["project"], first["id"])
    assert shown is not None and shown["invoice_number"] == "INV-1"
    assert readers.get_requisition(client, job["project"], 1) is None


def test_payment_applications_changed_and_detail(procore: ProcoreSimulator, client: ProcoreClient, clock: FakeClock,
                                                 job: dict[str, Any]) -> None:
    made = []
    for n in range(3):
        made.append(procore.add_payment_application(
            job["project"], period_start="2026-04-01", period_end="2026-04-30", invoice_number=f"OI-{n}",
            line_items=[{"cost_code_id": job["codes"][n % 2], "amount": "100"}]))
        clock.advance(60)
    assert [a["invoice_number"] for a in _rows(readers.payment_applications_changed(client, job["project"], None))] == [
        "OI-0", "OI-1", "OI-2"]
    changed = _rows(readers.payment_applications_changed(client, job["project"], START + timedelta(seconds=90)))
    assert [a["invoice_number"] for a in changed] == ["OI-2"]
    procore.touch_payment_application(made[0]["id"], status="approved")
    changed = _rows(readers.payment_applications_changed(client, job["project"], START + timedelta(seconds=150)))
    assert [a["invoice_number"] for a in changed] == ["OI-0"]
    shown = readers.payment_application(client, job["project"], made[1]["id"])
    assert shown is not None
    assert [(li["cost_code"]["full_code"], li["work_completed_this_period"]) for li in shown["line_items"]] == [
        ("26-100", "100.00")]
    assert readers.payment_application(client, job["project"], 1) is None


def test_standard_cost_codes_read_and_sync(procore: ProcoreSimulator, client: ProcoreClient) -> None:
    erp = procore.add_standard_cost_code_list("ERP Standard Cost Code List", is_erp_list=True)
    assert [s["name"] for s in readers.standard_cost_code_lists(client)] == ["ERP Standard Cost Code List"]
    updates = [{"origin_id": f"GL-{n}", "code": f"{n:04d}", "name": f"Account {n}"} for n in range(1, 1203)]
    updates.append({"origin_id": "GL-bad", "code": "0001", "name": "Twin of 0001"})
    entities, errors = writers.sync_standard_cost_codes(client, erp["id"], updates)
    assert len(entities) == 1202 and entities[0]["full_code"] == "0001" and entities[0]["origin_id"] == "GL-1"
    assert [e["origin_id"] for e in errors] == ["GL-bad"]
    assert describe_errors(errors[0]["errors"]) == "code: has already been taken"
    outcome = writers.sync_standard_cost_codes(client, erp["id"], [
        {"origin_id": "GL-7", "code": "0007", "name": "Account 7"}, {"origin_id": "GL-none", "name": "No code"}])
    assert outcome.outcome_of("GL-7", None)[0]["full_code"] == "0007"  # a SyncOutcome as well
    assert outcome.outcome_of("GL-none", None) == (None, "code: can't be blank")
    assert procore.count("PATCH", "/rest/v1.0/standard_cost_codes/sync") == -(-len(updates) // writers.SYNC_BATCH_SIZE) + 1
    codes = readers.standard_cost_codes(client, erp["id"])
    assert len(codes) == 1202 and codes[5] == {
        "id": codes[5]["id"], "standard_cost_code_list_id": erp["id"], "parent_id": None, "code": "0006",
        "full_code": "0006", "name": "Account 6", "origin_id": "GL-6", "origin_data": None}
    # Sent again with one rename: updates by origin_id, nothing new.
    entities, errors = writers.sync_standard_cost_codes(client, erp["id"], [
        {"origin_id": "GL-6", "code": "0006", "name": "Account six"}])
    assert errors == [] and entities[0]["id"] == codes[5]["id"] and entities[0]["name"] == "Account six"
    assert len(readers.standard_cost_codes(client, erp["id"])) == 1202
