"""`mlconnector sync <pair>`: one pull → map → push pass (what cron and Task Scheduler run)."""

from __future__ import annotations

import time

import typer

from mlconnector.cli import _common, _output
from mlconnector.errors import MlconnectorError

ACTIONS = ("create", "update", "link", "skip", "quarantine")


def sync(
    ctx: typer.Context,
    pair: str = typer.Argument(..., help="A pair name from the configuration, e.g. sage300-procore."),
    stream: list[str] = typer.Option(None, "--stream", "-s", help="Only this stream (repeatable)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show planned creates/updates/links/skips; write nothing."),
    full: bool = typer.Option(False, "--full", help="Ignore the watermark and read every source record."),
    force: bool = typer.Option(False, "--force",
                               help="Take over another host's lock once its heartbeat is a minute old (not 10)."),
) -> None:
    """Run one pass of PAIR. Exit 0: all through or unchanged; 1: some quarantined; see README.

    With --log-file, each run leaves one summary line there (counts by action, duration, exit
    code); with a `notify:` section, a new problem is sent to the webhook and/or by e-mail.
    """
    from mlconnector import logs
    from mlconnector.engine.sync import sync_pair

    started = time.monotonic()
    report = config = None
    try:
        config = _common.load(ctx)
        with _output.Progress(f"sync {pair}") as progress:
            report = sync_pair(config, pair, streams=stream or None, dry_run=dry_run, full=full, force=force,
                               on_progress=progress.update)
    except MlconnectorError as exc:
        logs.run_summary(command="sync", pair=pair, exit_code=int(exc.exit_code), dry_run=dry_run,
                         seconds=time.monotonic() - started, error=str(exc))
        # Raised before the run started (a missing secret, a busy lock): a problem to report too.
        if config is not None and not dry_run:
            _notices(config, pair, exit_code=int(exc.exit_code), run_id=None, error=exc)
        raise
    render(report)
    logs.run_summary(command="sync", pair=pair, exit_code=int(report.exit_code), run_id=report.run_id,
                     counts={**dict.fromkeys(ACTIONS, 0), **report.totals()},
                     dry_run=dry_run, seconds=time.monotonic() - started,
                     error=str(report.error) if report.error is not None else None)
    if not dry_run:
        _notices(config, pair, exit_code=int(report.exit_code), run_id=report.run_id, error=report.error)
    raise typer.Exit(int(report.exit_code))


def _notices(config, pair: str, **outcome) -> None:
    """Failure notices (`notify:`): sent only for a new problem; never change the exit code."""
    from mlconnector.notify import notify_run

    for line in notify_run(config, pair, **outcome):
        _output.info(f"notice {line}")


def render(report) -> None:
    title = f"{'DRY RUN — nothing written. ' if report.dry_run else ''}{report.pair}" + (
        f" run {report.run_id}" if report.run_id else "")
    if report.dry_run and report.streams:
        planned = [p for s in report.streams for p in s.planned if p.action != "skip"]
        if planned and _output.interactive():
            _output.table("planned actions (skips not listed)", ["stream", "record", "action", "target", "note"],
                          [[p.stream, p.source_key, p.action, p.target, p.message] for p in planned])
        elif planned:
            for p in planned:
                _output.info(f"plan {p.stream} {p.source_key} {p.action} {p.target} {p.message}".rstrip())
    rows = [[s.name, *(s.counts[a] for a in ACTIONS)] for s in report.streams]
    if _output.interactive():
        _output.table(title, ["stream", *ACTIONS], rows)
    else:
        for s in report.streams:
            counts = " ".join(f"{a}={s.counts[a]}" for a in ACTIONS)
            _output.info(f"{title} {s.name}: {counts}")
    requests = ", ".join(f"{name}: {r['reads']} reads, {r['writes']} writes" for name, r in report.requests.items())
    _output.info(f"{report.status} in {report.seconds:.1f} s ({requests})")
    if report.error is not None:
        _output.error(str(report.error))
    elif report.quarantine_total and not report.dry_run:
        _output.warning(f"{report.quarantine_total} records in quarantine: `mlconnector audit --run {report.run_id}` "
                        "shows why; fix and run again")


def register(app: typer.Typer) -> None:
    app.command("sync")(sync)
