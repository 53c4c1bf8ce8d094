"""A seeded Procore + Intacct sandbox and a working directory configured for procore-intacct."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mlconnector.sandbox import DATA_DIR, Sandbox

PAIR = "procore-intacct"


class IntacctWork:
    def __init__(self, path: Path, sandbox: Sandbox) -> None:
        self.path, self.sandbox = path, sandbox
        self.config_path = path / "mlconnector.yaml"
        self.state_path = path / "state.db"

    def write_config(self, streams: tuple[str, ...] | None = None) -> None:
        self.config_path.write_text(self.sandbox.config_yaml(self.state_path, streams), encoding="utf-8")

    def config(self):
        from mlconnector.config import load_config

        return load_config(self.config_path)

    def import_mappings(self, *names: str) -> None:
        from mlconnector.mappings import import_mappings

        for name in names:
            import_mappings(self.config(), DATA_DIR / name, pair=PAIR, offline=True)

    def sync(self, **options):
        from mlconnector.engine.sync import sync_pair

        return sync_pair(self.config(), PAIR, **options)

    def state(self, *, readonly: bool = True):
        from mlconnector.state import open_state

        return open_state(self.state_path, readonly=readonly)


@pytest.fixture
def intacct_sandbox() -> Iterator[Sandbox]:
    sb = Sandbox(pair=PAIR, vendors=24)
    # Procore's 10-second window is paced correctly (tests/systems); here it would only add waits.
    sb.procore.set_rate_limits(spike=10_000)
    with sb:
        yield sb
    assert sb.procore.unhandled_errors == [], "the Procore simulator hit a bug"
    assert sb.intacct.unhandled_errors == [], "the Intacct simulator hit a bug"


@pytest.fixture
def work(tmp_path: Path, intacct_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> IntacctWork:
    w = IntacctWork(tmp_path / "work", intacct_sandbox)
    w.path.mkdir()
    w.write_config()
    for name, value in intacct_sandbox.credentials_env().items():
        monkeypatch.setenv(name, value)
    w.import_mappings("intacct-projects.csv", "glaccounts.csv")
    return w
