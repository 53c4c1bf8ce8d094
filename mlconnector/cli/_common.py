"""What every command needs: the configuration, loaded once, with its warnings shown."""

from __future__ import annotations

import typer

from mlconnector.cli import _output


def load(ctx: typer.Context):
    from mlconnector.config import load_config

    config = load_config(ctx.obj.get("config") if ctx.obj else None)
    for warning in config.warnings:
        _output.warning(warning)
    return config


JSON_OPTION = typer.Option(False, "--json", help="Print JSON instead of a table.")
