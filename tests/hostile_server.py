"""A hostile, configurable server speaking genesys-api.md (§A debug traces, §B OAuth and flow history).

Written from the contract only, not from our simulator: it plays a third-party
(or a real, badly behaved) service that still stays within the contract, with
quirks a client must survive:

* OAuth: tokens living 1-3 s, a token revoked early (401 on the next use),
  429/5xx bursts on the token endpoint, refused credentials.
* Transient failures on any endpoint: 429 with ``Retry-After`` as seconds
  (``"0"``, ``"1.5"``), as an HTTP date, or missing; 502 with an HTML body, 503
  with an empty body, 504 with a Genesys ``ErrorBody``.
* Debug jobs: ``Location`` absolute on another host name, on
  ``api.mypurecloud.com``, relative, a bare id, with a query, with a trailing
  slash, or missing (body ``{"id": ...}``); statuses in odd case; ``result`` as
  a list or as ``{"steps": [...], ...}``; jobs that stay ``in_progress``; failed
  jobs with a message; slow responses.
* Responses: ``Content-Type`` with a charset or missing, gzip-encoded JSON,
  ``ININ-Correlation-Id`` present or not.
* Flow history: pages that ignore ``pageSize``, ``nextUri`` relative, absolute
  or missing (``pageCount``/``total`` only), jobs going Registered → Running →
  Success, entities pre-signed on another host name of the loopback (which
  rejects an Authorization header), expired links (403 with an XML body), the
  ``/api/v2/downloads/{id}`` form, and ``failed: true`` entities.

Everything the server serves is recorded (``served_steps``, ``served_documents``)
so a test can compare the client's analysis with the analysis of exactly that.

Usage::

    with HostileServer(Quirks(token_lifetime_s=1, poll_faults=[Fault(503, body="empty")])) as srv:
        srv.url, srv.alt_url   # http://127.0.0.1:PORT, http://localhost:PORT
"""

from __future__ import annotations

import base64
import email.utils
import gzip
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

CLIENT_ID = "hostile-client"
CLIENT_SECRET = "hostile-s3cr3t-do-not-print"


@dataclass
class Fault:
    """One transient answer: ``status`` with a ``Retry-After`` and a body kind.

    ``retry_after``: ``None`` (no header), seconds as text (``"0"``, ``"1.5"``),
    or ``"date+N"`` for an HTTP date N seconds ahead. ``body``: ``"genesys"``
    (an ``ErrorBody``), ``"html"``, ``"empty"``. ``delay_s`` holds the answer back.
    """

    status: int
    retry_after: str | None = None
    body: str = "genesys"
    delay_s: float = 0.0


def burst(*statuses: int, retry_after: str | None = None) -> list[Fault]:
    """Faults in the usual dress: 502 HTML, 503 empty, 504 and 429 Genesys JSON."""
    kinds = {502: "html", 503: "empty"}
    return [Fault(s, retry_after if s == 429 else None, kinds.get(s, "genesys")) for s in statuses]


@dataclass
class Quirks:
    # ---- OAuth
    token_lifetime_s: int = 2
    revoke_token_after_uses: int | None = None  # API calls a token survives before turning invalid (401)
    token_faults: list = field(default_factory=list)
    token_faults_after: int = 0  # the token faults start once this many tokens were issued
    reject_credentials: bool = False
    slow_token_s: float = 0.0  # every token answer is held back this long
    # ---- transient faults per endpoint (served in order, then normal answers)
    submit_faults: list = field(default_factory=list)
    poll_faults: list = field(default_factory=list)
    # ---- debug jobs
    location: str = "relative"  # relative | absolute_alt_host | absolute_purecloud | bare | query | trailing_slash | body_id
    status_case: str = "lower"  # lower | upper | title
    result_shape: str = "list"  # list | steps
    in_progress_polls: int = 1
    fail_message: str | None = None
    submit_status: int = 202
    forbid_submit: bool = False
    slow_poll_s: float = 0.0  # every job GET is held back this long
    # ---- response dress
    gzip: bool = False
    corrupt_gzip_polls: int = 0  # job answers claiming gzip whose body is cut short (a broken proxy)
    content_type: str = "json"  # json | charset | none
    correlation: bool = True
    # ---- flow history
    instances: int = 3
    page_cap: int = 2  # the server's own page size, whatever pageSize says
    next_uri: str = "relative"  # relative | absolute | absolute_alt_host | absolute_purecloud | none
    job_polls_registered: int = 1
    job_polls_running: int = 1
    download_form: str = "presigned"  # presigned | downloads_api
    expired_ids: set = field(default_factory=set)
    failed_ids: set = field(default_factory=set)
    query_faults: list = field(default_factory=list)
    jobs_faults: list = field(default_factory=list)
    download_faults: list = field(default_factory=list)
    history_job_fails: str | None = None
    corrupt_downloads: int = 0  # storage answers claiming gzip whose body is cut short


def debug_steps(seed: int) -> list[dict]:
    """A small realistic debug trace (steps of the §A contract), different per seed."""
    base = 1_700_000_000_000 + seed * 60_000  # ms

    def iso(ms: int) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"

    s = seed % 7
    steps = [
        {"nodeId": "flow", "startTime": iso(base), "endTime": iso(base + 2400 + 10 * s), "status": "success"},
        {"nodeId": "menu", "parentId": "flow", "startTime": iso(base + 20), "endTime": iso(base + 300),
         "status": "success", "name": "Main menu"},
        {"nodeId": "crm", "parentId": "flow", "startTime": iso(base + 300), "endTime": iso(base + 1300 + 5 * s),
         "status": "success"},
        {"nodeId": "payment", "parentId": "flow", "startTime": iso(base + 320), "endTime": iso(base + 1900),
         "status": "failed" if s % 2 else "success", "errorMessage": "card declined" if s % 2 else None},
        {"nodeId": "kb", "parentId": "crm", "startTime": iso(base + 400), "endTime": iso(base + 1200),
         "status": "success"},
        {"nodeId": "transfer", "parentId": "flow", "startTime": iso(base + 1900), "endTime": iso(base + 2390),
         "status": "success"},
    ]
    for step in steps:
        if step.get("errorMessage") is None:
            step.pop("errorMessage", None)
    return steps


def execution_document(instance_id: str, n: int) -> dict:
    """A flow execution-history download (genesys-api.md §B) for one instance."""
    t0 = 1_700_100_000_000 + n * 3_600_000

    def iso(ms: int) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"

    return {"flow": {
        "conversationId": "conv-hostile", "flowId": "flow-h", "flowName": "Hostile inbound", "flowVersion": "3.0",
        "flowType": "INBOUNDCALL", "startDateTime": iso(t0), "endDateTime": iso(t0 + 5000 + 100 * n),
        "execution": [
            {"startedFlow": {"dateTime": iso(t0)}},
            {"actionPlayAudio": {"dateTime": iso(t0 + 50), "actionId": "a1", "actionName": "Welcome",
                                 "trackingId": "1"}},
            {"startedTask": {"dateTime": iso(t0 + 900), "taskName": "Lookup", "trackingId": "2"}},
            {"actionCallData": {"dateTime": iso(t0 + 950), "actionId": "a2", "actionName": "CRM lookup",
                                "trackingId": "3", "outputData": {"tier": "gold"}}},
            {"actionDecision": {"dateTime": iso(t0 + 2500 + 50 * n), "actionId": "a3", "actionName": "Gold?",
                                "trackingId": "4", "outputPathId": "yes"}},
            {"endedTask": {"dateTime": iso(t0 + 2600 + 50 * n), "taskName": "Lookup", "trackingId": "2"}},
            {"actionTransferToAcd": {"dateTime": iso(t0 + 2700 + 50 * n), "actionId": "a4",
                                     "actionName": "To queue", "trackingId": "5"}},
            {"endedFlow": {"dateTime": iso(t0 + 5000 + 100 * n)}},
        ],
    }}


class HostileServer:
    """The server; a context manager. ``quirks`` may be changed between runs."""

    def __init__(self, quirks: Quirks | None = None) -> None:
        self.quirks = quirks or Quirks()
        self.lock = threading.Lock()
        self.tokens: dict[str, dict] = {}  # token -> {"expires": float, "uses": int}
        self.issued_tokens: list[str] = []
        self.jobs: dict[str, dict] = {}
        self.history_jobs: dict[str, dict] = {}
        self.served_steps: dict[str, list] = {}  # job id -> the steps of its completed answer
        self.served_documents: dict[str, dict] = {}  # instance id -> the document downloaded
        self.log: list[tuple[str, str, dict]] = []  # (method, path, headers)
        self.statuses: list[tuple[str, int]] = []  # (path, status) of every answer
        self._faults: dict[str, list] = {}
        self._seq = 0
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.alt_url = f"http://localhost:{self.port}"  # the same server under another host name
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def __enter__(self) -> "HostileServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def fault(self, endpoint: str) -> Fault | None:
        """Pop the next scripted fault for ``endpoint`` (lists are taken from the quirks once)."""
        with self.lock:
            if endpoint not in self._faults:
                self._faults[endpoint] = list(getattr(self.quirks, f"{endpoint}_faults"))
            queue = self._faults[endpoint]
            return queue.pop(0) if queue else None

    def next_id(self, prefix: str) -> str:
        with self.lock:
            self._seq += 1
            return f"{prefix}-{self._seq}-{uuid.uuid4().hex[:6]}"

    def requests_to(self, fragment: str) -> list[tuple[str, str, dict]]:
        return [r for r in self.log if fragment in r[1]]


def _handler_for(server: HostileServer) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        # ---------------------------------------------------------- answers
        def _send(self, status: int, body: Any = None, *, headers: dict | None = None, raw: bytes | None = None,
                  content_type: str | None = None, encoded: bool = False) -> None:
            q = server.quirks
            headers = dict(headers or {})
            if raw is None:
                raw = b"" if body is None else json.dumps(body).encode()
                if body is not None and content_type is None:
                    content_type = {"json": "application/json", "charset": "application/json; charset=UTF-8",
                                    "none": None}[q.content_type]
            if raw and q.gzip and not encoded and content_type and "json" in content_type:
                raw = gzip.compress(raw)
                headers["Content-Encoding"] = "gzip"
            if q.correlation:
                headers.setdefault("ININ-Correlation-Id", str(uuid.uuid4()))
            self.send_response(status)
            if content_type:
                self.send_header("Content-Type", content_type)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            if raw and self.command != "HEAD":
                self.wfile.write(raw)
            with server.lock:
                server.statuses.append((self.path, status))

        def _error(self, status: int, message: str, code: str, headers: dict | None = None) -> None:
            self._send(status, {"message": message, "code": code, "status": status,
                                "contextId": str(uuid.uuid4()), "details": [], "errors": []}, headers=headers)

        def _serve_fault(self, fault: Fault) -> None:
            if fault.delay_s:
                threading.Event().wait(fault.delay_s)
            headers = {}
            if fault.retry_after is not None:
                if fault.retry_after.startswith("date+"):
                    when = time.time() + float(fault.retry_after[5:])
                    headers["Retry-After"] = email.utils.formatdate(when, usegmt=True)
                else:
                    headers["Retry-After"] = fault.retry_after
            if fault.body == "html":
                self._send(fault.status, headers=headers, content_type="text/html",
                           raw=b"<html><body><h1>502 Bad Gateway</h1><hr>nginx</body></html>")
            elif fault.body == "empty":
                self._send(fault.status, headers=headers, raw=b"")
            else:
                code = "too.many.requests.retry.after" if fault.status == 429 else "service.unavailable"
                self._error(fault.status, f"hostile fault {fault.status}", code, headers)

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _authorised(self) -> bool:
            header = self.headers.get("Authorization", "")
            token = header[len("Bearer "):] if header.startswith("Bearer ") else None
            q = server.quirks
            with server.lock:
                info = server.tokens.get(token) if token else None
                ok = info is not None and time.time() < info["expires"]
                if ok and q.revoke_token_after_uses is not None and info["uses"] >= q.revoke_token_after_uses:
                    ok = False
                if ok:
                    info["uses"] += 1
            if not ok:
                self._error(401, "Invalid login credentials.", "authentication.required")
            return ok

        # ---------------------------------------------------------- routing
        def do_POST(self) -> None:  # noqa: N802
            self._route("POST")

        def do_GET(self) -> None:  # noqa: N802
            self._route("GET")

        def _route(self, method: str) -> None:
            parts = urlsplit(self.path)
            path, query = parts.path, parse_qs(parts.query)
            body = self._body() if method == "POST" else b""
            with server.lock:
                server.log.append((method, self.path, dict(self.headers)))
            if path == "/oauth/token" and method == "POST":
                return self._token(body)
            if path.startswith("/storage/") and method == "GET":
                return self._storage(path, query)
            if path.startswith("/api/v2/") and not self._authorised():
                return None
            segs = [s for s in path.split("/") if s]
            if method == "POST" and len(segs) == 5 and segs[2] == "flows" and segs[4] == "debug":
                return self._submit(segs[3], body)
            if method == "GET" and len(segs) == 4 and segs[2] == "jobs":
                return self._poll(segs[3])
            if method == "POST" and path == "/api/v2/flows/instances/query":
                return self._query(query, body)
            if method == "POST" and path == "/api/v2/flows/instances/jobs":
                return self._history_job_start(body)
            if method == "GET" and len(segs) == 6 and segs[2:5] == ["flows", "instances", "jobs"]:
                return self._history_job(segs[5])
            if method == "GET" and len(segs) == 4 and segs[2] == "downloads":
                return self._downloads(segs[3], query)
            self._error(404, f"no route {method} {path}", "not.found")

        # ------------------------------------------------------------ OAuth
        def _token(self, body: bytes) -> None:
            q = server.quirks
            if q.slow_token_s:
                threading.Event().wait(q.slow_token_s)
            fault = server.fault("token") if len(server.issued_tokens) >= q.token_faults_after else None
            if fault is not None:
                return self._serve_fault(fault)
            auth = self.headers.get("Authorization", "")
            form = parse_qs(body.decode())
            expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            ctype = self.headers.get("Content-Type", "")
            if (q.reject_credentials or auth != expected or form.get("grant_type") != ["client_credentials"]
                    or not ctype.startswith("application/x-www-form-urlencoded")):
                return self._send(401, {"error": "invalid_client", "description": "client not found"})
            token = base64.urlsafe_b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes).decode().rstrip("=")
            with server.lock:
                server.tokens[token] = {"expires": time.time() + q.token_lifetime_s, "uses": 0}
                server.issued_tokens.append(token)
            self._send(200, {"access_token": token, "token_type": "bearer", "expires_in": q.token_lifetime_s})

        # ----------------------------------------------------- debug traces
        def _submit(self, flow_id: str, body: bytes) -> None:
            q = server.quirks
            fault = server.fault("submit")
            if fault is not None:
                return self._serve_fault(fault)
            if q.forbid_submit:
                return self._error(403, "Missing permission architect:flow:debug", "missing.permissions")
            try:
                req = json.loads(body)
            except ValueError:
                return self._error(400, "body is not JSON", "bad.request")
            problems = []
            if req.get("flowId") != flow_id:
                problems.append("flowId must match the path")
            if not isinstance(req.get("actionInvocationId"), str) or not req["actionInvocationId"]:
                problems.append("actionInvocationId is required")
            depth = req.get("traceDepth")
            if not isinstance(depth, int) or not 1 <= depth <= 50:
                problems.append("traceDepth must be 1..50")
            if req.get("enableAsync") is not True:
                problems.append("enableAsync must be true")
            if problems:
                return self._error(400, "; ".join(problems), "bad.request")
            job_id = server.next_id("job")
            with server.lock:
                server.jobs[job_id] = {"polls": 0, "steps": debug_steps(server._seq)}
            loc = {
                "relative": f"/api/v2/jobs/{job_id}",
                "absolute_alt_host": f"{server.alt_url}/api/v2/jobs/{job_id}",
                "absolute_purecloud": f"https://api.mypurecloud.com/api/v2/jobs/{job_id}",
                "bare": job_id,
                "query": f"/api/v2/jobs/{job_id}?expand=result&x=1",
                "trailing_slash": f"{server.url}/api/v2/jobs/{job_id}/",
                "body_id": None,
            }[q.location]
            headers = {"Location": loc} if loc else {}
            answer = {"id": job_id, "status": self._case("in_progress")} if q.location == "body_id" else {
                "status": self._case("in_progress")}
            self._send(q.submit_status, answer, headers=headers)

        def _case(self, status: str) -> str:
            return {"lower": status, "upper": status.upper(), "title": status.title()}[server.quirks.status_case]

        def _poll(self, job_id: str) -> None:
            q = server.quirks
            if q.slow_poll_s:
                threading.Event().wait(q.slow_poll_s)
            fault = server.fault("poll")
            if fault is not None:
                return self._serve_fault(fault)
            with server.lock:
                corrupt = q.corrupt_gzip_polls > 0
                if corrupt:
                    q.corrupt_gzip_polls -= 1
            if corrupt:
                raw = gzip.compress(json.dumps({"id": job_id, "status": "in_progress"}).encode())[:-12] + b"garbage!"
                return self._send(200, raw=raw, content_type="application/json",
                                  headers={"Content-Encoding": "gzip"}, encoded=True)
            with server.lock:
                job = server.jobs.get(job_id)
                if job is not None:
                    job["polls"] += 1
            if job is None:
                return self._error(404, f"job {job_id} not found", "not.found")
            if job["polls"] <= q.in_progress_polls:
                return self._send(200, {"id": job_id, "status": self._case("in_progress")})
            if q.fail_message is not None:
                return self._send(200, {"id": job_id, "status": self._case("failed"), "message": q.fail_message})
            steps = job["steps"]
            with server.lock:
                server.served_steps[job_id] = steps
            result: Any = steps if q.result_shape == "list" else {
                "steps": steps, "truncated": False, "engineVersion": "9.1", "stats": {"nodes": len(steps)}}
            self._send(200, {"id": job_id, "status": self._case("completed"), "result": result,
                             "selfUri": f"/api/v2/jobs/{job_id}"})

        # ----------------------------------------------------- flow history
        def _query(self, query: dict, body: bytes) -> None:
            q = server.quirks
            fault = server.fault("query")
            if fault is not None:
                return self._serve_fault(fault)
            try:
                criteria = json.loads(body)["query"]
                assert isinstance(criteria, list) and criteria
            except (ValueError, KeyError, AssertionError, TypeError):
                return self._error(400, "query must be a non-empty list of criteria groups", "bad.request")
            page = int((query.get("pageNumber") or ["1"])[0])
            ids = [f"inst-{n}" for n in range(1, q.instances + 1)]
            cap = q.page_cap
            pages = max(1, -(-len(ids) // cap))
            chunk = ids[(page - 1) * cap: page * cap]
            entities = [{"id": i, "name": "Hostile inbound", "flowId": "flow-h", "flowName": "Hostile inbound",
                         "flowVersion": "3.0", "flowType": "INBOUNDCALL", "conversationId": "conv-hostile",
                         "startDateTime": "2023-11-16T00:00:00.000Z"} for i in chunk]
            answer: dict = {"entities": entities, "pageSize": cap, "pageNumber": page, "total": len(ids),
                            "pageCount": pages}
            if page < pages and q.next_uri != "none":
                rel = f"/api/v2/flows/instances/query?pageSize={cap}&pageNumber={page + 1}"
                answer["nextUri"] = {"relative": rel, "absolute": server.url + rel, "absolute_alt_host": server.alt_url + rel,
                                     "absolute_purecloud": "https://api.mypurecloud.com" + rel}[q.next_uri]
            self._send(200, answer)

        def _history_job_start(self, body: bytes) -> None:
            fault = server.fault("jobs")
            if fault is not None:
                return self._serve_fault(fault)
            try:
                ids = json.loads(body)["ids"]
            except (ValueError, KeyError, TypeError):
                return self._error(400, "ids required", "bad.request")
            job_id = server.next_id("hjob")
            with server.lock:
                server.history_jobs[job_id] = {"ids": list(ids), "polls": 0}
            self._send(200, {"id": job_id, "jobState": "Registered", "entities": []})

        def _history_job(self, job_id: str) -> None:
            q = server.quirks
            fault = server.fault("jobs")
            if fault is not None:
                return self._serve_fault(fault)
            with server.lock:
                job = server.history_jobs.get(job_id)
                if job is not None:
                    job["polls"] += 1
            if job is None:
                return self._error(404, "no such job", "not.found")
            if job["polls"] <= q.job_polls_registered:
                return self._send(200, {"id": job_id, "jobState": "Registered", "entities": []})
            if job["polls"] <= q.job_polls_registered + q.job_polls_running:
                return self._send(200, {"id": job_id, "jobState": "Running", "entities": []})
            if q.history_job_fails:
                return self._send(200, {"id": job_id, "jobState": "Failed", "errorMessage": q.history_job_fails,
                                        "entities": []})
            entities = []
            for n, inst in enumerate(job["ids"]):
                if inst in q.failed_ids:
                    entities.append({"id": inst, "failed": True, "statusCode": 500})
                    continue
                if q.download_form == "downloads_api":
                    uri = f"/api/v2/downloads/dl-{inst}"
                else:
                    uri = self._presigned(inst)
                entities.append({"id": inst, "downloadUri": uri, "failed": False, "statusCode": 200})
            self._send(200, {"id": job_id, "jobState": "Success", "entities": entities})

        def _presigned(self, inst: str) -> str:
            expires = "1" if inst in server.quirks.expired_ids else "9999999999"
            return (f"{server.alt_url}/storage/{inst}.json?X-Amz-Algorithm=AWS4-HMAC-SHA256"
                    f"&X-Amz-Signature={uuid.uuid4().hex}&X-Amz-Expires={expires}")

        def _downloads(self, download_id: str, query: dict) -> None:
            if query.get("issueRedirect") != ["false"]:
                return self._send(303, None, headers={"Location": self._presigned(download_id[3:])})
            self._send(200, {"url": self._presigned(download_id[3:])})

        def _storage(self, path: str, query: dict) -> None:
            """The storage host: pre-signed links only, no Authorization header allowed."""
            fault = server.fault("download")
            if fault is not None:
                return self._serve_fault(fault)
            xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{msg}</Message>'
                   '<RequestId>4442587FB7D0A2F9</RequestId></Error>')
            if "Authorization" in self.headers:
                return self._send(400, raw=xml.format(code="InvalidArgument", msg="Only one auth mechanism allowed; "
                                  "only the X-Amz-Algorithm query parameter should be specified").encode(),
                                  content_type="application/xml")
            if query.get("X-Amz-Expires") == ["1"]:
                return self._send(403, raw=xml.format(code="AccessDenied", msg="Request has expired").encode(),
                                  content_type="application/xml")
            with server.lock:
                corrupt = server.quirks.corrupt_downloads > 0
                if corrupt:
                    server.quirks.corrupt_downloads -= 1
            if corrupt:
                raw = gzip.compress(b'{"flow": {"execution": []}}' * 50)[:-12] + b"garbage!"
                return self._send(200, raw=raw, content_type="application/octet-stream",
                                  headers={"Content-Encoding": "gzip"}, encoded=True)
            inst = path[len("/storage/"):].removesuffix(".json")
            n = int(inst.rsplit("-", 1)[-1]) if inst.rsplit("-", 1)[-1].isdigit() else 0
            doc = execution_document(inst, n)
            with server.lock:
                server.served_documents[inst] = doc
            # storage hosts answer octet-stream, not JSON
            self._send(200, raw=json.dumps(doc).encode(), content_type="application/octet-stream")

    return Handler
