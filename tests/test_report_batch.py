"""The batch page, and the notebook displays of many traces and of one trace's steps, read from what they show."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from _render_samples import branchy_trace, hostile_trace
from gctrace_nb import load_trace
from gctrace_nb.batch import compare, load_traces
from gctrace_nb.report.batch import batch_report_html, summarize_set
from gctrace_nb.report.tables import steps_html
from gctrace_nb.simulator.generator import generate_trace

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture(scope="module")
def batch_dir(tmp_path_factory) -> Path:
    """Twelve generated flows (names shared by steps across traces), two with a failing payment step."""
    out = tmp_path_factory.mktemp("batch")
    for k in range(12):
        steps = generate_trace(100 + k, failure_rate=0.0)
        if k in (3, 8):
            pay = next(s for s in steps if s["nodeId"] == "payment-status")
            pay["status"], pay["errorMessage"] = "failed", "HTTP 504 <gateway>"
        (out / f"t{k:02d}.json").write_text(json.dumps(steps), encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def page(batch_dir) -> str:
    return batch_report_html(load_traces(batch_dir, progress=False), plotlyjs="cdn")


def rows_of(html: str, cls: str) -> list[str]:
    body = re.findall(rf'<table class="{cls}"[^>]*>(.*?)</table>', html, flags=re.S)[0]
    return re.findall(r"<tr[^>]*>(.*?)</tr>", body, flags=re.S)[1:]


def text(fragment: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", fragment).split())


def test_the_stylesheet_is_the_trace_reports_and_is_not_escaped(page):
    from gctrace_nb.report.tables import css
    from gctrace_nb.report.trace import report_html

    style = re.findall(r"<style>(.*?)</style>", page, flags=re.S)[0]
    assert css() in style and "&#34;" not in style and '"Segoe UI"' in style
    trace_style = re.findall(r"<style>(.*?)</style>", report_html(branchy_trace(), plotlyjs="cdn"), flags=re.S)[0]
    assert style == trace_style  # the same look
    assert '<div class="gctrace-report batch-report">' in page


def test_the_root_step_is_left_out_of_the_bottleneck_ranking(batch_dir):
    ts = load_traces(batch_dir, progress=False)
    summary = summarize_set(ts)
    ranked = [r["key"] for r in summary["bottlenecks"]]
    assert "Inbound call flow" not in ranked and summary["roots"] == ["Inbound call flow"]
    # by every other measure the ranking is ts.nodes()'s, in its order
    nodes = [k for k in ts.nodes(by="name")["name"].to_list() if k != "Inbound call flow"]
    assert ranked == nodes[: len(ranked)]


def test_steps_are_named_the_same_way_in_every_table(page):
    # a name held by one step id shows the id beside it, everywhere
    seen = 0
    for cls in ("bottlenecks", "failures", "overview"):
        for row in rows_of(page, cls):
            cells = re.findall(r'<td class="step"><span class="name">([^<]*)</span>(?:<code class="sid">([^<]*)</code>)?',
                               row)
            for name, node_id in cells:
                assert node_id, (cls, name)
                seen += 1
    assert seen >= 15 + 1 + 12
    slowest = rows_of(page, "overview")[0]
    assert re.search(r'<span class="name">[A-Z][^<]+</span><code class="sid">[a-z-]+</code>', slowest)


def test_every_slowest_and_hotspot_row_links_to_that_traces_section(page, batch_dir):
    anchors = set(re.findall(r'<section class="trace" id="(t\d+)"', page))
    ts = load_traces(batch_dir, progress=False)
    for cls, column in (("overview", 0), ("failures", 5)):
        rows = rows_of(page, cls)
        assert rows
        for row in rows:
            cell = re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)[column]
            (href,) = re.findall(r'<a href="#(t\d+)">([^<]*)</a>', cell)
            anchor, label = href
            assert anchor in anchors
            # the section is that trace's: its file name heads it
            assert ts.labels[int(anchor[1:])] == label
            start = page.index(f'<section class="trace" id="{anchor}"')
            assert label in page[start:start + 300]
    # the slowest trace's section leads with its own headline
    top = re.findall(r'<a href="#(t\d+)"', rows_of(page, "overview")[0])[0]
    k = int(top[1:])
    bn = ts.traces.row(k, named=True)["bottleneck"]
    section = page[page.index(f'<section class="trace" id="{top}"'):]
    assert bn in text(section[: section.index("</div>", section.index("gct-headline")) + 400])


def test_hotspots_name_the_failing_step_its_rate_and_error(page):
    (row,) = rows_of(page, "failures")
    assert text(row).startswith("Payment status payment-status 2 17% 12 HTTP 504 &lt;gateway&gt;")


def test_distributions_are_on_log_axes(page):
    figures = [json.loads(m) for m in re.findall(r"Plotly\.newPlot\(\s*\"[^\"]+\",\s*(\[.*?\]),\s*\{", page, flags=re.S)[:2]]
    hist, box = figures
    assert hist[0]["type"] == "bar"  # binned on log10(ms): x are log values, labelled in ms or s
    layouts = re.findall(r"Plotly\.newPlot\(\s*\"[^\"]+\",\s*\[.*?\],\s*(\{.*?\}),\s*\{\"responsive", page, flags=re.S)
    hist_layout, box_layout = (json.loads(x) for x in layouts[:2])
    assert all(t.endswith((" ms", " s")) for t in hist_layout["xaxis"]["ticktext"])
    assert all(1 <= v <= 6 for v in hist_layout["xaxis"]["tickvals"])  # 10 ms .. 1,000 s in log10
    assert box_layout["xaxis"]["type"] == "log"
    assert all(b["type"] == "box" and min(b["x"]) > 0 for b in box)
    assert "(log scale)" in hist_layout["title"]["text"] and "(log scale)" in box_layout["title"]["text"]


def test_batch_cdn_page_says_each_chart_needs_the_network(page):
    figures = re.findall(r'<div class="figure">(.*?)</div>\s*</div>', page, flags=re.S)
    assert page.count('<div class="figure">') == 2
    assert page.count("This chart needs the network") == 2
    assert page.count("The timeline needs the network") == page.count('<section class="trace"')


def test_headline_of_the_set_comes_first(page):
    body = text(page.split("<body>")[1])[:500]
    assert "Most time" in body and "of all end-to-end time" in body
    assert "2 failed steps in 2 of 12 traces: Payment status ×2" in body
    assert "Slowest trace:" in body


# ----------------------------------------------------------- notebook displays

def test_launcher_steps_table_is_the_reports(tmp_path):
    html = steps_html(branchy_trace())
    assert html.startswith('<div class="gctrace-report">') and "<style>" in html
    rows = rows_of(html, "steps")
    assert len(rows) == 9
    db = next(r for r in rows if ">db<" in r)
    assert '<span class="chip failed" title="FAILED">FAILED</span>' in db  # a status chip
    assert "timeout &lt;db&gt; &amp; &#34;x&#34;" in db  # the error under the name
    assert '<td class="num">460 ms</td>' in db  # formatted durations
    assert len([r for r in rows_of(html, "steps") if r]) == 9
    assert html.count('<tr class="failed') == 2
    assert "<script>" not in steps_html(hostile_trace())
    big = load_trace(generate_trace(1, size=300))
    assert len(rows_of(steps_html(big, max_rows=50), "steps")) == 50
    assert "The first 50 of 300 steps" in steps_html(big, max_rows=50)


def test_traceset_display_is_the_report_look(batch_dir):
    ts = load_traces(batch_dir, progress=False)
    html = ts._repr_html_()
    assert html.startswith('<div class="gctrace-report">') and "<style>" in html
    assert "Most time" in html and "Top bottlenecks" in html and "Slowest traces" in html
    assert '<tr class="failed">' in html and 'href="#' not in html  # no sections to link to in a notebook
    assert len(rows_of(html, "bottlenecks")) == 10
    slim = load_traces(batch_dir, progress=False, frames=False)
    assert "loaded without step frames" in slim._repr_html_()


def test_comparison_display_colours_deltas_and_marks_newly_failing_steps(batch_dir):
    files = sorted(batch_dir.glob("*.json"))
    result = compare([str(f) for f in files if f.name not in ("t03.json", "t08.json")], [str(batch_dir)], by="name")
    html = result._repr_html_()
    assert html.startswith('<div class="gctrace-report">')
    rows = rows_of(html, "comparison")
    first = rows[0]
    assert "Payment status" in first and '<span class="chip newly_failing"' in first  # the worst news first
    assert '<tr class="failed">' in html
    assert re.search(r'<td class="num (worse|better)">[+−]', html)
    assert "0% → 17%" in text(first)
