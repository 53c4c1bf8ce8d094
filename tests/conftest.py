"""Shared fixtures: isolation from the developer's machine, a small sandbox, a working directory
with a configuration pointing at it, and a helper that runs the CLI as a user runs it.

Every test runs with the keyring disabled (``keyring.backends.null``, in this process and in
every child), an encrypted-credentials file path inside its own tmp_path, no ``MLCONNECTOR_*``
variable from the developer's shell, and a clean redactor afterwards. Tests marked
``keyring_backend`` keep keyring's own choice of backend (the real OS keyring).
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import keyring
import keyring.backends.null
import pytest

from mlconnector import redact
from mlconnector.sandbox import Sandbox

REPO = Path(__file__).resolve().parents[1]
PAIR = "sage300-procore"
NULL_KEYRING = "keyring.backends.null.Keyring"
SMALL_SANDBOX = 120  # vendors: enough for two Sage pages and every special case, fast to sync


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", default=False,
                     help="also run the tests marked slow (full-size fault and kill runs)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="full-size run: pass --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _isolate(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    opt_out = request.node.get_closest_marker("keyring_backend") is not None
    # Ask keyring for its backend before PYTHON_KEYRING_BACKEND is set: keyring picks its default
    # once per process, and a marked test later in the session must still get the real one.
    previous = keyring.get_keyring()
    for name in list(os.environ):
        if name.startswith("MLCONNECTOR_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MLCONNECTOR_CREDENTIALS_FILE", str(tmp_path / "isolated" / "credentials.enc"))
    if not opt_out:
        monkeypatch.setenv("PYTHON_KEYRING_BACKEND", NULL_KEYRING)
        keyring.set_keyring(keyring.backends.null.Keyring())
    try:
        yield
    finally:
        if not opt_out:
            keyring.set_keyring(previous)
        redact.forget_all()


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """Seeded Sage 300 and Procore simulators on 127.0.0.1, served for the test."""
    with Sandbox(vendors=SMALL_SANDBOX) as sb:
        yield sb
    assert sb.procore.unhandled_errors == [], "the Procore simulator hit a bug"
    assert sb.sage300.unhandled_errors == [], "the Sage 300 simulator hit a bug"


@dataclass
class Workdir:
    """A directory holding ``mlconnector.yaml`` for the sandbox; the state file goes next to it."""

    path: Path
    sandbox: Sandbox

    @property
    def config_path(self) -> Path:
        return self.path / "mlconnector.yaml"

    @property
    def state_path(self) -> Path:
        return self.path / "state.db"

    def write_config(self, text: str | None = None) -> Path:
        # The vendor tests run the vendors stream alone; purchase-order tests write their own.
        self.config_path.write_text(text if text is not None else self.sandbox.config_yaml(self.state_path, ("vendors",)),
                                    encoding="utf-8")
        return self.config_path

    def edit_config(self, old: str, new: str) -> Path:
        text = self.config_path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} is not in the configuration"
        return self.write_config(text.replace(old, new, 1))

    def config(self):
        from mlconnector.config import load_config

        return load_config(self.config_path)

    def sync(self, **options):
        """One library-level pass of the pair (what `mlconnector sync` runs)."""
        from mlconnector.engine.sync import sync_pair

        return sync_pair(self.config(), PAIR, **options)

    def state(self, *, readonly: bool = False):
        from mlconnector.state import open_state

        return open_state(self.state_path, readonly=readonly)


@pytest.fixture
def workdir(tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Workdir:
    """``mlconnector.yaml`` for the sandbox in tmp_path/work; its credentials in the environment."""
    work = Workdir(tmp_path / "work", sandbox)
    work.path.mkdir()
    work.write_config()
    for name, value in sandbox.credentials_env().items():
        monkeypatch.setenv(name, value)
    return work


class CliResult(NamedTuple):
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class CliRunner:
    """Runs ``python -m mlconnector ...`` in a child process, as a user (or cron) runs it.

    The child gets this process's environment (isolated by ``_isolate``, credentials set by
    ``workdir``) plus ``env`` (a value of None removes the variable), stdin from ``input``, no
    controlling terminal, and pipes for stdout and stderr. Every result is kept in ``results``
    so a test can check all output at once (e.g. for leaked secrets).
    """

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.results: list[CliResult] = []

    def env(self, overrides: dict[str, str | None] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
        env.pop("COLUMNS", None)
        env.pop("FORCE_COLOR", None)
        for name, value in (overrides or {}).items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return env

    def __call__(self, *args: str, env: dict[str, str | None] | None = None, input: str | None = None,
                 cwd: Path | None = None, timeout: float = 60) -> CliResult:
        proc = subprocess.run(
            [sys.executable, "-m", "mlconnector", *args],
            cwd=cwd or self.cwd, env=self.env(env), input=input if input is not None else "",
            capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=timeout,
            start_new_session=True,  # no controlling terminal: prompts read stdin, never /dev/tty
        )
        result = CliResult(proc.returncode, proc.stdout, proc.stderr)
        self.results.append(result)
        return result

    def on_terminal(self, *args: str, env: dict[str, str | None] | None = None, timeout: float = 60) -> CliResult:
        """Run with stdout and stderr on a pseudo-terminal (POSIX only), as a person at a shell
        sees it; both streams arrive together in ``stdout``."""
        import pty
        import select

        master, slave = pty.openpty()
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlconnector", *args], cwd=self.cwd,
            env=self.env({"TERM": "xterm-256color", "COLUMNS": "200", **(env or {})}),
            stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, start_new_session=True,
        )
        os.close(slave)
        chunks: list[bytes] = []
        try:
            while True:
                ready, _, _ = select.select([master], [], [], timeout)
                if not ready:
                    proc.kill()
                    raise TimeoutError(f"mlconnector {' '.join(args)} did not finish in {timeout} s")
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
        finally:
            os.close(master)
        proc.wait(timeout=timeout)
        result = CliResult(proc.returncode, b"".join(chunks).decode("utf-8", "replace"), "")
        self.results.append(result)
        return result

    def start(self, *args: str, env: dict[str, str | None] | None = None) -> subprocess.Popen[str]:
        """Start a child without waiting (for running many at once); ``finish`` collects it."""
        return subprocess.Popen(
            [sys.executable, "-m", "mlconnector", *args], cwd=self.cwd, env=self.env(env),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            encoding="utf-8", errors="replace", start_new_session=True,
        )

    def finish(self, proc: subprocess.Popen[str], timeout: float = 60) -> CliResult:
        stdout, stderr = proc.communicate(timeout=timeout)
        result = CliResult(proc.returncode, stdout, stderr)
        self.results.append(result)
        return result


@pytest.fixture
def run_cli(request: pytest.FixtureRequest, tmp_path: Path) -> CliRunner:
    """``run_cli(*args, env=..., input=...) -> (exit code, stdout, stderr)``; cwd is the workdir
    when the test uses one (so ./mlconnector.yaml is found), else tmp_path."""
    cwd = tmp_path / "work" if "workdir" in request.fixturenames else tmp_path
    return CliRunner(cwd)


def _sandbox_secrets(sandbox: Sandbox) -> list[str]:
    sage, procore = sandbox.sage300, sandbox.procore
    basic = base64.b64encode(f"{sage.username}:{sage.password}".encode()).decode()
    with procore.lock:
        tokens = list(procore._tokens)  # every access token the simulator has handed out and not expired
    return [sage.password, procore.client_id, procore.client_secret, basic, *tokens]


@pytest.fixture
def sandbox_secrets():
    """``sandbox_secrets(sandbox)``: every secret of the sandbox in the forms that could leak
    (values, access tokens, the Basic header); call it after the runs, so their tokens are in."""
    return _sandbox_secrets


@pytest.fixture
def assert_nothing_leaked(run_cli, workdir):
    """``assert_nothing_leaked(sandbox)``: no sandbox secret in any CLI output of the test, nor in
    clear in the state file. Call it after the runs."""

    def check(sandbox) -> None:
        secrets = _sandbox_secrets(sandbox)
        assert len(secrets) >= 4
        _assert_no_secret(secrets, run_cli.results, workdir.path)

    return check


@pytest.fixture
def assert_no_secret():
    """``assert_no_secret(secrets, results, state_dir)``, for a test with its own sandbox."""
    return _assert_no_secret


def _assert_no_secret(secrets: list[str], results, state_dir: Path) -> None:
    """No secret in any CLI output (``results``), nor in clear in the state files of ``state_dir``."""
    for result in results:
        for secret in secrets:
            assert secret not in result.stdout, f"a secret leaked to stdout:\n{result.stdout}"
            assert secret not in result.stderr, f"a secret leaked to stderr:\n{result.stderr}"
    state_bytes = b"".join(p.read_bytes() for p in state_dir.iterdir() if p.name.startswith("state.db"))
    for secret in secrets:
        assert secret.encode() not in state_bytes, "a secret is in the state file in clear"
