"""What the procore-intacct streams share: timestamps of both systems and the watermark scan."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta

from mlconnector.engine.stream import SourcePage
from mlconnector.pairs.sage300_procore._common import clean_text

__all__ = ["changed_pages", "clean_text", "intacct_timestamp", "procore_timestamp"]


def intacct_timestamp(value: object) -> datetime | None:
    """Intacct's "MM/DD/YYYY HH:MM:SS" (or a date "MM/DD/YYYY") as a naive datetime."""
    text = clean_text(value)
    for form in ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y"):
        try:
            return datetime.strptime(text, form)
        except ValueError:
            continue
    return None


def procore_timestamp(value: object) -> datetime | None:
    """Procore's ISO-8601 ``updated_at`` as an aware UTC datetime."""
    text = clean_text(value)
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def since_of(watermark: str | None, lookback: timedelta) -> datetime | None:
    """Where a scan starts: ``lookback`` before the last scan's latest change (clocks and
    commits race; re-reading a record is harmless, its unchanged hash writes nothing)."""
    if not watermark:
        return None
    return datetime.fromisoformat(watermark) - lookback


def changed_pages(pages: Iterable[list[dict]], changed_at, watermark: str | None) -> Iterator[SourcePage]:
    """Source pages whose last one moves the watermark to the latest change seen.

    ``changed_at(row)`` gives a row's change time. A scan interrupted mid-way starts again from
    the old watermark (the systems' result sets cannot be resumed across runs), which re-reads
    rows that are then skipped as unchanged.
    """
    latest: datetime | None = None
    pending: list[dict] | None = None
    for page in pages:
        if pending is not None:
            yield SourcePage(rows=pending, cursor=None)
        for row in page:
            seen = changed_at(row)
            if seen is not None and (latest is None or seen > latest):
                latest = seen
        pending = page
    if latest is not None and watermark and datetime.fromisoformat(watermark) > latest:
        latest = datetime.fromisoformat(watermark)  # the look-back re-read older rows only
    mark = latest.isoformat() if latest is not None else watermark
    yield SourcePage(rows=pending or [], cursor=None, done=True, watermark=mark)


def utcnow() -> datetime:
    return datetime.now(UTC)
