"""A fault storm on both simulators ends in the same Procore state as a clean run.

The storm (DESIGN.md §7, faults): 10% 5xx (500/502/503 with Retry-After), 5% hung requests past
the client timeout, 5% 429 bursts, 2% lost answers to applied writes, tokens expiring every 100
calls, plus 1% connection resets and 1% garbage bodies (IIS HTML pages, truncated JSON, text/plain).
The clients' waits (backoff, Retry-After, 429) are compressed twenty-fold so the test is quick;
timeouts are real (the configuration's ``timeout:`` is 0.5 s, a hang lasts 1 s).
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from mlconnector.engine import sync as engine_sync
from mlconnector.errors import ExitCode
from mlconnector.http import DEFAULT_RETRY
from mlconnector.sandbox._faults import FaultPlan
from mlconnector.systems.procore import auth as procore_auth
from mlconnector.systems.procore import client as procore_client
from mlconnector.systems.sage300 import client as sage_client
from tests.faults.conftest import (
    PAIR,
    assert_links_match_target,
    assert_no_duplicates,
    import_sandbox_mappings,
    make_sandbox,
    quarantined_keys,
    set_credentials,
    target_state,
    write_config,
)

VENDORS = 150
STORM = FaultPlan(seed=11, error_rate=0.10, hang_rate=0.05, hang_seconds=1.0, rate_limit_rate=0.05, burst=2,
                  lost_response_rate=0.02, token_expiry_every=100, reset_rate=0.01, garbage_rate=0.01,
                  latency=0.002, latency_jitter=0.003)
TIMEOUT = 0.5
TIME_SCALE = 0.05


@pytest.fixture
def retry_log(monkeypatch):
    """Every logical call through call_with_retries: (what, attempts made, attempts allowed)."""
    calls: list[tuple[str, int, int]] = []
    for module in (procore_client, procore_auth, sage_client):
        real = module.call_with_retries

        def counting(attempt, *, real=real, **kw):
            made = 0

            def counted():
                nonlocal made
                made += 1
                return attempt()

            try:
                return real(counted, **kw)
            finally:
                calls.append((kw.get("what", "?"), made, (kw.get("policy") or DEFAULT_RETRY).attempts))

        monkeypatch.setattr(module, "call_with_retries", counting)
    return calls


@pytest.fixture
def fast_waits(monkeypatch):
    """The clients' sleeps (backoff, Retry-After, rate windows) last TIME_SCALE of what they ask."""
    real_open = engine_sync.open_client

    def sleep(seconds: float) -> None:
        time.sleep(max(0.0, seconds) * TIME_SCALE)

    def open_client(*args, **kw):
        client = real_open(*args, **kw)
        client._sleep = sleep
        for part in ("pacer", "tokens"):
            if hasattr(client, part):
                getattr(client, part)._sleep = sleep
        return client

    monkeypatch.setattr(engine_sync, "open_client", open_client)


def run(tmp_path, monkeypatch, name: str, plan: FaultPlan | None):
    sandbox = make_sandbox(VENDORS).start()
    try:
        set_credentials(sandbox, monkeypatch)
        config_path = write_config(sandbox, tmp_path / name, timeout=TIMEOUT, sage_page=20)
        import_sandbox_mappings(config_path)
        if plan is not None:
            for simulator in (sandbox.sage300, sandbox.procore):
                simulator.set_fault_plan(plan)
        from mlconnector.config import load_config

        started = time.monotonic()
        report = engine_sync.sync_pair(load_config(config_path), PAIR)
        seconds = time.monotonic() - started
        faults = {"procore": sandbox.procore.fault_counts, "sage300": sandbox.sage300.fault_counts}
        for simulator in (sandbox.sage300, sandbox.procore):
            simulator.set_fault_plan(None)  # the checks below read the simulators directly
        return sandbox, config_path.parent / "state.db", report, seconds, faults
    finally:
        sandbox.stop()


def test_a_fault_storm_ends_in_the_same_target_state_as_a_clean_run(tmp_path, monkeypatch, retry_log,
                                                                     fast_waits) -> None:
    clean, clean_state, clean_report, _, _ = run(tmp_path, monkeypatch, "clean", None)
    assert clean_report.exit_code == ExitCode.QUARANTINED, clean_report.error
    clean_calls = len(retry_log)
    assert all(made == 1 for _, made, _ in retry_log), "the clean run retried"
    retry_log.clear()

    storm, storm_state, report, seconds, faults = run(tmp_path, monkeypatch, "storm", STORM)
    # Finished on its own: no rerun, no call ran out of attempts.
    assert report.exit_code == ExitCode.QUARANTINED, report.error

    # The faults really happened, on both servers (Sage 300 has no tokens to expire).
    procore, sage = faults["procore"], faults["sage300"]
    print(f"\nstorm run {seconds:.1f} s; Procore faults {dict(sorted(procore.items()))}; "
          f"Sage 300 faults {dict(sorted(sage.items()))}")
    for kind in ("5xx", "429", "timeout", "lost", "expire", "reset", "garbage"):
        assert procore.get(kind, 0) >= 1, f"no {kind} fault reached Procore: {procore}"
    for kind in ("5xx", "429", "timeout"):
        assert sage.get(kind, 0) >= 1, f"no {kind} fault reached Sage 300: {sage}"
    assert "expire" not in sage
    assert storm.procore.token_requests > clean.procore.token_requests  # expired tokens were renewed

    # Retries within their bounds: no logical call made more attempts than its policy allows.
    over = [(what, made, allowed) for what, made, allowed in retry_log if made > allowed]
    assert not over, over
    retried = Counter(made for _, made, _ in retry_log)
    print(f"attempts per logical call: {dict(sorted(retried.items()))} "
          f"({len(retry_log)} calls in the storm, {clean_calls} in the clean run)")
    assert sum(n for made, n in retried.items() if made > 1) >= 10
    # And every answered request was one of a bounded number: no runaway loop.
    assert len(storm.procore.requests) < 4 * len(clean.procore.requests)

    # The same target state, record for record; no duplicates; links and quarantine alike.
    assert_no_duplicates(storm)
    expected, actual = target_state(clean), target_state(storm)
    for part in expected:
        assert actual[part].keys() == expected[part].keys(), part
        differing = [k for k in expected[part] if actual[part][k] != expected[part][k]]
        assert not differing, f"{part} differ from the clean run: {differing[:5]}"
    assert assert_links_match_target(storm_state, storm) == assert_links_match_target(clean_state, clean)
    assert quarantined_keys(storm_state) == quarantined_keys(clean_state)
    assert storm.procore.unhandled_errors == [] and storm.sage300.unhandled_errors == []
