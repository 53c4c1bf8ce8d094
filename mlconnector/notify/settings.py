"""The optional ``notify:`` section of the pipeline file: where failure notices go.

The loader in :mod:`mlconnector.config` reads ``WEBHOOK_SCHEMA`` and ``EMAIL_SCHEMA`` with the
same machinery as a system's keys (file, line and key path in every error; unknown keys refused).
The SMTP password is a credential of the pseudo-system ``notify`` (``smtp_password``), never in
the YAML: ``MLCONNECTOR_NOTIFY_SMTP_PASSWORD`` or ``mlconnector credentials set notify``.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from mlconnector._schema import CheckContext, Field, Invalid, existing_file, in_range, is_loopback

# The credentials of the notices live under this name, like a system's (MLCONNECTOR_NOTIFY_*).
CREDENTIAL_SYSTEM = "notify"
CREDENTIAL_FIELDS = ("smtp_password",)

SECURITY = ("starttls", "ssl", "none")
# What the webhook body carries: both (one body Slack and Teams accept), or only one service's part,
# for a service that turns out to dislike the other's (not verified against the live services).
WEBHOOK_FORMATS = ("both", "slack", "teams")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}

# One mailbox, no display name: nothing that could carry a second header line or a second address.
_ADDRESS = re.compile(r"[^@\s<>,;\"'()\[\]\\]+@[^@\s<>,;\"'()\[\]\\]+\Z")
_HOST = re.compile(r"[A-Za-z0-9._:\[\]-]+\Z")


@dataclass(frozen=True, kw_only=True)
class WebhookSettings:
    url: str  # a secret (it carries the webhook's token): registered with mlconnector.redact when loaded
    timeout: float = 10.0
    ca_bundle: Path | None = None
    format: str = "both"

    def __repr__(self) -> str:  # the URL carries the webhook's token
        return (f"WebhookSettings(url='****', timeout={self.timeout!r}, ca_bundle={self.ca_bundle!r}, "
                f"format={self.format!r})")


@dataclass(frozen=True, kw_only=True)
class EmailSettings:
    host: str
    port: int
    security: str = "starttls"
    username: str | None = None
    sender: str  # YAML key `from`
    to: tuple[str, ...]
    timeout: float = 10.0
    ca_bundle: Path | None = None


@dataclass(frozen=True, kw_only=True)
class NotifySettings:
    webhook: WebhookSettings | None = None
    email: EmailSettings | None = None

    def channels(self) -> tuple[str, ...]:
        """The configured channels by name: "webhook", "email" (what result lines start with)."""
        return tuple(name for name in ("webhook", "email") if getattr(self, name) is not None)

    @property
    def credential_fields(self) -> tuple[str, ...]:
        """The secrets of the notices: the SMTP password, when the server is logged in to."""
        return CREDENTIAL_FIELDS if self.email is not None and self.email.username else ()


def webhook_url(value: str, ctx: CheckContext) -> str:
    """An https URL (http only to a loopback host). A query is allowed: Teams Workflows URLs carry
    their signature in one. The value is never quoted in an error: it holds the webhook's token."""
    if not value:
        raise Invalid("must not be empty", show_value=False)
    if any(c.isspace() for c in value):
        raise Invalid("must not contain spaces", show_value=False)
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise Invalid("must start with https://", show_value=False)
    if parts.username is not None or parts.password is not None:
        raise Invalid("must not contain a user name or password", show_value=False)
    if not parts.hostname:
        raise Invalid("has no host name", show_value=False)
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise Invalid("has an invalid port number", show_value=False) from None
    if parts.fragment:
        raise Invalid("must not contain a fragment (#...)", show_value=False)
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise Invalid("must use https:// (plain http:// is allowed only to a loopback host such as 127.0.0.1); "
                      "the URL carries the webhook's token", show_value=False)
    return value


def smtp_host(value: str, ctx: CheckContext) -> str:
    if not value or not _HOST.match(value):
        raise Invalid("must be a host name or IP address, like smtp.example.com")
    return value


def webhook_format(value: str, ctx: CheckContext) -> str:
    if value not in WEBHOOK_FORMATS:
        raise Invalid("must be one of " + ", ".join(WEBHOOK_FORMATS))
    return value


def security(value: str, ctx: CheckContext) -> str:
    if value not in SECURITY:
        raise Invalid("must be one of " + ", ".join(SECURITY))
    return value


def address(value: str, ctx: CheckContext) -> str:
    if not _ADDRESS.match(value):
        raise Invalid("must be one e-mail address, like ap-team@example.com (no display name)")
    return value


def username(value: str, ctx: CheckContext) -> str:
    if not value.strip():
        raise Invalid("must not be empty; write null to send without logging in")
    if any(c in value for c in "\r\n"):
        raise Invalid("must be one line")
    return value


WEBHOOK_SCHEMA: dict[str, Field] = {
    "url": Field(str, check=webhook_url),
    "timeout": Field(float, 10.0, check=in_range(high=120, above=0)),
    "ca_bundle": Field(str, None, nullable=True, check=existing_file),
    "format": Field(str, "both", check=webhook_format),
}

# `to` (one address or a list) is read by the loader itself: a Field holds a scalar only.
EMAIL_SCHEMA: dict[str, Field] = {
    "host": Field(str, check=smtp_host),
    "port": Field(int, None, nullable=True, check=in_range(1, 65535)),  # None: by `security`
    "security": Field(str, "starttls", check=security),
    "username": Field(str, None, nullable=True, check=username),
    "from": Field(str, check=address),
    "timeout": Field(float, 10.0, check=in_range(high=120, above=0)),
    "ca_bundle": Field(str, None, nullable=True, check=existing_file),
}
EMAIL_KEYS = ("host", "port", "security", "username", "from", "to", "timeout", "ca_bundle")
