"""`mlconnector status`: pairs, their last runs, watermarks and counts."""

from __future__ import annotations

import typer

from mlconnector.cli import _common, _output


def status(ctx: typer.Context, json: bool = _common.JSON_OPTION) -> None:
    """Show every pair: its last run, watermarks, linked and quarantined records."""
    from mlconnector.pairs import pass_names
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
                    "stream": stream,
                    "enabled": enabled,
                    "watermark": marks[stream].value if stream in marks else None,
                    "resuming": bool(marks[stream].cursor) if stream in marks else False,
                    # A reverse pass (vendor_changes) shares the links of its stream.
                    "linked": links.get(stream, 0),
                    "quarantined": sum(1 for q in held if q.stream == stream),
                } for stream, enabled in _passes(pair, pass_names(config, name))
                    # Streams that are off and have never run say nothing worth a row.
                    if enabled or stream in marks or links.get(stream) or any(q.stream == stream for q in held)],
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


def _passes(pair, names: list[str]) -> list[tuple[str, bool]]:
    """(pass, enabled) for every pass; an extra pass is on when its YAML stream is."""
    from mlconnector.pairs import EXTRA_PASSES

    owners = {p: o for extra in EXTRA_PASSES.values() for p, o in extra.items()}
    return [(n, pair.streams[owners.get(n, n)].enabled) for n in names]


def register(app: typer.Typer) -> None:
    app.command("status")(status)
