"""Two Sage 300 companies feeding one Procore company (issue 2: ``origin_id`` is namespaced by the
source system and its company, ``sage300:<COMPANY>:<VendorNumber>``): two `sage300` systems in one
configuration, each with its own pair to the same Procore, each with a vendor of the same
VendorNumber (and the same name). Two Procore vendors come out, one per company, each linked in
its own pair; neither company's sync takes over the other's vendor, and a second pass writes nothing.

The sandbox's Sage 300 simulator serves one company, so the second company is a second simulator
(its own port, company NORTHCO), as a second Sage 300 install would be.
"""

from __future__ import annotations

import pytest

from mlconnector.config import load_config
from mlconnector.engine.sync import sync_pair
from mlconnector.sandbox import Sage300Simulator, Sandbox
from mlconnector.secrets import env_var_name
from mlconnector.state import open_state

NUMBER, NAME = "TWIN01", "Twin Peaks Supply Co"
PAIRS = {"sage300-procore": ("sage300", "SAMLTD"), "north-procore": ("sage300_north", "NORTHCO")}


@pytest.fixture
def two_companies(tmp_path, monkeypatch):
    with Sandbox(vendors=10) as sandbox, Sage300Simulator(company="northco") as north:
        sandbox.procore.set_rate_limits(spike=100_000, hourly=1_000_000)
        for sage in (sandbox.sage300, north):
            sage.upsert_vendor(VendorNumber=NUMBER, VendorName=NAME, City="Denver")
        north.upsert_vendor(VendorNumber="NORTH02", VendorName="Northern Only Ltd")
        state = tmp_path / "state.db"
        base = sandbox.config_yaml(state, ("vendors",))
        # A second Sage 300 system (another company, another server) and a second pair to the same Procore.
        text = base.replace("pairs:\n", f"""\
  sage300_north:
    kind: sage300
    url: {north.base_url}
    username: {north.username}
pairs:
""", 1) + """\
  north-procore:
    source: sage300_north
    target: procore
    streams:
      vendors: {enabled: true}
"""
        path = tmp_path / "mlconnector.yaml"
        path.write_text(text, encoding="utf-8")
        for name, value in sandbox.credentials_env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv(env_var_name("sage300_north", "password"), north.password)
        yield sandbox, north, load_config(path)
        assert north.unhandled_errors == []


def test_the_same_vendor_number_in_two_companies_makes_two_procore_vendors(two_companies) -> None:
    sandbox, north, config = two_companies
    assert {name: config.pair(name).source for name in PAIRS} == {p: s for p, (s, _c) in PAIRS.items()}
    before = {v["id"] for v in sandbox.procore.vendors()}

    for pair in PAIRS:
        report = sync_pair(config, pair)
        assert report.error is None, report.error
    twins = [v for v in sandbox.procore.vendors() if v["name"] == NAME]
    assert sorted(v["origin_id"] for v in twins) == ["sage300:NORTHCO:TWIN01", "sage300:SAMLTD:TWIN01"]
    assert len({v["id"] for v in twins}) == 2 and not {v["id"] for v in twins} & before  # both created
    assert {v["origin_code"] for v in twins} == {NUMBER}
    by_origin = {v["origin_id"]: str(v["id"]) for v in twins}
    northern = [v for v in sandbox.procore.vendors() if v["name"] == "Northern Only Ltd"]
    assert [v["origin_id"] for v in northern] == ["sage300:NORTHCO:NORTH02"]

    # Each pair links its own company's vendor; no Procore vendor is linked from both.
    with open_state(config.state_path, readonly=True) as state:
        links = {pair: {link.source_key: link.target_id for link in state.links(pair, "vendors")} for pair in PAIRS}
    assert links["sage300-procore"][NUMBER] == by_origin["sage300:SAMLTD:TWIN01"]
    assert links["north-procore"][NUMBER] == by_origin["sage300:NORTHCO:TWIN01"]
    assert not set(links["sage300-procore"].values()) & set(links["north-procore"].values())

    # A change in one company reaches only its own vendor; the second pass of the other writes nothing.
    north.upsert_vendor(VendorNumber=NUMBER, VendorName=NAME, City="Boulder")
    with sandbox.procore.lock:
        writes_before = sum(r.is_write for r in sandbox.procore.requests)
    assert sync_pair(config, "sage300-procore").error is None
    with sandbox.procore.lock:
        assert sum(r.is_write for r in sandbox.procore.requests) == writes_before
    assert sync_pair(config, "north-procore").error is None
    cities = {v["origin_id"]: v["city"] for v in sandbox.procore.vendors() if v["name"] == NAME}
    assert cities == {"sage300:SAMLTD:TWIN01": "Denver", "sage300:NORTHCO:TWIN01": "Boulder"}
    assert len([v for v in sandbox.procore.vendors() if v["name"] == NAME]) == 2
