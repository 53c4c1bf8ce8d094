"""Simulators of the external systems as real HTTP servers on 127.0.0.1 (DESIGN.md §3).

``Sandbox`` starts a seeded Sage 300 and Procore pair and writes the mlconnector configuration
and credentials that point at them; ``mlconnector demo``, the end-to-end tests and the
benchmarks use it. ``python -m mlconnector.sandbox`` serves it until Ctrl-C.
"""

from __future__ import annotations

import json
import ssl
from pathlib import Path
from typing import Any

from mlconnector.sandbox.procore import ProcoreSimulator
from mlconnector.sandbox.sage300 import Sage300Simulator
from mlconnector.sandbox.seed import seed as seed_both

__all__ = ["DATA_DIR", "ProcoreSimulator", "Sage300Simulator", "Sandbox"]

# Mapping files that fit the seed data: projects.csv (Sage contract -> Procore project number),
# costcodes.csv (Sage category -> Procore cost code and cost type) and costcodes-extra.csv (the one
# category costcodes.csv leaves out, so a PO waits for its mapping until that file is imported).
DATA_DIR = Path(__file__).parent / "data"


class Sandbox:
    """Both simulators with seed data; ``with Sandbox() as sandbox:`` serves them for the block.

    ``seed=None`` leaves both systems empty. ``seed_summary`` holds what :func:`seed` made: the
    vendors, Procore's projects, cost codes, cost types and billing periods, Sage's purchase orders
    and PO invoices.
    """

    def __init__(self, *, vendors: int = 300, seed: int | None = 7, procore_port: int = 0,
                 sage300_port: int = 0, ssl_context: ssl.SSLContext | None = None) -> None:
        self.procore = ProcoreSimulator(port=procore_port)
        self.sage300 = Sage300Simulator(port=sage300_port)
        # ``ssl_context`` (server side): serve both over HTTPS, e.g. with a test CA's certificate.
        self.procore.ssl_context = self.sage300.ssl_context = ssl_context
        self.seed_summary: dict[str, Any] = (
            seed_both(self.sage300, self.procore, vendors=vendors, seed=seed) if seed is not None else {})

    def start(self) -> Sandbox:
        self.procore.start()
        self.sage300.start()
        return self

    def stop(self) -> None:
        self.sage300.stop()
        self.procore.stop()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def config_yaml(self, state_path: str | Path,
                    streams: tuple[str, ...] = ("vendors", "purchase_orders", "po_invoices"), *,
                    timeout: float | None = None) -> str:
        """A complete mlconnector configuration for the sage300-procore pair against these servers,
        with ``streams`` on; ``timeout`` (seconds) sets both clients' request timeout (e.g. below a
        fault plan's hang, so a hung request is retried instead of waited for)."""
        extra = f"\n    timeout: {timeout}" if timeout is not None else ""
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

    def credentials_env(self) -> dict[str, str]:
        """The environment variables that hand the sandbox credentials to mlconnector."""
        return {
            "MLCONNECTOR_SAGE300_PASSWORD": self.sage300.password,
            "MLCONNECTOR_PROCORE_CLIENT_ID": self.procore.client_id,
            "MLCONNECTOR_PROCORE_CLIENT_SECRET": self.procore.client_secret,
        }
