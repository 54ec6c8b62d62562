"""Batch analysis: every figure agrees with analysing each trace alone."""

from __future__ import annotations

import json
import random

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gctrace_nb import load_trace
from gctrace_nb.batch import load_traces
from gctrace_nb.batch.discover import expand_paths
from gctrace_nb.cli.app import main
from gctrace_nb.core.analysis import analyze_steps

from batch_helpers import BASE_MS, assert_agrees, dirty_trace, iso, realistic_trace


def write(directory, name, obj):
    path = directory / name
    path.write_text(json.dumps(obj), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("seed", range(6))
def test_random_traces_agree_with_the_single_trace_analysis(tmp_path, seed):
    rng = random.Random(seed)
    docs = {}
    for i in range(150):
        kind = i % 4
        if kind == 0:
            steps = realistic_trace(rng, size=rng.randint(1, 120))
        elif kind == 1:
            steps = dirty_trace(rng, junk=True)
        else:
            steps = dirty_trace(rng, junk=False)  # dirty but readable by the vector path
        docs[write(tmp_path, f"t{i:03d}.json", steps)] = steps
    ts = load_traces(tmp_path, progress=False)
    assert len(ts) == 150 and not ts.errors
    assert assert_agrees(ts, docs) > 0
    # the vector path did most of the work, the Python path only the oddities
    assert len(ts.python_path) < 100


def test_chunks_and_worker_process_give_the_same_result(tmp_path, monkeypatch):
    import gctrace_nb.batch.load as batch_load

    rng = random.Random(7)
    docs = {}
    for i in range(40):
        steps = realistic_trace(rng, size=60) if i % 2 else dirty_trace(rng, junk=False)
        docs[write(tmp_path, f"t{i:03d}.json", steps)] = steps
    whole = load_traces(tmp_path, progress=False)
    monkeypatch.setattr(batch_load, "CHUNK_STEPS", 50)  # many small chunks
    chunked = load_traces(tmp_path, progress=False)
    assert chunked.to_json() == whole.to_json()
    assert chunked.steps.equals(whole.steps)
    parallel = load_traces(tmp_path, progress=False, workers=2)
    assert parallel.to_json() == whole.to_json()
    assert parallel.steps.equals(whole.steps)
    assert parallel.traces.equals(whole.traces)
    assert_agrees(parallel, docs)


step_ids = st.sampled_from(["a", "b", "c", "d", "e", "f"])
times = st.one_of(
    st.integers(0, 40).map(lambda k: iso(BASE_MS + 10 * k)),  # coarse grid: ties
    st.integers(0, 40).map(lambda k: BASE_MS + 10 * k),  # epoch ms
    st.sampled_from([None, "", "junk", " 2024-05-01T10:00:00Z"]),
)
steps_strategy = st.lists(
    st.fixed_dictionaries(
        {"nodeId": st.one_of(step_ids, st.sampled_from(["", None]))},
        optional={
            "parentId": st.one_of(step_ids, st.sampled_from(["ghost", "", None])),
            "startTime": times,
            "endTime": times,
            "status": st.sampled_from(["success", "failed", " ERROR ", "ok"]),
            "name": st.sampled_from(["x", "y", ""]),
        },
    ),
    max_size=10,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(traces=st.lists(steps_strategy, min_size=1, max_size=8))
def test_hypothesis_traces_agree(tmp_path_factory, traces):
    directory = tmp_path_factory.mktemp("hyp")
    docs = {write(directory, f"t{i}.json", steps): steps for i, steps in enumerate(traces)}
    ts = load_traces(directory, progress=False)
    assert_agrees(ts, docs)


def test_clock_skew_multiple_roots_cycles_and_outside_parent(tmp_path):
    t = lambda ms: iso(BASE_MS + ms)  # noqa: E731
    cases = {
        "skew": [  # child starts before its parent and ends after it: clipped
            {"nodeId": "r", "startTime": t(100), "endTime": t(200)},
            {"nodeId": "c", "parentId": "r", "startTime": t(50), "endTime": t(250)},
        ],
        "roots": [  # two roots: a virtual root spans both
            {"nodeId": "a", "startTime": t(0), "endTime": t(100)},
            {"nodeId": "b", "startTime": t(150), "endTime": t(300)},
        ],
        "cycle": [
            {"nodeId": "x", "parentId": "y", "startTime": t(0), "endTime": t(10)},
            {"nodeId": "y", "parentId": "x", "startTime": t(5), "endTime": t(20)},
        ],
        "outside": [
            {"nodeId": "r", "startTime": t(0), "endTime": t(100)},
            {"nodeId": "o", "parentId": "r", "startTime": t(200), "endTime": t(300)},
            {"nodeId": "k", "parentId": "o", "startTime": t(210), "endTime": t(220)},
        ],
        "ties": [
            {"nodeId": "r", "startTime": t(0), "endTime": t(100)},
            {"nodeId": "z", "parentId": "r", "startTime": t(10), "endTime": t(90)},
            {"nodeId": "m", "parentId": "r", "startTime": t(10), "endTime": t(90)},
            {"nodeId": "q", "parentId": "r", "startTime": t(20), "endTime": t(90)},
        ],
        "untimed_middle": [
            {"nodeId": "r", "startTime": t(0), "endTime": t(100)},
            {"nodeId": "u", "parentId": "r"},
            {"nodeId": "k", "parentId": "u", "startTime": t(10), "endTime": t(50)},
        ],
    }
    docs = {write(tmp_path, f"{name}.json", steps): steps for name, steps in cases.items()}
    ts = load_traces(sorted(docs), progress=False)
    assert_agrees(ts, docs)
    # the vectorised path flags the root cause once (spec §2.8): "o", not "k" below it
    outside = next(obj for obj in ts.to_json() if obj["file"].endswith("outside.json"))
    assert outside["anomalies"] == [["o", "outside_parent"]]
    by_file = {row["file"]: row for row in ts.traces.iter_rows(named=True)}
    ties = by_file[str(tmp_path / "ties.json")]
    assert ties["bottleneck"] == "m"  # same end and start: the smallest nodeId
    assert str(tmp_path / "cycle.json") in [ts.labels[i] for i in ts.python_path]


def test_every_document_shape_and_ndjson(tmp_path):
    steps = realistic_trace(random.Random(1), size=20)
    paths = [
        write(tmp_path, "a_list.json", steps),
        write(tmp_path, "b_saved.json", {"format": "gctrace_nb.trace", "metadata": {"flow_id": "f-1"}, "steps": steps}),
        write(tmp_path, "c_job.json", {"status": "COMPLETED", "result": steps}),
        write(tmp_path, "d_job_steps.json", {"status": "COMPLETED", "result": {"steps": steps}}),
    ]
    lines = [json.dumps(steps), "", json.dumps({"steps": steps[:5]}), "{broken"]
    (tmp_path / "e.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    ts = load_traces(tmp_path, progress=False)
    assert ts.labels == paths + [f"{tmp_path / 'e.ndjson'}:1", f"{tmp_path / 'e.ndjson'}:3"]
    assert ts.errors == [(f"{tmp_path / 'e.ndjson'}:4", ts.errors[0][1])]
    assert ts.errors[0][1].startswith("not JSON")
    assert ts.traces["flow_id"].to_list() == [None, "f-1", None, None, None, None]
    expected = analyze_steps(steps).to_json()
    for obj in ts.to_json()[:4]:
        assert {k: v for k, v in obj.items() if k != "file"} == expected


def test_bad_files_are_collected_never_raised(tmp_path):
    good = write(tmp_path, "good.json", realistic_trace(random.Random(2), size=10))
    (tmp_path / "empty.json").write_text("", encoding="utf-8")
    (tmp_path / "text.json").write_text("hello", encoding="utf-8")
    write(tmp_path, "nosteps.json", {"hello": 1})
    write(tmp_path, "number.json", 5)
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00garbage")
    missing = str(tmp_path / "missing.json")
    ts = load_traces([tmp_path, missing], progress=False)
    assert ts.labels == [good]
    reasons = dict(ts.errors)
    assert set(reasons) == {
        str(tmp_path / n) for n in ("binary.json", "empty.json", "nosteps.json", "number.json", "text.json")
    } | {missing}
    assert reasons[str(tmp_path / "empty.json")] == "empty file"
    assert reasons[missing] == "no such file"
    assert "no steps list" in reasons[str(tmp_path / "nosteps.json")]


def test_documents_orjson_refuses_are_read_as_the_core_reads_them(tmp_path):
    # a lone surrogate (orjson refuses it, json accepts it) and NaN
    text = '[{"nodeId": "a\\ud800", "startTime": "2024-05-01T10:00:00Z", "endTime": "2024-05-01T10:00:01Z"},' \
           ' {"nodeId": "b", "x": NaN}]'
    (tmp_path / "odd.json").write_text(text, encoding="utf-8")
    ts = load_traces(tmp_path, progress=False)
    assert not ts.errors
    # the one-file reader escapes the lone surrogate where the text enters (issue 16.4); so does the batch
    assert ts.to_json()[0] == load_trace(tmp_path / "odd.json").analysis.to_json(str(tmp_path / "odd.json"))
    assert ts.steps["node_id"].to_list() == ["a\\ud800", "b"]


def test_expand_paths_directories_globs_and_files(tmp_path):
    for name in ("b.json", "a.json", "c.ndjson", "notes.txt"):
        (tmp_path / name).write_text("[]", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    assert expand_paths(tmp_path) == [str(tmp_path / n) for n in ("a.json", "b.json", "c.ndjson")]
    assert expand_paths(str(tmp_path / "*.json")) == [str(tmp_path / "a.json"), str(tmp_path / "b.json")]
    assert expand_paths([str(tmp_path / "notes.txt")]) == [str(tmp_path / "notes.txt")]


def test_nodes_frame_by_id_and_by_name(tmp_path):
    t = lambda ms: iso(BASE_MS + ms)  # noqa: E731
    one = [
        {"nodeId": "r1", "name": "flow", "startTime": t(0), "endTime": t(100)},
        {"nodeId": "x1", "name": "lookup", "parentId": "r1", "startTime": t(10), "endTime": t(60), "status": "failed"},
    ]
    two = [
        {"nodeId": "r2", "name": "flow", "startTime": t(0), "endTime": t(300)},
        {"nodeId": "x2", "name": "lookup", "parentId": "r2", "startTime": t(0), "endTime": t(200)},
    ]
    write(tmp_path, "1.json", one)
    write(tmp_path, "2.json", two)
    ts = load_traces(tmp_path, progress=False)
    by_name = {row["name"]: row for row in ts.nodes(by="name").iter_rows(named=True)}
    lookup = by_name["lookup"]
    assert lookup["count"] == 2 and lookup["traces"] == 2
    assert lookup["failure_rate"] == 0.5
    assert lookup["duration_p50_ms"] == 125.0  # linear between 50 and 200
    assert lookup["critical_rate"] == 1.0
    assert lookup["mean_critical_ms"] == 125.0
    assert lookup["critical_share"] == pytest.approx(250 / 400)
    assert by_name["flow"]["critical_share"] == pytest.approx(150 / 400)
    by_id = ts.nodes()
    assert set(by_id["node_id"]) == {"r1", "x1", "r2", "x2"}
    with pytest.raises(ValueError):
        ts.nodes(by="colour")


def test_steps_frame_has_the_trace_columns(tmp_path):
    steps = realistic_trace(random.Random(3), size=30)
    path = write(tmp_path, "t.json", steps)
    ts = load_traces([path], progress=False)
    from gctrace_nb import load_trace

    single = load_trace(path).steps
    mine = ts.steps
    assert mine["trace_id"].unique().to_list() == [0]
    assert mine["file"].unique().to_list() == [path]
    shared = [c for c in single.columns if c != "extra"]
    assert mine.select(shared).equals(single.select(shared))


def test_cli_analyze_directory_json_matches_one_file_at_a_time(tmp_path, capsys):
    rng = random.Random(4)
    for i in range(5):
        write(tmp_path, f"t{i}.json", realistic_trace(rng, size=30) if i % 2 else dirty_trace(rng))
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    assert main(["analyze", str(tmp_path), "--format", "json"]) == 2
    out, err = capsys.readouterr()
    batch = json.loads(out)
    assert err.strip() == f"gctrace analyze: {tmp_path / 'bad.json'}: " + err.strip().split(": ", 2)[2]
    singles = []
    for i in range(5):
        assert main(["analyze", str(tmp_path / f"t{i}.json"), "--format", "json"]) == 0
        singles.append(json.loads(capsys.readouterr().out))
    assert batch == singles


def test_cli_analyze_summary(tmp_path, capsys):
    write(tmp_path, "t.json", realistic_trace(random.Random(5), size=30))
    assert main(["analyze", str(tmp_path), "--summary", "--format", "json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert table and {"node_id", "count", "duration_p95_ms", "critical_share"} <= set(table[0])
    assert main(["analyze", str(tmp_path), "--summary", "--by", "name"]) == 0
    assert "e2e share" in capsys.readouterr().out


def test_progress_bar_goes_to_stderr(tmp_path, capsys):
    write(tmp_path, "t.json", realistic_trace(random.Random(6), size=5))
    load_traces(tmp_path, progress=True)
    _, err = capsys.readouterr()
    assert "traces" in err and "1/1" in err


def test_empty_input_gives_an_empty_set(tmp_path):
    ts = load_traces(tmp_path, progress=False)
    assert len(ts) == 0 and ts.to_json() == []
    assert ts.traces.height == 0 and ts.steps.height == 0
    assert isinstance(ts.nodes(), pl.DataFrame)


def test_batch_report_page(tmp_path):
    from gctrace_nb.report.batch import batch_report, summarize_set

    rng = random.Random(8)
    for i in range(6):
        steps = realistic_trace(rng, size=40)
        steps[1]["status"] = "failed"
        steps[1]["errorMessage"] = "<script>alert(1)</script>"
        write(tmp_path, f"t{i}.json", steps)
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    ts = load_traces(tmp_path, progress=False)
    summary = summarize_set(ts, by="node_id")
    assert summary["n_traces"] == 6 and summary["failures"]
    assert summary["bottlenecks"][0]["key"] == ts.nodes()["node_id"][0]
    page = batch_report(ts, tmp_path / "batch.html").read_text(encoding="utf-8")
    assert page.count("plotly.js v") == 1  # inlined once
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Top bottlenecks" in page and "Failure hotspots" in page and "bad.json" in page


def test_figures_only_mode_gives_the_same_figures(tmp_path):
    rng = random.Random(9)
    for i in range(30):
        write(tmp_path, f"t{i:02d}.json", realistic_trace(rng, size=40) if i % 2 else dirty_trace(rng))
    full = load_traces(tmp_path, progress=False)
    light = load_traces(tmp_path, progress=False, frames=False)
    assert light.to_json() == full.to_json()
    assert light.traces.equals(full.traces)
    with pytest.raises(ValueError, match="frames=False"):
        light.steps
    both = load_traces(tmp_path, progress=False, frames=False, workers=2)
    assert both.to_json() == full.to_json()



def test_fixed_iso_bytes_parser_matches_parse_timestamp():
    from gctrace_nb.batch.vectorized import parse_fixed_iso
    from gctrace_nb._time import parse_timestamp

    rng = random.Random(11)
    for length_fraction in (None, 1, 3, 6, 9):
        values = []
        for _ in range(400):
            y, mo, d = rng.choice([1, 1970, 2000, 2024, 2100, 9999]), rng.randint(0, 13), rng.randint(0, 32)
            h, mi, s = rng.randint(0, 24), rng.randint(0, 60), rng.randint(0, 60)
            frac = "" if length_fraction is None else "." + "".join(rng.choice("0123456789") for _ in range(length_fraction))
            text = f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{frac}Z"
            if rng.random() < 0.05:  # the right length, the wrong shape
                i = rng.randrange(len(text))
                text = text[:i] + rng.choice("x-:T ") + text[i + 1:]
            values.append(text)
        out, ok, odd = parse_fixed_iso(values)
        for i, text in enumerate(values):
            if i in set(odd.tolist()):
                continue  # left to parse_timestamp
            expected = parse_timestamp(text)
            assert (out[i] if ok[i] else None) == expected, text


def test_cli_analyze_directory_text_and_ndjson_file(tmp_path, capsys):
    rng = random.Random(12)
    write(tmp_path, "a.json", realistic_trace(rng, size=10))
    lines = [json.dumps(realistic_trace(rng, size=8)), json.dumps(realistic_trace(rng, size=6))]
    (tmp_path / "more.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["analyze", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("ottleneck") >= 3  # one summary per trace
    assert main(["analyze", str(tmp_path / "more.ndjson"), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["file"] for d in data] == [f"{tmp_path / 'more.ndjson'}:1", f"{tmp_path / 'more.ndjson'}:2"]
    assert data[1] == analyze_steps(json.loads(lines[1])).to_json(f"{tmp_path / 'more.ndjson'}:2")
    upper = tmp_path / "MORE.NDJSON"  # the suffix is matched without case, as load_traces does
    upper.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["analyze", str(upper), "--format", "json"]) == 0
    assert [d["file"] for d in json.loads(capsys.readouterr().out)] == [f"{upper}:1", f"{upper}:2"]
