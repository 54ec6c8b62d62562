"""``gctrace demo``: simulator → trace → summary, report, saved trace, webhook, audit log."""

from __future__ import annotations

import json

import pytest

from gctrace_nb import load_trace
from gctrace_nb.cli.app import EXIT_OK, main


@pytest.fixture(autouse=True)
def _state_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("GCTRACE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("GCTRACE_AUDIT_DIR", raising=False)
    monkeypatch.delenv("GCTRACE_WEBHOOK_SECRET", raising=False)


def test_demo_writes_everything_and_says_where(tmp_path, capsys, dot_binary):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == EXIT_OK
    printed = capsys.readouterr()

    trace = load_trace(out / "trace.json")
    job_id = trace.metadata.job_id
    assert job_id and trace.metadata.source == "debug"
    assert f"job {job_id}" in printed.out  # the summary was printed
    assert "bottleneck" in printed.out

    report = (out / "report.html").read_text(encoding="utf-8")
    assert job_id in report and "<svg" in report

    summary = json.loads((out / "webhook.json").read_text(encoding="utf-8"))
    assert summary["jobId"] == job_id
    assert summary["bottleneckNode"] == trace.analysis.bottleneck.node_id
    assert "webhook: delivered" in printed.out

    (audit_file,) = (out / "audit").glob("audit-*.jsonl")
    lines = [json.loads(line) for line in audit_file.read_text(encoding="utf-8").splitlines()]
    completed = [line for line in lines if line["event"] == "trace_completed"]
    assert completed and completed[0]["job_id"] == job_id and completed[0]["webhook"]["delivered"] is True

    live = load_trace(out / "live-trace.json")  # one execution watched live, from its full document
    assert live.metadata.extra["detail"] == "full" and "live: " in printed.out
    assert f"execution {live.metadata.extra['execution_id']} conversation" in printed.out

    for path in (out / "report.html", out / "trace.json", out / "webhook.json", out / "live-trace.json", audit_file):
        assert str(path) in printed.out
    # the simulator's secret is nowhere
    everything = printed.out + printed.err + "".join(
        p.read_text(encoding="utf-8", errors="replace") for p in out.rglob("*") if p.is_file())
    assert "sim-secret" not in everything


def test_demo_reports_an_unwritable_out_dir(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert main(["demo", "--out", str(blocker / "sub")]) != EXIT_OK
    assert "cannot write" in capsys.readouterr().err
