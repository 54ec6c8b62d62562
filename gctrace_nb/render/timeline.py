"""A trace as a plotly gantt: one horizontal bar per step on a time axis from the trace's start.

One :class:`plotly.graph_objects.Bar` holds every step (``base`` = start,
``x`` = duration, ``orientation="h"``), so 10,000 steps are one trace, not
10,000. Rows are in tree order (depth-first, siblings by start) and colours say
the status. Only the critical *segments* (``trace.segments``: which step held
the path when) are highlighted, as an orange stripe with a dark edge drawn
over the bars, visible on every status colour; the bottleneck is named on the
chart beside its bar. The x axis counts from the trace's start (ms, or s for
traces of 10 s or more); the title says when that was. All figures come from
``trace.steps`` / ``trace.segments``.

Text from the trace is escaped for plotly (which reads ``<br>``-style tags and
``&lt;``-style entities in labels): only ``&``, ``<`` and ``>`` need it.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Final

import plotly.graph_objects as go

from . import _tree
from ._tree import status_class

if TYPE_CHECKING:  # pragma: no cover
    from ..core.model import Trace

__all__ = ["gantt", "STATUS_COLORS", "CRITICAL_COLOR"]

#: Bar colour per status class (see :func:`status_class`): light for the steps that ran well,
#: strong red for failures, so the critical path's orange stripes stand out on every one.
STATUS_COLORS: Final = {"ok": "#9fd3ae", "failed": "#e5484d", "other": "#c4cad1"}
# Bars carry a numeric code per status on a three-stop colour scale: plotly validates
# 10,000 colour *strings* one by one (~0.3 s), numbers in one pass.
_CODES: Final = {cls: k for k, cls in enumerate(STATUS_COLORS)}
_COLORSCALE: Final = [[k / (len(STATUS_COLORS) - 1), color] for k, color in enumerate(STATUS_COLORS.values())]
#: The critical segments: an orange stripe on a dark edge, drawn over the bars (visible on every status colour).
CRITICAL_COLOR: Final = "#ea580c"
CRITICAL_EDGE: Final = "#1b1f24"
BOTTLENECK_COLOR: Final = "#c2410c"
_TICK_ROWS: Final = 120  # above this many rows the y axis has no labels (hover still names each bar)
_ERROR_CHARS: Final = 300
_SECONDS_FROM_MS: Final = 10_000.0  # a trace this long or longer gets a seconds axis


def _plain(text: object) -> str:
    """Return trace text for plotly: escaped, one line, controls replaced."""
    return escape(_tree.clean_text(text).replace("\r", " ").replace("\n", " "), quote=False)


def gantt(trace: "Trace", *, title: str | None = None, height: int | None = None) -> go.Figure:
    """Return the trace's steps as a plotly gantt: bars by status, the critical segments, the bottleneck named.

    Args:
        trace: the trace to draw.
        title: figure title (default: the trace name, its total and when it started).
        height: figure height in pixels (default: grows with the rows, capped).

    Returns:
        A :class:`plotly.graph_objects.Figure` (it displays itself in Jupyter).
        ``data[0]`` is the bar trace (one bar per kept step, in row order;
        untimed steps keep their row with no bar); ``data[1]`` and ``data[2]``
        draw the critical segments (a dark edge, then the orange stripe, the
        same x/y); the rest are legend keys with no data. The x axis is in
        milliseconds from the trace's first valid start, or in seconds when the
        trace lasts 10 s or more (``layout.meta["unit"]``); the title gives the
        absolute start. An annotation names the bottleneck on its bar.

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
        >>> fig.layout.annotations[0].text
        'bottleneck: <b>b</b> · 5 ms · 50%'
    """
    a = trace.analysis
    origin = a.earliest_start_us or 0  # the spec's "earliest valid start": total_ms is measured from it
    scale = 1000.0 if a.total_ms >= _SECONDS_FROM_MS else 1.0  # ms per axis unit
    order = _tree.tree_order(a)
    bars, ticks, row_of, classes_seen = _bars(trace, order, origin, scale)
    edge, stripe = _critical_segments(trace, row_of, origin, scale)
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
    fig = go.Figure(data=[bars, edge, stripe, *legend])
    name = trace.name or trace.metadata.flow_id or "trace"
    first = _tree.iso_us(a.earliest_start_us)
    started = f" · started {first.replace('T', ' ').replace('Z', ' UTC')}" if first else ""
    label = title if title is not None else f"{name} · {_tree.fmt_ms(a.total_ms)}{started}"
    n = len(order)
    rows = list(range(n))
    yaxis: dict = {"autorange": "reversed", "title": None, "zeroline": False}
    if n <= _TICK_ROWS:
        yaxis.update(tickmode="array", tickvals=rows, ticktext=ticks, automargin=True)
    else:
        yaxis.update(showticklabels=False, showgrid=False)
    unit = "s" if scale == 1000.0 else "ms"
    fig.update_layout(
        title={"text": _plain(label)},
        template="plotly_white",
        barmode="overlay",
        height=height if height is not None else max(260, min(160 + 22 * n, 1600)),
        hovermode="closest",
        xaxis={"title": {"text": "time since the start" if first else "ms"}, "rangemode": "tozero",
               "zeroline": False, "ticksuffix": f" {unit}", "tickformat": ",~g"},
        yaxis=yaxis,
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"},
        margin={"l": 10, "r": 10, "t": 60, "b": 40},
        meta={"unit": unit, "origin": _tree.iso_us(a.earliest_start_us)},
    )
    note = _bottleneck_note(trace, row_of, origin, scale)
    if note:
        fig.add_annotation(note)
    return fig


def _bars(trace: "Trace", order: list[int], origin: int, scale: float) -> tuple[dict, list[str], list[int], set[str]]:
    """Return the bar trace (one bar per step in row order), the row labels, each step's row, the status classes."""
    a = trace.analysis
    frame = trace.steps
    names = frame["name"].to_list()
    durations = frame["duration_ms"].to_list()
    self_ms = frame["self_ms"].to_list()
    crit_ms = frame["critical_ms"].to_list()
    statuses = frame["status"].to_list()
    failed = frame["failed"].to_list()
    errors = frame["error_message"].to_list()
    bottleneck = a.bottleneck.node_id if a.bottleneck else None
    row_of = [0] * len(order)
    ids: list[str] = []
    base: list[float | None] = []
    length: list[float | None] = []
    codes: list[int] = []
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
            base.append((s - origin) / 1000.0 / scale)  # type: ignore[operator]
            length.append(durations[i] / scale)
            when = f"+{_tree.fmt_ms((s - origin) / 1000.0)}"  # type: ignore[operator]
        else:
            base.append(None)
            length.append(None)
            when = "n/a"
        cls = status_class(statuses[i], failed[i])
        classes_seen.add(cls)
        codes.append(_CODES[cls])
        parts = [f"<b>{_plain(_tree.shorten(label, 80))}</b>"]
        if names[i]:
            parts.append(f"id: {_plain(_tree.shorten(node_id, 80))}")
        parts += [
            f"start: {when}",
            f"duration: {_tree.fmt_ms(durations[i]) if a.valid[i] else 'untimed'}",
            f"self: {_tree.fmt_ms(self_ms[i])}",
            f"critical: {_tree.fmt_ms(a.critical_ms.get(node_id, crit_ms[i]))}"
            + (" (bottleneck)" if node_id == bottleneck else ""),
            f"status: {_plain(statuses[i]) if statuses[i] is not None else '-'}",
        ]
        if errors[i]:
            parts.append(f"error: {_plain(_tree.shorten(errors[i], _ERROR_CHARS))}")
        if a.flags[i]:
            parts.append("anomalies: " + ", ".join(sorted(a.flags[i])))
        hover.append("<br>".join(parts))
        tick = ("✗ " if failed[i] else "") + _plain(_tree.shorten(label, 32))
        ticks.append("\u2007" * min(a.depth[i], 12) + (f"<b>{tick}</b>" if node_id == bottleneck else tick))
    # Plain dicts, not go.Bar(...): the Figure validates them once, where a go.Bar
    # would be validated, then deep-copied and validated again (6x slower at 10,000 rows).
    bars = {
        "type": "bar",
        "name": "steps",
        "orientation": "h",
        "y": list(range(len(order))),
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
            "line": {"width": 0},
        },
        "width": 0.8,
        "showlegend": False,
    }
    return bars, ticks, row_of, classes_seen


def _critical_segments(trace: "Trace", row_of: list[int], origin: int, scale: float) -> tuple[dict, dict]:
    """Return the critical segments as two line traces over the same points: a dark edge, then the orange stripe.

    Lines keep their pixel width at any zoom and any row height, so a segment
    is as visible on a 2,000-row chart as on a 20-row one.
    """
    a = trace.analysis
    seg_x: list[float | None] = []
    seg_y: list[int | None] = []
    seg_text: list[str | None] = []
    segs = trace.segments
    index_of = a.index_of
    for node_id, start, end in zip(segs["node_id"].to_list(), _epoch_us(segs, "start"), _epoch_us(segs, "end")):
        row = row_of[index_of[node_id]]
        text = f"critical segment of {_plain(_tree.shorten(node_id, 80))}<br>{_tree.fmt_ms((end - start) / 1000.0)}"
        seg_x += [(start - origin) / 1000.0 / scale, (end - origin) / 1000.0 / scale, None]
        seg_y += [row, row, None]
        seg_text += [text, text, None]
    common = {"type": "scatter", "x": seg_x, "y": seg_y, "mode": "lines", "connectgaps": False}
    edge = {**common, "name": "critical edge", "line": {"color": CRITICAL_EDGE, "width": 8}, "hoverinfo": "skip",
            "showlegend": False}
    stripe = {**common, "name": "critical path", "line": {"color": CRITICAL_COLOR, "width": 5},
              "hovertext": seg_text, "hovertemplate": "%{hovertext}<extra></extra>"}
    return edge, stripe


def _bottleneck_note(trace: "Trace", row_of: list[int], origin: int, scale: float) -> dict | None:
    """Return an annotation naming the bottleneck beside its longest critical segment (None without one)."""
    from ..core.summary import fmt_share, step_names

    a = trace.analysis
    if a.bottleneck is None:
        return None
    i = a.index_of[a.bottleneck.node_id]
    held = [(e - s, s, e) for k, s, e in a.segments if k == i]
    if not held:
        return None
    _, s, e = max(held)
    x_end = (e - origin) / 1000.0 / scale
    x_start = (s - origin) / 1000.0 / scale
    span = (a.total_ms / scale) or 1.0
    name = step_names(a)[i] or a.bottleneck.node_id
    share = fmt_share(a.bottleneck.critical_ms / a.total_ms) if a.total_ms > 0 else "n/a"
    right = x_end <= 0.6 * span  # room on the right of the bar: write there, else on its left
    return {
        "x": x_end if right else x_start,
        "y": row_of[i],
        "xref": "x",
        "yref": "y",
        "text": f"bottleneck: <b>{_plain(_tree.shorten(name, 48))}</b> · {_tree.fmt_ms(a.bottleneck.critical_ms)} · {share}",
        "showarrow": True,
        "arrowhead": 2,
        "arrowcolor": BOTTLENECK_COLOR,
        "ax": 40 if right else -40,
        "ay": 0,
        "xanchor": "left" if right else "right",
        "font": {"color": "#ffffff", "size": 12},
        "bgcolor": BOTTLENECK_COLOR,
        "bordercolor": BOTTLENECK_COLOR,
        "borderpad": 3,
        "name": "bottleneck",
    }


def _epoch_us(segments: object, column: str) -> list[int]:
    """Return a ``trace.segments`` datetime column as epoch microseconds."""
    return segments[column].dt.epoch("us").to_list()  # type: ignore[index]
