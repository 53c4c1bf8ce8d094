"""`mlconnector audit`: what happened to each record, run by run."""

from __future__ import annotations

import typer

from mlconnector.cli import _common, _output


def audit(
    ctx: typer.Context,
    run: int = typer.Option(None, "--run", help="Only this run (ids are shown by `status` and `sync`)."),
    record: str = typer.Option(None, "--record", help="Only this record: a key (V00042) or a record id (PO:PO000123)."),
    pair: str = typer.Option(None, "--pair", help="Only this pair."),
    action: str = typer.Option(None, "--action", help="Only this action: create, update, link, skip, quarantine, fail."),
    limit: int = typer.Option(200, "--limit", min=1, help="At most this many events, newest first."),
    json: bool = _common.JSON_OPTION,
) -> None:
    """Show audit events: one per record per run, newest first."""
    from mlconnector.state import open_state

    config = _common.load(ctx)
    if pair is not None:
        config.pair(pair)
    with open_state(config.state_path, readonly=True) as state:
        if run is None and record is None and pair is None:
            last = state.runs(limit=1)
            run = last[0].id if last else None
        stream = None
        if record is not None:
            from mlconnector.pairs import parse_record_id

            stream, record = parse_record_id(record) or (None, record)
        events = state.audit(run_id=run, pair=pair, stream=stream, source_key=record, action=action, limit=limit)
    from mlconnector.pairs import record_id

    if json:
        _output.emit_json([dict(e.__dict__, record=record_id(e.stream, e.source_key)) for e in events])
        return
    title = f"audit{f' of run {run}' if run else ''}{f' for {record}' if record else ''}: {len(events)} events"
    _output.table(title, ["run", "at", "pair", "record", "action", "target", "message"],
                  [[e.run_id, e.at, e.pair, record_id(e.stream, e.source_key), e.action, e.target_id, e.message]
                   for e in events])


def register(app: typer.Typer) -> None:
    app.command("audit")(audit)
