"""Fetch traces from the real Genesys Cloud API: flow execution history and data action tests.

Flow execution history (``genesys-api.md`` §B), in four calls:

1. :func:`query_flow_instances`: ``POST /api/v2/flows/instances/query?pageSize=N``
   with the criteria, once (the SDK's call has no page number; a ``nextUri``
   is followed only when the listing carries one), up to the API's cap of 200
   instances; a ``total`` above what came back becomes a warning.
2. :func:`start_instances_job`: ``POST /api/v2/flows/instances/jobs {"ids": [...]}``.
3. :func:`wait_instances_job`: poll ``GET /api/v2/flows/instances/jobs/{id}``
   until ``jobState`` is ``Success`` or ``Failed``, with the client's retry engine
   (:meth:`RetryEngine.poll <gctrace_nb.api.retry.RetryEngine.poll>`: backoff,
   ``Retry-After``, deadline, breaker).
4. :func:`~gctrace_nb.api.downloads.download_entity` (in :mod:`gctrace_nb.api.downloads`,
   re-exported here): each entity's pre-signed ``downloadUri``, fetched with a
   plain session and **no Authorization header**; the relative
   ``/api/v2/downloads/{id}`` form is resolved first through
   ``GET /api/v2/downloads/{id}?issueRedirect=false``.

:func:`fetch_history_traces` runs all four and converts each download with
:func:`gctrace_nb.core.formats.history.execution_document_to_steps` (``keep_raw=DIR``
also writes each download untouched). What is confirmed by the official SDK and
what is our reading: ``docs/real-genesys.md``.
:func:`run_action_test` runs ``POST /api/v2/integrations/actions/{id}/test``.

The calls of one fetch share one :class:`~gctrace_nb.api.options.CallOptions`
(progress, cancel, budget, correlation ids); each public call also takes its
fields as keywords.
"""

from __future__ import annotations

import json as _json
import logging
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Mapping
from urllib.parse import quote, urlsplit

import requests

from ..core.documents import parse_json
from ..errors import ApiError, JobFailed, TraceFormatError, TraceRequestInvalid
from .downloads import (DOWNLOADS_PATH, MAX_DOWNLOAD_BYTES, _json_body, _plain_session, download_entity,
                        download_entity_bytes)
from .options import CallKeywords, CallOptions, CancelToken, PollEvent, ProgressCallback
from .._time import iso_utc, to_iso
from ..core.formats import action_test as _action_test
from ..core.formats import history as _history
from ..core.formats.history import parse_timestamp

if TYPE_CHECKING:  # pragma: no cover
    from typing_extensions import Unpack

    from .client import GenesysClient
    from ..core.model import Trace, TraceMetadata

__all__ = [
    "MAX_INSTANCES",
    "QUERY_PATH",
    "JOBS_PATH",
    "build_instance_query",
    "query_flow_instances",
    "start_instances_job",
    "get_instances_job",
    "wait_instances_job",
    "DOWNLOADS_PATH",
    "MAX_DOWNLOAD_BYTES",
    "download_entity",
    "download_entity_bytes",
    "fetch_history_traces",
    "HistoryList",
    "safe_file_stem",
    "run_action_test",
]

log = logging.getLogger(__name__)

#: The most instances one query returns (a Genesys limit).
MAX_INSTANCES: Final = 200
#: Instance ids per download job (larger selections run several jobs).
JOB_BATCH: Final = 100
QUERY_PATH: Final = "/api/v2/flows/instances/query"
JOBS_PATH: Final = "/api/v2/flows/instances/jobs"
#: The most query pages followed through ``nextUri`` (each must bring a new instance).
_MAX_PAGES: Final = 20
_US: Final = timedelta(microseconds=1)
_DONE_STATES: Final = frozenset({"success", "failed"})


# --------------------------------------------------------------------- query
def _iso_criterion(name: str, value: Any, problems: list[tuple[str, str]]) -> str | None:
    if value is None:
        return None
    micros: int | None
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        micros = int((moment - datetime(1970, 1, 1, tzinfo=timezone.utc)).total_seconds() * 1_000_000)
    else:
        micros = parse_timestamp(value) if isinstance(value, str) else None
    if micros is None:
        problems.append((name, f"must be an ISO-8601 date-time, got {value!r}"))
        return None
    return to_iso(micros)[:23] + "Z"  # milliseconds, as the API writes them


def _check_id(name: str, value: Any, problems: list[tuple[str, str]]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        problems.append((name, "must be a non-empty id"))
        return None
    if any(ord(ch) < 32 for ch in value):
        problems.append((name, "must not contain control characters"))
        return None
    return value.strip()


def build_instance_query(
    *,
    conversation_id: str | None = None,
    flow_id: str | None = None,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
) -> dict:
    """Return the ``POST /api/v2/flows/instances/query`` body for these criteria.

    One criteria group per criterion (all must hold): ``ConversationId eq``,
    ``FlowId eq``, ``FlowStartDateTime gte`` (since) and ``lte`` (until).

    Raises:
        TraceRequestInvalid: no conversation or flow id, an unreadable time, or
            ``since`` after ``until`` (nothing is sent).

    >>> build_instance_query(conversation_id="c-1", since="2026-01-15T09:00:00Z")["query"]
    [{'criteria': {'key': 'ConversationId', 'operator': 'eq', 'value': 'c-1'}}, \
{'criteria': {'key': 'FlowStartDateTime', 'operator': 'gte', 'value': '2026-01-15T09:00:00.000Z'}}]
    """
    problems: list[tuple[str, str]] = []
    conv = _check_id("conversationId", conversation_id, problems)
    flow = _check_id("flowId", flow_id, problems)
    start = _iso_criterion("since", since, problems)
    end = _iso_criterion("until", until, problems)
    if conv is None and flow is None and not any(p[0] in ("conversationId", "flowId") for p in problems):
        problems.append(("conversationId", "give a conversation id or a flow id"))
    if start and end and start > end:
        problems.append(("since", f"must not be after until ({start} > {end})"))
    if problems:
        raise TraceRequestInvalid(problems)
    criteria = []
    for key, operator, value in (("ConversationId", "eq", conv), ("FlowId", "eq", flow),
                                 ("FlowStartDateTime", "gte", start), ("FlowStartDateTime", "lte", end)):
        if value is not None:
            criteria.append({"criteria": {"key": key, "operator": operator, "value": value}})
    return {"query": criteria}


def _next_page_path(next_uri: Any) -> str | None:
    """The path and query of a ``nextUri`` for the query endpoint, or None.

    Only its path and query are used, always on our own API host: a relative
    ``nextUri`` is followed as it is, and an absolute one naming another host
    never gets our token. A ``nextUri`` for another endpoint is not followed.
    """
    if not isinstance(next_uri, str) or not next_uri.strip():
        return None
    parts = urlsplit(next_uri.strip())
    if parts.path.rstrip("/") != QUERY_PATH:
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


class HistoryList(list):
    """A list (of instances or traces) with what the query said besides them.

    ``total`` is the listing's ``total`` (how many instances matched, as the
    service counts them; None when it did not say) and ``warnings`` the
    sentences worth showing a user, e.g. that more matched than came back.
    """

    def __init__(self, items: Any = (), *, total: int | None = None, warnings: list[str] | None = None) -> None:
        super().__init__(items)
        self.total = total
        self.warnings: list[str] = list(warnings or [])
        #: ``keep_raw``: instance id -> the file its untouched download was written to
        self.raw_paths: dict[str, str] = {}
        #: ``keep_raw``: ``(instance id, OSError)`` for each download that could not be written
        self.raw_errors: list[tuple[str, OSError]] = []


def _more_matched(total: int | None, returned: int, limit: int) -> str | None:
    """The warning for a listing whose ``total`` is more than what came back, else None.

    >>> print(_more_matched(150, 120, 120))
    150 flow instances matched but only 120 were fetched (the limit of 120); narrow the query with a time range (--since/--until) to get the rest
    """
    if total is None or total <= returned:
        return None
    why = (f"the limit of {limit}" if returned >= limit else
           f"the service sent no more: at most {MAX_INSTANCES} per query, and no nextUri")
    return (f"{total} flow instances matched but only {returned} were fetched ({why}); narrow the query "
            "with a time range (--since/--until) to get the rest")


def query_flow_instances(
    client: "GenesysClient",
    *,
    conversation_id: str | None = None,
    flow_id: str | None = None,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
    limit: int = MAX_INSTANCES,
    page_size: int | None = None,
    options: CallOptions | None = None,
    **call: "Unpack[CallKeywords]",
) -> HistoryList:
    """Return the flow instances matching the criteria (query entities), at most ``limit``.

    Asks once for ``pageSize=min(limit, 200)`` (``page_size`` overrides it): the
    SDK's ``post_flows_instances_query`` has no page number. A ``nextUri`` in the
    listing is followed (on our own API host) until ``limit`` instances, an empty
    page, or a page without one. Instances are deduplicated by id. When the
    listing's ``total`` says more matched than came back, the result's
    ``warnings`` say so. ``options`` (or its fields as keywords) as for
    :meth:`GenesysClient.request <gctrace_nb.api.client.GenesysClient.request>`.

    Raises:
        TraceRequestInvalid: bad criteria or ``limit``/``page_size`` (nothing sent).
        PermissionDenied: the OAuth client lacks ``architect:flowInstance:search``.
    """
    body = build_instance_query(conversation_id=conversation_id, flow_id=flow_id, since=since, until=until)
    problems = []
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_INSTANCES:
        problems.append(("limit", f"must be between 1 and {MAX_INSTANCES} (the API's cap), got {limit!r}"))
    elif page_size is None:
        page_size = limit
    if page_size is not None and (isinstance(page_size, bool) or not isinstance(page_size, int)
                                  or not 1 <= page_size <= MAX_INSTANCES):
        problems.append(("pageSize", f"must be between 1 and {MAX_INSTANCES}, got {page_size!r}"))
    if problems:
        raise TraceRequestInvalid(problems)
    assert page_size is not None
    options = CallOptions.of(options, **call).with_budget(client.retries.budget)
    found: dict[str, dict] = {}
    total: int | None = None
    path = f"{QUERY_PATH}?pageSize={page_size}"
    seen_paths: set[str] = set()
    # a server that pages forever (or in pages smaller than asked) stops here
    for _ in range(max(_MAX_PAGES, limit // page_size + 2)):
        seen_paths.add(path)
        resp = client.request("POST", path, json=body, subject="flow instances query", options=options)
        page = _json_body(resp, "flow instances query")
        if not isinstance(page, dict):
            raise ApiError("flow instances query: the response is not an object", status=resp.status_code,
                           url=resp.url)
        if isinstance(page.get("total"), int) and not isinstance(page["total"], bool):
            total = max(total or 0, page["total"])
        entities = page.get("entities")
        new = 0
        for entity in entities if isinstance(entities, list) else []:
            instance_id = entity.get("id") if isinstance(entity, dict) else None
            if not isinstance(instance_id, str) or not instance_id or instance_id in found:
                continue
            found[instance_id] = entity
            new += 1
            if len(found) >= limit:
                break
        next_path = _next_page_path(page.get("nextUri"))
        if len(found) >= limit or new == 0 or next_path is None or next_path in seen_paths:
            break
        path = next_path
    instances = HistoryList(found.values(), total=total)
    warning = _more_matched(total, len(instances), limit)
    if warning:
        instances.warnings.append(warning)
        log.warning("flow instances query: %s", warning)
    log.info("flow instances query: %d instance(s)%s", len(instances),
             f" of {total} matching" if total is not None else "")
    return instances


# ---------------------------------------------------------------------- jobs
def _check_job(job: Any, resp: requests.Response, what: str) -> dict:
    if not isinstance(job, dict) or not isinstance(job.get("id"), str) or not job["id"]:
        raise ApiError(f"{what}: the response is not an instances job (no id)", status=resp.status_code,
                       url=resp.url, correlation_id=resp.headers.get("ININ-Correlation-Id"))
    return job


def start_instances_job(
    client: "GenesysClient",
    ids: list[str],
    *,
    options: CallOptions | None = None,
    **call: "Unpack[CallKeywords]",
) -> dict:
    """Start the job that prepares downloads for ``ids``; return the job document.

    Raises:
        ValueError: no ids, or more than :data:`MAX_INSTANCES`.
        PermissionDenied: the OAuth client lacks ``architect:flowInstance:view``.
    """
    ids = [i for i in ids if isinstance(i, str) and i]
    if not ids:
        raise ValueError("start_instances_job needs at least one instance id")
    if len(ids) > JOB_BATCH:
        raise ValueError(f"at most {JOB_BATCH} instance ids per job, got {len(ids)}")
    resp = client.request("POST", JOBS_PATH, json={"ids": ids}, subject="flow instances job",
                          options=CallOptions.of(options, **call))
    return _check_job(_json_body(resp, "flow instances job"), resp, "flow instances job")


def get_instances_job(
    client: "GenesysClient",
    job_id: str,
    *,
    options: CallOptions | None = None,
    **call: "Unpack[CallKeywords]",
) -> dict:
    """Return the instances job document once (no waiting)."""
    if not isinstance(job_id, str) or not job_id.strip():
        raise ValueError("job_id must be a non-empty string")
    resp = client.request("GET", f"{JOBS_PATH}/{quote(job_id, safe='')}", subject=f"flow instances job {job_id}",
                          job_id=job_id, options=CallOptions.of(options, **call))
    return _check_job(_json_body(resp, f"flow instances job {job_id}"), resp, f"flow instances job {job_id}")


def _job_state(job: dict) -> str:
    state = job.get("jobState")
    return state if isinstance(state, str) else "unknown"


def _job_failed(job: dict, job_id: str) -> JobFailed:
    message = None
    for key in ("errorMessage", "message", "error", "errorInfo"):
        value = job.get(key)
        if isinstance(value, str) and value:
            message = value
            break
        if isinstance(value, dict) and isinstance(value.get("message"), str):
            message = value["message"]
            break
    return JobFailed(message or "the flow instances job ended in jobState Failed", job_id=job_id, body=job)


def wait_instances_job(
    client: "GenesysClient",
    job_id: str,
    *,
    options: CallOptions | None = None,
    **call: "Unpack[CallKeywords]",
) -> dict:
    """Poll the instances job until ``jobState`` is ``Success`` (returned) or ``Failed`` (raised).

    ``Registered`` and ``Running`` (and anything unknown) keep polling, with the
    same policy as the debug trace.

    Raises:
        JobFailed: ``jobState`` ``Failed``.
        DeadlineExceeded, CircuitOpen: waited as long as the policy allows.
        Cancelled: ``cancel`` was set.
    """
    engine = client.retries
    options = CallOptions.of(options, **call).with_budget(engine.budget)
    job = engine.poll(
        lambda: get_instances_job(client, job_id, options=options), lambda j: _job_state(j).lower() in _DONE_STATES,
        options=options, status_of=_job_state, what=f"flow instances job {job_id}", job_id=job_id,
    )
    if _job_state(job).lower() == "failed":
        raise _job_failed(job, job_id)
    return job


# -------------------------------------------------------------- whole fetch
def _iso_now(client: "GenesysClient") -> str:
    return iso_utc(client.now())


def _job_entities(job: dict, batch: list[str]) -> list[dict]:
    """The job's entity objects, one per id, at most one per instance asked for.

    A server listing more downloads than instances requested does not make us
    fetch them all; entities for the requested ids come first.
    """
    raw = job.get("entities")
    if not isinstance(raw, list):
        return []
    asked = set(batch)
    seen: set = set()
    known: list[dict] = []
    unknown: list[dict] = []
    for entity in raw:
        if not isinstance(entity, dict):
            continue
        key = entity.get("id")
        key = key if isinstance(key, str) else None
        if key is not None and key in seen:
            continue
        if key is not None:
            seen.add(key)
        (known if key in asked else unknown).append(entity)
    return (known + unknown)[:len(batch)]


def _run_jobs(client: "GenesysClient", ids: list[str], options: CallOptions) -> list[tuple[str, dict]]:
    """Run the instances jobs (:data:`JOB_BATCH` ids each); return ``(job id, entity)`` pairs."""
    budget = options.budget
    assert budget is not None
    work: list[tuple[str, dict]] = []
    for first in range(0, len(ids), JOB_BATCH):
        batch = ids[first:first + JOB_BATCH]
        job = start_instances_job(client, batch, options=options)
        job_id = job["id"]
        options.report(PollEvent(0, "submitted", 200, 0.0, None, budget.elapsed(),
                                 f"flow instances job {job_id} started for {len(batch)} instance(s)", job_id))
        if _job_state(job).lower() == "failed":
            raise _job_failed(job, job_id)
        if _job_state(job).lower() != "success" or not job.get("entities"):
            job = wait_instances_job(client, job_id, options=options)
        entities = _job_entities(job, batch)
        if not entities:
            raise JobFailed("the flow instances job succeeded but listed no downloads", job_id=job_id, body=job)
        work.extend((job_id, e) for e in entities)
    return work


_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_file_stem(name: str, taken: set[str]) -> str:
    """A file name stem made of ``[A-Za-z0-9._-]`` only, unique among ``taken`` (which it joins).

    >>> taken = set()
    >>> safe_file_stem("../../etc/passwd", taken), safe_file_stem("../../etc/passwd", taken)
    ('etc_passwd', 'etc_passwd-2')
    """
    stem = _UNSAFE_NAME.sub("_", name).strip("._-")[:100] or "instance"
    candidate, n = stem, 1
    while candidate.lower() in taken:
        n += 1
        candidate = f"{stem}-{n}"
    taken.add(candidate.lower())
    return candidate


def _write_raw(directory: Path, instance_id: str, data: bytes, taken: set[str], result: HistoryList) -> None:
    """Keep one download as served (``DIR/<instance id>.json``); a failure is a warning, not lost traces."""
    path = directory / f"{safe_file_stem(instance_id or 'instance', taken)}.json"
    try:
        path.write_bytes(data)
    except OSError as exc:
        result.raw_errors.append((instance_id, exc))
        result.warnings.append(f"could not keep the raw download of instance {instance_id or '?'} in {path}: "
                               f"{exc.strerror or exc}")
    else:
        result.raw_paths[instance_id] = str(path)


def fetch_history_traces(
    client: "GenesysClient",
    *,
    conversation_id: str | None = None,
    flow_id: str | None = None,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
    limit: int = MAX_INSTANCES,
    page_size: int | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    errors: list | None = None,
    download_session: requests.Session | None = None,
    keep_raw: str | os.PathLike | None = None,
) -> HistoryList:
    """Query, run the job, download and convert: one :class:`~gctrace_nb.Trace` per flow instance.

    Traces come back in the order of the instances' start times, each with
    ``metadata.source == "history"``, the flow id, the job id, the query as
    ``request``, and in ``extra`` the instance id, flow name/version/type,
    conversation id and (when the converter met fields it does not know)
    ``unrecognised``. The result is a list with ``total`` (how many instances
    the service said matched) and ``warnings`` (say, that more matched than
    came back: narrow the query with ``since``/``until``).

    Args:
        page_size: the query's ``pageSize``; by default ``limit`` (one request).
        errors: when a list is given, an instance that cannot be downloaded or
            read is recorded there as ``(instance_id, exception)`` and the
            others are still returned; when ``None`` the first such error is raised.
        keep_raw: a directory (created if needed) where each download is written
            untouched as ``<instance id>.json``, even one that cannot be read, so the
            shape a real org sends can be checked (and sent to us). The result's
            ``raw_paths`` maps instance ids to the files; a file that could not be
            written is in ``raw_errors`` and ``warnings``.

    Raises:
        TraceRequestInvalid: bad criteria (nothing sent).
        OSError: ``keep_raw`` cannot be created (nothing sent).
        JobFailed: the job (or, without ``errors``, an entity) failed.
        ApiError, PermissionDenied, GaveUp: as the calls below raise them.
    """
    from ..core.model import Trace

    raw_dir = Path(keep_raw) if keep_raw is not None else None
    correlation_ids: list[str] = []
    options = CallOptions(on_progress=on_progress, cancel=cancel, budget=client.retries.budget(),
                          correlation_ids=correlation_ids)
    submitted_at = _iso_now(client)
    started = client.clock()
    request_body = build_instance_query(conversation_id=conversation_id, flow_id=flow_id, since=since,
                                        until=until)
    if raw_dir is not None:
        raw_dir.mkdir(parents=True, exist_ok=True)
    instances = query_flow_instances(client, conversation_id=conversation_id, flow_id=flow_id, since=since,
                                     until=until, limit=limit, page_size=page_size, options=options)
    result = HistoryList(total=instances.total, warnings=instances.warnings)
    if not instances:
        return result
    by_id = {inst["id"]: inst for inst in instances}
    work = _run_jobs(client, list(by_id), options)
    own_session = download_session is None
    session = download_session or _plain_session()
    traces: list[tuple[int, str, Trace]] = []
    taken: set[str] = set()
    try:
        for job_id, entity in work:
            value = entity.get("id")
            instance_id = value if isinstance(value, str) else ""
            try:
                data = download_entity_bytes(client, entity, session=session, options=options)
                if raw_dir is not None:
                    _write_raw(raw_dir, instance_id, data, taken, result)
                steps, meta = _convert_download(data, instance_id)
            except (ApiError, JobFailed, TraceFormatError) as exc:
                if isinstance(exc, JobFailed) and exc.job_id is None:
                    exc.job_id = job_id
                if errors is None:
                    raise
                log.warning("flow instance %s: %s", instance_id or "?", exc)
                errors.append((instance_id, exc))
                continue
            metadata = _trace_metadata(meta, by_id.get(instance_id, {}), instance_id, job_id=job_id,
                                       request=request_body, submitted_at=submitted_at,
                                       completed_at=_iso_now(client),
                                       latency_ms=round((client.clock() - started) * 1000.0, 3),
                                       correlation_ids=correlation_ids)
            start = parse_timestamp(steps[0].get("startTime")) if steps else None
            traces.append((start if start is not None else 2**62, instance_id,
                           Trace(steps, metadata, name=instance_id or None)))
    finally:
        if own_session:
            session.close()
    traces.sort(key=lambda item: (item[0], item[1]))
    result.extend(trace for _, _, trace in traces)
    return result


def _convert_download(data: bytes, instance_id: str) -> tuple[list[dict], dict]:
    doc = parse_json(data, f"download of instance {instance_id}")
    if not _history.is_execution_document(doc):
        raise TraceFormatError("not a flow execution-history document (no flow.execution list)",
                               f"download of instance {instance_id}")
    return _history.execution_document_to_steps(doc)


def _trace_metadata(meta: dict, summary: dict, instance_id: str, *, job_id: str, request: dict,
                    submitted_at: str, completed_at: str, latency_ms: float,
                    correlation_ids: list[str]) -> "TraceMetadata":
    from ..core.model import TraceMetadata

    extra = {k: v for k, v in meta.items() if k not in ("source", "flow_id")}
    extra["instance_id"] = instance_id or extra.get("instance_id")
    for src, dst in (("flowErrorReason", "flow_error_reason"), ("flowWarningReason", "flow_warning_reason")):
        value = summary.get(src)
        if isinstance(value, str) and value and not _history.is_no_reason(value):
            extra[dst] = value
    summary_flow = summary.get("flowId") if isinstance(summary.get("flowId"), str) else None
    return TraceMetadata(source="history", flow_id=meta.get("flow_id") or summary_flow, job_id=job_id,
                         request=request, submitted_at=submitted_at, completed_at=completed_at,
                         retrieval_latency_ms=latency_ms, correlation_ids=tuple(correlation_ids), extra=extra)


# ----------------------------------------------------------- data actions
def _check_action(action_id: Any, inputs: Any) -> dict:
    problems: list[tuple[str, str]] = []
    if not isinstance(action_id, str) or not action_id.strip():
        problems.append(("actionId", "must be a non-empty id"))
    elif any(ch in action_id for ch in "/?#") or any(ord(ch) < 32 for ch in action_id):
        problems.append(("actionId", "must not contain '/', '?', '#' or control characters"))
    body: dict = {}
    if inputs is not None:
        if not isinstance(inputs, Mapping):
            problems.append(("inputs", f"must be a JSON object, got {type(inputs).__name__}"))
        else:
            try:
                body = _json.loads(_json.dumps(dict(inputs), allow_nan=False))
            except (TypeError, ValueError, RecursionError) as exc:
                problems.append(("inputs", f"must be JSON-serialisable: {exc}"))
    if problems:
        raise TraceRequestInvalid(problems)
    return body


def run_action_test(
    client: "GenesysClient",
    action_id: str,
    inputs: Mapping[str, Any] | None = None,
    *,
    draft: bool = False,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> "Trace":
    """Run a data action test and return it as a trace (``metadata.source == "action_test"``).

    ``POST /api/v2/integrations/actions/{actionId}/test`` (``/draft/test`` with
    ``draft=True``) with ``inputs`` as the body. The root step is the call as
    timed on the client; operations split its window evenly (see
    :mod:`gctrace_nb.core.formats.action_test`).

    Raises:
        TraceRequestInvalid: an empty action id or inputs that are not a JSON object.
        PermissionDenied: the OAuth client lacks ``integrations:action:execute``.
        NotFound: no such action.
        TraceFormatError: the response is not a JSON object.
    """
    from ..core.model import Trace, TraceMetadata

    body = _check_action(action_id, inputs)
    path = f"/api/v2/integrations/actions/{quote(action_id, safe='')}/{'draft/' if draft else ''}test"
    correlation_ids: list[str] = []
    submitted = client.now()
    started = client.clock()
    resp = client.request("POST", path, json=body, subject=f"data action {action_id}",
                          options=CallOptions(on_progress=on_progress, cancel=cancel, correlation_ids=correlation_ids))
    response = parse_json(resp.content or b"", f"data action {action_id} test response")
    elapsed_s = max(0.0, client.clock() - started)
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    started_us = (submitted.astimezone(timezone.utc) - epoch) // _US
    ended_us = started_us + round(elapsed_s * 1_000_000)
    steps = _action_test.action_test_to_steps(response, action_id=action_id, started_us=started_us,
                                              ended_us=ended_us)
    meta = _action_test.action_test_metadata(
        action_id, submitted_at=to_iso(started_us)[:23] + "Z", completed_at=to_iso(ended_us)[:23] + "Z",
        inputs=body,
    )
    meta["correlation_ids"] = correlation_ids
    meta["retrieval_latency_ms"] = round(elapsed_s * 1000.0, 3)
    meta["draft"] = bool(draft)
    return Trace(steps, TraceMetadata.from_json(meta), name=f"action {action_id}")

