"""What one call carries: the options object, the progress event, the cancel token.

Every call that talks to Genesys takes one :class:`CallOptions` (``options=``):
who hears progress (:class:`PollEvent`), who may cancel (:class:`CancelToken`),
the operation's deadline and breaker (a :class:`~gctrace_nb.api.retry.RetryBudget`),
and where the correlation ids of the answers go. The public entry points also
accept the four as keywords (:class:`CallKeywords`) and build the object once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Protocol, TypedDict

if TYPE_CHECKING:  # pragma: no cover
    from typing_extensions import Unpack

    from .retry import RetryBudget

__all__ = ["CallKeywords", "CallOptions", "CancelToken", "PollEvent", "ProgressCallback"]


class CancelToken(Protocol):
    """What a ``cancel`` argument must offer; a :class:`threading.Event` does."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


@dataclass(frozen=True)
class PollEvent:
    """One progress report: an attempt's outcome and the wait that follows.

    ``status`` is the job status when known (``in_progress``, ``completed``,
    ``Running``...), or the client's own step: ``submitted``, ``retrying``
    (a transient failure, waiting before the next try) or ``rate_limited``
    (waiting for the client's token bucket). ``http_status`` is ``None`` for a connection error or timeout.
    ``wait_s`` is the pause about to start (0 when none); ``retry_after_s`` is
    what the server asked for, if it did. ``elapsed_s`` counts from the start
    of the operation.
    """

    attempt: int
    status: str
    http_status: int | None
    wait_s: float
    retry_after_s: float | None
    elapsed_s: float
    message: str
    job_id: str | None = None


ProgressCallback = Callable[[PollEvent], Any]


class CallKeywords(TypedDict, total=False):
    """The fields of :class:`CallOptions`, as the keywords a public call also accepts."""

    on_progress: ProgressCallback | None
    cancel: CancelToken | None
    budget: RetryBudget | None
    correlation_ids: list[str] | None


@dataclass(frozen=True)
class CallOptions:
    """What the calls of one operation share, passed down as one object (``options=``).

    Attributes:
        on_progress: hears a :class:`PollEvent` for every retry, rate-limit wait and job poll.
        cancel: a :class:`CancelToken` (a :class:`threading.Event` will do); once set, the
            operation stops with :class:`~gctrace_nb.errors.Cancelled`.
        budget: the operation's deadline and breaker (:class:`RetryBudget`), shared by all its
            requests; ``None``: each request starts a budget of its own.
        correlation_ids: a list the ``ININ-Correlation-Id`` of every answer is appended to (once each).

    Public calls accept the same four names as keywords (:class:`CallKeywords`) and
    build this object once with :meth:`of`; the layers below pass it on as it is.
    """

    on_progress: ProgressCallback | None = None
    cancel: CancelToken | None = None
    budget: RetryBudget | None = None
    correlation_ids: list[str] | None = None

    @classmethod
    def of(cls, options: "CallOptions | None" = None, **keywords: "Unpack[CallKeywords]") -> "CallOptions":
        """The options of a call given ``options=``, or the separate keywords (not both).

        >>> CallOptions.of(cancel=None).budget is None
        True
        >>> CallOptions.of(CallOptions(), on_progress=print)
        Traceback (most recent call last):
        ...
        TypeError: pass options= or on_progress=, not both
        """
        unknown = set(keywords) - set(CallKeywords.__annotations__)
        if unknown:
            raise TypeError(f"unexpected keyword argument {sorted(unknown)[0]!r}")
        given = {k: v for k, v in keywords.items() if v is not None}
        if options is None:
            return cls(**given)  # type: ignore[arg-type]
        if not isinstance(options, CallOptions):
            raise TypeError(f"options must be a CallOptions, got {type(options).__name__}")
        if given:
            raise TypeError(f"pass options= or {'/'.join(f'{k}=' for k in given)}, not both")
        return options

    def with_budget(self, start: Callable[[], RetryBudget]) -> "CallOptions":
        """These options with a budget: their own, or ``start()`` (a new one) when they have none."""
        return self if self.budget is not None else replace(self, budget=start())

    def report(self, event: PollEvent) -> None:
        """Hand ``event`` to ``on_progress`` (when there is one)."""
        if self.on_progress is not None:
            self.on_progress(event)

    def note_correlation_id(self, value: str | None) -> None:
        """Append ``value`` to ``correlation_ids`` (when collecting, and not seen before)."""
        if value and self.correlation_ids is not None and value not in self.correlation_ids:
            self.correlation_ids.append(value)

    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()
