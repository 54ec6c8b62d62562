"""Webhook delivery against a real receiver on 127.0.0.1: retries, key, signature, outbox."""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import hmac
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from gctrace_nb import Trace, TraceMetadata, WebhookError
from gctrace_nb.delivery import audit
from gctrace_nb.delivery import webhook
from gctrace_nb.delivery.webhook import (
    Backoff,
    Outbox,
    WebhookSender,
    build_summary,
    flush_outbox,
    post_summary,
    serialize,
)

from _webhook_receiver import Answer, Receiver, free_port

SECRET = "whsec-7d1f0c5e-test-only"
NOW = dt.datetime(2026, 11, 28, 12, 0, 0, tzinfo=dt.timezone.utc)
STEPS = [
    {"nodeId": "root", "startTime": "2026-11-28T11:59:50Z", "endTime": "2026-11-28T11:59:55Z", "status": "completed"},
    {"nodeId": "crm", "parentId": "root", "startTime": "2026-11-28T11:59:51Z",
     "endTime": "2026-11-28T11:59:54.5Z", "status": "completed"},
    {"nodeId": "pay", "parentId": "root", "startTime": "2026-11-28T11:59:51Z",
     "endTime": "2026-11-28T11:59:52Z", "status": "FAILED", "errorMessage": "card declined"},
    {"nodeId": "untimed", "parentId": "root", "status": "completed"},
]


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("GCTRACE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("GCTRACE_WEBHOOK_SECRET", raising=False)
    monkeypatch.delenv("GCTRACE_AUDIT_DIR", raising=False)
    audit.configure_audit_log(tmp_path / "audit")
    yield
    audit_logger = logging.getLogger(audit.AUDIT_LOGGER)
    for handler in list(audit_logger.handlers):  # the CLI installs its own: remove that too
        if isinstance(handler, audit.DailyAuditHandler):
            audit_logger.removeHandler(handler)
            handler.close()


@pytest.fixture
def trace() -> Trace:
    meta = TraceMetadata(source="debug", flow_id="flow-1", action_invocation_id="act-1", job_id="job-1",
                         retrieval_latency_ms=1234.5678, correlation_ids=("corr-1",))
    return Trace(STEPS, meta)


class Sleeps(list):
    """An injected sleep that records its waits (and can run a hook on each)."""

    def __init__(self, hook=None):
        super().__init__()
        self.hook = hook

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        if self.hook:
            self.hook(len(self))


def fixed_rng() -> float:
    return 0.5


def verify(received, secret=SECRET) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), received.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, received.headers.get("x-gctrace-signature-256", ""))


def all_text(tmp_path: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in tmp_path.rglob("*") if p.is_file())


# ------------------------------------------------------------------- summary
def test_summary_fields_come_from_the_analysis(trace):
    summary = build_summary(trace, now=NOW)
    assert summary == {
        "schemaVersion": 1,
        "flowId": "flow-1",
        "actionInvocationId": "act-1",
        "jobId": "job-1",
        "status": "completed",
        "bottleneckNode": trace.analysis.bottleneck.node_id,
        "bottleneckLatencyMs": trace.analysis.bottleneck.critical_ms,
        "retrievalLatencyMs": 1234.568,
        "traceAccuracyRate": 0.75,
        "totalMs": 5000.0,
        "criticalPath": ["root", "crm"],
        "failedNodes": ["pay"],
        "failedCount": 1,
        "anomalyCount": len(trace.analysis.anomalies),
        "timestamp": "2026-11-28T12:00:00.000Z",
    }
    assert summary["bottleneckNode"] == "crm" and summary["bottleneckLatencyMs"] == 3500.0


def test_summary_status_rule():
    clean = Trace([{"nodeId": "a", "startTime": 0, "endTime": 10, "status": "ok"}])
    assert build_summary(clean, now=NOW)["status"] == "completed"
    assert build_summary(clean, now=NOW)["failedCount"] == 0
    # a completed job with failed steps: the status is still the job's, the failures are counted
    failing = Trace([{"nodeId": "a", "startTime": 0, "endTime": 10, "status": "ok"},
                     {"nodeId": "b", "parentId": "a", "startTime": 1, "endTime": 2, "status": "failed"},
                     {"nodeId": "c", "parentId": "a", "startTime": 3, "endTime": 4, "status": "ERROR"}])
    summary = build_summary(failing, now=NOW)
    assert summary["status"] == "completed" and summary["failedCount"] == 2
    assert summary["failedNodes"] == ["b", "c"]
    with pytest.raises(ValueError, match="completed, failed"):
        build_summary(failing, status="completed_with_failures", now=NOW)
    empty = build_summary(Trace([]), status="failed", now=NOW)
    assert empty["status"] == "failed" and empty["bottleneckNode"] is None and empty["traceAccuracyRate"] == 0.0
    assert empty["retrievalLatencyMs"] is None
    with pytest.raises(ValueError):
        build_summary(clean, status="done")


def test_naive_now_is_utc_and_aware_now_is_converted(trace):
    assert build_summary(trace, now=dt.datetime(2026, 1, 2, 3, 4, 5))["timestamp"] == "2026-01-02T03:04:05.000Z"
    plus2 = dt.datetime(2026, 1, 2, 5, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert build_summary(trace, now=plus2)["timestamp"] == "2026-01-02T03:04:05.000Z"


# ------------------------------------------------------------------ delivery
def test_refused_then_503_then_timeout_then_429_then_success_one_key_signed(trace, tmp_path):
    port = free_port()  # nothing listens yet: the first attempt is refused
    hold = threading.Event()
    answers = [
        Answer(503, body=b"busy"),
        Answer(200, hold=hold),  # answers too late: the client times out
        Answer(429, headers={"Retry-After": "7"}),
        Answer(200),
    ]
    receiver = Receiver(lambda i, r: answers[i], port=port)
    sleeps = Sleeps(hook=lambda n: receiver.start() if n == 1 else None)
    payload = build_summary(trace, now=NOW)
    try:
        sender = WebhookSender(receiver.url, secret=SECRET, timeout=1.0, max_attempts=6,
                               backoff=Backoff(initial=1, factor=2, maximum=30),
                               sleep=sleeps, rng=fixed_rng, outbox=Outbox(tmp_path / "state"))
        with sender:
            result = sender.send(payload)
    finally:
        receiver.stop()

    assert result.delivered and result.status == 200 and result.attempts == 5
    assert not result.queued and result.error is None
    got = receiver.received
    assert len(got) == 4  # the refused attempt never arrived
    assert {r.key for r in got} == {result.idempotency_key}
    assert all(r.body == serialize(payload) for r in got)  # serialised once, sent as is
    assert all(verify(r) for r in got)
    assert json.loads(got[-1].body) == payload
    assert got[-1].headers["content-type"] == "application/json"
    # full jitter (rng 0.5) on 1, 2, 4 s caps; Retry-After obeyed exactly
    assert sleeps == [0.5, 1.0, 2.0, 7.0]
    assert len(Outbox(tmp_path / "state")) == 0


def test_bad_signature_secret_does_not_verify(trace):
    with Receiver() as receiver:
        WebhookSender(receiver.url, secret=SECRET, sleep=Sleeps()).send(build_summary(trace, now=NOW))
    assert verify(receiver.received[0])
    assert not verify(receiver.received[0], secret="other")


def test_secret_defaults_to_environment_and_no_secret_means_no_signature(trace, monkeypatch):
    monkeypatch.setenv("GCTRACE_WEBHOOK_SECRET", SECRET)
    with Receiver() as receiver:
        assert WebhookSender(receiver.url, sleep=Sleeps()).send({"a": 1}).delivered
        assert WebhookSender(receiver.url, secret=None, sleep=Sleeps()).send({"a": 1}).delivered
    assert verify(receiver.received[0])
    assert "x-gctrace-signature-256" not in receiver.received[1].headers
    assert SECRET not in repr(WebhookSender(receiver.url))


def test_retry_after_http_date_uses_the_injected_clock():
    clock_now = 1_800_000_000.0
    when = email.utils.formatdate(clock_now + 30, usegmt=True)
    answers = [Answer(429, headers={"Retry-After": when}), Answer(204, body=b"")]
    sleeps = Sleeps()
    with Receiver(lambda i, r: answers[i]) as receiver:
        result = WebhookSender(receiver.url, sleep=sleeps, clock=lambda: clock_now).send({"x": 1})
    assert result.delivered and result.status == 204 and result.attempts == 2
    assert sleeps == [30.0]


def test_retry_after_longer_than_allowed_goes_to_the_outbox(tmp_path):
    box = Outbox(tmp_path / "state")
    with Receiver(lambda i, r: Answer(429, headers={"Retry-After": "3600"})) as receiver:
        result = WebhookSender(receiver.url, sleep=Sleeps(), outbox=box,
                               backoff=Backoff(max_retry_after=60)).send({"x": 1})
    assert not result.delivered and result.queued and result.status == 429 and result.attempts == 1
    assert "Retry-After" in result.error
    assert [r.idempotency_key for r in box.records()] == [result.idempotency_key]


@pytest.mark.parametrize("status", [400, 401, 404, 422, 301])
def test_other_4xx_and_redirects_are_not_retried_and_are_reported(status, tmp_path):
    box = Outbox(tmp_path / "state")
    sleeps = Sleeps()
    answer = Answer(status, headers={"Location": "http://127.0.0.1:9/elsewhere"},
                    body=b'{"message":"schema violation: flowId missing"}')
    with Receiver(lambda i, r: answer) as receiver:
        result = WebhookSender(receiver.url, sleep=sleeps, outbox=box).send({"x": 1})
    assert len(receiver.received) == 1 and sleeps == []
    assert not result.delivered and result.rejected and not result.queued
    assert result.status == status and result.attempts == 1
    assert "schema violation" in result.error
    assert len(box) == 0
    assert result.to_json()["delivered"] is False and result.to_json()["status"] == status


def test_invalid_url_is_a_webhook_error():
    with pytest.raises(WebhookError):
        WebhookSender("ftp://example.com/x")
    with pytest.raises(WebhookError):
        WebhookSender("not a url")


# --------------------------------------------------------------------- outbox
def test_receiver_down_for_good_then_up_flush_delivers_the_first_build(trace, tmp_path):
    state = tmp_path / "state"
    port = free_port()
    url = f"http://127.0.0.1:{port}/hooks/trace"
    payload = build_summary(trace, now=NOW)
    first_build = serialize(payload)
    sleeps = Sleeps()
    result = post_summary(trace, url, now=NOW, secret=SECRET, max_attempts=3, sleep=sleeps,
                          outbox=Outbox(state))
    assert not result.delivered and result.queued and result.attempts == 3 and result.status is None
    assert "ConnectionError" in result.error
    assert len(sleeps) == 2
    records = Outbox(state).records()
    assert len(records) == 1
    assert records[0].body.encode("utf-8") == first_build
    assert records[0].url == url and records[0].attempts == 3
    assert records[0].idempotency_key == result.idempotency_key
    outbox_text = (state / webhook.OUTBOX_FILE).read_text()
    assert SECRET not in outbox_text and "sha256=" not in outbox_text

    with Receiver(port=port) as receiver:
        flushed = flush_outbox(state, secret=SECRET, sleep=Sleeps())
    assert len(flushed.delivered) == 1 and flushed.remaining == 0 and flushed.failed is None
    assert len(receiver.received) == 1
    got = receiver.received[0]
    assert got.body == first_build  # byte-identical to the first build
    assert got.key == result.idempotency_key  # the key survives the outbox
    assert verify(got)  # signature recomputed from the same bytes
    assert Outbox(state).records() == []
    assert SECRET not in all_text(tmp_path)


def test_flush_stops_at_a_transient_failure_and_keeps_order(tmp_path):
    box = Outbox(tmp_path / "state")
    keys = [f"key-{i}" for i in range(4)]
    with Receiver() as receiver:
        url = receiver.url
        for k in keys:
            box.append(url, json.dumps({"n": k}), k)
        # answer: ok, 503 for ever after
        receiver.plan = lambda i, r: Answer(200) if i == 0 else Answer(503)
        result = flush_outbox(box, max_attempts=2, sleep=Sleeps())
        assert [r.key for r in receiver.received] == ["key-0", "key-1", "key-1"]
        assert result.failed.idempotency_key == "key-1" and result.remaining == 3
        remaining = box.records()
        assert [r.idempotency_key for r in remaining] == keys[1:]
        assert remaining[0].attempts == 2 and remaining[0].last_status == 503
        receiver.plan = lambda i, r: Answer(200)
        result = flush_outbox(box, sleep=Sleeps())
    assert result.remaining == 0 and len(result.delivered) == 3
    assert [r.key for r in receiver.received][3:] == keys[1:]


def test_flush_keeps_a_rejected_record_and_goes_on(tmp_path):
    box = Outbox(tmp_path / "state")
    with Receiver(lambda i, r: Answer(410) if r.key == "b" else Answer(200)) as receiver:
        for k in "abc":
            box.append(receiver.url, "{}", k)
        result = flush_outbox(box, sleep=Sleeps())
    assert [r.key for r in receiver.received] == ["a", "b", "c"]
    assert [r.idempotency_key for r in result.rejected] == ["b"]
    assert [r.idempotency_key for r in box.records()] == ["b"]
    assert box.records()[0].last_status == 410


def test_torn_last_line_does_not_swallow_the_next_record(tmp_path):
    box = Outbox(tmp_path / "state")
    box.append("http://127.0.0.1:9/x", "{}", "first")
    with open(box.path, "a") as fh:
        fh.write('{"url": "http://127.0.0.1:9/x", "bo')  # a crash mid-append
    box.append("http://127.0.0.1:9/x", "{}", "second")
    assert [r.idempotency_key for r in box.records()] == ["first", "second"]
    box.remove("first")
    assert [r.idempotency_key for r in box.records()] == ["second"]
    assert '"bo' in box.path.read_text()  # unreadable lines are kept, never silently dropped


def test_two_flushes_do_not_interleave_and_appends_during_a_flush_survive(tmp_path):
    box = Outbox(tmp_path / "state")
    hold = threading.Event()
    with Receiver(lambda i, r: Answer(200, hold=hold if i == 0 else None)) as receiver:
        box.append(receiver.url, "{}", "one")
        results = []
        first = threading.Thread(target=lambda: results.append(flush_outbox(box, sleep=Sleeps())))
        first.start()
        assert receiver.wait_for(1)
        with pytest.raises(WebhookError, match="already running"):
            flush_outbox(box, wait=False, sleep=Sleeps())
        box.append(receiver.url, "{}", "two")  # appended while the first flush is mid-send
        hold.set()
        first.join(30)
    assert [r.key for r in receiver.received] == ["one"]
    assert len(results[0].delivered) == 1
    assert [r.idempotency_key for r in box.records()] == ["two"]


_FLUSH_IN_CHILD = """
import sys
from gctrace_nb.delivery.webhook import flush_outbox
flush_outbox(sys.argv[1], timeout=120, max_attempts=1)
"""


def test_kill_during_flush_loses_nothing(tmp_path):
    state = tmp_path / "state"
    box = Outbox(state)
    hold = threading.Event()
    keys = [f"rec-{i}" for i in range(5)]
    # the 2nd request blocks until the child has been killed
    receiver = Receiver(lambda i, r: Answer(200, hold=hold if i == 1 else None)).start()
    try:
        for i, k in enumerate(keys):
            box.append(receiver.url, json.dumps({"n": i}), k)
        bodies = {r.idempotency_key: r.body.encode() for r in box.records()}
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
        child = subprocess.Popen([sys.executable, "-c", _FLUSH_IN_CHILD, str(state)], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            assert receiver.wait_for(2, timeout=60), child.stderr.read() if child.poll() is not None else ""
            child.send_signal(signal.SIGKILL)
            assert child.wait(30) == -signal.SIGKILL
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
            child.stderr.close()
        hold.set()
        assert [r.key for r in receiver.received] == keys[:2]
        assert [r.idempotency_key for r in box.records()] == keys[1:]  # the 1st was removed, nothing else

        result = flush_outbox(state, sleep=Sleeps())
    finally:
        receiver.stop()
    assert result.remaining == 0 and box.records() == []
    arrived = [r.key for r in receiver.received]
    assert set(arrived) == set(keys)  # every record arrived at least once
    assert arrived.count("rec-0") == 1 and arrived.count("rec-1") == 2
    assert all(r.body == bodies[r.key] for r in receiver.received)


def test_interrupted_send_is_queued(tmp_path):
    box = Outbox(tmp_path / "state")

    def interrupt(_seconds):
        raise KeyboardInterrupt

    with Receiver(lambda i, r: Answer(503)) as receiver:
        with pytest.raises(KeyboardInterrupt):
            WebhookSender(receiver.url, sleep=interrupt, outbox=box).send({"x": 1})
    assert [r.body for r in box.records()] == ['{"x":1}']


# ---------------------------------------------------------------------- audit
def test_failures_are_audited_without_secret_or_url_path(tmp_path):
    token_url_path = "/hooks/T000/B000/sEcReTpAtH?token=abc123"
    with Receiver(lambda i, r: Answer(503) if i == 0 else Answer(400, body=b"nope")) as receiver:
        url = f"http://127.0.0.1:{receiver.port}{token_url_path}"
        result = WebhookSender(url, secret=SECRET, sleep=Sleeps(), outbox=Outbox(tmp_path / "state")).send({"x": 1})
    assert result.rejected and result.attempts == 2
    lines = [json.loads(line) for line in (tmp_path / "audit").glob("audit-*.jsonl").__next__().read_text().splitlines()]
    events = [line["event"] for line in lines]
    assert events == ["webhook_attempt_failed", "webhook_rejected"]
    assert lines[0]["http_status"] == 503 and lines[1]["http_status"] == 400
    assert lines[1]["idempotency_key"] == result.idempotency_key
    text = all_text(tmp_path / "audit")
    for secret in (SECRET, "sEcReTpAtH", "abc123"):
        assert secret not in text


# ------------------------------------------------------------------------ CLI
def _run_cli(argv, capsys):
    from gctrace_nb.cli.app import main

    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_send_then_flush(trace, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GCTRACE_WEBHOOK_SECRET", SECRET)
    saved = trace.save(tmp_path / "trace.json")
    state = tmp_path / "cli-state"
    port = free_port()
    url = f"http://127.0.0.1:{port}/hooks/trace"
    code, out, err = _run_cli(["webhook", "send", str(saved), "--url", url, "--max-attempts", "1",
                               "--timeout", "2", "--state-dir", str(state)], capsys)
    assert code == 5, err
    sent = json.loads(out)
    assert sent["delivered"] is False and sent["queued"] is True and sent["attempts"] == 1
    queued = Outbox(state).records()
    assert [r.idempotency_key for r in queued] == [sent["idempotency_key"]]

    with Receiver(port=port) as receiver:
        code, out, err = _run_cli(["webhook", "flush", "--state-dir", str(state)], capsys)
    assert code == 0, err
    assert json.loads(out)["delivered"] == 1 and json.loads(out)["remaining"] == 0
    (got,) = receiver.received
    assert got.body == queued[0].body.encode() and got.key == sent["idempotency_key"] and verify(got)
    assert json.loads(got.body)["flowId"] == "flow-1"
    assert Outbox(state).records() == []
    audit_files = list((state / "audit").glob("audit-*.jsonl"))
    assert audit_files, "the CLI writes its audit log under the state dir"
    events = [json.loads(line)["event"] for f in audit_files for line in f.read_text().splitlines()]
    assert "webhook_queued" in events and "webhook_delivered" in events
    assert SECRET not in all_text(tmp_path) and SECRET not in out + err


def test_cli_send_delivered_and_rejected(trace, tmp_path, capsys):
    saved = trace.save(tmp_path / "trace.json")
    with Receiver(lambda i, r: Answer(200) if i == 0 else Answer(403, body=b"forbidden")) as receiver:
        args = ["webhook", "send", str(saved), "--url", receiver.url, "--state-dir", str(tmp_path / "s")]
        code, out, _ = _run_cli(args, capsys)
        assert code == 0 and json.loads(out) == {
            "delivered": True, "attempts": 1, "status": 200, "idempotency_key": receiver.received[0].key}
        code, out, _ = _run_cli(args, capsys)
        assert code == 1 and json.loads(out)["status"] == 403 and json.loads(out)["rejected"] is True
    assert len(receiver.received) == 2


def test_cli_send_bad_input(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GCTRACE_WEBHOOK_URL", raising=False)
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    code, _, err = _run_cli(["webhook", "send", str(bad), "--url", "http://127.0.0.1:9/x",
                             "--state-dir", str(tmp_path)], capsys)
    assert code == 2 and "bad.json" in err
    good = tmp_path / "t.json"
    good.write_text("[]")
    code, _, err = _run_cli(["webhook", "send", str(good), "--url", "ftp://x/y", "--state-dir", str(tmp_path)], capsys)
    assert code == 2 and "http" in err
    code, _, err = _run_cli(["webhook", "send", str(good), "--state-dir", str(tmp_path)], capsys)
    assert code == 2 and "GCTRACE_WEBHOOK_URL" in err


def test_simulator_sink_receives_a_signed_summary_after_failures(trace):
    from gctrace_nb.simulator import Faults, Simulator

    with Simulator(faults=Faults(webhook_fail_first=2)) as sim:
        sleeps = Sleeps()
        result = post_summary(trace, sim.webhook_url, now=NOW, secret=SECRET, sleep=sleeps, outbox=None)
        deliveries = sim.webhook_deliveries
    assert result.delivered and result.attempts == 3 and len(sleeps) == 2
    assert [d.status for d in deliveries] == [503, 503, 200]
    keys = {{k.lower(): v for k, v in d.headers.items()}["idempotency-key"] for d in deliveries}
    assert keys == {result.idempotency_key}
    assert deliveries[-1].json() == build_summary(trace, now=NOW)
    sig = {k.lower(): v for k, v in deliveries[-1].headers.items()}["x-gctrace-signature-256"]
    assert webhook.verify_signature(deliveries[-1].body, sig, SECRET)


def test_an_unwritable_outbox_is_reported_not_raised(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with Receiver(lambda i, r: Answer(503)) as receiver:
        result = WebhookSender(receiver.url, max_attempts=1, sleep=Sleeps(),
                               outbox=Outbox(blocker / "state")).send({"x": 1})
    assert not result.delivered and not result.queued and "outbox not written" in result.error
    events = [json.loads(line)["event"] for f in (tmp_path / "audit").glob("*.jsonl") for line in f.read_text().splitlines()]
    assert events[-1] == "webhook_outbox_failed"


def test_backoff_caps_and_never_overflows():
    b = Backoff(initial=0.5, factor=2.0, maximum=30.0)
    assert [b.cap(n) for n in (1, 2, 3, 7, 5000)] == [0.5, 1.0, 2.0, 30.0, 30.0]
    assert b.delay(3, rng=lambda: 0.25) == 0.5
    with pytest.raises(ValueError):
        Backoff(factor=0.5)
