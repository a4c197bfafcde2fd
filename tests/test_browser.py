"""The reports in a real browser: Debian's Chromium, headless, driven by Playwright.

Playwright never downloads a browser here: it launches the system ``chromium``
(CI installs it with ``make system-deps``).
"""

from __future__ import annotations

import shutil

import pytest

from qa.render import render_reports
from qa.store import safe_name
from report_helpers import EVIL, build_demo_results

pytestmark = pytest.mark.browser

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        "--autoplay-policy=no-user-gesture-required"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = build_demo_results(tmp_path_factory.mktemp("browser"))
    render_reports(out, jobs=1)
    return out / "reports"


@pytest.fixture(scope="module")
def browser():
    from conftest import need_tool
    need_tool("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    pg = context.new_page()
    pg.problems = []  # console errors, page errors, dialogs, network requests
    pg.on("console", lambda m: m.type in ("error", "warning") and pg.problems.append(
        f"console {m.type}: {m.text}"))
    pg.on("pageerror", lambda e: pg.problems.append(f"page error: {e}"))
    pg.on("dialog", lambda d: (pg.problems.append(f"dialog: {d.message}"), d.dismiss()))
    pg.on("request", lambda r: not r.url.startswith(("file://", "data:")) and pg.problems.append(
        f"request: {r.url}"))
    yield pg
    context.close()


def test_pages_open_without_errors(site, page):
    for rel in ("index.html", "agents/alice.html", f"agents/{safe_name(EVIL)}.html",
                "calls/call-1.html", f"calls/{safe_name('../evil/id')}.html"):
        page.goto((site / rel).as_uri())
        page.wait_for_load_state("load")
        assert page.title(), rel
    assert page.problems == []


def test_script_in_transcript_is_text_and_runs_nothing(site, page):
    page.add_init_script("window.__alerts = 0; window.alert = () => { window.__alerts += 1; };")
    for rel in ("calls/call-1.html", "index.html", f"agents/{safe_name(EVIL)}.html",
                "calls/evil-1.html"):
        page.goto((site / rel).as_uri())
        assert page.evaluate("window.__alerts") == 0, rel
    page.goto((site / "calls" / "call-1.html").as_uri())
    assert page.inner_text("#turn-1 .text") == EVIL + " my bill is wrong"
    assert page.evaluate("document.querySelectorAll('script').length") == 1
    assert page.problems == []


def test_index_table_sorts(site, page):
    page.goto((site / "index.html").as_uri())
    names = lambda: page.eval_on_selector_all(  # noqa: E731
        "#agents tbody tr td:first-child a", "els => els.map(e => e.textContent)")
    page.click("#agents thead th:nth-child(4)")  # Overall, ascending
    assert names() == ["Bob", "Alice", EVIL]
    page.click("#agents thead th:nth-child(4)")  # descending
    assert names() == [EVIL, "Alice", "Bob"]
    assert page.get_attribute("#agents thead th:nth-child(4)", "aria-sort") == "descending"
    assert page.problems == []


def test_clicking_a_time_seeks_the_player(site, page):
    page.goto((site / "calls" / "call-1.html").as_uri())
    page.wait_for_function("document.getElementById('player').readyState >= 1")
    assert page.evaluate("document.getElementById('player').duration") == pytest.approx(12.0, abs=0.1)
    page.click("#turn-2 a.seek")
    page.wait_for_function("Math.abs(document.getElementById('player').currentTime - 7.25) < 0.5")
    assert page.evaluate("document.getElementById('player').currentTime") == pytest.approx(7.25, abs=0.5)
    assert page.url.endswith("#turn-2")
    page.click("#turn-0 a.seek")
    page.wait_for_function("document.getElementById('player').currentTime < 1.0")
    assert page.problems == []


def test_quote_link_opens_the_turn(site, page):
    page.goto((site / "agents" / "alice.html").as_uri())
    page.click("#focus-greeting ul.quotes a.said >> nth=0")
    page.wait_for_load_state("load")
    assert page.url.endswith("/calls/chat-3.html#turn-0")
    assert page.evaluate("document.querySelector(':target').id") == "turn-0"
    assert page.problems == []
