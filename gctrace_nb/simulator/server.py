"""The simulator: a real HTTP server on loopback that speaks like Genesys Cloud.

It serves, from one ``ThreadingHTTPServer`` on a daemon thread:

* ``POST /oauth/token``: client-credentials OAuth (Basic auth, form body).
* The debug-trace contract (``genesys-api.md`` §A): ``POST /api/v2/flows/{flowId}/debug``
  and ``GET /api/v2/jobs/{jobId}``.
* Flow execution history (§B): ``POST /api/v2/flows/instances/query``,
  ``POST /api/v2/flows/instances/jobs``, ``GET /api/v2/flows/instances/jobs/{jobId}``,
  ``GET /api/v2/flows/instances/{id}``, ``GET /api/v2/downloads/{id}`` and the
  pre-signed ``GET /downloads/presigned/{token}`` (S3-like: no Authorization header allowed),
  holding clients to the official SDK's models (query bodies checked by
  :mod:`~gctrace_nb.simulator.criteria`; ``tests/test_history_sdk.py`` drives them with the SDK).
* Data action tests: ``POST /api/v2/integrations/actions/{actionId}/test`` (and ``/draft/test``).
* A webhook sink, ``POST /webhook/sink``, recording what it receives.

Every response carries an ``ININ-Correlation-Id``. Errors use Genesys' ``ErrorBody``.
Faults (:class:`~gctrace_nb.simulator.faults.Faults`) can be changed while it runs.
"""

from __future__ import annotations

import base64
import dataclasses
import email.utils
import json
import logging
import math
import random
import re
import secrets
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from . import criteria as _criteria
from .faults import Faults
from .generator import generate_trace
from .notifications import NotificationService
from .state import DebugJob, HistoryJob, RecordedRequest, WebhookDelivery, build_history

__all__ = ["Simulator", "RecordedRequest", "WebhookDelivery", "DebugJob", "HistoryJob"]

log = logging.getLogger("gctrace_nb.simulator")

REDACTED = "REDACTED"
_MAX_QUERY_RESULTS = 200
_DEFAULT_PAGE_SIZE = 50
#: The query parameters of ``post_flows_instances_query`` in the SDK; there is no pageNumber.
_QUERY_PARAMETERS = frozenset({"pageSize", "indexOnly"})


def _error_body(status: int, code: str, message: str, *, details: list | None = None,
                errors: list | None = None, params: dict | None = None) -> dict:
    """Return a Genesys ``ErrorBody``."""
    return {
        "message": message,
        "code": code,
        "status": status,
        "messageWithParams": message,
        "messageParams": params or {},
        "contextId": str(uuid.uuid4()),
        "details": details or [],
        "errors": errors or [],
    }


def _redact_headers(headers: Iterable[tuple[str, str]]) -> dict:
    out = {}
    for key, value in headers:
        if key.lower() in ("authorization", "proxy-authorization", "cookie", "x-amz-security-token"):
            scheme = value.split(" ", 1)[0] if " " in value else ""
            value = f"{scheme} {REDACTED}".strip()
        out[key] = value
    return out


_SIGNATURE = re.compile(r"(X-Amz-Signature=)[^&\s]*", re.I)
_SECRET_FORM = re.compile(r"((?:client_secret|password|client_assertion|access_token)=)[^&]*", re.I)


def _redact_body(body: bytes) -> str:
    text = body[:4096].decode("utf-8", "replace")
    text = _SECRET_FORM.sub(lambda m: m.group(1) + REDACTED, text)
    return re.sub(r'("(?:client_secret|access_token|password)"\s*:\s*)"[^"]*"', r'\1"' + REDACTED + '"', text)


class _Reply(Exception):
    """Raised inside a route to answer at once."""

    def __init__(self, status: int, body: Any = None, headers: dict | None = None,
                 content_type: str = "application/json") -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.content_type = content_type


class Simulator:
    """An embedded Genesys Cloud look-alike on ``127.0.0.1``, for tests, demos and notebooks.

    Example:
        >>> import requests
        >>> with Simulator(seed=7) as sim:
        ...     r = requests.post(f"{sim.login_url}/oauth/token", auth=sim.credentials,
        ...                       data={"grant_type": "client_credentials"}, timeout=5)
        ...     r.status_code, r.json()["token_type"]
        (200, 'bearer')

    Args:
        seed: seeds traces, the 429 dice and the execution-history data (job ids are unique, never repeated).
        client_id, client_secret: the only credentials ``/oauth/token`` accepts.
        token_lifetime_s: ``expires_in`` of issued tokens; they stop working after it.
        job_duration_s: how long a job stays ``in_progress`` (``Running`` for history jobs).
        faults: the initial :class:`Faults` (all off by default); see :meth:`set_faults`.
        host, port: where to listen (port 0 picks a free one).
        clock: monotonic seconds for token expiry, jobs and download expiry.
        wall_clock: epoch seconds for trace timestamps and HTTP dates.
        known_flows: flow ids the debug endpoint knows; ``None`` means every id
            except those starting with ``missing``.
        trace_size: ``size`` passed to :func:`generate_trace` for debug jobs.
        history_instances: how many flow execution instances the org holds.
        history_anchor: the newest instance starts before this (default: now);
            instances spread over the 9 days before it.
        download_lifetime_s: how long a pre-signed download URL works.
        action_delay_s: how long a data-action test takes.
        failing_actions: action ids whose test fails (also any id containing ``fail``).

    ``token_lifetime_s``, ``job_duration_s``, ``download_lifetime_s`` and
    ``action_delay_s`` are plain attributes: assign them to change them while it runs
    (new tokens, jobs and URLs use the new values).
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        client_id: str = "sim-client",
        client_secret: str = "sim-secret",
        token_lifetime_s: float = 3600,
        job_duration_s: float = 0.3,
        faults: Faults | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        known_flows: Iterable[str] | None = None,
        trace_size: str | int = "normal",
        history_instances: int = 60,
        history_anchor: datetime | None = None,
        download_lifetime_s: float = 300.0,
        action_delay_s: float = 0.05,
        failing_actions: Iterable[str] = ("custom_-_payment-fail",),
    ) -> None:
        self.seed = seed
        self._client_id = client_id
        self._client_secret = client_secret
        self.token_lifetime_s = token_lifetime_s
        self.job_duration_s = job_duration_s
        self.host = host
        self.port = port
        self.clock = clock
        self.wall_clock = wall_clock
        self.known_flows = None if known_flows is None else frozenset(known_flows)
        self.trace_size = trace_size
        self.download_lifetime_s = download_lifetime_s
        self.action_delay_s = action_delay_s
        self.failing_actions = frozenset(failing_actions)
        self._lock = threading.RLock()
        self._faults = faults or Faults()
        self._burst_left = self._faults.burst_5xx
        self._burst_turn = 0
        self._webhook_fail_left = self._faults.webhook_fail_first
        self._dice = random.Random(seed)
        self._ids = random.Random(seed ^ 0x1D5)
        self._tokens: dict[str, float] = {}
        self._requests: list[RecordedRequest] = []
        self._webhooks: list[WebhookDelivery] = []
        self.jobs: dict[str, DebugJob] = {}
        self.history_jobs: dict[str, HistoryJob] = {}
        self._presigned: dict[str, tuple[str, float]] = {}
        self._downloads: dict[str, str] = {}  # download id -> instance id
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        history = build_history(seed, history_instances, history_anchor)
        self.history_flows: dict[str, str] = history.flows
        self.history_instances: list[dict] = history.instances
        self.execution_documents: dict[str, dict] = history.documents
        #: channels, subscriptions and the WebSocket (simulator/notifications.py)
        self.notifications = NotificationService(self)

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> "Simulator":
        """Start serving on a daemon thread (idempotent); return ``self``."""
        with self._lock:
            if self._server is not None:
                return self
            handler = type("_BoundHandler", (_Handler,), {"sim": self})
            server = ThreadingHTTPServer((self.host, self.port), handler)
            server.daemon_threads = True
            self._server = server
            self.port = server.server_address[1]
            self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name=f"gctrace-simulator:{self.port}", daemon=True)
            self._thread.start()
        log.info("simulator listening on %s", self.api_url)
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        self.notifications.stop()
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> "Simulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._server is not None

    def __repr__(self) -> str:
        where = self.api_url if self.running else "stopped"
        default = Faults()
        changed = ", ".join(f"{f.name}={getattr(self._faults, f.name)!r}" for f in dataclasses.fields(Faults)
                            if getattr(self._faults, f.name) != getattr(default, f.name))
        return (f"<Simulator {where} client_id={self._client_id!r} client_secret='***' "
                f"seed={self.seed} faults: {changed or 'none'}>")

    # -- addresses and credentials --------------------------------------------
    @property
    def api_url(self) -> str:
        """``http://127.0.0.1:<port>``; the server must be started."""
        if self._server is None:
            raise RuntimeError("the simulator is not running: call start() or use it as a context manager")
        host = self.host if self.host not in ("", "0.0.0.0") else "127.0.0.1"
        return f"http://{host}:{self.port}"

    @property
    def login_url(self) -> str:
        """The login host (the same server; it serves ``/oauth/token``)."""
        return self.api_url

    @property
    def webhook_url(self) -> str:
        """The webhook sink's URL."""
        return f"{self.api_url}/webhook/sink"

    @property
    def credentials(self) -> tuple[str, str]:
        """``(client_id, client_secret)`` that ``/oauth/token`` accepts."""
        return (self._client_id, self._client_secret)

    def place_call(self, flow_id: str, **options: Any) -> dict:
        """Run a simulated execution of ``flow_id`` and notify its subscribers (see
        :meth:`NotificationService.place_call <gctrace_nb.simulator.notifications.NotificationService.place_call>`)."""
        return self.notifications.place_call(flow_id, **options)

    # -- faults and records ----------------------------------------------------
    @property
    def faults(self) -> Faults:
        """The faults in force."""
        return self._faults

    def set_faults(self, **changes: Any) -> Faults:
        """Change some faults while running (thread-safe); return the previous ones.

        Setting ``burst_5xx`` or ``webhook_fail_first`` restarts its count.
        Unknown names raise :exc:`TypeError`, bad values :exc:`ValueError`.
        """
        with self._lock:
            old = self._faults
            self._faults = dataclasses.replace(old, **changes)
            if "burst_5xx" in changes:
                self._burst_left = self._faults.burst_5xx
                self._burst_turn = 0
            if "webhook_fail_first" in changes:
                self._webhook_fail_left = self._faults.webhook_fail_first
            return old

    def revoke_tokens(self) -> None:
        """Invalidate every issued token: the next API call with one gets 401."""
        with self._lock:
            self._tokens.clear()

    def issue_token(self) -> str:
        """Return a fresh valid token without an HTTP round trip (for tests)."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = self.clock() + self.token_lifetime_s
        return token

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def webhook_deliveries(self) -> list[WebhookDelivery]:
        """A snapshot of the webhook sink's deliveries, oldest first."""
        with self._lock:
            return list(self._webhooks)

    def clear_records(self) -> None:
        """Forget recorded requests and webhook deliveries."""
        with self._lock:
            self._requests.clear()
            self._webhooks.clear()

    def _record(self, rec: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(rec)

    # -- ids and download links ------------------------------------------------
    def _new_id(self) -> str:
        """A job (or download) id never seen in another session; the seeded stream advances as before."""
        with self._lock:
            self._ids.getrandbits(128)  # so the traces a seed makes stay the same
        return str(uuid.uuid4())

    def _presign(self, instance_id: str) -> str:
        token = secrets.token_urlsafe(24)
        now = self.clock()
        with self._lock:
            self._presigned[token] = (instance_id, now + self.download_lifetime_s)
        amz_date = datetime.fromtimestamp(self.wall_clock(), timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        sig = secrets.token_hex(32)
        return (f"{self.api_url}/downloads/presigned/{token}?X-Amz-Algorithm=AWS4-HMAC-SHA256"
                f"&X-Amz-Date={amz_date}&X-Amz-Expires={int(self.download_lifetime_s)}"
                f"&X-Amz-SignedHeaders=host&X-Amz-Signature={sig}")

    def _download_uri(self, instance_id: str) -> str:
        if self._faults.download_style == "api":
            download_id = self._new_id()
            with self._lock:
                self._downloads[download_id] = instance_id
            return f"/api/v2/downloads/{download_id}"
        return self._presign(instance_id)


class _Handler(BaseHTTPRequestHandler):
    sim: Simulator  # bound by Simulator.start
    protocol_version = "HTTP/1.1"
    server_version = "gctrace-simulator"
    timeout = 60  # idle keep-alive connections close after this
    # headers and body go out in two writes: without this, Nagle plus delayed ACK
    # add ~40 ms to every keep-alive request
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib name)
        # the request line of a pre-signed download carries its signature
        args = tuple(_SIGNATURE.sub(r"\1" + REDACTED, a) if isinstance(a, str) else a for a in args)
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # -- plumbing --------------------------------------------------------------
    def _dispatch(self, method: str) -> None:
        sim = self.sim
        received = sim.clock()
        correlation_id = str(uuid.uuid4())
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        parts = urlsplit(self.path)
        path = parts.path
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        try:
            self._route(method, path, query, body)
            reply = _Reply(500, _error_body(500, "internal.server.error", "route did not answer"))
        except _Reply as r:
            reply = r
        except Exception as exc:  # a simulator bug: answer like the platform would, and log it
            log.exception("simulator error on %s %s", method, path)
            reply = _Reply(500, _error_body(500, "internal.server.error", f"Simulator error: {type(exc).__name__}"))
        recorded_query = {k: (REDACTED if k.lower() == "x-amz-signature" else v) for k, v in query.items()}
        sim._record(RecordedRequest(
            method=method, path=path, query=recorded_query, headers=_redact_headers(self.headers.items()),
            status=reply.status, time=received, body=_redact_body(body), correlation_id=correlation_id,
        ))
        self._send(reply, correlation_id)

    def _send(self, reply: _Reply, correlation_id: str) -> None:
        body = reply.body
        if body is None:
            data = b""
        elif isinstance(body, (bytes, bytearray)):
            data = bytes(body)
        elif isinstance(body, str):
            data = body.encode("utf-8")
        else:
            data = json.dumps(body).encode("utf-8")
        try:
            self.send_response(reply.status)
            self.send_header("ININ-Correlation-Id", correlation_id)
            if data or reply.status not in (202, 204, 303):
                self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(data)))
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.end_headers()
            if data:
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (e.g. its timeout)
            self.close_connection = True

    @staticmethod
    def _json(body: bytes) -> Any:
        try:
            return json.loads(body.decode("utf-8")) if body else None
        except (UnicodeDecodeError, ValueError) as exc:
            raise _Reply(400, _error_body(400, "bad.request", f"The request body is not valid JSON: {exc}"))

    # -- routing ---------------------------------------------------------------
    def _route(self, method: str, path: str, query: dict, body: bytes) -> None:
        sim = self.sim
        if path == "/oauth/token":
            if sim.faults.token_faults:
                self._gateway_faults()
                self._rate_limit()
            if method != "POST":
                raise _Reply(405, {"error": "invalid_request", "description": "Use POST"})
            self._token(body)
        if path == "/webhook/sink" or path.startswith("/webhook/"):
            if method != "POST":
                raise _Reply(405, _error_body(405, "method.not.allowed", "The webhook sink takes POST"))
            self._webhook(path, body)
        if path.startswith("/downloads/presigned/") and method == "GET":
            self._presigned_download(path.rsplit("/", 1)[1], query)
        if path.startswith("/api/v2/"):
            self._gateway_faults()
            self._authenticate()
            self._rate_limit()
            if sim.faults.forbidden and not path.startswith("/api/v2/downloads/"):  # needs no permission
                raise _Reply(403, _error_body(
                    403, "missing.permissions",
                    f"Unable to perform the requested action. You are missing the following permission(s): "
                    f"[{_permission_for(path)}]",
                    params={"permissions": _permission_for(path)}))
            self._api(method, path, query, body)
        raise _Reply(404, _error_body(404, "not.found", f"No resource at {path}"))

    def _gateway_faults(self) -> None:
        sim = self.sim
        with sim._lock:
            faults = sim._faults
            if faults.outage:
                status = 503
            elif sim._burst_left > 0:
                sim._burst_left -= 1
                status = (502, 503, 504)[sim._burst_turn % 3]
                sim._burst_turn += 1
            else:
                return
        if status == 502:
            raise _Reply(502, "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway"
                              "</h1></center></body></html>", content_type="text/html")
        if status == 503:
            raise _Reply(503, _error_body(503, "service.unavailable",
                                          "The service is currently unavailable. Please try again later."))
        raise _Reply(504, _error_body(504, "gateway.timeout", "The request timed out at the gateway."))

    def _rate_limit(self) -> None:
        sim = self.sim
        with sim._lock:
            faults = sim._faults
            hit = faults.rate_429 > 0 and sim._dice.random() < faults.rate_429
        if not hit:
            return
        wait = int(math.ceil(faults.retry_after_s))
        headers = {}
        if faults.retry_after_style == "seconds":
            headers["Retry-After"] = str(wait)
        elif faults.retry_after_style == "http-date":
            # an HTTP date has whole seconds: round up so the client never waits too little
            headers["Retry-After"] = email.utils.formatdate(math.ceil(sim.wall_clock()) + wait, usegmt=True)
        body = {"message": f"Rate limit exceeded the maximum. Retry the request in [{wait}] seconds",
                "code": "too.many.requests.retry.after", "status": 429, "contextId": str(uuid.uuid4()),
                "details": [], "errors": []}
        raise _Reply(429, body, headers)

    def _authenticate(self) -> None:
        sim = self.sim
        header = self.headers.get("Authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _Reply(401, _error_body(401, "authentication.required",
                                          "No authentication bearer token specified in authorization header."))
        with sim._lock:
            expires_at = sim._tokens.get(token.strip())
        if expires_at is None:
            raise _Reply(401, _error_body(401, "bad.credentials", "Invalid login credentials."))
        if sim.clock() >= expires_at:
            raise _Reply(401, _error_body(401, "bad.credentials", "Expired login credentials."))

    # -- OAuth -----------------------------------------------------------------
    def _token(self, body: bytes) -> None:
        sim = self.sim
        header = self.headers.get("Authorization") or ""
        scheme, _, encoded = header.partition(" ")
        client_id = secret = None
        if scheme.lower() == "basic":
            try:
                client_id, _, secret = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                client_id = secret = None
        if client_id is None:
            raise _Reply(401, {"error": "invalid_client", "description": "Client authentication is required "
                               "(HTTP Basic with the client id and secret)",
                               "error_description": "Client authentication is required"},
                         {"WWW-Authenticate": 'Basic realm="oauth"'})
        if not (secrets.compare_digest(client_id, sim._client_id) and secrets.compare_digest(secret, sim._client_secret)):
            desc = f"client not found: {client_id}" if client_id != sim._client_id else "invalid client secret"
            raise _Reply(401, {"error": "invalid_client", "description": desc, "error_description": desc})
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        form = dict(parse_qsl(body.decode("utf-8", "replace"))) if ctype == "application/x-www-form-urlencoded" else {}
        grant = form.get("grant_type")
        if not grant:
            raise _Reply(400, {"error": "invalid_request", "description": "Missing grant type (a form body "
                               "grant_type=client_credentials is required)"})
        if grant != "client_credentials":
            raise _Reply(400, {"error": "unsupported_grant_type", "description": f"Unsupported grant type: {grant}"})
        token = sim.issue_token()
        raise _Reply(200, {"access_token": token, "token_type": "bearer", "expires_in": int(sim.token_lifetime_s)},
                     {"Cache-Control": "no-store", "Pragma": "no-cache"})

    # -- webhook sink ----------------------------------------------------------
    def _webhook(self, path: str, body: bytes) -> None:
        sim = self.sim
        with sim._lock:
            faults = sim._faults
            if sim._webhook_fail_left > 0:
                sim._webhook_fail_left -= 1
                status = 503
            else:
                status = int(faults.webhook_status)
            sim._webhooks.append(WebhookDelivery(path=path, headers=_redact_headers(self.headers.items()),
                                                 body=body, time=sim.clock(), status=status))
        if faults.webhook_delay_s > 0:
            time.sleep(faults.webhook_delay_s)
        raise _Reply(status, "ok" if status < 400 else "Service Unavailable" if status == 503 else "error",
                     content_type="text/plain")

    # -- API -------------------------------------------------------------------
    def _api(self, method: str, path: str, query: dict, body: bytes) -> None:
        seg = [unquote(s) for s in path.split("/")[3:]]  # after /api/v2/
        if seg[:1] == ["notifications"]:
            raise _Reply(*self.sim.notifications.handle(method, seg[1:], self._json(body)))
        if seg[:3] == ["flows", "instances", "query"]:
            self._need(method, "POST")
            self._history_query(query, body)
        if seg[:3] == ["flows", "instances", "jobs"]:
            if len(seg) == 3:
                self._need(method, "POST")
                self._history_submit(body)
            if len(seg) == 4:
                self._need(method, "GET")
                self._history_poll(seg[3])
        if len(seg) == 3 and seg[:2] == ["flows", "instances"] and seg[2] not in ("settings",):
            self._need(method, "GET")
            self._history_one(seg[2])
        if len(seg) == 3 and seg[0] == "flows" and seg[2] == "debug":
            self._need(method, "POST")
            self._debug_submit(seg[1], body)
        if len(seg) == 2 and seg[0] == "jobs":
            self._need(method, "GET")
            self._debug_poll(seg[1])
        if len(seg) == 2 and seg[0] == "downloads":
            self._need(method, "GET")
            self._api_download(seg[1], query)
        if seg[:2] == ["integrations", "actions"] and (
                (len(seg) == 4 and seg[3] == "test") or (len(seg) == 5 and seg[3:] == ["draft", "test"])):
            self._need(method, "POST")
            self._action_test(seg[2], body)
        raise _Reply(404, _error_body(404, "not.found", f"The requested resource {path} was not found."))

    @staticmethod
    def _need(method: str, allowed: str) -> None:
        if method != allowed:
            raise _Reply(405, _error_body(405, "method.not.allowed", f"Method {method} is not allowed here"),
                         {"Allow": allowed})

    # debug contract -------------------------------------------------------------
    def _debug_submit(self, path_flow_id: str, body: bytes) -> None:
        sim = self.sim
        req = self._json(body)
        violations = _debug_violations(path_flow_id, req)
        if violations:
            message = "; ".join(msg for _, msg in violations)
            details = [{"errorCode": "constraint.violation", "fieldName": fld, "entityId": path_flow_id,
                        "entityName": "flow"} for fld, _ in violations]
            raise _Reply(400, _error_body(400, "bad.request", message, details=details,
                                          errors=[{"message": m, "code": "bad.request", "status": 400}
                                                  for _, m in violations]))
        known = (not path_flow_id.startswith("missing")) if sim.known_flows is None else path_flow_id in sim.known_flows
        if not known:
            raise _Reply(404, _error_body(404, "not.found", f"Flow {path_flow_id} not found",
                                          params={"flowId": path_flow_id}))
        with sim._lock:
            job_seed = sim._ids.getrandbits(32)
        job_id = sim._new_id()
        steps = generate_trace(job_seed, flow_id=req["flowId"], size=sim.trace_size,
                               start=int(sim.wall_clock() * 1000))
        job = DebugJob(job_id=job_id, flow_id=req["flowId"], action_invocation_id=req["actionInvocationId"],
                       request=req, submitted_at=sim.clock(), seed=job_seed, steps=steps)
        with sim._lock:
            sim.jobs[job_id] = job
        style = sim.faults.location_style
        rel = f"/api/v2/jobs/{job_id}"
        headers = {}
        payload: dict = {"status": "in_progress"}
        if style == "absolute":
            headers["Location"] = sim.api_url + rel
        elif style == "relative":
            headers["Location"] = rel
        elif style == "bare":
            headers["Location"] = job_id
        else:
            payload = {"id": job_id, "status": "in_progress", "selfUri": rel}
        raise _Reply(202, payload, headers)

    def _debug_poll(self, job_id: str) -> None:
        sim = self.sim
        with sim._lock:
            job = sim.jobs.get(job_id)
            if job is None:
                raise _Reply(404, _error_body(404, "not.found", f"Job {job_id} not found"))
            job.polls += 1
            if job.status == "in_progress" and sim.clock() - job.submitted_at >= sim.job_duration_s:
                if sim._faults.fail_job:
                    job.status, job.message = "failed", sim._faults.fail_job_message
                else:
                    job.status = "completed"
            status, message, steps = job.status, job.message, job.steps
            result_style = sim._faults.result_style
            job_retry_after = sim._faults.job_retry_after_s
        if status == "in_progress":
            raise _Reply(200, {"id": job_id, "status": "in_progress"},
                         {"Retry-After": str(int(job_retry_after))} if job_retry_after > 0 else None)
        if status == "failed":
            raise _Reply(200, {"id": job_id, "status": "failed", "message": message})
        result: Any = steps if result_style == "list" else {
            "steps": steps, "flowId": job.flow_id, "actionInvocationId": job.action_invocation_id}
        raise _Reply(200, {"id": job_id, "status": "completed", "result": result})

    # execution history ----------------------------------------------------------
    def _history_query(self, query: dict, body: bytes) -> None:
        """``post_flows_instances_query``: pageSize (default 50, at most 200) and indexOnly only.

        One page: no ``pageNumber`` and no ``nextUri`` (whether the real service
        ever pages is unknown); ``total`` counts every match, so a client can tell
        when more matched than came back.
        """
        sim = self.sim
        unknown = sorted(set(query) - _QUERY_PARAMETERS)
        if unknown:
            raise _Reply(400, _error_body(400, "bad.request", f"Unknown query parameter(s) {', '.join(unknown)}: "
                                          "this endpoint takes pageSize and indexOnly"))
        try:
            page_size = int(query.get("pageSize", _DEFAULT_PAGE_SIZE))
        except ValueError:
            raise _Reply(400, _error_body(400, "bad.request", "pageSize must be an integer"))
        if not 1 <= page_size <= _MAX_QUERY_RESULTS:
            raise _Reply(400, _error_body(400, "bad.request",
                                          f"pageSize must be between 1 and {_MAX_QUERY_RESULTS}, got {page_size}"))
        if query.get("indexOnly", "false").lower() not in ("true", "false"):
            raise _Reply(400, _error_body(400, "bad.request", "indexOnly must be true or false"))
        try:
            groups = _criteria.check_query(self._json(body))
        except _criteria.QueryError as exc:
            raise _Reply(400, _error_body(400, "bad.request", str(exc)))
        matches = [e for e in sim.history_instances
                   if _criteria.matches(groups, e, sim.execution_documents[e["id"]])]
        base = "/api/v2/flows/instances/query"
        raise _Reply(200, {"entities": matches[:page_size], "pageSize": page_size, "pageNumber": 1,
                           "total": len(matches), "selfUri": f"{base}?pageSize={page_size}"})

    def _history_submit(self, body: bytes) -> None:
        sim = self.sim
        req = self._json(body)
        ids = req.get("ids") if isinstance(req, dict) else None
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
            raise _Reply(400, _error_body(400, "bad.request", "ids must be a non-empty list of flow instance ids"))
        if len(ids) > 100:
            raise _Reply(400, _error_body(400, "bad.request", f"At most 100 ids per job, got {len(ids)}"))
        job = HistoryJob(job_id=sim._new_id(), ids=list(ids), submitted_at=sim.clock())
        with sim._lock:
            sim.history_jobs[job.job_id] = job
        raise _Reply(202, {"id": job.job_id, "jobState": "Registered", "entities": [],
                           "selfUri": f"/api/v2/flows/instances/jobs/{job.job_id}"})

    def _history_poll(self, job_id: str) -> None:
        sim = self.sim
        with sim._lock:
            job = sim.history_jobs.get(job_id)
            if job is None:
                raise _Reply(404, _error_body(404, "not.found", f"Flow instances job {job_id} not found"))
            job.polls += 1
            elapsed = sim.clock() - job.submitted_at
            if job.state in ("Registered", "Running"):
                if elapsed >= sim.job_duration_s:
                    if sim._faults.fail_job:
                        job.state = "Failed"
                    else:
                        job.state = "Success"
                        job.entities = self._history_entities(job.ids)
                elif elapsed >= sim.job_duration_s / 3:
                    job.state = "Running"
            # GetFlowExecutionDataJobResult: no error field, even when Failed
            out = {"id": job.job_id, "jobState": job.state, "entities": list(job.entities),
                   "selfUri": f"/api/v2/flows/instances/jobs/{job.job_id}"}
        raise _Reply(200, out)

    def _history_entities(self, ids: list[str]) -> list[dict]:
        sim = self.sim
        known = [i for i in ids if i in sim.execution_documents]
        fail_one = known[-1] if sim._faults.history_entity_404 and known else None
        out = []
        for iid in ids:
            if iid not in sim.execution_documents or iid == fail_one:
                out.append({"id": iid, "failed": True, "statusCode": "404"})  # ExecutionDataEntity: a string
            else:
                out.append({"id": iid, "downloadUri": sim._download_uri(iid), "failed": False, "statusCode": "200"})
        return out

    def _history_one(self, instance_id: str) -> None:
        sim = self.sim
        if instance_id not in sim.execution_documents:
            raise _Reply(404, _error_body(404, "not.found", f"Flow instance {instance_id} not found"))
        raise _Reply(200, {"id": instance_id, "jobState": "Success",
                           "entities": [{"id": instance_id, "downloadUri": sim._download_uri(instance_id),
                                         "failed": False, "statusCode": "200"}]})

    def _api_download(self, download_id: str, query: dict) -> None:
        sim = self.sim
        with sim._lock:
            instance_id = sim._downloads.get(download_id)
        if instance_id is None:
            raise _Reply(404, _error_body(404, "not.found", f"Download {download_id} not found"))
        url = sim._presign(instance_id)
        if query.get("issueRedirect", "true").lower() == "false":
            raise _Reply(200, {"url": url})
        raise _Reply(303, None, {"Location": url})

    def _presigned_download(self, token: str, query: dict) -> None:
        sim = self.sim
        request_id = secrets.token_hex(8).upper()
        if self.headers.get("Authorization"):
            raise _Reply(400, _s3_error(
                "InvalidArgument",
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query "
                "string parameter or the Authorization header should be specified",
                request_id, ArgumentName="Authorization"), content_type="application/xml")
        with sim._lock:
            entry = sim._presigned.get(token)
        if entry is None or "X-Amz-Signature" not in query:
            raise _Reply(403, _s3_error("AccessDenied", "Access Denied", request_id), content_type="application/xml")
        instance_id, expires_at = entry
        if sim.clock() >= expires_at:
            now = datetime.fromtimestamp(sim.wall_clock(), timezone.utc)
            expired = now - timedelta(seconds=sim.clock() - expires_at)
            raise _Reply(403, _s3_error("AccessDenied", "Request has expired", request_id,
                                        **{"X-Amz-Expires": query.get("X-Amz-Expires", ""),
                                           "Expires": expired.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                           "ServerTime": now.strftime("%Y-%m-%dT%H:%M:%SZ")}),
                         content_type="application/xml")
        doc = sim.execution_documents[instance_id]
        raise _Reply(200, json.dumps(doc).encode("utf-8"), {"x-amz-request-id": request_id},
                     content_type="application/json")

    # data action test -------------------------------------------------------------
    def _action_test(self, action_id: str, body: bytes) -> None:
        sim = self.sim
        inputs = self._json(body)
        if inputs is None:
            inputs = {}
        if not isinstance(inputs, dict):
            raise _Reply(400, _error_body(400, "bad.request", "The body must be a JSON object of the action's inputs"))
        if action_id.startswith("missing"):
            raise _Reply(404, _error_body(404, "not.found", f"Action {action_id} not found"))
        with sim._lock:
            delay = sim.action_delay_s * (0.75 + sim._dice.random() / 2)
        if delay > 0:
            time.sleep(delay)
        fails = "fail" in action_id or action_id in sim.failing_actions
        raise _Reply(200, _action_result(action_id, inputs, fails))


def _permission_for(path: str) -> str:
    if "/flows/instances/query" in path:
        return "architect:flowInstance:search"
    if "/flows/instances" in path:
        return "architect:flowInstance:view"
    if "/integrations/actions/" in path:
        return "integrations:action:execute"
    return "architect:flow:debug"


def _debug_violations(path_flow_id: str, req: Any) -> list[tuple[str, str]]:
    """Return ``(field, message)`` for each way ``req`` breaks the debug contract."""
    if not isinstance(req, dict):
        return [("body", "The request body must be a JSON object")]
    out: list[tuple[str, str]] = []
    flow_id = req.get("flowId")
    if not isinstance(flow_id, str) or not flow_id.strip():
        out.append(("flowId", "flowId must be a non-empty string"))
    elif flow_id != path_flow_id:
        out.append(("flowId", f"flowId in the body ({flow_id!r}) does not match the flowId in the path "
                              f"({path_flow_id!r})"))
    action = req.get("actionInvocationId")
    if not isinstance(action, str) or not action.strip():
        out.append(("actionInvocationId", "actionInvocationId must be a non-empty string"))
    depth = req.get("traceDepth")
    if isinstance(depth, bool) or not isinstance(depth, int):
        out.append(("traceDepth", f"traceDepth must be an integer between 1 and 50, got {json.dumps(depth)}"))
    elif not 1 <= depth <= 50:
        out.append(("traceDepth", f"traceDepth must be between 1 and 50, got {depth}"))
    directives = req.get("contextDirectives")
    if not isinstance(directives, dict):
        out.append(("contextDirectives", "contextDirectives must be an object with captureContext and captureData"))
    elif directives.get("captureContext") is not True and directives.get("captureData") is not True:
        out.append(("contextDirectives", "at least one of contextDirectives.captureContext and "
                                         "contextDirectives.captureData must be true"))
    if "simulatedInputs" in req and req["simulatedInputs"] is not None and not isinstance(req["simulatedInputs"], dict):
        out.append(("simulatedInputs", "simulatedInputs must be a JSON object"))
    if req.get("enableAsync") is not True:
        out.append(("enableAsync", "enableAsync must be true (traces run asynchronously)"))
    return out


def _s3_error(code: str, message: str, request_id: str, **extra: str) -> str:
    from xml.sax.saxutils import escape

    inner = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in extra.items())
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{escape(message)}'
            f"</Message>{inner}<RequestId>{request_id}</RequestId><HostId>{secrets.token_urlsafe(24)}</HostId>"
            f"</Error>")


def _action_result(action_id: str, inputs: dict, fails: bool) -> dict:
    """Return a data-action test response as Genesys shapes it."""
    rng = random.Random(f"{action_id}:{json.dumps(inputs, sort_keys=True, default=str)}")
    service = "payments.example.com" if "pay" in action_id else "crm.example.com"
    qs = "&".join(f"{quote(str(k))}={quote(str(v))}" for k, v in sorted(inputs.items()))
    url = f"https://{service}/api/v1/lookup" + (f"?{qs}" if qs else "")
    ops: list[dict] = [
        {"step": 1, "name": "Resolve request URL template", "success": True, "result": url},
        {"step": 2, "name": "Resolve request headers", "success": True,
         "result": {"Accept": "application/json", "Authorization": "*****"}},
        {"step": 3, "name": "Resolve request body template", "success": True, "result": json.dumps(inputs)},
    ]
    if fails:
        error = _error_body(
            400, "bad.request",
            "REST call for action execute failed. Message: Request to backend service failed. Response from web "
            "service: {\"message\":\"upstream request timeout\"} [a7c0b9f2-6a2e-4f1b-9d8e-0f3c1e9b2d44]",
            errors=[{"message": "HTTP 504 from payment gateway: upstream request timeout", "code": "gateway.timeout",
                     "status": 504}])
        ops.append({"step": 4, "name": "Execute request", "success": False, "error": error})
        return {"operations": ops, "error": error, "finalResult": None, "success": False}
    raw = {"customer": {"id": f"CUST-{rng.randint(10000, 99999)}", "tier": rng.choice(["gold", "silver", "bronze"]),
                        "open_cases": rng.randint(0, 5)}}
    ops.append({"step": 4, "name": "Execute request", "success": True,
                "result": {"statusCode": 200, "body": raw, "elapsedMs": rng.randint(80, 400)}})
    translated = {"customerId": raw["customer"]["id"], "tier": raw["customer"]["tier"],
                  "openCases": raw["customer"]["open_cases"]}
    ops.append({"step": 5, "name": "Resolve translation map", "success": True, "result": translated})
    ops.append({"step": 6, "name": "Apply output contract", "success": True, "result": translated})
    return {"operations": ops, "error": None, "finalResult": translated, "success": True}




