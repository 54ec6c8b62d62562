"""The simulator's notification service: channels, subscriptions and a WebSocket that pushes flow executions.

It speaks the protocol of ``genesys-api.md`` §B "Notifications":

* ``POST /api/v2/notifications/channels`` -> ``{id, connectUri, expires}``; ``GET`` lists them.
* ``GET|PUT|POST|DELETE /api/v2/notifications/channels/{id}/subscriptions`` with
  ``[{"id": topic}]``; each topic comes back with a ``state`` (``Permitted`` or
  ``Rejected`` with ``rejectionReason`` and ``missingPermissions``).
* ``GET /api/v2/notifications/availabletopics``.
* The WebSocket at ``connectUri``: a ``websockets`` server on its own loopback
  port, beside the HTTP server. It sends ``{"topicName": "channel.metadata",
  "eventBody": {"message": "WebSocket Heartbeat"}}`` every
  :attr:`NotificationService.heartbeat_interval_s`, answers ``{"message":
  "ping"}`` with a ``pong``, warns with ``v2.system.socket_closing`` before it
  closes a socket (every :attr:`socket_closing_every_s`, when set, or on
  :meth:`close_sockets`), and closes every socket of a channel that expires.

:meth:`NotificationService.place_call` (also :meth:`Simulator.place_call`)
runs a simulated execution of a flow: a seeded execution document (the same
generator the history endpoints use) is served from a signed
``executionHistoryUri`` on the simulator's pre-signed download route, and the
event goes to every channel subscribed to ``v2.flows.instances.flow.{flowId}``.

Differences from Genesys, on purpose: an event placed while a channel has no
socket (or only a silent one) waits for the channel's next socket instead of
being dropped, so demos and tests do not depend on timing; channels are not
per user. ``websockets`` is imported only when the first channel is created.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Final, Iterable
from urllib.parse import unquote, urlsplit

from .._time import parse_timestamp
from .history_docs import generate_execution_document

__all__ = ["NotificationService", "FLOW_TOPIC_PREFIX", "TOPIC_PERMISSION"]

log = logging.getLogger("gctrace_nb.simulator.notifications")

FLOW_TOPIC_PREFIX: Final = "v2.flows.instances.flow."
#: The permission the simulator asks for a flow-execution topic (which one Genesys asks is [unknown]).
TOPIC_PERMISSION: Final = "architect:flowInstance:view"
MAX_CHANNELS: Final = 20
MAX_TOPICS: Final = 1000
_DIVISION: Final = "b1c4a9b2-3c0e-4b7e-9d21-5f0a3b1e7c11"
_TICK: Final = 0.02


def _error(status: int, code: str, message: str) -> tuple[int, dict]:
    return status, {"message": message, "code": code, "status": status, "contextId": str(uuid.uuid4()),
                    "details": [], "errors": []}


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class _Channel:
    id: str
    created: float  # simulator clock
    expires: float  # simulator clock
    expires_iso: str
    topics: dict[str, None] = field(default_factory=dict)
    pending: deque = field(default_factory=deque)
    sockets: list = field(default_factory=list)  # _Socket, newest last
    connected_ever: bool = False


@dataclass
class _Socket:
    connection: Any
    opened: float
    silent: bool = False
    closing: str | None = None  # a reason to send socket_closing and close


class NotificationService:
    """The simulator's notification service (see the module docstring); one per :class:`Simulator`.

    ``sim`` is the owning :class:`~gctrace_nb.simulator.Simulator` (not imported here: the server
    imports this module, and the layers allow no cycle, not even for type hints).

    Attributes (plain, change them while it runs):
        heartbeat_interval_s: seconds between heartbeats on each socket (Genesys: about 30).
        channel_lifetime_s: a new channel's lifetime (Genesys: 24 h).
        socket_closing_every_s: when set, each socket is closed (after a
            ``v2.system.socket_closing``) this long after it opened.
        history_uri_ttl_s: lifetime of an event's ``executionHistoryUri`` (default:
            the simulator's ``download_lifetime_s``).
        denied_permissions: permissions the OAuth client "lacks": a topic needing
            one is rejected with ``missingPermissions``.
        event_items_limit: the most items an event carries (then ``executionItemsTruncated``).
    """

    def __init__(self, sim: Any, *, heartbeat_interval_s: float = 30.0,
                 channel_lifetime_s: float = 86_400.0, socket_closing_every_s: float | None = None,
                 history_uri_ttl_s: float | None = None, denied_permissions: Iterable[str] = (),
                 event_items_limit: int = 50) -> None:
        self.sim = sim
        self.heartbeat_interval_s = heartbeat_interval_s
        self.channel_lifetime_s = channel_lifetime_s
        self.socket_closing_every_s = socket_closing_every_s
        self.history_uri_ttl_s = history_uri_ttl_s
        self.denied_permissions = frozenset(denied_permissions)
        self.event_items_limit = event_items_limit
        self._lock = threading.RLock()
        self._channels: dict[str, _Channel] = {}
        self._rng = random.Random(sim.seed ^ 0x11FE)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._caller: threading.Thread | None = None
        self._caller_stop = threading.Event()
        self.calls: list[dict] = []  # event bodies placed, oldest first
        self.sockets_opened = 0
        self.pings = 0
        self.heartbeats_sent = 0
        self.socket_closings_sent = 0
        self.events_delivered = 0

    def __repr__(self) -> str:
        with self._lock:
            return (f"<NotificationService {len(self._channels)} channel(s), {self.sockets_opened} socket(s) "
                    f"opened, {len(self.calls)} call(s), heartbeat {self.heartbeat_interval_s:g} s>")

    # ------------------------------------------------------------ websocket server
    @property
    def ws_url(self) -> str:
        """``ws://127.0.0.1:<port>``: where ``connectUri`` points (starts the server)."""
        port = self._ensure_server()
        host = self.sim.host if self.sim.host not in ("", "0.0.0.0") else "127.0.0.1"
        return f"ws://{host}:{port}"

    def _ensure_server(self) -> int:
        with self._lock:
            if self._server is None:
                from websockets.sync.server import serve

                self._stopping.clear()
                self._server = serve(self._serve_socket, self.sim.host or "127.0.0.1", 0,
                                     process_request=self._check_request, ping_interval=None,
                                     close_timeout=1, server_header="gctrace-simulator")
                self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                                name="gctrace-simulator-notifications")
                self._thread.start()
            return self._server.socket.getsockname()[1]

    def stop(self) -> None:
        """Stop the WebSocket server, its sockets and the call generator (idempotent)."""
        self.stop_calls()
        self._stopping.set()
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is not None:
            server.shutdown()
        if thread is not None:
            thread.join(timeout=5)

    def _channel_of_path(self, path: str) -> _Channel | None:
        parts = [unquote(p) for p in urlsplit(path).path.split("/") if p]
        if len(parts) != 2 or parts[0] != "channels":
            return None
        with self._lock:
            channel = self._channels.get(parts[1])
        if channel is None or self.sim.clock() >= channel.expires:
            return None
        return channel

    def _check_request(self, connection: Any, request: Any) -> Any:
        if self._channel_of_path(request.path) is None:
            return connection.respond(404, "no such channel (expired or never created)\n")
        return None

    def _serve_socket(self, connection: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        channel = self._channel_of_path(connection.request.path)
        if channel is None:
            connection.close(4004, "no such channel")
            return
        sock = _Socket(connection, self.sim.clock())
        with self._lock:
            channel.sockets.append(sock)
            channel.connected_ever = True
            self.sockets_opened += 1
        try:
            self._socket_loop(channel, sock)
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                if sock in channel.sockets:
                    channel.sockets.remove(sock)
            connection.close()

    def _socket_loop(self, channel: _Channel, sock: _Socket) -> None:
        conn = sock.connection
        next_heartbeat = sock.opened + self.heartbeat_interval_s
        while not self._stopping.is_set():
            now = self.sim.clock()
            reason = sock.closing
            if reason is None and (now >= channel.expires or channel.id not in self._channels):
                reason = "the channel expired"
            if reason is None and self.socket_closing_every_s and now - sock.opened >= self.socket_closing_every_s:
                reason = "scheduled socket rotation"
            if reason is not None:
                self._send(conn, {"topicName": "v2.system.socket_closing",
                                  "eventBody": {"message": "Socket is closing", "reason": reason},
                                  "metadata": {"CorrelationId": str(uuid.uuid4())}})
                with self._lock:
                    self.socket_closings_sent += 1
                return
            if not sock.silent:
                for message in self._take(channel, sock):
                    self._send(conn, message)
                if now >= next_heartbeat:
                    self._send(conn, {"topicName": "channel.metadata", "eventBody": {"message": "WebSocket Heartbeat"}})
                    with self._lock:
                        self.heartbeats_sent += 1
                    next_heartbeat = now + self.heartbeat_interval_s
            try:
                text = conn.recv(timeout=_TICK)
            except TimeoutError:
                continue
            try:
                message = json.loads(text)
            except (TypeError, ValueError):
                continue
            if isinstance(message, dict) and message.get("message") == "ping":
                with self._lock:
                    self.pings += 1
                if not sock.silent:
                    self._send(conn, {"topicName": "channel.metadata", "eventBody": {"message": "pong"}})

    def _take(self, channel: _Channel, sock: _Socket) -> list[dict]:
        """The channel's waiting events, when ``sock`` is its newest socket."""
        with self._lock:
            if not channel.sockets or channel.sockets[-1] is not sock or not channel.pending:
                return []
            out = list(channel.pending)
            channel.pending.clear()
            self.events_delivered += len(out)
            return out

    @staticmethod
    def _send(conn: Any, message: dict) -> None:
        conn.send(json.dumps(message))

    # ------------------------------------------------------------------ controls
    def close_sockets(self, reason: str = "closing for maintenance") -> int:
        """Send ``v2.system.socket_closing`` on every open socket and close it; return how many."""
        with self._lock:
            sockets = [s for c in self._channels.values() for s in c.sockets]
            for sock in sockets:
                sock.closing = reason
        return len(sockets)

    def go_silent(self) -> int:
        """Make every open socket silent (no heartbeat, pong or event; it stays open); return how many.

        A client must notice the silence and reconnect; the events wait for its next socket.
        """
        with self._lock:
            sockets = [s for c in self._channels.values() for s in c.sockets]
            for sock in sockets:
                sock.silent = True
        return len(sockets)

    def expire_channels(self) -> int:
        """Expire every channel now: its sockets close and it is gone (404); return how many."""
        with self._lock:
            now = self.sim.clock()
            channels = list(self._channels.values())
            for channel in channels:
                channel.expires = now
            self._channels.clear()
        return len(channels)

    @property
    def channels(self) -> list[dict]:
        """A snapshot: ``{id, topics, sockets, pending, expired}`` per channel that lives."""
        now = self.sim.clock()
        with self._lock:
            return [{"id": c.id, "topics": list(c.topics), "sockets": len(c.sockets), "pending": len(c.pending),
                     "expired": now >= c.expires} for c in self._channels.values()]

    def connected_sockets(self) -> int:
        """How many sockets are open now."""
        with self._lock:
            return sum(len(c.sockets) for c in self._channels.values())

    # ---------------------------------------------------------------- REST routes
    def handle(self, method: str, seg: list[str], body: Any) -> tuple[int, Any]:
        """Answer ``/api/v2/notifications/...`` (``seg`` is the path after ``notifications``)."""
        self._expire()
        if seg == ["availabletopics"] and method == "GET":
            return 200, {"entities": [{"id": FLOW_TOPIC_PREFIX + "{id}", "description": "Flow execution ended",
                                       "requiresPermissions": [TOPIC_PERMISSION]}]}
        if seg == ["channels"]:
            if method == "POST":
                return self._create_channel()
            if method == "GET":
                with self._lock:
                    return 200, {"entities": [self._channel_json(c) for c in self._channels.values()]}
            return _error(405, "method.not.allowed", f"Method {method} is not allowed here")
        if len(seg) == 3 and seg[0] == "channels" and seg[2] == "subscriptions":
            with self._lock:
                channel = self._channels.get(seg[1])
            if channel is None:
                return _error(404, "not.found", "The channel does not exist or has expired")
            return self._subscriptions(method, channel, body)
        return _error(404, "not.found", "The requested notifications resource was not found.")

    def _expire(self) -> None:
        now = self.sim.clock()
        with self._lock:
            for key in [k for k, c in self._channels.items() if now >= c.expires]:
                del self._channels[key]

    def _channel_json(self, channel: _Channel) -> dict:
        return {"connectUri": f"{self.ws_url}/channels/{channel.id}", "id": channel.id,
                "expires": channel.expires_iso}

    def _create_channel(self) -> tuple[int, Any]:
        now = self.sim.clock()
        channel_id = "streaming-0-" + secrets.token_hex(12)
        with self._lock:
            if len(self._channels) >= MAX_CHANNELS:  # Genesys replaces the oldest unconnected channel
                idle = [c for c in self._channels.values() if not c.sockets]
                if not idle:
                    return _error(400, "too.many.channels", f"At most {MAX_CHANNELS} channels are allowed")
                del self._channels[min(idle, key=lambda c: c.created).id]
            channel = _Channel(channel_id, now, now + self.channel_lifetime_s,
                               _iso(self.sim.wall_clock() + self.channel_lifetime_s))
            self._channels[channel_id] = channel
        return 200, self._channel_json(channel)

    def _subscriptions(self, method: str, channel: _Channel, body: Any) -> tuple[int, Any]:
        if method == "DELETE":
            with self._lock:
                channel.topics.clear()
            return 200, {"entities": []}
        if method == "GET":
            return 200, {"entities": [{"id": t, "state": "Permitted"} for t in channel.topics]}
        if method not in ("PUT", "POST"):
            return _error(405, "method.not.allowed", f"Method {method} is not allowed here")
        if not isinstance(body, list) or not all(isinstance(t, dict) and isinstance(t.get("id"), str) for t in body):
            return _error(400, "bad.request", 'The body must be a list of topics, e.g. [{"id": "v2.flows..."}]')
        answers = [self._topic_state(t["id"]) for t in body]
        permitted = [a["id"] for a in answers if a["state"] == "Permitted"]
        with self._lock:
            if method == "PUT":
                channel.topics.clear()
            for topic in permitted:
                channel.topics[topic] = None
            if len(channel.topics) > MAX_TOPICS:
                return _error(400, "too.many.topics", f"A channel holds at most {MAX_TOPICS} topics")
        return 200, {"entities": answers}

    def _topic_state(self, topic: str) -> dict:
        if not topic.startswith(FLOW_TOPIC_PREFIX) or len(topic) == len(FLOW_TOPIC_PREFIX):
            return {"id": topic, "state": "Rejected", "rejectionReason": "Unknown topic"}
        if TOPIC_PERMISSION in self.denied_permissions:
            return {"id": topic, "state": "Rejected", "rejectionReason": "Missing permissions",
                    "missingPermissions": [TOPIC_PERMISSION]}
        return {"id": topic, "state": "Permitted"}

    # ---------------------------------------------------------------- calls
    def place_call(self, flow_id: str, *, flow_name: str = "Inbound Main", fail: bool | None = None,
                   history_uri_ttl_s: float | None = None) -> dict:
        """Run one simulated execution of ``flow_id`` and push its event; return the event body.

        The full document is served at the event's ``executionHistoryUri`` for
        ``history_uri_ttl_s`` seconds (0: already expired, to exercise the fallback).
        ``fail`` makes its payment data action fail (default: seeded dice).
        """
        if not isinstance(flow_id, str) or not flow_id.strip():
            raise ValueError("place_call needs a flow id")
        sim = self.sim
        with self._lock:
            seed = self._rng.getrandbits(32)
            conversation = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
            execution_id = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        # generated twice with one seed: the first measures it, the second ends now (it just ended)
        probe = generate_execution_document(seed, conversation, flow_id, flow_name=flow_name, start=0,
                                            fail_payment=fail)["flow"]
        began, ended = parse_timestamp(probe["startDateTime"]), parse_timestamp(probe["endDateTime"])
        assert began is not None and ended is not None  # the generator writes both
        took_ms = (ended - began) // 1000
        doc = generate_execution_document(seed, conversation, flow_id, flow_name=flow_name,
                                          start=int(sim.wall_clock() * 1000) - took_ms, fail_payment=fail)
        ttl = self.history_uri_ttl_s if history_uri_ttl_s is None else history_uri_ttl_s
        ttl = sim.download_lifetime_s if ttl is None else ttl
        with sim._lock:
            sim.execution_documents[execution_id] = doc
        uri = sim._presign(execution_id)
        token = urlsplit(uri).path.rsplit("/", 1)[1]
        with sim._lock:  # this link's own lifetime
            sim._presigned[token] = (execution_id, sim.clock() + ttl)
        body = self._event(doc, execution_id, uri, ttl)
        topic = FLOW_TOPIC_PREFIX + flow_id
        message = {"topicName": topic, "version": "2", "eventBody": body,
                   "metadata": {"CorrelationId": str(uuid.uuid4())}}
        self._expire()
        with self._lock:
            self.calls.append(body)
            for channel in self._channels.values():
                if topic in channel.topics:
                    channel.pending.append(message)
        return body

    def _event(self, doc: dict, execution_id: str, uri: str, ttl: float) -> dict:
        flow = doc["flow"]
        items, errors = [], []
        stack = list(reversed(flow.get("execution", [])))
        while stack:  # pre-order, as the document lists them
            item = stack.pop()
            (kind, payload), = item.items()
            object_id = payload.get("actionId") or payload.get("taskId") or payload.get("commonModuleId")
            error = None
            if payload.get("errors"):
                first = payload["errors"][0]
                error = first.get("message") if isinstance(first, dict) else str(first)
                errors.append({"reason": error, "executionId": payload.get("executionId"), "objectId": object_id})
            items.append({"objectType": kind, "objectId": None if object_id is None else str(object_id),
                          "outputPathId": payload.get("outputPathId"), "executionId": payload.get("executionId"),
                          "startDateTime": payload.get("dateTime"), "error": error, "warning": None,
                          "languageTag": "en-us"})
            stack.extend(reversed(payload.get("execution") or []))
        exit_reason = next((p.get("exitReason") for i in flow.get("execution", []) for k, p in i.items()
                            if k == "endedFlow"), None)
        return {
            "executionId": execution_id, "conversationId": flow.get("conversationId"), "divisionId": _DIVISION,
            "flowId": flow.get("flowId"), "flowType": flow.get("flowType"), "flowVersion": flow.get("flowVersion"),
            "flowIsDebug": False, "messageType": "FlowExecutionEnded",
            "startDateTime": flow.get("startDateTime"), "endDateTime": flow.get("endDateTime"),
            "flowExitReason": exit_reason or "FLOW_DISCONNECT", "errors": errors, "warnings": [],
            "execution": items[:self.event_items_limit],
            "executionItemsTruncated": len(items) > self.event_items_limit,
            "invokingContext": None, "endpoint": None,
            "executionHistoryUri": uri, "executionHistoryUriTtl": int(ttl),
        }

    def subscribed_flows(self) -> list[str]:
        """Flow ids some channel is subscribed to now."""
        with self._lock:
            topics = {t for c in self._channels.values() for t in c.topics}
        return sorted(t[len(FLOW_TOPIC_PREFIX):] for t in topics)

    def start_calls(self, per_minute: float, flow_ids: Iterable[str] | None = None) -> None:
        """Place calls steadily: ``per_minute`` per flow, to ``flow_ids`` or else every subscribed flow."""
        if not per_minute > 0:
            raise ValueError(f"calls per minute must be positive, got {per_minute!r}")
        self.stop_calls()
        fixed = list(flow_ids) if flow_ids is not None else None
        self._caller_stop.clear()

        def run() -> None:
            while not self._caller_stop.wait(60.0 / per_minute):
                for flow_id in fixed if fixed is not None else self.subscribed_flows():
                    self.place_call(flow_id)

        self._caller = threading.Thread(target=run, daemon=True, name="gctrace-simulator-calls")
        self._caller.start()

    def stop_calls(self) -> None:
        """Stop :meth:`start_calls` (idempotent)."""
        self._caller_stop.set()
        caller, self._caller = self._caller, None
        if caller is not None:
            caller.join(timeout=5)
