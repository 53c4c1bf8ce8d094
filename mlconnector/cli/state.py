"""`mlconnector state backup|show`: the state file itself (DESIGN.md §4)."""

from __future__ import annotations

from pathlib import Path

import typer

from mlconnector.cli import _common, _output

app = typer.Typer(help="The state file: make a consistent backup, show what it holds.", no_args_is_help=True)


@app.command("backup")
def backup(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="Where to write the copy (a directory: a timestamped file in it)."),
    force: bool = typer.Option(False, "--force", help="Copy even while a run holds a pair's lock."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace FILE if it exists."),
    json: bool = _common.JSON_OPTION,
) -> None:
    """Copy the state file to FILE with SQLite's online backup; refused (exit 4) while a run holds a lock."""
    from mlconnector.engine.sync import LOCK_STALE_AFTER
    from mlconnector.state import backup_state

    config = _common.load(ctx)
    result = backup_state(config.state_path, file, force=force, overwrite=overwrite, stale_after=LOCK_STALE_AFTER)
    if json:
        _output.emit_json({"source": str(result.source), "backup": str(result.destination),
                           "schema_version": result.schema_version, "bytes": result.bytes, "rows": result.rows,
                           "locks": result.locks})
        return
    rows = ", ".join(f"{n} {t}" for t, n in result.rows.items() if n)
    _output.info(f"backed up {result.source} to {result.destination} "
                 f"(schema {result.schema_version}, {result.bytes} bytes; {rows or 'no rows'})")
    if result.locks:
        _output.warning(f"the copy holds lock rows: {'; '.join(result.locks)}")


@app.command("show")
def show(ctx: typer.Context, json: bool = _common.JSON_OPTION) -> None:
    """Show the state file: path, schema version, size, rows per table and run locks."""
    from mlconnector.engine.sync import LOCK_STALE_AFTER
    from mlconnector.state import open_state
    from mlconnector.state._lock import holder_alive, hostname
    from mlconnector.state._rows import parse_utc

    config = _common.load(ctx)
    if not Path(config.state_path).exists():
        _output.info(f"state file {config.state_path} does not exist yet (the first sync creates it)")
        return
    import time

    with open_state(config.state_path, readonly=True) as state:
        stats = state.stats()
        locks = []
        for pair, holder in state.locks().items():
            if holder.host == hostname():
                held = holder_alive(holder.pid, None)
            else:
                held = time.time() - parse_utc(holder.heartbeat_at) <= LOCK_STALE_AFTER
            locks.append({"pair": pair, "pid": holder.pid, "host": holder.host, "since": holder.started_at,
                          "heartbeat": holder.heartbeat_at, "held": held})
    if json:
        _output.emit_json({**stats, "locks": locks})
        return
    _output.info(f"state file {stats['path']}: schema {stats['schema_version']}, {stats['file_bytes']} bytes "
                 f"(+ {stats['wal_bytes']} bytes of WAL)")
    _output.table("rows", ["table", "rows"], list(stats["rows"].items()))
    if locks:
        _output.table("locks", ["pair", "process", "host", "since", "last heartbeat", "state"],
                      [[lk["pair"], lk["pid"], lk["host"], lk["since"], lk["heartbeat"],
                        "held" if lk["held"] else "stale (taken over by the next run)"] for lk in locks])
    else:
        _output.info("no run holds a lock")
