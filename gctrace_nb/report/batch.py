"""A self-contained HTML report over many traces (``gctrace report DIR -o batch.html``).

Same pipeline and look as :mod:`gctrace_nb.report.trace` (the same page
template and stylesheet, :mod:`gctrace_nb.report.tables` for every table):
:func:`summarize_set` builds a plain dict from a
:class:`~gctrace_nb.batch.traceset.TraceSet`, and jinja2 templates with
autoescaping render it. The page leads with the answer:

- a headline: the step holding the most end-to-end time across the set, the
  failures, the slowest trace;
- **Top bottlenecks**, steps named as everywhere (name, id beside it when the
  name is one step's), ranked by their share of the summed end-to-end time.
  A flow's root step is left out: it holds only its own time between its steps;
- **Failure hotspots** and **Slowest traces**, each row linked to that trace's
  section further down the page (headline, DAG, timeline, tables);
- the distributions on log axes (end-to-end times and the top steps' durations).

The only unescaped inserts are the headline markup and plotly's and graphviz's
output (each escapes trace text itself); plotly.js is inlined once, in the first figure.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import polars as pl

from .._time import iso_utc

if TYPE_CHECKING:  # pragma: no cover
    from ..batch.traceset import TraceSet

__all__ = ["batch_report", "batch_report_html", "write_batch_report", "summarize_set"]

#: How many rows the ranking tables list, and so how many traces get a section.
TOP: Final = 15
_DETAIL_ROWS: Final = 100  # steps listed in each trace section of the batch page


def _key(by: str) -> pl.Expr:
    return pl.col("node_id") if by == "node_id" else pl.coalesce("name", "node_id")


def _root_keys(steps: pl.DataFrame, by: str) -> set[str]:
    """Keys that are only ever a trace's root container: a step without parent that has children."""
    parents = steps.select("trace_id", pl.col("parent_id").alias("node_id")).drop_nulls().unique()
    with_kids = parents.with_columns(pl.lit(True).alias("_has_kids"))
    marked = steps.join(with_kids, on=["trace_id", "node_id"], how="left").with_columns(
        (pl.col("parent_id").is_null() & pl.col("_has_kids").fill_null(False)).alias("_root"), _key(by).alias("_key")
    )
    roots = marked.group_by("_key").agg(pl.col("_root").all().alias("only_root")).filter("only_root")
    return set(roots["_key"].to_list())


def _labels(steps: pl.DataFrame, by: str) -> dict[str, dict[str, Any]]:
    """Per key, a "step" cell: the name, with the id beside it when the name belongs to one step id."""
    from .tables import step_cell

    ids = steps.group_by(_key(by).alias("_key")).agg(pl.col("node_id").unique().sort().alias("ids"), pl.col("name").first())
    out = {}
    for key, node_ids, name in ids.iter_rows():
        if by == "node_id":
            out[key] = step_cell(name, key)
        else:
            out[key] = step_cell(key, node_ids[0] if len(node_ids) == 1 else key)
    return out


def _trace_links(ts: "TraceSet") -> dict[int, str]:
    """``trace_id -> href`` of each trace's section (the page drops those it could not draw)."""
    return {k: f"#t{k}" for k in range(len(ts))}


def summarize_set(ts: "TraceSet", *, by: str = "name", top: int = TOP) -> dict[str, Any]:
    """Everything the batch page shows, as a plain dict (no HTML)."""
    from .._format import fmt_ms
    from ..core.summary import fmt_share
    from . import tables

    nodes = ts.nodes(by=by)
    steps = ts.steps
    roots = _root_keys(steps, by)
    labels = _labels(steps, by)
    links = _trace_links(ts)
    ranked = nodes.filter(~pl.col(by).is_in(sorted(roots)))
    bottlenecks = [
        {
            "key": row[by],
            "step": labels[row[by]],
            "share": fmt_share(row["critical_share"]),
            "on_path": fmt_share(row["critical_rate"]),
            "mean_critical": fmt_ms(row["mean_critical_ms"]),
            "count": f"{row['count']:,}",
            "traces": f"{row['traces']:,}",
            "p50": fmt_ms(row["duration_p50_ms"]),
            "p95": fmt_ms(row["duration_p95_ms"]),
            "p99": fmt_ms(row["duration_p99_ms"]),
        }
        for row in ranked.head(top).iter_rows(named=True)
    ]
    failures = _failure_rows(ts, nodes, steps, by, top, labels, links)
    slowest = _slowest_rows(ts, steps, top, links)
    linked = [r["trace_id"] for r in slowest] + [r["trace_id"] for r in failures if r["trace_id"] is not None]
    return {
        "by": by,
        "n_traces": len(ts),
        "n_steps": steps.height,
        "roots": sorted(roots),
        "bottlenecks": bottlenecks,
        "bottleneck_table": tables.Table(_columns(_BOTTLENECK_COLUMNS), bottlenecks, cls="bottlenecks"),
        "failures": failures,
        "failure_table": tables.Table(_columns(_FAILURE_COLUMNS), failures, cls="failures"),
        "slowest": slowest,
        "slowest_table": tables.Table(_columns(_SLOWEST_COLUMNS), slowest, cls="overview"),
        "errors": list(ts.errors),
        "top_keys": [row[by] for row in ranked.head(min(top, 10)).iter_rows(named=True)],
        "detail_ids": [k for k in dict.fromkeys(linked) if k in links],
        "headline": _headline(ts, ranked, nodes, by, labels, slowest),
    }


def _column(key: str, title: str, kind: str = "num", help: str = "") -> Any:
    from .tables import Column

    return Column(key, title, kind, help)


_BOTTLENECK_COLUMNS: Final = (
    ("step", "Step", "step", ""),
    ("share", "Share", "num", "its critical time over the sum of every trace's end-to-end time"),
    ("on_path", "On path", "num", "share of its runs that were on the critical path"),
    ("mean_critical", "Mean critical", "num", ""),
    ("count", "Runs", "num", ""),
    ("traces", "Traces", "num", ""),
    ("p50", "p50", "num", "duration"),
    ("p95", "p95", "num", "duration"),
    ("p99", "p99", "num", "duration"),
)
_FAILURE_COLUMNS: Final = (
    ("step", "Step", "step", ""),
    ("failed", "Failures", "num", ""),
    ("rate", "Rate", "num", "failed runs over all its runs"),
    ("traces", "Traces", "num", ""),
    ("error", "Most common error", "text", ""),
    ("example", "Example trace", "link", "the slowest trace where it failed"),
)
_SLOWEST_COLUMNS: Final = (
    ("trace", "Trace", "link", ""),
    ("total", "Total", "num", "end-to-end time"),
    ("bottleneck", "Bottleneck", "step", ""),
    ("critical", "Critical", "num", "the bottleneck's critical time"),
    ("share", "Share", "num", "the bottleneck's share of the trace's total"),
    ("steps", "Steps", "num", ""),
    ("failed", "Failed", "num", ""),
    ("anomalies", "Anomalies", "num", ""),
)


def _columns(spec: tuple) -> list:
    return [_column(*c) for c in spec]


def _failure_rows(ts, nodes, steps, by, top, labels, links) -> list[dict[str, Any]]:
    from ..core.summary import fmt_share

    key = _key(by)
    failed = steps.filter(pl.col("failed")).with_columns(key.alias("_key"))
    errors_by_key = (
        failed.filter(pl.col("error_message").is_not_null())
        .group_by("_key", "error_message")
        .len()
        .sort(["_key", "len", "error_message"], descending=[False, True, False])
        .unique("_key", keep="first", maintain_order=True)
    )
    common_error = dict(zip(errors_by_key["_key"].to_list(), errors_by_key["error_message"].to_list()))
    totals = ts.traces.select("trace_id", "total_ms", "file")
    example = (
        failed.select("_key", "trace_id").unique().join(totals, on="trace_id")
        .sort(["_key", "total_ms", "trace_id"], descending=[False, True, False])
        .unique("_key", keep="first", maintain_order=True)
    )
    examples = {k: (t, f) for k, t, _, f in example.iter_rows()}
    rows = []
    for row in nodes.filter(pl.col("failed_count") > 0).sort(["failed_count", by], descending=[True, False]).head(top).iter_rows(named=True):
        trace_id, file = examples.get(row[by], (None, None))
        rows.append({
            "_class": "failed",
            "key": row[by],
            "step": labels[row[by]],
            "failed": f"{row['failed_count']:,}",
            "rate": fmt_share(row["failure_rate"]),
            "traces": f"{row['traces']:,}",
            "error": common_error.get(row[by], ""),
            "trace_id": trace_id,
            "example": {"text": file or "", "href": links.get(trace_id) if trace_id is not None else None},
        })
    return rows


def _slowest_rows(ts, steps, top, links) -> list[dict[str, Any]]:
    from .._format import fmt_ms
    from ..core.summary import fmt_share
    from .tables import step_cell

    names = steps.filter(pl.col("is_bottleneck")).select("trace_id", pl.col("name").alias("_name"))
    table = ts.traces.join(names, on="trace_id", how="left").sort(["total_ms", "trace_id"], descending=[True, False])
    rows = []
    for row in table.head(top).iter_rows(named=True):
        k = row["trace_id"]
        bn = row["bottleneck"]
        rows.append({
            "_class": "failed" if row["failed_count"] else "",
            "trace_id": k,
            "trace": {"text": row["file"], "href": links.get(k)},
            "total": fmt_ms(row["total_ms"]),
            "bottleneck": step_cell(row["_name"], bn) if bn else step_cell(None, "none"),
            "critical": fmt_ms(row["bottleneck_ms"]) if bn else "",
            "share": fmt_share(row["bottleneck_ms"] / row["total_ms"]) if bn and row["total_ms"] else "",
            "steps": f"{row['steps']:,}",
            "failed": f"{row['failed_count']:,}",
            "anomalies": f"{row['anomaly_count']:,}",
        })
    return rows


def _headline(ts, ranked, nodes, by, labels, slowest) -> dict[str, str]:
    """Three lines: the step holding the most time, the failures, the slowest trace."""
    from ..core.summary import fmt_share

    out = {"bottleneck": "No step takes part in a critical path.", "failures": "No step failed.", "slowest": "",
           "slowest_file": "", "slowest_rest": ""}
    if ranked.height and ranked["critical_share"][0]:
        top = ranked.row(0, named=True)
        cell = labels[top[by]]
        name = cell["name"] + (f" ({cell['id']})" if cell["id"] else "")
        out["bottleneck"] = (f"{name} · {fmt_share(top['critical_share'])} of all end-to-end time · on the critical "
                             f"path in {top['critical_count']:,} of {top['count']:,} runs ({top['traces']:,} traces)")
    failed = nodes.filter(pl.col("failed_count") > 0).sort(["failed_count", by], descending=[True, False])
    if failed.height:
        n_failed = int(failed["failed_count"].sum())
        n_traces = int((ts.traces["failed_count"] > 0).sum())
        most = ", ".join(f"{labels[k]['name']} ×{n:,}" for k, n in failed.head(3).select(by, "failed_count").iter_rows())
        out["failures"] = f"{n_failed:,} failed steps in {n_traces:,} of {len(ts):,} traces: {most}"
    if slowest:
        s = slowest[0]
        out["slowest"] = f"Slowest trace: {s['trace']['text']} · {s['total']}, bottleneck {s['bottleneck']['name']}"
        out["slowest_file"] = s["trace"]["text"]
        out["slowest_rest"] = f" · {s['total']}, bottleneck {s['bottleneck']['name']}"
    return out


def _figures(ts: "TraceSet", summary: dict, plotlyjs: str) -> list[str]:
    """The two distributions, both on log axes; plotly.js goes in with the first."""
    from markupsafe import Markup

    figs = [_totals_histogram(ts), _durations_box(ts, summary)]
    include: Any = "cdn" if plotlyjs == "cdn" else True
    return [
        Markup(fig.to_html(full_html=False, include_plotlyjs=include if i == 0 else False,
                           config={"responsive": True, "displaylogo": False}))
        for i, fig in enumerate(figs)
    ]


def _log_ticks(lo: float, hi: float, *, log: bool = True) -> tuple[list[float], list[str]]:
    """Tick positions and labels ("50 ms", "2 s") spanning ``lo..hi`` ms, 1-2-5 (or finer on a short span).

    Positions are log10 ms when ``log`` (an axis of log values), else ms (a log-type axis).

    >>> _log_ticks(80, 2500, log=False)
    ([100.0, 200.0, 500.0, 1000.0, 2000.0], ['100 ms', '200 ms', '500 ms', '1 s', '2 s'])
    """
    lo, hi = max(lo, 1e-3), max(hi, 1e-3)
    nice = (1, 2, 5) if math.log10(hi / lo) > 1.2 else (1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9)
    vals, text = [], []
    for exp in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        for m in nice:
            v = m * 10.0 ** exp
            if lo <= v <= hi:
                vals.append(math.log10(v) if log else v)
                text.append(f"{v / 1000:g} s" if v >= 1000 else f"{v:g} ms")
    return vals, text


def _totals_histogram(ts: "TraceSet") -> Any:
    import numpy as np
    import plotly.graph_objects as go

    totals = np.array([t for t in ts.traces["total_ms"].to_list() if t and t > 0], dtype=float)
    fig = go.Figure()
    if totals.size:
        logs = np.log10(totals)
        span = max(logs.max() - logs.min(), 0.1)
        counts, edges = np.histogram(logs, bins=max(5, min(40, int(span * 20) + 1)))
        fig.add_trace(go.Bar(
            x=(edges[:-1] + edges[1:]) / 2, y=counts, width=edges[1] - edges[0], marker_color="#4c78a8",
            customdata=np.column_stack([10 ** edges[:-1], 10 ** edges[1:]]),
            hovertemplate="%{customdata[0]:,.0f} – %{customdata[1]:,.0f} ms: %{y} traces<extra></extra>",
        ))
        vals, text = _log_ticks(float(10 ** edges[0]), float(10 ** edges[-1]))
        fig.update_xaxes(tickvals=vals, ticktext=text)
    fig.update_layout(title="Trace end-to-end time (log scale)", xaxis_title="total", yaxis_title="traces",
                      height=320, template="plotly_white", bargap=0.05, margin={"l": 10, "r": 10, "t": 50, "b": 40})
    return fig


def _durations_box(ts: "TraceSet", summary: dict) -> Any:
    import plotly.graph_objects as go

    by = summary["by"]
    steps = ts.steps.with_columns(_key(by).alias("_key")).filter(pl.col("_key").is_in(summary["top_keys"]))
    names = {row["key"]: row["step"]["name"] for row in summary["bottlenecks"]}
    fig = go.Figure()
    lo, hi = math.inf, 0.0
    for key in reversed(summary["top_keys"]):
        values = steps.filter((pl.col("_key") == key) & (pl.col("duration_ms") > 0))["duration_ms"].to_list()
        if values:
            lo, hi = min(lo, min(values)), max(hi, max(values))
        fig.add_trace(go.Box(x=values, name=str(names.get(key, key)), boxpoints="outliers", orientation="h",
                             marker_color="#ea580c", line_color="#9a3412"))
    if hi > 0:
        vals, text = _log_ticks(lo, hi, log=False)
        fig.update_xaxes(tickvals=vals, ticktext=text)
    fig.update_layout(
        title="Step durations of the top bottlenecks (log scale)", xaxis_title="duration", showlegend=False,
        xaxis_type="log", template="plotly_white", height=max(320, 36 * len(summary["top_keys"]) + 120),
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return fig


def _detail_sections(ts: "TraceSet", ids: list[int], plotlyjs: str) -> list[dict]:
    """A trace-report section per linked trace (read again from its file), anchored ``t{trace_id}``."""
    from .trace import summarize

    sections = []
    for k in ids:
        try:
            trace = ts.trace(k)
        except (OSError, ValueError):  # the file went away or the trace was not read from a file
            continue
        sections.append(summarize(trace, index=k, plotlyjs=False, max_rows=_DETAIL_ROWS, cdn_note=plotlyjs == "cdn"))
    return sections


def batch_report_html(
    ts: "TraceSet", *, title: str | None = None, by: str = "name", top: int = TOP, plotlyjs: str = "inline",
    details: bool = True,
) -> str:
    """The full batch page (plotly.js inlined once unless ``plotlyjs="cdn"``).

    ``details``: add a section (headline, DAG, timeline, tables) for every trace
    a row links to (the slowest, and an example of each failure hotspot).
    """
    from markupsafe import Markup

    from .. import __version__
    from .tables import css, environment

    summary = summarize_set(ts, by=by, top=top)
    sections = _detail_sections(ts, summary["detail_ids"], plotlyjs) if details else []
    drawn = {f"#{s['anchor']}" for s in sections}
    for cell in [r["trace"] for r in summary["slowest"]] + [r["example"] for r in summary["failures"]]:
        if cell["href"] not in drawn:  # no section to go to: plain text, not a dead link
            cell["href"] = None
    return environment().get_template("batch_report.html.j2").render(
        title=title or f"gctrace batch report: {len(ts)} traces",
        version=__version__,
        generated_at=iso_utc(timespec="seconds"),
        css=Markup(css()),
        figures=_figures(ts, summary, plotlyjs),
        cdn=plotlyjs == "cdn",
        traces=sections,
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
