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

:func:`gctrace_nb.api.live.watch` runs the loop (ping, heartbeat silence,
reconnects, channel renewal, stop and clean-up) on these pieces.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote, urlsplit

from ..errors import ApiError, GctraceError, NotFound, PermissionDenied, TraceFormatError
from .options import CallOptions, CancelToken
from .._time import parse_timestamp
from ..core.formats import history as _history
from .history import download_entity

if TYPE_CHECKING:  # pragma: no cover
    from ..core.model import Trace
    from .client import GenesysClient

__all__ = [
    "CHANNELS_PATH",
    "TOPIC_PREFIX",
    "Channel",
    "create_channel",
    "delete_subscriptions",
    "event_document",
    "flow_topic",
    "is_loopback",
    "list_subscriptions",
    "mask_channel_id",
    "event_text",
    "utc_now",
    "subscribe",
    "execution_summary",
    "trace_from_event",
]

log = logging.getLogger(__name__)

CHANNELS_PATH: Final = "/api/v2/notifications/channels"
TOPIC_PREFIX: Final = "v2.flows.instances.flow."


def flow_topic(flow_id: str) -> str:
    """Return the notification topic of a flow's executions.

    >>> flow_topic("5e4f")
    'v2.flows.instances.flow.5e4f'
    """
    if not isinstance(flow_id, str) or not flow_id.strip() or any(ord(c) < 33 for c in flow_id.strip()):
        raise ValueError(f"a flow id must be a non-empty string without spaces, got {flow_id!r}")
    return TOPIC_PREFIX + flow_id.strip()


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (where plain ``ws://`` is allowed)."""
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def utc_now(client: "GenesysClient") -> datetime:
    """The client's wall clock (:meth:`GenesysClient.now <gctrace_nb.api.client.GenesysClient.now>`,
    set by ``GenesysClient(utcnow=...)``), so tests can move it."""
    return client.now()


def mask_channel_id(channel_id: str | None) -> str:
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
        return f"<Channel {mask_channel_id(self.id)} expires={_utc(self.expires) if self.expires else '?'}>"

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
    parts = urlsplit(uri)
    if not (parts.scheme == "wss" or (parts.scheme == "ws" and is_loopback(parts.hostname or ""))):
        raise ApiError(f"notification channel: connectUri must be wss:// (plain ws:// only on loopback), "
                       f"got scheme {parts.scheme or 'none'!r}")
    expires_us = parse_timestamp(body.get("expires"))
    expires = None if expires_us is None else _EPOCH + timedelta(microseconds=expires_us)
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
        log.warning("could not delete the subscriptions of channel %s: %s", mask_channel_id(channel.id), exc)
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


def event_text(event: dict, key: str) -> str | None:
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
    from ..core.model import Trace, TraceMetadata

    if not isinstance(event, dict):
        raise TraceFormatError(f"an execution event is an object, got {type(event).__name__}")
    execution_id = event_text(event, "executionId") or ""
    received_at = received_at or datetime.now(timezone.utc)
    started = time.monotonic()
    uri = event_text(event, "executionHistoryUri")
    extra: dict[str, Any] = {"delivery": "notification", "execution_id": execution_id or None}
    doc: Any = None
    if uri is not None:
        policy = replace(client.policy, deadline_s=max(0.001, min(client.policy.deadline_s, download_deadline_s)))
        try:
            doc = download_entity(client, {"id": execution_id, "downloadUri": uri}, session=session,
                                  options=CallOptions(budget=policy.budget(client.clock)))
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
        if event_text(event, src) and dst not in extra:
            extra[dst] = event[src]
    if execution_id:
        extra["instance_id"] = execution_id
    flow_id = meta.get("flow_id") or event_text(event, "flowId")
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
