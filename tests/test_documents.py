"""Reading trace documents: every accepted shape, clear errors, lossless save/load."""

from __future__ import annotations

import json
import sys

import pytest

import gctrace_nb
from gctrace_nb import Trace, TraceFormatError, TraceMetadata, load_trace, save_trace
from tests.helpers import step

STEPS = [step("root", 0, 10), step("a", 1, 4, "root", status="failed", errorMessage="boom")]


@pytest.mark.parametrize(
    "doc",
    [
        STEPS,
        {"steps": STEPS, "metadata": {"flow_id": "f1"}},
        {"status": "completed", "result": STEPS},
        {"status": "completed", "result": {"steps": STEPS, "extra": 1}},
    ],
    ids=["list", "object", "job-list", "job-object"],
)
def test_every_shape_gives_the_same_analysis(doc, tmp_path):
    expected = gctrace_nb.analyze_steps(STEPS).to_json()
    path = tmp_path / "t.json"
    path.write_text(json.dumps(doc))
    for source in (doc, json.dumps(doc).encode(), path, str(path)):
        assert load_trace(source).analysis.to_json() == expected
    assert load_trace(text=json.dumps(doc)).analysis.to_json() == expected
    assert Trace.from_json_text(json.dumps(doc)).analysis.to_json() == expected


@pytest.mark.parametrize(
    "text,fragment",
    [
        ("not json", "not JSON"),
        ("[1, 2", "not JSON"),
        ("42", "expected a list of steps or an object, got a number"),
        ('{"steps": 5}', '"steps" must be a list'),
        ('{"status": "failed", "message": "quota"}', "job response without a result"),
        ('{"status": "completed", "result": 3}', "holds no steps list"),
        ('{"hello": 1}', "no steps list found"),
        ("", "empty file"),
        ("[" * 100_000, "nested more than 256 levels deep"),
    ],
)
def test_bad_documents_name_the_file_and_the_problem(text, fragment, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(TraceFormatError) as err:
        load_trace(path)
    assert err.value.path == str(path)
    assert str(path) in str(err.value) and fragment in str(err.value)
    assert isinstance(err.value, ValueError) and isinstance(err.value, gctrace_nb.GctraceError)


def test_missing_file_and_directory_are_format_errors(tmp_path):
    with pytest.raises(TraceFormatError, match="no such file"):
        load_trace(tmp_path / "absent.json")
    with pytest.raises(TraceFormatError, match="directory"):
        load_trace(tmp_path)


@pytest.mark.parametrize("text", ["", "   "])
def test_blank_text_is_an_empty_input_not_a_directory_or_missing_file(text):
    with pytest.raises(TraceFormatError, match="empty string") as err:
        load_trace(text)
    assert "directory" not in str(err.value) and "no such file" not in str(err.value)


def test_non_utf8_bytes(tmp_path):
    with pytest.raises(TraceFormatError, match="UTF-8"):
        load_trace(b"\xff\xfe[")


def test_save_and_load_round_trip_losslessly(tmp_path):
    steps = STEPS + [{"nodeId": "weird", "startTime": "nope", "custom": {"deep": [1, 2]}}, 17, {"x": None}]
    meta = TraceMetadata(
        source="debug", flow_id="flow-1", action_invocation_id="inv-9", job_id="job-3",
        request={"flowId": "flow-1", "traceDepth": 5}, submitted_at="2024-05-01T10:00:00Z",
        completed_at="2024-05-01T10:00:02Z", retrieval_latency_ms=2034.5,
        correlation_ids=("c1", "c2"), extra={"note": "ü<&>"},
    )
    trace = Trace(steps, meta, name="mine")
    path = save_trace(trace, tmp_path / "sub" / "saved.json")
    again = load_trace(path)
    assert again.raw_steps == steps
    assert again.metadata == meta
    assert again.analysis.to_json() == trace.analysis.to_json()
    assert again.to_document() == trace.to_document()
    assert not list(path.parent.glob(".*.tmp"))


def test_saved_traces_never_keep_secret_looking_keys(tmp_path):
    meta = TraceMetadata(extra={"access_token": "tok-123", "nested": {"client_secret": "s3"}}, request={"Authorization": "Bearer x", "flowId": "f"})
    path = save_trace(Trace(STEPS, meta), tmp_path / "t.json")
    text = path.read_text()
    assert "tok-123" not in text and "s3" not in text and "Bearer" not in text
    assert '"flowId": "f"' in text


def test_import_is_light():
    import subprocess

    code = (
        "import sys, gctrace_nb; "
        "heavy = [m for m in ('plotly', 'graphviz', 'ipywidgets', 'jinja2') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_public_api_is_exactly_all_and_every_name_resolves():
    public = {name for name in dir(gctrace_nb) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(gctrace_nb, name)).__name__ == "module"}
    assert public - modules == set(gctrace_nb.__all__)
    for name in gctrace_nb.__all__:
        assert getattr(gctrace_nb, name) is not None


def test_trace_displays_a_compact_html_summary():
    trace = load_trace([step("<root&>", 0, 10, status="failed")])
    html = trace._repr_html_()
    assert "&lt;root&amp;&gt;" in html and "<root&>" not in html
    assert "gctrace-summary" in html
    assert "see .steps" in repr(trace)
    assert "&lt;root&amp;&gt;" in trace.analysis._repr_html_()


def test_lone_surrogates_are_escaped_once_where_text_enters(tmp_path, capsys):
    # issue 16.4: a lone surrogate is escaped to the text "\ud800" when the document is read,
    # so every view (frames, segments, saved file, CLI) agrees on one valid string
    from gctrace_nb.cli.app import main

    text = '[{"nodeId": "\\ud800x", "status": "\\udfff", "startTime": 0, "endTime": 5}]'
    path = tmp_path / "s.json"
    path.write_text(text)
    trace = load_trace(path)
    assert trace.raw_steps[0]["nodeId"] == "\\ud800x" and trace.analysis.node_ids == ("\\ud800x",)
    assert trace.steps["node_id"].to_list() == ["\\ud800x"]
    assert trace.segments.height == 1
    again = load_trace(save_trace(trace, tmp_path / "again.json"))
    assert again.raw_steps == trace.raw_steps
    (tmp_path / "again.json").read_bytes().decode("utf-8")  # strict UTF-8 all through
    assert main(["analyze", str(path), "--format", "json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["critical_path"] == ["\\ud800x"]
    out.encode("utf-8")
    assert main(["analyze", str(path)]) == 0
    for source in (json.loads(text), text.encode(), path):  # every way in gives the same text
        assert load_trace(source).analysis.node_ids == ("\\ud800x",)
    assert Trace(json.loads(text)).analysis.node_ids == ("\\ud800x",)
    assert TraceMetadata(flow_id="f\udfff").flow_id == "f\\udfff"


