"""Tree order and text helpers shared by the renderers (pure, no graphviz/plotly)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._format import fmt_ms  # the one millisecond format, shared with the terminal and the report
from .._text import xml_text
from .._time import iso_utc

if TYPE_CHECKING:  # pragma: no cover
    from ..core.analysis import Analysis

__all__ = ["MAX_DAG_NODES", "children_of", "tree_order", "fmt_ms", "status_class", "iso_us", "clean_text", "shorten"]

#: Above this many steps a DAG is folded (the picture stays readable: ~150 boxes fill a page).
MAX_DAG_NODES = 150
_NEVER = float("inf")
_OK_STATUSES = frozenset({"ok", "success", "succeeded", "successful", "complete", "completed", "done"})


def children_of(a: "Analysis") -> tuple[list[list[int]], list[int]]:
    """Return (children per kept step, roots), each sorted by start (untimed last, then document order).

    Uses the cleaned parent tree (``Analysis.parent_index``), which the analysis
    has already freed of cycles, so it is a forest.
    """
    n = len(a.node_ids)
    children: list[list[int]] = [[] for _ in range(n)]
    roots: list[int] = []
    for i, p in enumerate(a.parent_index):
        (children[p] if p >= 0 else roots).append(i)
    starts = a.start_us

    def key(i: int) -> tuple:
        s = starts[i]
        return (_NEVER if s is None else s, i)

    roots.sort(key=key)
    for kids in children:
        if len(kids) > 1:
            kids.sort(key=key)
    return children, roots


def tree_order(a: "Analysis") -> list[int]:
    """Return kept indices depth-first (pre-order), siblings by start.

    >>> from gctrace_nb.core.analysis import analyze_steps
    >>> a = analyze_steps([
    ...     {"nodeId": "r", "startTime": 0, "endTime": 10},
    ...     {"nodeId": "late", "parentId": "r", "startTime": 5, "endTime": 9},
    ...     {"nodeId": "early", "parentId": "r", "startTime": 1, "endTime": 4},
    ...     {"nodeId": "kid", "parentId": "early", "startTime": 2, "endTime": 3},
    ... ])
    >>> [a.node_ids[i] for i in tree_order(a)]
    ['r', 'early', 'kid', 'late']
    """
    children, roots = children_of(a)
    order: list[int] = []
    stack = list(reversed(roots))
    while stack:  # iterative: a 100,000-step chain must not hit the recursion limit
        i = stack.pop()
        order.append(i)
        stack.extend(reversed(children[i]))
    return order


def status_class(status: object, failed: bool) -> str:
    """Return ``"failed"``, ``"ok"`` or ``"other"`` for a step's status (its colour in every picture).

    >>> status_class(" Failed ", True), status_class("SUCCESS", False), status_class(None, False)
    ('failed', 'ok', 'other')
    """
    if failed:
        return "failed"
    if isinstance(status, str) and status.strip().lower() in _OK_STATUSES:
        return "ok"
    return "other"


def iso_us(micros: int | None) -> str | None:
    """Format epoch microseconds as ISO-8601 UTC with milliseconds.

    >>> iso_us(1_700_000_000_123_456), iso_us(None)
    ('2023-11-14T22:13:20.123Z', None)
    """
    if micros is None:
        return None
    return iso_utc(micros / 1e6)


clean_text = xml_text  # labels and tooltips: see :func:`gctrace_nb._text.xml_text`


def shorten(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` characters with an ellipsis.

    >>> shorten("abcdef", 4), shorten("abc", 4)
    ('abc…', 'abc')
    """
    return text if len(text) <= limit else text[: limit - 1] + "…"
