"""Notebook displays of many traces: a :class:`~gctrace_nb.batch.traceset.TraceSet` and a
:class:`~gctrace_nb.batch.comparison.Comparison`, in the report's look.

Both are HTML fragments carrying the report's (scoped) stylesheet, drawn by
the same table macro as every report table (:mod:`gctrace_nb.report.tables`):
steps named as everywhere, durations formatted, status chips, failed rows marked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:  # pragma: no cover
    from ..batch.comparison import Comparison
    from ..batch.traceset import TraceSet

__all__ = ["traceset_html", "comparison_html"]

_TOP: Final = 10


def traceset_html(ts: "TraceSet", *, top: int = _TOP) -> str:
    """Return a set's display: its headline, top bottlenecks, failure hotspots and slowest traces."""
    from markupsafe import Markup

    from .batch import summarize_set
    from .tables import css, environment

    try:
        summary = summarize_set(ts, top=top)
    except ValueError:  # loaded with frames=False: no steps, so only the per-trace figures
        summary = None
    if summary is not None:
        for cell in [r["trace"] for r in summary["slowest"]] + [r["example"] for r in summary["failures"]]:
            cell["href"] = None  # no trace sections in a notebook display
    return environment().get_template("traceset_snippet.html.j2").render(
        css=Markup(css()), s=summary, n_traces=len(ts), errors=list(ts.errors), traces=ts.traces.height
    )


def _delta_ms(value: float | None) -> dict[str, str]:
    from .._format import fmt_ms

    if value is None:
        return {"text": "", "cls": ""}
    return {"text": fmt_ms(value, signed=True), "cls": "worse" if value > 0 else ("better" if value < 0 else "")}


def _delta_share(value: float | None) -> dict[str, str]:
    if value is None:
        return {"text": "", "cls": ""}
    pts = round(value * 100, 1)
    if pts == 0:
        return {"text": "0 pts", "cls": ""}
    return {"text": f"{pts:+.1f} pts", "cls": "worse" if pts > 0 else "better"}


def _arrow(a: Any, b: Any, fmt) -> str:
    return f"{fmt(a) if a is not None else '–'} → {fmt(b) if b is not None else '–'}"


def comparison_html(result: "Comparison", *, top: int = 15) -> str:
    """Return a comparison's display: what changed most, steps named and deltas coloured (red: slower)."""
    import polars as pl
    from markupsafe import Markup

    from .._format import fmt_ms
    from ..core.summary import fmt_share
    from .tables import Column, Table, css, environment, step_cell

    by = result.by
    order = pl.when(pl.col("status") == "newly_failing").then(0).when(pl.col("status") == "changed").then(1) \
        .when(pl.col("status") == "new").then(2).otherwise(3)
    nodes = result.nodes.with_columns(order.alias("_order")).sort(
        ["_order", "delta_p95_ms", by], descending=[False, True, False], nulls_last=True
    )
    rows = []
    for row in nodes.head(top).iter_rows(named=True):
        status = row["status"]
        rows.append({
            "_class": "failed" if status == "newly_failing" else "",
            "step": step_cell(row[by], row[by]),
            "status": {"text": status.replace("_", " "), "cls": status if status != "changed" else "other", "title": ""},
            "p95": _arrow(row["p95_ms_a"], row["p95_ms_b"], fmt_ms),
            "d95": _delta_ms(row["delta_p95_ms"]),
            "d50": _delta_ms(row["delta_p50_ms"]),
            "share": _arrow(row["critical_share_a"], row["critical_share_b"], fmt_share),
            "dshare": _delta_share(row["delta_share"]),
            "fail": _arrow(row["failure_rate_a"], row["failure_rate_b"], fmt_share),
            "count": _arrow(row["count_a"], row["count_b"], lambda n: f"{n:,}"),
        })
    columns = [
        Column("step", "Step", "step"), Column("status", "Change", "status"),
        Column("p95", "p95 before → after", "num"), Column("d95", "Δ p95", "delta"), Column("d50", "Δ p50", "delta"),
        Column("share", "Share of total", "num", "critical time over the end-to-end time"),
        Column("dshare", "Δ share", "delta"), Column("fail", "Failure rate", "num"), Column("count", "Runs", "num"),
    ]
    heading = (f"Compared {result.traces_a:,} trace(s) with {result.traces_b:,}, by {by}: {len(result.new)} new, "
               f"{len(result.vanished)} vanished, {len(result.newly_failing)} newly failing. Δ = after − before; "
               "red is slower.")
    note = f"The first {top} of {result.nodes.height} rows; result.nodes has them all." if result.nodes.height > top else ""
    table = Table(columns, rows, cls="comparison", note=note)
    return environment().get_template("table_snippet.html.j2").render(t=table, css=Markup(css()), heading=heading)
