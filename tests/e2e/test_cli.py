"""The CLI as a user (or cron) runs it: `python -m mlconnector ...` in a child process, talking
over real HTTP to the sandbox servers in this process. Output is piped, so these runs also show
what cron sees: quiet plain text, no terminal tables for sync.

Every test that uses ``cli`` ends by checking that no secret of the sandbox (password, client
id and secret, access tokens, the Basic header) appeared in any output or in the state file.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from mlconnector.sandbox._server import Fault
from mlconnector.sandbox.seed import normalise_name as seed_normalise
from mlconnector.sandbox.seed import origin_id_for

pytestmark = pytest.mark.e2e

PAIR = "sage300-procore"
PASSPHRASE = "correct horse battery staple 42"
BOX = re.compile(r"[┏┃┡│└━─]")


@pytest.fixture
def cli(run_cli, workdir, sandbox, assert_nothing_leaked):
    """run_cli in the sandbox's workdir; afterwards, no secret anywhere it wrote."""
    yield run_cli
    assert_nothing_leaked(sandbox)


def writes(sandbox) -> int:
    with sandbox.procore.lock:
        return sum(1 for r in sandbox.procore.requests if r.is_write)


def summit_twin_ids(sandbox) -> list[int]:
    name = seed_normalise("Summit Rebar & Steel, Inc.")
    return [v["id"] for v in sandbox.procore.vendors() if seed_normalise(v["name"]) == name]


# -- ping ---------------------------------------------------------------------------------------


def test_ping_both_systems(cli, sandbox) -> None:
    code, out, err = cli("ping", "sage300")
    assert code == 0, err
    assert "ok" in out and re.search(r"\d+ ms", out)
    assert "company SAMLTD, AP vendors: 120" in out
    code, out, err = cli("ping", "procore")
    assert code == 0, err
    assert re.search(r"\d+ ms", out)
    assert f"company {sandbox.procore.company_id} ({sandbox.procore.company_name})" in out
    code, out, err = cli("ping", "procore", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["ok"] is True and result["system"] == "procore" and isinstance(result["latency_ms"], int)
    assert result["url"] == sandbox.procore.url


def test_ping_with_a_wrong_password_says_so_without_the_password(cli, sandbox) -> None:
    wrong = "Wr0ng-Pa55word!x"
    code, out, err = cli("--log-level", "debug", "ping", "sage300", env={"MLCONNECTOR_SAGE300_PASSWORD": wrong})
    assert code == 3
    assert "Invalid credentials" in err and "HTTP 401" in err
    assert "mlconnector credentials set sage300" in err
    assert wrong not in out + err
    code, out, err = cli("ping", "procore", env={"MLCONNECTOR_PROCORE_CLIENT_SECRET": "not-the-secret-0123"})
    assert code == 3
    assert "token request was refused" in err and "not-the-secret-0123" not in out + err


def test_ping_an_unknown_system_is_a_usage_error(cli) -> None:
    code, out, err = cli("ping", "sage30")
    assert code == 2
    assert "unknown system 'sage30'" in err and "did you mean 'sage300'" in err


# -- sync, status, audit ------------------------------------------------------------------------


def test_sync_status_and_audit(cli, sandbox, workdir) -> None:
    code, out, err = cli("sync", PAIR)
    assert code == 1, err  # SUMMIT is ambiguous
    assert not BOX.search(out) and "\x1b[" not in out + err  # cron gets plain lines
    assert f"{PAIR} run 1 vendors: create=78 update=0 link=41 skip=0 quarantine=1" in out
    assert re.search(r"^quarantined in [\d.]+ s \(sage300: \d+ reads, 0 writes, procore: \d+ reads, 1 writes\)$",
                     out, re.M), out
    assert "1 records in quarantine: `mlconnector audit --run 1`" in err

    code, out, err = cli("status", "--json")
    assert code == 0, err
    status = json.loads(out)
    assert status["state"] == str(workdir.state_path)
    (pair,) = status["pairs"]
    assert pair["pair"] == PAIR and pair["last_run"]["id"] == 1
    assert pair["last_run"]["status"] == "quarantined" and pair["last_run"]["exit_code"] == 1
    assert pair["last_run"]["counts"] == {"create": 78, "link": 41, "quarantine": 1}
    (stream,) = pair["streams"]
    assert stream["linked"] == 119 and stream["quarantined"] == 1
    assert stream["watermark"] and not stream["resuming"]

    code, out, err = cli("audit", "--json", "--run", "1", "--limit", "1000")
    assert code == 0, err
    events = json.loads(out)
    assert len(events) == 120 and len({e["source_key"] for e in events}) == 120
    assert {e["run_id"] for e in events} == {1}

    code, out, err = cli("audit", "--record", "SUMMIT", "--json")
    assert code == 0, err
    (event,) = json.loads(out)
    assert event["action"] == "quarantine"
    assert all(str(i) in event["message"] for i in summit_twin_ids(sandbox))
    assert "mlconnector mappings link vendor SUMMIT" in event["message"]

    code, out, err = cli("audit", "--record", "O'NEIL")  # a table, and a key with a quote
    assert code == 0, err
    assert "O'NEIL" in out and "create" in out

    sandbox.procore.clear_requests()
    code, out, err = cli("sync", PAIR)
    assert code == 1
    assert f"{PAIR} run 2 vendors: create=0 update=0 link=0" in out
    assert "procore: " in out and ", 0 writes)" in out
    assert writes(sandbox) == 0


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_on_a_terminal_the_commands_draw_tables(cli, sandbox) -> None:
    code, out, _ = cli.on_terminal("sync", PAIR)
    assert code == 1, out
    assert BOX.search(out) and "quarantine" in out and "create" in out
    assert "78" in out and "41" in out
    code, out, _ = cli.on_terminal("status")
    assert code == 0, out
    assert BOX.search(out) and "sage300-procore" in out and "vendors" in out
    for args, words in ((("audit",), ("VENDOR:", "create", "link")),
                        (("quarantine", "list"), ("VENDOR:SUMMIT", "matches 2 target records")),
                        (("replay", "VENDOR:SUMMIT"), ("replay of VENDOR:SUMMIT", "quarantine")),
                        (("doctor",), ("check", "fix", "ping"))):
        code, out, _ = cli.on_terminal(*args)
        assert BOX.search(out) and all(w in out for w in words), (args, out)


def test_sync_exit_codes(cli, sandbox, workdir) -> None:
    code, out, err = cli("sync", "sage300-procor")
    assert code == 2 and "unknown pair 'sage300-procor'" in err
    assert not workdir.state_path.exists()
    code, out, err = cli("sync", PAIR, "--stream", "invoices")
    assert code == 2 and "has no stream invoices" in err
    code, _, _ = cli("sync", PAIR)
    assert code == 1
    # Exit 4 while another process holds the lock: this test process does.
    with workdir.state() as state, state.acquire_lock(PAIR):
        code, out, err = cli("sync", PAIR)
    assert code == 4
    assert f"process {os.getpid()}" in err and "since" in err


def test_a_paused_run_exits_5_and_the_next_one_continues(cli, sandbox, workdir) -> None:
    workdir.edit_config(f"company_id: {sandbox.procore.company_id}",
                        f"company_id: {sandbox.procore.company_id}\n    max_rate_wait: 1")
    sandbox.procore.set_rate_limits(hourly=3)
    code, out, err = cli("sync", PAIR)
    assert code == 5, err
    assert "rate budget is spent until" in err and "the next run continues" in err
    assert sandbox.procore.rate_limited == 0  # paused before running into the limit
    sandbox.procore.set_rate_limits(hourly=3600)
    code, out, err = cli("sync", PAIR)
    assert code == 1, err
    code, out, _ = cli("status", "--json")
    assert json.loads(out)["pairs"][0]["streams"][0]["linked"] == 119


class Stall(Fault):
    """Hold a request until ``release`` is set, then let the simulator answer it (too late)."""

    def __init__(self, path_prefix: str) -> None:
        super().__init__(path_prefix, count=1)
        self.arrived, self.release = threading.Event(), threading.Event()

    def before(self, request):
        self.arrived.set()
        self.release.wait(30)
        return None


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_kill_9_after_the_batch_is_sent_loses_and_duplicates_nothing(cli, run_cli, sandbox, workdir) -> None:
    stall = sandbox.procore.add_fault(Stall("/rest/v1.0/vendors/sync"))
    proc = run_cli.start("sync", PAIR)
    try:
        assert stall.arrived.wait(30), "the batch never arrived"
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        stall.release.set()  # Procore applies the batch the dead process sent
    deadline = time.monotonic() + 10
    while sandbox.procore.count("PATCH", "/rest/v1.0/vendors/sync") == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    applied = len({v["origin_id"] for v in sandbox.procore.vendors() if v["origin_id"]})
    assert applied == 119  # the dead run's batch: every vendor but SUMMIT (KEYSURV had its origin_id)

    code, out, err = cli("sync", PAIR)
    assert code == 1, err
    origins = [v["origin_id"] for v in sandbox.procore.vendors() if v["origin_id"]]
    assert len(origins) == len(set(origins)) == 119  # nothing created twice
    code, out, _ = cli("status", "--json")
    (pair,) = json.loads(out)["pairs"]
    assert pair["last_run"]["id"] == 2 and pair["streams"][0]["linked"] == 119
    code, out, _ = cli("audit", "--json", "--run", "2", "--action", "link", "--limit", "1000")
    found = [e for e in json.loads(out) if "interrupted run" in (e["message"] or "")]
    assert len(found) == 119  # every pending write settled by looking it up, none re-created
    assert sandbox.procore.count("POST", "/rest/v1.0/vendors") == 0
    with workdir.state(readonly=True) as state:
        assert state.get_run(1).status == "interrupted"
        assert state.pending(PAIR) == []


def test_manual_links_through_the_cli(cli, sandbox) -> None:
    assert cli("sync", PAIR).code == 1
    chosen, other = summit_twin_ids(sandbox)

    code, out, err = cli("mappings", "link", "vendor", "SUMMIT", str(chosen))
    assert code == 0, err
    assert f"SUMMIT linked to {chosen}" in out
    code, out, err = cli("mappings", "list", "--json", "--manual")
    assert code == 0, err
    (link,) = json.loads(out)
    assert link["source_key"] == "SUMMIT" and link["target_id"] == str(chosen) and link["manual"]
    code, out, _ = cli("mappings", "list", "--json")
    assert len(json.loads(out)) == 120

    # Another vendor cannot take the same Procore record.
    code, out, err = cli("mappings", "link", "vendor", "ACMESUP", str(chosen))
    assert code == 2, (code, err)
    assert "already linked to source record SUMMIT" in err

    code, out, err = cli("sync", PAIR)
    assert code == 0, err
    assert "update=1" in out
    assert sandbox.procore.vendor(chosen)["origin_id"] == origin_id_for("SUMMIT")
    assert sandbox.procore.vendor(other)["origin_id"] is None

    code, out, err = cli("mappings", "unlink", "vendor", "SUMMIT")
    assert code == 0, err
    code, out, _ = cli("mappings", "list", "--json")
    assert "SUMMIT" not in {link["source_key"] for link in json.loads(out)}
    code, out, err = cli("mappings", "unlink", "vendor", "SUMMIT")
    assert code == 2 and "SUMMIT is not linked" in err
    # Unlinked, SUMMIT is found again by the origin_id it now carries: no duplicate.
    code, out, err = cli("sync", PAIR, "--full")
    assert code == 0, err
    assert sum(1 for v in sandbox.procore.vendors() if v["origin_id"] == origin_id_for("SUMMIT")) == 1


def test_dry_run_lists_planned_actions_and_writes_nothing(cli, sandbox, workdir) -> None:
    code, out, err = cli("sync", PAIR, "--dry-run")
    assert code == 1, err
    assert "DRY RUN — nothing written" in out
    assert "create=78 update=0 link=41 skip=0 quarantine=1" in out
    lines = out.splitlines()
    assert "plan vendors ACME-01 create new" in lines
    assert any(line.startswith("plan vendors ACMESUP link ") and "ACME CONCRETE SUPPLY INC" in line
               and "matched by name" in line for line in lines)
    assert any(line.startswith("plan vendors KEYSURV link ") and "matched by origin_id" in line for line in lines)
    assert any(line.startswith("plan vendors SUMMIT quarantine") for line in lines)
    assert any(line.startswith("plan vendors ATLANTIS create new Country 'Atlantis'") for line in lines)
    assert sorted(p.name for p in workdir.path.iterdir()) == ["mlconnector.yaml"]
    assert writes(sandbox) == 0


def test_debug_logging_never_shows_a_secret(cli, sandbox, sandbox_secrets) -> None:
    for args in (("ping", "sage300"), ("ping", "procore"), ("sync", PAIR), ("status",), ("audit",)):
        code, out, err = cli("--log-level", "debug", *args)
        assert code in (0, 1), err
    assert "DEBUG" in cli.results[1].stderr  # debug output was on
    # Each Procore request is logged with the X-Request-Id Procore's support desk asks for.
    assert re.search(r"GET \S+/rest/v1\.0/companies\S* -> 200 \(request id [0-9a-f-]{36}\)", cli.results[1].stderr)
    assert len(sandbox_secrets(sandbox)) >= 6  # the access tokens handed out are checked too
    # the fixture checks every output and the state file for the sandbox's secrets


# -- configuration and credentials ----------------------------------------------------------------


def test_bad_configuration_is_a_usage_error_naming_file_line_and_key(cli, workdir) -> None:
    workdir.edit_config("    kind: sage300\n", "    kind: sage300\n    colour: blue\n")
    code, out, err = cli("sync", PAIR)
    assert code == 2
    assert f"{workdir.config_path}:5 [systems.sage300.colour]: unknown key 'colour'" in err
    assert not workdir.state_path.exists()

    workdir.write_config()
    workdir.edit_config("api_url: http://", "api_url: htp://")
    code, out, err = cli("status")
    assert code == 2
    line = next(i for i, text in enumerate(workdir.config_path.read_text().splitlines(), 1) if "api_url" in text)
    assert f"{workdir.config_path}:{line} [systems.procore.api_url]" in err
    assert not workdir.state_path.exists()

    code, out, err = cli("-c", str(workdir.path / "missing.yaml"), "status")
    assert code == 2 and "missing.yaml" in err
    assert sorted(p.name for p in workdir.path.iterdir()) == ["mlconnector.yaml"]


def test_a_missing_credential_names_the_variable_and_the_command(cli, workdir) -> None:
    code, out, err = cli("sync", PAIR, env={"MLCONNECTOR_SAGE300_PASSWORD": None})
    assert code == 3
    assert "MLCONNECTOR_SAGE300_PASSWORD" in err
    assert "mlconnector credentials set sage300" in err
    assert not workdir.state_path.exists()
    code, out, err = cli("ping", "procore", env={"MLCONNECTOR_PROCORE_CLIENT_ID": None,
                                                 "MLCONNECTOR_PROCORE_CLIENT_SECRET": None})
    assert code == 3
    assert "MLCONNECTOR_PROCORE_CLIENT_ID" in err and "client_secret" in err
    assert "mlconnector credentials set procore" in err


def test_credentials_show_says_where_never_what(cli, sandbox) -> None:
    code, out, err = cli("credentials", "show", "sage300")
    assert code == 0, err
    assert "password" in out and "env" in out and "MLCONNECTOR_SAGE300_PASSWORD" in out
    code, out, err = cli("credentials", "show", "procore", "--json")
    assert code == 0, err
    shown = {s["field"]: s for s in json.loads(out)}
    assert shown["client_id"]["source"] == shown["client_secret"]["source"] == "env"
    assert shown["client_secret"]["env_var"] == "MLCONNECTOR_PROCORE_CLIENT_SECRET"


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_credentials_set_prompts_on_the_terminal_without_echo(cli, sandbox, workdir) -> None:
    """At a terminal the secret is typed at a prompt that does not echo it back."""
    import pty
    import select

    env = cli.env({"MLCONNECTOR_SAGE300_PASSWORD": None, "MLCONNECTOR_PASSPHRASE": PASSPHRASE})
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "mlconnector", "credentials", "set", "sage300", "--store", "file"],
                            cwd=cli.cwd, env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    seen = b""

    def read_until(marker: bytes) -> None:
        nonlocal seen
        while marker not in seen:
            ready, _, _ = select.select([master], [], [], 30)
            assert ready, f"no {marker!r} in {seen!r}"
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                return
            if not chunk:
                return
            seen += chunk

    try:
        read_until(b"sage300 password:")
        os.write(master, sandbox.sage300.password.encode() + b"\n")
        read_until(b"stored in file")
        proc.wait(timeout=30)
    finally:
        os.close(master)
    assert proc.returncode == 0, seen
    assert sandbox.sage300.password.encode() not in seen  # not echoed
    assert b"sage300 password: stored in file" in seen


def test_credentials_in_the_encrypted_file(cli, sandbox, workdir, tmp_path) -> None:
    env = {"MLCONNECTOR_SAGE300_PASSWORD": None, "MLCONNECTOR_PROCORE_CLIENT_ID": None,
           "MLCONNECTOR_PROCORE_CLIENT_SECRET": None, "MLCONNECTOR_PASSPHRASE": PASSPHRASE}
    store = tmp_path / "isolated" / "credentials.enc"

    code, out, err = cli("credentials", "set", "sage300", env=env, input=sandbox.sage300.password + "\n")
    assert code == 0, err
    assert "sage300 password: stored in file" in out
    code, out, err = cli("credentials", "set", "procore", env=env,
                         input=f"{sandbox.procore.client_id}\n{sandbox.procore.client_secret}\n")
    assert code == 0, err
    assert "client_id: stored in file" in out and "client_secret: stored in file" in out
    assert store.exists()
    assert (store.stat().st_mode & 0o077) == 0  # owner only
    raw = store.read_bytes()
    for secret in (sandbox.sage300.password, sandbox.procore.client_id, sandbox.procore.client_secret):
        assert secret.encode() not in raw

    code, out, err = cli("credentials", "show", "sage300", "--json", env=env)
    assert code == 0, err
    (shown,) = json.loads(out)
    assert shown["source"] == "file" and str(store) in shown["detail"]

    # The stored secrets work: a whole sync from the file backend alone.
    code, out, err = cli("sync", PAIR, env=env)
    assert code == 1, err
    assert "create=78" in out
    # Without the passphrase the file cannot be opened: exit 3, saying so.
    code, out, err = cli("ping", "sage300", env={**env, "MLCONNECTOR_PASSPHRASE": None})
    assert code == 3 and "MLCONNECTOR_PASSPHRASE" in err

    code, out, err = cli("credentials", "delete", "sage300", env=env)
    assert code == 0, err
    assert "sage300 password: deleted from file" in out
    code, out, err = cli("credentials", "show", "sage300", env=env)
    assert code == 3 and "MISSING" in out
    code, out, err = cli("credentials", "show", "procore", env=env)
    assert code == 0 and "file" in out  # the other system's secrets are still there


# -- the rest of the surface ----------------------------------------------------------------------


COMMANDS = [
    (), ("ping",), ("sync",), ("status",), ("audit",), ("demo",), ("credentials",), ("credentials", "set"),
    ("credentials", "show"), ("credentials", "delete"), ("mappings",), ("mappings", "link"),
    ("mappings", "unlink"), ("mappings", "list"),
]


def test_every_command_has_help(run_cli) -> None:
    running = [(command, run_cli.start(*command, "--help")) for command in COMMANDS]
    for command, proc in running:
        code, out, err = run_cli.finish(proc)
        assert code == 0, (command, err)
        assert "Usage: mlconnector" in out and "--help" in out, command
    helps = {command: result.stdout for (command, _), result in zip(running, run_cli.results)}
    assert "--dry-run" in helps[("sync",)] and "--full" in helps[("sync",)] and "--stream" in helps[("sync",)]
    assert "--run" in helps[("audit",)] and "--record" in helps[("audit",)] and "--json" in helps[("audit",)]
    assert "--json" in helps[("status",)]
    for command in ("ping", "sync", "status", "audit", "credentials", "mappings", "demo"):
        assert command in helps[()]


def test_version(run_cli) -> None:
    from mlconnector import __version__

    code, out, err = run_cli("--version")
    assert code == 0, err
    assert out.strip() == f"mlconnector {__version__}"


def test_demo_creates_then_writes_nothing(run_cli, tmp_path) -> None:
    """The demo imports the mapping tables, syncs twice, shows the quarantine, imports the missing
    cost-code mapping and replays a PO; its second sync sends no write at all."""
    from mlconnector.state import open_state

    code, out, err = run_cli("demo", "--vendors", "60", "--keep", str(tmp_path / "demo"))
    assert code == 0, err
    imports, rest = out.split("— first sync")
    assert "projects.csv" in imports and "costcodes.csv" in imports and "costcodes-extra.csv" not in imports
    first, rest = rest.split("— second sync")
    second, replay = rest.split("— import the missing mapping")
    for stream in ("vendors", "purchase_orders", "po_invoices"):
        run1 = re.search(rf"run 1 {stream}: create=(\d+) update=0 link=(\d+)", first)
        assert run1 and int(run1.group(1)) > 0, first
        assert re.search(rf"run 2 {stream}: create=0 update=0 link=0 ", second), second
    assert "quarantine: what could not go through, and what to do" in second
    assert "costcodes-extra.csv" in replay and re.search(r"replay of PO:PO\d+", replay)
    assert (tmp_path / "demo" / "mlconnector.yaml").exists()
    with open_state(tmp_path / "demo" / "mlconnector.db", readonly=True) as state:
        runs = sorted(state.runs(PAIR), key=lambda r: r.id)
        assert [r.exit_code for r in runs] == [1, 1, 1]  # the seed always leaves some records held
        # The second sync writes nothing: held records are tried again by reading only. The invoice on
        # the project without an open billing period stays held, saying what to do, without a create.
        events = state.audit(run_id=runs[1].id, limit=10_000)
        assert not [e for e in events if e.action not in ("skip", "quarantine")]
        no_period = [e for e in events if "has no open billing period" in (e.message or "")]
        assert [(e.stream, e.action) for e in no_period] == [("po_invoices", "quarantine")]
        assert f"`mlconnector replay INV:{no_period[0].source_key}` sends it" in no_period[0].message
        assert not [e for e in events if "Procore refused it" in (e.message or "")]
        writes = int(re.search(r"the second sync sent (\d+) Procore write requests", out).group(1))
        assert writes == 0
        # The replayed PO is in Procore now, out of quarantine; the one not replayed still waits.
        (replayed,) = state.audit(run_id=runs[2].id)
        assert (replayed.stream, replayed.action) == ("purchase_orders", "create") and replayed.target_id
        held = {(q.stream, q.source_key) for q in state.quarantined(PAIR)}
        assert ("purchase_orders", replayed.source_key) not in held
        assert any(stream == "purchase_orders" for stream, _ in held)
    assert f"PO:{replayed.source_key}" in replay


def test_piped_output_never_folds_a_long_line() -> None:
    """Cron mail and log files are searched with grep: a path in a title or message stays on one line."""
    import subprocess
    import sys

    long_path = "/srv/" + "deep/" * 60 + "costcodes-extra.csv"
    script = ("from mlconnector.cli import _output\n"
              f"_output.table('pair: {long_path}', ['kind', 'rows'], [['costcodes', 3]])\n"
              f"_output.info('read {long_path}')\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    assert f"pair: {long_path}" in lines and f"read {long_path}" in lines
