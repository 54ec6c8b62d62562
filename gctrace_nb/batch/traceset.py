"""Analyse many saved traces at once: :func:`load_traces` -> :class:`TraceSet`.

Files are parsed with orjson (the standard library where orjson refuses, so
exactly the documents :func:`gctrace_nb.core.documents.read_document` accepts are
read), turned into flat columns a chunk at a time, and analysed by
:mod:`gctrace_nb.batch.vectorized`. Traces the vector path does not handle
(entries that are not objects, parent cycles, documents only the standard
library reads, unhashable ids; with step frames also a ``status`` or
``errorMessage`` that is not text) are analysed one by one with
:func:`gctrace_nb.core.analysis.analyze_steps`. Both paths produce the same
integers, so every figure here agrees with analysing each trace alone
(``tests/test_batch.py`` checks it on random, dirty and hypothesis-made traces).

Example::

    ts = load_traces("traces/")          # a directory, a glob, or a list of paths
    ts.traces                            # one row per trace
    ts.nodes(by="name")                  # p50/p95/p99, failure rate, critical share
    ts.errors                            # [(path, reason), ...] never raised
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Mapping

import numpy as np

from .._text import replace_surrogates
from ..core.analysis import STEP_FLAG_KINDS
from .columns import Figures
from .jsonout import analysis_json_list, iter_analysis_json

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl


# ---------------------------------------------------------------- the set
class TraceSet:
    """Many analysed traces: frames per trace, per step and per node.

    Build one with :func:`load_traces`. ``errors`` lists ``(path, reason)`` for
    every file (or NDJSON line) that could not be read.
    """

    def __init__(self, labels, paths, lines, flow_ids, steps_total, step_rows, figures, errors) -> None:
        self.labels: list[str] = list(labels)
        self._paths = list(paths)
        self._lines = list(lines)
        self._flow_ids = list(flow_ids)
        self._steps_total = list(steps_total)
        self._rows = step_rows  # polars frame of step rows, or None (loaded with frames=False)
        self._figures: list[Figures] = list(figures)
        self.errors: list[tuple[str, str]] = list(errors)
        #: Trace ids analysed by the pure-Python path (cycles, non-object entries, ...).
        self.python_path: list[int] = []
        #: The fsspec options URLs were read with (to read a trace again; never shown).
        self.storage_options: Mapping | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        return (
            f"<TraceSet {len(self)} traces, {sum(self._steps_total)} steps, {len(self.errors)} errors; "
            f"see .traces, .steps, .nodes(), .errors>"
        )

    def _repr_html_(self) -> str:
        """The set in the report's look: headline, top bottlenecks, failure hotspots, slowest traces."""
        from ..report.sets import traceset_html

        return traceset_html(self)

    def _step_rows(self):
        if self._rows is None:
            raise ValueError("this set was loaded with frames=False: load_traces(..., frames=True) keeps the steps")
        return self._rows

    # ------------------------------------------------------------ per trace
    @cached_property
    def traces(self) -> pl.DataFrame:
        """One row per trace: file, flow id, start, total ms, bottleneck, accuracy, counts."""
        import polars as pl

        figs = self._figures
        steps = self._steps_total
        return pl.DataFrame(
            {
                "trace_id": pl.Series(range(len(self)), dtype=pl.Int64),
                "file": _clean_strings(self.labels),
                "flow_id": _clean_strings(self._flow_ids),
                "start": pl.Series([f.earliest_us for f in figs], dtype=pl.Int64)
                .cast(pl.Datetime("us"))
                .dt.replace_time_zone("UTC"),
                "total_ms": pl.Series([f.total_us / 1000.0 for f in figs], dtype=pl.Float64),
                "bottleneck": _clean_strings([f.bottleneck for f in figs]),
                "bottleneck_ms": pl.Series([f.bottleneck_ms for f in figs], dtype=pl.Float64),
                "critical_path_length": pl.Series([f.path_length for f in figs], dtype=pl.Int64),
                "steps": pl.Series(steps, dtype=pl.Int64),
                "valid_steps": pl.Series([f.valid_steps for f in figs], dtype=pl.Int64),
                "accuracy_rate": pl.Series(
                    [round(f.valid_steps / n, 4) if n else 0.0 for f, n in zip(figs, steps)], dtype=pl.Float64
                ),
                "failed_count": pl.Series([len(f.failed_nodes) for f in figs], dtype=pl.Int64),
                "anomaly_count": pl.Series([len(f.anomalies) for f in figs], dtype=pl.Int64),
            }
        )

    # ------------------------------------------------------------- per step
    @cached_property
    def steps(self) -> pl.DataFrame:
        """Every kept step of every trace, with ``trace_id`` and ``file`` (columns of ``Trace.steps``)."""
        import polars as pl

        r = self._step_rows()
        files = _clean_strings(self.labels).alias("file")
        flags = [pl.col(k) for k in STEP_FLAG_KINDS]
        bottleneck = pl.DataFrame(
            {"trace_id": range(len(self)), "bottleneck": _clean_strings([f.bottleneck for f in self._figures])},
            schema={"trace_id": pl.Int64, "bottleneck": pl.String},
        )
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

        Sums are taken in integer microseconds (:mod:`.nodestats`), so a table built
        on a Dask cluster from partitions of the files has the very same digits.
        """
        from . import nodestats

        nodestats.check_by(by)
        return nodestats.node_table(self._step_rows(), sum(f.total_us for f in self._figures), by)

    # ------------------------------------------------------------- the JSON
    def to_json(self) -> list[dict]:
        """Each trace's spec §5 object (``Analysis.to_json(file)``), in load order."""
        return analysis_json_list(self)

    def iter_json(self) -> Iterator[dict]:
        """Each trace's spec §5 object, one at a time."""
        return iter_analysis_json(self)

    def trace(self, index: int):
        """Load trace ``index`` again as a :class:`~gctrace_nb.core.model.Trace` (from its file or URL)."""
        from .. import _storage as storage
        from ..core.model import Trace

        path, line = self._paths[index], self._lines[index]
        if path is None:
            raise ValueError("this trace was not read from a file")
        if storage.is_url(path):
            data = storage.read_bytes(path, self.storage_options)
            return Trace.from_document(data if line is None else data.split(b"\n")[line - 1], name=self.labels[index])
        if line is None:
            return Trace.from_document(path)
        data = Path(path).read_bytes().split(b"\n")[line - 1]
        return Trace.from_document(bytes(data), name=self.labels[index])


def _clean_strings(values: list) -> pl.Series:
    """A String series; lone surrogates become U+FFFD (as the steps frames show them)."""
    import polars as pl

    try:
        return pl.Series(values, dtype=pl.String)
    except UnicodeEncodeError:
        return pl.Series([None if v is None else replace_surrogates(v) for v in values], dtype=pl.String)


def _dt(col: str) -> pl.Expr:
    import polars as pl

    return pl.col(col).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


