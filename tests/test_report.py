"""gctrace_nb.report.trace and ``gctrace report``: the page's content, escaping, plotly.js modes, a missing dot."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser

import graphviz
import pytest

from _render_samples import branchy_steps, branchy_trace, hostile_trace, step, wide_steps
from gctrace_nb import load_trace
from gctrace_nb.cli.app import EXIT_INVALID, EXIT_OK, main
from gctrace_nb.report.trace import export_report, report_html, report_snippet

_skip_without_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="the graphviz dot binary is not installed")


def needs_dot(test):
    """Mark ``test`` as needing the dot binary (``-m dot`` selects these) and skip it where dot is missing."""
    return pytest.mark.dot(_skip_without_dot(test))
PLOTLY_BUNDLE = re.compile(r"plotly\.js v\d+\.\d+\.\d+")  # the banner at the top of plotly.min.js


class Elements(HTMLParser):
    """Collect start tags (with attributes) and the text inside <script> elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


def parse(html: str) -> Elements:
    p = Elements()
    p.feed(html)
    return p


@pytest.fixture(scope="module")
def page() -> str:
    return report_html([branchy_trace(), hostile_trace()])


def section(html: str, k: int) -> str:
    start = html.index(f'<section class="trace" id="t{k}"')
    return html[start:html.index("</section>", start)]


def test_page_is_a_full_document_with_a_section_per_trace(page):
    assert page.startswith("<!DOCTYPE html>")
    assert page.count('<section class="trace"') == 2
    assert "<title>gctrace report: 2 traces</title>" in page
    assert '<a href="#t1">hostile &lt;&#34;name&#34;&gt; &amp; co</a>' in page


def test_plotly_js_is_inlined_once(page):
    assert len(PLOTLY_BUNDLE.findall(page)) == 1
    elements = parse(page)
    assert not [a for tag, a in elements.tags if tag == "script" and a.get("src")]  # nothing to fetch
    scripts = elements.scripts
    assert sum(len(s) > 1_000_000 for s in scripts) == 1
    assert page.count("Plotly.newPlot(") == 2  # one gantt per trace


def test_cdn_mode_is_small_and_loads_plotly_from_the_network():
    html = report_html(branchy_trace(), plotlyjs="cdn")
    assert not PLOTLY_BUNDLE.search(html)
    srcs = [a.get("src") for tag, a in parse(html).tags if tag == "script" and a.get("src")]
    assert len(srcs) == 1 and srcs[0].startswith("https://cdn.plot.ly/")
    assert len(html) < 200_000


def summary_rows(html: str) -> dict[str, str]:
    table = re.findall(r'<table class="summary">(.*?)</table>', html, flags=re.S)[0]
    return {th: re.sub(r"<[^>]+>", "", td) for th, td in re.findall(r"<tr><th>([^<]*)</th><td[^>]*>(.*?)</td></tr>", table)}


def test_details_report_the_analysis_figures():
    t = branchy_trace()
    rows = summary_rows(section(report_html(t, plotlyjs="cdn"), 0))
    assert rows == {
        "Flow": "flow-1",
        "Job": "job-9",
        "Source": "debug · branchy",
        "Started": "2023-11-14T22:13:20.000Z",
        "Total": "1,000 ms",
        "Bottleneck": "CRM call (crm-call) (730 ms on the critical path)",
        "Steps": "9 (8 valid)",
        "Accuracy": "88.89% (0.8889)",
        "Retrieval latency": "1,234.5 ms",
    }
    a = t.analysis
    assert (a.total_ms, a.bottleneck.critical_ms, a.accuracy_rate) == (1000.0, 730.0, 0.8889)


def table_rows(html: str, cls: str) -> list[list[str]]:
    """The rows of ``<table class=cls>`` as lists of cell texts (tags dropped, entities kept)."""
    body = re.findall(rf'<table class="{cls}"[^>]*>(.*?)</table>', html, flags=re.S)[0]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body, flags=re.S)[1:]
    return [[" ".join(re.sub(r"<[^>]+>", " ", c).split()) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)]
            for row in rows]


def test_tables_agree_with_the_analysis():
    t = branchy_trace()
    a = t.analysis
    html = section(report_html(t), 0)
    path = table_rows(html, "critical-path")
    # name (id where there is a name), then status, start, critical ms and share, in time order
    assert [r[0] for r in path] == ["Inbound flow root", "auth", "crm", "CRM call crm-call", "notify boom"]
    assert len(path) == len(a.critical_path)
    assert path[3][3:] == ["730 ms", "73%"]
    failed = table_rows(html, "failed-steps")
    assert [r[0] for r in failed] == ['db timeout &lt;db&gt; &amp; &#34;x&#34;', "notify boom"]  # the error under the name
    assert [r[1] for r in failed] == ["FAILED", "error"]
    anomalies = re.findall(r'<table class="anomalies"[^>]*>(.*?)</table>', html, flags=re.S)[0]
    assert re.findall(r'<span class="name">([^<]*)</span></td><td>([^<]*)</td>', anomalies) == list(a.anomalies)
    steps = table_rows(html, "steps")
    assert len(steps) == 9
    crm_call = next(r for r in steps if r[0].endswith("CRM call crm-call"))
    assert crm_call[1:8] == ["ok", "+150 ms", "730 ms", "730 ms", "730 ms", "73%", ""]
    assert re.search(r'<tr class="critical bottleneck">', html)  # the bottleneck's row is marked
    steps_table = re.findall(r'<table class="steps"[^>]*>(.*?)</table>', html, flags=re.S)[0]
    assert len(re.findall(r'<tr class="failed[^"]*">', steps_table)) == 2  # failed rows are marked


def test_hostile_text_never_becomes_markup(page):
    hostile = section(page, 1)
    assert "<script>alert(1)" not in page
    assert "</title><b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in hostile
    elements = parse(page)
    assert not [s for s in elements.scripts if "alert(1)" in s and "\\u003cscript" not in s]
    assert {tag for tag, _ in elements.tags} <= {
        "html", "head", "meta", "link", "title", "style", "body", "div", "h1", "h2", "h3", "p", "span", "table",
        "tr", "th", "td", "a", "section", "details", "summary", "script", "code", "svg", "g", "polygon", "path",
        "text", "ellipse", "polyline", "b", "i", "input", "label", "footer", "noscript",
    }


@needs_dot
def test_dag_is_inline_svg_with_ids_kept_apart(page):
    for k in (0, 1):
        html = section(page, k)
        assert len(re.findall(rf'<div class="dag" id="t{k}-dag"><svg ', html)) == 1
        assert f'id="t{k}&#45;graph"' in html
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page and "<!-- " not in page


@needs_dot
def test_large_trace_dag_is_folded_and_says_so():
    t = load_trace(wide_steps(400))
    html = section(report_html(t, plotlyjs="cdn", max_rows=50), 0)
    assert "folded into “+N steps” boxes" in html
    assert "class=\"node folded\"" in html
    assert html.count('<tr class="') <= 51 + 10  # steps table cut to 50 rows (+ failed table, none here)
    assert "The first 50 of 801 steps" in html
    full = section(report_html(t, plotlyjs="cdn", full_dag=True, max_rows=50), 0)
    assert "folded" not in full.split("<h3>Timeline</h3>")[0].split("<h3>DAG</h3>")[1]


def test_without_dot_the_report_has_a_note_and_everything_else(monkeypatch, tmp_path):
    monkeypatch.setattr(graphviz.backend.dot_command, "DOT_BINARY", tmp_path / "no-such-dot")
    html = report_html(branchy_trace(), plotlyjs="cdn")
    note = re.findall(r'<div class="note dag-missing">(.*?)</div>', html, flags=re.S)
    assert len(note) == 1
    for hint in ("apt-get install graphviz", "brew install graphviz", "conda install -c conda-forge graphviz"):
        assert hint in note[0]
    assert "<svg" not in html
    assert "Plotly.newPlot(" in html and '<table class="steps">' in html


def test_when_dot_fails_the_report_has_a_note_and_everything_else(monkeypatch, tmp_path):
    broken = tmp_path / "dot"
    broken.write_text("#!/bin/sh\necho 'dot: out of memory' >&2\nexit 3\n", encoding="utf-8")
    broken.chmod(0o755)
    monkeypatch.setattr(graphviz.backend.dot_command, "DOT_BINARY", broken)
    html = report_html(branchy_trace(), plotlyjs="cdn")
    note = re.findall(r'<div class="note dag-missing">(.*?)</div>', html, flags=re.S)
    assert note == ["DAG not drawn: dot failed (exit status 3): dot: out of memory"]
    assert "Plotly.newPlot(" in html


def test_snippet_is_a_fragment_with_scoped_style():
    html = report_snippet(branchy_trace())
    assert html.lstrip().startswith('<div class="gctrace-report">')
    assert "<html" not in html and "<body" not in html and "<!DOCTYPE" not in html
    assert "<style>" in html and ".gctrace-report" in html
    assert not PLOTLY_BUNDLE.search(html)  # cdn by default in notebooks


def test_export_report_writes_the_page_and_returns_its_path(tmp_path):
    out = export_report(branchy_trace(), tmp_path / "sub" / "r.html", plotlyjs="cdn")
    assert out == tmp_path / "sub" / "r.html"
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "crm-call" in text
    assert [p.name for p in out.parent.iterdir()] == ["r.html"]  # no temporary file left


def test_bad_arguments():
    with pytest.raises(ValueError, match="plotlyjs"):
        report_html(branchy_trace(), plotlyjs="directory")
    with pytest.raises(TypeError, match="Trace"):
        report_html([branchy_steps()])


# ----------------------------------------------------------------------- CLI

@pytest.fixture
def files(tmp_path):
    good = tmp_path / "flow.json"
    good.write_text(json.dumps(branchy_steps()), encoding="utf-8")
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"steps": wide_steps(3)}), encoding="utf-8")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    return good, other, bad


def test_cli_writes_one_page_with_a_section_per_file(files, tmp_path, capsys):
    good, other, _ = files
    out = tmp_path / "report.html"
    assert main(["report", str(good), str(other), "-o", str(out), "--cdn"]) == EXIT_OK
    assert capsys.readouterr().out.strip() == str(out)
    html = out.read_text(encoding="utf-8")
    assert html.count('<section class="trace"') == 2
    assert html.index(str(good)) < html.index(str(other))  # argument order


def test_cli_names_a_bad_file_and_still_reports_the_others(files, tmp_path, capsys):
    good, _, bad = files
    out = tmp_path / "report.html"
    assert main(["report", str(bad), str(good), "-o", str(out), "--cdn"]) == EXIT_INVALID
    err = capsys.readouterr().err
    assert err.startswith("gctrace report: ") and str(bad) in err and err.count("\n") == 1
    assert out.read_text(encoding="utf-8").count('<section class="trace"') == 1


def test_cli_writes_a_batch_page_for_a_directory_and_nothing_when_no_file_loads(files, tmp_path, capsys):
    good, other, bad = files
    out = tmp_path / "out" / "batch.html"
    out.parent.mkdir()
    # the directory holds one unreadable file: named on stderr, exit 2, the page still written
    assert main(["report", str(tmp_path), "-o", str(out), "--cdn"]) == EXIT_INVALID
    page = out.read_text(encoding="utf-8")
    assert "bad.json" in capsys.readouterr().err
    assert "flow.json" in page and "other.json" in page
    out.unlink()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["report", str(empty), "-o", str(out)]) == EXIT_INVALID
    assert main(["report", str(bad), "-o", str(out)]) == EXIT_INVALID
    assert not out.exists()


def test_cli_reads_ndjson_like_analyze_does(files, tmp_path, capsys):
    good, other, _ = files
    nd = tmp_path / "traces.ndjson"
    nd.write_text(good.read_text(encoding="utf-8") + "\n" + json.dumps(json.loads(other.read_text(encoding="utf-8")))
                  + "\n", encoding="utf-8")
    out = tmp_path / "nd.html"
    assert main(["report", str(nd), "-o", str(out), "--cdn"]) == EXIT_OK, capsys.readouterr().err
    page = out.read_text(encoding="utf-8")
    assert f"{nd}:1" in page and f"{nd}:2" in page


def test_cli_without_dot_warns_and_writes_the_page(files, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(graphviz.backend.dot_command, "DOT_BINARY", tmp_path / "no-such-dot")
    good, _, _ = files
    out = tmp_path / "report.html"
    assert main(["report", str(good), "-o", str(out), "--cdn"]) == EXIT_OK
    assert "brew install graphviz" in capsys.readouterr().err
    assert "dag-missing" in out.read_text(encoding="utf-8")


# ------------------------------------------------------- the page leads with the answer

class VisibleText(HTMLParser):
    """The text a reader sees, in order: no <style>, <script>, <noscript> or <title> content."""

    HIDDEN = {"style", "script", "noscript", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        self._hidden += tag in self.HIDDEN

    def handle_endtag(self, tag):
        self._hidden -= tag in self.HIDDEN

    def handle_data(self, data):
        if not self._hidden and data.strip():
            self.parts.append(" ".join(data.split()))


def visible_text(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    return " ".join(parser.parts)


def ms_text(value: float) -> str:
    """Milliseconds as a reader would write them: thousands separated, no trailing zeros."""
    return f"{value:,.3f}".rstrip("0").rstrip(".") + " ms"


def percent_texts(share: float) -> set[str]:
    pct = share * 100
    return {f"{pct:.0f}%", f"{pct:.1f}%", f"{pct:.1f}".rstrip("0").rstrip(".") + "%"}


def traces_with_names():
    from pathlib import Path

    from gctrace_nb.simulator.generator import generate_trace

    data = Path(__file__).resolve().parent.parent / "data"
    yield "branchy", branchy_trace()
    yield "demo", load_trace(generate_trace(7), name="inbound-call-demo")
    for size in (10, 100, 2000):
        yield f"generated-{size}", load_trace(generate_trace(5, size=size), name=f"generated {size}")
    for name in ("inbound_call", "payment_failure", "dirty_trace"):
        yield name, load_trace(data / f"{name}.json")


def expected_answer(trace) -> tuple[str, str, set[str]]:
    """The bottleneck's name as the step carries it, its critical ms and its share, computed here from the analysis."""
    a = trace.analysis
    bn = a.bottleneck
    raw = a.raw[a.index_of[bn.node_id]]
    return raw.get("name") or bn.node_id, ms_text(bn.critical_ms), percent_texts(bn.critical_ms / a.total_ms)


@pytest.mark.parametrize("label, trace", list(traces_with_names()), ids=lambda v: v if isinstance(v, str) else "")
def test_the_first_700_visible_characters_name_the_bottleneck_its_ms_and_share(label, trace):
    first = visible_text(report_html(trace, plotlyjs="cdn"))[:700]
    name, ms, percents = expected_answer(trace)
    assert name in first, first
    assert ms in first, (ms, first)
    assert any(p in first for p in percents), (percents, first)
    assert ms_text(trace.analysis.total_ms) in first  # "... of 15,569 ms"


def test_the_headline_names_failures_and_anomalies_in_one_line_each():
    from gctrace_nb.core.summary import headline

    t = branchy_trace()
    first = visible_text(report_html(t, plotlyjs="cdn"))[:700]
    h = headline(t.analysis)
    assert h.failures_line == "2 failed: db: timeout <db> & \"x\"; notify: boom"
    assert h.anomalies_line == "2 anomalies: 1 orphan, 1 untimed"
    assert h.failures_line in first and h.anomalies_line in first
    # many failures are counted by name, still one line
    many = load_trace([step("root", 0, 100)] + [step(f"f{k}", k, k + 1, "root", status="failed", name="Lookup",
                                                   errorMessage="HTTP 503") for k in range(9)])
    line = headline(many.analysis).failures_line
    assert line == "9 failed: Lookup ×9; most common error: HTTP 503" and "\n" not in line


def test_a_dirty_trace_counts_its_steps_the_same_way_everywhere():
    from pathlib import Path

    t = load_trace(Path(__file__).resolve().parent.parent / "data" / "dirty_trace.json")
    a = t.analysis
    assert (a.steps_total, len(a.node_ids), a.valid_steps) == (14, 11, 9)
    html = section(report_html(t, plotlyjs="cdn"), 0)
    text = visible_text(html)
    said = "14 in the trace: 11 kept (3 dropped: 1 with a duplicate id, 2 without an id), 9 valid"
    assert f"steps {said}" in text  # under the headline
    assert summary_rows(html)["Steps"] == said  # in the details
    assert "Steps (11 kept of 14)" in text  # above the table
    assert len(table_rows(html, "steps")) == 11


def test_a_cdn_page_says_where_the_timeline_goes_that_it_needs_the_network():
    cdn = section(report_html(branchy_trace(), plotlyjs="cdn"), 0)
    gantt_part = cdn.split("<h3>Timeline</h3>")[1].split("<h3>")[0]
    note = re.findall(r'<div class="needs-network">(.*?)</div>', gantt_part, flags=re.S)
    assert len(note) == 1 and "needs the network" in note[0] and "--cdn" in note[0]
    assert gantt_part.index("needs-network") < gantt_part.index("Plotly.newPlot")  # where the chart would be
    inline = section(report_html(branchy_trace()), 0)
    assert "needs the network" not in inline  # an inlined page only asks for scripts, in a <noscript>
    assert re.search(r"<noscript><div class=\"needs-network\">[^<]*JavaScript", inline)


def test_trace_notebook_display_leads_with_the_headline():
    t = branchy_trace()
    html = t._repr_html_()
    text = visible_text(html)
    assert text.index("Bottleneck") < text.index("Flow")  # the answer before the figures
    assert "CRM call crm-call · 730 ms · 73% of 1,000 ms" in text
    assert "✗ 2 failed" in text and "2 anomalies" in text
    assert "<script>" not in hostile_trace()._repr_html_()
