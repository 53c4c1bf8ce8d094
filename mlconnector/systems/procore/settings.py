"""Settings of a Procore company (REST API with OAuth client credentials).

The loader in :mod:`mlconnector.config` reads ``SCHEMA`` and builds ``SETTINGS``; the secrets
named in ``CREDENTIAL_FIELDS`` never live in the YAML file (see :mod:`mlconnector.secrets`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlconnector._schema import Field, existing_file, https_url, in_range

CREDENTIAL_FIELDS = ("client_id", "client_secret")


@dataclass(frozen=True, kw_only=True)
class ProcoreSettings:
    name: str
    kind: str
    api_url: str = "https://api.procore.com"
    login_url: str = "https://login.procore.com"
    company_id: int
    ca_bundle: Path | None = None
    timeout: float = 30.0
    page_size: int = 100
    # How long a run may wait for Procore's rate window; past it, the run pauses (exit 5).
    max_rate_wait: float = 300.0
    # Requests in flight at once where Procore has no batch endpoint (commitment line items).
    concurrency: int = 4


SETTINGS = ProcoreSettings
SCHEMA: dict[str, Field] = {
    "api_url": Field(str, "https://api.procore.com", check=https_url),
    "login_url": Field(str, "https://login.procore.com", check=https_url),
    "company_id": Field(int, check=in_range(1)),
    "ca_bundle": Field(str, None, nullable=True, check=existing_file),
    "timeout": Field(float, 30.0, check=in_range(above=0)),
    "page_size": Field(int, 100, check=in_range(1, 1000)),
    "max_rate_wait": Field(float, 300.0, check=in_range(0)),
    "concurrency": Field(int, 4, check=in_range(1, 16)),
}
