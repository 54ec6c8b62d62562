"""A real webhook receiver for tests: ThreadingHTTPServer on 127.0.0.1, scripted answers.

``Receiver(plan)`` records every POST (headers, exact body bytes) and answers
according to ``plan(index, received) -> Answer`` (index is 0-based over all
requests it has seen). ``Answer.hold`` makes the handler wait on an event
before answering: a slow receiver for timeouts, or one that blocks mid-flush.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


@dataclass
class Answer:
    status: int = 200
    headers: dict = field(default_factory=dict)
    body: bytes = b'{"ok":true}'
    hold: threading.Event | None = None  # wait for this before answering


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict  # lower-cased names
    body: bytes

    @property
    def key(self) -> str | None:
        return self.headers.get("idempotency-key")


def free_port() -> int:
    """A port that was free a moment ago (nothing listens on it now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # a client that timed out and left: expected
        pass


class Receiver:
    def __init__(self, plan: Callable[[int, Received], Answer] | None = None, *, port: int = 0) -> None:
        self.plan = plan or (lambda i, r: Answer())
        self.received: list[Received] = []
        self.arrived = threading.Condition()
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._holds: list[threading.Event] = []

    @property
    def port(self) -> int:
        return self._server.server_address[1] if self._server else self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/trace"

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                got = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with receiver.arrived:
                    index = len(receiver.received)
                    receiver.received.append(got)
                    receiver.arrived.notify_all()
                answer = receiver.plan(index, got)
                if answer.hold is not None:
                    receiver._holds.append(answer.hold)
                    answer.hold.wait(30)
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except OSError:
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self._server = _Server(("127.0.0.1", self._port), Handler)
        self._port = self._server.server_address[1]  # restart on the same port after stop()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def wait_for(self, count: int, timeout: float = 30.0) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.received) >= count, timeout)

    def stop(self) -> None:
        for hold in self._holds:
            hold.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "Receiver":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
