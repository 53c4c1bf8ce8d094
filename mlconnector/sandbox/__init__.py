"""Simulators of the external systems as real HTTP servers on 127.0.0.1 (DESIGN.md §3).

``Sandbox`` starts a seeded pair of simulators (Sage 300 and Procore, or Procore and Intacct)
and writes the mlconnector configuration and credentials that point at them; ``mlconnector
demo``, the end-to-end tests and the benchmarks use it. ``python -m mlconnector.sandbox`` serves
it until Ctrl-C.

The simulators are imported only when used (``mlconnector --help`` must not pay for them).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

__all__ = ["DATA_DIR", "PAIRS", "PAIR_STREAMS", "IntacctSimulator", "ProcoreSimulator", "Sage300Simulator",
           "Sandbox"]

# Mapping files that fit the seed data. sage300-procore: projects.csv (Sage contract -> Procore
# project number), costcodes.csv (Sage category -> Procore cost code and cost type) and
# costcodes-extra.csv (the one category costcodes.csv leaves out, so a PO waits for its mapping
# until that file is imported). procore-intacct: intacct-projects.csv, glaccounts.csv and
# glaccounts-extra.csv (the cost code glaccounts.csv leaves out).
DATA_DIR = Path(__file__).parent / "data"
PAIRS = ("sage300-procore", "procore-intacct")
# The streams each pair's configuration turns on by default.
PAIR_STREAMS = {
    "sage300-procore": ("vendors", "purchase_orders", "po_invoices"),
    "procore-intacct": ("gl_accounts", "vendors", "commitments", "requisitions", "payment_applications"),
}
# What `demo --faults` takes (parsed by _faults.parse_fault_spec); here so --help needs no simulator.
FAULT_SPEC_HELP = (
    "comma-separated key=value: 5xx=RATE (500/502/503, Retry-After on 503; statuses=500+503 to choose), "
    "429=RATE (starts a burst of burst=N 429s), timeout=RATE (hang hang=SECONDS, past the client timeout), "
    "reset=RATE, lost=RATE (write applied, answer lost), expire=N (Procore tokens and Intacct sessions expire every N calls; "
    "Sage 300 has no sessions), garbage=RATE (garbage_kinds=html200+html500+truncated+text), "
    "latency=SECONDS, jitter=SECONDS, retry_after=SECONDS, seed=N. Example: "
    '"5xx=0.1,timeout=0.05,429=0.05,lost=0.02,expire=100,latency=0.03,garbage=0.01,seed=7"'
)
_LAZY = {
    "Sandbox": "mlconnector.sandbox._sandbox",
    "IntacctSimulator": "mlconnector.sandbox.intacct",
    "ProcoreSimulator": "mlconnector.sandbox.procore",
    "Sage300Simulator": "mlconnector.sandbox.sage300",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
