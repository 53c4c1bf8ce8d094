"""A spent rate budget (anchors.md §2 #11): when the next Procore window opens later than
`max_rate_wait`, the run checkpoints and exits 5 naming the UTC time it can resume; the next run
continues from the checkpoint and creates nothing twice."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timezone

import pytest

from mlconnector.sandbox._server import Fault

from .conftest import PAIR, all_streams, origins

pytestmark = pytest.mark.e2e

PO_SYNC = "/rest/v1.0/purchase_order_contracts/sync"


class SpendBudgetOn(Fault):
    """On the ``nth`` matching request, leave the hourly window with this request as its last."""

    def __init__(self, procore, path_prefix: str, nth: int, method: str) -> None:
        super().__init__(path_prefix, count=nth, method=method)
        self.procore = procore

    def before(self, request):
        if self.remaining == 0:
            self.procore.set_rate_limits(hourly=1)  # a fresh window: this request is its only one
        return None


def test_budget_spent_mid_run_pauses_with_exit_5_and_the_next_run_continues(run_cli, sandbox, workdir) -> None:
    all_streams(sandbox, workdir)
    workdir.edit_config(f"company_id: {sandbox.procore.company_id}",
                        f"company_id: {sandbox.procore.company_id}\n    max_rate_wait: 2")
    # Vendors go through; the budget is spent by the second of the purchase-order batches.
    sandbox.procore.add_fault(SpendBudgetOn(sandbox.procore, PO_SYNC, 2, "PATCH"))
    before = time.time()
    code, out, err = run_cli("sync", PAIR)
    assert code == 5, err
    match = re.search(r"procore: the rate budget is spent until (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC, longer than "
                      r"this run may wait \(2 s\)", err)
    assert match, err
    resume = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
    assert before + 3500 < resume < time.time() + 3700  # the hourly window's reset, not a guess
    assert "Progress is saved; the next run continues where this one stopped." in err
    assert sandbox.procore.rate_limited == 0  # paused before running into the limit
    assert sandbox.procore.count("PATCH", PO_SYNC) == 2

    vendors_done = len(origins(sandbox.procore.vendors()))
    pos_done = len(origins(sandbox.procore.commitments()))
    assert vendors_done == len(sandbox.sage300.vendors()) - 1
    assert 0 < pos_done < len(sandbox.sage300.purchase_orders()) - 2
    with workdir.state(readonly=True) as state:
        (run,) = state.runs(PAIR)
        assert run.status == "paused" and run.exit_code == 5 and "rate budget is spent" in run.message
        links = state.count_links(PAIR)
        assert links["vendors"] == vendors_done  # the checkpoint: every link written so far is kept
        # Purchase orders sent but not settled (their lines were still to go) are pending writes,
        # recorded before they were sent: the next run settles them instead of sending them again.
        assert len({p.source_key for p in state.pending(PAIR, "purchase_orders")}) >= pos_done
        assert state.get_watermark(PAIR, "vendors").value is not None
        paused_marks = {w.stream: (w.value, w.cursor) for w in state.watermarks(PAIR)}
    code, out, _ = run_cli("status", "--json")
    streams = {s["stream"]: s for s in json.loads(out)["pairs"][0]["streams"]}
    assert streams["vendors"]["linked"] == vendors_done

    # The window resets: the next run continues where the first stopped.
    sandbox.procore.set_rate_limits(hourly=1_000_000)
    sandbox.procore.clear_requests()
    code, out, err = run_cli("sync", PAIR)
    assert code == 1, err  # the records held for missing mappings, as in a single run
    assert re.search(rf"^{PAIR} run 2 vendors: create=0 update=0 link=0 skip=\d+ quarantine=1$", out, re.M), out
    # The purchase orders the paused run had sent are linked (found by origin_id), not created again.
    assert re.search(rf"^{PAIR} run 2 purchase_orders: create=\d+ update=\d+ link={pos_done} ", out, re.M), out
    assert sandbox.procore.count("PATCH", "/rest/v1.0/vendors/sync") == 0  # vendors were not sent again
    commitments = origins(sandbox.procore.commitments())
    assert len(commitments) == len(set(commitments)) == len(sandbox.sage300.purchase_orders()) - 2
    requisitions = origins(sandbox.procore.requisitions())
    assert len(requisitions) == len(set(requisitions)) > 0
    vendors = origins(sandbox.procore.vendors())
    assert len(vendors) == len(set(vendors)) == vendors_done
    with workdir.state(readonly=True) as state:
        assert [r.status for r in sorted(state.runs(PAIR), key=lambda r: r.id)] == ["paused", "quarantined"]
        assert state.count_links(PAIR)["purchase_orders"] == len(commitments)
        assert state.pending(PAIR) == []
    assert paused_marks  # something was checkpointed before the pause
