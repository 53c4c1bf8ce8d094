"""Secrets (DESIGN.md §6, anchors.md §2 #9, #10): with every secret value known, run the flows a
user runs, at debug log level, and look for those values everywhere mlconnector writes: stdout and
stderr (crash output included), the state file's bytes with its WAL, audit and quarantine rows,
the encrypted credentials file, the cassettes. Zero occurrences; state and secret files are 0600."""

from __future__ import annotations

import base64
import json
import os
import signal
import stat
import sys
import threading
from pathlib import Path

import pytest

from mlconnector.sandbox._server import Fault, StatusFault

from .conftest import PAIR, all_streams

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
PASSPHRASE = "ops-test passphrase 9f3a1c"
WRONG_PASSWORD = "Wr0ng-But-Secret-Pa55!"


class Stall(Fault):
    """Hold one request until released (the process is killed meanwhile)."""

    def __init__(self, path_prefix: str) -> None:
        super().__init__(path_prefix, count=1)
        self.arrived, self.release = threading.Event(), threading.Event()

    def before(self, request):
        self.arrived.set()
        self.release.wait(30)
        return None


def _forms(value: str) -> set[str]:
    import urllib.parse

    return {value, urllib.parse.quote(value, safe=""), base64.b64encode(value.encode()).decode()}


def count_in(haystack: bytes, secrets: set[str]) -> dict[str, int]:
    return {s: haystack.count(s.encode()) for s in secrets if haystack.count(s.encode())}


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and file modes")
def test_no_secret_anywhere_after_every_flow_at_debug_level(run_cli, sandbox, workdir, tmp_path) -> None:
    all_streams(sandbox, workdir)
    procore, sage = sandbox.procore, sandbox.sage300
    seen_tokens: set[str] = set()

    def grab_tokens() -> None:
        with procore.lock:
            seen_tokens.update(procore._tokens)

    def cli(*args, **kw):
        result = run_cli("--log-level", "debug", *args, **kw)
        grab_tokens()
        return result

    def together(*commands, env=None):
        """Run independent commands at the same time; their results, in order."""
        procs = [run_cli.start("--log-level", "debug", *c, env=env) for c in commands]
        results = [run_cli.finish(p) for p in procs]
        grab_tokens()
        return results

    # Credentials from the encrypted file (created 0600), not the environment.
    file_env = {"MLCONNECTOR_SAGE300_PASSWORD": None, "MLCONNECTOR_PROCORE_CLIENT_ID": None,
                "MLCONNECTOR_PROCORE_CLIENT_SECRET": None, "MLCONNECTOR_PASSPHRASE": PASSPHRASE}
    store = Path(os.environ["MLCONNECTOR_CREDENTIALS_FILE"])
    assert cli("credentials", "set", "sage300", "--store", "file", env=file_env, input=sage.password + "\n").code == 0
    assert cli("credentials", "set", "procore", "--store", "file", env=file_env,
               input=f"{procore.client_id}\n{procore.client_secret}\n").code == 0
    assert stat.S_IMODE(store.stat().st_mode) == 0o600

    results = together(("ping", "sage300"), ("ping", "procore"), ("credentials", "show", "sage300"),
                       ("credentials", "show", "procore", "--json"), env=file_env)
    assert [r.code for r in results] == [0, 0, 0, 0], results
    code, out, err = cli("sync", PAIR, env=file_env)
    assert code == 1, err
    assert "DEBUG" in err  # debug output was on
    code, out, _ = cli("quarantine", "list", "--json")
    held = json.loads(out)
    assert held
    results = together(*[("quarantine", "show", str(row["id"])) for row in held],
                       ("audit", "--limit", "1000"), ("status",), ("state", "show"))
    assert all(r.code == 0 for r in results), results
    assert cli("replay", held[0]["record"], env=file_env).code in (0, 1)

    # A failing authentication, each system.
    bad_sage, bad_procore = (
        run_cli.start("--log-level", "debug", "ping", "sage300", env={"MLCONNECTOR_SAGE300_PASSWORD": WRONG_PASSWORD}),
        run_cli.start("--log-level", "debug", "sync", PAIR,
                      env={"MLCONNECTOR_PROCORE_CLIENT_SECRET": WRONG_PASSWORD[::-1]}))
    code, _, err = run_cli.finish(bad_sage)
    assert code == 3 and "HTTP 401" in err
    code, _, err = run_cli.finish(bad_procore)
    assert code == 3, err
    # A token that stops working mid-way (renewed once), and an answer that is not JSON.
    procore.expire_all_tokens()
    procore.add_fault(StatusFault("/rest/v1.0/projects", 200, body="<html>not json " + "x" * 50 + "</html>"))
    assert cli("sync", PAIR, "--full", env=file_env).code in (1, 3)

    # Crashes: interrupted (SIGINT) and killed (SIGKILL) while a request is in flight.
    for sig in (signal.SIGINT, signal.SIGKILL):
        stall = procore.add_fault(Stall("/rest/v1.0/vendors"))
        proc = run_cli.start("--log-level", "debug", "sync", PAIR, "--full", env=file_env)
        try:
            assert stall.arrived.wait(30)
            grab_tokens()
            os.kill(proc.pid, sig)
            result = run_cli.finish(proc)
        finally:
            stall.release.set()
        assert result.code != 0
    grab_tokens()
    # The next run after the crashes takes the dead lock over and finishes.
    assert cli("sync", PAIR, env=file_env).code == 1
    assert cli("state", "backup", str(tmp_path / "backup.db")).code == 0

    secrets: set[str] = set()
    basic = base64.b64encode(f"{sage.username}:{sage.password}".encode()).decode()
    for value in (sage.password, procore.client_id, procore.client_secret, basic, PASSPHRASE, WRONG_PASSWORD,
                  WRONG_PASSWORD[::-1], *seen_tokens):
        secrets |= _forms(value)
    assert len(seen_tokens) >= 2, "the runs must have been handed access tokens"

    found: dict[str, dict[str, int]] = {}
    for i, result in enumerate(run_cli.results):
        found[f"output of run {i}"] = count_in((result.stdout + result.stderr).encode(), secrets)
    files = [p for p in workdir.path.iterdir() if p.name.startswith("state.db")] + [store, tmp_path / "backup.db"]
    for path in files:
        found[str(path)] = count_in(path.read_bytes(), secrets)
    with workdir.state(readonly=True) as state:
        rows = json.dumps([a.__dict__ for a in state.audit(limit=100_000)]
                          + [q.__dict__ for q in state.quarantined()], default=str)
    found["audit and quarantine rows"] = count_in(rows.encode(), secrets)
    cassettes = REPO / "cassettes"
    for path in sorted(cassettes.rglob("*")) if cassettes.is_dir() else []:
        if path.is_file():
            found[str(path)] = count_in(path.read_bytes(), secrets)
    leaks = {where: hits for where, hits in found.items() if hits}
    print(f"secret values scanned: {len(secrets)}; places: {len(found)}; occurrences: "
          f"{sum(sum(h.values()) for h in leaks.values())}")
    assert leaks == {}

    # Owner-only files: the state file with its WAL and shared memory, the backup, the credentials.
    for path in files:
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
