"""One contract, run against every writable backend: the encrypted file always, keyring's API
through an in-memory backend always, and the real Secret Service when one is reachable
(``bash .ci/keyring-session.sh python -m pytest tests/secrets -m keyring_backend``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest

from mlconnector.secrets._file import FileBackend
from mlconnector.secrets._keyring import KeyringBackend

VALUES = [
    "plain-value",
    "ünïcödé ключ 密码 🔑",
    "punctuation !@#$%^&*()_+-=[]{}|;':\",./<>?`~\\",
    "line one\nline two\ttabbed",
    "  leading and trailing spaces  ",
    "x" * 2000,
]


class BackendContract:
    """Mixin: a subclass provides the ``backend`` fixture."""

    @pytest.mark.parametrize("value", VALUES, ids=["plain", "unicode", "punctuation", "newline", "spaces", "long"])
    def test_set_get_delete(self, backend, value: str) -> None:
        assert backend.get("sage300", "password") is None
        backend.set("sage300", "password", value)
        assert backend.get("sage300", "password") == value
        assert backend.delete("sage300", "password") is True
        assert backend.get("sage300", "password") is None

    def test_overwrite(self, backend) -> None:
        backend.set("procore", "client_secret", "first")
        backend.set("procore", "client_secret", "second")
        assert backend.get("procore", "client_secret") == "second"
        backend.delete("procore", "client_secret")

    def test_delete_missing_returns_false(self, backend) -> None:
        assert backend.delete("procore", "client_id") is False
        backend.set("procore", "client_id", "abc")
        assert backend.delete("procore", "client_id") is True
        assert backend.delete("procore", "client_id") is False

    def test_systems_and_fields_are_separate(self, backend) -> None:
        backend.set("sage300-east", "password", "east")
        backend.set("sage300-west", "password", "west")
        backend.set("sage300-east", "user", "other-field")
        assert backend.get("sage300-east", "password") == "east"
        assert backend.get("sage300-west", "password") == "west"
        assert backend.get("sage300-east", "user") == "other-field"
        backend.delete("sage300-east", "password")
        assert backend.get("sage300-west", "password") == "west"
        assert backend.get("sage300-east", "user") == "other-field"
        backend.delete("sage300-west", "password")
        backend.delete("sage300-east", "user")

    def test_available(self, backend) -> None:
        ok, detail = backend.available()
        assert ok, detail
        assert detail


class TestFileBackend(BackendContract):
    @pytest.fixture
    def backend(self, tmp_path: Path) -> FileBackend:
        return FileBackend(tmp_path / "credentials.enc", "a passphrase")

    def test_a_new_instance_reads_what_another_wrote(self, backend: FileBackend) -> None:
        backend.set("sage300", "password", "persisted")
        assert FileBackend(backend.path, "a passphrase").get("sage300", "password") == "persisted"


class TestKeyringAdapter(BackendContract):
    """Our adapter over keyring's API, with an in-memory keyring (no OS keyring needed)."""

    @pytest.fixture
    def backend(self, fake_keyring) -> KeyringBackend:
        return KeyringBackend(service="mlconnector-test")

    def test_entries_use_service_and_system_slash_field(self, backend: KeyringBackend, fake_keyring) -> None:
        backend.set("sage300", "password", "pw")
        assert fake_keyring.entries == {("mlconnector-test", "sage300/password"): "pw"}


class _Tracking(KeyringBackend):
    """Remembers what it wrote, so the test can clean the real keyring afterwards."""

    def __init__(self, service: str) -> None:
        super().__init__(service)
        self.written: set[tuple[str, str]] = set()

    def set(self, system: str, field: str, value: str) -> None:
        self.written.add((system, field))
        super().set(system, field, value)


def _secret_service_or_skip() -> keyring.backend.KeyringBackend:
    from keyring.backends import SecretService

    current = keyring.get_keyring()
    if not isinstance(current, SecretService.Keyring):
        reasons = [f"keyring picked {type(current).__module__}.{type(current).__qualname__}"]
        try:
            SecretService.Keyring.priority  # noqa: B018 - raises with the reason it cannot be used
        except Exception as e:  # noqa: BLE001
            reasons.append(str(e))
        pytest.skip("no Secret Service: " + "; ".join(reasons) + ". Run under .ci/keyring-session.sh")
    probe_service = f"mlconnector-probe-{uuid.uuid4().hex}"
    try:
        current.set_password(probe_service, "probe", "probe-value")
        works = current.get_password(probe_service, "probe") == "probe-value"
        current.delete_password(probe_service, "probe")
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"Secret Service reachable but not usable (locked keyring?): {type(e).__name__}: {e}")
    if not works:
        pytest.skip("Secret Service returned a different value for the probe")
    return current


@pytest.mark.keyring_backend
class TestSecretService(BackendContract):
    """The real OS keyring on Linux. A unique service name keeps a developer's keyring clean."""

    @pytest.fixture
    def backend(self) -> Iterator[KeyringBackend]:
        _secret_service_or_skip()
        backend = _Tracking(service=f"mlconnector-test-{uuid.uuid4().hex}")
        yield backend
        for system, field in backend.written:
            backend.delete(system, field)
        assert all(backend.get(s, f) is None for s, f in backend.written)

    def test_available_names_secret_service(self, backend: KeyringBackend) -> None:
        assert backend.available() == (True, "keyring.backends.SecretService.Keyring")

    def test_chain_resolves_from_secret_service(self, backend: KeyringBackend, monkeypatch) -> None:
        from mlconnector import redact, secrets
        from mlconnector.secrets import _keyring

        monkeypatch.setattr(_keyring, "SERVICE", backend.service)
        stored = secrets.store("sage300", "password", "from-secret-service")
        backend.written.add(("sage300", "password"))
        assert stored.source == "keyring"
        assert secrets.resolve("sage300", "password") == "from-secret-service"
        assert redact.scrub("pw=from-secret-service") == "pw=****"
        assert secrets.remove("sage300", ["password"]) == [("password", "keyring")]
