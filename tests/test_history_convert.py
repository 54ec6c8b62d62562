"""A downloaded flow execution-history document becomes a trace (gctrace_nb.core.formats.history)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gctrace_nb import TraceFormatError, analyze_steps, load_trace
from gctrace_nb.cli.app import main
from gctrace_nb.core.formats.history import execution_document_to_steps
from gctrace_nb._time import parse_timestamp
from tests.helpers import t


def item(kind, at=None, **payload):
    if at is not None:
        payload["dateTime"] = t(at)
    return {kind: payload}


def realistic_document():
    """An inbound call flow: a decision, a task holding a common module with a data action
    (whose request and response are nested items), a menu, a failing data action, a transfer."""
    return {
        "flow": {
            "conversationId": "conv-9f1c",
            "flowId": "flow-main",
            "flowName": "Main IVR",
            "flowVersion": "12.0",
            "flowType": "INBOUNDCALL",
            "flowInstanceId": "inst-77",
            "startDateTime": t(0),
            "endDateTime": t(10_000),
            "execution": [
                item("startedFlow", 0),
                item("actionDecision", 100, actionId="a1", actionName="Check VIP", trackingId="t1",
                     outputPathId="yes"),
                item("startedTask", 200, taskName="Main Menu Task", trackingId="t2"),
                item("actionPlayAudio", 300, actionId="a3", actionName="Welcome", trackingId="t3"),
                item("startedCommonModule", 1_000, commonModuleName="Lookup Customer", trackingId="t4"),
                item("actionCallData", 1_100, actionId="a5", actionName="Get CRM record", trackingId="t5",
                     executionId="e5", inputData={"phone": "+15550100"}, outputData={"tier": "gold"},
                     execution=[
                         item("dataActionRequest", 1_150, trackingId="t5r"),
                         item("dataActionResponse", 4_000, trackingId="t5s"),
                     ]),
                item("actionUpdateData", 4_500, actionId="a6", actionName="Set tier", trackingId="t6"),
                item("endedCommonModule", 5_000, trackingId="t4"),
                item("menuMenu", 5_100, actionId="a7", actionName="Main menu", trackingId="t7"),
                item("actionCallData", 6_000, actionId="a8", actionName="Post survey", trackingId="t8",
                     errors=[{"errorCode": "ACTION.TIMEOUT", "message": "Request timed out"}]),
                item("endedTask", 8_000, trackingId="t2"),
                item("actionTransferToAcd", 8_100, actionId="a9", actionName="To Sales", trackingId="t9"),
                item("endedFlow", 10_000),
            ],
        }
    }


def by_id(steps):
    return {s["nodeId"]: s for s in steps}


def span(step):
    start, end = parse_timestamp(step["startTime"]), parse_timestamp(step["endTime"])
    base = parse_timestamp(t(0))
    return ((start - base) / 1000, (end - base) / 1000)


def test_realistic_document_structure_times_and_status():
    steps, meta = execution_document_to_steps(realistic_document())
    s = by_id(steps)
    expected = {
        "flow:flow-main#0": (None, (0, 10_000)),
        "actionDecision:t1#1": ("flow:flow-main#0", (100, 200)),
        "task:t2#1": ("flow:flow-main#0", (200, 8_000)),
        "actionPlayAudio:t3#1": ("task:t2#1", (300, 1_000)),
        "commonModule:t4#1": ("task:t2#1", (1_000, 5_000)),
        "actionCallData:t5#1": ("commonModule:t4#1", (1_100, 4_500)),
        "dataActionRequest:t5r#1": ("actionCallData:t5#1", (1_150, 4_000)),
        "dataActionResponse:t5s#1": ("actionCallData:t5#1", (4_000, 4_500)),
        "actionUpdateData:t6#1": ("commonModule:t4#1", (4_500, 5_000)),
        "menuMenu:t7#1": ("task:t2#1", (5_100, 6_000)),
        "actionCallData:t8#1": ("task:t2#1", (6_000, 8_000)),
        "actionTransferToAcd:t9#1": ("flow:flow-main#0", (8_100, 10_000)),
    }
    assert [x["nodeId"] for x in steps] == list(expected)  # root first, then document order
    for node_id, (parent, times) in expected.items():
        assert s[node_id]["parentId"] == parent, node_id
        assert span(s[node_id]) == times, node_id
    # Markers are no steps; names, types and ids are kept.
    assert not any(x["type"] in ("startedFlow", "endedFlow", "endedTask", "endedCommonModule") for x in steps)
    crm = s["actionCallData:t5#1"]
    assert (crm["name"], crm["type"], crm["actionId"], crm["trackingId"], crm["executionId"]) == (
        "Get CRM record", "actionCallData", "a5", "t5", "e5")
    assert crm["outputData"] == {"tier": "gold"}
    assert s["task:t2#1"]["name"] == "Main Menu Task" and s["task:t2#1"]["kind"] == "group"
    assert s["commonModule:t4#1"]["name"] == "Lookup Customer"
    # Ends of items are inferred; bracket ends come from their end markers.
    assert all(x.get("endInferred") for x in steps if x["kind"] == "action")
    assert not s["task:t2#1"].get("endInferred") and not s["flow:flow-main#0"].get("endInferred")
    # Failure with its error text; everything else succeeded.
    failed = [x["nodeId"] for x in steps if x["status"] == "failed"]
    assert failed == ["actionCallData:t8#1"]
    assert "Request timed out" in s["actionCallData:t8#1"]["errorMessage"]
    assert all(x["status"] == "success" for x in steps if x["nodeId"] not in failed)
    assert meta == {
        "source": "history", "flow_id": "flow-main", "flow_name": "Main IVR", "flow_version": "12.0",
        "flow_type": "INBOUNDCALL", "conversation_id": "conv-9f1c", "instance_id": "inst-77",
        "flow_start": t(0), "flow_end": t(10_000),
        # item types we do not know are still steps, and are counted so a real run shows them
        "unrecognised": {"execution.dataActionRequest": 1, "execution.dataActionResponse": 1},
    }


def test_realistic_document_analysis_via_load_trace():
    trace = load_trace(realistic_document())
    a = trace.analysis
    assert a.total_ms == 10_000.0
    assert a.steps_total == a.valid_steps == 12
    assert a.anomalies == ()
    assert a.failed_nodes == ("actionCallData:t8#1",)
    assert a.bottleneck.node_id == "dataActionRequest:t5r#1"
    assert trace.metadata.source == "history"
    assert trace.metadata.flow_id == "flow-main"
    assert trace.metadata.extra["conversation_id"] == "conv-9f1c"
    assert sum(a.critical_ms.values()) == pytest.approx(10_000.0)


def test_the_same_document_gives_the_same_ids():
    first, _ = execution_document_to_steps(realistic_document())
    second, _ = execution_document_to_steps(realistic_document())
    assert [s["nodeId"] for s in first] == [s["nodeId"] for s in second]


def test_saved_download_is_batch_analysed_by_the_cli(tmp_path, capsys):
    path = tmp_path / "download.json"
    path.write_text(json.dumps(realistic_document()))
    assert main(["analyze", str(path), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["total_ms"] == 10_000.0
    assert out["failed_nodes"] == ["actionCallData:t8#1"]
    assert out["steps"] == 12


def test_unclosed_and_stray_brackets_are_closed_and_flagged():
    doc = {"flow": {"flowId": "f", "startDateTime": t(0), "endDateTime": t(1_000), "execution": [
        item("startedTask", 100, taskName="outer", trackingId="o"),
        item("startedCommonModule", 200, trackingId="cm"),
        item("actionA", 300, trackingId="x"),
        item("endedTask", 600),               # closes the common module too
        item("endedCommonModule", 650),       # stray: nothing open
        item("startedTask", 700, trackingId="late"),   # never closed
        item("actionB", 800, trackingId="y"),
    ]}}
    steps, _ = execution_document_to_steps(doc)
    s = by_id(steps)
    assert span(s["task:o#1"]) == (100, 600) and not s["task:o#1"].get("unclosed")
    assert span(s["commonModule:cm#1"]) == (200, 600) and s["commonModule:cm#1"]["unclosed"]
    assert s["actionA:x#1"]["parentId"] == "commonModule:cm#1"
    assert span(s["task:late#1"]) == (700, 1_000) and s["task:late#1"]["unclosed"]
    assert s["actionB:y#1"]["parentId"] == "task:late#1"
    assert s["flow:f#0"]["strayEndMarkers"] == 1
    assert load_trace(doc).analysis.total_ms == 1_000.0


def test_bracket_inside_a_nested_list_closes_at_its_owners_end():
    doc = {"flow": {"startDateTime": t(0), "endDateTime": t(1_000), "execution": [
        item("actionOuter", 100, trackingId="p", execution=[
            item("startedTask", 150, trackingId="in"),
            item("actionInner", 200, trackingId="c"),
        ]),
        item("actionNext", 500, trackingId="n"),
    ]}}
    s = by_id(execution_document_to_steps(doc)[0])
    assert span(s["actionOuter:p#1"]) == (100, 500)
    assert s["task:in#1"]["parentId"] == "actionOuter:p#1"
    assert span(s["task:in#1"]) == (150, 500) and s["task:in#1"]["unclosed"]
    assert s["actionInner:c#1"]["parentId"] == "task:in#1"
    assert "flow:#0" in s  # no flowId: still a root id


def test_missing_times_unknown_types_and_junk_items():
    doc = {"flow": {"flowId": "f", "startDateTime": t(0), "endDateTime": t(1_000), "execution": [
        None, 5, "text", [], {},
        item("actionA", 100, trackingId="a"),
        item("somethingNew"),                             # no dateTime, unknown type
        {"actionC": "not an object"},
        item("actionD", 400, actionId="d", errors="boom"),
    ]}}
    steps, _ = execution_document_to_steps(doc)
    s = by_id(steps)
    assert s["flow:f#0"]["skippedItems"] == 5
    assert span(s["actionA:a#1"]) == (100, 400)
    assert s["somethingNew:#1"]["startInferred"] and span(s["somethingNew:#1"]) == (400, 400)
    assert s["actionC:#1"]["malformed"]
    assert s["actionD:d#1"]["status"] == "failed" and s["actionD:d#1"]["errorMessage"] == "boom"
    assert span(s["actionD:d#1"]) == (400, 1_000)


def test_flow_times_fall_back_to_markers_then_items():
    doc = {"flow": {"flowId": "f", "execution": [
        item("startedFlow", 50), item("actionA", 100), item("endedFlow", 900)]}}
    root = execution_document_to_steps(doc)[0][0]
    assert span(root) == (50, 900) and root["startInferred"] and root["endInferred"]
    doc = {"flow": {"execution": [item("actionA", 100), item("actionB", 300)]}}
    steps = execution_document_to_steps(doc)[0]
    assert span(steps[0]) == (100, 300)
    assert load_trace(doc).analysis.total_ms == 200.0


def test_times_outside_the_flow_are_clamped_so_total_is_the_flow():
    doc = {"flow": {"startDateTime": t(1_000), "endDateTime": t(2_000), "execution": [
        item("actionEarly", 500), item("actionLate", 5_000), item("actionBack", 1_500)]}}
    steps = execution_document_to_steps(doc)[0]
    s = by_id(steps)
    assert s["actionEarly:#1"]["clamped"] and span(s["actionEarly:#1"])[0] == 1_000
    assert s["actionLate:#1"]["clamped"]
    assert s["actionLate:#1"]["outOfOrder"]  # the next item starts before it
    assert load_trace(doc).analysis.total_ms == 1_000.0


def test_flow_level_errors_fail_the_root():
    doc = {"flow": {"flowErrorReason": "FLOW_ERROR", "startDateTime": t(0), "endDateTime": t(10),
                    "execution": [item("endedFlow", 10, errors=[{"message": "disconnected"}])]}}
    root = execution_document_to_steps(doc)[0][0]
    assert root["status"] == "failed"
    assert "FLOW_ERROR" in root["errorMessage"] and "disconnected" in root["errorMessage"]


def safe_timestamp(value):
    try:
        return parse_timestamp(value)
    except Exception:  # the core's parser may choke on odd strings; the converter must not
        return None


@pytest.mark.parametrize("text", ["", " ", "\r", "\t\n", "Z", "T"])
def test_odd_time_strings_count_as_missing(text):
    doc = {"flow": {"startDateTime": text, "endDateTime": text, "execution": [
        item("startedFlow", dateTime=text), item("actionA", 100), item("actionB", dateTime=text),
        item("endedFlow", dateTime=text)]}}
    steps, _ = execution_document_to_steps(doc)
    assert [s["nodeId"] for s in steps] == ["flow:#0", "actionA:#1", "actionB:#1"]
    assert span(steps[0]) == (100, 100)


@pytest.mark.parametrize("doc", [None, [], "x", {}, {"flow": None}, {"flow": []}])
def test_not_a_document_is_a_trace_format_error(doc):
    with pytest.raises(TraceFormatError):
        execution_document_to_steps(doc)


def test_an_action_run_again_keeps_its_prefix_and_counts_up():
    doc = {"flow": {"startDateTime": t(0), "endDateTime": t(100), "execution": [
        item("actionCallData", 10, trackingId=7), item("actionDecision", 20, trackingId=8),
        item("actionCallData", 30, trackingId=7), item("a:b", 40), item("a", 50, trackingId="b:"),
    ]}}
    ids = [s["nodeId"] for s in execution_document_to_steps(doc)[0]]
    assert ids == ["flow:#0", "actionCallData:7#1", "actionDecision:8#1", "actionCallData:7#2", "a:b:#1", "a:b:#2"]
    assert len(set(ids)) == len(ids)


def test_deep_nesting_does_not_recurse():
    inner: list = []
    doc = {"flow": {"startDateTime": t(0), "endDateTime": t(10), "execution": inner}}
    for i in range(5_000):
        nxt: list = []
        inner.append({"actionX": {"trackingId": str(i), "execution": nxt}})
        inner = nxt
    steps, _ = execution_document_to_steps(doc)
    assert len(steps) == 5_001
    assert len({s["nodeId"] for s in steps}) == 5_001


# ---------------------------------------------------------------- hostile documents
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                         st.floats(allow_nan=True), st.text(max_size=6))
json_values = st.recursive(json_scalars, lambda c: st.one_of(
    st.lists(c, max_size=3), st.dictionaries(st.text(max_size=5), c, max_size=3)), max_leaves=8)
timestamps = st.one_of(st.integers(0, 20_000).map(t), json_scalars,
                       st.integers(-10**15, 10**15), st.just("2024-13-45T99:00:00Z"),
                       st.sampled_from(["", " ", "\r", "\n\t", "Z", "T"]))
types = st.sampled_from(["startedFlow", "endedFlow", "startedTask", "endedTask", "startedCommonModule",
                         "endedCommonModule", "startedState", "endedState", "actionCallData",
                         "menuMenu", "started", "endedFoo", "x", "", "a", "a:b", "a:", "x#1"])


@st.composite
def payloads(draw, children):
    p = {}
    tracking = st.one_of(st.sampled_from(["", "1", "b", "b:", ":b", "#1", "b#1", "1#1"]), st.text(max_size=3),
                         json_scalars)
    for key, strat in (("dateTime", timestamps), ("trackingId", tracking),
                       ("actionId", json_values), ("actionName", json_values), ("errors", json_values),
                       ("execution", children)):
        if draw(st.booleans()):
            p[key] = draw(strat)
    return p


items = st.recursive(
    st.one_of(json_values, st.builds(lambda k, v: {k: v}, types, json_values),
              st.builds(lambda k, p: {k: p}, types, payloads(st.just([]))),
              st.builds(lambda k, p: {k: p}, types, payloads(st.just([])))),
    lambda c: st.one_of(
        st.builds(lambda k, p: {k: p}, types, payloads(st.lists(c, max_size=4))),
        st.dictionaries(types, payloads(st.lists(c, max_size=3)), min_size=2, max_size=3),
    ),
    max_leaves=30,
)
flows = st.fixed_dictionaries({"execution": st.one_of(st.lists(items, min_size=1, max_size=12),
                                                       json_values)}, optional={
    "flowId": json_values, "flowName": json_values, "startDateTime": timestamps, "endDateTime": timestamps,
    "errors": json_values,
    "flowErrorReason": json_values})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(flows.map(lambda f: {"flow": f}), json_values))
def test_hostile_documents_never_raise_anything_but_trace_format_error(doc):
    original = copy.deepcopy(doc)
    try:
        steps, meta = execution_document_to_steps(doc)
    except TraceFormatError:
        return
    assert doc == original or doc != doc  # input untouched (NaN compares unequal to itself)
    ids = [s["nodeId"] for s in steps]
    assert len(ids) == len(set(ids))
    json.dumps(steps, default=str)
    assert meta["source"] == "history"
    analysis = analyze_steps(steps)
    start = safe_timestamp(doc["flow"].get("startDateTime"))
    end = safe_timestamp(doc["flow"].get("endDateTime"))
    if start is not None and end is not None and end >= start:
        assert analysis.total_ms == round((end - start) / 1000, 3)
    assert not [a for a in analysis.anomalies if a[1] in ("duplicate", "missing_id", "orphan", "cycle")]


def test_a_start_marker_holding_its_items_nested_is_a_group_of_them():
    doc = {"flow": {"flowId": "f", "startDateTime": t(0), "endDateTime": t(1_000), "execution": [
        item("startedTask", 100, trackingId="a", execution=[item("actionX", 150, trackingId="x")]),
        item("actionAfter", 400, trackingId="after"),
        item("startedTask", 500, trackingId="b", execution=[item("actionY", 550, trackingId="y")]),
        item("endedTask", 700, trackingId="b"),
        item("actionLast", 800, trackingId="last"),
    ]}}
    steps, _ = execution_document_to_steps(doc)
    s = by_id(steps)
    assert span(s["task:a#1"]) == (100, 400) and not s["task:a#1"].get("unclosed")
    assert s["actionX:x#1"]["parentId"] == "task:a#1"
    assert s["actionAfter:after#1"]["parentId"] == "flow:f#0"
    assert span(s["task:b#1"]) == (500, 700) and not s["task:b#1"].get("endInferred")
    assert s["actionLast:last#1"]["parentId"] == "flow:f#0"
    assert "strayEndMarkers" not in s["flow:f#0"]
    assert load_trace(doc).analysis.anomalies == ()


def test_an_item_without_ids_is_named_by_its_name():
    from gctrace_nb.core.formats.history import execution_document_to_steps

    doc = {"flow": {"flowId": "f", "startDateTime": "2026-03-01T10:00:00Z", "endDateTime": "2026-03-01T10:00:09Z",
                    "execution": [
                        {"startedCommonModule": {"dateTime": "2026-03-01T10:00:01Z", "commonModuleName": "Billing"}},
                        {"actionCallData": {"dateTime": "2026-03-01T10:00:02Z", "trackingId": "4"}},
                        {"endedCommonModule": {"dateTime": "2026-03-01T10:00:05Z"}},
                    ]}}
    steps, _ = execution_document_to_steps(doc)
    assert [s["nodeId"] for s in steps] == ["flow:f#0", "commonModule:Billing#1", "actionCallData:4#1"]
    assert steps[2]["parentId"] == "commonModule:Billing#1"


# ------------------------------------------------ the help page's example, rebuilt
EXAMPLE = Path(__file__).parent / "data" / "history_help_page_example.json"


def example() -> dict:
    """Genesys's help-page example ("Historical flow execution data overview"), rebuilt from the
    fields it shows and genesys-api.md names (our ids and times): a bot state with ask-for-intent,
    ask-for-slot (with a turn), decisions leaving by __YES__/__NO__, a data action with variables
    and outputVariables, then a menu (menuName, a turn) and a transfer; flowErrorReason "NONE"."""
    return json.loads(EXAMPLE.read_text(encoding="utf-8"))


def espan(step):
    """A step's (start, end) in ms after the example's start."""
    base = parse_timestamp(example()["flow"]["startDateTime"])
    return ((parse_timestamp(step["startTime"]) - base) / 1000, (parse_timestamp(step["endTime"]) - base) / 1000)


def test_the_help_page_example_analyses_with_no_invented_failure():
    doc = example()
    steps, meta = execution_document_to_steps(doc)
    s = by_id(steps)
    flow = doc["flow"]
    state_id = flow["execution"][1]["startedBotState"]["stateId"]
    root = s[f"flow:{flow['flowId']}#0"]
    assert root["status"] == "success" and "errorMessage" not in root  # "NONE" is no error
    assert "flowErrorReason" not in root and (root["flowExitReason"], root["languageTag"]) == ("TRANSFER", "en-us")
    assert meta["division_id"] == flow["division"]["id"] and "unrecognised" not in meta
    assert not any("unrecognised" in step for step in steps)
    # names come from menuName / actionName; an action without a name is named by its type
    assert s["menuMenu:16#1"]["name"] == "Main menu"
    assert (s["actionCallData:14#1"]["name"], s["actionDecision:15#1"]["name"]) == ("Get balance", "Balance due?")
    assert s["actionAskForIntent:11#1"]["name"] == "actionAskForIntent"
    assert [s[f"actionDecision:{n}#1"]["outputPathId"] for n in (13, 15)] == ["__YES__", "__NO__"]
    # what the data action was given and returned, as one mapping
    assert s["actionCallData:14#1"]["variables"] == {"Flow.AccountNumber": "40021337", "Flow.Balance": "42.10"}
    assert s["actionAskForSlot:12#1"]["variables"] == {"Slot.AccountNumber": "40021337"}
    assert "variables" not in s["actionDecision:13#1"]  # an empty list says nothing
    # the bot state is a group keyed by its stateId, ended by its end marker
    group = s[f"botState:{state_id}#1"]
    assert (group["kind"], group["parentId"], espan(group)) == ("group", root["nodeId"], (0, 17_510))
    assert not group.get("endInferred")
    assert {x["nodeId"] for x in steps if x["parentId"] == group["nodeId"]} == {
        "actionAskForIntent:11#1", "actionAskForSlot:12#1", "actionDecision:13#1", "actionCallData:14#1",
        "actionDecision:15#1"}
    # a turn spans the prompt to the participant's answer (recorded times, not inferred)
    for turn_id, parent, window in (("turn:12#1", "actionAskForSlot:12#1", (7_100, 16_000)),
                                    ("turn:16#1", "menuMenu:16#1", (17_530, 27_000))):
        turn = s[turn_id]
        assert (turn["parentId"], espan(turn)) == (parent, window)
        assert not turn.get("endInferred") and not turn.get("startInferred")
    assert espan(s["menuMenu:16#1"]) == (17_520, 28_000)

    a = load_trace(doc).analysis
    assert a.total_ms == 32_853.0
    assert a.failed_nodes == () and a.anomalies == ()
    assert (a.bottleneck.node_id, a.bottleneck.critical_ms) == ("turn:16#1", 9_470.0)  # the caller choosing
    assert a.critical_ms["turn:12#1"] == 8_900.0 and a.critical_ms["actionAskForIntent:11#1"] == 7_054.0


def test_ids_are_the_same_in_another_run_of_the_same_flow_version():
    first = example()
    second = copy.deepcopy(first)
    for entry in second["flow"]["execution"]:
        payload = next(iter(entry.values()))
        if "executionId" in payload:
            payload["executionId"] = "another-run-" + payload["executionId"][:8]  # per run
    ids = [x["nodeId"] for x in execution_document_to_steps(first)[0]]
    assert ids == [x["nodeId"] for x in execution_document_to_steps(second)[0]]


@pytest.mark.parametrize("reason", ["NONE", "none", "None", "", " "])
def test_a_none_flow_error_reason_is_no_error(reason):
    doc = {"flow": {"flowErrorReason": reason, "flowWarningReason": reason, "startDateTime": t(0),
                    "endDateTime": t(10), "execution": []}}
    steps, meta = execution_document_to_steps(doc)
    assert steps[0]["status"] == "success" and "flow_error_reason" not in meta


def test_errors_error_and_error_info_all_fail_an_item():
    doc = {"flow": {"startDateTime": t(0), "endDateTime": t(100), "execution": [
        item("actionA", 10, trackingId=1, errors=[{"errorCode": "E1", "message": "one"}]),
        item("actionB", 20, trackingId=2, error={"message": "two"}),
        item("actionC", 30, trackingId=3, errorInfo={"code": "gateway.timeout", "message": "three"}),
        item("actionD", 40, trackingId=4, errors=[], error=None, errorInfo={}),
    ]}}
    s = by_id(execution_document_to_steps(doc)[0])
    assert [s[f"action{k}:{n}#1"]["status"] for n, k in enumerate("ABCD", 1)] == ["failed"] * 3 + ["success"]
    assert s["actionC:3#1"]["errorMessage"] == "gateway.timeout: three"


def test_unrecognised_fields_are_kept_and_counted_not_dropped():
    doc = {"flow": {"startDateTime": t(0), "endDateTime": t(100), "newFlowField": 1, "execution": [
        item("startedFlow", 0, surprise="x"),
        item("actionCallData", 10, trackingId=1, latencyMs=42, variables=[{"name": "odd shape"}]),
        item("actionCallData", 20, trackingId=2, latencyMs=7),
        item("somethingNew", 30, trackingId=3),
    ]}, "envelope": {"v": 2}}
    steps, meta = execution_document_to_steps(doc)
    s = by_id(steps)
    assert meta["unrecognised"] == {
        "actionCallData.latencyMs": 2, "actionCallData.variables": 1, "document.envelope": 1,
        "execution.somethingNew": 1, "flow.newFlowField": 1, "startedFlow.surprise": 1}
    assert s["actionCallData:1#1"]["unrecognised"] == {"actionCallData.latencyMs": 42,
                                                      "actionCallData.variables": [{"name": "odd shape"}]}
    assert steps[0]["unrecognised"] == {"document.envelope": {"v": 2}, "flow.newFlowField": 1,
                                        "startedFlow.surprise": "x"}
    assert load_trace(doc).metadata.extra["unrecognised"] == meta["unrecognised"]


def test_an_output_variable_that_replaces_an_input_keeps_both():
    doc = {"flow": {"startDateTime": t(0), "endDateTime": t(100), "execution": [
        item("actionUpdateData", 10, trackingId=1, variables=[{"variableName": "Flow.N", "value": "1"}],
             outputVariables=[{"variableName": "Flow.N", "value": "2"}])]}}
    step = by_id(execution_document_to_steps(doc)[0])["actionUpdateData:1#1"]
    assert step["variables"] == {"Flow.N": "2"} and step["variablesGiven"] == {"Flow.N": "1"}


def test_a_turn_without_an_answer_ends_where_the_next_item_starts():
    doc = {"flow": {"startDateTime": t(0), "endDateTime": t(1_000), "execution": [
        item("menuMenu", 100, trackingId=5, menuName="Main", execution=[
            {"turn": {"toParticipant": {"dateTime": t(150)}}}]),
        item("actionDisconnect", 600, trackingId=6)]}}
    s = by_id(execution_document_to_steps(doc)[0])
    assert span(s["turn:5#1"]) == (150, 600) and s["turn:5#1"]["endInferred"]
    assert s["menuMenu:5#1"]["name"] == "Main"


def test_total_ms_is_exact_past_2_to_the_53_microseconds():
    """Found by hypothesis: a flow ending in the year 4307 gave 72057594037928.98 ms, not ...29.0."""
    doc = {"flow": {"execution": None, "startDateTime": "2024-05-01T10:00:00.000000Z", "endDateTime": 73772151637929}}
    steps, _ = execution_document_to_steps(doc)
    assert analyze_steps(steps).total_ms == 72057594037929.0
