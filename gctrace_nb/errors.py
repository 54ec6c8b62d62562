"""The exceptions gctrace_nb raises, each under one base class.

Each subclasses the builtin a caller already catches where that makes sense
(a malformed document is a ``ValueError``), so ``except ValueError`` keeps
working. None of them ever carries a secret: messages are built from ids,
URLs, statuses and the server's own error text only.

    GctraceError
    ├── TraceFormatError (ValueError)        a document that is not a trace
    ├── ConfigError (ValueError)             settings or credentials missing/wrong
    ├── TraceRequestInvalid (ValueError)     a request refused locally, nothing sent
    ├── ApiError                             the service answered with an error
    │   ├── BadRequest                       400, with the server's message
    │   ├── AuthError                        401 after a token refresh, bad credentials
    │   │   └── PermissionDenied             403: the OAuth client lacks a permission
    │   └── NotFound                         404
    ├── JobFailed                            the job ended in status ``failed``
    ├── GaveUp                               waited as long as allowed
    │   ├── DeadlineExceeded                 the overall deadline passed
    │   ├── CircuitOpen                      transient failures went on too long
    │   └── RetriesExhausted                 a request failed every retry
    ├── Cancelled                            the caller cancelled a wait (cancel event set)
    ├── WebhookError                         a webhook could not be built or sent
    ├── RendererUnavailable (RuntimeError)   the graphviz ``dot`` binary is missing
    ├── StorageError (OSError)               object storage could not be listed, read or written
    └── ClusterUnavailable (ConnectionError) the Dask scheduler cannot be reached (or dask is missing)
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "GctraceError",
    "TraceFormatError",
    "ConfigError",
    "TraceRequestInvalid",
    "ApiError",
    "BadRequest",
    "AuthError",
    "PermissionDenied",
    "NotFound",
    "JobFailed",
    "GaveUp",
    "DeadlineExceeded",
    "CircuitOpen",
    "RetriesExhausted",
    "WebhookError",
    "RendererUnavailable",
    "Cancelled",
    "StorageError",
    "ClusterUnavailable",
]


class GctraceError(Exception):
    """Base class of every error gctrace_nb raises on purpose."""


class TraceFormatError(GctraceError, ValueError):
    """:exc:`ValueError` raised when a document is not a trace (or cannot be read).

    ``path`` names the file (or ``None`` for in-memory input) and ``reason``
    says what was wrong, in one line.
    """

    def __init__(self, reason: str, path: str | None = None) -> None:
        self.reason = reason
        self.path = path
        super().__init__(f"{path}: {reason}" if path else reason)


class ConfigError(GctraceError, ValueError):
    """:exc:`ValueError` raised for missing or inconsistent settings."""


class TraceRequestInvalid(GctraceError, ValueError):
    """:exc:`ValueError` raised when a trace request fails local validation.

    Nothing was sent. ``violations`` lists ``(field, message)`` pairs.
    """

    def __init__(self, violations: list[tuple[str, str]]) -> None:
        self.violations = list(violations)
        super().__init__("; ".join(f"{field}: {msg}" for field, msg in self.violations))

    @property
    def field(self) -> str:
        """The first offending field."""
        return self.violations[0][0] if self.violations else ""


class ApiError(GctraceError):
    """The service answered with an error status.

    Carries what Genesys support asks for: ``status``, ``url``, the server's
    ``message`` and ``code``, its ``context_id`` and the ``correlation_id``
    header. ``body`` is the decoded error body (or a text excerpt).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        url: str | None = None,
        code: str | None = None,
        context_id: str | None = None,
        correlation_id: str | None = None,
        body: Any = None,
    ) -> None:
        self.message = message
        self.status = status
        self.url = url
        self.code = code
        self.context_id = context_id
        self.correlation_id = correlation_id
        self.body = body
        super().__init__(self._compose())

    def _compose(self) -> str:
        parts = [self.message]
        extra = []
        if self.status is not None:
            extra.append(f"HTTP {self.status}")
        if self.code:
            extra.append(f"code={self.code}")
        if self.context_id:
            extra.append(f"contextId={self.context_id}")
        if self.correlation_id:
            extra.append(f"correlationId={self.correlation_id}")
        if self.url:
            extra.append(f"url={self.url}")
        if extra:
            parts.append("(" + ", ".join(extra) + ")")
        return " ".join(parts)


class BadRequest(ApiError):
    """400: the server refused the request; ``message`` is its exact text."""


class AuthError(ApiError):
    """Authentication failed (bad credentials, or 401 even after a fresh token)."""


class PermissionDenied(AuthError):
    """403: the OAuth client's roles lack a permission this call needs."""


class NotFound(ApiError):
    """404: the flow, job or entity does not exist (or is not visible)."""


class JobFailed(GctraceError):
    """The asynchronous job ended with status ``failed``; ``message`` is the server's."""

    def __init__(self, message: str, *, job_id: str | None = None, body: Any = None) -> None:
        self.message = message
        self.job_id = job_id
        self.body = body
        super().__init__(f"job {job_id} failed: {message}" if job_id else f"job failed: {message}")


class GaveUp(GctraceError):
    """Stopped waiting: the deadline, the breaker or the retry budget ran out."""

    def __init__(self, message: str, *, attempts: int = 0, last_status: int | None = None) -> None:
        self.attempts = attempts
        self.last_status = last_status
        super().__init__(message)


class DeadlineExceeded(GaveUp):
    """The overall deadline passed before the job finished."""


class CircuitOpen(GaveUp):
    """Transient failures went on for longer than the breaker's window."""


class RetriesExhausted(GaveUp):
    """A request kept failing with retryable errors until its retries ran out."""


class Cancelled(GctraceError):
    """The caller cancelled a wait (its ``cancel`` event was set); nothing more is sent."""


class WebhookError(GctraceError):
    """A webhook payload could not be built or its URL is unusable."""


class RendererUnavailable(GctraceError, RuntimeError):
    """:exc:`RuntimeError` raised when the graphviz ``dot`` binary is not installed."""


class StorageError(GctraceError, OSError):
    """:exc:`OSError` raised when object storage cannot be listed, read or written.

    ``url`` is the URL without user info or signatures; ``reason`` says what went
    wrong in one line. Neither holds a credential: reasons are scrubbed of every
    secret of the storage options and of the environment.
    """

    def __init__(self, reason: str, url: str) -> None:
        self.reason = reason
        self.url = url
        super().__init__(f"{url}: {reason}")

    def __str__(self) -> str:  # OSError's own str() would show errno and strerror
        return f"{self.url}: {self.reason}"

    def __reduce__(self):  # pickled by Dask between workers and the client
        return (type(self), (self.reason, self.url))


class ClusterUnavailable(GctraceError, ConnectionError):
    """:exc:`ConnectionError` raised when the Dask scheduler cannot be reached (or dask is not installed)."""
