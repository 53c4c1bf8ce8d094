"""`mlconnector mappings link|unlink|list`: links between source and target records."""

from __future__ import annotations

import typer

from mlconnector.cli import _common, _output

app = typer.Typer(help="Manual links between source and target records (they win over any automatic match).",
                  no_args_is_help=True)

# The kinds of record a person can link by hand, and the stream that holds them.
LINK_KINDS = {"vendor": "vendors"}


def _stream(kind: str) -> str:
    try:
        return LINK_KINDS[kind]
    except KeyError:
        from mlconnector.errors import UsageError

        raise UsageError(f"cannot link records of kind {kind!r}; kinds: {', '.join(LINK_KINDS)}") from None


def _pair(config, pair: str | None, stream: str) -> str:
    from mlconnector.errors import UsageError

    if pair:
        config.pair(pair)
        return pair
    candidates = [name for name, p in config.pairs.items() if stream in p.streams]
    if len(candidates) != 1:
        raise UsageError(f"say which pair with --pair (pairs with {stream}: {', '.join(candidates) or 'none'})")
    return candidates[0]


@app.command("link")
def link(
    ctx: typer.Context,
    kind: str = typer.Argument(..., help="What to link: vendor."),
    source_key: str = typer.Argument(..., help="The source record's key, e.g. a Sage 300 VendorNumber."),
    target_id: str = typer.Argument(..., help="The target record's id, e.g. a Procore vendor id."),
    pair: str = typer.Option(None, "--pair", help="The pair (needed when several have this stream)."),
) -> None:
    """Link SOURCE_KEY to TARGET_ID by hand; the next sync updates that target record."""
    from mlconnector.errors import UsageError
    from mlconnector.state import LinkConflict, open_state

    config = _common.load(ctx)
    stream = _stream(kind)
    pair = _pair(config, pair, stream)
    with open_state(config.state_path) as state, state.transaction():
        other = state.link_for_target(pair, stream, target_id)
        if other is not None and other.source_key != source_key:
            # A request that cannot be done as asked: a usage error (exit 2), not a record
            # quarantined by a sync (exit 1).
            conflict = LinkConflict(pair, stream, source_key, target_id, other.source_key)
            raise UsageError(conflict.message,
                             hint=f"Unlink it first: `mlconnector mappings unlink {kind} {other.source_key}`.")
        state.upsert_link(pair, stream, source_key, target_id, None, manual=True)
    _output.info(f"{pair} {stream}: {source_key} linked to {target_id}; the next sync updates it from the source")


@app.command("unlink")
def unlink(
    ctx: typer.Context,
    kind: str = typer.Argument(..., help="What to unlink: vendor."),
    source_key: str = typer.Argument(..., help="The source record's key."),
    pair: str = typer.Option(None, "--pair", help="The pair (needed when several have this stream)."),
) -> None:
    """Remove the link of SOURCE_KEY. The next sync matches it again (by origin_id first)."""
    from mlconnector.errors import UsageError
    from mlconnector.state import open_state

    config = _common.load(ctx)
    stream = _stream(kind)
    pair = _pair(config, pair, stream)
    with open_state(config.state_path) as state:
        if not state.delete_link(pair, stream, source_key):
            raise UsageError(f"{pair} {stream}: {source_key} is not linked")
    _output.info(f"{pair} {stream}: {source_key} unlinked")


@app.command("list")
def list_(
    ctx: typer.Context,
    pair: str = typer.Option(None, "--pair", help="Only this pair."),
    stream: str = typer.Option(None, "--stream", help="Only this stream, e.g. vendors."),
    manual: bool = typer.Option(False, "--manual", help="Only links made by hand."),
    json: bool = _common.JSON_OPTION,
) -> None:
    """List links between source and target records."""
    from mlconnector.state import open_state

    config = _common.load(ctx)
    if pair:
        config.pair(pair)
    with open_state(config.state_path, readonly=True) as state:
        links = [link for link in state.links(pair, stream) if link.manual or not manual]
    if json:
        _output.emit_json([link.__dict__ for link in links])
        return
    _output.table(f"{len(links)} links", ["pair", "stream", "source", "target", "manual", "synced hash", "updated"],
                  [[link.pair, link.stream, link.source_key, link.target_id, "yes" if link.manual else "",
                    (link.payload_hash or "-")[:12], link.updated_at] for link in links])
