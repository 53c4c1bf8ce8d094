"""`mlconnector demo`: the whole flow against the built-in sandbox systems."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import typer

from mlconnector.cli import _output
from mlconnector.sandbox import FAULT_SPEC_HELP

from dataclasses import dataclass


@dataclass(frozen=True)
class _Walk:
    """What the demo shows of one pair."""

    source: str  # system names as people say them
    target: str
    mappings: tuple[str, ...]  # sandbox/data files imported first
    mappings_what: str
    extra: str  # the file that supplies the mapping the first ones leave out
    replay_stream: str  # the stream of the record replayed after it
    missing: str  # how the quarantine reason of such a record reads


WALKS = {
    "sage300-procore": _Walk("Sage 300", "Procore", ("projects.csv", "costcodes.csv"),
                             "Sage 300 contracts → Procore projects, categories → cost codes", "costcodes-extra.csv",
                             "purchase_orders", "no cost code mapping"),
    "procore-intacct": _Walk("Procore", "Intacct", ("intacct-projects.csv", "glaccounts.csv"),
                             "Procore projects → Intacct projects, cost codes → GL accounts and tasks",
                             "glaccounts-extra.csv", "commitments", "has no GL account mapping"),
}
PAIR = "sage300-procore"


def demo(
    keep: Path = typer.Option(None, "--keep", help="Write the demo's config and state file here and keep them.",
                              file_okay=False),
    pair: str = typer.Option(PAIR, "--pair", help="The pair to walk through: sage300-procore or procore-intacct."),
    vendors: int = typer.Option(300, "--vendors", min=1, max=100_000,
                                help="How many vendors to seed in the source ERP (Sage 300, or Intacct)."),
    faults: str = typer.Option(None, "--faults", metavar="SPEC",
                               help="Make both sandbox servers misbehave, seeded: " + FAULT_SPEC_HELP
                               + ". The demo's client timeout is then 1 s, below the hang."),
) -> None:
    """Start the sandbox servers of a pair and run the whole flow against them.

    Mapping tables are imported from CSV; the first sync links vendors that already exist in the
    target, creates the rest and moves the documents (sage300-procore: purchase orders into
    commitments, invoices into subcontractor invoices; procore-intacct: commitments,
    subcontractor invoices and payment applications into AP bills); records it cannot place wait
    in quarantine with the reason. The second sync finds nothing changed. Then a missing mapping
    is imported and a quarantined record replayed.

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

    if pair not in WALKS:
        raise typer.BadParameter(f"no sandbox for pair {pair!r}; choose {' or '.join(WALKS)}", param_hint="--pair")
    walk = WALKS[pair]
    plan = None
    if faults:
        from mlconnector.sandbox._faults import parse_fault_spec

        try:
            plan = parse_fault_spec(faults)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--faults") from None
    workdir = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="mlconnector-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    failed = []
    with Sandbox(vendors=vendors, pair=pair) as sandbox:
        # The sandbox's spike window is Procore's documented example (25 per 10 s); the demo
        # allows more so it finishes in seconds. Pacing is the same code either way.
        sandbox.procore.set_rate_limits(spike=250)
        config_path = workdir / "mlconnector.yaml"
        config_path.write_text(sandbox.config_yaml(workdir / "mlconnector.db", timeout=1.0 if plan else None),
                               encoding="utf-8")
        os.environ.update(sandbox.credentials_env())
        config = load_config(config_path)
        servers = {"Sage 300": sandbox.sage300, "Procore": sandbox.procore, "Intacct": sandbox.intacct}
        shown = (walk.source, walk.target)
        _output.info(f"sandbox {walk.source} at {servers[walk.source].url}, {walk.target} at "
                     f"{servers[walk.target].url}; config in {config_path}")
        _output.info("seeded: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sandbox.seed_summary.items()
                                            if isinstance(v, int)))

        def step(title: str) -> None:
            _output.info(f"\n— {title}")

        if plan is not None:
            for name in shown:
                servers[name].set_fault_plan(plan)
            _output.info(f"faults on both servers: {faults}")

        step(f"import the mapping tables ({walk.mappings_what})")
        for name in walk.mappings:
            render_import(import_mappings(config, DATA_DIR / name, pair=pair))

        reports = []
        for title in ("first sync", "second sync (nothing changed)"):
            step(title)
            report = sync_pair(config, pair)
            render(report)
            reports.append(report)
            failed += [report] if report.error else []
        with open_state(config.state_path, readonly=True) as state:
            held = state.quarantined(pair)
            events = state.audit(run_id=reports[0].run_id, limit=100_000)
        counts: dict[tuple[str, str], int] = {}
        for e in events:
            counts[(e.stream, e.action)] = counts.get((e.stream, e.action), 0) + 1
        _output.table(f"audit of run {reports[0].run_id}: one row per record", ["stream", "action", "records"],
                      [[stream, action, n] for (stream, action), n in sorted(counts.items())])
        notable = [e for e in events if e.action == "link" or (e.action in ("create", "update") and e.message)]
        _output.table("of which linked to records that already existed, or written with a warning (first 15)",
                      ["record", "action", "target", "message"],
                      [[record_id(e.stream, e.source_key), e.action, e.target_id, e.message] for e in notable[:15]])
        _output.table("quarantine: what could not go through, and what to do", ["id", "record", "reason"],
                      [[q.id, record_id(q.stream, q.source_key), q.reason] for q in held])

        unmapped = [q for q in held if q.stream == walk.replay_stream and walk.missing in q.reason]
        if unmapped:
            step(f"import the missing mapping ({walk.extra}), then replay one record it held back")
            render_import(import_mappings(config, DATA_DIR / walk.extra, pair=pair))
            replayed = replay_record(config, pair, walk.replay_stream, unmapped[0].source_key)
            with open_state(config.state_path, readonly=True) as state:
                events = state.audit(run_id=replayed.run_id)
            _output.table(f"replay of {record_id(walk.replay_stream, unmapped[0].source_key)}",
                          ["record", "action", "target", "message"],
                          [[record_id(e.stream, e.source_key), e.action, e.target_id, e.message]
                           for e in reversed(events)])
            failed += [replayed] if replayed.error else []
        if plan is not None:
            kinds = sorted({k for name in shown for k in servers[name].fault_counts})
            _output.table("faults the sandbox servers caused", ["fault", *shown],
                          [[k, *(servers[name].fault_counts.get(k, 0) for name in shown)] for k in kinds])
        target_system = config.pair(pair).target
        writes = reports[1].requests.get(target_system, {}).get("writes", 0)
        _output.info(f"\nthe second sync sent {writes} {walk.target} write requests (nothing changed, so none: "
                     "held records are retried by reading only). "
                     f"Explore with: mlconnector -c {config_path} status | audit | quarantine list")
    if not keep:
        _output.info("(pass --keep DIR to keep the demo's config and state file)")
        shutil.rmtree(workdir, ignore_errors=True)
    # Quarantined records are part of the demo (by design); only a failed run fails the demo.
    raise typer.Exit(int(failed[0].exit_code) if failed else 0)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
