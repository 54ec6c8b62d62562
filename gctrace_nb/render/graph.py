"""A trace as a :class:`graphviz.Digraph` that points at the answer: one box per step, parent → child.

What the eye finds first, in order:

- the **bottleneck**, filled with a colour no other box has (:data:`BOTTLENECK_FILL`,
  the headline's colour) and labelled so;
- the **critical path**: its boxes tinted by their share of the end-to-end time
  on a log scale (a light tint for 40 ms of 15 s, strong for 4 s), and its
  steps joined by bold arrows **in the order they ran** (where the next step is
  not a child of the previous one, an extra arrow says "then");
- **failed** steps: a red double border and a ✗ before the name, the error in
  the tooltip; **anomalies**: dashed, and named in the box.

Everything else is white with grey lines. All figures are read from
``trace.steps`` and ``trace.analysis`` so the picture agrees with ``gctrace analyze``.

Layout. Flows are shallow and wide, so the graph is drawn top to bottom with
the children of a wide fan staggered over several rows (what graphviz's
``unflatten`` does), which keeps it near the width of a page; a deep, narrow
tree is drawn left to right instead (see :func:`choose_layout`).

Above ``max_nodes`` steps the graph keeps the bottleneck, then the critical
steps holding the most time, the failures, the anomalies (each with its
ancestors) and the top of the tree while they fit, and folds everything else
into one "+N steps" box per parent that says how many critical and failed
steps it holds.

Escaping. DOT node names are synthetic (``s0``, ``s1``, ... by kept index), so
a hostile ``nodeId`` never reaches DOT syntax, SVG ``id`` attributes or XML
comments. Trace text reaches only labels and tooltips, through
:func:`_label_text` / :func:`_tooltip_text`.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any, Final

import graphviz

from ..core import summary
from ..errors import RendererUnavailable
from . import _tree

if TYPE_CHECKING:  # pragma: no cover
    from ..core.model import Trace

__all__ = ["dag", "dag_svg", "legend", "critical_tint", "choose_layout", "INSTALL_HINT", "BOTTLENECK_FILL"]

INSTALL_HINT: Final = (
    "the Graphviz 'dot' program is not installed or not on PATH; install it with one of\n"
    "  apt-get install graphviz                (Debian, Ubuntu)\n"
    "  brew install graphviz                   (macOS)\n"
    "  conda install -c conda-forge graphviz   (conda)\n"
    "and restart Python. Without it, dag(trace).source still gives the DOT text."
)

#: The bottleneck's fill: no other box has it (the critical tints stop well short of it).
BOTTLENECK_FILL: Final = "#c2410c"
BOTTLENECK_LINE: Final = "#7c2d12"
#: Critical boxes are tinted from the first colour (a tiny share) to the second (a large one).
CRITICAL_TINTS: Final = ("#fff7ed", "#fb923c")
CRITICAL_COLOR: Final = "#ea580c"  # critical boxes' border and the critical path's arrows
FAILED_FILL: Final = "#fde2e1"  # failed steps off the critical path
FAILED_LINE: Final = "#b42318"
PLAIN_LINE: Final = "#8c959f"
PLAIN_TEXT: Final = "#424a53"
TREE_EDGE: Final = "#c4cad1"
FOLD_LINE: Final = "#9aa5b1"

_LABEL_CHARS: Final = 36  # a name longer than this is cut in the box (the tooltip has it whole)
_TOOLTIP_CHARS: Final = 400
_FOLD_LISTED: Final = 5
_SHARE_LOW: Final = 0.002  # a share at or below this gets the lightest tint ...
_SHARE_HIGH: Final = 0.25  # ... and at or above this the strongest
_FAN: Final = {"TB": 6, "LR": 4}  # a fan of more leaves than this is staggered over several ranks
_STAGGER: Final = 3  # ... this many


def critical_tint(share: float) -> str:
    """Return the fill of a critical box holding ``share`` (0..1) of the end-to-end time.

    A log scale: 0.2% or less is the lightest tint, 25% or more the strongest.

    >>> critical_tint(0.0001), critical_tint(0.5)
    ('#fff7ed', '#fb923c')
    >>> critical_tint(0.0026) < critical_tint(0.26)  # the lighter, the higher the hex
    False
    """
    if share <= _SHARE_LOW:
        t = 0.0
    elif share >= _SHARE_HIGH:
        t = 1.0
    else:
        t = (math.log10(share) - math.log10(_SHARE_LOW)) / (math.log10(_SHARE_HIGH) - math.log10(_SHARE_LOW))
    low, high = (tuple(int(c[k:k + 2], 16) for k in (1, 3, 5)) for c in CRITICAL_TINTS)
    return "#" + "".join(f"{round(lo + (hi - lo) * t):02x}" for lo, hi in zip(low, high))


def legend() -> list[dict[str, str]]:
    """Return the key to the DAG's colours, for a page to show beside it (``shape`` is "box" unless said)."""
    return [
        {"text": "bottleneck", "fill": BOTTLENECK_FILL, "line": BOTTLENECK_LINE, "width": "2", "style": "solid"},
        {"text": "critical path (darker: more of the total time)", "fill": CRITICAL_TINTS[1], "line": CRITICAL_COLOR,
         "width": "1", "style": "solid"},
        {"text": "off the path", "fill": "#ffffff", "line": PLAIN_LINE, "width": "1", "style": "solid"},
        {"text": "✗ failed", "fill": FAILED_FILL, "line": FAILED_LINE, "width": "3", "style": "double"},
        {"text": "⚠ anomaly", "fill": "#ffffff", "line": PLAIN_LINE, "width": "1", "style": "dashed"},
        {"text": "bold arrows: the critical path in the order it ran (dashed: then)", "fill": CRITICAL_COLOR,
         "line": CRITICAL_COLOR, "width": "0", "style": "solid", "shape": "line"},
    ]


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

    The bottleneck and its ancestors are always shown (even past the budget).
    Then, while the boxes (counting one "+N steps" box per parent with hidden
    children) stay within ``max_nodes``: the critical steps holding the most
    time, the failures, the anomalies (each with its ancestors), and the top
    of the tree breadth-first.
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

    def show_with_ancestors(i: int, *, always: bool = False) -> None:
        chain = []
        while i >= 0 and not shown[i]:
            chain.append(i)
            i = parent[i]
        if not chain or (not always and boxes + 2 * len(chain) > max_nodes):
            return
        for j in reversed(chain):  # top-down, so each parent is shown before its child
            show(j)

    if a.bottleneck is not None:
        show_with_ancestors(a.index_of[a.bottleneck.node_id], always=True)
    for i in sorted((i for i in range(n) if a.critical_us[i] > 0), key=lambda i: -a.critical_us[i]):
        show_with_ancestors(i)
    for node_id in a.failed_nodes:
        show_with_ancestors(a.index_of[node_id])
    for i, flags in enumerate(a.flags):
        if flags:
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


def choose_layout(children: list[list[int]], roots: list[int], shown: list[bool]) -> str:
    """Return the rank direction that shows the drawn tree largest on a page: ``"TB"`` or ``"LR"``.

    The page shows the graph scaled to its width, so the better layout is the
    one whose estimated size (boxes ~1.8 x 0.9 inches a rank apart top to
    bottom, ~2.2 x 0.65 left to right; wide fans staggered) needs the least
    shrinking to fit 13 x 9 inches. Flow trees are shallow and wide, so TB
    usually wins; a tree with very wide ranks goes LR.

    >>> chain = [[k + 1] for k in range(8)] + [[]]
    >>> choose_layout(chain, [0], [True] * 9)
    'TB'
    >>> wide = [list(range(1, 21))] + [[21 + 2 * k, 22 + 2 * k] for k in range(20)] + [[] for _ in range(40)]
    >>> choose_layout(wide, [0], [True] * 61)
    'LR'
    """
    def extent(direction: str) -> tuple[int, int]:
        minlen = _stagger(children, shown, _FAN[direction])
        per_rank: dict[int, int] = {}
        stack = [(r, 0) for r in roots if shown[r]]
        while stack:
            i, d = stack.pop()
            per_rank[d] = per_rank.get(d, 0) + 1
            stack.extend((c, d + minlen.get(c, 1)) for c in children[i] if shown[c])
        return (max(per_rank) + 1, max(per_rank.values())) if per_rank else (1, 1)

    (tb_ranks, tb_widest), (lr_ranks, lr_widest) = extent("TB"), extent("LR")
    tb = min(13.0 / (tb_widest * 1.8), 9.0 / (tb_ranks * 0.9))
    lr = min(13.0 / (lr_ranks * 2.2), 9.0 / (lr_widest * 0.65))
    return "TB" if tb >= lr else "LR"


def _critical_chain(a: Any, shown: list[bool]) -> list[tuple[int, int, bool]]:
    """Return the critical path's drawn steps as arrows ``(from, to, is_tree_edge)``, in the order they ran.

    Where the path goes from a step into its child, the arrow is that tree
    edge. Where it goes on to a later sibling of the step or of one of its
    ancestors, the arrow joins the two siblings ("then"), so it stays short:
    siblings are drawn next to each other, in the order they started.
    """
    drawn = [a.index_of[node_id] for node_id in a.critical_path if shown[a.index_of[node_id]]]
    parent = a.parent_index
    arrows: list[tuple[int, int, bool]] = []
    seen: set[tuple[int, int]] = set()
    for u, v in zip(drawn, drawn[1:]):
        if parent[v] == u:
            pair, tree = (u, v), True
        else:
            w = u  # the ancestor-or-self of u that is v's sibling (or a root when v is one)
            while w >= 0 and parent[w] != parent[v]:
                w = parent[w]
            pair, tree = ((w, v) if w >= 0 and w != v else (u, v)), False
        if pair not in seen:
            seen.add(pair)
            arrows.append((*pair, tree))
    return arrows


def _step_node(
    g: graphviz.Digraph, i: int, a: Any, cols: dict[str, list], *, prefix: str, ambiguous: set[str]
) -> None:
    """Add kept step ``i`` as a box: label, tooltip, classes and colours say what it is."""
    node_id = a.node_ids[i]
    name = cols["name"][i]
    flags = sorted(a.flags[i])
    crit = a.critical_us[i] / 1000.0 if a.critical_us[i] > 0 else None
    share = crit / a.total_ms if crit is not None and a.total_ms > 0 else None
    is_bottleneck = a.bottleneck is not None and node_id == a.bottleneck.node_id
    failed = cols["failed"][i]
    duration = _tree.fmt_ms(cols["duration_ms"][i]) if a.valid[i] else ("untimed" if "untimed" in flags else "invalid")
    label = ["BOTTLENECK"] if is_bottleneck else []
    label.append(("✗ " if failed else "") + _tree.shorten(name or node_id, _LABEL_CHARS))
    if name and name in ambiguous:
        label.append(_tree.shorten(node_id, _LABEL_CHARS))
    label.append(duration)
    if crit is not None:
        label.append(f"critical {_tree.fmt_ms(crit)}" + (f" · {summary.fmt_share(share)}" if share is not None else ""))
    if flags:
        label.append("⚠ " + ", ".join(flags))
    status = cols["status"][i]
    tip = [summary.step_label(name, node_id), f"status: {status if status is not None else '-'}",
           f"start: {_tree.iso_us(a.start_us[i]) or 'missing'}", f"duration: {duration}",
           f"self: {_tree.fmt_ms(cols['self_ms'][i])}"]
    if crit is not None:
        tip.append(f"critical: {_tree.fmt_ms(crit)}" + (f" ({summary.fmt_share(share)} of the total)" if share else "")
                   + (" (bottleneck)" if is_bottleneck else ""))
    if cols["error_message"][i]:
        tip.append(f"error: {cols['error_message'][i]}")
    if flags:
        tip.append("anomalies: " + ", ".join(flags))
    classes = ["step"]
    styles = ["rounded", "filled"]
    attrs: dict[str, str] = {"fillcolor": "#ffffff", "color": PLAIN_LINE, "fontcolor": PLAIN_TEXT}
    if crit is not None:
        classes.append("critical")
        attrs.update(fillcolor=critical_tint(share or 0.0), color=CRITICAL_COLOR, fontcolor="#1b1f24", penwidth="1.5")
    if is_bottleneck:
        classes.append("bottleneck")
        attrs.update(fillcolor=BOTTLENECK_FILL, color=BOTTLENECK_LINE, fontcolor="#ffffff", penwidth="3",
                     fontname="Helvetica-Bold")
    if failed:
        classes.append("failed")
        attrs.update(color=FAILED_LINE, penwidth="2", peripheries="2")
        if not is_bottleneck:
            attrs["fontcolor"] = FAILED_LINE
        if crit is None:
            attrs["fillcolor"] = FAILED_FILL
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


def _ambiguous_names(a: Any, names: list, shown: list[bool]) -> set[str]:
    """Names borne by more than one drawn step: their boxes show the id too."""
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name and shown[i]:
            seen[name] = seen.get(name, 0) + 1
    return {name for name, count in seen.items() if count > 1}


def _stagger(children: list[list[int]], shown: list[bool], fan: int) -> dict[int, int]:
    """Return ``minlen`` per leaf of a parent with more than ``fan`` leaves: spread over :data:`_STAGGER` ranks (``unflatten -l``)."""
    minlen: dict[int, int] = {}
    for kids in children:
        leaves = [c for c in kids if shown[c] and not any(shown[k] for k in children[c])]
        if len(leaves) <= fan:
            continue
        for k, c in enumerate(leaves):
            minlen[c] = 1 + k % _STAGGER
    return minlen


def dag(
    trace: "Trace",
    *,
    full: bool = False,
    max_nodes: int = _tree.MAX_DAG_NODES,
    id_prefix: str = "gct-",
    rankdir: str = "auto",
) -> graphviz.Digraph:
    r"""Return the trace's steps as a :class:`graphviz.Digraph` that points at the bottleneck.

    Args:
        trace: the trace to draw.
        full: draw every step, however many.
        max_nodes: above this many steps (and unless ``full``), keep the
            bottleneck and its ancestors, then the critical steps holding the
            most time, the failures, the anomalies and the top of the tree while
            they fit, and fold the rest into "+N steps" boxes, one per parent.
        id_prefix: prefix of the SVG element ids (steps are ``{prefix}s{index}``);
            give each graph its own when several share an HTML page. Only
            letters, digits, ``-`` and ``_`` are kept.
        rankdir: ``"TB"`` (top to bottom), ``"LR"`` (left to right) or
            ``"auto"`` (:func:`choose_layout` picks the one nearer a page's shape).

    Returns:
        The graph (it displays itself in Jupyter). Building it needs no
        ``dot`` binary; rendering it does.

    Raises:
        ValueError: ``max_nodes`` is less than 1, or an unknown ``rankdir``.

    Example:
        >>> from gctrace_nb import load_trace
        >>> t = load_trace([{"nodeId": "a<&>", "startTime": 0, "endTime": 5, "status": "ok"}])
        >>> g = dag(t)
        >>> 'label="BOTTLENECK\\na<&amp;>\\n5 ms\\ncritical 5 ms · 100%"' in g.source
        True
        >>> 'class="step critical bottleneck"' in g.source
        True
    """
    if max_nodes < 1:
        raise ValueError(f"max_nodes must be at least 1, got {max_nodes}")
    if rankdir not in ("auto", "TB", "LR"):
        raise ValueError(f'rankdir must be "auto", "TB" or "LR", got {rankdir!r}')
    prefix = "".join(ch for ch in id_prefix if ch.isascii() and (ch.isalnum() or ch in "-_"))
    a = trace.analysis
    frame = trace.steps
    cols = {c: frame[c].to_list() for c in ("name", "duration_ms", "self_ms", "status", "failed", "error_message")}
    n = len(a.node_ids)
    children, roots = _tree.children_of(a)
    shown = [True] * n if (full or n <= max_nodes) else _visible_steps(a, children, roots, max_nodes)
    direction = choose_layout(children, roots, shown) if rankdir == "auto" else rankdir
    g = _new_graph(trace, prefix, direction)
    if n == 0:
        g.node("empty", label="no steps", style="dashed", id=f"{prefix}empty")
        return g

    ambiguous = _ambiguous_names(a, cols["name"], shown)
    chain = _critical_chain(a, shown)
    chain_set = {(u, v) for u, v, tree in chain if tree}
    minlen = _stagger(children, shown, _FAN[direction])
    for i in _tree.tree_order(a):
        if not shown[i]:
            continue
        _step_node(g, i, a, cols, prefix=prefix, ambiguous=ambiguous)
        p = a.parent_index[i]
        if p >= 0:
            edge: dict[str, Any] = {"id": f"{prefix}e{i}", "color": TREE_EDGE}
            if (p, i) in chain_set:
                edge.update(color=CRITICAL_COLOR, penwidth="3", arrowsize="0.8", _attributes={"class": "critical"})
            if i in minlen and minlen[i] > 1:
                edge["minlen"] = str(minlen[i])
            g.edge(f"s{p}", f"s{i}", **edge)
    for k, (u, v, tree) in enumerate(chain):
        if not tree:  # the path goes on to a later sibling: say "then" with an arrow of its own
            g.edge(f"s{u}", f"s{v}", id=f"{prefix}c{k}", color=CRITICAL_COLOR, penwidth="3", arrowsize="0.8",
                   constraint="false", style="dashed", _attributes={"class": "critical then"})
    if not all(shown):
        _add_folds(g, a, children, roots, shown, prefix)
    return g


def _new_graph(trace: "Trace", prefix: str, rankdir: str) -> graphviz.Digraph:
    a = trace.analysis
    title = trace.name or trace.metadata.flow_id or "trace"
    return _TraceDigraph(
        name="gctrace",
        graph_attr={
            "rankdir": rankdir,
            "id": f"{prefix}graph",
            "label": _label_text(f"{_tree.shorten(title, 80)} · {a.steps_total} steps · {_tree.fmt_ms(a.total_ms)}"),
            "labelloc": "t",
            "fontname": "Helvetica",
            "fontsize": "12",
            "nodesep": "0.12" if rankdir == "TB" else "0.1",
            "ranksep": "0.3" if rankdir == "TB" else "0.35",
            "tooltip": _tooltip_text(title),
            "ordering": "out",
        },
        node_attr={
            "shape": "box",
            "style": "rounded,filled",
            "fillcolor": "#ffffff",
            "color": PLAIN_LINE,
            "fontname": "Helvetica",
            "fontsize": "10",
            "margin": "0.07,0.03",
            "height": "0.3",
        },
        edge_attr={"color": TREE_EDGE, "arrowsize": "0.5"},
    )


def _add_folds(g: graphviz.Digraph, a: Any, children: list[list[int]], roots: list[int], shown: list[bool], prefix: str) -> None:
    """Add one "+N steps" box per shown parent (and one for hidden roots) counting the hidden subtrees."""
    size = [1] * len(shown)
    crit = [int(c > 0) for c in a.critical_us]
    failed_set = set(a.failed_nodes)
    fail = [int(node_id in failed_set) for node_id in a.node_ids]
    for i in reversed(_tree.tree_order(a)):
        p = a.parent_index[i]
        if p >= 0:
            size[p] += size[i]
            crit[p] += crit[i]
            fail[p] += fail[i]
    groups: list[tuple[int, list[int]]] = [(-1, [r for r in roots if not shown[r]])]
    groups += [(i, [c for c in children[i] if not shown[c]]) for i in range(len(shown)) if shown[i]]
    for parent, hidden in groups:
        if not hidden:
            continue
        total = sum(size[c] for c in hidden)
        n_crit = sum(crit[c] for c in hidden)
        n_fail = sum(fail[c] for c in hidden)
        listed = ", ".join(a.node_ids[c] for c in hidden[:_FOLD_LISTED])
        more = f", … {len(hidden) - _FOLD_LISTED} more" if len(hidden) > _FOLD_LISTED else ""
        holds = ", ".join(t for t in (f"{n_crit} critical" if n_crit else "", f"{n_fail} failed" if n_fail else "") if t)
        name = f"f{parent}" if parent >= 0 else "froots"
        g.node(
            name,
            label=_label_text(f"+{total} steps" + (f"\n{holds}" if holds else "")),
            tooltip=_tooltip_text(_tree.shorten(
                f"{total} steps folded ({holds or 'none critical or failed'})\nunder: {listed}{more}", _TOOLTIP_CHARS)),
            id=f"{prefix}{name}",
            style="rounded,dashed",
            color=FAILED_LINE if n_fail else FOLD_LINE,
            fontcolor=FAILED_LINE if n_fail else PLAIN_TEXT,
            _attributes={"class": "folded"},
        )
        if parent >= 0:
            g.edge(f"s{parent}", name, style="dashed", id=f"{prefix}e{name}", color=FOLD_LINE)


def dag_svg(
    trace: "Trace", *, full: bool = False, max_nodes: int = _tree.MAX_DAG_NODES, id_prefix: str = "gct-"
) -> str:
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
