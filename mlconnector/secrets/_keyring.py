"""The OS keyring (Windows Credential Manager, macOS Keychain, Secret Service on Linux).

On a headless server keyring often has nothing to talk to: it picks its ``fail`` backend, or the
Secret Service daemon is absent, locked or unreachable over D-Bus. All of that means
"unavailable, because ..." here, never a traceback, so the chain can go on to the next link.
"""

from __future__ import annotations

import keyring
import keyring.backends.fail
import keyring.backends.null

from mlconnector.errors import CredentialError

SERVICE = "mlconnector"

# Keyring loads third-party backends (and secretstorage/jeepney/dbus underneath) that raise
# whatever they like when the platform store is missing, so this boundary catches everything.
_BACKEND_FAILURES = Exception


class KeyringUnavailable(Exception):
    """The keyring cannot be used right now; the message says why."""


def _describe(backend: object) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def _failure(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class KeyringBackend:
    """Entries are stored as service ``mlconnector``, user name ``<system>/<field>``."""

    name = "keyring"

    def __init__(self, service: str | None = None) -> None:
        self.service = service or SERVICE

    def _backend(self) -> keyring.backend.KeyringBackend:
        try:
            backend = keyring.get_keyring()
        except _BACKEND_FAILURES as e:
            raise KeyringUnavailable(f"keyring failed to load a backend ({_failure(e)})") from None
        if isinstance(backend, keyring.backends.fail.Keyring):
            raise KeyringUnavailable(
                f"keyring found no OS keyring (it picked {_describe(backend)}); on Linux: no Secret "
                "Service reachable over D-Bus, as usual under cron or SSH"
            )
        if isinstance(backend, keyring.backends.null.Keyring):
            raise KeyringUnavailable(f"keyring is disabled (it picked {_describe(backend)})")
        return backend

    def available(self) -> tuple[bool, str]:
        try:
            return True, _describe(self._backend())
        except KeyringUnavailable as e:
            return False, str(e)

    def where(self, system: str, field: str) -> str:
        ok, backend = self.available()
        return f"OS keyring{' ' + backend if ok else ''} (service {self.service!r}, user {_user(system, field)!r})"

    def get(self, system: str, field: str) -> str | None:
        """The stored value or None; raises KeyringUnavailable when the keyring fails."""
        backend = self._backend()
        try:
            return backend.get_password(self.service, _user(system, field))
        except _BACKEND_FAILURES as e:
            raise KeyringUnavailable(f"{_describe(backend)} failed to read ({_failure(e)})") from None

    def set(self, system: str, field: str, value: str) -> None:
        try:
            backend = self._backend()
            backend.set_password(self.service, _user(system, field), value)
        except KeyringUnavailable as e:
            raise CredentialError(f"cannot store {system}/{field} in the OS keyring: {e}") from None
        except _BACKEND_FAILURES as e:
            raise CredentialError(
                f"cannot store {system}/{field} in the OS keyring {_describe(backend)}: {_failure(e)}"
            ) from None

    def delete(self, system: str, field: str) -> bool:
        """Remove the entry; False when there was none."""
        try:
            backend = self._backend()
            # Backends signal "no such entry" and real failures with the same exception,
            # so look first.
            if backend.get_password(self.service, _user(system, field)) is None:
                return False
            backend.delete_password(self.service, _user(system, field))
            return True
        except KeyringUnavailable as e:
            raise CredentialError(f"cannot remove {system}/{field} from the OS keyring: {e}") from None
        except _BACKEND_FAILURES as e:
            raise CredentialError(f"cannot remove {system}/{field} from the OS keyring: {_failure(e)}") from None


def _user(system: str, field: str) -> str:
    return f"{system}/{field}"
