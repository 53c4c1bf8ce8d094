"""Schema migrations of the state file.

Each migration is applied in its own ``BEGIN IMMEDIATE`` transaction together with its row in
``schema_migrations`` (the sqlite-utils pattern), so a crash leaves the file at a whole version.
Append new migrations to :data:`MIGRATIONS`; never edit or reorder a released one.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Callable, Union

from mlconnector.errors import FatalError, UsageError

from ._rows import AUDIT_ACTIONS, RUN_STATUSES, utcnow

# Frozen with migration 1 (the first release): a new status or action needs a migration that
# rebuilds the table, not an edit here.
_STATUS_LIST = "'running', 'ok', 'quarantined', 'failed', 'paused', 'interrupted'"
_ACTION_LIST = "'create', 'update', 'link', 'skip', 'quarantine', 'fail', 'warn', 'unlink', 'discard'"
assert _STATUS_LIST == ", ".join(f"'{s}'" for s in RUN_STATUSES)
assert _ACTION_LIST == ", ".join(f"'{a}'" for a in AUDIT_ACTIONS)

_V1_INITIAL = f"""
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    pair        TEXT    NOT NULL,
    streams     TEXT    NOT NULL DEFAULT '[]',      -- JSON list
    dry_run     INTEGER NOT NULL DEFAULT 0,
    started_at  TEXT    NOT NULL,
    finished_at TEXT,
    status      TEXT    NOT NULL DEFAULT 'running' CHECK (status IN ({_STATUS_LIST})),
    exit_code   INTEGER,
    counts      TEXT    NOT NULL DEFAULT '{{}}',     -- JSON object
    message     TEXT,
    pid         INTEGER NOT NULL,
    host        TEXT    NOT NULL
);
CREATE INDEX runs_by_pair ON runs (pair, id);

CREATE TABLE watermarks (
    pair       TEXT NOT NULL,
    stream     TEXT NOT NULL,
    value      TEXT,
    cursor     TEXT,                                -- JSON: resume point within a scan
    updated_at TEXT NOT NULL,
    PRIMARY KEY (pair, stream)
) WITHOUT ROWID;

CREATE TABLE links (
    pair         TEXT    NOT NULL,
    stream       TEXT    NOT NULL,
    source_key   TEXT    NOT NULL,
    target_id    TEXT    NOT NULL,
    payload_hash TEXT,
    manual       INTEGER NOT NULL DEFAULT 0 CHECK (manual IN (0, 1)),
    created_at   TEXT    NOT NULL,
    updated_at   TEXT    NOT NULL,
    PRIMARY KEY (pair, stream, source_key),
    UNIQUE (pair, stream, target_id)
) WITHOUT ROWID;

CREATE TABLE audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id     INTEGER REFERENCES runs (id) ON DELETE CASCADE,
    at         TEXT NOT NULL,
    pair       TEXT NOT NULL,
    stream     TEXT NOT NULL,
    source_key TEXT NOT NULL,
    action     TEXT NOT NULL CHECK (action IN ({_ACTION_LIST})),
    target_id  TEXT,
    message    TEXT,
    detail     TEXT                                 -- JSON object
);
CREATE INDEX audit_by_run ON audit (run_id, action);
CREATE INDEX audit_by_key ON audit (source_key, pair, stream);
CREATE INDEX audit_by_pair ON audit (pair, id);

CREATE TABLE quarantine (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    pair        TEXT    NOT NULL,
    stream      TEXT    NOT NULL,
    source_key  TEXT    NOT NULL,
    payload     TEXT    NOT NULL,                   -- JSON object
    reason      TEXT    NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 1,
    first_seen  TEXT    NOT NULL,
    last_seen   TEXT    NOT NULL,
    last_run_id INTEGER REFERENCES runs (id) ON DELETE SET NULL,
    UNIQUE (pair, stream, source_key)
);
CREATE INDEX quarantine_by_run ON quarantine (last_run_id);

CREATE TABLE pending (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    pair            TEXT NOT NULL,
    stream          TEXT NOT NULL,
    source_key      TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    operation       TEXT NOT NULL,
    run_id          INTEGER REFERENCES runs (id) ON DELETE SET NULL,
    created_at      TEXT NOT NULL
);
CREATE INDEX pending_by_stream ON pending (pair, stream, source_key);
CREATE INDEX pending_by_run ON pending (run_id);

CREATE TABLE mappings (
    pair       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    source_key TEXT NOT NULL,
    target     TEXT NOT NULL,                       -- JSON object
    updated_at TEXT NOT NULL,
    PRIMARY KEY (pair, kind, source_key)
) WITHOUT ROWID;

CREATE TABLE tokens (
    system     TEXT NOT NULL,
    cache_key  TEXT NOT NULL,
    ciphertext BLOB NOT NULL,                       -- nonce || AES-GCM(token JSON)
    expires_at REAL NOT NULL,                       -- seconds since the epoch
    updated_at TEXT NOT NULL,
    PRIMARY KEY (system, cache_key)
) WITHOUT ROWID;

CREATE TABLE locks (
    pair         TEXT PRIMARY KEY,
    pid          INTEGER NOT NULL,
    host         TEXT    NOT NULL,
    proc_start   TEXT,                              -- holder's process start time, to detect pid reuse
    started_at   TEXT    NOT NULL,
    heartbeat_at TEXT    NOT NULL,
    token        TEXT    NOT NULL
);
"""

# Which problems of a pair a failure notice has told whom about (mlconnector.notify), per channel,
# so a problem is sent once, not after every run. A quarantine row is forgotten when its record
# leaves quarantine; failure rows when the pair runs without failing again.
_V2_NOTICES = """
CREATE TABLE notices (
    pair     TEXT NOT NULL,
    channel  TEXT NOT NULL,                         -- webhook | email
    kind     TEXT NOT NULL CHECK (kind IN ('failure', 'quarantine')),
    stream   TEXT NOT NULL DEFAULT '',              -- quarantine: the record's stream
    key      TEXT NOT NULL,                         -- failure: the problem's fingerprint; quarantine: source key
    summary  TEXT,                                  -- failure: what the notice said (scrubbed)
    run_id   INTEGER,
    sent_at  TEXT NOT NULL,
    PRIMARY KEY (pair, channel, kind, stream, key)
) WITHOUT ROWID;
"""

Step = Union[str, Callable[[sqlite3.Connection], None]]


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    step: Step  # SQL script (split into statements) or a function of the connection


MIGRATIONS: list[Migration] = [
    Migration(1, "initial", _V1_INITIAL),
    Migration(2, "notices", _V2_NOTICES),
]

LATEST = MIGRATIONS[-1].version

TABLES = (
    "runs", "watermarks", "links", "audit", "quarantine", "pending", "mappings", "tokens", "locks", "notices",
)


def _statements(script: str) -> list[str]:
    """Split a script into statements (``executescript`` would COMMIT the open transaction)."""
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                out.append(buf.strip())
            buf = ""
    if buf.strip():
        raise ValueError(f"incomplete SQL statement in migration: {buf.strip()[:60]}")
    return out


def current_version(conn: sqlite3.Connection) -> int:
    has = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    if not has:
        return 0
    row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def check_version(conn: sqlite3.Connection, path: str) -> int:
    """Return the file's schema version; refuse a newer file or a SQLite file that is not ours."""
    version = current_version(conn)
    if version > LATEST:
        raise FatalError(
            f"state file was written by a newer mlconnector (schema {version} > {LATEST})",
            hint=f"Upgrade mlconnector, or point the state path away from {path}.",
        )
    if version == 0:
        other = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND name != 'schema_migrations' LIMIT 1"
        ).fetchone()
        if other:
            raise UsageError(
                f"{path} is a SQLite database but not an mlconnector state file "
                f"(it has a table {other[0]!r} and no schema_migrations)",
                hint="Point the state path at a new file or an existing mlconnector state file.",
            )
    return version


def migrate(conn: sqlite3.Connection, path: str) -> int:
    """Apply every pending migration, each in its own transaction. Returns the new version.

    Safe against another process migrating the same file at the same time: the version is
    read again inside each ``BEGIN IMMEDIATE``.
    """
    version = check_version(conn, path)
    for migration in MIGRATIONS:
        if migration.version <= version:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            version = check_version(conn, path)
            if migration.version > version:
                if callable(migration.step):
                    migration.step(conn)
                else:
                    for statement in _statements(migration.step):
                        conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, utcnow()),
                )
                version = migration.version
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return version
