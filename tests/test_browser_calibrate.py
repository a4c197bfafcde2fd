"""The calibration page in a real browser (headless Chromium via Playwright, as in
test_browser.py): opens without a console error, and its links lead to pages that exist."""

from __future__ import annotations

from urllib.parse import urlparse
from urllib.request import url2pathname

import pytest
from click.testing import CliRunner

from qa.cli import main
from qa.render import render_reports
from report_helpers import EVIL, build_demo_results
from test_browser import browser, page  # noqa: F401  (the shared browser fixtures)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("calibrate-browser")
    out = build_demo_results(tmp / "out")
    render_reports(out, jobs=1)
    grades = tmp / "grades.csv"
    # chat-1 passes greeting, chat-2 and chat-3 fail it; the grader disagrees on chat-2,
    # and a markup id the results do not have must show as text
    grades.write_text(f"conversation_id,greeting,apology\nchat-1,1,1\nchat-2,1,0\nchat-3,0,0\n"
                      f"\"{EVIL}\",1,1\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["calibrate", str(out), "--grades", str(grades), "-q",
                                    "--map", "apology=apology", "--record-reviews"])
    assert res.exit_code == 0, res.output
    return out / "reports"


def test_calibration_page_opens_and_links_work(site, page):
    page.add_init_script("window.__alerts = 0; window.alert = () => { window.__alerts += 1; };")
    page.goto((site / "calibration.html").as_uri())
    page.wait_for_load_state("load")
    assert page.title() == "Calibration against your graders"
    assert page.inner_text("#criterion-greeting td:nth-child(4)") == "67%"
    assert page.evaluate("window.__alerts") == 0
    assert EVIL in page.inner_text("main")  # the unknown id, listed as text
    hrefs = page.eval_on_selector_all("main a, nav a", "els => els.map(e => e.href)")
    assert any(h.endswith("/index.html") for h in hrefs)
    assert any(h.endswith("/calls/chat-2.html") for h in hrefs)
    for h in hrefs:
        path = url2pathname(urlparse(h).path)
        assert __import__("os").path.isfile(path), h
    page.click("table.disagreements a >> nth=0")
    page.wait_for_load_state("load")
    assert page.url.endswith("/calls/chat-2.html")
    # the grader's answer shows beside qa's outcome, marked reviewed
    assert "reviewed" in page.inner_text("#scorecard")
    page.goto((site / "index.html").as_uri())
    page.click("p.calibration-link a")
    page.wait_for_load_state("load")
    assert page.url.endswith("/calibration.html")
    assert page.problems == []
