"""Call pages of real IBM Twitter conversations in headless Chromium at 1366 px: long URLs
wrap (no horizontal scroll), ``&amp;`` never shows, N/A rows are folded, margin markers
open the criterion and reason, and a focus-area quote on the agent page opens the call
page at its turn."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from qa.cli import main

pytestmark = pytest.mark.browser

CONV = "J3fp4IJWmugXmyqoQHta"
"""A TeamYouTube thread: six turns, two long support URLs, an ``&amp;`` in the export."""


@pytest.fixture(scope="module")
def site(tmp_path_factory, ):
    from conftest import DATA

    # the 12 TeamYouTube threads picked below, cut from ibm_twitter_care_dev.json (tests/data/README.md)
    raw = json.loads((DATA / "callpage" / "ibm_twitter_care_teamyoutube12.json").read_text(encoding="utf-8"))
    mine = [r for r in raw if r["dialogHeader"]["company"] == "TeamYouTube"]
    pick = [r for r in mine if r["dialogHeader"]["sessionID"] == CONV]
    assert pick, f"{CONV} is not in the IBM export any more"
    pick += [r for r in mine if r["dialogHeader"]["sessionID"] != CONV][:11]
    tmp = tmp_path_factory.mktemp("ibm")
    src = tmp / "ibm_youtube.json"
    src.write_text(json.dumps(pick), encoding="utf-8")
    res = CliRunner().invoke(main, ["run", str(src), "--out", str(tmp / "out"), "--quiet"])
    assert res.exit_code == 0, res.output
    return tmp / "out" / "reports"


@pytest.fixture(scope="module")
def browser():
    from conftest import need_tool
    need_tool("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=shutil.which("chromium"),
                              args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    pg = context.new_page()
    pg.problems = []
    pg.on("pageerror", lambda e: pg.problems.append(f"page error: {e}"))
    pg.on("console", lambda m: m.type == "error" and pg.problems.append(m.text))
    yield pg
    context.close()


def test_long_urls_wrap_and_entities_show_once(site, page):
    page.goto((site / "calls" / f"{CONV}.html").as_uri())
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1366, f"the page scrolls sideways: {width} px wide"
    text = page.inner_text("body")
    assert "https://web.archive.org/web/20200401224015/https://support.google.com/youtube/answer/4347644" \
        in text.replace("\n", "")
    assert "&amp;" not in text and "&amp;amp;" not in page.content()
    assert "check your issue & work on a fix" in text
    # speakers once, never "customer customer"
    assert "customer customer" not in text.lower() and "agent agent" not in text.lower()
    assert page.problems == []


def test_na_rows_are_folded_and_markers_explain(site, page):
    page.goto((site / "calls" / f"{CONV}.html").as_uri())
    na = page.locator("details.na-rows")
    assert na.count() == 1
    assert not page.locator("details.na-rows ul.na").is_visible()
    assert "not applicable" in na.locator("summary").inner_text()
    na.locator("summary").click()
    assert page.locator("details.na-rows ul.na").is_visible()
    # a margin marker opens the criteria that cite the turn, by name, with the reason
    turn = page.locator("ol.transcript li.cited").first
    turn.locator("details.cites summary").click()
    shown = turn.locator("ul.cite-list").inner_text()
    assert shown and "_" not in shown.split(".")[0]
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    assert page.problems == []


def test_focus_quote_opens_the_call_page_at_its_turn(site, page):
    page.goto((site / "agents" / "TeamYouTube.html").as_uri())
    link = page.locator("ol.focus ul.quotes a").first
    href = link.get_attribute("href")
    assert "#turn-" in href
    link.click()
    page.wait_for_load_state("load")
    anchor = href.split("#", 1)[1]
    assert page.url.endswith(href.split("/")[-1])
    assert page.evaluate("document.querySelector(':target').id") == anchor
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    assert page.problems == []


def test_moved_output_folder_still_plays_audio(tmp_path, page):
    from qa.conversation import Conversation, sha256_file
    from qa.render import render_reports
    from report_helpers import build_demo_results

    out = build_demo_results(tmp_path / "a")
    wav = out / "recordings" / "call-1.wav"
    tpath = out / "transcripts" / "call-1.json"
    conv = Conversation.load(tpath)  # as `qa transcribe` writes it: the recording's sha256
    conv.source.path, conv.source.sha256, conv.source.format = str(wav), sha256_file(wav), "audio"
    tpath.write_text(conv.model_dump_json(), encoding="utf-8")
    render_reports(out, jobs=1)
    moved = tmp_path / "b" / "elsewhere"
    shutil.copytree(out, moved, symlinks=True)  # cp -a qa-out elsewhere
    shutil.rmtree(out)
    CliRunner().invoke(main, ["report", str(moved), "--quiet"])
    page.goto((moved / "reports" / "calls" / "call-1.html").as_uri())
    page.wait_for_function("document.getElementById('player').readyState >= 1")
    assert page.evaluate("document.getElementById('player').duration") == pytest.approx(12.0, abs=0.1)
    page.click("#turn-2 a.seek")
    page.wait_for_function("Math.abs(document.getElementById('player').currentTime - 7.25) < 0.5")
    assert page.problems == []
