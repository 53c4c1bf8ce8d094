"""The encrypted credentials file: format, permissions, atomic writes and damage."""

from __future__ import annotations

import base64
import json
import os
import stat
import sys
from pathlib import Path

import pytest

from mlconnector import redact
from mlconnector.errors import CredentialError
from mlconnector.secrets import _file
from mlconnector.secrets._file import FileBackend, default_path

PASS = "a long passphrase"
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "dir" / "credentials.enc"


@pytest.fixture
def stored(path: Path) -> Path:
    FileBackend(path, PASS).set("sage300", "password", "s3cret-value")
    return path


def test_round_trip_and_nothing_in_clear(stored: Path) -> None:
    assert FileBackend(stored, PASS).get("sage300", "password") == "s3cret-value"
    raw = stored.read_bytes()
    assert b"s3cret" not in raw and b"sage300" not in raw


def test_envelope(stored: Path) -> None:
    envelope = json.loads(stored.read_text())
    assert envelope["format"] == "mlconnector-credentials"
    assert envelope["version"] == 1
    assert envelope["cipher"] == "AES-256-GCM"
    assert envelope["kdf"]["name"] == "scrypt"
    assert (envelope["kdf"]["n"], envelope["kdf"]["r"], envelope["kdf"]["p"]) == (2**15, 8, 1)
    assert len(base64.b64decode(envelope["kdf"]["salt"])) == 16
    assert len(base64.b64decode(envelope["nonce"])) == 12


def test_salt_kept_and_nonce_fresh_on_every_write(stored: Path) -> None:
    before = json.loads(stored.read_text())
    FileBackend(stored, PASS).set("procore", "client_id", "id")
    after = json.loads(stored.read_text())
    assert after["kdf"]["salt"] == before["kdf"]["salt"]
    assert after["nonce"] != before["nonce"]


@posix_only
def test_file_is_0600_and_directory_0700(stored: Path) -> None:
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(stored.parent.stat().st_mode) == 0o700


@posix_only
def test_rewrite_tightens_a_loose_mode(stored: Path) -> None:
    os.chmod(stored, 0o644)
    FileBackend(stored, PASS).set("sage300", "password", "new")
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600


@posix_only
def test_mode_does_not_depend_on_umask(path: Path) -> None:
    old = os.umask(0)
    try:
        FileBackend(path, PASS).set("sage300", "password", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_no_temp_files_left(stored: Path) -> None:
    backend = FileBackend(stored, PASS)
    backend.set("procore", "client_secret", "abc")
    backend.delete("procore", "client_secret")
    assert [p.name for p in stored.parent.iterdir()] == ["credentials.enc"]


def test_failed_write_keeps_the_old_file(stored: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = stored.read_bytes()

    def no_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_file.os, "replace", no_replace)
    with pytest.raises(CredentialError, match="cannot write .*No space left on device"):
        FileBackend(stored, PASS).set("sage300", "password", "new")
    assert stored.read_bytes() == before
    assert [p.name for p in stored.parent.iterdir()] == ["credentials.enc"]


def test_wrong_passphrase(stored: Path) -> None:
    with pytest.raises(CredentialError) as info:
        FileBackend(stored, "not the passphrase").get("sage300", "password")
    assert info.value.message == f"the passphrase in MLCONNECTOR_PASSPHRASE does not open {stored}"
    assert info.value.__suppress_context__  # no chained cryptography traceback
    # ...and a failed open must not overwrite the file on set either.
    before = stored.read_bytes()
    with pytest.raises(CredentialError, match="does not open"):
        FileBackend(stored, "not the passphrase").set("sage300", "password", "x")
    assert stored.read_bytes() == before


def _rewrite(path: Path, **changes) -> None:
    envelope = json.loads(path.read_text())
    for key, value in changes.items():
        if key.startswith("kdf_"):
            envelope["kdf"][key[4:]] = value
        else:
            envelope[key] = value
    path.write_text(json.dumps(envelope))


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [
        (lambda p: p.write_text("{not json"), "not JSON"),
        (lambda p: p.write_bytes(b"\xff\xfe garbage"), "not JSON"),
        (lambda p: p.write_text("[]"), "no mlconnector-credentials header"),
        (lambda p: p.write_text('{"format": "other"}'), "no mlconnector-credentials header"),
        (lambda p: _rewrite(p, version=2), "format version 2"),
        (lambda p: _rewrite(p, nonce="!!notbase64"), "damaged header"),
        (lambda p: _rewrite(p, kdf_n=2**30), "damaged header"),
        (lambda p: _rewrite(p, kdf_n=3), "damaged header"),
        (lambda p: _rewrite(p, kdf_salt="c2hvcnQ="), "damaged header"),
        (lambda p: _rewrite(p, cipher="ROT13"), "damaged header"),
        (lambda p: _rewrite(p, ciphertext=None), "damaged header"),
    ],
    ids=["syntax", "binary", "list", "format", "version", "nonce", "huge-n", "odd-n", "short-salt", "cipher",
         "no-ciphertext"],
)
def test_corrupt_file(stored: Path, damage, fragment: str) -> None:
    damage(stored)
    with pytest.raises(CredentialError) as info:
        FileBackend(stored, PASS).get("sage300", "password")
    assert f"{stored} is not a readable mlconnector credentials file ({fragment}" in info.value.message
    assert "credentials set" in str(info.value)


@pytest.mark.parametrize("field", ["ciphertext", "kdf_p"])
def test_tampering_is_detected(stored: Path, field: str) -> None:
    if field == "ciphertext":
        envelope = json.loads(stored.read_text())
        raw = bytearray(base64.b64decode(envelope["ciphertext"]))
        raw[0] ^= 1
        _rewrite(stored, ciphertext=base64.b64encode(bytes(raw)).decode())
    else:
        _rewrite(stored, kdf_p=2)  # authenticated header: a changed parameter fails like a wrong key
    with pytest.raises(CredentialError, match="does not open"):
        FileBackend(stored, PASS).get("sage300", "password")


def test_unreadable_path(tmp_path: Path) -> None:
    with pytest.raises(CredentialError, match="cannot read"):
        FileBackend(tmp_path, PASS).get("sage300", "password")  # a directory


def test_missing_file_reads_as_empty(path: Path) -> None:
    backend = FileBackend(path, PASS)
    assert backend.get("sage300", "password") is None
    assert backend.delete("sage300", "password") is False
    assert not path.exists()  # reading never creates the file
    assert backend.available() == (True, f"{path} (not created yet)")


def test_without_passphrase(path: Path) -> None:
    backend = FileBackend(path)
    assert backend.available() == (False, "MLCONNECTOR_PASSPHRASE (or MLCONNECTOR_PASSPHRASE_FILE) is not set")
    with pytest.raises(CredentialError, match="set MLCONNECTOR_PASSPHRASE"):
        backend.get("sage300", "password")


def test_passphrase_and_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLCONNECTOR_CREDENTIALS_FILE", str(tmp_path / "env.enc"))
    monkeypatch.setenv("MLCONNECTOR_PASSPHRASE", PASS)
    FileBackend().set("sage300", "password", "x")
    assert FileBackend(tmp_path / "env.enc", PASS).get("sage300", "password") == "x"


def test_passphrase_is_normalised(path: Path) -> None:
    FileBackend(path, "caf\u00e9 passphrase").set("sage300", "password", "x")  # composed é
    assert FileBackend(path, "cafe\u0301 passphrase").get("sage300", "password") == "x"  # e + combining accent


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="XDG rules are for Linux and other Unixes")
def test_default_path_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert default_path() == tmp_path / "cfg" / "mlconnector" / "credentials.enc"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_path() == tmp_path / "home" / ".config" / "mlconnector" / "credentials.enc"


def test_default_path_matches_typer_app_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    typer = pytest.importorskip("typer")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert default_path().parent == Path(typer.get_app_dir("mlconnector"))


def test_passphrase_from_a_private_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    """cron and services read the passphrase from a file only the account can read."""
    FileBackend(path, PASS).set("sage300", "password", "from-file")
    secret_file = tmp_path / "passphrase"
    secret_file.write_text(PASS + "\n", encoding="utf-8")
    secret_file.chmod(0o600)
    monkeypatch.setenv("MLCONNECTOR_PASSPHRASE_FILE", str(secret_file))
    backend = FileBackend(path)
    assert backend.available()[0] is True
    assert backend.get("sage300", "password") == "from-file"
    assert redact.scrub(f"x {PASS} y") == "x **** y"  # the passphrase read from the file is a secret too


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_passphrase_file_readable_by_others_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        path: Path) -> None:
    secret_file = tmp_path / "passphrase"
    secret_file.write_text(PASS, encoding="utf-8")
    secret_file.chmod(0o644)
    monkeypatch.setenv("MLCONNECTOR_PASSPHRASE_FILE", str(secret_file))
    ok, why = FileBackend(path).available()
    assert ok is False and "can be read by other users; chmod 600" in why and str(secret_file) in why
    assert PASS not in why
    with pytest.raises(CredentialError, match="chmod 600"):
        FileBackend(path).get("sage300", "password")


def test_missing_passphrase_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    monkeypatch.setenv("MLCONNECTOR_PASSPHRASE_FILE", str(tmp_path / "nope"))
    ok, why = FileBackend(path).available()
    assert ok is False and f"cannot read MLCONNECTOR_PASSPHRASE_FILE {tmp_path / 'nope'}" in why
