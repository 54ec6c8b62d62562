"""What changed between two traces, or two sets of traces (last week against this week).

:func:`compare` joins the per-node tables of :meth:`gctrace_nb.batch.traceset.TraceSet.nodes`
of both sides and reports, per node, the change in count, p50/p95 duration,
median self time and share of end-to-end (critical-path) time, and which nodes
are new, vanished or newly failing. :func:`compare_chart` draws the biggest
regressions with plotly.

Example::

    result = compare(load_traces("last-week/"), load_traces("this-week/"), by="name")
    result.regressions(10)
    compare_chart(result)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import polars as pl

from .dispatch import as_trace_set

__all__ = ["Comparison", "compare", "compare_chart"]

_KEEP = {
    "count": "count",
    "duration_p50_ms": "p50_ms",
    "duration_p95_ms": "p95_ms",
    "self_p50_ms": "self_p50_ms",
    "failure_rate": "failure_rate",
    "critical_share": "critical_share",
}


@dataclass(frozen=True)
class Comparison:
    """The result of :func:`compare`: one row per node in either side, and the lists.

    ``nodes`` columns: the key, ``status`` (``new``, ``vanished``, ``newly_failing``,
    ``changed``), ``count_a``/``count_b``/``delta_count``, ``p50_ms_a``/``_b``/
    ``delta_p50_ms``, the same for ``p95_ms``, ``self_p50_ms`` and ``critical_share``
    (``delta_share``), and ``failure_rate_a``/``_b``. Deltas are b - a (positive: slower).
    """

    by: str
    nodes: pl.DataFrame
    new: tuple[str, ...]
    vanished: tuple[str, ...]
    newly_failing: tuple[str, ...]
    traces_a: int
    traces_b: int

    def regressions(self, top: int = 10) -> pl.DataFrame:
        """The nodes in both sides whose p95 grew most (then their share of the critical path)."""
        both = self.nodes.filter(pl.col("status").is_in(["changed", "newly_failing"]) & (pl.col("delta_p95_ms") > 0))
        return both.sort(["delta_p95_ms", "delta_share"], descending=True, nulls_last=True).head(top)

    @property
    def in_common(self) -> int:
        """How many nodes (keys) both sides have."""
        return int(self.nodes.filter(pl.col("status").is_in(["changed", "newly_failing"])).height)

    @property
    def hint(self) -> str | None:
        """What to try when the sides share nothing (two unrelated flows, or ids that differ per run)."""
        if self.in_common or not (self.new or self.vanished):
            return None
        return "no steps in common: try --by name" if self.by == "node_id" else "no steps in common"

    def to_json(self) -> dict:
        return {
            "by": self.by,
            "in_common": self.in_common,
            "hint": self.hint,
            "traces_a": self.traces_a,
            "traces_b": self.traces_b,
            "new": list(self.new),
            "vanished": list(self.vanished),
            "newly_failing": list(self.newly_failing),
            "nodes": self.nodes.to_dicts(),
        }

    def summary_text(self, top: int = 10) -> str:
        """A few readable lines: the biggest regressions and what appeared, vanished or started failing."""
        from .._format import fmt_ms

        lines = [f"compared {self.traces_a} trace(s) with {self.traces_b} (by {self.by})"]
        if self.hint:
            lines.append(self.hint)
        reg = self.regressions(top)
        if reg.height:
            lines.append("biggest p95 regressions (b - a):")
            for row in reg.iter_rows(named=True):
                lines.append(
                    f"  {row[self.by]}: p95 {fmt_ms(row['p95_ms_a'])} -> {fmt_ms(row['p95_ms_b'])} "
                    f"({fmt_ms(row['delta_p95_ms'], signed=True)}), p50 {fmt_ms(row['delta_p50_ms'], signed=True)}, "
                    f"self p50 {fmt_ms(row['delta_self_p50_ms'], signed=True)}, share {row['delta_share']:+.1%}, "
                    f"count {row['delta_count']:+d}"
                )
        for label, names in (("new", self.new), ("vanished", self.vanished), ("newly failing", self.newly_failing)):
            if names:
                lines.append(f"{label}: {', '.join(names)}")
        from .._text import printable

        return printable("\n".join(lines))

    def _repr_html_(self) -> str:
        """What changed most, in the report's look (deltas coloured, newly failing rows marked)."""
        from ..report.sets import comparison_html

        return comparison_html(self)

    def __repr__(self) -> str:
        return (
            f"<Comparison by {self.by}: {self.nodes.height} nodes, {len(self.new)} new, "
            f"{len(self.vanished)} vanished, {len(self.newly_failing)} newly failing; "
            f"see .regressions(), .nodes, compare_chart(result)>"
        )


def compare(a: Any, b: Any, *, by: str = "node_id", storage_options: Mapping | None = None) -> Comparison:
    """Compare two traces or two sets per node (``by="node_id"`` or ``"name"``).

    Paths, directories, globs and URLs are loaded first (URLs with ``storage_options``).
    """
    set_a = as_trace_set(a, purpose="compare", storage_options=storage_options)
    set_b = as_trace_set(b, purpose="compare", storage_options=storage_options)
    left = _side(set_a.nodes(by=by), by, "a")
    right = _side(set_b.nodes(by=by), by, "b")
    joined = left.join(right, on=by, how="full", coalesce=True)
    in_a = pl.col("count_a").is_not_null()
    in_b = pl.col("count_b").is_not_null()
    status = (
        pl.when(~in_a)
        .then(pl.lit("new"))
        .when(~in_b)
        .then(pl.lit("vanished"))
        .when((pl.col("failure_rate_a") == 0) & (pl.col("failure_rate_b") > 0))
        .then(pl.lit("newly_failing"))
        .otherwise(pl.lit("changed"))
    )
    nodes = joined.with_columns(
        status=status,
        delta_count=pl.col("count_b").fill_null(0).cast(pl.Int64) - pl.col("count_a").fill_null(0).cast(pl.Int64),
        delta_p50_ms=pl.col("p50_ms_b") - pl.col("p50_ms_a"),
        delta_p95_ms=pl.col("p95_ms_b") - pl.col("p95_ms_a"),
        delta_self_p50_ms=pl.col("self_p50_ms_b") - pl.col("self_p50_ms_a"),
        delta_share=pl.col("critical_share_b").fill_null(0.0) - pl.col("critical_share_a").fill_null(0.0),
    ).sort([pl.col("delta_share").abs(), by], descending=[True, False])
    order = [by, "status", "delta_count", "delta_p50_ms", "delta_p95_ms", "delta_self_p50_ms", "delta_share"]
    nodes = nodes.select(order + [c for c in nodes.columns if c not in order])

    def names(kind: str) -> tuple[str, ...]:
        return tuple(sorted(nodes.filter(pl.col("status") == kind)[by].to_list()))

    return Comparison(
        by=by,
        nodes=nodes,
        new=names("new"),
        vanished=names("vanished"),
        newly_failing=names("newly_failing"),
        traces_a=len(set_a),
        traces_b=len(set_b),
    )


def _side(table: pl.DataFrame, by: str, suffix: str) -> pl.DataFrame:
    return table.select(by, *[pl.col(src).alias(f"{dst}_{suffix}") for src, dst in _KEEP.items()])


def compare_chart(result: Comparison, *, top: int = 15):
    """A plotly bar chart of the biggest p95 regressions (and improvements) of a comparison."""
    import plotly.graph_objects as go

    both = result.nodes.filter(pl.col("delta_p95_ms").is_not_null())
    worst = both.sort("delta_p95_ms", descending=True).head(top).sort("delta_p95_ms")
    labels = [str(v) for v in worst[result.by].to_list()]
    deltas = worst["delta_p95_ms"].to_list()
    fig = go.Figure(
        go.Bar(
            x=deltas,
            y=labels,
            orientation="h",
            marker_color=["#d62728" if d > 0 else "#2ca02c" for d in deltas],
            customdata=list(zip(worst["p95_ms_a"].to_list(), worst["p95_ms_b"].to_list(), worst["delta_share"].to_list())),
            hovertemplate="%{y}<br>p95 %{customdata[0]:.1f} → %{customdata[1]:.1f} ms"
            "<br>Δ %{x:+.1f} ms<br>Δ share %{customdata[2]:+.1%}<extra></extra>",
        )
    )
    fig.update_layout(
        title=f"Biggest p95 regressions by {result.by} ({result.traces_a} vs {result.traces_b} traces)",
        xaxis_title="Δ p95 duration (ms, b - a)",
        height=max(300, 28 * len(labels) + 120),
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return fig
