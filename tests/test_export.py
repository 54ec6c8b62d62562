"""Exports: Parquet frames, Chrome trace events, OTLP JSON, and the OTLP/HTTP push."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import polars as pl
import pytest

from gctrace_nb import load_trace
from gctrace_nb.batch import load_traces
from gctrace_nb.cli.app import main
from gctrace_nb.errors import ApiError
from gctrace_nb.batch.export import push_otlp, to_chrome_trace, to_otlp, write_parquet

from batch_helpers import BASE_MS, iso


def t(ms):
    return iso(BASE_MS + ms)


STEPS = [
    {"nodeId": "root", "name": "flow", "startTime": t(0), "endTime": t(1000), "status": "success"},
    {"nodeId": "a", "name": "lookup", "parentId": "root", "startTime": t(10), "endTime": t(400),
     "status": "failed", "errorMessage": "timeout"},
    {"nodeId": "u", "parentId": "root"},  # untimed: no span; its child hangs from root
    {"nodeId": "b", "parentId": "u", "startTime": t(500), "endTime": t(900), "status": "success"},
]


@pytest.fixture
def trace_dir(tmp_path):
    directory = tmp_path / "in"
    directory.mkdir()
    (directory / "one.json").write_text(json.dumps(STEPS), encoding="utf-8")
    (directory / "two.json").write_text(json.dumps(STEPS[:2]), encoding="utf-8")
    return directory


def test_parquet_round_trip(trace_dir, tmp_path):
    ts = load_traces(trace_dir, progress=False)
    paths = write_parquet(ts, tmp_path / "out")
    assert set(paths) == {"traces", "steps", "nodes"}
    assert pl.read_parquet(paths["steps"]).equals(ts.steps)
    assert pl.read_parquet(paths["traces"]).equals(ts.traces)
    assert pl.read_parquet(paths["nodes"]).height == ts.nodes().height


def test_chrome_trace_events(trace_dir):
    data = json.loads(json.dumps(to_chrome_trace(load_traces(trace_dir, progress=False))))
    complete = [e for e in data["traceEvents"] if e["ph"] == "X"]
    assert len(complete) == 3 + 2  # timed steps of both traces
    one = {e["args"]["node_id"]: e for e in complete if e["pid"] == 1}
    assert one["root"]["ts"] == BASE_MS * 1000 and one["root"]["dur"] == 1_000_000
    assert one["a"]["dur"] == 390_000 and one["a"]["cat"] == "failed" and one["a"]["tid"] == 1
    assert one["b"]["tid"] == 2  # depth in the step tree
    assert one["a"]["args"]["error_message"] == "timeout"
    names = {(e["pid"], e["args"]["name"]) for e in data["traceEvents"] if e["name"] == "process_name"}
    assert names == {(1, str(trace_dir / "one.json")), (2, str(trace_dir / "two.json"))}


def test_otlp_ids_and_parent_links(trace_dir):
    data = to_otlp(load_traces(trace_dir, progress=False))
    assert len(data["resourceSpans"]) == 2
    spans = data["resourceSpans"][0]["scopeSpans"][0]["spans"]
    by_name = {s["attributes"][0]["value"]["stringValue"]: s for s in spans}
    assert set(by_name) == {"root", "a", "b"}
    for span in spans:
        assert re.fullmatch(r"[0-9a-f]{32}", span["traceId"])
        assert re.fullmatch(r"[0-9a-f]{16}", span["spanId"])
        assert int(span["endTimeUnixNano"]) >= int(span["startTimeUnixNano"])
    assert len({s["traceId"] for s in spans}) == 1
    assert "parentSpanId" not in by_name["root"]
    assert by_name["a"]["parentSpanId"] == by_name["root"]["spanId"]
    assert by_name["b"]["parentSpanId"] == by_name["root"]["spanId"]  # the untimed parent is skipped
    assert by_name["a"]["status"] == {"code": 2, "message": "timeout"}
    assert by_name["root"]["status"] == {"code": 0}
    assert by_name["root"]["startTimeUnixNano"] == str(BASE_MS * 1_000_000)
    other = data["resourceSpans"][1]["scopeSpans"][0]["spans"]
    assert other[0]["traceId"] != spans[0]["traceId"]
    # deterministic: the same input gives the same ids
    assert to_otlp(load_traces(trace_dir, progress=False)) == data


def test_otlp_of_a_single_trace(trace_dir):
    data = to_otlp(load_trace(str(trace_dir / "one.json")))
    assert len(data["resourceSpans"][0]["scopeSpans"][0]["spans"]) == 3


class _Receiver(BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.path, self.headers["Content-Type"], json.loads(body)))
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    _Receiver.received = []
    _Receiver.status = 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Receiver
    server.shutdown()
    server.server_close()


def test_push_otlp_posts_json_to_v1_traces(trace_dir, receiver):
    url, handler = receiver
    sent = push_otlp(load_traces(trace_dir, progress=False), url + "/")
    assert sent == 5
    (path, ctype, body), = handler.received
    assert path == "/v1/traces" and ctype == "application/json"
    assert len(body["resourceSpans"]) == 2


def test_push_otlp_error_status_raises(trace_dir, receiver):
    url, handler = receiver
    handler.status = 503
    with pytest.raises(ApiError) as info:
        push_otlp(str(trace_dir), url)
    assert info.value.status == 503 and info.value.url == url + "/v1/traces"


def test_push_otlp_unreachable_raises(trace_dir):
    with pytest.raises(ApiError):
        push_otlp(str(trace_dir), "http://127.0.0.1:9", timeout=2)


def test_cli_export(trace_dir, tmp_path, receiver, capsys):
    out = tmp_path / "chrome.json"
    assert main(["export", "--format", "chrome", "-o", str(out), str(trace_dir)]) == 0
    assert any(e["ph"] == "X" for e in json.loads(out.read_text())["traceEvents"])
    out = tmp_path / "otlp.json"
    assert main(["export", "--format", "otlp", "-o", str(out), str(trace_dir / "one.json")]) == 0
    assert len(json.loads(out.read_text())["resourceSpans"]) == 1
    assert main(["export", "--format", "parquet", "-o", str(tmp_path / "pq"), str(trace_dir)]) == 0
    assert (tmp_path / "pq" / "steps.parquet").exists()
    url, handler = receiver
    assert main(["export", "--format", "otlp", "--push", url, str(trace_dir)]) == 0
    assert len(handler.received) == 1
    assert main(["export", "--format", "chrome", str(trace_dir)]) == 2  # no -o
    (trace_dir / "bad.json").write_text("{", encoding="utf-8")
    assert main(["export", "--format", "chrome", "-o", str(tmp_path / "c2.json"), str(trace_dir)]) == 2
    assert "bad.json" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["chrome", "otlp", "parquet"])
def test_cli_export_to_an_unwritable_place_is_one_line_not_a_traceback(fmt, trace_dir, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    for out in (tmp_path, blocker / "out"):  # chrome/otlp: a directory; all: a path under a file
        target = out if fmt != "parquet" else blocker / "pq"
        assert main(["export", "--format", fmt, "-o", str(target), str(trace_dir)]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"gctrace export: cannot write {target}: ") and err.count("\n") == 1
