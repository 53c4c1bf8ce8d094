"""The command line: a thin layer over the library (one module per command).

Commands parse options, call the core and render the result. Library errors become user
errors here, once: a message on stderr (secrets scrubbed) and the exit code of their class.
"""

from __future__ import annotations

import logging
import sys

import typer
from typer.core import TyperGroup

from mlconnector import __version__
from mlconnector.cli import _output
from mlconnector.errors import ExitCode, MlconnectorError
from mlconnector.redact import RedactingFilter, scrub


class _Group(TyperGroup):
    """Turns library errors into messages and exit codes for every subcommand."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except MlconnectorError as exc:
            _output.error(str(exc))
            raise typer.Exit(int(exc.exit_code)) from None
        except (typer.Exit, typer.TyperException, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:  # a bug: say so plainly, without a traceback full of locals
            logging.getLogger("mlconnector").debug("internal error", exc_info=True)
            _output.error(
                f"internal error: {type(exc).__name__}: {scrub(str(exc))}\n"
                "Please report it with the output of the same command run with --log-level debug."
            )
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
        "warning", "--log-level", help="error, warning, info or debug (secrets are always scrubbed).",
        case_sensitive=False,
    ),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    ctx.obj = {"config": config}
    _setup_logging(log_level)


def _setup_logging(level_name: str) -> None:
    level = getattr(logging, level_name.upper(), None)
    if not isinstance(level, int):
        raise typer.BadParameter(f"unknown level {level_name!r}; use error, warning, info or debug")
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_mlconnector", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._mlconnector = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(level)
    # httpcore's debug log prints whole headers (Authorization included): never let it through.
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))


def _register() -> None:
    from mlconnector.cli import audit, credentials, demo, mappings, ping, quarantine, replay, status, sync
    from mlconnector.cli import state as state_cmd

    for module in (ping, sync, replay, status, audit, demo):
        module.register(app)
    app.add_typer(credentials.app, name="credentials")
    app.add_typer(mappings.app, name="mappings")
    app.add_typer(quarantine.app, name="quarantine")
    app.add_typer(state_cmd.app, name="state")


_register()


def main() -> None:
    app(prog_name="mlconnector")
