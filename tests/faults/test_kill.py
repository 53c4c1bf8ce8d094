"""kill -9 at seeded instants of `mlconnector sync`, then rerun: nothing lost, nothing twice.

The CLI runs as a child process against sandbox servers in this process. Each kill instant is
drawn (random.Random(SEED)) from:

* ``write-applied``  Procore applied the n-th write of the run; the child dies before it hears the
                     answer, so before its checkpoint (DESIGN.md §4.7: the write is pending).
* ``write-sent``     the n-th write reached Procore, which never applies it: mid-batch, earlier
                     writes of the same flush applied, later ones never sent.
* ``procore-read``   at the n-th Procore read (matching, reconciling, listing lines).
* ``sage-read``      at the n-th Sage 300 page read.
* ``timer``          a random delay after the first request: anywhere, SQLite commits included.

The kill is a test fault hook on the simulator (it knows the child's pid), so the product has no
test-only code path. Kills are chained (a rerun may be killed again, mid-reconciliation); every
round ends with a run to completion, checks, and new or changed Sage records for the next round.
At the end the target equals a clean run over the same source records.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from mlconnector.sandbox._server import NO_RESPONSE, Fault, Request, Response
from tests.faults.conftest import (
    PAIR,
    add_records,
    assert_links_match_target,
    assert_no_duplicates,
    import_sandbox_mappings,
    make_sandbox,
    quarantined_keys,
    source_count,
    target_state,
    write_config,
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

SEED = 20240607
REPO = Path(__file__).resolve().parents[2]
KILLS_PER_ROUND = 5
MODES = ("write-applied", "write-sent", "procore-read", "sage-read", "timer")


class Child:
    """The running `mlconnector sync`; kill() sends SIGKILL once its pid is known."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.started = threading.Event()
        self.killed_at: str | None = None

    def kill(self, where: str) -> None:
        self.started.wait(10)
        if self.killed_at is None and self.proc is not None:
            self.killed_at = where
            os.kill(self.proc.pid, signal.SIGKILL)  # the child is blocked on our answer: it dies first


class KillAt(Fault):
    """SIGKILL the child at the n-th request this filter matches, before or after it is applied."""

    def __init__(self, child: Child, nth: int, *, writes: bool, after: bool, label: str) -> None:
        super().__init__("/", count=1)
        self.child, self.nth, self.writes, self.after_apply, self.label = child, nth, writes, after, label
        self.seen = 0

    def matches(self, request: Request) -> bool:
        if request.path.startswith("/oauth/"):
            return False
        is_write = request.method in ("POST", "PATCH", "PUT", "DELETE")
        if is_write != self.writes:
            return False
        self.seen += 1
        return self.seen == self.nth

    def before(self, request: Request) -> Response | None:
        if self.after_apply:
            return None
        self.child.kill(f"{self.label} {request.method} {request.path}")
        return NO_RESPONSE

    def after(self, request: Request, response: Response) -> Response:
        self.child.kill(f"{self.label} {request.method} {request.path}")
        return NO_RESPONSE


class KillLater(Fault):
    """At the first request, start a timer that kills the child ``delay`` seconds later."""

    def __init__(self, child: Child, delay: float) -> None:
        super().__init__("/", count=1)
        self.child, self.delay = child, delay
        self.timer: threading.Timer | None = None

    def before(self, request: Request) -> None:  # type: ignore[override]
        self.timer = threading.Timer(self.delay, self.child.kill, args=(f"timer {self.delay:.2f}s",))
        self.timer.daemon = True
        self.timer.start()


def start_sync(work: Path, sandbox, child: Child) -> subprocess.Popen:
    env = {**os.environ, **sandbox.credentials_env(),
           "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    child.proc = subprocess.Popen(
        [sys.executable, "-m", "mlconnector", "-c", str(work / "mlconnector.yaml"), "sync", PAIR],
        cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        encoding="utf-8", errors="replace", start_new_session=True)
    child.started.set()
    return child.proc


def arm(rng: random.Random, mode: str, sandbox, child: Child, run_seconds: float) -> Fault:
    if mode == "write-applied":
        return sandbox.procore.add_fault(KillAt(child, rng.randint(1, 6), writes=True, after=True, label=mode))
    if mode == "write-sent":
        return sandbox.procore.add_fault(KillAt(child, rng.randint(2, 8), writes=True, after=False, label=mode))
    if mode == "procore-read":
        return sandbox.procore.add_fault(KillAt(child, rng.randint(1, 25), writes=False, after=False, label=mode))
    if mode == "sage-read":
        return sandbox.sage300.add_fault(KillAt(child, rng.randint(1, 4), writes=False, after=False, label=mode))
    return sandbox.sage300.add_fault(KillLater(child, rng.uniform(0.0, max(0.3, run_seconds))))


def kill_and_rerun(tmp_path: Path, *, vendors: int, orders: int, kills: int) -> None:
    rng = random.Random(SEED)
    sandbox = make_sandbox(vendors).start()
    work = tmp_path / "kill"
    try:
        add_records(sandbox, 0, vendors=0, orders=orders, renames=0)
        os.environ.update(sandbox.credentials_env())
        import_sandbox_mappings(write_config(sandbox, work))
        killed: list[str] = []
        modes: Counter = Counter()
        run_seconds = 1.0
        runs = 0
        round_no = -1
        while len(killed) < kills and round_no < kills:
            round_no += 1
            if round_no:
                add_records(sandbox, round_no, vendors=max(5, vendors // 30), orders=max(3, orders // 4), renames=5)
            # The first round forces the two instants the design names, then every kind once.
            forced = ["write-applied", "write-sent", "procore-read", "sage-read", "timer"] if round_no == 0 else []
            in_round = 0
            while in_round < KILLS_PER_ROUND and runs < 6 * kills:
                mode = forced.pop(0) if forced else rng.choice(MODES)
                child = Child()
                if round_no == 0 and in_round == 0:  # the vendors batch applied, its checkpoint never made
                    fault = sandbox.procore.add_fault(KillAt(child, 1, writes=True, after=True, label=mode))
                else:
                    fault = arm(rng, mode, sandbox, child, run_seconds)
                started = time.monotonic()
                proc = start_sync(work, sandbox, child)
                _, err = proc.communicate(timeout=120)
                runs += 1
                sandbox.procore.clear_faults()
                sandbox.sage300.clear_faults()
                if isinstance(fault, KillLater) and fault.timer is not None:
                    fault.timer.cancel()
                # A timer may fire as the run exits on its own: the SIGKILL then hits a finished
                # process, and that run counts as complete. A kill at a request cannot race (the
                # child is blocked on our answer).
                late_timer = isinstance(fault, KillLater) and proc.returncode in (0, 1)
                if child.killed_at is not None and not late_timer:
                    assert proc.returncode == -signal.SIGKILL, (proc.returncode, err[-2000:])
                    killed.append(f"round {round_no}: {child.killed_at}")
                    modes[mode] += 1
                    in_round += 1
                else:
                    # The instant fell after the end: a complete run, which ends the chain.
                    assert proc.returncode in (0, 1), err[-3000:]
                    run_seconds = max(0.3, time.monotonic() - started - 0.5)
                    break
            # Rerun to completion, then check the invariants.
            child = Child()
            proc = start_sync(work, sandbox, child)
            _, err = proc.communicate(timeout=300)
            assert proc.returncode == 1, f"rerun after round {round_no}: exit {proc.returncode}\n{err[-3000:]}"
            assert_no_duplicates(sandbox)
            assert_links_match_target(work / "state.db", sandbox)

        print(f"\n{len(killed)} kills in {runs} killed-or-complete runs over {source_count(sandbox)} source "
              f"records; by kind {dict(modes)}")
        assert len(killed) >= kills, killed
        assert all(modes[m] for m in MODES), modes
        assert "write-applied PATCH /rest/v1.0/vendors/sync" in killed[0]  # a batch applied, not checkpointed
        assert any("write-sent" in k for k in killed)  # mid-batch: later writes of the flush never sent

        # The target equals a clean run over the same source records.
        reference = make_sandbox(vendors).start()
        try:
            add_records(reference, 0, vendors=0, orders=orders, renames=0)
            for earlier in range(1, round_no + 1):
                add_records(reference, earlier, vendors=max(5, vendors // 30), orders=max(3, orders // 4), renames=5)
            os.environ.update(reference.credentials_env())
            ref_config = write_config(reference, tmp_path / "reference")
            import_sandbox_mappings(ref_config)
            from mlconnector.config import load_config
            from mlconnector.engine.sync import sync_pair

            report = sync_pair(load_config(ref_config), PAIR)
            assert report.error is None, report.error
            expected, actual = target_state(reference), target_state(sandbox)
            for part in expected:
                assert actual[part].keys() == expected[part].keys(), (
                    part, sorted(set(actual[part]) ^ set(expected[part]))[:10])
                differing = [k for k in expected[part] if actual[part][k] != expected[part][k]]
                assert not differing, (part, differing[:5], [(actual[part][k], expected[part][k])
                                                              for k in differing[:1]])
            assert quarantined_keys(work / "state.db") == quarantined_keys(tmp_path / "reference" / "state.db")
            # Every source record is in Procore exactly once (or held in quarantine with a reason).
            counts = assert_links_match_target(work / "state.db", sandbox)
            held = Counter(stream for stream, _ in quarantined_keys(work / "state.db"))
            assert counts["vendors"] + held["vendors"] >= len(sandbox.sage300.vendors())
            assert counts["purchase_orders"] + held["purchase_orders"] >= len(sandbox.sage300.purchase_orders())
        finally:
            reference.stop()
        assert sandbox.procore.unhandled_errors == [] and sandbox.sage300.unhandled_errors == []
    finally:
        sandbox.stop()


def test_kill_9_at_25_instants_then_rerun_loses_and_duplicates_nothing(tmp_path) -> None:
    kill_and_rerun(tmp_path, vendors=300, orders=40, kills=25)


@pytest.mark.slow
def test_kill_9_full_size(tmp_path) -> None:
    kill_and_rerun(tmp_path, vendors=3000, orders=300, kills=40)
