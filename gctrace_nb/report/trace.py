"""A self-contained HTML report of one or more traces.

The pipeline is skrub's (``skrub/_reporting``): :func:`summarize` builds a
plain dict per trace from ``trace.analysis``, ``trace.steps`` and
``trace.segments`` (so the page agrees with ``gctrace analyze``), then jinja2
templates in ``gctrace_nb/report/templates/`` render it with autoescaping on.
Three values are inserted unescaped, each built by code that escapes trace
text itself: the headline (:func:`gctrace_nb.core.summary.headline_html`), the
DAG's SVG (graphviz, see :mod:`gctrace_nb.render.graph`) and the gantt's HTML
(plotly, which writes its JSON with ``<`` as ``\\u003c``).

Every section leads with the answer: the headline (bottleneck by name, its
critical time and share of the total, then failures and anomalies), then the
DAG and the timeline, then the tables (:mod:`gctrace_nb.report.tables`).

- :func:`report_html`: a full page (plotly.js inlined once, so it opens offline).
- :func:`report_snippet`: a fragment for notebooks (plotly.js from the CDN).
- :func:`export_report`: write the page to a file.

A page holds one section per trace; several traces get an overview table.
Without the graphviz ``dot`` binary the DAG is replaced by a note saying how
to install it, and everything else is still rendered.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Iterable, Literal, Union

from markupsafe import Markup

from .._time import iso_utc
from ..errors import RendererUnavailable
from ..render._tree import MAX_DAG_NODES

if TYPE_CHECKING:  # pragma: no cover
    import jinja2

    from ..core.model import Trace

__all__ = ["export_report", "report_html", "report_snippet", "summarize", "PlotlyJs", "MAX_DAG_NODES"]

PlotlyJs = Literal["inline", "cdn"]
Traces = Union["Trace", Iterable["Trace"]]

#: The steps table lists at most this many steps (in tree order); the rest are counted.
MAX_TABLE_ROWS: Final = 2000
_PLOTLYJS_MODES: Final = ("inline", "cdn")


def _environment() -> "jinja2.Environment":
    from .tables import environment

    return environment()


def _css() -> str:
    from .tables import css

    return css()


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return iso_utc(value)


def _first_line(text: bytes | str | None) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    lines = (text or "").strip().splitlines()
    return lines[0] if lines else "no message"


def _svg_fragment(svg: str) -> str:
    """Return dot's SVG document as an element for inline HTML (no XML declaration, doctype, comments)."""
    start = svg.find("<svg")
    body = svg[start:] if start >= 0 else svg
    lines = [line for line in body.splitlines() if not (line.startswith("<!--") and line.endswith("-->"))]
    return "\n".join(lines)


def summarize(
    trace: "Trace",
    *,
    index: int = 0,
    plotlyjs: PlotlyJs | Literal[False] = False,
    full_dag: bool = False,
    max_nodes: int = MAX_DAG_NODES,
    max_rows: int = MAX_TABLE_ROWS,
    cdn_note: bool = False,
) -> dict[str, Any]:
    """Return everything one report section shows, as a plain dict.

    Args:
        trace: the trace.
        index: its position on the page (element ids are prefixed ``t{index}-``).
        plotlyjs: how the gantt loads plotly.js: ``"inline"``, ``"cdn"``, or
            ``False`` when an earlier figure on the page already loaded it.
        full_dag: draw every step in the DAG (see :func:`~gctrace_nb.render.graph.dag`).
        max_nodes: fold the DAG above this many steps.
        max_rows: list at most this many steps in the steps table.
        cdn_note: plotly.js comes from the network: say so where the timeline
            goes (plotly's drawing hides the note).

    The headline, the DAG SVG and the gantt HTML are :class:`markupsafe.Markup`
    (inserted as is); every other string is plain and gets escaped by the templates.
    """
    from ..core.summary import headline_html, steps_count_text
    from ..render._tree import iso_us
    from . import tables

    a = trace.analysis
    m = trace.metadata
    anchor = f"t{index}"
    rows = tables.step_rows(trace)
    dag = _dag_part(trace, anchor, full_dag=full_dag, max_nodes=max_nodes)
    crit_rows = [r for r in rows if r["critical"]]
    path_table = tables.Table(
        [tables.Column("step", "Step", "step"), tables.Column("status", "Status", "status"),
         tables.Column("start", "Start", "num"), tables.Column("critical", "Critical", "num"),
         tables.Column("share", "Share", "num")],
        [{**r, "step": {**r["step"], "indent": ""}} for r in _in_path_order(crit_rows, a)],
        cls="critical-path",
    )
    failed_table = tables.Table(
        [tables.Column("step", "Step", "step"), tables.Column("status", "Status", "status"),
         tables.Column("start", "Start", "num"), tables.Column("duration", "Duration", "num")],
        [{**r, "step": {**r["step"], "indent": ""}} for r in rows if "failed" in r["_class"].split()],
        cls="failed-steps", id=f"{anchor}-failed",
    )
    return {
        "anchor": anchor,
        "title": trace.name or m.flow_id or "trace",
        "file": trace.name,
        "source": m.source,
        "flow_id": m.flow_id,
        "job_id": m.job_id,
        "status": "failed" if a.failed_nodes else "ok",
        "headline": Markup(headline_html(a, anchor=anchor)),
        "steps_count": steps_count_text(a),
        "steps_total": a.steps_total,
        "valid_steps": a.valid_steps,
        "kept_steps": len(a.node_ids),
        "accuracy_rate": a.accuracy_rate,
        "total_ms": a.total_ms,
        "retrieval_latency_ms": m.retrieval_latency_ms,
        "bottleneck": a.bottleneck,
        "bottleneck_label": _bottleneck_label(trace),
        "started": iso_us(a.earliest_start_us),
        "critical_path": path_table,
        "critical_count": len(a.critical_path),
        "failed_nodes": list(a.failed_nodes),
        "anomalies": list(a.anomalies),
        "anomaly_rows": _anomaly_rows(trace),
        "failed": failed_table,
        "steps": tables.steps_table(trace, max_rows=max_rows, rows=rows),
        **dag,
        "gantt_html": _gantt_part(trace, anchor, plotlyjs),
        "cdn_note": cdn_note,
    }


def _in_path_order(rows: list[dict], a: Any) -> list[dict]:
    """Return the critical rows in the order of ``a.critical_path`` (time order)."""
    position = {node_id: k for k, node_id in enumerate(a.critical_path)}
    return sorted(rows, key=lambda r: position.get(r["node_id"], len(position)))


def _bottleneck_label(trace: "Trace") -> str:
    from ..core.summary import step_label, step_names

    a = trace.analysis
    if a.bottleneck is None:
        return "none"
    node_id = a.bottleneck.node_id
    return step_label(step_names(a)[a.index_of[node_id]], node_id)


def _anomaly_rows(trace: "Trace") -> list[dict]:
    from ..core.summary import step_names
    from .tables import step_cell

    a = trace.analysis
    names = step_names(a)
    out = []
    for node_id, kind in a.anomalies:
        i = a.index_of.get(node_id) if node_id else None
        name = names[i] if i is not None else None
        kept = {"missing_id": "dropped", "duplicate": "first kept, later copies dropped"}.get(kind, "kept")
        out.append({"step": step_cell(name, node_id or "(no id)"), "kind": kind, "kept": kept})
    return out


def _dag_part(trace: "Trace", anchor: str, *, full_dag: bool, max_nodes: int) -> dict[str, Any]:
    """The DAG's SVG (or why it is missing), whether it was folded, and its legend's colours."""
    import graphviz

    from ..render import graph

    a = trace.analysis
    folded = not full_dag and len(a.node_ids) > max_nodes
    svg: Markup | None = None
    note = ""
    try:
        svg = Markup(_svg_fragment(graph.dag_svg(trace, full=full_dag, max_nodes=max_nodes, id_prefix=f"{anchor}-")))
        if folded:
            note = (f"{len(a.node_ids):,} steps: the bottleneck, the longest critical steps, the failures and their "
                    "ancestors are drawn; the rest are folded into “+N steps” boxes.")
    except RendererUnavailable as exc:
        folded, note = False, str(exc)
    except graphviz.CalledProcessError as exc:  # dot ran but failed: keep the rest of the page
        folded, note = False, f"dot failed (exit status {exc.returncode}): {_first_line(exc.stderr)}"
    return {
        "dag_svg": svg,
        "dag_folded": folded,
        "dag_note": note,
        # a graph shrunk below ~60% to fit the page has unreadable text: show it at its size, bottleneck centred
        "dag_fit": svg is None or _svg_width_px(svg) <= _FIT_WIDTH_PX,
        "legend": graph.legend(),
    }


_SVG_WIDTH = re.compile(r'<svg[^>]*?\swidth="([0-9.]+)pt"')
_FIT_WIDTH_PX: Final = 2000


def _svg_width_px(svg: str) -> float:
    """Return the width dot gave the SVG, in CSS pixels (dot writes points)."""
    found = _SVG_WIDTH.search(svg)
    return float(found.group(1)) * 4 / 3 if found else 0.0


def _gantt_part(trace: "Trace", anchor: str, plotlyjs: PlotlyJs | Literal[False]) -> Markup:
    from ..render.timeline import gantt

    figure = gantt(trace)
    return Markup(
        figure.to_html(
            full_html=False,
            include_plotlyjs=plotlyjs if plotlyjs else False,
            div_id=f"{anchor}-gantt",
            config={"responsive": True, "displaylogo": False},
        )
    )


def _as_list(traces: Traces) -> list["Trace"]:
    from ..core.model import Trace

    items = [traces] if isinstance(traces, Trace) else list(traces)
    for item in items:
        if not isinstance(item, Trace):
            raise TypeError(f"expected Trace objects, got {type(item).__name__}")
    return items


def _check_mode(plotlyjs: str) -> None:
    if plotlyjs not in _PLOTLYJS_MODES:
        raise ValueError(f"plotlyjs must be one of {_PLOTLYJS_MODES}, got {plotlyjs!r}")


def _sections(items: list["Trace"], plotlyjs: PlotlyJs, **options: Any) -> list[dict]:
    # plotly.js goes in with the first figure only; later figures reuse window.Plotly
    return [
        summarize(t, index=k, plotlyjs=plotlyjs if k == 0 else False, cdn_note=plotlyjs == "cdn", **options)
        for k, t in enumerate(items)
    ]


def report_html(
    traces: Traces,
    *,
    plotlyjs: PlotlyJs = "inline",
    title: str | None = None,
    full_dag: bool = False,
    max_nodes: int = MAX_DAG_NODES,
    max_rows: int = MAX_TABLE_ROWS,
) -> str:
    """Return a full HTML page reporting one trace or several (a section each).

    Args:
        traces: a :class:`~gctrace_nb.core.model.Trace` or an iterable of them.
        plotlyjs: ``"inline"`` (default; ~4.8 MB, opens offline) or ``"cdn"``
            (small, needs the network to draw the timelines).
        title: page title (default: the trace's name, or "gctrace report: N traces").
        full_dag, max_nodes, max_rows: see :func:`summarize`.

    Raises:
        ValueError: an unknown ``plotlyjs`` mode.
        TypeError: something other than traces was given.
    """
    _check_mode(plotlyjs)
    items = _as_list(traces)
    sections = _sections(items, plotlyjs, full_dag=full_dag, max_nodes=max_nodes, max_rows=max_rows)
    if title is None:
        title = f"gctrace report: {sections[0]['title']}" if len(sections) == 1 else f"gctrace report: {len(sections)} traces"
    from .. import __version__

    return _environment().get_template("report.html.j2").render(
        title=title,
        traces=sections,
        css=Markup(_css()),
        version=__version__,
        generated_at=_iso(datetime.now(timezone.utc)),
    )


def report_snippet(
    traces: Traces,
    *,
    plotlyjs: PlotlyJs = "cdn",
    full_dag: bool = False,
    max_nodes: int = MAX_DAG_NODES,
    max_rows: int = MAX_TABLE_ROWS,
) -> str:
    """Return the report as an HTML fragment for a notebook cell (no ``<html>``, scoped CSS).

    plotly.js comes from the CDN by default: a notebook output with plotly.js
    inlined weighs ~4.8 MB per display.
    """
    _check_mode(plotlyjs)
    items = _as_list(traces)
    sections = _sections(items, plotlyjs, full_dag=full_dag, max_nodes=max_nodes, max_rows=max_rows)
    return _environment().get_template("report_snippet.html.j2").render(traces=sections, css=Markup(_css()))


def export_report(
    traces: Traces,
    path: str | os.PathLike,
    *,
    plotlyjs: PlotlyJs = "inline",
    title: str | None = None,
    full_dag: bool = False,
    max_nodes: int = MAX_DAG_NODES,
    max_rows: int = MAX_TABLE_ROWS,
) -> Path:
    """Write :func:`report_html` to ``path`` (atomically) and return the path.

    Example:
        >>> import tempfile, gctrace_nb
        >>> t = gctrace_nb.load_trace([{"nodeId": "a", "startTime": 0, "endTime": 5}], name="demo")
        >>> with tempfile.TemporaryDirectory() as d:
        ...     out = export_report(t, Path(d) / "r.html", plotlyjs="cdn")
        ...     print(out.name, "<svg" in out.read_text(encoding="utf-8"))
        r.html True
    """
    html = report_html(
        traces, plotlyjs=plotlyjs, title=title, full_dag=full_dag, max_nodes=max_nodes, max_rows=max_rows
    )
    target = Path(path)
    if target.parent != Path(""):
        target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(html, encoding="utf-8")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
