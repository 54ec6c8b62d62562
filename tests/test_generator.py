"""The seeded trace and execution-document generators: deterministic, realistic, scalable."""

from __future__ import annotations

import doctest
import re
from datetime import datetime, timezone

import pytest

import gctrace_nb
from gctrace_nb.simulator import generate_dirty_trace, generate_execution_document, generate_trace
from gctrace_nb.simulator import generator as generator_module
from gctrace_nb.simulator import history_docs as history_docs_module
from gctrace_nb._time import parse_timestamp

ISO_MS_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
KINDS = {"missing_id", "duplicate", "untimed", "negative_duration", "orphan", "cycle", "outside_parent"}


def windows(steps: list[dict]) -> dict[str, tuple[int, int]]:
    return {s["nodeId"]: (parse_timestamp(s["startTime"]), parse_timestamp(s["endTime"])) for s in steps}


def assert_well_formed(steps: list[dict]) -> None:
    """Unique ids, one root first, parents known and listed earlier, children inside parents."""
    ids = [s["nodeId"] for s in steps]
    assert len(ids) == len(set(ids))
    assert steps[0]["parentId"] is None
    assert all(s["parentId"] is not None for s in steps[1:])
    win = windows(steps)
    seen = set()
    for s in steps:
        start, end = win[s["nodeId"]]
        assert start <= end, s
        if s["parentId"] is not None:
            assert s["parentId"] in seen, s
            p_start, p_end = win[s["parentId"]]
            assert p_start <= start and end <= p_end, (s["nodeId"], s["parentId"])
        seen.add(s["nodeId"])


def test_same_seed_same_trace_and_different_seeds_differ():
    assert generate_trace(7) == generate_trace(7)
    assert generate_trace(7) != generate_trace(8)
    assert generate_trace(3, size=250) == generate_trace(3, size=250)


def test_steps_carry_the_contract_fields_and_unknown_ones():
    steps = generate_trace(11)
    for s in steps:
        assert {"nodeId", "parentId", "name", "type", "startTime", "endTime", "status", "errorMessage"} <= set(s)
        assert ISO_MS_Z.match(s["startTime"]) and ISO_MS_Z.match(s["endTime"])
        assert s["status"] in ("success", "failed")
        assert "actionType" in s
    assert any("attempt" in s for s in steps)
    assert steps[0]["nodeId"] == "inbound-main"
    assert generate_trace(11, flow_id="billing")[0]["nodeId"] == "billing"


@pytest.mark.parametrize("seed", range(20))
def test_normal_trace_is_well_formed_and_analyses_cleanly(seed):
    steps = generate_trace(seed)
    assert_well_formed(steps)
    analysis = gctrace_nb.load_trace(steps).analysis
    assert analysis.anomalies == ()
    assert analysis.valid_steps == len(steps)
    assert analysis.bottleneck is not None and analysis.bottleneck.node_id != steps[0]["nodeId"]


def test_the_inbound_flow_has_menus_decisions_and_a_parallel_fan_out():
    steps = generate_trace(5)
    types = {s["type"] for s in steps}
    assert {"menu", "decision", "dataAction", "parallel", "playAudio"} <= types
    services = {s.get("service") for s in steps if s["type"] == "dataAction"}
    assert {"crm", "payment", "knowledge"} <= services
    win = windows(steps)
    siblings = [s["nodeId"] for s in steps if s["parentId"] == "customer-context"]
    assert len(siblings) == 3
    # parallel siblings overlap pairwise in time
    for a in siblings:
        for b in siblings:
            assert win[a][0] < win[b][1] and win[b][0] < win[a][1]


def test_failures_with_messages_and_retries_appear_across_seeds():
    failed = [s for seed in range(30) for s in generate_trace(seed) if s["status"] == "failed"]
    assert failed
    assert all(s["errorMessage"] for s in failed)
    assert any("HTTP 504 from payment gateway" == s["errorMessage"] for s in failed)
    retries = [s for seed in range(30) for s in generate_trace(seed) if re.search(r"-retry-\d+$", s["nodeId"])]
    assert retries and all(s["attempt"] >= 2 for s in retries)
    assert any(s["nodeId"] == "crm-lookup-retry-1" for seed in range(60) for s in generate_trace(seed))
    # and the failed steps are reported by the analysis
    steps = next(generate_trace(seed) for seed in range(30) if any(s["status"] == "failed" for s in generate_trace(seed)))
    assert gctrace_nb.load_trace(steps).analysis.failed_nodes


def test_failure_and_slow_rates_are_honoured():
    assert not any(s["status"] == "failed" for seed in range(10) for s in generate_trace(seed, failure_rate=0.0))
    assert all(any(s["status"] == "failed" for s in generate_trace(seed, failure_rate=1.0)) for seed in range(10))
    fast = sum(gctrace_nb.load_trace(generate_trace(seed, slow_rate=0.0)).analysis.total_ms for seed in range(10))
    slow = sum(gctrace_nb.load_trace(generate_trace(seed, slow_rate=1.0)).analysis.total_ms for seed in range(10))
    assert slow > 3 * fast


def test_start_places_the_root():
    start = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
    assert generate_trace(1, start=start)[0]["startTime"] == "2025-03-01T12:00:00.000Z"
    assert generate_trace(1, start="2025-03-01T12:00:00Z")[0]["startTime"] == "2025-03-01T12:00:00.000Z"


@pytest.mark.parametrize("size", [1, 2, 3, 4, 10, 57, 250, 1000])
def test_int_size_gives_exactly_that_many_well_formed_steps(size):
    for seed in range(5):
        steps = generate_trace(seed, size=size)
        assert len(steps) == size
        assert_well_formed(steps)
    assert gctrace_nb.load_trace(generate_trace(9, size=size)).analysis.anomalies == ()


def test_sized_traces_nest_and_run_in_parallel():
    steps = generate_trace(4, size=250)
    depth = {}
    for s in steps:
        depth[s["nodeId"]] = 0 if s["parentId"] is None else depth[s["parentId"]] + 1
    assert max(depth.values()) >= 3
    assert any(s["type"] == "parallel" for s in steps)
    assert any(s["status"] == "failed" for seed in range(5) for s in generate_trace(seed, size=250))


def test_scales_to_100k_steps():
    steps = generate_trace(2, size=100_000)
    assert len(steps) == 100_000
    assert_well_formed(steps)


def test_bad_arguments_are_value_errors():
    with pytest.raises(ValueError):
        generate_trace(1, size="huge")
    with pytest.raises(ValueError):
        generate_trace(1, size=0)
    with pytest.raises(ValueError):
        generate_trace(1, failure_rate=1.5)


@pytest.mark.parametrize("seed", range(8))
def test_dirty_trace_has_every_anomaly_kind(seed):
    steps = generate_dirty_trace(seed)
    kinds = {kind for _, kind in gctrace_nb.load_trace(steps).analysis.anomalies}
    assert kinds == KINDS
    assert generate_dirty_trace(seed) == steps


# -- execution-history documents ------------------------------------------------------------

def _items(execution: list) -> list[tuple[str, dict]]:
    out = []
    for item in execution:
        assert len(item) == 1
        (kind, payload), = item.items()
        out.append((kind, payload))
        out.extend(_items(payload.get("execution", [])))
    return out


def test_execution_document_is_deterministic_and_shaped_like_genesys():
    doc = generate_execution_document(3, conversation_id="conv-1", flow_id="flow-1")
    assert doc == generate_execution_document(3, conversation_id="conv-1", flow_id="flow-1")
    assert doc != generate_execution_document(4, conversation_id="conv-1", flow_id="flow-1")
    flow = doc["flow"]
    assert {"conversationId", "flowId", "flowName", "flowVersion", "flowType", "startDateTime", "endDateTime",
            "execution"} <= set(flow)
    assert (flow["conversationId"], flow["flowId"]) == ("conv-1", "flow-1")
    kinds = [k for k, _ in _items(flow["execution"])]
    assert kinds[0] == "startedFlow" and kinds[-1] == "endedFlow"
    for k in ("startedTask", "endedTask", "startedCommonModule", "endedCommonModule", "actionDecision",
              "actionCallData", "menuMenu"):
        assert k in kinds
    assert kinds.count("startedTask") == kinds.count("endedTask")
    payloads = [p for _, p in _items(flow["execution"])]
    assert any(p.get("outputData") for k, p in _items(flow["execution"]) if k == "actionCallData")
    assert any(p.get("errors") and p["errors"][0]["errorCode"] and p["errors"][0]["message"] for p in payloads)
    assert any(p.get("execution") for p in payloads)
    assert all("actionId" in p and "trackingId" in p for k, p in _items(flow["execution"]) if k.startswith("action"))


def test_execution_document_times_increase_in_document_order_inside_the_flow():
    for seed in range(10):
        flow = generate_execution_document(seed)["flow"]
        times = []
        for kind, p in _items(flow["execution"]):
            if kind == "turn":  # a turn runs from the prompt to the participant to the answer
                times += [parse_timestamp(p["toParticipant"]["dateTime"]),
                          parse_timestamp(p["fromParticipant"]["dateTime"])]
            else:
                times.append(parse_timestamp(p["dateTime"]))
        assert times == sorted(times) and len(set(times)) == len(times)
        assert parse_timestamp(flow["startDateTime"]) <= times[0]
        assert times[-1] < parse_timestamp(flow["endDateTime"])


def test_execution_document_without_a_failure():
    payloads = [p for _, p in _items(generate_execution_document(1, fail_payment=False)["flow"]["execution"])]
    assert not any(p.get("errors") for p in payloads)


def test_doctests_pass():
    for module in (generator_module, history_docs_module):
        assert doctest.testmod(module).failed == 0


def test_execution_document_converts_to_a_clean_trace():
    history = pytest.importorskip("gctrace_nb.core.formats.history")
    for seed in range(5):
        doc = generate_execution_document(seed)
        steps, _ = history.execution_document_to_steps(doc)
        analysis = gctrace_nb.load_trace(steps).analysis
        flow = doc["flow"]
        assert analysis.total_ms == (parse_timestamp(flow["endDateTime"]) - parse_timestamp(flow["startDateTime"])) / 1000
        assert analysis.anomalies == () and len(analysis.failed_nodes) == 1


def test_execution_document_follows_the_help_page_example_and_the_converter_knows_every_field():
    import re
    import uuid as _uuid

    from gctrace_nb.core.formats.history import execution_document_to_steps

    uuid_re = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
    first = generate_execution_document(1, flow_id="f", flow_version="7.0")
    again = generate_execution_document(2, flow_id="f", flow_version="7.0")  # another run, same version
    flow = first["flow"]
    assert flow["flowErrorReason"] == flow["flowWarningReason"] == "NONE"
    assert uuid_re.match(flow["division"]["id"])
    items = _items(flow["execution"])
    started = dict(items)["startedFlow"]
    assert started["languageTag"] == "en-us" and isinstance(started["variables"], list)
    assert dict(items)["endedFlow"]["flowExitReason"]
    actions = [(k, p) for k, p in items if k.startswith(("action", "menu"))]
    for kind, p in actions:
        assert uuid_re.match(p["actionId"]) and isinstance(p["trackingId"], int), kind
        assert p["outputPathId"] in ("__DEFAULT__", "__YES__", "__NO__") or uuid_re.match(p["outputPathId"])
        assert isinstance(p["execution"], list)
        for key in ("variables", "outputVariables"):
            assert all(set(v) == {"variableName", "value"} for v in p.get(key, []))
    assert {p["outputPathId"] for _, p in actions} >= {"__DEFAULT__", "__YES__", "__NO__"}
    assert any(p["execution"] == [] for _, p in actions)
    # the same action has the same actionId in every run of a flow version; executionIds differ
    ids_again = [p["actionId"] for k, p in _items(again["flow"]["execution"]) if k.startswith("action")]
    assert [p["actionId"] for k, p in actions if k.startswith("action")][:3] == ids_again[:3]
    assert {p["executionId"] for _, p in actions}.isdisjoint({p["executionId"] for _, p in _items(
        again["flow"]["execution"]) if "executionId" in p})
    menu = dict(actions)["menuMenu"]
    assert menu["menuName"] and "actionName" not in menu
    (turn,), = [[p for k, p in _items(menu["execution"]) if k == "turn"]]
    assert parse_timestamp(turn["toParticipant"]["dateTime"]) < parse_timestamp(turn["fromParticipant"]["dateTime"])
    assert _uuid.UUID(menu["outputPathId"])
    # nothing in the simulator's documents is unknown to the converter
    for seed in range(5):
        _, meta = execution_document_to_steps(generate_execution_document(seed))
        assert "unrecognised" not in meta
