"""procore-intacct through the CLI as a user (or cron) runs it: `python -m mlconnector ...` in a
child process, talking over real HTTP to the Procore and Intacct simulators in this process.

The working directory starts with only ``mlconnector.yaml`` and the credentials in the
environment: the mapping tables are imported with `mlconnector mappings import`, as the README
says to. Every test that uses ``cli`` ends by checking that no secret of the sandbox (the values
of ``credentials_env()``, Procore access tokens, Intacct session ids) appeared in any output or in
the state file.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator

import pytest

from mlconnector.errors import ExitCode
from mlconnector.sandbox import DATA_DIR, Sandbox
from tests.intacct_pair.conftest import PAIR, IntacctWork

pytestmark = pytest.mark.e2e

BILL_STREAMS = ("commitments", "requisitions", "payment_applications")
STREAMS = ("gl_accounts", "vendors", "vendor_changes", *BILL_STREAMS)
COUNTS = re.compile(rf"^(?:DRY RUN — nothing written\. )?{PAIR}(?: run (\d+))? (\w+): "
                    r"create=(\d+) update=(\d+) link=(\d+) skip=(\d+) quarantine=(\d+)$", re.MULTILINE)
ACTIONS = ("create", "update", "link", "skip", "quarantine")


# -- fixtures and helpers -------------------------------------------------------------------------


@pytest.fixture
def cli_work(tmp_path, intacct_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> IntacctWork:
    """Like ``work`` but with nothing imported and no state file: only the configuration, and the
    credentials in the environment (which the CLI children inherit)."""
    w = IntacctWork(tmp_path / "work", intacct_sandbox)
    w.path.mkdir()
    w.write_config()
    for name, value in intacct_sandbox.credentials_env().items():
        monkeypatch.setenv(name, value)
    return w


def sandbox_secrets(sandbox: Sandbox) -> list[str]:
    """Every secret of the sandbox that a run could leak: the credentials handed to mlconnector,
    and what the simulators handed out in exchange (Procore access tokens, Intacct session ids).
    Call it after the runs, so their tokens and sessions are in."""
    with sandbox.procore.lock:
        tokens = list(sandbox.procore._tokens)
    with sandbox.intacct.lock:
        sessions = list(sandbox.intacct._sessions)
    return [*sandbox.credentials_env().values(), *tokens, *sessions]


@pytest.fixture
def cli(run_cli, cli_work: IntacctWork, intacct_sandbox: Sandbox, assert_no_secret) -> Iterator:
    """run_cli in the work directory (./mlconnector.yaml is found); afterwards, no secret in any
    output of the test nor in clear in the state file (with the Intacct secrets)."""
    run_cli.cwd = cli_work.path
    yield run_cli
    secrets = sandbox_secrets(intacct_sandbox)
    assert len(secrets) >= 5
    assert_no_secret(secrets, run_cli.results, cli_work.path)


def import_mappings(cli, *names: str) -> None:
    for name in names:
        code, _out, err = cli("mappings", "import", str(DATA_DIR / name), "--pair", PAIR, "--offline")
        assert code == 0, err


def sync_counts(out: str) -> dict[str, dict[str, int]]:
    """Per stream, the counts `sync` printed on its plain (piped) lines."""
    found = {m.group(2): dict(zip(ACTIONS, map(int, m.groups()[2:]), strict=True)) for m in COUNTS.finditer(out)}
    assert found, f"no per-stream counts in:\n{out}"
    return found


def writes(server) -> int:
    with server.lock:
        return sum(1 for r in server.requests if r.is_write)


def commitment_record_id(commitment: dict) -> str:
    return f"COMMITMENT:{commitment['project']['id']}/{commitment['id']}"


def bills_by_record_id(sandbox: Sandbox) -> dict[str, dict]:
    return {b["RECORDID"]: b for b in sandbox.intacct.bills()}


def lines_of(bill: dict) -> list[dict]:
    """A bill's lines as posted (an update replaces them: their RECORDNOs change)."""
    return [{k: v for k, v in line.items() if k != "RECORDNO"} for line in bill["APBILLITEMS"]]


def first_sync(cli) -> str:
    import_mappings(cli, "intacct-projects.csv", "glaccounts.csv")
    code, out, err = cli("sync", PAIR)
    assert code == ExitCode.QUARANTINED, (code, out, err)
    return out


# -- ping -----------------------------------------------------------------------------------------


def test_ping_both_systems_says_what_it_reached(cli, intacct_sandbox) -> None:
    sandbox = intacct_sandbox
    code, out, err = cli("ping", "intacct")
    assert code == 0, err
    assert "ok" in out and re.search(r"\d+ ms", out)
    assert f"company {sandbox.intacct.company_id}, vendors: {len(sandbox.intacct.vendors())}" in out
    code, out, err = cli("ping", "intacct", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["ok"] is True and result["system"] == "intacct" and result["kind"] == "intacct"
    assert result["url"] == sandbox.intacct.url and isinstance(result["latency_ms"], int)

    code, out, err = cli("ping", "procore")
    assert code == 0, err
    assert re.search(r"\d+ ms", out)
    assert f"company {sandbox.procore.company_id} ({sandbox.procore.company_name})" in out


def test_ping_intacct_with_a_wrong_password_is_an_auth_error_without_any_password(cli, intacct_sandbox) -> None:
    wrong = "Wr0ng-Intacct-Pa55word!x"
    for args in (("ping", "intacct"), ("--log-level", "debug", "ping", "intacct")):
        code, out, err = cli(*args, env={"MLCONNECTOR_INTACCT_USER_PASSWORD": wrong})
        assert code == ExitCode.FATAL, (args, code, out, err)  # README: 3 = bad credentials
        assert "Traceback" not in err
        assert re.search(r"^error: intacct: ", err, re.MULTILINE), err  # names the system
        assert "Sign-in information is incorrect" in err
        assert "mlconnector credentials set intacct" in err
        for secret in (wrong, intacct_sandbox.intacct.sender_password, intacct_sandbox.intacct.user_password):
            assert secret not in out + err, f"a password is in the output of {args}:\n{out}{err}"
    assert intacct_sandbox.intacct.logins == 0 and intacct_sandbox.intacct.sessions_created == 0


# -- sync, audit, quarantine ----------------------------------------------------------------------


def test_sync_after_importing_the_mappings_then_a_second_sync_writes_nothing(cli, intacct_sandbox, cli_work) -> None:
    sandbox = intacct_sandbox
    code, out, err = cli("mappings", "import", str(DATA_DIR / "intacct-projects.csv"), "--pair", PAIR, "--offline")
    assert code == 0, err
    assert "intacct_projects" in out and "read 3 rows" in out
    code, out, err = cli("mappings", "import", str(DATA_DIR / "glaccounts.csv"), "--pair", PAIR, "--offline")
    assert code == 0, err
    assert "glaccounts" in out and "read 9 rows" in out

    code, out, err = cli("sync", PAIR)
    assert code == ExitCode.QUARANTINED, (code, out, err)  # the unmapped cost code, the Procore-only vendor
    counts = sync_counts(out)
    assert tuple(counts) == STREAMS
    summary = sandbox.seed_summary
    assert counts["gl_accounts"]["create"] == len(sandbox.intacct.records("GLACCOUNT"))
    assert counts["commitments"] == {"create": summary["commitments"] - 2, "update": 0, "link": 0, "skip": 0,
                                     "quarantine": 2}
    assert counts["requisitions"]["create"] == summary["requisitions_approved"]
    assert counts["payment_applications"]["create"] == summary["payment_applications"]
    assert sum(c["quarantine"] for c in counts.values()) == 2
    assert f"{PAIR} run 1 commitments: create={summary['commitments'] - 2} " in out
    assert re.search(r"^quarantined in [\d.]+ s \(procore: \d+ reads, \d+ writes, intacct: \d+ reads, \d+ writes\)$",
                     out, re.MULTILINE), out
    assert "2 records in quarantine: `mlconnector audit --run 1`" in err
    bills = sandbox.intacct.bills()
    assert len(bills) == sum(counts[s]["create"] for s in BILL_STREAMS)

    sandbox.procore.clear_requests()
    sandbox.intacct.clear_requests()
    code, out, err = cli("sync", PAIR)
    assert code == ExitCode.QUARANTINED, (code, out, err)
    second = sync_counts(out)
    assert tuple(second) == STREAMS
    for stream, by_action in second.items():
        assert by_action["create"] == by_action["update"] == by_action["link"] == 0, (stream, by_action)
    assert second["commitments"] == {"create": 0, "update": 0, "link": 0, "skip": summary["commitments"] - 2,
                                     "quarantine": 2}
    assert re.search(r"\(procore: \d+ reads, 0 writes, intacct: \d+ reads, 0 writes\)$", out, re.MULTILINE), out
    assert writes(sandbox.procore) == writes(sandbox.intacct) == 0
    assert sandbox.intacct.bills() == bills


def test_audit_lists_the_bills_and_quarantine_says_why(cli, intacct_sandbox) -> None:
    sandbox = intacct_sandbox
    first_sync(cli)
    bills = bills_by_record_id(sandbox)
    commitments = sandbox.procore.commitments()
    posted = {commitment_record_id(c): str(bills[f"PROCORE-CO-{c['id']}"]["RECORDNO"])
              for c in commitments if f"PROCORE-CO-{c['id']}" in bills}
    assert len(posted) == len(commitments) - 2

    code, out, err = cli("audit", "--pair", PAIR, "--json", "--limit", "1000")
    assert code == 0, err
    events = json.loads(out)
    created = {e["record"]: e["target_id"] for e in events if e["stream"] == "commitments" and e["action"] == "create"}
    assert created == posted  # each commitment's record id, and the RECORDNO of its bill
    subinv = {e["target_id"] for e in events if e["stream"] == "requisitions" and e["action"] == "create"}
    assert subinv == {str(b["RECORDNO"]) for r, b in bills.items() if r.startswith("PROCORE-SI-")}
    assert all(e["record"].startswith("SUBINV:") for e in events if e["stream"] == "requisitions")
    assert all(e["record"].startswith("PAYAPP:") for e in events if e["stream"] == "payment_applications")


    code, out, err = cli("quarantine", "list", "--json")
    assert code == 0, err
    held = json.loads(out)
    assert len(held) == 2 and {q["stream"] for q in held} == {"commitments"} and {q["pair"] for q in held} == {PAIR}
    unposted = {commitment_record_id(c) for c in commitments} - set(posted)
    assert {q["record"] for q in held} == unposted
    (cost_code,) = [q for q in held if "09-900" in q["reason"]]
    assert "cost code 09-900 / cost type" in cost_code["reason"] and "has no GL account mapping" in cost_code["reason"]
    assert "mlconnector mappings import glaccounts.csv" in cost_code["reason"]
    (vendor,) = [q for q in held if q is not cost_code]
    assert "Procore Only Drywall LLC" in vendor["reason"] and "linked to no Intacct vendor" in vendor["reason"]

    code, out, err = cli("quarantine", "list")
    assert code == 0, err
    assert "2 records in quarantine" in out
    assert all(q["record"] in out for q in held), out
    assert "09-900" in out and "Drywall" in out


def test_piped_audit_shows_each_bills_record_id_whole(cli, intacct_sandbox) -> None:
    """As piped to a log or cron mail: a bill's record id can be found (grep) and copied to `replay`
    (README: "plain lines when piped"; `replay --help`: record ids "shown by `audit`")."""
    first_sync(cli)
    bills = bills_by_record_id(intacct_sandbox)
    posted = [commitment_record_id(c) for c in intacct_sandbox.procore.commitments()
              if f"PROCORE-CO-{c['id']}" in bills]
    code, out, err = cli("audit", "--pair", PAIR, "--limit", "1000")
    assert code == 0, err
    assert "create" in out and "events" in out
    broken = [record for record in posted if record not in out]
    example = next((line for line in out.splitlines() if "COMMITMENT:" in line), "")
    assert not broken, (f"piped `mlconnector audit` folds {len(broken)} of {len(posted)} commitment record ids "
                        f"across table lines (e.g. {broken[0]!r} is printed as {example.strip()!r} + a "
                        "continuation line), so they cannot be grepped or copied to `replay`")


# -- replay ---------------------------------------------------------------------------------------


def test_replay_of_a_posted_commitment_posts_no_second_bill(cli, intacct_sandbox) -> None:
    sandbox = intacct_sandbox
    first_sync(cli)
    before = sandbox.intacct.bills()
    bills = bills_by_record_id(sandbox)
    commitment = next(c for c in sandbox.procore.commitments() if f"PROCORE-CO-{c['id']}" in bills)
    record_id = commitment_record_id(commitment)
    bill = bills[f"PROCORE-CO-{commitment['id']}"]

    code, out, err = cli("replay", record_id)
    assert code == 0, f"replay of a posted commitment exited {code}:\n{out}{err}"
    assert record_id in out
    after = sandbox.intacct.bills()
    assert len(after) == len(before)
    (again,) = [b for b in after if b["RECORDID"] == bill["RECORDID"]]
    assert again["RECORDNO"] == bill["RECORDNO"]  # the same bill, updated or unchanged
    assert lines_of(again) == lines_of(bill) and again["VENDORID"] == bill["VENDORID"]
    assert again["TOTALENTERED"] == bill["TOTALENTERED"]
    code, out, err = cli("quarantine", "list", "--json")
    assert record_id not in {q["record"] for q in json.loads(out)}


def test_replay_of_a_quarantined_commitment_after_importing_its_mapping_posts_it(cli, intacct_sandbox) -> None:
    sandbox = intacct_sandbox
    first_sync(cli)
    before = len(sandbox.intacct.bills())
    code, out, err = cli("quarantine", "list", "--json")
    (held,) = [q for q in json.loads(out) if "09-900" in q["reason"]]
    commitment_id = held["source_key"].rsplit("/", 1)[1]

    code, out, err = cli("replay", str(held["id"]))  # still unmapped: still held
    assert code == ExitCode.QUARANTINED, (code, out, err)
    assert f"PROCORE-CO-{commitment_id}" not in bills_by_record_id(sandbox)

    import_mappings(cli, "glaccounts-extra.csv")
    code, out, err = cli("replay", str(held["id"]))
    assert code == 0, (code, out, err)
    assert held["record"] in out and "create" in out
    bills = bills_by_record_id(sandbox)
    assert len(bills) == before + 1
    bill = bills[f"PROCORE-CO-{commitment_id}"]
    commitment = next(c for c in sandbox.procore.commitments() if str(c["id"]) == commitment_id)
    assert bill["DOCNUMBER"] == commitment["number"]
    painting = [line for line in bill["APBILLITEMS"] if line["TASKID"] == "09-900"]
    assert painting and all(line["ACCOUNTNO"] == "5300" for line in painting)
    code, out, err = cli("quarantine", "list", "--json")
    (left,) = json.loads(out)
    assert "Procore Only Drywall LLC" in left["reason"]


def test_a_commitment_edited_back_and_forth_updates_its_bill_every_time(cli, intacct_sandbox) -> None:
    """Procore title A (posted) -> B -> A -> B: after each sync the bill says what Procore says. An
    update's controlid must not repeat an earlier update's, or the gateway refuses it as already
    done while the bill holds other content."""
    sandbox = intacct_sandbox
    first_sync(cli)
    bills = bills_by_record_id(sandbox)
    commitment = next(c for c in sandbox.procore.commitments() if f"PROCORE-CO-{c['id']}" in bills)
    for step, title in enumerate(("Edited title B", "Original title A", "Edited title B"), 1):
        sandbox.procore.touch_commitment(commitment["id"], title=title)
        code, out, err = cli("sync", PAIR, "--stream", "commitments")
        assert code == ExitCode.QUARANTINED, (code, out, err)  # the two held from the first sync
        assert sync_counts(out)["commitments"]["update"] == 1, out
        description = bills_by_record_id(sandbox)[f"PROCORE-CO-{commitment['id']}"]["DESCRIPTION"]
        assert description.endswith(f": {title}"), (
            f"edit {step}: Procore says {title!r}, the sync reported update=1, but the Intacct bill says "
            f"{description!r} (the update's controlid repeated an earlier update's and was taken as done)")


# -- dry run --------------------------------------------------------------------------------------


def snapshot(sandbox: Sandbox) -> dict:
    intacct, procore = sandbox.intacct, sandbox.procore
    return copy.deepcopy({
        "intacct_bills": intacct.bills(), "intacct_vendors": intacct.vendors(),
        "procore_vendors": procore.vendors(), "procore_commitments": procore.commitments(),
        "procore_cost_codes": [(lst, procore.standard_cost_codes(lst["id"]))
                               for lst in procore.standard_cost_code_lists()],
    })


def test_dry_run_on_a_fresh_state_lists_the_plan_and_writes_nothing(cli, intacct_sandbox, cli_work) -> None:
    sandbox = intacct_sandbox
    before = snapshot(sandbox)
    code, out, err = cli("sync", PAIR, "--dry-run")
    assert code == ExitCode.QUARANTINED, (code, out, err)  # nothing mapped yet: the bills would wait
    assert "DRY RUN — nothing written" in out
    counts = sync_counts(out)
    assert tuple(counts) == STREAMS
    assert counts["gl_accounts"]["create"] == len(sandbox.intacct.records("GLACCOUNT"))
    assert counts["vendors"]["create"] + counts["vendors"]["link"] == len(sandbox.intacct.vendors())
    lines = out.splitlines()
    assert "plan gl_accounts 5000 create new" in lines
    assert any(line.startswith("plan vendors ") and " link " in line and "matched by name" in line for line in lines)
    assert any(line.startswith("plan vendors ") and line.endswith(" create new") for line in lines)
    assert sum(line.startswith("plan commitments ") for line in lines) == sandbox.seed_summary["commitments"]
    assert writes(sandbox.procore) == writes(sandbox.intacct) == 0
    assert snapshot(sandbox) == before
    assert sorted(p.name for p in cli_work.path.iterdir()) == ["mlconnector.yaml"]  # no state file


# -- secrets --------------------------------------------------------------------------------------


def test_debug_logging_never_shows_a_secret(cli, intacct_sandbox, cli_work) -> None:
    import_mappings(cli, "intacct-projects.csv", "glaccounts.csv")
    for args in (("ping", "intacct"), ("ping", "procore"), ("sync", PAIR), ("sync", PAIR, "--dry-run"),
                 ("status",), ("audit",), ("quarantine", "list")):
        code, _out, err = cli("--log-level", "debug", *args)
        assert code in (0, 1), (args, err)
    assert "DEBUG" in cli.results[2].stderr  # debug output was on
    assert cli_work.state_path.exists()
    assert len(sandbox_secrets(intacct_sandbox)) >= 7  # tokens and sessions handed out are checked too
    # the ``cli`` fixture checks every output and the state file for the sandbox's secrets


def test_demo_walks_the_intacct_pair(run_cli, tmp_path) -> None:
    """`demo --pair procore-intacct`: mappings, two syncs (the second writes nothing to Intacct),
    the quarantine, the missing GL mapping imported and a commitment replayed into a bill."""
    import re

    from mlconnector.state import open_state

    code, out, err = run_cli("demo", "--pair", "procore-intacct", "--vendors", "30", "--keep", str(tmp_path / "demo"))
    assert code == 0, err
    assert "intacct-projects.csv" in out and "glaccounts.csv" in out
    first, rest = out.split("— first sync", 1)[1].split("— second sync", 1)
    for stream in ("gl_accounts", "vendors", "commitments", "requisitions", "payment_applications"):
        assert re.search(rf"run 1 {stream}: create=[1-9]", first), (stream, first)
        assert re.search(rf"run 2 {stream}: create=0 update=0 link=0 ", rest), (stream, rest)
    assert "the second sync sent 0 Intacct write requests" in rest
    assert re.search(r"replay of COMMITMENT:\d+/\d+", rest)
    with open_state(tmp_path / "demo" / "mlconnector.db", readonly=True) as state:
        replayed = state.audit(pair="procore-intacct", limit=1)[0]
    assert replayed.stream == "commitments" and replayed.action == "create"
