"""The lines that schedule a pair's sync: a crontab entry and a Windows `schtasks /Create` command.

Both run this very program (the frozen binary, or the installed console script) with absolute
paths to the configuration and a log file, because neither cron nor Task Scheduler starts in
the directory the user was in when they set it up.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from mlconnector.errors import UsageError

# schtasks refuses a /TR value longer than this (the task's command line).
SCHTASKS_TR_LIMIT = 261
_EVERY = re.compile(r"(\d{1,4})\s*(m|min|h|d)\Z", re.IGNORECASE)


@dataclass(frozen=True)
class Interval:
    minutes: int

    @property
    def cron(self) -> str:
        """The five time fields. Cron steps restart every hour (or day), so only even splits."""
        if self.minutes < 60:
            return "* * * * *" if self.minutes == 1 else f"*/{self.minutes} * * * *"
        hours = self.minutes // 60
        if hours < 24:
            return "0 * * * *" if hours == 1 else f"0 */{hours} * * *"
        return "0 0 * * *"

    @property
    def schtasks(self) -> list[str]:
        if self.minutes < 60:
            return ["/SC", "MINUTE", "/MO", str(self.minutes)]
        if self.minutes < 24 * 60:
            return ["/SC", "HOURLY", "/MO", str(self.minutes // 60)]
        return ["/SC", "DAILY", "/ST", "00:00"]

    def __str__(self) -> str:
        if self.minutes % (24 * 60) == 0:
            return "day"
        if self.minutes % 60 == 0:
            return "hour" if self.minutes == 60 else f"{self.minutes // 60} hours"
        return "minute" if self.minutes == 1 else f"{self.minutes} minutes"


def parse_every(text: str) -> Interval:
    """``15m``, ``1h``, ``6h``, ``1d``: an interval cron can keep exactly."""
    match = _EVERY.match(text.strip())
    if not match:
        raise UsageError(f"--every {text!r}: write a number and a unit, such as 15m, 2h or 1d")
    n, unit = int(match.group(1)), match.group(2).lower()[0]
    if n == 0:
        raise UsageError(f"--every {text!r}: the interval must be more than zero")
    if unit == "m" and n < 60:
        if 60 % n:
            raise UsageError(f"--every {text!r}: cron can only repeat minutes that divide an hour evenly "
                             "(1, 2, 3, 4, 5, 6, 10, 12, 15, 20 or 30); pick one of those, or hours")
        return Interval(n)
    minutes = n * {"m": 1, "h": 60, "d": 24 * 60}[unit]
    if minutes % 60:
        raise UsageError(f"--every {text!r}: above an hour, use whole hours (such as 2h)")
    hours = minutes // 60
    if hours < 24 and 24 % hours:
        raise UsageError(f"--every {text!r}: cron can only repeat hours that divide a day evenly "
                         "(1, 2, 3, 4, 6, 8 or 12); pick one of those, or 1d")
    if hours > 24:
        raise UsageError(f"--every {text!r}: at most once a day (1d)")
    return Interval(minutes)


def program() -> list[str]:
    """How to start this mlconnector from a scheduler: the binary, or the console script."""
    if getattr(sys, "frozen", False):
        return [str(Path(sys.executable).resolve())]
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if script is not None and script.name.lower().startswith("mlconnector") and script.exists():
        return [str(script.resolve())]
    # `python -m mlconnector`: the interpreter of this environment, then the module. Not resolved:
    # a virtual environment's python is a symlink, and its target is outside the environment.
    return [str(Path(sys.executable).absolute()), "-m", "mlconnector"]


@dataclass(frozen=True)
class Schedule:
    pair: str
    every: Interval
    command: list[str]  # the sync command line, program first
    cron_line: str
    schtasks: str
    schtasks_too_long: bool


def build(pair: str, every: Interval, *, config: Path, log_file: Path, prog: list[str] | None = None) -> Schedule:
    """The crontab line and the schtasks command that run ``sync <pair>`` every ``every``."""
    command = [*(prog or program()), "--config", str(config), "--log-file", str(log_file), "sync", pair]
    # Output goes to the log file; cron would otherwise mail every run's output to the user.
    cron_command = shlex.join(command).replace("%", r"\%")  # cron turns an unescaped % into a newline
    cron_line = f"{every.cron} {cron_command} >/dev/null 2>&1"
    task_run = subprocess.list2cmdline(command)
    task = ["schtasks", "/Create", "/TN", f"mlconnector\\{pair}", *every.schtasks, "/TR", task_run,
            "/RU", _windows_account(), "/RP", "*", "/F"]
    return Schedule(pair, every, command, cron_line, subprocess.list2cmdline(task),
                    len(task_run) > SCHTASKS_TR_LIMIT)


def _windows_account() -> str:
    import getpass
    import os

    user = os.environ.get("USERNAME") or getpass.getuser()
    domain = os.environ.get("USERDOMAIN")
    return f"{domain}\\{user}" if domain else user


CRON_NOTES = (
    "cron starts with almost no environment and no D-Bus session, so the OS keyring is out of reach. "
    "Give the job its secrets through MLCONNECTOR_<SYSTEM>_<FIELD> variables, or through the encrypted "
    "file: `mlconnector credentials set <system> --store file`, with the passphrase in a file only this "
    "account can read, named at the top of the crontab: MLCONNECTOR_PASSPHRASE_FILE=/path/to/passphrase "
    "(chmod 600).",
    "Install the line with `crontab -e` as the account that owns the configuration and state file.",
)

WINDOWS_NOTES = (
    "Windows Credential Manager keeps secrets per user. A task that runs as another account, or as "
    "SYSTEM (LocalSystem), cannot see the entries saved by the user who ran `mlconnector credentials "
    "set`: the sync then fails with exit 3 and 'missing credential'.",
    "Fix: run the task as the account that stored the credentials (the /RU above; /RP * asks for its "
    "password once, so the task runs whether or not that user is logged on — do not tick \"Do not "
    "store password\", which leaves the task without access to Credential Manager). Or store them "
    "as the task's account: runas /user:DOMAIN\\svc-mlconnector \"<this program> --config <config> "
    "credentials set <system>\". Check with `mlconnector doctor` run as that account.",
)
