from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backend
import pytest
from keyring.errors import PasswordDeleteError

from mlconnector import redact


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring backend in a dict, installed with keyring.set_keyring().

    It inherits the base class's ``priority`` (which raises), so keyring's own backend
    detection never picks it up.
    """

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self.entries[(service, username)]
        except KeyError:
            raise PasswordDeleteError("no such password") from None


class BrokenKeyring(keyring.backend.KeyringBackend):
    """Raises what a real backend raises when D-Bus or the daemon misbehaves."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def get_password(self, service: str, username: str) -> str | None:
        raise self.error

    def set_password(self, service: str, username: str, password: str) -> None:
        raise self.error

    def delete_password(self, service: str, username: str) -> None:
        raise self.error


@pytest.fixture(autouse=True)
def fake_keyring(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
                 tmp_path: Path) -> Iterator[MemoryKeyring | None]:
    """Isolate every test from the developer's environment, keyring and files.

    Tests marked keyring_backend keep keyring's own choice (the real OS keyring).
    """
    for name in list(os.environ):
        if name.startswith("MLCONNECTOR_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MLCONNECTOR_CREDENTIALS_FILE", str(tmp_path / "creds" / "credentials.enc"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    previous = keyring.get_keyring()
    memory = None
    if request.node.get_closest_marker("keyring_backend") is None:
        memory = MemoryKeyring()
        keyring.set_keyring(memory)
    yield memory
    keyring.set_keyring(previous)
    redact.forget_all()


@pytest.fixture
def credentials_file(tmp_path: Path) -> Path:
    return tmp_path / "creds" / "credentials.enc"


@pytest.fixture
def passphrase(monkeypatch: pytest.MonkeyPatch) -> str:
    value = "correct horse battery staple"
    monkeypatch.setenv("MLCONNECTOR_PASSPHRASE", value)
    return value


@pytest.fixture
def broken_keyring() -> type[BrokenKeyring]:
    return BrokenKeyring
