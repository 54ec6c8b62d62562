"""compare(): per-node deltas between two traces or two sets."""

from __future__ import annotations

import json

import pytest

from gctrace_nb import load_trace
from gctrace_nb.batch import load_traces
from gctrace_nb.cli.app import main
from gctrace_nb.batch.comparison import Comparison, compare, compare_chart

from batch_helpers import BASE_MS, iso


def t(ms):
    return iso(BASE_MS + ms)


def trace(lookup_ms, *, extra=None, lookup_status="success", name_suffix=""):
    steps = [
        {"nodeId": "root", "name": "flow", "startTime": t(0), "endTime": t(1000)},
        {"nodeId": "menu", "name": "menu", "parentId": "root", "startTime": t(0), "endTime": t(100)},
        {"nodeId": "lookup" + name_suffix, "name": "lookup", "parentId": "root", "startTime": t(100),
         "endTime": t(100 + lookup_ms), "status": lookup_status},
    ]
    if extra:
        steps.append({"nodeId": extra, "name": extra, "parentId": "root", "startTime": t(900), "endTime": t(950)})
    return steps


def write(tmp_path, name, steps):
    path = tmp_path / name
    path.write_text(json.dumps(steps), encoding="utf-8")
    return path


def test_two_traces(tmp_path):
    a = load_trace(str(write(tmp_path, "a.json", trace(200, extra="old"))))
    b = load_trace(str(write(tmp_path, "b.json", trace(600, extra="fresh", lookup_status="FAILED"))))
    result = compare(a, b)
    assert isinstance(result, Comparison)
    rows = {r["node_id"]: r for r in result.nodes.iter_rows(named=True)}
    lookup = rows["lookup"]
    assert lookup["status"] == "newly_failing"
    assert lookup["delta_p50_ms"] == 400.0 and lookup["delta_p95_ms"] == 400.0
    assert lookup["delta_count"] == 0
    assert lookup["delta_share"] == pytest.approx(0.6 - 0.2)
    assert rows["menu"]["status"] == "changed" and rows["menu"]["delta_p95_ms"] == 0.0
    assert result.new == ("fresh",) and result.vanished == ("old",)
    assert result.newly_failing == ("lookup",)
    assert rows["fresh"]["delta_count"] == 1 and rows["old"]["delta_count"] == -1
    assert result.regressions(1)["node_id"].to_list() == ["lookup"]
    assert "lookup" in result.summary_text() and "new: fresh" in result.summary_text()


def test_two_sets_by_name_when_ids_change(tmp_path):
    week1, week2 = tmp_path / "w1", tmp_path / "w2"
    week1.mkdir(), week2.mkdir()
    for i, ms in enumerate([100, 200, 300]):
        write(week1, f"{i}.json", trace(ms, name_suffix=f"-{i}"))
    for i, ms in enumerate([400, 500, 600, 700]):
        write(week2, f"{i}.json", trace(ms, name_suffix=f"-x{i}"))
    result = compare(load_traces(week1, progress=False), str(week2), by="name")
    rows = {r["name"]: r for r in result.nodes.iter_rows(named=True)}
    assert rows["lookup"]["delta_count"] == 1
    assert rows["lookup"]["p50_ms_a"] == 200.0 and rows["lookup"]["p50_ms_b"] == 550.0
    assert rows["lookup"]["delta_p50_ms"] == 350.0
    assert result.new == () and result.vanished == ()
    by_id = compare(str(week1), str(week2))
    assert len(by_id.new) == 4 and len(by_id.vanished) == 3


def test_regressions_list_only_nodes_whose_p95_grew(tmp_path):
    a = write(tmp_path, "a.json", trace(600))
    b = write(tmp_path, "b.json", trace(200))
    faster = compare(str(a), str(b))
    assert faster.regressions().height == 0
    assert "regressions" not in faster.summary_text()
    same = compare(str(a), str(a))
    assert same.regressions().height == 0 and "regressions" not in same.summary_text()
    slower = compare(str(b), str(a))
    assert slower.regressions()["node_id"].to_list() == ["lookup"]


def test_chart_shows_the_biggest_regressions(tmp_path):
    a = write(tmp_path, "a.json", trace(200))
    b = write(tmp_path, "b.json", trace(600))
    fig = compare([str(a)], [str(b)])
    chart = compare_chart(fig, top=5)
    bar = chart.data[0]
    assert list(bar.y)[-1] == "lookup" and list(bar.x)[-1] == 400.0
    assert "regressions" in chart.layout.title.text


def test_a_side_with_no_readable_trace_is_an_error_not_everything_new(tmp_path):
    from gctrace_nb.errors import TraceFormatError

    b = write(tmp_path, "b.json", trace(600))
    with pytest.raises(TraceFormatError, match="no such file") as info:
        compare(str(tmp_path / "typo.json"), str(b))
    assert "typo.json" in str(info.value)
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    with pytest.raises(TraceFormatError, match="bad.json"):
        compare(str(b), [str(tmp_path / "bad.json")])
    # a set with some readable traces still compares (bad files stay in its errors)
    assert compare([str(b), str(tmp_path / "bad.json")], str(b)).traces_a == 1


def test_bad_input_type():
    with pytest.raises(TypeError):
        compare(42, 43)


def test_cli_compare(tmp_path, capsys):
    a = write(tmp_path, "a.json", trace(200))
    b = write(tmp_path, "b.json", trace(600, extra="fresh"))
    chart = tmp_path / "chart.html"
    assert main(["compare", str(a), str(b), "--chart", str(chart)]) == 0
    out = capsys.readouterr().out
    assert "lookup: p95 200 ms -> 600 ms (+400 ms)" in out and "new: fresh" in out
    assert chart.read_text(encoding="utf-8").count("plotly") > 0
    assert main(["compare", str(a), str(b), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["new"] == ["fresh"] and data["traces_a"] == 1
    (tmp_path / "bad.json").write_text("nope", encoding="utf-8")
    assert main(["compare", str(tmp_path / "bad.json"), str(b)]) == 2
    assert "no readable trace" in capsys.readouterr().err


def test_cli_compare_chart_that_cannot_be_written_is_one_line_not_a_traceback(tmp_path, capsys):
    a = write(tmp_path, "a.json", trace(200))
    b = write(tmp_path, "b.json", trace(600))
    assert main(["compare", str(a), str(b), "--chart", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "lookup: p95 200 ms -> 600 ms" in captured.out  # the comparison itself is still printed
    assert captured.err.startswith(f"gctrace compare: cannot write {tmp_path}: ") and captured.err.count("\n") == 1


def test_package_level_compare_name(tmp_path):
    import gctrace_nb

    a = write(tmp_path, "a.json", trace(200))
    b = write(tmp_path, "b.json", trace(300))
    result = gctrace_nb.compare(str(a), str(b))
    assert isinstance(result, Comparison)
    assert {r["node_id"]: r["delta_p50_ms"] for r in result.nodes.iter_rows(named=True)}["lookup"] == 100.0
