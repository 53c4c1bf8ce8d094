"""Seed data for the procore-intacct pair: an Intacct company with its chart of accounts,
dimensions and vendors, and a Procore company whose commitments, subcontractor invoices and
payment applications reference them.

It is built to show each path a record can take: Procore vendors that match Intacct vendors by
name (linked, origin_id back-filled), Intacct vendors Procore lacks (created), a Procore-only
vendor whose commitment waits in quarantine, a cost code with no GL account mapping (quarantine
until ``glaccounts-extra.csv`` is imported), and approved and draft documents (drafts stay out).
The mapping files in ``sandbox/data`` (``intacct-projects.csv``, ``glaccounts.csv``,
``glaccounts-extra.csv``) fit this data.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

from mlconnector.sandbox.intacct import IntacctSimulator
from mlconnector.sandbox.procore import ProcoreSimulator

GL_ACCOUNTS = (("5000", "Subcontract costs"), ("5100", "Materials"), ("5200", "Equipment rental"),
               ("5300", "Site services"), ("2000", "Accounts payable"))
# (Procore project number, name, Intacct project id)
PROJECTS = (("1001", "Riverside Medical Office", "P-1001"), ("1002", "Harbor Street Lofts", "P-1002"),
            ("1003", "Northgate School Addition", "P-1003"))
# (cost code, name, Intacct task) — 09-900 has no glaccounts row until glaccounts-extra.csv.
COST_CODES = (("03-300", "Cast-in-place concrete", "03-300"), ("05-100", "Structural steel", "05-100"),
              ("31-200", "Earthwork", "31-200"), ("09-900", "Painting", "09-900"))
UNMAPPED_COST_CODE = "09-900"
LINE_ITEM_TYPES = (("SUB", "Subcontract", "commitment"), ("MAT", "Materials", "materials"))
PAYMENTS_VENDOR = "OWNER-BILLING"
PROCORE_ONLY_VENDOR = "Procore Only Drywall LLC"
_NAMES = ("Acme Concrete", "Blue Ridge Steel", "Cascade Earthworks", "Delta Electric", "Evergreen Paving",
          "Foothill Plumbing", "Granite Masonry", "Harbor Glass", "Ironwood Framing", "Juniper Roofing",
          "Keystone Mechanical", "Lakeside Landscaping", "Summit Drywall", "Northwind HVAC", "Oakridge Millwork",
          "Pioneer Fire Protection", "Quarry Stone Supply", "Redline Rebar", "Silverline Painting", "Timberline Doors")
_CITIES = (("Denver", "CO", "80202"), ("Austin", "TX", "78701"), ("Portland", "OR", "97201"),
           ("Phoenix", "AZ", "85004"), ("Raleigh", "NC", "27601"))


def _vendor_name(i: int) -> str:
    base = _NAMES[i % len(_NAMES)]
    return base + ("" if i < len(_NAMES) else f" {i // len(_NAMES) + 1}") + " LLC"


def seed(intacct: IntacctSimulator, procore: ProcoreSimulator, *, vendors: int = 40, seed: int | None = 7,
         today: date | None = None) -> dict[str, Any]:
    """Fill both simulators; returns a summary of what was made."""
    rng = random.Random(seed)
    today = today or datetime.now(UTC).date()
    for number, title in GL_ACCOUNTS:
        intacct.add_record("GLACCOUNT", ACCOUNTNO=number, TITLE=title,
                           ACCOUNTTYPE="balancesheet" if number < "4000" else "incomestatement")
    intacct.add_record("DEPARTMENT", DEPARTMENTID="CONST", TITLE="Construction")
    intacct.add_record("LOCATION", LOCATIONID="HQ", NAME="Headquarters")
    for _, name, project_id in PROJECTS:
        intacct.add_record("PROJECT", PROJECTID=project_id, NAME=name)
        for _code, code_name, task in COST_CODES:
            intacct.add_record("TASK", TASKID=task, NAME=code_name, PROJECTID=project_id)
            for type_code, type_name, _ in LINE_ITEM_TYPES:
                intacct.add_record("COSTTYPE", COSTTYPEID=type_code, NAME=type_name, PROJECTID=project_id, TASKID=task)
    intacct.add_vendor(PAYMENTS_VENDOR, "Owner billing clearing")

    vendor_ids = []
    for i in range(vendors):
        city, state, zip_code = _CITIES[i % len(_CITIES)]
        vendor_id = f"V{1000 + i}"
        intacct.add_vendor(vendor_id, _vendor_name(i), STATUS="active", DISPLAYCONTACT={
            "EMAIL1": f"ap{i}@vendor{i}.example", "PHONE1": f"555-01{i % 100:02d}",
            "MAILADDRESS": {"ADDRESS1": f"{100 + i} Main St", "CITY": city, "STATE": state, "ZIP": zip_code,
                            "COUNTRYCODE": "US"}})
        vendor_ids.append(vendor_id)

    # Procore: half the Intacct vendors are already in the directory under the same name (linked
    # by name on the first sync); one vendor exists in Procore only.
    procore_vendors: dict[str, int] = {}
    for i, vendor_id in enumerate(vendor_ids[: max(1, vendors // 2)]):
        found = procore.add_vendor(name=_vendor_name(i).upper() if i % 3 == 0 else _vendor_name(i), is_active=True)
        procore_vendors[vendor_id] = found["id"]
    only = procore.add_vendor(name=PROCORE_ONLY_VENDOR, is_active=True)

    for code, name, base_type in LINE_ITEM_TYPES:
        procore.add_line_item_type(code, name, base_type)
    types = {t["code"]: t["id"] for t in procore.line_item_types()}
    procore.add_standard_cost_code_list("Intacct GL accounts")
    this_month = today.replace(day=1)
    next_month = (this_month + timedelta(days=32)).replace(day=1)
    summary: dict[str, Any] = {"intacct_vendors": vendors, "procore_vendors_by_name": len(procore_vendors),
                               "commitments": 0, "commitments_unmapped": 0, "commitments_unlinked_vendor": 0,
                               "requisitions_approved": 0, "requisitions_draft": 0, "payment_applications": 0}
    linked = list(procore_vendors.values())
    for p_index, (number, name, _) in enumerate(PROJECTS):
        project = procore.add_project(name, number)
        codes = {code: procore.add_cost_code(project["id"], code, code_name)["id"] for code, code_name, _ in COST_CODES}
        procore.add_billing_period(project["id"], this_month, next_month - timedelta(days=1))
        for c in range(4):
            kind = "PurchaseOrderContract" if c % 2 == 0 else "WorkOrderContract"
            unmapped = p_index == 0 and c == 3
            vendor = only["id"] if (p_index == 1 and c == 3) else linked[(p_index * 4 + c) % len(linked)]
            mapped_codes = [code for code in codes if code != UNMAPPED_COST_CODE]
            line_codes = rng.sample(mapped_codes, 2) + ([UNMAPPED_COST_CODE] if unmapped else [])
            lines = [{"amount": f"{rng.randint(20, 400) * 250}.00", "description": f"{code} work",
                      "cost_code_id": codes[code], "line_item_type_id": types["SUB" if j % 2 == 0 else "MAT"]}
                     for j, code in enumerate(line_codes)]
            commitment = procore.add_commitment(
                project["id"], vendor_id=vendor, kind=kind, number=f"{'PO' if c % 2 == 0 else 'SC'}-{number}-{c + 1:02d}",
                title=f"{name}: package {c + 1}", status="Approved", lines=lines,
                contract_date=(today - timedelta(days=30 - c)).isoformat())
            summary["commitments"] += 1
            summary["commitments_unmapped"] += unmapped
            summary["commitments_unlinked_vendor"] += vendor == only["id"]
            if c < 2:
                status = "approved" if c == 0 else "draft"
                procore.add_requisition(
                    project["id"], commitment["id"], invoice_number=f"INV-{number}-{c + 1}", status=status,
                    billing_date=today.isoformat(),
                    items=[{"line_item_id": li["id"], "work_completed_this_period": f"{float(li['amount']) / 4:.2f}"}
                           for li in commitment["line_items"]])
                summary["requisitions_approved" if status == "approved" else "requisitions_draft"] += 1
        procore.add_payment_application(
            project["id"], period_start=this_month, period_end=next_month - timedelta(days=1),
            invoice_number=f"OWN-{number}-1", billing_date=today.isoformat(), status="approved", number="1",
            line_items=[{"cost_code_id": codes[code], "scheduled_value": "100000.00",
                         "work_completed_this_period": "25000.00", "description_of_work": f"{code_name}"}
                        for code, code_name, _ in COST_CODES if code != UNMAPPED_COST_CODE])
        summary["payment_applications"] += 1
    return summary
