"""The fault knobs themselves: each kind does what it says, seeded, counted, bounded."""

from __future__ import annotations

import time

import httpx
import pytest

from mlconnector.sandbox import Sandbox
from mlconnector.sandbox._faults import MAX_HANG, FaultPlan, parse_fault_spec

VENDORS = "/rest/v1.0/vendors"


@pytest.fixture
def sb():
    with Sandbox(vendors=10) as sandbox:
        yield sandbox


def post_sync(sb, client):
    return client.patch(sb.procore.url + VENDORS + "/sync",
                        json={"company_id": sb.procore.company_id, "updates": [{"name": "Lost Co", "origin_id": "x:1"}]},
                        headers={"Authorization": "Bearer nope", "Procore-Company-Id": str(sb.procore.company_id)})


def test_the_spec_string_parses_and_bad_parts_are_named() -> None:
    plan = parse_fault_spec("5xx=0.1,timeout=0.05,429=0.05,lost=0.02,expire=100,latency=0.03,garbage=0.01,seed=7")
    assert (plan.error_rate, plan.hang_rate, plan.rate_limit_rate, plan.lost_response_rate) == (0.1, 0.05, 0.05, 0.02)
    assert (plan.token_expiry_every, plan.latency, plan.garbage_rate, plan.seed) == (100, 0.03, 0.01, 7)
    for bad, words in [("5xx=2", "between 0 and 1"), ("nope=1", "not a fault setting"), ("5xx=abc", "not a valid"),
                       ("5xx=0.6,timeout=0.6", "more than 1"), (f"hang={MAX_HANG + 1}", "hang_seconds"),
                       ("statuses=404", "5xx statuses"), ("garbage_kinds=xml", "garbage_kinds")]:
        with pytest.raises(ValueError, match=words):
            parse_fault_spec(bad)


@pytest.mark.parametrize("kind, plan, check", [
    ("5xx", FaultPlan(error_rate=1, error_statuses=(503,), retry_after=2),
     lambda r: r.status_code == 503 and r.headers["Retry-After"] == "2"),
    ("429", FaultPlan(rate_limit_rate=1), lambda r: r.status_code == 429 and r.headers["X-Rate-Limit-Remaining"] == "0"
     and r.headers["Retry-After"] == "1"),
    ("garbage", FaultPlan(garbage_rate=1, garbage_kinds=("html200",)),
     lambda r: r.status_code == 200 and "text/html" in r.headers["Content-Type"] and "IIS" not in r.text
     and "Internal server error" in r.text),
    ("garbage", FaultPlan(garbage_rate=1, garbage_kinds=("text",)),
     lambda r: r.headers["Content-Type"] == "text/plain"),
])
def test_answer_faults(sb, kind, plan, check) -> None:
    injector = sb.sage300.set_fault_plan(plan)
    with httpx.Client() as client:
        response = client.get(sb.sage300.base_url + "/AP/APVendors")
    assert check(response), (response.status_code, response.headers, response.text[:200])
    assert injector.counts[kind] == 1


def test_truncated_json_keeps_the_status_and_breaks_the_body(sb) -> None:
    sb.sage300.set_fault_plan(FaultPlan(garbage_rate=1, garbage_kinds=("truncated",)))
    with httpx.Client(auth=(sb.sage300.username, sb.sage300.password)) as client:
        response = client.get(sb.sage300.base_url + "/AP/APVendors", headers={"Content-Type": "application/json"})
    assert response.status_code == 200 and response.text.startswith("{")
    with pytest.raises(ValueError):
        response.json()


def test_a_hang_outlasts_the_client_timeout_and_a_reset_is_a_reset(sb) -> None:
    sb.procore.set_fault_plan(FaultPlan(hang_rate=1, hang_seconds=1.0))
    started = time.monotonic()
    with httpx.Client(timeout=0.3) as client, pytest.raises(httpx.ReadTimeout):
        client.get(sb.procore.url + VENDORS)
    assert time.monotonic() - started < 1.0
    sb.procore.set_fault_plan(FaultPlan(reset_rate=1))
    with httpx.Client() as client, pytest.raises(httpx.ReadError):
        client.get(sb.procore.url + VENDORS)
    assert sb.procore.fault_counts == {"reset": 1}


def test_a_lost_response_is_applied_and_reads_are_never_lost(sb) -> None:
    injector = sb.procore.set_fault_plan(FaultPlan(lost_response_rate=1))
    with httpx.Client() as client:
        assert client.get(sb.procore.url + VENDORS).status_code == 401  # a read: answered
        with pytest.raises(httpx.TransportError):
            post_sync(sb, client)
    assert injector.counts == {"lost": 1}
    assert [r.status for r in sb.procore.requests][-1] == 0


def test_tokens_expire_every_n_procore_calls_and_sage_has_none(sb) -> None:
    injector = sb.procore.set_fault_plan(FaultPlan(token_expiry_every=3))
    sage = sb.sage300.set_fault_plan(FaultPlan(token_expiry_every=3))
    with httpx.Client() as client:
        token = client.post(sb.procore.url + "/oauth/token", data={
            "grant_type": "client_credentials", "client_id": sb.procore.client_id,
            "client_secret": sb.procore.client_secret}).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}", "Procore-Company-Id": str(sb.procore.company_id)}
        statuses = [client.get(sb.procore.url + VENDORS, params={"company_id": sb.procore.company_id},
                               headers=headers).status_code for _ in range(3)]
        for _ in range(6):
            client.get(sb.sage300.base_url + "/AP/APVendors")
    # Calls are counted from the token request: the 3rd call finds every token expired.
    assert statuses == [200, 401, 401]
    assert injector.counts["expire"] == 1
    assert "expire" not in sage.counts


def test_the_same_seed_draws_the_same_faults() -> None:
    draws = []
    for _ in range(2):
        with Sandbox(vendors=5) as sandbox:
            sandbox.sage300.set_fault_plan(FaultPlan(seed=3, error_rate=0.3, rate_limit_rate=0.2, garbage_rate=0.2))
            with httpx.Client() as client:
                draws.append([client.get(sandbox.sage300.base_url + "/AP/APVendors").status_code for _ in range(30)])
    assert draws[0] == draws[1] and len(set(draws[0])) > 1


def test_demo_refuses_a_bad_fault_spec(run_cli) -> None:
    code, _, err = run_cli("demo", "--faults", "5xx=lots")
    assert code == 2 and "--faults" in err and "5xx" in err
