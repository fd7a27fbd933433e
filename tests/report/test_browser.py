"""The HTML report in headless Chromium: renders, no console errors, no requests, no injection.

Chromium is Debian's ``chromium`` package (``make setup`` installs it), driven over the
DevTools protocol by Playwright's Python client with ``executable_path``: Playwright's
own browser download is never used.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edgepress.report.writer import write_report

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("Debian's chromium is not installed: run `make setup` (it installs it with apt-get)")
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(str(profile), executable_path=chromium, headless=True, args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 900})
        yield context
        context.close()


@pytest.fixture(scope="module")
def opened(browser, report_results, tmp_path_factory):
    """Open the report; record console messages, page errors and every request made."""
    html = write_report(report_results, html=tmp_path_factory.mktemp("html") / "report.html")[0]
    page = browser.new_page()
    console, errors, requests = [], [], []
    page.on("console", lambda m: console.append((m.type, m.text)))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(html.as_uri())
    page.wait_for_load_state("load")
    page.wait_for_timeout(300)  # let a late request or error surface
    yield page, html, console, errors, requests
    page.close()


def test_no_console_errors_and_no_requests_beyond_the_file(opened):
    page, html, console, errors, requests = opened
    assert errors == []
    assert [t for t, _ in console if t in ("error", "warning")] == [], console
    assert requests == [html.as_uri()]


def test_hostile_names_do_not_inject(opened):
    page = opened[0]
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.evaluate("document.scripts.length") == 1  # the report's own script only
    assert page.evaluate("document.querySelectorAll('img, svg script, iframe, object').length") == 0
    from tests.report.conftest import EVIL

    assert EVIL in page.inner_text("body")  # shown as text, not dropped


def test_plot_renders(opened, tmp_path):
    page = opened[0]
    plot = page.locator("#pareto ~ figure svg.plot").first  # host-cpu, the first target
    box = plot.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 150
    assert page.locator("svg.plot g.pt").count() >= 1
    shot = tmp_path / "pareto.png"
    plot.screenshot(path=str(shot))
    pixels = _png_pixels(shot)
    # The marker is coloured: some pixel is neither white/grey background nor black ink.
    saturation = pixels.max(axis=2).astype(int) - pixels.min(axis=2).astype(int)
    assert (saturation > 80).sum() > 20


def test_table_sorts_on_click(opened):
    page = opened[0]
    page.locator("#summary ~ table.sortable th").first.click()
    assert page.evaluate("document.querySelector('#summary ~ table.sortable th').dataset.dir") == "asc"


def _png_pixels(path: Path) -> np.ndarray:
    from skimage.io import imread

    return imread(str(path))[..., :3]
