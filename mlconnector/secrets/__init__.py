"""The credential chain: where each secret of each system comes from (DESIGN.md §6).

For every (system, field) the chain asks, in order:

1. ``env``     the environment variable ``MLCONNECTOR_<SYSTEM>_<FIELD>`` (CI, containers, cron);
2. ``keyring`` the OS keyring, service ``mlconnector``, user name ``<system>/<field>``;
3. ``file``    an encrypted file for headless Linux, opened with ``MLCONNECTOR_PASSPHRASE`` (or the
               first line of the file named by ``MLCONNECTOR_PASSPHRASE_FILE``)
               (path ``MLCONNECTOR_CREDENTIALS_FILE`` or ``<user config dir>/mlconnector/credentials.enc``).

A backend that cannot be used (no keyring daemon, no passphrase) is skipped with a reason that
ends up in the error when nothing is found. Every value resolved or stored is registered with
:mod:`mlconnector.redact`, so it is scrubbed from logs and messages from then on.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from mlconnector import redact
from mlconnector.errors import CredentialError, UsageError
from mlconnector.secrets._env import EnvBackend, env_var_name
from mlconnector.secrets._file import FILE_ENV, PASSPHRASE_ENV, PASSPHRASE_FILE_ENV, FileBackend
from mlconnector.secrets._keyring import SERVICE, KeyringBackend, KeyringUnavailable

__all__ = [
    "FILE_ENV",
    "PASSPHRASE_ENV",
    "PASSPHRASE_FILE_ENV",
    "SERVICE",
    "Backend",
    "BackendStatus",
    "FieldSource",
    "backend_status",
    "describe",
    "env_var_name",
    "remove",
    "resolve",
    "resolve_all",
    "store",
]

Source = Literal["env", "keyring", "file"]
Writable = Literal["keyring", "file"]


class Backend(Protocol):
    """One link of the chain. ``get`` returns None when the backend has no value."""

    name: str

    def available(self) -> tuple[bool, str]: ...
    def where(self, system: str, field: str) -> str: ...
    def get(self, system: str, field: str) -> str | None: ...
    def set(self, system: str, field: str, value: str) -> None: ...
    def delete(self, system: str, field: str) -> bool: ...


@dataclass(frozen=True)
class FieldSource:
    """Where one field's value comes from (never the value). ``source`` None: nowhere."""

    field: str
    source: Source | None
    detail: str


@dataclass(frozen=True)
class BackendStatus:
    name: Source
    available: bool
    detail: str  # the keyring backend or file path in use, or why it cannot be used


def _chain() -> list[Backend]:
    # Built per call: the environment (passphrase, file path) and keyring's choice may change.
    return [EnvBackend(), KeyringBackend(), FileBackend()]


def backend_status() -> list[BackendStatus]:
    """Each backend, in chain order, with whether it can be used here and why (for `ping`, `show`)."""
    return [BackendStatus(b.name, *b.available()) for b in _chain()]  # type: ignore[arg-type]


def resolve(system: str, field: str) -> str:
    """The value of ``field`` for ``system`` from the first backend that has it.

    Raises CredentialError naming the environment variable and the `credentials set` command
    when no backend has it, or when a backend is unusable in a way a person must fix (a wrong
    passphrase for the encrypted file).
    """
    return resolve_all(system, [field])[field]


def resolve_all(system: str, fields: Iterable[str]) -> dict[str, str]:
    """:func:`resolve` for several fields; one error lists every missing field."""
    fields = list(fields)
    _check_names(system, fields)
    chain = _chain()
    values: dict[str, str] = {}
    notes: dict[str, str] = {}  # backend name -> why it was skipped
    for field in fields:
        for backend in chain:
            value = _get(backend, system, field, notes)
            if value is not None:
                redact.register(value)
                values[field] = value
                break
    missing = [f for f in fields if f not in values]
    if missing:
        raise _missing(system, missing, chain, notes)
    return values


def describe(system: str, fields: Iterable[str]) -> list[FieldSource]:
    """For each field, the backend that would supply it, for `credentials show`. Never raises for a
    backend problem: the problem becomes the detail."""
    fields = list(fields)
    _check_names(system, fields)
    chain = _chain()
    result = []
    for field in fields:
        notes: dict[str, str] = {}
        found = None
        for backend in chain:
            try:
                value = _get(backend, system, field, notes)
            except CredentialError as e:
                notes[backend.name] = e.message
                continue
            if value is not None:
                redact.register(value)
                found = FieldSource(field, backend.name, backend.where(system, field))  # type: ignore[arg-type]
                break
        result.append(found or FieldSource(field, None, "not set; " + _tried(system, field, chain, notes)))
    return result


def store(system: str, field: str, value: str, backend: Writable | None = None) -> FieldSource:
    """Save ``value`` in the keyring or the encrypted file and say where it went.

    ``backend`` None picks the keyring when it is usable, else the file when a passphrase is set.
    """
    _check_names(system, [field])
    if not value:
        raise UsageError(f"refusing to store an empty {field} for {system}")
    redact.register(value)
    keyring_backend, file_backend = KeyringBackend(), FileBackend()
    if backend is None:
        keyring_ok, keyring_why = keyring_backend.available()
        file_ok, file_why = file_backend.available()
        if keyring_ok:
            target: Backend = keyring_backend
        elif file_ok:
            target = file_backend
        else:
            raise CredentialError(
                f"nowhere to store {system}/{field}: the OS keyring is unavailable ({keyring_why}) "
                f"and the encrypted file {file_backend.path} is unavailable ({file_why})",
                hint=f"Either run where an OS keyring is reachable, or set {PASSPHRASE_ENV} to a long "
                "passphrase to use the encrypted file (and set it in the scheduled task's environment "
                f"too). For CI or containers, set {env_var_name(system, field)} instead.",
            )
    elif backend == "keyring":
        target = keyring_backend
    elif backend == "file":
        target = file_backend
    else:
        raise UsageError(f"unknown credential backend {backend!r}; choose keyring or file")
    target.set(system, field, value)
    return FieldSource(field, target.name, target.where(system, field))  # type: ignore[arg-type]


def remove(system: str, fields: Iterable[str]) -> list[tuple[str, Writable]]:
    """Delete ``fields`` of ``system`` from the keyring and the file; returns what was removed.

    Backends that are unavailable are skipped (there is nothing we could remove there).
    Environment variables are not touched: :func:`describe` shows any that remain.
    """
    fields = list(fields)
    _check_names(system, fields)
    removed: list[tuple[str, Writable]] = []
    for backend in (KeyringBackend(), FileBackend()):
        if not backend.available()[0]:
            continue
        for field in fields:
            if backend.delete(system, field):
                removed.append((field, backend.name))  # type: ignore[arg-type]
    return removed


# --- helpers ---------------------------------------------------------------------------------


def _check_names(system: str, fields: Sequence[str]) -> None:
    # "/" would make the keyring user name "<system>/<field>" ambiguous.
    if not system or "/" in system:
        raise UsageError(f"invalid system name {system!r}")
    for field in fields:
        if not field or "/" in field:
            raise UsageError(f"invalid credential field name {field!r}")


def _get(backend: Backend, system: str, field: str, notes: dict[str, str]) -> str | None:
    """Ask one backend, noting in ``notes`` why it was skipped. Wrong passphrases propagate."""
    if backend.name in notes:
        return None
    ok, why = backend.available()
    if not ok:
        notes[backend.name] = f"unavailable: {why}"
        return None
    try:
        return backend.get(system, field)
    except KeyringUnavailable as e:
        notes[backend.name] = f"unavailable: {e}"
        return None


def _tried(system: str, field: str, chain: list[Backend], notes: dict[str, str]) -> str:
    parts = []
    for backend in chain:
        note = notes.get(backend.name, "not set" if backend.name == "env" else "no entry")
        parts.append(f"{backend.where(system, field)}: {note}")
    return "looked in " + "; ".join(parts)


def _missing(system: str, fields: list[str], chain: list[Backend], notes: dict[str, str]) -> CredentialError:
    names = ", ".join(fields)
    variables = ", ".join(env_var_name(system, f) for f in fields)
    tried = "\n".join(f"  - {f}: {_tried(system, f, chain, notes)}" for f in fields)
    return CredentialError(
        f"no {names} for system {system}\n{tried}",
        hint=f"Run `mlconnector credentials set {system}` as the user that runs mlconnector "
        f"({_os_user()}), or set {variables} in its environment.",
    )


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers; the hint is still useful without it
        return "the scheduled task's account"
