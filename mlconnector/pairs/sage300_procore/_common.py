"""What the Sage 300 streams share: text and date cleaning, amounts, and the dated scan."""

from __future__ import annotations

import unicodedata
from abc import abstractmethod
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from mlconnector.engine.stream import SourcePage, Stream, Target
from mlconnector.systems.sage300 import Sage300Client
from mlconnector.systems.sage300.client import Page

# Explicit bidirectional embeddings, overrides and isolates: they make a name display other than it
# reads ("Trojan Source"). Right-to-left text itself (Arabic, Hebrew) and the LRM/RLM marks stay.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# The largest amount, quantity or unit cost taken: beyond it a Decimal cannot be rounded to cents
# exactly (28 significant digits), and no purchase order is that large.
MAX_AMOUNT = Decimal("1e15")


def clean_text(value: object) -> str:
    """Trim, and drop the control characters (NUL, tabs and line breaks included), lone surrogates
    and bidirectional overrides that no target field should hold."""
    if value is None:
        return ""
    return "".join(c for c in str(value)
                   if c not in _BIDI_CONTROLS and unicodedata.category(c) not in ("Cc", "Cs")).strip()


def shown(value: object, limit: int = 40) -> str:
    """A source value for an error message: repr, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def sage_date(value: object) -> date | None:
    """The calendar date of a Sage date value ("2025-06-03T00:00:00Z", "2010-08-18T00:00:00")."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def is_blank(value: object) -> bool:
    """No value: null, or text that is empty once trimmed."""
    return value is None or (isinstance(value, str) and not value.strip())


def checked_date(value: object) -> date | None:
    """Like :func:`sage_date`, but a value that is there and is no date (``2025-02-30``,
    ``9999-99-99``, a number) raises ValueError instead of passing for "no date"."""
    if is_blank(value):
        return None
    parsed = sage_date(value.strip() if isinstance(value, str) else value)
    if parsed is None:
        raise ValueError(f"{shown(value)} is not a valid date")
    return parsed


def decimal_of(value: object) -> Decimal | None:
    """A Sage number (JSON number or numeric text) as a Decimal; None when it is not a number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def checked_decimal(value: object) -> Decimal | None:
    """Like :func:`decimal_of`, but a value that is there and is not a usable number (``"abc"``,
    ``NaN``, ``true``, ``1e400``) raises ValueError instead of passing for "no value"."""
    if is_blank(value):
        return None
    number = decimal_of(value)
    if number is None:
        raise ValueError(f"{shown(value)} is not a number")
    if abs(number) >= MAX_AMOUNT:
        raise ValueError(f"{shown(value)} is out of range (at most {MAX_AMOUNT:,.0f})")
    return number


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
        self.today = today or datetime.now(UTC).date()

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
