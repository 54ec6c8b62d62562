"""The watch loop: one :class:`~gctrace_nb.Trace` per flow execution, as it ends, over a WebSocket.

:func:`watch` returns a :class:`FlowWatch`; iterating it creates a channel,
subscribes to ``v2.flows.instances.flow.{flowId}`` for every flow, opens the
WebSocket at ``connectUri`` and yields the trace of each execution event
(built by :func:`gctrace_nb.api.notifications.trace_from_event`: the full
document from ``executionHistoryUri``, else the event's own items).

It pings an idle socket (``{"message": "ping"}``), reconnects after a silence
longer than the heartbeat allows, a dropped socket or ``v2.system.socket_closing``
(the same channel while it lives, re-subscribing whatever it lost; a new
channel and the same subscriptions when it has expired, is about to, or is
gone), with jittered backoff and a breaker, and skips an event delivered twice.
It stops on a count, a deadline, a cancel token, :meth:`FlowWatch.close` or
Ctrl-C, and deletes its subscriptions on the way out, however it ends.
``websockets`` is imported only when a watch connects.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Final, Iterator
from urllib.parse import urlsplit

from ..errors import CircuitOpen
from .notifications import (
    Channel,
    create_channel,
    delete_subscriptions,
    event_text,
    flow_topic,
    is_loopback,
    list_subscriptions,
    mask_channel_id,
    subscribe,
    trace_from_event,
    utc_now,
)
from .retry import CancelToken

if TYPE_CHECKING:  # pragma: no cover
    from ..core.model import Trace
    from .client import GenesysClient

__all__ = ["DEFAULT_HEARTBEAT_S", "FlowWatch", "WatchStatus", "watch"]

log = logging.getLogger(__name__)

HEARTBEAT_TOPIC: Final = "channel.metadata"
SOCKET_CLOSING_TOPIC: Final = "v2.system.socket_closing"
#: Genesys documents a heartbeat about every 30 s.
DEFAULT_HEARTBEAT_S: Final = 30.0
_MAX_MESSAGE_BYTES: Final = 16 * 1024 * 1024
_SEEN_KEPT: Final = 10_000


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


def _default_connect(uri: str, *, open_timeout: float) -> Any:
    """Open the WebSocket (``websockets`` sync client); TLS verified, no credentials sent."""
    from websockets.sync.client import connect

    host = urlsplit(uri).hostname or ""
    return connect(uri, open_timeout=open_timeout, close_timeout=2, ping_interval=None,
                   max_size=_MAX_MESSAGE_BYTES, proxy=None if is_loopback(host) else True,
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
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
            raise ValueError(f"count must be a positive integer, got {count!r}")
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
            from .history import _plain_session

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
            left = channel.seconds_left(utc_now(self.client))
            if left is not None and left <= self.renew_margin_s:
                new_channel = True
        if channel is not None and not new_channel:
            topics = list_subscriptions(self.client, channel, cancel=self.cancel)
            if topics is None:
                log.info("notification channel %s is gone; creating a new one", mask_channel_id(channel.id))
                new_channel = True
            elif not set(self.topics) <= set(topics):
                log.info("notification channel %s lost subscriptions; subscribing again", mask_channel_id(channel.id))
                subscribe(self.client, channel, self.topics, cancel=self.cancel)
        if channel is None or new_channel:
            if channel is not None:
                delete_subscriptions(self.client, channel)
            self._set(state="connecting", detail="creating a channel")
            channel = create_channel(self.client, cancel=self.cancel)
            self._channel = channel
            subscribe(self.client, channel, self.topics, cancel=self.cancel)
            self._set(channel=mask_channel_id(channel.id), channels_created=self._status.channels_created + 1)
            log.info("notification channel %s subscribed to %s", mask_channel_id(channel.id), ", ".join(self.topics))

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
            left = channel.seconds_left(utc_now(self.client)) if channel is not None else None
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
        execution_id = event_text(body, "executionId")
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
        from .client import GenesysClient

        client = GenesysClient.from_env()
    return FlowWatch(client, flow_ids, count=count, timeout=timeout, cancel=cancel, **options)
