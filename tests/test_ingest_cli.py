"""`qa ingest` through click's CliRunner: exact exit codes and messages for each kind of
bad input, the batch going on past them, and failures.csv."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from qa.cli import main
from qa.conversation import Conversation

DATA = Path(__file__).parent / "data" / "ingest"
ROOT = Path(__file__).parent.parent

GOOD = ('{"conversation_id":"g1","agent_id":"a1","timestamp":"2026-05-01T09:00:00Z",'
        '"speaker":"customer","text":"Hi"}\n'
        '{"conversation_id":"g1","agent_id":"a1","timestamp":"2026-05-01T09:00:30Z",'
        '"speaker":"agent","text":"Hello, how can I help?"}\n')


def ingest(*args):
    return CliRunner().invoke(main, ["ingest", *map(str, args)])


def failures(out: Path) -> list[dict]:
    with open(out / "results" / "failures.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def one_bad(tmp_path: Path, name: str, data: bytes, *extra) -> tuple:
    """Ingest a bad file beside a good one; the good one must still be written."""
    bad = tmp_path / name
    bad.write_bytes(data)
    good = tmp_path / "good.jsonl"
    good.write_text(GOOD)
    out = tmp_path / "out"
    result = ingest(bad, good, "--out", out, *extra)
    assert (out / "transcripts" / "g1.json").exists(), result.output
    assert "Traceback" not in result.output
    rows = failures(out)
    assert all(r["stage"] == "ingest" for r in rows)
    return result, rows, bad


def error_lines(result) -> list[str]:
    return [ln for ln in result.stderr.splitlines() if ln.startswith("error: ")]


def test_demo_chats(tmp_path):
    out = tmp_path / "out"
    result = ingest(ROOT / "examples" / "chats" / "demo_chats.jsonl", "--out", out)
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[-1] == \
        "ingest: 1 file, 6 conversations, 33 turns, 3 agents, 0 failures"
    files = sorted(p.name for p in (out / "transcripts").glob("*.json"))
    assert files == [f"demo-c{i}.json" for i in range(1, 7)]
    convs = [Conversation.load(out / "transcripts" / f) for f in files]
    assert sorted({c.agent_id for c in convs}) == ["a-casey", "a-jordan", "a-sam"]
    assert all(c.agent_name and c.team and c.customer_name for c in convs)
    assert failures(out) == []
    assert result.stdout == ""


def test_quiet_prints_nothing_when_all_is_well(tmp_path):
    result = ingest(DATA / "messages.json", "--out", tmp_path / "out", "-q")
    assert result.exit_code == 0
    assert result.stderr == ""


def test_empty_file(tmp_path):
    result, rows, bad = one_bad(tmp_path, "empty.jsonl", b"")
    assert result.exit_code == 1
    assert error_lines(result) == [
        f"error: {bad}: the file is empty. Fix: Export the conversations again, or remove the "
        "file from the inputs."]
    assert rows == [{"file": str(bad), "stage": "ingest",
                     "reason": "the file is empty. Fix: Export the conversations again, or "
                               "remove the file from the inputs."}]
    assert result.stderr.splitlines()[-1] == \
        "ingest: 2 files, 1 conversation, 2 turns, 1 agent, 1 failure"


def test_not_utf8_names_offset_and_line(tmp_path):
    data = GOOD.replace("g1", "b1").encode() + \
        '{"conversation_id":"b1","agent_id":"a1","timestamp":"2026-05-01T09:01:00Z","speaker":"agent","text":"caf\xe9"}\n'.encode("latin-1")
    result, rows, bad = one_bad(tmp_path, "latin1.jsonl", data)
    assert result.exit_code == 1
    offset = data.index(b"\xe9")
    assert error_lines(result) == [
        f"error: {bad}:line 3: not UTF-8 text: byte 0xe9 at byte offset {offset}. Fix: Save the "
        "export as UTF-8 (in Excel: CSV UTF-8; or `iconv -f WINDOWS-1252 -t UTF-8 in.csv > "
        "out.csv`)."]
    assert rows[0]["reason"].endswith("(line 3)")


def test_bom_and_crlf_are_accepted(tmp_path):
    data = b"\xef\xbb\xbf" + GOOD.replace("g1", "b1").replace("\n", "\r\n").encode()
    result, rows, bad = one_bad(tmp_path, "bom.jsonl", data)
    assert result.exit_code == 0, result.output
    assert rows == []
    conv = Conversation.load(tmp_path / "out" / "transcripts" / "b1.json")
    assert [t.text for t in conv.turns] == ["Hi", "Hello, how can I help?"]
    # a BOM'd CSV with CRLF too
    csv_file = tmp_path / "bom.csv"
    csv_file.write_bytes(b"\xef\xbb\xbfconversation_id,agent_id,speaker,text\r\n"
                         b"b2,a1,agent,Hi there\r\nb2,a1,customer,Hello\r\n")
    result = ingest(csv_file, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert [t.speaker for t in Conversation.load(tmp_path / "out" / "transcripts" / "b2.json").turns] \
        == ["agent", "customer"]


def test_broken_json_line_fails_the_file(tmp_path):
    data = (GOOD.replace("g1", "x1") + '{"conversation_id":"x1","speaker":"agent","text":"Hel\n'
            ).encode()
    result, rows, bad = one_bad(tmp_path, "broken.jsonl", data)
    assert result.exit_code == 1
    assert error_lines(result) == [
        f"error: {bad}:line 3: broken JSON: Unterminated string starting at (column 50). Fix: "
        "Repair or remove that line; the file is not read until every line is valid (a "
        "conversation with a lost message would be scored wrongly)."]
    assert not (tmp_path / "out" / "transcripts" / "x1.json").exists()


def test_broken_json_document(tmp_path):
    result, rows, bad = one_bad(tmp_path, "broken.json", b'[\n {"speaker": "agent",\n  "text": }\n]\n')
    assert result.exit_code == 1
    assert error_lines(result) == [
        f"error: {bad}:line 3: broken JSON: Expecting value (column 11). Fix: Repair the JSON at "
        "that line (a validator such as `python -m json.tool FILE` shows the spot)."]


def test_csv_missing_column_lists_columns_and_map(tmp_path):
    result, rows, bad = one_bad(tmp_path, "export.csv",
                                b"conversation_id,agent_id,author_role,body\nc9,a1,agent,Hi\n")
    assert result.exit_code == 1
    assert error_lines(result) == [
        f"error: {bad}:line 1: the CSV has no 'speaker' or 'text' column; it has: "
        "conversation_id, agent_id, author_role, body. Fix: Name the column with "
        "--map speaker=author_role --map text=body."]
    assert rows[0]["reason"] == (
        "the CSV has no 'speaker' or 'text' column; it has: conversation_id, agent_id, "
        "author_role, body. Fix: Name the column with --map speaker=author_role --map "
        "text=body. (line 1)")


def test_map_on_a_differently_named_csv(tmp_path):
    out = tmp_path / "out"
    result = ingest(DATA / "mapped.csv", "--out", out,
                    "--map", "conversation_id=thread", "--map", "agent_id=rep",
                    "--map", "timestamp=created_at", "--map", "speaker=author_role",
                    "--map", "text=body", "--agent-label", "cs_team", "--customer-label", "END_USER")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[-1] == \
        "ingest: 1 file, 2 conversations, 5 turns, 2 agents, 0 failures"
    conv = Conversation.load(out / "transcripts" / "t-101.json")
    assert (conv.agent_id, [(t.speaker, t.start_s) for t in conv.turns]) == \
        ("rep-2", [("customer", 0.0), ("agent", 120.0)])


def test_map_pointing_at_a_missing_column(tmp_path):
    result = ingest(DATA / "mapped.csv", "--out", tmp_path / "out", "--map", "speaker=role_name",
                    "--map", "text=body")
    assert result.exit_code == 1
    assert error_lines(result) == [
        f"error: {DATA / 'mapped.csv'}:line 1: the CSV has no 'speaker' column (--map "
        "speaker=role_name names a column that is not there); it has: thread, rep, created_at, "
        "author_role, body. Fix: Name the column with --map speaker=author_role."]


def test_unknown_speaker_labels(tmp_path):
    data = (b'{"conversation_id":"u1","agent_id":"a1","speaker":"support","text":"Hi"}\n'
            b'{"conversation_id":"u1","agent_id":"a1","speaker":"member","text":"Hello"}\n')
    result, rows, bad = one_bad(tmp_path, "labels.jsonl", data)
    assert result.exit_code == 1
    assert error_lines(result) == [
        f"error: {bad}:line 2: speaker labels that match neither agent nor customer: 'member' "
        "(labels seen: 'support', 'member'). Fix: Say which role it is: --agent-label member or "
        "--customer-label member."]
    fixed = ingest(bad, "--out", tmp_path / "out2", "--customer-label", "member")
    assert fixed.exit_code == 0, fixed.output


def test_no_agent_id_then_supplied(tmp_path):
    data = (b'{"conversation_id":"n1","speaker":"customer","text":"Hi"}\n'
            b'{"conversation_id":"n1","speaker":"agent","text":"Hello!"}\n')
    result, rows, bad = one_bad(tmp_path, "noagent.jsonl", data)
    assert result.exit_code == 1
    assert error_lines(result) == [
        f"error: {bad}: conversation 'n1' has no agent id. Fix: Add an agent_id column/field, or "
        "supply one with --meta calls.csv (columns: file, agent_id, …) or --name-pattern "
        "\"{agent_id}_{date}_{call_id}\"."]
    side = tmp_path / "meta.csv"
    side.write_text("conversation_id,agent_id,team\nn1,a5,Care\n")
    fixed = ingest(bad, "--out", tmp_path / "out2", "--meta", side)
    assert fixed.exit_code == 0, fixed.output
    conv = Conversation.load(tmp_path / "out2" / "transcripts" / "n1.json")
    assert (conv.agent_id, conv.team) == ("a5", "Care")
    fixed = ingest(bad, "--out", tmp_path / "out3", "--agent-id", "a6")
    assert fixed.exit_code == 0, fixed.output
    assert Conversation.load(tmp_path / "out3" / "transcripts" / "n1.json").agent_id == "a6"


def test_no_agent_turns_fails_that_conversation_only(tmp_path):
    data = (b'{"conversation_id":"o1","agent_id":"a1","speaker":"customer","text":"Hi?"}\n'
            b'{"conversation_id":"o2","agent_id":"a1","speaker":"customer","text":"Hi"}\n'
            b'{"conversation_id":"o2","agent_id":"a1","speaker":"agent","text":"Hello"}\n')
    result, rows, bad = one_bad(tmp_path, "noagentturns.jsonl", data)
    assert result.exit_code == 1
    assert error_lines(result) == [
        f"error: {bad}: conversation o1 has no agent turns: nothing to score. Fix: Check the "
        "speaker labels (--agent-label), or leave this conversation out."]
    assert (tmp_path / "out" / "transcripts" / "o2.json").exists()
    assert not (tmp_path / "out" / "transcripts" / "o1.json").exists()


def test_mixed_date_formats(tmp_path):
    data = (b'{"conversation_id":"d1","agent_id":"a1","timestamp":"2026-05-01T09:00:00Z",'
            b'"speaker":"agent","text":"Hi"}\n'
            b'{"conversation_id":"d1","agent_id":"a1","timestamp":"05/01/2026 09:01",'
            b'"speaker":"customer","text":"Hello"}\n')
    result, rows, bad = one_bad(tmp_path, "dates.jsonl", data)
    assert result.exit_code == 1
    assert error_lines(result) == [
        f"error: {bad}:line 2: cannot read the timestamp '05/01/2026 09:01', while other lines "
        "use '2026-05-01T09:00:00Z': mixed date formats. Fix: Use ISO 8601 with a time zone, "
        "e.g. 2026-05-01T09:00:05Z, or epoch seconds, the same way on every line."]


def test_mixed_time_zones_normalised_to_utc(tmp_path):
    f = tmp_path / "tz.jsonl"
    f.write_text(
        '{"conversation_id":"z1","agent_id":"a1","timestamp":"2026-05-01T11:00:00+02:00","speaker":"customer","text":"Hi"}\n'
        '{"conversation_id":"z1","agent_id":"a1","timestamp":"2026-05-01T05:00:20-04:00","speaker":"agent","text":"Hello"}\n'
        '{"conversation_id":"z1","agent_id":"a1","timestamp":1777626040,"speaker":"customer","text":"Thanks"}\n')
    result = ingest(f, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    conv = Conversation.load(tmp_path / "out" / "transcripts" / "z1.json")
    assert conv.started_at.isoformat() == "2026-05-01T09:00:00+00:00"
    assert [t.start_s for t in conv.turns] == [0.0, 20.0, 40.0]


def test_duplicate_conversation_id_across_inputs(tmp_path):
    a = tmp_path / "a.jsonl"
    b = tmp_path / "b.jsonl"
    a.write_text(GOOD)
    b.write_text(GOOD.replace("Hello, how can I help?", "Something else"))
    out = tmp_path / "out"
    result = ingest(a, b, "--out", out)
    assert result.exit_code == 1
    assert error_lines(result) == [
        f"error: {b}: duplicate conversation id g1, also in {a}. Fix: Conversation ids must be "
        "unique across inputs; leave one file out, or give the files' conversations distinct ids."]
    conv = Conversation.load(out / "transcripts" / "g1.json")
    assert conv.turns[1].text == "Hello, how can I help?"  # not overwritten


def test_rerun_overwrites_own_output(tmp_path):
    out = tmp_path / "out"
    assert ingest(DATA / "canonical.jsonl", "--out", out).exit_code == 0
    again = ingest(DATA / "canonical.jsonl", "--out", out)
    assert again.exit_code == 0, again.output
    assert failures(out) == []


def test_every_format_in_one_folder(tmp_path):
    out = tmp_path / "out"
    result = ingest(DATA / "canonical.jsonl", DATA / "messages.json", DATA / "conversations.json",
                    DATA / "call.vtt", DATA / "whisperx.json", "--out", out, "--agent-id", "a9",
                    "--agent-label", "SPEAKER_00", "--customer-label", "SPEAKER_01")
    assert result.exit_code == 0, result.output
    names = sorted(p.stem for p in (out / "transcripts").glob("*.json"))
    assert names == ["c1", "c2", "call", "j1", "k1", "k2", "whisperx"]
    assert result.stderr.splitlines()[-1] == \
        "ingest: 5 files, 7 conversations, 19 turns, 5 agents, 0 failures"
    assert Conversation.load(out / "transcripts" / "whisperx.json").channel == "voice"


def test_name_pattern_and_sidecar(tmp_path):
    srt = DATA / "named" / "a2_20260501_call9.srt"
    out = tmp_path / "out"
    result = ingest(srt, "--out", out, "--name-pattern", "{agent_id}_{date}_{call_id}")
    assert result.exit_code == 0, result.output
    conv = Conversation.load(out / "transcripts" / "call9.json")
    assert (conv.agent_id, conv.started_at.isoformat()) == ("a2", "2026-05-01T00:00:00+00:00")
    result = ingest(srt, "--out", out, "--name-pattern", "{agent_id}_{date}_{call_id}",
                    "--meta", DATA / "named" / "meta.csv")
    assert result.exit_code == 0, result.output
    conv = Conversation.load(out / "transcripts" / "call9.json")
    assert (conv.agent_id, conv.team, conv.customer_name, conv.metadata["queue"]) == \
        ("agent-from-csv", "Billing", "Robin", "priority")


# ---------------------------------------------------------------- usage errors (exit 2)
@pytest.mark.parametrize("args,message", [
    (["--map", "text"], "Invalid value for '--map': 'text' is not FIELD=COLUMN, e.g. --map text=body"),
    (["--map", "body=text"], "Invalid value for '--map': unknown field 'body' in --map body=text; "
                             "fields: conversation_id, speaker, text, timestamp, agent_id, "
                             "agent_name, team, customer_name, channel, message_id, author, messages"),
    (["--format", "xml"], "Invalid value for '--format': 'xml' is not one of"),
    (["--name-pattern", "nofields"], "Error: --name-pattern 'nofields' has no {field}. Fix: Example: "
                                     "--name-pattern \"{agent_id}_{date}_{call_id}\"."),
])
def test_usage_errors(tmp_path, args, message):
    result = ingest(DATA / "canonical.jsonl", "--out", tmp_path / "out", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_missing_input_is_usage_error(tmp_path):
    result = ingest(tmp_path / "nope.jsonl", "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_folder_without_inputs_is_usage_error(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "notes.txt").write_text("hi")
    result = ingest(tmp_path / "in", "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"Error: no chat exports or transcripts (.jsonl .ndjson .csv .json .vtt .srt) in "
        f"{tmp_path / 'in'}")


def test_help_has_example():
    result = CliRunner().invoke(main, ["ingest", "--help"])
    assert result.exit_code == 0
    assert "qa ingest examples/chats/demo_chats.jsonl --out qa-out" in result.output
    for option in ("--map", "--agent-label", "--customer-label", "--meta", "--name-pattern",
                   "--format", "--agent-id", "-q"):
        assert option in result.output


def test_failures_csv_keeps_other_stages(tmp_path):
    out = tmp_path / "out"
    (out / "results").mkdir(parents=True)
    (out / "results" / "failures.csv").write_text("file,stage,reason\nx.wav,transcribe,bad audio\n")
    result = ingest(DATA / "canonical.jsonl", "--out", out)
    assert result.exit_code == 0
    assert failures(out) == [{"file": "x.wav", "stage": "transcribe", "reason": "bad audio"}]


def test_output_is_json_conversation(tmp_path):
    out = tmp_path / "out"
    ingest(DATA / "canonical.jsonl", "--out", out)
    data = json.loads((out / "transcripts" / "c1.json").read_text())
    assert data["schema_version"] == 1 and data["source"]["format"] == "chat-jsonl"


def test_busy_output_folder_exits_3(tmp_path):
    from qa.store import OutDir, run_lock

    out = tmp_path / "out"
    with run_lock(OutDir.at(out)):
        result = ingest(DATA / "canonical.jsonl", "--out", out)
    assert result.exit_code == 3
    assert "is writing to this output folder" in result.output
