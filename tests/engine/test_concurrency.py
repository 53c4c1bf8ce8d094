"""Commitment line items (no batch endpoint across commitments) go out a few at a time: never
more than ``concurrency`` in flight, the same result as one at a time, and no 429."""

from __future__ import annotations

import threading
import time

from mlconnector.sandbox._server import Fault

ALL_STREAMS = ("vendors", "purchase_orders")


class InFlight(Fault):
    """Holds every line-item sync 50 ms and records how many were being answered at once."""

    def __init__(self) -> None:
        super().__init__("/rest/v1.0/purchase_order_contracts/", count=1_000_000)
        self.lock = threading.Lock()
        self.now = self.most = self.seen = 0

    def matches(self, request) -> bool:
        return super().matches(request) and request.path.endswith("/line_items/sync")

    def before(self, request):
        with self.lock:
            self.now += 1
            self.seen += 1
            self.most = max(self.most, self.now)
        time.sleep(0.05)
        with self.lock:
            self.now -= 1
        return None


def commitments(sandbox) -> dict:
    return {c["origin_id"]: sorted((li["origin_id"], li["amount"]) for li in c["line_items"])
            for c in sandbox.procore.commitments() if c.get("origin_id")}


def run(sandbox, work_path, monkeypatch, concurrency: int) -> tuple[InFlight, object]:
    from mlconnector.config import load_config
    from mlconnector.engine.sync import sync_pair
    from mlconnector.mappings import import_mappings
    from mlconnector.sandbox import DATA_DIR

    sandbox.procore.set_rate_limits(spike=100_000, hourly=1_000_000)
    work_path.mkdir(parents=True, exist_ok=True)
    text = sandbox.config_yaml(work_path / "state.db", ALL_STREAMS).replace(
        f"company_id: {sandbox.procore.company_id}",
        f"company_id: {sandbox.procore.company_id}\n    concurrency: {concurrency}", 1)
    (work_path / "mlconnector.yaml").write_text(text, encoding="utf-8")
    for name, value in sandbox.credentials_env().items():
        monkeypatch.setenv(name, value)
    config = load_config(work_path / "mlconnector.yaml")
    for name in ("projects.csv", "costcodes.csv"):
        import_mappings(config, DATA_DIR / name, pair="sage300-procore", offline=True)
    probe = sandbox.procore.add_fault(InFlight())
    return probe, sync_pair(config, "sage300-procore")


def test_line_items_go_out_at_most_concurrency_at_a_time_with_the_same_result(sandbox, tmp_path,
                                                                             monkeypatch) -> None:
    from mlconnector.sandbox import Sandbox

    probe, report = run(sandbox, tmp_path / "four", monkeypatch, 4)
    assert report.error is None, report.error
    assert probe.seen > 4 and 1 < probe.most <= 4
    assert sandbox.procore.rate_limited == 0
    with Sandbox(vendors=120) as reference:  # seeded as the `sandbox` fixture is
        one, report = run(reference, tmp_path / "one", monkeypatch, 1)
        assert report.error is None and one.most == 1
        expected = commitments(reference)
    assert expected and commitments(sandbox) == expected
