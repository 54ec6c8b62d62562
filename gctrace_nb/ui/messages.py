"""What an error means to a person: one mapping, shared by the CLI and the launcher.

:func:`describe` turns an exception into a :class:`Message`: a title and detail
lines (the launcher's error box), one line (the CLI's stderr) and the exit status
(the CLI's). Keeping both readings here keeps them agreeing.

Exit statuses (every ``gctrace`` sub-command): 0 success; 1 an unexpected error;
2 invalid input (bad file, bad arguments, nothing sent); 3 the job failed;
4 authentication or permission; 5 gave up (deadline, breaker, retries
exhausted); 130 interrupted or cancelled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .._text import one_line
from ..errors import (
    ApiError,
    AuthError,
    BadRequest,
    Cancelled,
    ConfigError,
    GaveUp,
    GctraceError,
    JobFailed,
    NotFound,
    PermissionDenied,
    ClusterUnavailable,
    RendererUnavailable,
    StorageError,
    TraceRequestInvalid,
    WebhookError,
)

__all__ = [
    "Message", "describe", "delivery_error_line",
    "EXIT_OK", "EXIT_ERROR", "EXIT_INVALID", "EXIT_JOB_FAILED", "EXIT_AUTH", "EXIT_GAVE_UP", "EXIT_CANCELLED",
]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_INVALID = 2
EXIT_JOB_FAILED = 3
EXIT_AUTH = 4
EXIT_GAVE_UP = 5
EXIT_CANCELLED = 130


@dataclass(frozen=True)
class Message:
    """An error as a person reads it."""

    title: str  #: the launcher's heading, a sentence
    lines: list[str] = field(default_factory=list)  #: details under the heading
    line: str = ""  #: the CLI's one line (without the ``gctrace CMD:`` prefix)
    status: int = EXIT_ERROR  #: the CLI's exit status
    expected: bool = True  #: False for an error that is neither ours nor a failed request (a bug)


def _api_details(exc: ApiError) -> list[str]:
    lines = [exc.message] if exc.message else []
    for label, value in (("code", exc.code), ("contextId", exc.context_id),
                         ("correlationId", exc.correlation_id), ("url", exc.url)):
        if value:
            lines.append(f"{label}: {value}")
    return lines


def _api_title(exc: ApiError) -> str:
    if isinstance(exc, BadRequest):
        return "The service refused the request (HTTP 400)."
    if isinstance(exc, PermissionDenied):
        return "Permission denied (HTTP 403)."
    if isinstance(exc, AuthError):
        return "Authentication failed."
    if isinstance(exc, NotFound):
        return "Not found (HTTP 404)."
    return f"The service answered with an error (HTTP {exc.status})." if exc.status else "The service failed."


def describe(exc: BaseException) -> Message:
    """The :class:`Message` for ``exc`` (any exception; unknown ones are "Unexpected error").

    >>> describe(TraceRequestInvalid([("traceDepth", "must be between 1 and 50, got 60")])).title
    'The request is not valid; nothing was sent.'
    """
    text = str(exc)
    if isinstance(exc, TraceRequestInvalid):
        return Message("The request is not valid; nothing was sent.", [f"{f}: {m}" for f, m in exc.violations],
                       f"invalid input: {text}", EXIT_INVALID)
    if isinstance(exc, ConfigError):
        return Message("The connection settings are not usable; nothing was sent.", [text],
                       f"invalid input: {text}", EXIT_INVALID)
    if isinstance(exc, Cancelled):
        return Message("Cancelled: no further requests were sent.", [], text, EXIT_CANCELLED)
    if isinstance(exc, JobFailed):
        return Message("The trace job failed.", [exc.message] + ([f"job: {exc.job_id}"] if exc.job_id else []),
                       text, EXIT_JOB_FAILED)
    if isinstance(exc, GaveUp):
        last = f"; last HTTP {exc.last_status}" if exc.last_status else ""
        return Message("Gave up waiting.", [text, f"attempts: {exc.attempts}{last}"], text, EXIT_GAVE_UP)
    if isinstance(exc, ApiError):
        if isinstance(exc, AuthError):  # includes PermissionDenied
            status, line = EXIT_AUTH, text
        elif isinstance(exc, (BadRequest, NotFound)):
            status, line = EXIT_INVALID, f"the service refused the request: {text}"
        else:
            status, line = EXIT_ERROR, text
        return Message(_api_title(exc), _api_details(exc), line, status)
    if isinstance(exc, AuthError):
        return Message("Authentication failed.", [text], text, EXIT_AUTH)
    if isinstance(exc, RendererUnavailable):
        return Message("Graphviz is not installed.", [text], text)
    if isinstance(exc, StorageError):  # like a missing file: what was given cannot be read
        return Message("Object storage could not be read or written.", [text], text, EXIT_INVALID)
    if isinstance(exc, ClusterUnavailable):
        return Message("The Dask cluster cannot be reached.", [text], text)
    if isinstance(exc, WebhookError):
        return Message("The webhook could not be sent.", [text], text)
    if isinstance(exc, GctraceError):
        return Message(f"{type(exc).__name__}.", [text], text)
    detail = f"{type(exc).__name__}: {exc}"
    if _is_request_error(exc):  # e.g. a redirect loop: the request could not complete
        return Message("Could not reach the service.", [detail], f"the request could not complete: {detail}")
    if isinstance(exc, OSError):
        return Message("Could not reach the service or write the file.", [detail], detail, expected=False)
    return Message("Unexpected error.", [detail], one_line(detail), expected=False)


def _is_request_error(exc: BaseException) -> bool:
    """A :class:`requests.RequestException`, without importing requests to find out."""
    return any(cls.__module__.startswith("requests") and cls.__name__ == "RequestException" for cls in type(exc).__mro__)


# A webhook delivery error as one line (the CLI and the launcher show it; the audit keeps the raw text)
_HOST_PORT = re.compile(r"host='([^']*)', port=(\d+)")
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^\"')]+)")
_READ_TIMEOUT = re.compile(r"read timeout=([\d.]+)")


def delivery_error_line(error: str | None) -> str | None:
    r"""One clean line for a delivery error, instead of requests' nested ``HTTPConnectionPool(...)`` text.

    >>> delivery_error_line("ConnectionError: HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded "
    ...     "with url: /… (Caused by NewConnectionError(\"...: Failed to establish a new connection: "
    ...     "[Errno 111] Connection refused\"))")
    'cannot connect to 127.0.0.1:9 (connection refused)'
    >>> delivery_error_line("ReadTimeout: HTTPConnectionPool(host='h', port=80): Read timed out. (read timeout=10.0)")
    'h:80 did not answer within 10 s'
    >>> delivery_error_line("HTTP 503: busy")
    'HTTP 503: busy'
    """
    if not error:
        return error
    text = " ".join(str(error).split())
    name = text.split(":", 1)[0]
    where = _HOST_PORT.search(text)
    if where is None or "Pool(" not in text:
        return text
    target = f"{where.group(1)}:{where.group(2)}"
    rest = ""
    if ";" in text:  # what the sender added after the request's own error (outbox not written, ...)
        rest = "; " + text.split(";", 1)[1].strip()
    if "Timeout" in name or "timed out" in text:
        seconds = _READ_TIMEOUT.search(text)
        if "ConnectTimeout" in name or "connect timeout" in text:
            return f"cannot connect to {target} (timed out){rest}"
        return f"{target} did not answer" + (f" within {float(seconds.group(1)):g} s" if seconds else " in time") + rest
    reason = _ERRNO.search(text)
    if reason:
        return f"cannot connect to {target} ({reason.group(1).strip().lower()}){rest}"
    if "NameResolution" in text or "getaddrinfo" in text:
        return f"cannot resolve {where.group(1)}{rest}"
    return f"cannot reach {target} ({name}){rest}"
