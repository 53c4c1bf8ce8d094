"""`mlconnector demo`: the whole flow against the built-in sandbox systems."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import typer

from mlconnector.cli import _output
from mlconnector.cli.sync import render

PAIR = "sage300-procore"


def demo(
    keep: Path = typer.Option(None, "--keep", help="Write the demo's config and state file here and keep them.",
                              file_okay=False),
    vendors: int = typer.Option(300, "--vendors", min=1, max=100_000, help="How many Sage 300 vendors to seed."),
) -> None:
    """Start sandbox Sage 300 and Procore servers, sync twice, and show the audit trail.

    The first pass links vendors that already exist in Procore and creates the rest; the
    second pass finds nothing changed and writes nothing.
    """
    from mlconnector.config import load_config
    from mlconnector.engine.sync import sync_pair
    from mlconnector.sandbox import Sandbox
    from mlconnector.state import open_state

    workdir = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="mlconnector-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    with Sandbox(vendors=vendors) as sandbox:
        config_path = workdir / "mlconnector.yaml"
        config_path.write_text(sandbox.config_yaml(workdir / "mlconnector.db"), encoding="utf-8")
        os.environ.update(sandbox.credentials_env())
        config = load_config(config_path)
        _output.info(f"sandbox Sage 300 at {sandbox.sage300.url}, Procore at {sandbox.procore.url}")
        _output.info(f"seeded {len(sandbox.sage300.vendors())} Sage 300 vendors and "
                     f"{len(sandbox.procore.vendors())} Procore vendors; config in {config_path}")
        reports = []
        for attempt in ("first pass", "second pass (nothing changed)"):
            _output.info(f"\n— {attempt}")
            report = sync_pair(config, PAIR)
            render(report)
            reports.append(report)
        with open_state(config.state_path, readonly=True) as state:
            events = state.audit(run_id=reports[0].run_id, limit=100_000)
            interesting = [e for e in events if e.action in ("link", "quarantine")] + \
                [e for e in events if e.message and e.action == "create"][:5]
            _output.table(f"audit of run {reports[0].run_id}: links, quarantines and creates with warnings",
                          ["record", "action", "target", "message"],
                          [[e.source_key, e.action, e.target_id, e.message] for e in interesting])
        second = reports[1].requests.get("procore", {})
        _output.info(f"\nsecond pass: {second.get('writes', 0)} Procore writes. "
                     f"Explore with: mlconnector -c {config_path} status | audit | mappings list")
    if not keep:
        _output.info("(pass --keep DIR to keep the demo's config and state file)")
        shutil.rmtree(workdir, ignore_errors=True)
    # Quarantined records are part of the demo (ambiguous names by design); only a failed
    # pass makes the demo fail.
    failed = [r for r in reports if r.error is not None]
    raise typer.Exit(int(failed[0].exit_code) if failed else 0)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
