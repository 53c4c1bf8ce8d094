from __future__ import annotations

import json
import os
import signal
import sqlite3
import socket
import time
from datetime import datetime, timedelta, timezone

import pytest

from mlconnector.errors import ExitCode, LockBusy
from mlconnector.state import open_state


def _ago(seconds: float) -> str:
    t = datetime.now(timezone.utc) - timedelta(seconds=seconds)
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _write_lock_row(path, pair, *, pid, host, heartbeat_age, proc_start=None):
    raw = sqlite3.connect(path)
    with raw:
        raw.execute("DELETE FROM locks WHERE pair = ?", (pair,))
        raw.execute(
            "INSERT INTO locks (pair, pid, host, proc_start, started_at, heartbeat_at, token)"
            " VALUES (?, ?, ?, ?, ?, ?, 'someone-elses-token')",
            (pair, pid, host, proc_start, _ago(heartbeat_age + 5), _ago(heartbeat_age)),
        )
    raw.close()


TRY_LOCK = """
    import json, sys
    from mlconnector.errors import LockBusy
    from mlconnector.state import open_state
    st = open_state({path!r})
    try:
        lock = st.acquire_lock({pair!r}, force={force!r})
    except LockBusy as e:
        print(json.dumps({{"busy": True, "message": str(e), "pid": e.holder.pid, "host": e.holder.host}}))
        sys.exit(int(e.exit_code))
    lock.release()
    print(json.dumps({{"busy": False}}))
"""

HOLD_LOCK = """
    import sys, time
    from mlconnector.state import open_state
    st = open_state({path!r})
    lock = st.acquire_lock({pair!r}, heartbeat_every=0.05)
    run = st.start_run({pair!r}, streams=["vendors"])
    print(run, flush=True)
    time.sleep(60)
"""


def test_second_acquire_in_another_process_is_busy(state, db_path, run_child):
    with state.acquire_lock("sage300-procore"):
        child = run_child(TRY_LOCK.format(path=str(db_path), pair="sage300-procore", force=True))
        assert child.returncode == ExitCode.BUSY, child.stderr
        out = json.loads(child.stdout)
        assert out["busy"] and out["pid"] == os.getpid() and out["host"] == socket.gethostname()
        assert str(os.getpid()) in out["message"] and socket.gethostname() in out["message"]
    # released: now the other process gets it
    child = run_child(TRY_LOCK.format(path=str(db_path), pair="sage300-procore", force=False))
    assert child.returncode == 0 and json.loads(child.stdout) == {"busy": False}, child.stderr
    assert state.lock_holder("sage300-procore") is None


def test_same_process_cannot_take_its_own_lock_twice(state):
    with state.acquire_lock("p"):
        with pytest.raises(LockBusy):
            state.acquire_lock("p", force=True)


def test_killed_holder_is_taken_over_at_once_and_its_run_interrupted(state, db_path, spawn_child):
    child = spawn_child(HOLD_LOCK.format(path=str(db_path), pair="p"))
    run_id = int(child.stdout.readline())
    with pytest.raises(LockBusy) as busy:
        state.acquire_lock("p", force=True)
    assert busy.value.holder.pid == child.pid
    assert state.get_run(run_id).status == "running"
    child.send_signal(signal.SIGKILL if os.name == "posix" else signal.SIGTERM)
    child.wait(timeout=10)
    with state.acquire_lock("p") as lock:
        assert lock.took_over is not None and lock.took_over.pid == child.pid
        assert state.lock_holder("p").pid == os.getpid()
    run = state.get_run(run_id)
    assert run.status == "interrupted" and run.finished_at is not None
    assert state.runs("p")[0].status == "interrupted"


def test_dead_pid_on_this_host_is_taken_over(state, db_path, run_child):
    gone = run_child("import os; print(os.getpid())")
    dead_pid = int(gone.stdout)
    _write_lock_row(db_path, "p", pid=dead_pid, host=socket.gethostname(), heartbeat_age=1)
    with state.acquire_lock("p", stale_after=3600) as lock:
        assert lock.took_over.pid == dead_pid


def test_reused_pid_is_taken_over(state, db_path):
    from mlconnector.state._lock import process_start

    if process_start(os.getpid()) is None:
        pytest.skip("process start time not available on this platform")
    # our own pid, but recorded by a process that started at another time (a fresh container)
    _write_lock_row(db_path, "p", pid=os.getpid(), host=socket.gethostname(), heartbeat_age=1,
                    proc_start="1")
    with state.acquire_lock("p") as lock:
        assert lock.took_over.pid == os.getpid()


def test_other_host_lock_is_taken_over_only_when_stale(state, db_path):
    _write_lock_row(db_path, "p", pid=4242, host="erp-box-2", heartbeat_age=30)
    with pytest.raises(LockBusy) as busy:
        state.acquire_lock("p")
    assert busy.value.holder.host == "erp-box-2" and "erp-box-2" in str(busy.value)
    with pytest.raises(LockBusy):
        state.acquire_lock("p", force=True)  # --force still needs 60 s without heartbeat

    _write_lock_row(db_path, "p", pid=4242, host="erp-box-2", heartbeat_age=90)
    with pytest.raises(LockBusy):
        state.acquire_lock("p", stale_after=600)
    with state.acquire_lock("p", stale_after=600, force=True) as lock:
        assert lock.took_over.host == "erp-box-2"

    _write_lock_row(db_path, "p", pid=4242, host="erp-box-2", heartbeat_age=700)
    with state.acquire_lock("p", stale_after=600) as lock:
        assert lock.took_over.host == "erp-box-2"
    assert state.lock_holder("p") is None


def test_other_host_takeover_interrupts_its_running_run(state, db_path):
    run = state.start_run("p", streams=[])
    raw = sqlite3.connect(db_path)
    with raw:
        raw.execute("UPDATE runs SET pid = 4242, host = 'erp-box-2' WHERE id = ?", (run,))
    raw.close()
    assert state.get_run(run).status == "running"
    _write_lock_row(db_path, "p", pid=4242, host="erp-box-2", heartbeat_age=700)
    with state.acquire_lock("p"):
        assert state.get_run(run).status == "interrupted"


def test_heartbeat_advances_and_release_removes_the_row(state, db_path):
    lock = state.acquire_lock("p", heartbeat_every=0.05)
    first = state.lock_holder("p").heartbeat_at
    deadline = time.time() + 5
    while state.lock_holder("p").heartbeat_at == first and time.time() < deadline:
        time.sleep(0.02)
    assert state.lock_holder("p").heartbeat_at > first
    assert not lock.lost
    lock.release()
    lock.release()  # idempotent
    assert state.lock_holder("p") is None


def test_release_after_takeover_leaves_the_new_holder(state, db_path):
    lock = state.acquire_lock("p", heartbeat_every=0.05)
    # another host decided we were stale and took the lock over
    _write_lock_row(db_path, "p", pid=4242, host="erp-box-2", heartbeat_age=0)
    deadline = time.time() + 5
    while not lock.lost and time.time() < deadline:
        time.sleep(0.02)
    assert lock.lost
    lock.release()
    assert state.lock_holder("p").host == "erp-box-2"


def test_different_pairs_lock_independently(state, db_path, run_child):
    with state.acquire_lock("sage300-procore"):
        child = run_child(TRY_LOCK.format(path=str(db_path), pair="syspro-procore", force=False))
        assert child.returncode == 0 and json.loads(child.stdout) == {"busy": False}, child.stderr
        assert state.lock_holder("sage300-procore").pid == os.getpid()


RACE = """
    import sys, time
    from mlconnector.errors import LockBusy
    from mlconnector.state import open_state
    st = open_state({path!r})
    while time.time() < {start!r}:
        time.sleep(0.001)
    try:
        lock = st.acquire_lock("p")
    except LockBusy:
        print("busy", flush=True)
        sys.exit(0)
    print("won", flush=True)
    time.sleep(60)  # hold until killed, so a late starter cannot win after a release
"""


def test_concurrent_acquires_have_exactly_one_winner(db_path, spawn_child):
    open_state(db_path).close()
    start = time.time() + 0.5
    children = [spawn_child(RACE.format(path=str(db_path), start=start)) for _ in range(4)]
    results = sorted(c.stdout.readline().strip() for c in children)
    assert results == ["busy", "busy", "busy", "won"], results
