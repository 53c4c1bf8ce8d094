"""One exception hierarchy, classified by what the caller should do (DESIGN.md §5).

    MlconnectorError                 every error the product raises on purpose
    ├── UsageError            (2)    bad YAML, unknown pair or system, bad CSV, bad arguments
    │   └── ConfigError              ... with the file, line and key path
    ├── FatalError            (3)    the run cannot go on: say why and what to do
    │   ├── CredentialError          a secret is missing or cannot be stored
    │   └── RemoteError              an external system said no, or could not be reached
    │       ├── AuthError            bad credentials (401 after one renewal)
    │       ├── PermissionDenied     403: the user lacks a right
    │       ├── UnreachableError     timeouts, resets, 5xx after every retry
    │       └── ResponseError        any other unexpected answer (400, 404, garbage body)
    ├── RecordError           (1)    one record cannot go through; it is quarantined, the run goes on
    │   └── MappingError             the mapping of one field failed
    ├── LockBusy              (4)    another run holds the pair's lock
    └── RateBudgetExhausted   (5)    the target's rate budget is spent for longer than the run may wait

Retriable conditions never escape a client: they are retried inside it and, when the
retries are spent, become UnreachableError. The CLI turns each class into its exit code.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, documented in the README."""

    OK = 0
    QUARANTINED = 1
    USAGE = 2
    FATAL = 3
    BUSY = 4
    PAUSED = 5


class MlconnectorError(Exception):
    """Base of every error mlconnector raises on purpose."""

    exit_code: ExitCode = ExitCode.FATAL

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n{self.hint}"


class UsageError(MlconnectorError):
    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """A problem in a configuration or data file, located as precisely as we can."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        key: str | None = None,
        hint: str | None = None,
    ) -> None:
        where = ""
        if file:
            where = str(file) + (f":{line}" if line else "")
        if key:
            where = f"{where} [{key}]" if where else f"[{key}]"
        super().__init__(f"{where}: {message}" if where else message, hint=hint)
        self.file, self.line, self.key = file, line, key


class FatalError(MlconnectorError):
    exit_code = ExitCode.FATAL


class CredentialError(FatalError):
    pass


class RemoteError(FatalError):
    """An external system answered with an error, or could not be reached.

    ``system`` is the configured system name; ``status`` the HTTP status when there was one;
    ``code`` the system's own error code (OData ``error.code``, Procore field key, ...);
    ``request_id`` what the system's support desk needs (Procore ``X-Request-Id``).
    """

    def __init__(
        self,
        message: str,
        *,
        system: str,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        hint: str | None = None,
    ) -> None:
        detail = f"{system}: {message}"
        if status is not None:
            detail += f" (HTTP {status}"
            detail += f", {code})" if code else ")"
        if request_id:
            detail += f" [request id {request_id}]"
        super().__init__(detail, hint=hint)
        self.system, self.status, self.code, self.request_id = system, status, code, request_id
        self.reason = message


class AuthError(RemoteError):
    pass


class PermissionDenied(RemoteError):
    pass


class UnreachableError(RemoteError):
    pass


class ResponseError(RemoteError):
    pass


class RecordError(MlconnectorError):
    """One record cannot go through. It goes to quarantine with this message."""

    exit_code = ExitCode.QUARANTINED


class MappingError(RecordError):
    def __init__(
        self,
        message: str,
        *,
        pair: str,
        stream: str,
        source_key: str,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        where = f"{pair}/{stream} {source_key}" + (f" field {field}" if field else "")
        super().__init__(f"{where}: {message}", hint=hint)
        self.pair, self.stream, self.source_key, self.field = pair, stream, source_key, field


@dataclass(frozen=True)
class LockHolder:
    pid: int
    host: str
    started_at: str
    heartbeat_at: str


class LockBusy(MlconnectorError):
    exit_code = ExitCode.BUSY

    def __init__(self, pair: str, holder: LockHolder) -> None:
        super().__init__(
            f"pair {pair} is being synced by process {holder.pid} on {holder.host} "
            f"since {holder.started_at} (last heartbeat {holder.heartbeat_at})",
            hint="Wait for it to finish. A lock of a process that has ended on this machine is taken over "
            "at once; one from another host once its heartbeat is 10 minutes old, or with `--force` once it "
            "is a minute old.",
        )
        self.pair, self.holder = pair, holder


class RateBudgetExhausted(MlconnectorError):
    exit_code = ExitCode.PAUSED

    def __init__(self, system: str, resume_at: float, waited_limit: float) -> None:
        from datetime import datetime, timezone

        when = datetime.fromtimestamp(resume_at, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        super().__init__(
            f"{system}: the rate budget is spent until {when}, longer than this run may wait "
            f"({waited_limit:.0f} s)",
            hint="Progress is saved; the next run continues where this one stopped.",
        )
        self.system, self.resume_at = system, resume_at
