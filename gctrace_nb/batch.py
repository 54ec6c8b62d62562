"""Analyse many saved traces at once: :func:`load_traces` -> :class:`TraceSet`.

Files are parsed with orjson (the standard library where orjson refuses, so
exactly the documents :func:`gctrace_nb.documents.read_document` accepts are
read), turned into flat columns a chunk at a time, and analysed by
:mod:`gctrace_nb.batch_vectorized`. Traces the vector path does not handle
(non-object entries, non-string ``parentId``/``status``/``errorMessage``,
cycles) are analysed one by one with :func:`gctrace_nb.analysis.analyze_steps`.
Both paths produce the same integers, so every figure here agrees with
analysing each trace alone.

Example::

    ts = load_traces("traces/")          # a directory, a glob, or a list of paths
    ts.traces                            # one row per trace
    ts.nodes(by="name")                  # p50/p95/p99, failure rate, critical share
    ts.errors                            # [(path, reason), ...] never raised
"""

from __future__ import annotations

import glob as _glob
import json
import os
from dataclasses import dataclass
from functools import cached_property
from itertools import repeat
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence, Union

import numpy as np
import polars as pl

from . import batch_vectorized as vec
from .analysis import FAILED_STATUSES, Analysis, analyze_steps, ms
from .documents import find_steps, read_document
from .errors import TraceFormatError
from .frames import STEP_FLAG_KINDS, step_name
from .timestamps import parse_timestamp

__all__ = ["TraceSet", "load_traces", "expand_paths", "TRACE_SUFFIXES", "analysis_json_list"]

#: File suffixes taken from a directory (NDJSON holds one trace document per line).
TRACE_SUFFIXES = (".json", ".ndjson", ".jsonl")
_NDJSON_SUFFIXES = (".ndjson", ".jsonl")
_CHUNK_STEPS = 200_000  # steps analysed together: bounds memory, keeps arrays large
_UTC_US = pl.Datetime("us", "UTC")
_NAME_KEYS = ("name", "nodeName", "actionName", "displayName", "label")

PathInput = Union[str, os.PathLike, Iterable[Union[str, os.PathLike]]]


def expand_paths(inputs: PathInput) -> list[str]:
    """Expand paths, directories (their trace files, sorted) and globs into a file list.

    A path that does not exist is kept (it is reported as an error when read).
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    out: list[str] = []
    for item in inputs:
        text = os.fspath(item)
        if os.path.isdir(text):
            names = sorted(n for n in os.listdir(text) if n.lower().endswith(TRACE_SUFFIXES))
            out.extend(os.path.join(text, n) for n in names if os.path.isfile(os.path.join(text, n)))
        elif not os.path.exists(text) and any(c in text for c in "*?["):
            out.extend(sorted(p for p in _glob.glob(text, recursive=True) if os.path.isfile(p)))
        else:
            out.append(text)
    return out


# ------------------------------------------------------------------ reading
@dataclass
class _Doc:
    label: str  # file, or file:line for NDJSON
    path: str | None
    line: int | None
    steps: list
    flow_id: str | None


def _flow_id(metadata: dict) -> str | None:
    value = metadata.get("flow_id") if isinstance(metadata, dict) else None
    return None if value is None else (value if isinstance(value, str) else str(value))


def _loads(data: bytes) -> Any:
    import orjson

    return orjson.loads(data)


def _read_file(path: str) -> tuple[list[_Doc], list[tuple[str, str]]]:
    """Read one file into trace documents and errors (never raises for bad input)."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        data = None
    if data is not None and path.lower().endswith(_NDJSON_SUFFIXES):
        return _read_ndjson(path, data)
    if data is not None:
        try:
            doc = find_steps(_loads(data), path)
            return [_Doc(path, path, None, doc.steps, _flow_id(doc.metadata))], []
        except Exception:  # orjson refused, or no steps: the core's reader decides
            pass
    try:
        doc = read_document(path)
    except TraceFormatError as exc:
        if data is not None and data.count(b"\n") > 0:
            docs, errors = _read_ndjson(path, data, strict=True)
            if docs and not errors:
                return docs, errors
        return [], [(path, exc.reason)]
    return [_Doc(path, path, None, doc.steps, _flow_id(doc.metadata))], []


def _read_ndjson(path: str, data: bytes, *, strict: bool = False) -> tuple[list[_Doc], list[tuple[str, str]]]:
    docs: list[_Doc] = []
    errors: list[tuple[str, str]] = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        label = f"{path}:{number}"
        try:
            doc = find_steps(_loads(line), label)
        except Exception:
            try:
                doc = read_document(bytes(line), name=label)
            except TraceFormatError as exc:
                errors.append((label, exc.reason))
                if strict:
                    return [], errors
                continue
        docs.append(_Doc(label, path, number, doc.steps, _flow_id(doc.metadata)))
    return docs, errors


def _iter_docs(sources: Sequence[Any], progress: bool, errors: list) -> Iterator[_Doc]:
    from tqdm.auto import tqdm

    from .model import Trace

    bar = tqdm(total=len(sources), disable=not progress, unit="file", desc="traces")
    try:
        for source in sources:
            if isinstance(source, Trace):
                yield _Doc(source.name or "<trace>", None, None, source.raw_steps, source.metadata.flow_id)
            else:
                docs, errs = _read_file(source)
                errors.extend(errs)
                yield from docs
            bar.update(1)
    finally:
        bar.close()


# ----------------------------------------------------------------- columns
def _strings(values: list) -> tuple[pl.Series, np.ndarray | None]:
    """A String series; and a mask of rows holding a non-string value (or None)."""
    try:
        return pl.Series(values, dtype=pl.String, strict=True), None
    except (TypeError, pl.exceptions.PolarsError):
        bad = np.fromiter((v is not None and type(v) is not str for v in values), dtype=bool, count=len(values))
        clean = [v if type(v) is str else None for v in values]
        return pl.Series(clean, dtype=pl.String), bad


def _timestamps(values: list) -> tuple[np.ndarray, np.ndarray]:
    """Epoch µs and a 'present' mask, exactly as :func:`parse_timestamp` reads each value."""
    series, nonstr = _strings(values)
    parsed, left = vec.parse_iso_column(series)
    out = parsed.fill_null(0).to_numpy().astype(np.int64)
    ok = parsed.is_not_null().to_numpy().copy()
    rows = left if nonstr is None else np.union1d(left, np.nonzero(nonstr)[0])
    for i in rows.tolist():
        v = parse_timestamp(values[i])
        if v is not None:
            out[i] = v
            ok[i] = True
    return out, ok


def _names(steps: list) -> list:
    first = list(map(dict.get, steps, repeat("name")))
    return [v if (type(v) is str and v) else (step_name(s) if len(s) > 1 else None) for s, v in zip(steps, first)]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _is_failed(status: Any) -> bool:
    return isinstance(status, str) and status.strip().lower() in FAILED_STATUSES


def _failed_column(status: pl.Series) -> pl.Series:
    """``failed`` per row, deciding each distinct status once in Python (exact spec rule)."""
    uniq = status.unique().drop_nulls()
    bad = [s for s in uniq.to_list() if _is_failed(s)]
    return status.is_in(pl.Series(bad, dtype=pl.String)).fill_null(False)


_STEP_SCHEMA = {
    "trace_id": pl.Int64,
    "position": pl.Int64,
    "node_id": pl.String,
    "name": pl.String,
    "parent_id": pl.String,
    "start_us": pl.Int64,
    "end_us": pl.Int64,
    "valid": pl.Boolean,
    "window_start_us": pl.Int64,
    "window_end_us": pl.Int64,
    "self_us": pl.Int64,
    "critical_us": pl.Int64,
    "depth": pl.Int32,
    "status": pl.String,
    "failed": pl.Boolean,
    "error_message": pl.String,
    **{kind: pl.Boolean for kind in STEP_FLAG_KINDS},
}


def _analysis_rows(a: Analysis, trace_id: int) -> pl.DataFrame:
    """The internal per-step columns of one trace analysed by the pure-Python path."""
    ids = a.node_ids
    statuses = [_text(step.get("status")) for step in a.raw]
    cols: dict[str, Any] = {
        "trace_id": [trace_id] * len(ids),
        "position": list(a.kept_positions),
        "node_id": list(ids),
        "name": [step_name(step) for step in a.raw],
        "parent_id": [ids[p] if p >= 0 else None for p in a.parent_index],
        "start_us": list(a.start_us),
        "end_us": list(a.end_us),
        "valid": list(a.valid),
        "window_start_us": [w[0] if w else None for w in a.window],
        "window_end_us": [w[1] if w else None for w in a.window],
        "self_us": list(a.self_us),
        "critical_us": list(a.critical_us),
        "depth": list(a.depth),
        "status": statuses,
        "failed": [_is_failed(step.get("status")) for step in a.raw],
        "error_message": [_text(step.get("errorMessage")) for step in a.raw],
    }
    for kind in STEP_FLAG_KINDS:
        cols[kind] = [kind in f for f in a.flags]
    return pl.DataFrame(cols, schema=_STEP_SCHEMA)


def _analyse_chunk(docs: list[_Doc], offset: int) -> tuple[pl.DataFrame, dict[int, Analysis], np.ndarray]:
    """Analyse a chunk of documents; return step rows, pure-Python analyses, missing-id flags."""
    T = len(docs)
    slow: set[int] = set()
    for t, doc in enumerate(docs):
        if set(map(type, doc.steps)) - {dict}:
            slow.add(t)
    fast = [t for t in range(T) if t not in slow]
    initial_slow = set(slow)
    steps: list = []
    lengths = []
    for t in fast:
        steps.extend(docs[t].steps)
        lengths.append(len(docs[t].steps))
    tid_local = np.repeat(np.arange(len(fast), dtype=np.int64), lengths)

    node_ids, _ = _strings(list(map(dict.get, steps, repeat("nodeId"))))  # non-strings: missing_id
    parent_ids, bad_parent = _strings(list(map(dict.get, steps, repeat("parentId"))))
    status, bad_status = _strings(list(map(dict.get, steps, repeat("status"))))
    errors_msg, bad_error = _strings(list(map(dict.get, steps, repeat("errorMessage"))))
    for mask in (bad_parent, bad_status, bad_error):
        if mask is not None and mask.any():
            slow.update(fast[t] for t in np.unique(tid_local[mask]).tolist())
    start_us, has_start = _timestamps(list(map(dict.get, steps, repeat("startTime"))))
    end_us, has_end = _timestamps(list(map(dict.get, steps, repeat("endTime"))))
    names = pl.Series(_names(steps), dtype=pl.String)
    positions = np.concatenate([np.arange(n, dtype=np.int64) for n in lengths]) if lengths else np.zeros(0, np.int64)
    del steps

    if slow - initial_slow:  # some traces hold values only the pure-Python path reads: drop their rows
        fast_keep = np.array([t not in slow for t in fast], dtype=bool)
        row_keep = fast_keep[tid_local]
        new_tid = np.cumsum(fast_keep) - 1
        tid_local = new_tid[tid_local[row_keep]]
        rk = pl.Series(row_keep)
        node_ids, parent_ids, status, errors_msg, names = (
            s.filter(rk) for s in (node_ids, parent_ids, status, errors_msg, names)
        )
        start_us, has_start, end_us, has_end = start_us[row_keep], has_start[row_keep], end_us[row_keep], has_end[row_keep]
        positions = positions[row_keep]
        fast = [t for t in fast if t not in slow]

    r = vec.analyze_columns(tid_local, node_ids, parent_ids, start_us, end_us, has_start, has_end, len(fast))
    fast_arr = np.array(fast, dtype=np.int64)
    for local in r.fallback.tolist():
        slow.add(fast[local])
    rows = r.keep_rows
    k = rows.shape[0]
    valid = r.valid
    nid_k = node_ids.gather(rows)
    parent_id = nid_k.gather(np.where(r.parent >= 0, r.parent, 0)).set(pl.Series(r.parent < 0), None) if k else []
    status_k = status.gather(rows)
    cols: dict[str, Any] = {
        "trace_id": fast_arr[r.tid] + offset if k else np.zeros(0, np.int64),
        "position": positions[rows],
        "node_id": nid_k,
        "name": names.gather(rows),
        "parent_id": parent_id,
        "start_us": pl.Series(start_us[rows]).set(pl.Series(~has_start[rows]), None) if k else [],
        "end_us": pl.Series(end_us[rows]).set(pl.Series(~has_end[rows]), None) if k else [],
        "valid": valid,
        "window_start_us": pl.Series(r.ws).set(pl.Series(~r.has_window), None) if k else [],
        "window_end_us": pl.Series(r.we).set(pl.Series(~r.has_window), None) if k else [],
        "self_us": r.self_us,
        "critical_us": r.critical_us,
        "depth": r.depth.astype(np.int32),
        "status": status_k,
        "failed": _failed_column(status_k),
        "error_message": errors_msg.gather(rows),
    }
    for kind in STEP_FLAG_KINDS:
        cols[kind] = r.flags[kind]
    frame = pl.DataFrame(cols, schema=_STEP_SCHEMA)
    if r.fallback.size:
        frame = frame.filter(~pl.col("trace_id").is_in((fast_arr[r.fallback] + offset).tolist()))
    missing = np.zeros(T, dtype=bool)
    missing[fast_arr] = r.missing_id if fast else missing[fast_arr]
    slow_analyses: dict[int, Analysis] = {}
    parts = [frame]
    for t in sorted(slow):
        a = analyze_steps(docs[t].steps)
        slow_analyses[t + offset] = a
        parts.append(_analysis_rows(a, t + offset))
        missing[t] = any(kind == "missing_id" for _, kind in a.anomalies)
    if len(parts) > 1:
        frame = pl.concat(parts).sort("trace_id", "position")
    return frame, slow_analyses, missing


# ---------------------------------------------------------------- the set
class TraceSet:
    """Many analysed traces: frames per trace, per step and per node.

    Build one with :func:`load_traces`. ``errors`` lists ``(path, reason)`` for
    every file (or NDJSON line) that could not be read.
    """

    def __init__(self, labels, paths, lines, flow_ids, steps_total, step_rows, missing_id, errors) -> None:
        self.labels: list[str] = list(labels)
        self._paths = list(paths)
        self._lines = list(lines)
        self._flow_ids = list(flow_ids)
        self._steps_total = np.asarray(steps_total, dtype=np.int64)
        self._rows: pl.DataFrame = step_rows
        self._missing = np.asarray(missing_id, dtype=bool)
        self.errors: list[tuple[str, str]] = list(errors)
        #: Trace ids analysed by the pure-Python path (cycles, non-object entries, ...).
        self.python_path: list[int] = []

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        return (
            f"<TraceSet {len(self)} traces, {self._rows.height} steps, {len(self.errors)} errors; "
            f"see .traces, .steps, .nodes(), .errors>"
        )

    # ------------------------------------------------------------ per trace
    @cached_property
    def _trace_figures(self) -> pl.DataFrame:
        r = self._rows
        per = r.group_by("trace_id").agg(
            valid_steps=pl.col("valid").sum(),
            earliest=pl.col("start_us").filter(pl.col("valid")).min(),
            latest=pl.col("end_us").filter(pl.col("valid")).max(),
            critical_path_length=(pl.col("critical_us") > 0).sum(),
            failed_count=pl.col("failed").sum(),
            flag_count=pl.sum_horizontal([pl.col(k).cast(pl.Int64) for k in STEP_FLAG_KINDS]).sum(),
        )
        best = (
            r.filter(pl.col("critical_us") > 0)
            .sort("trace_id", pl.col("critical_us"), "window_start_us", "node_id", descending=[False, True, False, False])
            .unique("trace_id", keep="first")
            .select("trace_id", bottleneck=pl.col("node_id"), bottleneck_us=pl.col("critical_us"))
        )
        base = pl.DataFrame(
            {
                "trace_id": np.arange(len(self), dtype=np.int64),
                "steps": self._steps_total,
                "missing_id": self._missing,
            }
        )
        out = base.join(per, on="trace_id", how="left").join(best, on="trace_id", how="left").sort("trace_id")
        return out.with_columns(
            pl.col("valid_steps", "critical_path_length", "failed_count", "flag_count").fill_null(0)
        )

    @cached_property
    def traces(self) -> pl.DataFrame:
        """One row per trace: file, flow id, start, total ms, bottleneck, accuracy, counts."""
        f = self._trace_figures
        steps = f["steps"].to_list()
        valid = f["valid_steps"].to_list()
        earliest = f["earliest"].to_list()
        latest = f["latest"].to_list()
        return pl.DataFrame(
            {
                "trace_id": f["trace_id"],
                "file": pl.Series(self.labels, dtype=pl.String),
                "flow_id": pl.Series(self._flow_ids, dtype=pl.String),
                "start": f["earliest"].cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
                "total_ms": pl.Series(
                    [ms(b - a) if a is not None else 0.0 for a, b in zip(earliest, latest)], dtype=pl.Float64
                ),
                "bottleneck": f["bottleneck"],
                "bottleneck_ms": pl.Series(
                    [ms(v) if v is not None else None for v in f["bottleneck_us"].to_list()], dtype=pl.Float64
                ),
                "critical_path_length": f["critical_path_length"].cast(pl.Int64),
                "steps": f["steps"],
                "valid_steps": f["valid_steps"].cast(pl.Int64),
                "accuracy_rate": pl.Series(
                    [round(v / n, 4) if n else 0.0 for v, n in zip(valid, steps)], dtype=pl.Float64
                ),
                "failed_count": f["failed_count"].cast(pl.Int64),
                "anomaly_count": (f["flag_count"] + f["missing_id"].cast(pl.Int64)).cast(pl.Int64),
            }
        )

    # ------------------------------------------------------------- per step
    @cached_property
    def steps(self) -> pl.DataFrame:
        """Every kept step of every trace, with ``trace_id`` and ``file`` (columns of ``Trace.steps``)."""
        r = self._rows
        files = pl.Series("file", self.labels, dtype=pl.String)
        flags = [pl.col(k) for k in STEP_FLAG_KINDS]
        bottleneck = self._trace_figures.select("trace_id", "bottleneck")
        return (
            r.join(bottleneck, on="trace_id", how="left", maintain_order="left")
            .select(
                "trace_id",
                pl.col("trace_id").replace_strict(np.arange(len(self)), files, return_dtype=pl.String).alias("file")
                if len(self)
                else pl.lit(None, dtype=pl.String).alias("file"),
                "node_id",
                "name",
                "parent_id",
                _dt("start_us").alias("start"),
                _dt("end_us").alias("end"),
                pl.when("valid").then((pl.col("end_us") - pl.col("start_us")) / 1000.0).otherwise(0.0).alias("duration_ms"),
                (pl.col("self_us") / 1000.0).alias("self_ms"),
                (pl.col("critical_us") / 1000.0).alias("critical_ms"),
                (pl.col("critical_us") > 0).alias("on_critical_path"),
                (pl.col("node_id") == pl.col("bottleneck")).fill_null(False).alias("is_bottleneck"),
                "depth",
                "status",
                "failed",
                "error_message",
                "valid",
                _dt("window_start_us").alias("window_start"),
                _dt("window_end_us").alias("window_end"),
                *flags,
                pl.concat_list([pl.when(pl.col(k)).then(pl.lit(k)) for k in sorted(STEP_FLAG_KINDS)])
                .list.drop_nulls()
                .alias("anomalies"),
                "position",
            )
        )

    # ------------------------------------------------------------- per node
    def nodes(self, by: str = "node_id") -> pl.DataFrame:
        """Per node (``by="node_id"``) or per step name (``by="name"``, falling back to the id).

        Columns: ``count`` (steps), ``traces``, p50/p95/p99 of ``duration_ms`` and
        ``self_ms`` (linear interpolation), ``failure_rate``, ``critical_count`` and
        ``critical_rate`` (share of its steps on the critical path), ``mean_critical_ms``
        (over all its steps), ``critical_share`` (its critical ms over the sum of every
        trace's ``total_ms``: its share of end-to-end time). Sorted by ``critical_share``.
        """
        if by not in ("node_id", "name"):
            raise ValueError(f'by must be "node_id" or "name", not {by!r}')
        steps = self.steps
        key = pl.col("node_id") if by == "node_id" else pl.coalesce("name", "node_id")
        total = float(self.traces["total_ms"].sum() or 0.0)
        q = []
        for col in ("duration_ms", "self_ms"):
            base = col.removesuffix("_ms")
            for p in (50, 95, 99):
                q.append(pl.col(col).quantile(p / 100, "linear").alias(f"{base}_p{p}_ms"))
        return (
            steps.group_by(key.alias(by))
            .agg(
                count=pl.len(),
                traces=pl.col("trace_id").n_unique(),
                *q,
                failure_rate=pl.col("failed").mean(),
                failed_count=pl.col("failed").sum(),
                critical_count=pl.col("on_critical_path").sum(),
                critical_rate=pl.col("on_critical_path").mean(),
                mean_critical_ms=pl.col("critical_ms").mean(),
                critical_ms_total=pl.col("critical_ms").sum(),
            )
            .with_columns(
                critical_share=(pl.col("critical_ms_total") / total) if total > 0 else pl.lit(0.0)
            )
            .sort(["critical_share", by], descending=[True, False])
        )

    # ------------------------------------------------------------- the JSON
    def to_json(self) -> list[dict]:
        """Each trace's spec §5 object (``Analysis.to_json(file)``), in load order."""
        return analysis_json_list(self)

    def trace(self, index: int):
        """Load trace ``index`` again as a :class:`~gctrace_nb.model.Trace` (from its file)."""
        from .model import Trace

        path, line = self._paths[index], self._lines[index]
        if path is None:
            raise ValueError("this trace was not read from a file")
        if line is None:
            return Trace.from_document(path)
        data = Path(path).read_bytes().split(b"\n")[line - 1]
        return Trace.from_document(bytes(data), name=self.labels[index])


def _dt(col: str) -> pl.Expr:
    return pl.col(col).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


def analysis_json_list(ts: TraceSet) -> list[dict]:
    """The spec §5 objects of every trace in ``ts`` (what ``gctrace analyze --format json`` prints)."""
    r = ts._rows
    figures = ts.traces
    on_path = (
        r.filter(pl.col("critical_us") > 0)
        .sort("trace_id", "window_start_us", "depth", "node_id")
        .select("trace_id", "node_id", "critical_us")
    )
    paths: dict[int, list] = {}
    for t, nid, c in on_path.iter_rows():
        paths.setdefault(t, []).append((nid, c))
    failed: dict[int, list] = {}
    for t, nid in r.filter(pl.col("failed")).select("trace_id", "node_id").iter_rows():
        failed.setdefault(t, []).append(nid)
    anomalies: dict[int, set] = {}
    flagged = r.filter(pl.any_horizontal([pl.col(k) for k in STEP_FLAG_KINDS]))
    for row in flagged.select("trace_id", "node_id", *STEP_FLAG_KINDS).iter_rows():
        t, nid, *bits = row
        anomalies.setdefault(t, set()).update((nid, k) for k, b in zip(STEP_FLAG_KINDS, bits) if b)
    out = []
    rows = figures.select(
        "trace_id", "file", "steps", "valid_steps", "accuracy_rate", "total_ms", "bottleneck", "bottleneck_ms"
    ).iter_rows()
    for t, file, steps, valid, accuracy, total_ms, bn, bn_ms in rows:
        pairs = anomalies.get(t, set())
        if ts._missing[t]:
            pairs = pairs | {("", "missing_id")}
        path = paths.get(t, [])
        out.append(
            {
                "file": file,
                "steps": steps,
                "valid_steps": valid,
                "accuracy_rate": accuracy,
                "total_ms": total_ms,
                "critical_path": [nid for nid, _ in path],
                "critical_ms": {nid: ms(c) for nid, c in path},
                "bottleneck": {"node_id": bn, "critical_ms": bn_ms} if bn is not None else None,
                "failed_nodes": sorted(failed.get(t, [])),
                "anomalies": [list(p) for p in sorted(pairs)],
            }
        )
    return out


def load_traces(inputs: PathInput | Sequence[Any], *, progress: bool = True) -> TraceSet:
    """Load and analyse many traces: paths, a directory, a glob, or ``Trace`` objects.

    Every document shape :func:`gctrace_nb.documents.read_document` accepts is read,
    and NDJSON files (``.ndjson``/``.jsonl``, or any file whose lines are each a
    document) give one trace per line. A file that cannot be read goes into
    ``errors`` as ``(path, reason)``; the batch never stops for it.
    """
    from .model import Trace

    if isinstance(inputs, (str, os.PathLike)):
        sources: list = expand_paths(inputs)
    else:
        items = list(inputs)
        sources = []
        for item in items:
            sources.extend([item] if isinstance(item, Trace) else expand_paths(item))
    errors: list[tuple[str, str]] = []
    labels, paths, lines, flow_ids, totals, parts, missing = [], [], [], [], [], [], []
    python_path: list[int] = []
    chunk: list[_Doc] = []
    chunk_steps = 0

    def flush() -> None:
        nonlocal chunk, chunk_steps
        if not chunk:
            return
        frame, slow, miss = _analyse_chunk(chunk, len(labels) - len(chunk))
        parts.append(frame)
        python_path.extend(sorted(slow))
        missing.append(miss)
        chunk, chunk_steps = [], 0

    for doc in _iter_docs(sources, progress, errors):
        labels.append(doc.label)
        paths.append(doc.path)
        lines.append(doc.line)
        flow_ids.append(doc.flow_id)
        totals.append(len(doc.steps))
        chunk.append(doc)
        chunk_steps += len(doc.steps)
        if chunk_steps >= _CHUNK_STEPS:
            flush()
    flush()
    rows = pl.concat(parts) if parts else pl.DataFrame(schema=_STEP_SCHEMA)
    miss = np.concatenate(missing) if missing else np.zeros(0, dtype=bool)
    ts = TraceSet(labels, paths, lines, flow_ids, totals, rows, miss, errors)
    ts.python_path = python_path
    return ts


# ------------------------------------------------------------------ the CLI
def run_analyze(args: Any) -> int:
    """``gctrace analyze`` over several files, directories or NDJSON (and ``--summary``).

    Prints what the one-file path prints for each trace (the same spec §5
    objects, as one JSON array), names each unreadable file on stderr in one
    line and returns 2 if there was one, 0 otherwise.
    """
    import sys

    from .cli import EXIT_INVALID, EXIT_OK

    files = expand_paths(args.files)
    if not files:
        print(f"gctrace analyze: no trace files in {' '.join(args.files)}", file=sys.stderr)
        return EXIT_INVALID
    ts = load_traces(files, progress=sys.stderr.isatty())
    for path, reason in ts.errors:
        print(f"gctrace analyze: {' '.join(f'{path}: {reason}'.split())}", file=sys.stderr)
    status = EXIT_INVALID if ts.errors else EXIT_OK
    if getattr(args, "summary", False):
        table = ts.nodes(by=getattr(args, "by", "node_id"))
        if args.format == "json":
            print(json.dumps(table.to_dicts(), ensure_ascii=False, default=str))
        else:
            with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=200, tbl_hide_dataframe_shape=True):
                print(table)
    elif args.format == "json":
        print(json.dumps(ts.to_json(), ensure_ascii=False))
    elif len(ts):
        print("\n\n".join(ts.trace(i).summary_text() for i in range(len(ts))))
    return status
