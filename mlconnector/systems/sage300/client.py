"""The Sage 300 Web API client: Basic auth, JSON headers, OData paging, retries, errors.

URL layout: ``{url}/{Module}/{Resource}`` where ``url`` ends in ``/v1.0/-/{Company}``
(sage300_syspro.md §1.1). ``Content-Type: application/json`` goes on every request, GETs
included — without it the server answers 500.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from mlconnector.errors import ResponseError
from mlconnector.http import (
    SystemClient,
    Transient,
    body_excerpt,
    build_client,
    call_with_retries,
    redirect_error,
    retry_after_seconds,
)
from mlconnector.systems.sage300.auth import basic_auth
from mlconnector.systems.sage300.errors import odata_error, raise_for_error
from mlconnector.systems.sage300.paging import next_skip, total_count
from mlconnector.systems.sage300.settings import Sage300Settings

log = logging.getLogger("mlconnector.sage300")


def odata_string(value: str) -> str:
    """An OData string literal: single quotes, an embedded quote doubled."""
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class Page:
    """One page of rows and where it started (the resume point of a scan)."""

    skip: int
    rows: list[dict]
    next_skip: int | None


class Sage300Client(SystemClient):
    def __init__(
        self,
        settings: Sage300Settings,
        *,
        password: str,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.system = settings.name
        self._sleep = sleep
        self._http = build_client(
            base_url=settings.url.rstrip("/") + "/",
            timeout=settings.timeout,
            ca_bundle=settings.ca_bundle,
            transport=transport,
            auth=basic_auth(settings.username, password, uppercase_password=settings.uppercase_password),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )

    def get(self, path: str, *, params: dict[str, Any] | None = None, what: str) -> Any:
        """GET ``path`` (relative to the company URL) and return the decoded JSON body."""

        def attempt() -> Any:
            self.reads += 1
            response = self._http.get(path, params=params)
            status = response.status_code
            if status == 429 or status == 408 or status >= 500:
                code, message = odata_error(response)
                raise Transient(
                    f"{what}: HTTP {status}{f' {code}' if code else ''}: {message}",
                    wait=retry_after_seconds(response) or 0.0,
                    status=status,
                )
            if status >= 400:
                raise_for_error(
                    response, system=self.system, what=what, uppercase_password=self.settings.uppercase_password
                )
            if status >= 300:
                raise redirect_error(response, system=self.system, what=what, setting="url")
            try:
                return json.loads(response.content)
            except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
                raise Transient(
                    f"{what}: HTTP {status} with a body that is not JSON: {body_excerpt(response)}",
                    status=status,
                ) from None

        return call_with_retries(attempt, system=self.system, what=what, sleep=self._sleep)

    def pages(
        self,
        resource: str,
        *,
        filter: str | None = None,
        select: list[str] | None = None,
        start_skip: int = 0,
        what: str,
    ) -> Iterator[Page]:
        """Yield every page of ``resource``, re-sending ``$filter``/``$select`` on each page."""
        page_size = self.settings.page_size
        skip: int | None = start_skip
        # Options we can do without: a server that refuses them (field names differ by Sage
        # version and module) still serves whole rows, which carry every field we read.
        optional: dict[str, str] = {"$count": "true"}
        if select:
            optional["$select"] = ",".join(select)
        while skip is not None:
            params: dict[str, Any] = {"$top": page_size, "$skip": skip, **optional}
            if filter:
                params["$filter"] = filter
            try:
                body = self.get(resource, params=params, what=f"{what} ($skip={skip})")
            except ResponseError as exc:
                if not optional or exc.status != 400:
                    raise
                log.warning("%s: %s refused (%s); reading whole rows without them",
                            self.system, " and ".join(optional), exc.reason)
                optional = {}
                continue
            rows = body.get("value") if isinstance(body, dict) else None
            if not isinstance(rows, list):
                raise ResponseError(f"{what}: the answer has no 'value' list", system=self.system)
            following = next_skip(
                skip=skip,
                received=len(rows),
                requested=page_size,
                next_link=body.get("@odata.nextLink") or body.get("odata.nextLink"),
                total=total_count(body),
            )
            yield Page(skip=skip, rows=rows, next_skip=following)
            skip = following

    def get_entity(self, resource: str, key: str, *, what: str) -> dict | None:
        """One entity by its string key, or None when Sage says ``RecordNotFound``."""
        try:
            # Percent-encode the literal so a key holding / ? # % or a space stays one path segment.
            literal = urllib.parse.quote(odata_string(key), safe="'")
            body = self.get(f"{resource}({literal})", what=what)
        except ResponseError as exc:
            # RecordNotFound is "no such key"; ResourceNotFound means the company or resource in
            # the URL is wrong, which must not pass for a deleted record.
            if exc.code == "RecordNotFound" or (exc.status == 404 and exc.code is None):
                return None
            raise
        if not isinstance(body, dict):
            raise ResponseError(f"{what}: expected one entity", system=self.system)
        return body
