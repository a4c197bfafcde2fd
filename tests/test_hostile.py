"""The hostile battery, round 2 (issue 12): inputs made to break qa, not just broken ones.

* property-based (Hypothesis): the readers get arbitrary bytes and arbitrary JSON under
  every input extension, and only qa's own error types may come out;
* one `qa run` over a folder of hostile files mixed with good ones: in = scored + failed,
  one `error:` line per bad file, no traceback, nothing but recordings qa decoded in
  `reports/audio`, an XLSX export of the result;
* nothing is written outside --out and the documented caches (telemetry off);
* a 20 MB message is scored in bounded memory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT, need_tool
from qa.errors import QAError, display
from qa.ingest import parse_file, read_conversation_file
from qa.ingest.common import (MAX_CONVERSATION_CHARS, MAX_JSON_DEPTH, MAX_TURNS, check_json_depth,
                              fix_lone_surrogates)
from qa.store import OutDir, write_conversation

QA = [sys.executable, "-m", "qa.cli"]
TEXT_EXTS = [".jsonl", ".json", ".csv", ".vtt", ".srt", ".ndjson"]
FAST = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _read_all_ways(path: Path, out: OutDir) -> None:
    """Every reader entry point on ``path``: only QAError may come out, and whatever is
    read can be written."""
    result = parse_file(path)
    assert all(isinstance(e, QAError) for e in result.errors), result.errors
    for conv in result.conversations:
        write_conversation(out, conv)  # valid Unicode, serialisable
    try:
        conv = read_conversation_file(path)
    except QAError:
        return
    if conv is not None:
        write_conversation(out, conv)


# ---------------------------------------------------------------- property-based
@FAST
@given(data=st.binary(max_size=2000), ext=st.sampled_from(TEXT_EXTS))
def test_arbitrary_bytes_give_only_qa_errors(tmp_path_factory, data, ext):
    d = tmp_path_factory.mktemp("bytes")
    p = d / f"input{ext}"
    p.write_bytes(data)
    _read_all_ways(p, OutDir.at(d / "out"))


_json_leaf = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
              | st.text(max_size=30) | st.sampled_from(["agent", "customer", "2026-05-01T09:00:00Z",
                                                         "\ud800", "\x00\x1b[31m", "c1"]))
_json = st.recursive(_json_leaf, lambda kids: st.lists(kids, max_size=5)
                     | st.dictionaries(st.sampled_from(["conversation_id", "speaker", "text",
                                                        "timestamp", "agent_id", "messages",
                                                        "segments", "start", "end", "words",
                                                        "schema_version", "turns", "source",
                                                        "dialogHeader", "dialogContent",
                                                        "original", "convo_id", "id", "x"])
                                       | st.text(max_size=8), kids, max_size=6),
                     max_leaves=40)


@FAST
@given(doc=_json, as_lines=st.booleans())
def test_arbitrary_json_gives_only_qa_errors(tmp_path_factory, doc, as_lines):
    d = tmp_path_factory.mktemp("json")
    if as_lines:
        items = doc if isinstance(doc, list) and doc else [doc]
        p = d / "input.jsonl"
        p.write_text("\n".join(json.dumps(i) for i in items) + "\n")
    else:
        p = d / "input.json"
        p.write_text(json.dumps(doc))
    _read_all_ways(p, OutDir.at(d / "out"))


@FAST
@given(doc=_json)
def test_arbitrary_conversation_json_gives_only_qa_errors(tmp_path_factory, doc):
    """Conversation JSON (`schema_version` + `turns`) is input like any other."""
    d = tmp_path_factory.mktemp("conv")
    p = d / "conv.json"
    base = {"schema_version": 1, "id": "x", "agent_id": "a", "turns": [],
            "source": {"path": "p", "sha256": "0", "format": "chat-jsonl"}}
    if isinstance(doc, dict):
        base.update(doc)
    else:
        base["turns"] = doc
    p.write_text(json.dumps(base))
    _read_all_ways(p, OutDir.at(d / "out"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(min_size=1, max_size=3000),
       ext=st.sampled_from([".wav", ".flac", ".mp3", ".ogg", ".m4a", ".opus", ".webm"]))
def test_arbitrary_bytes_as_audio_give_only_audio_errors(tmp_path_factory, data, ext):
    from qa.audio import probe
    from qa.errors import AudioDecodeError

    p = tmp_path_factory.mktemp("audio") / f"noise{ext}"
    p.write_bytes(data)
    try:
        probe(p)
    except AudioDecodeError:
        pass


@FAST
@given(data=st.binary(max_size=2000)
       | st.text(max_size=400).map(lambda t: ("conversation_id,grader,greeting\n" + t).encode(
           "utf-8", "surrogatepass")),
       ext=st.sampled_from([".csv", ".xlsx", ".tsv"]))
def test_arbitrary_grades_files_give_only_qa_errors(tmp_path_factory, data, ext):
    """`qa calibrate --grades` reads a file a person made: arbitrary bytes, or a CSV whose
    rows are arbitrary text (lone surrogates, control characters), give only qa's errors."""
    from qa.calibrate import read_grades

    p = tmp_path_factory.mktemp("grades") / f"grades{ext}"
    p.write_bytes(data)
    try:
        read_grades(p)
    except QAError:
        pass


@FAST
@given(data=st.binary(max_size=2000) | _json.map(lambda d: json.dumps(
    {"schema_version": 1, "turns": d}).encode("utf-8", "surrogatepass")))
def test_arbitrary_transcripts_give_only_qa_errors(tmp_path_factory, data):
    """The report stage reads OUT/transcripts/*.json back (Conversation.load): whatever a
    hand edit left there gives only qa's errors."""
    from qa.conversation import Conversation

    p = tmp_path_factory.mktemp("tr") / "t.json"
    p.write_bytes(data)
    try:
        Conversation.load(p)
    except QAError:
        pass


# ---------------------------------------------------------------- the guards, one by one
def test_nesting_limit_names_the_line(tmp_path):
    good = json.dumps({"conversation_id": "c", "speaker": "agent", "text": "hi"})
    deep = "[" * 100_000 + "]" * 100_000
    p = tmp_path / "deep.jsonl"
    p.write_text(f"{good}\n{good}\n{{\"text\": {deep}}}\n")
    r = parse_file(p)
    assert [str(e) for e in r.errors] == [
        f"{p}:line 3: JSON nested more than {MAX_JSON_DEPTH} levels deep. Fix: This is not a chat "
        "export or transcript qa can read (real exports nest a few levels); check the file, or "
        "leave it out."]
    check_json_depth("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH, p)  # the limit itself is fine
    check_json_depth('["' + "[" * 1000 + '"]', p)  # brackets inside strings do not nest


def test_lone_surrogates_are_replaced_and_the_line_named(tmp_path, caplog):
    assert fix_lone_surrogates(r'"a\ud800b"', tmp_path) == r'"a\ufffdb"'
    assert fix_lone_surrogates(r'"\ud83d\ude00"', tmp_path) == r'"\ud83d\ude00"'  # a pair: kept
    assert fix_lone_surrogates(r'"\\ud800"', tmp_path) == r'"\\ud800"'  # an escaped backslash
    p = tmp_path / "s.jsonl"
    p.write_text('{"conversation_id": "s1", "agent_id": "a", "speaker": "customer", "text": "hi"}\n'
                 '{"conversation_id": "s1", "agent_id": "a", "speaker": "agent", '
                 '"text": "Hello \\ud800 there \\udc00"}\n')
    with caplog.at_level("WARNING"):
        (conv,) = parse_file(p).conversations
    assert conv.turns[1].text == "Hello \ufffd there \ufffd"
    assert "line 2: a lone surrogate escape" in caplog.text
    write_conversation(OutDir.at(tmp_path / "out"), conv)  # used to raise PydanticSerializationError


def test_a_conversation_that_cannot_be_written_is_that_files_failure(tmp_path):
    from conftest import make_conv

    conv = make_conv([("agent", "hi \udcff"), ("customer", "ok")])
    with pytest.raises(QAError, match=r"conversation c1 cannot be written: turns\[0\]\.text is not "
                                      r"valid Unicode text"):
        write_conversation(OutDir.at(tmp_path), conv)


def test_over_long_turns_are_cut_with_a_note(tmp_path):
    p = tmp_path / "long.jsonl"
    rows = [{"conversation_id": "L", "agent_id": "a", "speaker": "customer",
             "text": "x" * (MAX_CONVERSATION_CHARS + 10)},
            {"conversation_id": "L", "agent_id": "a", "speaker": "agent", "text": "Hello"}]
    p.write_text("\n".join(json.dumps(r) for r in rows))
    (conv,) = parse_file(p).conversations
    kept = MAX_CONVERSATION_CHARS - len("Hello")
    assert len(conv.turns[0].text) == kept and conv.turns[1].text == "Hello"
    assert conv.metadata["truncated_turns"] == [{"turn": 0, "chars": MAX_CONVERSATION_CHARS + 10,
                                                 "kept": kept}]


def test_the_bound_is_per_conversation_not_per_message(tmp_path):
    """Four 5 MB messages (20 MB in one conversation) went under the old per-message cut and
    took a run to 2 GB: the budget is now the conversation's. The longest turns are cut to
    one length, so short turns (the greeting, the closing) are kept whole."""
    quarter = MAX_CONVERSATION_CHARS - 1000
    rows = [{"conversation_id": "F", "agent_id": "a", "speaker": s, "text": t}
            for s, t in [("agent", "Hello, this is Sam."), ("customer", "y" * quarter),
                         ("agent", "z" * quarter), ("customer", "w" * (quarter // 2)),
                         ("agent", "Thanks for calling, goodbye.")]]
    p = tmp_path / "four.jsonl"
    p.write_text(_lines(rows))
    (conv,) = parse_file(p).conversations
    lengths = [len(t.text) for t in conv.turns]
    assert sum(lengths) <= MAX_CONVERSATION_CHARS
    assert lengths[0] == len("Hello, this is Sam.") and lengths[-1] == len("Thanks for calling, goodbye.")
    assert lengths[1] == lengths[2] == lengths[3] > MAX_CONVERSATION_CHARS // 3 - 100
    assert [c["turn"] for c in conv.metadata["truncated_turns"]] == [1, 2, 3]


def test_a_conversation_with_too_many_turns_is_that_conversations_failure(tmp_path):
    """250,000 turns under one id (an export whose id column is wrong) took 2 GB and a
    minute to score; more than MAX_TURNS is now a failure saying what to check."""
    p = tmp_path / "one_id.jsonl"
    p.write_text(_lines([{"conversation_id": "all", "agent_id": "a",
                          "speaker": ("agent", "customer")[k % 2], "text": "ok"}
                         for k in range(MAX_TURNS + 1)]
                        + _chat("fine", "Hello, thanks for calling.")))
    r = parse_file(p)
    assert [c.id for c in r.conversations] == ["fine"]
    assert [str(e) for e in r.errors] == [
        f"{p}: conversation all has {MAX_TURNS + 1:,} turns; qa scores at most {MAX_TURNS:,} per "
        "conversation (a bound on memory). Fix: If the export puts several conversations under one "
        "id, point qa at the right id column (--map conversation_id=COLUMN); otherwise split the "
        "conversation."]


def test_display_keeps_one_line():
    assert display("new\nline\x1b[31m.jsonl") == "new\\nline\\x1b[31m.jsonl"
    assert display("caf\udce9.jsonl") == "caf\\xe9.jsonl"  # an undecodable byte of a file name
    assert display("\u202eevil") == "\\u202eevil"
    assert display("plain/ünï.json") == "plain/ünï.json"


# ---------------------------------------------------------------- one qa run over a hostile folder
GOOD = [{"conversation_id": "good1", "agent_id": "a1", "speaker": "agent",
         "text": "Hi, thanks for reaching out! This is Sam.", "timestamp": "2026-05-01T09:00:00Z"},
        {"conversation_id": "good1", "agent_id": "a1", "speaker": "customer",
         "text": "My order has not arrived.", "timestamp": "2026-05-01T09:00:40Z"},
        {"conversation_id": "good1", "agent_id": "a1", "speaker": "agent",
         "text": "I'm sorry to hear that. Let me check it for you.", "timestamp": "2026-05-01T09:01:10Z"}]


def _lines(rows) -> str:
    return "\n".join(json.dumps(r) for r in rows) + "\n"


def _chat(cid: str, agent_text: str, customer_text: str = "My bill is wrong") -> list[dict]:
    return [{"conversation_id": cid, "agent_id": "a1", "speaker": "agent", "text": agent_text,
             "timestamp": "2026-05-01T09:00:00Z"},
            {"conversation_id": cid, "agent_id": "a1", "speaker": "customer", "text": customer_text,
             "timestamp": "2026-05-01T09:00:30Z"}]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    import random

    from qa.conversation import sha256_file

    need_tool("espeak-ng", "sox")
    d = tmp_path_factory.mktemp("hostile")
    inp = d / "in"
    inp.mkdir()
    (inp / "good.jsonl").write_text(_lines(GOOD))
    subprocess.run(["espeak-ng", "-w", str(d / "speech.wav"),
                    "Thank you for calling Acme, this is Sam. How can I help you today?"], check=True)
    subprocess.run(["sox", "-R", "-M", str(d / "speech.wav"), str(d / "speech.wav"),
                    str(inp / "good_call.wav")], check=True)
    # --- the kinds of issue 12
    (inp / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (inp / "deep_line.jsonl").write_text(_lines(_chat("dl", "Hi")) + '{"text": ' + "[" * 100_000
                                         + "]" * 100_000 + "}\n")
    (inp / "surrogate.jsonl").write_text(_lines(_chat("sur", "Hello, thank you for calling.")).replace(
        "calling.", "calling \\ud800."))
    (inp / "control.jsonl").write_text(_lines(_chat(
        "ctl", "Hello \x00 \x1b[31mthank you\x1b[0m for calling", "my order \x07 is late")))
    rng = random.Random(0)
    (inp / "random.flac").write_bytes(bytes(rng.getrandbits(8) for _ in range(4096)))
    (inp / "new\nline.jsonl").write_text("{broken\n")
    (inp / "esc\x1b[31mred.jsonl").write_text(_lines(_chat("esc", "Hello there, how can I help?")))
    passwd = {"schema_version": 1, "id": "passwd", "channel": "voice", "agent_id": "a1",
              "source": {"path": "/etc/passwd", "sha256": "0" * 64, "format": "audio"},
              "turns": [{"speaker": "agent", "text": "Thank you for calling.", "start_s": 0.0, "end_s": 1.0},
                        {"speaker": "customer", "text": "Hi.", "start_s": 1.5, "end_s": 2.0}],
              "metadata": {"audio_path": "/etc/passwd"}}
    (inp / "passwd.json").write_text(json.dumps(passwd))
    deep_conv = {**passwd, "id": "deepconv", "metadata": {"x": None}}
    (inp / "deep_conv.json").write_text(json.dumps(deep_conv).replace(
        "null", "[" * 50_000 + "]" * 50_000))
    # --- found by the audit (round 3)
    os.mkfifo(inp / "pipe.jsonl")  # used to hang the run for ever
    os.symlink("/nonexistent/share/gone.wav", inp / "gone.wav")  # used to be left out unsaid
    (inp / "noise.wav").write_bytes(bytes(rng.getrandbits(8) for _ in range(4096)))
    (inp / "noise2.mp3").write_bytes(bytes(rng.getrandbits(8) for _ in range(4096)))
    (inp / "one_id.jsonl").write_text(_lines([{"conversation_id": "all", "agent_id": "a1",
                                               "speaker": ("agent", "customer")[k % 2], "text": "ok"}
                                              for k in range(MAX_TURNS + 1)]))
    os.symlink("/etc/passwd", d / "passwd_link")
    (inp / "passwd_link.json").write_text(json.dumps({
        **passwd, "id": "plink", "source": {"path": str(d / "passwd_link"), "format": "audio",
                                            "sha256": sha256_file("/etc/passwd")},
        "metadata": {"audio_path": str(d / "passwd_link")}}))
    (inp / "ids.jsonl").write_text(_lines(_chat("id\x1b[31m\nx", "Hello, thank you for calling.")))
    out = d / "out"
    proc = subprocess.run([*QA, "run", str(inp), "--agent-id", "a1", "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=900)
    failures = pl.read_csv(out / "results" / "failures.csv")
    return proc, out, failures


HOSTILE_FAILURES = {
    "deep.json": ("ingest", "JSON nested more than 64 levels deep", "(line 1)"),
    "deep_line.jsonl": ("ingest", "JSON nested more than 64 levels deep", "(line 3)"),
    "deep_conv.json": ("ingest", "JSON nested more than 64 levels deep", "(line 1)"),
    "random.flac": ("transcribe", "unsupported or corrupt audio: FFmpeg does not recognise the format", ""),
    "new\\nline.jsonl": ("ingest", "broken JSON: Expecting property name", "(line 1)"),
    "pipe.jsonl": ("ingest", "not a regular file (a named pipe)", ""),
    "gone.wav": ("transcribe", "a link to a file that is not there (/nonexistent/share/gone.wav)", ""),
    "noise.wav": ("transcribe", "unsupported or corrupt audio: FFmpeg does not recognise the format", ""),
    "noise2.mp3": ("transcribe", "unsupported or corrupt audio: FFmpeg does not recognise the format", ""),
    "one_id.jsonl": ("ingest", f"conversation all has {MAX_TURNS + 1:,} turns", ""),
}


@pytest.mark.slow
def test_hostile_run_finishes_without_a_traceback(hostile):
    proc, out, _ = hostile
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert (out / "reports" / "index.html").is_file()


@pytest.mark.slow
def test_hostile_in_equals_scored_plus_failed(hostile):
    _, out, failures = hostile
    counts = json.loads((out / "run.json").read_text())["counts"]
    before_scoring = failures.filter(pl.col("stage").is_in(["ingest", "transcribe"])).height
    lost = failures.filter(pl.col("stage").is_in(["ingest", "transcribe", "score"])).height
    assert counts["files"] == 18
    # in (conversations read + inputs that failed before scoring) = scored + failed
    # (report-stage rows are notices on scored conversations, not lost inputs)
    assert counts["conversations"] + before_scoring == counts["scored"] + lost
    assert before_scoring == len(HOSTILE_FAILURES)
    assert counts["scored"] == counts["conversations"] == 8
    scored = sorted(pl.read_parquet(out / "results" / "conversations.parquet")["conversation_id"])
    assert scored == ["ctl", "esc", "good1", "good_call", "id\x1b[31m\nx", "passwd", "plink", "sur"]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HOSTILE_FAILURES))
def test_each_hostile_file_has_one_clear_failure(hostile, name):
    proc, _, failures = hostile
    stage, reason, place = HOSTILE_FAILURES[name]
    rows = failures.filter(pl.col("file").str.ends_with("/" + name))
    assert rows.height == 1, failures
    got_stage, got_reason = rows.row(0)[1:]
    assert got_stage == stage
    assert got_reason.startswith(reason) and got_reason.endswith(place), got_reason
    assert "Fix:" in got_reason
    line = next(ln for ln in proc.stderr.splitlines() if name in ln)
    assert line.startswith("error: ") and reason in line  # one line, naming the file


@pytest.mark.slow
def test_every_error_is_one_line(hostile):
    proc, _, failures = hostile
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == failures.height
    assert not any("\x1b" in ln for ln in proc.stderr.splitlines())  # escapes shown, not run
    assert "new\\nline.jsonl" in proc.stderr


@pytest.mark.slow
def test_lone_surrogate_and_control_characters_are_scored(hostile):
    proc, out, _ = hostile
    sur = json.loads((out / "transcripts" / "sur.json").read_text())
    assert sur["turns"][0]["text"] == "Hello, thank you for calling \ufffd."
    assert "surrogate.jsonl: line 1: a lone surrogate escape" in proc.stderr
    ctl = json.loads((out / "transcripts" / "ctl.json").read_text())
    assert ctl["turns"][0]["text"] == "Hello \x00 \x1b[31mthank you\x1b[0m for calling"


@pytest.mark.slow
def test_only_recordings_qa_decoded_reach_the_reports(hostile):
    _, out, failures = hostile
    audio = sorted(p.name for p in (out / "reports" / "audio").iterdir())
    assert audio == ["good_call.wav"]
    passwd = Path("/etc/passwd").read_bytes()
    assert not any(p.is_file() and p.read_bytes() == passwd for p in (out / "reports").rglob("*"))
    row = failures.filter(pl.col("stage") == "report").sort("reason")
    assert row["file"].to_list() == ["/etc/passwd", "/etc/passwd"]  # the link, resolved
    assert row["reason"][0].startswith("recording of conversation passwd not linked: the file there "
                                       "is not the recording that was transcribed (sha256 differs)")
    # the right sha256, through a link: still not audio, still not linked
    assert row["reason"][1].startswith("recording of conversation plink not linked: the file there "
                                       "does not decode as audio")
    page = (out / "reports" / "calls" / "passwd.html").read_text()
    assert "The recording could not be verified; no player." in page


@pytest.mark.slow
def test_a_hostile_result_exports_to_xlsx(hostile):
    _, out, _ = hostile
    r = subprocess.run([*QA, "export", str(out), "--format", "xlsx", "-q"], capture_output=True,
                       text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert (out / "exports" / "qa-export.xlsx").stat().st_size > 0


@pytest.mark.slow
def test_a_conversation_json_pointing_at_a_real_recording_plays_it_only_if_it_matches(hostile, tmp_path):
    """A conversation JSON from elsewhere: its recording is played when the file still
    hashes to the recorded sha256 and decodes as audio; the same JSON with another sha256
    gets no player."""
    from qa.audio import playable_recording
    from qa.conversation import sha256_file

    _, out, _ = hostile
    call = json.loads((out / "transcripts" / "good_call.json").read_text())
    wav = Path(call["metadata"]["audio_path"])
    fresh = tmp_path / "fresh"  # an output folder with no record of that recording
    assert playable_recording(fresh, str(wav), sha256_file(wav)) == (wav.resolve(), None)
    assert playable_recording(fresh, str(wav), "0" * 64)[0] is None
    assert playable_recording(fresh, "/etc/passwd", sha256_file("/etc/passwd")) == (
        None, "the file there does not decode as audio")
    assert playable_recording(out, str(wav), sha256_file(wav))[0] == wav.resolve()  # registered


# ---------------------------------------------------------------- privacy and memory
@pytest.mark.slow
@pytest.mark.parametrize("cluster", [None, "local:1"])
def test_qa_run_writes_nothing_outside_out_and_the_documented_caches(tmp_path, cluster):
    """onnxruntime (faster-whisper's VAD) wrote a device id and a telemetry database to
    ~/.cache/Microsoft/DeveloperTools/.onnxruntime on every run with audio, and with
    --cluster local:N Dask left $TMPDIR/dask-scratch-space behind. With HOME, TMPDIR and
    XDG_CACHE_HOME pointing at empty folders, a run on audio and chat may only leave
    matplotlib's font cache (documented) outside --out."""
    need_tool("espeak-ng", "sox")
    home, tmp, xdg, inp = tmp_path / "home", tmp_path / "tmp", tmp_path / "xdg", tmp_path / "in"
    for p in (home, tmp, xdg, inp):
        p.mkdir()
    subprocess.run(["espeak-ng", "-w", str(tmp_path / "s.wav"), "Thank you for calling, this is Sam."],
                   check=True)
    subprocess.run(["sox", "-R", "-M", str(tmp_path / "s.wav"), str(tmp_path / "s.wav"),
                    str(inp / "call.wav")], check=True)
    (inp / "chat.jsonl").write_text(_lines(GOOD))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("XDG_", "ORT_", "HF_", "MPLCONFIGDIR", "DASK_"))}
    env.update(HOME=str(home), TMPDIR=str(tmp), XDG_CACHE_HOME=str(xdg))
    cmd = [*QA, "run", str(inp), "--agent-id", "a1", "--out", str(tmp_path / "out"), "-q"]
    r = subprocess.run(cmd + (["--cluster", cluster] if cluster else []), capture_output=True,
                       text=True, cwd=ROOT, env=env, timeout=900)
    assert r.returncode == 0, r.stderr
    written = sorted(str(p.relative_to(tmp_path)) for d in (home, xdg) for p in d.rglob("*") if p.is_file())
    allowed = ("xdg/matplotlib/", "home/.config/matplotlib/")
    assert [w for w in written if not w.startswith(allowed)] == []
    assert sorted(tmp.rglob("*")) == []


@pytest.mark.slow
@pytest.mark.parametrize("shape", ["one 20 MB message", "four 5 MB messages"])
def test_20mb_of_text_in_one_conversation_runs_in_bounded_memory(tmp_path, shape):
    """A single 20 MB message peaked at about 2 GB (spaCy's tokens cost about 90 bytes per
    character), and so did four 5 MB messages after the per-message cut; a conversation's
    text is now bounded (MAX_CONVERSATION_CHARS), and the run's whole process tree stays
    under 900 MiB."""
    inp = tmp_path / "in"
    inp.mkdir()
    if shape == "one 20 MB message":
        texts = [("customer", "Hi, this is Dana Lee. " + "log line " * (20_000_000 // 9))]
    else:
        texts = [(("customer", "agent")[k % 2], "log line " * (5_000_000 // 9)) for k in range(4)]
    rows = [{"conversation_id": "big1", "agent_id": "a1", "speaker": s, "text": t,
             "timestamp": f"2026-05-01T09:0{k}:00Z"} for k, (s, t) in enumerate(texts)]
    rows.append({"conversation_id": "big1", "agent_id": "a1", "speaker": "agent",
                 "text": "Thanks for the log, I can help.", "timestamp": "2026-05-01T09:09:00Z"})
    (inp / "big.jsonl").write_text(_lines(rows))
    assert (inp / "big.jsonl").stat().st_size > 20_000_000
    script = ("import subprocess, sys, time, psutil; "
              "p = subprocess.Popen(sys.argv[1:], stderr=subprocess.PIPE, text=True); "
              "import threading; err = []; threading.Thread(target=lambda: err.append(p.stderr.read())).start(); "
              "peak = 0\n"
              "while p.poll() is None:\n"
              "    try:\n"
              "        procs = [psutil.Process(p.pid)] + psutil.Process(p.pid).children(recursive=True)\n"
              "        peak = max(peak, sum(q.memory_info().rss for q in procs))\n"
              "    except psutil.Error: pass\n"
              "    time.sleep(0.05)\n"
              "time.sleep(0.2); print(p.returncode, peak // 1024); sys.stderr.write(err[0] if err else '')")
    r = subprocess.run([sys.executable, "-c", script, *QA, "run", str(inp), "--out", str(tmp_path / "out"),
                        "-q"], capture_output=True, text=True, cwd=ROOT, timeout=900)
    code, peak_kib = map(int, r.stdout.split())
    assert code == 0, r.stderr
    assert peak_kib < 900 * 1024, f"peak {peak_kib // 1024} MiB"
    conv = json.loads((tmp_path / "out" / "transcripts" / "big1.json").read_text())
    assert sum(len(t["text"]) for t in conv["turns"]) <= MAX_CONVERSATION_CHARS
    assert conv["turns"][-1]["text"] == "Thanks for the log, I can help."
    assert "for scoring (a bound on memory: 5,242,880 characters per conversation)" in r.stderr


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="file names of arbitrary bytes are POSIX's")
def test_file_names_that_are_not_utf8_are_read_and_named_one_line(tmp_path):
    """A file name holding bytes that are not UTF-8 could not be written to JSON or to
    failures.csv; it is read, scored, and named with \\xNN escapes."""
    inp = tmp_path / "in"
    inp.mkdir()
    good = os.path.join(os.fsencode(inp), b"caf\xe9.jsonl")
    with open(good, "w") as fh:
        fh.write(_lines(_chat("cafe", "Hello, thank you for calling.")))
    with open(os.path.join(os.fsencode(inp), b"br\xffken.jsonl"), "w") as fh:
        fh.write("{broken\n")
    out = tmp_path / "out"
    r = subprocess.run([*QA, "run", str(inp), "--out", str(out), "-q"], capture_output=True, cwd=ROOT)
    err = r.stderr.decode("utf-8")
    assert r.returncode == 1, err
    assert "Traceback" not in err
    assert f"error: {inp}/br\\xffken.jsonl:line 1: broken JSON" in err
    failures = pl.read_csv(out / "results" / "failures.csv")
    assert failures["file"].to_list() == [f"{inp}/br\\xffken.jsonl"]
    conv = json.loads((out / "transcripts" / "cafe.json").read_text())
    assert conv["source"]["path"] == f"{inp}/caf\\xe9.jsonl"


def test_qa_score_fails_a_deeply_nested_file_and_scores_the_rest(tmp_path):
    from click.testing import CliRunner

    from qa.cli import main

    src = tmp_path / "in"
    src.mkdir()
    (src / "deep.json").write_text("[" * 100_000)
    (src / "ok.jsonl").write_text(
        '{"conversation_id":"c1","agent_id":"a","speaker":"customer","text":"hi"}\n'
        '{"conversation_id":"c1","agent_id":"a","speaker":"agent","text":"Hello"}\n')
    res = CliRunner().invoke(main, ["score", str(src), "--out", str(tmp_path / "out"), "-q"])
    assert res.exit_code == 1
    assert "deep.json:line 1: JSON nested more than 64 levels deep." in res.output
    assert (tmp_path / "out" / "results" / "conversations.parquet").exists()


def test_a_failure_line_on_stderr_is_one_line_whatever_the_file_name(tmp_path, capsys):
    from qa.cli.common import Batch
    from qa.store import OutDir

    batch = Batch(OutDir.at(tmp_path / "out"), ("ingest",))
    batch.fail("evil\nname\x1b[31m.json", "ingest", "bad\x00 thing")
    err = capsys.readouterr().err
    assert err == "error: evil\\nname\\x1b[31m.json: bad\\x00 thing\n"
    assert batch.failures[0].file == "evil\nname\x1b[31m.json"  # failures.csv keeps the real name


def test_temp_files_a_killed_run_left_in_the_nested_caches_are_removed(tmp_path):
    from qa.store import OutDir, clean_stale_temp

    out = OutDir.at(tmp_path / "out")
    left = [out.cache / "spacy" / "ab" / ".abcd.spacy.x1.tmp",
            out.cache / "spacy" / "outcomes" / "cd" / ".cdef.json.x2.tmp",
            out.results / ".conversations.parquet.x3.tmp"]
    kept = out.cache / "spacy" / "ab" / "abcd.spacy"
    for p in [*left, kept]:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    assert clean_stale_temp(out) == 3
    assert not any(p.exists() for p in left) and kept.exists()


# ---------------------------------------------------------------- audit, round 3: what still broke
@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX's")
def test_a_named_pipe_or_a_device_fails_instead_of_hanging_the_run(tmp_path):
    """A FIFO named .wav or .json blocked `qa run` for ever (hashing or reading it never
    returns), and /dev/zero given as an input filled the memory. Each is now that input's
    failure, and the good file beside them is scored."""
    inp = tmp_path / "in"
    inp.mkdir()
    (inp / "good.jsonl").write_text(_lines(GOOD))
    os.mkfifo(inp / "pipe.wav")
    os.mkfifo(inp / "pipe.json")
    out = tmp_path / "out"
    r = subprocess.run([*QA, "run", str(inp / "good.jsonl"), str(inp / "pipe.wav"), str(inp / "pipe.json"),
                        "/dev/zero", "--agent-id", "a1", "--out", str(out), "-q", "--no-report"],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    failures = pl.read_csv(out / "results" / "failures.csv")
    assert sorted(failures["file"].to_list()) == sorted([str(inp / "pipe.wav"), str(inp / "pipe.json"),
                                                         "/dev/zero"])
    assert sorted(failures["reason"].str.extract(r"^(not a regular file \([a-z ]+\))").to_list()) == [
        "not a regular file (a device)", "not a regular file (a named pipe)",
        "not a regular file (a named pipe)"]
    assert pl.read_parquet(out / "results" / "conversations.parquet")["conversation_id"].to_list() == ["good1"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX's")
def test_a_folder_s_broken_links_and_pipes_are_failures_not_left_out_unsaid(tmp_path):
    """A folder scan kept only regular files: a recording whose link points at an unmounted
    share, or a named pipe, was neither scored nor failed (in != scored + failed)."""
    from qa.inputs import AUDIO_EXTS, TEXT_EXTS, discover
    from qa.ingest import ingest_paths

    inp = tmp_path / "in"
    (inp / "sub").mkdir(parents=True)
    (inp / "sub" / "good.jsonl").write_text(_lines(GOOD))
    os.symlink("/nonexistent/share/call.jsonl", inp / "gone.jsonl")
    os.mkfifo(inp / "pipe.jsonl")
    os.symlink(inp, inp / "sub" / "loop")  # a link back up: not followed
    files, missing = discover([inp], AUDIO_EXTS + TEXT_EXTS)
    assert sorted(f.name for f in files) == ["gone.jsonl", "good.jsonl", "pipe.jsonl"] and missing == []
    results = {r.path.name: r for r in ingest_paths([inp], OutDir.at(tmp_path / "out"))}
    assert [str(e) for e in results["gone.jsonl"].errors] == [
        f"{inp}/gone.jsonl: a link to a file that is not there (/nonexistent/share/call.jsonl). Fix: "
        "Give qa the file itself: copy the data to a regular file, or restore what the link points to."]
    assert [e.message for e in results["pipe.jsonl"].errors] == ["not a regular file (a named pipe)"]
    assert [c.id for c in results["good.jsonl"].conversations] == ["good1"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX's")
def test_a_conversation_json_pointing_at_a_pipe_or_a_device_gets_no_player(tmp_path):
    from qa.audio import playable_recording

    os.mkfifo(tmp_path / "pipe.wav")
    for target, kind in ((tmp_path / "pipe.wav", "a named pipe"), ("/dev/zero", "a device"),
                         (tmp_path, "a folder")):
        assert playable_recording(tmp_path / "out", str(target), "0" * 64) == (
            None, f"not a regular file ({kind})")


def test_every_warning_on_stderr_is_one_line_with_its_control_characters_shown(tmp_path, capsys):
    """The `error:` lines were escaped, but warnings were not: a duplicate message id in a
    conversation whose id holds ESC and a newline printed a raw escape sequence and broke
    the line. qa's stderr handler now escapes every message (qa.cli.common.OneLine)."""
    import logging

    from qa.cli.common import setup_logging

    p = tmp_path / "dup\x1b[31m.jsonl"
    row = {"conversation_id": "c\x1b[31mid\nx", "agent_id": "a1", "speaker": "agent", "text": "Hi",
           "timestamp": "2026-05-01T09:00:00Z", "message_id": "m\x1b1"}
    p.write_text(_lines([row, row, {**row, "speaker": "customer", "message_id": "m2"}]))
    setup_logging(False)
    try:
        (conv,) = parse_file(p).conversations
    finally:
        logging.basicConfig(force=True)
    err = capsys.readouterr().err
    assert "duplicate message id" in err
    assert "\x1b" not in err and err.count("\n") == 1, err
    assert "c\\x1b[31mid\\nx" in err and "dup\\x1b[31m.jsonl" in err


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="file names of arbitrary bytes are POSIX's")
def test_a_recording_whose_name_is_not_utf8_is_scored_and_played(tmp_path):
    """Ids and agent ids taken from a file name that is not UTF-8 (--name-pattern, or the
    recording's stem) could not be written: the recording was transcribed, then failed
    with "please report this as a qa bug". They are now escaped (\\xNN) like the path, and
    the call page plays the recording (its escaped audio_path is found again)."""
    need_tool("espeak-ng", "sox")
    inp = tmp_path / "in"
    inp.mkdir()
    subprocess.run(["espeak-ng", "-w", str(tmp_path / "s.wav"), "Thank you for calling, this is Sam."],
                   check=True)
    name = os.path.join(os.fsencode(inp), b"ag\xe9nt_2026-05-01_c\xff1.wav")
    subprocess.run([b"sox", b"-R", b"-M", os.fsencode(tmp_path / "s.wav"), os.fsencode(tmp_path / "s.wav"),
                    name], check=True)
    with open(os.path.join(os.fsencode(inp), b"b\xe9b_2026-05-02_chat\xfe.jsonl"), "w") as fh:
        fh.write(_lines([{k: v for k, v in r.items() if k != "agent_id"} for r in GOOD]))
    out = tmp_path / "out"
    r = subprocess.run([*QA, "run", str(inp), "--name-pattern", "{agent_id}_{date}_{call_id}",
                        "--out", str(out), "-q"], capture_output=True, cwd=ROOT, timeout=900)
    assert r.returncode == 0, r.stderr.decode()
    conv = pl.read_parquet(out / "results" / "conversations.parquet").sort("agent_id")
    assert conv["agent_id"].to_list() == ["ag\\xe9nt", "b\\xe9b"]
    assert "c\\xff1" in conv["conversation_id"].to_list()
    assert [p.suffix for p in (out / "reports" / "audio").iterdir()] == [".wav"]
