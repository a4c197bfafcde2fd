"""Probing and decoding recordings (one test runs the Whisper model on a DiskChannel)."""

from __future__ import annotations

import dataclasses
import subprocess
import tracemalloc
import zipfile

import numpy as np
import pytest

from audio_helpers import make_mono_call, make_silence, make_speech_file, make_stereo_call, write_wav
from conftest import need_tool
from qa.audio import SAMPLE_RATE, DiskChannel, decode, is_silent, probe, voiced_frames
from qa.errors import AudioDecodeError

FIX_RECORD = "Check that the recording is complete; re-export it from the call recorder."
FIX_CONVERT = "Convert it to WAV or FLAC (e.g. `ffmpeg -i in.xyz out.wav`) and try again."


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory):
    need_tool("espeak-ng", "sox", "ffmpeg")
    return make_speech_file(tmp_path_factory.mktemp("speech"), "hello there", rate=16000)


@pytest.mark.parametrize("fmt,rate", [("wav", 8000), ("flac", 8000), ("mp3", 16000), ("ogg", 16000),
                                      ("m4a", 16000), ("wav", 44100)])
def test_formats_and_rates_decode_to_16k(tmp_path, speech_wav, fmt, rate):
    from audio_helpers import convert

    path = convert(speech_wav, tmp_path / f"clip.{fmt}", rate=rate)
    info = probe(path)
    assert info.channels == 1
    assert info.sample_rate == rate
    (mono,) = decode(path, info)
    assert mono.dtype == np.float32
    expected = len(decode(speech_wav)[0]) / SAMPLE_RATE
    assert abs(len(mono) / SAMPLE_RATE - expected) < 0.15  # encoders pad a few ms
    assert not is_silent(mono)


def test_stereo_is_split_left_right(tmp_path):
    need_tool("espeak-ng", "sox")
    path = make_stereo_call(tmp_path, agent_lines=[(0.2, "hello")], customer_lines=[(2.0, "hi")],
                            rate=8000, total_s=3.0)
    info = probe(path)
    assert (info.channels, info.sample_rate, info.codec, info.container) == (2, 8000, "pcm_s16le", "wav")
    left, right = decode(path, info)
    assert len(left) == len(right) == pytest.approx(3.0 * SAMPLE_RATE, abs=SAMPLE_RATE * 0.05)
    # the agent speaks first on the left, the customer later on the right
    assert np.abs(left[: SAMPLE_RATE]).max() > 0.05 and np.abs(right[: SAMPLE_RATE]).max() < 0.01
    assert np.abs(right[2 * SAMPLE_RATE:]).max() > 0.05


def test_zero_byte_file(tmp_path):
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    with pytest.raises(AudioDecodeError) as e:
        probe(p)
    assert str(e.value) == f"{p}: empty file (0 bytes). Fix: {FIX_RECORD}"


def test_text_file_named_wav(tmp_path):
    p = tmp_path / "notes.wav"
    p.write_text("call notes: customer was happy\n")
    with pytest.raises(AudioDecodeError) as e:
        probe(p)
    assert e.value.message == "not audio: the file holds text, not a .wav recording"


def test_random_bytes_are_unsupported(tmp_path):
    p = tmp_path / "noise.wav"
    p.write_bytes(bytes(np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8)))
    with pytest.raises(AudioDecodeError) as e:
        probe(p)
    assert e.value.message == "unsupported or corrupt audio: FFmpeg does not recognise the format"
    assert e.value.fix == FIX_CONVERT


@pytest.mark.parametrize("ext", ["flac", "ogg", "mp3", "m4a", "opus", "webm", "wma"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_bytes_under_any_audio_name_are_unsupported(tmp_path, ext, seed):
    """FFmpeg also picks a demuxer by the extension: random bytes named .flac used to
    "open" with 0 channels ("has 0 audio channels … Mix it down") and .ogg with an end-of-file
    error; each is the documented reason."""
    import random

    p = tmp_path / f"noise.{ext}"
    rng = random.Random(seed)
    p.write_bytes(bytes(rng.getrandbits(8) for _ in range(4096)))
    with pytest.raises(AudioDecodeError) as e:
        probe(p)
    assert e.value.message == "unsupported or corrupt audio: FFmpeg does not recognise the format"
    assert e.value.fix == FIX_CONVERT


def test_unsupported_container(tmp_path):
    p = tmp_path / "archive.m4a"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("call.txt", "x" * 1000)
    with pytest.raises(AudioDecodeError) as e:
        probe(p)
    assert e.value.message == "unsupported or corrupt audio: FFmpeg does not recognise the format"


def test_truncated_wav(tmp_path, speech_wav):
    p = tmp_path / "cut.wav"
    data = speech_wav.read_bytes()
    p.write_bytes(data[: len(data) // 3])
    with pytest.raises(AudioDecodeError) as e:
        probe(p)
    missing = len(data) - len(data) // 3
    assert e.value.message == (f"truncated audio: the WAV header promises {missing:,} more bytes of "
                               "sound than the file holds")


def test_truncated_flac(tmp_path):
    need_tool("espeak-ng", "sox")
    full = make_mono_call(tmp_path, [(0.5, "one two three four five six seven eight nine ten")],
                          fmt="flac", total_s=6.0)
    p = tmp_path / "cut.flac"
    data = full.read_bytes()
    p.write_bytes(data[: len(data) // 4])
    with pytest.raises(AudioDecodeError) as e:
        decode(p)
    assert e.value.message.startswith("truncated audio: the header promises 6.0 s but only ")


def test_three_channels_rejected(tmp_path):
    p = write_wav(tmp_path / "three.wav", [np.zeros(8000, np.float32)] * 3, rate=8000)
    with pytest.raises(AudioDecodeError) as e:
        probe(p)
    assert e.value.message == "has 3 audio channels; qa expects mono or stereo (one party per channel)"


def test_silence_is_silent_and_has_no_voiced_frames(tmp_path):
    need_tool("sox")
    p = make_silence(tmp_path, seconds=2.0)
    (mono,) = decode(p)
    assert is_silent(mono)
    assert not voiced_frames(mono).any()


def test_voiced_frames_find_the_tone():
    t = np.arange(3 * SAMPLE_RATE) / SAMPLE_RATE
    x = np.where((t >= 1.0) & (t < 2.0), 0.3 * np.sin(2 * np.pi * 220 * t), 0.0).astype(np.float32)
    x += np.random.default_rng(0).normal(0, 0.001, x.size).astype(np.float32)  # line hiss
    v = voiced_frames(x)
    on = np.flatnonzero(v) * 0.02
    assert on.min() == pytest.approx(1.0, abs=0.03) and on.max() == pytest.approx(1.98, abs=0.03)



def test_window_cuts_fall_in_the_longest_pause():
    from qa.audio import window_cuts

    voiced = np.ones(int(100 / 0.02), dtype=bool)  # 100 s of "speech" ...
    voiced[int(20 / 0.02):int(22 / 0.02)] = False   # ... a 2 s pause at 20-22 s
    voiced[int(27 / 0.02):int(27.5 / 0.02)] = False  # a shorter one at 27 s
    voiced[int(55 / 0.02):int(58 / 0.02)] = False   # a 3 s pause at 55-58 s
    # no pause in the search span (36-51 s): cut at the window limit
    assert window_cuts(voiced, 100.0, window_s=30.0, search_s=15.0) == [0.0, 21.0, 51.0, 81.0]
    assert window_cuts(voiced, 100.0, window_s=40.0, search_s=15.0) == [0.0, 27.24, 56.5, 96.5]
    assert window_cuts(voiced, 100.0, window_s=200.0) == [0.0]


# ---------------------------------------------------------------- streaming decode, long recordings
@pytest.fixture(scope="module")
def stereo_call(tmp_path_factory):
    need_tool("espeak-ng", "sox")
    return make_stereo_call(tmp_path_factory.mktemp("stereo"), agent_lines=[(0.3, "thank you for calling"),
                                                                            (6.0, "is there anything else")],
                            customer_lines=[(3.0, "my brakes squeal")], rate=8000, total_s=9.0)


@pytest.mark.parametrize("fmt", ["wav", "mp3"])
def test_streamed_decode_equals_faster_whisper_decode_audio(tmp_path, stereo_call, speech_wav, fmt):
    """The streaming decoder gives exactly the samples faster-whisper's decode_audio gave
    (so transcripts of short calls do not change), as contiguous float32 arrays."""
    from audio_helpers import convert
    from faster_whisper import decode_audio

    for src in (stereo_call, speech_wav):
        path = convert(src, tmp_path / f"{src.stem}.{fmt}", rate=8000 if src is stereo_call else 16000)
        info = probe(path)
        old = decode_audio(str(path), sampling_rate=SAMPLE_RATE, split_stereo=info.channels == 2)
        old = list(old) if info.channels == 2 else [old]
        new = decode(path, info)
        assert len(new) == len(old) == info.channels
        for o, n in zip(old, new):
            assert isinstance(n, np.ndarray) and n.dtype == np.float32 and n.flags.c_contiguous
            assert n.shape == o.shape
            np.testing.assert_allclose(n, o, rtol=0, atol=1e-7)


@pytest.mark.parametrize("header", ["kept", "missing"])
def test_spilled_channels_read_back_the_same_samples(tmp_path, stereo_call, header):
    """Past ``spill_after_s`` a channel lives in a temporary file: from the start when the
    header says the file is long, midway when the header gives no duration."""
    info = probe(stereo_call)
    if header == "missing":
        info = dataclasses.replace(info, duration_s=None)
    mem = decode(stereo_call, info)
    # without a duration the in-memory arrays grow as they fill: the same samples
    assert all(np.array_equal(a, b) for a, b in zip(mem, decode(stereo_call)))
    disk = decode(stereo_call, info, spill_after_s=2.0, spill_dir=tmp_path / "spill")
    assert [type(c) for c in disk] == [DiskChannel, DiskChannel]
    assert list((tmp_path / "spill").iterdir()) == []  # unnamed files: nothing to clean up
    for m, d in zip(mem, disk):
        assert len(d) == len(m)
        assert np.array_equal(d[0:len(d)], m)
        assert np.array_equal(d[12345:54321], m[12345:54321])
        assert np.array_equal(d[-100:], m[-100:])
        assert np.array_equal(np.concatenate(list(d.chunks(7000))), m)
        assert np.array_equal(voiced_frames(d), voiced_frames(m))
        assert is_silent(d) is is_silent(m) is False
        assert d.peak == max(float(m.max()), -float(m.min()))
    with pytest.raises(ValueError):
        disk[0][::2]


def test_short_channels_stay_in_memory_with_spill_set(stereo_call, tmp_path):
    left, right = decode(stereo_call, spill_after_s=600.0, spill_dir=tmp_path)
    assert isinstance(left, np.ndarray) and isinstance(right, np.ndarray)


def test_spilled_silence_is_silent(tmp_path):
    need_tool("sox")
    (ch,) = decode(make_silence(tmp_path, seconds=3.0), spill_after_s=1.0)
    assert isinstance(ch, DiskChannel)
    assert is_silent(ch)
    assert not voiced_frames(ch).any()


def test_truncated_file_is_still_reported_when_spilling(tmp_path):
    need_tool("espeak-ng", "sox")
    full = make_mono_call(tmp_path, [(0.5, "one two three four five six seven eight nine ten")],
                          fmt="flac", total_s=6.0)
    p = tmp_path / "cut.flac"
    data = full.read_bytes()
    p.write_bytes(data[: len(data) // 4])
    with pytest.raises(AudioDecodeError) as e:
        decode(p, spill_after_s=1.0)
    assert e.value.message.startswith("truncated audio: the header promises 6.0 s but only ")


def test_spill_folder_that_cannot_be_written(tmp_path, stereo_call):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    with pytest.raises(AudioDecodeError) as e:
        decode(stereo_call, spill_after_s=1.0, spill_dir=blocker / "audio")
    assert e.value.message.startswith(f"cannot keep the decoded audio on disk in {blocker / 'audio'} (")
    assert e.value.fix == ("Free some disk space there (a long recording needs about 115 MB per "
                           "channel-hour) and try again.")


@pytest.mark.slow
def test_long_recording_decodes_in_bounded_memory(tmp_path, speech_wav):
    """A 32-minute 8 kHz recording (a short clip repeated with sox) decodes to a
    DiskChannel; the Python heap (numpy arrays included) stays far below the 123 MB the
    channel would take as float32, through decoding, voiced frames and window reads."""
    need_tool("sox")
    clip = tmp_path / "clip.wav"
    subprocess.run(["sox", "-R", str(speech_wav), str(clip), "rate", "8000", "pad", "0", "1.5"], check=True)
    clip_s = probe(clip).duration_s
    repeats = int(32 * 60 / clip_s)
    long = tmp_path / "long.wav"
    subprocess.run(["sox", "-R", str(clip), str(long), "repeat", str(repeats)], check=True)
    info = probe(long)
    assert info.duration_s > 31 * 60
    tracemalloc.start()
    try:
        (ch,) = decode(long, info, spill_after_s=600.0, spill_dir=tmp_path / "spill")
        voiced = voiced_frames(ch)
        window = ch[600 * SAMPLE_RATE:1200 * SAMPLE_RATE]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(ch, DiskChannel)
    assert len(ch) / SAMPLE_RATE == pytest.approx(info.duration_s, abs=0.1)
    float32_bytes = len(ch) * 4
    assert peak < float32_bytes / 2, (peak, float32_bytes)
    # the clip repeats, so does its speech: every repeat has voiced frames
    per = int(clip_s / 0.02)
    assert all(voiced[i * per:(i + 1) * per].any() for i in range(repeats))
    assert window.dtype == np.float32 and len(window) == 600 * SAMPLE_RATE


@pytest.mark.slow
def test_transcribe_channel_gives_the_same_words_from_disk(stereo_call):
    """The recogniser sees the same audio whether a channel is in memory or on disk."""
    from qa.transcribe import TranscribeOptions, load_model, resolve_model, transcribe_channel

    opts = TranscribeOptions()
    model = load_model(resolve_model(None), opts)
    (left_mem, _), (left_disk, _) = decode(stereo_call), decode(stereo_call, spill_after_s=1.0)
    assert isinstance(left_disk, DiskChannel)
    words = lambda cw: [(w.word, w.start, w.end) for w in cw.words]
    mem = transcribe_channel(model, left_mem, opts, window_s=5.0)
    disk = transcribe_channel(model, left_disk, opts, window_s=5.0)
    assert words(disk) == words(mem)
    assert "calling" in " ".join(w.word for w in mem.words).lower()
