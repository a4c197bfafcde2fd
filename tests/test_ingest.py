"""Readers for each format, through the library API (qa.ingest)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from qa.errors import IngestError, MetadataError
from qa.ingest import (ABCD_AGENT_ID, FORMATS, IngestOptions, SpeakerLabels, detect_format,
                       ingest_paths, parse_file, parse_map_options, read_file, snowflake_time)
from qa.metadata import Metadata
from qa.store import OutDir
from qa.conversation import Conversation

DATA = Path(__file__).parent / "data" / "ingest"
UTC = timezone.utc


def turns(conv):
    return [(t.speaker, t.start_s, t.text) for t in conv.turns]


# ---------------------------------------------------------------- canonical chat
def test_canonical_jsonl_groups_sorts_normalises_and_dedupes(caplog):
    convs = read_file(DATA / "canonical.jsonl")
    assert [c.id for c in convs] == ["c1", "c2"]
    c1, c2 = convs
    assert (c1.agent_id, c1.agent_name, c1.team, c1.customer_name, c1.channel) == \
        ("a7", "Sam", "Billing", "Dana", "chat")
    assert c1.started_at == datetime(2026, 5, 1, 9, 0, 5, tzinfo=UTC)
    assert c1.duration_s == 85.0
    # sorted by time (the +02:00 line is 09:00:50 UTC), ties keep file order,
    # the duplicate message id m2 appears once
    assert turns(c1) == [
        ("customer", 0.0, "Hi, my order never arrived."),
        ("agent", 45.0, "Hi Dana, thanks for reaching out! Let me check."),
        ("agent", 85.0, "It ships tomorrow."),
        ("customer", 85.0, "Great, thanks."),
    ]
    assert [t.message_id for t in c1.turns] == [None, "m2", "m3", "m4"]
    assert all(t.end_s == t.start_s for t in c1.turns)
    assert "conversation c1: duplicate message id m2, kept the first" in caplog.text
    assert "line 6" in caplog.text
    # labels are case-insensitive; system is accepted; author keeps the source label
    assert [(t.speaker, t.author) for t in c2.turns] == \
        [("customer", "Customer"), ("agent", "AGENT"), ("system", "system")]
    assert c1.source.format == "chat-jsonl" and len(c1.source.sha256) == 64


def test_canonical_csv_with_crlf_and_quoted_newline():
    (conv,) = read_file(DATA / "canonical.csv")
    assert conv.source.format == "chat-csv"
    assert turns(conv) == [
        ("customer", 0.0, "Hi, my order never arrived."),
        ("agent", 45.0, "Hi Dana, thanks for reaching out!\nLet me check."),
        ("agent", 85.0, "It ships tomorrow."),
    ]
    assert conv.customer_name == "Dana"


def test_json_list_of_messages():
    (conv,) = read_file(DATA / "messages.json")
    assert conv.source.format == "chat-json"
    assert (conv.id, conv.agent_id) == ("j1", "a1")
    assert turns(conv) == [("customer", 0.0, "Hello?"), ("agent", 20.0, "Hi, how can I help?")]


def test_json_conversations_with_epoch_times_and_untimed_conversation():
    k1, k2 = read_file(DATA / "conversations.json")
    assert (k1.id, k1.agent_id, k1.team, k1.customer_name) == ("k1", "a1", "Tech", "Lee")
    assert k1.started_at == datetime.fromtimestamp(1777626000, UTC)
    assert [t.start_s for t in k1.turns] == [0.0, 45.0]
    assert (k2.id, k2.agent_id, k2.started_at) == ("k2", "a2", None)
    assert [t.start_s for t in k2.turns] == [None, None]


def test_mapped_csv_needs_map_and_labels():
    with pytest.raises(IngestError) as err:
        read_file(DATA / "mapped.csv")
    assert str(err.value) == (
        f"{DATA / 'mapped.csv'}:line 1: the CSV has no 'speaker' or 'text' column; it has: "
        "thread, rep, created_at, author_role, body. "
        "Fix: Name the column with --map speaker=author_role --map text=body.")
    mapping = parse_map_options(["conversation_id=thread", "agent_id=rep",
                                 "timestamp=created_at", "speaker=author_role", "text=body"])
    with pytest.raises(IngestError) as err:
        read_file(DATA / "mapped.csv", mapping=mapping)
    assert str(err.value) == (
        f"{DATA / 'mapped.csv'}:line 2: speaker labels that match neither agent nor customer: "
        "'end_user', 'cs_team' (labels seen: 'end_user', 'cs_team'). Fix: Say which role each "
        "is, e.g. --agent-label end_user --customer-label cs_team.")
    a, b = read_file(DATA / "mapped.csv", mapping=mapping,
                     labels=SpeakerLabels(agent=("CS_Team",), customer=("END_USER",)))
    assert (a.id, a.agent_id, b.id, b.agent_id) == ("t-100", "rep-1", "t-101", "rep-2")
    assert turns(a) == [("customer", 0.0, "My invoice is wrong"),
                        ("agent", 40.0, "Sorry about that! Which invoice number?"),
                        ("customer", 70.0, "INV-2231")]


def test_unknown_labels_listed_with_fix(tmp_path):
    f = tmp_path / "x.jsonl"
    f.write_text('{"conversation_id":"u","agent_id":"a","speaker":"rep_bot","text":"Hi"}\n'
                 '{"conversation_id":"u","agent_id":"a","speaker":"member","text":"Yo"}\n')
    with pytest.raises(IngestError) as err:
        read_file(f)
    assert str(err.value) == (
        f"{f}:line 1: speaker labels that match neither agent nor customer: 'rep_bot', 'member' "
        "(labels seen: 'rep_bot', 'member'). Fix: Say which role each is, e.g. "
        "--agent-label rep_bot --customer-label member.")
    convs = read_file(f, labels=SpeakerLabels(agent=("REP_BOT",), customer=("member",)))
    assert [t.speaker for t in convs[0].turns] == ["agent", "customer"]


def test_map_option_parsing():
    assert parse_map_options(["text = body", "speaker=author.role"]) == \
        {"text": "body", "speaker": "author.role"}
    with pytest.raises(ValueError, match="unknown field 'txt'"):
        parse_map_options(["txt=body"])
    with pytest.raises(ValueError, match="is not FIELD=COLUMN"):
        parse_map_options(["text"])


def test_map_reaches_nested_json(tmp_path):
    f = tmp_path / "nested.json"
    f.write_text(json.dumps([
        {"thread": {"id": "n1"}, "who": {"role": "bot"}, "body": "Welcome!", "rep": "a3"},
        {"thread": {"id": "n1"}, "who": {"role": "agent"}, "body": "Hi, Kim here.", "rep": "a3"},
        {"thread": {"id": "n1"}, "who": {"role": "user"}, "body": "Hello", "rep": "a3"},
    ]))
    (conv,) = read_file(f, mapping={"conversation_id": "thread.id", "speaker": "who.role",
                                    "text": "body", "agent_id": "rep"})
    assert [(t.speaker, t.text) for t in conv.turns] == \
        [("system", "Welcome!"), ("agent", "Hi, Kim here."), ("customer", "Hello")]


# ---------------------------------------------------------------- transcripts
def test_vtt_voices_times_and_continuation():
    (conv,) = read_file(DATA / "call.vtt", agent_id="a9")
    assert (conv.id, conv.channel, conv.agent_id, conv.duration_s) == ("call", "voice", "a9", 12.0)
    assert [(t.speaker, t.start_s, t.end_s, t.text) for t in conv.turns] == [
        ("agent", 1.0, 4.5, "Thank you for calling Acme, this is Sam."),
        ("customer", 5.0, 8.25, "Hi Sam, my internet is down & I work from home."),
        ("agent", 8.5, 10.0, "I'm sorry to hear that, let's fix it."),
        ("agent", 10.0, 12.0, "and I'll stay with you until it works."),
    ]
    assert conv.source.format == "vtt"


def test_srt_prefixes_and_multiline_cue():
    (conv,) = read_file(DATA / "call.srt", agent_id="a9")
    assert [(t.speaker, t.start_s, t.end_s, t.text) for t in conv.turns] == [
        ("agent", 1.0, 3.0, "Good morning, Acme support."),
        ("customer", 3.5, 6.0, "Hi, I need help with a refund."),
        ("agent", 66.0, 69.0, "Sure, I can help with that today."),
    ]


def test_srt_without_labels(tmp_path):
    f = tmp_path / "plain.srt"
    f.write_text("1\n00:00:01,000 --> 00:00:02,000\nHello there\n")
    with pytest.raises(IngestError) as err:
        read_file(f, agent_id="a")
    assert str(err.value) == (f"{f}:line 2: no speaker labels in the SRT cues. "
                              "Fix: Mark each speaker change, e.g. 'Agent: Hello'.")


def test_whisperx_json_speakers_and_words():
    with pytest.raises(IngestError, match="--agent-label SPEAKER_00 --customer-label SPEAKER_01"):
        read_file(DATA / "whisperx.json", agent_id="a9")
    (conv,) = read_file(DATA / "whisperx.json", agent_id="a9",
                        labels=SpeakerLabels(agent=("SPEAKER_00",), customer=("SPEAKER_01",)))
    assert conv.source.format == "whisper-json" and conv.language == "en"
    assert [(t.speaker, t.start_s, t.end_s, t.text) for t in conv.turns] == [
        ("agent", 0.5, 2.1, "Hello, thanks for calling."),
        ("customer", 2.8, 4.0, "I was billed 2 times."),  # speaker from its words
    ]
    words = conv.turns[1].words
    assert [(w.word, w.start, w.end) for w in words][2:4] == [("billed", 3.1, 3.5), ("2", 3.5, 3.5)]
    assert conv.turns[0].words[0].probability == 0.91


def test_faster_whisper_json_without_speakers_is_refused():
    with pytest.raises(IngestError) as err:
        read_file(DATA / "faster_whisper.json", agent_id="a9")
    assert "no speaker labels in this faster-whisper JSON" in str(err.value)
    assert "qa transcribe" in err.value.fix


def test_transcript_needs_an_agent_id():
    with pytest.raises(MetadataError) as err:
        read_file(DATA / "call.vtt")
    assert str(err.value) == (
        f"{DATA / 'call.vtt'}: conversation 'call' has no agent id. Fix: Add an agent_id "
        "column/field, or supply one with --meta calls.csv (columns: file, agent_id, …) or "
        "--name-pattern \"{agent_id}_{date}_{call_id}\".")


# ---------------------------------------------------------------- metadata
def test_name_pattern_gives_agent_date_and_id():
    meta = Metadata(None, "{agent_id}_{date}_{call_id}")
    (conv,) = read_file(DATA / "named" / "a2_20260501_call9.srt", metadata=meta)
    assert (conv.id, conv.agent_id, conv.started_at) == \
        ("call9", "a2", datetime(2026, 5, 1, tzinfo=UTC))


def test_sidecar_wins_over_pattern():
    meta = Metadata(DATA / "named" / "meta.csv", "{agent_id}_{date}_{call_id}")
    (conv,) = read_file(DATA / "named" / "a2_20260501_call9.srt", metadata=meta)
    assert (conv.id, conv.agent_id, conv.team, conv.customer_name) == \
        ("call9", "agent-from-csv", "Billing", "Robin")
    assert conv.metadata["queue"] == "priority"


def test_sidecar_by_conversation_id_for_chats(tmp_path):
    side = tmp_path / "meta.csv"
    side.write_text("conversation_id,agent_id,team\nn1,a5,Care\n")
    f = tmp_path / "chats.jsonl"
    f.write_text('{"conversation_id":"n1","speaker":"agent","text":"Hi"}\n')
    (conv,) = read_file(f, metadata=Metadata(side))
    assert (conv.agent_id, conv.team) == ("a5", "Care")


# ---------------------------------------------------------------- detection & options
@pytest.mark.parametrize("name,fmt", [
    ("canonical.jsonl", "chat-jsonl"), ("canonical.csv", "chat-csv"), ("messages.json", "chat-json"),
    ("conversations.json", "chat-json"), ("call.vtt", "vtt"), ("call.srt", "srt"),
    ("whisperx.json", "whisper-json"), ("faster_whisper.json", "whisper-json"),
])
def test_detect_format(name, fmt):
    assert detect_format(DATA / name, (DATA / name).read_text())[0] == fmt


def test_detect_by_content_without_extension(tmp_path):
    for name, src in (("a.txt", "call.vtt"), ("b.txt", "call.srt"), ("c.txt", "canonical.jsonl"),
                      ("d.txt", "canonical.csv")):
        (tmp_path / name).write_bytes((DATA / src).read_bytes())
    got = [detect_format(tmp_path / n, (tmp_path / n).read_text())[0]
           for n in ("a.txt", "b.txt", "c.txt", "d.txt")]
    assert got == ["vtt", "srt", "chat-jsonl", "chat-csv"]


def test_jsonl_content_in_a_json_file(tmp_path):
    f = tmp_path / "lines.json"
    f.write_bytes((DATA / "canonical.jsonl").read_bytes())
    assert [c.id for c in read_file(f)] == ["c1", "c2"]


def test_forced_format_mismatch(tmp_path):
    with pytest.raises(IngestError, match="not the IBM Twitter customer-care format"):
        read_file(DATA / "messages.json", fmt="ibm-twitter")
    with pytest.raises(IngestError, match="not the ABCD format"):
        read_file(DATA / "messages.json", fmt="abcd")


def test_recording_is_pointed_to_transcribe(tmp_path):
    f = tmp_path / "call.wav"
    f.write_bytes(b"RIFF0000WAVE")
    with pytest.raises(IngestError, match="this is a recording.*qa transcribe"):
        read_file(f)


def test_formats_are_documented_in_readme():
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("<!-- section:ingest -->")[1].split("<!-- /section:ingest -->")[0]
    for name in FORMATS:
        assert f"`{name}`" in section, name


# ---------------------------------------------------------------- named exports (small)
def test_snowflake_time():
    # a tweet id whose time is known from the IBM data: 2020-04-01T17:31:32Z (to the second)
    assert snowflake_time("1245403438755852288").replace(microsecond=0) == \
        datetime(2020, 4, 1, 17, 31, 32, tzinfo=UTC)


def test_abcd_agent_id_default_and_override(tmp_path):
    f = tmp_path / "abcd.json"
    f.write_text(json.dumps([{"convo_id": 7, "scenario": {"personal": {"customer_name": "ana"}},
                              "original": [["agent", "Hi!"], ["action", "Account pulled up."],
                                           ["customer", "Hello"]]}]))
    (conv,) = read_file(f)
    assert (conv.id, conv.agent_id, conv.customer_name) == ("7", ABCD_AGENT_ID, "ana")
    assert [t.speaker for t in conv.turns] == ["agent", "system", "customer"]
    assert read_file(f, agent_id="a42")[0].agent_id == "a42"


# ---------------------------------------------------------------- ingest_paths
def test_ingest_paths_writes_and_refuses_duplicate_ids(tmp_path):
    out = OutDir.at(tmp_path / "out")
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes((DATA / "canonical.jsonl").read_bytes())
    results = list(ingest_paths([DATA / "canonical.jsonl", copy], out))
    first, second = results
    assert [c.id for c in first.conversations] == ["c1", "c2"] and first.ok
    assert [p.name for p in first.written] == ["c1.json", "c2.json"]
    assert second.conversations == [] and second.written == []
    assert [str(e) for e in second.errors] == [
        f"{copy}: duplicate conversation id c1, also in {DATA / 'canonical.jsonl'}. Fix: "
        "Conversation ids must be unique across inputs; leave one file out, or give the "
        "files' conversations distinct ids.",
        f"{copy}: duplicate conversation id c2, also in {DATA / 'canonical.jsonl'}. Fix: "
        "Conversation ids must be unique across inputs; leave one file out, or give the "
        "files' conversations distinct ids.",
    ]
    back = Conversation.load(out.transcripts / "c1.json")
    assert back == first.conversations[0]


def test_parse_file_never_raises_for_bad_input(tmp_path):
    f = tmp_path / "e.jsonl"
    f.write_text("")
    r = parse_file(f, IngestOptions())
    assert not r.ok and r.conversations == [] and r.format is None
    assert str(r.errors[0]).startswith(f"{f}: the file is empty")


def test_json_conversation_problems(tmp_path):
    f = tmp_path / "dup.json"
    f.write_text(json.dumps([
        {"id": "k1", "agent_id": "a", "messages": [{"speaker": "agent", "text": "Hi"}]},
        {"id": "k1", "agent_id": "a", "messages": [{"speaker": "agent", "text": "Hey"}]}]))
    with pytest.raises(IngestError) as err:
        read_file(f)
    assert str(err.value) == (f"{f}:item 2: conversation id k1 appears twice (also at item 1). "
                              "Fix: Give each conversation its own id.")
    f.write_text(json.dumps([{"id": "k3", "agent_id": "a", "messages": []}]))
    with pytest.raises(IngestError, match="conversation k3 has no messages"):
        read_file(f)


def test_sidecar_in_an_input_folder_is_not_read_as_a_chat(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "chats.jsonl").write_text(
        '{"conversation_id":"s1","speaker":"agent","text":"Hi"}\n')
    (folder / "calls.csv").write_text("conversation_id,agent_id\ns1,a3\n")
    results = list(ingest_paths([folder], OutDir.at(tmp_path / "out"),
                                IngestOptions(metadata=Metadata(folder / "calls.csv"))))
    assert [r.path.name for r in results] == ["chats.jsonl"]
    assert results[0].ok and results[0].conversations[0].agent_id == "a3"


def test_srt_colon_in_text_is_not_a_speaker(tmp_path):
    f = tmp_path / "c.srt"
    f.write_text("1\n00:00:01,000 --> 00:00:02,000\nCustomer: the problem is: my card\n\n"
                 "2\n00:00:02,500 --> 00:00:04,000\nso the short version: it fails\n\n"
                 "3\n00:00:04,500 --> 00:00:06,000\nAgent: Let me check: one moment.\n")
    (conv,) = read_file(f, agent_id="a")
    assert [(t.speaker, t.text) for t in conv.turns] == [
        ("customer", "the problem is: my card"), ("customer", "so the short version: it fails"),
        ("agent", "Let me check: one moment.")]


@pytest.mark.parametrize("stamp", ["1e30", "\"9999-12-31T23:59:59-05:00\"", "\"nan\"", "true"])
def test_out_of_range_timestamps_are_errors(tmp_path, stamp):
    f = tmp_path / "t.jsonl"
    f.write_text('{"conversation_id":"t","agent_id":"a","speaker":"agent","text":"Hi",'
                 f'"timestamp":{stamp}}}\n')
    r = parse_file(f)
    assert r.conversations == []
    assert f"{f}:line 1: cannot read the timestamp" in str(r.errors[0])


def test_unexpected_reader_error_becomes_a_one_line_failure(tmp_path, monkeypatch):
    import qa.ingest.chat as chat_mod

    def boom(*a, **k):
        raise KeyError("surprise")

    monkeypatch.setattr(chat_mod, "read_jsonl", boom)
    f = tmp_path / "x.jsonl"
    f.write_text('{"speaker":"agent","text":"Hi"}\n')
    r = parse_file(f)
    assert [str(e) for e in r.errors] == [
        f"{f}: could not be read: unexpected KeyError: 'surprise'. Fix: Check the file's "
        "structure against `qa ingest --help`; if it looks right, please report this as a qa bug."]


def test_id_lookalike_column_needs_a_map(tmp_path):
    f = tmp_path / "export.csv"
    f.write_text("session_id,agent_id,speaker,text\ns1,a1,agent,Hi\ns2,a2,agent,Hello\n")
    with pytest.raises(IngestError) as err:
        read_file(f)
    assert str(err.value) == (
        f"{f}:line 1: no 'conversation_id' column, but 'session_id' looks like one. Fix: Say "
        "which column groups messages into conversations with --map conversation_id=session_id.")
    assert [c.id for c in read_file(f, mapping={"conversation_id": "session_id"})] == ["s1", "s2"]


def test_file_without_conversation_id_is_one_conversation(tmp_path):
    f = tmp_path / "a3_20260502_chat7.jsonl"
    f.write_text('{"speaker":"customer","text":"Hi"}\n{"speaker":"agent","text":"Hello"}\n')
    (conv,) = read_file(f, metadata=Metadata(None, "{agent_id}_{date}_{call_id}"))
    assert (conv.id, conv.agent_id) == ("chat7", "a3")
    (conv,) = read_file(f, agent_id="a1")
    assert conv.id == "a3_20260502_chat7"


def test_name_pattern_that_does_not_match_says_so():
    with pytest.raises(MetadataError) as err:
        read_file(DATA / "call.vtt", metadata=Metadata(None, "{agent_id}_{date}_{call_id}"))
    assert str(err.value) == (
        f"{DATA / 'call.vtt'}: conversation 'call' has no agent id, and --name-pattern "
        "'{agent_id}_{date}_{call_id}' does not match the file name 'call'. Fix: Rename the file "
        "to fit the pattern, change the pattern, or give the agent with --meta calls.csv "
        "(columns: file, agent_id, …) or --agent-id.")
