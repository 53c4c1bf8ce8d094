"""OAuth 2.0 client credentials for Procore (procore.md §1.1).

The token is requested from ``{login_url}/oauth/token`` with form fields ``grant_type``,
``client_id`` and ``client_secret``; it is kept in a :class:`TokenCache` (the state file
encrypts it) and renewed from ``created_at + expires_in`` before it runs out, never on a
hard-coded lifetime (Procore cut it from 2 h to 1.5 h once and announced shorter ones).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Protocol

import httpx

from mlconnector import redact
from mlconnector.errors import AuthError, ResponseError
from mlconnector.http import (
    Transient,
    body_excerpt,
    call_with_retries,
    retry_after_seconds,
)
from mlconnector.systems.procore.errors import error_message

log = logging.getLogger("mlconnector.procore")


class TokenCache(Protocol):
    """Where a token survives between runs. ``load`` returns None when there is none."""

    def load(self) -> dict | None: ...

    def save(self, token: dict, expires_at: float) -> None: ...


class MemoryTokenCache:
    """A cache that lives as long as the process (dry runs, tests)."""

    def __init__(self) -> None:
        self._token: dict | None = None

    def load(self) -> dict | None:
        return self._token

    def save(self, token: dict, expires_at: float) -> None:
        self._token = dict(token, expires_at=expires_at)


def renewal_margin(lifetime: float) -> float:
    """Renew this many seconds early: a tenth of the lifetime, between 10 s and 5 min."""
    return min(300.0, max(10.0, lifetime / 10))


class TokenProvider:
    def __init__(
        self,
        http: httpx.Client,
        *,
        system: str,
        login_url: str,
        client_id: str,
        client_secret: str,
        cache: TokenCache,
        clock=time.time,
        sleep=time.sleep,
    ) -> None:
        self._http = http
        self._system = system
        self._token_url = login_url.rstrip("/") + "/oauth/token"
        self._client_id = client_id
        self._client_secret = client_secret
        self._cache = cache
        self._clock = clock
        self._sleep = sleep
        self._token: dict | None = None
        self.requests = 0
        # Concurrent writers share one token: one of them renews it, the others wait for it.
        self._lock = threading.RLock()

    def access_token(self) -> str:
        """A token that is valid for at least the renewal margin."""
        with self._lock:
            token = self._token or self._cache.load()
            if token and self._clock() < token["expires_at"] - renewal_margin(token.get("expires_in", 0)):
                self._token = token
                redact.register(token["access_token"])
                return token["access_token"]
            return self.renew()

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    def renew(self, *, rejected: str | None = None) -> str:
        """A new token; with ``rejected`` (the token a 401 refused), the current one when another
        request renewed it meanwhile."""
        with self._lock:
            if rejected is not None and self._token and self._token["access_token"] != rejected:
                return self._token["access_token"]
            token = call_with_retries(self._request_token, system=self._system, what="token request",
                                      sleep=self._sleep)
            redact.register(token["access_token"])
            self._token = token
            self._cache.save(token, token["expires_at"])
            return token["access_token"]

    def _request_token(self) -> dict:
        self.requests += 1
        response = self._http.post(
            self._token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": self._client_id,
                "client_secret": self._client_secret,
            },
            headers={"Accept": "application/json"},
        )
        if response.status_code == 429 or response.status_code >= 500:
            raise Transient(
                f"HTTP {response.status_code} from the token endpoint",
                wait=retry_after_seconds(response) or 0.0,
                status=response.status_code,
            )
        if response.status_code in (400, 401, 403):
            raise AuthError(
                f"the token request was refused: {error_message(response)}",
                system=self._system,
                status=response.status_code,
                hint=f"Check the client id and secret (`mlconnector credentials set {self._system}`) "
                "and login_url in the configuration.",
            )
        try:
            body = response.json()
            access_token = body["access_token"]
            expires_in = float(body.get("expires_in") or 0)
        except (json.JSONDecodeError, ValueError, KeyError, TypeError):
            raise ResponseError(
                f"the token endpoint answered HTTP {response.status_code} without a token: "
                f"{_unusable_token_body(response)}",
                system=self._system,
                status=response.status_code,
            ) from None
        if response.status_code >= 300 or not isinstance(access_token, str) or not access_token:
            raise ResponseError(
                f"unexpected token response HTTP {response.status_code}",
                system=self._system,
                status=response.status_code,
            )
        # created_at is the server's clock; counting from our own receipt avoids clock skew.
        now = self._clock()
        expires_in = expires_in if expires_in > 0 else 900.0
        log.debug("%s: new access token, valid %.0f s", self._system, expires_in)
        return {"access_token": access_token, "expires_in": expires_in, "expires_at": now + expires_in}


def _unusable_token_body(response: httpx.Response) -> str:
    """What a token answer we cannot use looked like, never its text (unless it is an HTML page):
    an answer cut short may still hold a valid access token, which no redactor knows yet."""
    excerpt = body_excerpt(response)
    if excerpt.startswith("an HTML page"):
        return excerpt
    content_type = response.headers.get("Content-Type") or "no content type"
    return f"{len(response.content)} bytes of {content_type}, not a token answer (not shown: it may hold a token)"
