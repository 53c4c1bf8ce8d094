"""`mlconnector replay <record-id>`: read one record again, map it again, push it now."""

from __future__ import annotations

import typer

from mlconnector.cli import _common, _output


def replay(
    ctx: typer.Context,
    record: str = typer.Argument(..., help="A quarantine id (`quarantine list`) or a record id such as "
                                 "PO:PO000123, VENDOR:1200, INV:IN00042 (shown by `audit`)."),
    pair: str = typer.Option(None, "--pair", help="The pair, when several have this kind of record."),
) -> None:
    """Re-read RECORD from the source, map it again and push it now with the same idempotency key."""
    from mlconnector.engine.sync import replay_record
    from mlconnector.errors import UsageError
    from mlconnector.pairs import RECORD_PREFIXES, parse_record_id, pass_names, record_id
    from mlconnector.state import open_state

    config = _common.load(ctx)
    if record.strip().isdigit():
        with open_state(config.state_path, readonly=True) as state:
            held = state.get_quarantine(int(record))
        if held is None:
            raise UsageError(f"no quarantined record with id {record}; `mlconnector quarantine list` shows them")
        pair, stream, key = held.pair, held.stream, held.source_key
    else:
        parsed = parse_record_id(record)
        if parsed is None:
            kinds = ", ".join(f"{p}:<key>" for p in RECORD_PREFIXES.values())
            raise UsageError(f"{record!r} is not a record id; use a quarantine id or one of {kinds}")
        stream, key = parsed
        if pair is None:
            pairs = [name for name in config.pairs if stream in pass_names(config, name)]
            if len(pairs) != 1:
                raise UsageError(f"say which pair with --pair (pairs with {stream}: {', '.join(pairs) or 'none'})")
            pair = pairs[0]
    report = replay_record(config, pair, stream, key)
    with open_state(config.state_path, readonly=True) as state:
        events = state.audit(run_id=report.run_id, limit=1000) if report.run_id else []
    _output.table(f"replay of {record_id(stream, key)} (run {report.run_id})",
                  ["record", "action", "target", "message"],
                  [[record_id(e.stream, e.source_key), e.action, e.target_id, e.message] for e in reversed(events)])
    if report.error is not None:
        _output.error(str(report.error))
    still_held = any(e.action == "quarantine" and e.source_key == key and e.stream == stream for e in events)
    raise typer.Exit(int(report.exit_code) if report.error is not None else (1 if still_held else 0))


def register(app: typer.Typer) -> None:
    app.command("replay")(replay)
