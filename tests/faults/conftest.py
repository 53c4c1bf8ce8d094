"""Helpers of the fault tests: a seeded sandbox with its mappings imported, extra source records,
and the target's state normalised so two Procore simulators can be compared record for record."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

from mlconnector.sandbox import DATA_DIR, Sandbox

PAIR = "sage300-procore"
ORIGIN = "sage300:SAMLTD:"
STREAMS = ("vendors", "purchase_orders", "po_invoices")
TIMESTAMPS = {"created_at", "updated_at", "deleted_at"}


def make_sandbox(vendors: int) -> Sandbox:
    sandbox = Sandbox(vendors=vendors)
    # Rate pacing has tests of its own; here the limits must not slow every run down.
    sandbox.procore.set_rate_limits(hourly=10_000_000, spike=10_000_000)
    return sandbox


def write_config(sandbox: Sandbox, work: Path, *, timeout: float | None = None, sage_page: int | None = None) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    text = sandbox.config_yaml(work / "state.db", timeout=timeout)
    if sage_page:
        text = text.replace("    kind: sage300\n", f"    kind: sage300\n    page_size: {sage_page}\n", 1)
    path = work / "mlconnector.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def import_sandbox_mappings(config_path: Path) -> None:
    from mlconnector.config import load_config
    from mlconnector.mappings import import_mappings

    config = load_config(config_path)
    for name in ("projects.csv", "costcodes.csv"):
        import_mappings(config, DATA_DIR / name, pair=PAIR, offline=True)


def set_credentials(sandbox: Sandbox, monkeypatch) -> None:
    for name, value in sandbox.credentials_env().items():
        monkeypatch.setenv(name, value)


# -- more source records ----------------------------------------------------------------------


def add_records(sandbox: Sandbox, round_no: int, *, vendors: int, orders: int, renames: int) -> None:
    """Deterministic new and changed Sage records for round ``round_no`` (the same on any sandbox
    seeded alike): new vendors, renamed vendors, copies of POs (new numbers) and of their invoices."""
    sage = sandbox.sage300
    generated = [v for v in sage.vendors() if v["VendorNumber"].startswith("V") and v["Status"] == "Active"]
    for i in range(vendors):
        base = dict(generated[(round_no * 37 + i * 7) % len(generated)])
        base.pop("DateLastMaintained", None)
        base.update(VendorNumber=f"N{round_no:02d}{i:04d}", VendorName=f"Northfield Supply {round_no}-{i}")
        sage.upsert_vendor(**base)
    # Renamed: vendors an earlier round added (a renamed seed vendor could stop matching its Procore
    # name variant, which a clean run and an incremental one would then rightly treat apart).
    ours = [v for v in sage.vendors() if v["VendorNumber"].startswith("N") and not v["VendorNumber"].startswith(
        f"N{round_no:02d}")]
    for i in range(min(renames, len(ours))):
        row = ours[(round_no * 13 + i * 11) % len(ours)]
        sage.upsert_vendor(VendorNumber=row["VendorNumber"], VendorName=f"{row['VendorName'].strip()[:40]} r{round_no}")
    originals = [po for po in sage.purchase_orders() if po["PurchaseOrderNumber"].startswith("PO")]
    invoices = sage.po_invoices()
    for i in range(orders):
        po = originals[(round_no * 5 + i * 3) % len(originals)]
        number = f"PX{round_no:02d}{i:04d}"
        copy = {k: v for k, v in po.items() if k not in ("PurchaseOrderSequenceKey", "DateLastEdited")}
        copy["PurchaseOrderNumber"] = number
        copy["PurchaseOrderLines"] = [{k: v for k, v in line.items() if k != "PurchaseOrderSequenceKey"}
                                      for line in po["PurchaseOrderLines"]]
        sage.upsert_purchase_order(**copy)
        for k, invoice in enumerate(x for x in invoices if x["PurchaseOrderNumber"] == po["PurchaseOrderNumber"]):
            inv = {key: v for key, v in invoice.items()
                   if key not in ("PurchaseOrderSequenceKey", "DateLastEdited", "Total", "InvoiceSequenceKey")}
            inv.update(InvoiceNumber=f"IX{round_no:02d}{i:04d}-{k}", PurchaseOrderNumber=number)
            inv["InvoiceLines"] = [{key: v for key, v in line.items() if key != "InvoiceSequenceKey"}
                                   for line in invoice["InvoiceLines"]]
            sage.upsert_po_invoice(**inv)


def source_count(sandbox: Sandbox) -> int:
    sage = sandbox.sage300
    return len(sage.vendors()) + len(sage.purchase_orders()) + len(sage.po_invoices())


# -- the target's state -----------------------------------------------------------------------


def target_state(sandbox: Sandbox) -> dict[str, Any]:
    """Procore's vendors, commitments (with lines) and requisitions (with items), keyed by origin_id
    (vendors without one by name), every id replaced by a label of what it points at and the
    timestamps dropped: equal for two simulators that hold the same records."""
    procore = sandbox.procore
    vendors, commitments, requisitions = procore.vendors(), procore.commitments(), procore.requisitions()
    labels: dict[int, str] = {}
    for p in procore.projects():
        labels[p["id"]] = f"project:{p['project_number']}"
        for c in procore.cost_codes(p["id"]):
            labels[c["id"]] = f"cost_code:{p['project_number']}:{c['full_code']}"
        for b in procore.billing_periods(p["id"]):
            labels[b["id"]] = f"period:{p['project_number']}:{b['position']}"
    for t in procore.line_item_types():
        labels[t["id"]] = f"cost_type:{t['code']}"
    for v in vendors:
        labels[v["id"]] = f"vendor:{v['origin_id'] or v['name']}"
    for c in commitments:
        labels[c["id"]] = f"commitment:{c['origin_id']}"
        for line in c["line_items"]:
            labels[line["id"]] = f"line:{line['origin_id']}"
    for r in requisitions:
        labels[r["id"]] = f"requisition:{r['origin_id']}"
        for item in r["contract_items"]:
            labels[item["id"]] = f"item:{r['origin_id']}:{item['position']}"

    def norm(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: norm(v) for k, v in value.items() if k not in TIMESTAMPS and k != "id"}
        if isinstance(value, list):
            return [norm(v) for v in value]
        if isinstance(value, int) and not isinstance(value, bool) and value in labels:
            return labels[value]
        return value

    return {
        "vendors": {labels[v["id"]]: norm(v) for v in vendors},
        "commitments": {c["origin_id"] or labels[c["id"]]: norm(c) for c in commitments},
        "requisitions": {r["origin_id"] or labels[r["id"]]: norm(r) for r in requisitions},
    }


def assert_no_duplicates(sandbox: Sandbox) -> None:
    procore = sandbox.procore
    origins = {
        "vendors": [v["origin_id"] for v in procore.vendors() if v["origin_id"]],
        "commitments": [c["origin_id"] for c in procore.commitments()],
        "commitment lines": [line["origin_id"] for c in procore.commitments() for line in c["line_items"]],
        "requisitions": [r["origin_id"] for r in procore.requisitions()],
    }
    for what, values in origins.items():
        twice = [o for o, n in Counter(values).items() if n > 1]
        assert not twice, f"{what} in Procore twice: {twice[:10]}"


def assert_links_match_target(state_path: Path, sandbox: Sandbox) -> dict[str, int]:
    """Every link points at the Procore record carrying the source record's origin_id, and every
    record of ours in Procore is linked; no write is left pending. Returns links per stream."""
    from mlconnector.state import open_state

    procore = sandbox.procore
    by_id = {
        "vendors": {str(v["id"]): v["origin_id"] for v in procore.vendors()},
        "purchase_orders": {f"{c['project']['id']}/{c['id']}": c["origin_id"] for c in procore.commitments()},
        "po_invoices": {f"{r['project_id']}/{r['id']}": r["origin_id"] for r in procore.requisitions()},
    }
    counts = {}
    with open_state(state_path, readonly=True) as state:
        assert state.pending(PAIR) == [], "a write was left pending"
        for stream in STREAMS:
            links = state.links(PAIR, stream)
            counts[stream] = len(links)
            for link in links:
                assert by_id[stream].get(link.target_id) == ORIGIN + link.source_key, (
                    f"{stream} {link.source_key} linked to {link.target_id}, which carries "
                    f"{by_id[stream].get(link.target_id)!r}")
            linked = {ORIGIN + link.source_key for link in links}
            ours = {o for o in by_id[stream].values() if o and o.startswith(ORIGIN)}
            assert ours <= linked, f"{stream} in Procore but not linked: {sorted(ours - linked)[:10]}"
    return counts


def quarantined_keys(state_path: Path) -> set[tuple[str, str]]:
    from mlconnector.state import open_state

    with open_state(state_path, readonly=True) as state:
        return {(q.stream, q.source_key) for q in state.quarantined(PAIR)}


def env_with(sandbox: Sandbox) -> dict[str, str]:
    return {**os.environ, **sandbox.credentials_env()}
