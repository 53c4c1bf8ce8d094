"""The seed data: deterministic, and it holds every case the sync must cope with."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import date
from decimal import Decimal

import pytest

from mlconnector.sandbox import DATA_DIR, ProcoreSimulator, Sage300Simulator, Sandbox
from mlconnector.sandbox.seed import normalise_name, origin_id_for, seed


def _seeded(seed_value: int = 7, vendors: int = 300) -> tuple[Sage300Simulator, ProcoreSimulator, dict]:
    sage, procore = Sage300Simulator(), ProcoreSimulator(clock=lambda: 1_780_000_000.0)
    sage.today = date(2026, 5, 1)
    return sage, procore, seed(sage, procore, vendors=vendors, seed=seed_value)


def test_same_seed_same_data_other_seed_other_data() -> None:
    sage_a, procore_a, summary_a = _seeded(7)
    sage_b, procore_b, summary_b = _seeded(7)
    assert sage_a.vendors() == sage_b.vendors()
    assert procore_a.vendors() == procore_b.vendors()
    assert summary_a == summary_b
    sage_c, procore_c, _ = _seeded(8)
    assert sage_c.vendors() != sage_a.vendors()
    assert [v["name"] for v in procore_c.vendors()] != [v["name"] for v in procore_a.vendors()]


def test_normalise_name() -> None:
    assert normalise_name("Acme Concrete Supply, Inc.") == normalise_name("ACME CONCRETE SUPPLY INC")
    assert normalise_name("  Béton  Québec Ltée ") == "beton quebec ltee"
    assert normalise_name("Müller Gerüstbau GmbH") == "muller gerustbau gmbh"


def test_sage_side_looks_like_a_real_vendor_master() -> None:
    sage, _, summary = _seeded()
    vendors = sage.vendors()
    assert len(vendors) == summary["sage300_vendors"] == 300
    assert 0.06 <= summary["sage300_inactive"] / 300 <= 0.10
    assert all(v["InactiveDate"] for v in vendors if v["Status"] == "Inactive")
    keys = {v["VendorNumber"] for v in vendors}
    assert {"ACME-01", "GRN VLY", "O'NEIL", "V00001"} <= keys
    names = {v["VendorName"].strip() for v in vendors}
    assert {"Béton Québec Ltée", "Construcción García S.A. de C.V.", "Müller Gerüstbau GmbH"} <= names
    assert any(55 <= len(name) <= 60 for name in names) and max(map(len, names)) <= 60
    countries = Counter(v["Country"] for v in vendors)
    assert {"USA", "US", "United States", "Canada", "CA", "CAN", "Mexico", "Atlantis"} <= set(countries)
    assert {"ON", "QC", "BC"} <= {v["StateProvince"] for v in vendors if v["Country"] in ("Canada", "CA", "CAN")}
    assert any(v["StateProvince"] == "XX" for v in vendors)
    assert any(v["VendorName"] != v["VendorName"].rstrip() for v in vendors)  # fixed-length padding
    maintained = sorted(v["DateLastMaintained"] for v in vendors)
    assert maintained[0] < "2024-11-01" and maintained[-1] >= "2026-04-24"  # ~2 years, some recent
    assert summary["sage300_canadian"] >= 10 and summary["sage300_mexican"] >= 3


def test_near_duplicates_inside_sage() -> None:
    sage, _, summary = _seeded()
    by_name = Counter(normalise_name(v["VendorName"]) for v in sage.vendors())
    assert [name for name, n in by_name.items() if n > 1] == ["acme concrete llc"]
    assert summary["sage300_near_duplicate_pairs"] == 1


def test_procore_side_categories() -> None:
    sage, procore, summary = _seeded()
    sage_by_name: dict[str, list[dict]] = {}
    for vendor in sage.vendors():
        sage_by_name.setdefault(normalise_name(vendor["VendorName"]), []).append(vendor)
    procore_vendors = procore.vendors()
    procore_names = Counter(normalise_name(v["name"]) for v in procore_vendors)

    variants = [v for v in procore_vendors if v["origin_id"] is None and procore_names[normalise_name(v["name"])] == 1
                and normalise_name(v["name"]) in sage_by_name]
    assert len(variants) == summary["procore_name_variants"] == 40
    for vendor in variants:  # a different spelling of exactly one active Sage vendor
        (match,) = sage_by_name[normalise_name(vendor["name"])]
        assert vendor["name"] != match["VendorName"].strip() and match["Status"] == "Active"
    assert {"ACME CONCRETE SUPPLY INC", "BETON QUEBEC LTEE"} <= {v["name"] for v in variants}

    ambiguous = [name for name, n in procore_names.items() if n > 1]
    assert ambiguous == ["summit rebar steel inc"] and len(sage_by_name[ambiguous[0]]) == 1
    assert summary["procore_ambiguous"] == 2

    linked = [v for v in procore_vendors if v["origin_id"]]
    assert len(linked) == summary["procore_linked_by_origin_id"] == 1
    (sage_twin,) = [v for v in sage.vendors() if origin_id_for(v["VendorNumber"]) == linked[0]["origin_id"]]
    assert normalise_name(sage_twin["VendorName"]) != normalise_name(linked[0]["name"])

    only = [v for v in procore_vendors if v["origin_id"] is None and normalise_name(v["name"]) not in sage_by_name]
    assert len(only) == summary["procore_only"] == 20
    assert sum(not v["is_active"] for v in procore_vendors) == summary["procore_inactive"] == 2
    assert len(procore_vendors) == summary["procore_vendors"] == 63


def test_other_sizes() -> None:
    small_sage, _, small = _seeded(vendors=30)
    active_generated = [v for v in small_sage.vendors() if v["VendorNumber"].startswith("V0") and v["Status"] == "Active"]
    assert small["sage300_vendors"] == 30
    assert small["procore_name_variants"] == 4 + len(active_generated) < 40  # all there are
    big_sage, _, big = _seeded(vendors=3000)
    names = [normalise_name(v["VendorName"]) for v in big_sage.vendors()]
    assert big["sage300_vendors"] == 3000 and len(set(names)) == 2999  # only the Acme pair collides


# -- projects, cost codes, purchase orders, PO invoices ---------------------------------------------------


def _csv(name: str) -> list[dict[str, str]]:
    with open(DATA_DIR / name, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def test_financial_seed_is_deterministic() -> None:
    sage_a, procore_a, _ = _seeded(7)
    sage_b, procore_b, _ = _seeded(7)
    assert sage_a.purchase_orders() == sage_b.purchase_orders()
    assert sage_a.po_invoices() == sage_b.po_invoices()
    assert procore_a.projects() == procore_b.projects()
    assert procore_a.billing_periods(procore_a.projects()[0]["id"]) == procore_b.billing_periods(
        procore_b.projects()[0]["id"])
    sage_c, _, _ = _seeded(8)
    assert sage_c.purchase_orders() != sage_a.purchase_orders()
    assert sage_c.vendors() != sage_a.vendors()


def test_procore_projects_cost_codes_types_and_periods() -> None:
    _, procore, summary = _seeded()
    projects = procore.projects()
    assert [(p["project_number"], p["name"]) for p in projects] == [
        ("2024-017", "Riverside Medical Office"), ("2024-021", "Harbor Point Apartments"),
        ("2025-003", "Eastgate Elementary"), ("2025-009", "Mill Street Parking")]
    assert [t["code"] for t in procore.line_item_types()] == ["L", "M", "S", "E", "O"]
    for project in projects:
        codes = {c["full_code"]: c["name"] for c in procore.cost_codes(project["id"])}
        assert len(codes) >= 15 and codes["03-100"] == "Concrete Forming" and codes["26-100"] == "Electrical"
        open_periods = [p for p in procore.billing_periods(project["id"]) if p["status"] == "open"]
        assert len(open_periods) == (0 if project["project_number"] == "2025-009" else 1)
    assert (summary["procore_projects"], summary["procore_cost_codes"], summary["procore_line_item_types"],
            summary["procore_open_billing_periods"], summary["procore_projects_without_open_period"]) == (
        4, 64, 5, 3, 1)


def test_purchase_orders_cover_the_cases_the_sync_meets() -> None:
    sage, procore, summary = _seeded()
    orders = sage.purchase_orders()
    assert [o["PurchaseOrderNumber"] for o in orders] == [f"PO{n:06d}" for n in range(101, 141)]
    assert summary["sage300_purchase_orders"] == 40
    vendors = {v["VendorNumber"]: v for v in sage.vendors()}
    procore_names = {normalise_name(v["name"]) for v in procore.vendors()} | {
        v["origin_id"] for v in procore.vendors() if v["origin_id"]}
    in_procore = [o for o in orders if normalise_name(o["VendorName"]) in procore_names
                  or origin_id_for(o["Vendor"]) in procore_names]
    assert len(in_procore) == summary["sage300_po_vendor_in_procore"] and 10 <= len(in_procore) <= 30
    assert {"KEYSURV", "ACMESUP", "O'NEIL", "GRN VLY"} <= {o["Vendor"] for o in orders}
    for order in orders:
        assert vendors[order["Vendor"]]["Status"] == "Active"
        lines = order["PurchaseOrderLines"]
        assert 1 <= len(lines) <= 4
        assert [li["LineNumber"] for li in lines] == [1000 * n for n in range(1, len(lines) + 1)]
        assert len({li["Contract"] for li in lines}) == 1
        for line in lines:
            expected = Decimal(str(line["QuantityOrdered"])) * Decimal(str(line["UnitCost"]))
            expected = expected.quantize(Decimal("0.01"))
            assert Decimal(str(line["ExtendedCost"])) == expected and line["ExtendedCost"] > 0
            assert 0 <= line["QuantityReceived"] <= line["QuantityOrdered"]
    completed = [o for o in orders if o["Completed"] == "Yes"]
    assert len(completed) == summary["sage300_po_completed"] == 2
    assert all(li["QuantityReceived"] == li["QuantityOrdered"] for o in completed for li in o["PurchaseOrderLines"])
    edited = sorted(o["DateLastEdited"] for o in orders)
    assert edited[-1] >= "2026-04-25" and edited[0] < "2026-01-01"  # spread, with recent edits


def test_mapping_files_fit_the_seed() -> None:
    sage, procore, summary = _seeded()
    projects = {row["source_code"]: row["procore_project"] for row in _csv("projects.csv")}
    assert projects["24017"] == "2024-017" and len(projects) == 4
    assert set(projects.values()) == {p["project_number"] for p in procore.projects()}
    costcodes, extra = _csv("costcodes.csv"), _csv("costcodes-extra.csv")
    assert list(costcodes[0]) == ["source_code", "procore_project", "procore_cost_code", "cost_type"]
    assert [row["source_code"] for row in extra] == ["99-900"]
    assert "99-900" not in {row["source_code"] for row in costcodes}
    type_codes = {t["code"] for t in procore.line_item_types()}
    for row in costcodes + extra:
        assert row["procore_project"] == "" and row["cost_type"] in type_codes
        assert all(row["procore_cost_code"] in {c["full_code"] for c in procore.cost_codes(p["id"])}
                   for p in procore.projects())
    lines = [li for o in sage.purchase_orders() for li in o["PurchaseOrderLines"]]
    assert {li["Contract"] for li in lines} == set(projects)
    categories = {li["Category"] for li in lines}
    mapped = {row["source_code"] for row in costcodes}
    assert categories - mapped == {"99-900"}
    codes = {c["full_code"] for c in procore.cost_codes(procore.projects()[0]["id"])}
    assert {"01-510", "03-310", "99-900"} <= categories and not {"01-510", "03-310", "99-900"} & codes
    assert summary["sage300_po_category_unmapped"] == 2 and summary["sage300_po_category_mapped"] >= 1
    assert summary["sage300_po_contract_mapped"] == 10


def test_po_invoices_follow_their_purchase_orders() -> None:
    sage, _, summary = _seeded()
    invoices = sage.po_invoices()
    assert len(invoices) == summary["sage300_po_invoices"] == 15
    assert len({i["InvoiceNumber"] for i in invoices}) == 15
    invoiced: Counter[tuple[str, int]] = Counter()
    for invoice in invoices:
        po = sage.purchase_order(invoice["PurchaseOrderNumber"])
        assert invoice["Vendor"] == po["Vendor"]
        assert invoice["PurchaseOrderSequenceKey"] == po["PurchaseOrderSequenceKey"]
        po_lines = {li["LineNumber"]: li for li in po["PurchaseOrderLines"]}
        for line in invoice["InvoiceLines"]:
            po_line = po_lines[line["PurchaseOrderLineNumber"]]
            assert (line["Contract"], line["Category"], line["UnitCost"]) == (
                po_line["Contract"], po_line["Category"], po_line["UnitCost"])
            invoiced[po["PurchaseOrderNumber"], po_line["LineNumber"]] += line["QuantityReceived"]
        assert invoice["Total"] == pytest.approx(sum(li["ExtendedCost"] for li in invoice["InvoiceLines"]))
        assert invoice["InvoiceDate"] >= po["PurchaseOrderDate"]
    for (number, line_number), quantity in invoiced.items():
        (po_line,) = [li for li in sage.purchase_order(number)["PurchaseOrderLines"] if li["LineNumber"] == line_number]
        assert quantity <= po_line["QuantityReceived"]
    per_po = Counter(i["PurchaseOrderNumber"] for i in invoices)
    assert sorted(per_po.values())[-2:] == [1, 2]  # one PO has two progress invoices
    no_period = [i for i in invoices if i["InvoiceLines"][0]["Contract"] == "2025-009"]
    assert len(no_period) == summary["sage300_po_invoices_no_open_period"] == 1


def test_sandbox_summary_holds_the_financial_counts() -> None:
    summary = Sandbox(vendors=60).seed_summary
    assert summary["sage300_vendors"] == 60 and summary["sage300_purchase_orders"] == 40
    assert summary["procore_projects"] == 4 and summary["sage300_po_invoices"] == 15
    assert Sandbox(seed=None).seed_summary == {}
