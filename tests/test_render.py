"""HTML reports, tested structurally (BeautifulSoup) on hand-built results."""

from __future__ import annotations

import csv
import json
import re
from datetime import date
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner

from qa.cli import main
from qa.errors import ReportError
from qa.render import (Charts, _span_in, fmt_time, highlight, highlight_quote, render_reports)
from qa.store import safe_name
from report_helpers import EVIL, build_demo_results


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = build_demo_results(tmp_path_factory.mktemp("demo"))
    summary = render_reports(out, jobs=1)
    return out, summary


def soup(path):
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def _self_contained(page: BeautifulSoup) -> None:
    assert page.find("link") is None
    for tag in page.find_all(["script", "img", "iframe", "source"]):
        assert not tag.get("src"), tag
    for tag in page.find_all("a", href=True):
        assert not re.match(r"^(https?:)?//", tag["href"]), tag["href"]
    csp = page.find("meta", attrs={"http-equiv": "Content-Security-Policy"})["content"]
    assert "default-src 'none'" in csp and "script-src 'sha256-" in csp
    assert len(page.find_all("script")) == 1 and len(page.find_all("style")) == 1


# ---------------------------------------------------------------- pieces
def test_highlight_escapes_every_piece():
    html = highlight("a <b> & " + EVIL, [(2, 5, "neg")])
    assert str(html) == ('a <mark class="neg">&lt;b&gt;</mark> &amp; '
                         "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;")
    # overlapping spans merge, negative wins
    assert str(highlight("abcdef", [(0, 3, "pos"), (2, 4, "neg")])) == \
        '<mark class="neg">abcd</mark>ef'
    assert str(highlight("abc", [(5, 9, "pos")])) == "abc"


def test_span_falls_back_to_the_match_text():
    text = "Well, hello there Maria"
    assert _span_in(text, "hello there Maria", "hello", 0, 5) == (6, 11)
    # offsets out of range: found by the match text (case-insensitive)
    assert _span_in(text, "hello there Maria", "HELLO", 40, 45) == (6, 11)
    assert _span_in(text, "elsewhere", None, None, None) is None
    ev = {"quote": "Damn, not again.", "match": "Damn", "match_start": 0, "match_end": 4,
          "polarity": "negative"}
    assert str(highlight_quote(ev)) == '<mark class="neg">Damn</mark>, not again.'


def test_time_format():
    assert (fmt_time(0), fmt_time(7.9), fmt_time(65), fmt_time(3725), fmt_time(None)) == \
        ("0:00", "0:07", "1:05", "1:02:05", "")


def test_charts_escape_text_and_are_deterministic():
    charts = Charts(["2026-W02", "2026-W03"])
    agent = {c: 50.0 for c in ("promptness", "politeness", "professionalism", "personalization",
                               "empathy")}
    svg = str(charts.categories(agent, agent, EVIL))
    layers = BeautifulSoup(svg, "html.parser").select("div.layers > svg")
    assert len(layers) == 2 and "<script" not in svg
    frame, mine = (str(x) for x in layers)
    assert ">Team average<" in frame and ">Promptness<" in frame and EVIL not in frame
    assert ">&lt;script&gt;alert('x')&lt;/script&gt;<" in svg and ">Promptness<" not in mine
    assert svg == str(charts.categories(agent, agent, EVIL))  # deterministic
    other = str(charts.categories({**agent, "empathy": 90.0}, agent, "Bob"))
    assert other.split("<svg")[1] == svg.split("<svg")[1]  # same team: the same frame layer
    trend = str(charts.trend([80.0, None], [70.0, 75.0], "Alice"))
    assert ">2026-W03<" in trend and ">Alice<" in trend


# ---------------------------------------------------------------- the pages
def test_files_and_safe_names(demo):
    out, summary = demo
    rep = out / "reports"
    assert summary.index == rep / "index.html" and summary.index.is_file()
    assert (summary.agents, summary.calls, summary.audio) == (3, 6, 1)
    assert sorted(p.name for p in (rep / "agents").iterdir()) == sorted(
        f"{safe_name(a)}.html" for a in ("alice", "bob", EVIL))
    assert (rep / "calls" / f"{safe_name('../evil/id')}.html").is_file()
    assert not list(out.glob(".reports.tmp-*"))
    for page in rep.rglob("*.html"):
        _self_contained(soup(page))


def test_index_lists_agents_against_team(demo):
    out, _ = demo
    page = soup(out / "reports" / "index.html")
    table = page.find("table", id="agents")
    assert "sortable" in table["class"]
    rows = {r.find("td").get_text(" ", strip=True): r for r in table.tbody.find_all("tr")}
    assert set(rows) == {"Alice alice", "Bob bob", EVIL}
    alice = rows["Alice alice"]
    assert alice.find("a")["href"] == "agents/alice.html"
    cells = [td.get_text(" ", strip=True) for td in alice.find_all("td")]
    # 4 conversations, overall 70 vs team 56 (+14); 90 -> 63.3 on 1 and 3 conversations:
    # too few for a trend arrow or a "needs attention"
    assert cells[1:4] == ["north", "4", "70 +14"]
    assert cells[9] == "·"
    assert cells[11] == ""
    bob = [td.get_text(" ", strip=True) for td in rows["Bob bob"].find_all("td")]
    # one conversation: its auto-fail counts, "56 points below team" on it does not
    assert bob[10] == "1" and bob[11] == "⚑ 1 auto-fail"
    assert "attention" in rows["Bob bob"]["class"]
    # the agent named <script> is text, and its link is a safe file name
    evil = rows[EVIL]
    assert evil.find("a").string == EVIL
    assert evil.find("a")["href"] == f"agents/{safe_name(EVIL)}.html"
    lead = page.find("p", class_="lead").get_text(" ", strip=True)
    assert lead.startswith("2 teams, 3 agents, 6 conversations") and "1 needs attention." in lead


def test_agent_page_focus_areas_quotes_and_charts(demo):
    out, _ = demo
    page = soup(out / "reports" / "agents" / "alice.html")
    # two charts, each a team frame layer and the agent's own layer
    assert len(page.select("figure.chart div.layers > svg")) == 4
    areas = page.select("ol.focus > li")
    titles = [a.h3.contents[0].strip() for a in areas]
    assert titles == ["apology description", "greeting description"]
    greeting = areas[1]
    assert greeting.find("p", class_="rate").get_text() == "Passed 2 of 4 (50%); team 40%."
    assert greeting.find("p", class_="tip").get_text() == \
        "Coaching tip: Open with a greeting and your name."
    links = [a["href"] for a in greeting.select("ul.quotes a.said")]
    assert links == ["../calls/chat-3.html#turn-0", "../calls/chat-2.html#turn-0"]
    apology = areas[0]
    assert apology.select_one("p.where a.when").get_text() == "2026-01-14"
    assert apology.select_one("ul.quotes a.said").get_text() == "Agent, at 0:04 into the chat"
    assert str(apology.select_one("blockquote mark")) == '<mark class="neg">Dunno</mark>'
    convs = page.select("table.conversations tbody tr")
    assert [r.find_all("td")[1].get_text() for r in convs] == \
        ["../evil/id", "chat-3", "chat-2", "chat-1"]
    assert convs[0].find("a")["href"] == f"../calls/{safe_name('../evil/id')}.html"


def test_agent_page_strengths_and_auto_fails(demo):
    out, _ = demo
    bob = soup(out / "reports" / "agents" / "bob.html")
    autofail = bob.select(".scorecard > div")[3].get_text(" ", strip=True)
    assert autofail == "Auto-fails 1 no_profanity ×1"
    evil = soup(out / "reports" / "agents" / f"{safe_name(EVIL)}.html")
    assert evil.h1.get_text(" ", strip=True) == EVIL
    assert evil.title.string == f"{EVIL}: coaching report"


def test_call_page_transcript_evidence_and_audio(demo):
    out, _ = demo
    page = soup(out / "reports" / "calls" / "call-1.html")
    turns = page.select("ol.transcript > li")
    assert [t["id"] for t in turns] == ["turn-0", "turn-1", "turn-2"]
    # the <script> a customer typed is text, not an element
    assert turns[1].find("span", class_="text").get_text() == EVIL + " my bill is wrong"
    assert len(page.find_all("script")) == 1
    # the evidence match is marked inside the turn, and the criteria table links to it
    assert str(turns[2].find("mark")) == '<mark class="neg">Damn</mark>'
    # fails come first, the auto-fail's category on top, each quote linked to its turn
    links = [a["href"] for a in page.select("#scorecard ul.fails a.evlink")]
    assert links == ["#turn-2", "#turn-0"]
    seek = turns[2].find("a", class_="seek")
    assert (seek["data-t"], seek.get_text()) == ("7.25", "0:07")
    audio = page.find("audio", id="player")
    assert audio["src"] == "../audio/call-1.wav"
    assert (out / "reports" / "audio" / "call-1.wav").read_bytes() == \
        (out / "recordings" / "call-1.wav").read_bytes()
    assert page.find("p", class_="roles-inferred") is not None
    assert "Auto-fail: no_profanity description." in page.find("p", class_="attention-box").get_text()


def test_call_page_without_transcript_still_renders(demo):
    out, summary = demo
    page = soup(out / "reports" / "calls" / f"{safe_name('../evil/id')}.html")
    assert page.find("p", class_="transcript-missing").get_text() == \
        "The transcript file is missing; scores and quotes are shown without it."
    assert page.find("audio") is None
    assert [p.file for p in summary.problems] == [
        str(out / "transcripts" / f"{safe_name('../evil/id')}.json")]
    chat = soup(out / "reports" / "calls" / "chat-1.html")
    assert chat.find("p", class_="roles-inferred") is None
    assert "customer Maria Lopez" in chat.find("p", class_="lead").get_text()


def test_redact_masks_personal_data(tmp_path):
    out = build_demo_results(tmp_path, audio=False)
    render_reports(out, redact=True, jobs=1)
    page = soup(out / "reports" / "calls" / "chat-1.html")
    turns = [t.get_text() for t in page.select("ol.transcript span.text")]
    assert turns[:2] == ["Hello [NAME], thank you for calling Acme!",
                         "My parcel is late, email me at [EMAIL]"]
    # the evidence mark survives redaction of the text around it
    assert str(page.select_one("#turn-0 mark")) == '<mark class="pos">thank you for calling</mark>'
    assert "customer [customer]" in page.find("p", class_="lead").get_text()
    assert "Redacted" not in page.get_text() and "personal data redacted" in page.get_text()


def test_filters_and_linked_call_pages(tmp_path):
    out = build_demo_results(tmp_path, audio=False)
    s = render_reports(out, team="south", jobs=1)
    assert (s.agents, s.calls) == (1, 1)
    s = render_reports(out, date_from=date(2026, 1, 13), date_to=date(2026, 1, 14), jobs=1)
    assert (s.agents, s.calls) == (1, 2)
    # old pages of the previous run are gone: the folder was replaced as a whole
    assert sorted(p.name for p in (out / "reports" / "calls").iterdir()) == \
        ["chat-2.html", "chat-3.html"]
    s = render_reports(out, call_pages="linked", recent_calls=1, jobs=1)
    assert s.call_pages == "linked"
    written = sorted(p.name for p in (out / "reports" / "calls").iterdir())
    # alice's latest (../evil/id) and the two her focus areas quote (not chat-1);
    # bob's and <script>'s only conversation
    assert written == sorted([f"{safe_name('../evil/id')}.html", "chat-2.html",
                              "chat-3.html", "call-1.html", "evil-1.html"])
    alice = soup(out / "reports" / "agents" / "alice.html")
    assert [a.get_text() for a in alice.select("table.conversations a")] == \
        ["../evil/id", "chat-3", "chat-2"]
    s = render_reports(out, call_pages="none", jobs=1)
    assert s.calls == 0 and not list((out / "reports" / "calls").iterdir())
    alice = soup(out / "reports" / "agents" / "alice.html")
    assert alice.select("table.conversations a") == []
    with pytest.raises(ReportError, match="no conversations match"):
        render_reports(out, team="nobody", jobs=1)


def test_template_override(tmp_path):
    out = build_demo_results(tmp_path, audio=False)
    tdir = tmp_path / "tpl"
    tdir.mkdir()
    (tdir / "report.css").write_text("body { color: rebeccapurple; }")
    render_reports(out, templates_dir=tdir, jobs=1)
    page = soup(out / "reports" / "index.html")
    assert page.style.string.strip() == "body { color: rebeccapurple; }"
    with pytest.raises(ReportError, match="templates folder not found"):
        render_reports(out, templates_dir=tmp_path / "missing", jobs=1)


@pytest.mark.slow
def test_worker_processes_write_the_same_pages(tmp_path, monkeypatch):
    from qa import render

    out = build_demo_results(tmp_path, audio=False)
    render_reports(out, jobs=1)
    pages = lambda: {p.relative_to(out / "reports"): re.sub(r"generated [^<]*", "", p.read_text())  # noqa: E731
                     for p in (out / "reports").rglob("*.html")}
    serial = pages()
    monkeypatch.setattr(render, "POOL_MIN_PAGES", 0)
    s = render_reports(out, jobs=2)
    assert (s.agents, s.calls, len(s.problems)) == (3, 6, 1)
    assert pages() == serial

    # a worker that dies takes the pool down: the pages are then rendered in-process
    from concurrent.futures.process import BrokenProcessPool

    def broken(*a, **k):
        raise BrokenProcessPool("a worker died")

    monkeypatch.setattr(render, "_render_pooled", broken)
    s = render_reports(out, jobs=2)
    assert (s.agents, s.calls, len(s.problems)) == (3, 6, 1)
    assert pages() == serial


# ---------------------------------------------------------------- the command
def test_cli_report_writes_pages_and_records_problems(tmp_path):
    out = build_demo_results(tmp_path / "out", audio=False)
    result = CliRunner().invoke(main, ["report", str(out), "-q"])
    assert result.exit_code == 1, result.output
    missing = out / "transcripts" / f"{safe_name('../evil/id')}.json"
    assert f"error: {missing}: transcript file missing" in result.output
    with open(out / "results" / "failures.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["file"], r["stage"]) for r in rows] == [(str(missing), "report")]
    assert (out / "reports" / "index.html").is_file()


def test_cli_report_other_out_and_errors(tmp_path):
    out = build_demo_results(tmp_path / "out", audio=False)
    dest = tmp_path / "monthly"
    r = CliRunner().invoke(main, ["report", str(out / "results"), "--out", str(dest),
                                  "--period", "month", "--team", "south"])
    assert r.exit_code == 0, r.output
    assert (dest / "reports" / "agents" / f"{safe_name(EVIL)}.html").is_file()
    assert "1 agent page, 1 call page, 0 problems" in r.output
    r = CliRunner().invoke(main, ["report", str(out), "--team", "nobody"])
    assert r.exit_code == 1
    assert r.output.strip().endswith(
        f"Error: {out / 'results' / 'conversations.parquet'}: no conversations match "
        "(team nobody). Fix: Widen --from/--to, or check the --team name.")
    r = CliRunner().invoke(main, ["report", str(tmp_path), "--out", str(dest)])
    assert r.exit_code == 1 and "no results here" in r.output
    r = CliRunner().invoke(main, ["report", str(out), "--from", "01/02/2026"])
    assert r.exit_code == 2 and "use YYYY-MM-DD" in r.output


def test_interrupted_run_keeps_the_previous_reports(tmp_path, monkeypatch):
    from qa import render

    out = build_demo_results(tmp_path, audio=False)
    render_reports(out, jobs=1)
    before = (out / "reports" / "index.html").read_text()

    def boom(self, *a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(render._Writer, "call", boom)
    with pytest.raises(KeyboardInterrupt):
        render_reports(out, period="month", jobs=1)
    assert (out / "reports" / "index.html").read_text() == before
    assert len(list((out / "reports" / "calls").iterdir())) == 6
    assert not list(out.glob(".reports.*"))
    # a run killed outright leaves its folder; the next run removes it (its process is gone)
    stale = out / ".reports.tmp-999999999-abc"
    (stale / "calls").mkdir(parents=True)
    monkeypatch.undo()
    render_reports(out, jobs=1)
    assert not stale.exists()


def test_undated_and_unscored_conversations(tmp_path):
    from report_helpers import conv_row, crit_row, ev, write_results

    c1 = conv_row("x1", "a", None, None, None, None)
    c2 = conv_row("x2", "b", "t", None, 50.0, transcript_path="")
    out = write_results(tmp_path, [c1, c2], [crit_row(c1, "g", "na"),
                                             crit_row(c2, "g", "fail", evidence=[ev(99, "q", "q")])])
    s = render_reports(out, jobs=1)
    assert (s.agents, s.calls) == (2, 2)
    a = soup(out / "reports" / "agents" / "a.html")
    assert a.select("figure.chart") and len(a.select("figure.chart")) == 1  # no trend chart
    assert a.select_one("table.trend tbody").get_text(strip=True) == "No dated conversations."
    assert a.select(".scorecard .value")[0].get_text() == "—"
    b = soup(out / "reports" / "calls" / "x2.html")
    assert b.find("p", class_="transcript-missing").get_text() == \
        "No transcript was recorded for this conversation."


def test_control_characters_are_shown_not_hidden_in_every_page(tmp_path, recwarn):
    """NUL, ESC colour codes and BEL in quotes, names and ids reached the HTML raw (a browser
    hides them, or shows U+FFFD for NUL) and the agent chart warned "Glyph 27 missing"; they
    are now visible control pictures (␀ ␛ ␇), and the chart labels are escaped (\\x1b)."""
    from report_helpers import conv_row, crit_row, dt, ev, write_results

    import re

    from qa.render import render_reports

    c1 = conv_row("c\x1b1", "agent\x00x", "no\x1brth", dt("2026-01-05"), 80.0, agent_name="Sam\x1b[31m")
    crits = [crit_row(c1, "greeting", "fail", reason="said \x1b[1mhi\x1b[0m",
                      evidence=[ev(0, "Hello \x00 \x1b[31mred\x1b[0m \x07 thanks", None)])]
    results = write_results(tmp_path / "out", [c1], crits)
    render_reports(results, tmp_path / "out", jobs=1)
    pages = sorted((tmp_path / "out" / "reports").rglob("*.html"))
    assert len(pages) >= 3
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", text), page.name  # none left raw
    agent = next(p for p in pages if p.parent.name == "agents").read_text(encoding="utf-8")
    call = next(p for p in pages if p.parent.name == "calls").read_text(encoding="utf-8")
    assert "<h1>Sam␛[31m" in agent and "agent␀x" in agent and "Team no␛rth" in agent
    assert "<h1>Conversation c␛1</h1>" in call and "said ␛[1mhi␛[0m" in call
    assert not [w for w in recwarn if "Glyph" in str(w.message)]


def test_control_pictures():
    from qa.errors import control_pictures

    assert control_pictures("a\x00b\x1b[31m\x07\x7f\tc\r\nd") == "a␀b␛[31m␇␡\tc\r\nd"
    assert control_pictures("plain ünï") == "plain ünï"


def test_an_edited_transcript_never_stops_the_report(tmp_path, caplog):
    """A transcript in OUT/transcripts edited by hand to nest 100,000 deep raised
    RecursionError out of `qa report`, and one holding a lone surrogate escape raised
    UnicodeEncodeError writing its page. The first is that page's notice and a report row,
    the second is read with U+FFFD."""
    from report_helpers import conv_row, crit_row, dt, write_results

    from qa.render import render_reports

    out = tmp_path / "out"
    convs = [conv_row(cid, "alice", "north", dt("2026-01-05"), 70.0) for cid in ("deep", "half")]
    results = write_results(out, convs, [crit_row(c, "greeting", "pass") for c in convs])
    (out / "transcripts").mkdir()
    (out / "transcripts" / "deep.json").write_text('{"schema_version": 1, "turns": '
                                                   + "[" * 100_000 + "]" * 100_000 + "}")
    (out / "transcripts" / "half.json").write_text(json.dumps({
        "schema_version": 1, "id": "half", "agent_id": "alice", "channel": "chat",
        "source": {"path": "in/half.jsonl", "sha256": "0", "format": "chat-jsonl"},
        "turns": [{"speaker": "agent", "text": "Hello SURROGATE there"},
                  {"speaker": "customer", "text": "hi"}]}).replace("SURROGATE", "\\ud800"))
    summary = render_reports(results, out, jobs=1)
    assert [(Path(p.file).name, p.reason) for p in summary.problems] == [
        ("deep.json", "nested too deeply to read (Python's recursion limit). Fix: Re-create it with "
                      "`qa ingest` or `qa transcribe`.")]
    assert "Hello \ufffd there" in (out / "reports" / "calls" / "half.html").read_text(encoding="utf-8")
    assert "a lone surrogate escape" in caplog.text
