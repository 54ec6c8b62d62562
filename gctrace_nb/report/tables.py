"""HTML tables shared by the trace report, the batch page, the launcher and the notebook displays.

One jinja2 macro (``templates/_table.html.j2``) draws every table; this module
prepares its rows from a trace, so a step looks the same wherever it is listed:
its name with the id beside it (:func:`~gctrace_nb.summary.step_label`),
durations formatted like the analysis rounds them, the status as a chip,
failed rows marked red with their error, critical rows marked orange and the
bottleneck's row bold. Templates autoescape everything.

- :func:`steps_table` / :func:`steps_html`: the steps of one trace in tree order.
- :func:`table_html`: any :class:`Table` as a notebook fragment with its stylesheet.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Sequence

from .._format import fmt_ms
from ..core import summary
from ..render import _tree

if TYPE_CHECKING:  # pragma: no cover
    import jinja2

    from ..core.model import Trace

__all__ = ["Column", "Table", "environment", "css", "step_cell", "status_cell", "step_rows", "steps_table", "steps_html",
           "table_html", "STEP_COLUMNS"]

_ERROR_CHARS: Final = 160
_MAX_INDENT: Final = 12


@dataclass(frozen=True)
class Column:
    """A column: the row key it shows, its heading, and its kind (text, num, id, step, status, link)."""

    key: str
    title: str
    kind: str = "text"
    help: str = ""


@dataclass(frozen=True)
class Table:
    """Columns, rows (dicts; ``_class`` is the row's CSS class), and what the template needs around them."""

    columns: Sequence[Column]
    rows: list[dict[str, Any]]
    cls: str = ""
    id: str | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


#: The columns of the steps table, in the order every view shows them.
STEP_COLUMNS: Final = (
    Column("step", "Step", "step"),
    Column("status", "Status", "status"),
    Column("start", "Start", "num", "time since the trace's first valid start"),
    Column("duration", "Duration", "num"),
    Column("self", "Self", "num", "time not covered by the step's children"),
    Column("critical", "Critical", "num", "time this step holds on the critical path"),
    Column("share", "Share", "num", "critical time over the trace's end-to-end time"),
    Column("anomalies", "Anomalies"),
)


@functools.lru_cache(maxsize=1)
def environment() -> "jinja2.Environment":
    """Return the jinja2 environment of every gctrace page (autoescape on, strict undefined)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("gctrace_nb.report", "templates"),
        autoescape=True,  # every template, whatever its extension
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["ms"] = fmt_ms
    env.filters["share"] = summary.fmt_share
    return env


@functools.lru_cache(maxsize=1)
def css() -> str:
    """Return the stylesheet of every gctrace page (scoped to ``.gctrace-report``)."""
    from importlib.resources import files

    return files("gctrace_nb.report").joinpath("templates", "report.css").read_text(encoding="utf-8")


def step_cell(
    name: str | None, node_id: str, *, depth: int = 0, error: str | None = None, href: str | None = None
) -> dict[str, Any]:
    """Return a "step" cell: the name (or id), the id beside it when it differs, an indent, an error line."""
    shown = name if name else node_id
    err = None
    if error:
        err = " ".join(_tree.clean_text(error).split())
        err = _tree.shorten(err, _ERROR_CHARS)
    return {
        "name": _tree.clean_text(shown),
        "id": _tree.clean_text(node_id) if name and name != node_id else "",
        "indent": "\u2007\u2007" * min(depth, _MAX_INDENT),
        "error": err,
        "href": href,
    }


def status_cell(status: Any, failed: bool) -> dict[str, str] | None:
    """Return a "status" chip: its text, and ``ok``/``failed``/``other`` for its colour."""
    if status is None and not failed:
        return None
    text = "failed" if status is None else _tree.clean_text(status)
    return {"text": _tree.shorten(text, 24), "cls": _tree.status_class(status, failed), "title": text}


def step_rows(trace: "Trace") -> list[dict[str, Any]]:
    """Return one row per kept step of ``trace``, in tree order (depth-first, siblings by start).

    Each row holds the cells of :data:`STEP_COLUMNS`, ``_class`` (``failed``,
    ``critical``, ``bottleneck``) and ``node_id``.
    """
    a = trace.analysis
    frame = trace.steps
    names = frame["name"].to_list()
    durations = frame["duration_ms"].to_list()
    statuses = frame["status"].to_list()
    failed = frame["failed"].to_list()
    errors = frame["error_message"].to_list()
    origin = a.earliest_start_us or 0
    total = a.total_ms
    bottleneck = a.bottleneck.node_id if a.bottleneck else None
    rows = []
    for i in _tree.tree_order(a):
        node_id = a.node_ids[i]
        crit = a.critical_us[i]
        marks = (("failed", failed[i]), ("critical", crit > 0), ("bottleneck", node_id == bottleneck))
        rows.append({
            "_class": " ".join(c for c, on in marks if on),
            "node_id": node_id,
            "step": step_cell(names[i], node_id, depth=a.depth[i], error=errors[i] if failed[i] else None),
            "status": status_cell(statuses[i], failed[i]),
            "start": f"+{fmt_ms((a.start_us[i] - origin) / 1000.0)}" if a.valid[i] else "untimed",  # type: ignore[operator]
            "duration": fmt_ms(durations[i]) if a.valid[i] else "",
            "self": fmt_ms(a.self_us[i] / 1000.0),
            "critical": fmt_ms(crit / 1000.0) if crit else "",
            "share": summary.fmt_share(crit / 1000.0 / total) if crit and total > 0 else "",
            "anomalies": ", ".join(sorted(a.flags[i])),
        })
    return rows


def steps_table(
    trace: "Trace", *, max_rows: int | None = None, cls: str = "steps", id: str | None = None,
    rows: list[dict[str, Any]] | None = None,
) -> Table:
    """Return the steps table of ``trace`` (tree order), cut to ``max_rows`` with a note saying so."""
    rows = step_rows(trace) if rows is None else rows
    shown = rows if max_rows is None else rows[:max_rows]
    note = ""
    if len(shown) < len(rows):
        note = f"The first {len(shown):,} of {len(rows):,} steps; trace.steps or gctrace analyze have them all."
    return Table(STEP_COLUMNS, shown, cls=cls, id=id, note=note)


def table_html(table: Table, *, heading: str | None = None) -> str:
    """Return ``table`` as an HTML fragment carrying its (scoped) stylesheet, for a notebook."""
    from markupsafe import Markup

    return environment().get_template("table_snippet.html.j2").render(t=table, css=Markup(css()), heading=heading)


def steps_html(trace: "Trace", *, max_rows: int = 200) -> str:
    """Return the steps table of ``trace`` as a notebook fragment (the launcher's Steps tab)."""
    n = len(trace.analysis.node_ids)
    counted = summary.steps_count_text(trace.analysis)
    heading = f"Steps: {counted}" + (f"; the first {max_rows:,} in tree order" if n > max_rows else "")
    return table_html(steps_table(trace, max_rows=max_rows), heading=heading)
