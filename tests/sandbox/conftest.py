"""Fixtures for the sandbox tests: simulators on 127.0.0.1 and small httpx helpers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from mlconnector.sandbox import ProcoreSimulator, Sage300Simulator


class FakeClock:
    """A settable clock for the Procore simulator: tests move time instead of sleeping."""

    def __init__(self, now: float = 1_750_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def procore(clock: FakeClock) -> Iterator[ProcoreSimulator]:
    with ProcoreSimulator(clock=clock) as simulator:
        yield simulator
    assert simulator.unhandled_errors == []


@pytest.fixture
def sage() -> Iterator[Sage300Simulator]:
    with Sage300Simulator() as simulator:
        yield simulator
    assert simulator.unhandled_errors == []


def procore_token(simulator: ProcoreSimulator) -> str:
    response = httpx.post(f"{simulator.url}/oauth/token", data={
        "grant_type": "client_credentials", "client_id": simulator.client_id,
        "client_secret": simulator.client_secret})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


@pytest.fixture
def api(procore: ProcoreSimulator) -> Iterator[httpx.Client]:
    """An httpx client that talks to the Procore simulator as a DMSA: token and company header set."""
    headers = {"Authorization": f"Bearer {procore_token(procore)}", "Procore-Company-Id": str(procore.company_id)}
    with httpx.Client(base_url=procore.url, headers=headers) as client:
        yield client


@pytest.fixture
def sage_api(sage: Sage300Simulator) -> Iterator[httpx.Client]:
    """An httpx client with good Basic credentials and the Content-Type Sage insists on."""
    with httpx.Client(base_url=sage.base_url, auth=(sage.username, sage.password),
                      headers={"Content-Type": "application/json", "Accept": "application/json"}) as client:
        yield client
