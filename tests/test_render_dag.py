"""gctrace_nb.render.graph: the DOT source, the SVG dot makes of it, folding, a missing dot."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import graphviz
import pytest

from _render_samples import HOSTILE_IDS, branchy_trace, hostile_trace, wide_steps
from gctrace_nb import RendererUnavailable, load_trace
from gctrace_nb.render import dag, dag_svg
from gctrace_nb.render.graph import CRITICAL_COLOR, FAILED_FILL, FAILED_LINE

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
        shape = next(el for el in link if el.tag in (f"{SVG}path", f"{SVG}polygon"))
        texts = ["".join(t.itertext()) for t in link.iter(f"{SVG}text")]
        key = tooltip if "folded" in classes else None
        out[key or g.get("id")] = {
            "classes": set(classes),
            "texts": texts,
            "fill": shape.get("fill"),
            "stroke": shape.get("stroke"),
            "tooltip": tooltip,
            "id": g.get("id"),
        }
    return out


def by_tooltip_head(nodes: dict[str, dict]) -> dict[str, dict]:
    return {n["tooltip"].split("\nstatus:")[0]: n for n in nodes.values() if "step" in n["classes"]}


# ------------------------------------------------------------ DOT source (no dot binary needed)

def test_source_has_one_box_per_step_and_the_tree_edges():
    t = branchy_trace()
    src = dag(t).source
    assert len(re.findall(r"^\ts\d+ \[", src, flags=re.M)) == len(t.analysis.node_ids)
    a = t.analysis
    edges = set(re.findall(r"^\t(s\d+) -> (s\d+)", src, flags=re.M))
    expected = {(f"s{p}", f"s{i}") for i, p in enumerate(a.parent_index) if p >= 0}
    assert edges == expected
    assert "rankdir=LR" in src


def test_source_labels_show_name_duration_and_critical_ms():
    src = dag(branchy_trace()).source
    # crm-call has a name; 730 ms long, all of it critical
    assert 'label="CRM call\\n730 ms\\ncritical 730 ms"' in src
    # lookup is off the critical path: no critical line
    assert 'label="lookup\\n500 ms"' in src
    # anomalies are named in the box
    assert "⚠ orphan" in src and "⚠ untimed" in src


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

@needs_dot
def test_svg_styles_critical_failed_and_bottleneck_steps():
    t = branchy_trace()
    nodes = by_tooltip_head(svg_steps(dag_svg(t)))
    a = t.analysis
    critical = {h.split(" (")[-1].rstrip(")") if "(" in h else h for h, n in nodes.items() if "critical" in n["classes"]}
    assert critical == set(a.critical_path) == {"root", "auth", "crm", "crm-call", "notify"}
    for head, node in nodes.items():
        if "critical" in node["classes"]:
            assert node["stroke"] == CRITICAL_COLOR
    failed = {h for h, n in nodes.items() if "failed" in n["classes"]}
    assert failed == {"db", "notify"} == set(a.failed_nodes)
    assert nodes["db"]["fill"] == FAILED_FILL and nodes["db"]["stroke"] == FAILED_LINE
    assert nodes["notify"]["fill"] == FAILED_FILL and nodes["notify"]["stroke"] == CRITICAL_COLOR
    assert "error: timeout <db> & \"x\"" in nodes["db"]["tooltip"]
    bottleneck = [h for h, n in nodes.items() if "bottleneck" in n["classes"]]
    assert bottleneck == ["CRM call (crm-call)"] and a.bottleneck.node_id == "crm-call"
    assert "critical: 730 ms (bottleneck)" in nodes["CRM call (crm-call)"]["tooltip"]
    assert {h for h, n in nodes.items() if "anomaly" in n["classes"]} == {"untimed", "stray"}


@needs_dot
def test_svg_critical_edges_are_coloured():
    root = ET.fromstring(dag_svg(branchy_trace()))
    edges = [g for g in root.iter(f"{SVG}g") if "edge" in g.get("class", "").split()]
    critical = [g for g in edges if "critical" in g.get("class", "").split()]
    # root->auth, root->crm, crm->crm-call, root->notify
    assert len(critical) == 4
    for g in critical:
        assert next(g.iter(f"{SVG}path")).get("stroke") == CRITICAL_COLOR


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


def test_small_budget_still_keeps_the_critical_path():
    t = load_trace(wide_steps(50, failed=(3,)))
    src = dag(t, max_nodes=2).source
    kept = {t.analysis.node_ids[int(i)] for i in re.findall(r"^\ts(\d+) \[", src, flags=re.M)}
    assert set(t.analysis.critical_path) | {"c3"} <= kept


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
