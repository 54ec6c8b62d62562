"""A self-contained HTML report of one or more traces.

The pipeline is skrub's (``skrub/_reporting``): :func:`summarize` builds a
plain dict per trace from ``trace.analysis``, ``trace.steps`` and
``trace.segments`` (so the page agrees with ``gctrace analyze``), then jinja2
templates in ``gctrace_nb/templates/`` render it with autoescaping on. Only
two values are inserted unescaped, both produced by a library that escapes
trace text itself: the DAG's SVG (graphviz, see :mod:`gctrace_nb.render.graph`)
and the gantt's HTML (plotly, which writes its JSON with ``<`` as ``\\u003c``).

- :func:`report_html`: a full page (plotly.js inlined once, so it opens offline).
- :func:`report_snippet`: a fragment for notebooks (plotly.js from the CDN).
- :func:`export_report`: write the page to a file.

A page holds one section per trace; several traces get an overview table.
Without the graphviz ``dot`` binary the DAG is replaced by a note saying how
to install it, and everything else is still rendered.
"""

from __future__ import annotations

import functools
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Iterable, Literal, Union

from markupsafe import Markup

from .._time import iso_utc
from ..errors import RendererUnavailable

if TYPE_CHECKING:  # pragma: no cover
    import jinja2

    from ..core.model import Trace

__all__ = ["export_report", "report_html", "report_snippet", "summarize", "PlotlyJs"]

PlotlyJs = Literal["inline", "cdn"]
Traces = Union["Trace", Iterable["Trace"]]

#: The steps table lists at most this many steps (in tree order); the rest are counted.
MAX_TABLE_ROWS: Final = 2000
_PLOTLYJS_MODES: Final = ("inline", "cdn")


@functools.lru_cache(maxsize=1)
def _environment() -> "jinja2.Environment":
    import jinja2

    from ..render._tree import fmt_ms

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("gctrace_nb.report", "templates"),
        autoescape=True,  # every template, whatever its extension
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["ms"] = fmt_ms
    return env


@functools.lru_cache(maxsize=1)
def _css() -> str:
    from importlib.resources import files

    return files("gctrace_nb.report").joinpath("templates", "report.css").read_text(encoding="utf-8")


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
    max_nodes: int = 300,
    max_rows: int = MAX_TABLE_ROWS,
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

    The DAG SVG and gantt HTML are :class:`markupsafe.Markup` (inserted as is);
    every other string is plain and gets escaped by the templates.
    """
    import graphviz

    from ..render import _tree
    from ..render.graph import dag_svg
    from ..render.timeline import gantt

    a = trace.analysis
    m = trace.metadata
    anchor = f"t{index}"
    frame = trace.steps
    rows = frame.select(
        "node_id", "name", "parent_id", "status", "start", "duration_ms", "self_ms", "critical_ms",
        "on_critical_path", "failed", "error_message", "anomalies",
    ).to_dicts()
    for row, depth in zip(rows, a.depth):
        row["start"] = _iso(row["start"])
        row["indent"] = "\u2007" * min(depth, 12)
    order = _tree.tree_order(a)

    dag_markup: Markup | None = None
    try:
        dag_markup = Markup(_svg_fragment(dag_svg(trace, full=full_dag, max_nodes=max_nodes, id_prefix=f"{anchor}-")))
        folded = not full_dag and len(a.node_ids) > max_nodes
        dag_note = (
            f"{len(a.node_ids)} steps: the critical path, failures and their ancestors are drawn; "
            "the rest are folded into “+N steps” boxes." if folded else ""
        )
    except RendererUnavailable as exc:
        folded, dag_note = False, str(exc)
    except graphviz.CalledProcessError as exc:  # dot ran but failed: keep the rest of the page
        folded, dag_note = False, f"dot failed (exit status {exc.returncode}): {_first_line(exc.stderr)}"

    figure = gantt(trace)
    gantt_html = Markup(
        figure.to_html(
            full_html=False,
            include_plotlyjs=plotlyjs if plotlyjs else False,
            div_id=f"{anchor}-gantt",
            config={"responsive": True, "displaylogo": False},
        )
    )
    return {
        "anchor": anchor,
        "title": trace.name or m.flow_id or "trace",
        "file": trace.name,
        "source": m.source,
        "flow_id": m.flow_id,
        "job_id": m.job_id,
        "status": "failed" if a.failed_nodes else "ok",
        "steps_total": a.steps_total,
        "valid_steps": a.valid_steps,
        "kept_steps": len(a.node_ids),
        "accuracy_rate": a.accuracy_rate,
        "total_ms": a.total_ms,
        "retrieval_latency_ms": m.retrieval_latency_ms,
        "bottleneck": a.bottleneck,
        "critical_path": [(n, a.critical_ms[n]) for n in a.critical_path],
        "failed_nodes": list(a.failed_nodes),
        "anomalies": list(a.anomalies),
        "failed": [rows[i] for i in order if rows[i]["failed"]],
        "steps": [rows[i] for i in order[:max_rows]],
        "steps_cut": len(order) > max_rows,
        "dag_svg": dag_markup,
        "dag_folded": folded,
        "dag_note": dag_note,
        "gantt_html": gantt_html,
    }


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
    return [summarize(t, index=k, plotlyjs=plotlyjs if k == 0 else False, **options) for k, t in enumerate(items)]


def report_html(
    traces: Traces,
    *,
    plotlyjs: PlotlyJs = "inline",
    title: str | None = None,
    full_dag: bool = False,
    max_nodes: int = 300,
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
    max_nodes: int = 300,
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
    max_nodes: int = 300,
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
