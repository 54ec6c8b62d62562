"""End to end: ``gctrace trace --webhook`` against the simulator, then a grep for every secret.

One run delivers to the simulator's sink, one finds its receiver down (the
summary waits in the outbox until ``gctrace webhook flush``), one job fails.
Afterwards every file the runs wrote (saved trace, outbox, audit logs, the
HTML report), every line they printed, the notebook views of the saved trace and every webhook
body are searched for the OAuth client secret, every bearer token the
simulator issued and the webhook signing secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

import pytest

from gctrace_nb import load_trace

from gctrace_nb.delivery import audit
from gctrace_nb.cli.app import main
from gctrace_nb.delivery.webhook import Outbox

from _webhook_receiver import Receiver, free_port

CLIENT_SECRET = "cs-e2e-9f83b1d7a2"
WEBHOOK_SECRET = "whsec-e2e-41c0d9"


@pytest.fixture
def sim(tmp_path, monkeypatch):
    from gctrace_nb.simulator import Simulator

    for name in ("GENESYS_REGION", "GENESYS_API_URL", "GENESYS_LOGIN_URL", "GCTRACE_AUDIT_DIR", "GCTRACE_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GENESYS_CLIENT_ID", "e2e-client")
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("GCTRACE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("GCTRACE_STATE_DIR", str(tmp_path / "state"))
    with Simulator(seed=7, client_id="e2e-client", client_secret=CLIENT_SECRET, job_duration_s=0.05) as s:
        yield s
    logger = logging.getLogger(audit.AUDIT_LOGGER)
    assert not [h for h in logger.handlers if isinstance(h, audit.DailyAuditHandler)], "the CLI left a handler"


def _trace_args(sim, *extra):
    return ["trace", "--flow-id", "flow-e2e", "--action-id", "inv-e2e", "--api-url", sim.api_url,
            "--login-url", sim.login_url, "--timeout", "60", *extra]


def _signed(delivery) -> bool:
    headers = {k.lower(): v for k, v in delivery.headers.items()}
    expected = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), delivery.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers.get("x-gctrace-signature-256", ""))


def test_trace_webhook_outbox_and_audit_leak_no_secret(sim, tmp_path, capsys):
    printed = []
    saved = tmp_path / "out" / "trace.json"

    # 1. delivered to the simulator's sink, JSON output
    code = main(_trace_args(sim, "--format", "json", "--save", str(saved), "--webhook", sim.webhook_url))
    out, err = capsys.readouterr()
    printed += [out, err]
    assert code == 0, err
    result = json.loads(out)
    assert result["webhook"]["delivered"] is True
    assert result["webhook"]["attempts"] == 1 and result["webhook"]["status"] == 200
    (delivery,) = sim.webhook_deliveries
    assert _signed(delivery)
    summary = delivery.json()
    trace = load_trace(saved)
    assert summary["jobId"] == result["job_id"] and summary["flowId"] == "flow-e2e"
    assert summary["bottleneckNode"] == result["bottleneck"]["node_id"]
    assert summary["bottleneckLatencyMs"] == result["bottleneck"]["critical_ms"]
    assert summary["traceAccuracyRate"] == result["accuracy_rate"] == trace.analysis.accuracy_rate
    assert summary["retrievalLatencyMs"] == round(result["retrieval_latency_ms"], 3)
    assert summary["failedNodes"] == result["failed_nodes"]

    # 2. receiver down: the summary waits in the outbox, text output says so
    port = free_port()
    code = main(_trace_args(sim, "--webhook", f"http://127.0.0.1:{port}/hook", "--webhook-max-attempts", "1"))
    out, err = capsys.readouterr()
    printed += [out, err]
    assert code == 0, err
    assert "webhook: not delivered" in out and "outbox" in err
    (queued,) = Outbox(tmp_path / "state").records()
    with Receiver(port=port) as receiver:
        code = main(["webhook", "flush"])
        out, err = capsys.readouterr()
        printed += [out, err]
    assert code == 0, err
    (got,) = receiver.received
    assert got.body == queued.body.encode() and got.key == queued.idempotency_key
    assert Outbox(tmp_path / "state").records() == []

    # 3. the job fails: exit 3, a "failed" summary, an audit line with the server's message
    sim.set_faults(fail_job=True)
    code = main(_trace_args(sim, "--webhook", sim.webhook_url))
    out, err = capsys.readouterr()
    printed += [out, err]
    assert code == 3
    failed = sim.webhook_deliveries[-1]
    assert failed.json()["status"] == "failed" and failed.json()["flowId"] == "flow-e2e" and _signed(failed)

    # the audit log: one trace line per completed trace, one line per failed step, the job failure
    audit_dir = tmp_path / "state" / "audit"
    lines = [json.loads(line) for f in sorted(audit_dir.glob("audit-*.jsonl")) for line in f.read_text().splitlines()]
    completed = [line for line in lines if line["event"] == "trace_completed"]
    assert len(completed) == 2
    assert completed[0]["job_id"] == result["job_id"] and completed[0]["webhook"]["delivered"] is True
    assert completed[0]["accuracy_rate"] == result["accuracy_rate"]
    assert completed[0]["correlation_ids"] == list(trace.metadata.correlation_ids)
    step_lines = [line for line in lines if line["event"] == "step_failed" and line["job_id"] == result["job_id"]]
    assert sorted(line["node_id"] for line in step_lines) == sorted(result["failed_nodes"])
    (job_failed,) = [line for line in lines if line["event"] == "job_failed"]
    assert job_failed["message"] == sim.faults.fail_job_message and job_failed["flow_id"] == "flow-e2e"

    # the HTML report of the saved trace is an artefact too
    from gctrace_nb.report.trace import export_report

    report = export_report(trace, tmp_path / "out" / "report.html", plotlyjs="cdn")

    # the grep: files, printed output, notebook views, webhook bodies
    tokens = list(sim._tokens)  # the bearer tokens it issued (test-only peek at the simulator)
    assert tokens
    haystacks = {str(p): p.read_text(encoding="utf-8", errors="replace") for p in tmp_path.rglob("*") if p.is_file()}
    haystacks.update({f"printed[{i}]": text for i, text in enumerate(printed)})
    haystacks["repr_html"] = trace._repr_html_()
    haystacks["summary_text"] = trace.summary_text()
    haystacks.update({f"webhook[{i}]": d.body.decode() for i, d in enumerate(sim.webhook_deliveries)})
    haystacks["received"] = got.body.decode()
    assert any("audit-" in name for name in haystacks) and str(saved) in haystacks and str(report) in haystacks
    for secret in [CLIENT_SECRET, WEBHOOK_SECRET, *tokens]:
        leaks = [name for name, text in haystacks.items() if secret in text]
        assert not leaks, f"a secret leaked into {leaks}"
