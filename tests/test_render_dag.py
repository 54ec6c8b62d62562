"""gctrace_nb.render.graph: the DOT source, the SVG dot makes of it, folding, a missing dot."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import graphviz
import pytest

from _render_samples import HOSTILE_IDS, branchy_trace, hostile_trace, step, wide_steps
from gctrace_nb import RendererUnavailable, load_trace
from gctrace_nb.render import dag, dag_svg
from gctrace_nb.render.graph import (
    BOTTLENECK_FILL,
    CRITICAL_COLOR,
    FAILED_FILL,
    FAILED_LINE,
    choose_layout,
    critical_tint,
)
from gctrace_nb.simulator.generator import generate_trace

SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"
_skip_without_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="the graphviz dot binary is not installed")


def needs_dot(test):
    """Mark ``test`` as needing the dot binary (``-m dot`` selects these) and skip it where dot is missing."""
    return pytest.mark.dot(_skip_without_dot(test))


def svg_steps(svg: str) -> dict[str, dict]:
    """Map each step box's first tooltip line to its classes, label lines, shape attributes and tooltip."""
    root = ET.fromstring(svg)
    out = {}
    for g in root.iter(f"{SVG}g"):
        classes = g.get("class", "").split()
        if "node" not in classes:
            continue
        link = next(g.iter(f"{SVG}a"))
        tooltip = link.get(f"{XLINK}title")
        shapes = [el for el in link if el.tag in (f"{SVG}path", f"{SVG}polygon")]
        shape = shapes[0]  # a double border (peripheries=2) adds an outer, unfilled one
        texts = ["".join(t.itertext()) for t in link.iter(f"{SVG}text")]
        key = tooltip if "folded" in classes else None
        out[key or g.get("id")] = {
            "classes": set(classes),
            "texts": texts,
            "fill": shape.get("fill"),
            "stroke": shape.get("stroke"),
            "borders": len(shapes),
            "tooltip": tooltip,
            "id": g.get("id"),
        }
    return out


def by_tooltip_head(nodes: dict[str, dict]) -> dict[str, dict]:
    return {n["tooltip"].split("\nstatus:")[0]: n for n in nodes.values() if "step" in n["classes"]}


# ------------------------------------------------------------ DOT source (no dot binary needed)

def test_source_has_one_box_per_step_the_tree_edges_and_then_arrows():
    t = branchy_trace()
    src = dag(t).source
    assert len(re.findall(r"^\ts\d+ \[", src, flags=re.M)) == len(t.analysis.node_ids)
    a = t.analysis
    edges = re.findall(r"^\t(s\d+) -> (s\d+) \[(.*)\]$", src, flags=re.M)
    tree = {(f"s{p}", f"s{i}") for i, p in enumerate(a.parent_index) if p >= 0}
    assert tree <= {(u, v) for u, v, _ in edges}
    # every other arrow is a critical "then" arrow that does not move the layout
    for u, v, attrs in edges:
        if (u, v) not in tree:
            assert 'class="critical then"' in attrs and "constraint=false" in attrs


def test_source_labels_show_name_duration_critical_ms_and_share():
    src = dag(branchy_trace()).source
    # crm-call has a name; 730 ms long, all of it critical: 73% of the 1,000 ms; it is the bottleneck
    assert 'label="BOTTLENECK\\nCRM call\\n730 ms\\ncritical 730 ms · 73%"' in src
    # lookup is off the critical path: no critical line
    assert 'label="lookup\\n500 ms"' in src
    # failed steps carry a cross, anomalies are named in the box
    assert 'label="✗ db\\n460 ms"' in src
    assert "⚠ orphan" in src and "⚠ untimed" in src


def test_names_shared_by_several_steps_get_their_id_in_the_box():
    steps = [step("root", 0, 100, name="Flow"), step("a", 0, 40, "root", name="Menu"), step("b", 40, 90, "root", name="Menu")]
    src = dag(load_trace(steps)).source
    assert 'label="Menu\\na\\n40 ms' in src and "Menu\\nb\\n" in src  # "Menu" alone would not say which
    assert 'label="BOTTLENECK\\nMenu\\nb' in src
    assert 'label="Flow\\n100 ms' in src  # a unique name needs no id


def test_critical_tints_darken_with_the_share_of_the_total():
    def darkness(colour: str) -> int:
        return -sum(int(colour[k:k + 2], 16) for k in (1, 3, 5))

    shares = [0.0005, 0.0026, 0.01, 0.05, 0.26, 0.9]
    tints = [critical_tint(x) for x in shares]
    assert [darkness(c) for c in tints] == sorted(darkness(c) for c in tints)
    assert tints[0] != tints[-2]  # 40 ms of 15 s is light, 4 s of 15 s is strong
    assert BOTTLENECK_FILL not in tints and darkness(BOTTLENECK_FILL) > darkness(tints[-1])


def test_layout_goes_left_to_right_for_a_wide_flow_and_top_down_for_a_chain():
    demo = load_trace(generate_trace(7))  # ~25 steps, a root with 7 children holding 17 grandchildren
    assert "rankdir=LR" in dag(demo).source
    chain = load_trace([step(f"s{k}", k, 20 - k, f"s{k - 1}" if k else None) for k in range(8)])
    assert "rankdir=TB" in dag(chain).source
    assert choose_layout([[1], []], [0], [True, True]) == "TB"
    with pytest.raises(ValueError, match="rankdir"):
        dag(chain, rankdir="BT")
    assert "rankdir=TB" in dag(demo, rankdir="TB").source


def test_wide_fans_of_leaves_are_staggered_over_several_ranks():
    t = load_trace(wide_steps(1) + [step(f"leaf{k}", 2, 3, "root") for k in range(12)])
    src = dag(t, rankdir="TB").source
    assert len(re.findall(r"minlen=2", src)) == 4 and len(re.findall(r"minlen=3", src)) == 4


def test_max_nodes_must_be_positive():
    with pytest.raises(ValueError, match="max_nodes"):
        dag(branchy_trace(), max_nodes=0)


def test_empty_trace_is_a_graph_with_a_note():
    assert "no steps" in dag(load_trace([])).source


def test_importing_render_loads_neither_plotly_nor_graphviz():
    code = (
        "import sys, gctrace_nb, gctrace_nb.render as r\n"
        "assert 'plotly' not in sys.modules and 'graphviz' not in sys.modules, sorted(sys.modules)\n"
        "r.dag\n"
        "assert 'graphviz' in sys.modules and 'plotly' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------------ SVG

def bottleneck_fill_is_unique(svg: str) -> tuple[str, list[str]]:
    """Return the bottleneck box's fill and every other box's fill (read from the SVG)."""
    nodes = svg_steps(svg).values()
    (bottleneck,) = [n for n in nodes if "bottleneck" in n["classes"]]
    others = [n["fill"] for n in nodes if "bottleneck" not in n["classes"]]
    return bottleneck["fill"], others


@needs_dot
@pytest.mark.parametrize("size", [10, 100, 2000])
def test_the_bottleneck_box_has_a_fill_no_other_box_has(size):
    t = load_trace(generate_trace(3, size=size))
    fill, others = bottleneck_fill_is_unique(dag_svg(t))
    assert fill == BOTTLENECK_FILL and fill not in others and others


@needs_dot
@pytest.mark.parametrize("make", [branchy_trace, hostile_trace, lambda: load_trace(generate_trace(7))])
def test_the_bottleneck_fill_is_unique_on_hand_made_traces(make):
    fill, others = bottleneck_fill_is_unique(dag_svg(make()))
    assert fill not in others


@needs_dot
def test_svg_styles_critical_failed_and_bottleneck_steps():
    t = branchy_trace()
    nodes = by_tooltip_head(svg_steps(dag_svg(t)))
    a = t.analysis
    critical = {h.split(" (")[-1].rstrip(")") if "(" in h else h for h, n in nodes.items() if "critical" in n["classes"]}
    assert critical == set(a.critical_path) == {"root", "auth", "crm", "crm-call", "notify"}
    for head, node in nodes.items():
        if "critical" in node["classes"] and "bottleneck" not in node["classes"] and "failed" not in node["classes"]:
            assert node["stroke"] == CRITICAL_COLOR
            share = a.critical_ms[head.split(" (")[-1].rstrip(")") if "(" in head else head] / a.total_ms
            assert node["fill"] == critical_tint(share)  # shaded by its share, not one uniform colour
        elif "critical" not in node["classes"] and "failed" not in node["classes"]:
            assert node["fill"] == "#ffffff"
    # failed steps: a red double border and a cross, whatever else they are
    failed = {h for h, n in nodes.items() if "failed" in n["classes"]}
    assert failed == {"db", "notify"} == set(a.failed_nodes)
    for head in failed:
        assert nodes[head]["stroke"] == FAILED_LINE and nodes[head]["borders"] == 2
        assert nodes[head]["texts"][0].startswith("✗ ")
    assert nodes["db"]["fill"] == FAILED_FILL  # off the path
    assert nodes["notify"]["fill"] == critical_tint(a.critical_ms["notify"] / a.total_ms)  # on it
    assert "error: timeout <db> & \"x\"" in nodes["db"]["tooltip"]
    bottleneck = [h for h, n in nodes.items() if "bottleneck" in n["classes"]]
    assert bottleneck == ["CRM call (crm-call)"] and a.bottleneck.node_id == "crm-call"
    assert nodes["CRM call (crm-call)"]["fill"] == BOTTLENECK_FILL
    assert nodes["CRM call (crm-call)"]["texts"][0] == "BOTTLENECK"
    assert "critical: 730 ms (73% of the total) (bottleneck)" in nodes["CRM call (crm-call)"]["tooltip"]
    assert {h for h, n in nodes.items() if "anomaly" in n["classes"]} == {"untimed", "stray"}


def arrows(svg: str) -> list[tuple[str, str, set[str]]]:
    """(from step, to step, classes) of each edge, steps named by their node id (from the tooltips)."""
    root = ET.fromstring(svg)
    ids = {}
    for g in root.iter(f"{SVG}g"):
        if "node" in g.get("class", "").split():
            head = next(g.iter(f"{SVG}a")).get(f"{XLINK}title").split("\nstatus:")[0]
            ids[g.get("id").rpartition("-")[2]] = head.split(" (")[-1].rstrip(")") if "(" in head else head
    out = []
    for g in root.iter(f"{SVG}g"):
        classes = set(g.get("class", "").split())
        if "edge" in classes:
            kind = g.get("id").rpartition("-")[2]
            out.append((kind, classes, next(g.iter(f"{SVG}path")).get("stroke")))
    return ids, out


@needs_dot
def test_critical_arrows_are_bold_and_follow_the_order_the_steps_ran():
    t = load_trace(generate_trace(7))
    a = t.analysis
    src = dag(t).source
    chain = []
    for u, v, attrs in re.findall(r"^\t(s\d+) -> (s\d+) \[(.*)\]$", src, flags=re.M):
        if "critical" in attrs:
            assert f'color="{CRITICAL_COLOR}"' in attrs and "penwidth=3" in attrs
            chain.append((a.node_ids[int(u[1:])], a.node_ids[int(v[1:])]))
    # in the order they ran: every critical step but the first is entered by exactly one arrow, coming from
    # the step that ran just before it or from that step's ancestor next to it (siblings stand side by side)
    heads = [v for _, v in chain]
    assert sorted(heads) == sorted(a.critical_path[1:])
    start = {n: s for n, s in zip(a.node_ids, a.start_us)}
    parent = {n: (a.node_ids[p] if p >= 0 else None) for n, p in zip(a.node_ids, a.parent_index)}
    for u, v in chain:
        before = a.critical_path[a.critical_path.index(v) - 1]
        ancestors = [before]
        while parent[ancestors[-1]] is not None:
            ancestors.append(parent[ancestors[-1]])
        assert u in ancestors and start[u] <= start[v]
    # the SVG keeps them: bold orange edges, and grey tree edges elsewhere
    svg_edges = arrows(dag_svg(t))[1]
    assert sum("critical" in c for _, c, _ in svg_edges) == len(chain)
    assert all(stroke == CRITICAL_COLOR for _, c, stroke in svg_edges if "critical" in c)
    assert all(stroke != CRITICAL_COLOR for _, c, stroke in svg_edges if "critical" not in c)


@needs_dot
def test_hostile_ids_are_escaped_and_the_svg_still_parses():
    t = hostile_trace()
    svg = dag_svg(t)
    assert "<script>" not in svg  # escaped, not an element
    root = ET.fromstring(svg)  # raises on &foo; or stray controls
    assert not [el for el in root.iter() if el.tag.endswith("script")]
    nodes = svg_steps(svg)
    heads = {n["tooltip"].split("\nstatus:")[0] for n in nodes.values()}
    for node_id in HOSTILE_IDS:
        expected = node_id.replace("\x0c", "\ufffd")
        assert expected in heads, node_id
    # label lines reproduce the id (the newline id spans two lines)
    labels = {tuple(n["texts"][:2]) for n in nodes.values()}
    assert ("line", "break") in labels
    assert any(n["texts"][0] == "back\\slash\\N\\" for n in nodes.values())
    assert any(n["texts"][0] == "amp&nbsp;&foo;&#12;" for n in nodes.values())
    assert any(n["texts"][0] == 'quote"d' for n in nodes.values())
    failed = [n for n in nodes.values() if "failed" in n["classes"]]
    assert len(failed) == 1 and f"error: err {HOSTILE_IDS[-1]} </title><b>" in failed[0]["tooltip"]
    # the graph's own title is escaped too, and SVG ids never carry trace text
    assert 'hostile <"name"> & co' in "".join(root.itertext())
    assert all(re.fullmatch(r"[A-Za-z0-9_-]*", el.get("id")) for el in root.iter() if el.get("id"))


@needs_dot
def test_id_prefix_keeps_element_ids_apart():
    svg = dag_svg(branchy_trace(), id_prefix='t1-"><x')
    ids = [el.get("id") for el in ET.fromstring(svg).iter() if el.get("id")]
    assert "t1-x-s0" not in ids and "t1-xs0" in ids


# -------------------------------------------------------------------- folding

@needs_dot
def test_large_trace_folds_all_but_critical_failed_and_their_ancestors():
    steps = wide_steps(600, failed=(5, 77))  # 1,201 steps
    t = load_trace(steps)
    nodes = svg_steps(dag_svg(t, max_nodes=300))
    real = by_tooltip_head(nodes)
    folds = [n for n in nodes.values() if "folded" in n["classes"]]
    assert len(nodes) <= 300
    assert set(t.analysis.critical_path) <= set(real)
    assert {"c5", "c77", "root"} <= set(real)
    assert folds, "nothing was folded"
    folded_total = sum(int(re.match(r"\+(\d+) steps", n["texts"][0]).group(1)) for n in folds)
    assert folded_total + len(real) == len(t.analysis.node_ids)


def test_full_shows_every_step():
    t = load_trace(wide_steps(600))
    src = dag(t, full=True, max_nodes=10).source
    assert len(re.findall(r"^\ts\d+ \[", src, flags=re.M)) == 1201
    assert "steps folded" not in src


def test_small_budget_still_keeps_the_bottleneck_and_its_ancestors():
    t = load_trace(wide_steps(50, failed=(3,)))
    src = dag(t, max_nodes=2).source
    kept = {t.analysis.node_ids[int(i)] for i in re.findall(r"^\ts(\d+) \[", src, flags=re.M)}
    assert {"root", t.analysis.bottleneck.node_id} <= kept


def test_a_long_critical_path_keeps_its_longest_steps_first():
    t = load_trace(generate_trace(3, size=2000))
    a = t.analysis
    src = dag(t, max_nodes=100).source
    kept = {a.node_ids[int(i)] for i in re.findall(r"^\ts(\d+) \[", src, flags=re.M)}
    assert len(a.critical_path) > 500 and len(kept) < 100  # the path alone would not fit
    drawn = sorted(a.critical_ms[n] for n in a.critical_path if n in kept)
    hidden = [a.critical_ms[n] for n in a.critical_path if n not in kept]
    assert a.bottleneck.node_id in kept and hidden and max(hidden) <= drawn[-1]
    assert sorted(a.critical_ms.values(), reverse=True)[:10] == sorted(
        (a.critical_ms[n] for n in kept if n in a.critical_ms), reverse=True)[:10]
    # the fold boxes say how many critical and failed steps they hold
    assert re.search(r'label="\+\d+ steps\\n\d+ critical', src)


# --------------------------------------------------------------- missing dot

@pytest.fixture
def no_dot(monkeypatch, tmp_path):
    monkeypatch.setattr(graphviz.backend.dot_command, "DOT_BINARY", tmp_path / "no-such-dot")


def test_missing_dot_raises_renderer_unavailable_with_install_hints(no_dot):
    t = branchy_trace()
    with pytest.raises(RendererUnavailable) as info:
        dag_svg(t)
    assert isinstance(info.value, RuntimeError)
    message = str(info.value)
    for hint in ("apt-get install graphviz", "brew install graphviz", "conda install -c conda-forge graphviz"):
        assert hint in message
    assert isinstance(info.value.__cause__, graphviz.ExecutableNotFound)


def test_missing_dot_notebook_display_names_the_fix(no_dot):
    g = dag(branchy_trace())
    assert isinstance(g, graphviz.Digraph)
    assert "crm-call" in g.source  # the DOT text needs no binary
    with pytest.raises(RendererUnavailable, match="brew install graphviz"):
        g._repr_mimebundle_()


@needs_dot
def test_node_titles_carry_the_tooltip_for_browsers_that_ignore_xlink_title():
    root = ET.fromstring(dag_svg(hostile_trace()))
    for g in root.iter(f"{SVG}g"):
        classes = g.get("class", "").split()
        if "node" in classes:
            assert g.find(f"{SVG}title").text == next(g.iter(f"{SVG}a")).get(f"{XLINK}title")
        if "edge" in classes:
            assert g.find(f"{SVG}title") is None
