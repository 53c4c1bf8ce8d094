"""`mlconnector selfcheck`: check that this installation (or binary) carries everything it needs."""

from __future__ import annotations

import typer

from mlconnector.cli import _common, _output
from mlconnector.errors import ExitCode


def selfcheck(json: bool = _common.JSON_OPTION) -> None:
    """Import every system client and pair, list the keyring backends, open a state file, load the
    packaged data files and report versions. No network, no configuration file needed.

    Exit code 0 when every check passes, 3 when one fails (the row says what is missing).
    """
    from mlconnector.selfcheck import passed, run_selfcheck

    checks = run_selfcheck()
    ok = passed(checks)
    if json:
        _output.emit_json({"ok": ok, "checks": [
            {"area": c.area, "check": c.name, "result": c.result, "ok": c.ok, "detail": c.detail} for c in checks
        ]})
    else:
        _output.table(None, ["area", "check", "result", "detail"],
                      [[c.area, c.name, c.result, c.detail] for c in checks])
        failed = [c for c in checks if not c.ok]
        if failed:
            _output.error(f"{len(failed)} of {len(checks)} checks failed: "
                          + ", ".join(f"{c.area}/{c.name}" for c in failed))
        else:
            warnings = sum(c.warning for c in checks)
            _output.info(f"all {len(checks)} checks passed" + (f" ({warnings} with a warning)" if warnings else ""))
    if not ok:
        raise typer.Exit(int(ExitCode.FATAL))


def register(app: typer.Typer) -> None:
    app.command("selfcheck")(selfcheck)
