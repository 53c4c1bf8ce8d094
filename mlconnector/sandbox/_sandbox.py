"""``Sandbox``: a seeded pair of simulators, and the configuration that points mlconnector at them."""

from __future__ import annotations

import json
import ssl
from pathlib import Path
from typing import Any

from mlconnector.sandbox import PAIR_STREAMS, PAIRS
from mlconnector.sandbox.intacct import IntacctSimulator
from mlconnector.sandbox.procore import ProcoreSimulator
from mlconnector.sandbox.sage300 import Sage300Simulator
from mlconnector.sandbox.seed import seed as seed_both
from mlconnector.sandbox.seed_intacct import PAYMENTS_VENDOR
from mlconnector.sandbox.seed_intacct import seed as seed_intacct


class Sandbox:
    """Both simulators with seed data; ``with Sandbox() as sandbox:`` serves them for the block.

    ``seed=None`` leaves both systems empty. ``seed_summary`` holds what :func:`seed` made: the
    vendors, Procore's projects, cost codes, cost types and billing periods, Sage's purchase orders
    and PO invoices.
    """

    def __init__(self, *, vendors: int = 300, seed: int | None = 7, procore_port: int = 0,
                 sage300_port: int = 0, ssl_context: ssl.SSLContext | None = None,
                 pair: str = "sage300-procore", intacct_port: int = 0) -> None:
        if pair not in PAIRS:
            raise ValueError(f"the sandbox has no pair {pair!r}; it has {', '.join(PAIRS)}")
        self.pair = pair
        self.procore = ProcoreSimulator(port=procore_port)
        self.sage300 = Sage300Simulator(port=sage300_port)
        self.intacct = IntacctSimulator(port=intacct_port)
        # ``ssl_context`` (server side): serve all over HTTPS, e.g. with a test CA's certificate.
        self.procore.ssl_context = self.sage300.ssl_context = self.intacct.ssl_context = ssl_context
        self.seed_summary: dict[str, Any] = {}
        if seed is not None and pair == "sage300-procore":
            self.seed_summary = seed_both(self.sage300, self.procore, vendors=vendors, seed=seed)
        elif seed is not None:
            self.seed_summary = seed_intacct(self.intacct, self.procore, vendors=vendors, seed=seed)

    @property
    def servers(self) -> list:
        """The simulators of this sandbox's pair."""
        return [self.sage300, self.procore] if self.pair == "sage300-procore" else [self.procore, self.intacct]

    def start(self) -> Sandbox:
        for server in self.servers:
            server.start()
        return self

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def config_yaml(self, state_path: str | Path, streams: tuple[str, ...] | None = None, *,
                    timeout: float | None = None) -> str:
        """A complete mlconnector configuration for this sandbox's pair against these servers,
        with ``streams`` on (default: all of the pair's); ``timeout`` (seconds) sets both clients'
        request timeout (e.g. below a fault plan's hang, so a hung request is retried instead of
        waited for)."""
        streams = PAIR_STREAMS[self.pair] if streams is None else streams
        extra = f"\n    timeout: {timeout}" if timeout is not None else ""
        if self.pair == "procore-intacct":
            return self._intacct_yaml(state_path, streams, extra)
        # JSON strings are valid YAML scalars: safe for Windows paths, spaces and colons.
        return f"""\
state: {json.dumps(str(state_path))}
systems:
  sage300:
    kind: sage300
    url: {self.sage300.base_url}
    username: {self.sage300.username}
    uppercase_password: {"true" if self.sage300.legacy_uppercase_passwords else "false"}{extra}
  procore:
    kind: procore
    api_url: {self.procore.url}
    login_url: {self.procore.url}
    company_id: {self.procore.company_id}{extra}
pairs:
  sage300-procore:
    source: sage300
    target: procore
    streams:
""" + "".join(f"      {name}: {{enabled: true}}\n" for name in streams)

    def _intacct_yaml(self, state_path: str | Path, streams: tuple[str, ...], extra: str) -> str:
        options = {"payment_applications": f"enabled: true, vendor_id: {PAYMENTS_VENDOR}"}
        return f"""\
state: {json.dumps(str(state_path))}
systems:
  procore:
    kind: procore
    api_url: {self.procore.url}
    login_url: {self.procore.url}
    company_id: {self.procore.company_id}{extra}
  intacct:
    kind: intacct
    url: {self.intacct.url}
    sender_id: {self.intacct.sender_id}
    company_id: {self.intacct.company_id}
    user_id: {self.intacct.user_id}{extra}
pairs:
  procore-intacct:
    source: procore
    target: intacct
    streams:
""" + "".join(f"      {name}: {{{options.get(name, 'enabled: true')}}}\n" for name in streams)

    def credentials_env(self) -> dict[str, str]:
        """The environment variables that hand the sandbox credentials to mlconnector."""
        return {
            "MLCONNECTOR_SAGE300_PASSWORD": self.sage300.password,
            "MLCONNECTOR_PROCORE_CLIENT_ID": self.procore.client_id,
            "MLCONNECTOR_PROCORE_CLIENT_SECRET": self.procore.client_secret,
            "MLCONNECTOR_INTACCT_SENDER_PASSWORD": self.intacct.sender_password,
            "MLCONNECTOR_INTACCT_USER_PASSWORD": self.intacct.user_password,
        }
