"""The audit log: JSON lines, one per failed step, daily UTC files kept 90 days, no secrets."""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import pytest

from gctrace_nb import Trace, TraceMetadata
from gctrace_nb.delivery import audit
from gctrace_nb.delivery.audit import audit_event, audit_trace, configure_audit_log

DAY = 86400.0
# 2026-11-28 23:59:58 UTC
LATE = dt.datetime(2026, 11, 28, 23, 59, 58, tzinfo=dt.timezone.utc).timestamp()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(LATE)


@pytest.fixture
def log_dir(tmp_path, clock, monkeypatch):
    monkeypatch.delenv("GCTRACE_AUDIT_DIR", raising=False)
    monkeypatch.setenv("GCTRACE_STATE_DIR", str(tmp_path / "state"))
    directory = tmp_path / "audit"
    handler = configure_audit_log(directory, clock=clock)
    yield directory
    logging.getLogger(audit.AUDIT_LOGGER).removeHandler(handler)
    handler.close()


def read(directory: Path, day: str) -> list[dict]:
    return [json.loads(line) for line in (directory / f"audit-{day}.jsonl").read_text().splitlines()]


@pytest.fixture
def trace() -> Trace:
    steps = [
        {"nodeId": "root", "startTime": 0, "endTime": 5000, "status": "completed"},
        {"nodeId": "crm", "parentId": "root", "startTime": 1000, "endTime": 4500, "status": "error",
         "errorMessage": "CRM 502 upstream"},
        {"nodeId": "pay", "parentId": "root", "startTime": 1000, "endTime": 2000, "status": " Failed ",
         "errorMessage": "card declined"},
        {"nodeId": "ok", "parentId": "root", "startTime": 2000, "endTime": 2500, "status": "completed"},
    ]
    meta = TraceMetadata(source="debug", flow_id="flow-1", action_invocation_id="act-1", job_id="job-1",
                         retrieval_latency_ms=812.5, correlation_ids=("corr-1", "corr-2"))
    return Trace(steps, meta)


def test_trace_line_then_one_line_per_failed_step(log_dir, trace):
    audit_trace(trace, http_status=200, context_id="ctx-9", webhook={"delivered": True, "attempts": 1, "status": 200})
    lines = read(log_dir, "2026-11-28")
    assert [line["event"] for line in lines] == ["trace_completed", "step_failed", "step_failed"]
    first = lines[0]
    assert first["flow_id"] == "flow-1" and first["action_invocation_id"] == "act-1" and first["job_id"] == "job-1"
    assert first["status"] == "completed"  # the job's status; failures are in failed_nodes
    assert first["http_status"] == 200
    assert first["retrieval_latency_ms"] == 812.5
    assert first["accuracy_rate"] == 1.0
    assert first["correlation_ids"] == ["corr-1", "corr-2"] and first["context_id"] == "ctx-9"
    assert first["bottleneck_node"] == trace.analysis.bottleneck.node_id
    assert first["bottleneck_ms"] == trace.analysis.bottleneck.critical_ms
    assert first["webhook"] == {"delivered": True, "attempts": 1, "status": 200}
    assert first["ts"] == "2026-11-28T23:59:58.000Z" and first["level"] == "info"
    failed = {line["node_id"]: line for line in lines[1:]}
    assert failed["crm"]["error_message"] == "CRM 502 upstream"
    assert failed["pay"]["error_message"] == "card declined"
    assert all(line["job_id"] == "job-1" and line["level"] == "warning" for line in lines[1:])


def test_validation_violations_keep_the_servers_message(log_dir):
    audit_event("trace_rejected", level=logging.WARNING, http_status=400, context_id="ctx-1",
                violations=[{"field": "traceDepth", "message": "traceDepth must be <= 50"}],
                message="The request could not be understood: traceDepth must be <= 50")
    (line,) = read(log_dir, "2026-11-28")
    assert line["violations"][0]["message"] == "traceDepth must be <= 50"
    assert line["message"].startswith("The request could not be understood")
    assert line["http_status"] == 400 and line["level"] == "warning"


def test_trace_violations_as_pairs(log_dir):
    audit_trace(Trace([]), event="trace_failed", status="failed", violations=[("flowId", "not found")])
    line = read(log_dir, "2026-11-28")[0]
    assert line["violations"] == [{"field": "flowId", "message": "not found"}]
    assert line["status"] == "failed" and line["level"] == "warning"


def test_rotates_at_utc_midnight(log_dir, clock):
    audit_event("before")
    clock.now += 3  # 2026-11-29 00:00:01 UTC
    audit_event("after")
    assert [line["event"] for line in read(log_dir, "2026-11-28")] == ["before"]
    assert [line["event"] for line in read(log_dir, "2026-11-29")] == ["after"]
    assert read(log_dir, "2026-11-29")[0]["ts"] == "2026-11-29T00:00:01.000Z"


def test_files_older_than_90_days_are_removed(tmp_path, clock):
    directory = tmp_path / "audit"
    directory.mkdir()
    today = dt.date(2026, 11, 28)
    for age in (1, 89, 90, 91, 400):
        (directory / f"audit-{today - dt.timedelta(days=age)}.jsonl").write_text("{}\n")
    (directory / "notes.txt").write_text("not ours")
    handler = configure_audit_log(directory, clock=clock)
    try:
        names = sorted(p.name for p in directory.iterdir())
        assert names == sorted(["notes.txt"] + [f"audit-{today - dt.timedelta(days=a)}.jsonl" for a in (1, 89, 90)])
        # a day later the 90-day-old file turns 91 and goes at the first line of the new day
        clock.now += DAY
        audit_event("next_day")
        assert not (directory / f"audit-{today - dt.timedelta(days=90)}.jsonl").exists()
        assert (directory / f"audit-{today - dt.timedelta(days=89)}.jsonl").exists()
    finally:
        logging.getLogger(audit.AUDIT_LOGGER).removeHandler(handler)
        handler.close()


def test_configure_twice_writes_each_line_once(tmp_path, clock):
    first = configure_audit_log(tmp_path / "a", clock=clock)
    second = configure_audit_log(tmp_path / "b", clock=clock)
    try:
        audit_event("once")
        assert not list((tmp_path / "a").glob("*.jsonl"))
        assert len(read(tmp_path / "b", "2026-11-28")) == 1
    finally:
        logging.getLogger(audit.AUDIT_LOGGER).removeHandler(second)
        first.close()
        second.close()


def test_default_directory_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("GCTRACE_AUDIT_DIR", raising=False)
    monkeypatch.setenv("GCTRACE_STATE_DIR", str(tmp_path / "st"))
    assert audit.default_audit_dir() == tmp_path / "st" / "audit"
    monkeypatch.setenv("GCTRACE_AUDIT_DIR", str(tmp_path / "aud"))
    assert audit.default_audit_dir() == tmp_path / "aud"
    monkeypatch.delenv("GCTRACE_STATE_DIR")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert audit.default_state_dir() == tmp_path / "xdg" / "gctrace_nb"


def test_secrets_are_redacted_by_construction(log_dir):
    audit_event(
        "login_failed",
        level=logging.ERROR,
        client_secret="cs-SECRET-1",
        access_token="at-SECRET-2",
        headers={"Authorization": "Bearer at-SECRET-3", "Accept": "application/json"},
        error="401 for Authorization: Bearer at-SECRET-4 at https://user:pw-SECRET-5@login.example/oauth",
        url="https://hooks.example/x?token=tk-SECRET-6&a=1",
        attempts=[{"password": "pw-SECRET-7"}],
    )
    # a record from anywhere, through the same handler, is redacted too
    logging.getLogger(audit.AUDIT_LOGGER).error("raw Bearer at-SECRET-8 message")
    text = "".join(p.read_text() for p in log_dir.iterdir())
    assert "SECRET" not in text
    lines = read(log_dir, "2026-11-28")
    assert lines[0]["headers"]["Accept"] == "application/json"
    assert lines[0]["url"] == "https://hooks.example/x?token=[REDACTED]&a=1"
    assert lines[1]["message"] == "raw Bearer [REDACTED] message"


def test_objects_are_refused_so_settings_cannot_be_logged(log_dir):
    @dataclass
    class Settings:
        client_id: str = "id"
        client_secret: str = "cs-SECRET"

    with pytest.raises(TypeError, match="settings"):
        audit_event("x", settings=Settings())
    with pytest.raises(TypeError):
        audit_event("x", nested={"deep": [Settings()]})
    assert not list(log_dir.glob("*.jsonl"))


def test_unconfigured_audit_logger_is_silent(capsys, trace):
    logger = logging.getLogger(audit.AUDIT_LOGGER)
    saved = [h for h in logger.handlers if isinstance(h, audit.DailyAuditHandler)]
    for h in saved:
        logger.removeHandler(h)
    try:
        audit_trace(trace)
        audit_event("gave_up", level=logging.ERROR)
    finally:
        for h in saved:
            logger.addHandler(h)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_errors_are_audited_with_the_servers_message(log_dir):
    from gctrace_nb.errors import BadRequest, GaveUp, JobFailed, TraceRequestInvalid

    audit.audit_error(BadRequest("traceDepth must be <= 50", status=400, code="bad.request",
                                 context_id="ctx-1", correlation_id="corr-1",
                                 url="https://api.example/x?access_token=tok-SECRET"), flow_id="flow-1")
    audit.audit_error(TraceRequestInvalid([("traceDepth", "must be at most 50, got 80")]))
    audit.audit_error(JobFailed("node limit exceeded", job_id="job-9"))
    audit.audit_error(GaveUp("deadline passed", attempts=12, last_status=503))
    lines = read(log_dir, "2026-11-28")
    assert [line["event"] for line in lines] == ["trace_rejected", "trace_rejected", "job_failed", "gave_up"]
    assert lines[0]["message"] == "traceDepth must be <= 50" and lines[0]["context_id"] == "ctx-1"
    assert lines[0]["http_status"] == 400 and lines[0]["flow_id"] == "flow-1"
    assert lines[1]["violations"] == [{"field": "traceDepth", "message": "must be at most 50, got 80"}]
    assert lines[2]["job_id"] == "job-9" and lines[2]["message"] == "node limit exceeded"
    assert lines[3]["attempts"] == 12 and lines[3]["last_status"] == 503
    assert all(line["level"] == "error" for line in lines)
    assert "SECRET" not in (log_dir / "audit-2026-11-28.jsonl").read_text()


_WRITER = """
import sys
from gctrace_nb.delivery import audit
audit.configure_audit_log(sys.argv[1], clock=lambda: float(sys.argv[2]))
for i in range(40):
    audit.audit_event("bulk", writer=sys.argv[3], i=i, padding="x" * 30000)
"""


def test_processes_sharing_a_directory_never_interleave_lines(tmp_path):
    import os
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path), str(LATE), name], env=env)
             for name in ("a", "b")]
    assert [p.wait(120) for p in procs] == [0, 0]
    lines = read(tmp_path, "2026-11-28")
    assert sorted((line["writer"], line["i"]) for line in lines) == sorted((w, i) for w in "ab" for i in range(40))
