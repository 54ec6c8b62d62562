"""A trace as a :class:`graphviz.Digraph`: one box per step, parent → child, left to right.

Each box shows the step's name (or node id), its duration and, on the critical
path, its critical milliseconds, all read from ``trace.steps`` and
``trace.analysis`` so the picture agrees with ``gctrace analyze``. The
critical path is bold and orange, failed steps are red with the error in the
tooltip, anomalies are dashed and named.

Above ``max_nodes`` steps the graph keeps the critical path, the failures, the
anomalies and their ancestors, fills the rest of the budget top-down, and
folds everything else into one "+N steps" box per parent.

Escaping. DOT node names are synthetic (``s0``, ``s1``, ... by kept index), so
a hostile ``nodeId`` never reaches DOT syntax, SVG ``id`` attributes or XML
comments. Trace text reaches only labels and tooltips, through
:func:`_label_text` / :func:`_tooltip_text`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

import graphviz

from ..errors import RendererUnavailable
from . import _tree

if TYPE_CHECKING:  # pragma: no cover
    from ..core.model import Trace

__all__ = ["dag", "dag_svg", "INSTALL_HINT"]

INSTALL_HINT: Final = (
    "the Graphviz 'dot' program is not installed or not on PATH; install it with one of\n"
    "  apt-get install graphviz                (Debian, Ubuntu)\n"
    "  brew install graphviz                   (macOS)\n"
    "  conda install -c conda-forge graphviz   (conda)\n"
    "and restart Python. Without it, dag(trace).source still gives the DOT text."
)

CRITICAL_COLOR: Final = "#e8590c"
FAILED_FILL: Final = "#fde2e1"
FAILED_LINE: Final = "#c62828"
PLAIN_LINE: Final = "#5f6b7a"
FOLD_LINE: Final = "#9aa5b1"

_LABEL_CHARS: Final = 40  # a name longer than this is cut in the box (the tooltip has it whole)
_TOOLTIP_CHARS: Final = 400
_FOLD_LISTED: Final = 5


def _label_text(text: str) -> str:
    r"""Return ``text`` as a literal DOT label (an escString with no escapes left).

    - ``graphviz.escape`` doubles backslashes (so ``\N`` or ``\l`` in an id stay
      literal) and marks the string ``nohtml`` (so ``<...>`` is not an HTML label);
      ``quote`` then escapes double quotes.
    - ``&`` becomes ``&amp;``: dot decodes entities in labels (``&nbsp;``,
      ``&#12;``) and passes unknown ones (``&foo;``) into the SVG unescaped,
      which would make the SVG invalid XML.
    - Newlines become DOT's ``\n`` line break; controls become U+FFFD.
    """
    lines = _tree.clean_text(text).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return graphviz.nohtml("\\n".join(graphviz.escape(line).replace("&", "&amp;") for line in lines))


def _tooltip_text(text: str) -> str:
    r"""Return ``text`` as a literal DOT tooltip.

    Like :func:`_label_text`, but backslashes are quadrupled: dot 2.4x expands
    escapes in node tooltips twice (``\\N`` still becomes the node name), and
    ``\\\\`` survives both passes as one backslash.
    """
    lines = _tree.clean_text(text).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return graphviz.nohtml(
        "\\n".join(line.replace("\\", "\\\\\\\\").replace("&", "&amp;") for line in lines)
    )


class _TraceDigraph(graphviz.Digraph):
    """:class:`graphviz.Digraph` whose notebook display names the fix when ``dot`` is missing."""

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None, **kwargs: Any) -> dict:
        try:
            return super()._repr_mimebundle_(include, exclude, **kwargs)
        except graphviz.ExecutableNotFound as exc:
            raise RendererUnavailable(INSTALL_HINT) from exc


def _visible_steps(a: Any, children: list[list[int]], roots: list[int], max_nodes: int) -> list[bool]:
    """Choose which kept steps get their own box when the trace is larger than ``max_nodes``.

    The critical path and the failures, with their ancestors, are always shown
    (even past the budget). Then anomalous steps and the top of the tree
    (breadth-first, siblings by start) while the boxes, counting one "+N steps"
    box per parent with hidden children, stay within ``max_nodes``.
    """
    n = len(a.node_ids)
    parent = a.parent_index
    shown = [False] * n
    hidden_kids = [len(kids) for kids in children]
    hidden_roots = len(roots)
    boxes = 1 if roots else 0  # shown steps + fold boxes (the hidden roots share one)

    def cost(i: int) -> int:
        """Boxes added by showing ``i``: itself, its fold box, minus its parent's fold box if emptied."""
        p = parent[i]
        emptied = (shown[p] and hidden_kids[p] == 1) if p >= 0 else hidden_roots == 1
        return 1 + (hidden_kids[i] > 0) - emptied

    def show(i: int) -> None:
        nonlocal boxes, hidden_roots
        boxes += cost(i)
        shown[i] = True
        p = parent[i]
        if p >= 0:
            hidden_kids[p] -= 1
        else:
            hidden_roots -= 1

    def show_with_ancestors(i: int) -> None:
        chain = []
        while i >= 0 and not shown[i]:
            chain.append(i)
            i = parent[i]
        for j in reversed(chain):  # top-down, so each parent is shown before its child
            show(j)

    index_of = a.index_of
    for node_id in a.failed_nodes:
        show_with_ancestors(index_of[node_id])
    for i, crit in enumerate(a.critical_us):
        if crit > 0:
            show_with_ancestors(i)
    for i, flags in enumerate(a.flags):  # anomalies next, while they fit
        if flags and not shown[i] and boxes + _chain_cost(i, parent, shown) <= max_nodes:
            show_with_ancestors(i)
    frontier = list(roots)  # then the top of the tree; zero-cost steps (a lone leaf
    while frontier:  # replacing its "+1 steps" box) are taken even at the budget
        following: list[int] = []
        for i in frontier:
            if not shown[i] and boxes + cost(i) <= max_nodes:
                show(i)
            if shown[i]:
                following.extend(children[i])
        frontier = following
    return shown


def _chain_cost(i: int, parent: tuple[int, ...], shown: list[bool]) -> int:
    """An upper bound on the boxes showing ``i`` and its hidden ancestors adds (two per step)."""
    count = 0
    while i >= 0 and not shown[i]:
        count += 2
        i = parent[i]
    return count


def dag(
    trace: "Trace",
    *,
    full: bool = False,
    max_nodes: int = 300,
    id_prefix: str = "gct-",
) -> graphviz.Digraph:
    r"""Return the trace's steps as a left-to-right :class:`graphviz.Digraph`.

    Args:
        trace: the trace to draw.
        full: draw every step, however many.
        max_nodes: above this many steps (and unless ``full``), keep the
            critical path, the failures and their ancestors, then anomalies and
            the top of the tree while they fit, and fold the rest into "+N steps"
            boxes, one per parent: at most ``max_nodes`` boxes unless the
            critical path and failures alone need more.
        id_prefix: prefix of the SVG element ids (steps are ``{prefix}s{index}``);
            give each graph its own when several share an HTML page. Only
            letters, digits, ``-`` and ``_`` are kept.

    Returns:
        The graph (it displays itself in Jupyter). Building it needs no
        ``dot`` binary; rendering it does.

    Raises:
        ValueError: ``max_nodes`` is less than 1.

    Example:
        >>> from gctrace_nb import load_trace
        >>> t = load_trace([{"nodeId": "a<&>", "startTime": 0, "endTime": 5, "status": "ok"}])
        >>> g = dag(t)
        >>> 'label="a<&amp;>\\n5 ms\\ncritical 5 ms"' in g.source
        True
        >>> 'class="step critical bottleneck"' in g.source
        True
    """
    if max_nodes < 1:
        raise ValueError(f"max_nodes must be at least 1, got {max_nodes}")
    prefix = "".join(ch for ch in id_prefix if ch.isascii() and (ch.isalnum() or ch in "-_"))
    a = trace.analysis
    frame = trace.steps
    names = frame["name"].to_list()
    durations = frame["duration_ms"].to_list()
    self_ms = frame["self_ms"].to_list()
    statuses = frame["status"].to_list()
    failed = frame["failed"].to_list()
    errors = frame["error_message"].to_list()
    n = len(a.node_ids)
    children, roots = _tree.children_of(a)
    order = _tree.tree_order(a)
    shown = [True] * n if (full or n <= max_nodes) else _visible_steps(a, children, roots, max_nodes)
    bottleneck = a.bottleneck.node_id if a.bottleneck else None

    title = trace.name or trace.metadata.flow_id or "trace"
    g = _TraceDigraph(
        name="gctrace",
        graph_attr={
            "rankdir": "LR",
            "id": f"{prefix}graph",
            "label": _label_text(f"{_tree.shorten(title, 80)} · {a.steps_total} steps · {_tree.fmt_ms(a.total_ms)}"),
            "labelloc": "t",
            "fontname": "Helvetica",
            "fontsize": "12",
            "nodesep": "0.15",
            "ranksep": "0.3",
            "tooltip": _tooltip_text(title),
        },
        node_attr={
            "shape": "box",
            "style": "rounded,filled",
            "fillcolor": "#ffffff",
            "color": PLAIN_LINE,
            "fontname": "Helvetica",
            "fontsize": "10",
            "margin": "0.08,0.03",
            "height": "0.3",
        },
        edge_attr={"color": FOLD_LINE, "arrowsize": "0.6"},
    )
    if n == 0:
        g.node("empty", label="no steps", style="dashed", id=f"{prefix}empty")
        return g

    for i in order:
        if not shown[i]:
            continue
        node_id = a.node_ids[i]
        name = names[i]
        flags = sorted(a.flags[i])
        crit = a.critical_ms.get(node_id) if a.critical_us[i] > 0 else None
        duration = _tree.fmt_ms(durations[i]) if a.valid[i] else ("untimed" if "untimed" in flags else "invalid")
        label = [_tree.shorten(name or node_id, _LABEL_CHARS), duration]
        if crit is not None:
            label.append(f"critical {_tree.fmt_ms(crit)}")
        if flags:
            label.append("⚠ " + ", ".join(flags))
        tip = [node_id if not name else f"{name} ({node_id})"]
        tip.append(f"status: {statuses[i] if statuses[i] is not None else '-'}")
        tip.append(f"start: {_tree.iso_us(a.start_us[i]) or 'missing'}")
        tip.append(f"duration: {duration}")
        tip.append(f"self: {_tree.fmt_ms(self_ms[i])}")
        if crit is not None:
            tip.append(f"critical: {_tree.fmt_ms(crit)}" + (" (bottleneck)" if node_id == bottleneck else ""))
        if errors[i]:
            tip.append(f"error: {errors[i]}")
        if flags:
            tip.append("anomalies: " + ", ".join(flags))
        classes = ["step"]
        attrs: dict[str, str] = {}
        styles = ["rounded", "filled"]
        if crit is not None:
            classes.append("critical")
            attrs["color"] = CRITICAL_COLOR
            attrs["penwidth"] = "2.5"
            styles.append("bold")
        if node_id == bottleneck:
            classes.append("bottleneck")
        if failed[i]:
            classes.append("failed")
            attrs["fillcolor"] = FAILED_FILL
            attrs["fontcolor"] = FAILED_LINE
            if crit is None:
                attrs["color"] = FAILED_LINE
                attrs["penwidth"] = "1.5"
        if flags:
            classes.append("anomaly")
            styles.append("dashed")
        g.node(
            f"s{i}",
            label=_label_text("\n".join(label)),
            tooltip=_tooltip_text(_tree.shorten("\n".join(tip), _TOOLTIP_CHARS)),
            id=f"{prefix}s{i}",
            style=",".join(styles),
            _attributes={"class": " ".join(classes)},
            **attrs,
        )
        p = a.parent_index[i]
        if p >= 0:
            edge: dict[str, str] = {"id": f"{prefix}e{i}"}
            if crit is not None and a.critical_us[p] > 0:
                edge.update(color=CRITICAL_COLOR, penwidth="2.5", _attributes={"class": "critical"})
            else:
                edge["color"] = PLAIN_LINE
            g.edge(f"s{p}", f"s{i}", **edge)

    if not all(shown):
        _add_folds(g, a, children, roots, shown, prefix)
    return g


def _add_folds(g: graphviz.Digraph, a: Any, children: list[list[int]], roots: list[int], shown: list[bool], prefix: str) -> None:
    """Add one "+N steps" box per shown parent (and one for hidden roots) counting the hidden subtrees."""
    size = [1] * len(shown)
    for i in reversed(_tree.tree_order(a)):
        p = a.parent_index[i]
        if p >= 0:
            size[p] += size[i]
    groups: list[tuple[int, list[int]]] = [(-1, [r for r in roots if not shown[r]])]
    groups += [(i, [c for c in children[i] if not shown[c]]) for i in range(len(shown)) if shown[i]]
    for parent, hidden in groups:
        if not hidden:
            continue
        total = sum(size[c] for c in hidden)
        listed = ", ".join(a.node_ids[c] for c in hidden[:_FOLD_LISTED])
        more = f", … {len(hidden) - _FOLD_LISTED} more" if len(hidden) > _FOLD_LISTED else ""
        name = f"f{parent}" if parent >= 0 else "froots"
        g.node(
            name,
            label=f"+{total} steps",
            tooltip=_tooltip_text(
                _tree.shorten(f"{total} steps folded (none critical or failed)\nunder: {listed}{more}", _TOOLTIP_CHARS)
            ),
            id=f"{prefix}{name}",
            style="rounded,dashed",
            color=FOLD_LINE,
            fontcolor=PLAIN_LINE,
            _attributes={"class": "folded"},
        )
        if parent >= 0:
            g.edge(f"s{parent}", name, style="dashed", id=f"{prefix}e{name}")


def dag_svg(trace: "Trace", *, full: bool = False, max_nodes: int = 300, id_prefix: str = "gct-") -> str:
    """Render :func:`dag` to an SVG document (text).

    Raises:
        RendererUnavailable: the Graphviz ``dot`` binary is missing; the message
            says how to install it.
    """
    g = dag(trace, full=full, max_nodes=max_nodes, id_prefix=id_prefix)
    try:
        svg = g.pipe(format="svg", encoding="utf-8")
    except graphviz.ExecutableNotFound as exc:
        raise RendererUnavailable(INSTALL_HINT) from exc
    return _retitle(svg)


# dot writes each node as <g id=.. class="node.."><title>NAME</title><g id="a_.."><a xlink:title="TOOLTIP">.
# Browsers show the <title> child on hover (Chrome ignores xlink:title), and NAME is our
# synthetic "s12": copy the (already XML-escaped) tooltip into the title instead.
_NODE_TITLE: Final = re.compile(r'<title>[^<]*</title>(\s*<g id="a_[^"]*"><a xlink:title="([^"]*)")')
_EDGE_TITLE: Final = re.compile(r'(<g id="[^"]*" class="edge[^"]*">\s*)<title>[^<]*</title>')


def _retitle(svg: str) -> str:
    """Give node titles their tooltips and drop edge titles ("s0->s1" means nothing to a reader)."""
    svg = _NODE_TITLE.sub(lambda m: f"<title>{m.group(2)}</title>{m.group(1)}", svg)
    return _EDGE_TITLE.sub(r"\1", svg)
