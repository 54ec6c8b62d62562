"""One deadline per HTTP exchange, however slowly the bytes arrive.

``requests``' ``timeout`` bounds each socket read, not the response: a server
that sends one byte every two seconds resets a 10 s read timeout at every byte
and can hold a request for minutes. :class:`DeadlineAdapter` makes the timeout
a deadline for the whole exchange -- connecting, the status line, the headers
and the body. A watchdog shuts the connection's socket when the deadline
passes; the blocked read then fails at once and the caller gets
:class:`requests.exceptions.ReadTimeout` naming the deadline.

Every session gctrace_nb sends through (the Genesys client and its token
requests, flow-history downloads, webhooks) passes through :func:`guard`, so
this is the one place a deadline is enforced:

* a number ``timeout`` is the deadline, in seconds, for the whole exchange;
* a ``(connect, read)`` tuple is a deadline of ``connect + read``;
* ``timeout=None`` sets no deadline (as plain ``requests``).

A streamed response (``stream=True``) stays under its deadline while its body
is read, so a caller reading chunks is stopped too (the read fails with
:class:`requests.exceptions.ChunkedEncodingError` or ``ConnectionError``).

Example:
    >>> import requests
    >>> session = guard(requests.Session())
    >>> type(session.get_adapter("https://example.com")).__name__
    'DeadlineAdapter'
"""

from __future__ import annotations

import socket
import threading
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.response import HTTPResponse
from urllib3.util.timeout import Timeout as _Urllib3Timeout

__all__ = ["DeadlineAdapter", "guard", "deadline_of"]

# The watch of the exchange this thread is sending: connections register with it.
_current = threading.local()


def deadline_of(timeout: Any) -> float | None:
    """Return the whole-exchange deadline, in seconds, that a ``requests`` timeout stands for.

    >>> deadline_of(10), deadline_of((3.05, 27)), deadline_of(None)
    (10.0, 30.05, None)
    """
    if timeout is None:
        return None
    if isinstance(timeout, _Urllib3Timeout):
        return float(timeout.total) if isinstance(timeout.total, (int, float)) else None
    if isinstance(timeout, tuple):
        parts = [t for t in timeout if t is not None]
        if len(parts) != len(timeout) or not parts:
            return None
        return float(sum(parts))
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        return float(timeout)
    return None


class _Watch:
    """The watchdog of one exchange: at the deadline, cut its socket.

    While the status line and headers are awaited, the socket is the
    connection's; once the response is built, the response is cut with
    :meth:`urllib3.response.HTTPResponse.shutdown` (only if its body is not yet
    read: a finished response's connection may already serve another request).
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.fired = False
        self._lock = threading.Lock()
        self._connections: list[HTTPConnection] = []
        self._response: HTTPResponse | None = None
        self._timer = threading.Timer(max(0.0, seconds), self._fire)
        self._timer.daemon = True

    def start(self) -> None:
        self._timer.start()

    def attach(self, connection: HTTPConnection) -> None:
        with self._lock:
            if self.fired:
                _shut(connection)
            elif connection not in self._connections:
                self._connections.append(connection)

    def track(self, response: Any) -> None:
        """The headers are in: from now on the response, not the connection, is cut."""
        with self._lock:
            self._connections.clear()
            if isinstance(response, HTTPResponse):
                self._response = response
                if self.fired:
                    _cut(response)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for connection in self._connections:
                _shut(connection)
            self._connections.clear()
            if self._response is not None:
                _cut(self._response)

    def done(self) -> None:
        """The exchange is over (body read, or failed): stand down."""
        self._timer.cancel()
        with self._lock:
            self._connections.clear()
            self._response = None


def _cut(response: HTTPResponse) -> None:
    if response.closed:  # body read: the connection may be back in the pool, serving someone else
        return
    try:
        response.shutdown()
    except (ValueError, OSError):  # no socket to shut (already closed)
        pass


def _shut(connection: HTTPConnection) -> None:
    sock = getattr(connection, "sock", None)
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # already closed
        pass


def _attach(connection: HTTPConnection) -> None:
    watch = getattr(_current, "watch", None)
    if watch is not None:
        watch.attach(connection)


class _Watched:
    """Connection mixin: register with the current exchange's watch before any I/O."""

    def connect(self) -> None:
        _attach(self)  # type: ignore[arg-type]
        super().connect()  # type: ignore[misc]

    def request(self, *args: Any, **kwargs: Any) -> Any:
        _attach(self)  # type: ignore[arg-type]
        return super().request(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class DeadlineAdapter(HTTPAdapter):
    """An :class:`~requests.adapters.HTTPAdapter` whose ``timeout`` is a deadline for the whole exchange.

    See the module docstring. Everything else (pooling, TLS verification,
    proxies, ``max_retries``) is the plain adapter's.
    """

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = dict(_POOLS)
        return manager

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             *args: Any, **kwargs: Any) -> requests.Response:
        seconds = deadline_of(timeout)
        if seconds is None:
            return super().send(request, stream, timeout, *args, **kwargs)
        watch = _Watch(seconds)
        outer = getattr(_current, "watch", None)
        _current.watch = watch
        watch.start()
        try:
            try:
                response = super().send(request, True, timeout, *args, **kwargs)
            finally:
                _current.watch = outer
            watch.track(response.raw)
            if not stream:
                _ = response.content  # read the body under the deadline; Session.send finds it read
                watch.done()
            return response
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError, requests.Timeout) as exc:
            watch.done()
            if watch.fired:
                raise _deadline_error(request, seconds) from None
            raise exc
        except BaseException:
            watch.done()
            raise


def _deadline_error(request: requests.PreparedRequest, seconds: float) -> requests.exceptions.ReadTimeout:
    from urllib.parse import urlsplit

    parts = urlsplit(request.url or "")
    where = f"{parts.scheme}://{parts.netloc}" if parts.netloc else "the server"
    return requests.exceptions.ReadTimeout(
        f"no complete answer from {where} within {seconds:g} s (the deadline covers the whole response)",
        request=request,
    )


def guard(session: requests.Session) -> requests.Session:
    """Mount a :class:`DeadlineAdapter` for ``http://`` and ``https://`` on ``session``; return it.

    A plain :class:`~requests.adapters.HTTPAdapter` already mounted there is
    replaced by one with the same ``max_retries`` and pool sizes. An adapter of
    another kind (a caller's own transport) is left in place: it decides its
    own timeouts.
    """
    for prefix in ("https://", "http://"):
        current = session.adapters.get(prefix)
        if isinstance(current, DeadlineAdapter):
            continue
        if current is not None and type(current) is not HTTPAdapter:
            continue
        options: dict[str, Any] = {}
        if current is not None:
            options = dict(
                max_retries=current.max_retries,
                pool_connections=getattr(current, "_pool_connections", 10),
                pool_maxsize=getattr(current, "_pool_maxsize", 10),
                pool_block=getattr(current, "_pool_block", False),
            )
            current.close()
        session.mount(prefix, DeadlineAdapter(**options))
    return session
