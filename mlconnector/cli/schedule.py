"""`mlconnector schedule show <pair> [--every 15m]`: the crontab line and the schtasks command."""

from __future__ import annotations

from pathlib import Path

import typer

from mlconnector.cli import _common, _output

app = typer.Typer(help="Help with running a pair on a schedule (cron, Windows Task Scheduler).",
                  no_args_is_help=True)


@app.command("show")
def show(
    ctx: typer.Context,
    pair: str = typer.Argument(..., help="A pair name from the configuration, e.g. sage300-procore."),
    every: str = typer.Option("15m", "--every", help="How often: 5m, 15m, 30m, 1h, 6h, 1d ..."),
) -> None:
    """Print the crontab line and the `schtasks /Create` command that run `sync PAIR` every EVERY.

    They name this program, the configuration and the log file by absolute path (set them with
    the global --config and --log-file; the log file defaults to <pair>.log beside the
    configuration). Nothing is installed: copy the line for your platform.
    """
    from mlconnector import schedule

    interval = schedule.parse_every(every)
    config = _common.load(ctx)
    config.pair(pair)  # an unknown pair is a usage error here, not at 3 a.m.
    config_path = Path(config.path).resolve()
    log_file = ctx.obj.get("log_file") if ctx.obj else None
    log_path = Path(log_file).expanduser().resolve() if log_file else config_path.parent / f"{pair}.log"
    plan = schedule.build(pair, interval, config=config_path, log_file=log_path)

    _output.info(f"Run `sync {pair}` every {interval}; each run appends a summary line to {log_path}.")
    _output.info("")
    _output.info("Linux / macOS — add to the crontab (crontab -e):")
    _output.info(f"  {plan.cron_line}")
    for note in schedule.CRON_NOTES:
        _output.info(f"  - {note}")
    _output.info("")
    _output.info("Windows — run in an administrator command prompt:")
    _output.info(f"  {plan.schtasks}")
    if plan.schtasks_too_long:
        _output.warning(f"the task's command line is longer than the {schedule.SCHTASKS_TR_LIMIT} characters "
                        "schtasks accepts: move the configuration to a shorter path, or point /TR at a .cmd "
                        "file that holds the command")
    for note in schedule.WINDOWS_NOTES:
        _output.info(f"  - {note}")
