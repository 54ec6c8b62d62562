"""The audit log: one JSON object per line, through :mod:`logging`, kept 90 days.

Every trace leaves one ``trace_completed`` line (flow, action invocation and
job ids, status, HTTP status, retrieval latency, accuracy, correlation and
context ids, bottleneck) plus one ``step_failed`` line per failed step (node
id and error message), so a failure can be correlated with the trace it
belongs to. Errors get their own lines through :func:`audit_event`
(validation violations with the server's message, a failed job, a webhook
that gave up).

Files are named by UTC day, ``audit-YYYY-MM-DD.jsonl``: a line goes to the
file of the day it was written, so the log "rotates" at UTC midnight without
renaming anything. That keeps several processes (a notebook and the CLI)
safe to append to the same directory, which renaming rotation
(:class:`logging.handlers.TimedRotatingFileHandler`) is not. Files older than
the retention (90 days) are removed when the handler opens a new day.

A line is written whole or not at all: appends take a short ``flock``, a torn
last line left by a killed process is ended before the next line, and a write
that fails half-way (a full disk) is cut back. A line that cannot be written
is counted (:func:`lost_lines`) and reported once, in one line on stderr,
never as a traceback per line.

Secrets are kept out by construction: the formatter masks any key that names
a credential (``token``, ``secret``, ``authorization``, ``password``, ...) at
any depth, masks ``Bearer``/``Basic`` credentials inside any string, and the
helpers accept only JSON values (strings, numbers, lists, dicts): passing a
settings or client object is a :exc:`TypeError`, so nobody can log one whose
``repr`` might hold a secret.

Example:
    >>> import logging
    >>> record = logging.makeLogRecord({"msg": "e", "audit": {"event": "e", "api_token": "abc",
    ...     "note": "sent Authorization: Bearer abc.def"}})
    >>> AuditFormatter().format(record).split(', "ts"')[0]
    '{"event": "e", "api_token": "[REDACTED]", "note": "sent Authorization: Bearer [REDACTED]"'
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Final, Iterable, Mapping

from .._redact import redact
from .._time import iso_utc

try:  # POSIX; elsewhere a line is appended without the inter-process lock
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:  # pragma: no cover
    from ..core.model import Trace

__all__ = [
    "AUDIT_LOGGER",
    "RETENTION_DAYS",
    "AuditFormatter",
    "append_line",
    "DailyAuditHandler",
    "audit_error",
    "audit_event",
    "audit_trace",
    "configure_audit_log",
    "default_audit_dir",
    "default_state_dir",
    "lost_lines",
    "redact",
    "trace_status",
]

AUDIT_LOGGER: Final = "gctrace_nb.delivery.audit"
RETENTION_DAYS: Final = 90

_FILE_RE: Final = re.compile(r"^audit-(\d{4}-\d{2}-\d{2})\.jsonl$")
_logger = logging.getLogger(AUDIT_LOGGER)
# The audit trail goes only to the handler configure_audit_log() installs, never to
# whatever the application's root logger prints; unconfigured, it is silent.
_logger.propagate = False
_logger.addHandler(logging.NullHandler())
_logger.setLevel(logging.INFO)


# ------------------------------------------------------------------ locations
def default_state_dir() -> Path:
    """Return ``GCTRACE_STATE_DIR`` or the platform's per-user state directory.

    Linux: ``$XDG_STATE_HOME/gctrace_nb`` (``~/.local/state/gctrace_nb``);
    macOS: ``~/Library/Application Support/gctrace_nb``; Windows:
    ``%LOCALAPPDATA%\\gctrace_nb``.
    """
    explicit = os.environ.get("GCTRACE_STATE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    if sys.platform == "win32":  # pragma: no cover - not exercised on CI
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":  # pragma: no cover
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "gctrace_nb"


def default_audit_dir() -> Path:
    """Return ``GCTRACE_AUDIT_DIR`` or ``<state dir>/audit``."""
    explicit = os.environ.get("GCTRACE_AUDIT_DIR")
    return Path(explicit).expanduser() if explicit else default_state_dir() / "audit"


def _check_json(value: Any, path: str) -> None:
    """Refuse anything but JSON values, so no object with a secret in its repr gets in."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            _check_json(v, f"{path}.{k}")
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_json(v, f"{path}[{i}]")
        return
    raise TypeError(
        f"audit field {path!r} must be a JSON value (str, number, bool, None, list, dict), "
        f"not {type(value).__name__}; pass the ids you need, never a settings or client object"
    )


class AuditFormatter(logging.Formatter):
    """Format a record as one JSON object, credentials masked.

    Fields come from the record's ``audit`` attribute (a dict, as the helpers
    pass it through ``extra``); other records keep their message as ``message``.
    ``ts`` is ISO-8601 UTC with milliseconds.
    """

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "audit", None)
        data: dict[str, Any] = dict(fields) if isinstance(fields, Mapping) else {}
        data.setdefault("event", "log")
        if not isinstance(fields, Mapping) or record.msg != data["event"]:
            data.setdefault("message", record.getMessage())
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            data.setdefault("error", f"{type(exc).__name__}: {exc}")
        when = getattr(record, "audit_time", record.created)
        data["ts"] = _iso(when)
        data["level"] = record.levelname.lower()
        data["logger"] = record.name
        return json.dumps(redact(data), ensure_ascii=False, default=str, allow_nan=False)


#: Audit lines lost since the process started (see :func:`lost_lines`).
_lost_lines = 0
_write = os.write  # the one call that writes audit bytes (tests inject a failing one)


def lost_lines() -> int:
    """How many audit lines could not be written since the process started.

    A caller compares the count before and after its work: the CLI exits 1
    when it grew, after saying so once on stderr.
    """
    return _lost_lines


def append_line(fd: int, data: bytes) -> None:
    """Append one line (``data`` ends with a newline) to ``fd`` whole, or not at all.

    ``fd`` is open ``O_RDWR | O_APPEND``. Under an exclusive ``flock`` (several
    processes may share a day's file): a torn last line (a process killed
    mid-write) is ended with a newline first,
    so this line never runs into it; a write that fails half-way (a full disk)
    is cut back to where it began, so no partial line is left for the next one.
    """
    locked = False
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            locked = True
        except OSError:  # a file system without locks: append without one
            pass
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data
        view = memoryview(data)
        try:
            while view:
                view = view[_write(fd, view):]
        except BaseException:
            try:  # part of it may have gone in (we hold the lock: any growth is ours): take it out
                if os.fstat(fd).st_size > size:
                    os.ftruncate(fd, size)
            except OSError:
                pass
            raise
    finally:
        if locked:
            fcntl.flock(fd, fcntl.LOCK_UN)


_iso = iso_utc  # epoch seconds -> ISO-8601 UTC


# -------------------------------------------------------------------- handler
class DailyAuditHandler(logging.Handler):
    """Append each record to ``<directory>/audit-<UTC day>.jsonl``; keep ``retention_days``.

    ``clock`` (epoch seconds, default :func:`time.time`) decides the day of a
    line and is stamped on the record, so tests can cross midnight without
    waiting. When the day changes the old file is closed, the new one opened
    (append mode: several processes may share a directory) and files whose
    day is more than ``retention_days`` before today are deleted.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        clock: Callable[[], float] | None = None,
        retention_days: int = RETENTION_DAYS,
    ) -> None:
        super().__init__(logging.INFO)
        if retention_days < 1:
            raise ValueError("retention_days must be at least 1")
        self.directory = Path(directory)
        self.clock = clock or time.time
        self.retention_days = retention_days
        self._day: _dt.date | None = None
        self._fd: int | None = None
        #: Lines this handler could not write (a full disk, a read-only file system).
        self.lost = 0
        self.setFormatter(AuditFormatter())
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.remove_expired()

    @property
    def path(self) -> Path:
        """The file today's lines go to."""
        return self._path_for(self._today())

    def _today(self) -> _dt.date:
        return _dt.datetime.fromtimestamp(self.clock(), tz=_dt.timezone.utc).date()

    def _path_for(self, day: _dt.date) -> Path:
        return self.directory / f"audit-{day.isoformat()}.jsonl"

    def remove_expired(self, today: _dt.date | None = None) -> list[Path]:
        """Delete audit files more than ``retention_days`` old; return what was removed."""
        today = today or self._today()
        oldest_kept = today - _dt.timedelta(days=self.retention_days)
        removed = []
        for entry in self.directory.iterdir():
            match = _FILE_RE.match(entry.name)
            if not match:
                continue
            try:
                day = _dt.date.fromisoformat(match.group(1))
            except ValueError:
                continue
            if day < oldest_kept:
                try:
                    entry.unlink()
                    removed.append(entry)
                except FileNotFoundError:  # another process removed it first
                    pass
        return removed

    def emit(self, record: logging.LogRecord) -> None:
        try:
            now = self.clock()
            record.audit_time = now
            day = _dt.datetime.fromtimestamp(now, tz=_dt.timezone.utc).date()
            line = self.format(record)
            if day != self._day or self._fd is None:
                self._close_stream()
                self._fd = os.open(self._path_for(day), os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
                self._day = day
                self.remove_expired(day)
            append_line(self._fd, (line + "\n").encode("utf-8"))
        except Exception:  # logging must never break the caller
            self.handleError(record)

    def handleError(self, record: logging.LogRecord) -> None:
        """Count the line as lost and say so once, in one line, on stderr (no traceback per line).

        :func:`lost_lines` tells a caller (the CLI's exit status) how many were lost.
        """
        global _lost_lines
        _lost_lines += 1
        self.lost += 1
        if self.lost > 1 or not logging.raiseExceptions:
            return
        exc = sys.exc_info()[1]
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else f"{type(exc).__name__}: {exc}"
        try:
            sys.stderr.write(f"gctrace_nb: audit log lines are being lost: cannot write to {self.directory} "
                             f"({reason}); later failures are not repeated\n")
        except (OSError, ValueError, AttributeError):  # no stderr to tell
            pass

    def _close_stream(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            finally:
                self._fd = None

    def close(self) -> None:
        self.acquire()
        try:
            self._close_stream()
        finally:
            self.release()
        super().close()


def configure_audit_log(
    directory: str | os.PathLike[str] | None = None,
    *,
    clock: Callable[[], float] | None = None,
    retention_days: int = RETENTION_DAYS,
) -> DailyAuditHandler:
    """Send the audit log to ``directory`` (default :func:`default_audit_dir`) and return the handler.

    A handler installed by an earlier call is closed and replaced, so calling
    this twice never writes each line twice. Remove it with
    ``logging.getLogger(AUDIT_LOGGER).removeHandler(handler)`` and ``handler.close()``.
    """
    target = Path(directory) if directory is not None else default_audit_dir()
    handler = DailyAuditHandler(target, clock=clock, retention_days=retention_days)
    for old in list(_logger.handlers):
        if isinstance(old, DailyAuditHandler):
            _logger.removeHandler(old)
            old.close()
    _logger.addHandler(handler)
    return handler


# -------------------------------------------------------------------- writing
def audit_event(event: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """Write one audit line ``{"event": event, **fields}``.

    Fields must be JSON values; ``None`` fields are left out. Use it for
    errors: ``audit_event("validation_failed", level=logging.WARNING,
    violations=[...], message=server_message, context_id=...)``.
    """
    if not isinstance(event, str) or not event:
        raise ValueError("event must be a non-empty string")
    data: dict[str, Any] = {"event": event}
    for key, value in fields.items():
        _check_json(value, key)
        if value is not None:
            data[key] = value
    _logger.log(level, event, extra={"audit": data})


def audit_error(exc: BaseException, *, event: str | None = None, **fields: Any) -> None:
    """Write one error line for ``exc``, with what support needs and nothing secret.

    Our errors carry their context as attributes (they never hold a secret):
    an :class:`~gctrace_nb.errors.ApiError` gives ``http_status``, the
    server's ``message`` and ``code``, ``context_id``, ``correlation_id`` and
    ``url``; :class:`~gctrace_nb.errors.TraceRequestInvalid` its
    ``violations``; :class:`~gctrace_nb.errors.JobFailed` ``job_id`` and the
    server's ``message``; :class:`~gctrace_nb.errors.GaveUp` ``attempts`` and
    ``last_status``. ``event`` defaults to ``trace_rejected`` for a 400 or a
    local validation failure, ``job_failed``, ``gave_up``, ``auth_failed`` or
    ``error``. Extra ``fields`` (``flow_id=...``) are added.
    """
    from .. import errors

    data: dict[str, Any] = {"error_type": type(exc).__name__}
    if isinstance(exc, errors.ApiError):
        data.update(http_status=exc.status, message=exc.message, code=exc.code, context_id=exc.context_id,
                    correlation_id=exc.correlation_id, url=exc.url)
        default = ("auth_failed" if isinstance(exc, errors.AuthError)
                   else "trace_rejected" if isinstance(exc, errors.BadRequest) else "api_error")
    elif isinstance(exc, errors.TraceRequestInvalid):
        data.update(violations=_violations(exc.violations), message=str(exc))
        default = "trace_rejected"
    elif isinstance(exc, errors.JobFailed):
        data.update(job_id=exc.job_id, message=exc.message)
        default = "job_failed"
    elif isinstance(exc, errors.GaveUp):
        data.update(attempts=exc.attempts, last_status=exc.last_status, message=str(exc))
        default = "gave_up"
    else:
        data.update(message=str(exc))
        default = "error"
    # the error's own attributes are ids, statuses and server text; a body may be any JSON-ish value
    clean = {k: (v if v is None or isinstance(v, (str, int, float, bool, list, dict)) else str(v))
             for k, v in data.items()}
    audit_event(event or default, level=logging.ERROR, **{**clean, **fields})


def trace_status(trace: "Trace") -> str:
    """Return the job's status for a trace: ``"completed"``.

    The job completed whenever there is a trace to look at (failed steps are
    listed in ``failed_nodes``, not folded into the status, so the status is
    one of the job's own states, as in the webhook summary); a job that
    failed has no trace to summarise, and callers say ``status="failed"``.
    """
    return "completed"


def _violations(violations: Iterable[Any] | None) -> list[dict[str, str]] | None:
    if violations is None:
        return None
    out = []
    for item in violations:
        if isinstance(item, Mapping):
            out.append({"field": str(item.get("field", "")), "message": str(item.get("message", ""))})
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            out.append({"field": str(item[0]), "message": str(item[1])})
        else:
            out.append({"field": "", "message": str(item)})
    return out


def audit_trace(
    trace: "Trace",
    *,
    event: str = "trace_completed",
    status: str | None = None,
    http_status: int | None = None,
    context_id: str | None = None,
    violations: Iterable[Any] | None = None,
    **fields: Any,
) -> None:
    """Write the trace's audit line, then one ``step_failed`` line per failed step.

    ``status`` defaults to :func:`trace_status`. ``violations`` are
    ``(field, message)`` pairs or ``{"field", "message"}`` dicts (the server's
    text). Extra ``fields`` (JSON values) are added to the first line, e.g.
    ``webhook={"delivered": True, "attempts": 2, "status": 200}``.
    """
    analysis = trace.analysis
    meta = trace.metadata
    ids = {
        "flow_id": meta.flow_id,
        "action_invocation_id": meta.action_invocation_id,
        "job_id": meta.job_id,
    }
    bottleneck = analysis.bottleneck
    audit_event(
        event,
        level=logging.INFO if status in (None, "completed") else logging.WARNING,
        **ids,
        status=status or trace_status(trace),
        http_status=http_status,
        retrieval_latency_ms=meta.retrieval_latency_ms,
        accuracy_rate=analysis.accuracy_rate,
        steps=analysis.steps_total,
        valid_steps=analysis.valid_steps,
        total_ms=analysis.total_ms,
        correlation_ids=list(meta.correlation_ids),
        context_id=context_id,
        bottleneck_node=bottleneck.node_id if bottleneck else None,
        bottleneck_ms=bottleneck.critical_ms if bottleneck else None,
        failed_nodes=list(analysis.failed_nodes),
        violations=_violations(violations),
        trace=trace.name,
        **fields,
    )
    failed = set(analysis.failed_nodes)
    if not failed:
        return
    for node_id, raw in zip(analysis.node_ids, analysis.raw):
        if node_id not in failed:
            continue
        message = raw.get("errorMessage") if isinstance(raw, dict) else None
        audit_event(
            "step_failed",
            level=logging.WARNING,
            **ids,
            correlation_ids=list(meta.correlation_ids),
            node_id=node_id,
            step_status=str(raw.get("status")) if isinstance(raw, dict) else None,
            error_message=message if isinstance(message, str) else (None if message is None else str(message)),
        )
