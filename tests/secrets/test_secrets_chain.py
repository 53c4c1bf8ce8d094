"""The chain env > keyring > file, the messages when nothing is found, store/remove/describe."""

from __future__ import annotations

import keyring
import keyring.backends.fail
import keyring.backends.null
import pytest
from keyring.errors import KeyringLocked

from mlconnector import redact, secrets
from mlconnector.errors import CredentialError, ExitCode, UsageError
from mlconnector.secrets import FieldSource
from mlconnector.secrets._file import FileBackend


@pytest.mark.parametrize(
    ("system", "field", "name"),
    [
        ("sage300", "password", "MLCONNECTOR_SAGE300_PASSWORD"),
        ("procore", "client_secret", "MLCONNECTOR_PROCORE_CLIENT_SECRET"),
        ("Sage300-East.2", "password", "MLCONNECTOR_SAGE300_EAST_2_PASSWORD"),
    ],
)
def test_env_var_name(system: str, field: str, name: str) -> None:
    assert secrets.env_var_name(system, field) == name


def test_precedence_env_then_keyring_then_file(fake_keyring, passphrase, credentials_file, monkeypatch) -> None:
    FileBackend().set("sage300", "password", "from-file")
    fake_keyring.set_password("mlconnector", "sage300/password", "from-keyring")
    monkeypatch.setenv("MLCONNECTOR_SAGE300_PASSWORD", "from-env")

    assert secrets.resolve("sage300", "password") == "from-env"
    [source] = secrets.describe("sage300", ["password"])
    assert source == FieldSource("password", "env", "environment variable MLCONNECTOR_SAGE300_PASSWORD")

    monkeypatch.delenv("MLCONNECTOR_SAGE300_PASSWORD")
    assert secrets.resolve("sage300", "password") == "from-keyring"
    [source] = secrets.describe("sage300", ["password"])
    assert source.source == "keyring"
    assert "service 'mlconnector', user 'sage300/password'" in source.detail

    fake_keyring.delete_password("mlconnector", "sage300/password")
    assert secrets.resolve("sage300", "password") == "from-file"
    [source] = secrets.describe("sage300", ["password"])
    assert source == FieldSource("password", "file", f"encrypted file {credentials_file}")


def test_empty_env_var_counts_as_unset(fake_keyring, monkeypatch) -> None:
    monkeypatch.setenv("MLCONNECTOR_SAGE300_PASSWORD", "")
    fake_keyring.set_password("mlconnector", "sage300/password", "from-keyring")
    assert secrets.resolve("sage300", "password") == "from-keyring"


def test_env_backend_is_read_only() -> None:
    from mlconnector.secrets._env import EnvBackend

    with pytest.raises(CredentialError, match="set MLCONNECTOR_SAGE300_PASSWORD in the environment"):
        EnvBackend().set("sage300", "password", "x")
    with pytest.raises(CredentialError, match="unset MLCONNECTOR_SAGE300_PASSWORD"):
        EnvBackend().delete("sage300", "password")


def test_missing_credential_message(credentials_file) -> None:
    keyring.set_keyring(keyring.backends.fail.Keyring())
    with pytest.raises(CredentialError) as info:
        secrets.resolve("sage300", "password")
    error = info.value
    text = str(error)
    assert error.exit_code == ExitCode.FATAL
    assert error.message.startswith("no password for system sage300")
    assert "MLCONNECTOR_SAGE300_PASSWORD" in text
    assert "mlconnector credentials set sage300" in text
    assert "keyring.backends.fail.Keyring" in text  # why the keyring was skipped
    assert f"encrypted file {credentials_file}: unavailable: MLCONNECTOR_PASSPHRASE (or MLCONNECTOR_PASSPHRASE_FILE) is not set" in text


def test_missing_fields_are_reported_together(passphrase) -> None:
    with pytest.raises(CredentialError) as info:
        secrets.resolve_all("procore", ["client_id", "client_secret"])
    text = str(info.value)
    assert info.value.message.startswith("no client_id, client_secret for system procore")
    assert "MLCONNECTOR_PROCORE_CLIENT_ID, MLCONNECTOR_PROCORE_CLIENT_SECRET" in text
    assert "OS keyring" in text and "no entry" in text  # the keyring was usable but empty


def test_resolve_all(fake_keyring, monkeypatch) -> None:
    monkeypatch.setenv("MLCONNECTOR_PROCORE_CLIENT_ID", "id-from-env")
    fake_keyring.set_password("mlconnector", "procore/client_secret", "secret-from-keyring")
    assert secrets.resolve_all("procore", ("client_id", "client_secret")) == {
        "client_id": "id-from-env",
        "client_secret": "secret-from-keyring",
    }


@pytest.mark.parametrize("where", ["env", "keyring", "file"])
def test_resolved_values_are_registered_for_redaction(where, fake_keyring, passphrase, monkeypatch) -> None:
    value = f"very-secret-{where}-value"
    if where == "env":
        monkeypatch.setenv("MLCONNECTOR_SAGE300_PASSWORD", value)
    elif where == "keyring":
        fake_keyring.set_password("mlconnector", "sage300/password", value)
    else:
        FileBackend().set("sage300", "password", value)
        redact.forget_all()  # only resolve() may register it for this test
    assert redact.scrub(f"login failed for {value}") == f"login failed for {value}"
    assert secrets.resolve("sage300", "password") == value
    assert redact.scrub(f"login failed for {value}") == "login failed for ****"


@pytest.mark.parametrize(
    ("installed", "reason"),
    [
        (keyring.backends.fail.Keyring(), "it picked keyring.backends.fail.Keyring"),
        (keyring.backends.null.Keyring(), "keyring is disabled"),
    ],
    ids=["fail", "null"],
)
def test_unusable_keyring_falls_through_to_file(installed, reason, passphrase) -> None:
    keyring.set_keyring(installed)
    FileBackend().set("sage300", "password", "from-file")
    assert secrets.resolve("sage300", "password") == "from-file"
    status = {s.name: s for s in secrets.backend_status()}
    assert status["keyring"].available is False and reason in status["keyring"].detail
    assert status["file"].available is True


def test_keyring_errors_are_unavailability_not_crashes(broken_keyring, passphrase) -> None:
    keyring.set_keyring(broken_keyring(KeyringLocked("Failed to unlock the collection!")))
    FileBackend().set("sage300", "password", "from-file")
    assert secrets.resolve("sage300", "password") == "from-file"
    with pytest.raises(CredentialError) as info:
        secrets.resolve("sage300", "other")
    assert "KeyringLocked: Failed to unlock the collection!" in str(info.value)
    # describe does not raise either
    assert secrets.describe("sage300", ["other"])[0].source is None


def test_keyring_detection_failure(monkeypatch) -> None:
    def explode():
        raise RuntimeError("org.freedesktop.DBus.Error.NoReply")

    monkeypatch.setattr(keyring, "get_keyring", explode)
    ok, why = secrets.backend_status()[1].available, secrets.backend_status()[1].detail
    assert not ok and "NoReply" in why
    with pytest.raises(CredentialError, match="NoReply"):
        secrets.resolve("sage300", "password")


def test_wrong_passphrase_stops_resolution(passphrase, monkeypatch) -> None:
    FileBackend().set("sage300", "password", "from-file")
    monkeypatch.setenv("MLCONNECTOR_PASSPHRASE", "a different passphrase")
    with pytest.raises(CredentialError, match="does not open"):
        secrets.resolve("sage300", "password")
    [source] = secrets.describe("sage300", ["password"])
    assert source.source is None and "does not open" in source.detail


def test_describe_never_shows_values(fake_keyring, monkeypatch) -> None:
    monkeypatch.setenv("MLCONNECTOR_PROCORE_CLIENT_ID", "the-client-id-value")
    fake_keyring.set_password("mlconnector", "procore/client_secret", "the-secret-value")
    sources = secrets.describe("procore", ["client_id", "client_secret", "missing"])
    assert [s.source for s in sources] == ["env", "keyring", None]
    assert "value" not in repr(sources)
    assert sources[2].detail.startswith("not set; looked in environment variable MLCONNECTOR_PROCORE_MISSING")


def test_store_prefers_keyring(fake_keyring, passphrase, credentials_file) -> None:
    where = secrets.store("sage300", "password", "stored-value")
    assert where.source == "keyring"
    assert fake_keyring.entries == {("mlconnector", "sage300/password"): "stored-value"}
    assert not credentials_file.exists()
    assert redact.scrub("stored-value") == "****"


def test_store_falls_back_to_file(passphrase, credentials_file) -> None:
    keyring.set_keyring(keyring.backends.fail.Keyring())
    assert secrets.store("sage300", "password", "v1") == FieldSource("password", "file",
                                                                      f"encrypted file {credentials_file}")
    assert FileBackend().get("sage300", "password") == "v1"


def test_store_with_nowhere_to_go_explains_both_options() -> None:
    keyring.set_keyring(keyring.backends.fail.Keyring())
    with pytest.raises(CredentialError) as info:
        secrets.store("sage300", "password", "v1")
    text = str(info.value)
    assert "the OS keyring is unavailable" in text
    assert "MLCONNECTOR_PASSPHRASE" in text
    assert "MLCONNECTOR_SAGE300_PASSWORD" in text


def test_store_in_a_chosen_backend(fake_keyring, passphrase) -> None:
    assert secrets.store("sage300", "password", "in-file", backend="file").source == "file"
    assert fake_keyring.entries == {}
    assert FileBackend().get("sage300", "password") == "in-file"
    keyring.set_keyring(keyring.backends.fail.Keyring())
    with pytest.raises(CredentialError, match="cannot store sage300/password in the OS keyring"):
        secrets.store("sage300", "password", "x", backend="keyring")


def test_store_file_without_passphrase_fails() -> None:
    with pytest.raises(CredentialError, match="set MLCONNECTOR_PASSPHRASE"):
        secrets.store("sage300", "password", "x", backend="file")


def test_store_errors_from_the_keyring(broken_keyring) -> None:
    keyring.set_keyring(broken_keyring(KeyringLocked("locked")))
    with pytest.raises(CredentialError, match="KeyringLocked: locked"):
        secrets.store("sage300", "password", "x")


@pytest.mark.parametrize(("system", "field", "value"), [("", "password", "x"), ("a/b", "password", "x"),
                                                         ("sage300", "", "x"), ("sage300", "password", "")])
def test_store_rejects_bad_arguments(system: str, field: str, value: str) -> None:
    with pytest.raises(UsageError):
        secrets.store(system, field, value)


def test_remove_from_keyring_and_file(fake_keyring, passphrase, monkeypatch) -> None:
    fake_keyring.set_password("mlconnector", "procore/client_id", "a")
    FileBackend().set("procore", "client_id", "b")
    FileBackend().set("procore", "client_secret", "c")
    monkeypatch.setenv("MLCONNECTOR_PROCORE_CLIENT_SECRET", "d")
    assert secrets.remove("procore", ["client_id", "client_secret"]) == [
        ("client_id", "keyring"), ("client_id", "file"), ("client_secret", "file"),
    ]
    assert fake_keyring.entries == {}
    assert [s.source for s in secrets.describe("procore", ["client_id", "client_secret"])] == [None, "env"]
    assert secrets.remove("procore", ["client_id"]) == []


def test_remove_skips_unavailable_backends() -> None:
    keyring.set_keyring(keyring.backends.fail.Keyring())
    assert secrets.remove("sage300", ["password"]) == []
