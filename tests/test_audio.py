"""Probing and decoding recordings (no Whisper model here)."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from audio_helpers import make_mono_call, make_silence, make_speech_file, make_stereo_call, write_wav
from conftest import need_tool
from qa.audio import SAMPLE_RATE, decode, is_silent, probe, voiced_frames
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
    assert str(e.value) == f"{p}: empty file (0 bytes) Fix: {FIX_RECORD}"


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
