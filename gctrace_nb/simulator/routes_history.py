"""Flow execution history (``genesys-api.md`` §B), held to the official SDK's models.

* ``POST /api/v2/flows/instances/query``: one page of the instances a query matches
  (the query language is :mod:`~gctrace_nb.simulator.criteria`).
* ``POST /api/v2/flows/instances/jobs`` and ``GET .../jobs/{jobId}``: a download job.
* ``GET /api/v2/flows/instances/{id}``: one instance's download link.
* ``GET /api/v2/downloads/{id}``: a redirect (or ``{"url"}``) to a pre-signed URL.
* ``GET /downloads/presigned/{token}``: the document itself, S3-like (no
  ``Authorization`` header allowed, ``AccessDenied`` XML when expired or unknown).
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from . import criteria as _criteria
from .http import Reply, Request, error_body, json_body
from .state import HistoryJob

if TYPE_CHECKING:
    from .server import Simulator

__all__ = ["query", "submit", "poll", "one", "api_download", "presigned_download"]

_MAX_QUERY_RESULTS = 200
_DEFAULT_PAGE_SIZE = 50
#: The query parameters of ``post_flows_instances_query`` in the SDK; there is no pageNumber.
_QUERY_PARAMETERS = frozenset({"pageSize", "indexOnly"})


def query(sim: Simulator, req: Request) -> Reply:
    """``post_flows_instances_query``: pageSize (default 50, at most 200) and indexOnly only.

    One page: no ``pageNumber`` and no ``nextUri`` (whether the real service
    ever pages is unknown); ``total`` counts every match, so a client can tell
    when more matched than came back.
    """
    unknown = sorted(set(req.query) - _QUERY_PARAMETERS)
    if unknown:
        raise Reply(400, error_body(400, "bad.request", f"Unknown query parameter(s) {', '.join(unknown)}: "
                                    "this endpoint takes pageSize and indexOnly"))
    try:
        page_size = int(req.query.get("pageSize", _DEFAULT_PAGE_SIZE))
    except ValueError:
        raise Reply(400, error_body(400, "bad.request", "pageSize must be an integer"))
    if not 1 <= page_size <= _MAX_QUERY_RESULTS:
        raise Reply(400, error_body(400, "bad.request",
                                    f"pageSize must be between 1 and {_MAX_QUERY_RESULTS}, got {page_size}"))
    if req.query.get("indexOnly", "false").lower() not in ("true", "false"):
        raise Reply(400, error_body(400, "bad.request", "indexOnly must be true or false"))
    try:
        groups = _criteria.check_query(json_body(req.body))
    except _criteria.QueryError as exc:
        raise Reply(400, error_body(400, "bad.request", str(exc)))
    matches = [e for e in sim.history_instances
               if _criteria.matches(groups, e, sim.execution_documents[e["id"]])]
    base = "/api/v2/flows/instances/query"
    return Reply(200, {"entities": matches[:page_size], "pageSize": page_size, "pageNumber": 1,
                       "total": len(matches), "selfUri": f"{base}?pageSize={page_size}"})


def submit(sim: Simulator, req: Request) -> Reply:
    """Register a download job for at most 100 instance ids; answer 202."""
    body = json_body(req.body)
    ids = body.get("ids") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        raise Reply(400, error_body(400, "bad.request", "ids must be a non-empty list of flow instance ids"))
    if len(ids) > 100:
        raise Reply(400, error_body(400, "bad.request", f"At most 100 ids per job, got {len(ids)}"))
    job = HistoryJob(job_id=sim._new_id(), ids=list(ids), submitted_at=sim.clock())
    with sim._lock:
        sim.history_jobs[job.job_id] = job
    return Reply(202, {"id": job.job_id, "jobState": "Registered", "entities": [],
                       "selfUri": f"/api/v2/flows/instances/jobs/{job.job_id}"})


def poll(sim: Simulator, req: Request) -> Reply:
    """Answer job ``req.params[0]``: Registered, Running, then Success (with its entities) or Failed."""
    (job_id,) = req.params
    with sim._lock:
        job = sim.history_jobs.get(job_id)
        if job is None:
            raise Reply(404, error_body(404, "not.found", f"Flow instances job {job_id} not found"))
        job.polls += 1
        elapsed = sim.clock() - job.submitted_at
        if job.state in ("Registered", "Running"):
            if elapsed >= sim.job_duration_s:
                if sim._faults.fail_job:
                    job.state = "Failed"
                else:
                    job.state = "Success"
                    job.entities = _entities(sim, job.ids)
            elif elapsed >= sim.job_duration_s / 3:
                job.state = "Running"
        # GetFlowExecutionDataJobResult: no error field, even when Failed
        out = {"id": job.job_id, "jobState": job.state, "entities": list(job.entities),
               "selfUri": f"/api/v2/flows/instances/jobs/{job.job_id}"}
    return Reply(200, out)


def _entities(sim: Simulator, ids: list[str]) -> list[dict]:
    known = [i for i in ids if i in sim.execution_documents]
    fail_one = known[-1] if sim._faults.history_entity_404 and known else None
    out = []
    for iid in ids:
        if iid not in sim.execution_documents or iid == fail_one:
            out.append({"id": iid, "failed": True, "statusCode": "404"})  # ExecutionDataEntity: a string
        else:
            out.append({"id": iid, "downloadUri": sim._download_uri(iid), "failed": False, "statusCode": "200"})
    return out


def one(sim: Simulator, req: Request) -> Reply:
    """Answer instance ``req.params[0]`` as a finished one-entity job."""
    (instance_id,) = req.params
    if instance_id not in sim.execution_documents:
        raise Reply(404, error_body(404, "not.found", f"Flow instance {instance_id} not found"))
    return Reply(200, {"id": instance_id, "jobState": "Success",
                       "entities": [{"id": instance_id, "downloadUri": sim._download_uri(instance_id),
                                     "failed": False, "statusCode": "200"}]})


def api_download(sim: Simulator, req: Request) -> Reply:
    """Redirect download ``req.params[0]`` to a fresh pre-signed URL (``issueRedirect=false``: give it)."""
    (download_id,) = req.params
    with sim._lock:
        instance_id = sim._downloads.get(download_id)
    if instance_id is None:
        raise Reply(404, error_body(404, "not.found", f"Download {download_id} not found"))
    url = sim._presign(instance_id)
    if req.query.get("issueRedirect", "true").lower() == "false":
        return Reply(200, {"url": url})
    return Reply(303, None, {"Location": url})


def presigned_download(sim: Simulator, req: Request) -> Reply:
    """Serve the document a pre-signed URL names, as S3 would (its errors are XML)."""
    token = req.path.rsplit("/", 1)[1]
    request_id = secrets.token_hex(8).upper()
    if req.headers.get("Authorization"):
        raise Reply(400, _s3_error(
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query "
            "string parameter or the Authorization header should be specified",
            request_id, ArgumentName="Authorization"), content_type="application/xml")
    with sim._lock:
        entry = sim._presigned.get(token)
    if entry is None or "X-Amz-Signature" not in req.query:
        raise Reply(403, _s3_error("AccessDenied", "Access Denied", request_id), content_type="application/xml")
    instance_id, expires_at = entry
    if sim.clock() >= expires_at:
        now = datetime.fromtimestamp(sim.wall_clock(), timezone.utc)
        expired = now - timedelta(seconds=sim.clock() - expires_at)
        raise Reply(403, _s3_error("AccessDenied", "Request has expired", request_id,
                                   **{"X-Amz-Expires": req.query.get("X-Amz-Expires", ""),
                                      "Expires": expired.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                      "ServerTime": now.strftime("%Y-%m-%dT%H:%M:%SZ")}),
                    content_type="application/xml")
    doc = sim.execution_documents[instance_id]
    return Reply(200, json.dumps(doc).encode("utf-8"), {"x-amz-request-id": request_id},
                 content_type="application/json")


def _s3_error(code: str, message: str, request_id: str, **extra: str) -> str:
    from xml.sax.saxutils import escape

    inner = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in extra.items())
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{escape(message)}'
            f"</Message>{inner}<RequestId>{request_id}</RequestId><HostId>{secrets.token_urlsafe(24)}</HostId>"
            f"</Error>")
