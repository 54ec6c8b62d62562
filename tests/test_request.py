"""TraceRequest: the builder, the design's body, and local validation naming field and limit."""

from __future__ import annotations

import math

import pytest

from gctrace_nb.errors import TraceRequestInvalid
from gctrace_nb.api.request import TraceRequest


def test_body_is_the_design_body():
    req = TraceRequest("flow-1", "inv-1").with_depth(7).with_capture(data=False).with_input("ani", "+33")
    assert req.to_body() == {
        "flowId": "flow-1",
        "actionInvocationId": "inv-1",
        "traceDepth": 7,
        "contextDirectives": {"captureContext": True, "captureData": False},
        "simulatedInputs": {"ani": "+33"},
        "enableAsync": True,
    }
    assert "simulatedInputs" not in TraceRequest("f", "a").to_body()
    assert req.validate() is req


def test_builder_returns_new_objects():
    base = TraceRequest("f", "a")
    assert base.with_depth(3) is not base and base.depth == 10
    assert base.with_inputs({"x": 1}).with_input("y", [1, 2]).simulated_inputs == {"x": 1, "y": [1, 2]}


@pytest.mark.parametrize("depth", [1, 50])
def test_depth_limits_are_inclusive(depth):
    TraceRequest("f", "a", depth=depth).validate()


@pytest.mark.parametrize("depth", [0, 51, -3, 2.5, True, "5"])
def test_depth_out_of_range_names_field_and_limit(depth):
    with pytest.raises(TraceRequestInvalid) as info:
        TraceRequest("f", "a", depth=depth).validate()
    assert info.value.field == "traceDepth"
    assert "1" in str(info.value) and "50" in str(info.value)


def test_at_least_one_capture_directive():
    with pytest.raises(TraceRequestInvalid, match="contextDirectives: at least one capture directive"):
        TraceRequest("f", "a", capture_context=False, capture_data=False).validate()
    TraceRequest("f", "a", capture_context=False).validate()


@pytest.mark.parametrize("field,kwargs", [
    ("flowId", {"flow_id": ""}), ("flowId", {"flow_id": "   "}), ("actionInvocationId", {"action_invocation_id": ""}),
    ("flowId", {"flow_id": "a/../b"}), ("flowId", {"flow_id": None}),
])
def test_ids_must_be_non_empty(field, kwargs):
    args = {"flow_id": "f", "action_invocation_id": "a", **kwargs}
    with pytest.raises(TraceRequestInvalid) as info:
        TraceRequest(**args).validate()
    assert info.value.field == field


@pytest.mark.parametrize("inputs", [[1, 2], "x", {"when": object()}, {"n": math.nan}, {1: "int key"}, {"s": {1, 2}}])
def test_simulated_inputs_must_be_a_json_object(inputs):
    with pytest.raises(TraceRequestInvalid) as info:
        TraceRequest("f", "a", simulated_inputs=inputs).validate()
    assert info.value.field == "simulatedInputs"


def test_every_violation_is_listed():
    with pytest.raises(TraceRequestInvalid) as info:
        TraceRequest("", "", depth=0, capture_context=False, capture_data=False).validate()
    assert [f for f, _ in info.value.violations] == ["flowId", "actionInvocationId", "traceDepth", "contextDirectives"]


@pytest.mark.parametrize("module", ["gctrace_nb.api.config", "gctrace_nb.api.request", "gctrace_nb.api.retry",
                                    "gctrace_nb.api.ratelimit", "gctrace_nb.api.client", "gctrace_nb.cli.trace"])
def test_doctests(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0 and result.attempted > 0
