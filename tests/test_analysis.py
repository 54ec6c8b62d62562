"""The spec's rules, each on a case computed by hand (``shared/spec/analysis.md``)."""

from __future__ import annotations

import json

import pytest

from gctrace_nb import analyze_steps, load_trace
from tests.helpers import step


def run(steps):
    return analyze_steps(steps).to_json()


# ---------------------------------------------------------------- critical path
def test_sequential_children_share_the_path_with_their_parent():
    # root [0,10]; a [1,4]; b [5,9]: root owns [0,1] [4,5] [9,10]
    out = run([step("root", 0, 10), step("a", 1, 4, "root"), step("b", 5, 9, "root")])
    assert out["critical_ms"] == {"root": 3.0, "a": 3.0, "b": 4.0}
    assert out["critical_path"] == ["root", "a", "b"]
    assert out["bottleneck"] == {"node_id": "b", "critical_ms": 4.0}
    assert out["total_ms"] == 10.0


def test_overlapping_sibling_that_ends_first_is_not_critical():
    # a [1,8] covers b [2,6]: after a the cursor is at 1, b ends after it
    out = run([step("root", 0, 10), step("a", 1, 8, "root"), step("b", 2, 6, "root")])
    assert out["critical_ms"] == {"root": 3.0, "a": 7.0}
    assert "b" not in out["critical_path"]


def test_tie_on_end_picks_earliest_start():
    out = run([step("root", 0, 10), step("late", 3, 8, "root"), step("early", 1, 8, "root")])
    assert out["critical_ms"] == {"root": 3.0, "early": 7.0}


def test_tie_on_end_and_start_picks_smallest_node_id():
    out = run([step("root", 0, 10), step("b2", 2, 8, "root"), step("b1", 2, 8, "root")])
    assert out["critical_ms"] == {"root": 4.0, "b1": 6.0}


def test_nested_walk_and_gap_ownership():
    # root [0,100]; call [10,90]; http [20,80] inside call; log [85,95] in root overlapping call's end
    out = run([
        step("root", 0, 100), step("call", 10, 90, "root"),
        step("http", 20, 80, "call"), step("log", 85, 95, "root"),
    ])
    # walk(root,100): latest end is log(95): root [95,100]=5; log [85,95]=10; cursor 85;
    # candidates ending <= 85: none (call ends 90) -> root [0,85]=85
    assert out["critical_ms"] == {"root": 90.0, "log": 10.0}
    assert out["bottleneck"] == {"node_id": "root", "critical_ms": 90.0}


def test_bottleneck_tie_prefers_earliest_window_start_then_smallest_id():
    out = run([step("root", 0, 10), step("a", 2, 6, "root"), step("b", 6, 10, "root")])
    # root [0,2]=2, a=4, b=4: a starts first
    assert out["bottleneck"] == {"node_id": "a", "critical_ms": 4.0}
    # clock skew: child starts before its parent, clipped to the same window start
    out = run([step("root", 10, 20), step("child", 5, 15, "root")])
    assert out["critical_ms"] == {"root": 5.0, "child": 5.0}
    assert out["bottleneck"] == {"node_id": "child", "critical_ms": 5.0}


def test_critical_path_order_is_start_then_depth_then_id():
    # p and its child c start together; z and y start together at the same depth
    out = run([
        step("root", 0, 30), step("p", 0, 10, "root"), step("c", 0, 10, "p"),
        step("z", 10, 20, "root"), step("y", 20, 30, "root"),
    ])
    assert out["critical_path"] == ["c", "z", "y"]
    out = run([step("root", 0, 10), step("m", 0, 5, "root"), step("k", 5, 10, "root")])
    assert out["critical_path"] == ["m", "k"]


def test_several_roots_use_a_virtual_root_that_never_appears():
    out = run([step("r1", 0, 4), step("r2", 6, 10)])
    assert out["total_ms"] == 10.0
    assert out["critical_ms"] == {"r1": 4.0, "r2": 4.0}
    assert out["critical_path"] == ["r1", "r2"]
    a = analyze_steps([step("r1", 0, 4), step("r2", 6, 10)])
    assert a.top == -1 and sum(e - s for _, s, e in a.segments) == 10_000


def test_zero_length_step_takes_no_part_without_anomaly():
    out = run([step("root", 0, 10), step("blip", 5, 5, "root")])
    assert out["critical_ms"] == {"root": 10.0}
    assert out["anomalies"] == []
    assert out["valid_steps"] == 2


def test_no_valid_step_means_no_bottleneck():
    out = run([step("a", None, 5), step("b", 5, 1)])
    assert out["bottleneck"] is None
    assert out["critical_path"] == [] and out["critical_ms"] == {}
    assert out["total_ms"] == 0.0
    assert out["accuracy_rate"] == 0.0


def test_empty_list():
    out = run([])
    assert out == {
        "steps": 0, "valid_steps": 0, "accuracy_rate": 0.0, "total_ms": 0.0,
        "critical_path": [], "critical_ms": {}, "bottleneck": None,
        "failed_nodes": [], "anomalies": [],
    }


# ------------------------------------------------------------------ anomalies
def test_missing_id_drops_non_objects_and_bad_ids():
    out = run([7, None, {"nodeId": ""}, {"nodeId": 5}, {"startTime": 0}, step("ok", 0, 1)])
    assert out["anomalies"] == [["", "missing_id"]]
    assert out["steps"] == 6 and out["valid_steps"] == 1
    assert out["accuracy_rate"] == round(1 / 6, 4)


def test_duplicate_keeps_the_first():
    out = run([step("a", 0, 10), step("a", 0, 99)])
    assert out["anomalies"] == [["a", "duplicate"]]
    assert out["total_ms"] == 10.0
    assert out["steps"] == 2 and out["valid_steps"] == 1


@pytest.mark.parametrize(
    "start,end",
    [(None, "2024-05-01T10:00:01Z"), ("2024-05-01T10:00:00Z", None), ("", "2024-05-01T10:00:01Z"),
     (True, 5), ("yesterday", 5), (0, [1]), (0, {"t": 1})],
)
def test_untimed_keeps_the_row_but_not_the_timing(start, end):
    s = {"nodeId": "u", "parentId": "root", "startTime": start, "endTime": end}
    a = analyze_steps([step("root", 0, 10), s])
    assert ("u", "untimed") in a.anomalies
    assert a.node_ids == ("root", "u") and a.valid == (True, False)
    assert a.critical_ms == {"root": 10.0}


def test_negative_duration():
    out = run([step("root", 0, 10), step("n", 8, 3, "root")])
    assert out["anomalies"] == [["n", "negative_duration"]]
    assert out["valid_steps"] == 1


def test_orphan_becomes_a_root():
    out = run([step("root", 0, 10), step("o", 20, 30, "ghost")])
    assert out["anomalies"] == [["o", "orphan"]]
    # two valid roots now: a virtual root spans [0,30]
    assert out["total_ms"] == 30.0
    assert out["critical_ms"] == {"root": 10.0, "o": 10.0}


def test_cycle_breaks_at_the_earliest_start_and_flags_every_member():
    # a -> b -> c -> a; b starts first so b loses its parent and becomes the root
    out = run([step("a", 2, 8, "c"), step("b", 0, 10, "a"), step("c", 1, 9, "b")])
    assert out["anomalies"] == [["a", "cycle"], ["b", "cycle"], ["c", "cycle"]]
    assert out["critical_ms"] == {"b": 2.0, "c": 2.0, "a": 6.0}
    assert out["critical_path"] == ["b", "c", "a"]


def test_cycle_counts_untimed_as_latest_then_smallest_id():
    # x (untimed) <-> y (untimed): both "latest", the smaller id "x" drops its link
    a = analyze_steps([{"nodeId": "y", "parentId": "x"}, {"nodeId": "x", "parentId": "y"}])
    assert a.parent_index[a.index_of["x"]] == -2
    assert a.parent_index[a.index_of["y"]] == a.index_of["x"]
    # a timed member beats an untimed one
    a = analyze_steps([{"nodeId": "a", "parentId": "b"}, step("b", 50, 60, "a")])
    assert a.parent_index[a.index_of["b"]] == -2


def test_self_parent_is_a_cycle():
    out = run([step("s", 0, 5, "s")])
    assert out["anomalies"] == [["s", "cycle"]]
    assert out["critical_ms"] == {"s": 5.0}


def test_outside_parent_takes_no_part_nor_does_its_subtree():
    out = run([
        step("root", 0, 10), step("late", 12, 20, "root"), step("under", 13, 15, "late"),
        step("ok", 2, 4, "root"),
    ])
    # the root cause is flagged once: "under" lies inside its own parent and is not flagged
    # because an ancestor lies outside its parent (spec §2.8, clarified)
    assert out["anomalies"] == [["late", "outside_parent"]]
    assert "late" not in out["critical_ms"] and "under" not in out["critical_ms"]
    assert out["critical_ms"] == {"root": 8.0, "ok": 2.0}
    # total_ms still spans every valid step
    assert out["total_ms"] == 20.0
    a = analyze_steps([step("root", 0, 10), step("late", 12, 20, "root"), step("under", 13, 15, "late")])
    assert a.window[a.index_of["under"]] is None and a.self_us[a.index_of["under"]] == 0


def test_below_a_flagged_step_a_step_outside_its_own_parent_is_not_flagged_either():
    # late [12,20] outside root [0,10]; worse [30,40] is outside late too, but the walk stopped at late
    out = run([step("root", 0, 10), step("late", 12, 20, "root"), step("worse", 30, 40, "late")])
    assert out["anomalies"] == [["late", "outside_parent"]]


def test_a_deep_chain_below_the_root_cause_yields_one_anomaly():
    chain = [step("root", 0, 10), step("s0", 20, 100, "root")]
    chain += [step(f"s{k}", 20 + k, 100 - k, f"s{k - 1}") for k in range(1, 20)]
    out = run(chain)
    assert out["anomalies"] == [["s0", "outside_parent"]]
    assert out["critical_ms"] == {"root": 10.0}


def test_siblings_each_outside_are_each_a_root_cause():
    out = run([step("r", 0, 10), step("a", 11, 12, "r"), step("b", 20, 30, "r"), step("in", 1, 2, "r")])
    assert out["anomalies"] == [["a", "outside_parent"], ["b", "outside_parent"]]


def test_below_a_zero_length_step_nothing_is_flagged():
    # zero-length top: the walk stops at it, it has no duration, so no anomaly at all
    out = run([step("r", 5, 5), step("c", 5, 9, "r")])
    assert out["anomalies"] == []
    assert out["critical_path"] == [] and out["bottleneck"] is None and out["total_ms"] == 4.0
    # zero-length middle step: the walk stops there; its positive child is below it, not flagged
    out = run([step("r", 0, 10), step("z", 5, 5, "r"), step("c", 5, 7, "z"), step("blip", 5, 5, "z")])
    assert out["anomalies"] == []
    assert out["critical_ms"] == {"r": 10.0}


def test_a_zero_length_step_outside_its_parent_is_not_flagged():
    out = run([step("r", 0, 10), step("z", 20, 20, "r")])
    assert out["anomalies"] == []


def test_a_child_touching_its_parent_end_is_outside_it():
    out = run([step("r", 0, 10), step("after", 10, 12, "r")])
    assert out["anomalies"] == [["after", "outside_parent"]]


def test_an_untimed_step_between_passes_the_walk_through():
    # u is untimed: c's timing parent is "late", where the walk already stopped
    out = run([step("root", 0, 10), step("late", 12, 20, "root"), {"nodeId": "u", "parentId": "late"},
               step("c", 14, 15, "u")])
    assert out["anomalies"] == [["late", "outside_parent"], ["u", "untimed"]]


def test_untimed_parent_passes_timing_to_the_next_valid_ancestor():
    a = analyze_steps([
        step("root", 0, 10), {"nodeId": "u", "parentId": "root"}, step("c", 2, 5, "u"),
    ])
    i = a.index_of
    assert a.timing_parent[i["c"]] == i["root"]
    assert a.depth[i["c"]] == 2
    assert a.self_us[i["root"]] == 7000
    assert a.critical_ms == {"root": 7.0, "c": 3.0}


def test_self_time_subtracts_the_union_of_children():
    a = analyze_steps([
        step("root", 0, 100), step("a", 10, 50, "root"), step("b", 30, 70, "root"),
        step("c", 90, 120, "root"),
    ])
    # union of [10,50],[30,70],[90,100] = 40+20... = [10,70] + [90,100] = 70
    assert a.self_us[a.index_of["root"]] == 30_000
    assert a.self_us[a.index_of["c"]] == 10_000  # clipped to the parent


def test_failed_nodes_match_trimmed_lowercase_statuses():
    out = run([
        step("a", 0, 1, status=" Failed "), step("b", 0, 1, status="ERROR"),
        step("c", 0, 1, status="failure"), step("d", 0, 1, status="failed_partially"),
        step("e", 0, 1, status=None), step("f", 0, 1, status=3),
    ])
    assert out["failed_nodes"] == ["a", "b", "c"]


def test_timestamps_in_every_accepted_form_agree():
    steps = [
        {"nodeId": "root", "startTime": "2024-05-01T10:00:00Z", "endTime": "2024-05-01T12:00:01.5+02:00"},
        {"nodeId": "a", "parentId": "root", "startTime": 1714557600000, "endTime": "2024-05-01T10:00:00.250z"},
        {"nodeId": "b", "parentId": "root", "startTime": "2024-05-01T10:00:00.250", "endTime": 1714557601000.25},
    ]
    out = run(steps)
    assert out["total_ms"] == 1500.0
    assert out["critical_ms"] == {"root": 499.75, "a": 250.0, "b": 750.25}


def test_accuracy_is_rounded_to_four_decimals():
    out = run([step("a", 0, 1), step("b", 0, 1), {"nodeId": "c"}])
    assert out["accuracy_rate"] == 0.6667


def test_a_long_chain_is_analysed_without_recursion():
    n = 100_000
    steps = [{"nodeId": f"n{i}", "parentId": f"n{i - 1}" if i else None,
              "startTime": i, "endTime": 2 * n - i} for i in range(n)]
    a = analyze_steps(steps)
    assert len(a.critical_path) == n
    assert a.critical_ms["n0"] == 2.0  # owns [0,1] and [2n-1,2n]
    assert a.total_ms == 2.0 * n


def test_unknown_fields_are_kept():
    trace = load_trace([step("a", 0, 5, region="eu", attempt=2)])
    assert trace.analysis.raw[0]["region"] == "eu"
    assert json.loads(trace.steps["extra"][0]) == {"region": "eu", "attempt": 2}


@pytest.mark.parametrize("bad", [" ", "\r", "\t\n", "2024-05-01T10:00:00Z\x00", " 2024-05-01T10:00:00Z", "2024-05-01T10:00:00Z ", "2024-13-01T00:00:00Z", "2024-05-01T10:00:00+25:00", "T10:00"])
def test_unparsable_timestamp_strings_count_as_missing(bad):
    a = analyze_steps([{"nodeId": "a", "startTime": bad, "endTime": "2024-05-01T10:00:01Z"}])
    assert a.anomalies == (("a", "untimed"),)
