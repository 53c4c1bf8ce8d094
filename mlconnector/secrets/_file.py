"""An encrypted credentials file, for headless Linux servers with no keyring daemon.

The key is derived from the passphrase in ``MLCONNECTOR_PASSPHRASE`` with scrypt; the content is
JSON sealed with AES-256-GCM. The file is a JSON envelope::

    {"format": "mlconnector-credentials", "version": 1,
     "kdf": {"name": "scrypt", "salt": "<base64, 16 bytes>", "n": 32768, "r": 8, "p": 1},
     "cipher": "AES-256-GCM", "nonce": "<base64, 12 bytes>", "ciphertext": "<base64>"}

The header (everything but nonce and ciphertext) is authenticated as associated data, so
changing the KDF parameters or the version is detected like a wrong passphrase.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import secrets
import sys
import unicodedata
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from mlconnector import redact
from mlconnector.errors import CredentialError

FILE_ENV = "MLCONNECTOR_CREDENTIALS_FILE"
PASSPHRASE_ENV = "MLCONNECTOR_PASSPHRASE"
# For cron and services: a file only the account can read holds the passphrase, so it appears in
# no crontab, task definition or process environment listing.
PASSPHRASE_FILE_ENV = "MLCONNECTOR_PASSPHRASE_FILE"

_FORMAT = "mlconnector-credentials"
_VERSION = 1
_CIPHER = "AES-256-GCM"
_SCRYPT = {"n": 2**15, "r": 8, "p": 1}
# Bounds on KDF parameters read from a file, so a tampered header cannot make us allocate gigabytes.
_MAX_N, _MAX_R, _MAX_P = 2**20, 16, 4
_Entries = dict[str, dict[str, str]]


def default_path() -> Path:
    """``<user config dir>/mlconnector/credentials.enc`` (the directory typer.get_app_dir picks)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home())
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "mlconnector" / "credentials.enc"


def _ensure(condition: bool) -> None:
    if not condition:
        raise ValueError("malformed")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _header(salt: bytes, n: int, r: int, p: int) -> dict[str, Any]:
    return {"format": _FORMAT, "version": _VERSION,
            "kdf": {"name": "scrypt", "salt": _b64(salt), "n": n, "r": r, "p": p}, "cipher": _CIPHER}


def _aad(header: dict[str, Any]) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode()


class FileBackend:
    name = "file"

    def __init__(self, path: str | Path | None = None, passphrase: str | None = None) -> None:
        self.path = Path(path or os.environ.get(FILE_ENV) or default_path()).expanduser()
        self._passphrase_problem: str | None = None
        if passphrase is None:
            passphrase = os.environ.get(PASSPHRASE_ENV)
        if not passphrase and os.environ.get(PASSPHRASE_FILE_ENV):
            passphrase, self._passphrase_problem = _read_passphrase_file(Path(os.environ[PASSPHRASE_FILE_ENV]))
        self.passphrase = unicodedata.normalize("NFC", passphrase) if passphrase else None
        redact.register(self.passphrase)
        self._keys: dict[tuple[bytes, int, int, int], bytes] = {}  # scrypt is slow on purpose

    def available(self) -> tuple[bool, str]:
        if self._passphrase_problem:
            return False, self._passphrase_problem
        if not self.passphrase:
            return False, f"{PASSPHRASE_ENV} (or {PASSPHRASE_FILE_ENV}) is not set"
        if not self.path.exists():
            return True, f"{self.path} (not created yet)"
        return True, str(self.path)

    def where(self, system: str, field: str) -> str:
        return f"encrypted file {self.path}"

    def get(self, system: str, field: str) -> str | None:
        return self._read()[0].get(system, {}).get(field)

    def set(self, system: str, field: str, value: str) -> None:
        entries, salt = self._read()
        entries.setdefault(system, {})[field] = value
        self._write(entries, salt)

    def delete(self, system: str, field: str) -> bool:
        entries, salt = self._read()
        if field not in entries.get(system, {}):
            return False
        del entries[system][field]
        if not entries[system]:
            del entries[system]
        self._write(entries, salt)
        return True

    # --- reading ------------------------------------------------------------------------------

    def _require_passphrase(self) -> str:
        if self._passphrase_problem:
            raise CredentialError(f"the encrypted credentials file cannot be opened: {self._passphrase_problem}")
        if not self.passphrase:
            raise CredentialError(
                f"the encrypted credentials file needs a passphrase: set {PASSPHRASE_ENV} "
                f"or {PASSPHRASE_FILE_ENV}",
            )
        return self.passphrase

    def _key(self, salt: bytes, n: int, r: int, p: int) -> bytes:
        if (salt, n, r, p) not in self._keys:
            kdf = Scrypt(salt=salt, length=32, n=n, r=r, p=p)
            self._keys[(salt, n, r, p)] = kdf.derive(self._require_passphrase().encode("utf-8"))
        return self._keys[(salt, n, r, p)]

    def _corrupt(self, reason: str) -> CredentialError:
        return CredentialError(
            f"{self.path} is not a readable mlconnector credentials file ({reason})",
            hint="Restore it from a backup, or delete it and store the credentials again with "
            "`mlconnector credentials set <system>`.",
        )

    def _read(self) -> tuple[_Entries, bytes | None]:
        """The entries and the file's salt; ({}, None) when the file does not exist yet."""
        self._require_passphrase()
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}, None
        except OSError as e:
            raise CredentialError(f"cannot read {self.path}: {e.strerror or e}") from None
        try:
            envelope = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise self._corrupt("not JSON") from None
        if not isinstance(envelope, dict) or envelope.get("format") != _FORMAT:
            raise self._corrupt("no mlconnector-credentials header")
        if envelope.get("version") != _VERSION:
            raise self._corrupt(f"format version {envelope.get('version')!r}; this mlconnector reads version "
                                f"{_VERSION}")
        kdf = envelope.get("kdf")
        try:
            _ensure(isinstance(kdf, dict) and kdf.get("name") == "scrypt" and envelope.get("cipher") == _CIPHER)
            salt = base64.b64decode(kdf["salt"], validate=True)
            n, r, p = kdf["n"], kdf["r"], kdf["p"]
            _ensure(all(type(x) is int for x in (n, r, p)) and len(salt) >= 16)
            _ensure(2 <= n <= _MAX_N and n & (n - 1) == 0 and 1 <= r <= _MAX_R and 1 <= p <= _MAX_P)
            nonce = base64.b64decode(envelope["nonce"], validate=True)
            ciphertext = base64.b64decode(envelope["ciphertext"], validate=True)
            _ensure(len(nonce) == 12)
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise self._corrupt("damaged header") from None
        try:
            plain = AESGCM(self._key(salt, n, r, p)).decrypt(nonce, ciphertext, _aad(_header(salt, n, r, p)))
        except InvalidTag:
            raise CredentialError(
                f"the passphrase in {PASSPHRASE_ENV} does not open {self.path}",
                hint="Use the passphrase the file was created with (or the file was damaged). If the "
                "passphrase is lost, delete the file and store the credentials again with "
                "`mlconnector credentials set <system>`.",
            ) from None
        try:
            entries = json.loads(plain)["systems"]
            _ensure(isinstance(entries, dict) and all(
                isinstance(fields, dict) and all(isinstance(v, str) for v in fields.values())
                for fields in entries.values()
            ))
        except (ValueError, KeyError, TypeError):
            raise self._corrupt("damaged content") from None
        for fields in entries.values():
            for value in fields.values():
                redact.register(value)
        return entries, salt

    # --- writing ------------------------------------------------------------------------------

    def _write(self, entries: _Entries, salt: bytes | None) -> None:
        salt = salt or os.urandom(16)
        header = _header(salt, **_SCRYPT)
        nonce = os.urandom(12)  # never reuse a nonce under one key: a fresh one per write
        ciphertext = AESGCM(self._key(salt, **_SCRYPT)).encrypt(
            nonce, json.dumps({"systems": entries}).encode(), _aad(header)
        )
        envelope = {**header, "nonce": _b64(nonce), "ciphertext": _b64(ciphertext)}
        try:
            _write_atomically(self.path, json.dumps(envelope, indent=1).encode() + b"\n")
        except OSError as e:
            raise CredentialError(f"cannot write {self.path}: {e.strerror or e}") from None


def _read_passphrase_file(path: Path) -> tuple[str | None, str | None]:
    """The passphrase on the file's first line, or why it cannot be used (never the content)."""
    path = path.expanduser()
    try:
        if os.name == "posix" and path.stat().st_mode & 0o077:
            return None, f"{PASSPHRASE_FILE_ENV} {path} can be read by other users; chmod 600 it"
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return None, f"cannot read {PASSPHRASE_FILE_ENV} {path}: {exc.strerror or exc}"
    except UnicodeDecodeError:
        return None, f"{PASSPHRASE_FILE_ENV} {path} is not UTF-8 text"
    first = text.splitlines()[0] if text.strip() else ""
    if not first:
        return None, f"{PASSPHRASE_FILE_ENV} {path} is empty"
    return first, None


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a private temp file beside ``path``, fsync it, then rename it over ``path``.

    A crash leaves either the old file or the new one, never half of one.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            if hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), 0o600)  # exactly 0600, whatever the umask
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if os.name == "posix":  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
