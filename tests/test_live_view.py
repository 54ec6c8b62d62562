"""``gc.LiveView``: the notebook view of a live watch, driven against the simulator (no kernel needed)."""

from __future__ import annotations

import json

import pytest
from live_helpers import HB, client_for, live_simulator, wait_for

import gctrace_nb as gc
from gctrace_nb.simulator.notifications import TOPIC_PERMISSION

FLOW = "flow-live-view"




@pytest.fixture
def sim():
    with live_simulator(seed=21) as simulator:
        yield simulator


@pytest.fixture
def client(sim):
    with client_for(sim) as c:
        yield c


def shown(out) -> str:
    return json.dumps([o.get("data", {}) for o in out.outputs])


def test_executions_fill_the_table_the_node_summary_and_open_on_selection(sim, client, dot_binary):
    view = gc.LiveView(flow_id=FLOW, client=client, heartbeat_interval_s=HB)
    try:
        wait_for(lambda: sim.notifications.connected_sockets() == 1, what="the socket")
        events = [sim.place_call(FLOW, fail=i == 1) for i in range(3)]
        assert view.wait_for(3, timeout=15)
        wait_for(lambda: len(view.table.options) == 3, what="three rows")
        wait_for(lambda: view.status.heartbeats > 0, what="a heartbeat")
        view._refresh_status()
        assert "connected" in view.status_html.value and "heartbeat" in view.status_html.value
        # the table: one row per execution, in arrival order, with conversation, total, bottleneck, failures
        for (label, index), event, row in zip(view.table.options, events, view.rows):
            assert event["conversationId"][:13] in label and row["execution_id"] == event["executionId"]
            assert f"{row['total_ms']:,.0f}" in label and row["bottleneck_name"][:20] in label
        assert view.rows[1]["failed_names"] and view.rows[1]["failed_names"][0][:20] in view.table.options[1][0]
        # the per-node summary over what arrived
        nodes = view.node_summary()
        assert {"node_id", "name", "executions", "p50_ms", "p95_ms", "failure_rate"} <= set(nodes.columns)
        assert nodes["executions"].max() == 3
        assert (nodes["p50_ms"] <= nodes["p95_ms"]).all()
        assert 0 < nodes["failure_rate"].max() <= 1
        assert "p95_ms" in shown(view.nodes)
        # selecting a row opens that execution: summary, DAG, timeline
        view.table.value = 1
        trace = view.traces[1]
        assert trace.name == events[1]["executionId"]
        assert "gctrace-summary" in shown(view.outputs["Summary"])
        assert "<svg" in shown(view.outputs["DAG"])
        assert "application/vnd.plotly.v1+json" in shown(view.outputs["Timeline"])
        assert view.select(2) is view.traces[2]
    finally:
        view.stop()
    assert not view.running and "stopped" in view.status_html.value
    assert [r.method for r in sim.requests if r.path.endswith("/subscriptions")][-1] == "DELETE"
    assert sim.notifications.channels[0]["topics"] == []


def test_the_view_shows_reconnects_and_keeps_going(sim, client):
    view = gc.LiveView(flow_id=FLOW, client=client, heartbeat_interval_s=HB)
    try:
        wait_for(lambda: sim.notifications.connected_sockets() == 1, what="the socket")
        sim.notifications.close_sockets()
        wait_for(lambda: view.status.reconnects == 1 and view.status.state == "connected", what="the reconnect")
        sim.place_call(FLOW, history_uri_ttl_s=0)
        assert view.wait_for(1, timeout=10)
        view._refresh_status()
        assert "1 reconnect" in view.status_html.value
        wait_for(lambda: len(view.table.options) == 1, what="the row")
        assert "(event items)" in view.table.options[0][0]
        view.select(0)
        assert "every end time is inferred" in shown(view.outputs["Summary"])
    finally:
        view.stop()


def test_a_rejected_subscription_is_shown_not_raised(sim, client):
    sim.notifications.denied_permissions = frozenset({TOPIC_PERMISSION})
    view = gc.LiveView(flow_id=FLOW, client=client, heartbeat_interval_s=HB)
    assert view.wait_for(1, timeout=10) is False
    assert isinstance(view.error, gc.PermissionDenied)
    assert "Permission denied" in view.status_html.value and TOPIC_PERMISSION in view.status_html.value
    assert "Traceback" not in view.status_html.value


def test_the_view_runs_in_the_background_and_reprs_helpfully(sim, client):
    view = gc.LiveView(flow_id=[FLOW, "other"], client=client, heartbeat_interval_s=HB, start=False)
    assert "0 execution(s)" in repr(view) and not view.running
    view.start()
    try:
        wait_for(lambda: view.status.state == "connected", what="connected")
        assert view.running  # this thread was never blocked
        assert "text/plain" in view._repr_mimebundle_()
    finally:
        view.stop()
