"""A self-contained HTML report over many traces (``gctrace report DIR -o batch.html``).

Same pipeline as :mod:`gctrace_nb.report.trace`: :func:`summarize_set` builds a plain
dict from a :class:`~gctrace_nb.batch.traceset.TraceSet` (top bottlenecks, failure
hotspots, the slowest traces), and a jinja2 template with autoescaping renders
it. The only unescaped inserts are plotly's figure HTML (plotly escapes trace
text in its JSON); plotly.js is inlined once, in the first figure.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from .._time import iso_utc

if TYPE_CHECKING:  # pragma: no cover
    import jinja2

    from ..batch.traceset import TraceSet

__all__ = ["batch_report", "batch_report_html", "write_batch_report", "summarize_set"]


@functools.lru_cache(maxsize=1)
def _environment() -> "jinja2.Environment":
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("gctrace_nb.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _ms(value: Any) -> str:
    from .._format import fmt_ms

    return "" if value is None else fmt_ms(value)


def _pct(value: Any) -> str:
    return "" if value is None else f"{value:.1%}"


def summarize_set(ts: "TraceSet", *, by: str = "name", top: int = 15) -> dict[str, Any]:
    """Everything the batch page shows, as a plain dict (no HTML)."""
    nodes = ts.nodes(by=by)
    bottlenecks = [
        {
            "key": row[by],
            "share": _pct(row["critical_share"]),
            "on_path": _pct(row["critical_rate"]),
            "mean_critical": _ms(row["mean_critical_ms"]),
            "count": row["count"],
            "traces": row["traces"],
            "p50": _ms(row["duration_p50_ms"]),
            "p95": _ms(row["duration_p95_ms"]),
            "p99": _ms(row["duration_p99_ms"]),
        }
        for row in nodes.head(top).iter_rows(named=True)
    ]
    steps = ts.steps
    key = pl.col("node_id") if by == "node_id" else pl.coalesce("name", "node_id")
    errors_by_key = (
        steps.filter(pl.col("failed") & pl.col("error_message").is_not_null())
        .group_by(key.alias("key"), "error_message")
        .len()
        .sort(["key", "len", "error_message"], descending=[False, True, False])
        .unique("key", keep="first", maintain_order=True)
    )
    common_error = dict(zip(errors_by_key["key"].to_list(), errors_by_key["error_message"].to_list()))
    failures = [
        {
            "key": row[by],
            "failed": row["failed_count"],
            "rate": _pct(row["failure_rate"]),
            "traces": row["traces"],
            "error": common_error.get(row[by], ""),
        }
        for row in nodes.filter(pl.col("failed_count") > 0)
        .sort(["failed_count", by], descending=[True, False])
        .head(top)
        .iter_rows(named=True)
    ]
    slowest = [
        {**row, "total": _ms(row["total_ms"]), "bottleneck_ms": _ms(row["bottleneck_ms"])}
        for row in ts.traces.sort("total_ms", descending=True).head(top).iter_rows(named=True)
    ]
    return {
        "by": by,
        "n_traces": len(ts),
        "n_steps": steps.height,
        "bottlenecks": bottlenecks,
        "failures": failures,
        "slowest": slowest,
        "errors": list(ts.errors),
        "top_keys": [row[by] for row in nodes.head(min(top, 10)).iter_rows(named=True)],
    }


def _figures(ts: "TraceSet", summary: dict, plotlyjs: str) -> list[str]:
    import plotly.graph_objects as go
    from markupsafe import Markup

    by = summary["by"]
    totals = ts.traces["total_ms"].to_list()
    hist = go.Figure(go.Histogram(x=totals, nbinsx=40, marker_color="#4c78a8"))
    hist.update_layout(title="Trace end-to-end time", xaxis_title="total (ms)", yaxis_title="traces", height=320)
    key = pl.col("node_id") if by == "node_id" else pl.coalesce("name", "node_id")
    steps = ts.steps.with_columns(key.alias("_key")).filter(pl.col("_key").is_in(summary["top_keys"]))
    box = go.Figure()
    for name in reversed(summary["top_keys"]):
        values = steps.filter(pl.col("_key") == name)["duration_ms"].to_list()
        box.add_trace(go.Box(x=values, name=str(name), boxpoints=False, orientation="h"))
    box.update_layout(
        title="Step durations of the top bottlenecks", xaxis_title="duration (ms)", showlegend=False,
        height=max(320, 40 * len(summary["top_keys"]) + 120),
    )
    include = "cdn" if plotlyjs == "cdn" else True
    out = []
    for i, fig in enumerate((hist, box)):
        out.append(Markup(fig.to_html(full_html=False, include_plotlyjs=include if i == 0 else False)))
    return out


def batch_report_html(
    ts: "TraceSet", *, title: str | None = None, by: str = "name", top: int = 15, plotlyjs: str = "inline"
) -> str:
    """The full batch page (plotly.js inlined once unless ``plotlyjs="cdn"``)."""
    from .. import __version__
    from .trace import _css

    summary = summarize_set(ts, by=by, top=top)
    return _environment().get_template("batch_report.html.j2").render(
        title=title or f"gctrace batch report: {len(ts)} traces",
        version=__version__,
        generated_at=iso_utc(timespec="seconds"),
        css=_css(),
        figures=_figures(ts, summary, plotlyjs),
        **summary,
    )


def write_batch_report(ts: "TraceSet", path: str | os.PathLike, **kwargs: Any) -> Path:
    """Write :func:`batch_report_html` to ``path`` and return it."""
    target = Path(path)
    target.write_text(batch_report_html(ts, **kwargs), encoding="utf-8")
    return target


def batch_report(ts: "TraceSet", path: str | os.PathLike, **kwargs: Any) -> Path:
    """Write the batch HTML report of ``ts`` to ``path`` (same as :func:`write_batch_report`)."""
    return write_batch_report(ts, path, **kwargs)
