"""End to end against the bundled simulator over real sockets.

The simulator and the client share one fake monotonic clock (:class:`SleepRecorder`):
the client's injected sleep advances it, so token lifetimes, job durations,
``Retry-After`` waits, the breaker and the deadline all play out without real
sleeping, and every wait is measured from the recorder, not assumed.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
import threading

import pytest
import requests

from gctrace_nb import Trace, load_trace
from gctrace_nb.cli.app import main
from gctrace_nb.api.client import GenesysClient
from gctrace_nb.api.config import Settings
from gctrace_nb.errors import (
    AuthError,
    BadRequest,
    CircuitOpen,
    JobFailed,
    NotFound,
    PermissionDenied,
    TraceRequestInvalid,
)
from gctrace_nb.api.ratelimit import TokenBucket
from gctrace_nb.api.request import TraceRequest
from gctrace_nb.api.retry import RetryPolicy

from http_fixtures import SleepRecorder

Simulator = pytest.importorskip("gctrace_nb.simulator").Simulator
Faults = pytest.importorskip("gctrace_nb.simulator").Faults

SECRET = "sim-secret-DO-NOT-SHOW-9f3a"


@pytest.fixture
def rec():
    return SleepRecorder()


def sim_for(rec, **kw):
    kw.setdefault("job_duration_s", 5.0)
    return Simulator(seed=11, client_id="sim-id", client_secret=SECRET, clock=rec.clock, **kw)


def client_for(sim, rec, *, unlimited=True, **kw):
    client_id, secret = sim.credentials
    settings = Settings(client_id=client_id, client_secret=secret, api_url=sim.api_url, login_url=sim.login_url)
    if unlimited:  # keep the recorder's sleeps to retry waits only
        kw.setdefault("rate_limiter", TokenBucket(10**6, burst=10**6, clock=rec.clock, sleep=rec.sleep))
    kw.setdefault("random", lambda: 0.5)
    return GenesysClient(settings, clock=rec.clock, sleep=rec.sleep, **kw)


def api(sim, prefix="/api/v2/"):
    return [r for r in sim.requests if r.path.startswith(prefix)]


def tokens(sim):
    return [r for r in sim.requests if r.path == "/oauth/token"]


def test_trace_returns_exactly_the_served_steps(rec):
    with sim_for(rec) as sim:
        events = []
        trace = client_for(sim, rec).trace(flow_id="inbound-main", action_invocation_id="inv-1",
                                           on_progress=events.append)
        job = sim.jobs[trace.metadata.job_id]
        assert isinstance(trace, Trace) and trace.raw_steps == job.steps
        assert trace.analysis.to_json() == load_trace(job.steps).analysis.to_json()
        assert trace.metadata.request == job.request
        assert rec.total >= 5.0  # the job stayed in_progress for its duration
        assert events[-1].status == "completed" and all(e.status != "completed" for e in events[:-1])
        polls = [r for r in api(sim) if r.path.startswith("/api/v2/jobs/")]
        assert [r.status for r in polls] == [200] * len(polls) and len(polls) >= 2
        assert set(trace.metadata.correlation_ids) <= {r.correlation_id for r in sim.requests}
        assert len(trace.metadata.correlation_ids) == len(api(sim))


@pytest.mark.parametrize("location_style", ["absolute", "relative", "bare", "body"])
@pytest.mark.parametrize("result_style", ["object", "list"])
def test_location_and_result_styles(rec, location_style, result_style):
    with sim_for(rec, faults=Faults(location_style=location_style, result_style=result_style)) as sim:
        trace = client_for(sim, rec).trace(flow_id="f", action_invocation_id="a")
        assert trace.raw_steps == sim.jobs[trace.metadata.job_id].steps


def test_token_reused_then_refreshed_ahead_of_expiry_with_short_lifetimes(rec):
    with sim_for(rec, token_lifetime_s=6, job_duration_s=60) as sim:
        client_for(sim, rec, policy=RetryPolicy(initial_s=1, factor=1.5, max_delay_s=4, min_delay_s=0)).trace(
            flow_id="f", action_invocation_id="a")
        assert all(r.status != 401 for r in sim.requests)  # refreshed before it expired, never after
        n_tokens, n_api = len(tokens(sim)), len(api(sim))
        assert n_tokens >= 60 / 6  # one per 5 s (5/6 of 6 s) of the job's minute, roughly
        assert n_tokens < n_api  # and reused between refreshes
        # each token was used for at most 5 s of fake time
        assert n_tokens <= rec.total / 5.0 + 2


def test_401_mid_poll_fetches_a_new_token_and_carries_on(rec):
    with sim_for(rec) as sim:
        done = []

        def on_progress(event):
            if event.status == "in_progress" and not done:
                sim.revoke_tokens()
                done.append(True)

        trace = client_for(sim, rec).trace(flow_id="f", action_invocation_id="a", on_progress=on_progress)
        assert trace.analysis.steps_total > 0
        assert [r.status for r in api(sim)].count(401) == 1
        assert len(tokens(sim)) == 2


def test_429_with_retry_after_seconds_waits_what_the_server_asked(rec):
    with sim_for(rec, faults=Faults(rate_429=0.5, retry_after_s=4, retry_after_style="seconds")) as sim:
        events = []
        client_for(sim, rec).trace(flow_id="f", action_invocation_id="a", on_progress=events.append)
        n429 = [r.status for r in api(sim)].count(429)
        assert n429 >= 2
        retry_waits = [e.wait_s for e in events if e.status == "retrying"]
        assert retry_waits == [4.0] * n429
        assert all(e.retry_after_s == 4.0 for e in events if e.status == "retrying")
        # the recorder saw each of those waits, plus the poll backoffs
        assert sorted(rec.sleeps).count(4.0) >= n429


def test_429_with_an_http_date_waits_until_that_date(rec):
    with sim_for(rec, faults=Faults(rate_429=1.0, retry_after_s=3, retry_after_style="http-date")) as sim:
        client = client_for(sim, rec)
        sim_clear = []

        def on_progress(event):
            if event.status == "retrying" and not sim_clear:
                sim.set_faults(rate_429=0.0)
                sim_clear.append(event)

        client.submit_debug_trace(TraceRequest("f", "a"), on_progress=on_progress)
        (event,) = sim_clear
        assert rec.sleeps == [event.wait_s]
        assert 2.0 <= rec.sleeps[0] <= 4.0  # whole-second HTTP date, 3 s ahead


def test_429_without_retry_after_waits_three_seconds(rec):
    with sim_for(rec, faults=Faults(rate_429=1.0, retry_after_style="none")) as sim:
        cleared = []

        def on_progress(event):
            if event.status == "retrying" and len(cleared) == 1:
                sim.set_faults(rate_429=0.0)
            cleared.append(event)

        client_for(sim, rec).submit_debug_trace(TraceRequest("f", "a"), on_progress=on_progress)
        assert rec.sleeps == [3.0, 3.0]
        assert [r.status for r in api(sim)] == [429, 429, 202]


def test_5xx_burst_is_survived_with_backoff(rec):
    with sim_for(rec, faults=Faults(burst_5xx=5)) as sim:
        trace = client_for(sim, rec, random=lambda: 1.0,
                           policy=RetryPolicy(initial_s=1, factor=2, min_delay_s=0)).trace(
            flow_id="f", action_invocation_id="a")
        statuses = [r.status for r in api(sim)]
        assert statuses[:6] == [502, 503, 504, 502, 503, 202]
        assert rec.sleeps[:5] == [1.0, 2.0, 4.0, 8.0, 16.0]
        assert trace.raw_steps == sim.jobs[trace.metadata.job_id].steps


def test_failed_job_raises_with_the_server_message(rec):
    with sim_for(rec, faults=Faults(fail_job=True, fail_job_message="Payment action timed out")) as sim:
        with pytest.raises(JobFailed, match="Payment action timed out") as info:
            client_for(sim, rec).trace(flow_id="f", action_invocation_id="a")
        assert info.value.job_id in sim.jobs


def test_outage_ends_in_the_breaker_inside_the_deadline(rec):
    with sim_for(rec) as sim:
        def on_progress(event):
            if event.status == "submitted":
                sim.set_faults(outage=True)

        with pytest.raises(CircuitOpen) as info:
            client_for(sim, rec, random=lambda: 1.0).trace(flow_id="f", action_invocation_id="a",
                                                           on_progress=on_progress)
        assert info.value.last_status == 503
        assert 300 <= rec.total < 600


def test_a_400_from_the_service_is_surfaced_verbatim(rec):
    with sim_for(rec) as sim:
        client = client_for(sim, rec)
        with pytest.raises(BadRequest) as info:
            client.request("POST", "/api/v2/flows/f/debug",
                           json={"flowId": "f", "actionInvocationId": "a", "traceDepth": 99,
                                 "contextDirectives": {"captureContext": True}, "enableAsync": True})
        assert info.value.message == "traceDepth must be between 1 and 50, got 99"
        assert info.value.code == "bad.request" and info.value.context_id
        assert info.value.correlation_id == api(sim)[-1].correlation_id


def test_invalid_input_sends_nothing(rec):
    with sim_for(rec) as sim:
        client = client_for(sim, rec)
        for kwargs in ({"depth": 0}, {"depth": 51}, {"capture_context": False, "capture_data": False},
                       {"simulated_inputs": {"when": object()}}):
            with pytest.raises(TraceRequestInvalid):
                client.trace(flow_id="f", action_invocation_id="a", **kwargs)
        with pytest.raises(TraceRequestInvalid):
            client.trace(flow_id="", action_invocation_id="a")
        assert sim.requests == []


def test_permission_and_missing_flow(rec):
    with sim_for(rec) as sim:
        client = client_for(sim, rec)
        with pytest.raises(NotFound, match="flow missing-flow not found"):
            client.trace(flow_id="missing-flow", action_invocation_id="a")
        sim.set_faults(forbidden=True)
        with pytest.raises(PermissionDenied, match="lacks a permission.*architect:flow:debug"):
            client.trace(flow_id="f", action_invocation_id="a")


class ClockedSession(requests.Session):
    """Notes the injected clock at each API send (a seam, not a patch)."""

    def __init__(self, clock):
        super().__init__()
        self.clock = clock
        self.sent: list[float] = []
        self._lock = threading.Lock()

    def send(self, request, **kwargs):
        if "/api/" in request.url:
            with self._lock:
                self.sent.append(self.clock())
        return super().send(request, **kwargs)


def test_trace_many_never_bursts_past_the_shared_rate(rec):
    with sim_for(rec, job_duration_s=3) as sim:
        session = ClockedSession(rec.clock)
        start = rec.clock()
        bucket = TokenBucket(60, burst=3, clock=rec.clock, sleep=rec.sleep)
        client = client_for(sim, rec, unlimited=False, session=session, rate_limiter=bucket)
        reqs = [TraceRequest(f"flow-{i}", f"inv-{i}") for i in range(8)]
        traces = client.trace_many(reqs, max_workers=4)
        assert [t.metadata.flow_id for t in traces] == [r.flow_id for r in reqs]
        assert all(t.raw_steps == sim.jobs[t.metadata.job_id].steps for t in traces)
        times = sorted(session.sent)
        assert len(times) == len(api(sim)) >= 8 * 2
        # by any instant t, at most burst + rate * (t - start) requests went out (1 per second here)
        for k, sent_at in enumerate(times, start=1):
            assert sent_at >= start + (k - 3) * 1.0, (k, sent_at - start)


def test_no_secret_or_token_in_reprs_errors_logs_or_saved_traces(rec, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    with sim_for(rec, token_lifetime_s=4) as sim:
        client = client_for(sim, rec)
        trace = client.trace(flow_id="f", action_invocation_id="a")
        issued = [client.auth.token()]
        texts += [repr(client), repr(client.auth), repr(client.settings), str(client.settings), repr(trace),
                  repr(trace.metadata), json.dumps(trace.to_json()), trace.save(tmp_path / "t.json").read_text()]
        for faults in ({"fail_job": True}, {"forbidden": True}):
            sim.set_faults(**faults)
            try:
                client.trace(flow_id="f", action_invocation_id="a")
            except Exception as exc:  # noqa: BLE001
                texts += [str(exc), repr(exc), repr(getattr(exc, "body", None))]
        bad = Settings(client_id="sim-id", client_secret="WRONG" + SECRET, api_url=sim.api_url, login_url=sim.login_url)
        with pytest.raises(AuthError) as info:
            GenesysClient(bad, clock=rec.clock, sleep=rec.sleep).trace(flow_id="f", action_invocation_id="a")
        texts += [str(info.value), repr(info.value.body)]
    texts += [r.getMessage() for r in caplog.records]
    basic = base64.b64encode(f"sim-id:{SECRET}".encode()).decode()
    for text in texts:
        assert SECRET not in text and basic not in text
        assert not any(tok in text for tok in issued)


# ---------------------------------------------------------------------- the CLI


@pytest.fixture
def sim_env(monkeypatch, tmp_path):
    # keep the CLI's audit log and webhook outbox out of the home directory
    monkeypatch.setenv("GCTRACE_STATE_DIR", str(tmp_path / "state"))
    for name in ("GCTRACE_WEBHOOK_URL", "GCTRACE_AUDIT_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name in ("GENESYS_REGION", "GENESYS_API_URL", "GENESYS_LOGIN_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GENESYS_CLIENT_ID", "sim-id")
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", SECRET)


def cli_args(sim, *extra):
    return ["trace", "--flow-id", "inbound-main", "--action-id", "inv-7", "--api-url", sim.api_url,
            "--login-url", sim.login_url, "--format", "json", *extra]


def test_cli_survives_a_hostile_simulator_and_matches_analyze(sim_env, capsys, tmp_path):
    faults = Faults(rate_429=0.5, retry_after_s=1, burst_5xx=3)
    with Simulator(seed=2, client_id="sim-id", client_secret=SECRET, token_lifetime_s=2, job_duration_s=1.5,
                   faults=faults) as sim:
        saved = tmp_path / "trace.json"
        code = main(cli_args(sim, "--save", str(saved)))
        out, err = capsys.readouterr()
        assert code == 0, err
        data = json.loads(out)
        job = sim.jobs[data["job_id"]]
        expected = load_trace(job.steps).analysis.to_json()
        assert {k: data[k] for k in expected} == expected
        assert main(["analyze", str(saved), "--format", "json"]) == 0
        analyzed = json.loads(capsys.readouterr().out)
        analyzed.pop("file", None)
        assert {k: data[k] for k in analyzed} == analyzed
        statuses = [r.status for r in sim.requests]
        assert 429 in statuses and 502 in statuses and 503 in statuses
        assert "retrying" in err and SECRET not in out + err


@pytest.mark.parametrize("faults,code", [
    (Faults(fail_job=True), 3),
    (Faults(forbidden=True), 4),
])
def test_cli_exit_codes(sim_env, capsys, faults, code):
    with Simulator(seed=1, client_id="sim-id", client_secret=SECRET, job_duration_s=0.2, faults=faults) as sim:
        assert main(cli_args(sim)) == code
        err = capsys.readouterr().err
        if code == 3:
            assert faults.fail_job_message in err


def test_cli_invalid_input_and_bad_credentials(sim_env, capsys, monkeypatch):
    with Simulator(seed=1, client_id="sim-id", client_secret=SECRET) as sim:
        assert main(cli_args(sim, "--depth", "99")) == 2
        assert sim.requests == []
        monkeypatch.setenv("GENESYS_CLIENT_SECRET", "nope")
        assert main(cli_args(sim)) == 4


def test_cli_gives_up_exit_5(sim_env, capsys):
    with Simulator(seed=1, client_id="sim-id", client_secret=SECRET, faults=Faults(outage=True)) as sim:
        assert main(cli_args(sim, "--timeout", "1")) == 5
        assert "gave up" in capsys.readouterr().err


def test_cli_in_a_subprocess(sim_env):
    with Simulator(seed=3, client_id="sim-id", client_secret=SECRET, job_duration_s=0.2) as sim:
        proc = subprocess.run([sys.executable, "-m", "gctrace_nb", *cli_args(sim)], capture_output=True, text=True,
                              env=dict(os.environ), timeout=120)
        assert proc.returncode == 0, proc.stderr
        data = json.loads(proc.stdout)
        assert data["steps"] == len(sim.jobs[data["job_id"]].steps)
        assert SECRET not in proc.stdout + proc.stderr
        failing = subprocess.run([sys.executable, "-m", "gctrace_nb", *cli_args(sim, "--depth", "0")],
                                 capture_output=True, text=True, env=dict(os.environ), timeout=120)
        assert failing.returncode == 2


def test_token_endpoint_faults_are_survived(rec):
    with sim_for(rec, faults=Faults(token_faults=True, burst_5xx=2)) as sim:
        trace = client_for(sim, rec).trace(flow_id="f", action_invocation_id="a")
        assert trace.raw_steps == sim.jobs[trace.metadata.job_id].steps
        assert [r.status for r in tokens(sim)] == [502, 503, 200]


# ----------------------------------------------------------- polling cadence (issue 15)

@pytest.mark.parametrize("jitter", [0.0, 0.5, 0.999])
def test_a_running_job_is_polled_at_most_5_s_apart_and_noticed_soon_after_it_ends(rec, jitter):
    with sim_for(rec, job_duration_s=60.0) as sim, client_for(sim, rec, random=lambda: jitter) as client:
        events = []
        started = rec.clock()
        client.trace(flow_id="f", action_invocation_id="a", on_progress=events.append)
        finished = rec.clock() - started
        waits = [e.wait_s for e in events if e.status == "in_progress"]
    assert waits and max(waits) <= 5.0, waits
    assert max(rec.sleeps) <= 5.0
    # the job ran 60 s (fake clock); the client noticed within one capped wait of its end
    assert 60.0 <= finished <= 65.0, finished


def test_retry_after_on_a_running_job_still_wins_over_the_cap(rec):
    with sim_for(rec, job_duration_s=30.0, faults=Faults(job_retry_after_s=12)) as sim, \
            client_for(sim, rec, random=lambda: 0.999) as client:
        events = []
        client.trace(flow_id="f", action_invocation_id="a", on_progress=events.append)
    running = [e for e in events if e.status == "in_progress"]
    assert running and all(e.wait_s == 12.0 and e.retry_after_s == 12.0 for e in running)
    assert "Retry-After" in running[0].message
    assert rec.sleeps.count(12.0) == len(running)


def test_poll_delay_grows_to_the_5_s_cap_while_failure_backoff_keeps_its_own():
    from gctrace_nb.api.retry import RetryPolicy as Policy

    policy = Policy()
    assert [round(policy.poll_delay(n, random=lambda: 1.0), 3) for n in range(1, 8)] == [1, 2, 4, 5, 5, 5, 5]
    assert policy.backoff(6, random=lambda: 1.0) == 30.0  # transient failures keep their own, longer backoff
    with pytest.raises(ValueError, match="poll_max_delay_s"):
        Policy(poll_max_delay_s=0)
