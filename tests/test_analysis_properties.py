"""Properties of the analysis over generated traces, and agreement with a naive second reading."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gctrace_nb import TraceFormatError, analyze_steps, load_trace
from tests.spec_reference import analyze as reference

IDS = ["a", "b", "c", "d", "e", "f", "g", "h", "root", "x<&\"'\n", "ü"]


@st.composite
def steps_lists(draw, max_size=24):
    n = draw(st.integers(0, max_size))
    out = []
    for _ in range(n):
        kind = draw(st.integers(0, 30))
        if kind == 0:
            out.append(draw(st.one_of(st.none(), st.integers(), st.text(max_size=3), st.lists(st.integers(), max_size=2))))
            continue
        s = {}
        if kind != 1:
            s["nodeId"] = draw(st.sampled_from(IDS))
        parent = draw(st.one_of(st.none(), st.sampled_from(IDS), st.just("ghost"), st.just("")))
        if parent is not None:
            s["parentId"] = parent
        start = draw(st.integers(0, 40))
        dur = draw(st.integers(-3, 30))
        times = draw(st.integers(0, 12))
        if times == 0:
            pass  # untimed
        elif times == 1:
            s["startTime"] = start
        elif times == 2:
            s["startTime"], s["endTime"] = f"2024-01-01T00:00:{start:02d}.5Z", f"2024-01-01T00:00:{start:02d}.9+00:00"
        else:
            s["startTime"], s["endTime"] = start, start + dur
        s["status"] = draw(st.sampled_from(["success", "failed", " Error ", "FAILURE", None, "ok"]))
        out.append(s)
    return out


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps_lists())
def test_agrees_with_a_naive_reading_of_the_spec(steps):
    mine = analyze_steps(steps)
    ref = reference(steps)
    ref_self = ref.pop("_self_ms")
    assert mine.to_json() == ref
    for node_id, self_ms in ref_self.items():
        assert round(mine.self_us[mine.index_of[node_id]] / 1000, 3) == self_ms


@settings(max_examples=300, deadline=None)
@given(steps_lists(max_size=40))
def test_segments_tile_the_top_window_exactly_once(steps):
    a = analyze_steps(steps)
    if a.top is None or a.top_window[1] <= a.top_window[0]:
        assert a.segments == () and a.bottleneck is None
        return
    segs = sorted(a.segments, key=lambda s: s[1])
    assert segs[0][1] == a.top_window[0]
    assert segs[-1][2] == a.top_window[1]
    for (_, _, e1), (_, s2, _) in zip(segs, segs[1:]):
        assert e1 == s2
    assert all(e > s for _, s, e in segs)
    # critical ms add up to the top's duration (the virtual root's gaps included)
    virtual = sum(e - s for node, s, e in segs if node < 0)
    assert sum(a.critical_us) + virtual == a.top_window[1] - a.top_window[0]


@settings(max_examples=300, deadline=None)
@given(steps_lists(max_size=40))
def test_self_time_is_never_negative_and_never_exceeds_the_window(steps):
    a = analyze_steps(steps)
    for w, self_us in zip(a.window, a.self_us):
        assert self_us >= 0
        assert self_us <= (w[1] - w[0] if w else 0)


@settings(max_examples=200, deadline=None)
@given(steps_lists(max_size=30))
def test_every_view_reports_the_same_numbers(steps):
    trace = load_trace(steps)
    frame = trace.steps
    a = trace.analysis
    on_path = frame.filter(frame["on_critical_path"])["node_id"].to_list()
    assert sorted(on_path) == sorted(a.critical_path)
    for node_id, crit in zip(frame["node_id"], frame["critical_ms"]):
        assert round(crit, 3) == a.critical_ms.get(node_id, 0.0)
    assert sorted(frame.filter(frame["failed"])["node_id"].to_list()) == list(a.failed_nodes)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(
        st.sampled_from(["steps", "result", "status", "nodeId", "parentId", "startTime", "endTime", "flow", "execution", "x"]),
        inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=500, deadline=None)
@given(json_values)
def test_arbitrary_json_is_a_trace_or_a_trace_format_error(value):
    for kwargs in ({"source": value}, {"source": json.dumps(value).encode()}, {"text": json.dumps(value)}):
        try:
            trace = load_trace(**kwargs)
        except TraceFormatError:
            continue
        trace.analysis.to_json()
        assert trace.steps.height == len(trace.analysis.node_ids)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64) | st.text(max_size=64))
def test_arbitrary_bytes_or_text_never_raise_anything_else(data):
    for kwargs in ({"source": data} if isinstance(data, bytes) else {"text": "[" + data}, {"source": "[" + str(data)}):
        try:  # bytes and text= are JSON; a str is a path, however odd
            load_trace(**kwargs)
        except TraceFormatError:
            pass
