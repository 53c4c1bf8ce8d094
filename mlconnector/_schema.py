"""Schema primitives shared by the configuration loader and each system's settings module.

A system declares its YAML keys as ``SCHEMA: dict[str, Field]``. The loader
(:mod:`mlconnector.config`) converts each scalar to the field's type, catching YAML 1.1 traps,
then runs the field's ``check``. A check raises :class:`Invalid` with a message that says what
is wrong *without repeating the value*: the loader adds the value itself, except when it came
from an environment variable (it may be a secret).
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REQUIRED: Any = object()  # the default of a key that must be present


class Invalid(ValueError):
    """A value broke a rule. The message never contains the value; ``show_value=False`` also
    stops the loader from quoting it (for a URL with a password in it)."""

    def __init__(self, message: str, *, show_value: bool = True) -> None:
        super().__init__(message)
        self.show_value = show_value


@dataclass(frozen=True)
class CheckContext:
    """What a check may need besides the value."""

    base_dir: Path  # the configuration file's directory: relative paths start here
    warn: Callable[[str], None]  # record a warning located at the key being checked


Check = Callable[[Any, CheckContext], Any]


@dataclass(frozen=True)
class Field:
    """One key of a system's settings.

    ``type`` is what the YAML scalar must be (str, int, float or bool); ``check`` validates and
    may normalise the converted value (it returns what is stored). ``nullable`` lets ``null``
    through as None; otherwise ``null`` is an error.
    """

    type: type
    default: Any = REQUIRED
    nullable: bool = False
    check: Check | None = None

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


def in_range(low: float | None = None, high: float | None = None, *, above: float | None = None) -> Check:
    """A check that the number is ``low <= value <= high`` (or ``value > above``)."""

    def check(value: float, ctx: CheckContext) -> float:
        if above is not None and not value > above:
            raise Invalid(f"must be greater than {above:g}")
        if (low is not None and value < low) or (high is not None and value > high):
            if low is not None and high is not None:
                raise Invalid(f"must be between {low:g} and {high:g}")
            raise Invalid(f"must be at least {low:g}" if low is not None else f"must be at most {high:g}")
        return value

    return check


def existing_file(value: str, ctx: CheckContext) -> Path:
    """A path (``~`` expanded, relative to the configuration file) that must name a file."""
    if not value:
        raise Invalid("must not be empty; write null or remove the key to use the system CA store")
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = ctx.base_dir / path
    if not path.is_file():
        raise Invalid(f"no such file (relative paths start at {ctx.base_dir})")
    return path


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and addresses in 127.0.0.0/8 or ``::1``."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_http_url(value: str) -> urllib.parse.SplitResult:
    """Split an http(s) URL, refusing what a base URL must not have."""
    if not value:
        raise Invalid("must not be empty")
    if any(c.isspace() for c in value):
        raise Invalid("must not contain spaces")
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise Invalid("must start with https:// (or http://)")
    if parts.username is not None or parts.password is not None:
        # Credentials in a URL end up in logs and proxies; they belong in the credential store.
        raise Invalid("must not contain a user name or password; use `mlconnector credentials set`",
                      show_value=False)
    if not parts.hostname:
        raise Invalid("has no host name")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise Invalid("has an invalid port number") from None
    if parts.query or parts.fragment:
        raise Invalid("must not contain a query (?...) or fragment (#...)")
    return parts


def https_url(value: str, ctx: CheckContext) -> str:
    """An https URL; plain http only to a loopback host (the sandbox simulators)."""
    parts = parse_http_url(value)
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        raise Invalid("must use https:// (plain http:// is allowed only to a loopback host such as 127.0.0.1)")
    return value.rstrip("/")
