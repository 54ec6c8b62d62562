"""Exports of analysed traces: Parquet frames, Chrome trace events, OTLP JSON (and push).

Every function takes a :class:`~gctrace_nb.core.model.Trace`, a
:class:`~gctrace_nb.batch.traceset.TraceSet`, or paths (as :func:`load_traces` reads them).

- :func:`write_parquet`: ``traces``, ``steps`` and ``nodes`` frames as Parquet files.
- :func:`to_chrome_trace`: the Trace Event Format (``chrome://tracing``, Perfetto):
  one ``"X"`` complete event per timed step, ``ts``/``dur`` in µs, a process per
  trace and a thread per depth in the step tree.
- :func:`to_otlp`: OpenTelemetry OTLP/JSON (``resourceSpans``), for Jaeger or Tempo:
  ids are hex, derived deterministically from the trace's file and the node ids,
  so exporting twice gives the same ids.
- :func:`push_otlp`: POST that JSON to a collector's ``{url}/v1/traces``.

Steps without a valid time (``untimed``, ``negative_duration``) have no span or
event; their timed children hang from the nearest timed ancestor instead.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping

import polars as pl

__all__ = ["write_parquet", "to_chrome_trace", "write_chrome_trace", "to_otlp", "write_otlp", "push_otlp"]

_SCOPE = "gctrace_nb"
_STATUS_UNSET, _STATUS_ERROR = 0, 2
_SPAN_KIND_INTERNAL = 1


def _as_set(value: Any, storage_options: Mapping | None = None):
    from .dispatch import as_trace_set

    return as_trace_set(value, purpose="export", storage_options=storage_options)


# ------------------------------------------------------------------ parquet
def write_parquet(value: Any, directory: str | os.PathLike, *, hive: bool | None = None,
                  storage_options: Mapping | None = None) -> dict[str, Any]:
    """Write ``traces.parquet``, ``steps.parquet`` and ``nodes.parquet`` into ``directory``.

    With ``hive`` (the default when ``directory`` is a URL such as
    ``s3://bucket/prefix/``, or when the set was loaded on a Dask cluster),
    write a Hive-partitioned dataset instead: ``traces/`` and ``steps/`` by
    ``flow_id=``/``day=``, and ``nodes.parquet`` (:mod:`.dataset`; a cluster's
    workers write their own parts). Returns where each table went.
    """
    from .. import _storage as storage

    ts = _as_set(value, storage_options)
    if hive is None:
        hive = storage.is_url(os.fspath(directory)) or bool(getattr(ts, "_parts", None))
    if hive:
        from . import dataset

        out_text = os.fspath(directory)
        dataset.write_dataset(ts, out_text, storage_options=storage_options)
        return {name: dataset.join(out_text, name) for name in ("traces", "steps", "nodes.parquet")}
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    frames = {"traces": ts.traces, "steps": ts.steps, "nodes": ts.nodes()}
    paths = {}
    for name, frame in frames.items():
        path = out / f"{name}.parquet"
        frame.write_parquet(path)
        paths[name] = path
    return paths


# ------------------------------------------------------------------ shared
def _timed_steps(ts) -> pl.DataFrame:
    """Steps with a valid time, with the nearest timed ancestor as ``span_parent``."""
    steps = ts.steps.select(
        "trace_id", "file", "node_id", "name", "parent_id", "start", "end", "duration_ms", "self_ms",
        "critical_ms", "on_critical_path", "is_bottleneck", "depth", "status", "failed", "error_message",
        "valid", "anomalies",
    )
    parents: list = []
    for (trace_id,), frame in steps.partition_by("trace_id", as_dict=True, maintain_order=True).items():
        ids = frame["node_id"].to_list()
        parent = dict(zip(ids, frame["parent_id"].to_list()))
        valid = dict(zip(ids, frame["valid"].to_list()))
        for node_id, ok in zip(ids, frame["valid"].to_list()):
            p = parent[node_id]
            seen = 0
            while p is not None and not valid.get(p, False) and seen <= len(ids):
                p, seen = parent.get(p), seen + 1
            parents.append(p)
    steps = steps.with_columns(span_parent=pl.Series(parents, dtype=pl.String))
    return steps.filter(pl.col("valid"))


def _epoch_us(value) -> int:
    import datetime as dt

    return (value - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) // dt.timedelta(microseconds=1)


# ------------------------------------------------------------------ chrome
def to_chrome_trace(value: Any) -> dict:
    """The Trace Event Format object: ``{"traceEvents": [...], "displayTimeUnit": "ms"}``."""
    ts = _as_set(value)
    steps = _timed_steps(ts)
    events: list[dict] = []
    for trace_id, label in enumerate(ts.labels):
        pid = trace_id + 1
        events.append({"name": "process_name", "ph": "M", "pid": pid, "tid": 0, "args": {"name": label}})
        events.append({"name": "process_sort_index", "ph": "M", "pid": pid, "tid": 0, "args": {"sort_index": pid}})
    depths = set()
    for row in steps.iter_rows(named=True):
        start = _epoch_us(row["start"])
        pid, tid = row["trace_id"] + 1, row["depth"]
        depths.add((pid, tid))
        args = {
            "node_id": row["node_id"],
            "status": row["status"],
            "self_ms": row["self_ms"],
            "critical_ms": row["critical_ms"],
            "on_critical_path": row["on_critical_path"],
        }
        if row["error_message"]:
            args["error_message"] = row["error_message"]
        if row["anomalies"]:
            args["anomalies"] = row["anomalies"]
        events.append(
            {
                "name": row["name"] or row["node_id"],
                "cat": "failed" if row["failed"] else ("critical" if row["on_critical_path"] else "step"),
                "ph": "X",
                "ts": start,
                "dur": _epoch_us(row["end"]) - start,
                "pid": pid,
                "tid": tid,
                "args": args,
            }
        )
    for pid, tid in sorted(depths):
        events.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid, "args": {"name": f"depth {tid}"}})
    return {"traceEvents": events, "displayTimeUnit": "ms", "otherData": {"exporter": _SCOPE}}


def _write_text(text: str, path: str | os.PathLike, storage_options: Mapping | None) -> Any:
    """Write ``text`` as UTF-8 to a local path (returned as a ``Path``) or a URL (returned as given)."""
    from .. import _storage as storage

    if storage.is_url(os.fspath(path)):
        with storage.open_output(os.fspath(path), storage_options) as fh:
            fh.write(text.encode("utf-8"))
        return os.fspath(path)
    target = Path(path)
    target.write_text(text, encoding="utf-8")
    return target


def write_chrome_trace(value: Any, path: str | os.PathLike, *, storage_options: Mapping | None = None) -> Any:
    """Write :func:`to_chrome_trace` as JSON (opens in Perfetto and chrome://tracing); ``path`` may be a URL."""
    return _write_text(json.dumps(to_chrome_trace(value), ensure_ascii=False), path, storage_options)


# ------------------------------------------------------------------ OTLP
def trace_id_hex(label: str) -> str:
    """The 32-hex-digit OTLP trace id of a trace (from its file label)."""
    return hashlib.sha256(f"gctrace_nb/trace/{label}".encode("utf-8", "surrogatepass")).hexdigest()[:32]


def span_id_hex(label: str, node_id: str) -> str:
    """The 16-hex-digit OTLP span id of a step (from its trace's label and its node id)."""
    return hashlib.sha256(f"gctrace_nb/span/{label}\x00{node_id}".encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _attr(key: str, value: Any) -> dict:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    if isinstance(value, (list, tuple)):
        return {"key": key, "value": {"arrayValue": {"values": [{"stringValue": str(v)} for v in value]}}}
    return {"key": key, "value": {"stringValue": str(value)}}


def to_otlp(value: Any, *, service_name: str = "genesys-cloud-flow") -> dict:
    """OTLP/JSON ``{"resourceSpans": [...]}``: one resource per trace, one span per timed step."""
    from .. import __version__

    ts = _as_set(value)
    steps = _timed_steps(ts)
    by_trace = steps.partition_by("trace_id", as_dict=True, maintain_order=True)
    flow_ids = ts.traces["flow_id"].to_list()
    resource_spans = []
    for trace_id, label in enumerate(ts.labels):
        frame = by_trace.get((trace_id,))
        tid = trace_id_hex(label)
        spans = []
        for row in frame.iter_rows(named=True) if frame is not None else ():
            span = {
                "traceId": tid,
                "spanId": span_id_hex(label, row["node_id"]),
                "name": row["name"] or row["node_id"],
                "kind": _SPAN_KIND_INTERNAL,
                "startTimeUnixNano": str(_epoch_us(row["start"]) * 1000),
                "endTimeUnixNano": str(_epoch_us(row["end"]) * 1000),
                "attributes": [
                    _attr("gctrace.node_id", row["node_id"]),
                    _attr("gctrace.status", row["status"] or ""),
                    _attr("gctrace.depth", int(row["depth"])),
                    _attr("gctrace.self_ms", float(row["self_ms"])),
                    _attr("gctrace.critical_ms", float(row["critical_ms"])),
                    _attr("gctrace.on_critical_path", bool(row["on_critical_path"])),
                    _attr("gctrace.bottleneck", bool(row["is_bottleneck"])),
                ]
                + ([_attr("gctrace.anomalies", row["anomalies"])] if row["anomalies"] else []),
                "status": (
                    {"code": _STATUS_ERROR, "message": row["error_message"] or row["status"] or "failed"}
                    if row["failed"]
                    else {"code": _STATUS_UNSET}
                ),
            }
            if row["span_parent"] is not None:
                span["parentSpanId"] = span_id_hex(label, row["span_parent"])
            spans.append(span)
        resource = [_attr("service.name", service_name), _attr("gctrace.file", label)]
        if flow_ids[trace_id]:
            resource.append(_attr("gctrace.flow_id", flow_ids[trace_id]))
        resource_spans.append(
            {
                "resource": {"attributes": resource},
                "scopeSpans": [{"scope": {"name": _SCOPE, "version": __version__}, "spans": spans}],
            }
        )
    return {"resourceSpans": resource_spans}


def write_otlp(value: Any, path: str | os.PathLike, *, storage_options: Mapping | None = None, **kwargs: Any) -> Any:
    """Write :func:`to_otlp` as JSON; ``path`` may be a URL."""
    return _write_text(json.dumps(to_otlp(value, **kwargs), ensure_ascii=False), path, storage_options)


def push_otlp(value: Any, url: str, *, session: Any = None, timeout: float = 30.0, **kwargs: Any) -> int:
    """POST the OTLP/JSON of ``value`` to ``{url}/v1/traces``; return the number of spans sent.

    Raises :class:`~gctrace_nb.errors.ApiError` when the collector cannot be
    reached or answers with an error status (``.status``, ``.url``, ``.body``).
    """
    import requests

    from ..errors import ApiError

    payload = to_otlp(value, **kwargs)
    endpoint = url.rstrip("/") + "/v1/traces"
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8", "surrogatepass")
    http = session or requests.Session()
    try:
        response = http.post(endpoint, data=body, headers={"Content-Type": "application/json"}, timeout=timeout)
    except requests.RequestException as exc:
        raise ApiError(f"could not send spans to {endpoint}: {type(exc).__name__}", url=endpoint) from exc
    finally:
        if session is None:
            http.close()
    if not 200 <= response.status_code < 300:
        raise ApiError(
            f"collector answered {response.status_code}",
            status=response.status_code,
            url=endpoint,
            body=response.text[:500],
        )
    return sum(len(s["spans"]) for r in payload["resourceSpans"] for s in r["scopeSpans"])
