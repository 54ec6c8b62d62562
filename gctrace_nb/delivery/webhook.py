"""Webhook summaries: built from the analysis, delivered at least once, never lost.

The pieces, in the order a summary travels:

1. :func:`build_summary` turns a :class:`~gctrace_nb.core.model.Trace` into the
   summary dict (the design's fields plus ours, ``schemaVersion`` 1).
2. :class:`WebhookSender` serialises it *once* to bytes and POSTs those
   bytes, retrying 408/425/429 (honouring ``Retry-After``), 5xx, timeouts and
   connection errors with capped exponential backoff and full jitter. Every
   attempt carries the same ``Idempotency-Key`` (also as ``webhook-id``) and
   its own ``webhook-timestamp``; with a secret, every attempt is signed the
   Standard Webhooks way (``webhook-signature``, over id, timestamp and body:
   a captured delivery cannot be replayed later) and, for receivers already
   checking it, with ``X-Gctrace-Signature-256`` (:mod:`.signing`). The URL is
   ``https://``; plain ``http://`` only to this machine, or with an explicit
   opt-in for an internal receiver. Any other 4xx (and a 3xx: redirects are not followed, since requests would
   turn the POST into a GET) is a *rejection*: not retried, reported.
3. A payload still undelivered after its retries (not a rejected one: the same
   bytes would be rejected again) goes to the :class:`Outbox`, a JSON-lines
   file in the state directory, appended and fsync'd. A record holds the URL,
   the exact body text, the idempotency key, the creation time and the
   attempts so far -- never the secret: the signature is recomputed when the
   record is sent again.
4. :func:`flush_outbox` (``gctrace webhook flush``) re-sends records in order
   with their original key and removes a record only after the receiver
   accepted it, by rewriting the rest to a temporary file and
   :func:`os.replace`-ing it, so a process killed at any point loses nothing:
   at worst a record is delivered twice, with the same key (at-least-once).
   A transient failure stops the flush (the receiver is down; later records
   keep their order); a rejected record stays, marked, and the flush goes on.

Every attempt that fails and every outcome is written to the audit log
(:mod:`gctrace_nb.delivery.audit`), with the URL reduced to scheme, host and port.

Summary status rule: ``status`` is the *job's* status, as the design's payload
has it: ``"completed"`` whenever there is a trace to summarise, ``"failed"``
only when the caller says so (the job failed; there is no trace worth the
name). Failed steps do not change it: they are in ``failedNodes`` (spec §3
``failed_nodes``) and counted in ``failedCount``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import random
import time
import uuid
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Final, Mapping
from urllib.parse import urlsplit

from . import audit
from .._time import iso_utc
from ..errors import WebhookError
from .outbox import OUTBOX_FILE, Outbox, OutboxRecord, _locked
from .signing import SIGNATURE_HEADER, sign, signature_headers, verify_signature, verify_standard
from ..api.retry import parse_retry_after

if TYPE_CHECKING:  # pragma: no cover
    import requests

    from ..core.model import Trace

__all__ = [
    "OUTBOX_FILE",
    "SCHEMA_VERSION",
    "SIGNATURE_HEADER",
    "SUMMARY_STATUSES",
    "Backoff",
    "DeliveryResult",
    "FlushResult",
    "Outbox",
    "OutboxRecord",
    "WebhookSender",
    "build_summary",
    "flush_outbox",
    "post_summary",
    "serialize",
    "sign",
    "trace_status",
    "verify_signature",
    "verify_standard",
]

SCHEMA_VERSION: Final = 1
IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
ALLOW_HTTP_ENV: Final = "GCTRACE_WEBHOOK_ALLOW_HTTP"
SECRET_ENV: Final = "GCTRACE_WEBHOOK_SECRET"
URL_ENV: Final = "GCTRACE_WEBHOOK_URL"
SUMMARY_STATUSES: Final = ("completed", "failed")  # the debug job's own end states
# 408 Request Timeout and 425 Too Early say "try again", like 429 and 5xx.
RETRY_STATUSES: Final = frozenset({408, 425, 429})

trace_status = audit.trace_status


class _FromEnv:
    def __repr__(self) -> str:
        return "FROM_ENV"


FROM_ENV: Final = _FromEnv()
"""Sentinel: read the secret from ``GCTRACE_WEBHOOK_SECRET``."""


class _DefaultOutbox:
    def __repr__(self) -> str:
        return "DEFAULT_OUTBOX"


DEFAULT_OUTBOX: Final = _DefaultOutbox()
"""Sentinel: use ``Outbox()`` in the default state directory."""


# -------------------------------------------------------------------- summary
def build_summary(trace: "Trace", *, status: str | None = None, now: _dt.datetime | None = None) -> dict[str, Any]:
    """Return the webhook summary of ``trace`` (see the module docstring for ``status``).

    Figures are those of the analysis spec: ``bottleneckLatencyMs`` is the
    bottleneck's critical ms, ``traceAccuracyRate`` the accuracy rate;
    ``retrievalLatencyMs`` comes from the trace metadata (``None`` for a trace
    read from a file). ``timestamp`` is ``now`` (default: the current time)
    in ISO-8601 UTC with milliseconds; a naive ``now`` is taken as UTC.

    Raises:
        ValueError: ``status`` is not one of :data:`SUMMARY_STATUSES`.
    """
    if status is None:
        status = trace_status(trace)
    elif status not in SUMMARY_STATUSES:
        raise ValueError(f"status must be one of {', '.join(SUMMARY_STATUSES)}, not {status!r}")
    stamp = iso_utc(now)
    a = trace.analysis
    meta = trace.metadata
    latency = meta.retrieval_latency_ms
    return {
        "schemaVersion": SCHEMA_VERSION,
        "flowId": meta.flow_id,
        "actionInvocationId": meta.action_invocation_id,
        "jobId": meta.job_id,
        "status": status,
        "bottleneckNode": a.bottleneck.node_id if a.bottleneck else None,
        "bottleneckLatencyMs": round(a.bottleneck.critical_ms, 3) if a.bottleneck else None,
        "retrievalLatencyMs": round(float(latency), 3) if latency is not None else None,
        "traceAccuracyRate": a.accuracy_rate,
        "totalMs": a.total_ms,
        "criticalPath": list(a.critical_path),
        "failedNodes": list(a.failed_nodes),
        "failedCount": len(a.failed_nodes),
        "anomalyCount": len(a.anomalies),
        "timestamp": stamp,
    }


def serialize(payload: Mapping[str, Any]) -> bytes:
    """Return the exact bytes that are sent (and signed): compact UTF-8 JSON.

    Example:
        >>> serialize({"a": 1, "b": "é"})
        b'{"a":1,"b":"\\xc3\\xa9"}'
    """
    try:
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise WebhookError(f"summary is not serialisable as JSON: {exc}") from exc


def _safe_url(url: str) -> str:
    """Scheme, host and port only: a webhook URL's path or query may itself be a secret."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}" + ("/…" if parts.path not in ("", "/") or parts.query else "/")


def allow_http_from_env() -> bool:
    """Whether ``GCTRACE_WEBHOOK_ALLOW_HTTP`` opts in to plain ``http://`` receivers off this machine."""
    return os.environ.get(ALLOW_HTTP_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _check_url(url: str, allow_http: bool = False) -> None:
    """An ``https://`` URL; plain ``http://`` only for a loopback host, or with the opt-in.

    Summaries and their signatures sent in clear text can be read and replayed
    by anyone on the path: the same rule as for the API and login hosts.
    """
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookError(f"webhook URL must be http(s)://host/..., got {_safe_url(str(url))!r}")
    if parts.scheme == "http" and not allow_http and not _is_loopback(parts.hostname):
        raise WebhookError(
            f"webhook URL {_safe_url(url)!r} uses plain http to a host that is not this machine: use https, "
            f"or opt in for an internal receiver (allow_http=True, --allow-http, {ALLOW_HTTP_ENV}=1)"
        )


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# ------------------------------------------------------------------- delivery
@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff with full jitter, and the longest ``Retry-After`` obeyed.

    The wait before retry ``n`` (1-based) is uniform in
    ``[0, min(maximum, initial * factor ** (n - 1))]``. A ``Retry-After``
    replaces it; one longer than ``max_retry_after`` ends the attempts (the
    payload goes to the outbox instead of blocking the caller).
    """

    initial: float = 0.5
    factor: float = 2.0
    maximum: float = 30.0
    max_retry_after: float = 120.0

    def __post_init__(self) -> None:
        if self.initial < 0 or self.factor < 1 or self.maximum < 0 or self.max_retry_after < 0:
            raise ValueError("Backoff needs initial >= 0, factor >= 1, maximum >= 0, max_retry_after >= 0")

    def cap(self, retry: int) -> float:
        """Return the upper bound of the wait before retry ``retry``.

        Example:
            >>> [Backoff(initial=1, factor=2, maximum=5).cap(n) for n in (1, 2, 3, 4, 2000)]
            [1, 2, 4, 5, 5]
        """
        try:
            return min(self.maximum, self.initial * self.factor ** max(0, retry - 1))
        except OverflowError:  # a huge retry number: the cap is the maximum
            return self.maximum

    def delay(self, retry: int, rng: Callable[[], float] = random.random) -> float:
        """Return a full-jitter wait before retry ``retry``."""
        return self.cap(retry) * rng()


@dataclass(frozen=True)
class DeliveryResult:
    """What became of one payload.

    ``status`` is the last HTTP status (``None`` when the last attempt got no
    response). ``rejected`` is True for a non-retryable answer (4xx, 3xx);
    ``queued`` is True when the payload was written to the outbox.
    """

    delivered: bool
    attempts: int
    status: int | None
    error: str | None
    idempotency_key: str
    rejected: bool = False
    queued: bool = False

    def to_json(self) -> dict[str, Any]:
        """The CLI's ``"webhook"`` object."""
        out: dict[str, Any] = {"delivered": self.delivered, "attempts": self.attempts, "status": self.status}
        if not self.delivered:
            out.update(error=self.error, rejected=self.rejected, queued=self.queued)
        out["idempotency_key"] = self.idempotency_key
        return out


def _new_session() -> "requests.Session":
    import requests

    from .. import _http

    return _http.guard(requests.Session())


class WebhookSender:
    """POST summaries to one URL with retries, an idempotency key and an optional signature.

    Args:
        url: the receiver, ``http(s)://``.
        secret: HMAC key; default ``GCTRACE_WEBHOOK_SECRET`` (unset or empty: no signature).
        session: a :class:`requests.Session` to send through (default: one of its own).
        timeout: seconds for a whole attempt (connecting, sending, and reading the whole answer).
        max_attempts: attempts per payload, the first included.
        backoff: waits between attempts (:class:`Backoff`).
        sleep, clock, rng: injected ``time.sleep``, ``time.time`` and ``random.random``.
        outbox: where undelivered payloads go (``None``: nowhere).
        allow_http: accept a plain ``http://`` URL to a host other than this machine
            (default: ``GCTRACE_WEBHOOK_ALLOW_HTTP``); for an internal receiver only.

    Raises:
        WebhookError: ``url`` is not an http(s) URL, or plain http to another host without the opt-in.
    """

    def __init__(
        self,
        url: str,
        *,
        secret: str | bytes | None | _FromEnv = FROM_ENV,
        session: "requests.Session | None" = None,
        timeout: float = 10.0,
        max_attempts: int = 5,
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
        outbox: "Outbox | None" = None,
        allow_http: bool | None = None,
    ) -> None:
        _check_url(url, allow_http_from_env() if allow_http is None else allow_http)
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.url = url
        if isinstance(secret, _FromEnv):
            secret = os.environ.get(SECRET_ENV) or None
        self._secret: bytes | None = secret.encode("utf-8") if isinstance(secret, str) else (secret or None)
        self._session = session
        self._own_session = session is None
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff = backoff or Backoff()
        self.sleep = sleep
        self.clock = clock
        self.rng = rng
        self.outbox = outbox

    def __repr__(self) -> str:
        return f"<WebhookSender {_safe_url(self.url)} signed={self._secret is not None} max_attempts={self.max_attempts}>"

    @property
    def signed(self) -> bool:
        """Whether requests carry a signature."""
        return self._secret is not None

    # -- session lifetime
    @property
    def session(self) -> "requests.Session":
        """The session posts go through; its timeout bounds each whole attempt (:mod:`gctrace_nb._http`)."""
        if self._session is None:
            self._session = _new_session()
        else:
            from .. import _http

            _http.guard(self._session)
        return self._session

    def close(self) -> None:
        """Close the session if this sender made it."""
        if self._own_session and self._session is not None:
            self._session.close()
            self._session = None

    def __enter__(self) -> "WebhookSender":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sending
    def send(self, payload: Mapping[str, Any] | bytes) -> DeliveryResult:
        """Serialise ``payload`` once and deliver it; queue it in the outbox if it is not.

        A rejected payload (non-retryable status) is reported, not queued.
        If the caller is interrupted (``KeyboardInterrupt``) mid-delivery, the
        payload is queued before the interruption propagates.
        """
        body = payload if isinstance(payload, bytes) else serialize(payload)
        key = str(uuid.uuid4())
        try:
            result = self.deliver(body, idempotency_key=key)
        except BaseException:
            if self.outbox is not None:
                with contextlib.suppress(OSError):  # the interruption is what the caller must see
                    self.outbox.append(self.url, body, key)
                    _audit_outcome("webhook_queued", self.url, key, logging.ERROR, error="interrupted")
            raise
        if not result.delivered and not result.rejected and self.outbox is not None:
            try:
                self.outbox.append(self.url, body, key, attempts=result.attempts, last_status=result.status,
                                   last_error=result.error)
            except OSError as exc:  # report it: the caller still gets a result, the audit log says why
                result = replace(result, error=f"{result.error}; outbox not written: {exc}")
                _audit_outcome("webhook_outbox_failed", self.url, key, logging.CRITICAL, error=str(exc),
                               outbox=str(self.outbox.path))
                return result
            result = replace(result, queued=True)
            _audit_outcome("webhook_queued", self.url, key, logging.ERROR, attempts=result.attempts,
                           http_status=result.status, error=result.error, outbox=str(self.outbox.path))
        return result

    def deliver(self, body: bytes, *, idempotency_key: str) -> DeliveryResult:
        """POST the exact ``body`` until accepted, rejected or out of attempts (no outbox)."""
        import requests

        status: int | None = None
        error: str | None = None
        attempt = 0
        for attempt in range(1, self.max_attempts + 1):
            retry_after: float | None = None
            headers = self._headers(body, idempotency_key)  # signed anew: the timestamp is this attempt's
            try:
                response = self.session.post(
                    self.url, data=body, headers=headers, timeout=self.timeout, allow_redirects=False
                )
            except (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                # the receiver may or may not have the payload: send it again, same key
                status, error = None, self._describe(exc)
            except requests.RequestException as exc:  # a malformed request: retrying cannot help
                status, error = None, self._describe(exc)
                _audit_outcome("webhook_rejected", self.url, idempotency_key, logging.ERROR,
                               attempts=attempt, error=error)
                return DeliveryResult(False, attempt, None, error, idempotency_key, rejected=True)
            else:
                status = response.status_code
                if 200 <= status < 300:
                    response.close()
                    _audit_outcome("webhook_delivered", self.url, idempotency_key, logging.INFO,
                                   attempts=attempt, http_status=status)
                    return DeliveryResult(True, attempt, status, None, idempotency_key)
                error = f"HTTP {status}" + _excerpt(response)
                retry_after = parse_retry_after(
                    response.headers.get("Retry-After"),
                    now=_dt.datetime.fromtimestamp(self.clock(), tz=_dt.timezone.utc),
                )
                response.close()
                if not (status in RETRY_STATUSES or status >= 500):
                    _audit_outcome("webhook_rejected", self.url, idempotency_key, logging.ERROR,
                                   attempts=attempt, http_status=status, error=error)
                    return DeliveryResult(False, attempt, status, error, idempotency_key, rejected=True)
            audit.audit_event(
                "webhook_attempt_failed", level=logging.WARNING, url=_safe_url(self.url),
                idempotency_key=idempotency_key, attempt=attempt, http_status=status, error=error,
            )
            if attempt >= self.max_attempts:
                break
            if retry_after is not None and retry_after > self.backoff.max_retry_after:
                error = f"{error}; Retry-After {retry_after:.0f}s exceeds {self.backoff.max_retry_after:.0f}s"
                break
            self.sleep(retry_after if retry_after is not None else self.backoff.delay(attempt, self.rng))
        _audit_outcome("webhook_gave_up", self.url, idempotency_key, logging.ERROR,
                       attempts=attempt, http_status=status, error=error)
        return DeliveryResult(False, attempt, status, error, idempotency_key)

    def _headers(self, body: bytes, idempotency_key: str) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "gctrace_nb-webhook",
            IDEMPOTENCY_HEADER: idempotency_key,
            "webhook-id": idempotency_key,
            "webhook-timestamp": str(int(self.clock())),
        }
        if self._secret is not None:
            headers.update(signature_headers(body, idempotency_key, self._secret, timestamp=self.clock()))
        return headers

    def _describe(self, exc: BaseException) -> str:
        """Name the failure without the URL's path or query (they may hold a token)."""
        text = f"{type(exc).__name__}: {exc}"
        parts = urlsplit(self.url)
        tail = parts.path + (f"?{parts.query}" if parts.query else "")
        text = text.replace(self.url, _safe_url(self.url))
        if len(tail) > 1:
            text = text.replace(tail, "/…")
        return str(audit.redact(text))[:500]


def _excerpt(response: Any, limit: int = 200) -> str:
    try:
        text = response.text.strip()
    except Exception:  # pragma: no cover - undecodable body
        return ""
    if not text:
        return ""
    text = " ".join(text.split())
    return ": " + str(audit.redact(text[:limit] + ("…" if len(text) > limit else "")))


def _audit_outcome(event: str, url: str, key: str, level: int, **fields: Any) -> None:
    audit.audit_event(event, level=level, url=_safe_url(url), idempotency_key=key, **fields)


def post_summary(
    trace: "Trace",
    url: str,
    *,
    status: str | None = None,
    now: _dt.datetime | None = None,
    outbox: "Outbox | None | _DefaultOutbox" = DEFAULT_OUTBOX,
    **sender_options: Any,
) -> DeliveryResult:
    """Build the summary of ``trace`` and send it to ``url``.

    Undelivered summaries go to ``outbox`` (default: the state directory's;
    ``None`` to keep nothing). ``sender_options`` are :class:`WebhookSender`'s
    (``secret``, ``session``, ``timeout``, ``max_attempts``, ``backoff``, ``sleep``, ...).
    """
    payload = build_summary(trace, status=status, now=now)
    box = Outbox() if isinstance(outbox, _DefaultOutbox) else outbox
    with WebhookSender(url, outbox=box, **sender_options) as sender:
        return sender.send(payload)


# --------------------------------------------------------------------- flush
@dataclass(frozen=True)
class FlushResult:
    """What a flush did: delivered and rejected records, and how many remain."""

    delivered: tuple[DeliveryResult, ...]
    rejected: tuple[DeliveryResult, ...]
    failed: DeliveryResult | None
    remaining: int

    def to_json(self) -> dict[str, Any]:
        return {
            "delivered": len(self.delivered),
            "rejected": [r.to_json() for r in self.rejected],
            "failed": self.failed.to_json() if self.failed else None,
            "remaining": self.remaining,
        }


def flush_outbox(
    outbox: Outbox | str | os.PathLike[str] | None = None,
    *,
    wait: bool = True,
    session: "requests.Session | None" = None,
    **sender_options: Any,
) -> FlushResult:
    """Re-send queued payloads in order; remove each one only once it is delivered.

    Each record is sent with its original idempotency key and exact body (the
    signature is computed afresh from ``secret``, default
    ``GCTRACE_WEBHOOK_SECRET``). A transient failure stops the flush; a
    rejected record stays in the outbox, marked, and the flush goes on.
    ``wait=False`` raises :class:`~gctrace_nb.errors.WebhookError` instead of
    waiting when another flush is running. ``sender_options`` are
    :class:`WebhookSender`'s (``secret``, ``timeout``, ``max_attempts``, ``backoff``, ``sleep``...).
    """
    box = outbox if isinstance(outbox, Outbox) else Outbox(outbox)
    box._ensure_dir()
    delivered: list[DeliveryResult] = []
    rejected: list[DeliveryResult] = []
    failed: DeliveryResult | None = None
    own_session = session is None
    with _locked(box.flush_lock_path, blocking=wait):
        shared = session or _new_session()
        try:
            for record in box.records():
                try:
                    sender = WebhookSender(record.url, session=shared, outbox=None, **sender_options)
                except WebhookError as exc:
                    result = DeliveryResult(False, 0, None, str(exc), record.idempotency_key, rejected=True)
                else:
                    result = sender.deliver(record.body.encode("utf-8"), idempotency_key=record.idempotency_key)
                if result.delivered:
                    box.remove(record.idempotency_key)
                    delivered.append(result)
                    continue
                box.mark(record.idempotency_key, result)
                if result.rejected:
                    rejected.append(result)
                    continue
                failed = result
                break
        finally:
            if own_session:
                shared.close()
    remaining = len(box)
    audit.audit_event(
        "webhook_outbox_flushed", level=logging.INFO if failed is None and not rejected else logging.WARNING,
        outbox=str(box.path), delivered=len(delivered), rejected=len(rejected), remaining=remaining,
        stopped_on=failed.idempotency_key if failed else None,
    )
    return FlushResult(tuple(delivered), tuple(rejected), failed, remaining)
