"""The state file (anchors.md §2 #8): a truncated or corrupted file, a SQLite file that is not
ours, or one from a newer schema gives a clear message and the exit code of its class, and the
file is never written; a file of the first schema version is migrated; `state backup` makes a
consistent copy while no run holds a lock."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import textwrap
import subprocess
import sys
from pathlib import Path

import pytest

from mlconnector.errors import UsageError
from mlconnector.state import SCHEMA_VERSION, _schema, backup_state, open_state

from .conftest import PAIR

pytestmark = pytest.mark.e2e

NOT_OURS = "is not a valid mlconnector state file (not SQLite, or corrupt)"


def _checkpointed(path: Path) -> bytes:
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw.execute("PRAGMA journal_mode = DELETE")
    raw.close()
    return path.read_bytes()


def written_state(path: Path) -> bytes:
    """A state file with rows in several pages of several tables (library calls: quick)."""
    with open_state(path) as st, st.transaction():
        run_id = st.start_run(PAIR, streams=["vendors"])
        for i in range(400):
            st.upsert_link(PAIR, "vendors", f"V{i:04d}", str(9000 + i), f"hash-{i}")
            st.quarantine(PAIR, "vendors", f"Q{i:04d}", payload={"n": i, "pad": "x" * 40}, reason="test", run_id=run_id)
        st.finish_run(run_id, status="quarantined", exit_code=1, counts={"create": 400})
    return _checkpointed(path)


def flat(text: str) -> str:
    """Output as one line: the piped console wraps long lines at 160 columns."""
    return " ".join(text.split())


def companions(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name + "-"))


def corrupt_middle(data: bytes) -> bytes:
    """Garbage over every page but the first two (the header and the schema stay readable)."""
    page = int.from_bytes(data[16:18], "big")
    rng = random.Random(7)
    return data[: 2 * page] + bytes(rng.randrange(256) for _ in range(len(data) - 2 * page))


CASES = {
    "truncated": (lambda good: good[: len(good) // 2], 2, NOT_OURS),
    "truncated to one page": (lambda good: good[:4096], 2, NOT_OURS),
    "random bytes": (lambda good: random.Random(1).randbytes(len(good)), 2, NOT_OURS),
    "corrupt pages": (corrupt_middle, 2, NOT_OURS),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_damaged_state_file_is_refused_and_left_as_it_is(case, run_cli, sandbox, workdir, tmp_path) -> None:
    damage, exit_code, message = CASES[case]
    bad = damage(written_state(workdir.state_path))
    workdir.state_path.write_bytes(bad)
    sandbox.procore.clear_requests()
    commands = (("sync", PAIR), ("status",), ("state", "backup", str(tmp_path / "b.db")),
                ("mappings", "link", "vendor", "ACME-01", "123"))
    for args in commands:  # one after the other: each must find the file as it was
        code, out, err = run_cli(*args)
        assert code == exit_code, (case, args, code, err)
        assert f"{workdir.state_path} {message}" in flat(err), (case, args, err)
        assert "restore this one from a backup" in err
        assert "Traceback" not in err
        assert workdir.state_path.read_bytes() == bad, (case, args)
        assert companions(workdir.state_path) == [], (case, args)
    assert not (tmp_path / "b.db").exists()
    assert sandbox.procore.count("PATCH") == 0  # nothing was pushed on top of a broken checkpoint


def test_a_sqlite_file_that_is_not_ours_is_a_usage_error(run_cli, workdir, tmp_path) -> None:
    raw = sqlite3.connect(workdir.state_path)
    raw.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    raw.execute("INSERT INTO invoices VALUES (1, 99.5)")
    raw.commit()
    raw.close()
    before = workdir.state_path.read_bytes()
    for args in (("sync", PAIR), ("status",), ("state", "backup", str(tmp_path / "b.db"))):
        code, out, err = run_cli(*args)
        assert code == 2, (args, err)
        assert (f"{workdir.state_path} is a SQLite database but not an mlconnector state file "
                "(it has a table 'invoices' and no schema_migrations)") in flat(err)
        assert workdir.state_path.read_bytes() == before
        assert companions(workdir.state_path) == []


def test_a_state_file_from_a_newer_version_is_refused_with_exit_3(run_cli, workdir, tmp_path) -> None:
    written_state(workdir.state_path)
    raw = sqlite3.connect(workdir.state_path)
    with raw:
        raw.execute("INSERT INTO schema_migrations VALUES (?, 'from the future', '2031-01-01T00:00:00Z')",
                    (SCHEMA_VERSION + 1,))
    raw.close()
    before = workdir.state_path.read_bytes()
    for args in (("sync", PAIR), ("sync", PAIR, "--dry-run"), ("status",), ("state", "backup", str(tmp_path / "b.db"))):
        code, out, err = run_cli(*args)
        assert code == 3, (args, err)
        assert (f"state file was written by a newer mlconnector (schema {SCHEMA_VERSION + 1} > {SCHEMA_VERSION})"
                in flat(err))
        assert f"Upgrade mlconnector, or point the state path away from {workdir.state_path}" in flat(err)
        assert workdir.state_path.read_bytes() == before
    assert not (tmp_path / "b.db").exists()


# -- migrations ----------------------------------------------------------------------------------

# The tables and columns of schema version 1, as released. Migration 1 must never change.
V1_COLUMNS = {
    "runs": ["id", "pair", "streams", "dry_run", "started_at", "finished_at", "status", "exit_code", "counts",
             "message", "pid", "host"],
    "watermarks": ["pair", "stream", "value", "cursor", "updated_at"],
    "links": ["pair", "stream", "source_key", "target_id", "payload_hash", "manual", "created_at", "updated_at"],
    "audit": ["id", "run_id", "at", "pair", "stream", "source_key", "action", "target_id", "message", "detail"],
    "quarantine": ["id", "pair", "stream", "source_key", "payload", "reason", "attempts", "first_seen", "last_seen",
                   "last_run_id"],
    "pending": ["id", "pair", "stream", "source_key", "idempotency_key", "operation", "run_id", "created_at"],
    "mappings": ["pair", "kind", "source_key", "target", "updated_at"],
    "tokens": ["system", "cache_key", "ciphertext", "expires_at", "updated_at"],
    "locks": ["pair", "pid", "host", "proc_start", "started_at", "heartbeat_at", "token"],
}


def build_v1_file(path: Path) -> None:
    """A state file as the first release wrote it: migration 1 only, with rows in every table."""
    (first,) = [m for m in _schema.MIGRATIONS if m.version == 1]
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("PRAGMA journal_mode = WAL")
    raw.execute("BEGIN")
    raw.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                " applied_at TEXT NOT NULL)")
    for statement in _schema._statements(first.step):
        raw.execute(statement)
    raw.execute("INSERT INTO schema_migrations VALUES (1, 'initial', '2025-01-01T00:00:00.000Z')")
    t = "2025-01-01T00:00:00.000Z"
    raw.execute("INSERT INTO runs (pair, streams, started_at, finished_at, status, exit_code, counts, pid, host)"
                " VALUES (?, '[\"vendors\"]', ?, ?, 'quarantined', 1, '{\"create\": 1}', 1, 'old-host')", (PAIR, t, t))
    raw.execute("INSERT INTO watermarks VALUES (?, 'vendors', '2024-12-31', NULL, ?)", (PAIR, t))
    raw.execute("INSERT INTO links VALUES (?, 'vendors', 'ACME-01', '9001', 'h', 0, ?, ?)", (PAIR, t, t))
    raw.execute("INSERT INTO audit (run_id, at, pair, stream, source_key, action, target_id, message)"
                " VALUES (1, ?, ?, 'vendors', 'ACME-01', 'create', '9001', 'created')", (t, PAIR))
    raw.execute("INSERT INTO quarantine (pair, stream, source_key, payload, reason, first_seen, last_seen,"
                " last_run_id) VALUES (?, 'vendors', 'SUMMIT', '{}', 'ambiguous', ?, ?, 1)", (PAIR, t, t))
    raw.execute("INSERT INTO mappings VALUES (?, 'projects', '2024-017', '{\"project\": \"P1\"}', ?)", (PAIR, t))
    raw.execute("COMMIT")
    raw.close()
    os.chmod(path, 0o600)


def test_the_first_schema_version_is_frozen(tmp_path) -> None:
    build_v1_file(tmp_path / "v1.db")
    raw = sqlite3.connect(tmp_path / "v1.db")
    try:
        for table, columns in V1_COLUMNS.items():
            assert [r[1] for r in raw.execute(f"PRAGMA table_info({table})")] == columns, table
    finally:
        raw.close()


def _later_migration(monkeypatch) -> int:
    """Pretend a release added migration LATEST+1 (a column and an index), as a future one will."""
    step = "ALTER TABLE links ADD COLUMN note TEXT;\nCREATE INDEX links_by_target ON links (target_id);"
    migrations = _schema.MIGRATIONS + [_schema.Migration(_schema.LATEST + 1, "links-note", step)]
    monkeypatch.setattr(_schema, "MIGRATIONS", migrations)
    monkeypatch.setattr(_schema, "LATEST", migrations[-1].version)
    return migrations[-1].version


@pytest.mark.parametrize("with_later_migration", [False, True])
def test_a_file_of_the_first_schema_version_is_migrated_with_its_rows(with_later_migration, tmp_path,
                                                                      monkeypatch) -> None:
    path = tmp_path / "v1.db"
    build_v1_file(path)
    latest = _later_migration(monkeypatch) if with_later_migration else SCHEMA_VERSION
    # A read-only open (status, dry runs) migrates a copy in memory and leaves the file alone.
    before = path.read_bytes()
    with open_state(path, readonly=True) as ro:
        assert ro.schema_version == latest and ro.in_memory == (latest > 1)
        assert ro.get_link(PAIR, "vendors", "ACME-01").target_id == "9001"
    assert path.read_bytes() == before
    with open_state(path) as st:
        assert st.schema_version == latest
        assert st.get_link(PAIR, "vendors", "ACME-01").target_id == "9001"
        assert st.get_watermark(PAIR, "vendors").value == "2024-12-31"
        assert [q.source_key for q in st.quarantined(PAIR)] == ["SUMMIT"]
        assert [a.action for a in st.audit(pair=PAIR)] == ["create"]
        assert st.mappings_of(PAIR, "projects") == {"2024-017": {"project": "P1"}}
        (run,) = st.runs(PAIR)
        assert run.status == "quarantined" and run.counts == {"create": 1}
        with st.acquire_lock(PAIR):  # and it is usable: lock, run, write
            run_id = st.start_run(PAIR, streams=["vendors"])
            st.upsert_link(PAIR, "vendors", "BETA-02", "9002", "h2")
            st.finish_run(run_id, status="ok", exit_code=0, counts={"create": 1})
    raw = sqlite3.connect(path)
    try:
        versions = [r[0] for r in raw.execute("SELECT version FROM schema_migrations ORDER BY version")]
        assert versions == list(range(1, latest + 1))
        if with_later_migration:
            assert "note" in [r[1] for r in raw.execute("PRAGMA table_info(links)")]
    finally:
        raw.close()
    assert (os.stat(path).st_mode & 0o077) == 0


def test_the_cli_migrates_a_first_version_file_and_syncs_on(run_cli, sandbox, workdir) -> None:
    build_v1_file(workdir.state_path)
    code, out, err = run_cli("status", "--json")
    assert code == 0, err
    (pair,) = json.loads(out)["pairs"]
    assert pair["last_run"]["status"] == "quarantined" and pair["streams"][0]["linked"] == 1
    code, out, err = run_cli("sync", PAIR, "--full")
    assert code == 1, err
    with workdir.state(readonly=True) as state:
        assert state.schema_version == SCHEMA_VERSION
        assert len(state.runs(PAIR)) == 2


# -- state backup / show ---------------------------------------------------------------------------


def _rows(path: Path) -> dict[str, list]:
    raw = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return {t: raw.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()
                for t in (*_schema.TABLES, "schema_migrations")}
    finally:
        raw.close()


HOLD = """
    import sys, time
    from mlconnector.state import open_state
    st = open_state(sys.argv[1])
    lock = st.acquire_lock("sage300-procore", heartbeat_every=0.5)
    print("locked", flush=True)
    sys.stdin.read()
    lock.release()
"""


def test_state_backup_is_a_consistent_copy_and_waits_for_no_run(run_cli, sandbox, workdir, tmp_path) -> None:
    code, out, err = run_cli("state", "backup", str(tmp_path / "none.db"))
    assert code == 2 and f"state file {workdir.state_path} does not exist" in flat(err)
    assert run_cli("sync", PAIR).code == 1
    assert companions(workdir.state_path) == []  # a clean close leaves no WAL

    # The state is in use by a process that writes (a WAL exists): the copy still holds everything.
    with workdir.state() as st:
        st.upsert_link(PAIR, "vendors", "EXTRA-1", "777", "h")
        assert (Path(f"{workdir.state_path}-wal")).exists()
        dest = tmp_path / "backups" / "state-copy.db"
        dest.parent.mkdir()
        code, out, err = run_cli("state", "backup", str(dest))
        assert code == 0, err
        assert f"backed up {workdir.state_path} to {dest}" in " ".join(out.split()) and "120 links" in out
        assert _rows(dest) == _rows(workdir.state_path)
    assert (dest.stat().st_mode & 0o777) == 0o600
    assert sorted(p.name for p in dest.parent.iterdir()) == ["state-copy.db"]  # no temp file, no WAL
    raw = sqlite3.connect(dest)
    try:
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    finally:
        raw.close()
    with open_state(dest, readonly=True) as copy:  # the copy is a state file mlconnector opens
        assert copy.get_link(PAIR, "vendors", "EXTRA-1").target_id == "777"
        assert len(copy.runs(PAIR)) == 1

    # An existing file is not replaced unless asked; the state file itself never.
    with pytest.raises(UsageError, match="already exists"):
        backup_state(workdir.state_path, dest)
    assert backup_state(workdir.state_path, dest, overwrite=True).destination == dest
    for same in (workdir.state_path, Path(f"{workdir.state_path}-wal")):
        with pytest.raises(UsageError, match="another file than the state file"):
            backup_state(workdir.state_path, same, overwrite=True)
    # A directory gets a timestamped file.
    code, out, err = run_cli("state", "backup", str(dest.parent), "--json")
    assert code == 0, err
    made = Path(json.loads(out)["backup"])
    assert made.parent == dest.parent and made.name.startswith("state.db.backup-")

    # While a run holds a lock: refused with exit 4 naming it, unless --force.
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(HOLD), str(workdir.state_path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=run_cli.env())
    try:
        assert holder.stdout.readline().strip() == "locked"
        code, out, err = run_cli("state", "backup", str(tmp_path / "during.db"))
        assert code == 4, err
        assert f"pair {PAIR} is being synced by process {holder.pid} on" in flat(err)
        assert not (tmp_path / "during.db").exists()
        code, out, err = run_cli("state", "show", "--json")
        assert code == 0, err
        (lock,) = json.loads(out)["locks"]
        assert lock["pid"] == holder.pid and lock["held"] is True
        code, out, err = run_cli("state", "backup", str(tmp_path / "during.db"), "--force")
        assert code == 0, err
        assert "the copy holds lock rows" in err
    finally:
        holder.communicate("", timeout=10)
    assert holder.returncode == 0
    # The holder is gone: a backup goes through again, and show says so.
    assert run_cli("state", "backup", str(tmp_path / "after.db")).code == 0
    code, out, err = run_cli("state", "show")
    assert code == 0 and "no run holds a lock" in out and f"schema {SCHEMA_VERSION}" in out
