"""Issue 16.1: every request ends by its deadline, however slowly the answer arrives.

A server trickling a valid answer one byte at a time resets ``requests``'
read timeout at every byte; the deadline must still hold for the OAuth token,
API calls, flow-history downloads and webhooks (one place: ``gctrace_nb._http``).
"""

from __future__ import annotations

import time

import pytest
import requests

from gctrace_nb import _http
from gctrace_nb.api.client import GenesysClient
from gctrace_nb.api.config import Settings
from gctrace_nb.api.history import download_entity
from gctrace_nb.api.retry import RetryPolicy
from gctrace_nb.cli import main
from gctrace_nb.delivery.webhook import WebhookSender
from gctrace_nb.errors import DeadlineExceeded

from trickle_server import TrickleServer

SLACK_S = 1.5  # thread start-up, interpreter, a loaded 2-core CI machine


def test_requests_alone_lets_a_trickle_outlast_its_timeout():
    # the failure being fixed: each byte resets the read timeout
    with TrickleServer(delay_s=0.05, trickle_headers=False) as srv:
        started = time.monotonic()
        assert requests.get(srv.url, timeout=0.3).json()["access_token"] == "tok"
        assert time.monotonic() - started > 3 * 0.3


@pytest.mark.parametrize("trickle_headers", [True, False])
def test_a_trickled_answer_is_cut_at_the_deadline_not_per_read(trickle_headers):
    with TrickleServer(delay_s=0.15, trickle_headers=trickle_headers) as srv:
        guarded = _http.guard(requests.Session())
        started = time.monotonic()
        with pytest.raises(requests.exceptions.ReadTimeout, match="within 1 s"):
            guarded.get(srv.url, timeout=1.0)
        assert time.monotonic() - started < 1.0 + SLACK_S


def test_a_streamed_body_is_cut_at_the_deadline_too():
    with TrickleServer(delay_s=0.15, trickle_headers=False) as srv:
        session = _http.guard(requests.Session())
        started = time.monotonic()
        resp = session.get(srv.url, timeout=1.0, stream=True)
        assert resp.status_code == 200
        with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
            b"".join(resp.iter_content(1))
        assert time.monotonic() - started < 1.0 + SLACK_S


def test_a_fast_answer_is_untouched_and_the_connection_reused_after_the_deadline():
    from http_fixtures import FakeGenesys

    with FakeGenesys() as srv:
        session = _http.guard(requests.Session())
        for _ in range(3):
            assert session.get(f"{srv.url}/api/v2/jobs/none", timeout=0.5).status_code == 401
            time.sleep(0.6)  # past the first deadline: its watchdog must not kill the reused connection
        streamed = session.get(f"{srv.url}/api/v2/jobs/none", timeout=0.5, stream=True)
        assert streamed.status_code == 401 and streamed.content is not None


def test_guard_keeps_a_callers_own_adapter_and_is_idempotent():
    class Mine(requests.adapters.HTTPAdapter):
        pass

    session = requests.Session()
    session.mount("https://", Mine())
    _http.guard(_http.guard(session))
    assert type(session.get_adapter("https://x")) is Mine
    assert type(session.get_adapter("http://x")) is _http.DeadlineAdapter


def test_the_cli_trace_ends_by_its_timeout_against_a_trickling_login_host(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("GENESYS_CLIENT_ID", "id")
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", "secret")
    with TrickleServer(delay_s=0.3) as srv:
        started = time.monotonic()
        code = main(["trace", "--flow-id", "f", "--action-id", "a", "--timeout", "2",
                     "--api-url", srv.url, "--login-url", srv.url, "--state-dir", str(tmp_path)])
        elapsed = time.monotonic() - started
    assert code == 5, capsys.readouterr().err
    assert elapsed < 2 + SLACK_S, elapsed
    assert "2 s deadline" in capsys.readouterr().err


def test_the_client_api_calls_end_by_the_deadline():
    with TrickleServer({"id": "job-1", "status": "in_progress"}, delay_s=0.2) as srv:
        settings = Settings(client_id="id", client_secret="s", api_url=srv.url, login_url=srv.url, timeout=30)
        auth = _http.guard(requests.Session())  # token from elsewhere: only the API trickles
        with GenesysClient(settings, auth=lambda r: r, policy=RetryPolicy(deadline_s=1.5)) as client:
            started = time.monotonic()
            with pytest.raises(DeadlineExceeded):
                client.get_job("job-1")
            assert time.monotonic() - started < 1.5 + SLACK_S
        auth.close()


def test_a_history_download_ends_by_the_deadline():
    with TrickleServer({"flow": {"execution": []}}, delay_s=0.2, trickle_headers=False) as srv:
        settings = Settings(client_id="id", client_secret="s", api_url=srv.url, login_url=srv.url, timeout=30)
        with GenesysClient(settings, policy=RetryPolicy(deadline_s=1.5, max_attempts=1)) as client:
            started = time.monotonic()
            with pytest.raises(Exception) as info:
                download_entity(client, {"id": "i-1", "downloadUri": f"{srv.url}/dl/i-1"})
            assert time.monotonic() - started < 1.5 + SLACK_S
        assert "deadline" in str(info.value) or "attempt" in str(info.value)


def test_a_webhook_attempt_ends_by_its_timeout():
    with TrickleServer({"ok": True}, delay_s=0.2) as srv:
        with WebhookSender(f"{srv.url}/hook", secret=None, timeout=1.0, max_attempts=1, outbox=None) as sender:
            started = time.monotonic()
            result = sender.send({"a": 1})
            assert time.monotonic() - started < 1.0 + SLACK_S
        assert not result.delivered and "within 1 s" in (result.error or "")
