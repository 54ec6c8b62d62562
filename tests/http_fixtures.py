"""A small scripted Genesys look-alike on 127.0.0.1 for the client tests (real sockets).

``FakeGenesys`` speaks OAuth client credentials, ``POST /api/v2/flows/{id}/debug``
and ``GET /api/v2/jobs/{id}``, records every request, and takes scripted
responses: ``server.script("GET", "/api/v2/jobs/", (429, {}, {...}), ...)``
queues answers that are served (in order) before the default behaviour.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

CLIENT_ID = "test-client-id"
CLIENT_SECRET = "s3cr3t-VALUE-never-shown"

BASE = "2024-05-01T10:00:00"

STEPS = [
    {"nodeId": "root", "startTime": "2024-05-01T10:00:00.000Z", "endTime": "2024-05-01T10:00:01.000Z",
     "status": "success"},
    {"nodeId": "menu", "parentId": "root", "startTime": "2024-05-01T10:00:00.100Z",
     "endTime": "2024-05-01T10:00:00.300Z", "status": "success"},
    {"nodeId": "crm", "parentId": "root", "startTime": "2024-05-01T10:00:00.300Z",
     "endTime": "2024-05-01T10:00:00.900Z", "status": "success"},
]


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Job:
    id: str
    flow_id: str
    polls_left: int
    fail: str | None = None
    steps: list = field(default_factory=lambda: list(STEPS))


class FakeGenesys:
    """The scripted server. Attributes may be changed between (or during) tests."""

    def __init__(self, *, token_lifetime_s: int = 3600, job_polls: int = 2, location_style: str = "absolute") -> None:
        self.token_lifetime_s = token_lifetime_s
        self.job_polls = job_polls
        self.location_style = location_style
        self.result_style = "object"
        self.fail_jobs: str | None = None
        self.requests: list[Recorded] = []
        self.valid_tokens: set[str] = set()
        self.issued_tokens: list[str] = []
        self.jobs: dict[str, Job] = {}
        self._scripts: list[tuple[str, str, list]] = []
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                rec = Recorded(self.command, self.path, dict(self.headers.items()), body)
                with fake._lock:
                    fake.requests.append(rec)
                status, headers, payload = fake.respond(rec)
                data = payload if isinstance(payload, bytes) else (
                    b"" if payload is None else json.dumps(payload).encode()
                )
                self.send_response(status)
                headers = dict(headers)
                headers.setdefault("ININ-Correlation-Id", f"corr-{next(fake._counter)}")
                if payload is not None and not isinstance(payload, bytes):
                    headers.setdefault("Content-Type", "application/json")
                for k, v in headers.items():
                    self.send_header(k, str(v))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    # ----------------------------------------------------------- lifecycle
    def __enter__(self) -> "FakeGenesys":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -------------------------------------------------------------- script
    def script(self, method: str, prefix: str, *responses: tuple) -> None:
        """Serve ``responses`` in order to matching requests first.

        Each is ``(status, headers, body)`` or ``(status, headers, body, delay_s)``.
        """
        with self._lock:
            self._scripts.append((method, prefix, list(responses)))

    def revoke_tokens(self) -> None:
        with self._lock:
            self.valid_tokens.clear()

    def api_requests(self, method: str | None = None, prefix: str = "/api/") -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith(prefix) and (method is None or r.method == method)]

    def token_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith("/oauth/token")]

    # ------------------------------------------------------------- answers
    def respond(self, rec: Recorded) -> tuple[int, dict, Any]:
        with self._lock:
            for method, prefix, queue in self._scripts:
                if queue and rec.method == method and rec.path.startswith(prefix):
                    answer = queue.pop(0)
                    break
            else:
                answer = None
        if answer is not None:
            if len(answer) == 4:  # (status, headers, body, delay_s): answer late
                time.sleep(answer[3])
            return answer[:3]
        path = urlsplit(rec.path).path
        if path == "/oauth/token" and rec.method == "POST":
            return self._token(rec)
        if path.startswith("/api/"):
            auth = rec.headers.get("Authorization", "")
            if not auth.startswith("Bearer ") or auth[7:] not in self.valid_tokens:
                return 401, {}, _error(401, "bad.credentials", "Invalid login credentials.")
            if rec.method == "POST" and path.startswith("/api/v2/flows/") and path.endswith("/debug"):
                return self._submit(rec, unquote(path[len("/api/v2/flows/"):-len("/debug")]))
            if rec.method == "GET" and path.startswith("/api/v2/jobs/"):
                return self._job(unquote(path[len("/api/v2/jobs/"):]))
        return 404, {}, _error(404, "not.found", "The requested resource was not found.")

    def _token(self, rec: Recorded) -> tuple[int, dict, Any]:
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        form = parse_qs(rec.body.decode())
        if rec.headers.get("Authorization") != expected:
            return 401, {}, {"error": "invalid_client", "description": "client authentication failed"}
        if form.get("grant_type") != ["client_credentials"] or "x-www-form-urlencoded" not in rec.headers.get(
            "Content-Type", ""
        ):
            return 400, {}, {"error": "invalid_request", "description": "grant_type missing"}
        token = f"tok-{uuid.uuid4().hex}"
        with self._lock:
            self.valid_tokens.add(token)
            self.issued_tokens.append(token)
        return 200, {}, {"access_token": token, "token_type": "bearer", "expires_in": self.token_lifetime_s}

    def _submit(self, rec: Recorded, flow_id: str) -> tuple[int, dict, Any]:
        body = rec.json()
        if not isinstance(body, dict) or body.get("flowId") != flow_id or body.get("enableAsync") is not True:
            return 400, {}, _error(400, "bad.request", "flowId in the body must match the path")
        if flow_id == "missing":
            return 404, {}, _error(404, "flow.not.found", f"Flow {flow_id} not found")
        job_id = f"job-{next(self._counter)}"
        self.jobs[job_id] = Job(job_id, flow_id, self.job_polls, fail=self.fail_jobs)
        style = self.location_style
        if style == "absolute":
            return 202, {"Location": f"{self.url}/api/v2/jobs/{job_id}"}, None
        if style == "relative":
            return 202, {"Location": f"/api/v2/jobs/{job_id}"}, None
        if style == "bare":
            return 202, {"Location": job_id}, None
        return 202, {}, {"id": job_id}

    def _job(self, job_id: str) -> tuple[int, dict, Any]:
        job = self.jobs.get(job_id)
        if job is None:
            return 404, {}, _error(404, "not.found", f"Job {job_id} not found")
        if job.polls_left > 0:
            job.polls_left -= 1
            return 200, {}, {"id": job_id, "status": "in_progress"}
        if job.fail:
            return 200, {}, {"id": job_id, "status": "failed", "message": job.fail}
        result: Any = job.steps if self.result_style == "list" else {"steps": job.steps}
        return 200, {}, {"id": job_id, "status": "completed", "result": result}


def _error(status: int, code: str, message: str) -> dict:
    return {"message": message, "code": code, "status": status, "contextId": f"ctx-{uuid.uuid4().hex[:8]}",
            "details": [], "errors": []}


class SleepRecorder:
    """An injected ``sleep`` that advances a fake monotonic clock instead of sleeping."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds

    @property
    def total(self) -> float:
        return sum(self.sleeps)
