"""Keep under Procore's rate windows instead of running into them (procore.md §3).

Every response reports the window closest to exhaustion in ``X-Rate-Limit-Limit``,
``-Remaining`` and ``-Reset`` (epoch seconds). When ``Remaining`` falls to the reserve we
wait for ``Reset`` before the next request, so a normal run never sees a 429. When the wait
would be longer than the run may wait, the run pauses (exit 5) and resumes next time.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

import httpx

from mlconnector.errors import RateBudgetExhausted
from mlconnector.http import retry_after_seconds

log = logging.getLogger("mlconnector.procore")


class RatePacer:
    def __init__(
        self,
        *,
        system: str,
        max_wait: float,
        reserve: int = 1,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.system = system
        self.max_wait = max_wait
        self.reserve = reserve
        self._clock = clock
        self._sleep = sleep
        self.remaining: int | None = None
        self.reset_at: float | None = None
        self.waited = 0.0
        self.rate_limited = 0
        # Concurrent requests share the window: one waits for the reset, the others queue behind it.
        self._lock = threading.Lock()

    def before_request(self) -> None:
        """Wait for the window to reset when it is (nearly) spent."""
        with self._lock:
            self._before_request()

    def _before_request(self) -> None:
        if self.remaining is None or self.reset_at is None or self.remaining > self.reserve:
            return
        now = self._clock()
        if self.reset_at <= now:
            self.remaining = None
            return
        self._wait(self.reset_at - now + random.uniform(0.05, 0.5), reason="rate window nearly spent")
        self.remaining = None

    def observe(self, response: httpx.Response) -> None:
        headers = response.headers
        try:
            remaining = int(headers["X-Rate-Limit-Remaining"])
            reset_at = float(headers["X-Rate-Limit-Reset"])
        except (KeyError, ValueError):
            return
        with self._lock:
            # Answers to concurrent requests arrive out of order: within one window, the lowest
            # count is the latest.
            if self.reset_at == reset_at and self.remaining is not None:
                remaining = min(remaining, self.remaining)
            self.remaining, self.reset_at = remaining, reset_at

    def after_429(self, response: httpx.Response) -> None:
        """Sleep as a 429 asks: ``Retry-After`` if sent, else until the window resets."""
        self.rate_limited += 1
        self.observe(response)
        wait = retry_after_seconds(response)
        if wait is None and self.reset_at is not None:
            wait = self.reset_at - self._clock()
        if wait is None or wait < 0:
            wait = 1.0
        self._wait(wait + random.uniform(0.1, 1.0), reason="HTTP 429")
        self.remaining = None

    def _wait(self, seconds: float, *, reason: str) -> None:
        if seconds > self.max_wait:
            raise RateBudgetExhausted(self.system, self._clock() + seconds, self.max_wait)
        log.info("%s: %s, waiting %.1f s", self.system, reason, seconds)
        self.waited += seconds
        self._sleep(seconds)
