from __future__ import annotations

import sqlite3
import time

import pytest

from mlconnector.state import _schema, open_state

CONCURRENT_OPEN = """
    import time
    from mlconnector.state import open_state
    while time.time() < {start!r}:
        time.sleep(0.001)
    st = open_state({path!r})
    print(st.schema_version)
    st.close()
"""


def test_concurrent_first_open_migrates_once(db_path, spawn_child):
    start = time.time() + 1.0
    children = [spawn_child(CONCURRENT_OPEN.format(path=str(db_path), start=start)) for _ in range(4)]
    outs = [c.communicate(timeout=20) for c in children]
    assert all(c.returncode == 0 for c in children), [err for _, err in outs]
    raw = sqlite3.connect(db_path)
    try:
        versions = raw.execute("SELECT version FROM schema_migrations").fetchall()
        assert versions == [(v,) for v in range(1, _schema.LATEST + 1)]
    finally:
        raw.close()


def _add_migration(monkeypatch, step):
    migrations = _schema.MIGRATIONS + [_schema.Migration(_schema.LATEST + 1, "test-step", step)]
    monkeypatch.setattr(_schema, "MIGRATIONS", migrations)
    monkeypatch.setattr(_schema, "LATEST", migrations[-1].version)
    return migrations[-1].version


def test_new_migration_applies_with_its_record(db_path, monkeypatch):
    open_state(db_path).close()
    new = _add_migration(monkeypatch, "CREATE TABLE extra (x INTEGER);\nINSERT INTO extra VALUES (1);")
    st = open_state(db_path)
    try:
        assert st.schema_version == new
    finally:
        st.close()
    raw = sqlite3.connect(db_path)
    try:
        assert raw.execute("SELECT x FROM extra").fetchall() == [(1,)]
        assert raw.execute("SELECT name FROM schema_migrations WHERE version = ?", (new,)).fetchone() == ("test-step",)
    finally:
        raw.close()


def test_failing_migration_leaves_the_previous_version_whole(db_path, monkeypatch):
    open_state(db_path).close()
    previous = _schema.LATEST

    def broken(conn):
        conn.execute("CREATE TABLE half_done (x INTEGER)")
        raise RuntimeError("migration bug")

    _add_migration(monkeypatch, broken)
    with pytest.raises(RuntimeError):
        open_state(db_path)
    raw = sqlite3.connect(db_path)
    try:
        assert raw.execute("SELECT MAX(version) FROM schema_migrations").fetchone() == (previous,)
        assert raw.execute("SELECT name FROM sqlite_master WHERE name = 'half_done'").fetchone() is None
    finally:
        raw.close()


def test_readonly_open_of_an_older_file_migrates_in_memory_only(db_path, monkeypatch):
    st = open_state(db_path)
    st.upsert_link("p", "vendors", "V1", "100", "h")
    st.close()
    before = db_path.read_bytes()
    new = _add_migration(monkeypatch, "CREATE TABLE extra (x INTEGER);")
    ro = open_state(db_path, readonly=True)
    try:
        assert ro.in_memory and ro.schema_version == new
        assert ro.get_link("p", "vendors", "V1").target_id == "100"
    finally:
        ro.close()
    assert db_path.read_bytes() == before
