"""The Genesys client: launch a debug trace, poll its job, and return a :class:`~gctrace_nb.Trace`.

Every request goes through :meth:`GenesysClient.request`, which runs the one
retry engine (:class:`~gctrace_nb.api.retry.RetryEngine`) with the client's
own steps: the token bucket before every send (a resend after a 401 included),
the OAuth token (fetched again once on a 401), the retry policy
(429/502/503/504, connection errors and timeouts; ``Retry-After`` honoured),
one deadline and breaker per operation, and error mapping to
:mod:`gctrace_nb.errors`. The collaborators (session, auth, rate limiter,
policy, clock, sleep) are injectable, so tests run against real sockets on
127.0.0.1 without sleeping.

The debug-trace endpoints are the design's contract (genesys-api.md §A): the
bundled simulator, or any service implementing it, answers them.

Note: like the Genesys Java SDK, the submit ``POST`` is retried on 502/504,
connection errors and timeouts too. When the service did accept a request whose
answer was lost, that can start a second job; only the job the client hears
about is polled (a debug trace is read-only, so a stray job costs a little
capacity, nothing else).
"""

from __future__ import annotations

import logging
import random as _random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Iterable
from urllib.parse import quote, unquote, urlsplit

import requests

from .. import _http
from .auth import ClientCredentialsAuth, bearer_token
from .config import Settings
from .._time import iso_utc
from ..errors import (
    ApiError,
    AuthError,
    BadRequest,
    Cancelled,
    ConfigError,
    JobFailed,
    NotFound,
    PermissionDenied,
)
from .ratelimit import TokenBucket
from .request import DEFAULT_DEPTH, TraceRequest
from .options import CallKeywords, CallOptions, CancelToken, PollEvent, ProgressCallback
from .retry import RESEND, Retry, RetryBudget, RetryEngine, RetryPolicy, Resend, parse_retry_after

if TYPE_CHECKING:  # pragma: no cover
    from typing_extensions import Unpack

    from ..core.model import Trace

__all__ = ["GenesysClient", "extract_job_id", "JOB_DONE_STATUSES"]

log = logging.getLogger(__name__)

#: Job statuses that end polling.
JOB_DONE_STATUSES = frozenset({"completed", "failed"})



def extract_job_id(location: str | None, body: Any = None) -> str | None:
    """Return the job id a 202 names, or ``None``.

    ``Location`` may be an absolute URL (``https://host/api/v2/jobs/ID``), a
    relative path (``/api/v2/jobs/ID``) or a bare id; failing that, the JSON
    body's ``id`` (or ``jobId``). Only the id is kept: the client builds the
    job URL from its own API host, so a token is never sent to a host named
    by a header.

    >>> extract_job_id("https://api.example.com/api/v2/jobs/j-42?x=1")
    'j-42'
    >>> extract_job_id("/api/v2/jobs/j%2042/")
    'j 42'
    >>> extract_job_id("j-42"), extract_job_id(None, {"id": "j-7"})
    ('j-42', 'j-7')
    """
    if isinstance(location, str) and location.strip():
        loc = location.strip()
        path = urlsplit(loc).path if "://" in loc else loc.split("?", 1)[0].split("#", 1)[0]
        segments = [s for s in path.split("/") if s]
        if segments:
            if "jobs" in segments[:-1]:
                index = len(segments) - 1 - segments[::-1].index("jobs")
                candidate = segments[index + 1] if index + 1 < len(segments) else segments[-1]
            else:
                candidate = segments[-1]
            job_id = unquote(candidate).strip()
            if job_id and job_id != "jobs":
                return job_id
    if isinstance(body, dict):
        for key in ("id", "jobId"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
    return None


def _attempt_timeout(timeout: float, budget: RetryBudget) -> float:
    """The per-request timeout, never past the operation's deadline (a slow server cannot hold us)."""
    return max(0.001, min(timeout, budget.remaining()))


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL: enough to name a host, never a path or query."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _unreachable(host: str, exc: BaseException) -> str:
    """Say what went wrong with ``host`` in words: unreachable, or no answer in time."""
    if isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.ConnectTimeout):
        return f"{host} unreachable"
    if isinstance(exc, requests.ConnectTimeout):
        return f"{host} unreachable (connect timeout)"
    if isinstance(exc, requests.Timeout):
        return f"{host} did not answer in time"
    return f"{host} broke off its answer"


_iso = iso_utc


def _error_fields(resp: requests.Response) -> tuple[str, str | None, str | None, Any]:
    """Return ``(message, code, contextId, body)`` from a Genesys ``ErrorBody`` (or text)."""
    try:
        body = resp.json()
    except ValueError:
        text = (resp.text or "").strip()
        return (" ".join(text.split())[:300], None, None, text[:2000] or None)
    if not isinstance(body, dict):
        return ("", None, None, body)
    message = body.get("message")
    code = body.get("code")
    context_id = body.get("contextId")
    return (
        message if isinstance(message, str) else "",
        str(code) if code else None,
        str(context_id) if context_id else None,
        body,
    )


def _drop_refused_token(resp: requests.Response, auth: ClientCredentialsAuth, what: str) -> bool:
    """Forget the token a 401 refused, so the next round of the retry loop fetches a new one.

    The 401 is answered in the engine's loop, not by a hook inside requests:
    the resend goes round the loop (:data:`~gctrace_nb.api.retry.RESEND`), so it
    waits for the rate limit, and the token fetch and the resend stay inside the
    deadline like any other request.
    """
    auth.invalidate(bearer_token(resp.request))
    resp.close()
    log.info("%s: HTTP 401, fetching a new token and sending again", what)
    return True


class _ApiAttempt:
    """The attempts of one API request: fetch the token, send, read the answer.

    Called by :meth:`RetryEngine.run <gctrace_nb.api.retry.RetryEngine.run>` once
    per attempt; returns the response, a :class:`~gctrace_nb.api.retry.Retry`, or
    :data:`~gctrace_nb.api.retry.RESEND` (a 401: once, with a fresh token); raises
    the mapped error for an answer not worth retrying.
    """

    def __init__(self, client: "GenesysClient", method: str, url: str, *, subject: str | None,
                 options: CallOptions, send: dict[str, Any]) -> None:
        self.client, self.method, self.url, self.subject = client, method, url, subject
        self.options, self.send = options, send
        self.what = f"{method} {urlsplit(url).path}"
        self.own_auth = client.auth if isinstance(client.auth, ClientCredentialsAuth) else None
        # with our own token, a 401 is answered here; another auth object is sent as it is
        self.send_auth = self.own_auth.bearer() if self.own_auth is not None else client.auth
        self.fresh_token = False
        self.fetching_token = False

    def __call__(self, attempt: int) -> "requests.Response | Retry | Resend":
        client = self.client
        assert self.options.budget is not None
        timeout = _attempt_timeout(client.settings.timeout, self.options.budget)
        if self.own_auth is not None:  # a token fetch must not outlast the deadline
            self.fetching_token = True
            try:
                self.own_auth.token(timeout=timeout)
            except ApiError as exc:  # the token request itself failed
                if exc.status is None or exc.status not in client.policy.retry_statuses:
                    raise
                cause = f"login host {client._login_origin()} answered HTTP {exc.status} while fetching a token"
                return Retry(exc.status, f"token request: HTTP {exc.status}", getattr(exc, "retry_after_s", None),
                             cause=cause)
            self.fetching_token = False
        resp = client.session.request(self.method, self.url, auth=self.send_auth,
                                      timeout=_attempt_timeout(client.settings.timeout, self.options.budget),
                                      **self.send)
        status = resp.status_code
        correlation = resp.headers.get("ININ-Correlation-Id")
        self.options.note_correlation_id(correlation)
        log.debug("%s: attempt %d -> HTTP %d (correlation id %s)", self.what, attempt, status, correlation)
        if status == 401 and self.own_auth is not None and not self.fresh_token:
            self.fresh_token = _drop_refused_token(resp, self.own_auth, self.what)  # a second 401 is an AuthError
            return RESEND
        retry = client.retries.retry_for(resp)
        if retry is None:
            if status >= 400:
                client._raise_for_status(resp, self.method, self.subject)
            return resp
        message = _error_fields(resp)[0]
        resp.close()
        return replace(retry, reason=f"HTTP {status}" + (f": {message}" if message else ""))

    def transport_error(self, exc: BaseException) -> Retry:
        """No answer: name the host that failed (the login host while fetching a token)."""
        if self.fetching_token or str(exc).startswith("token request to"):  # (also a re-fetch after a 401)
            cause = f"{_unreachable('login host ' + self.client._login_origin(), exc)} while fetching a token"
        else:
            cause = _unreachable("API host " + _origin(self.url), exc)
        return Retry(None, cause, cause=cause)


class _LinkedCancel:
    """Set when either of two cancel tokens is set (the caller's, or the pool's own)."""

    def __init__(self, own: threading.Event, other: CancelToken | None) -> None:
        self._own = own
        self._other = other

    def is_set(self) -> bool:
        return self._own.is_set() or (self._other is not None and self._other.is_set())

    def wait(self, timeout: float | None = None) -> bool:
        if self._other is None:
            return self._own.wait(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            self._own.wait(0.1 if left is None else min(0.1, left))
        return True


class GenesysClient:
    """A client for the debug-trace contract (and, through :meth:`request`, any Genesys API).

    Args:
        settings: hosts, credentials and timeout (:class:`~gctrace_nb.api.config.Settings`).
        session: a :class:`requests.Session` (default: a new one). TLS
            verification stays on; a session with ``verify=False`` is refused.
        auth: a :class:`requests.auth.AuthBase` (default:
            :class:`~gctrace_nb.api.auth.ClientCredentialsAuth` from ``settings``).
        rate_limiter: shared by every thread using this client; every send goes
            through it, a resend after a 401 included (default:
            :meth:`TokenBucket.per_minute() <gctrace_nb.api.ratelimit.TokenBucket.per_minute>`:
            never more than 300 requests in any minute).
        policy: :class:`~gctrace_nb.api.retry.RetryPolicy` (default values).
        clock: monotonic seconds (deadline, breaker, token expiry, latency).
        sleep: how to wait (tests pass a recorder).
        random: ``() -> float`` in ``[0, 1)`` for jitter.
        utcnow: ``() -> datetime`` for the submitted/completed timestamps and
            HTTP-date ``Retry-After`` headers (read through :meth:`now`).

    ``settings``, ``session``, ``auth``, ``rate_limiter``, ``policy``, ``clock``,
    ``sleep`` and ``random`` are public attributes; :meth:`now` and :attr:`retries`
    (the retry engine built from them) are what the other API modules use.

    Example:
        >>> client = GenesysClient(Settings.from_env())          # doctest: +SKIP
        >>> trace = client.trace(flow_id="f-1", action_invocation_id="a-1")  # doctest: +SKIP
    """

    def __init__(
        self,
        settings: Settings,
        *,
        session: requests.Session | None = None,
        auth: requests.auth.AuthBase | None = None,
        rate_limiter: TokenBucket | None = None,
        policy: RetryPolicy | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Any] | None = None,
        random: Callable[[], float] | None = None,
        utcnow: Callable[[], datetime] | None = None,
    ) -> None:
        if not isinstance(settings, Settings):
            raise TypeError(f"settings must be a Settings, got {type(settings).__name__}")
        self.settings = settings
        self._own_session = session is None
        # every request (and token fetch) through this session ends by its deadline (_http)
        self.session = _http.guard(session if session is not None else requests.Session())
        if self.session.verify is False:
            raise ConfigError("TLS certificate verification must stay on (session.verify is False)")
        self.clock = clock or time.monotonic
        self.sleep = sleep or time.sleep
        self.auth = auth if auth is not None else ClientCredentialsAuth.from_settings(
            settings, session=self.session, clock=self.clock
        )
        self.rate_limiter = rate_limiter if rate_limiter is not None else TokenBucket.per_minute(
            clock=self.clock, sleep=self.sleep
        )
        self.policy = policy or RetryPolicy()
        self.random = random or _random.random
        self._utcnow = utcnow or (lambda: datetime.now(timezone.utc))

    def now(self) -> datetime:
        """The current time, UTC, from the client's wall clock (``utcnow``): submitted/completed
        times and HTTP-date ``Retry-After`` headers are read from it."""
        return self._utcnow()

    @property
    def retries(self) -> RetryEngine:
        """The retry engine with this client's policy, clock, sleep, jitter and wall clock.

        Built from the attributes as they are now (a test may swap ``client.sleep``).
        Modules that call the API beside :meth:`request` (downloads, job polls) retry
        and poll through it, so everything the client sends follows one policy.
        """
        return RetryEngine(self.policy, clock=self.clock, sleep=self.sleep, random=self.random, now=self.now)

    @classmethod
    def from_env(cls, **kwargs: Any) -> "GenesysClient":
        """Build a client from ``GENESYS_*`` variables (see :meth:`Settings.from_env`)."""
        return cls(Settings.from_env(), **kwargs)

    def __repr__(self) -> str:
        return f"<GenesysClient {self.settings.api_url} client_id={self.settings.client_id!r}>"

    def close(self) -> None:
        """Close the session if the client created it."""
        if self._own_session:
            self.session.close()

    def __enter__(self) -> "GenesysClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ requests
    def _url(self, path: str) -> str:
        base = self.settings.api_url
        if "://" in path:
            target, own = urlsplit(path), urlsplit(base)
            if (target.scheme, target.netloc) != (own.scheme, own.netloc):
                raise ValueError(f"refusing to send credentials to {target.scheme}://{target.netloc}: not the API host")
            return path
        return base + (path if path.startswith("/") else "/" + path)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict | None = None,
        headers: dict | None = None,
        subject: str | None = None,
        job_id: str | None = None,
        options: CallOptions | None = None,
        **call: "Unpack[CallKeywords]",
    ) -> requests.Response:
        """Send one API request with rate limiting, retries and error mapping.

        ``path`` is relative to the API host (an absolute URL must be on that
        host). Returns the successful response (any 2xx/3xx). ``options``
        (:class:`~gctrace_nb.api.options.CallOptions`; or its fields as
        keywords: ``on_progress``, ``cancel``, ``budget``, ``correlation_ids``)
        shares a deadline and breaker across several requests; correlation ids
        seen are appended to ``correlation_ids``.

        Raises:
            BadRequest: 400, with the server's ``message``, ``code`` and ``contextId``.
            AuthError: 401 even after a fresh token, or refused credentials.
            PermissionDenied: 403.
            NotFound: 404.
            ApiError: any other non-retryable error status.
            DeadlineExceeded, CircuitOpen, RetriesExhausted: transient failures went on too long.
            Cancelled: ``cancel`` was set.
        """
        url = self._url(path)
        engine = self.retries
        options = CallOptions.of(options, **call).with_budget(engine.budget)
        attempt = _ApiAttempt(self, method, url, subject=subject, options=options,
                              send=dict(json=json, params=params, headers=headers))
        return engine.run(attempt, what=attempt.what, options=options, job_id=job_id,
                          before_send=lambda n: self._wait_for_rate_limit(n, attempt.what, options, job_id),
                          transport_error=attempt.transport_error)

    def _wait_for_rate_limit(self, attempt: int, what: str, options: CallOptions, job_id: str | None) -> None:
        """Take a token from the bucket (every send, a resend included), reporting a wait."""
        if options.on_progress is None:
            self.rate_limiter.acquire(cancel=options.cancel)
            return
        budget = options.budget
        assert budget is not None

        def on_wait(seconds: float) -> None:
            options.report(PollEvent(attempt, "rate_limited", None, seconds, None, budget.elapsed(),
                                     f"{what}: client rate limit, waiting {seconds:.2f} s", job_id))

        self.rate_limiter.acquire(cancel=options.cancel, on_wait=on_wait)

    def _login_origin(self) -> str:
        return _origin(getattr(self.auth, "token_url", None) or self.settings.token_url)

    def _raise_for_status(self, resp: requests.Response, method: str, subject: str | None) -> None:
        message, code, context_id, body = _error_fields(resp)
        status = resp.status_code
        kw: dict[str, Any] = dict(
            status=status, url=resp.url, code=code, context_id=context_id,
            correlation_id=resp.headers.get("ININ-Correlation-Id"), body=body,
        )
        suffix = f": {message}" if message else ""
        if status == 400:
            raise BadRequest(message or "the service refused the request", **kw)
        if status == 401:
            raise AuthError("the service refused the access token even after fetching a new one" + suffix, **kw)
        if status == 403:
            target = subject or f"{method} {urlsplit(resp.url).path}"
            raise PermissionDenied(
                f"the OAuth client lacks a permission for {target}: add it to a role granted to the "
                f"OAuth client" + suffix, **kw,
            )
        if status == 404:
            raise NotFound(f"{subject} not found" + suffix if subject else (message or "not found"), **kw)
        raise ApiError(f"the service answered HTTP {status}" + suffix, **kw)

    # ----------------------------------------------------------- debug jobs
    def submit_debug_trace(
        self, req: TraceRequest, *, options: CallOptions | None = None, **call: "Unpack[CallKeywords]"
    ) -> str:
        """Validate ``req`` locally, ``POST`` it, and return the job id the 202 names.

        ``options`` (or its fields as keywords) as for :meth:`request`.

        Raises:
            TraceRequestInvalid: before anything is sent.
            NotFound: the flow does not exist. (And everything :meth:`request` raises.)
        """
        options = CallOptions.of(options, **call)
        req.validate()
        path = f"/api/v2/flows/{quote(req.flow_id, safe='')}/debug"
        resp = self.request("POST", path, json=req.to_body(), subject=f"flow {req.flow_id}", options=options)
        try:
            body = resp.json() if resp.content else None
        except ValueError:
            body = None
        job_id = extract_job_id(resp.headers.get("Location"), body)
        if not job_id:
            raise ApiError(
                "the service accepted the trace but named no job (no Location header or body id)",
                status=resp.status_code, url=resp.url,
                correlation_id=resp.headers.get("ININ-Correlation-Id"),
            )
        log.info("debug trace of flow %s submitted as job %s", req.flow_id, job_id)
        return job_id

    def get_job(self, job_id: str, *, options: CallOptions | None = None, **call: "Unpack[CallKeywords]") -> dict:
        """Return the job document ``{"status", "result"?, "message"?}`` once (no waiting)."""
        return self._get_job(job_id, CallOptions.of(options, **call))[0]

    def _get_job(self, job_id: str, options: CallOptions) -> tuple[dict, float | None]:
        """The job document and the wait its ``Retry-After`` header asks for (``None`` if none)."""
        if not isinstance(job_id, str) or not job_id.strip():
            raise ValueError("job_id must be a non-empty string")
        resp = self.request("GET", f"/api/v2/jobs/{quote(job_id, safe='')}", subject=f"job {job_id}",
                            job_id=job_id, options=options)
        try:
            job = resp.json()
        except ValueError:
            job = None
        if not isinstance(job, dict) or not isinstance(job.get("status"), str):
            raise ApiError(
                f"the job {job_id} response is not a job document (no status)",
                status=resp.status_code, url=resp.url, correlation_id=resp.headers.get("ININ-Correlation-Id"),
            )
        return job, parse_retry_after(resp.headers.get("Retry-After"), now=self.now())

    def wait_for_job(
        self, job_id: str, *, options: CallOptions | None = None, **call: "Unpack[CallKeywords]"
    ) -> dict:
        """Poll the job until it is ``completed`` (returned) or ``failed`` (raised).

        Never returns while the job is ``in_progress``. Polls are at most
        ``policy.poll_max_delay_s`` (5 s, jittered) apart, unless the job's
        answer carries a ``Retry-After``, which wins. ``options`` (or its fields
        as keywords) as for :meth:`request`.

        Raises:
            JobFailed: the job ended ``failed``; carries the server's message.
            DeadlineExceeded, CircuitOpen: waited as long as the policy allows.
            Cancelled: ``cancel`` was set.
        """
        engine = self.retries
        options = CallOptions.of(options, **call).with_budget(engine.budget)
        asked: list[float | None] = [None]

        def fetch() -> dict:
            job, asked[0] = self._get_job(job_id, options)
            return job

        job = engine.poll(fetch, lambda j: str(j.get("status", "")).lower() in JOB_DONE_STATUSES, options=options,
                          what=f"job {job_id}", job_id=job_id, retry_after=lambda: asked[0])
        if str(job.get("status")).lower() == "failed":
            message = job.get("message")
            raise JobFailed(
                message if isinstance(message, str) and message else "no message from the service",
                job_id=job_id, body=job,
            )
        return job

    def trace(
        self,
        request: TraceRequest | None = None,
        *,
        flow_id: str | None = None,
        action_invocation_id: str | None = None,
        depth: int = DEFAULT_DEPTH,
        capture_context: bool = True,
        capture_data: bool = True,
        simulated_inputs: dict | None = None,
        on_progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> "Trace":
        """Run one debug trace end to end and return it as a :class:`~gctrace_nb.Trace`.

        Pass a :class:`TraceRequest`, or the flow and action invocation ids
        (and options) directly. The metadata records the job id, the request
        body, submitted/completed times, the correlation ids seen, and
        ``retrieval_latency_ms`` (submission to parsed result, monotonic clock).
        """
        from ..core.documents import find_steps
        from ..core.model import Trace, TraceMetadata

        if request is None:
            request = TraceRequest(
                flow_id if flow_id is not None else "",
                action_invocation_id if action_invocation_id is not None else "",
                depth=depth, capture_context=capture_context, capture_data=capture_data,
                simulated_inputs=simulated_inputs,
            )
        elif flow_id is not None or action_invocation_id is not None:
            raise TypeError("pass either a TraceRequest or flow_id/action_invocation_id, not both")
        request.validate()
        correlation_ids: list[str] = []
        budget = self.retries.budget()
        options = CallOptions(on_progress=on_progress, cancel=cancel, budget=budget, correlation_ids=correlation_ids)
        submitted_at = _iso(self.now())
        started = self.clock()
        job_id = self.submit_debug_trace(request, options=options)
        options.report(PollEvent(0, "submitted", 202, 0.0, None, budget.elapsed(),
                                 f"flow {request.flow_id}: job {job_id} submitted", job_id))
        job = self.wait_for_job(job_id, options=options)
        doc = find_steps(job, f"job {job_id}")
        latency_ms = round((self.clock() - started) * 1000.0, 3)
        metadata = TraceMetadata(
            source="debug",
            flow_id=request.flow_id,
            action_invocation_id=request.action_invocation_id,
            job_id=job_id,
            request=request.to_body(),
            submitted_at=submitted_at,
            completed_at=_iso(self.now()),
            retrieval_latency_ms=latency_ms,
            correlation_ids=tuple(correlation_ids),
        )
        return Trace(doc.steps, metadata)

    def trace_many(
        self,
        requests_: Iterable[TraceRequest],
        *,
        max_workers: int = 4,
        on_progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        return_exceptions: bool = False,
    ) -> list:
        """Run several traces at once (a small worker pool) through this client's rate limit.

        Returns the traces in input order. With ``return_exceptions=True`` a
        failed trace is returned as its exception; otherwise the first failure
        (in input order) is raised after cancelling the traces still waiting.
        Every request is validated before any is sent.
        """
        items = list(requests_)
        for item in items:
            if not isinstance(item, TraceRequest):
                raise TypeError(f"trace_many takes TraceRequest objects, got {type(item).__name__}")
            item.validate()
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        stop = threading.Event()
        linked = _LinkedCancel(stop, cancel)
        results: list[Any] = [None] * len(items)

        def run(index: int) -> None:
            try:
                results[index] = self.trace(items[index], on_progress=on_progress, cancel=linked)
            except Exception as exc:  # noqa: BLE001 - handed back to the caller below
                results[index] = exc
                if not return_exceptions:
                    stop.set()

        pool = ThreadPoolExecutor(max_workers=min(max_workers, max(1, len(items))),
                                  thread_name_prefix="gctrace-trace")
        try:
            futures = [pool.submit(run, i) for i in range(len(items))]
            for future in futures:
                future.result()
        except BaseException:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        if not return_exceptions:
            errors = [r for r in results if isinstance(r, Exception)]
            real = [e for e in errors if not isinstance(e, Cancelled)]
            if real or errors:
                raise (real or errors)[0]
        return results
