"""Issue 16.10: the simulator caps and checks request bodies, answers 400/411/413, and keeps serving.

Raw sockets, so the tests can send what no HTTP library would: a 1 GiB
``Content-Length``, ``Content-Length: abc``, a chunked body.
"""

from __future__ import annotations

import json
import resource
import socket

import requests

from gctrace_nb.simulator import Simulator
from gctrace_nb.simulator._body import MAX_BODY_BYTES


def _exchange(url: str, head: str, body: bytes = b"", *, read_timeout: float = 10.0) -> tuple[int, dict, bytes]:
    """Send a raw request; return the status, the headers and the body of the answer."""
    host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
    with socket.create_connection((host, int(port)), timeout=read_timeout) as sock:
        sock.sendall(head.encode("latin-1") + b"\r\n\r\n" + body)
        data = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:  # the server closed the connection after answering
                break
            data += chunk
            top, sep, rest = data.partition(b"\r\n\r\n")
            if sep:
                fields = dict(line.split(": ", 1) for line in top.decode("latin-1").split("\r\n")[1:])
                if len(rest) >= int(fields.get("Content-Length", "0")):
                    break
    top, _, rest = data.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:])}
    return int(lines[0].split()[1]), headers, rest


def _still_serving(sim: Simulator) -> None:
    token = requests.post(f"{sim.login_url}/oauth/token", data={"grant_type": "client_credentials"},
                          auth=sim.credentials, timeout=10)
    assert token.status_code == 200


def _rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def test_a_huge_body_is_refused_unread_with_413(capfd):
    with Simulator(seed=1) as sim:
        before = _rss_kb()
        head = (f"POST /webhook/sink HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {1 << 30}")
        status, headers, body = _exchange(sim.webhook_url, head, b'{"a": "' + b"x" * 65536)
        assert status == 413  # was: the whole GiB read into memory, and kept
        assert json.loads(body)["code"] == "request.entity.too.large"
        assert headers.get("connection", "").lower() == "close"
        assert sim.webhook_deliveries == []
        assert _rss_kb() - before < 50_000  # kilobytes: nothing like the body was held
        _still_serving(sim)
    assert "Traceback" not in capfd.readouterr().err


def test_a_body_at_the_limit_is_read():
    with Simulator(seed=1) as sim:
        payload = b'{"pad": "' + b"x" * (MAX_BODY_BYTES - 20) + b'"}'
        assert len(payload) <= MAX_BODY_BYTES
        resp = requests.post(sim.webhook_url, data=payload, headers={"Content-Type": "application/json"}, timeout=30)
        assert resp.status_code == 200 and sim.webhook_deliveries[0].body == payload


def test_a_bad_content_length_gets_400_not_a_dropped_connection(capfd):
    with Simulator(seed=1) as sim:
        for value in ("abc", "-5", "1e3", "12 34"):
            status, headers, body = _exchange(sim.webhook_url, f"POST /webhook/sink HTTP/1.1\r\nHost: x\r\n"
                                                               f"Content-Length: {value}", b"{}")
            assert status == 400, value  # was: no answer, a traceback on the server
            assert "Content-Length" in json.loads(body)["message"]
        status, _, _ = _exchange(sim.webhook_url, "POST /webhook/sink HTTP/1.1\r\nHost: x\r\n"
                                                  "Transfer-Encoding: chunked", b"2\r\n{}\r\n0\r\n\r\n")
        assert status == 411
        _still_serving(sim)
    err = capfd.readouterr().err
    assert "Traceback" not in err and "ValueError" not in err


def test_deep_json_gets_400_not_500():
    with Simulator(seed=1) as sim:
        token = requests.post(f"{sim.login_url}/oauth/token", data={"grant_type": "client_credentials"},
                              auth=sim.credentials, timeout=10).json()["access_token"]
        deep = b"[" * 100_000 + b"]" * 100_000
        resp = requests.post(f"{sim.api_url}/api/v2/flows/inbound-call/debug", data=deep, timeout=30,
                             headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        assert resp.status_code == 400  # was 500
        assert "nested too deeply" in resp.json()["message"]
        _still_serving(sim)
