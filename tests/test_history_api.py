"""Flow execution history and data action tests end to end, over real sockets.

Against the simulator (query -> job -> poll -> download -> steps, pagination,
failed jobs and entities, expired links) and against small hostile servers.
The client and the simulator share one fake clock, so nothing sleeps for real.
"""

from __future__ import annotations

import json
import math
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

import pytest

from gctrace_nb import ApiError, JobFailed, PermissionDenied, TraceFormatError, TraceRequestInvalid, load_trace
from gctrace_nb.api.client import GenesysClient
from gctrace_nb.api.config import Settings
from gctrace_nb.errors import DeadlineExceeded
from gctrace_nb.api.retry import RetryPolicy
from gctrace_nb.simulator import Simulator
from gctrace_nb.api import history as h
from gctrace_nb._time import parse_timestamp

ANCHOR = datetime(2026, 1, 20, 12, 0, tzinfo=timezone.utc)


class FakeClock:
    """Monotonic seconds shared by the client and the simulator; sleeping advances it."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self.t

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self.t += max(0.0, seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock):
    with Simulator(seed=11, clock=clock.now, history_anchor=ANCHOR, history_instances=60,
                   job_duration_s=3.0, download_lifetime_s=120.0) as s:
        yield s


def make_client(api_url: str, clock: FakeClock, *, login_url: str | None = None, credentials=("sim-client", "sim-secret"),
                policy: RetryPolicy | None = None) -> GenesysClient:
    settings = Settings(client_id=credentials[0], client_secret=credentials[1], api_url=api_url,
                        login_url=login_url or api_url, timeout=5.0)
    return GenesysClient(settings, clock=clock.now, sleep=clock.sleep, random=lambda: 0.5,
                         utcnow=lambda: ANCHOR, policy=policy)


@pytest.fixture
def client(sim, clock):
    with make_client(sim.api_url, clock, credentials=sim.credentials) as c:
        yield c


def busiest_conversation(sim) -> tuple[str, list[dict]]:
    by_conv: dict[str, list[dict]] = {}
    for inst in sim.history_instances:
        by_conv.setdefault(inst["conversationId"], []).append(inst)
    conv = max(by_conv, key=lambda c: (len(by_conv[c]), c))
    return conv, by_conv[conv]


# ------------------------------------------------------------------ happy path
def test_conversation_history_query_job_poll_download_steps(sim, client, clock):
    conv, instances = busiest_conversation(sim)
    assert len(instances) >= 2
    traces = h.fetch_history_traces(client, conversation_id=conv)
    assert sorted(t.metadata.extra["instance_id"] for t in traces) == sorted(i["id"] for i in instances)
    starts = [t.analysis.start_us[0] for t in traces]
    assert starts == sorted(starts)
    for trace in traces:
        inst = next(i for i in instances if i["id"] == trace.metadata.extra["instance_id"])
        doc = sim.execution_documents[inst["id"]]["flow"]
        expected = (parse_timestamp(doc["endDateTime"]) - parse_timestamp(doc["startDateTime"])) / 1000
        assert trace.analysis.total_ms == expected
        assert trace.metadata.source == "history"
        assert trace.metadata.flow_id == inst["flowId"]
        assert trace.metadata.job_id
        assert trace.metadata.extra["conversation_id"] == conv
        assert trace.metadata.request == {"query": [{"criteria": {"key": "ConversationId", "operator": "eq",
                                                                  "value": conv}}]}
        assert trace.analysis.anomalies == ()
        groups = [s for s in trace.raw_steps if s.get("kind") == "group"]
        assert {g["type"] for g in groups} == {"startedTask", "startedCommonModule"}
    # The job was polled (Registered/Running -> Success), waiting on the fake clock.
    polls = [r for r in sim.requests if r.method == "GET" and r.path.startswith("/api/v2/flows/instances/jobs/")]
    assert len(polls) >= 2 and clock.slept
    # Credentials went to the API, never to the pre-signed URLs.
    downloads = [r for r in sim.requests if r.path.startswith("/downloads/presigned/")]
    assert len(downloads) == len(instances)
    assert all(r.status == 200 and not r.had_authorization for r in downloads)
    assert all(r.had_authorization for r in sim.requests if r.path.startswith("/api/v2/"))


def test_the_relative_downloads_form_is_resolved(sim, client):
    sim.set_faults(download_style="api")
    conv, instances = busiest_conversation(sim)
    traces = h.fetch_history_traces(client, conversation_id=conv)
    assert len(traces) == len(instances)
    resolved = [r for r in sim.requests if r.path.startswith("/api/v2/downloads/")]
    assert len(resolved) == len(instances)
    assert all(r.query.get("issueRedirect") == "false" and r.had_authorization for r in resolved)
    assert not any(r.had_authorization for r in sim.requests if r.path.startswith("/downloads/presigned/"))


def test_the_query_asks_once_for_the_limit_and_warns_when_more_matched(sim, client):
    flow_id = max(sim.history_flows, key=lambda f: sum(i["flowId"] == f for i in sim.history_instances))
    expected = [i["id"] for i in sim.history_instances if i["flowId"] == flow_id]
    assert len(expected) > 10
    found = h.query_flow_instances(client, flow_id=flow_id, limit=10)
    assert [i["id"] for i in found] == expected[:10]
    pages = [r for r in sim.requests if r.path == h.QUERY_PATH]
    assert [r.query for r in pages] == [{"pageSize": "10"}]  # once; no pageNumber (the SDK has none)
    assert found.total == len(expected)
    (warning,) = found.warnings
    assert f"{len(expected)} flow instances matched but only 10" in warning and "--since/--until" in warning
    sim.clear_records()
    everything = h.query_flow_instances(client, flow_id=flow_id)
    assert [i["id"] for i in everything] == expected and everything.warnings == []
    assert [r.query for r in sim.requests if r.path == h.QUERY_PATH] == [{"pageSize": "200"}]


def test_time_range_criteria(sim, client):
    flow_id = sim.history_instances[0]["flowId"]
    chosen = [i for i in sim.history_instances if i["flowId"] == flow_id]
    since, until = chosen[2]["startDateTime"], chosen[5]["startDateTime"]
    found = h.query_flow_instances(client, flow_id=flow_id, since=since, until=until)
    assert [i["id"] for i in found] == [i["id"] for i in chosen[2:6]]


def test_more_instances_than_one_job_takes_run_in_batches(clock):
    with Simulator(seed=5, clock=clock.now, history_anchor=ANCHOR, history_instances=230, job_duration_s=1.0) as sim, \
            make_client(sim.api_url, clock, credentials=sim.credentials) as client:
        flow_id = max(sim.history_flows, key=lambda f: sum(i["flowId"] == f for i in sim.history_instances))
        total = sum(i["flowId"] == flow_id for i in sim.history_instances)
        assert total > h.JOB_BATCH
        traces = h.fetch_history_traces(client, flow_id=flow_id)
        assert len(traces) == min(total, h.MAX_INSTANCES) and traces.total == total
        jobs = [r for r in sim.requests if r.method == "POST" and r.path == h.JOBS_PATH]
        assert len(jobs) == math.ceil(len(traces) / h.JOB_BATCH)
        assert all(len(json.loads(r.body)["ids"]) <= h.JOB_BATCH for r in jobs)


# ------------------------------------------------------------------ failures
def test_a_failed_job_raises_job_failed(sim, client):
    sim.set_faults(fail_job=True)
    conv, _ = busiest_conversation(sim)
    with pytest.raises(JobFailed) as info:
        h.fetch_history_traces(client, conversation_id=conv)
    # the SDK's job result has no error field: the state is all there is to say
    assert "jobState Failed" in str(info.value)
    assert info.value.job_id


def test_a_failed_job_entity_is_reported_and_the_others_returned(sim, client):
    sim.set_faults(history_entity_404=True)
    conv, instances = busiest_conversation(sim)
    errors: list = []
    traces = h.fetch_history_traces(client, conversation_id=conv, errors=errors)
    assert len(traces) == len(instances) - 1
    (instance_id, exc), = errors
    assert isinstance(exc, JobFailed) and instance_id in str(exc) and "404" in str(exc)
    with pytest.raises(JobFailed):
        h.fetch_history_traces(client, conversation_id=conv)


def test_an_expired_download_link_says_so(sim, client, clock):
    conv, instances = busiest_conversation(sim)
    job = h.start_instances_job(client, [instances[0]["id"]])
    job = h.wait_instances_job(client, job["id"])
    entity, = job["entities"]
    clock.t += 121  # the pre-signed link lives 120 s
    with pytest.raises(ApiError) as info:
        h.download_entity(client, entity)
    message = str(info.value)
    assert info.value.status == 403
    assert "expired" in message and "again" in message
    assert "X-Amz-Signature" not in message  # the signature stays out of messages
    last = sim.requests[-1]
    assert last.path.startswith("/downloads/presigned/") and not last.had_authorization


def test_missing_permission_is_permission_denied(sim, client):
    sim.set_faults(forbidden=True)
    with pytest.raises(PermissionDenied) as info:
        h.query_flow_instances(client, conversation_id="c")
    assert "architect:flowInstance:search" in str(info.value)


def test_transient_failures_are_retried(sim, client, clock):
    sim.set_faults(burst_5xx=3)
    conv, instances = busiest_conversation(sim)
    assert len(h.fetch_history_traces(client, conversation_id=conv)) == len(instances)
    assert [r.status for r in sim.requests if r.path.startswith("/api/")][:4] == [502, 503, 504, 200]


def test_local_validation_sends_nothing(sim, client):
    for kwargs in ({}, {"conversation_id": ""}, {"flow_id": "f", "since": "yesterday"}, {"flow_id": "f", "since": " "},
                   {"flow_id": "f", "since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
                   {"flow_id": "f", "limit": 201}, {"flow_id": "f", "limit": 0}):
        with pytest.raises(TraceRequestInvalid):
            h.fetch_history_traces(client, **kwargs)
    assert sim.requests == []


def test_no_instances_is_an_empty_list(sim, client):
    assert h.fetch_history_traces(client, conversation_id="no-such-conversation") == []


# ------------------------------------------------------------ hostile servers
class Scripted:
    """A tiny server on 127.0.0.1 whose answers come from ``handler(method, path, headers, body)``."""

    def __init__(self, handler: Callable[[str, str, dict, bytes], tuple[int, dict, Any]]) -> None:
        self.seen: list[tuple[str, str, dict]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = dict(self.headers.items())
                outer.seen.append((self.command, self.path, headers))
                if self.path == "/oauth/token":
                    status, extra, payload = 200, {}, {"access_token": "tok", "token_type": "bearer",
                                                       "expires_in": 3600}
                else:
                    status, extra, payload = handler(self.command, self.path, headers, body)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted():
    servers: list[Scripted] = []

    def make(handler):
        server = Scripted(handler)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


ENTITY = {"id": "i1", "name": "x", "flowId": "f", "startDateTime": "2026-01-01T00:00:00Z"}


def test_a_next_uri_is_followed_only_on_our_host_and_never_twice(scripted, clock):
    calls = []

    def handler(method, path, headers, body):
        calls.append(path)
        n = len(calls)
        entities = [dict(ENTITY, id=f"i{n}")]
        return 200, {}, {"entities": entities, "total": 9, "nextUri": "https://evil.example/api/v2/flows/instances/query?p=2"
                         if n == 1 else h.QUERY_PATH + "?pageSize=50" if n == 2 else None}

    server = scripted(handler)
    with make_client(server.url, clock) as client:
        found = h.query_flow_instances(client, flow_id="f", limit=50)
    # the foreign nextUri's path was asked of our own host (no token to another host); the
    # second page's nextUri repeats the first request and is not followed
    assert [i["id"] for i in found] == ["i1", "i2"]
    assert calls == [h.QUERY_PATH + "?pageSize=50", h.QUERY_PATH + "?p=2"]
    assert found.total == 9 and "9 flow instances matched but only 2" in found.warnings[0]

    calls.clear()
    server2 = scripted(lambda m, p, hd, b: (calls.append(p) or 200, {}, {
        "entities": [dict(ENTITY, id=f"i{len(calls)}")], "nextUri": "/api/v2/elsewhere?pageSize=1"}))
    with make_client(server2.url, clock) as client:
        found = h.query_flow_instances(client, flow_id="f", limit=5)
    assert len(found) == 1 and len(calls) == 1  # a nextUri for another endpoint is not followed


def test_endless_paging_stops_at_the_cap(scripted, clock):
    counter = iter(range(10**6))

    def handler(method, path, headers, body):
        n = next(counter)
        return 200, {}, {"entities": [dict(ENTITY, id=f"i{n}-{k}") for k in range(50)],
                         "nextUri": f"{h.QUERY_PATH}?pageSize=50&cursor={n}"}

    server = scripted(handler)
    with make_client(server.url, clock) as client:
        assert len(h.query_flow_instances(client, flow_id="f")) == h.MAX_INSTANCES
    assert len(server.seen) == 1 + h.MAX_INSTANCES // 50  # the token, then 4 pages of 50


def test_junk_from_a_hostile_server_gives_our_errors(scripted, clock):
    script: dict = {}

    def handler(method, path, headers, body):
        for prefix, answer in script.items():
            if path.startswith(prefix):
                return answer(headers) if callable(answer) else answer
        return 404, {}, {"message": "nope"}

    server = scripted(handler)
    base = server.url
    script[h.QUERY_PATH] = (200, {}, {"entities": [dict(ENTITY, id=f"i{n}") for n in range(1, 8)]
                                      + ["junk", {"id": 5}, {"no": "id"}]})
    script[h.JOBS_PATH + "/"] = (200, {}, {"id": "j1", "jobState": "Success", "entities": [
        {"id": "i1", "downloadUri": f"{base}/dl/ok", "failed": False, "statusCode": 200},
        {"id": "i2", "downloadUri": "ftp://files.example/x"},
        {"id": "i3"},
        {"id": "i4", "downloadUri": f"{base}/dl/notjson"},
        {"id": "i5", "downloadUri": f"{base}/dl/other-shape"},
        {"id": "i6", "downloadUri": f"{base}/dl/500"},
        {"id": "i7", "downloadUri": f"{base}/dl/loop"},
        "junk",
    ] + [{"id": f"extra{n}", "downloadUri": f"{base}/dl/ok"} for n in range(20)]})
    script[h.JOBS_PATH] = (200, {}, {"id": "j1", "jobState": "Registered"})
    doc = {"flow": {"flowId": "f", "startDateTime": "2026-01-01T00:00:00Z", "endDateTime": "2026-01-01T00:00:02Z",
                    "execution": [{"actionA": {"dateTime": "2026-01-01T00:00:01Z"}}]}}
    script["/dl/ok"] = (200, {}, doc)
    script["/dl/notjson"] = (200, {}, b"<html>hello</html>")
    script["/dl/other-shape"] = (200, {}, [{"nodeId": "x"}])
    script["/dl/500"] = (500, {}, b"boom")
    script["/dl/loop"] = (302, {"Location": "/dl/loop"}, b"")
    policy = RetryPolicy(deadline_s=60)
    with make_client(base, clock, policy=policy) as client:
        errors: list = []
        traces = h.fetch_history_traces(client, flow_id="f", errors=errors)
    assert len(traces) == 1 and traces[0].analysis.total_ms == 2000.0
    kinds = {iid: type(exc) for iid, exc in errors}
    assert kinds == {"i2": ApiError, "i3": ApiError, "i4": TraceFormatError, "i5": TraceFormatError,
                     "i6": ApiError, "i7": ApiError}
    assert "TooManyRedirects" in str(dict(errors)["i7"])
    # Downloads nobody asked for are not fetched.
    assert len([p for m, p, hd in server.seen if p == "/dl/ok"]) == 1
    assert not any(hd.get("Authorization") for m, p, hd in server.seen if p.startswith("/dl/"))
    assert all(hd.get("Authorization") == "Bearer tok" for m, p, hd in server.seen if p.startswith("/api/"))


def test_a_job_that_never_finishes_hits_the_deadline(scripted, clock):
    def handler(method, path, headers, body):
        if path.startswith(h.QUERY_PATH):
            return 200, {}, {"entities": [ENTITY]}
        return 200, {}, {"id": "j1", "jobState": "Running"}

    server = scripted(handler)
    with make_client(server.url, clock, policy=RetryPolicy(deadline_s=30)) as client:
        with pytest.raises(DeadlineExceeded):
            h.fetch_history_traces(client, flow_id="f")


def test_a_download_redirect_carries_no_credentials(scripted, clock):
    doc = {"flow": {"startDateTime": "2026-01-01T00:00:00Z", "endDateTime": "2026-01-01T00:00:01Z", "execution": []}}

    def handler(method, path, headers, body):
        if path == "/dl/start":
            return 302, {"Location": "/dl/final"}, b""
        if path == "/dl/final":
            return 200, {}, doc
        return 404, {}, {}

    server = scripted(handler)
    with make_client(server.url, clock) as client:
        got = h.download_entity(client, {"id": "i", "downloadUri": f"{server.url}/dl/start"})
    assert got == doc
    assert [p for _, p, _ in server.seen] == ["/dl/start", "/dl/final"]
    assert not any("Authorization" in hd for _, _, hd in server.seen)


def test_an_oversized_download_is_refused(scripted, clock):
    server = scripted(lambda m, p, hd, b: (200, {}, b"[" + b"1," * 5000 + b"1]"))
    with make_client(server.url, clock) as client:
        with pytest.raises(TraceFormatError, match="larger than"):
            h.download_entity(client, {"id": "i", "downloadUri": f"{server.url}/dl/x"}, max_bytes=1000)


# ------------------------------------------------------------------ the CLI
@pytest.fixture
def cli_sim(monkeypatch):
    """A simulator on the real clock whose jobs finish at once (the CLI cannot take a fake clock)."""
    with Simulator(seed=11, history_anchor=ANCHOR, history_instances=60, job_duration_s=0.0) as s:
        cid, secret = s.credentials
        monkeypatch.setenv("GENESYS_CLIENT_ID", cid)
        monkeypatch.setenv("GENESYS_CLIENT_SECRET", secret)
        for name in ("GENESYS_REGION", "GENESYS_API_URL", "GENESYS_LOGIN_URL"):
            monkeypatch.delenv(name, raising=False)
        yield s


def run_cli(argv, capsys):
    from gctrace_nb.cli.app import main

    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def hosts(server_url: str) -> list[str]:
    return ["--api-url", server_url, "--login-url", server_url]


def test_cli_history_saves_one_trace_per_instance_that_analyze_reads(cli_sim, tmp_path, capsys):
    conv, instances = busiest_conversation(cli_sim)
    status, out, err = run_cli(["history", "--conversation-id", conv, *hosts(cli_sim.api_url),
                                "--save-dir", str(tmp_path / "traces"), "--format", "json"], capsys)
    assert status == 0, err
    printed = json.loads(out)
    assert sorted(p["instance_id"] for p in printed) == sorted(i["id"] for i in instances)
    files = sorted((tmp_path / "traces").glob("*.json"))
    assert sorted(f.stem for f in files) == sorted(i["id"] for i in instances)
    for item in printed:
        assert item["source"] == "history" and item["conversation_id"] == conv
        status, out2, _ = run_cli(["analyze", item["file"], "--format", "json"], capsys)
        assert status == 0
        again = json.loads(out2)
        assert again["total_ms"] == item["total_ms"] and again["critical_path"] == item["critical_path"]
    assert "sim-secret" not in out + err


def test_cli_history_and_action_test_print_their_result_when_saving_fails(cli_sim, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    conv, instances = busiest_conversation(cli_sim)
    status, out, err = run_cli(["history", "--conversation-id", conv, *hosts(cli_sim.api_url),
                                "--save-dir", str(blocker / "traces"), "--format", "json"], capsys)
    assert status == 1 and "cannot create" in err
    assert len(json.loads(out)) == len(instances)  # fetched: not lost because the save failed
    status, out, err = run_cli(["action-test", "--action-id", "custom_-_crm-lookup", *hosts(cli_sim.api_url),
                                "--save", str(blocker / "t.json"), "--format", "json"], capsys)
    assert status == 1 and "cannot save to" in err
    assert json.loads(out)["action_id"] == "custom_-_crm-lookup"


def test_cli_history_text_and_nothing_matched(cli_sim, capsys):
    conv, instances = busiest_conversation(cli_sim)
    status, out, _ = run_cli(["history", "--conversation-id", conv, *hosts(cli_sim.api_url)], capsys)
    assert status == 0
    assert out.count("instance ") >= len(instances) and conv in out
    status, out, err = run_cli(["history", "--flow-id", "no-such-flow", *hosts(cli_sim.api_url),
                                "--format", "json"], capsys)
    assert status == 0 and json.loads(out) == [] and "no flow instances matched" in err


def test_cli_history_partial_failure_exit_3(cli_sim, tmp_path, capsys):
    cli_sim.set_faults(history_entity_404=True)
    conv, instances = busiest_conversation(cli_sim)
    status, out, err = run_cli(["history", "--conversation-id", conv, *hosts(cli_sim.api_url),
                                "--save-dir", str(tmp_path), "--format", "json"], capsys)
    assert status == 3
    assert len(json.loads(out)) == len(instances) - 1 == len(list(tmp_path.glob("*.json")))
    assert "skipped" in err and "404" in err


def test_cli_history_expired_links_exit_3_with_a_clear_message(monkeypatch, capsys):
    with Simulator(seed=11, history_anchor=ANCHOR, job_duration_s=0.0, download_lifetime_s=0.0001) as sim:
        monkeypatch.setenv("GENESYS_CLIENT_ID", sim.credentials[0])
        monkeypatch.setenv("GENESYS_CLIENT_SECRET", sim.credentials[1])
        conv, _ = busiest_conversation(sim)
        status, _, err = run_cli(["history", "--conversation-id", conv, *hosts(sim.api_url)], capsys)
    assert status == 3
    assert "expired" in err and "again" in err


@pytest.mark.parametrize("faults, argv_extra, expected", [
    ({"forbidden": True}, [], 4),
    ({"fail_job": True}, [], 3),
    ({}, ["--since", "yesterday"], 2),
    ({}, ["--limit", "500"], 2),
    ({}, ["--region", "eu_west_1"], 2),
])
def test_cli_history_exit_statuses(cli_sim, capsys, faults, argv_extra, expected):
    cli_sim.set_faults(**faults)
    conv, _ = busiest_conversation(cli_sim)
    status, _, err = run_cli(["history", "--conversation-id", conv, *hosts(cli_sim.api_url), *argv_extra], capsys)
    assert status == expected, err
    if expected == 2:
        assert cli_sim.requests == []


def test_cli_history_hostile_instance_ids_stay_inside_the_save_dir(scripted, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GENESYS_CLIENT_ID", "x")
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", "y")
    doc = {"flow": {"flowName": "\x1b[31mred\x1b[0m", "startDateTime": "2026-01-01T00:00:00Z",
                    "endDateTime": "2026-01-01T00:00:01Z", "execution": []}}
    ids = ["../../escape", "/abs/path", "..", "a\x00b", "same", "SAME"]

    def handler(method, path, headers, body):
        if path.startswith(h.QUERY_PATH):
            return 200, {}, {"entities": [dict(ENTITY, id=i) for i in ids]}
        if path.startswith(h.JOBS_PATH):
            return 200, {}, {"id": "j", "jobState": "Success", "entities": [
                {"id": i, "downloadUri": f"{server.url}/dl/{n}"} for n, i in enumerate(ids)]}
        return 200, {}, doc

    server = scripted(handler)
    out_dir = tmp_path / "out"
    status, out, err = run_cli(["history", "--flow-id", "f", *hosts(server.url), "--save-dir", str(out_dir)], capsys)
    assert status == 0, err
    written = sorted(p.name for p in tmp_path.rglob("*.json"))
    assert len(written) == len(ids)
    assert all(p.parent == out_dir for p in tmp_path.rglob("*.json"))
    assert "\x1b" not in out.split("\n")[0]


def test_cli_action_test(cli_sim, tmp_path, capsys):
    status, out, err = run_cli(["action-test", "--action-id", "custom_-_crm-lookup", "--input", "phone=+15550100",
                                "--input", "n=3", *hosts(cli_sim.api_url), "--format", "json",
                                "--save", str(tmp_path / "a.json")], capsys)
    assert status == 0, err
    printed = json.loads(out)
    assert printed["source"] == "action_test" and printed["success"] is True
    assert printed["steps"] == 7 and printed["failed_nodes"] == []
    sent = [r for r in cli_sim.requests if r.path.endswith("/test")]
    assert json.loads(sent[0].body) == {"phone": "+15550100", "n": 3}
    assert (tmp_path / "a.json").exists()

    status, out, _ = run_cli(["action-test", "--action-id", "custom_-_payment-fail", *hosts(cli_sim.api_url)], capsys)
    assert status == 3 and "FAILED" in out
    status, _, err = run_cli(["action-test", "--action-id", "missing-action", *hosts(cli_sim.api_url)], capsys)
    assert status == 2 and "not found" in err
    status, _, _ = run_cli(["action-test", "--action-id", "a/b", *hosts(cli_sim.api_url)], capsys)
    assert status == 2


def test_cli_history_survives_a_redirect_loop_from_the_api(scripted, capsys, monkeypatch):
    monkeypatch.setenv("GENESYS_CLIENT_ID", "x")
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", "y")
    server = scripted(lambda m, p, hd, b: (307, {"Location": h.QUERY_PATH}, b""))
    status, out, err = run_cli(["history", "--flow-id", "f", *hosts(server.url)], capsys)
    assert status == 1 and out == ""
    assert err.startswith("gctrace history:") and "Traceback" not in err


def test_the_python_entry_points_named_in_real_genesys_md_exist():
    import re
    from pathlib import Path

    import gctrace_nb

    text = (Path(__file__).resolve().parents[1] / "docs" / "real-genesys.md").read_text(encoding="utf-8")
    # the sources table: its second column is the `metadata.source` value
    table = [line for line in text.splitlines() if line.startswith("| ") and "`gctrace " in line and '| `"' in line]
    assert len(table) == 3
    for line in table:
        (name,) = re.findall(r"`gctrace [a-z-]+`, `([A-Za-z_.]+)`", line)
        owner, _, attr = name.rpartition(".")
        target = getattr(gctrace_nb, owner) if owner else gctrace_nb
        assert callable(getattr(target, attr, None)), f"docs/real-genesys.md names {name}, which does not exist"


# ------------------------------------------- a server holding clients to the SDK's models
class SdkModelServer:
    """Answers only what ``purecloudplatformclientv2`` models: the query takes ``pageSize`` (and
    ``indexOnly``) and a ``CriteriaQuery``, sends one page and no ``nextUri``; jobs take
    ``ExecutionDataRequest {"ids"}`` and answer ``GetFlowExecutionDataJobResult`` with
    ``ExecutionDataEntity`` (``statusCode`` a string). ``matching`` instances of ``flow_id``."""

    def __init__(self, scripted, *, flow_id: str = "F", matching: int = 150, extra_field: bool = False) -> None:
        from gctrace_nb.simulator import generate_execution_document
        from gctrace_nb.simulator.criteria import QueryError, check_query

        self.ids = [f"inst-{n:03d}" for n in range(matching)]
        self.queries: list[str] = []
        self.jobs: dict[str, list[str]] = {}
        self.served: dict[str, bytes] = {}

        def document(instance: str) -> bytes:
            doc = generate_execution_document(int(instance[5:]), conversation_id=f"conv-{instance}", flow_id=flow_id,
                                              flow_version="3.0", start=f"2026-01-1{int(instance[5:]) % 9}T09:00:00Z")
            if extra_field:
                doc["flow"]["execution"][1]["actionPlayAudio"]["promptLengthMs"] = 1834
            return json.dumps(doc).encode()

        def handler(method, path, headers, body):
            parts = path.split("?", 1)
            route, query = parts[0], dict(p.split("=", 1) for p in parts[1].split("&")) if len(parts) > 1 else {}
            if route == h.QUERY_PATH and method == "POST":
                self.queries.append(path)
                if set(query) - {"pageSize", "indexOnly"}:
                    return 400, {}, {"message": f"unknown query parameters {sorted(query)}", "status": 400}
                size = int(query.get("pageSize", 50))
                try:
                    groups = check_query(json.loads(body))
                except (QueryError, ValueError) as exc:
                    return 400, {}, {"message": str(exc), "status": 400}
                assert groups == [{"criteria": {"key": "FlowId", "operator": "eq", "value": flow_id}}]
                entities = [dict(ENTITY, id=i, flowId=flow_id, flowErrorReason="NONE") for i in self.ids]
                return 200, {}, {"entities": entities[:min(size, 200)], "pageSize": size, "total": len(self.ids)}
            if route == h.JOBS_PATH and method == "POST":
                request = json.loads(body)
                if set(request) != {"ids"} or not 1 <= len(request["ids"]) <= 100:
                    return 400, {}, {"message": "ExecutionDataRequest {ids}", "status": 400}
                job_id = f"job-{len(self.jobs) + 1}"
                self.jobs[job_id] = request["ids"]
                return 202, {}, {"id": job_id, "jobState": "Registered", "entities": []}
            if route.startswith(h.JOBS_PATH + "/") and method == "GET":
                job_id = route.rsplit("/", 1)[1]
                return 200, {}, {"id": job_id, "jobState": "Success", "selfUri": route, "entities": [
                    {"id": i, "downloadUri": f"{server.url}/dl/{i}?X-Amz-Signature=s", "failed": False,
                     "statusCode": "200"} for i in self.jobs[job_id]]}
            if route.startswith("/dl/") and "Authorization" not in headers:
                instance = route.rsplit("/", 1)[1]
                self.served[instance] = document(instance)
                return 200, {}, self.served[instance]
            return 404, {}, {"message": "not found", "status": 404}

        server = scripted(handler)
        self.url = server.url


def cli_env(monkeypatch):
    monkeypatch.setenv("GENESYS_CLIENT_ID", "x")
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", "y")
    for name in ("GENESYS_REGION", "GENESYS_API_URL", "GENESYS_LOGIN_URL"):
        monkeypatch.delenv(name, raising=False)


def test_cli_history_limit_120_against_the_sdks_models_saves_120_traces(scripted, tmp_path, capsys, monkeypatch):
    cli_env(monkeypatch)
    server = SdkModelServer(scripted, matching=150)
    out_dir = tmp_path / "D"
    status, out, err = run_cli(["history", "--flow-id", "F", "--limit", "120", "--save-dir", str(out_dir),
                                "--format", "json", *hosts(server.url)], capsys)
    assert status == 0, err
    printed = json.loads(out)
    assert len(printed) == 120 == len(list(out_dir.glob("*.json")))
    assert server.queries == [h.QUERY_PATH + "?pageSize=120"]  # once, pageSize = --limit, no pageNumber
    assert sorted(len(ids) for ids in server.jobs.values()) == [20, 100]
    warning = "150 flow instances matched but only 120 were fetched"
    assert all(warning in item["warnings"][0] and "--since/--until" in item["warnings"][0] for item in printed)
    assert f"warning: {warning}" in err
    for item in printed[:5]:  # each saved trace analyses like the download it came from
        expected = load_trace(json.loads(server.served[item["instance_id"]])).analysis
        assert item["total_ms"] == expected.total_ms and item["bottleneck"]["node_id"] == expected.bottleneck.node_id
        assert item["failed_nodes"] == list(expected.failed_nodes) and "unrecognised" not in item


def test_cli_history_text_shows_the_warning_and_counts_unrecognised_fields(scripted, capsys, monkeypatch):
    cli_env(monkeypatch)
    server = SdkModelServer(scripted, matching=3, extra_field=True)
    status, out, err = run_cli(["history", "--flow-id", "F", "--limit", "2", *hosts(server.url)], capsys)
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("warning: 3 flow instances matched but only 2 were fetched (the limit of 2)")
    unrecognised = [line for line in lines if "unrecognised fields" in line]
    assert len(unrecognised) == 2 and all("1 (actionPlayAudio.promptLengthMs)" in line for line in unrecognised)


def test_keep_raw_writes_each_download_untouched(sim, client, tmp_path):
    conv, instances = busiest_conversation(sim)
    raw = tmp_path / "raw" / "nested"
    traces = h.fetch_history_traces(client, conversation_id=conv, keep_raw=raw)
    assert sorted(traces.raw_paths) == sorted(i["id"] for i in instances) and traces.raw_errors == []
    for instance_id, path in traces.raw_paths.items():
        assert path == str(raw / f"{instance_id}.json")
        assert json.loads((raw / f"{instance_id}.json").read_bytes()) == sim.execution_documents[instance_id]
    # what was kept is a download gctrace reads again as the same trace
    for trace in traces:
        again = load_trace(traces.raw_paths[trace.metadata.extra["instance_id"]])
        assert again.analysis.to_json() == trace.analysis.to_json()


def test_cli_keep_raw_keeps_even_a_download_that_cannot_be_read(scripted, tmp_path, capsys, monkeypatch):
    cli_env(monkeypatch)
    doc = json.dumps({"flow": {"startDateTime": "2026-01-01T00:00:00Z", "endDateTime": "2026-01-01T00:00:01Z",
                               "execution": []}}).encode()

    def handler(method, path, headers, body):
        if path.startswith(h.QUERY_PATH):
            return 200, {}, {"entities": [dict(ENTITY, id="good"), dict(ENTITY, id="odd")], "total": 2}
        if path.startswith(h.JOBS_PATH):
            return 200, {}, {"id": "j", "jobState": "Success", "entities": [
                {"id": i, "downloadUri": f"{server.url}/dl/{i}", "statusCode": "200"} for i in ("good", "odd")]}
        return 200, {}, doc if path == "/dl/good" else b"<html>not what we expected</html>"

    server = scripted(handler)
    raw = tmp_path / "raw"
    status, out, err = run_cli(["history", "--flow-id", "f", *hosts(server.url), "--keep-raw", str(raw),
                                "--save-dir", str(tmp_path / "traces"), "--format", "json"], capsys)
    assert status == 3 and "odd skipped" in err and "kept 2 raw download(s)" in err
    assert (raw / "good.json").read_bytes() == doc
    assert (raw / "odd.json").read_bytes() == b"<html>not what we expected</html>"
    (item,) = json.loads(out)
    assert item["raw_file"] == str(raw / "good.json") and item["file"] == str(tmp_path / "traces" / "good.json")


def test_cli_keep_raw_refuses_the_save_dir_and_a_file(cli_sim, tmp_path, capsys):
    conv, _ = busiest_conversation(cli_sim)
    status, _, err = run_cli(["history", "--conversation-id", conv, *hosts(cli_sim.api_url),
                              "--save-dir", str(tmp_path), "--keep-raw", str(tmp_path / "." )], capsys)
    assert status == 2 and "another directory" in err
    (tmp_path / "f").write_text("")
    status, _, err = run_cli(["history", "--conversation-id", conv, *hosts(cli_sim.api_url),
                              "--keep-raw", str(tmp_path / "f")], capsys)
    assert status == 2 and "not a directory" in err
    assert cli_sim.requests == []


def test_a_raw_download_that_cannot_be_written_is_a_warning_not_a_lost_trace(sim, client, tmp_path):
    conv, instances = busiest_conversation(sim)
    blocked = instances[0]["id"]
    (tmp_path / f"{blocked}.json").mkdir()  # a directory where the file should go
    traces = h.fetch_history_traces(client, conversation_id=conv, keep_raw=tmp_path)
    assert len(traces) == len(instances)
    assert [i for i, _ in traces.raw_errors] == [blocked] and blocked not in traces.raw_paths
    assert any(f"could not keep the raw download of instance {blocked}" in w for w in traces.warnings)
