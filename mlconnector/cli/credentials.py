"""`mlconnector credentials set|show|delete <system>`: the secrets of a system, never printed."""

from __future__ import annotations

import typer

from mlconnector.cli import _common, _output

app = typer.Typer(help="Store, inspect (where from, never the value) and delete the secrets of a system.",
                  no_args_is_help=True)


def _fields(ctx: typer.Context, system: str) -> tuple[str, ...]:
    # credential_fields refuses an unknown system; `notify` is the failure notices' SMTP password.
    return _common.load(ctx).credential_fields(system)


@app.command("set")
def set_(
    ctx: typer.Context,
    system: str = typer.Argument(..., help="A system name from the configuration."),
    store: str = typer.Option(None, "--store", help="keyring or file (default: keyring when usable, else file)."),
) -> None:
    """Prompt for each secret of SYSTEM (without echo) and store it."""
    from mlconnector import secrets

    for field in _fields(ctx, system):
        value = typer.prompt(f"{system} {field}", hide_input=True, confirmation_prompt=False)
        where = secrets.store(system, field, value, backend=store)
        _output.info(f"{system} {field}: stored in {where.source} ({where.detail})")


@app.command("show")
def show(
    ctx: typer.Context,
    system: str = typer.Argument(..., help="A system name from the configuration."),
    json: bool = _common.JSON_OPTION,
) -> None:
    """Tell where each secret of SYSTEM resolves from. Never prints a value."""
    from mlconnector import secrets

    sources = secrets.describe(system, _fields(ctx, system))
    if json:
        _output.emit_json([{"field": s.field, "source": s.source, "detail": s.detail,
                            "env_var": secrets.env_var_name(system, s.field)} for s in sources])
    else:
        _output.table(f"credentials of {system}", ["field", "source", "detail", "environment variable"],
                      [[s.field, s.source or "MISSING", s.detail, secrets.env_var_name(system, s.field)]
                       for s in sources])
    if any(s.source is None for s in sources):
        raise typer.Exit(3)


@app.command("delete")
def delete(
    ctx: typer.Context,
    system: str = typer.Argument(..., help="A system name from the configuration."),
) -> None:
    """Delete the secrets of SYSTEM from the keyring and the encrypted file."""
    from mlconnector import secrets

    removed = secrets.remove(system, _fields(ctx, system))
    if not removed:
        _output.info(f"nothing stored for {system} in the keyring or the encrypted file")
    for field, backend in removed:
        _output.info(f"{system} {field}: deleted from {backend}")
