"""A client-side token bucket, so a client never sends faster than Genesys allows.

Genesys allows 300 requests per minute per client-credentials token. One
:class:`TokenBucket` belongs to one client and is shared by every thread using
it (``trace_many`` runs several traces at once through the same bucket).
Over any interval of ``T`` seconds it lets through at most
``burst + rate_per_minute * T / 60`` requests, so the client's default bucket,
:meth:`TokenBucket.per_minute` ``(300)``, is a burst of 5 and 295 a minute after
it: never more than 300 requests in any 60 seconds.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from .retry import CancelToken, pause

__all__ = ["TokenBucket", "GENESYS_REQUESTS_PER_MINUTE"]

#: Requests per minute Genesys allows one client-credentials token.
GENESYS_REQUESTS_PER_MINUTE = 300


class TokenBucket:
    """Thread-safe token bucket: ``rate_per_minute`` sustained, ``burst`` at once.

    ``acquire()`` reserves the next free slot first-come first-served, then
    sleeps until it (the bucket may go into debt, which keeps waiting threads
    in order and avoids thundering herds). ``burst`` defaults to one second's
    worth of the rate (at least 1).

    Example:
        >>> t = [0.0]
        >>> bucket = TokenBucket(60, burst=1, clock=lambda: t[0], sleep=lambda s: t.__setitem__(0, t[0] + s))
        >>> [bucket.acquire() for _ in range(3)]
        [0.0, 1.0, 1.0]
    """

    def __init__(
        self,
        rate_per_minute: float = 300,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        if isinstance(rate_per_minute, bool) or not isinstance(rate_per_minute, (int, float)) or rate_per_minute <= 0:
            raise ValueError(f"rate_per_minute must be positive, got {rate_per_minute!r}")
        self.rate_per_minute = float(rate_per_minute)
        self.rate_per_s = self.rate_per_minute / 60.0
        self.burst = float(burst) if burst is not None else max(1.0, self.rate_per_s)
        if self.burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst!r}")
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._updated = clock()

    @classmethod
    def per_minute(
        cls,
        limit: int = GENESYS_REQUESTS_PER_MINUTE,
        *,
        burst: int = 5,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> "TokenBucket":
        """Return a bucket that never lets more than ``limit`` requests through in any 60 s.

        ``burst`` of them may go at once; the rest of the minute's allowance
        (``limit - burst``) is spread evenly.

        Example:
            >>> bucket = TokenBucket.per_minute(300)
            >>> bucket.burst + bucket.rate_per_minute
            300.0
        """
        if not 1 <= burst < limit:
            raise ValueError(f"burst must be between 1 and limit - 1, got {burst!r}")
        return cls(limit - burst, burst=burst, clock=clock, sleep=sleep)

    def __repr__(self) -> str:
        return f"TokenBucket(rate_per_minute={self.rate_per_minute:g}, burst={self.burst:g})"

    def _reserve(self) -> float:
        with self._lock:
            now = self._clock()
            elapsed = max(0.0, now - self._updated)
            self._updated = now
            self._tokens = min(self.burst, self._tokens + elapsed * self.rate_per_s)
            self._tokens -= 1.0
            if self._tokens >= 0:
                return 0.0
            return -self._tokens / self.rate_per_s

    def _refund(self) -> None:
        with self._lock:
            self._tokens = min(self.burst, self._tokens + 1.0)

    def acquire(
        self, *, cancel: CancelToken | None = None, on_wait: Callable[[float], Any] | None = None
    ) -> float:
        """Take one token, sleeping until it is available; return the seconds waited.

        ``on_wait(seconds)`` is called before a wait starts (not when there is
        none). Raises :class:`~gctrace_nb.errors.Cancelled` (and gives the
        token back) when ``cancel`` is set while waiting.
        """
        wait = self._reserve()
        if wait > 0:
            try:
                if on_wait is not None:
                    on_wait(wait)
                pause(wait, sleep=self._sleep, cancel=cancel)
            except BaseException:
                self._refund()
                raise
        return wait
