"""Issue 16.9: webhooks are sent in the clear only to this machine (or with an explicit opt-in),
and signed as Standard Webhooks are, so a captured delivery cannot be replayed later."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gctrace_nb import Trace, TraceMetadata, WebhookError
from gctrace_nb.cli.app import main
from gctrace_nb.delivery import audit
from gctrace_nb.delivery.signing import sign_standard, standard_key, verify_signature, verify_standard
from gctrace_nb.delivery.webhook import Outbox, WebhookSender, flush_outbox

from _webhook_receiver import Answer, Receiver

SECRET = "whsec-test-only-3b1e"
T0 = 1_790_000_000.0


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("GCTRACE_STATE_DIR", str(tmp_path / "state"))
    for name in ("GCTRACE_WEBHOOK_SECRET", "GCTRACE_AUDIT_DIR", "GCTRACE_WEBHOOK_ALLOW_HTTP"):
        monkeypatch.delenv(name, raising=False)
    yield
    logger = logging.getLogger(audit.AUDIT_LOGGER)
    for handler in list(logger.handlers):
        if isinstance(handler, audit.DailyAuditHandler):
            logger.removeHandler(handler)
            handler.close()


# --------------------------------------------------------------- plain http
@pytest.mark.parametrize("url", ["http://hooks.example.com/x", "http://10.1.2.3:8080/x", "http://[fd00::9]/x",
                                 "http://127.0.0.1.example.com/x"])
def test_plain_http_to_another_host_is_refused_without_the_opt_in(url, monkeypatch):
    with pytest.raises(WebhookError, match="plain http"):
        WebhookSender(url, secret=SECRET)
    assert WebhookSender(url, secret=SECRET, allow_http=True).url == url  # the explicit opt-in
    monkeypatch.setenv("GCTRACE_WEBHOOK_ALLOW_HTTP", "1")
    assert WebhookSender(url, secret=SECRET).url == url
    with pytest.raises(WebhookError):  # an explicit no wins over the environment
        WebhookSender(url, secret=SECRET, allow_http=False)


@pytest.mark.parametrize("url", ["https://hooks.example.com/x", "http://127.0.0.1:9/x", "http://localhost/x",
                                 "http://[::1]:9/x", "http://127.5.6.7/x"])
def test_https_anywhere_and_http_to_this_machine_need_no_opt_in(url):
    assert WebhookSender(url, secret=SECRET).url == url


def test_the_cli_refuses_plain_http_to_another_host_and_sends_nothing(tmp_path, capsys):
    saved = Trace([{"nodeId": "a", "startTime": 0, "endTime": 5}], TraceMetadata(flow_id="f")).save(
        tmp_path / "t.json")
    code = main(["webhook", "send", str(saved), "--url", "http://hooks.example.com/in", "--state-dir",
                 str(tmp_path / "s")])
    assert code == 2 and "plain http" in capsys.readouterr().err
    assert not Outbox(tmp_path / "s").records()


def _own_non_loopback_address() -> str | None:
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=5).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    return next((a for a in out if "." in a and not a.startswith("127.")), None)


def test_the_opt_in_delivers_to_an_internal_plain_http_receiver(tmp_path):
    address = _own_non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to stand in for an internal host")
    got: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            got.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer((address, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://{address}:{server.server_address[1]}/hook"
        with pytest.raises(WebhookError):
            WebhookSender(url, secret=SECRET)
        result = WebhookSender(url, secret=SECRET, allow_http=True, outbox=None).send({"a": 1})
    finally:
        server.shutdown()
        server.server_close()
    assert result.delivered and json.loads(got[0]) == {"a": 1}


# ------------------------------------------------------------------ signing
def test_the_standard_webhooks_reference_vector():
    # published with the Standard Webhooks spec: any receiver library verifies our signatures
    assert sign_standard("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}',
                         "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_every_attempt_is_signed_with_its_own_timestamp_and_the_same_id():
    clock = Clock(T0)

    def sleep(seconds: float) -> None:
        clock.now += 60

    with Receiver(lambda i, r: Answer(503) if i < 2 else Answer(200)) as receiver:
        result = WebhookSender(receiver.url, secret=SECRET, clock=clock, sleep=sleep, outbox=None,
                               rng=lambda: 0.5).send({"flowId": "f"})
    assert result.delivered and result.attempts == 3
    stamps = [int(r.headers["webhook-timestamp"]) for r in receiver.received]
    assert stamps == [int(T0), int(T0) + 60, int(T0) + 120]
    for got, stamp in zip(receiver.received, stamps):
        assert got.headers["webhook-id"] == got.key == result.idempotency_key
        # the spec's construction, computed here independently of the package
        expected = base64.b64encode(hmac.new(SECRET.encode(), f"{got.key}.{stamp}.".encode() + got.body,
                                             hashlib.sha256).digest()).decode()
        assert got.headers["webhook-signature"] == f"v1,{expected}"
        assert verify_standard(got.body, got.headers, SECRET, now=stamp + 10)
        assert verify_signature(got.body, got.headers["x-gctrace-signature-256"], SECRET)  # still sent


def test_a_captured_delivery_replayed_later_or_altered_fails_verification():
    with Receiver() as receiver:
        WebhookSender(receiver.url, secret=SECRET, clock=lambda: T0, outbox=None).send({"flowId": "f"})
    (got,) = receiver.received
    assert verify_standard(got.body, got.headers, SECRET, now=T0 + 299)
    assert not verify_standard(got.body, got.headers, SECRET, now=T0 + 3600)  # replayed an hour later
    assert not verify_standard(got.body.replace(b'"f"', b'"g"'), got.headers, SECRET, now=T0)
    forged = dict(got.headers, **{"webhook-timestamp": str(int(T0) + 3600)})  # a fresh stamp, old signature
    assert not verify_standard(got.body, forged, SECRET, now=T0 + 3600)
    assert not verify_standard(got.body, got.headers, "another secret", now=T0)
    # the body signature alone would accept the replay: that is why the standard one is added
    assert verify_signature(got.body, got.headers["x-gctrace-signature-256"], SECRET)


def test_a_whsec_secret_is_used_as_standard_webhooks_libraries_read_it():
    secret = "whsec_" + base64.b64encode(b"raw key bytes").decode()
    assert standard_key(secret) == b"raw key bytes"
    with Receiver() as receiver:
        WebhookSender(receiver.url, secret=secret, clock=lambda: T0, outbox=None).send({"x": 1})
    (got,) = receiver.received
    expected = base64.b64encode(hmac.new(b"raw key bytes", f"{got.key}.{int(T0)}.".encode() + got.body,
                                         hashlib.sha256).digest()).decode()
    assert got.headers["webhook-signature"] == f"v1,{expected}"


def test_no_secret_no_signature_but_id_and_timestamp(monkeypatch):
    with Receiver() as receiver:
        WebhookSender(receiver.url, secret=None, clock=lambda: T0, outbox=None).send({"x": 1})
    (got,) = receiver.received
    assert "webhook-signature" not in got.headers and "x-gctrace-signature-256" not in got.headers
    assert got.headers["webhook-id"] == got.key and got.headers["webhook-timestamp"] == str(int(T0))


def test_a_record_flushed_from_the_outbox_is_signed_afresh(tmp_path):
    box = Outbox(tmp_path / "box")
    with Receiver() as receiver:
        box.append(receiver.url, b'{"flowId":"f"}', "key-7")
        flush_outbox(box, secret=SECRET, clock=lambda: T0 + 7200)
    (got,) = receiver.received
    assert got.headers["webhook-id"] == "key-7" and got.headers["webhook-timestamp"] == str(int(T0) + 7200)
    assert verify_standard(got.body, got.headers, SECRET, now=T0 + 7200)
