"""`mlconnector status`: pairs, their last runs, watermarks and counts."""

from __future__ import annotations

import typer

from mlconnector.cli import _common, _output


def status(ctx: typer.Context, json: bool = _common.JSON_OPTION) -> None:
    """Show every pair: its last run, watermarks, linked and quarantined records."""
    from mlconnector.state import open_state

    config = _common.load(ctx)
    pairs = []
    with open_state(config.state_path, readonly=True) as state:
        for name, pair in config.pairs.items():
            runs = state.runs(name, limit=1)
            last = runs[0] if runs else None
            marks = {w.stream: w for w in state.watermarks(name)}
            links = state.count_links(name)
            held = state.quarantined(name)
            pairs.append({
                "pair": name,
                "source": pair.source,
                "target": pair.target,
                "last_run": None if last is None else {
                    "id": last.id, "status": last.status, "exit_code": last.exit_code, "started_at": last.started_at,
                    "finished_at": last.finished_at, "counts": last.counts, "message": last.message,
                },
                "streams": [{
                    "stream": s.name,
                    "enabled": s.enabled,
                    "watermark": marks[s.name].value if s.name in marks else None,
                    "resuming": bool(marks[s.name].cursor) if s.name in marks else False,
                    "linked": links.get(s.name, 0),
                    "quarantined": sum(1 for q in held if q.stream == s.name),
                } for s in pair.streams.values()
                    # Streams that are off and have never run say nothing worth a row.
                    if s.enabled or s.name in marks or links.get(s.name) or any(q.stream == s.name for q in held)],
            })
    if json:
        _output.emit_json({"state": str(config.state_path), "pairs": pairs})
        return
    rows = []
    for p in pairs:
        run = p["last_run"]
        last = "never" if run is None else f"#{run['id']} {run['status']} (exit {run['exit_code']}) {run['started_at']}"
        for s in p["streams"]:
            rows.append([p["pair"], s["stream"] + ("" if s["enabled"] else " (off)"), last, s["watermark"] or "-",
                         "yes" if s["resuming"] else "", s["linked"], s["quarantined"]])
    _output.table(f"state: {config.state_path}", ["pair", "stream", "last run", "watermark", "resuming", "linked",
                                                  "quarantined"], rows)


def register(app: typer.Typer) -> None:
    app.command("status")(status)
