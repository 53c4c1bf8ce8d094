"""`mlconnector quarantine list|show|discard`: the records that could not go through, and why."""

from __future__ import annotations

import json as jsonlib

import typer

from mlconnector.cli import _common, _output

app = typer.Typer(help="Records that could not go through: why, and what to do. Fix the cause, then "
                  "`mlconnector replay` (or wait for the next sync, which retries them).", no_args_is_help=True)


def _row(q) -> dict:
    from mlconnector.pairs import record_id

    return {"id": q.id, "record": record_id(q.stream, q.source_key), "pair": q.pair, "stream": q.stream,
            "source_key": q.source_key, "attempts": q.attempts, "first_seen": q.first_seen,
            "last_seen": q.last_seen, "reason": q.reason}


@app.command("list")
def list_(
    ctx: typer.Context,
    pair: str = typer.Option(None, "--pair", help="Only this pair."),
    stream: str = typer.Option(None, "--stream", help="Only this stream, e.g. purchase_orders."),
    json: bool = _common.JSON_OPTION,
) -> None:
    """List quarantined records with the reason each is held."""
    from mlconnector.state import open_state

    config = _common.load(ctx)
    if pair:
        config.pair(pair)
    with open_state(config.state_path, readonly=True) as state:
        rows = [_row(q) for q in state.quarantined(pair, stream)]
    if json:
        _output.emit_json(rows)
        return
    _output.table(f"{len(rows)} records in quarantine", ["id", "record", "pair", "attempts", "last seen", "reason"],
                  [[r["id"], r["record"], r["pair"], r["attempts"], r["last_seen"], r["reason"]] for r in rows])


@app.command("show")
def show(
    ctx: typer.Context,
    id: int = typer.Argument(..., help="The quarantine id (from `quarantine list`)."),
    json: bool = _common.JSON_OPTION,
) -> None:
    """Show one quarantined record: the reason and the source data as it was read."""
    from mlconnector.errors import UsageError
    from mlconnector.state import open_state

    config = _common.load(ctx)
    with open_state(config.state_path, readonly=True) as state:
        held = state.get_quarantine(id)
    if held is None:
        raise UsageError(f"no quarantined record with id {id}; `mlconnector quarantine list` shows them")
    row = dict(_row(held), payload=held.payload)
    if json:
        _output.emit_json(row)
        return
    _output.table(f"quarantined record {id}", ["field", "value"],
                  [[k, v] for k, v in row.items() if k != "payload"])
    _output.info(jsonlib.dumps(held.payload, indent=2, ensure_ascii=False, default=str))


@app.command("discard")
def discard(
    ctx: typer.Context,
    id: int = typer.Argument(..., help="The quarantine id (from `quarantine list`)."),
) -> None:
    """Stop retrying a quarantined record (the audit keeps a row saying so)."""
    from mlconnector.errors import UsageError
    from mlconnector.pairs import record_id
    from mlconnector.state import open_state

    config = _common.load(ctx)
    with open_state(config.state_path) as state, state.transaction():
        held = state.discard(id)
        if held is None:
            raise UsageError(f"no quarantined record with id {id}; `mlconnector quarantine list` shows them")
        state.add_audit(None, held.pair, held.stream, held.source_key, "discard",
                        message=f"discarded from quarantine by hand; it was held because: {held.reason}")
    _output.info(f"{record_id(held.stream, held.source_key)} discarded from quarantine; a later change in the "
                 "source brings it back through the sync")
