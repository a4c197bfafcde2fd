"""Make test recordings with espeak-ng (speech) and sox/ffmpeg (formats, rates).

Other tests and demo builders can import this::

    from tests.audio_helpers import make_stereo_call
    path = make_stereo_call(tmp_path,
                            agent_lines=[(0.5, "Thank you for calling Acme.")],
                            customer_lines=[(3.5, "My car makes a noise.")])

Lines are ``(start_s, text)``: the speech starts at ``start_s`` seconds from the start of
the call. Lines of one party must not overlap each other (they are one voice); lines of
the two parties may overlap (that is how interruptions are made). Every maker returns the
path of the file it wrote; :func:`speech_spans` tells where each line's speech ended up.
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path
from typing import Sequence

import numpy as np

SYNTH_RATE = 22050  # espeak-ng writes 22.05 kHz mono
AGENT_VOICE = "en-us"
CUSTOMER_VOICE = "en-us+f3"

Line = tuple[float, str]


def _need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise RuntimeError(f"missing system tools {missing}: run `make system-deps`")


def synth(text: str, *, voice: str = AGENT_VOICE, speed: int = 165) -> np.ndarray:
    """Speak ``text`` with espeak-ng; float32 samples at 22.05 kHz, silence trimmed."""
    _need("espeak-ng")
    proc = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text],
                          check=True, capture_output=True)
    data = proc.stdout
    # espeak-ng --stdout writes a WAV with unknown sizes; the PCM starts after "data"+size
    at = data.find(b"data")
    pcm = np.frombuffer(data[at + 8:], dtype="<i2") if at >= 0 else np.zeros(0, dtype="<i2")
    samples = pcm.astype(np.float32) / 32768.0
    loud = np.flatnonzero(np.abs(samples) > 0.01)
    if loud.size:
        samples = samples[loud[0]:loud[-1] + 1]
    return samples


def _place(lines: Sequence[Line], voice: str, total_s: float | None) -> tuple[np.ndarray, list[tuple[float, float]]]:
    clips = [(float(start), synth(text, voice=voice)) for start, text in lines]
    end = max((s + len(c) / SYNTH_RATE for s, c in clips), default=0.0)
    length = int(round(max(end + 0.5, total_s or 0.0) * SYNTH_RATE))
    track = np.zeros(length, dtype=np.float32)
    spans = []
    for start, clip in clips:
        i = int(round(start * SYNTH_RATE))
        track[i:i + len(clip)] += clip
        spans.append((start, start + len(clip) / SYNTH_RATE))
    return track, spans


def speech_spans(lines: Sequence[Line], *, voice: str = AGENT_VOICE) -> list[tuple[float, float]]:
    """Where each line's speech starts and ends (seconds), as the makers place it."""
    return [(float(s), float(s) + len(synth(t, voice=voice)) / SYNTH_RATE) for s, t in lines]


def write_wav(path: Path, channels: Sequence[np.ndarray], rate: int = SYNTH_RATE) -> Path:
    """Write float channels (equal length after zero padding) as 16-bit PCM WAV."""
    n = max(len(c) for c in channels)
    data = np.zeros((n, len(channels)), dtype=np.float32)
    for i, c in enumerate(channels):
        data[:len(c), i] = c
    pcm = (np.clip(data, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(len(channels))
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


def convert(src: Path, dest: Path, *, rate: int | None = None) -> Path:
    """Convert/resample with sox (wav, flac) or ffmpeg (mp3, ogg, m4a, anything else).

    sox runs with ``-R`` (repeatable): its dither is otherwise random, and a recording that
    differs in its last bit from run to run can change what tiny.en hears."""
    ext = dest.suffix.lower()
    if ext in (".wav", ".flac"):
        _need("sox")
        cmd = ["sox", "-R", str(src), str(dest)] + (["rate", str(rate)] if rate else [])
    else:
        _need("ffmpeg")
        cmd = ["ffmpeg", "-y", "-loglevel", "error", "-i", str(src)]
        cmd += (["-ar", str(rate)] if rate else []) + [str(dest)]
    subprocess.run(cmd, check=True, capture_output=True)
    return dest


def _finish(tmp_path: Path, name: str, channels: list[np.ndarray], fmt: str, rate: int | None) -> Path:
    tmp_path = Path(tmp_path)
    tmp_path.mkdir(parents=True, exist_ok=True)
    raw = write_wav(tmp_path / f".{name}.raw.wav", channels)
    dest = tmp_path / f"{name}.{fmt.lstrip('.')}"
    convert(raw, dest, rate=rate if rate is not None else 16000)
    raw.unlink()
    return dest


def make_stereo_call(tmp_path: Path, agent_lines: Sequence[Line], customer_lines: Sequence[Line], *,
                     name: str = "call", fmt: str = "wav", rate: int | None = 16000,
                     agent_left: bool = True, total_s: float | None = None,
                     agent_voice: str = AGENT_VOICE, customer_voice: str = CUSTOMER_VOICE) -> Path:
    """A two-channel call: the agent on the left channel (right if ``agent_left=False``),
    the customer on the other. ``fmt`` is wav, flac, mp3, ogg or m4a; ``rate`` the sample
    rate of the file (8000 for telephone audio)."""
    agent, _ = _place(agent_lines, agent_voice, total_s)
    customer, _ = _place(customer_lines, customer_voice, total_s)
    chans = [agent, customer] if agent_left else [customer, agent]
    return _finish(tmp_path, name, chans, fmt, rate)


def make_mono_call(tmp_path: Path, lines: Sequence[tuple[float, str, str]] | Sequence[Line], *,
                   name: str = "mono", fmt: str = "wav", rate: int | None = 16000,
                   total_s: float | None = None) -> Path:
    """A one-channel recording. Lines are ``(start_s, text)`` (one voice) or
    ``(start_s, text, voice)`` to give each line its own espeak-ng voice."""
    by_voice: dict[str, list[Line]] = {}
    for line in lines:
        start, text, *rest = line
        by_voice.setdefault(rest[0] if rest else AGENT_VOICE, []).append((start, text))
    tracks = [_place(ls, v, total_s)[0] for v, ls in by_voice.items()]
    n = max((len(t) for t in tracks), default=int((total_s or 1.0) * SYNTH_RATE))
    mix = np.zeros(n, dtype=np.float32)
    for t in tracks:
        mix[:len(t)] += t
    return _finish(tmp_path, name, [mix], fmt, rate)


def make_silence(tmp_path: Path, *, seconds: float = 3.0, channels: int = 1, name: str = "silence",
                 fmt: str = "wav", rate: int = 16000) -> Path:
    """Digital silence (a little below the dither floor of any encoder)."""
    n = int(seconds * SYNTH_RATE)
    return _finish(tmp_path, name, [np.zeros(n, dtype=np.float32)] * channels, fmt, rate)


def make_speech_file(tmp_path: Path, text: str, *, name: str = "speech", fmt: str = "wav",
                     rate: int | None = 16000, voice: str = AGENT_VOICE, lead_s: float = 0.3) -> Path:
    """One line of mono speech, ``lead_s`` seconds of silence first."""
    return make_mono_call(tmp_path, [(lead_s, text, voice)], name=name, fmt=fmt, rate=rate)


def back_to_back(lines: Sequence[tuple[str, str]], *, gap_s: float = 0.7,
                 start_s: float = 0.3) -> list[tuple[float, str, str]]:
    """Place ``(voice, text)`` lines one after another, ``gap_s`` seconds apart; returns
    ``(start_s, text, voice)`` lines for :func:`make_mono_call`."""
    placed, t = [], start_s
    for voice, text in lines:
        placed.append((round(t, 3), text, voice))
        t += len(synth(text, voice=voice)) / SYNTH_RATE + gap_s
    return placed
