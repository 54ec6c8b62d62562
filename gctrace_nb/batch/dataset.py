"""Analysed traces as a Hive-partitioned Parquet dataset, for DuckDB, Spark, Athena or polars.

Layout under ``OUT`` (a local directory or a URL such as ``s3://bucket/prefix/``)::

    OUT/traces/flow_id=<flow>/day=<YYYY-MM-DD>/part-00000.parquet   one row per trace
    OUT/steps/flow_id=<flow>/day=<YYYY-MM-DD>/part-00000.parquet    one row per kept step
    OUT/nodes.parquet                                               the per-node table

``day`` is the UTC date of the trace's first valid step; a trace without a flow
id or a valid step goes under ``__HIVE_DEFAULT_PARTITION__`` (read back as
null). Partition values are escaped as Hive escapes them (``/`` is ``%2F``).
The partition columns live in the paths, not in the files, as Hive expects.
``part-NNNNN`` is the partition of the input (one per Dask task), so workers
never write the same file; writing again over the same ``OUT`` replaces those
files. ``trace_id`` numbers the traces across the whole input, in file order.

Read it back with, for example, ``pl.scan_parquet("OUT/steps/", hive_partitioning=True)``
or DuckDB's ``read_parquet('OUT/steps/*/*/*.parquet', hive_partitioning=true)``.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

__all__ = ["HIVE_NULL", "hive_value", "join", "part_frames", "write_part", "write_dataset"]

#: The partition value Hive (and Spark, DuckDB, polars) reads as null.
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
# Hive's FileUtils.escapePathName: control characters and these are %XX-escaped
_ESCAPED = frozenset('"#%\'*/:=?\\\x7f{[]^')


def hive_value(value: Any) -> str:
    """A partition value as a path segment (Hive's escaping; null as :data:`HIVE_NULL`).

    Example:
        >>> hive_value("inbound/main"), hive_value(None), hive_value("")
        ('inbound%2Fmain', '__HIVE_DEFAULT_PARTITION__', '__HIVE_DEFAULT_PARTITION__')
    """
    if value is None or value == "":
        return HIVE_NULL
    text = str(value)
    return "".join(f"%{ord(c):02X}" if c in _ESCAPED or ord(c) < 0x20 else c for c in text)


def part_frames(ts: Any, trace_offset: int = 0) -> dict[str, Any]:
    """``{"traces": ..., "steps": ...}`` of ``ts`` with ``flow_id`` and ``day`` columns, trace ids shifted."""
    import polars as pl

    traces = ts.traces.with_columns(
        pl.col("trace_id") + trace_offset,
        pl.col("start").dt.date().cast(pl.String).alias("day"),
    )
    keys = traces.select("trace_id", "flow_id", "day")
    steps = ts.steps.with_columns(pl.col("trace_id") + trace_offset).join(
        keys, on="trace_id", how="left", maintain_order="left"
    )
    return {"traces": traces, "steps": steps}


def join(base: str, *parts: str) -> str:
    """``base/part/...``: with ``/`` for a URL, the OS separator for a local directory."""
    return "/".join([base.rstrip("/"), *parts]) if "://" in base else os.path.join(base, *parts)


def _write(frame: Any, target: str, storage_options: Mapping | None) -> None:
    from .. import _storage as storage

    if storage.is_url(target):
        with storage.open_output(target, storage_options) as fh:
            frame.write_parquet(fh)
        return
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    frame.write_parquet(target)


def write_part(ts: Any, out: str, part: int = 0, trace_offset: int = 0,
               storage_options: Mapping | None = None) -> list[str]:
    """Write one input partition's traces and steps under ``out``; return the files written."""
    written = []
    for name, frame in part_frames(ts, trace_offset).items():
        if not frame.height:
            continue
        groups = frame.partition_by(["flow_id", "day"], as_dict=True, include_key=False, maintain_order=True)
        for (flow, day), group in groups.items():
            target = join(out, name, f"flow_id={hive_value(flow)}", f"day={hive_value(day)}",
                           f"part-{part:05d}.parquet")
            _write(group, target, storage_options)
            written.append(target)
    return written


def write_dataset(ts: Any, out: str | os.PathLike, *, storage_options: Mapping | None = None) -> list[str]:
    """Write ``ts`` as the dataset described above; return every file written.

    A set loaded on a Dask cluster (:class:`.cluster.ClusterTraceSet`)
    is written by its workers, each its own partitions' files; the client
    writes only ``nodes.parquet``. Raises :class:`~gctrace_nb.errors.StorageError`
    (an ``OSError``) when object storage refuses a write.
    """
    out = os.fspath(out)
    options = dict(storage_options if storage_options is not None else (getattr(ts, "storage_options", None) or {}))
    if getattr(ts, "_parts", None):  # a ClusterTraceSet: its workers write
        written = ts.write_dataset_parts(out, options)
    else:
        written = write_part(ts, out, 0, 0, options)
    target = join(out, "nodes.parquet")
    _write(ts.nodes(), target, options)
    return written + [target]
