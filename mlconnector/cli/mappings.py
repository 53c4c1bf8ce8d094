"""`mlconnector mappings link|unlink|list|import|export`: links between source and target records,
and the mapping tables (projects, cost codes; Intacct projects, GL accounts) imported from CSV
(logic in mlconnector.mappings)."""

from __future__ import annotations

import typer

from mlconnector.cli import _common, _output

app = typer.Typer(help="Mapping tables imported from CSV (projects, cost codes, Intacct projects, GL accounts), "
                  "and manual links between source and target records (they win over any automatic match).",
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


# "links" and the kinds of mlconnector.mappings.KINDS (not imported here: the CLI starts fast).
LIST_KINDS = ("links", "projects", "costcodes", "intacct_projects", "glaccounts")


@app.command("list")
def list_(
    ctx: typer.Context,
    kind: str = typer.Option("links", "--kind", help="What to list: links, projects, costcodes (a Sage 300 -> "
                             "Procore pair), intacct_projects or glaccounts (a Procore -> Intacct pair)."),
    pair: str = typer.Option(None, "--pair", help="Only this pair (for a mapping table: the pair, "
                             "needed when the configuration has several)."),
    stream: str = typer.Option(None, "--stream", help="Links only: only this stream, e.g. vendors."),
    manual: bool = typer.Option(False, "--manual", help="Links only: only links made by hand."),
    json: bool = _common.JSON_OPTION,
) -> None:
    """List links between source and target records, or a mapping table (--kind)."""
    from mlconnector.errors import UsageError
    from mlconnector.state import open_state

    if kind not in LIST_KINDS:
        raise UsageError(f"unknown kind {kind!r} for --kind; kinds: {', '.join(LIST_KINDS)}")
    config = _common.load(ctx)
    if kind != "links":
        if stream or manual:
            raise UsageError("--stream and --manual apply to --kind links only")
        _list_table(config, kind, pair, json)
        return
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


def _list_table(config, kind: str, pair: str | None, json: bool) -> None:
    from mlconnector import mappings
    from mlconnector.state import open_state

    pair = mappings.resolve_pair(config, pair)
    mappings.check_pair_kind(config, pair, kind)
    with open_state(config.state_path, readonly=True) as state:
        rows = mappings.mapping_rows(state, pair, kind)
    if json:
        _output.emit_json(rows)
        return
    columns = mappings.COLUMNS[kind]
    _output.table(f"{pair}: {len(rows)} {kind} mappings", columns, [[row[c] for c in columns] for row in rows])


@app.command("import")
def import_(
    ctx: typer.Context,
    file: str = typer.Argument(..., help="A CSV file. Sage 300 -> Procore: projects (source_code, "
                               "procore_project[, note]) or costcodes (source_code, procore_project, "
                               "procore_cost_code, cost_type[, note]). Procore -> Intacct: intacct_projects "
                               "(procore_project, intacct_project[, department, location, note]) or glaccounts "
                               "(procore_cost_code, gl_account[, cost_type, procore_project, task, "
                               "intacct_cost_type, department, location, note])."),
    pair: str = typer.Option(None, "--pair", help="The pair (needed when the configuration has several)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check the file and show what would change; write nothing."),
    offline: bool = typer.Option(False, "--offline", help="Do not check the values in Procore (or Intacct)."),
    replace: bool = typer.Option(False, "--replace", help="Also remove the rows of this kind that are not in the file "
                                 "(default: add and update only)."),
) -> None:
    """Import a mapping table from CSV (its header decides the kind): all rows or none."""
    from mlconnector import mappings

    config = _common.load(ctx)
    result = mappings.import_mappings(config, file, pair=pair, dry_run=dry_run, offline=offline, replace=replace)
    render_import(result, dry_run=dry_run)


def render_import(result, *, dry_run: bool = False) -> None:
    from mlconnector import mappings

    title = f"{result.pair}: {result.path}" + (" (dry run: nothing written)" if dry_run else "")
    _output.table(title, ["kind", "rows", "added", "changed", "unchanged", "removed"],
                  [[result.kind, result.rows_read, result.added, result.changed, result.unchanged, result.removed]])
    details = [mappings.ENCODINGS.get(result.encoding, result.encoding)]
    if result.blank_lines:
        details.append(f"{result.blank_lines} blank line{'s' if result.blank_lines != 1 else ''} skipped")
    _output.info(f"read {result.rows_read} row{'s' if result.rows_read != 1 else ''} ({', '.join(details)})")
    for warning in result.warnings:
        _output.warning(warning)
    if dry_run:
        _output.info("dry run: nothing written")


@app.command("export")
def export(
    ctx: typer.Context,
    kind: str = typer.Argument(..., help="What to export: projects, costcodes, intacct_projects or glaccounts."),
    pair: str = typer.Option(None, "--pair", help="The pair (needed when the configuration has several)."),
    output: str = typer.Option(None, "--output", "-o", help="Write to this file (default: standard output)."),
) -> None:
    """Write a mapping table as CSV, in the form `mappings import` reads."""
    import io
    import os
    import sys
    import tempfile
    from pathlib import Path

    from mlconnector import mappings
    from mlconnector.errors import UsageError
    from mlconnector.state import open_state

    config = _common.load(ctx)
    if kind not in mappings.KINDS:
        raise UsageError(f"unknown mapping kind {kind!r}; kinds: {', '.join(mappings.KINDS)}")
    pair = mappings.resolve_pair(config, pair)
    mappings.check_pair_kind(config, pair, kind)
    with open_state(config.state_path, readonly=True) as state:
        if output is None:  # UTF-8 whatever the console's code page
            sys.stdout.flush()
            out = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="", write_through=True)
            try:
                mappings.export_mappings(state, pair, kind, out)
            finally:
                out.flush()
                out.detach()
            return
        target = Path(output).expanduser()
        if target.is_dir():
            raise UsageError(f"{target} is a directory; --output takes a file name")
        try:  # a temporary file renamed into place: a failed export leaves no half-written file
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent.absolute())
        except OSError as exc:
            raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
                count = mappings.export_mappings(state, pair, kind, out)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    _output.info(f"wrote {count} {kind} mappings of {pair} to {target}")
