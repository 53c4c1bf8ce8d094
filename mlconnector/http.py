"""The shared HTTP layer: one way to build an httpx client, retry, and log with redaction.

Every system client builds its ``httpx.Client`` here, so timeouts, TLS, the user agent and
request logging are the same everywhere. Retries of transient failures (timeouts, resets,
5xx) use capped exponential backoff with jitter; a system client decides which answers are
transient by raising :class:`Transient` from its attempt function.
"""

from __future__ import annotations

import logging
import random
import ssl
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TypeVar

import httpx
import tenacity

from mlconnector import __version__
from mlconnector.errors import ResponseError, UnreachableError
from mlconnector.redact import scrub

log = logging.getLogger("mlconnector.http")

USER_AGENT = f"mlconnector/{__version__} (+https://mlconnector.dev)"
DEFAULT_LIMITS = httpx.Limits(max_connections=8, max_keepalive_connections=4)

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long transient failures are retried.

    ``attempts`` counts the first try. The wait before retry n is exponential from
    ``initial`` seconds, capped at ``cap``, with up to ``jitter`` seconds of jitter, and never
    shorter than a wait the server asked for (``Retry-After``) unless that is over ``max_asked``.
    """

    attempts: int = 6
    initial: float = 0.5
    cap: float = 30.0
    jitter: float = 1.0
    # A server asking to come back later than this (Retry-After on a 5xx) is not waited for:
    # an unattended run would otherwise sleep for hours.
    max_asked: float = 300.0


DEFAULT_RETRY = RetryPolicy()


class Transient(Exception):
    """Raised by an attempt function: this failure may pass; retry after ``wait`` at least."""

    def __init__(self, message: str, *, wait: float = 0.0, status: int | None = None) -> None:
        super().__init__(message)
        self.wait = wait
        self.status = status


class SystemClient:
    """What every system client shares: one httpx client, request counters, closing.

    ``reads`` and ``writes`` count requests sent (retries included), for run reports and
    benchmarks.
    """

    _http: httpx.Client
    reads: int = 0
    writes: int = 0

    def close(self) -> None:
        self._http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build_client(
    *,
    base_url: str = "",
    timeout: float,
    ca_bundle: str | Path | None = None,
    headers: dict[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
    auth: httpx.Auth | tuple[str, str] | None = None,
) -> httpx.Client:
    """An httpx client with our defaults. TLS verification is always on; ``ca_bundle`` adds a CA."""
    verify: ssl.SSLContext | bool = True
    if ca_bundle:
        verify = ssl.create_default_context(cafile=str(ca_bundle))
    return httpx.Client(
        base_url=base_url,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
        limits=DEFAULT_LIMITS,
        verify=verify,
        headers={"User-Agent": USER_AGENT, **(headers or {})},
        transport=transport,
        auth=auth,
        follow_redirects=False,
        event_hooks={"response": [_log_response]},
    )


def _log_response(response: httpx.Response) -> None:
    request = response.request
    request_id = response.headers.get("X-Request-Id")
    log.debug(
        "%s %s -> %s%s",
        request.method,
        scrub(str(request.url)),
        response.status_code,
        f" (request id {request_id})" if request_id else "",
    )


def retry_after_seconds(response: httpx.Response, *, now: float | None = None) -> float | None:
    """The wait a ``Retry-After`` header asks for (seconds or an HTTP date), if any."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, when - (now if now is not None else time.time()))


def call_with_retries(
    attempt: Callable[[], T],
    *,
    system: str,
    what: str,
    policy: RetryPolicy = DEFAULT_RETRY,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``attempt`` until it returns, retrying :class:`Transient` and transport errors.

    When the attempts are spent, raise :class:`UnreachableError` naming the system and the
    last failure, so the run stops with exit code 3 and a reason a person can act on.
    """

    def backoff(state: tenacity.RetryCallState) -> float:
        # Written out rather than tenacity.wait_exponential_jitter, whose arguments changed in 9.x.
        exponential = policy.initial * 2 ** max(0, state.attempt_number - 1)
        return min(policy.cap, exponential) + random.uniform(0, policy.jitter)

    def wait(state: tenacity.RetryCallState) -> float:
        asked = 0.0
        if state.outcome is not None and isinstance(state.outcome.exception(), Transient):
            asked = state.outcome.exception().wait
        return max(backoff(state), asked)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "%s: %s failed (%s); retry %d of %d in %.1f s",
            system,
            what,
            scrub(_describe(exc)),
            state.attempt_number,
            policy.attempts - 1,
            state.upcoming_sleep,
        )

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.attempts),
        wait=wait,
        retry=tenacity.retry_if_exception_type((Transient, httpx.TransportError)),
        before_sleep=before_sleep,
        sleep=sleep,
        reraise=True,
    )

    def guarded() -> T:
        try:
            return attempt()
        except Transient as exc:
            if exc.wait > policy.max_asked:
                raise UnreachableError(
                    f"{what}: {exc}; the server asks to retry after {exc.wait:.0f} s",
                    system=system,
                    status=exc.status,
                    hint="The server is down or in maintenance for a while. Nothing was lost; run the sync "
                    "again later.",
                ) from None
            raise
        except httpx.ConnectError as exc:
            if certificate_rejected(exc):
                # Retrying cannot make a certificate trusted: say what to do at once.
                raise UnreachableError(
                    f"{what}: the server's TLS certificate was not accepted ({_describe(exc)})",
                    system=system,
                    hint="If the server uses a certificate from your own CA, set `ca_bundle:` for this system "
                    "to that CA's PEM file. Verification is never switched off.",
                ) from None
            raise

    try:
        return retrying(guarded)
    except Transient as exc:
        raise UnreachableError(
            f"{what} still failing after {policy.attempts} attempts: {exc}",
            system=system,
            status=exc.status,
            hint="The server may be down or overloaded. Nothing was lost; run the sync again later.",
        ) from None
    except httpx.TransportError as exc:
        raise UnreachableError(
            f"{what} failed after {policy.attempts} attempts: {_describe(exc)}",
            system=system,
            hint="Check the URL in the configuration, the network path and any proxy or firewall.",
        ) from None


def certificate_rejected(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a TLS certificate that failed verification."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, httpx.TransportError):
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return str(exc)


def redirect_error(response: httpx.Response, *, system: str, what: str, setting: str) -> ResponseError:
    """A 3xx: we never follow redirects (credentials must not travel to another URL), so say where it points."""
    location = response.headers.get("Location") or "no Location header"
    return ResponseError(
        f"{what}: HTTP {response.status_code} redirect to {scrub(location)}",
        system=system,
        status=response.status_code,
        hint=f"Put the address the server redirects to in `{setting}` in the configuration "
        "(often http:// -> https:// or a proxy sign-in page).",
    )


def body_excerpt(response: httpx.Response, limit: int = 300) -> str:
    """A short, scrubbed, single-line excerpt of a body for an error message."""
    content_type = response.headers.get("Content-Type", "")
    try:
        # Only the head of the body: a 10 MB answer must not be decoded whole for 300 characters.
        text = response.content[: limit * 8].decode(response.encoding or "utf-8", errors="replace")
    except (LookupError, httpx.ResponseNotRead):
        return f"<a body of {content_type or 'unknown type'}>"
    if "html" in content_type.lower() or text.lstrip()[:15].lower().startswith(("<!doctype html", "<html")):
        return "an HTML page (a web server or proxy error page, not an API answer)"
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[:limit] + "…"
    return scrub(text) or "<empty body>"


def in_parallel(workers: int, items: list, work) -> None:
    """``work(item)`` for every item, at most ``workers`` at a time; the first error is raised
    once all have finished (none is abandoned half-way)."""
    if workers <= 1 or len(items) <= 1:
        for item in items:
            work(item)
        return
    with ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="mlconnector") as pool:
        futures = [pool.submit(work, item) for item in items]
    for future in futures:
        future.result()
