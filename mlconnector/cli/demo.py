"""`mlconnector demo`: the whole flow against the built-in sandbox systems."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import typer

from mlconnector.cli import _output
from mlconnector.sandbox._faults import SPEC_HELP, parse_fault_spec

PAIR = "sage300-procore"


def demo(
    keep: Path = typer.Option(None, "--keep", help="Write the demo's config and state file here and keep them.",
                              file_okay=False),
    vendors: int = typer.Option(300, "--vendors", min=1, max=100_000, help="How many Sage 300 vendors to seed."),
    faults: str = typer.Option(None, "--faults", metavar="SPEC",
                               help="Make both sandbox servers misbehave, seeded: " + SPEC_HELP
                               + ". The demo's client timeout is then 1 s, below the hang."),
) -> None:
    """Start sandbox Sage 300 and Procore servers and run the whole flow against them.

    Mapping tables are imported from CSV; the first sync links vendors that already exist in
    Procore, creates the rest and turns purchase orders into commitments and invoices into
    subcontractor invoices; records it cannot place wait in quarantine with the reason. The
    second sync finds nothing changed. Then a missing cost-code mapping is imported and a
    quarantined purchase order replayed.

    With --faults the servers answer with errors, 429s, hangs, resets, lost answers, expired
    tokens and garbage bodies as the spec says; the sync retries through them, and the faults
    each server caused are listed at the end.
    """
    from mlconnector.cli.mappings import render_import
    from mlconnector.cli.sync import render
    from mlconnector.config import load_config
    from mlconnector.engine.sync import replay_record, sync_pair
    from mlconnector.mappings import import_mappings
    from mlconnector.pairs import record_id
    from mlconnector.sandbox import DATA_DIR, Sandbox
    from mlconnector.state import open_state

    plan = None
    if faults:
        try:
            plan = parse_fault_spec(faults)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--faults") from None
    workdir = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="mlconnector-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    failed = []
    with Sandbox(vendors=vendors) as sandbox:
        # The sandbox's spike window is Procore's documented example (25 per 10 s); the demo
        # allows more so it finishes in seconds. Pacing is the same code either way.
        sandbox.procore.set_rate_limits(spike=250)
        config_path = workdir / "mlconnector.yaml"
        config_path.write_text(sandbox.config_yaml(workdir / "mlconnector.db", timeout=1.0 if plan else None),
                               encoding="utf-8")
        os.environ.update(sandbox.credentials_env())
        config = load_config(config_path)
        _output.info(f"sandbox Sage 300 at {sandbox.sage300.url}, Procore at {sandbox.procore.url}; "
                     f"config in {config_path}")
        summary = sandbox.seed_summary
        _output.info(f"seeded {len(sandbox.sage300.vendors())} Sage 300 vendors, {len(sandbox.sage300.purchase_orders())}"
                     f" purchase orders, {len(sandbox.sage300.po_invoices())} PO invoices; Procore has "
                     f"{len(sandbox.procore.vendors())} vendors and {summary.get('procore_projects', 4)} projects")

        def step(title: str) -> None:
            _output.info(f"\n— {title}")

        if plan is not None:
            for simulator in (sandbox.sage300, sandbox.procore):
                simulator.set_fault_plan(plan)
            _output.info(f"faults on both servers: {faults}")

        step("import the mapping tables (Sage 300 contracts → Procore projects, categories → cost codes)")
        for name in ("projects.csv", "costcodes.csv"):
            render_import(import_mappings(config, DATA_DIR / name, pair=PAIR))

        reports = []
        for title in ("first sync", "second sync (nothing changed in Sage 300)"):
            step(title)
            report = sync_pair(config, PAIR)
            render(report)
            reports.append(report)
            failed += [report] if report.error else []
        with open_state(config.state_path, readonly=True) as state:
            held = state.quarantined(PAIR)
            events = state.audit(run_id=reports[0].run_id, limit=100_000)
        counts: dict[tuple[str, str], int] = {}
        for e in events:
            counts[(e.stream, e.action)] = counts.get((e.stream, e.action), 0) + 1
        _output.table(f"audit of run {reports[0].run_id}: one row per record", ["stream", "action", "records"],
                      [[stream, action, n] for (stream, action), n in sorted(counts.items())])
        notable = [e for e in events if e.action == "link" or (e.action in ("create", "update") and e.message)]
        _output.table("of which linked to existing Procore records, or written with a warning (first 15)",
                      ["record", "action", "target", "message"],
                      [[record_id(e.stream, e.source_key), e.action, e.target_id, e.message] for e in notable[:15]])
        _output.table("quarantine: what could not go through, and what to do", ["id", "record", "reason"],
                      [[q.id, record_id(q.stream, q.source_key), q.reason] for q in held])

        unmapped = [q for q in held if q.stream == "purchase_orders" and "no cost code mapping" in q.reason]
        if unmapped:
            step("import the missing cost-code mapping, then replay one purchase order")
            render_import(import_mappings(config, DATA_DIR / "costcodes-extra.csv", pair=PAIR))
            replayed = replay_record(config, PAIR, "purchase_orders", unmapped[0].source_key)
            with open_state(config.state_path, readonly=True) as state:
                events = state.audit(run_id=replayed.run_id)
            _output.table(f"replay of {record_id('purchase_orders', unmapped[0].source_key)}",
                          ["record", "action", "target", "message"],
                          [[record_id(e.stream, e.source_key), e.action, e.target_id, e.message]
                           for e in reversed(events)])
            failed += [replayed] if replayed.error else []
        if plan is not None:
            kinds = sorted({k for s in (sandbox.sage300, sandbox.procore) for k in s.fault_counts})
            _output.table("faults the sandbox servers caused", ["fault", "Sage 300", "Procore"],
                          [[k, sandbox.sage300.fault_counts.get(k, 0), sandbox.procore.fault_counts.get(k, 0)]
                           for k in kinds])
        writes = reports[1].requests.get("procore", {}).get("writes", 0)
        _output.info(f"\nthe second sync sent {writes} Procore write requests (retries of quarantined records "
                     "that Procore itself refused, such as an invoice with no open billing period, are the only "
                     f"ones). Explore with: mlconnector -c {config_path} status | audit | quarantine list")
    if not keep:
        _output.info("(pass --keep DIR to keep the demo's config and state file)")
        shutil.rmtree(workdir, ignore_errors=True)
    # Quarantined records are part of the demo (by design); only a failed run fails the demo.
    raise typer.Exit(int(failed[0].exit_code) if failed else 0)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
