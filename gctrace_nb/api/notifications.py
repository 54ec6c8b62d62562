"""Watch a flow's executions as they end: Genesys notifications over a WebSocket.

Genesys pushes every execution of a flow, as it ends, on the topic
``v2.flows.instances.flow.{flowId}`` (``genesys-api.md`` §B, "Notifications"),
with a signed ``executionHistoryUri`` to the full execution document. This
module speaks that protocol:

1. :func:`create_channel`: ``POST /api/v2/notifications/channels`` -> ``{id, connectUri, expires}``.
2. :func:`subscribe`: ``PUT .../channels/{id}/subscriptions`` with ``[{"id": topic}]``;
   every topic's ``state`` is checked, and one rejected for ``missingPermissions``
   raises :class:`~gctrace_nb.errors.PermissionDenied` naming them.
3. The WebSocket at ``connectUri`` (no Authorization header: the channel id is
   the credential, so it never appears in a log, a repr or an error). Every
   message is ``{topicName, eventBody, ...}``; ``channel.metadata`` carries the
   heartbeat (about every 30 s) and the answer to our ``{"message": "ping"}``.
4. Per execution event, :func:`trace_from_event` fetches ``executionHistoryUri``
   with a plain GET (no Authorization header) and converts it with the same
   converter as ``gctrace history``; when the link fails or has expired, the
   event's own items are converted instead (start times only: every end is
   inferred, and the trace says so in ``metadata.extra["detail"] == "event_items"``).

:class:`FlowWatch` (what :func:`watch` returns) runs the loop: it pings an idle
socket, reconnects after a silence longer than the heartbeat allows, a dropped
socket or ``v2.system.socket_closing`` (the same channel while it lives; a new
channel and the same subscriptions when it has expired, is about to, or is
gone), with jittered backoff, and re-subscribes whatever the channel lost. It
stops on a count, a deadline, a cancel token or Ctrl-C, and deletes its
subscriptions on the way out. ``websockets`` is imported only when a watch connects.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable, Final, Iterator
from urllib.parse import quote, urlsplit

from ..errors import ApiError, CircuitOpen, GctraceError, NotFound, PermissionDenied, TraceFormatError
from ..retry import CancelToken
from ..sources import history as _history
from ..sources.history_api import download_entity
from ..timestamps import parse_timestamp, to_iso

if TYPE_CHECKING:  # pragma: no cover
    from ..client import GenesysClient
    from ..model import Trace

__all__ = [
    "CHANNELS_PATH",
    "TOPIC_PREFIX",
    "Channel",
    "FlowWatch",
    "WatchStatus",
    "create_channel",
    "delete_subscriptions",
    "event_document",
    "flow_topic",
    "list_subscriptions",
    "subscribe",
    "execution_summary",
    "trace_from_event",
    "watch",
]

log = logging.getLogger(__name__)

CHANNELS_PATH: Final = "/api/v2/notifications/channels"
TOPIC_PREFIX: Final = "v2.flows.instances.flow."
HEARTBEAT_TOPIC: Final = "channel.metadata"
SOCKET_CLOSING_TOPIC: Final = "v2.system.socket_closing"
#: Genesys documents a heartbeat about every 30 s.
DEFAULT_HEARTBEAT_S: Final = 30.0
_MAX_MESSAGE_BYTES: Final = 16 * 1024 * 1024
_SEEN_KEPT: Final = 10_000


def flow_topic(flow_id: str) -> str:
    """Return the notification topic of a flow's executions.

    >>> flow_topic("5e4f")
    'v2.flows.instances.flow.5e4f'
    """
    if not isinstance(flow_id, str) or not flow_id.strip() or any(ord(c) < 33 for c in flow_id.strip()):
        raise ValueError(f"a flow id must be a non-empty string without spaces, got {flow_id!r}")
    return TOPIC_PREFIX + flow_id.strip()


def _now(client: Any) -> datetime:
    """The client's wall clock (``GenesysClient(utcnow=...)``), so tests can move it."""
    now = getattr(client, "_utcnow", None)
    return now() if callable(now) else datetime.now(timezone.utc)


def _mask(channel_id: str | None) -> str:
    """A channel id fit for logs: the id is the socket's credential, so only its start is shown."""
    if not channel_id:
        return "?"
    return channel_id[:6] + "…" if len(channel_id) > 6 else "…"


def _utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ------------------------------------------------------------------ channels
@dataclass(frozen=True)
class Channel:
    """A notification channel. ``repr`` hides the id and ``connect_uri`` (they are the credential)."""

    id: str = field(repr=False)
    connect_uri: str = field(repr=False)
    expires: datetime | None = None

    def __repr__(self) -> str:
        return f"<Channel {_mask(self.id)} expires={_utc(self.expires) if self.expires else '?'}>"

    def seconds_left(self, now: datetime) -> float | None:
        """Seconds until the channel expires (``None`` when it did not say)."""
        return None if self.expires is None else (self.expires - now).total_seconds()


def _json_object(resp: Any, what: str) -> Any:
    try:
        return resp.json()
    except (ValueError, RecursionError):
        raise ApiError(f"{what}: the response is not JSON", status=resp.status_code, url=_path_only(resp.url)) from None


def _path_only(url: str | None) -> str | None:
    """A URL without channel ids (they are credentials): ``.../channels/…``."""
    if not url:
        return url
    parts = urlsplit(url)
    path = parts.path
    if "/channels/" in path:
        head, _, rest = path.partition("/channels/")
        path = head + "/channels/…" + ("/" + rest.split("/", 1)[1] if "/" in rest else "")
    return f"{parts.scheme}://{parts.netloc}{path}" if parts.netloc else path


def create_channel(client: "GenesysClient", *, cancel: CancelToken | None = None) -> Channel:
    """Create a notification channel (``POST /api/v2/notifications/channels``).

    Raises:
        ApiError: the answer names no channel id or no ``connectUri``.
        PermissionDenied, GaveUp: as :meth:`GenesysClient.request` raises them.
    """
    resp = client.request("POST", CHANNELS_PATH, json={}, cancel=cancel, subject="notification channel")
    body = _json_object(resp, "notification channel")
    if not isinstance(body, dict):
        raise ApiError("notification channel: the response is not an object", status=resp.status_code)
    channel_id, uri = body.get("id"), body.get("connectUri")
    if not isinstance(channel_id, str) or not channel_id or not isinstance(uri, str) or not uri:
        raise ApiError("notification channel: the response has no id or connectUri", status=resp.status_code)
    scheme = urlsplit(uri).scheme
    if scheme not in ("wss", "ws"):
        raise ApiError(f"notification channel: connectUri is not a WebSocket URI (scheme {scheme or 'none'!r})")
    expires_us = parse_timestamp(body.get("expires"))
    expires = None if expires_us is None else datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=expires_us)
    return Channel(channel_id, uri, expires)


def _request(client: "GenesysClient", method: str, path: str, **kw: Any) -> Any:
    """``client.request``, with the channel id taken out of any error's URL (it is a credential)."""
    try:
        return client.request(method, path, **kw)
    except ApiError as exc:
        if exc.url:
            exc.url = _path_only(exc.url)
            exc.args = (exc._compose(),)
        raise


def _subscriptions_path(channel: Channel) -> str:
    return f"{CHANNELS_PATH}/{quote(channel.id, safe='')}/subscriptions"


def subscribe(client: "GenesysClient", channel: Channel, topics: list[str], *,
              cancel: CancelToken | None = None) -> list[str]:
    """Subscribe ``channel`` to exactly ``topics`` (``PUT``: replaces what it had); return them.

    Every topic in the answer is checked: a ``state`` other than ``Permitted``
    is a rejection, and a topic missing from the answer was not confirmed.

    Raises:
        PermissionDenied: a topic was rejected for ``missingPermissions`` (named).
        ApiError: a topic was rejected for another reason, or not confirmed.
    """
    resp = _request(client, "PUT", _subscriptions_path(channel), json=[{"id": t} for t in topics], cancel=cancel,
                          subject="notification subscriptions")
    body = _json_object(resp, "notification subscriptions")
    entities = body.get("entities") if isinstance(body, dict) else body
    entities = entities if isinstance(entities, list) else []
    by_id = {e.get("id"): e for e in entities if isinstance(e, dict) and isinstance(e.get("id"), str)}
    for topic in topics:
        entity = by_id.get(topic)
        if entity is None:
            raise ApiError(f"the service did not confirm the subscription to {topic}", status=resp.status_code)
        state = entity.get("state")
        if state is None or str(state).lower() == "permitted":
            continue
        missing = entity.get("missingPermissions")
        reason = entity.get("rejectionReason")
        reason_text = f" ({reason})" if isinstance(reason, str) and reason else ""
        if isinstance(missing, list) and missing:
            names = ", ".join(str(m) for m in missing)
            raise PermissionDenied(
                f"the subscription to {topic} was rejected{reason_text}: the OAuth client lacks {names}; "
                "add it to a role granted to the OAuth client", status=resp.status_code, code="missing.permissions",
                body={"topic": topic, "state": state, "missingPermissions": missing})
        raise ApiError(f"the subscription to {topic} was rejected: state {state}{reason_text}",
                       status=resp.status_code, body={"topic": topic, "state": state})
    return list(topics)


def list_subscriptions(client: "GenesysClient", channel: Channel, *,
                       cancel: CancelToken | None = None) -> list[str] | None:
    """The channel's subscribed topics, or ``None`` when the channel is gone (404)."""
    try:
        resp = _request(client, "GET", _subscriptions_path(channel), cancel=cancel,
                              subject="notification channel")
    except NotFound:
        return None
    body = _json_object(resp, "notification subscriptions")
    entities = body.get("entities") if isinstance(body, dict) else body
    return [e["id"] for e in (entities if isinstance(entities, list) else [])
            if isinstance(e, dict) and isinstance(e.get("id"), str)]


def delete_subscriptions(client: "GenesysClient", channel: Channel) -> bool:
    """Remove every subscription of ``channel``; return False when that failed (logged, not raised)."""
    try:
        _request(client, "DELETE", _subscriptions_path(channel), subject="notification subscriptions")
    except NotFound:
        return True  # the channel is gone, and its subscriptions with it
    except (GctraceError, OSError) as exc:
        log.warning("could not delete the subscriptions of channel %s: %s", _mask(channel.id), exc)
        return False
    return True


# -------------------------------------------------------------------- events
def event_document(event: dict) -> dict:
    """An execution-history document made of the event's own items (the fallback).

    Items carry start times only (``startDateTime``); the converter infers each
    end from the next start, as it does for a download. ``objectType`` becomes
    the item type, ``objectId`` its ``actionId``, ``error`` its error.

    >>> doc = event_document({"flowId": "f", "startDateTime": "2026-01-01T00:00:00Z",
    ...     "endDateTime": "2026-01-01T00:00:02Z", "execution": [{"objectType": "ACTION",
    ...     "objectId": "31", "startDateTime": "2026-01-01T00:00:01Z"}]})
    >>> doc["flow"]["execution"]
    [{'ACTION': {'dateTime': '2026-01-01T00:00:01Z', 'actionId': '31'}}]
    """
    items: list[dict] = []
    raw = event.get("execution")
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        kind = item.get("objectType")
        payload: dict[str, Any] = {"dateTime": item.get("startDateTime")}
        for src, dst in (("objectId", "actionId"), ("executionId", "executionId"),
                         ("outputPathId", "outputPathId"), ("languageTag", "languageTag")):
            if item.get(src) not in (None, ""):
                payload[dst] = item[src]
        if item.get("error") not in (None, "", {}, []):
            payload["error"] = item["error"]
        if item.get("warning") not in (None, "", {}, []):
            payload["warnings"] = [item["warning"]]
        items.append({kind if isinstance(kind, str) and kind else "item": payload})
    flow: dict[str, Any] = {"execution": items}
    for key in ("flowId", "conversationId", "flowType", "flowVersion", "startDateTime", "endDateTime",
                "errors", "flowExitReason"):
        if event.get(key) not in (None, "", []):
            flow[key] = event[key]
    return {"flow": flow}


def _event_text(event: dict, key: str) -> str | None:
    value = event.get(key)
    return value if isinstance(value, str) and value else None


def trace_from_event(client: "GenesysClient", event: dict, *, topic: str | None = None,
                     session: Any = None, download_deadline_s: float = 30.0,
                     received_at: datetime | None = None) -> "Trace":
    """Build the :class:`~gctrace_nb.Trace` of one execution event.

    The full document at ``executionHistoryUri`` is fetched with a plain GET
    (no Authorization header; 429/5xx retried for at most ``download_deadline_s``)
    and converted like ``gctrace history`` does. When there is no link, or it
    fails (expired: 403; 404; not a document), the event's own items are
    converted instead and ``metadata.extra`` says ``detail: "event_items"``,
    ``end_times: "inferred"`` and why (``history_error``).
    """
    from ..model import Trace, TraceMetadata

    if not isinstance(event, dict):
        raise TraceFormatError(f"an execution event is an object, got {type(event).__name__}")
    execution_id = _event_text(event, "executionId") or ""
    received_at = received_at or datetime.now(timezone.utc)
    started = time.monotonic()
    uri = _event_text(event, "executionHistoryUri")
    extra: dict[str, Any] = {"delivery": "notification", "execution_id": execution_id or None}
    doc: Any = None
    if uri is not None:
        policy = replace(client.policy, deadline_s=max(0.001, min(client.policy.deadline_s, download_deadline_s)))
        try:
            doc = download_entity(client, {"id": execution_id, "downloadUri": uri}, session=session,
                                  budget=policy.budget(client.clock))
            if not _history.is_execution_document(doc):
                raise TraceFormatError("not a flow execution-history document (no flow.execution list)",
                                       f"execution {execution_id}")
        except (GctraceError, OSError) as exc:
            log.info("execution %s: the history link failed (%s); using the event's items", execution_id, exc)
            extra["history_error"] = _why(exc)
            doc = None
    else:
        extra["history_error"] = "the event has no executionHistoryUri"
    if doc is None:
        doc = event_document(event)
        extra.update(detail="event_items", end_times="inferred")
        if event.get("executionItemsTruncated") is True:
            extra["items_truncated"] = True
    else:
        extra["detail"] = "full"
    steps, meta = _history.execution_document_to_steps(doc)
    extra.update({k: v for k, v in meta.items() if k not in ("source", "flow_id")})
    for src, dst in (("conversationId", "conversation_id"), ("flowVersion", "flow_version"),
                     ("flowType", "flow_type"), ("flowExitReason", "flow_exit_reason"),
                     ("divisionId", "division_id")):
        if _event_text(event, src) and dst not in extra:
            extra[dst] = event[src]
    if execution_id:
        extra["instance_id"] = execution_id
    flow_id = meta.get("flow_id") or _event_text(event, "flowId")
    metadata = TraceMetadata(
        source="history", flow_id=flow_id, request={"topic": topic} if topic else None,
        submitted_at=_utc(received_at), completed_at=_utc(datetime.now(timezone.utc)),
        retrieval_latency_ms=round((time.monotonic() - started) * 1000.0, 3), extra=extra)
    return Trace(steps, metadata, name=execution_id or None)


def execution_summary(trace: "Trace") -> dict:
    """One execution as a row: the spec's §5 figures plus ids, names and how it was built.

    Keys: those of ``Analysis.to_json()`` (``steps``, ``total_ms``, ``bottleneck``,
    ``failed_nodes``, ...), ``execution_id``, ``conversation_id``, ``flow_id``,
    ``detail`` (``full`` or ``event_items``), ``bottleneck_name`` and
    ``failed_names`` (the steps' names where they have one, else their ids)
    and ``ended_at`` (the flow's end time as the document gives it).
    """
    a = trace.analysis
    extra = trace.metadata.extra
    names = {step.get("nodeId"): step.get("name") for step in trace.raw_steps if isinstance(step, dict)}

    def name(node_id: str) -> str:
        value = names.get(node_id)
        return value if isinstance(value, str) and value else node_id

    row = a.to_json()
    row.update(
        execution_id=extra.get("execution_id") or extra.get("instance_id"),
        conversation_id=extra.get("conversation_id"),
        flow_id=trace.metadata.flow_id,
        detail=extra.get("detail", "full"),
        bottleneck_name=name(a.bottleneck.node_id) if a.bottleneck else None,
        failed_names=[name(n) for n in a.failed_nodes],
        ended_at=extra.get("flow_end"),
    )
    if extra.get("history_error"):
        row["history_error"] = extra["history_error"]
    return row


def _why(exc: BaseException) -> str:
    """Why a download failed, without its URL (a signed link does not belong in a saved trace)."""
    if isinstance(exc, ApiError):
        return exc.message + (f" (HTTP {exc.status})" if exc.status is not None else "")
    return str(exc)


# --------------------------------------------------------------------- watch
@dataclass(frozen=True)
class WatchStatus:
    """A snapshot of a watch's connection, for a status line.

    ``state`` is ``idle``, ``connecting``, ``connected``, ``reconnecting`` or
    ``stopped``; ``heartbeat_age_s`` is the time since the last heartbeat (or
    pong: both prove the socket lives), ``None`` before the first.
    """

    state: str
    detail: str = ""
    channel: str = "?"
    received: int = 0
    reconnects: int = 0
    channels_created: int = 0
    heartbeats: int = 0
    pongs: int = 0
    heartbeat_age_s: float | None = None
    stopped_reason: str | None = None

    def line(self) -> str:
        """One readable line, e.g. ``connected · heartbeat 2 s ago · 3 executions · 1 reconnect``."""
        parts = [self.state + (f" ({self.detail})" if self.detail else "")]
        if self.heartbeat_age_s is not None:
            parts.append(f"heartbeat {self.heartbeat_age_s:.0f} s ago")
        parts.append(f"{self.received} execution{'s' if self.received != 1 else ''}")
        if self.reconnects:
            parts.append(f"{self.reconnects} reconnect{'s' if self.reconnects != 1 else ''}")
        return " · ".join(parts)


class _Reconnect(Exception):
    """Leave the read loop and connect again; ``new_channel`` asks for a fresh channel."""

    def __init__(self, why: str, *, new_channel: bool = False, failed: bool = False) -> None:
        super().__init__(why)
        self.why = why
        self.new_channel = new_channel
        self.failed = failed  # a failure (backoff before the next try), not a planned reconnect


class _Stop(Exception):
    """Leave the watch: count reached, deadline passed or cancelled (``reason``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _default_connect(uri: str, *, open_timeout: float) -> Any:
    """Open the WebSocket (``websockets`` sync client); TLS verified, no credentials sent."""
    from websockets.sync.client import connect

    host = urlsplit(uri).hostname or ""
    return connect(uri, open_timeout=open_timeout, close_timeout=2, ping_interval=None,
                   max_size=_MAX_MESSAGE_BYTES, proxy=None if _is_loopback(host) else True,
                   user_agent_header="gctrace_nb")


class FlowWatch:
    """Iterate over the executions of one or more flows as they end, one :class:`~gctrace_nb.Trace` each.

    Use :func:`watch` to build one. Iterating connects (channel, subscriptions,
    WebSocket) and yields traces until ``count`` traces, ``timeout`` seconds,
    ``cancel`` is set, :meth:`close` is called or Ctrl-C; the subscriptions are
    deleted on the way out, however it ends. :attr:`status` is safe to read
    from another thread; ``on_status`` is called on every change of state and
    every heartbeat.

    Args:
        heartbeat_interval_s: how often the service sends heartbeats (30 s on Genesys).
        silence_timeout_s: reconnect after this long without any message
            (default: 1.5 x the heartbeat interval).
        ping_interval_s: send ``{"message": "ping"}`` after this long without a
            message (default: half the heartbeat interval).
        renew_margin_s: take a new channel this long before the old one expires.
        backoff_initial_s, backoff_max_s: jittered exponential backoff between failed reconnects;
            failures that go on for the client's ``policy.breaker_window_s`` raise
            :class:`~gctrace_nb.errors.CircuitOpen`.
    """

    def __init__(
        self,
        client: "GenesysClient",
        flow_ids: list[str],
        *,
        count: int | None = None,
        timeout: float | None = None,
        cancel: CancelToken | None = None,
        heartbeat_interval_s: float = DEFAULT_HEARTBEAT_S,
        silence_timeout_s: float | None = None,
        ping_interval_s: float | None = None,
        open_timeout_s: float = 10.0,
        renew_margin_s: float = 600.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        download_deadline_s: float = 30.0,
        on_status: Callable[[WatchStatus], Any] | None = None,
        connect: Callable[..., Any] | None = None,
    ) -> None:
        self.topics = [flow_topic(f) for f in flow_ids]
        if not self.topics:
            raise ValueError("watch needs at least one flow id")
        for name, value in (("count", count),):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name, value in (("timeout", timeout), ("heartbeat_interval_s", heartbeat_interval_s),
                            ("silence_timeout_s", silence_timeout_s), ("ping_interval_s", ping_interval_s)):
            if value is not None and not (isinstance(value, (int, float)) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        self.client = client
        self.count = count
        self.timeout = timeout
        self.cancel = cancel
        self.heartbeat_interval_s = float(heartbeat_interval_s)
        self.silence_timeout_s = float(silence_timeout_s or 1.5 * heartbeat_interval_s)
        self.ping_interval_s = float(ping_interval_s or heartbeat_interval_s / 2)
        self.open_timeout_s = open_timeout_s
        self.renew_margin_s = renew_margin_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.download_deadline_s = download_deadline_s
        self.on_status = on_status
        self._connect = connect or _default_connect
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._status = WatchStatus("idle", channel="?")
        self._last_heartbeat: float | None = None
        self._channel: Channel | None = None
        self._socket: Any = None
        self._seen: dict[str, None] = {}
        self.received = 0
        self.stopped_reason: str | None = None
        self._iterating = False

    def __repr__(self) -> str:
        return f"<FlowWatch {', '.join(self.topics)}: {self.status.line()}>"

    # ------------------------------------------------------------- status
    @property
    def status(self) -> WatchStatus:
        """The connection state now (heartbeat age computed at the call)."""
        with self._lock:
            status, last = self._status, self._last_heartbeat
        age = None if last is None else max(0.0, time.monotonic() - last)
        return replace(status, heartbeat_age_s=age)

    def _set(self, **changes: Any) -> None:
        with self._lock:
            self._status = replace(self._status, **changes)
        if self.on_status is not None:
            try:
                self.on_status(self.status)
            except Exception:  # noqa: BLE001 - a display callback must not end the watch
                log.exception("on_status callback failed")

    def close(self) -> None:
        """Stop the watch (from any thread); iteration ends and subscriptions are deleted."""
        self._closed.set()
        sock = self._socket
        if sock is not None:
            try:
                sock.close()
            except Exception:  # noqa: BLE001 - closing a broken socket
                pass

    def __enter__(self) -> "FlowWatch":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------- loop
    def _check_stop(self, deadline: float | None) -> None:
        if self._closed.is_set():
            raise _Stop("closed")
        if self.cancel is not None and self.cancel.is_set():
            raise _Stop("cancelled")
        if deadline is not None and time.monotonic() >= deadline:
            raise _Stop("deadline")
        if self.count is not None and self.received >= self.count:
            raise _Stop("count")

    def __iter__(self) -> Iterator["Trace"]:
        if self._iterating:
            raise RuntimeError("a FlowWatch can be iterated once; call watch() again")
        self._iterating = True
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        session = None
        try:
            from ..sources.history_api import _plain_session

            session = _plain_session()
            failures = 0
            streak_started: float | None = None
            new_channel = True
            while True:
                self._check_stop(deadline)
                try:
                    if failures:
                        self._wait_backoff(failures, deadline)
                    self._prepare_channel(new_channel)
                    new_channel = False
                    with self._open_socket():  # the connection closes however the read ends
                        yield from self._read(deadline, session)
                except _Reconnect as again:
                    new_channel = again.new_channel
                    failures = failures + 1 if again.failed else 0
                    if not failures:
                        streak_started = None
                    elif streak_started is None:
                        streak_started = time.monotonic()
                    if streak_started is not None and time.monotonic() - streak_started \
                            >= self.client.policy.breaker_window_s:
                        raise CircuitOpen(f"gave up reconnecting to the notification service: {again.why}",
                                          attempts=failures) from None
                    self._drop_socket()
                    self._set(state="reconnecting", detail=again.why, reconnects=self._status.reconnects + 1)
        except _Stop as stop:
            self.stopped_reason = stop.reason
        except KeyboardInterrupt:
            self.stopped_reason = "interrupted"
            raise
        except GeneratorExit:
            self.stopped_reason = self.stopped_reason or "closed"
            raise
        finally:
            self._drop_socket()
            if self._channel is not None:
                delete_subscriptions(self.client, self._channel)
            if session is not None:
                session.close()
            self._set(state="stopped", detail="", stopped_reason=self.stopped_reason)

    def _wait_backoff(self, failures: int, deadline: float | None) -> None:
        ceiling = min(self.backoff_max_s, self.backoff_initial_s * 2 ** min(failures - 1, 30))
        wait = ceiling * (0.5 + 0.5 * self.client.random())
        end = time.monotonic() + wait
        while True:
            self._check_stop(deadline)
            left = end - time.monotonic()
            if left <= 0:
                return
            if self._closed.wait(min(left, 0.2)):
                raise _Stop("closed")

    def _prepare_channel(self, new_channel: bool) -> None:
        """Make sure a live channel holds every topic: reuse, re-subscribe, or replace it."""
        channel = self._channel
        if channel is not None and not new_channel:
            left = channel.seconds_left(_now(self.client))
            if left is not None and left <= self.renew_margin_s:
                new_channel = True
        if channel is not None and not new_channel:
            topics = list_subscriptions(self.client, channel, cancel=self.cancel)
            if topics is None:
                log.info("notification channel %s is gone; creating a new one", _mask(channel.id))
                new_channel = True
            elif not set(self.topics) <= set(topics):
                log.info("notification channel %s lost subscriptions; subscribing again", _mask(channel.id))
                subscribe(self.client, channel, self.topics, cancel=self.cancel)
        if channel is None or new_channel:
            if channel is not None:
                delete_subscriptions(self.client, channel)
            self._set(state="connecting", detail="creating a channel")
            channel = create_channel(self.client, cancel=self.cancel)
            self._channel = channel
            subscribe(self.client, channel, self.topics, cancel=self.cancel)
            self._set(channel=_mask(channel.id), channels_created=self._status.channels_created + 1)
            log.info("notification channel %s subscribed to %s", _mask(channel.id), ", ".join(self.topics))

    def _open_socket(self) -> Any:
        """Connect to the channel's ``connectUri``; return the connection (a context manager)."""
        assert self._channel is not None
        self._set(state="connecting", detail="opening the WebSocket")
        try:
            self._socket = self._connect(self._channel.connect_uri, open_timeout=self.open_timeout_s)
        except (OSError, TimeoutError, ValueError) as exc:
            raise _Reconnect(f"connect failed: {type(exc).__name__}", failed=True) from None
        except Exception as exc:  # websockets' InvalidHandshake/InvalidStatus (a 404 for a gone channel)
            if type(exc).__module__.startswith("websockets"):
                raise _Reconnect(f"connect failed: {type(exc).__name__}", failed=True) from None
            raise
        if self._closed.is_set():
            raise _Stop("closed")
        self._set(state="connected", detail="")
        return self._socket

    def _drop_socket(self) -> None:
        sock, self._socket = self._socket, None
        if sock is not None:
            try:
                sock.close()
            except Exception:  # noqa: BLE001 - it may be broken already
                pass

    def _read(self, deadline: float | None, session: Any) -> Iterator["Trace"]:
        """Read messages until a reason to reconnect (raised) or to stop (raised)."""
        from websockets.exceptions import ConnectionClosed

        sock = self._socket
        last_message = last_sent = time.monotonic()
        heard = False  # a socket that drops before saying anything counts as a failed connect
        while True:
            self._check_stop(deadline)
            now = time.monotonic()
            channel = self._channel
            left = channel.seconds_left(_now(self.client)) if channel is not None else None
            if left is not None and left <= self.renew_margin_s:
                raise _Reconnect("the channel expires soon", new_channel=True)
            if now - max(last_message, last_sent) >= self.ping_interval_s:
                try:
                    sock.send(json.dumps({"message": "ping"}))
                except (ConnectionClosed, OSError):
                    raise _Reconnect("the socket dropped", failed=not heard) from None
                last_sent = now
            wait = min(0.25, max(0.0, last_message + self.silence_timeout_s - now),
                       max(0.0, max(last_message, last_sent) + self.ping_interval_s - now))
            if deadline is not None:
                wait = min(wait, max(0.0, deadline - now))
            try:
                text = sock.recv(timeout=wait)
            except TimeoutError:
                if time.monotonic() - last_message >= self.silence_timeout_s:
                    raise _Reconnect(f"no heartbeat for {self.silence_timeout_s:g} s") from None
                continue
            except (ConnectionClosed, OSError):
                if self._closed.is_set():
                    raise _Stop("closed") from None
                raise _Reconnect("the socket dropped", failed=not heard) from None
            last_message = time.monotonic()
            heard = True
            trace = self._handle(text, session)
            if trace is not None:
                yield trace

    def _handle(self, text: Any, session: Any) -> "Trace | None":
        try:
            message = json.loads(text)
        except (TypeError, ValueError, RecursionError):
            log.warning("ignored a notification that is not JSON")
            return None
        if not isinstance(message, dict):
            return None
        topic = message.get("topicName")
        body = message.get("eventBody")
        if topic == HEARTBEAT_TOPIC:  # a heartbeat, or the pong to our ping: both say the socket lives
            with self._lock:
                self._last_heartbeat = time.monotonic()
            message_text = body.get("message") if isinstance(body, dict) else None
            if message_text == "pong":
                self._set(pongs=self._status.pongs + 1)
            else:
                self._set(heartbeats=self._status.heartbeats + 1)
            return None
        if topic == SOCKET_CLOSING_TOPIC:
            raise _Reconnect("the service is closing the socket")
        if not isinstance(topic, str) or topic not in self.topics or not isinstance(body, dict):
            log.debug("ignored a notification on %r", topic)
            return None
        execution_id = _event_text(body, "executionId")
        if execution_id is not None:
            if execution_id in self._seen:  # delivered again after a reconnect
                return None
            self._seen[execution_id] = None
            if len(self._seen) > _SEEN_KEPT:
                self._seen.pop(next(iter(self._seen)))
        trace = trace_from_event(self.client, body, topic=topic, session=session,
                                 download_deadline_s=self.download_deadline_s)
        self.received += 1
        self._set(received=self.received)
        return trace


def watch(
    flow_id: str | list[str] | tuple[str, ...],
    *,
    client: "GenesysClient | None" = None,
    count: int | None = None,
    timeout: float | None = None,
    cancel: CancelToken | None = None,
    **options: Any,
) -> FlowWatch:
    """Watch the executions of ``flow_id`` (one id or several) as they end.

    Returns a :class:`FlowWatch`; iterate over it for one
    :class:`~gctrace_nb.Trace` per execution, each built from its full
    execution document (or, when the link failed, from the event's items).
    ``client`` defaults to :meth:`GenesysClient.from_env`. Other keyword
    arguments go to :class:`FlowWatch` (heartbeat interval, backoff, ...).

    The OAuth client needs the permission Genesys asks for the topic
    (a rejected subscription raises :class:`~gctrace_nb.errors.PermissionDenied`).

    Example:
        >>> for trace in watch("5e4f...", client=client, count=3):   # doctest: +SKIP
        ...     print(trace.metadata.extra["conversation_id"], trace.analysis.total_ms)
    """
    flow_ids = [flow_id] if isinstance(flow_id, str) else list(flow_id)
    if client is None:
        from ..client import GenesysClient

        client = GenesysClient.from_env()
    return FlowWatch(client, flow_ids, count=count, timeout=timeout, cancel=cancel, **options)
