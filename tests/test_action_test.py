"""A data action test response becomes a trace (gctrace_nb.core.formats.action_test)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gctrace_nb import (
    NotFound,
    PermissionDenied,
    Trace,
    TraceFormatError,
    TraceMetadata,
    TraceRequestInvalid,
    analyze_steps,
)
from gctrace_nb.core.formats.action_test import action_test_metadata, action_test_to_steps
from gctrace_nb._time import parse_timestamp

T0 = parse_timestamp("2024-05-01T10:00:00Z")


def response(**overrides):
    body = {
        "operations": [
            {"step": 1, "name": "Resolve request template", "success": True, "result": {"url": "https://crm"}},
            {"step": 2, "name": "Execute request", "success": True, "result": {"status": 200}},
            {"step": 3, "name": "Apply output translation", "success": True, "result": {"tier": "gold"}},
        ],
        "finalResult": {"tier": "gold"},
        "success": True,
    }
    body.update(overrides)
    return body


def ms_after(iso):
    return (parse_timestamp(iso) - T0) / 1000


def test_successful_call_root_and_one_step_per_operation_spread_over_the_call():
    steps = action_test_to_steps(response(), action_id="act-1", started_us=T0, ended_us=T0 + 900_000)
    root, *ops = steps
    assert root["nodeId"] == "action:act-1#0" and root["parentId"] is None
    assert (ms_after(root["startTime"]), ms_after(root["endTime"])) == (0, 900)
    assert root["status"] == "success" and root["finalResult"] == {"tier": "gold"}
    assert [o["nodeId"] for o in ops] == ["operation:1#1", "operation:2#2", "operation:3#3"]
    assert [o["name"] for o in ops] == ["Resolve request template", "Execute request", "Apply output translation"]
    assert [(ms_after(o["startTime"]), ms_after(o["endTime"])) for o in ops] == [(0, 300), (300, 600), (600, 900)]
    assert all(o["parentId"] == root["nodeId"] and o["startInferred"] and o["endInferred"] for o in ops)
    assert ops[1]["result"] == {"status": 200}
    a = analyze_steps(steps)
    assert a.total_ms == 900.0 and a.anomalies == () and a.failed_nodes == ()


def test_failed_operation_fails_the_call_with_its_message():
    body = response(success=False, finalResult=None)
    body["operations"][1] = {"step": 2, "name": "Execute request", "success": False,
                             "error": {"message": "HTTP 504 from remote endpoint", "code": "remote.timeout"}}
    del body["operations"][2]
    steps = action_test_to_steps(body, action_id="act-1", started_us=T0, ended_us=T0 + 1_000)
    assert [s["status"] for s in steps] == ["failed", "success", "failed"]
    assert steps[2]["errorMessage"] == "HTTP 504 from remote endpoint"
    assert "HTTP 504" in steps[0]["errorMessage"]
    assert analyze_steps(steps).failed_nodes == ("action:act-1#0", "operation:2#2")


def test_top_level_error_without_operations():
    steps = action_test_to_steps({"success": False, "error": "Action not found"}, action_id="x",
                                 started_us=T0, ended_us=T0 + 5)
    assert len(steps) == 1
    assert steps[0]["status"] == "failed" and steps[0]["errorMessage"] == "Action not found"


def test_trace_with_action_test_metadata_round_trips(tmp_path):
    steps = action_test_to_steps(response(), action_id="act-1", started_us=T0, ended_us=T0 + 900_000)
    meta = TraceMetadata.from_json(action_test_metadata("act-1", inputs={"phone": "1"}, correlation_id="c-1"))
    trace = Trace(steps, meta)
    path = trace.save(tmp_path / "t.json")
    again = Trace.from_document(path)
    assert again.metadata.source == "action_test"
    assert again.metadata.correlation_ids == ("c-1",)
    assert again.analysis.total_ms == 900.0


@pytest.mark.parametrize("bad", [None, [], "x", 3])
def test_not_an_object_is_a_trace_format_error(bad):
    with pytest.raises(TraceFormatError):
        action_test_to_steps(bad, action_id="a", started_us=T0, ended_us=T0)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5)),
    lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(st.text(max_size=5), c, max_size=3)),
    max_leaves=10)


@settings(max_examples=200, deadline=None)
@given(st.one_of(json_values, st.fixed_dictionaries({"operations": st.lists(st.one_of(
    json_values, st.fixed_dictionaries({}, optional={"step": json_values, "name": json_values,
                                                     "success": json_values, "error": json_values}))),
}, optional={"success": json_values, "error": json_values})), st.integers(0, 10**9), st.integers(-10**6, 10**9))
def test_hostile_responses_never_raise_anything_but_trace_format_error(body, start_ms, span_us):
    try:
        steps = action_test_to_steps(body, action_id="a", started_us=T0 + start_ms, ended_us=T0 + start_ms + span_us)
    except TraceFormatError:
        return
    ids = [s["nodeId"] for s in steps]
    assert len(ids) == len(set(ids))
    json.dumps(steps, default=str)
    a = analyze_steps(steps)
    assert a.anomalies == ()
    assert a.total_ms == round(max(span_us, 0) / 1000, 3)


# ------------------------------------------------- against the simulator (real sockets)

@pytest.fixture
def sim_client():
    from gctrace_nb.api.client import GenesysClient
    from gctrace_nb.api.config import Settings
    from gctrace_nb.simulator import Simulator

    ticks = iter(range(10**6))
    with Simulator(seed=2, action_delay_s=0.0) as sim:
        cid, secret = sim.credentials
        settings = Settings(client_id=cid, client_secret=secret, api_url=sim.api_url, login_url=sim.login_url)
        # Every clock reading is 0.125 s after the last: the call's duration is a known number of ticks.
        client = GenesysClient(settings, clock=lambda: next(ticks) * 0.125, sleep=lambda s: None,
                               utcnow=lambda: datetime(2026, 1, 20, 12, 0, tzinfo=timezone.utc))
        with client:
            yield sim, client


def test_run_action_test_times_the_call_on_the_client(sim_client):
    from gctrace_nb.api.history import run_action_test

    sim, client = sim_client
    trace = run_action_test(client, "custom_-_crm", {"phone": "+15550100"})
    root = trace.raw_steps[0]
    assert root["startTime"] == "2026-01-20T12:00:00.000000Z"
    duration = trace.analysis.total_ms
    assert duration > 0 and duration % 125 == 0
    assert duration == trace.metadata.retrieval_latency_ms
    assert [s["name"] for s in trace.raw_steps[1:]][:2] == ["Resolve request URL template", "Resolve request headers"]
    assert trace.metadata.source == "action_test" and trace.metadata.request["inputs"] == {"phone": "+15550100"}
    assert trace.metadata.correlation_ids
    sent, = [r for r in sim.requests if r.path.endswith("/test")]
    assert sent.path == "/api/v2/integrations/actions/custom_-_crm/test" and json.loads(sent.body) == {"phone": "+15550100"}

    draft = run_action_test(client, "custom_-_payment-fail", draft=True)
    assert sim.requests[-1].path.endswith("/draft/test")
    assert draft.raw_steps[0]["status"] == "failed"
    assert "upstream request timeout" in draft.raw_steps[0]["errorMessage"]


def test_run_action_test_errors(sim_client):
    from gctrace_nb.api.history import run_action_test

    sim, client = sim_client
    with pytest.raises(NotFound):
        run_action_test(client, "missing-action")
    for action_id, inputs in (("", None), ("a/b", None), ("a", {"x": float("nan")}), ("a", ["not", "a map"])):
        before = len(sim.requests)
        with pytest.raises(TraceRequestInvalid):
            run_action_test(client, action_id, inputs)
        assert len(sim.requests) == before
    sim.set_faults(forbidden=True)
    with pytest.raises(PermissionDenied, match="integrations:action:execute"):
        run_action_test(client, "custom_-_crm")
