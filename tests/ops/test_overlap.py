"""Overlapping runs (anchors.md §2 #6, #7): one lock per pair in the state file, with pid, host,
start and heartbeat; a dead holder on this host is replaced at once, another host's lock only
once its heartbeat is stale; different pairs do not block each other."""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone

import pytest

from mlconnector.engine.sync import LOCK_STALE_AFTER
from mlconnector.state._lock import FORCE_MIN_AGE

from .conftest import PAIR, Slow, origins

pytestmark = pytest.mark.e2e

SAGE_VENDORS = "/Sage300WebApi/v1.0/-/SAMLTD/AP/APVendors"
BUSY = re.compile(r"pair sage300-procore is being synced by process (\d+) on (\S+) since (\S+Z) \(last heartbeat \S+Z\)")


def _ago(seconds: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(seconds=seconds)).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def write_lock_row(path, pair: str, *, host: str, pid: int, heartbeat_age: float) -> None:
    raw = sqlite3.connect(path)
    with raw:
        raw.execute("DELETE FROM locks WHERE pair = ?", (pair,))
        raw.execute("INSERT INTO locks (pair, pid, host, proc_start, started_at, heartbeat_at, token)"
                    " VALUES (?, ?, ?, NULL, ?, ?, 'a-token-of-another-host')",
                    (pair, pid, host, _ago(heartbeat_age + 3600), _ago(heartbeat_age)))
    raw.close()


def assert_single_run_result(sandbox) -> None:
    """What one sync of the small sandbox leaves in Procore: every vendor but SUMMIT, once."""
    found = origins(sandbox.procore.vendors())
    assert len(found) == len(set(found)) == len(sandbox.sage300.vendors()) - 1


def test_two_syncs_started_together_one_runs_the_other_exits_4(run_cli, sandbox, workdir) -> None:
    # Each Sage 300 page takes 0.4 s: the winner holds the lock for well over a second.
    sandbox.sage300.add_fault(Slow(SAGE_VENDORS, 0.4))
    first, second = run_cli.start("sync", PAIR), run_cli.start("sync", PAIR)
    results = {first.pid: run_cli.finish(first), second.pid: run_cli.finish(second)}
    codes = sorted(r.code for r in results.values())
    assert codes == [1, 4], results  # 1: SUMMIT is quarantined, the rest went through
    (loser_pid,) = [pid for pid, r in results.items() if r.code == 4]
    (winner_pid,) = [pid for pid, r in results.items() if r.code == 1]
    match = BUSY.search(results[loser_pid].stderr)
    assert match, results[loser_pid].stderr
    assert int(match.group(1)) == winner_pid and match.group(2) == socket.gethostname()
    assert "create=78" in results[winner_pid].stdout
    assert_single_run_result(sandbox)
    with workdir.state(readonly=True) as state:
        (run,) = state.runs(PAIR)  # the refused one did not even record a run
        assert run.pid == winner_pid and run.status == "quarantined"
        assert match.group(3) <= run.started_at  # the lock was taken just before the run row
        assert state.lock_holder(PAIR) is None


HOLD_AND_WAIT = """
    import sys, time
    from mlconnector.state import open_state
    st = open_state(sys.argv[1])
    lock = st.acquire_lock("sage300-procore", heartbeat_every=0.5)
    st.start_run("sage300-procore", streams=["vendors"])
    print("locked", flush=True)
    time.sleep(120)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_a_dead_holder_on_this_host_is_taken_over_at_once(run_cli, sandbox, workdir) -> None:
    import subprocess

    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(HOLD_AND_WAIT), str(workdir.state_path)],
                              stdout=subprocess.PIPE, text=True, env=run_cli.env())
    try:
        assert holder.stdout.readline().strip() == "locked"
        code, out, err = run_cli("sync", PAIR)
        assert code == 4, err
        assert f"process {holder.pid} on {socket.gethostname()} since" in err
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
    started = time.monotonic()
    code, out, err = run_cli("sync", PAIR)
    assert code == 1, err
    assert time.monotonic() - started < 20  # no staleness window waited for
    assert_single_run_result(sandbox)
    with workdir.state(readonly=True) as state:
        dead, done = sorted(state.runs(PAIR), key=lambda r: r.id)
        assert dead.pid == holder.pid and dead.status == "interrupted"
        assert done.status == "quarantined" and state.lock_holder(PAIR) is None


def test_another_hosts_lock_is_refused_until_stale_then_taken_over(run_cli, sandbox, workdir) -> None:
    assert run_cli("sync", PAIR, "--dry-run").code == 1  # creates nothing: dry runs take no lock
    assert not workdir.state_path.exists()
    workdir.state().close()  # an empty state file
    other = "build-server-2.example"
    fresh, forceable, stale = 5, FORCE_MIN_AGE + 30, LOCK_STALE_AFTER + 30

    write_lock_row(workdir.state_path, PAIR, host=other, pid=4242, heartbeat_age=fresh)
    for args in (("sync", PAIR), ("sync", PAIR, "--force")):
        code, out, err = run_cli(*args)
        assert code == 4, (args, err)
        assert f"process 4242 on {other} since" in err
    # Past the --force minimum but inside the staleness window: only --force takes it.
    write_lock_row(workdir.state_path, PAIR, host=other, pid=4242, heartbeat_age=forceable)
    code, out, err = run_cli("sync", PAIR)
    assert code == 4 and other in err
    code, out, err = run_cli("sync", PAIR, "--force")
    assert code == 1, err
    # Past the staleness window: taken over without --force.
    write_lock_row(workdir.state_path, PAIR, host=other, pid=4343, heartbeat_age=stale)
    code, out, err = run_cli("sync", PAIR)
    assert code == 1, err  # SUMMIT is still held; the rest is unchanged
    assert_single_run_result(sandbox)
    with workdir.state(readonly=True) as state:
        assert [r.exit_code for r in sorted(state.runs(PAIR), key=lambda r: r.id)] == [1, 1]
        assert state.lock_holder(PAIR) is None


TWO_PAIRS = """
  second-pair:
    source: sage300
    target: procore
    streams:
      purchase_orders: {enabled: true}
"""


def test_two_different_pairs_run_side_by_side(run_cli, sandbox, workdir) -> None:
    workdir.write_config(workdir.config_path.read_text(encoding="utf-8") + TWO_PAIRS)
    sandbox.sage300.add_fault(Slow("/Sage300WebApi/", 0.15))
    sandbox.procore.set_rate_limits(spike=100_000, hourly=1_000_000)
    first, second = run_cli.start("sync", PAIR), run_cli.start("sync", "second-pair")
    one, two = run_cli.finish(first), run_cli.finish(second)
    assert one.code in (0, 1) and two.code in (0, 1), (one, two)
    assert "being synced" not in one.stderr + two.stderr
    with workdir.state(readonly=True) as state:
        (a,), (b,) = state.runs(PAIR), state.runs("second-pair")
    assert (a.pid, b.pid) == (first.pid, second.pid)
    assert a.started_at < b.finished_at and b.started_at < a.finished_at, (a, b)  # they overlapped in time
    assert_single_run_result(sandbox)
