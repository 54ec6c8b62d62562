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

This module holds the :class:`Simulator` (its settings, state, lifecycle and
records). The rest lives beside it: :mod:`.state` (records, jobs, the seeded
history), :mod:`.http` (the request handler, replies, redaction), :mod:`.routes`
(the route table and the gateway order) and one ``routes_*`` module per API.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import secrets
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import ThreadingHTTPServer
from typing import Any, Callable, Iterable

from .faults import Faults
from .http import Handler
from .notifications import NotificationService
from .routes import route
from .state import DebugJob, HistoryJob, RecordedRequest, WebhookDelivery, build_history

__all__ = ["Simulator", "RecordedRequest", "WebhookDelivery", "DebugJob", "HistoryJob"]

log = logging.getLogger("gctrace_nb.simulator")


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
            handler = type("_BoundHandler", (Handler,), {"sim": self, "route": staticmethod(route)})
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
