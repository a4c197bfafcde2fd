"""The bad-input battery: one `qa run` over a folder of broken recordings and exports
mixed with good ones. Each bad file gets exactly one clear failure row (file, stage,
reason with the fix); the good ones are scored and reported; no traceback; exit 1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from conftest import ROOT, need_tool

pytestmark = pytest.mark.slow  # one `qa run` over every bad input, a recording included (Whisper)

GOOD_CHAT = [
    {"conversation_id": "good1", "agent_id": "a-good", "speaker": "agent",
     "text": "Hi, thanks for reaching out! This is Sam.", "timestamp": "2026-05-01T09:00:00Z"},
    {"conversation_id": "good1", "agent_id": "a-good", "speaker": "customer",
     "text": "My order has not arrived.", "timestamp": "2026-05-01T09:00:40Z"},
    {"conversation_id": "good1", "agent_id": "a-good", "speaker": "agent",
     "text": "I'm sorry to hear that. Let me check it for you.", "timestamp": "2026-05-01T09:01:10Z"},
]


def _jsonl(path: Path, rows, *, encoding="utf-8", newline="\n") -> Path:
    path.write_bytes(newline.join(json.dumps(r) for r in rows).encode(encoding) + newline.encode())
    return path


def _msg(cid, speaker, text, ts, **kw):
    return {"conversation_id": cid, "agent_id": "a-bad", "speaker": speaker, "text": text,
            "timestamp": ts, **kw}


@pytest.fixture(scope="module")
def battery(tmp_path_factory):
    need_tool("espeak-ng", "sox", "ffmpeg")
    d = tmp_path_factory.mktemp("battery")
    inp = d / "in"
    inp.mkdir()
    # --- good inputs
    _jsonl(inp / "good.jsonl", GOOD_CHAT)
    subprocess.run(["espeak-ng", "-w", str(d / "speech.wav"),
                    "Thank you for calling Acme, this is Sam. How can I help you today?"], check=True)
    subprocess.run(["sox", "-R", "-M", str(d / "speech.wav"), str(d / "speech.wav"), str(inp / "good_call.wav")],
                   check=True)
    # --- audio
    (inp / "zero.wav").write_bytes(b"")
    (inp / "truncated.wav").write_bytes((d / "speech.wav").read_bytes()[:60])
    (inp / "text.mp3").write_text("this is a text file, not a recording\n")
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc=duration=1:size=64x64:rate=5", "-f", "mp4", "-c:v", "mpeg4", "-y",
                    str(inp / "video_only.m4a")], check=True)
    subprocess.run(["sox", "-R", "-n", "-r", "16000", "-c", "2", str(inp / "silence.wav"), "trim", "0", "3"],
                   check=True)
    # --- chats
    (inp / "empty.jsonl").write_bytes(b"")
    (inp / "latin1.jsonl").write_bytes(  # Windows-1252 export: "Caf\xe9"
        b'{"conversation_id": "l1", "agent_id": "a-bad", "speaker": "agent", '
        b'"text": "Caf\xe9", "timestamp": "2026-05-01T09:00:00Z"}\n')
    _jsonl(inp / "bom_crlf.jsonl", [_msg("bom1", "agent", "Hello, thanks for contacting us.", "2026-05-01T09:00:00Z"),
                                    _msg("bom1", "customer", "Hi there", "2026-05-01T11:00:05+02:00")],
           encoding="utf-8-sig", newline="\r\n")
    _jsonl(inp / "huge_message.jsonl", [
        _msg("huge1", "customer", "Hi, this is Dana Lee. " + "log line " * 560_000, "2026-05-01T09:00:00Z"),
        _msg("huge1", "agent", "Thanks for sending the log, I can help.", "2026-05-01T09:01:00Z")])
    rows = []
    for i in range(2000):
        rows.append(_msg(f"L{i}", "customer", "My order is late", "2026-05-01T09:00:00Z"))
        rows.append(_msg(f"L{i}", "agent", "Sorry to hear that, let me check.", "2026-05-01T09:00:30Z"))
    lines = [json.dumps(r) for r in rows]
    lines.insert(2001, '{"conversation_id": "L-broken", oops')
    (inp / "large_broken.jsonl").write_text("\n".join(lines) + "\n")
    (inp / "missing_col.csv").write_text("conversation_id,agent_id,timestamp,body\nc1,a,2026-05-01T09:00:00Z,hi\n")
    _jsonl(inp / "mixed_dates.jsonl", [_msg("md1", "agent", "Hi, how can I help?", "2026-05-01T09:00:00Z"),
                                       _msg("md1", "customer", "My bill is wrong", "05/01/2026 09:01")])
    _jsonl(inp / "zones.jsonl", [_msg("tz1", "customer", "Hello, my bill is wrong", "2026-05-01T11:00:00+02:00"),
                                 _msg("tz1", "agent", "Hi! I can help with that.", "2026-05-01T09:00:30Z"),
                                 _msg("tz1", "customer", "Thanks", "2026-05-01T05:01:00-04:00")])
    _jsonl(inp / "dup_ids.jsonl", [_msg("dup1", "agent", "Hi, how can I help?", "2026-05-01T09:00:00Z", message_id="m1"),
                                   _msg("dup1", "agent", "Hi, how can I help?", "2026-05-01T09:00:00Z", message_id="m1"),
                                   _msg("dup1", "customer", "My bill is wrong", "2026-05-01T09:01:00Z", message_id="m2")])
    _jsonl(inp / "no_agent_turns.jsonl", [_msg("na1", "customer", "Hello? Anyone?", "2026-05-01T09:00:00Z")])
    meta = d / "calls.csv"
    meta.write_text("file,agent_id,team\n" + "".join(
        f"{n},a-call,blue\n" for n in ("good_call.wav", "zero.wav", "truncated.wav", "text.mp3",
                                       "video_only.m4a", "silence.wav")))
    out = d / "out"
    proc = subprocess.run([sys.executable, "-m", "qa.cli", "run", str(inp), "--meta", str(meta),
                           "--out", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=900)
    failures = pl.read_csv(out / "results" / "failures.csv")
    return proc, out, {Path(f).name: (s, r) for f, s, r in failures.iter_rows()}, failures


EXPECTED_FAILURES = {
    "zero.wav": ("transcribe", "empty file (0 bytes)"),
    "truncated.wav": ("transcribe", "truncated audio: the WAV header promises"),
    "text.mp3": ("transcribe", "not audio: the file holds text, not a .mp3 recording"),
    "video_only.m4a": ("transcribe", "no audio stream in the file"),
    "silence.wav": ("transcribe", "no speech found in the recording"),
    "empty.jsonl": ("ingest", "the file is empty"),
    "latin1.jsonl": ("ingest", "not UTF-8 text: byte 0xe9 at byte offset"),
    "large_broken.jsonl": ("ingest", "broken JSON: Expecting property name enclosed in double quotes"),
    "missing_col.csv": ("ingest", "the CSV has no 'speaker' or 'text' column; it has: conversation_id, "
                                  "agent_id, timestamp, body"),
    "mixed_dates.jsonl": ("ingest", "cannot read the timestamp '05/01/2026 09:01'"),
    "no_agent_turns.jsonl": ("ingest", "conversation na1 has no agent turns: nothing to score"),
}


def test_exit_code_and_no_traceback(battery):
    proc, _, _, _ = battery
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("name", sorted(EXPECTED_FAILURES))
def test_each_bad_input_has_one_clear_failure(battery, name):
    proc, _, by_file, failures = battery
    stage, reason = EXPECTED_FAILURES[name]
    assert failures.filter(pl.col("file").str.ends_with("/" + name)).height == 1
    got_stage, got_reason = by_file[name]
    assert got_stage == stage
    assert got_reason.startswith(reason), got_reason
    assert "Fix:" in got_reason  # every reason says what to do
    assert f"{name}" in proc.stderr  # and is on stderr, naming the file


def test_broken_line_in_a_large_file_names_the_line(battery):
    _, _, by_file, _ = battery
    assert by_file["large_broken.jsonl"][1].endswith("(line 2002)")


def test_nothing_else_failed(battery):
    _, _, _, failures = battery
    assert sorted(Path(f).name for f in failures["file"]) == sorted(EXPECTED_FAILURES)


def test_good_and_tolerable_inputs_are_scored(battery):
    _, out, _, _ = battery
    conv = pl.read_parquet(out / "results" / "conversations.parquet")
    assert sorted(conv["conversation_id"]) == ["bom1", "dup1", "good1", "good_call", "huge1", "tz1"]
    assert (out / "reports" / "index.html").is_file()


def test_bom_crlf_and_time_zones_are_read_right(battery):
    _, out, _, _ = battery
    bom = json.loads((out / "transcripts" / "bom1.json").read_text())
    assert [t["text"] for t in bom["turns"]] == ["Hello, thanks for contacting us.", "Hi there"]
    assert [t["start_s"] for t in bom["turns"]] == [0.0, 5.0]
    tz = json.loads((out / "transcripts" / "tz1.json").read_text())
    assert [t["start_s"] for t in tz["turns"]] == [0.0, 30.0, 60.0]
    assert tz["started_at"].startswith("2026-05-01T09:00:00")


def test_duplicate_message_ids_are_kept_once(battery):
    _, out, _, _ = battery
    dup = json.loads((out / "transcripts" / "dup1.json").read_text())
    assert [t["text"] for t in dup["turns"]] == ["Hi, how can I help?", "My bill is wrong"]


def test_a_5mb_message_is_scored_whole(battery):
    _, out, _, _ = battery
    huge = json.loads((out / "transcripts" / "huge1.json").read_text())
    assert len(huge["turns"][0]["text"]) == len("Hi, this is Dana Lee. " + "log line " * 560_000)
    crit = pl.read_parquet(out / "results" / "criteria.parquet").filter(pl.col("conversation_id") == "huge1")
    assert crit.height > 0
