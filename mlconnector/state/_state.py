"""The state file: one SQLite database per pipeline, and the only code that touches it."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from mlconnector.errors import FatalError, LockBusy, LockHolder, UsageError
from mlconnector.redact import scrub, scrub_obj

from . import _schema, _tokens
from ._lock import FORCE_MIN_AGE, RunLock, holder_alive, hostname, pid_alive, process_start
from ._rows import (
    AUDIT_ACTIONS,
    FINAL_RUN_STATUSES,
    AuditEvent,
    Link,
    LinkConflict,
    PendingWrite,
    QuarantineRow,
    Run,
    StateReadOnly,
    Watermark,
    dumps,
    loads,
    parse_utc,
    utcnow,
)

BUSY_TIMEOUT_MS = 10_000
LINK_BATCH = 500
MIN_SQLITE = (3, 24, 0)  # INSERT ... ON CONFLICT DO UPDATE


# --- opening -----------------------------------------------------------------------------------


def _connect(target: str, *, uri: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(
        target,
        uri=uri,
        isolation_level=None,  # explicit BEGIN IMMEDIATE / COMMIT only
        timeout=BUSY_TIMEOUT_MS / 1000,
        check_same_thread=False,  # guarded by State._mutex
    )
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _connect_rw(path: Path, *, check: bool = False) -> sqlite3.Connection:
    conn = _connect(str(path))
    try:
        if check:
            # Before anything that writes (switching to WAL rewrites the header): a file that is
            # not ours, or is from a newer version, must be left exactly as it is.
            _schema.check_version(conn, str(path))
        # Switching a new file to WAL needs an exclusive lock; when several processes open a
        # new file at once SQLite reports BUSY without waiting (lock upgrade deadlock), so retry.
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL").fetchone()
                break
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        # NORMAL may lose the last commits on power loss in WAL mode; a checkpoint must survive.
        conn.execute("PRAGMA synchronous = FULL")
    except BaseException:
        conn.close()
        raise
    return conn


def _restrict(path: Path) -> None:
    """Owner read/write only for the file and its -wal/-shm companions (POSIX)."""
    if os.name == "nt":
        return
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            st = p.stat()
        except FileNotFoundError:
            continue
        if st.st_mode & 0o077 and st.st_uid == os.getuid():
            os.chmod(p, 0o600)


def _create_file(path: Path) -> None:
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_BINARY", 0), 0o600)
    except FileExistsError:
        return
    os.close(fd)


def _is_corrupt(exc: sqlite3.Error) -> bool:
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    return (name.startswith("SQLITE_CORRUPT") or name == "SQLITE_NOTADB"
            or "not a database" in text or "malformed" in text)


def _is_busy(exc: sqlite3.Error) -> bool:
    name = getattr(exc, "sqlite_errorname", "") or ""
    return name.startswith("SQLITE_BUSY") or "database is locked" in str(exc)


def _corrupt(path: Path, exc: sqlite3.Error) -> UsageError:
    return UsageError(
        f"{path} is not a valid mlconnector state file (not SQLite, or corrupt): {exc}",
        hint="Point the state path at another file, or restore this one from a backup.",
    )


def _busy(path: Path, exc: sqlite3.Error) -> FatalError:
    return FatalError(
        f"state file {path} is busy: {exc}",
        hint="Another process held a write transaction for more than "
        f"{BUSY_TIMEOUT_MS // 1000} s; try again.",
    )


def _translate(path: Path, exc: sqlite3.Error) -> Exception:
    if _is_corrupt(exc):
        return _corrupt(path, exc)
    if _is_busy(exc):
        return _busy(path, exc)
    return UsageError(f"cannot open state file {path}: {exc}")


def open_state(path: str | os.PathLike[str], *, readonly: bool = False) -> State:
    """Open (creating and migrating if needed) the state file at ``path``.

    ``readonly=True`` (dry runs, read commands) never writes: a missing file gives an empty
    in-memory state; an existing one is opened ``mode=ro`` (copied to memory first if its
    schema is older than this code's, so the migrations never touch the file).
    """
    if sqlite3.sqlite_version_info < MIN_SQLITE:
        raise FatalError(
            f"SQLite {sqlite3.sqlite_version} is too old; mlconnector needs "
            f"{'.'.join(map(str, MIN_SQLITE))} or newer"
        )
    path = Path(path).expanduser()
    if path.is_dir():
        raise UsageError(f"state path {path} is a directory, not a file")
    conn: sqlite3.Connection | None = None
    try:
        if readonly:
            if not path.exists():
                conn = _connect(":memory:")
                _schema.migrate(conn, str(path))
                return State(conn, path, readonly=True, in_memory=True)
            conn = _connect(path.resolve().as_uri() + "?mode=ro", uri=True)
            if _schema.check_version(conn, str(path)) < _schema.LATEST:
                memory = _connect(":memory:")
                conn.backup(memory)
                conn.close()
                conn = memory
                _schema.migrate(conn, str(path))
                return State(conn, path, readonly=True, in_memory=True)
            return State(conn, path, readonly=True, in_memory=False)
        try:
            _create_file(path)
        except OSError as exc:
            raise UsageError(f"cannot create state file {path}: {exc.strerror or exc}") from exc
        _restrict(path)
        conn = _connect_rw(path, check=True)
        _schema.migrate(conn, str(path))
        _restrict(path)
        return State(conn, path, readonly=False, in_memory=False)
    except sqlite3.Error as exc:
        if conn is not None:
            conn.close()
        raise _translate(path, exc) from exc
    except BaseException:
        if conn is not None:
            conn.close()
        raise


class NoticeRow(NamedTuple):
    """One problem a failure notice has told a channel about (see :mod:`mlconnector.notify`)."""

    pair: str
    channel: str
    kind: str  # 'failure' or 'quarantine'
    stream: str  # quarantine: the record's stream; '' for a failure
    key: str  # failure: the problem's fingerprint; quarantine: the record's source key
    summary: str | None
    run_id: int | None
    sent_at: str


# --- row builders ------------------------------------------------------------------------------


def _run(row: sqlite3.Row, status: str | None = None) -> Run:
    return Run(
        id=row["id"],
        pair=row["pair"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        status=status or row["status"],
        exit_code=row["exit_code"],
        counts=loads(row["counts"]) or {},
        message=row["message"],
        pid=row["pid"],
        host=row["host"],
        streams=loads(row["streams"]) or [],
        dry_run=bool(row["dry_run"]),
    )


def _link(row: sqlite3.Row) -> Link:
    return Link(
        pair=row["pair"],
        stream=row["stream"],
        source_key=row["source_key"],
        target_id=row["target_id"],
        payload_hash=row["payload_hash"],
        manual=bool(row["manual"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _audit(row: sqlite3.Row) -> AuditEvent:
    return AuditEvent(
        id=row["id"],
        run_id=row["run_id"],
        at=row["at"],
        pair=row["pair"],
        stream=row["stream"],
        source_key=row["source_key"],
        action=row["action"],
        target_id=row["target_id"],
        message=row["message"],
        detail=loads(row["detail"]),
    )


def _quarantine(row: sqlite3.Row) -> QuarantineRow:
    return QuarantineRow(
        id=row["id"],
        pair=row["pair"],
        stream=row["stream"],
        source_key=row["source_key"],
        payload=loads(row["payload"]),
        reason=row["reason"],
        attempts=row["attempts"],
        first_seen=row["first_seen"],
        last_seen=row["last_seen"],
        last_run_id=row["last_run_id"],
    )


def _pending(row: sqlite3.Row) -> PendingWrite:
    return PendingWrite(
        id=row["id"],
        pair=row["pair"],
        stream=row["stream"],
        source_key=row["source_key"],
        idempotency_key=row["idempotency_key"],
        operation=row["operation"],
        run_id=row["run_id"],
        created_at=row["created_at"],
    )


def _holder(row: sqlite3.Row) -> LockHolder:
    return LockHolder(
        pid=row["pid"], host=row["host"], started_at=row["started_at"],
        heartbeat_at=row["heartbeat_at"],
    )


def _audit_params(run_id: int | None, pair: str, stream: str, source_key: str, action: str,
                  target_id: Any, message: str | None, detail: dict | None, at: str) -> tuple:
    if action not in AUDIT_ACTIONS:
        raise ValueError(f"unknown audit action {action!r}; expected one of {', '.join(AUDIT_ACTIONS)}")
    return (
        run_id, at, pair, stream, str(source_key), action,
        None if target_id is None else str(target_id),
        None if message is None else scrub(str(message)),
        None if detail is None else dumps(scrub_obj(detail)),
    )


# --- the state ---------------------------------------------------------------------------------


class State:
    """Runs, watermarks, links, audit, quarantine, pending writes, mappings, tokens and locks.

    Every write method works inside :meth:`transaction` (joining it) or alone (its own
    transaction). A State may be shared by threads; one thread at a time uses the connection.
    """

    def __init__(self, conn: sqlite3.Connection, path: Path, *, readonly: bool, in_memory: bool):
        self._conn = conn
        self._path = path
        self.readonly = readonly
        #: True when nothing is backed by the file (readonly over a missing or older file)
        self.in_memory = in_memory
        self._mutex = threading.RLock()
        self._depth = 0
        self._host = hostname()

    # -- basics --

    @property
    def path(self) -> Path:
        return self._path

    @property
    def schema_version(self) -> int:
        with self._mutex:
            return _schema.current_version(self._conn)

    def integrity_problems(self) -> list[str]:
        """What SQLite's quick_check finds wrong with the file (empty when it is sound)."""
        with self._mutex:
            try:
                rows = self._conn.execute("PRAGMA quick_check").fetchall()
            except sqlite3.DatabaseError as exc:
                return [str(exc)]
        return [r[0] for r in rows if r[0] != "ok"]

    def close(self) -> None:
        with self._mutex:
            if self._conn is not None:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                self._conn.close()
                self._conn = None  # type: ignore[assignment]

    def __enter__(self) -> State:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "ro" if self.readonly else "rw"
        return f"<State {self._path} {mode}{' in-memory' if self.in_memory else ''}>"

    def _new_connection(self) -> sqlite3.Connection:
        return _connect_rw(self._path)

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._mutex:
            try:
                return self._conn.execute(sql, tuple(params)).fetchall()
            except sqlite3.DatabaseError as exc:
                if _is_corrupt(exc):
                    raise _corrupt(self._path, exc) from exc
                raise

    def _row(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    # -- transactions --

    @contextmanager
    def transaction(self) -> Iterator[State]:
        """BEGIN IMMEDIATE … COMMIT; ROLLBACK on exception.

        Nested use joins the outer transaction (nothing is committed before the outer one
        commits); an exception inside a nested block undoes that block's writes only
        (a savepoint) and propagates.
        """
        with self._tx(savepoint=True):
            yield self

    @contextmanager
    def _tx(self, *, savepoint: bool = False) -> Iterator[sqlite3.Connection]:
        if self.readonly:
            raise StateReadOnly(f"state {self._path} was opened read-only; this write is refused")
        with self._mutex:
            conn = self._conn
            if self._depth == 0:
                try:
                    conn.execute("BEGIN IMMEDIATE")
                except sqlite3.OperationalError as exc:
                    if _is_busy(exc):
                        raise _busy(self._path, exc) from exc
                    raise
                self._depth = 1
                try:
                    yield conn
                except BaseException as exc:
                    self._depth = 0
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    if isinstance(exc, sqlite3.DatabaseError) and _is_corrupt(exc):
                        raise _corrupt(self._path, exc) from exc
                    raise
                self._depth = 0
                try:
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
                return
            self._depth += 1
            name = f"mlc_sp{self._depth}"
            if savepoint:
                conn.execute(f"SAVEPOINT {name}")
            try:
                yield conn
            except BaseException:
                if savepoint and conn.in_transaction:
                    conn.execute(f"ROLLBACK TO {name}")
                    conn.execute(f"RELEASE {name}")
                raise
            else:
                if savepoint:
                    conn.execute(f"RELEASE {name}")
            finally:
                self._depth -= 1

    # -- runs --

    def start_run(self, pair: str, *, streams: list[str], dry_run: bool = False) -> int:
        with self._tx() as conn:
            cur = conn.execute(
                "INSERT INTO runs (pair, streams, dry_run, started_at, status, pid, host)"
                " VALUES (?, ?, ?, ?, 'running', ?, ?)",
                (pair, dumps(list(streams)), int(dry_run), utcnow(), os.getpid(), self._host),
            )
            return int(cur.lastrowid)

    def finish_run(self, run_id: int, *, status: str, exit_code: int, counts: dict[str, int],
                   message: str | None = None) -> None:
        if status not in FINAL_RUN_STATUSES:
            raise ValueError(f"unknown final run status {status!r}; expected one of "
                             f"{', '.join(FINAL_RUN_STATUSES)}")
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE runs SET finished_at = ?, status = ?, exit_code = ?, counts = ?, message = ?"
                " WHERE id = ?",
                (utcnow(), status, int(exit_code), dumps({k: int(v) for k, v in counts.items()}),
                 None if message is None else scrub(message), run_id),
            )
            if cur.rowcount == 0:
                raise KeyError(f"no run {run_id}")

    def _shown(self, row: sqlite3.Row) -> Run:
        # A run still 'running' whose process on this host is gone is shown as interrupted.
        if row["status"] == "running" and row["host"] == self._host and not pid_alive(row["pid"]):
            return _run(row, "interrupted")
        return _run(row)

    def runs(self, pair: str | None = None, limit: int = 20) -> list[Run]:
        if pair is None:
            rows = self._rows("SELECT * FROM runs ORDER BY id DESC LIMIT ?", (limit,))
        else:
            rows = self._rows("SELECT * FROM runs WHERE pair = ? ORDER BY id DESC LIMIT ?",
                              (pair, limit))
        return [self._shown(r) for r in rows]

    def get_run(self, run_id: int) -> Run | None:
        row = self._row("SELECT * FROM runs WHERE id = ?", (run_id,))
        return None if row is None else self._shown(row)

    # -- watermarks --

    def get_watermark(self, pair: str, stream: str) -> Watermark:
        row = self._row("SELECT * FROM watermarks WHERE pair = ? AND stream = ?", (pair, stream))
        if row is None:
            return Watermark(None, None, None, pair, stream)
        return Watermark(row["value"], loads(row["cursor"]), row["updated_at"], pair, stream)

    def set_watermark(self, pair: str, stream: str, value: str | None) -> None:
        """Set the stream's watermark; the cursor is left as it is."""
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO watermarks (pair, stream, value, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (pair, stream) DO UPDATE SET value = excluded.value,"
                " updated_at = excluded.updated_at",
                (pair, stream, value, utcnow()),
            )

    def set_cursor(self, pair: str, stream: str, cursor: dict | None) -> None:
        """Set (or clear with None) the resume point within a scan; the watermark is kept."""
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO watermarks (pair, stream, cursor, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (pair, stream) DO UPDATE SET cursor = excluded.cursor,"
                " updated_at = excluded.updated_at",
                (pair, stream, None if cursor is None else dumps(cursor), utcnow()),
            )

    def reset_watermark(self, pair: str, stream: str) -> bool:
        """Forget watermark and cursor: the next run reads the stream from the beginning."""
        with self._tx() as conn:
            cur = conn.execute("DELETE FROM watermarks WHERE pair = ? AND stream = ?", (pair, stream))
            return cur.rowcount > 0

    def watermarks(self, pair: str | None = None) -> list[Watermark]:
        sql = "SELECT * FROM watermarks"
        rows = self._rows(sql + (" WHERE pair = ?" if pair else "") + " ORDER BY pair, stream",
                          (pair,) if pair else ())
        return [Watermark(r["value"], loads(r["cursor"]), r["updated_at"], r["pair"], r["stream"])
                for r in rows]

    # -- links --

    def get_link(self, pair: str, stream: str, source_key: str) -> Link | None:
        row = self._row(
            "SELECT * FROM links WHERE pair = ? AND stream = ? AND source_key = ?",
            (pair, stream, str(source_key)),
        )
        return None if row is None else _link(row)

    def links_for(self, pair: str, stream: str, keys: Iterable[str]) -> dict[str, Link]:
        """The links of many source keys at once (queried in chunks of at most 500)."""
        unique = list(dict.fromkeys(str(k) for k in keys))
        out: dict[str, Link] = {}
        for i in range(0, len(unique), LINK_BATCH):
            chunk = unique[i : i + LINK_BATCH]
            marks = ", ".join("?" * len(chunk))
            for row in self._rows(
                f"SELECT * FROM links WHERE pair = ? AND stream = ? AND source_key IN ({marks})",
                (pair, stream, *chunk),
            ):
                out[row["source_key"]] = _link(row)
        return out

    def link_for_target(self, pair: str, stream: str, target_id: str | int) -> Link | None:
        row = self._row(
            "SELECT * FROM links WHERE pair = ? AND stream = ? AND target_id = ?",
            (pair, stream, str(target_id)),
        )
        return None if row is None else _link(row)

    def upsert_link(self, pair: str, stream: str, source_key: str, target_id: str | int,
                    payload_hash: str | None, *, manual: bool = False) -> Link:
        """Link a source record to a target record, or update its hash.

        Raises :class:`LinkConflict` if the target is already linked to another source key.
        A manual link stays manual when the engine later updates its hash.
        """
        source_key, target = str(source_key), str(target_id)
        now = utcnow()
        with self._tx() as conn:
            other = conn.execute(
                "SELECT source_key FROM links WHERE pair = ? AND stream = ? AND target_id = ?",
                (pair, stream, target),
            ).fetchone()
            if other is not None and other["source_key"] != source_key:
                raise LinkConflict(pair, stream, source_key, target, other["source_key"])
            conn.execute(
                "INSERT INTO links (pair, stream, source_key, target_id, payload_hash, manual,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (pair, stream, source_key) DO UPDATE SET"
                "  manual = CASE WHEN links.target_id = excluded.target_id"
                "           THEN MAX(links.manual, excluded.manual) ELSE excluded.manual END,"
                "  target_id = excluded.target_id, payload_hash = excluded.payload_hash,"
                "  updated_at = excluded.updated_at",
                (pair, stream, source_key, target, payload_hash, int(manual), now, now),
            )
            row = conn.execute(
                "SELECT * FROM links WHERE pair = ? AND stream = ? AND source_key = ?",
                (pair, stream, source_key),
            ).fetchone()
            return _link(row)

    def delete_link(self, pair: str, stream: str, source_key: str) -> bool:
        with self._tx() as conn:
            cur = conn.execute(
                "DELETE FROM links WHERE pair = ? AND stream = ? AND source_key = ?",
                (pair, stream, str(source_key)),
            )
            return cur.rowcount > 0

    def links(self, pair: str | None = None, stream: str | None = None,
              limit: int | None = None) -> list[Link]:
        where, params = self._where(pair=pair, stream=stream)
        sql = f"SELECT * FROM links{where} ORDER BY pair, stream, source_key"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_link(r) for r in self._rows(sql, params)]

    def linked_ids(self, pair: str, stream: str, *, side: str = "target") -> set[str]:
        """Every target id (or, ``side="source"``, source key) linked in a stream: one column, not
        whole rows (a 50,000-vendor stream asks this once a run)."""
        column = {"target": "target_id", "source": "source_key"}[side]
        return {row[0] for row in self._rows(f"SELECT {column} FROM links WHERE pair = ? AND stream = ?",
                                             (pair, stream))}

    def count_links(self, pair: str) -> dict[str, int]:
        rows = self._rows(
            "SELECT stream, COUNT(*) AS n FROM links WHERE pair = ? GROUP BY stream ORDER BY stream",
            (pair,),
        )
        return {r["stream"]: r["n"] for r in rows}

    @staticmethod
    def _where(**filters: Any) -> tuple[str, list[Any]]:
        parts, params = [], []
        for column, value in filters.items():
            if value is not None:
                parts.append(f"{column} = ?")
                params.append(value)
        return (" WHERE " + " AND ".join(parts) if parts else ""), params

    # -- audit --

    def add_audit(self, run_id: int | None, pair: str, stream: str, source_key: str, action: str,
                  *, target_id: str | int | None = None, message: str | None = None,
                  detail: dict | None = None) -> int:
        params = _audit_params(run_id, pair, stream, source_key, action, target_id, message,
                               detail, utcnow())
        with self._tx() as conn:
            cur = conn.execute(
                "INSERT INTO audit (run_id, at, pair, stream, source_key, action, target_id,"
                " message, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                params,
            )
            return int(cur.lastrowid)

    def add_audit_many(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert a page of audit events. Each row is a mapping with the keys of
        :meth:`add_audit` (run_id, pair, stream, source_key, action; optional target_id,
        message, detail). Returns the number of rows inserted."""
        now = utcnow()
        params = [
            _audit_params(r["run_id"], r["pair"], r["stream"], r["source_key"], r["action"],
                          r.get("target_id"), r.get("message"), r.get("detail"), now)
            for r in rows
        ]
        if not params:
            return 0
        with self._tx() as conn:
            conn.executemany(
                "INSERT INTO audit (run_id, at, pair, stream, source_key, action, target_id,"
                " message, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                params,
            )
        return len(params)

    def audit(self, *, run_id: int | None = None, pair: str | None = None,
              stream: str | None = None, source_key: str | None = None,
              action: str | None = None, limit: int = 500) -> list[AuditEvent]:
        """Audit events, newest first."""
        where, params = self._where(run_id=run_id, pair=pair, stream=stream,
                                    source_key=None if source_key is None else str(source_key),
                                    action=action)
        params.append(limit)
        rows = self._rows(f"SELECT * FROM audit{where} ORDER BY id DESC LIMIT ?", params)
        return [_audit(r) for r in rows]

    def audit_counts(self, run_id: int) -> dict[str, int]:
        rows = self._rows(
            "SELECT action, COUNT(*) AS n FROM audit WHERE run_id = ? GROUP BY action", (run_id,)
        )
        return {r["action"]: r["n"] for r in rows}

    # -- quarantine --

    def quarantine(self, pair: str, stream: str, source_key: str, *, payload: dict, reason: str,
                   run_id: int | None) -> int:
        """Put a record in quarantine, or record one more failed attempt. Returns its id."""
        source_key = str(source_key)
        body, why, now = dumps(scrub_obj(payload)), scrub(str(reason)), utcnow()
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO quarantine (pair, stream, source_key, payload, reason, attempts,"
                " first_seen, last_seen, last_run_id) VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?)"
                " ON CONFLICT (pair, stream, source_key) DO UPDATE SET"
                "  payload = excluded.payload, reason = excluded.reason,"
                "  attempts = quarantine.attempts + 1, last_seen = excluded.last_seen,"
                "  last_run_id = excluded.last_run_id",
                (pair, stream, source_key, body, why, now, now, run_id),
            )
            row = conn.execute(
                "SELECT id FROM quarantine WHERE pair = ? AND stream = ? AND source_key = ?",
                (pair, stream, source_key),
            ).fetchone()
            return int(row["id"])

    def release(self, pair: str, stream: str, source_key: str) -> bool:
        """Take a record out of quarantine (it went through). True if it was quarantined."""
        with self._tx() as conn:
            cur = conn.execute(
                "DELETE FROM quarantine WHERE pair = ? AND stream = ? AND source_key = ?",
                (pair, stream, str(source_key)),
            )
            return cur.rowcount > 0

    def quarantined(self, pair: str | None = None, stream: str | None = None) -> list[QuarantineRow]:
        where, params = self._where(pair=pair, stream=stream)
        return [_quarantine(r) for r in self._rows(f"SELECT * FROM quarantine{where} ORDER BY id",
                                                   params)]

    def get_quarantine(self, id: int) -> QuarantineRow | None:
        row = self._row("SELECT * FROM quarantine WHERE id = ?", (id,))
        return None if row is None else _quarantine(row)

    def find_quarantine(self, pair: str, stream: str, source_key: str) -> QuarantineRow | None:
        row = self._row(
            "SELECT * FROM quarantine WHERE pair = ? AND stream = ? AND source_key = ?",
            (pair, stream, str(source_key)),
        )
        return None if row is None else _quarantine(row)

    def discard(self, id: int) -> QuarantineRow | None:
        """Delete a quarantine row on a person's request; returns what was deleted."""
        with self._tx() as conn:
            row = conn.execute("SELECT * FROM quarantine WHERE id = ?", (id,)).fetchone()
            if row is None:
                return None
            conn.execute("DELETE FROM quarantine WHERE id = ?", (id,))
            return _quarantine(row)

    # -- pending writes --

    def add_pending(self, pair: str, stream: str, source_key: str, *, idempotency_key: str,
                    operation: str, run_id: int | None) -> int:
        """Record a write whose outcome is not known yet. Commit this BEFORE sending it."""
        with self._tx() as conn:
            cur = conn.execute(
                "INSERT INTO pending (pair, stream, source_key, idempotency_key, operation, run_id,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (pair, stream, str(source_key), idempotency_key, operation, run_id, utcnow()),
            )
            return int(cur.lastrowid)

    def add_pending_many(self, rows: Iterable[Mapping[str, Any]]) -> list[int]:
        """Record a batch of pending writes (mappings with the keys of :meth:`add_pending`).
        Returns their ids in order."""
        now = utcnow()
        params = [
            (r["pair"], r["stream"], str(r["source_key"]), r["idempotency_key"], r["operation"],
             r.get("run_id"), now)
            for r in rows
        ]
        ids: list[int] = []
        with self._tx() as conn:
            for p in params:  # one statement each: lastrowid is not reported by executemany
                ids.append(int(conn.execute(
                    "INSERT INTO pending (pair, stream, source_key, idempotency_key, operation,"
                    " run_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)", p).lastrowid))
        return ids

    def clear_pending(self, ids: Iterable[int]) -> int:
        """Forget pending writes whose outcome is now recorded. Call it in the same
        transaction that records the outcome. Returns how many rows were removed."""
        ids = list(ids)
        removed = 0
        with self._tx() as conn:
            for i in range(0, len(ids), LINK_BATCH):
                chunk = ids[i : i + LINK_BATCH]
                removed += conn.execute(
                    f"DELETE FROM pending WHERE id IN ({', '.join('?' * len(chunk))})", chunk
                ).rowcount
        return removed

    def pending(self, pair: str, stream: str | None = None) -> list[PendingWrite]:
        where, params = self._where(pair=pair, stream=stream)
        return [_pending(r) for r in self._rows(f"SELECT * FROM pending{where} ORDER BY id", params)]

    # -- mapping tables --

    def put_mappings(self, pair: str, kind: str, rows: Mapping[str, dict], *,
                     replace: bool = False) -> int:
        """Insert or update mapping rows; ``replace=True`` first removes every row of the kind.
        All in one transaction. Returns the number of rows written."""
        now = utcnow()
        params = [(pair, kind, str(k), dumps(v), now) for k, v in rows.items()]
        with self._tx() as conn:
            if replace:
                conn.execute("DELETE FROM mappings WHERE pair = ? AND kind = ?", (pair, kind))
            conn.executemany(
                "INSERT INTO mappings (pair, kind, source_key, target, updated_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (pair, kind, source_key) DO UPDATE SET"
                " target = excluded.target, updated_at = excluded.updated_at",
                params,
            )
        return len(params)

    def get_mapping(self, pair: str, kind: str, source_key: str) -> dict | None:
        row = self._row(
            "SELECT target FROM mappings WHERE pair = ? AND kind = ? AND source_key = ?",
            (pair, kind, str(source_key)),
        )
        return None if row is None else loads(row["target"])

    def mappings_of(self, pair: str, kind: str) -> dict[str, dict]:
        rows = self._rows(
            "SELECT source_key, target FROM mappings WHERE pair = ? AND kind = ? ORDER BY source_key",
            (pair, kind),
        )
        return {r["source_key"]: loads(r["target"]) for r in rows}

    # -- token cache --

    def get_token(self, system: str, cache_key: str, secret: bytes) -> dict | None:
        """The cached token, or None if absent, expired or not decryptable with ``secret``
        (an expired or undecryptable row is deleted)."""
        row = self._row(
            "SELECT ciphertext, expires_at FROM tokens WHERE system = ? AND cache_key = ?",
            (system, cache_key),
        )
        if row is None:
            return None
        token = None
        if row["expires_at"] > time.time():
            token = _tokens.open_sealed(system, cache_key, secret, bytes(row["ciphertext"]))
        if token is None:
            self.delete_token(system, cache_key)
        return token

    def put_token(self, system: str, cache_key: str, secret: bytes, token: dict,
                  expires_at: float) -> None:
        """Cache a token encrypted with a key derived from ``secret``. A no-op when read-only."""
        if self.readonly:
            return
        blob = _tokens.seal(system, cache_key, secret, token)
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO tokens (system, cache_key, ciphertext, expires_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (system, cache_key) DO UPDATE SET"
                " ciphertext = excluded.ciphertext, expires_at = excluded.expires_at,"
                " updated_at = excluded.updated_at",
                (system, cache_key, blob, float(expires_at), utcnow()),
            )

    def delete_token(self, system: str, cache_key: str) -> bool:
        """Forget a cached token. A no-op when read-only."""
        if self.readonly:
            return False
        with self._tx() as conn:
            cur = conn.execute("DELETE FROM tokens WHERE system = ? AND cache_key = ?",
                               (system, cache_key))
            return cur.rowcount > 0

    # -- run lock --

    def acquire_lock(self, pair: str, *, stale_after: float = 600.0, force: bool = False,
                     heartbeat_every: float = 30.0) -> RunLock:
        """Take the run lock of ``pair`` or raise :class:`LockBusy`.

        Taken over at once: a lock of a dead process on this host (pid gone, or reused by
        another process). Taken over when stale: a lock from another host whose heartbeat is
        older than ``stale_after`` s (``force``: older than 60 s). A live process on this host
        is never taken over. Runs left 'running' by a replaced holder become 'interrupted'.
        """
        if self.readonly or self.in_memory:
            raise StateReadOnly(f"state {self._path} was opened read-only; cannot take a lock")
        if not 0 < heartbeat_every <= stale_after / 2:
            raise ValueError("heartbeat_every must be positive and at most half of stale_after")
        me, pid, token = self._host, os.getpid(), uuid.uuid4().hex
        now = utcnow()
        took_over: LockHolder | None = None
        with self._tx() as conn:
            row = conn.execute("SELECT * FROM locks WHERE pair = ?", (pair,)).fetchone()
            if row is not None:
                holder = _holder(row)
                if row["host"] == me:
                    takeable = not holder_alive(row["pid"], row["proc_start"])
                else:
                    age = time.time() - parse_utc(row["heartbeat_at"])
                    limit = min(stale_after, FORCE_MIN_AGE) if force else stale_after
                    takeable = age > limit
                if not takeable:
                    raise LockBusy(pair, holder)
                took_over = holder
                conn.execute("DELETE FROM locks WHERE pair = ?", (pair,))
            conn.execute(
                "INSERT INTO locks (pair, pid, host, proc_start, started_at, heartbeat_at, token)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (pair, pid, me, process_start(pid), now, now, token),
            )
            self._interrupt_orphans(conn, pair, took_over, now)
        return RunLock(pair, token, LockHolder(pid, me, now, now), self._new_connection,
                       heartbeat_every, took_over)

    def _interrupt_orphans(self, conn: sqlite3.Connection, pair: str,
                           took_over: LockHolder | None, now: str) -> None:
        """Mark 'running' runs of ``pair`` whose process is gone as 'interrupted'."""
        rows = conn.execute(
            "SELECT id, pid, host FROM runs WHERE pair = ? AND status = 'running'", (pair,)
        ).fetchall()
        for r in rows:
            by_holder = took_over is not None and (r["pid"], r["host"]) == (took_over.pid,
                                                                              took_over.host)
            dead_here = r["host"] == self._host and r["pid"] != os.getpid() and not pid_alive(r["pid"])
            if by_holder or dead_here:
                conn.execute(
                    "UPDATE runs SET status = 'interrupted', finished_at = ?,"
                    " message = COALESCE(message, ?) WHERE id = ?",
                    (now, f"process {r['pid']} on {r['host']} stopped without finishing the run",
                     r["id"]),
                )

    def lock_holder(self, pair: str) -> LockHolder | None:
        row = self._row("SELECT * FROM locks WHERE pair = ?", (pair,))
        return None if row is None else _holder(row)

    def lock_status(self, pair: str, *, stale_after: float = 600.0) -> tuple[LockHolder, str] | None:
        """The lock row of ``pair`` and what it means now: 'running' (a live holder), 'gone' (its
        process on this host ended: the next run takes it over), 'stale' (another host's holder
        stopped its heartbeat), or None when no row is there."""
        row = self._row("SELECT * FROM locks WHERE pair = ?", (pair,))
        if row is None:
            return None
        if row["host"] == self._host:
            meaning = "running" if holder_alive(row["pid"], row["proc_start"]) else "gone"
        else:
            meaning = "stale" if time.time() - parse_utc(row["heartbeat_at"]) > stale_after else "running"
        return _holder(row), meaning

    def locks(self) -> dict[str, LockHolder]:
        """Every lock row, by pair (held, or left by a run that is gone)."""
        return {r["pair"]: _holder(r) for r in self._rows("SELECT * FROM locks ORDER BY pair")}

    def break_lock(self, pair: str) -> LockHolder | None:
        """Delete the lock row of ``pair`` whoever holds it (an explicit `unlock` by a person).
        Returns the removed holder."""
        with self._tx() as conn:
            row = conn.execute("SELECT * FROM locks WHERE pair = ?", (pair,)).fetchone()
            if row is None:
                return None
            conn.execute("DELETE FROM locks WHERE pair = ?", (pair,))
            return _holder(row)

    # -- failure notices --

    def notices(self, pair: str, channel: str | None = None) -> list[NoticeRow]:
        """What the notices of ``pair`` (to ``channel``, or every channel) have reported."""
        where, params = self._where(pair=pair, channel=channel)
        rows = self._rows(f"SELECT * FROM notices{where} ORDER BY channel, kind, stream, key", params)
        return [NoticeRow(r["pair"], r["channel"], r["kind"], r["stream"], r["key"], r["summary"], r["run_id"],
                          r["sent_at"]) for r in rows]

    def record_notice(self, pair: str, channel: str, *, failures: Iterable[tuple[str, str]] = (),
                      records: Iterable[tuple[str, str]] = (), recovered: bool = False,
                      run_id: int | None = None) -> None:
        """Remember what a notice sent to ``channel`` reported, in one transaction: ``failures``
        as (fingerprint, summary), quarantined ``records`` as (stream, source key). ``recovered``
        first forgets the pair's failures (the notice said the pair recovered)."""
        now = utcnow()
        with self._tx() as conn:
            if recovered:
                conn.execute("DELETE FROM notices WHERE pair = ? AND channel = ? AND kind = 'failure'",
                             (pair, channel))
            conn.executemany(
                "INSERT INTO notices (pair, channel, kind, stream, key, summary, run_id, sent_at)"
                " VALUES (?, ?, 'failure', '', ?, ?, ?, ?)"
                " ON CONFLICT (pair, channel, kind, stream, key) DO UPDATE SET"
                " summary = excluded.summary, run_id = excluded.run_id, sent_at = excluded.sent_at",
                [(pair, channel, key, scrub(summary), run_id, now) for key, summary in failures])
            conn.executemany(
                "INSERT INTO notices (pair, channel, kind, stream, key, summary, run_id, sent_at)"
                " VALUES (?, ?, 'quarantine', ?, ?, NULL, ?, ?) ON CONFLICT DO NOTHING",
                [(pair, channel, stream, str(key), run_id, now) for stream, key in records])

    def forget_released_notices(self, pair: str) -> int:
        """Forget the reported quarantine records of ``pair`` that are no longer in quarantine, so
        a record that comes back is reported again. Returns how many were forgotten."""
        with self._tx() as conn:
            return conn.execute(
                "DELETE FROM notices WHERE pair = ? AND kind = 'quarantine' AND NOT EXISTS ("
                " SELECT 1 FROM quarantine q WHERE q.pair = notices.pair AND q.stream = notices.stream"
                " AND q.source_key = notices.key)", (pair,)).rowcount

    # -- status --

    def stats(self) -> dict[str, Any]:
        """Row counts per table and the file's size, for `status`."""
        rows = {t: self._row(f"SELECT COUNT(*) FROM {t}")[0] for t in _schema.TABLES}
        size = wal = 0
        if not self.in_memory:
            try:
                size = self._path.stat().st_size
            except OSError:
                pass
            try:
                wal = Path(f"{self._path}-wal").stat().st_size
            except OSError:
                pass
        return {
            "path": str(self._path),
            "schema_version": self.schema_version,
            "readonly": self.readonly,
            "in_memory": self.in_memory,
            "file_bytes": size,
            "wal_bytes": wal,
            "rows": rows,
        }
