"""`mlconnector schedule show`: the crontab line and the schtasks command, and that they work."""

from __future__ import annotations

import re
import shlex
import subprocess

import pytest

from mlconnector import schedule
from mlconnector.errors import UsageError

PAIR = "sage300-procore"


def _line(output: str, starts: str) -> str:
    found = [line.strip() for line in output.splitlines() if line.strip().startswith(starts)]
    assert len(found) == 1, output
    return found[0]


def test_show_prints_both_lines_with_absolute_paths(cli, workdir) -> None:
    result = cli("schedule", "show", PAIR, "--every", "15m")
    assert result.code == 0, result.stderr
    config = str(workdir.config_path.resolve())
    log = str(workdir.config_path.resolve().parent / f"{PAIR}.log")
    cron = _line(result.stdout, "*/15 * * * * ")
    assert cron.endswith(f"--config {config} --log-file {log} sync {PAIR} >/dev/null 2>&1")
    assert " -m mlconnector " in cron  # run from source: this interpreter, then the module
    task = _line(result.stdout, "schtasks /Create ")
    assert f"/TN mlconnector\\{PAIR} /SC MINUTE /MO 15 /TR " in task
    assert f"--config {config} --log-file {log} sync {PAIR}" in task and task.endswith("/RP * /F")
    # The Credential Manager caveat and its fix.
    out = " ".join(result.stdout.split())
    assert "LocalSystem" in out and "cannot see the entries" in out and "runas /user:" in out
    assert "Do not store password" in out and "MLCONNECTOR_PASSPHRASE_FILE" in out


def test_the_cron_command_runs_the_sync_and_logs_it(cli, workdir, tmp_path) -> None:
    """The printed line is not just text: its command, run by a shell as cron would, syncs the pair."""
    log = tmp_path / "cron" / "sync.log"
    result = cli("--log-file", str(log), "schedule", "show", PAIR)
    assert result.code == 0, result.stderr
    cron = _line(result.stdout, "*/15 * * * * ")
    command = cron.split(" ", 5)[5]
    assert command.endswith(" >/dev/null 2>&1") and f"--log-file {log}" in command
    proc = subprocess.run(["sh", "-c", command], cwd="/", env=cli.env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr  # the sandbox's ambiguous vendor waits in quarantine
    assert proc.stdout == "" and proc.stderr == ""  # cron would mail nothing
    assert re.search(r"sync summary: pair=sage300-procore run=1 exit=1 create=\d+", log.read_text(encoding="utf-8"))


@pytest.mark.parametrize("every, cron, task", [
    ("1m", "* * * * *", ["/SC", "MINUTE", "/MO", "1"]),
    ("5m", "*/5 * * * *", ["/SC", "MINUTE", "/MO", "5"]),
    ("30min", "*/30 * * * *", ["/SC", "MINUTE", "/MO", "30"]),
    ("60m", "0 * * * *", ["/SC", "HOURLY", "/MO", "1"]),
    ("1h", "0 * * * *", ["/SC", "HOURLY", "/MO", "1"]),
    ("6h", "0 */6 * * *", ["/SC", "HOURLY", "/MO", "6"]),
    ("24h", "0 0 * * *", ["/SC", "DAILY", "/ST", "00:00"]),
    ("1d", "0 0 * * *", ["/SC", "DAILY", "/ST", "00:00"]),
])
def test_intervals(every: str, cron: str, task: list[str]) -> None:
    interval = schedule.parse_every(every)
    assert interval.cron == cron and interval.schtasks == task


@pytest.mark.parametrize("every, why", [
    ("45m", "divide an hour evenly"),
    ("7h", "divide a day evenly"),
    ("90m", "whole hours"),
    ("0m", "more than zero"),
    ("2d", "at most once a day"),
    ("soon", "such as 15m"),
    ("15", "such as 15m"),
])
def test_intervals_cron_cannot_keep_are_refused(every: str, why: str) -> None:
    with pytest.raises(UsageError, match=why):
        schedule.parse_every(every)


def test_bad_interval_and_unknown_pair_exit_2(cli) -> None:
    result = cli("schedule", "show", PAIR, "--every", "45m")
    assert result.code == 2 and "divide an hour evenly" in result.stderr
    result = cli("schedule", "show", "sage300-procroe")
    assert result.code == 2 and "unknown pair 'sage300-procroe'" in result.stderr and "did you mean" in result.stderr


def test_paths_with_spaces_and_percent_are_quoted_for_each_scheduler(tmp_path) -> None:
    prog = [r"C:\Program Files\mlconnector\mlconnector.exe"]
    plan = schedule.build(PAIR, schedule.parse_every("15m"), config=tmp_path / "My Config" / "ml.yaml",
                          log_file=tmp_path / "100%" / "sync.log", prog=prog)
    # cron: shell words, and % (which cron turns into a newline) escaped.
    words = shlex.split(plan.cron_line.split(" ", 5)[5].replace(r"\%", "%"))
    assert words[:3] == [prog[0], "--config", str(tmp_path / "My Config" / "ml.yaml")]
    assert r"100\%" in plan.cron_line and "100%" not in plan.cron_line.replace(r"\%", "")
    # schtasks: /TR is one argument whose inner quotes are escaped as \" (what schtasks expects).
    assert r'/TR "\"C:\Program Files\mlconnector\mlconnector.exe\" --config ' in plan.schtasks
    assert not plan.schtasks_too_long


def test_a_task_command_over_261_characters_is_flagged(tmp_path) -> None:
    deep = tmp_path.joinpath(*["a-rather-long-folder-name"] * 8) / "ml.yaml"
    plan = schedule.build(PAIR, schedule.parse_every("15m"), config=deep, log_file=deep.with_suffix(".log"),
                          prog=["/opt/mlconnector/mlconnector"])
    assert plan.schtasks_too_long
