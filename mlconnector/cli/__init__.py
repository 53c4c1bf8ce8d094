"""The command line: a thin layer over the library (one module per command).

Commands parse options, call the core and render the result. Library errors become user
errors here, once: a message on stderr (secrets scrubbed) and the exit code of their class.
"""

from __future__ import annotations

import logging
from pathlib import Path

import typer
from typer.core import TyperGroup

from mlconnector import __version__, logs
from mlconnector.cli import _output
from mlconnector.errors import ExitCode, MlconnectorError
from mlconnector.redact import scrub


class _Group(TyperGroup):
    """Turns library errors into messages and exit codes for every subcommand."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except MlconnectorError as exc:
            _output.error(str(exc))
            logs.log_error(str(exc))
            raise typer.Exit(int(exc.exit_code)) from None
        except (typer.Exit, typer.TyperException, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:  # a bug: say so plainly, without a traceback full of locals
            logging.getLogger("mlconnector").debug("internal error", exc_info=True)
            message = f"internal error: {type(exc).__name__}: {scrub(str(exc))}"
            _output.error(message + "\nPlease report it with the output of the same command run with "
                          "--log-level debug.")
            logs.log_error(message)
            raise typer.Exit(int(ExitCode.FATAL)) from None


app = typer.Typer(
    cls=_Group,
    name="mlconnector",
    help="Sync ERPs (Sage 300, ...) with Procore: pull → map → push, with an audit trail for every record.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mlconnector {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    config: str = typer.Option(
        None, "--config", "-c", envvar="MLCONNECTOR_CONFIG", show_envvar=True,
        help="The YAML pipeline file. Default: ./mlconnector.yaml.",
    ),
    log_level: str = typer.Option(
        "warning", "--log-level", envvar="MLCONNECTOR_LOG_LEVEL",
        help="error, warning, info or debug, on stderr (secrets are always scrubbed).",
    ),
    log_file: Path = typer.Option(
        None, "--log-file", envvar="MLCONNECTOR_LOG_FILE", dir_okay=False,
        help="Also log to this file (info and above; rotated at 10 MB, 5 kept). For scheduled runs.",
    ),
    log_format: str = typer.Option(
        "text", "--log-format", envvar="MLCONNECTOR_LOG_FORMAT", help="text, or json: one object per line.",
    ),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    ctx.obj = {"config": config, "log_file": log_file}
    try:
        logs.setup(log_level.lower(), log_file=log_file, fmt=log_format.lower())
    except MlconnectorError as exc:
        raise typer.BadParameter(str(exc)) from None


def _register() -> None:
    from mlconnector.cli import (audit, credentials, demo, doctor, mappings, ping, quarantine, replay, schedule,
                                 selfcheck, status, sync)
    from mlconnector.cli import state as state_cmd

    for module in (ping, sync, replay, status, audit, demo, doctor, selfcheck):
        module.register(app)
    app.add_typer(credentials.app, name="credentials")
    app.add_typer(mappings.app, name="mappings")
    app.add_typer(quarantine.app, name="quarantine")
    app.add_typer(state_cmd.app, name="state")
    app.add_typer(schedule.app, name="schedule")


_register()


def main() -> None:
    app(prog_name="mlconnector")
