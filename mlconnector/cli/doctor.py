"""`mlconnector doctor`: one table of what would stop a scheduled run, and how to fix each."""

from __future__ import annotations

import typer

from mlconnector.cli import _common, _output

_MARK = {"ok": "ok", "warn": "WARN", "fail": "FAIL"}


def doctor(
    ctx: typer.Context,
    test_notify: bool = typer.Option(False, "--test-notify", help="Also send a test notice to every `notify:` channel."),
    json: bool = _common.JSON_OPTION,
) -> None:
    """Check the configuration, every credential (never shown), every system (as `ping` does),
    the state file and each pair's lock, last run and quarantine, and the notices' settings
    (--test-notify sends a test notice to each channel). Changes nothing else.

    Run it as the account the schedule runs as. Exit 0: nothing failed (warnings allowed);
    2: the configuration does not load; 3: something else would stop a sync.
    """
    from mlconnector import doctor as checks

    findings = checks.diagnose((ctx.obj or {}).get("config"), test_notify=test_notify)
    if json:
        _output.emit_json([{"check": f.check, "subject": f.subject, "status": f.status, "detail": f.detail,
                            "fix": f.fix} for f in findings])
    else:
        _output.table("mlconnector doctor", ["check", "subject", "status", "detail", "fix"],
                      [[f.check, f.subject, _MARK[f.status], f.detail, f.fix] for f in findings])
        failed = sum(f.status == "fail" for f in findings)
        warned = sum(f.status == "warn" for f in findings)
        _output.info(f"{failed} failed, {warned} warnings, {len(findings) - failed - warned} ok")
    raise typer.Exit(checks.exit_code(findings))


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
