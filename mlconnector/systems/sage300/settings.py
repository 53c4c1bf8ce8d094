"""Settings of a Sage 300 system (the Sage 300 Web API on the customer's IIS server).

The loader in :mod:`mlconnector.config` reads ``SCHEMA`` and builds ``SETTINGS``; the secrets
named in ``CREDENTIAL_FIELDS`` never live in the YAML file (see :mod:`mlconnector.secrets`).
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from mlconnector._schema import (
    CheckContext,
    Field,
    Invalid,
    existing_file,
    in_range,
    is_loopback,
    parse_http_url,
)

CREDENTIAL_FIELDS = ("password",)

# The base URL ends at the company: {scheme}://{host}/Sage300WebApi/v1.0/-/{company}
# ("-" is the tenant segment, always a literal dash). The client appends /{module}/{resource}.
_COMPANY_TAIL = re.compile(r"/-/([^/]+)/?$")
_EXAMPLE = "https://erp.example.com/Sage300WebApi/v1.0/-/SAMLTD"


def _check_url(value: str, ctx: CheckContext) -> str:
    parts = parse_http_url(value)
    if not _COMPANY_TAIL.search(parts.path):
        if "/-/" in parts.path:
            raise Invalid(f"must end at the company, like {_EXAMPLE}; remove what follows the company")
        raise Invalid(f"must end with /-/<company>, like {_EXAMPLE}")
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        # Allowed because some IIS installs only listen on http, but every request carries the
        # password in an HTTP Basic header.
        ctx.warn("plain http:// to a non-loopback host sends the Sage 300 password in clear text "
                 "with every request; switch the IIS site to https://")
    return value.rstrip("/")


@dataclass(frozen=True, kw_only=True)
class Sage300Settings:
    name: str
    kind: str
    url: str
    username: str
    uppercase_password: bool = False
    ca_bundle: Path | None = None
    timeout: float = 120.0
    page_size: int = 100

    @property
    def company(self) -> str:
        """The company (database) ID from the URL, e.g. ``SAMLTD``."""
        match = _COMPANY_TAIL.search(urllib.parse.urlsplit(self.url).path)
        if not match:  # only when built by hand, bypassing the loader
            raise ValueError(f"url has no /-/<company>: {self.url}")
        return urllib.parse.unquote(match.group(1))


def _check_username(value: str, ctx: CheckContext) -> str:
    if not value.strip():
        raise Invalid("must not be empty")
    return value


SETTINGS = Sage300Settings
SCHEMA: dict[str, Field] = {
    "url": Field(str, check=_check_url),
    "username": Field(str, check=_check_username),
    # Older Sage 300 releases stored passwords upper-case; send it upper-cased when true.
    "uppercase_password": Field(bool, False),
    "ca_bundle": Field(str, None, nullable=True, check=existing_file),
    "timeout": Field(float, 120.0, check=in_range(above=0)),
    "page_size": Field(int, 100, check=in_range(1, 10000)),
}
