"""A small scripted notification service of the tests' own (not the simulator), on 127.0.0.1.

REST (through :class:`FakeGenesys`: OAuth, recorded requests): ``POST /api/v2/notifications/channels``,
``PUT|GET|DELETE .../channels/{id}/subscriptions``; signed-looking execution documents at
``GET /doc/{execution id}?sig=...`` (an Authorization header there is refused). The WebSocket
(``websockets`` sync server, its own port) runs one script per connection, in order:
``server.scripts.append(lambda conn: ...)``. ``server.handshake_failures = N`` answers the next N
handshakes with HTTP 503. Every handshake's headers are recorded in ``server.handshakes``.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable
from urllib.parse import urlsplit

from http_fixtures import FakeGenesys, _error
from websockets.sync.server import serve

from gctrace_nb.simulator.history_docs import generate_execution_document

HEARTBEAT = {"topicName": "channel.metadata", "eventBody": {"message": "WebSocket Heartbeat"}}


class MiniNotifications(FakeGenesys):
    def __init__(self) -> None:
        super().__init__()
        self.channel_id = "chan-test-0001-secret"
        self.topics: list[str] = []
        self.documents: dict[str, dict] = {}
        self.scripts: list[Callable[[Any], None]] = []
        self.handshakes: list[dict] = []
        self.handshake_failures = 0
        self.connections = 0
        self._ws = serve(self._serve, "127.0.0.1", 0, process_request=self._process, ping_interval=None)
        self.ws_port = self._ws.socket.getsockname()[1]
        self._ws_thread = threading.Thread(target=self._ws.serve_forever, daemon=True)

    def __enter__(self) -> "MiniNotifications":
        super().__enter__()
        self._ws_thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._ws.shutdown()
        super().__exit__(*exc)

    # ---------------------------------------------------------------- events
    def event(self, execution_id: str, flow_id: str = "flow-a", *, seed: int = 1) -> dict:
        """A notification message for a new execution whose document this server serves."""
        doc = generate_execution_document(seed, f"conv-{execution_id}", flow_id)
        self.documents[execution_id] = doc
        flow = doc["flow"]
        body = {"executionId": execution_id, "conversationId": flow["conversationId"], "flowId": flow_id,
                "startDateTime": flow["startDateTime"], "endDateTime": flow["endDateTime"], "execution": [],
                "executionHistoryUri": f"{self.url}/doc/{execution_id}?sig=abc", "executionHistoryUriTtl": 60}
        return {"topicName": f"v2.flows.instances.flow.{flow_id}", "version": "2", "eventBody": body}

    # ---------------------------------------------------------------- REST
    def respond(self, rec: Any) -> tuple[int, dict, Any]:
        path = urlsplit(rec.path).path
        if path.startswith("/doc/"):
            if rec.headers.get("Authorization"):
                return 400, {}, {"message": "no Authorization header on a signed link"}
            doc = self.documents.get(path[len("/doc/"):])
            return (200, {}, doc) if doc is not None else (403, {}, {"message": "expired"})
        if path.startswith("/api/v2/notifications/"):
            auth = rec.headers.get("Authorization", "")
            if not auth.startswith("Bearer ") or auth[7:] not in self.valid_tokens:
                return 401, {}, _error(401, "bad.credentials", "Invalid login credentials.")
            if path == "/api/v2/notifications/channels" and rec.method == "POST":
                return 200, {}, {"id": self.channel_id, "expires": "2099-01-01T00:00:00Z",
                                 "connectUri": f"ws://127.0.0.1:{self.ws_port}/channels/{self.channel_id}"}
            if path.endswith("/subscriptions"):
                if rec.method == "PUT":
                    self.topics = [t["id"] for t in rec.json()]
                elif rec.method == "DELETE":
                    self.topics = []
                return 200, {}, {"entities": [{"id": t, "state": "Permitted"} for t in self.topics]}
        return super().respond(rec)

    # ---------------------------------------------------------------- WebSocket
    def _process(self, connection: Any, request: Any) -> Any:
        self.handshakes.append(dict(request.headers.raw_items()))
        if self.handshake_failures > 0:
            self.handshake_failures -= 1
            return connection.respond(503, "busy\n")
        return None

    def _serve(self, connection: Any) -> None:
        self.connections += 1
        script = self.scripts.pop(0) if self.scripts else _heartbeats
        try:
            script(connection)
        except Exception:  # noqa: BLE001 - the client went away
            pass


def _heartbeats(connection: Any) -> None:
    while True:
        connection.send(json.dumps(HEARTBEAT))
        time.sleep(0.1)
