"""Build a system's client from its configuration and its credentials.

The one place that joins config, the credential chain and the state file's token cache to the
system packages, so a command needs only a system name.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import httpx

from mlconnector import secrets
from mlconnector.config import Config

CLIENT_KINDS = ("sage300", "procore", "intacct")


class StateTokenCache:
    """Procore tokens kept in the state file, encrypted with a key derived from the client secret.

    Whoever can read the token must already know the secret; a rotated secret simply makes
    the cached token unreadable, and a new one is requested.
    """

    def __init__(self, state, system: str, cache_key: str, secret: str) -> None:
        self._state, self._system, self._cache_key = state, system, cache_key
        self._secret = secret.encode()

    def load(self) -> dict | None:
        return self._state.get_token(self._system, self._cache_key, self._secret)

    def save(self, token: dict, expires_at: float) -> None:
        self._state.put_token(self._system, self._cache_key, self._secret, token, expires_at)


def check_credentials(config: Config, name: str) -> None:
    """Resolve every secret system ``name`` needs now; CredentialError names what is missing.

    A run checks this before it creates or locks anything, so a missing secret changes nothing.
    """
    fields = config.credential_fields(name)
    if fields:
        secrets.resolve_all(name, fields)


def open_client(config: Config, name: str, *, state=None, transport: httpx.BaseTransport | None = None):
    """A client for system ``name``. With ``state`` (not read-only) Procore tokens are cached there."""
    settings = config.system(name)
    if settings.kind == "sage300":
        from mlconnector.systems.sage300 import Sage300Client

        password = secrets.resolve(name, "password")
        return Sage300Client(settings, password=password, transport=transport)
    if settings.kind == "procore":
        from mlconnector.systems.procore import ProcoreClient
        from mlconnector.systems.procore.auth import MemoryTokenCache

        creds = secrets.resolve_all(name, ("client_id", "client_secret"))
        cache = MemoryTokenCache()
        if state is not None and not state.readonly:
            key = hashlib.sha256(f"{settings.login_url}|{creds['client_id']}".encode()).hexdigest()[:32]
            cache = StateTokenCache(state, name, key, creds["client_secret"])
        return ProcoreClient(settings, client_id=creds["client_id"], client_secret=creds["client_secret"],
                             token_cache=cache, transport=transport)
    if settings.kind == "intacct":
        from mlconnector.systems.intacct import IntacctClient

        creds = secrets.resolve_all(name, ("sender_password", "user_password"))
        return IntacctClient(settings, sender_password=creds["sender_password"],
                             user_password=creds["user_password"], transport=transport)
    raise NotImplementedError(f"no client for systems of kind {settings.kind!r} yet")


@dataclass(frozen=True)
class PingResult:
    system: str
    kind: str
    url: str
    seconds: float
    reached: str


def ping(config: Config, name: str, *, transport: httpx.BaseTransport | None = None) -> PingResult:
    """Authenticate to system ``name`` and do one cheap read; raise why not."""
    settings = config.system(name)
    started = time.perf_counter()
    with open_client(config, name, transport=transport) as client:
        if settings.kind == "sage300":
            from mlconnector.systems.sage300.readers import ping as sage_ping

            count = sage_ping(client)
            reached = f"company {settings.company}, AP vendors" + (f": {count}" if count is not None else " readable")
            url = settings.url
        elif settings.kind == "intacct":
            from mlconnector.systems.intacct.readers import ping as intacct_ping

            count = intacct_ping(client)
            entity = f" (entity {settings.entity_id})" if settings.entity_id else ""
            vendors = f": {count}" if count is not None else " readable"
            reached = f"company {settings.company_id}{entity}, vendors{vendors}"
            url = client.session.endpoint if client.session is not None else settings.url
        else:
            from mlconnector.systems.procore.readers import company

            found = company(client)
            reached = f"company {found.get('id')} ({found.get('name', '?')})"
            url = settings.api_url
    return PingResult(name, settings.kind, url, time.perf_counter() - started, reached)
