"""Contract tests: the system clients against recorded exchanges (vcrpy via pytest-recording).

Replay (the default, ``--record-mode=none``) runs no server: the cassettes under the top-level
``cassettes/`` answer every request, and a request that is not in them fails the test.
Recording (``--record-mode=rewrite``, see cassettes/README.md) starts the sandbox simulators on
fixed ports so that the URLs in the cassettes are the URLs replay asks for.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from _cassettes import CASSETTES, RECORDED_SECRETS, scrub_request, scrub_response

from mlconnector import redact
from mlconnector.sandbox import Sandbox
from mlconnector.systems.procore import ProcoreClient
from mlconnector.systems.procore.settings import ProcoreSettings
from mlconnector.systems.sage300 import Sage300Client
from mlconnector.systems.sage300.settings import Sage300Settings

PROCORE_PORT, SAGE300_PORT = 18301, 18300
PROCORE_URL = f"http://127.0.0.1:{PROCORE_PORT}"
SAGE300_URL = f"http://127.0.0.1:{SAGE300_PORT}/Sage300WebApi/v1.0/-/SAMLTD"
COMPANY_ID = 1234567  # the Procore simulator's default company


def pytest_collection_modifyitems(config, items):
    """Scan cassettes after every other test, so a recording run scans what it just wrote."""
    last = [item for item in items if item.path.name == "test_cassette_secrets.py"]
    items[:] = [item for item in items if item not in last] + last


@pytest.fixture(scope="module")
def vcr_cassette_dir(request) -> str:
    # tests/contract/test_procore_contract.py -> cassettes/procore/
    name = request.module.__name__.rpartition(".")[2].removeprefix("test_").removesuffix("_contract")
    return str(CASSETTES / name)


@pytest.fixture(scope="module")
def vcr_config() -> dict:
    return {
        "filter_headers": [("authorization", "REDACTED"), ("cookie", "REDACTED")],
        "filter_post_data_parameters": [("client_id", "REDACTED"), ("client_secret", "REDACTED")],
        "before_record_request": scrub_request,
        "before_record_response": scrub_response,
        "decode_compressed_response": True,
        "record_on_exception": False,
        "match_on": ["method", "scheme", "host", "port", "path", "query"],
    }


@dataclass
class Live:
    """What a contract test talks to: the sandbox when recording, the cassette when replaying."""

    sandbox: Sandbox | None
    procore_client_id: str
    procore_client_secret: str
    sage300_password: str

    @property
    def recording(self) -> bool:
        return self.sandbox is not None

    def _sleep(self, seconds: float) -> None:
        if self.recording:
            time.sleep(seconds)
        # Replay never waits: a recorded Retry-After must not slow CI down.

    def procore(self, **overrides) -> ProcoreClient:
        values = dict(name="procore", kind="procore", api_url=PROCORE_URL, login_url=PROCORE_URL,
                      company_id=COMPANY_ID, page_size=100, timeout=10.0)
        values.update(overrides)
        return ProcoreClient(ProcoreSettings(**values), client_id=self.procore_client_id,
                             client_secret=self.procore_client_secret, sleep=self._sleep)

    def sage300(self, *, password: str | None = None, **overrides) -> Sage300Client:
        values = dict(name="sage300", kind="sage300", url=SAGE300_URL, username="webapi", page_size=100,
                      timeout=10.0)
        values.update(overrides)
        return Sage300Client(Sage300Settings(**values), password=password or self.sage300_password,
                             sleep=self._sleep)


@pytest.fixture
def live(record_mode: str) -> Iterator[Live]:
    if record_mode == "none":
        yield Live(None, "replay-client-id", "replay-client-secret", "Replay-Password-1")
        return
    sandbox = Sandbox(seed=None, procore_port=PROCORE_PORT, sage300_port=SAGE300_PORT)
    for secret in (sandbox.procore.client_id, sandbox.procore.client_secret, sandbox.sage300.password):
        redact.register(secret)
    redact.register_basic_auth(sandbox.sage300.username, sandbox.sage300.password)
    with sandbox:
        assert sandbox.procore.url == PROCORE_URL and sandbox.sage300.base_url == SAGE300_URL
        yield Live(sandbox, sandbox.procore.client_id, sandbox.procore.client_secret, sandbox.sage300.password)
    RECORDED_SECRETS.update(redact.known_secrets())  # the tokens issued during the test included
    assert sandbox.procore.unhandled_errors == [] and sandbox.sage300.unhandled_errors == []
