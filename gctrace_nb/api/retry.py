"""How long to wait, when to stop: the policy, a per-operation budget, the one retry engine, and ``poll``.

The policy follows the Genesys Java SDK (genesys-api.md §B): retry 429, 502,
503 and 504, connection errors and timeouts, never another 4xx. A 429 waits
for ``Retry-After`` (3 s when the header is missing); other transient failures
back off exponentially with full jitter, capped. On top of that, an overall
deadline (default 10 minutes) and a breaker: transient failures that go on,
without one success, for longer than a window (default 5 minutes) stop with
:class:`~gctrace_nb.errors.CircuitOpen`.

Every request that may be sent again goes through one loop, :meth:`RetryEngine.run`:
the API client's requests (:meth:`GenesysClient.request <gctrace_nb.api.client.GenesysClient.request>`),
the downloads of pre-signed links (:mod:`gctrace_nb.api.downloads`) and the webhook's
deliveries (:mod:`gctrace_nb.delivery.webhook`). What differs between them is
passed in: the attempt itself and how it reads its answer (what is retryable,
what is a rejection), a step before each send (the client's rate limiter),
and what to do with a failed attempt (the webhook's audit line).

:func:`poll` is generic: it calls ``fetch()`` until ``is_done(value)``, and is
used for the debug-trace job (``status`` ``completed``/``failed``) and the
flow-history job (``jobState`` ``Success``/``Failed``) alike. Clocks, sleeps and
the random source are injected, so tests never sleep.

:class:`CallOptions` is what the calls of one operation share (progress
callback, cancel token, budget, correlation ids), passed as one ``options=``.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random as _random
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Callable, Final, TypeVar, Union

import requests

from ..errors import Cancelled, CircuitOpen, DeadlineExceeded, GaveUp, RetriesExhausted
from .options import CallKeywords, CallOptions, CancelToken, PollEvent, ProgressCallback

__all__ = [
    "RETRY_STATUSES",
    "TRANSPORT_ERRORS",
    "RetryPolicy",
    "RetryBudget",
    "PollEvent",
    "CancelToken",
    "CallOptions",  # from .options
    "CallKeywords",
    "Retry",
    "RESEND",
    "Resend",
    "RetryEngine",
    "parse_retry_after",
    "pause",
    "poll",
]

log = logging.getLogger(__name__)

#: Statuses worth retrying: rate limited, bad gateway, unavailable, gateway timeout.
RETRY_STATUSES: Final = frozenset({429, 502, 503, 504})
#: Failures with no usable answer, worth another try: refused or dropped connections,
#: timeouts (the whole-exchange deadline of :mod:`gctrace_nb._http` included), a body broken in transit.
TRANSPORT_ERRORS: Final = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                           requests.exceptions.ContentDecodingError)

T = TypeVar("T")


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Return the wait a ``Retry-After`` header asks for, in seconds, or ``None``.

    The header is either a number of seconds or an HTTP date; a date in the
    past means 0. Anything unreadable is ``None`` (the caller uses its default).

    >>> parse_retry_after("7")
    7.0
    >>> parse_retry_after("Wed, 21 Oct 2015 07:28:05 GMT",
    ...                   now=datetime(2015, 10, 21, 7, 28, 0, tzinfo=timezone.utc))
    5.0
    >>> parse_retry_after("soon") is None
    True
    """
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
        return None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """When to retry and how long to wait (a value object; ``dataclasses.replace`` to vary).

    Backoff for attempt ``n`` (1-based) is a uniform draw from
    ``[0, min(max_delay_s, initial_s * factor ** (n - 1))]`` ("full jitter"),
    never below ``min_delay_s``. ``Retry-After`` wins when the server sends one;
    a 429 without it waits ``default_retry_after_s`` (``None``: the backoff).
    A ``Retry-After`` longer than ``max_retry_after_s`` (``None``: no such
    limit) gives up at once with :class:`~gctrace_nb.errors.DeadlineExceeded`.
    ``max_attempts`` bounds the tries of one request (``None``: only the
    deadline and breaker bound them).

    Polling a job that is still running uses the same jittered growth, capped
    lower, at ``poll_max_delay_s`` (5 s): a finished job is noticed within
    seconds, not half a minute later. A ``Retry-After`` on the job's answer
    still wins.
    """

    initial_s: float = 1.0
    factor: float = 2.0
    max_delay_s: float = 30.0
    min_delay_s: float = 0.2
    poll_max_delay_s: float = 5.0
    deadline_s: float = 600.0
    breaker_window_s: float = 300.0
    default_retry_after_s: float | None = 3.0
    max_attempts: int | None = None
    retry_statuses: frozenset[int] = field(default=RETRY_STATUSES)
    max_retry_after_s: float | None = None

    def __post_init__(self) -> None:
        for name in ("poll_max_delay_s", "deadline_s", "breaker_window_s", "default_retry_after_s"):
            value = getattr(self, name)
            if value is None and name == "default_retry_after_s":
                continue
            if not _is_number(value) or value <= 0:
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        for name in ("initial_s", "max_delay_s", "max_retry_after_s"):  # 0: no wait at all
            value = getattr(self, name)
            if value is None and name == "max_retry_after_s":
                continue
            if not _is_number(value) or value < 0:
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        if self.factor < 1:
            raise ValueError(f"factor must be >= 1, got {self.factor!r}")
        if self.min_delay_s < 0 or self.min_delay_s > self.max_delay_s:
            raise ValueError("min_delay_s must be between 0 and max_delay_s")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        object.__setattr__(self, "retry_statuses", frozenset(self.retry_statuses))

    def is_retryable(self, status: int | None) -> bool:
        """True for the retryable statuses; ``None`` means a connection error or timeout."""
        return status is None or status in self.retry_statuses

    def ceiling(self, attempt: int, *, cap: float | None = None) -> float:
        """Return the upper bound of the wait before retry number ``attempt`` (1-based).

        ``min(max_delay_s, initial_s * factor ** (attempt - 1))``, and never above ``cap``
        when given; a huge ``attempt`` cannot overflow.

        >>> [RetryPolicy(initial_s=1, factor=2, max_delay_s=5).ceiling(n) for n in (1, 2, 3, 4, 2000)]
        [1, 2, 4, 5, 5]
        """
        limit = self.max_delay_s if cap is None else min(cap, self.max_delay_s)
        try:
            return min(limit, self.initial_s * self.factor ** max(0, attempt - 1))
        except OverflowError:
            return limit

    def backoff(self, attempt: int, *, random: Callable[[], float] = _random.random) -> float:
        """Return the jittered wait before retry number ``attempt`` (1-based).

        >>> RetryPolicy(initial_s=1, factor=2, max_delay_s=5, min_delay_s=0).backoff(10, random=lambda: 1.0)
        5.0
        """
        return max(self.min_delay_s, self.ceiling(attempt) * random())

    def poll_delay(self, attempt: int, *, random: Callable[[], float] = _random.random) -> float:
        """Return the jittered wait before poll number ``attempt + 1`` of a running job.

        :meth:`backoff` with its ceiling lowered to ``poll_max_delay_s``.

        >>> RetryPolicy().poll_delay(20, random=lambda: 1.0)
        5.0
        """
        ceiling = self.ceiling(attempt, cap=self.poll_max_delay_s)
        return max(min(self.min_delay_s, ceiling), ceiling * random())

    def delay_for(
        self,
        status: int | None,
        retry_after_s: float | None,
        attempt: int,
        *,
        random: Callable[[], float] = _random.random,
    ) -> float:
        """Return how long to wait after a transient failure.

        ``Retry-After`` when given; a 429 without it waits ``default_retry_after_s``
        (when set); otherwise :meth:`backoff`.
        """
        if retry_after_s is not None:
            return max(0.0, retry_after_s)
        if status == 429 and self.default_retry_after_s is not None:
            return self.default_retry_after_s
        return self.backoff(attempt, random=random)

    def budget(self, clock: Callable[[], float] = time.monotonic) -> "RetryBudget":
        """Start the clock for one operation (a trace: submit + every poll)."""
        return RetryBudget(self, clock)


class RetryBudget:
    """The deadline and breaker state of one operation, shared by all its requests.

    Thread-safe. ``record_transient()`` starts (or continues) a streak of
    transient failures; ``record_success()`` ends it. A streak longer than the
    policy's ``breaker_window_s`` raises :class:`CircuitOpen`.
    """

    def __init__(self, policy: RetryPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self.clock = clock
        self.started = clock()
        self._streak_start: float | None = None
        self._lock = threading.Lock()

    def elapsed(self) -> float:
        return self.clock() - self.started

    def remaining(self) -> float:
        return self.policy.deadline_s - self.elapsed()

    def check(self, *, attempts: int = 0, last_status: int | None = None, what: str = "the operation") -> None:
        """Raise :class:`DeadlineExceeded` when the deadline has passed."""
        if self.remaining() <= 0:
            raise DeadlineExceeded(
                f"gave up on {what}: the {self.policy.deadline_s:g} s deadline passed",
                attempts=attempts,
                last_status=last_status,
            )

    def record_success(self) -> None:
        with self._lock:
            self._streak_start = None

    def record_transient(
        self, *, attempts: int = 0, last_status: int | None = None, what: str = "the operation"
    ) -> None:
        """Note a transient failure; raise :class:`CircuitOpen` when the streak is too long."""
        now = self.clock()
        with self._lock:
            if self._streak_start is None:
                self._streak_start = now
            streak = now - self._streak_start
        if streak >= self.policy.breaker_window_s:
            raise CircuitOpen(
                f"gave up on {what}: transient failures went on for {streak:.0f} s "
                f"(breaker window {self.policy.breaker_window_s:g} s), last "
                f"{_describe_status(last_status)}",
                attempts=attempts,
                last_status=last_status,
            )

    def plan_wait(
        self, wait_s: float, *, attempts: int = 0, last_status: int | None = None, what: str = "the operation"
    ) -> None:
        """Raise :class:`DeadlineExceeded` now if waiting ``wait_s`` would pass the deadline."""
        if wait_s >= self.remaining():
            raise DeadlineExceeded(
                f"gave up on {what}: waiting {wait_s:.1f} s more would pass the "
                f"{self.policy.deadline_s:g} s deadline (last {_describe_status(last_status)})",
                attempts=attempts,
                last_status=last_status,
            )

    def check_attempts(self, attempts: int, *, last_status: int | None = None, what: str = "the request") -> None:
        """Raise :class:`RetriesExhausted` when ``attempts`` reached ``max_attempts``."""
        limit = self.policy.max_attempts
        if limit is not None and attempts >= limit:
            raise RetriesExhausted(
                f"gave up on {what} after {attempts} attempts (last {_describe_status(last_status)})",
                attempts=attempts,
                last_status=last_status,
            )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


def _describe_status(status: int | None) -> str:
    return "a connection error or timeout" if status is None else f"HTTP {status}"


def pause(
    seconds: float,
    *,
    sleep: Callable[[float], Any] = time.sleep,
    cancel: CancelToken | None = None,
    slice_s: float = 0.25,
) -> None:
    """Wait ``seconds``, raising :class:`Cancelled` as soon as ``cancel`` is set.

    With the real ``time.sleep`` and a cancel event, waits on the event (wakes
    at once when set). An injected ``sleep`` is called in slices of at most
    ``slice_s`` (so a test's recorder sees the total, and cancellation is
    noticed between slices). ``KeyboardInterrupt`` propagates untouched.
    """
    if cancel is not None and cancel.is_set():
        raise Cancelled("cancelled")
    if seconds <= 0:
        return
    if sleep is time.sleep and cancel is not None:
        if cancel.wait(seconds):
            raise Cancelled("cancelled")
        return
    if cancel is None:
        sleep(seconds)
        return
    left = seconds
    while left > 0:
        step = min(slice_s, left)
        sleep(step)
        left -= step
        if cancel.is_set():
            raise Cancelled("cancelled")


def poll(
    fetch: Callable[[], T],
    is_done: Callable[[T], bool],
    *,
    policy: RetryPolicy | None = None,
    budget: RetryBudget | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Any] = time.sleep,
    random: Callable[[], float] = _random.random,
    on_progress: Callable[[PollEvent], Any] | None = None,
    cancel: CancelToken | None = None,
    status_of: Callable[[T], str] | None = None,
    what: str = "the job",
    job_id: str | None = None,
    retry_after: Callable[[], float | None] | None = None,
) -> T:
    """Call ``fetch()`` until ``is_done(value)`` is true, and return that value.

    Between calls, waits with the policy's jittered backoff capped at
    ``poll_max_delay_s`` (:meth:`RetryPolicy.poll_delay`), unless
    ``retry_after()`` (asked after each not-done answer) names a wait: the
    server's ``Retry-After`` wins. ``fetch`` handles its own transient HTTP
    retries (the client's ``request`` does) against the same ``budget``, so
    the deadline covers everything. Every response and every wait is
    reported to ``on_progress`` as a :class:`PollEvent`.

    Raises:
        DeadlineExceeded: the job was not done before the deadline.
        Cancelled: ``cancel`` was set.
    """
    policy = policy or (budget.policy if budget is not None else RetryPolicy())
    budget = budget or policy.budget(clock)
    status_of = status_of or _default_status
    attempt = 0
    while True:
        budget.check(attempts=attempt, what=what)
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"cancelled while waiting for {what}")
        attempt += 1
        value = fetch()
        status = status_of(value)
        if is_done(value):
            _emit(on_progress,
                  PollEvent(attempt, status, 200, 0.0, None, budget.elapsed(), f"{what} is {status}", job_id))
            return value
        asked = retry_after() if retry_after is not None else None
        wait = asked if asked is not None else policy.poll_delay(attempt, random=random)
        wait = min(wait, max(0.0, budget.remaining()))
        why = " (Retry-After)" if asked is not None else ""
        _emit(
            on_progress,
            PollEvent(attempt, status, 200, wait, asked, budget.elapsed(),
                      f"{what} is {status}; polling again in {wait:.1f} s{why}", job_id),
        )
        if wait <= 0:
            budget.check(attempts=attempt, what=what)
        pause(wait, sleep=sleep, cancel=cancel)


def _default_status(value: Any) -> str:
    if isinstance(value, dict):
        for key in ("status", "jobState", "state"):
            if isinstance(value.get(key), str):
                return value[key]
    return "unknown"


def _emit(callback: Callable[[PollEvent], Any] | None, event: PollEvent) -> None:
    if callback is not None:
        callback(event)


# ------------------------------------------------------------------- engine
@dataclass(frozen=True)
class Retry:
    """An attempt that failed in a way worth another try.

    ``status`` is the HTTP status, ``None`` when there was no usable answer
    (connection refused, timeout, body broken in transit). ``reason`` says what
    happened, for the progress message. ``retry_after_s`` is the wait the
    server asked for. ``cause`` names the failing host in words; it is put
    first in the error raised when the engine gives up.
    """

    status: int | None
    reason: str
    retry_after_s: float | None = None
    cause: str | None = None


class Resend:
    """The type of :data:`RESEND` (its only value)."""

    def __repr__(self) -> str:
        return "RESEND"


RESEND: Final = Resend()
"""An attempt's outcome: send again at once, no wait and no failure counted (a fresh token after a 401)."""

Outcome = Union[T, Retry, Resend]


def _connection_error(exc: BaseException) -> Retry:
    return Retry(None, "connection error")


def _blame(exc: GaveUp, cause: str | None) -> GaveUp:
    """``exc`` with the failing host put first (``login host ... unreachable while fetching a token: ...``)."""
    if not cause:
        return exc
    blamed = type(exc)(f"{cause}: {exc}", attempts=exc.attempts, last_status=exc.last_status)
    blamed.cause = cause  # type: ignore[attr-defined]
    return blamed


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class RetryEngine:
    """The one retry loop, with its policy and its injected clocks.

    Attributes:
        policy: the :class:`RetryPolicy` (backoff, ``Retry-After``, deadline, breaker, attempts).
        clock: monotonic seconds, for the budget (deadline and breaker).
        sleep: how to wait (tests pass a recorder).
        random: ``() -> float`` in ``[0, 1)`` for jitter.
        now: ``() -> datetime``, the wall clock an HTTP-date ``Retry-After`` is read against.
    """

    policy: RetryPolicy = field(default_factory=RetryPolicy)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Any] = time.sleep
    random: Callable[[], float] = _random.random
    now: Callable[[], datetime] = _utc_now

    def budget(self) -> RetryBudget:
        """Start the deadline and breaker of one operation."""
        return self.policy.budget(self.clock)

    def retry_for(self, response: requests.Response, *, reason: str | None = None,
                  retryable: Callable[[int], bool] | None = None) -> Retry | None:
        """Read an answer: a :class:`Retry` when its status is worth another try, else ``None``.

        ``retryable`` decides (default: the policy's statuses); the ``Retry-After``
        header is read against :attr:`now`. ``reason`` defaults to ``HTTP <status>``.
        """
        status = response.status_code
        if not (retryable or self.policy.is_retryable)(status):
            return None
        after = parse_retry_after(response.headers.get("Retry-After"), now=self.now())
        return Retry(status, reason or f"HTTP {status}", after)

    def run(
        self,
        attempt: Callable[[int], "Outcome[T]"],
        *,
        what: str,
        options: CallOptions | None = None,
        job_id: str | None = None,
        before_send: Callable[[int], Any] | None = None,
        transport_error: Callable[[BaseException], Retry] = _connection_error,
        on_failure: Callable[[int, Retry], Any] | None = None,
    ) -> T:
        """Call ``attempt(n)`` (n = 1, 2, ...) until it returns a result, and return that.

        Before each attempt: the deadline (:class:`~gctrace_nb.errors.DeadlineExceeded`),
        the cancel token (:class:`~gctrace_nb.errors.Cancelled`), then ``before_send(n)``
        (e.g. the rate limiter: every send waits there, a resend included).
        ``attempt`` returns the result (success: the breaker's streak ends), a
        :class:`Retry`, or :data:`RESEND`; it raises to give up (a rejection).
        A :data:`TRANSPORT_ERRORS` exception it raises becomes ``transport_error(exc)``.
        After a :class:`Retry`: ``on_failure(n, retry)``, then the breaker, the
        attempts limit and the deadline are asked (each may raise a
        :class:`~gctrace_nb.errors.GaveUp`, the retry's ``cause`` put first),
        a ``retrying`` :class:`PollEvent` is reported, and the wait
        (:meth:`RetryPolicy.delay_for`) is paused, cancellable.
        """
        options = options or CallOptions()
        budget = options.budget or self.budget()
        n = 0
        last: Retry | None = None
        while True:
            try:
                budget.check(attempts=n, last_status=last.status if last else None, what=what)
            except GaveUp as exc:
                raise _blame(exc, last.cause if last else None) from None
            if options.cancelled():
                raise Cancelled(f"cancelled before {what}")
            if before_send is not None:
                before_send(n + 1)
            n += 1
            try:
                outcome = attempt(n)
            except TRANSPORT_ERRORS as exc:
                log.info("%s: attempt %d failed: %s", what, n, type(exc).__name__)
                outcome = transport_error(exc)
            if isinstance(outcome, Resend):
                continue
            if not isinstance(outcome, Retry):
                budget.record_success()
                return outcome
            last = outcome
            if on_failure is not None:
                on_failure(n, outcome)
            wait = self._wait_after(outcome, n, budget, what)
            after = outcome.retry_after_s
            why = "Retry-After" if after is not None else (
                "429 default" if outcome.status == 429 and self.policy.default_retry_after_s is not None
                else "backoff")
            options.report(PollEvent(n, "retrying", outcome.status, wait, after, budget.elapsed(),
                                     f"{what}: {outcome.reason}; retrying in {wait:.1f} s ({why})", job_id))
            pause(wait, sleep=self.sleep, cancel=options.cancel)

    def _wait_after(self, retry: Retry, attempt: int, budget: RetryBudget, what: str) -> float:
        """The wait before the next attempt, or the :class:`GaveUp` that ends the attempts."""
        policy, status = self.policy, retry.status
        wait = policy.delay_for(status, retry.retry_after_s, attempt, random=self.random)
        try:
            budget.record_transient(attempts=attempt, last_status=status, what=what)
            budget.check_attempts(attempt, last_status=status, what=what)
            limit = policy.max_retry_after_s
            if retry.retry_after_s is not None and limit is not None and retry.retry_after_s > limit:
                raise DeadlineExceeded(
                    f"gave up on {what}: the server asks to wait {retry.retry_after_s:.0f} s "
                    f"(Retry-After), more than the {limit:g} s allowed",
                    attempts=attempt, last_status=status)
            budget.plan_wait(wait, attempts=attempt, last_status=status, what=what)
        except GaveUp as exc:
            raise _blame(exc, retry.cause) from None
        return wait

    def poll(self, fetch: Callable[[], T], is_done: Callable[[T], bool], *, options: CallOptions | None = None,
             what: str = "the job", job_id: str | None = None, status_of: Callable[[T], str] | None = None,
             retry_after: Callable[[], float | None] | None = None) -> T:
        """:func:`poll` with this engine's policy, clock, sleep and jitter, and ``options``' budget."""
        options = options or CallOptions()
        return poll(fetch, is_done, policy=self.policy, budget=options.budget or self.budget(), clock=self.clock,
                    sleep=self.sleep, random=self.random, on_progress=options.on_progress, cancel=options.cancel,
                    status_of=status_of, what=what, job_id=job_id, retry_after=retry_after)
