"""Row types, state-specific errors and small helpers shared by the state package."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from mlconnector.errors import FatalError, RecordError

RUN_STATUSES = ("running", "ok", "quarantined", "failed", "paused", "interrupted")
FINAL_RUN_STATUSES = RUN_STATUSES[1:]
AUDIT_ACTIONS = ("create", "update", "link", "skip", "quarantine", "fail", "warn", "unlink", "discard")


def utcnow() -> str:
    """Now as UTC ISO-8601 with millisecond precision and a ``Z`` suffix."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_utc_iso(ts: float) -> str:
    return (
        datetime.fromtimestamp(ts, tz=timezone.utc)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def parse_utc(text: str) -> float:
    """Seconds since the epoch for a timestamp written by :func:`utcnow`."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


def dumps(value: Any) -> str:
    # default=str: Decimal, date and datetime values from ERP records are kept as text.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class StateReadOnly(FatalError):
    """A write was attempted on a state opened with ``readonly=True`` (a bug in the caller)."""


class LinkConflict(RecordError):
    """The target record is already linked to another source record of the same stream."""

    def __init__(
        self, pair: str, stream: str, source_key: str, target_id: str, linked_source_key: str
    ) -> None:
        super().__init__(
            f"{pair}/{stream} {source_key}: target record {target_id} is already linked to "
            f"source record {linked_source_key}",
            hint="Two source records match one target record. Unlink one of them, or fix the "
            "natural key so that each source record matches its own target.",
        )
        self.pair, self.stream, self.source_key = pair, stream, source_key
        self.target_id, self.linked_source_key = target_id, linked_source_key


@dataclass(frozen=True)
class Run:
    id: int
    pair: str
    started_at: str
    finished_at: str | None
    status: str  # running | ok | quarantined | failed | paused | interrupted
    exit_code: int | None
    counts: dict[str, int]
    message: str | None
    pid: int
    host: str
    streams: list[str] = field(default_factory=list)
    dry_run: bool = False


@dataclass(frozen=True)
class Watermark:
    value: str | None
    cursor: dict | None
    updated_at: str | None
    pair: str = ""
    stream: str = ""


@dataclass(frozen=True)
class Link:
    pair: str
    stream: str
    source_key: str
    target_id: str
    payload_hash: str | None
    manual: bool
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class AuditEvent:
    id: int
    run_id: int | None
    at: str
    pair: str
    stream: str
    source_key: str
    action: str
    target_id: str | None
    message: str | None
    detail: dict | None


@dataclass(frozen=True)
class QuarantineRow:
    id: int
    pair: str
    stream: str
    source_key: str
    payload: dict
    reason: str
    attempts: int
    first_seen: str
    last_seen: str
    last_run_id: int | None


@dataclass(frozen=True)
class PendingWrite:
    id: int
    pair: str
    stream: str
    source_key: str
    idempotency_key: str
    operation: str
    run_id: int | None
    created_at: str
