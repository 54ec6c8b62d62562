"""A server that answers correctly, one byte at a time: a client's deadline must still hold.

Each read of the client gets a byte, so ``requests``' per-read timeout never
fires; only a deadline over the whole response stops it. ``trickle_headers``
also drips the status line and headers (else they arrive at once and only the
body drips). Every request is answered with ``body`` (JSON) and ``status``.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import time
from typing import Any


class TrickleServer:
    def __init__(self, body: Any = None, *, status: int = 200, delay_s: float = 0.2,
                 trickle_headers: bool = True) -> None:
        self.payload = json.dumps(body if body is not None else {"access_token": "tok", "expires_in": 3600}).encode()
        self.status = status
        self.delay_s = delay_s
        self.trickle_headers = trickle_headers
        self.requests: list[str] = []
        self.stopped = threading.Event()
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                outer._handle(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def _handle(self, conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            rest += chunk
        self.requests.append(head.split(b"\r\n")[0].decode())
        response = (f"HTTP/1.1 {self.status} OK\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(self.payload)}\r\nConnection: close\r\n\r\n").encode() + self.payload
        if not self.trickle_headers:
            cut = response.index(b"\r\n\r\n") + 4
            conn.sendall(response[:cut])
            response = response[cut:]
        try:
            for byte in response:
                if self.stopped.is_set():
                    return
                conn.sendall(bytes([byte]))
                time.sleep(self.delay_s)
        except OSError:  # the client hung up: what a deadline does
            return

    def __enter__(self) -> "TrickleServer":
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self._server.shutdown()
        self._server.server_close()
