"""`mlconnector ping <system>`: authenticate and do one cheap read."""

from __future__ import annotations

import typer

from mlconnector.cli import _common, _output


def ping(
    ctx: typer.Context,
    system: str = typer.Argument(..., help="A system name from the configuration, e.g. sage300."),
    json: bool = _common.JSON_OPTION,
) -> None:
    """Authenticate to SYSTEM and do one cheap read; print the latency and what was reached."""
    from mlconnector.connect import ping as ping_system

    result = ping_system(_common.load(ctx), system)
    if json:
        _output.emit_json({"system": result.system, "kind": result.kind, "url": result.url, "ok": True,
                           "latency_ms": round(result.seconds * 1000), "reached": result.reached})
        return
    _output.table(None, ["system", "kind", "url", "result", "latency", "reached"],
                  [[result.system, result.kind, result.url, "ok", f"{result.seconds * 1000:.0f} ms", result.reached]])


def register(app: typer.Typer) -> None:
    app.command("ping")(ping)
