"""The agent and index pages on real scoring and on hand-built results: each focus area
quotes the turn that lost the point and links to it on the call page; the automatic /
reviewed switch; the page at 1366 px in Chromium."""

from __future__ import annotations

import re
import shutil

import polars as pl
import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner

from conftest import ROOT, need_tool
from qa.calibrate import REVIEWS_FILE, _review_frame, reviewed_agent_scores
from qa.render import render_reports
from report_helpers import conv_row, crit_row, dt, ev, write_results

SERVICE_CHATS = ROOT / "examples" / "chats" / "service_chats.jsonl"


def soup(path):
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """The hand-written service chats, scored and reported by `qa run`."""
    from qa.cli import main

    out = tmp_path_factory.mktemp("service") / "out"
    res = CliRunner().invoke(main, ["run", str(SERVICE_CHATS), "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    return out


def _turns(out, cid):
    import json
    return json.loads((out / "transcripts" / f"{cid}.json").read_text())["turns"]


def test_focus_area_quotes_the_failing_turn_and_links_to_it(service):
    page = soup(service / "reports" / "agents" / "a-michelle.html")
    areas = page.select("ol.focus > li.area")
    assert len(areas) == 3
    crit = pl.read_parquet(service / "results" / "criteria.parquet")
    firsts = []
    for area in areas:
        cid_crit = area["id"].removeprefix("focus-")
        moment = area.select_one("div.moment.first")
        links = moment.select("ul.quotes a.said")
        assert links, cid_crit
        for link in links:
            m = re.fullmatch(r"\.\./calls/(.+)\.html#turn-(\d+)", link["href"])
            assert m, link["href"]
            conv_id, turn = m.group(1), int(m.group(2))
            # the quoted turn is one the check marked as the failure of this criterion
            row = crit.filter((pl.col("conversation_id") == conv_id)
                              & (pl.col("criterion_id") == cid_crit)).to_dicts()[0]
            assert row["outcome"] == "fail"
            failing = [e["turn_index"] for e in row["evidence"] if e["polarity"] == "negative"]
            assert turn in failing, (cid_crit, turn, failing)
            # the quote is that turn's text, and the call page has that turn
            quote = link.find_next_sibling("blockquote").get_text()
            assert quote in _turns(service, conv_id)[turn]["text"]
            call = soup(service / "reports" / "calls" / f"{conv_id}.html")
            assert call.find(id=f"turn-{turn}") is not None
            who = _turns(service, conv_id)[turn]["speaker"].capitalize()
            assert link.get_text().startswith(f"{who}, at ")
            assert "into the chat" in link.get_text()
        firsts.append(tuple(a["href"] for a in links))
    # three focus areas never lead with the same line
    assert len(set(firsts)) == 3
    # the coach-first box is the first focus area, with the reason in words
    box = page.select_one("section.coach-first")
    assert box.h2.get_text().startswith("Coach first: ")
    assert box.select_one("p.because").get_text().startswith("Why: passed ")
    assert box.select_one("div.moment .why").get_text()


def _first_moment(page, criterion):
    m = page.select_one(f"#focus-{criterion} div.moment.first")
    return ([li["class"][0] for li in m.select("ul.quotes li")], m.select_one(".why").get_text(),
            m)


def test_slow_reply_quotes_the_wait_and_distress_quotes_both_sides(service):
    omar = soup(service / "reports" / "agents" / "a-omar.html")
    # the wait: from the customer's message to the agent's reply, its length in words
    speakers, why, m = _first_moment(omar, "first_response")
    assert speakers == ["by-customer", "by-agent"]
    assert why.startswith("first agent reply after 10 min")
    said = [a.get_text() for a in m.select("a.said")]
    assert said == ["Customer, at 0:00 into the chat", "Agent, at 10:00 into the chat"]
    # distress ignored: the customer's words, marked, then the reply that went straight on
    michelle = soup(service / "reports" / "agents" / "a-michelle.html")
    speakers, why, m = _first_moment(michelle, "empathy_response")
    assert speakers == ["by-customer", "by-agent"] and "voiced 'terrified'" in why
    assert m.select_one("li.by-customer mark.neg").get_text() == "terrified"
    assert m.select_one("li.by-agent blockquote").get_text() == "Hi Aisha. Please send the VIN."


def test_closing_failure_quotes_the_last_agent_turn(service):
    page = soup(service / "reports" / "agents" / "a-grace.html")
    closing = page.select_one("#focus-closing")
    assert closing is not None
    link = closing.select_one("div.moment.first ul.quotes a.said")
    conv_id, turn = re.fullmatch(r"\.\./calls/(.+)\.html#turn-(\d+)", link["href"]).groups()
    turns = _turns(service, conv_id)
    last_agent = max(i for i, t in enumerate(turns) if t["speaker"] == "agent")
    assert int(turn) == last_agent and last_agent != 1  # not the agent's first turn


def test_trend_and_attention_in_words(service):
    def card(agent):
        page = soup(service / "reports" / "agents" / f"{agent}.html")
        box = page.select_one(".attention-box")
        return (page.select_one(".scorecard .trend-card").get_text(" ", strip=True),
                box.get_text(" ", strip=True) if box else None)

    trend, attention = card("a-michelle")  # strong in April, slipping in May
    assert re.fullmatch(r"Trend ↓ down: 98 → \d+, last 3 weeks \(4 conversations\) against "
                        r"the 3 before \(4\)", trend), trend
    assert re.fullmatch(r"⚑ Needs attention: overall down \d+ points \(98 → \d+ over the last "
                        r"6 weeks\)\.", attention), attention
    trend, attention = card("a-grace")
    assert trend == ("Trend · not enough conversations for a trend: last 2 weeks (2 "
                     "conversations) against the 2 before (2); 3 a side needed")
    assert attention is None


def test_plurals_and_no_percentile_in_small_teams(service):
    index = soup(service / "reports" / "index.html")
    lead = index.select_one("p.lead").get_text(" ", strip=True)
    assert lead.startswith("1 team, 3 agents, 16 conversations")
    grace = soup(service / "reports" / "agents" / "a-grace.html")
    pct = grace.select_one(".scorecard .percentile").get_text(" ", strip=True)
    assert pct == "Percentile in team — shown from 5 agents; the team has 3"
    strengths = [li["id"] for li in grace.select("ul.strengths > li")]
    # Grace greets like everyone else; what she does better than the team is empathy
    assert "strength-empathy_response" in strengths


# ---------------------------------------------------------------- reviewed scores
@pytest.fixture
def reviewed(tmp_path):
    c1 = conv_row("c1", "alice", "north", dt("2026-01-05"), 60.0, 60.0)
    c2 = conv_row("c2", "alice", "north", dt("2026-01-06"), 80.0, 80.0)
    c3 = conv_row("c3", "bob", "north", dt("2026-01-06"), 50.0, 50.0)
    crits = [crit_row(c1, "greeting", "fail", evidence=[ev(0, "Yeah?", None)]),
             crit_row(c1, "courtesy", "pass"),
             crit_row(c2, "greeting", "pass"), crit_row(c2, "courtesy", "pass"),
             crit_row(c3, "greeting", "fail"), crit_row(c3, "courtesy", "fail")]
    out = write_results(tmp_path / "out", [c1, c2, c3], crits)
    _review_frame([{"conversation_id": "c1", "criterion_id": "greeting", "outcome": "pass",
                    "grader": "ann", "label": "greeting", "value": "1",
                    "grades_file": "g.csv", "reviewed_at": None}]
                  ).write_parquet(out / "results" / REVIEWS_FILE)
    render_reports(out, jobs=1)
    return out


def test_reviewed_switch_on_index_and_agent_page(reviewed):
    index = soup(reviewed / "reports" / "index.html")
    assert index.find("input", id="show-automatic").has_attr("checked")
    assert index.find("input", id="show-reviewed") is not None
    switch = index.select_one("p.score-switch").get_text(" ", strip=True)
    assert "Reviewed (1 of 3 conversations reviewed by your graders, 1 with an answer " \
           "different from qa's)" in switch
    rows = {r.find("a").get_text(): r for r in index.select("#agents tbody tr")}
    overall = rows["Alice"].find_all("td")[3]
    # automatic: (60 + 80) / 2; reviewed: c1's greeting passes, so c1's politeness is 100,
    # and its overall (politeness its only category) is 100: (100 + 80) / 2
    assert overall.select_one(".auto-v").get_text() == "70"
    assert overall.select_one(".rev-v").get_text() == "90R"
    assert rows["Bob"].find_all("td")[3].select_one(".rev-v").get_text() == "50R"
    assert "(1 reviewed)" in rows["Alice"].find_all("td")[2].get_text()
    # the calibration page's per-agent figure is the same
    by_agent = {r["agent_id"]: r for r in reviewed_agent_scores(reviewed)}
    assert by_agent["alice"]["overall_reviewed"] == pytest.approx(90.0)
    alice = soup(reviewed / "reports" / "agents" / "alice.html")
    big = alice.select_one(".scorecard .big")
    assert big.select_one(".value .auto-v").get_text() == "70"
    assert big.select_one(".value .rev-v").get_text() == "90R"
    assert "1 of 2 reviewed" in big.select_one(".vs .rev-v").get_text()
    # the automatic results are untouched
    conv = pl.read_parquet(reviewed / "results" / "conversations.parquet")
    assert conv.filter(pl.col("conversation_id") == "c1")["overall"].item() == 60.0


def test_no_switch_without_reviews(tmp_path):
    c1 = conv_row("c1", "alice", "north", dt("2026-01-05"), 60.0)
    out = write_results(tmp_path / "out", [c1], [crit_row(c1, "greeting", "pass")])
    render_reports(out, jobs=1)
    for rel in ("index.html", "agents/alice.html"):
        page = soup(out / "reports" / rel)
        assert page.find("input", id="show-reviewed") is None
        assert not page.select(".rev-v")
    lead = soup(out / "reports" / "index.html").select_one("p.lead").get_text(" ", strip=True)
    assert lead.startswith("1 team, 1 agent, 1 conversation, 2026-W02.")


# ---------------------------------------------------------------- in a browser
@pytest.mark.browser
def test_agent_page_in_chromium(service, reviewed):
    need_tool("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        pg = b.new_page(viewport={"width": 1366, "height": 900})
        errors = []
        pg.on("console", lambda m: m.type == "error" and errors.append(m.text))
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.goto((service / "reports" / "agents" / "a-michelle.html").as_uri())
        assert pg.evaluate("document.documentElement.scrollWidth") <= 1366
        # a focus-area quote opens the call page at that turn
        href = pg.get_attribute("ol.focus div.moment.first a.said >> nth=0", "href")
        pg.click("ol.focus div.moment.first a.said >> nth=0")
        pg.wait_for_load_state("load")
        turn = href.split("#")[1]
        assert pg.url.endswith(href.removeprefix(".."))
        assert pg.evaluate("document.querySelector(':target').id") == turn
        # the switch shows the reviewed scores and hides the automatic ones
        pg.goto((reviewed / "reports" / "index.html").as_uri())
        cell = "#agents tbody tr >> nth=0"
        assert pg.is_visible(f"{cell} >> .auto-v >> nth=0")
        assert not pg.is_visible(f"{cell} >> .rev-v >> nth=0")
        pg.click("label[for=show-reviewed]")
        assert pg.is_visible(f"{cell} >> .rev-v >> nth=0")
        assert not pg.is_visible(f"{cell} >> .auto-v >> nth=0")
        b.close()
    assert errors == []
