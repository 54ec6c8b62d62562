"""Write the sample traces in data/ (run once; the JSON files are committed).

Hand-laid timelines rather than generated ones, so the README and notebooks can
name their bottleneck and failures: an inbound call with parallel data actions,
a failing payment branch, a dirty trace with every anomaly kind, and a folder
of generated traces for batch analysis.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gctrace_nb import Trace, TraceMetadata  # noqa: E402
from gctrace_nb.simulator.generator import generate_trace  # noqa: E402

BASE = "2026-11-20T14:03:"


def at(ms: int) -> str:
    s, m = divmod(ms, 1000)
    return f"{BASE}{10 + s:02d}.{m:03d}Z"


def s(node, parent, start, end, name, kind, status="success", error=None, **extra):
    step = {"nodeId": node, "parentId": parent, "name": name, "type": kind,
            "startTime": at(start), "endTime": at(end), "status": status}
    if error:
        step["errorMessage"] = error
    step.update(extra)
    return step


def inbound_call():
    return [
        s("flow", None, 0, 9120, "Inbound Main IVR", "flow", flowVersion="12.0"),
        s("greeting", "flow", 0, 1180, "Play welcome prompt", "playAudio"),
        s("lang-menu", "flow", 1180, 3420, "Language menu", "menu", digits="1"),
        s("identify", "flow", 3420, 7060, "Identify caller", "task"),
        s("ani-lookup", "identify", 3430, 3470, "Normalise ANI", "decision"),
        s("crm-lookup", "identify", 3480, 5150, "CRM contact lookup", "dataAction",
          service="crm", httpStatus=200, attempt=1),
        s("crm-http", "crm-lookup", 3495, 5120, "GET /contacts?phone=", "http", service="crm"),
        s("kb-search", "identify", 3482, 4310, "Knowledge search: recent outages", "dataAction",
          service="knowledge", httpStatus=200),
        s("balance", "identify", 3486, 6980, "Account balance", "dataAction",
          service="payment", httpStatus=200, attempt=1),
        s("balance-http", "balance", 3500, 6950, "GET /accounts/{id}/balance", "http", service="payment"),
        s("vip-decision", "identify", 6990, 7050, "VIP caller?", "decision", outputPath="yes"),
        s("set-data", "flow", 7060, 7080, "Set participant data", "setData"),
        s("transfer", "flow", 7080, 9120, "Transfer to ACD: Billing VIP", "transferToAcd", queue="Billing VIP"),
    ]


def payment_failure():
    return [
        s("flow", None, 0, 12400, "Pay by phone", "flow"),
        s("greeting", "flow", 0, 950, "Play payment prompt", "playAudio"),
        s("collect-card", "flow", 950, 6100, "Collect card number", "collectInput"),
        s("validate", "flow", 6100, 6140, "Luhn check", "decision", outputPath="valid"),
        s("authorize", "flow", 6140, 11300, "Authorize payment", "task"),
        s("pay-auth-1", "authorize", 6150, 9160, "Payment authorize", "dataAction", "failed",
          "HTTP 504 from payment gateway", service="payment", attempt=1, httpStatus=504),
        s("pay-auth-2", "authorize", 9200, 11210, "Payment authorize (retry)", "dataAction", "failed",
          "Connection reset by payment gateway", service="payment", attempt=2),
        s("fraud-score", "authorize", 6152, 6890, "Fraud score", "dataAction", service="risk"),
        s("fallback", "flow", 11300, 11320, "Payment failed?", "decision", outputPath="failure"),
        s("apology", "flow", 11320, 12400, "Play apology, transfer", "playAudio"),
    ]


def dirty():
    good = [
        s("flow", None, 0, 5000, "Dirty flow", "flow"),
        s("menu", "flow", 100, 1500, "Main menu", "menu"),
        s("crm", "flow", 1500, 4200, "CRM lookup", "dataAction", "failed", "HTTP 500 from CRM"),
        s("crm-http", "crm", 1510, 4100, "POST /search", "http"),
    ]
    return good + [
        {"name": "step without id", "startTime": at(10), "endTime": at(20)},             # missing_id
        "not-a-step",                                                                       # missing_id
        s("menu", "flow", 200, 300, "Main menu (again)", "menu"),                           # duplicate
        {"nodeId": "no-end", "parentId": "flow", "startTime": at(50), "status": "success"},  # untimed
        s("backwards", "flow", 3000, 2000, "Clock went back", "decision"),                  # negative_duration
        s("lost", "ghost-parent", 4300, 4600, "Parent never arrived", "setData"),           # orphan
        s("loop-a", "loop-b", 600, 900, "Loop A", "task"),                                  # cycle
        s("loop-b", "loop-a", 650, 800, "Loop B", "task"),                                  # cycle
        s("after", "menu", 1600, 1700, "Ran after its parent", "decision"),                 # outside_parent
        s("late-child", "crm-http", 4150, 4180, "Skewed by clock", "http"),                 # outside_parent
    ]


def main() -> None:
    data = ROOT / "data"
    batch = data / "batch"
    batch.mkdir(parents=True, exist_ok=True)
    Trace(inbound_call(), TraceMetadata(
        source="debug", flow_id="inbound-main-ivr", action_invocation_id="inv-4f1c",
        job_id="job-8d21", retrieval_latency_ms=2410.0, submitted_at="2026-11-20T14:03:20.100Z",
        completed_at="2026-11-20T14:03:22.510Z", extra={"flow_name": "Inbound Main IVR"},
    )).save(data / "inbound_call.json")
    (data / "payment_failure.json").write_text(json.dumps(
        {"id": "job-77aa", "status": "completed", "result": {"steps": payment_failure()}}, indent=1))
    (data / "dirty_trace.json").write_text(json.dumps(dirty(), indent=1))
    for seed in range(60):
        steps = generate_trace(seed, flow_id="inbound-main-ivr")
        Trace(steps, TraceMetadata(source="debug", flow_id="inbound-main-ivr", job_id=f"sim-{seed:03d}")
              ).save(batch / f"trace_{seed:03d}.json")


if __name__ == "__main__":
    main()
