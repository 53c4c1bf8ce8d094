"""Rendering: rich tables on a terminal, plain text when piped, JSON on request."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from mlconnector.redact import scrub, scrub_obj

# Piped, a table is as wide as its cells (it never expands): a record id is never folded.
_PIPED_WIDTH = 10_000
# Piped output (cron mail, log files, grep) never wraps a line of text: a path or a message split in
# two cannot be searched for. Tables still fit the width.
console = Console(highlight=False, soft_wrap=not sys.stdout.isatty(),
                  width=None if sys.stdout.isatty() else _PIPED_WIDTH)
err_console = Console(stderr=True, highlight=False, soft_wrap=not sys.stderr.isatty(),
                      width=None if sys.stderr.isatty() else _PIPED_WIDTH)


def interactive() -> bool:
    return console.is_terminal


def error(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {_escape(scrub(message))}")


def warning(message: str) -> None:
    err_console.print(f"[yellow]warning:[/] {_escape(scrub(message))}")


def info(message: str) -> None:
    console.print(_escape(scrub(message)))


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    # The title is a line of its own, not the table's caption, so a long path in it is never folded.
    if title:
        console.print(_escape(scrub(title)), style="bold")
    t = Table(show_lines=False)
    for column in columns:
        t.add_column(column, overflow="fold")
    for row in rows:
        t.add_row(*(_escape(scrub("" if v is None else str(v))) for v in row))
    console.print(t)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(scrub_obj(data), indent=2, default=str, ensure_ascii=False) + "\n")


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


class Progress:
    """A live line of counts on a terminal; nothing when output is piped (cron stays quiet)."""

    def __init__(self, description: str) -> None:
        self.description = description
        self._live = None

    def __enter__(self) -> Progress:
        if err_console.is_terminal:
            from rich.progress import Progress as RichProgress
            from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

            self._live = RichProgress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                                      console=err_console, transient=True)
            self._live.start()
            self._task = self._live.add_task(self.description)
        return self

    def update(self, stream_report) -> None:
        if self._live is None:
            return
        counts = ", ".join(f"{n} {a}" for a, n in sorted(stream_report.counts.by_action.items()))
        self._live.update(self._task, description=f"{self.description} {stream_report.name}: {counts}")

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()
