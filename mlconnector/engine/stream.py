"""The pieces a pair plugs into the engine: a source stream and a target.

A pair module builds one :class:`Stream` per stream name. The engine knows no vendor: it
asks the stream for pages, keys, payloads and matches, and does the deciding, pushing,
checkpointing and bookkeeping the same way for every pair (DESIGN.md §4).
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SourcePage:
    """Rows read from the source, and where a scan resumes once they are checkpointed.

    ``cursor`` is opaque to the engine and stored as is. On the last page ``done`` is True
    and ``watermark`` is the value the next scan starts from.
    """

    rows: list[dict]
    cursor: dict | None
    done: bool = False
    watermark: str | None = None


@dataclass(frozen=True)
class Mapped:
    """A target payload and the warnings mapping produced (e.g. a country left out)."""

    payload: dict
    warnings: tuple[str, ...] = ()
    label: str = ""

    @property
    def payload_hash(self) -> str:
        return payload_hash(self.payload)


def payload_hash(payload: dict) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Match:
    """The result of looking a record up in the target before creating it."""

    target_id: str | None = None
    how: str = ""  # "origin_id", "name", ... (shown in the audit)
    candidates: tuple[str, ...] = ()  # several: ambiguous

    @property
    def ambiguous(self) -> bool:
        return len(self.candidates) > 1


@dataclass(frozen=True)
class Write:
    """One record to write: create (no target id) or update (target id known)."""

    source_key: str
    idempotency_key: str
    target_id: str | None
    payload: dict


@dataclass(frozen=True)
class WriteResult:
    """The outcome of one record's write.

    Both set: the record was created in the target but not completely (a commitment whose
    line items were refused); it is linked and also quarantined, and the next try updates it.
    """

    target_id: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Reference:
    """A record of another stream that this record refers to (a purchase order's vendor).

    It must be linked before this record can be written. ``sync_first`` lets the engine push
    it now, in the same run; otherwise the record waits in quarantine until it is.
    """

    stream: str
    source_key: str
    sync_first: bool
    what: str  # how a person calls it: "vendor 1200"
    hint: str = ""  # what to do while it is missing, when the pair knows better than "wait"


@dataclass
class Counts:
    by_action: dict[str, int] = field(default_factory=dict)

    def add(self, action: str, n: int = 1) -> None:
        self.by_action[action] = self.by_action.get(action, 0) + n

    def __getitem__(self, action: str) -> int:
        return self.by_action.get(action, 0)


class Target(ABC):
    """Where a stream's records go. One instance lives for one run."""

    #: The most records one write call takes.
    batch_size: int = 1

    @abstractmethod
    def idempotency_key(self, source_key: str) -> str:
        """The key the target deduplicates writes by (Procore ``origin_id``)."""

    @abstractmethod
    def match(self, source_key: str, mapped: Mapped, *, claimed: set[str]) -> Match:
        """Find the target record for an unlinked source record (DESIGN.md §4.3).

        ``claimed`` holds target ids already linked to other source records; they never match.
        """

    @abstractmethod
    def write(self, writes: list[Write]) -> dict[str, WriteResult]:
        """Write up to ``batch_size`` records; the outcome of each by source key."""

    @abstractmethod
    def find(self, idempotency_key: str) -> str | None:
        """The target id holding this idempotency key, if any (reconciling unknown outcomes)."""

    def find_many(self, idempotency_keys: list[str]) -> dict[str, str | None]:
        """:meth:`find` for several keys. A target may answer from one listing instead of one
        look-up per key (a failed batch leaves up to a whole batch of writes to reconcile)."""
        return {key: self.find(key) for key in idempotency_keys}

    def expect_matches(self, count: int) -> None:
        """``count`` unlinked records are about to be matched (one source page's worth): a target
        that can look records up one by one or list everything once may choose now."""
        return None

    def check(self, source_key: str, mapped: Mapped) -> str | None:
        """What would stop this record's write (a cost code Procore lacks), found by reading only;
        None when nothing is known to. A dry run asks, since it writes nothing."""
        return None

    def describe(self, target_id: str) -> str:
        return target_id

    def current(self, target_id: str) -> Mapped | None:
        """The target record as it is now, in the stream's mapped form; None when it is gone.

        Only two-way streams ask (:attr:`Stream.two_way`): it tells whether the target record
        changed since the last sync too, which is a conflict."""
        raise NotImplementedError(f"{type(self).__name__} cannot read a record back")


class Stream(ABC):
    """One stream of a pair: how to read, key and map its records."""

    name: str
    #: What a person calls a source record ("Sage 300 vendor").
    noun: str = "record"
    #: The stream of the YAML that turns this one on (one YAML stream may run two passes).
    config_name: str = ""
    #: Keep its links as the links of that stream read backwards: the two directions of a
    #: record synced both ways share one link and one last-synced hash (no echo, see runner).
    reverse_of: str | None = None
    #: Records change on both sides: before an update, check the target did not change too.
    two_way: bool = False

    def __init__(self, target: Target) -> None:
        self.target = target
        self.config_name = self.config_name or self.name

    @abstractmethod
    def scan(self, *, watermark: str | None, cursor: dict | None) -> Iterator[SourcePage]:
        """Pages of changed records since ``watermark`` (all when None), resuming at ``cursor``."""

    @abstractmethod
    def fetch(self, source_key: str) -> dict | None:
        """Read one record again (quarantine retry, reconcile, replay); None if it is gone."""

    @abstractmethod
    def source_key(self, row: dict) -> str:
        """The record's key in the source, as a person sees it."""

    def references(self, row: dict) -> list[Reference]:
        """Records of other streams this row refers to (none by default)."""
        return []

    @abstractmethod
    def map(self, row: dict, refs: dict[Reference, str]) -> Mapped:
        """Source row -> target payload, or raise MappingError naming the field.

        ``refs`` holds the target id of every reference, all of them linked.
        """


__all__ = ["Counts", "Mapped", "Match", "Reference", "SourcePage", "Stream", "Target", "Write", "WriteResult",
           "payload_hash"]
