"""Secrets, continued (DESIGN.md §6; issue 4 §6 "the whole suite's flows at debug log level"):
the flows tests/ops/test_secrets_scan.py leaves out, each run at ``--log-level debug`` with every
secret value known, and their output, log files, exported files and state files scanned for
those values (plain, URL-encoded and base64) and for every access token and session id the
simulators handed out. Zero occurrences.

- sage300-procore: `mappings import` (with and without --offline, and --dry-run), `mappings
  export` (to stdout and to a file), `mappings list` (links and tables), `mappings link vendor`
  and `unlink`, `sync --dry-run`, `sync`, `quarantine discard`, `replay`, `doctor`, `schedule
  show`, and a sync with `--log-file` and `--log-format json` (the log file is scanned too);
- `demo --vendors 30` in a child process whose sandbox secrets are recorded by a bootstrap (the
  demo makes its own sandbox, with credentials nobody outside the process knows);
- procore-intacct: `mappings import`, `ping`, `sync`, `audit` and `quarantine list` (the tests of
  tests/intacct_pair scan raw values only; here the encoded forms and XML-escaped forms too).

Every access token and session id is caught when it is made (the simulators' ``secrets`` module
is wrapped), not only those still valid at the end.
"""

from __future__ import annotations

import base64
import html
import json
import secrets as real_secrets
import subprocess
import sys
from pathlib import Path

import pytest

from mlconnector.sandbox import DATA_DIR, Sandbox

from .conftest import ALL_STREAMS, PAIR
from .test_secrets_scan import _forms, count_in

pytestmark = pytest.mark.e2e

INTACCT_PAIR = "procore-intacct"
# The sizes (bytes of entropy) of what the simulators hand out and must stay secret: Procore
# client ids and secrets (32) and access tokens (48), Intacct session ids (24). Intacct's
# 18-byte values are its passwords (in credentials_env) and paging cursors (not secret).
SECRET_SIZES = (24, 32, 48)


class _RecordingSecrets:
    """Stands in for the ``secrets`` module of the simulators and records every token they make."""

    def __init__(self, sink: list[str]) -> None:
        self.sink = sink

    def __getattr__(self, name: str):
        return getattr(real_secrets, name)

    def token_urlsafe(self, nbytes=None):
        value = real_secrets.token_urlsafe(nbytes)
        if nbytes in SECRET_SIZES:
            self.sink.append(value)
        return value


@pytest.fixture
def handed_out(monkeypatch) -> list[str]:
    """Every access token and session id the simulators of this test hand out."""
    import mlconnector.sandbox.intacct as intacct_module
    import mlconnector.sandbox.procore as procore_module

    sink: list[str] = []
    monkeypatch.setattr(procore_module, "secrets", _RecordingSecrets(sink))
    monkeypatch.setattr(intacct_module, "secrets", _RecordingSecrets(sink))
    return sink


def _all_forms(values) -> set[str]:
    """Each value plain, URL-encoded, base64 and XML-escaped (as in an Intacct request); of a long
    one (tokens, client ids) also its first 20 characters: a token cut short must not show either."""
    found: set[str] = set()
    for value in values:
        found |= _forms(value) | {html.escape(value)} | ({value[:20]} if len(value) >= 32 else set())
    return found


def _sandbox_values(sandbox: Sandbox, tokens: list[str]) -> list[str]:
    sage = sandbox.sage300
    basic = base64.b64encode(f"{sage.username}:{sage.password}".encode()).decode()
    return [*sandbox.credentials_env().values(), basic, *tokens]


def _scan(secrets: set[str], outputs: dict[str, str], paths: list[Path]) -> dict[str, dict[str, int]]:
    """Occurrences of each secret form per place; prints the totals."""
    found = {where: count_in(text.encode("utf-8", "replace"), secrets) for where, text in outputs.items()}
    for path in paths:
        found[str(path)] = count_in(path.read_bytes(), secrets)
    leaks = {where: hits for where, hits in found.items() if hits}
    print(f"\nsecret values scanned: {len(secrets)}; places: {len(found)}; value x place checks: "
          f"{len(secrets) * len(found)}; occurrences: {sum(sum(h.values()) for h in leaks.values())}")
    return leaks


def _state_files(directory: Path, stem: str) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.name.startswith(stem))


# -- sage300-procore ----------------------------------------------------------------------------


def test_mappings_sync_quarantine_doctor_schedule_and_log_file_at_debug_level(
        run_cli, sandbox, workdir, tmp_path, handed_out) -> None:
    # Every stream on; the mapping tables are imported below, by the CLI.
    sandbox.procore.set_rate_limits(spike=100_000, hourly=1_000_000)
    workdir.write_config(sandbox.config_yaml(workdir.state_path, ALL_STREAMS))

    def cli(*args, **kw):
        return run_cli("--log-level", "debug", *args, **kw)

    projects, costcodes = str(DATA_DIR / "projects.csv"), str(DATA_DIR / "costcodes.csv")
    for args in ((projects, "--dry-run"), (projects,), (costcodes,), (projects, "--offline"),
                 (costcodes, "--offline"), (costcodes, "--offline", "--dry-run")):
        code, _out, err = cli("mappings", "import", *args)
        assert code == 0, (args, err)
    assert "DEBUG" in run_cli.results[1].stderr  # debug output was on (an online check talks to Procore)
    exported = tmp_path / "exported-costcodes.csv"
    for args in (("projects",), ("costcodes",), ("costcodes", "-o", str(exported))):
        assert cli("mappings", "export", *args).code == 0, args
    assert exported.read_text(encoding="utf-8").count("\n") > 1

    code, _out, err = cli("sync", PAIR, "--dry-run")
    assert code in (0, 1), err
    code, _out, err = cli("sync", PAIR)
    assert code == 1, err  # the seed holds records back by design

    for args in (("mappings", "list"), ("mappings", "list", "--json"), ("mappings", "list", "--kind", "projects"),
                 ("mappings", "list", "--kind", "costcodes", "--json"), ("quarantine", "list")):
        assert cli(*args).code == 0, args
    links = json.loads(cli("mappings", "list", "--json", "--stream", "vendors").stdout)
    assert links
    vendor = links[0]
    assert cli("mappings", "unlink", "vendor", vendor["source_key"]).code == 0
    assert cli("mappings", "link", "vendor", vendor["source_key"], str(vendor["target_id"])).code == 0
    code, _out, err = cli("mappings", "link", "vendor", "NO-SUCH-VENDOR", str(vendor["target_id"]))
    assert code == 2, err  # the target is taken: refused, with the message naming both

    held = json.loads(cli("quarantine", "list", "--json").stdout)
    assert len(held) >= 2
    assert cli("quarantine", "discard", str(held[0]["id"])).code == 0
    assert cli("replay", held[1]["record"]).code in (0, 1)

    code, _out, err = cli("doctor")
    assert code in (0, 3), err
    assert cli("doctor", "--json").code in (0, 3)
    log_file = workdir.path / "logs" / "sync.log"
    log_file.parent.mkdir()
    code, out, err = cli("--log-file", str(log_file.with_name("scheduled.log")), "schedule", "show", PAIR)
    assert code == 0 and "scheduled.log" in out, err
    code, _out, err = cli("--log-file", str(log_file), "--log-format", "json", "sync", PAIR)
    assert code == 1, err
    code, _out, err = cli("--log-file", str(log_file), "--log-format", "json", "sync", PAIR, "--full")
    assert code == 1, err
    logged = [json.loads(line) for line in log_file.read_text(encoding="utf-8").splitlines()]  # one object a line
    assert {"debug", "warning"} <= {entry["level"] for entry in logged}  # debug lines and the run summaries
    assert sum(entry.get("event") == "run_summary" for entry in logged) == 2

    values = _sandbox_values(sandbox, handed_out)
    assert len(handed_out) >= 3, "the runs must have been handed access tokens"
    secrets = _all_forms(values)
    outputs = {f"output of run {i}": r.stdout + r.stderr for i, r in enumerate(run_cli.results)}
    places = [*_state_files(workdir.path, "state.db"), *sorted(log_file.parent.iterdir()), exported,
              workdir.config_path]
    assert _scan(secrets, outputs, places) == {}


def test_a_token_answer_cut_short_is_never_quoted(run_cli, sandbox, workdir, handed_out) -> None:
    """The token endpoint answers 200 with its JSON cut in half, or with text: the access token it
    made (valid, unknown to the redactor) must not appear in the error, at debug level or not."""
    from mlconnector.sandbox._faults import FaultPlan

    for kinds in (("truncated",), ("text",)):
        sandbox.procore.set_fault_plan(FaultPlan(garbage_rate=1, garbage_kinds=kinds, path_prefix="/oauth/"))
        for args in (("ping", "procore"), ("--log-level", "debug", "sync", PAIR)):
            code, _out, err = run_cli(*args)
            assert code == 3, err
            assert "the token endpoint answered HTTP 200 without a token" in err and "not shown" in err, err
    assert len(handed_out) == len(run_cli.results) == 4  # each run was handed a token, in an answer cut short
    outputs = {f"output of run {i}": r.stdout + r.stderr for i, r in enumerate(run_cli.results)}
    assert _scan(_all_forms(_sandbox_values(sandbox, handed_out)), outputs, []) == {}


# -- demo ---------------------------------------------------------------------------------------

# Runs `mlconnector ...` as `python -m mlconnector` does, after wrapping the sandbox so that the
# secrets of every Sandbox the process makes (and every token its simulators hand out) are written
# to $MLC_TEST_DEMO_SECRETS when the process exits.
_DEMO_BOOT = r"""
import atexit, base64, json, os, secrets as real, sys
import mlconnector.sandbox._sandbox as sandbox_module
import mlconnector.sandbox.intacct as intacct_module
import mlconnector.sandbox.procore as procore_module

handed = []

class Recording:
    def __getattr__(self, name):
        return getattr(real, name)

    def token_urlsafe(self, nbytes=None):
        value = real.token_urlsafe(nbytes)
        if nbytes in (24, 32, 48):
            handed.append(value)
        return value

procore_module.secrets = intacct_module.secrets = Recording()
made = []
original_init = sandbox_module.Sandbox.__init__

def recording_init(self, *args, **kwargs):
    original_init(self, *args, **kwargs)
    made.append(self)

sandbox_module.Sandbox.__init__ = recording_init

@atexit.register
def dump():
    values = list(handed)
    for sb in made:
        values += list(sb.credentials_env().values())
        values.append(base64.b64encode(f"{sb.sage300.username}:{sb.sage300.password}".encode()).decode())
    with open(os.environ["MLC_TEST_DEMO_SECRETS"], "w", encoding="utf-8") as fh:
        json.dump({"sandboxes": len(made), "tokens": len(handed), "values": values}, fh)

sys.argv[0] = "mlconnector"
from mlconnector.cli import main
main()
"""


def test_demo_at_debug_level_shows_none_of_its_sandbox_secrets(run_cli, tmp_path) -> None:
    keep, record = tmp_path / "demo", tmp_path / "demo-secrets.json"
    proc = subprocess.run(
        [sys.executable, "-c", _DEMO_BOOT, "--log-level", "debug", "demo", "--vendors", "30", "--keep", str(keep)],
        cwd=tmp_path, env=run_cli.env({"MLC_TEST_DEMO_SECRETS": str(record)}), capture_output=True, text=True,
        encoding="utf-8", errors="replace", timeout=120, start_new_session=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "DEBUG" in proc.stderr and "second sync" in proc.stdout
    recorded = json.loads(record.read_text(encoding="utf-8"))
    assert recorded["sandboxes"] == 1 and recorded["tokens"] >= 3  # client id, secret and >= 1 access token
    secrets = _all_forms(recorded["values"])
    places = [*_state_files(keep, "mlconnector.db"), keep / "mlconnector.yaml"]
    assert _scan(secrets, {"demo stdout": proc.stdout, "demo stderr": proc.stderr}, places) == {}


# -- procore-intacct ----------------------------------------------------------------------------


def test_intacct_pair_at_debug_level_in_every_encoded_form(run_cli, tmp_path, monkeypatch, handed_out) -> None:
    work = tmp_path / "intacct"
    work.mkdir()
    run_cli.cwd = work
    with Sandbox(pair=INTACCT_PAIR, vendors=24) as sandbox:
        sandbox.procore.set_rate_limits(spike=10_000)
        (work / "mlconnector.yaml").write_text(sandbox.config_yaml(work / "state.db"), encoding="utf-8")
        for name, value in sandbox.credentials_env().items():
            monkeypatch.setenv(name, value)

        def cli(*args):
            return run_cli("--log-level", "debug", *args)

        for name, extra in (("intacct-projects.csv", ()), ("glaccounts.csv", ()),
                            ("intacct-projects.csv", ("--offline",)), ("glaccounts.csv", ("--offline",))):
            code, _out, err = cli("mappings", "import", str(DATA_DIR / name), "--pair", INTACCT_PAIR, *extra)
            assert code == 0, (name, extra, err)
        for args in (("ping", "intacct"), ("ping", "procore"), ("sync", INTACCT_PAIR, "--dry-run"),
                     ("sync", INTACCT_PAIR), ("audit", "--limit", "1000"), ("quarantine", "list"), ("status",),
                     ("mappings", "export", "glaccounts", "--pair", INTACCT_PAIR), ("doctor",)):
            code, _out, err = cli(*args)
            assert code in (0, 1), (args, err)
            if args[0] in ("ping", "sync", "doctor"):
                assert "DEBUG mlconnector" in err, args  # debug output was on
        values = [*sandbox.credentials_env().values(), *handed_out]
    sessions = [v for v in handed_out if len(v) == 32]  # 24 bytes of entropy -> 32 characters
    assert sessions, "the runs must have opened Intacct sessions"
    secrets = _all_forms(values)
    outputs = {f"output of run {i}": r.stdout + r.stderr for i, r in enumerate(run_cli.results)}
    assert _scan(secrets, outputs, _state_files(work, "state.db")) == {}
