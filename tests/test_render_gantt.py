"""gctrace_nb.render.timeline: the figure's data (bars, rows, colours, highlight, hover)."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest

from _render_samples import HOSTILE_IDS, branchy_trace, hostile_trace, step, wide_steps
from gctrace_nb import load_trace
from gctrace_nb.render import gantt
from gctrace_nb.render.timeline import CRITICAL_COLOR, CRITICAL_EDGE, STATUS_COLORS
from gctrace_nb.simulator.generator import generate_trace


def bar_color(fig: go.Figure, row: int) -> str:
    """The colour a bar is drawn with: its status code looked up on the bar trace's colour scale."""
    marker = fig.data[0].marker
    code = marker.color[row]
    scale = {round(stop * (marker.cmax - marker.cmin) + marker.cmin): color for stop, color in marker.colorscale}
    return scale[code]


def rows(fig: go.Figure) -> list[str]:
    return list(fig.data[0].customdata)


def test_one_bar_trace_holds_every_step():
    t = branchy_trace()
    fig = gantt(t)
    assert isinstance(fig, go.Figure)
    bars = [tr for tr in fig.data if tr.type == "bar"]
    assert len(bars) == 1
    bar = bars[0]
    assert bar.orientation == "h"
    assert sorted(bar.customdata) == sorted(t.analysis.node_ids)
    assert len(bar.x) == len(bar.base) == len(bar.y) == len(t.analysis.node_ids)


def test_rows_are_in_tree_order_children_by_start():
    fig = gantt(branchy_trace())
    # the top root first; its children by start (untimed last); then the orphan root
    assert rows(fig) == ["root", "auth", "lookup", "db", "crm", "crm-call", "notify", "untimed", "stray"]
    assert list(fig.data[0].y) == list(range(9))
    assert fig.layout.yaxis.autorange == "reversed"
    # row labels indent children and show names where steps have them
    ticks = list(fig.layout.yaxis.ticktext)
    assert ticks[0] == "Inbound flow" and ticks[5].endswith("CRM call</b>") and not ticks[5].startswith("<b>")
    assert ticks[5].lstrip("\u2007") == "<b>CRM call</b>"  # the bottleneck's row stands out
    assert ticks[3].lstrip("\u2007") == "✗ db"  # failed rows are marked


def test_bars_are_ms_since_the_earliest_start_and_match_the_steps_frame():
    t = branchy_trace()
    fig = gantt(t)
    bar = fig.data[0]
    frame = {r["node_id"]: r for r in t.steps.iter_rows(named=True)}
    for node_id, base, length in zip(bar.customdata, bar.base, bar.x):
        if node_id == "untimed":
            assert base is None and length is None
            continue
        assert length == frame[node_id]["duration_ms"]
    assert dict(zip(bar.customdata, bar.base))["crm"] == 100.0
    assert fig.layout.xaxis.ticksuffix == " ms" and fig.layout.meta["unit"] == "ms"
    assert fig.layout.xaxis.title.text == "time since the start"
    assert fig.layout.title.text.endswith("· started 2023-11-14 22:13:20.000 UTC")  # the absolute start


def test_traces_of_ten_seconds_or_more_get_a_seconds_axis():
    t = load_trace(generate_trace(7))  # ~15 s
    fig = gantt(t)
    assert fig.layout.xaxis.ticksuffix == " s" and fig.layout.meta["unit"] == "s"
    frame = {r["node_id"]: r for r in t.steps.iter_rows(named=True)}
    for node_id, length in zip(fig.data[0].customdata, fig.data[0].x):
        assert length == pytest.approx(frame[node_id]["duration_ms"] / 1000)
    assert max(b + x for b, x in zip(fig.data[0].base, fig.data[0].x)) == pytest.approx(t.analysis.total_ms / 1000)


def test_colour_by_status():
    fig = gantt(branchy_trace())
    order = rows(fig)
    assert bar_color(fig, order.index("db")) == STATUS_COLORS["failed"]  # "FAILED"
    assert bar_color(fig, order.index("notify")) == STATUS_COLORS["failed"]  # "error"
    assert bar_color(fig, order.index("auth")) == STATUS_COLORS["ok"]
    legend = {tr.name for tr in fig.data if tr.showlegend is not False and tr.type == "scatter" and tr.mode == "markers"}
    assert legend == {"ok", "failed"}


def test_only_the_critical_segments_are_highlighted_visible_on_every_colour():
    t = branchy_trace()
    fig = gantt(t)
    order = rows(fig)
    assert fig.data[0].marker.line.width == 0  # no bar is outlined as a whole
    edge, segs = fig.data[1], fig.data[2]
    assert segs.type == "scatter" and segs.mode == "lines" and segs.line.color == CRITICAL_COLOR
    # an orange stripe on a wider dark edge: it shows on green, red and grey bars alike
    assert edge.line.color == CRITICAL_EDGE and edge.line.width > segs.line.width and edge.x == segs.x
    for colour in STATUS_COLORS.values():
        assert colour.lower() not in (CRITICAL_COLOR.lower(), CRITICAL_EDGE.lower())
    # one x pair per segment of trace.segments, on its step's row, None between segments
    frame = t.segments
    assert len(segs.x) == 3 * frame.height
    pairs = [(segs.x[k], segs.x[k + 1], segs.y[k]) for k in range(0, len(segs.x), 3)]
    assert all(segs.x[k] is None for k in range(2, len(segs.x), 3))
    total = sum(e - s for s, e, _ in pairs)
    assert total == pytest.approx(frame["duration_ms"].sum())
    held = {}
    for (s, e, row) in pairs:
        held[order[row]] = held.get(order[row], 0) + (e - s)
    assert held == pytest.approx(t.analysis.critical_ms)


def test_the_bottleneck_is_named_on_the_chart_beside_its_bar():
    t = branchy_trace()
    fig = gantt(t)
    (note,) = fig.layout.annotations
    assert note.text == "bottleneck: <b>CRM call</b> · 730 ms · 73%"
    assert note.y == rows(fig).index("crm-call") and note.showarrow
    assert 150 <= note.x <= 880  # at an end of its critical segment (ms from the start)
    assert gantt(load_trace([step("a", None, None)])).layout.annotations == ()


def test_hover_has_start_duration_self_critical_status_and_error():
    fig = gantt(branchy_trace())
    hover = dict(zip(rows(fig), fig.data[0].hovertext))
    db = hover["db"]
    for part in ("start: +120 ms", "duration: 460 ms", "self: 460 ms", "critical: 0 ms", "status: FAILED",
                 'error: timeout &lt;db&gt; &amp; "x"'):
        assert part in db, part
    assert "critical: 730 ms (bottleneck)" in hover["crm-call"]
    assert hover["crm-call"].startswith("<b>CRM call</b><br>id: crm-call")
    assert "duration: untimed" in hover["untimed"] and "anomalies: untimed" in hover["untimed"]
    assert fig.data[0].hovertemplate == "%{hovertext}<extra></extra>"


def test_hostile_text_is_escaped_for_plotly():
    fig = gantt(hostile_trace())
    hover = list(fig.data[0].hovertext)
    joined = "".join(hover) + "".join(fig.layout.yaxis.ticktext) + fig.layout.title.text
    assert "<script>" not in joined and "</title>" not in joined
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in joined
    assert "amp&amp;nbsp;&amp;foo;&amp;#12;" in joined  # plotly would decode the entities otherwise
    assert "\n" not in joined
    assert "hostile &lt;\"name\"&gt; &amp; co" in fig.layout.title.text
    assert list(fig.data[0].customdata)[1:] == list(HOSTILE_IDS)  # raw ids, for programmatic use


def test_large_trace_is_still_one_bar_trace_without_tick_labels():
    t = load_trace(wide_steps(5000))  # 10,001 steps
    fig = gantt(t)
    assert sum(tr.type == "bar" for tr in fig.data) == 1
    assert len(fig.data[0].x) == 10_001
    assert fig.layout.yaxis.showticklabels is False
    assert fig.layout.height <= 1600


def test_empty_and_untimed_traces_draw_without_error():
    assert len(gantt(load_trace([])).data[0].x) == 0
    fig = gantt(load_trace([step("a", None, None)]))
    assert list(fig.data[0].x) == [None] and len(fig.data[1].x) == 0 and len(fig.data[2].x) == 0
    assert fig.layout.xaxis.title.text == "ms"
