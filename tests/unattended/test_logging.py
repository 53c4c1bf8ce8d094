"""--log-file, --log-format json and the one-line run summary, as a scheduled run leaves them."""

from __future__ import annotations

import json
import logging
import os
import re
import stat

import pytest

from mlconnector import logs, redact

PAIR = "sage300-procore"
SUMMARY = re.compile(r"sync summary: pair=sage300-procore run=(\d+) exit=(\d) create=(\d+) update=(\d+) "
                     r"link=(\d+) skip=(\d+) quarantine=(\d+)")


def test_text_log_file_gets_one_summary_per_run(cli, workdir) -> None:
    log = workdir.path / "logs" / "sync.log"
    first = cli("--log-file", str(log), "sync", PAIR)
    second = cli("--log-file", str(log), "sync", PAIR)
    # The sandbox holds one ambiguous vendor: both runs quarantine it (exit 1).
    assert (first.code, second.code) == (1, 1), first.stderr + second.stderr
    lines = log.read_text(encoding="utf-8").splitlines()
    summaries = [SUMMARY.search(line) for line in lines if "sync summary" in line]
    assert [m is not None for m in summaries] == [True, True], lines
    run1, run2 = summaries
    assert (run1.group(1), run1.group(2), run1.group(7)) == ("1", "1", "1") and int(run1.group(3)) > 0
    assert (run2.group(1), run2.group(2), run2.group(3), run2.group(4)) == ("2", "1", "0", "0")  # nothing changed
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARNING mlconnector\.run: sync summary", lines[-1])
    assert "seconds=" in lines[-1]
    # The terminal showed the run its own way; the summary line is for the file only.
    assert "sync summary" not in first.output + second.output
    if os.name == "posix":
        assert stat.S_IMODE(log.stat().st_mode) == 0o600
        assert stat.S_IMODE(log.with_suffix(".log").stat().st_mode) == 0o600


def test_json_log_lines_parse_and_carry_the_summary(cli, workdir) -> None:
    log = workdir.path / "sync.jsonl"
    result = cli("--log-file", str(log), "--log-format", "json", "--log-level", "info", "sync", PAIR)
    assert result.code == 1, result.stderr  # the sandbox's ambiguous vendor
    entries = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert entries and all({"time", "level", "logger", "message", "pid"} <= set(e) for e in entries)
    summary = [e for e in entries if e.get("event") == "run_summary"]
    assert len(summary) == 1
    s = summary[0]
    assert (s["pair"], s["exit_code"], s["run_id"], s["level"], s["command"]) == (PAIR, 1, 1, "warning", "sync")
    assert set(s["counts"]) >= {"create", "update", "link", "skip", "quarantine"}
    assert s["counts"]["create"] > 0 and s["counts"]["quarantine"] == 1 and s["seconds"] > 0 and s["error"] is None
    # --log-level info reaches stderr as JSON too (for containers that collect stderr).
    stderr_entries = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert stderr_entries and not any(e.get("event") == "run_summary" for e in stderr_entries)


def test_failed_run_logs_the_error_and_summary_without_the_secret(cli, workdir, sandbox) -> None:
    log = workdir.path / "sync.log"
    wrong = "Wrong-Password-7781"
    result = cli("--log-file", str(log), "sync", PAIR, env={"MLCONNECTOR_SAGE300_PASSWORD": wrong})
    assert result.code == 3, result.output
    text = log.read_text(encoding="utf-8")
    assert "ERROR mlconnector.run: sync summary: pair=sage300-procore" in text and "exit=3" in text
    assert "error=" in text and "sage300" in text
    assert wrong not in text and wrong not in result.output


def test_config_error_is_logged_with_exit_2(run_cli, tmp_path) -> None:
    log = tmp_path / "sync.log"
    (tmp_path / "bad.yaml").write_text("systems:\n  sage300:\n    kind: sage3000\n", encoding="utf-8")
    result = run_cli("--config", "bad.yaml", "--log-file", str(log), "sync", PAIR)
    assert result.code == 2
    text = log.read_text(encoding="utf-8")
    assert "bad.yaml:3 [systems.sage300.kind]: unknown kind" in text
    assert "sync summary: pair=sage300-procore run=- exit=2" in text


def test_unwritable_log_file_is_a_usage_error(run_cli, tmp_path) -> None:
    (tmp_path / "adir").mkdir()
    result = run_cli("--log-file", str(tmp_path / "adir"), "status")
    assert result.code == 2
    assert "log" in result.stderr.lower() and "adir" in result.stderr


def test_rotation_by_size_keeps_five_files(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(logs, "MAX_BYTES", 2_000)
    path = tmp_path / "rot.log"
    logs.setup("warning", log_file=path)
    try:
        log = logging.getLogger("mlconnector.test")
        for i in range(400):
            log.info("line %04d %s", i, "x" * 60)
    finally:
        logs.setup("warning")  # close the file handler
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["rot.log", "rot.log.1", "rot.log.2", "rot.log.3", "rot.log.4", "rot.log.5"]
    assert all((tmp_path / f).stat().st_size <= 2_000 for f in files)
    assert "line 0399" in path.read_text(encoding="utf-8")  # the newest line is in the live file


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_secrets_are_scrubbed_from_message_fields_and_tracebacks(tmp_path, fmt) -> None:
    secret = "s3cr3t-Token-Value-99"
    redact.register(secret)
    path = tmp_path / "scrub.log"
    logs.setup("debug", log_file=path, fmt=fmt)
    try:
        log = logging.getLogger("mlconnector.test")
        log.info("token is %s", secret)
        log.info("fields", extra={"fields": {"url": f"https://x/?t={secret}", "nested": [secret]}})
        try:
            raise RuntimeError(f"failed with {secret}")
        except RuntimeError:
            log.exception("boom")
        logs.run_summary(command="sync", pair=PAIR, exit_code=3, seconds=1.0, error=f"bad {secret}")
    finally:
        logs.setup("warning")
    text = path.read_text(encoding="utf-8")
    assert secret not in text
    assert text.count("****") >= (5 if fmt == "json" else 3)  # text lines do not repeat the fields


def test_a_terminal_shows_live_counts_while_a_sync_runs(cli, workdir, sandbox) -> None:
    """The progress line: on a terminal a long sync shows its stream and counts as pages land
    (and clears it at the end); piped, as under cron, nothing of it is printed."""
    from mlconnector.sandbox._faults import parse_fault_spec

    sandbox.sage300.set_fault_plan(parse_fault_spec("latency=0.5,seed=1"))  # every Sage page takes a while
    result = cli.on_terminal("sync", PAIR)
    assert result.code == 1, result.stdout
    assert re.search(r"sync sage300-procore vendors: \d+ ", result.stdout)
    sandbox.sage300.set_fault_plan(None)
    piped = cli("sync", PAIR)
    assert "sync sage300-procore vendors:" not in piped.output


@pytest.mark.parametrize("option, value, says", [("--log-format", "xml", "unknown log format 'xml'; use text or json"),
                                                ("--log-level", "loud", "unknown log level 'loud'")])
def test_unknown_log_format_or_level_is_a_usage_error(run_cli, option, value, says) -> None:
    result = run_cli(option, value, "status")
    assert result.code == 2 and says in result.stderr
