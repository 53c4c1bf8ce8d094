"""Settings of a Sage Intacct company reached through the XML gateway (intacct_sage100.md §1–2).

The loader in :mod:`mlconnector.config` reads ``SCHEMA`` and builds ``SETTINGS``; the secrets
named in ``CREDENTIAL_FIELDS`` (the Web Services sender password and the API user's password)
never live in the YAML file (see :mod:`mlconnector.secrets`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlconnector._schema import (
    CheckContext,
    Field,
    Invalid,
    existing_file,
    https_url,
    in_range,
)

CREDENTIAL_FIELDS = ("sender_password", "user_password")

DEFAULT_URL = "https://api.intacct.com/ia/xml/xmlgw.phtml"
# readByQuery refuses a larger page (intacct_sage100.md §5, SDK ReadByQuery::MAX_PAGE_SIZE).
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True, kw_only=True)
class IntacctSettings:
    name: str
    kind: str
    url: str = DEFAULT_URL
    sender_id: str
    company_id: str
    user_id: str
    # Multi-entity companies: the entity to sign in to (sent as <locationid>); None = top level.
    entity_id: str | None = None
    ca_bundle: Path | None = None
    timeout: float = 120.0
    page_size: int = MAX_PAGE_SIZE
    # Bills posted at once. Intacct's standard level of service runs one API transaction job per
    # company at a time (intacct_sage100.md §10, DEV-FAQ): raise it only on a higher tier.
    concurrency: int = 1


def _non_empty(value: str, ctx: CheckContext) -> str:
    if not value.strip():
        raise Invalid("must not be empty")
    if value != value.strip():
        # Intacct ids are compared exactly; a stray space makes sign-in fail with no hint why.
        raise Invalid("must not start or end with a space")
    return value


def _check_url(value: str, ctx: CheckContext) -> str:
    # Passwords travel in the request body: https always, plain http only to a local simulator.
    return https_url(value, ctx)


SETTINGS = IntacctSettings
SCHEMA: dict[str, Field] = {
    "url": Field(str, DEFAULT_URL, check=_check_url),
    "sender_id": Field(str, check=_non_empty),
    "company_id": Field(str, check=_non_empty),
    "user_id": Field(str, check=_non_empty),
    "entity_id": Field(str, None, nullable=True, check=_non_empty),
    "ca_bundle": Field(str, None, nullable=True, check=existing_file),
    "timeout": Field(float, 120.0, check=in_range(above=0)),
    "page_size": Field(int, MAX_PAGE_SIZE, check=in_range(1, MAX_PAGE_SIZE)),
    "concurrency": Field(int, 1, check=in_range(1, 8)),
}
