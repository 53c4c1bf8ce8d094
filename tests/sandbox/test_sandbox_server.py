"""The simulator base: fault injection, the request log, stop/restart, and the Sandbox wrapper."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from mlconnector.sandbox import ProcoreSimulator, Sage300Simulator, Sandbox
from mlconnector.sandbox._server import NO_RESPONSE, Fault, Request, Response


def test_injected_faults_answer_then_stop(sage: Sage300Simulator, sage_api: httpx.Client) -> None:
    sage.inject_fault("/Sage300WebApi/", 503, count=2, headers={"Retry-After": "3"})
    statuses = [sage_api.get("AP/APVendors") for _ in range(3)]
    assert [r.status_code for r in statuses] == [503, 503, 200]
    assert statuses[0].headers["Retry-After"] == "3"
    assert [r.status for r in sage.requests] == [503, 503, 200]
    assert sage.count("GET", "/Sage300WebApi/v1.0/-/SAMLTD/AP") == 3


def test_fault_bodies_methods_and_prefixes(procore: ProcoreSimulator, api: httpx.Client) -> None:
    procore.inject_fault("/rest/v1.0/vendors/sync", 500, body="<html>Bad Gateway</html>", method="PATCH")
    assert api.get("/rest/v1.0/vendors", params={"company_id": procore.company_id}).status_code == 200
    failed = api.patch("/rest/v1.0/vendors/sync", json={"company_id": procore.company_id, "updates": []})
    assert (failed.status_code, failed.text) == (500, "<html>Bad Gateway</html>")
    assert failed.headers["X-Request-Id"]  # every Procore answer has one, injected ones too
    assert api.patch("/rest/v1.0/vendors/sync", json={"company_id": procore.company_id,
                                                      "updates": []}).status_code == 200
    writes = [r for r in procore.requests if r.is_write]
    assert [(r.method, r.status) for r in writes] == [("PATCH", 500), ("PATCH", 200)]
    assert procore.count("PATCH") == 2 and procore.count(path_prefix="/oauth") == 1


class _LoseResponse(Fault):
    """The server does the work, then the answer is lost: the slot later fault kinds use."""

    def after(self, request: Request, response: Response) -> Response:
        return NO_RESPONSE


def test_a_custom_fault_can_drop_the_answer_after_the_write(procore: ProcoreSimulator, api: httpx.Client) -> None:
    procore.add_fault(_LoseResponse("/rest/v1.0/vendors/sync"))
    with pytest.raises(httpx.TransportError):
        api.patch("/rest/v1.0/vendors/sync", json={"company_id": procore.company_id,
                                                   "updates": [{"origin_id": "V1", "name": "Lost"}]})
    assert procore.vendor_by_origin_id("V1")["name"] == "Lost"  # the write happened
    assert procore.requests[-1].status == 0


def test_stop_closes_keep_alive_connections_and_restart_reuses_the_port(sage: Sage300Simulator,
                                                                         sage_api: httpx.Client) -> None:
    assert sage_api.get("AP/APVendors").status_code == 200
    port = sage.port
    sage.stop()
    with pytest.raises(httpx.TransportError):
        sage_api.get("AP/APVendors")
    sage.start()
    assert sage.port == port
    assert sage_api.get("AP/APVendors").status_code == 200


def test_sandbox_config_and_credentials_reach_both_servers(tmp_path: Path) -> None:
    with Sandbox(vendors=40) as sandbox:
        config = yaml.safe_load(sandbox.config_yaml(tmp_path / "state dir" / "state.db"))
        env = sandbox.credentials_env()
        sage, procore = config["systems"]["sage300"], config["systems"]["procore"]
        assert config["state"] == str(tmp_path / "state dir" / "state.db")
        # By default every stream of the pair is on; a caller may pick some.
        assert config["pairs"] == {"sage300-procore": {"source": "sage300", "target": "procore", "streams": {
            "vendors": {"enabled": True}, "purchase_orders": {"enabled": True}, "po_invoices": {"enabled": True}}}}
        vendors_only = yaml.safe_load(sandbox.config_yaml(tmp_path / "state.db", ("vendors",)))
        assert vendors_only["pairs"]["sage300-procore"]["streams"] == {"vendors": {"enabled": True}}
        assert sage["url"].endswith("/Sage300WebApi/v1.0/-/SAMLTD") and sage["uppercase_password"] is False
        assert procore["api_url"] == procore["login_url"] == sandbox.procore.url
        vendors = httpx.get(f"{sage['url']}/AP/APVendors", auth=(sage["username"], env["MLCONNECTOR_SAGE300_PASSWORD"]),
                            headers={"Content-Type": "application/json"})
        assert vendors.status_code == 200 and len(vendors.json()["value"]) == 40
        token = httpx.post(f"{procore['login_url']}/oauth/token", data={
            "grant_type": "client_credentials", "client_id": env["MLCONNECTOR_PROCORE_CLIENT_ID"],
            "client_secret": env["MLCONNECTOR_PROCORE_CLIENT_SECRET"]})
        assert token.status_code == 200
        assert sandbox.seed_summary["sage300_vendors"] == 40


def test_python_m_sandbox_serves_until_interrupted() -> None:
    with subprocess.Popen([sys.executable, "-m", "mlconnector.sandbox", "--vendors", "20"], stdout=subprocess.PIPE,
                          text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}) as process:
        try:
            lines = []
            while not lines or not lines[-1].startswith("Serving"):
                lines.append(process.stdout.readline())
                assert lines[-1], "the sandbox exited early"
            output = "".join(lines)
            sage_url = next(line.split()[-1] for line in lines if line.startswith("Sage 300 simulator:"))
            assert "export MLCONNECTOR_PROCORE_CLIENT_SECRET=" in output and "pairs:" in output
            response = httpx.get(f"{sage_url}/AP/APVendors", headers={"Content-Type": "application/json"})
            assert response.status_code == 401  # it really serves
        finally:
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=10) == 0
