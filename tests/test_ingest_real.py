"""The two public exports load completely and correctly: the cuts in tests/data/chats
always, the whole files in ../shared/data/chats when that optional data is present."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner

from conftest import ABCD, IBM_CUT, IBM_FULL, need_shared

from qa.cli import main
from qa.conversation import Conversation
from qa.ingest import ABCD_AGENT_ID, parse_file, read_file, snowflake_time


# conversations, client messages, agent messages (the closing reply apart), brands
IBM_COUNTS = {"cut": (40, 52, 7, 16), "full": (525, 625, 61, 24)}


@pytest.mark.parametrize("which", ["cut", "full"])
def test_ibm_twitter_every_conversation(which):
    path = IBM_CUT if which == "cut" else IBM_FULL
    if which == "full":
        need_shared("chats", "ibm_twitter_care_dev.json")
    n_convs, n_client_want, n_agent_want, n_brands = IBM_COUNTS[which]
    result = parse_file(path)
    assert result.errors == []
    assert result.format == "ibm-twitter"
    convs = result.conversations
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert len(convs) == len(raw) == n_convs
    assert len({c.id for c in convs}) == n_convs
    by_id = {c.id: c for c in convs}
    n_client = n_agent = 0
    for item in raw:
        conv = by_id[item["dialogHeader"]["sessionID"]]
        content = item["dialogContent"]
        # every dialogContent message plus the closing reply, nothing dropped or added
        assert len(conv.turns) == len(content) + 1 == int(item["dialogHeader"]["messageCount"])
        assert conv.agent_id == item["dialogHeader"]["company"]
        assert conv.channel == "social"
        first = datetime.fromisoformat(content[0]["datetime"].replace("Z", "+00:00"))
        assert conv.started_at == first
        # roles: client / client1 -> customer, agent -> agent
        roles = Counter(t.speaker for t in conv.turns[:-1])
        assert roles["customer"] == sum(1 for m in content if "client" in m or "client1" in m)
        assert roles["agent"] == sum(1 for m in content if "agent" in m)
        n_client += roles["customer"]
        n_agent += roles["agent"]
        # the closing reply: last, agent, text untouched, time from its snowflake id
        close = conv.turns[-1]
        assert close.speaker == "agent"
        assert close.text == item["agentURL"]["url_utterance"]
        assert close.message_id == item["agentURL"]["tweet_ID"]
        expected = (snowflake_time(item["agentURL"]["tweet_ID"]) - first).total_seconds()
        assert close.start_s == expected
        assert conv.duration_s == expected
        starts = [t.start_s for t in conv.turns]
        assert starts == sorted(starts) and starts[0] == 0.0
    assert (n_client, n_agent) == (n_client_want, n_agent_want)
    assert len({c.agent_id for c in convs}) == n_brands


def test_ibm_twitter_first_conversation_exactly():
    convs = read_file(IBM_CUT)
    conv = next(c for c in convs if c.id == "LgwAXtbbEm0mBvDrGmjk")
    assert (conv.agent_id, conv.started_at) == \
        ("TeamYouTube", datetime(2020, 4, 1, 17, 31, 32, tzinfo=timezone.utc))
    assert [(t.speaker, t.author, t.start_s) for t in conv.turns] == [
        ("customer", "CinVakas", 0.0), ("agent", "TeamYouTube", 5215.135)]
    # dialogHeader.duration is 01:26:55 = 5215 s: the snowflake time agrees
    assert conv.turns[1].text.startswith("@CinVakas Thanks for the tag – if you believe")
    assert conv.metadata["customer_handle"] == "CinVakas"


def test_abcd_all_3():
    path = ABCD
    convs = read_file(path)
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert [c.id for c in convs] == [str(r["convo_id"]) for r in raw] == ["3592", "9489", "3695"]
    assert [c.customer_name for c in convs] == ["crystal minh", "alessandro phoenix", "joyce wu"]
    assert {c.agent_id for c in convs} == {ABCD_AGENT_ID}
    assert [Counter(t.speaker for t in c.turns) for c in convs] == [
        Counter(customer=13, agent=12, system=4), Counter(customer=10, agent=9, system=2),
        Counter(agent=11, customer=8, system=3)]
    for conv, item in zip(convs, raw):
        assert [t.text for t in conv.turns] == [text for _, text in item["original"]]
        assert all(t.start_s is None for t in conv.turns) and conv.started_at is None
    assert convs[0].turns[6].speaker == "system"
    assert convs[0].turns[6].text == "Account has been pulled up for Crystal Minh."


@pytest.mark.parametrize("which,summary", [
    ("cut", "ingest: 2 files, 43 conversations, 171 turns, 17 agents, 0 failures"),
    ("full", "ingest: 2 files, 528 conversations, 1283 turns, 25 agents, 0 failures")])
def test_cli_on_the_real_folder(tmp_path, which, summary):
    folder = ABCD.parent if which == "cut" else need_shared("chats")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["ingest", str(folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[-1] == summary
    n = int(summary.split(", ")[1].split()[0])
    assert len(list((out / "transcripts").glob("*.json"))) == n
    conv = Conversation.load(out / "transcripts" / "3592.json")
    assert conv.customer_name == "crystal minh"


def test_abcd_agent_from_sidecar(tmp_path):
    side = tmp_path / "agents.csv"
    side.write_text("conversation_id,agent_id\n9489,agent-17\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["ingest", str(ABCD),
                                       "--meta", str(side), "--out", str(out)])
    assert result.exit_code == 0, result.output
    agents = {p.stem: Conversation.load(p).agent_id for p in (out / "transcripts").glob("*.json")}
    assert agents == {"3592": ABCD_AGENT_ID, "9489": "agent-17", "3695": ABCD_AGENT_ID}
