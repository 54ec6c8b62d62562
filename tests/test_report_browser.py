"""Open the HTML report in headless Chromium (Debian ``chromium`` driven by Playwright).

Never runs ``playwright install``: it uses the system browser and skips when there is none.
"""

from __future__ import annotations

import shutil

import pytest

from _render_samples import branchy_trace, hostile_trace
from gctrace_nb.report.trace import export_report

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
sync_api = pytest.importorskip("playwright.sync_api")
if CHROMIUM is None:  # pragma: no cover - depends on the machine
    pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)

LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--no-first-run", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        try:
            yield b
        finally:
            b.close()


def open_report(browser, path):
    """Load ``path`` and return (page, page errors, console errors, failed requests)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    console: list[str] = []
    failed: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: console.append(msg.text) if msg.type == "error" else None)
    page.on("requestfailed", lambda req: failed.append(req.url))
    page.goto(path.as_uri())
    page.wait_for_selector(".plotly .main-svg", timeout=30_000)
    return page, errors, console, failed


def test_report_draws_gantt_and_dag_offline_without_errors(browser, tmp_path):
    path = export_report([branchy_trace(), hostile_trace()], tmp_path / "report.html")
    page, errors, console, failed = open_report(browser, path)
    try:
        page.wait_for_function("document.querySelectorAll('.plotly .main-svg').length >= 4")
        # both gantts drew one bar per row (plotly keeps an empty point for the untimed step)
        widths = page.eval_on_selector_all("#t0-gantt .bars .point path", "els => els.map(e => e.getBBox().width)")
        assert len(widths) == 9
        assert sum(w > 0 for w in widths) == 8  # the untimed step has no bar
        assert page.locator("#t1-gantt .main-svg").count() >= 1
        # the critical segments are drawn as a line trace
        assert page.locator("#t0-gantt .scatterlayer .js-line").count() >= 1
        # both DAGs are inline SVG with one box per step, critical and failed ones styled
        assert page.locator("#t0 .dag svg g.node").count() == 9
        assert page.locator("#t0 .dag svg g.node.critical").count() == 5
        assert page.locator("#t0 .dag svg g.node.failed").count() == 2
        assert page.locator("#t1 .dag svg g.node").count() == 8
        # hostile text shows as text; nothing it holds became markup or ran
        assert page.evaluate("typeof window.alert_ran") == "undefined"
        assert page.locator("script:has-text('alert(1)')").count() == 0
        assert "<script>alert(1)</script>" in page.locator("#t1 table.steps").inner_text()
        assert page.title() == "gctrace report: 2 traces"
        assert page.locator("table.overview a[href='#t1']").count() == 1
        page.screenshot(path=str(tmp_path / "report.png"), full_page=False)
    finally:
        page.close()
    assert errors == []
    assert console == []
    assert failed == []  # inline plotly.js: nothing fetched, so it opens offline


def test_report_without_dot_still_renders_with_a_note(browser, tmp_path, monkeypatch):
    import graphviz

    monkeypatch.setattr(graphviz.backend.dot_command, "DOT_BINARY", tmp_path / "no-such-dot")
    path = export_report(branchy_trace(), tmp_path / "nodot.html")
    page, errors, console, failed = open_report(browser, path)
    try:
        note = page.locator(".dag-missing").inner_text()
        assert "apt-get install graphviz" in note and "brew install graphviz" in note
        assert page.locator(".dag svg").count() == 0
        assert page.locator("#t0-gantt .bars .point").count() == 9
    finally:
        page.close()
    assert errors == [] and console == [] and failed == []


# ------------------------------------------------------- what a reader sees first

def _named_traces():
    from pathlib import Path

    from gctrace_nb import load_trace
    from gctrace_nb.simulator.generator import generate_trace

    data = Path(__file__).resolve().parent.parent / "data"
    return [
        ("demo", lambda: load_trace(generate_trace(7), name="inbound-call-demo")),
        ("payment_failure", lambda: load_trace(data / "payment_failure.json")),
        ("generated-2000", lambda: load_trace(generate_trace(5, size=2000), name="generated 2000")),
    ]


@pytest.mark.parametrize("label, make", _named_traces(), ids=[n for n, _ in _named_traces()])
def test_first_screen_names_the_bottleneck_and_the_dag_gives_it_its_own_fill(browser, tmp_path, label, make):
    trace = make()
    a = trace.analysis
    bn = a.bottleneck
    path = export_report(trace, tmp_path / f"{label}.html")
    page, errors, console, failed = open_report(browser, path)
    try:
        first = page.evaluate("document.body.innerText").replace("\n", " ")[:700]
        name = a.raw[a.index_of[bn.node_id]].get("name") or bn.node_id
        pct = 100 * bn.critical_ms / a.total_ms
        assert name in first
        assert f"{bn.critical_ms:,.3f}".rstrip("0").rstrip(".") + " ms" in first
        assert f"{pct:.0f}%" in first or f"{pct:.1f}".rstrip("0").rstrip(".") + "%" in first
        box = page.locator("#t0 .gct-headline").bounding_box()
        assert box["y"] + box["height"] < 900  # on the first screen
        # the DAG: the bottleneck's box is filled with a colour no other box has
        fills = page.eval_on_selector_all(
            "#t0 .dag svg g.node", "gs => gs.map(g => [g.classList.contains('bottleneck'), "
            "(g.querySelector('path, polygon') || {getAttribute: () => null}).getAttribute('fill')])")
        mine = [f for is_bn, f in fills if is_bn]
        others = [f for is_bn, f in fills if not is_bn]
        assert len(mine) == 1 and mine[0] not in others
        # the timeline names it on the chart, and draws the critical segments over the bars
        notes = page.evaluate("document.getElementById('t0-gantt').layout.annotations.map(n => n.text)")
        assert len(notes) == 1 and name.split()[0] in notes[0] and "bottleneck" in notes[0]
        assert page.locator("#t0-gantt .scatterlayer .js-line").count() >= 2  # dark edge + orange stripe
    finally:
        page.close()
    assert errors == [] and console == [] and failed == []


def test_a_cdn_page_opened_offline_says_the_timeline_needs_the_network(browser, tmp_path):
    from pathlib import Path

    import plotly

    path = export_report(branchy_trace(), tmp_path / "cdn.html", plotlyjs="cdn")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.route("https://cdn.plot.ly/**", lambda route: route.abort())  # offline
    try:
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        note = page.locator("#t0 .gantt .needs-network")
        assert note.is_visible() and "needs the network" in note.inner_text()
    finally:
        page.close()
    # online (plotly.js served from the package instead of the CDN): the chart replaces the note
    bundle = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.route("https://cdn.plot.ly/**", lambda route: route.fulfill(path=str(bundle), content_type="text/javascript"))
    try:
        page.goto(path.as_uri())
        page.wait_for_selector("#t0-gantt .main-svg", timeout=30_000)
        assert not page.locator("#t0 .gantt .needs-network").is_visible()
    finally:
        page.close()


def test_batch_page_has_the_report_look_and_its_rows_lead_to_the_traces(browser, tmp_path):
    from pathlib import Path

    from gctrace_nb.batch import load_traces
    from gctrace_nb.report.batch import write_batch_report

    data = Path(__file__).resolve().parent.parent / "data" / "batch"
    ts = load_traces(sorted(str(p) for p in data.glob("*.json"))[:12], progress=False)
    path = write_batch_report(ts, tmp_path / "batch.html")
    page, errors, console, failed = open_report(browser, path)
    try:
        font = page.evaluate("getComputedStyle(document.querySelector('.gctrace-report')).fontFamily")
        assert "serif" not in font.replace("sans-serif", "")  # the stylesheet applies (it was HTML-escaped)
        link = page.locator("table.overview a").first
        target = link.get_attribute("href")
        link.click()
        page.wait_for_function(f"location.hash === '{target}'")
        section = page.locator(f"section{target}")
        assert section.count() == 1 and section.locator(".gct-headline").is_visible()
        assert link.inner_text() in section.locator("h2").inner_text()
        hotspots = page.locator("table.failures a")
        for k in range(hotspots.count()):
            assert page.locator(f"section{hotspots.nth(k).get_attribute('href')}").count() == 1
        assert page.evaluate("document.querySelectorAll('.figure .js-plotly-plot').length") == 2
    finally:
        page.close()
    assert errors == [] and console == [] and failed == []
