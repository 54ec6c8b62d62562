"""An executed notebook, converted to HTML by nbconvert, draws its figures in headless Chromium.

Debian's Chromium is driven by Playwright (never ``playwright install``). The
page is opened from a file, offline: MathJax and require.js from a CDN fail to
load, which must not matter, since plotly.js is inlined by the
``plotly_mimetype+notebook`` renderer the notebook's first cell sets.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--no-first-run", "--disable-sync"]

pytestmark = [pytest.mark.browser, pytest.mark.notebook]


@pytest.fixture
def quickstart_html(tmp_path, monkeypatch, dot_binary) -> Path:
    """01_quickstart executed against the simulator and exported to HTML."""
    from nbconvert import HTMLExporter

    monkeypatch.delenv("GENESYS_CLIENT_ID", raising=False)
    monkeypatch.setenv("GCTRACE_STATE_DIR", str(tmp_path / "state"))
    nb = nbformat.read(NOTEBOOKS / "01_quickstart.ipynb", as_version=4)
    NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    body, _ = HTMLExporter().from_notebook_node(nb)
    path = tmp_path / "01_quickstart.html"
    path.write_text(body, encoding="utf-8")
    return path


def test_executed_quickstart_draws_its_figures_in_chromium(quickstart_html, chromium_binary, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    page_errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_binary, headless=True, args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("pageerror", lambda exc: page_errors.append(str(exc)))
            page.goto(quickstart_html.as_uri())
            page.wait_for_selector(".plotly .main-svg", timeout=30_000)

            # the gantt: one bar per step of the trace
            bars = page.locator(".plotly .main-svg .barlayer .point").count()
            assert bars >= 20, bars
            # the DAG: nbconvert embeds the SVG as an image; it must have decoded
            dag_width = page.eval_on_selector(
                "img[src^='data:image/svg+xml']", "img => img.complete ? img.naturalWidth : 0")
            assert dag_width > 0
            # the trace summary card and the webhook answer are there as text
            text = page.inner_text("body")
            assert "bottleneck" in text.lower() and "delivered" in text
            page.screenshot(path=str(tmp_path / "quickstart.png"), full_page=False)
        finally:
            browser.close()
    assert page_errors == []
