"""Seeded fault knobs for the simulators: the misbehaviour of real servers, on a schedule.

A :class:`FaultPlan` says how often each fault happens; :meth:`SimulatorServer.set_fault_plan`
installs it on one simulator, which then draws, for every request it is sent (in arrival order,
from ``random.Random`` seeded by the plan's seed and the simulator's name), whether that request
meets a fault:

``latency``        every answer is delayed ``latency`` seconds plus up to ``latency_jitter``.
``error_rate``     answer 500/502/503 (``error_statuses``) before the request is applied; a 503
                   carries ``Retry-After``.
``rate_limit_rate`` start a burst of ``burst`` 429s (``Retry-After`` and ``X-Rate-Limit-*``).
``hang_rate``      hold the request ``hang_seconds`` (never more than :data:`MAX_HANG`), past the
                   client's timeout, then close the connection without an answer; not applied.
``reset_rate``     reset the connection (TCP RST) without an answer; not applied.
``lost_response_rate`` apply the request, then reset the connection: the client cannot know the
                   write happened. Writes only (a lost read is a reset).
``token_expiry_every`` every N-th API call, every access token (Procore) or session (Intacct)
                   expires first: the call is refused and the client must renew. Sage 300's Web
                   API uses HTTP Basic auth on every request and has nothing that could expire.
``garbage_rate``   a body the client cannot use (``garbage_kinds``): ``html200`` (IIS error page
                   with status 200, after the request was applied), ``html500`` (IIS error page
                   with 500, before), ``truncated`` (the real JSON answer cut short, after),
                   ``text`` (``text/plain`` with a non-JSON body, after).

Every fault is counted in :attr:`FaultInjector.counts` (``simulator.fault_counts``) by kind, for
assertions. :func:`parse_fault_spec` reads the compact form ``mlconnector demo --faults`` takes.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from mlconnector.sandbox import FAULT_SPEC_HELP as SPEC_HELP
from mlconnector.sandbox._server import (
    NO_RESPONSE,
    RESET,
    Fault,
    Request,
    Response,
    json_response,
)

if TYPE_CHECKING:
    from mlconnector.sandbox._server import SimulatorServer

# A hung request is held at most this long: a test or demo must never stall on one.
MAX_HANG = 5.0
GARBAGE_KINDS = ("html200", "html500", "truncated", "text")
FAULT_KINDS = ("5xx", "429", "timeout", "reset", "lost", "garbage", "expire", "latency")

IIS_ERROR_PAGE = (
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" '
    '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\r\n'
    '<html xmlns="http://www.w3.org/1999/xhtml">\r\n<head>\r\n'
    '<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1"/>\r\n'
    "<title>500 - Internal server error.</title>\r\n</head>\r\n<body>\r\n"
    '<div id="header"><h1>Server Error</h1></div>\r\n<div id="content">\r\n <div class="content-container">'
    "<fieldset>\r\n  <h2>500 - Internal server error.</h2>\r\n  <h3>There is a problem with the resource you "
    "are looking for, and it cannot be displayed.</h3>\r\n </fieldset></div>\r\n</div>\r\n</body>\r\n</html>\r\n"
)


@dataclass(frozen=True)
class FaultPlan:
    """How often each fault happens (rates are per request, 0..1, and must add up to at most 1)."""

    seed: int = 0
    latency: float = 0.0
    latency_jitter: float = 0.0
    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = (500, 502, 503)
    retry_after: int = 1  # seconds, on 503 and 429 answers
    rate_limit_rate: float = 0.0
    burst: int = 3
    hang_rate: float = 0.0
    hang_seconds: float = 2.0
    reset_rate: float = 0.0
    lost_response_rate: float = 0.0
    token_expiry_every: int = 0
    garbage_rate: float = 0.0
    garbage_kinds: tuple[str, ...] = GARBAGE_KINDS
    path_prefix: str = "/"

    def __post_init__(self) -> None:
        rates = {"error_rate": self.error_rate, "rate_limit_rate": self.rate_limit_rate, "hang_rate": self.hang_rate,
                 "reset_rate": self.reset_rate, "lost_response_rate": self.lost_response_rate,
                 "garbage_rate": self.garbage_rate}
        for name, rate in rates.items():
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {rate}")
        if sum(rates.values()) > 1.0 + 1e-9:
            raise ValueError(f"the fault rates add up to {sum(rates.values()):.3f}, more than 1")
        if self.latency < 0 or self.latency_jitter < 0 or self.latency + self.latency_jitter > MAX_HANG:
            raise ValueError(f"latency must be between 0 and {MAX_HANG} s")
        if not 0 < self.hang_seconds <= MAX_HANG:
            raise ValueError(f"hang_seconds must be above 0 and at most {MAX_HANG}")
        if self.burst < 1 or self.token_expiry_every < 0 or self.retry_after < 0:
            raise ValueError("burst must be at least 1; token_expiry_every and retry_after at least 0")
        if not self.error_statuses or any(not 500 <= s <= 599 for s in self.error_statuses):
            raise ValueError(f"error_statuses must be 5xx statuses, got {self.error_statuses}")
        unknown = set(self.garbage_kinds) - set(GARBAGE_KINDS)
        if unknown or not self.garbage_kinds:
            raise ValueError(f"garbage_kinds must be some of {', '.join(GARBAGE_KINDS)}")

    def install(self, simulator: SimulatorServer) -> FaultInjector:
        return FaultInjector(self, simulator)


# The keys of the compact spec: key -> (FaultPlan field, converter).
_SPEC_KEYS = {
    "seed": ("seed", int),
    "latency": ("latency", float),
    "jitter": ("latency_jitter", float),
    "5xx": ("error_rate", float),
    "statuses": ("error_statuses", lambda v: tuple(int(s) for s in v.split("+"))),
    "retry_after": ("retry_after", int),
    "429": ("rate_limit_rate", float),
    "burst": ("burst", int),
    "timeout": ("hang_rate", float),
    "hang": ("hang_seconds", float),
    "reset": ("reset_rate", float),
    "lost": ("lost_response_rate", float),
    "expire": ("token_expiry_every", int),
    "garbage": ("garbage_rate", float),
    "garbage_kinds": ("garbage_kinds", lambda v: tuple(v.split("+"))),
}


def parse_fault_spec(spec: str) -> FaultPlan:
    """``"5xx=0.1,timeout=0.05,429=0.05,lost=0.02,expire=100,seed=7"`` -> FaultPlan; ValueError says
    which part is wrong."""
    values: dict[str, object] = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        key, sep, text = part.partition("=")
        key = key.strip().lower()
        if not sep or key not in _SPEC_KEYS:
            raise ValueError(f"{part!r} is not a fault setting; use key=value with key one of "
                             f"{', '.join(_SPEC_KEYS)}")
        name, convert = _SPEC_KEYS[key]
        try:
            values[name] = convert(text.strip())
        except ValueError:
            raise ValueError(f"{part!r}: {text.strip()!r} is not a valid value for {key}") from None
    return FaultPlan(**values)


@dataclass
class FaultInjector:
    """A plan at work on one simulator: the random stream, the 429 burst, the call count, counters."""

    plan: FaultPlan
    simulator: SimulatorServer
    counts: Counter = field(default_factory=Counter)
    calls: int = 0
    _burst_left: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(f"{self.plan.seed}:{type(self.simulator).__name__}")
        self._lock = threading.Lock()
        self._released = threading.Event()

    def release(self) -> None:
        """Let hung requests go at once (the server is stopping)."""
        self._released.set()

    def fault_for(self, request: Request) -> Fault | None:
        """What happens to this request (None: nothing); also expires tokens and waits the latency."""
        plan = self.plan
        if not request.path.startswith(plan.path_prefix):
            return None
        is_write = self.simulator.is_write(request)
        with self._lock:
            self.calls += 1
            expire = bool(plan.token_expiry_every) and self.calls % plan.token_expiry_every == 0
            delay = plan.latency + (self._rng.uniform(0, plan.latency_jitter) if plan.latency_jitter else 0.0)
            fault = self._draw(is_write)
            if delay:
                self.counts["latency"] += 1
        if expire and self.simulator.expire_credentials(request):
            with self._lock:
                self.counts["expire"] += 1
        if delay:
            self._released.wait(delay)
        return fault

    def _draw(self, is_write: bool) -> Fault | None:
        plan, rng = self.plan, self._rng
        if self._burst_left > 0:
            self._burst_left -= 1
            return self._rate_limited()
        u = rng.random()
        for rate, kind in ((plan.error_rate, "5xx"), (plan.hang_rate, "timeout"), (plan.reset_rate, "reset"),
                           (plan.lost_response_rate, "lost"), (plan.garbage_rate, "garbage"),
                           (plan.rate_limit_rate, "429")):
            if u >= rate:
                u -= rate
                continue
            if kind == "5xx":
                status = rng.choice(plan.error_statuses)
                self.counts["5xx"] += 1
                self.counts[f"5xx:{status}"] += 1
                headers = {"Retry-After": str(plan.retry_after)} if status == 503 else {}
                return _Answer(json_response(status, {"error": f"injected {status}"}, headers))
            if kind == "timeout":
                self.counts["timeout"] += 1
                return _Hang(min(plan.hang_seconds, MAX_HANG), self._released)
            if kind == "reset":
                self.counts["reset"] += 1
                return _Answer(RESET)
            if kind == "lost":
                if not is_write:
                    return None  # writes only
                self.counts["lost"] += 1
                return _Lost()
            if kind == "garbage":
                garbage = rng.choice(plan.garbage_kinds)
                self.counts["garbage"] += 1
                self.counts[f"garbage:{garbage}"] += 1
                return _Garbage(garbage)
            self._burst_left = plan.burst - 1
            return self._rate_limited()
        return None

    def _rate_limited(self) -> Fault:
        self.counts["429"] += 1
        wait = self.plan.retry_after
        headers = {"Retry-After": str(wait), "X-Rate-Limit-Limit": "3600", "X-Rate-Limit-Remaining": "0",
                   "X-Rate-Limit-Reset": str(math.ceil(time.time() + wait))}
        return _Answer(json_response(429, {"errors": "You have surpassed the max number of requests for an hour. "
                                           "Please wait until your limit resets."}, headers))


class _Answer(Fault):
    """Answer with this response (or hang up / reset) instead of the simulator."""

    def __init__(self, response: Response) -> None:
        super().__init__()
        self.response = response

    def before(self, request: Request) -> Response:
        return self.response


class _Hang(Fault):
    def __init__(self, seconds: float, released: threading.Event) -> None:
        super().__init__()
        self.seconds, self.released = seconds, released

    def before(self, request: Request) -> Response:
        self.released.wait(self.seconds)
        return NO_RESPONSE


class _Lost(Fault):
    def after(self, request: Request, response: Response) -> Response:
        return RESET


class _Garbage(Fault):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def before(self, request: Request) -> Response | None:
        if self.kind == "html500":
            return Response(500, IIS_ERROR_PAGE.encode("latin-1"), {"Content-Type": "text/html"})
        return None

    def after(self, request: Request, response: Response) -> Response:
        if self.kind == "html200":
            return Response(200, IIS_ERROR_PAGE.encode("latin-1"), {"Content-Type": "text/html"})
        if self.kind == "truncated":
            body = response.body if len(response.body) >= 2 else b'{"entities": [{"id": 1'
            return replace(response, body=body[: max(1, len(body) // 2)])
        return Response(response.status, b"Service Unavailable - Zero size object\r\n",
                        {"Content-Type": "text/plain"})
