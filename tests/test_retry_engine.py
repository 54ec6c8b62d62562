"""One retry engine: the API client, a download and a webhook retry the same way.

Each sender faces the same scripted answers from a small server on 127.0.0.1 (a
dropped connection, a 503, a 429 with ``Retry-After``, then success) and, with
the same backoff and jitter, must wait the same schedule, report the same
progress and give up the same way. Real sockets; only the sleeps are recorded.
"""

from __future__ import annotations

import email.utils
import json
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from gctrace_nb.api.client import GenesysClient
from gctrace_nb.api.config import Settings
from gctrace_nb.api.downloads import download_entity_bytes
from gctrace_nb.api.options import CallOptions
from gctrace_nb.api.ratelimit import TokenBucket
from gctrace_nb.api.retry import RetryEngine, RetryPolicy
from gctrace_nb.delivery import audit
from gctrace_nb.delivery.webhook import Backoff, WebhookSender
from gctrace_nb.errors import Cancelled, RetriesExhausted

from http_fixtures import SleepRecorder

NOW = datetime(2026, 3, 1, 9, 0, 0, tzinfo=timezone.utc)
DROP = "drop"  # close the connection without an answer


class Flaky:
    """Answers every request but the token's from ``script`` in order, then 200 with a JSON body."""

    def __init__(self, script: list) -> None:
        self.script = list(script)
        self.seen: list[tuple[str, str]] = []
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                if self.path == "/oauth/token":
                    answer: Any = (200, {}, {"access_token": "tok", "token_type": "bearer", "expires_in": 3600})
                else:
                    with lock:
                        outer.seen.append((self.command, self.path))
                        answer = outer.script.pop(0) if outer.script else (200, {}, {"ok": True})
                if answer == DROP:
                    self.close_connection = True
                    return
                status, headers, payload = answer
                data = json.dumps(payload).encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def __enter__(self) -> "Flaky":
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def script() -> list:
    return [DROP, (503, {}, {"message": "busy"}), (429, {"Retry-After": "7"}, {"message": "slow down"})]


#: full jitter at 0.5 on caps of 1 and 2 s, then the Retry-After exactly
SCHEDULE = [0.5, 1.0, 7.0]


@pytest.fixture(autouse=True)
def _audit_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GCTRACE_STATE_DIR", str(tmp_path / "state"))
    audit.configure_audit_log(tmp_path / "audit")


def make_client(url: str, rec: SleepRecorder, **policy: Any) -> GenesysClient:
    settings = Settings(client_id="id", client_secret="secret", api_url=url, login_url=url, timeout=5.0)
    return GenesysClient(settings, clock=rec.clock, sleep=rec.sleep, random=lambda: 0.5, utcnow=lambda: NOW,
                         policy=RetryPolicy(initial_s=1, factor=2, min_delay_s=0, **policy),
                         rate_limiter=TokenBucket(6000, burst=100, clock=rec.clock, sleep=rec.sleep))


def retries(events: list) -> list[tuple]:
    return [(e.attempt, e.http_status, e.wait_s, e.retry_after_s) for e in events if e.status == "retrying"]


def audit_lines(tmp_path, event: str) -> list[dict]:
    lines = [json.loads(line) for f in sorted((tmp_path / "audit").glob("*.jsonl"))
             for line in f.read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line["event"] == event]


def test_client_download_and_webhook_wait_the_same_schedule(tmp_path):
    # the API client
    rec, events = SleepRecorder(), []
    with Flaky(script()) as server, make_client(server.url, rec) as client:
        resp = client.request("GET", "/api/v2/anything", on_progress=events.append)
        assert resp.status_code == 200 and len(server.seen) == 4
    assert rec.sleeps == SCHEDULE
    client_events = retries(events)
    assert client_events == [(1, None, 0.5, None), (2, 503, 1.0, None), (3, 429, 7.0, 7.0)]

    # a download of a pre-signed link (no token, no rate limit), through the client's engine
    rec, events = SleepRecorder(), []
    with Flaky(script()) as server, make_client(server.url, rec) as client:
        data = download_entity_bytes(client, {"id": "i1", "downloadUri": f"{server.url}/dl/i1?sig=x"},
                                     on_progress=events.append)
        assert json.loads(data) == {"ok": True} and len(server.seen) == 4
    assert rec.sleeps == SCHEDULE
    assert retries(events) == client_events

    # a webhook delivery with the same backoff
    rec = SleepRecorder()
    with Flaky(script()) as server:
        result = WebhookSender(server.url + "/hook", secret=None, sleep=rec.sleep, rng=lambda: 0.5,
                               backoff=Backoff(initial=1, factor=2, maximum=30), max_attempts=10).send({"x": 1})
        assert len(server.seen) == 4
    assert result.delivered and result.attempts == 4 and result.status == 200
    assert rec.sleeps == SCHEDULE
    failed = audit_lines(tmp_path, "webhook_attempt_failed")
    assert [(line["attempt"], line.get("http_status")) for line in failed] == [(1, None), (2, 503), (3, 429)]


def test_the_webhook_backoff_is_the_policy_maths():
    backoff = Backoff(initial=0.5, factor=3, maximum=20)
    policy = RetryPolicy(initial_s=0.5, factor=3, max_delay_s=20, min_delay_s=0)
    for n in (1, 2, 3, 4, 5, 60, 5000):
        for r in (0.0, 0.3, 0.999):
            assert backoff.delay(n, rng=lambda: r) == policy.backoff(n, random=lambda: r)
        assert backoff.cap(n) == policy.ceiling(n)
    assert WebhookSender("http://127.0.0.1:9/h", backoff=backoff, max_attempts=3).policy.max_attempts == 3


def test_an_http_date_retry_after_is_read_against_each_senders_own_wall_clock(tmp_path):
    """The client reads it against ``utcnow``, the webhook against its ``clock``: both wait 30 s."""
    when = email.utils.format_datetime(NOW.replace(second=30), usegmt=True)
    answers = [(503, {"Retry-After": when}, {})]
    rec = SleepRecorder()
    with Flaky(answers) as server, make_client(server.url, rec) as client:
        client.request("GET", "/api/v2/x")
    assert rec.sleeps == [30.0]
    rec = SleepRecorder()
    with Flaky(answers) as server:
        assert WebhookSender(server.url + "/h", secret=None, sleep=rec.sleep,
                             clock=lambda: NOW.timestamp()).send({"x": 1}).delivered
    assert rec.sleeps == [30.0]


def test_all_three_give_up_after_the_same_number_of_attempts(tmp_path):
    busy = [(503, {}, {"message": "busy"})] * 10
    for run in ("client", "download"):
        rec = SleepRecorder()
        with Flaky(busy) as server, make_client(server.url, rec, max_attempts=3) as client:
            with pytest.raises(RetriesExhausted) as info:
                if run == "client":
                    client.request("GET", "/api/v2/x")
                else:
                    download_entity_bytes(client, {"id": "i1", "downloadUri": f"{server.url}/dl/i1"})
            assert len(server.seen) == 3
        assert info.value.attempts == 3 and info.value.last_status == 503
        assert rec.sleeps == [0.5, 1.0]
    rec = SleepRecorder()
    with Flaky(busy) as server:
        result = WebhookSender(server.url + "/h", secret=None, sleep=rec.sleep, rng=lambda: 0.5, outbox=None,
                               backoff=Backoff(initial=1, factor=2), max_attempts=3).send({"x": 1})
        assert len(server.seen) == 3
    assert not result.delivered and result.attempts == 3 and result.status == 503
    assert rec.sleeps == [0.5, 1.0]
    assert audit_lines(tmp_path, "webhook_gave_up")[-1]["attempts"] == 3


def test_a_cancelled_download_sends_nothing():
    rec, stop = SleepRecorder(), threading.Event()
    stop.set()
    with Flaky([]) as server, make_client(server.url, rec) as client:
        with pytest.raises(Cancelled):
            download_entity_bytes(client, {"id": "i1", "downloadUri": f"{server.url}/dl/i1"}, cancel=stop)
        assert server.seen == []


def test_call_options_are_one_object_or_the_keywords_never_both():
    seen: list = []
    options = CallOptions.of(on_progress=seen.append, correlation_ids=[])
    assert options.on_progress == seen.append and options.correlation_ids == []
    assert CallOptions.of(options) is options
    with pytest.raises(TypeError, match="not both"):
        CallOptions.of(options, cancel=threading.Event())
    with pytest.raises(TypeError, match="on_progres"):
        CallOptions.of(on_progres=print)  # type: ignore[call-arg]
    engine = RetryEngine(RetryPolicy(deadline_s=5))
    started = options.with_budget(engine.budget)
    assert started.budget is not None and started.with_budget(engine.budget) is started
