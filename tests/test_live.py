"""``gc.watch``: flow executions over Genesys notifications, against the simulator and a small server of our own.

Heartbeats run every 0.1 s (the service's interval is configurable on both
sides), so reconnects after a silence take well under a second.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from live_helpers import HB, client_for, live_simulator, wait_for

from gctrace_nb.api.live import FlowWatch, watch
from gctrace_nb.api.notifications import event_document, execution_summary, flow_topic
from gctrace_nb.api.client import GenesysClient
from gctrace_nb.api.config import Settings
from gctrace_nb.errors import PermissionDenied
from gctrace_nb.simulator.notifications import TOPIC_PERMISSION
from gctrace_nb.core.formats.history import execution_document_to_steps

FLOW = "flow-live-1"




@pytest.fixture
def sim():
    with live_simulator(seed=11) as simulator:
        yield simulator


@pytest.fixture
def client(sim):
    with client_for(sim) as c:
        yield c


class Collector:
    """Iterate a watch in a background thread, keeping traces, statuses and the error."""

    def __init__(self, w: FlowWatch) -> None:
        self.watch = w
        self.traces: list = []
        self.details: list[str] = []
        self.error: BaseException | None = None
        w.on_status = lambda s: self.details.append(s.detail)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for trace in self.watch:
                self.traces.append(trace)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def join(self, timeout: float = 15.0) -> "Collector":
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the watch did not stop"
        if self.error is not None:
            raise self.error
        return self


def api_calls(sim, method, suffix):
    return [r for r in sim.requests if r.method == method and r.path.endswith(suffix)]


def full_steps(sim, execution_id):
    return execution_document_to_steps(sim.execution_documents[execution_id])[0]


def test_three_executions_across_a_socket_closing(sim, client):
    c = Collector(watch(FLOW, client=client, count=3, timeout=20, heartbeat_interval_s=HB))
    notes = sim.notifications
    wait_for(lambda: c.watch.status.heartbeats >= 1, what="a heartbeat")
    first = sim.place_call(FLOW)
    wait_for(lambda: len(c.traces) == 1, what="the first execution")
    assert notes.close_sockets() == 1
    wait_for(lambda: notes.sockets_opened == 2 and notes.connected_sockets() == 1, what="the reconnect")
    others = [sim.place_call(FLOW), sim.place_call(FLOW)]
    c.join()

    assert [t.name for t in c.traces] == [e["executionId"] for e in [first, *others]]
    for trace in c.traces:  # each from the full document, through the history converter
        assert trace.metadata.extra["detail"] == "full"
        assert trace.raw_steps == full_steps(sim, trace.name)
        assert trace.metadata.flow_id == FLOW and trace.metadata.source == "history"
    assert notes.socket_closings_sent == 1 and notes.heartbeats_sent > 0
    assert "the service is closing the socket" in c.details
    assert c.watch.stopped_reason == "count" and c.watch.status.channels_created == 1
    # the signed links were fetched without credentials; the subscriptions were deleted at the end
    downloads = [r for r in sim.requests if r.path.startswith("/downloads/presigned/")]
    assert len(downloads) == 3 and not any(r.had_authorization for r in downloads)
    assert len(api_calls(sim, "DELETE", "/subscriptions")) == 1
    assert notes.channels[0]["topics"] == []


def test_an_expired_channel_is_replaced_with_new_subscriptions(sim, client):
    notes = sim.notifications
    c = Collector(watch([FLOW, "flow-live-2"], client=client, count=2, timeout=20, heartbeat_interval_s=HB))
    wait_for(lambda: notes.connected_sockets() == 1, what="the socket")
    sim.place_call(FLOW)
    wait_for(lambda: len(c.traces) == 1, what="the first execution")
    assert notes.expire_channels() == 1
    wait_for(lambda: len(notes.channels) == 1 and notes.channels[0]["sockets"] == 1, what="a new channel")
    assert sorted(notes.channels[0]["topics"]) == sorted([flow_topic(FLOW), flow_topic("flow-live-2")])
    sim.place_call("flow-live-2")
    c.join()
    assert [t.metadata.flow_id for t in c.traces] == [FLOW, "flow-live-2"]
    assert c.watch.status.channels_created == 2
    assert len(api_calls(sim, "POST", "/notifications/channels")) == 2
    assert len(api_calls(sim, "PUT", "/subscriptions")) == 2


def test_a_channel_near_expiry_is_renewed_before_it_ends(sim, client):
    notes = sim.notifications
    notes.channel_lifetime_s = 1.0
    c = Collector(watch(FLOW, client=client, timeout=1.6, heartbeat_interval_s=HB, renew_margin_s=0.6))
    c.join()
    # renewed every ~0.4 s, before expiry: the old channel's subscriptions deleted each time
    assert c.watch.status.channels_created >= 3
    assert "the channel expires soon" in c.details
    assert len(api_calls(sim, "DELETE", "/subscriptions")) == c.watch.status.channels_created
    assert c.watch.stopped_reason == "deadline"


def test_a_lost_subscription_is_restored_on_reconnect(sim, client):
    notes = sim.notifications
    c = Collector(watch(FLOW, client=client, count=1, timeout=20, heartbeat_interval_s=HB))
    wait_for(lambda: notes.connected_sockets() == 1, what="the socket")
    channel_id = notes.channels[0]["id"]
    sim.notifications.handle("DELETE", ["channels", channel_id, "subscriptions"], None)  # the service forgets it
    notes.close_sockets()
    wait_for(lambda: notes.channels[0]["topics"] == [flow_topic(FLOW)] and notes.connected_sockets() == 1,
             what="the subscription again")
    sim.place_call(FLOW)
    c.join()
    assert len(c.traces) == 1 and c.watch.status.channels_created == 1
    assert len(api_calls(sim, "PUT", "/subscriptions")) == 2


def test_heartbeat_silence_leads_to_a_reconnect(sim, client):
    notes = sim.notifications
    c = Collector(watch(FLOW, client=client, count=2, timeout=20, heartbeat_interval_s=HB))
    wait_for(lambda: notes.connected_sockets() == 1, what="the socket")
    sim.place_call(FLOW)
    wait_for(lambda: len(c.traces) == 1, what="the first execution")
    started = time.monotonic()
    assert notes.go_silent() == 1
    sim.place_call(FLOW)  # waits for the client's next socket
    c.join()
    assert len(c.traces) == 2 and notes.sockets_opened == 2
    assert f"no heartbeat for {1.5 * HB:g} s" in c.details
    assert time.monotonic() - started < 5
    assert notes.pings > 0  # it pinged the silent socket before giving up on it


def test_ping_pong_keeps_an_idle_socket_alive(sim, client):
    notes = sim.notifications
    notes.heartbeat_interval_s = 60  # no heartbeat at all during the test: only pongs answer
    w = watch(FLOW, client=client, timeout=1.5, heartbeat_interval_s=1.0, ping_interval_s=0.2)
    Collector(w).join()
    assert notes.pings >= 4 and notes.sockets_opened == 1
    assert w.status.reconnects == 0 and w.status.heartbeat_age_s is not None and w.status.heartbeat_age_s < 0.5


def test_an_expired_history_link_falls_back_to_the_event_items(sim, client):
    c = Collector(watch(FLOW, client=client, count=1, timeout=20, heartbeat_interval_s=HB))
    wait_for(lambda: sim.notifications.connected_sockets() == 1, what="the socket")
    event = sim.place_call(FLOW, history_uri_ttl_s=0, fail=True)
    c.join()
    (trace,) = c.traces
    extra = trace.metadata.extra
    assert extra["detail"] == "event_items" and extra["end_times"] == "inferred"
    assert "expired" in extra["history_error"] and "HTTP 403" in extra["history_error"]
    assert "presigned" not in extra["history_error"]  # no signed link in a saved trace
    assert trace.raw_steps == execution_document_to_steps(event_document(event))[0]
    # every action ends where the next item starts (a task/module group ends at its end marker)
    assert all(s.get("endInferred") for s in trace.raw_steps[1:] if s["kind"] != "group")
    assert sum(s["kind"] == "action" for s in trace.raw_steps) >= 10
    assert trace.analysis.total_ms > 0 and trace.analysis.failed_nodes  # the failed payment shows
    row = execution_summary(trace)
    assert row["detail"] == "event_items" and row["execution_id"] == event["executionId"]


def test_a_rejected_subscription_is_permission_denied(sim, client):
    sim.notifications.denied_permissions = frozenset({TOPIC_PERMISSION})
    w = watch(FLOW, client=client, count=1, timeout=10, heartbeat_interval_s=HB)
    with pytest.raises(PermissionDenied) as info:
        next(iter(w))
    assert TOPIC_PERMISSION in str(info.value) and flow_topic(FLOW) in str(info.value)
    assert sim.notifications.sockets_opened == 0


def test_forbidden_channels_are_permission_denied(sim, client):
    sim.set_faults(forbidden=True)
    with pytest.raises(PermissionDenied):
        next(iter(watch(FLOW, client=client, count=1, heartbeat_interval_s=HB)))


def test_a_cancel_token_stops_the_watch_and_deletes_the_subscriptions(sim, client):
    cancel = threading.Event()
    c = Collector(watch(FLOW, client=client, cancel=cancel, heartbeat_interval_s=HB))
    wait_for(lambda: sim.notifications.connected_sockets() == 1, what="the socket")
    cancel.set()
    c.join(5)
    assert c.watch.stopped_reason == "cancelled" and c.watch.status.state == "stopped"
    assert len(api_calls(sim, "DELETE", "/subscriptions")) == 1
    assert sim.notifications.channels[0]["topics"] == []


def test_ctrl_c_while_reading_deletes_the_subscriptions(sim, client):
    import _thread

    w = watch(FLOW, client=client, heartbeat_interval_s=HB)

    def press_ctrl_c():
        wait_for(lambda: sim.notifications.connected_sockets() == 1, what="the socket")
        sim.place_call(FLOW)
        wait_for(lambda: w.received == 1, what="the first execution")
        time.sleep(0.3)  # the watch is idle, reading the socket
        _thread.interrupt_main()  # what Ctrl-C does: KeyboardInterrupt in the main thread

    threading.Thread(target=press_ctrl_c, daemon=True).start()
    got = []
    with pytest.raises(KeyboardInterrupt):
        for trace in w:
            got.append(trace)
    assert len(got) == 1 and w.stopped_reason == "interrupted"
    assert len(api_calls(sim, "DELETE", "/subscriptions")) == 1
    assert sim.notifications.channels[0]["topics"] == []


def test_watch_validates_locally():
    with pytest.raises(ValueError):
        watch("bad id", client=object())
    with pytest.raises(ValueError):
        watch(FLOW, client=object(), count=0)
    with pytest.raises(ValueError):
        watch([], client=object())


def test_the_channel_id_stays_out_of_reprs_and_logs(sim, client, caplog):
    caplog.set_level("INFO", logger="gctrace_nb")
    c = Collector(watch(FLOW, client=client, count=1, timeout=20, heartbeat_interval_s=HB))
    wait_for(lambda: sim.notifications.connected_sockets() == 1, what="the socket")
    channel_id = sim.notifications.channels[0]["id"]
    sim.place_call(FLOW)
    c.join()
    shown = repr(c.watch) + repr(c.watch.status) + caplog.text + json.dumps(c.traces[0].to_document())
    assert channel_id not in shown and channel_id[:12] not in shown


# ------------------------------------------------------------- our own server
def _client_for(server):
    from http_fixtures import CLIENT_ID, CLIENT_SECRET

    return GenesysClient(Settings(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, api_url=server.url,
                                  login_url=server.url))


def test_a_dropped_connection_reconnects_and_duplicates_and_garbage_are_ignored():
    from notification_server import HEARTBEAT, MiniNotifications

    with MiniNotifications() as server:
        first = server.event("e-1")

        def drop_after_one(conn):
            conn.send(json.dumps(HEARTBEAT))
            conn.send(json.dumps(first))
            time.sleep(0.3)
            conn.socket.close()  # no close frame: the TCP connection just ends

        def resend_then_new(conn):
            conn.send("not json {")
            conn.send(json.dumps({"topicName": "v2.other.topic", "eventBody": {}}))
            conn.send(json.dumps(first))  # delivered again after the reconnect
            conn.send(json.dumps(server.event("e-2", seed=2)))
            while True:
                conn.send(json.dumps(HEARTBEAT))
                time.sleep(0.1)

        server.scripts += [drop_after_one, resend_then_new]
        with _client_for(server) as client:
            traces = list(watch("flow-a", client=client, count=2, timeout=10, heartbeat_interval_s=HB))
        assert [t.name for t in traces] == ["e-1", "e-2"]
        for trace in traces:
            assert trace.metadata.extra["detail"] == "full"
            assert trace.raw_steps == execution_document_to_steps(server.documents[trace.name])[0]
        assert server.connections == 2
        assert not any(k.lower() == "authorization" for h in server.handshakes for k in h)
        docs = [r for r in server.requests if r.path.startswith("/doc/")]
        assert len(docs) == 2 and not any("Authorization" in r.headers for r in docs)
        assert server.topics == []  # deleted on the way out


def test_failed_handshakes_back_off_then_connect():
    from notification_server import MiniNotifications

    with MiniNotifications() as server:
        server.handshake_failures = 3
        with _client_for(server) as client:
            w = watch("flow-a", client=client, timeout=2.5, heartbeat_interval_s=HB, backoff_initial_s=0.2)
            started = time.monotonic()
            statuses = []
            w.on_status = lambda s: statuses.append((time.monotonic() - started, s.state, s.detail))
            assert list(w) == []
        connected = [t for t, state, _ in statuses if state == "connected"]
        assert connected, statuses
        # three failures waited at least 0.1, 0.2 and 0.4 s (jittered upwards) before the fourth try;
        # no upper bound: a loaded machine may be slower, and the watch's own timeout bounds it
        assert connected[0] >= 0.7, statuses
        assert len(server.handshakes) == 4
        assert any("connect failed: InvalidStatus" in d for _, _, d in statuses)


def test_a_plain_ws_connect_uri_off_loopback_is_refused():
    from http_fixtures import FakeGenesys

    from gctrace_nb.api.notifications import create_channel
    from gctrace_nb.errors import ApiError

    with FakeGenesys() as server:
        server.script("POST", "/api/v2/notifications/channels",
                      (200, {}, {"id": "c-1", "connectUri": "ws://streaming.example.com/channels/c-1"}))
        with _client_for(server) as client, pytest.raises(ApiError, match="must be wss://"):
            create_channel(client)


@pytest.mark.parametrize("module", ["gctrace_nb.api.notifications", "gctrace_nb.cli.live"])
def test_doctests(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0 and result.attempted > 0
