"""What the Sage 300 streams share: text and date cleaning, amounts, and the dated scan."""

from __future__ import annotations

import unicodedata
from abc import abstractmethod
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

from mlconnector.engine.stream import SourcePage, Stream, Target
from mlconnector.systems.sage300 import Sage300Client
from mlconnector.systems.sage300.client import Page


def clean_text(value: object) -> str:
    """Trim, and drop control characters (NUL included) that no target field should hold."""
    if value is None:
        return ""
    text = str(value)
    return "".join(c for c in text if unicodedata.category(c) != "Cc").strip()


def sage_date(value: object) -> date | None:
    """The calendar date of a Sage date value ("2025-06-03T00:00:00Z", "2010-08-18T00:00:00")."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def decimal_of(value: object) -> Decimal | None:
    """A Sage number (JSON number or numeric text) as a Decimal; None when it is not a number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def yes(value: object) -> bool:
    """Sage Yes/No enums ("Yes", "No"), booleans and 1/0 alike."""
    return str(value).strip().casefold() in ("yes", "true", "1")


class DatedStream(Stream):
    """A Sage 300 stream read by a date-only "last changed" field since a watermark.

    The watermark is the latest such date of a completed scan; a scan starts ``lookback``
    days before it, because Sage dates carry no time (the boundary day is read again). The
    cursor of an interrupted scan resumes it at the same filter and ``$skip``.
    """

    def __init__(self, source: Sage300Client, target: Target, *, pair: str, lookback_days: int = 1,
                 today: date | None = None) -> None:
        super().__init__(target)
        self.source = source
        self.pair = pair
        self.lookback = timedelta(days=max(0, lookback_days))
        self.today = today or datetime.now(timezone.utc).date()

    @abstractmethod
    def changed_on(self, row: dict) -> date | None:
        """The date the row last changed."""

    @abstractmethod
    def read_pages(self, since: date | None, start_skip: int) -> Iterator[Page]:
        """Pages of rows changed on or after ``since`` (all when None)."""

    def scan(self, *, watermark: str | None, cursor: dict | None) -> Iterator[SourcePage]:
        if cursor:
            since_text, skip, max_seen = cursor.get("since"), int(cursor.get("skip") or 0), cursor.get("max_seen")
        else:
            since_text = (date.fromisoformat(watermark) - self.lookback).isoformat() if watermark else None
            skip, max_seen = 0, None
        since = date.fromisoformat(since_text) if since_text else None
        # A mistyped future date in Sage must not push the watermark past today's changes.
        ceiling = self.today + timedelta(days=1)
        for page in self.read_pages(since, skip):
            for row in page.rows:
                seen = self.changed_on(row)
                if seen and seen <= ceiling and (max_seen is None or seen.isoformat() > max_seen):
                    max_seen = seen.isoformat()
            done = page.next_skip is None
            yield SourcePage(
                rows=page.rows,
                cursor=None if done else {"since": since_text, "skip": page.next_skip, "max_seen": max_seen},
                done=done,
                watermark=max_seen or watermark,
            )
