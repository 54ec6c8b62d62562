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
