"""A trace as a plotly gantt: one horizontal bar per step on a millisecond axis.

One :class:`plotly.graph_objects.Bar` holds every step (``base`` = start,
``x`` = duration, ``orientation="h"``), so 10,000 steps are one trace, not
10,000. Rows are in tree order (depth-first, siblings by start), colours say
the status, critical-path bars get a dark outline, and a line trace drawn over
the bars shows the critical segments (``trace.segments``): which step held the
path when. All figures come from ``trace.steps`` / ``trace.segments``.

Text from the trace is escaped for plotly (which reads ``<br>``-style tags and
``&lt;``-style entities in labels): only ``&``, ``<`` and ``>`` need it.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Final

import plotly.graph_objects as go

from . import _tree

if TYPE_CHECKING:  # pragma: no cover
    from ..core.model import Trace

__all__ = ["gantt", "STATUS_COLORS", "CRITICAL_COLOR"]

#: Bar colour per status class (see :func:`status_class`).
STATUS_COLORS: Final = {"ok": "#4c9f70", "failed": "#d62728", "other": "#9aa5b1"}
# Bars carry a numeric code per status on a three-stop colour scale: plotly validates
# 10,000 colour *strings* one by one (~0.3 s), numbers in one pass.
_CODES: Final = {cls: k for k, cls in enumerate(STATUS_COLORS)}
_COLORSCALE: Final = [[k / (len(STATUS_COLORS) - 1), color] for k, color in enumerate(STATUS_COLORS.values())]
CRITICAL_COLOR: Final = "#e8590c"
CRITICAL_OUTLINE: Final = "#1b1f24"
_OK_STATUSES: Final = frozenset({"ok", "success", "succeeded", "successful", "complete", "completed", "done"})
_TICK_ROWS: Final = 120  # above this many rows the y axis has no labels (hover still names each bar)
_ERROR_CHARS: Final = 300


def status_class(status: str | None, failed: bool) -> str:
    """Return ``"failed"``, ``"ok"`` or ``"other"`` for a step's status.

    >>> status_class(" Failed ", True), status_class("SUCCESS", False), status_class(None, False)
    ('failed', 'ok', 'other')
    """
    if failed:
        return "failed"
    if isinstance(status, str) and status.strip().lower() in _OK_STATUSES:
        return "ok"
    return "other"


def _plain(text: object) -> str:
    """Return trace text for plotly: escaped, one line, controls replaced."""
    return escape(_tree.clean_text(text).replace("\r", " ").replace("\n", " "), quote=False)


def gantt(trace: "Trace", *, title: str | None = None, height: int | None = None) -> go.Figure:
    """Return the trace's steps as a plotly gantt (a horizontal bar chart in ms).

    Args:
        trace: the trace to draw.
        title: figure title (default: the trace name and its total).
        height: figure height in pixels (default: grows with the rows, capped).

    Returns:
        A :class:`plotly.graph_objects.Figure` (it displays itself in Jupyter).
        ``data[0]`` is the bar trace (one bar per kept step, in row order;
        untimed steps keep their row with no bar), ``data[1]`` the critical
        segments; the rest are legend keys with no data.

    Example:
        >>> from gctrace_nb import load_trace
        >>> t = load_trace([
        ...     {"nodeId": "root", "startTime": 0, "endTime": 10, "status": "ok"},
        ...     {"nodeId": "b", "parentId": "root", "startTime": 4, "endTime": 9, "status": "failed"},
        ...     {"nodeId": "a", "parentId": "root", "startTime": 1, "endTime": 3, "status": "ok"},
        ... ])
        >>> fig = gantt(t)
        >>> fig.data[0].customdata
        ('root', 'a', 'b')
        >>> fig.data[0].base, fig.data[0].x
        ((0.0, 1.0, 4.0), (10.0, 2.0, 5.0))
    """
    a = trace.analysis
    frame = trace.steps
    names = frame["name"].to_list()
    durations = frame["duration_ms"].to_list()
    self_ms = frame["self_ms"].to_list()
    crit_ms = frame["critical_ms"].to_list()
    statuses = frame["status"].to_list()
    failed = frame["failed"].to_list()
    errors = frame["error_message"].to_list()
    order = _tree.tree_order(a)
    starts = [s for s, ok in zip(a.start_us, a.valid) if ok]
    origin = min(starts) if starts else 0  # the spec's "earliest valid start": total_ms is measured from it
    origin_iso = _tree.iso_us(origin)
    row_of = [0] * len(order)

    ids: list[str] = []
    base: list[float | None] = []
    length: list[float | None] = []
    codes: list[int] = []
    line_w: list[float] = []
    hover: list[str] = []
    ticks: list[str] = []
    classes_seen: set[str] = set()
    for row, i in enumerate(order):
        row_of[i] = row
        node_id = a.node_ids[i]
        ids.append(node_id)
        label = names[i] or node_id
        s = a.start_us[i]
        if a.valid[i]:
            base.append((s - origin) / 1000.0)  # type: ignore[operator]
            length.append(durations[i])
            when = f"+{_tree.fmt_ms((s - origin) / 1000.0)}"  # type: ignore[operator]
        else:
            base.append(None)
            length.append(None)
            when = "n/a"
        cls = status_class(statuses[i], failed[i])
        classes_seen.add(cls)
        codes.append(_CODES[cls])
        on_path = a.critical_us[i] > 0
        line_w.append(2.0 if on_path else 0.0)
        parts = [f"<b>{_plain(_tree.shorten(label, 80))}</b>"]
        if names[i]:
            parts.append(f"id: {_plain(_tree.shorten(node_id, 80))}")
        parts += [
            f"start: {when}",
            f"duration: {_tree.fmt_ms(durations[i]) if a.valid[i] else 'untimed'}",
            f"self: {_tree.fmt_ms(self_ms[i])}",
            f"critical: {_tree.fmt_ms(a.critical_ms.get(node_id, crit_ms[i]))}"
            + (" (bottleneck)" if a.bottleneck and a.bottleneck.node_id == node_id else ""),
            f"status: {_plain(statuses[i]) if statuses[i] is not None else '-'}",
        ]
        if errors[i]:
            parts.append(f"error: {_plain(_tree.shorten(errors[i], _ERROR_CHARS))}")
        if a.flags[i]:
            parts.append("anomalies: " + ", ".join(sorted(a.flags[i])))
        hover.append("<br>".join(parts))
        ticks.append("\u2007" * min(a.depth[i], 12) + _plain(_tree.shorten(label, 32)))

    rows = list(range(len(order)))
    # Plain dicts, not go.Bar(...): the Figure validates them once, where a go.Bar
    # would be validated, then deep-copied and validated again (6x slower at 10,000 rows).
    bars = {
        "type": "bar",
        "name": "steps",
        "orientation": "h",
        "y": rows,
        "x": length,
        "base": base,
        "customdata": ids,
        "hovertext": hover,
        "hovertemplate": "%{hovertext}<extra></extra>",
        "marker": {
            "color": codes,
            "colorscale": _COLORSCALE,
            "cmin": 0,
            "cmax": len(STATUS_COLORS) - 1,
            "showscale": False,
            "line": {"color": CRITICAL_OUTLINE, "width": line_w},
        },
        "width": 0.8,
        "showlegend": False,
    }

    # the critical segments, as one line trace: x pairs separated by None
    seg_x: list[float | None] = []
    seg_y: list[int | None] = []
    seg_text: list[str | None] = []
    segs = trace.segments
    index_of = a.index_of
    for node_id, start, end in zip(segs["node_id"].to_list(), _epoch_us(segs, "start"), _epoch_us(segs, "end")):
        row = row_of[index_of[node_id]]
        text = f"critical segment of {_plain(_tree.shorten(node_id, 80))}<br>{_tree.fmt_ms((end - start) / 1000.0)}"
        seg_x += [(start - origin) / 1000.0, (end - origin) / 1000.0, None]
        seg_y += [row, row, None]
        seg_text += [text, text, None]
    critical = {
        "type": "scatter",
        "name": "critical path",
        "x": seg_x,
        "y": seg_y,
        "mode": "lines",
        "line": {"color": CRITICAL_COLOR, "width": 4},
        "hovertext": seg_text,
        "hovertemplate": "%{hovertext}<extra></extra>",
        "connectgaps": False,
    }
    legend = [  # legend keys only: the bar trace has no legend entry per colour
        {
            "type": "scatter",
            "name": cls,
            "x": [None],
            "y": [None],
            "mode": "markers",
            "marker": {"symbol": "square", "size": 12, "color": color},
            "hoverinfo": "skip",
        }
        for cls, color in STATUS_COLORS.items()
        if cls in classes_seen
    ]
    fig = go.Figure(data=[bars, critical, *legend])
    label = title if title is not None else f"{trace.name or trace.metadata.flow_id or 'trace'} · {_tree.fmt_ms(a.total_ms)}"
    n = len(rows)
    yaxis: dict = {"autorange": "reversed", "title": None, "zeroline": False}
    if n <= _TICK_ROWS:
        yaxis.update(tickmode="array", tickvals=rows, ticktext=ticks, automargin=True)
    else:
        yaxis.update(showticklabels=False, showgrid=False)
    fig.update_layout(
        title={"text": _plain(label)},
        template="plotly_white",
        barmode="overlay",
        height=height if height is not None else max(260, min(160 + 22 * n, 1600)),
        hovermode="closest",
        xaxis={"title": {"text": f"ms since {origin_iso}" if starts else "ms"}, "rangemode": "tozero", "zeroline": False},
        yaxis=yaxis,
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"},
        margin={"l": 10, "r": 10, "t": 60, "b": 40},
    )
    return fig


def _epoch_us(segments: object, column: str) -> list[int]:
    """Return a ``trace.segments`` datetime column as epoch microseconds."""
    return segments[column].dt.epoch("us").to_list()  # type: ignore[index]
