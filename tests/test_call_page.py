"""The call page built from real scoring: each failed criterion quotes the turn that lost
the point (response time, empathy, closing), says who spoke, when and on which date, and
links to that turn; one truth per criterion; a moved output folder still plays audio."""

from __future__ import annotations

import json
import shutil

import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner

from qa.cli import main
from qa.render import display_text, evidence_meta, render_reports, when_in
from report_helpers import build_demo_results


def soup(path):
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


CHAT = [  # (seconds after 09:00:00, speaker, text)
    (0, "customer", "Hi, my order never arrived and I'm really worried, it was a gift for my "
                    "daughter's birthday tomorrow."),
    (400, "agent", "Please send me your order number."),
    (420, "customer", "It's 55120."),
    (440, "agent", "It has shipped and will arrive tomorrow."),
]


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("callpage")
    src = tmp / "chats.jsonl"
    with open(src, "w", encoding="utf-8") as fh:
        for s, speaker, text in CHAT:
            fh.write(json.dumps({"conversation_id": "late-1", "agent_id": "a-kim",
                                 "timestamp": f"2026-05-13T09:{s // 60:02d}:{s % 60:02d}Z",
                                 "speaker": speaker, "text": text}) + "\n")
    out = tmp / "out"
    res = CliRunner().invoke(main, ["run", str(src), "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    return out, soup(out / "reports" / "calls" / "late-1.html")


def _failed(page, criterion_id):
    li = page.select_one(f"#scorecard ul.fails li#criterion-{criterion_id}")
    assert li is not None, f"{criterion_id} is not among the fails"
    return li, [(a["href"], a.get_text("", strip=True), a.find_next("span", class_="note"))
                for a in li.select("a.evlink")]


def test_response_time_failure_quotes_the_wait_and_the_late_reply(scored):
    _, page = scored
    li, evs = _failed(page, "first_response")
    # the customer's message the wait began at, then the agent's late reply
    assert [h for h, _, _ in evs] == ["#turn-0", "#turn-1"]
    assert evs[0][1] == "Customer, the first message, 2026-05-13"
    assert evs[1][1] == "Agent, 6 min 40 s after the first message, 2026-05-13"
    assert evs[1][2].get_text() == "— the agent's first reply, after a 6 min 40 s wait"
    assert "Please send me your order number." in li.select("q")[1].get_text()
    # the same wait, for the wait_updates criterion
    _, waits = _failed(page, "wait_updates")
    assert [h for h, _, _ in waits] == ["#turn-0", "#turn-1"]
    assert "after a 6 min 40 s wait" in waits[1][2].get_text()


def test_empathy_failure_quotes_the_distress_and_the_reply_that_ignored_it(scored):
    _, page = scored
    li, evs = _failed(page, "empathy_response")
    assert [h for h, _, _ in evs] == ["#turn-0", "#turn-1"]
    assert evs[0][2].get_text() == "— the customer's distress"
    assert evs[1][2].get_text() == "— the agent's reply, which did not acknowledge it"
    # the words that showed the distress are highlighted in the quote
    assert li.select("q")[0].find("mark", class_="neg") is not None


def test_closing_failure_quotes_the_last_agent_turn(scored):
    _, page = scored
    li, evs = _failed(page, "closing")
    assert [h for h, _, _ in evs] == ["#turn-3"]
    assert li.select_one("q").get_text() == "It has shipped and will arrive tomorrow."
    # and the transcript marks that turn in the margin with the criterion's human name
    cites = page.select_one("#turn-3 details.cites").get_text(" ", strip=True)
    assert "Closes courteously" in cites and "closing" not in cites.split()


def test_scorecard_layout_and_one_truth(scored):
    _, page = scored
    card = page.select_one("#scorecard")
    # fails first, grouped by category; passes below; N/A folded into one line with a count
    heads = [h.get_text(" ", strip=True) for h in card.find_all("h2")]
    assert heads[0].startswith("What lost points") and heads[1].startswith("Passed")
    groups = [g["id"] for g in card.select("section.fail-group")]
    assert groups and all(g.startswith("fails-") for g in groups)
    na = card.select_one("details.na-rows")
    assert na is not None and not na.has_attr("open")
    n = len(na.select("li.crit"))
    assert na.find("summary").get_text() == f"{n} not applicable"
    # no snake_case ids shown as names
    for name in card.select("strong.name"):
        assert "_" not in name.get_text()
    # a fail never shows 100, a pass always does
    for li in card.select("ul.fails li.crit"):
        assert li.select_one(".score").get_text() != "100/100"
    for li in card.select("ul.passes li.crit"):
        assert li.select_one("span.pill").get_text() == "pass"


def test_time_and_date_wording():
    assert when_in(401, "voice") == "6:41 into the call"
    assert when_in(360, "chat") == "6 min after the first message"
    from datetime import datetime, timezone
    meta = evidence_meta({"speaker": "agent", "start_s": 3600 * 20.0, "turn_index": 4},
                         datetime(2026, 5, 13, 9, tzinfo=timezone.utc), "social")
    assert meta == {"who": "Agent", "when": "20 h after the first message", "date": "2026-05-14",
                    "anchor": "turn-4"}
    assert display_text("yahoo &amp; google") == "yahoo & google"
    assert display_text("Hi , thank you .") == "Hi, thank you."
    assert display_text("AT&T &amp;amp;") == "AT&T &amp;"


def test_moved_output_folder_still_plays_audio(tmp_path):
    from qa.conversation import Conversation, sha256_file

    out = build_demo_results(tmp_path / "a")
    wav = out / "recordings" / "call-1.wav"
    # the call's JSON records its recording and sha256, as `qa transcribe` writes it
    tpath = out / "transcripts" / "call-1.json"
    conv = Conversation.load(tpath)
    conv.source.path, conv.source.sha256, conv.source.format = str(wav), sha256_file(wav), "audio"
    tpath.write_text(conv.model_dump_json(), encoding="utf-8")
    render_reports(out, jobs=1)
    assert (out / "reports" / "audio" / "call-1.wav").is_file()
    moved = tmp_path / "b" / "elsewhere"
    moved.parent.mkdir()
    shutil.copytree(out, moved, symlinks=True)  # cp -a
    shutil.rmtree(out)  # the old place (and the recording there) is gone
    res = CliRunner().invoke(main, ["report", str(moved), "--quiet"])
    # (the demo's one missing transcript is reported; no recording is)
    assert res.exit_code == 1 and "recording" not in res.output, res.output
    page = soup(moved / "reports" / "calls" / "call-1.html")
    assert page.find("audio", id="player")["src"] == "../audio/call-1.wav"
    assert (moved / "reports" / "audio" / "call-1.wav").read_bytes()[:4] == b"RIFF"


def test_call_timeline_and_chart():
    from conftest import make_conv

    from qa.render import call_charts, call_timeline

    conv = make_conv([("agent", "Thanks for calling, how can I help?", 0.0, 3.0),
                      ("customer", "My heating is broken and I'm really worried.", 2.0, 7.0),
                      ("agent", "Let me check, one moment please.", 8.0, 10.0),
                      ("agent", "Thanks for holding, an engineer comes tomorrow.", 40.0, 44.0),
                      ("customer", "Great, thank you so much!", 45.0, 47.0)], channel="voice")
    tl = call_timeline(conv)
    assert tl["overlap"] == [(2.0, 1.0)]  # the customer began before the agent stopped
    assert tl["hold"] == [(10.0, 30.0)]  # announced ("one moment") before the silence
    assert tl["silence"] == [] and tl["end"] == 47.0
    charts = call_charts(conv)
    svg = str(charts["svg"])
    assert svg.startswith("<svg") and "Customer" in svg and "sentiment" in svg
    assert charts["counts"] == {"silence": 0, "hold": 1, "overlap": 1}
    assert charts["has_sentiment"]


def test_call_page_shows_the_chart_with_its_legend(tmp_path):
    out = build_demo_results(tmp_path, audio=False)
    render_reports(out, jobs=1)
    page = soup(out / "reports" / "calls" / "call-1.html")
    fig = page.select_one("figure#chart-call")
    assert fig.find("svg") is not None
    legend = fig.find("figcaption").get_text(" ", strip=True)
    assert "1 silence" in legend and "0 holds" in legend and "0 overlaps" in legend
    # chats have no call chart
    assert soup(out / "reports" / "calls" / "chat-1.html").select_one("figure#chart-call") is None


def test_notes_survive_the_outcome_cache(scored, tmp_path):
    import polars as pl

    out, _ = scored
    copy = tmp_path / "again"
    shutil.copytree(out, copy, symlinks=True)
    res = CliRunner().invoke(main, ["score", str(copy), "--out", str(copy), "--quiet"])
    assert res.exit_code == 0, res.output
    crit = pl.read_parquet(copy / "results" / "criteria.parquet")
    ev = crit.filter(pl.col("criterion_id") == "empathy_response")["evidence"].to_list()[0]
    assert [e["note"] for e in ev] == ["the customer's distress",
                                       "the agent's reply, which did not acknowledge it"]
