"""gctrace_nb.report.trace and ``gctrace report``: the page's content, escaping, plotly.js modes, a missing dot."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser

import graphviz
import pytest

from _render_samples import branchy_steps, branchy_trace, hostile_trace, wide_steps
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


def test_summary_reports_the_analysis_figures():
    t = branchy_trace()
    rows = summary_rows(section(report_html(t, plotlyjs="cdn"), 0))
    assert rows == {
        "Flow": "flow-1",
        "Job": "job-9",
        "Source": "debug · branchy",
        "Total": "1,000 ms",
        "Bottleneck": "crm-call (730 ms on the critical path)",
        "Steps": "9 (8 valid)",
        "Accuracy": "88.89% (0.8889)",
        "Retrieval latency": "1,234.5 ms",
        "Failures": "2: db, notify",
        "Anomalies": "2",
    }
    a = t.analysis
    assert (a.total_ms, a.bottleneck.critical_ms, a.accuracy_rate) == (1000.0, 730.0, 0.8889)


def test_tables_agree_with_the_analysis():
    t = branchy_trace()
    html = section(report_html(t), 0)
    rows = re.findall(r'<table class="critical-path">(.*?)</table>', html, flags=re.S)[0]
    listed = re.findall(r'<td class="id">([^<]*)</td><td class="num">([^<]*)</td>', rows)
    assert [n for n, _ in listed] == list(t.analysis.critical_path)
    assert dict(listed)["crm-call"] == "730 ms"
    failed = re.findall(r'<tr class="failed"><td class="id">([^<]*)</td>', html)
    assert set(failed) >= {"db", "notify"}
    assert "timeout &lt;db&gt; &amp; &#34;x&#34;" in html
    anomalies = re.findall(r'<table class="anomalies">(.*?)</table>', html, flags=re.S)[0]
    assert re.findall(r'<td class="id">([^<]*)</td><td>([^<]*)</td>', anomalies) == list(t.analysis.anomalies)
    steps = re.findall(r'<table class="steps">(.*?)</table>', html, flags=re.S)[0]
    assert steps.count("<tr") == 1 + 9


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
        "text", "ellipse", "polyline",
    }


@needs_dot
def test_dag_is_inline_svg_with_ids_kept_apart(page):
    for k in (0, 1):
        html = section(page, k)
        assert len(re.findall(r'<div class="dag"><svg ', html)) == 1
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
