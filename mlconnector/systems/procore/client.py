"""The Procore REST client: auth, company header, pacing, retries, paging, error parsing.

Every request carries ``Authorization: Bearer``, ``Procore-Company-Id`` (required on every
call, procore.md §2) and our User-Agent. A 401 renews the token once and retries once; a 429
waits as the server asks; 5xx, 408, timeouts and resets are retried with capped backoff.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import httpx

from mlconnector.errors import RateBudgetExhausted, ResponseError
from mlconnector.http import (
    DEFAULT_RETRY,
    SystemClient,
    Transient,
    body_excerpt,
    build_client,
    call_with_retries,
    redirect_error,
    retry_after_seconds,
)
from mlconnector.systems.procore.auth import MemoryTokenCache, TokenCache, TokenProvider
from mlconnector.systems.procore.errors import raise_for_error
from mlconnector.systems.procore.pacing import RatePacer
from mlconnector.systems.procore.paging import next_link
from mlconnector.systems.procore.settings import ProcoreSettings

log = logging.getLogger("mlconnector.procore")

# A run of 429s this long on one call means the pacing cannot work; give the call up.
MAX_CONSECUTIVE_429 = 20


class ProcoreClient(SystemClient):
    def __init__(
        self,
        settings: ProcoreSettings,
        *,
        client_id: str,
        client_secret: str,
        token_cache: TokenCache | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.system = settings.name
        self._api_url = settings.api_url.rstrip("/")
        self._sleep = sleep
        self._clock = clock
        self._http = build_client(timeout=settings.timeout, ca_bundle=settings.ca_bundle, transport=transport)
        self.tokens = TokenProvider(
            self._http,
            system=self.system,
            login_url=settings.login_url,
            client_id=client_id,
            client_secret=client_secret,
            cache=token_cache or MemoryTokenCache(),
            clock=clock,
            sleep=sleep,
        )
        # With requests in flight at once, the reserve covers them all: none may spend the last.
        self.pacer = RatePacer(system=self.system, max_wait=settings.max_rate_wait, clock=clock, sleep=sleep,
                               reserve=settings.concurrency)
        self._count_lock = threading.Lock()
        # Waits a server asks for up to max_rate_wait are honoured; longer ones pause the run.
        self._retry = replace(DEFAULT_RETRY, max_asked=max(DEFAULT_RETRY.max_asked, settings.max_rate_wait))

    # -- core -------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        what: str,
    ) -> Any:
        """Send one request and return its decoded JSON body (None for an empty body).

        Transient failures are retried, writes included: every write we make is keyed by an
        idempotency key (``origin_id`` or ``id``), so a resent write updates, never duplicates.
        """
        return self.exchange(method, path, params=params, json_body=json_body, what=what)[1]

    def exchange(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        what: str,
    ) -> tuple[httpx.Response, Any]:
        """Like :meth:`request`, also returning the response (for its headers)."""
        url = path if path.startswith("http") else self._api_url + path
        is_read = method.upper() == "GET"

        def attempt() -> Any:
            renewed = False
            throttled = 0
            while True:
                self.pacer.before_request()
                token = self.tokens.access_token()
                response = self._http.request(
                    method,
                    url,
                    params=params,
                    json=json_body,
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Procore-Company-Id": str(self.settings.company_id),
                        "Accept": "application/json",
                    },
                )
                with self._count_lock:
                    if is_read:
                        self.reads += 1
                    else:
                        self.writes += 1
                self.pacer.observe(response)
                status = response.status_code
                if status == 429:
                    throttled += 1
                    if throttled > MAX_CONSECUTIVE_429:
                        raise Transient(f"{what}: HTTP 429 {throttled} times in a row", status=429)
                    self.pacer.after_429(response)
                    continue
                if status == 401 and not renewed:
                    renewed = True
                    self.tokens.renew(rejected=token)
                    continue
                if status >= 500 or status == 408:
                    asked = retry_after_seconds(response) or 0.0
                    if asked > self.settings.max_rate_wait:
                        # Procore's overload answer (procore.md §3): a pause like a spent rate budget.
                        raise RateBudgetExhausted(self.system, self._clock() + asked, self.settings.max_rate_wait)
                    raise Transient(f"{what}: HTTP {status}: {body_excerpt(response, 120)}", wait=asked, status=status)
                if status >= 400:
                    raise_for_error(response, system=self.system, what=what)
                if status >= 300:
                    raise redirect_error(response, system=self.system, what=what, setting="api_url")
                return response, self._decode(response, what=what)

        return call_with_retries(attempt, system=self.system, what=what, sleep=self._sleep, policy=self._retry)

    def _decode(self, response: httpx.Response, *, what: str) -> Any:
        if not response.content:
            return None
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
            # A truncated or proxy-mangled answer is worth another try; our writes are idempotent.
            raise Transient(
                f"{what}: HTTP {response.status_code} with a body that is not JSON: {body_excerpt(response)}",
                status=response.status_code,
            ) from None

    def get_pages(self, path: str, params: dict[str, Any], *, what: str) -> Iterator[list[dict]]:
        """Yield each page of a list endpoint, following ``Link: rel="next"``.

        The next page is requested on our own API host with the query the server gave, so the
        token never goes to a host the configuration does not name.
        """
        query: dict[str, Any] = {"per_page": self.settings.page_size, **params, "page": 1}
        seen = 0
        while True:
            response, body = self.exchange("GET", path, params=query, what=f"{what} (page {query.get('page', '?')})")
            if body is None:
                return
            if not isinstance(body, list):
                raise ResponseError(f"{what}: expected a JSON list, got {type(body).__name__}", system=self.system)
            yield body
            seen += len(body)
            if not body:
                return
            link = next_link(response.headers.get("Link"))
            if link:
                following = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(link).query, keep_blank_values=True))
                if following == {k: str(v) for k, v in query.items()}:
                    raise ResponseError(f"{what}: the next-page link points at the page just read", system=self.system)
                query = following
                continue
            # No Link header: go on only while the Total header says more rows exist.
            total = response.headers.get("Total", "")
            if not total.isdigit() or seen >= int(total):
                return
            query = {**query, "page": int(query["page"]) + 1}
