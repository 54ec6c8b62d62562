"""``gctrace trace`` against a scripted server on 127.0.0.1: output, exit codes, nothing sent when invalid."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from gctrace_nb import load_trace
from gctrace_nb.cli.app import main

from http_fixtures import CLIENT_ID, CLIENT_SECRET, STEPS, FakeGenesys


@pytest.fixture
def server(monkeypatch, tmp_path):
    # keep the CLI's audit log and webhook outbox out of the home directory
    monkeypatch.setenv("GCTRACE_STATE_DIR", str(tmp_path / "state"))
    for name in ("GCTRACE_WEBHOOK_URL", "GCTRACE_AUDIT_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name in ("GENESYS_REGION", "GENESYS_API_URL", "GENESYS_LOGIN_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GENESYS_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", CLIENT_SECRET)
    with FakeGenesys(job_polls=0) as srv:
        yield srv


def args(server, *extra):
    return ["trace", "--flow-id", "flow-1", "--action-id", "inv-1", "--api-url", server.url,
            "--login-url", server.url, *extra]


def test_json_output_is_the_analysis_plus_job_fields(server, capsys, tmp_path):
    saved = tmp_path / "out" / "trace.json"
    code = main(args(server, "--format", "json", "--save", str(saved), "--input", "n=3", "--input", "name=Ann",
                     "--input", 'o={"a": [1]}', "--depth", "7", "--no-capture-data"))
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)
    expected = load_trace(STEPS).analysis.to_json()
    assert {k: data[k] for k in expected} == expected
    assert data["flow_id"] == "flow-1" and data["action_invocation_id"] == "inv-1"
    assert data["job_id"] in server.jobs and data["retrieval_latency_ms"] >= 0
    body = server.api_requests("POST")[0].json()
    assert body["simulatedInputs"] == {"n": 3, "name": "Ann", "o": {"a": [1]}}
    assert body["traceDepth"] == 7 and body["contextDirectives"] == {"captureContext": True, "captureData": False}
    assert "completed" in err
    # the saved trace analyses the same way and keeps its metadata, never a secret
    assert main(["analyze", str(saved), "--format", "json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert {k: again[k] for k in expected} == expected
    text = saved.read_text()
    assert data["job_id"] in text and CLIENT_SECRET not in text
    assert not any(tok in text or tok in out or tok in err for tok in server.issued_tokens)


def test_a_save_that_fails_still_prints_the_result_and_exits_1(server, capsys, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    code = main(args(server, "--format", "json", "--save", str(blocker / "trace.json")))
    captured = capsys.readouterr()
    assert code == 1
    assert f"cannot save to {blocker / 'trace.json'}" in captured.err
    out = json.loads(captured.out)  # the trace ran: its analysis is not lost
    assert out["steps"] == len(STEPS) and out["flow_id"] == "flow-1"


def test_text_output(server, capsys):
    assert main(args(server)) == 0
    out = capsys.readouterr().out
    assert "flow flow-1" in out and "crm" in out


@pytest.mark.parametrize("extra", [["--depth", "0"], ["--depth", "51"], ["--no-capture-context", "--no-capture-data"],
                                   ["--input", "novalue"], ["--region", "eu_west_1"], ["--timeout", "0"]])
def test_invalid_input_exits_2_and_sends_nothing(server, capsys, extra):
    assert main(args(server, *extra)) == 2
    assert server.requests == []
    assert "gctrace trace:" in capsys.readouterr().err


def test_empty_ids_and_unsafe_urls_exit_2(server, capsys, monkeypatch):
    assert main(["trace", "--flow-id", "", "--action-id", "a", "--api-url", server.url,
                 "--login-url", server.url]) == 2
    assert main(["trace", "--flow-id", "f", "--action-id", "a", "--api-url", "http://api.example.org",
                 "--login-url", "http://login.example.org"]) == 2
    monkeypatch.delenv("GENESYS_CLIENT_SECRET")
    assert main(args(server)) == 2
    assert server.requests == []
    assert "GENESYS_CLIENT_SECRET" in capsys.readouterr().err


def test_failed_job_exits_3_with_its_message(server, capsys):
    server.fail_jobs = "Data action 'Payment' returned 500"
    assert main(args(server)) == 3
    assert "Data action 'Payment' returned 500" in capsys.readouterr().err


def test_auth_and_permission_exit_4(server, capsys, monkeypatch):
    server.script("POST", "/api/v2/flows/", (403, {}, {"message": "Missing permission", "code": "missing.permissions"}))
    assert main(args(server)) == 4
    assert "lacks a permission" in capsys.readouterr().err
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", "wrong-secret")
    assert main(args(server)) == 4
    err = capsys.readouterr().err
    assert "refused the client credentials" in err and "wrong-secret" not in err


def test_bad_request_exits_2_with_the_server_message(server, capsys):
    server.script("POST", "/api/v2/flows/", (400, {}, {"message": "actionInvocationId inv-1 is not in flow-1",
                                                       "code": "bad.request", "contextId": "ctx-9"}))
    assert main(args(server)) == 2
    err = capsys.readouterr().err
    assert "actionInvocationId inv-1 is not in flow-1" in err and "ctx-9" in err


def test_gave_up_exits_5(server, capsys):
    server.script("POST", "/api/v2/flows/", (429, {"Retry-After": "120"}, {"message": "slow down"}))
    assert main(args(server, "--timeout", "30")) == 5
    assert "deadline" in capsys.readouterr().err


def test_subprocess_run_exits_0_with_json(server):
    env = dict(os.environ, GENESYS_CLIENT_ID=CLIENT_ID, GENESYS_CLIENT_SECRET=CLIENT_SECRET)
    proc = subprocess.run([sys.executable, "-m", "gctrace_nb", *args(server, "--format", "json")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["steps"] == 3
    assert CLIENT_SECRET not in proc.stdout + proc.stderr


def test_a_request_refused_locally_is_audited_and_nothing_is_sent(tmp_path, monkeypatch, capsys):
    import json as _json

    from gctrace_nb.cli.app import main as _main

    monkeypatch.setenv("GENESYS_CLIENT_ID", "id")
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", "s3cret-value")
    monkeypatch.setenv("GCTRACE_STATE_DIR", str(tmp_path / "state"))
    audit_dir = tmp_path / "audit"
    # port 9 on loopback: nothing listens, so a request sent would fail differently
    code = _main(["trace", "--flow-id", "f", "--action-id", "a", "--depth", "99",
                  "--api-url", "http://127.0.0.1:9", "--audit-dir", str(audit_dir)])
    assert code == 2
    assert "traceDepth: must be between 1 and 50, got 99" in capsys.readouterr().err
    lines = [_json.loads(line) for f in audit_dir.glob("*.jsonl") for line in f.read_text().splitlines()]
    assert [line["event"] for line in lines] == ["trace_rejected"]
    assert lines[0]["flow_id"] == "f" and "s3cret-value" not in _json.dumps(lines)
