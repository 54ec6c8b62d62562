"""GenesysClient against a scripted server on 127.0.0.1: submit, poll, retry, map errors, stay secret."""

from __future__ import annotations

import base64
import json
import logging
import threading
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
import requests

from gctrace_nb import Trace, load_trace
from gctrace_nb.api.client import GenesysClient, extract_job_id
from gctrace_nb.api.config import Settings
from gctrace_nb.errors import (
    ApiError,
    AuthError,
    BadRequest,
    Cancelled,
    CircuitOpen,
    ConfigError,
    DeadlineExceeded,
    JobFailed,
    NotFound,
    PermissionDenied,
    RetriesExhausted,
    TraceRequestInvalid,
)
from gctrace_nb.api.ratelimit import TokenBucket
from gctrace_nb.api.request import TraceRequest
from gctrace_nb.api.retry import PollEvent, RetryPolicy

from http_fixtures import CLIENT_ID, CLIENT_SECRET, STEPS, FakeGenesys, SleepRecorder

NOW = datetime(2026, 3, 1, 9, 0, 0, tzinfo=timezone.utc)


@pytest.fixture
def server():
    with FakeGenesys(job_polls=2) as srv:
        yield srv


@pytest.fixture
def rec():
    return SleepRecorder()


def make_client(server, rec, **kw):
    settings = Settings(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, api_url=server.url,
                        login_url=server.url, timeout=kw.pop("timeout", 5.0))
    kw.setdefault("random", lambda: 0.5)
    return GenesysClient(settings, clock=rec.clock, sleep=rec.sleep, utcnow=lambda: NOW, **kw)


def test_trace_end_to_end_with_metadata(server, rec):
    client = make_client(server, rec)
    events: list[PollEvent] = []
    trace = client.trace(flow_id="flow-1", action_invocation_id="inv-1", depth=5,
                         simulated_inputs={"ani": "+3312"}, on_progress=events.append)
    assert isinstance(trace, Trace)
    assert trace.raw_steps == STEPS and trace.analysis.total_ms == 1000.0
    m = trace.metadata
    assert (m.source, m.flow_id, m.action_invocation_id) == ("debug", "flow-1", "inv-1")
    assert m.job_id and m.job_id in server.jobs
    assert m.request == TraceRequest("flow-1", "inv-1", depth=5, simulated_inputs={"ani": "+3312"}).to_body()
    assert m.submitted_at == "2026-03-01T09:00:00.000Z" and m.completed_at == "2026-03-01T09:00:00.000Z"
    # latency on the monotonic clock: exactly the waits between polls, as nothing else moved the fake clock
    assert m.retrieval_latency_ms == pytest.approx(rec.total * 1000)
    assert rec.total > 0
    assert len(m.correlation_ids) == 4  # submit + 3 polls, each its own id
    (post,) = server.api_requests("POST")
    assert post.path == "/api/v2/flows/flow-1/debug" and post.json() == m.request
    assert len(server.api_requests("GET")) == 3  # in_progress twice, then completed
    assert [e.status for e in events] == ["submitted", "in_progress", "in_progress", "completed"]


@pytest.mark.parametrize("style", ["absolute", "relative", "bare", "body"])
def test_every_location_style_names_the_job(server, rec, style):
    server.location_style = style
    server.result_style = "list"
    trace = make_client(server, rec).trace(flow_id="f", action_invocation_id="a")
    assert trace.metadata.job_id in server.jobs and trace.raw_steps == STEPS


def test_extract_job_id_shapes():
    assert extract_job_id("https://elsewhere.example/api/v2/jobs/abc") == "abc"
    assert extract_job_id("/api/v2/jobs/abc/") == "abc"
    assert extract_job_id("abc") == "abc"
    assert extract_job_id("", {"id": "abc"}) == "abc"
    assert extract_job_id(None, {"jobId": "abc"}) == "abc"
    assert extract_job_id(None, {"id": ""}) is None
    assert extract_job_id("/api/v2/jobs/", None) is None


def test_a_202_without_a_job_is_an_api_error(server, rec):
    server.script("POST", "/api/v2/flows/", (202, {}, None))
    with pytest.raises(ApiError, match="named no job"):
        make_client(server, rec).submit_debug_trace(TraceRequest("f", "a"))


def test_wait_never_returns_while_in_progress(server, rec):
    server.job_polls = 6
    client = make_client(server, rec)
    job_id = client.submit_debug_trace(TraceRequest("f", "a"))
    job = client.wait_for_job(job_id)
    assert job["status"] == "completed"
    assert len(server.api_requests("GET")) == 7


def test_429_waits_retry_after_seconds_then_default_three_then_http_date(server, rec):
    date = format_datetime(NOW + timedelta(seconds=6), usegmt=True)
    server.script("POST", "/api/v2/flows/", (429, {"Retry-After": "2"}, {"message": "slow"}),
                  (429, {}, {"message": "slow"}), (429, {"Retry-After": date}, {"message": "slow"}))
    client = make_client(server, rec, policy=RetryPolicy(min_delay_s=0))
    events = []
    job_id = client.submit_debug_trace(TraceRequest("f", "a"), on_progress=events.append)
    assert job_id in server.jobs
    assert rec.sleeps == [2.0, 3.0, 6.0]
    assert [(e.http_status, e.retry_after_s, e.wait_s) for e in events] == [
        (429, 2.0, 2.0), (429, None, 3.0), (429, 6.0, 6.0)]
    assert len(server.api_requests("POST")) == 4


def test_5xx_burst_backs_off_with_jitter_and_recovers(server, rec):
    server.script("GET", "/api/v2/jobs/", (502, {}, b"<html>bad gateway</html>"), (503, {}, {"message": "x"}),
                  (504, {}, {"message": "y"}))
    client = make_client(server, rec, policy=RetryPolicy(initial_s=1, factor=3, min_delay_s=0),
                         random=lambda: 1.0)
    job_id = client.submit_debug_trace(TraceRequest("f", "a"))
    rec.sleeps.clear()
    client.get_job(job_id)
    assert rec.sleeps == [1.0, 3.0, 9.0]


def test_other_4xx_and_500_are_not_retried(server, rec):
    client = make_client(server, rec)
    for status, exc_type in ((409, ApiError), (500, ApiError), (422, ApiError)):
        server.script("POST", "/api/v2/flows/", (status, {}, {"message": f"nope {status}"}))
        before = len(server.api_requests("POST"))
        with pytest.raises(exc_type, match=f"nope {status}") as info:
            client.submit_debug_trace(TraceRequest("f", "a"))
        assert info.value.status == status
        assert len(server.api_requests("POST")) == before + 1
    assert rec.sleeps == []


def test_400_carries_message_code_context_and_correlation_id(server, rec):
    body = {"message": "traceDepth must be <= 50 for this flow", "code": "bad.request", "status": 400,
            "contextId": "ctx-123", "details": [], "errors": []}
    server.script("POST", "/api/v2/flows/", (400, {"ININ-Correlation-Id": "corr-xyz"}, body))
    with pytest.raises(BadRequest) as info:
        make_client(server, rec).trace(flow_id="f", action_invocation_id="a")
    exc = info.value
    assert exc.message == "traceDepth must be <= 50 for this flow"
    assert (exc.status, exc.code, exc.context_id, exc.correlation_id) == (400, "bad.request", "ctx-123", "corr-xyz")
    assert "ctx-123" in str(exc) and "corr-xyz" in str(exc)


def test_403_says_a_permission_is_missing_and_404_names_the_flow(server, rec):
    client = make_client(server, rec)
    server.script("POST", "/api/v2/flows/", (403, {}, {"message": "missing permission", "code": "missing.permissions"}))
    with pytest.raises(PermissionDenied, match="OAuth client lacks a permission"):
        client.trace(flow_id="f", action_invocation_id="a")
    with pytest.raises(NotFound, match="flow missing not found"):
        client.trace(flow_id="missing", action_invocation_id="a")
    with pytest.raises(NotFound, match="job nope not found"):
        client.get_job("nope")


def test_401_mid_poll_refreshes_once_and_continues(server, rec):
    client = make_client(server, rec)
    revoked = []

    def on_progress(event):
        if event.status == "in_progress" and not revoked:
            server.revoke_tokens()
            revoked.append(True)

    trace = client.trace(flow_id="f", action_invocation_id="a", on_progress=on_progress)
    assert trace.analysis.steps_total == 3
    assert len(server.token_requests()) == 2


def test_401_even_after_refresh_is_an_auth_error(server, rec):
    server.script("GET", "/api/v2/jobs/", (401, {}, {"message": "no"}), (401, {}, {"message": "still no"}))
    client = make_client(server, rec)
    job_id = client.submit_debug_trace(TraceRequest("f", "a"))
    with pytest.raises(AuthError, match="even after fetching a new one") as info:
        client.wait_for_job(job_id)
    assert not isinstance(info.value, PermissionDenied)


def test_bad_credentials_are_an_auth_error(server, rec):
    settings = Settings(client_id=CLIENT_ID, client_secret="wrong", api_url=server.url, login_url=server.url)
    with pytest.raises(AuthError):
        GenesysClient(settings, clock=rec.clock, sleep=rec.sleep).trace(flow_id="f", action_invocation_id="a")
    assert server.api_requests() == []


def test_failed_job_raises_job_failed_with_its_message(server, rec):
    server.fail_jobs = "Action 'CRM lookup' timed out after 30 s"
    with pytest.raises(JobFailed, match="CRM lookup' timed out") as info:
        make_client(server, rec).trace(flow_id="f", action_invocation_id="a")
    assert info.value.job_id in server.jobs


def test_outage_ends_in_the_breaker_inside_the_deadline(server, rec):
    server.script("GET", "/api/v2/jobs/", *[(503, {}, {"message": "outage"})] * 500)
    client = make_client(server, rec, random=lambda: 1.0)
    with pytest.raises(CircuitOpen, match="breaker window 300 s") as info:
        client.trace(flow_id="f", action_invocation_id="a")
    assert 300 <= rec.total < 600
    assert info.value.last_status == 503


def test_a_job_that_never_finishes_hits_the_deadline(server, rec):
    server.job_polls = 10**9
    client = make_client(server, rec, policy=RetryPolicy(deadline_s=120))
    with pytest.raises(DeadlineExceeded, match="120 s deadline"):
        client.trace(flow_id="f", action_invocation_id="a")
    assert rec.total <= 120


def test_retry_after_beyond_the_deadline_gives_up_at_once(server, rec):
    server.script("POST", "/api/v2/flows/", (429, {"Retry-After": "3600"}, {"message": "later"}))
    with pytest.raises(DeadlineExceeded):
        make_client(server, rec).trace(flow_id="f", action_invocation_id="a")
    assert rec.sleeps == []


def test_connection_errors_retry_until_max_attempts(server, rec):
    settings = Settings(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, api_url="http://127.0.0.1:9",
                        login_url=server.url, timeout=2)
    client = GenesysClient(settings, clock=rec.clock, sleep=rec.sleep, policy=RetryPolicy(max_attempts=3))
    with pytest.raises(RetriesExhausted, match="after 3 attempts .*connection error"):
        client.submit_debug_trace(TraceRequest("f", "a"))
    assert len(rec.sleeps) == 2


def test_read_timeouts_are_retried(server, rec):
    server.script("POST", "/api/v2/flows/", (503, {}, {"message": "slow"}, 1.0))
    client = make_client(server, rec, timeout=0.3)
    job_id = client.submit_debug_trace(TraceRequest("f", "a"))
    assert job_id in server.jobs and len(rec.sleeps) == 1


def test_invalid_request_sends_nothing(server, rec):
    client = make_client(server, rec)
    with pytest.raises(TraceRequestInvalid, match="traceDepth"):
        client.trace(flow_id="f", action_invocation_id="a", depth=0)
    with pytest.raises(TraceRequestInvalid, match="flowId"):
        client.trace_many([TraceRequest("f", "a"), TraceRequest("", "a")])
    assert server.requests == []


def test_cancel_event_stops_the_wait(server, rec):
    server.job_polls = 100
    cancel = threading.Event()

    def on_progress(event):
        if event.status == "in_progress" and event.attempt == 2:
            cancel.set()

    with pytest.raises(Cancelled):
        make_client(server, rec).trace(flow_id="f", action_invocation_id="a", on_progress=on_progress,
                                       cancel=cancel)
    assert len(server.api_requests("GET")) == 2


def test_keyboard_interrupt_propagates_cleanly(server, rec):
    server.job_polls = 100

    def interrupting_sleep(seconds):
        raise KeyboardInterrupt

    client = make_client(server, rec)
    client.sleep = interrupting_sleep
    with pytest.raises(KeyboardInterrupt):
        client.trace(flow_id="f", action_invocation_id="a")
    assert len(server.api_requests("GET")) == 1


class ClockedSession(requests.Session):
    """Notes the injected clock at each API send (a seam, not a patch)."""

    def __init__(self, clock):
        super().__init__()
        self.clock = clock
        self.sent: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def send(self, request, **kwargs):
        if "/api/" in request.url:
            with self._lock:
                self.sent.append((self.clock(), request.path_url))
        return super().send(request, **kwargs)


def test_trace_many_shares_one_bucket_and_never_bursts(server, rec):
    session = ClockedSession(rec.clock)
    start = rec.clock()
    bucket = TokenBucket(30, burst=2, clock=rec.clock, sleep=rec.sleep)
    client = make_client(server, rec, session=session, rate_limiter=bucket)
    reqs = [TraceRequest(f"flow-{i}", f"a-{i}") for i in range(6)]
    events: list[PollEvent] = []
    traces = client.trace_many(reqs, max_workers=3, on_progress=events.append)
    assert [t.metadata.flow_id for t in traces] == [r.flow_id for r in reqs]
    limited = [e for e in events if e.status == "rate_limited"]
    assert limited and all(0 < e.wait_s <= 6 * 4 * 2.0 for e in limited)
    assert {e.job_id for e in events if e.status == "completed"} == {t.metadata.job_id for t in traces}
    times = sorted(t for t, _ in session.sent)
    assert len(times) == 6 * 4
    # by any instant t, at most burst + rate * (t - start) requests went out (one per 2 s here)
    for k, sent_at in enumerate(times, start=1):
        assert sent_at >= start + (k - 2) * 2.0, (k, sent_at - start)
    assert client.rate_limiter is bucket


def test_trace_many_returns_exceptions_in_place(server, rec):
    client = make_client(server, rec)
    results = client.trace_many([TraceRequest("f", "a"), TraceRequest("missing", "a")], return_exceptions=True)
    assert isinstance(results[0], Trace) and isinstance(results[1], NotFound)
    with pytest.raises(NotFound):
        client.trace_many([TraceRequest("missing", "a"), TraceRequest("f", "a")])


def test_request_refuses_other_hosts_and_sessions_without_tls_verification(server, rec):
    client = make_client(server, rec)
    with pytest.raises(ValueError, match="not the API host"):
        client.request("GET", "https://evil.example/api/v2/jobs/x")
    session = requests.Session()
    session.verify = False
    with pytest.raises(ConfigError, match="verification"):
        make_client(server, rec, session=session)


def test_secrets_never_leak(server, rec, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    client = make_client(server, rec)
    trace = client.trace(flow_id="f", action_invocation_id="a")
    texts = [repr(client), repr(client.auth), repr(client.settings), repr(trace), repr(trace.metadata),
             json.dumps(trace.to_json())]
    saved = trace.save(tmp_path / "t.json")
    texts.append(saved.read_text())
    assert load_trace(saved).metadata.job_id == trace.metadata.job_id
    server.script("POST", "/api/v2/flows/", (400, {}, {"message": "bad"}))
    server.script("GET", "/api/v2/jobs/", (401, {}, {}), (401, {}, {}), (403, {}, {}))
    for call in (lambda: client.trace(flow_id="f", action_invocation_id="a"),
                 lambda: client.get_job("x"), lambda: client.get_job("x")):
        with pytest.raises(ApiError) as info:
            call()
        texts += [str(info.value), repr(info.value), repr(info.value.body)]
    texts += [r.getMessage() for r in caplog.records]
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    for token in server.issued_tokens:
        assert not any(token in t for t in texts)
    assert not any(CLIENT_SECRET in t or basic in t for t in texts)


def test_token_endpoint_trouble_is_retried_like_any_transient_failure(server, rec):
    server.script("POST", "/oauth/token", (503, {}, {"message": "login down"}),
                  (429, {"Retry-After": "5"}, {"message": "slow"}))
    events = []
    trace = make_client(server, rec, policy=RetryPolicy(initial_s=1, min_delay_s=0), random=lambda: 1.0).trace(
        flow_id="f", action_invocation_id="a", on_progress=events.append)
    assert trace.analysis.steps_total == 3
    assert [r.path for r in server.requests[:3]] == ["/oauth/token"] * 3
    assert rec.sleeps[:2] == [1.0, 5.0]
    assert [e.http_status for e in events if e.status == "retrying"] == [503, 429]


class CountingBucket(TokenBucket):
    """A token bucket that counts what it let through."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.acquired = 0

    def acquire(self, **kwargs):
        self.acquired += 1
        return super().acquire(**kwargs)


def test_resends_after_a_401_go_through_the_rate_limit(rec):
    # issue 16.2: a token refused after one use made every request a 401 + resend, and the
    # resend (a hook inside requests) skipped the bucket: 608 API requests a minute for 300
    from hostile_server import HostileServer, Quirks
    from hostile_server import CLIENT_ID as H_ID, CLIENT_SECRET as H_SECRET

    with HostileServer(Quirks(revoke_token_after_uses=1, in_progress_polls=4, token_lifetime_s=3600)) as srv:
        bucket = CountingBucket(60, burst=1, clock=rec.clock, sleep=rec.sleep)
        settings = Settings(client_id=H_ID, client_secret=H_SECRET, api_url=srv.url, login_url=srv.url)
        with GenesysClient(settings, clock=rec.clock, sleep=rec.sleep, rate_limiter=bucket,
                           random=lambda: 0.5) as client:
            trace = client.trace(flow_id="f", action_invocation_id="a")
        api = [path for method, path, _ in srv.log if path.startswith("/api/")]
        refused = [path for path, status in srv.statuses if status == 401]
    assert trace.analysis.steps_total > 0
    assert refused, "the server refused no token: the test tests nothing"
    assert len(api) == bucket.acquired
