"""The debug-trace contract (``genesys-api.md`` §A): ``POST /api/v2/flows/{flowId}/debug``, ``GET /api/v2/jobs/{jobId}``.

A submitted request is checked field by field (every violation named in one 400),
becomes a :class:`~gctrace_nb.simulator.state.DebugJob` with seeded steps, and is
``in_progress`` for ``job_duration_s``; the faults decide where its location is
given and how its result is shaped.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .generator import generate_trace
from .http import Reply, Request, error_body, json_body
from .state import DebugJob

if TYPE_CHECKING:
    from .server import Simulator

__all__ = ["submit", "poll"]


def submit(sim: Simulator, req: Request) -> Reply:
    """Start a debug job for flow ``req.params[0]``; answer 202 with its location."""
    (path_flow_id,) = req.params
    body = json_body(req.body)
    violations = _debug_violations(path_flow_id, body)
    if violations:
        message = "; ".join(msg for _, msg in violations)
        details = [{"errorCode": "constraint.violation", "fieldName": fld, "entityId": path_flow_id,
                    "entityName": "flow"} for fld, _ in violations]
        raise Reply(400, error_body(400, "bad.request", message, details=details,
                                    errors=[{"message": m, "code": "bad.request", "status": 400}
                                            for _, m in violations]))
    known = (not path_flow_id.startswith("missing")) if sim.known_flows is None else path_flow_id in sim.known_flows
    if not known:
        raise Reply(404, error_body(404, "not.found", f"Flow {path_flow_id} not found",
                                    params={"flowId": path_flow_id}))
    with sim._lock:
        job_seed = sim._ids.getrandbits(32)
    job_id = sim._new_id()
    steps = generate_trace(job_seed, flow_id=body["flowId"], size=sim.trace_size,
                           start=int(sim.wall_clock() * 1000))
    job = DebugJob(job_id=job_id, flow_id=body["flowId"], action_invocation_id=body["actionInvocationId"],
                   request=body, submitted_at=sim.clock(), seed=job_seed, steps=steps)
    with sim._lock:
        sim.jobs[job_id] = job
    style = sim.faults.location_style
    rel = f"/api/v2/jobs/{job_id}"
    headers = {}
    payload: dict = {"status": "in_progress"}
    if style == "absolute":
        headers["Location"] = sim.api_url + rel
    elif style == "relative":
        headers["Location"] = rel
    elif style == "bare":
        headers["Location"] = job_id
    else:
        payload = {"id": job_id, "status": "in_progress", "selfUri": rel}
    return Reply(202, payload, headers)


def poll(sim: Simulator, req: Request) -> Reply:
    """Answer the state of job ``req.params[0]``: in progress, failed, or completed with its steps."""
    (job_id,) = req.params
    with sim._lock:
        job = sim.jobs.get(job_id)
        if job is None:
            raise Reply(404, error_body(404, "not.found", f"Job {job_id} not found"))
        job.polls += 1
        if job.status == "in_progress" and sim.clock() - job.submitted_at >= sim.job_duration_s:
            if sim._faults.fail_job:
                job.status, job.message = "failed", sim._faults.fail_job_message
            else:
                job.status = "completed"
        status, message, steps = job.status, job.message, job.steps
        result_style = sim._faults.result_style
        job_retry_after = sim._faults.job_retry_after_s
    if status == "in_progress":
        return Reply(200, {"id": job_id, "status": "in_progress"},
                     {"Retry-After": str(int(job_retry_after))} if job_retry_after > 0 else None)
    if status == "failed":
        return Reply(200, {"id": job_id, "status": "failed", "message": message})
    result: Any = steps if result_style == "list" else {
        "steps": steps, "flowId": job.flow_id, "actionInvocationId": job.action_invocation_id}
    return Reply(200, {"id": job_id, "status": "completed", "result": result})


def _debug_violations(path_flow_id: str, req: Any) -> list[tuple[str, str]]:
    """Return ``(field, message)`` for each way ``req`` breaks the debug contract."""
    if not isinstance(req, dict):
        return [("body", "The request body must be a JSON object")]
    out: list[tuple[str, str]] = []
    flow_id = req.get("flowId")
    if not isinstance(flow_id, str) or not flow_id.strip():
        out.append(("flowId", "flowId must be a non-empty string"))
    elif flow_id != path_flow_id:
        out.append(("flowId", f"flowId in the body ({flow_id!r}) does not match the flowId in the path "
                              f"({path_flow_id!r})"))
    action = req.get("actionInvocationId")
    if not isinstance(action, str) or not action.strip():
        out.append(("actionInvocationId", "actionInvocationId must be a non-empty string"))
    depth = req.get("traceDepth")
    if isinstance(depth, bool) or not isinstance(depth, int):
        out.append(("traceDepth", f"traceDepth must be an integer between 1 and 50, got {json.dumps(depth)}"))
    elif not 1 <= depth <= 50:
        out.append(("traceDepth", f"traceDepth must be between 1 and 50, got {depth}"))
    directives = req.get("contextDirectives")
    if not isinstance(directives, dict):
        out.append(("contextDirectives", "contextDirectives must be an object with captureContext and captureData"))
    elif directives.get("captureContext") is not True and directives.get("captureData") is not True:
        out.append(("contextDirectives", "at least one of contextDirectives.captureContext and "
                                         "contextDirectives.captureData must be true"))
    if "simulatedInputs" in req and req["simulatedInputs"] is not None and not isinstance(req["simulatedInputs"], dict):
        out.append(("simulatedInputs", "simulatedInputs must be a JSON object"))
    if req.get("enableAsync") is not True:
        out.append(("enableAsync", "enableAsync must be true (traces run asynchronously)"))
    return out
