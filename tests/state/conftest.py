from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mlconnector import redact
from mlconnector.state import open_state

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "state.db"


@pytest.fixture
def state(db_path: Path):
    st = open_state(db_path)
    yield st
    st.close()


@pytest.fixture(autouse=True)
def _clean_redactor():
    yield
    redact.forget_all()


def _raw_bytes(path: Path) -> bytes:
    """Everything SQLite has put on disk for this file: the database and its WAL."""
    out = b""
    for p in (path, Path(f"{path}-wal")):
        if p.exists():
            out += p.read_bytes()
    return out


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _run_child(code: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=timeout, env=child_env(),
    )


def _spawn_child(code: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(),
    )


@pytest.fixture
def raw_bytes():
    """Everything SQLite has put on disk for a state file (database + WAL)."""
    return _raw_bytes


@pytest.fixture
def run_child():
    """Run Python code in another process (PYTHONPATH set to the repo); returns CompletedProcess."""
    return _run_child


@pytest.fixture
def spawn_child():
    """Start Python code in another process; returns the Popen (stdout/stderr piped, text)."""
    started: list[subprocess.Popen[str]] = []

    def spawn(code: str) -> subprocess.Popen[str]:
        proc = _spawn_child(code)
        started.append(proc)
        return proc

    yield spawn
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)
