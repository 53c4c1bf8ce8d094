"""The seed data: deterministic, and it holds every case the sync must cope with."""

from __future__ import annotations

from collections import Counter
from datetime import date

from mlconnector.sandbox import ProcoreSimulator, Sage300Simulator
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
