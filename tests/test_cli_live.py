"""``gctrace live``: one analysed execution per line as they end, against the simulator's notification service."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import pytest
from live_helpers import HB, live_simulator, wait_for

from gctrace_nb.core.analysis import analyze_steps
from gctrace_nb.cli import main
from gctrace_nb.simulator.notifications import TOPIC_PERMISSION
from gctrace_nb.core.formats.history import execution_document_to_steps

FLOW = "flow-cli-live"
SPEC_KEYS = {"steps", "valid_steps", "accuracy_rate", "total_ms", "critical_path", "critical_ms", "bottleneck",
             "failed_nodes", "anomalies"}




@pytest.fixture
def sim():
    with live_simulator(seed=5) as simulator:
        yield simulator


@pytest.fixture
def env(sim, tmp_path, monkeypatch):
    client_id, secret = sim.credentials
    values = {"GENESYS_CLIENT_ID": client_id, "GENESYS_CLIENT_SECRET": secret, "GENESYS_API_URL": sim.api_url,
              "GENESYS_LOGIN_URL": sim.login_url, "GCTRACE_STATE_DIR": str(tmp_path / "state"),
              "GCTRACE_WEBHOOK_URL": ""}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("GENESYS_REGION", raising=False)
    return dict(os.environ)


def start_cli(env, *args):
    return subprocess.Popen([sys.executable, "-m", "gctrace_nb", "live", "--flow-id", FLOW,
                             "--heartbeat-interval", str(HB), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_count_3_json_across_heartbeats_and_one_socket_close(sim, env):
    """The issue's "done": three analyses, each from the full document fetched without credentials."""
    notes = sim.notifications
    proc = start_cli(env, "--count", "3", "--format", "json", "--timeout", "60")
    try:
        wait_for(lambda: notes.connected_sockets() == 1, what="the CLI's socket")
        wait_for(lambda: notes.heartbeats_sent >= 2, what="heartbeats")
        placed = [sim.place_call(FLOW)]
        wait_for(lambda: notes.events_delivered == 1, what="the first delivery")
        assert notes.close_sockets() == 1  # the service closes the socket once
        wait_for(lambda: notes.sockets_opened == 2 and notes.connected_sockets() == 1, what="the reconnect")
        placed += [sim.place_call(FLOW), sim.place_call(FLOW)]
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 3, out
    for line, event in zip(lines, placed):
        row = json.loads(line)
        assert SPEC_KEYS <= set(row)
        assert (row["execution_id"], row["conversation_id"], row["flow_id"]) == (
            event["executionId"], event["conversationId"], FLOW)
        assert row["detail"] == "full"
        # the analysis of the full document, exactly as the history converter makes it
        expected = analyze_steps(execution_document_to_steps(sim.execution_documents[event["executionId"]])[0])
        assert {k: row[k] for k in SPEC_KEYS} == json.loads(json.dumps(expected.to_json()))
        assert row["steps"] > len(event["execution"]) // 2 and row["total_ms"] > 0
    downloads = [r for r in sim.requests if r.path.startswith("/downloads/presigned/")]
    assert len(downloads) == 3 and not any(r.had_authorization for r in downloads)
    assert notes.socket_closings_sent == 1
    assert "reconnecting: the service is closing the socket" in err
    assert [r.method for r in sim.requests if r.path.endswith("/subscriptions")] == ["PUT", "GET", "DELETE"]


def test_ctrl_c_exits_130_and_deletes_the_subscriptions(sim, env):
    proc = start_cli(env)
    try:
        wait_for(lambda: sim.notifications.connected_sockets() == 1, what="the CLI's socket")
        sim.place_call(FLOW)
        line = proc.stdout.readline()
        assert f"flow {FLOW} execution" in line
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted; the subscriptions were deleted" in err
    assert [r.method for r in sim.requests if r.path.endswith("/subscriptions")] == ["PUT", "DELETE"]
    assert sim.notifications.channels[0]["topics"] == []


def _place_when_connected(sim, calls, **options):
    def run():
        wait_for(lambda: sim.notifications.connected_sockets() == 1, what="the socket")
        for _ in range(calls):
            sim.place_call(FLOW, **options)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_text_lines_saved_traces_and_a_webhook_per_execution(sim, env, tmp_path, capsys):
    _place_when_connected(sim, 2)
    saved = tmp_path / "saved"
    code = main(["live", "--flow-id", FLOW, "--count", "2", "--timeout", "30", "--heartbeat-interval", str(HB),
                 "--save-dir", str(saved), "--webhook", sim.webhook_url])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 2
    for line, body in zip(lines, sim.notifications.calls):
        assert f"execution {body['executionId']} conversation {body['conversationId']}" in line
        assert "ms, bottleneck " in line and "failed" in line
        assert (saved / f"{body['executionId']}.json").is_file()
    deliveries = [d.json() for d in sim.webhook_deliveries]
    assert len(deliveries) == 2
    from gctrace_nb import load_trace

    trace = load_trace(saved / f"{sim.notifications.calls[0]['executionId']}.json")
    assert trace.metadata.extra["detail"] == "full" and trace.metadata.flow_id == FLOW


def test_a_fallback_line_says_it_came_from_the_event_items(sim, env, capsys):
    _place_when_connected(sim, 1, history_uri_ttl_s=0)
    code = main(["live", "--flow-id", FLOW, "--count", "1", "--timeout", "30", "--heartbeat-interval", str(HB)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "from the event's items (ends inferred)" in out and "expired" in out


def test_a_rejected_subscription_exits_4(sim, env, capsys):
    sim.notifications.denied_permissions = frozenset({TOPIC_PERMISSION})
    code = main(["live", "--flow-id", FLOW, "--count", "1", "--heartbeat-interval", str(HB)])
    err = capsys.readouterr().err
    assert code == 4
    assert TOPIC_PERMISSION in err and "rejected" in err


def test_timeout_before_count_exits_5(sim, env, capsys):
    code = main(["live", "--flow-id", FLOW, "--count", "2", "--timeout", "0.5", "--heartbeat-interval", str(HB)])
    err = capsys.readouterr().err
    assert code == 5 and "only 0 of 2 execution(s) arrived within 0.5 s" in err


@pytest.mark.parametrize("args, message", [
    (["--count", "0"], "--count must be at least 1"),
    (["--timeout", "-1"], "--timeout must be a positive"),
    (["--flow-id", "has space"], "--flow-id"),
    (["--region", "eu_west_1", "--api-url", "https://x"], "either --region or --api-url"),
])
def test_invalid_input_exits_2_and_sends_nothing(sim, env, capsys, args, message):
    code = main(["live", "--flow-id", FLOW, *args])
    assert code == 2 and message in capsys.readouterr().err
    assert sim.requests == []


def test_live_is_listed_in_gctrace_help(capsys):
    assert main(["--help"]) == 0
    assert "live " in capsys.readouterr().out
    assert main(["live", "--help"]) == 0
    assert "--flow-id F" in capsys.readouterr().out


def test_gctrace_simulate_places_calls_that_gctrace_live_prints(tmp_path, monkeypatch, capsys):
    proc = subprocess.Popen([sys.executable, "-m", "gctrace_nb", "simulate", "--port", "0", "--calls-per-minute", "300",
                             "--heartbeat-interval", str(HB), "--socket-closing-every", "0.7"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        api_url = None
        while api_url is None:
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            if line.startswith("export GENESYS_API_URL="):
                api_url = line.strip().split("=", 1)[1]
        monkeypatch.setenv("GENESYS_CLIENT_ID", "sim-client")
        monkeypatch.setenv("GENESYS_CLIENT_SECRET", "sim-secret")
        monkeypatch.setenv("GCTRACE_STATE_DIR", str(tmp_path / "state"))
        monkeypatch.delenv("GCTRACE_WEBHOOK_URL", raising=False)
        code = main(["live", "--flow-id", FLOW, "--count", "2", "--timeout", "30", "--format", "json",
                     "--api-url", api_url, "--login-url", api_url, "--heartbeat-interval", str(HB)])
        out = capsys.readouterr().out
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    assert code == 0
    rows = [json.loads(line) for line in out.strip().splitlines()]
    assert len(rows) == 2 and all(r["flow_id"] == FLOW and r["detail"] == "full" for r in rows)
