"""ClientCredentialsAuth over real sockets: the token request, caching, refresh, 401 retry."""

from __future__ import annotations

import base64
import logging
import threading
from urllib.parse import parse_qs

import pytest
import requests

from gctrace_nb.api.auth import ClientCredentialsAuth
from gctrace_nb.errors import ApiError, AuthError

from http_fixtures import CLIENT_ID, CLIENT_SECRET, FakeGenesys, SleepRecorder


@pytest.fixture
def server():
    with FakeGenesys(token_lifetime_s=600) as srv:
        yield srv


@pytest.fixture
def rec():
    return SleepRecorder()


def _auth(server, rec, secret=CLIENT_SECRET):
    return ClientCredentialsAuth(f"{server.url}/oauth/token", CLIENT_ID, secret, clock=rec.clock)


def test_token_request_is_basic_auth_with_a_form_body_at_the_login_host(server, rec):
    token = _auth(server, rec).token()
    (req,) = server.token_requests()
    assert req.method == "POST" and req.path == "/oauth/token"
    assert req.headers["Authorization"] == "Basic " + base64.b64encode(
        f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert req.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(req.body.decode()) == {"grant_type": ["client_credentials"]}
    assert token == server.issued_tokens[0]


def test_token_is_cached_and_refreshed_at_five_sixths_of_its_lifetime(server, rec):
    auth = _auth(server, rec)
    first = auth.token()
    rec.advance(499.0)
    assert auth.token() == first
    assert len(server.token_requests()) == 1
    rec.advance(1.0)  # 500 s = 5/6 of 600
    second = auth.token()
    assert second != first and len(server.token_requests()) == 2
    assert auth.tokens_fetched == 2


def test_concurrent_callers_share_one_fetch(server, rec):
    auth = _auth(server, rec)
    barrier = threading.Barrier(8)
    seen = []

    def worker():
        barrier.wait()
        seen.append(auth.token())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(seen)) == 1 and len(server.token_requests()) == 1


def test_a_401_fetches_a_new_token_and_resends_once(server, rec):
    auth = _auth(server, rec)
    session = requests.Session()
    server.script("POST", "/api/v2/flows/", (401, {}, {"message": "token expired"}))
    server.location_style = "body"
    resp = session.post(f"{server.url}/api/v2/flows/f/debug", auth=auth,
                        json={"flowId": "f", "enableAsync": True})
    assert resp.status_code == 202
    assert len(server.token_requests()) == 2
    posts = server.api_requests("POST")
    assert len(posts) == 2
    assert posts[0].headers["Authorization"] != posts[1].headers["Authorization"]
    assert resp.history and resp.history[0].status_code == 401


def test_a_second_401_is_returned_not_looped(server, rec):
    auth = _auth(server, rec)
    server.script("GET", "/api/v2/jobs/", (401, {}, {}), (401, {}, {}), (401, {}, {}))
    resp = requests.get(f"{server.url}/api/v2/jobs/x", auth=auth)
    assert resp.status_code == 401
    assert len(server.api_requests("GET")) == 2


def test_wrong_secret_is_an_auth_error_without_the_secret(server, rec):
    wrong = "WRONG-secret-value"
    with pytest.raises(AuthError, match="refused the client credentials") as info:
        _auth(server, rec, secret=wrong).token()
    assert info.value.status == 401
    assert wrong not in str(info.value) and wrong not in repr(info.value.body)


def test_token_endpoint_outage_is_a_retryable_api_error(server, rec):
    server.script("POST", "/oauth/token", (503, {"Retry-After": "4"}, {"message": "down"}))
    with pytest.raises(ApiError) as info:
        _auth(server, rec).token()
    assert info.value.status == 503 and info.value.retry_after_s == 4.0
    assert not isinstance(info.value, AuthError)


def test_missing_access_token_is_an_auth_error(server, rec):
    server.script("POST", "/oauth/token", (200, {}, {"token_type": "bearer"}))
    with pytest.raises(AuthError, match="no access_token"):
        _auth(server, rec).token()


def test_connection_error_on_token_request_keeps_no_headers(rec):
    auth = ClientCredentialsAuth("http://127.0.0.1:9/oauth/token", CLIENT_ID, CLIENT_SECRET, clock=rec.clock,
                                 timeout=2)
    with pytest.raises(requests.ConnectionError) as info:
        auth.token()
    assert info.value.request is None
    assert CLIENT_SECRET not in str(info.value)


def test_token_and_secret_never_in_repr_or_logs(server, rec, caplog):
    caplog.set_level(logging.DEBUG)
    auth = _auth(server, rec)
    token = auth.token()
    requests.get(f"{server.url}/api/v2/jobs/nope", auth=auth)
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    for text in [repr(auth), str(auth)] + [r.getMessage() for r in caplog.records]:
        assert token not in text and CLIENT_SECRET not in text and basic not in text
    assert "token=cached" in repr(auth)
