from __future__ import annotations

import os
import sqlite3
import stat

import pytest

from mlconnector.errors import FatalError, UsageError
from mlconnector.state import SCHEMA_VERSION, StateReadOnly, open_state


def test_fresh_file_is_private_wal_and_migrated(db_path):
    assert not db_path.parent.exists()
    st = open_state(db_path)
    try:
        st.start_run("p", streams=["vendors"])  # makes the WAL appear
        if os.name == "posix":
            for p in (db_path, db_path.with_name(db_path.name + "-wal"),
                      db_path.with_name(db_path.name + "-shm")):
                if p.exists():
                    assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
        assert st.schema_version == SCHEMA_VERSION
    finally:
        st.close()
    raw = sqlite3.connect(db_path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        rows = raw.execute("SELECT version, name, applied_at FROM schema_migrations").fetchall()
    finally:
        raw.close()
    assert [r[0] for r in rows] == list(range(1, SCHEMA_VERSION + 1))
    assert rows[0][1] == "initial"
    assert rows[0][2].endswith("Z")


def test_existing_permissive_file_is_tightened(db_path):
    if os.name != "posix":
        pytest.skip("POSIX permissions")
    open_state(db_path).close()
    os.chmod(db_path, 0o644)
    open_state(db_path).close()
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600


def test_reopen_is_idempotent_and_keeps_data(db_path):
    st = open_state(db_path)
    st.set_watermark("p", "vendors", "2024-05-01")
    st.close()
    st = open_state(db_path)
    try:
        assert st.get_watermark("p", "vendors").value == "2024-05-01"
        assert st.schema_version == SCHEMA_VERSION
    finally:
        st.close()
    raw = sqlite3.connect(db_path)
    try:
        assert raw.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0] == SCHEMA_VERSION
    finally:
        raw.close()


def test_newer_schema_is_refused(db_path):
    open_state(db_path).close()
    raw = sqlite3.connect(db_path)
    with raw:
        raw.execute("INSERT INTO schema_migrations VALUES (99, 'future', '2030-01-01T00:00:00Z')")
    raw.close()
    for readonly in (False, True):
        with pytest.raises(FatalError) as exc:
            open_state(db_path, readonly=readonly)
        assert f"state file was written by a newer mlconnector (schema 99 > {SCHEMA_VERSION})" in str(exc.value)


@pytest.mark.parametrize("content", [b"this is not a database\n" * 200,
                                     b"SQLite format 3\x00" + b"\xff" * 4000])
def test_garbage_file_is_a_usage_error_naming_the_path(db_path, content):
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(content)
    for readonly in (False, True):
        with pytest.raises(UsageError) as exc:
            open_state(db_path, readonly=readonly)
        assert str(db_path) in str(exc.value)
    assert db_path.read_bytes() == content


def test_foreign_sqlite_database_is_refused(db_path):
    db_path.parent.mkdir(parents=True)
    raw = sqlite3.connect(db_path)
    with raw:
        raw.execute("CREATE TABLE customers (id INTEGER)")
    raw.close()
    with pytest.raises(UsageError) as exc:
        open_state(db_path)
    assert str(db_path) in str(exc.value) and "customers" in str(exc.value)


def test_directory_path_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError) as exc:
        open_state(tmp_path)
    assert str(tmp_path) in str(exc.value)


def test_readonly_on_missing_path_writes_nothing(db_path):
    st = open_state(db_path, readonly=True)
    try:
        assert st.runs() == []
        assert st.get_watermark("p", "vendors").value is None
        assert st.links_for("p", "vendors", ["a"]) == {}
        with pytest.raises(StateReadOnly):
            st.set_watermark("p", "vendors", "x")
        with pytest.raises(StateReadOnly):
            st.acquire_lock("p")
        st.put_token("sys", "k", b"secret", {"access_token": "t"}, 9e9)  # silently not cached
        assert st.get_token("sys", "k", b"secret") is None
    finally:
        st.close()
    assert not db_path.parent.exists()


def test_readonly_on_existing_file_reads_and_refuses_writes(db_path):
    st = open_state(db_path)
    st.upsert_link("p", "vendors", "V1", 10, "h1")
    st.close()
    before = db_path.read_bytes()
    ro = open_state(db_path, readonly=True)
    try:
        assert ro.get_link("p", "vendors", "V1").target_id == "10"
        with pytest.raises(StateReadOnly):
            ro.upsert_link("p", "vendors", "V2", 11, "h2")
    finally:
        ro.close()
    assert db_path.read_bytes() == before


def test_transaction_rollback_leaves_nothing(state, db_path):
    run = state.start_run("p", streams=["vendors"])
    with pytest.raises(RuntimeError):
        with state.transaction():
            state.upsert_link("p", "vendors", "V1", "100", "h")
            state.add_audit(run, "p", "vendors", "V1", "create", target_id="100")
            state.quarantine("p", "vendors", "V2", payload={"a": 1}, reason="bad", run_id=run)
            state.set_watermark("p", "vendors", "2024-01-01")
            state.add_pending("p", "vendors", "V3", idempotency_key="k", operation="create", run_id=run)
            raise RuntimeError("crash mid-page")
    other = open_state(db_path, readonly=True)
    try:
        assert other.links("p") == []
        assert other.audit(run_id=run) == []
        assert other.quarantined("p") == []
        assert other.get_watermark("p", "vendors").value is None
        assert other.pending("p") == []
    finally:
        other.close()


def test_transaction_is_invisible_until_commit(state, db_path):
    other = open_state(db_path, readonly=True)
    try:
        with state.transaction():
            state.upsert_link("p", "vendors", "V1", "100", "h")
            state.set_watermark("p", "vendors", "2024-01-01")
            assert other.get_link("p", "vendors", "V1") is None
        assert other.get_link("p", "vendors", "V1").target_id == "100"
        assert other.get_watermark("p", "vendors").value == "2024-01-01"
    finally:
        other.close()


def test_nested_transaction_joins_outer_and_undoes_only_itself(state, db_path):
    with state.transaction():
        state.upsert_link("p", "vendors", "V1", "100", "h")
        with pytest.raises(ValueError):
            with state.transaction():
                state.upsert_link("p", "vendors", "V2", "200", "h")
                raise ValueError("inner")
        with state.transaction():
            state.upsert_link("p", "vendors", "V3", "300", "h")
    assert sorted(l.source_key for l in state.links("p")) == ["V1", "V3"]


def test_stats_counts_rows(state):
    state.upsert_link("p", "vendors", "V1", "100", "h")
    state.start_run("p", streams=[])
    s = state.stats()
    assert s["rows"]["links"] == 1 and s["rows"]["runs"] == 1 and s["rows"]["audit"] == 0
    assert s["schema_version"] == SCHEMA_VERSION
    assert s["file_bytes"] > 0
