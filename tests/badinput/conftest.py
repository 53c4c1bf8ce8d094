"""Helpers for the bad-input corpus: a CLI runner whose back-off waits are recorded instead of
waited for (see _hook/sitecustomize.py), and loaders for the case tables of tests/config and
tests/mappings (reused here, run end to end through the CLI)."""

from __future__ import annotations

import importlib.util
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HOOK_DIR = Path(__file__).parent / "_hook"
TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent


def load_table_module(relative: str, name: str):
    """A test module of another folder, by path (tests/config is no package); the same module
    object pytest uses when it collects that folder too."""
    if name in sys.modules:
        return sys.modules[name]
    path = TESTS / relative
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float
    sleeps: list[float]  # the back-off waits the child asked for
    max_rss_mb: float  # the largest resident set of any child of this process so far

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_child(args: list[str], *, cwd: Path, env: dict[str, str], sleep_log: Path, timeout: float = 60) -> Run:
    """``python -m mlconnector ARGS`` as a user runs it, with back-off waits recorded."""
    child_env = {k: v for k, v in env.items()}
    child_env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(HOOK_DIR), env.get("PYTHONPATH", "")])
    child_env["MLC_TEST_SLEEP_LOG"] = str(sleep_log)
    child_env.pop("COLUMNS", None)
    sleep_log.unlink(missing_ok=True)
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "mlconnector", *args], cwd=cwd, env=child_env, input="",
                          capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=timeout, check=False,
                          start_new_session=True)
    seconds = time.monotonic() - start
    sleeps = [float(x) for x in sleep_log.read_text().split()] if sleep_log.exists() else []
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
    return Run(proc.returncode, proc.stdout, proc.stderr, seconds, sleeps, rss)


def isolated_env(tmp: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without MLCONNECTOR_* variables, the keyring off, and an
    encrypted-credentials file of its own (what tests/conftest.py's _isolate gives run_cli)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLCONNECTOR_")}
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
    env["MLCONNECTOR_CREDENTIALS_FILE"] = str(tmp / "isolated" / "credentials.enc")
    env.update(extra or {})
    return env


def tree(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` with its bytes (to prove a failed command wrote nothing)."""
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}
