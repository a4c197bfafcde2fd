"""Reading recordings: probe with PyAV, decode with faster-whisper's ``decode_audio``.

* :func:`probe` opens the file with PyAV and reads its first audio stream's channel count,
  sample rate, codec and the duration the header promises. A zero-byte file, a text file
  with an audio extension, an unknown container or a file with no audio stream is an
  :class:`~qa.errors.AudioDecodeError` with a one-line reason.
* :func:`decode` decodes to 16 kHz float32, one array per channel (stereo is split with
  ``decode_audio(split_stereo=True)``, so left and right are transcribed apart). Any input
  sample rate works (8 kHz telephone audio included); a file that decodes to much less
  than its header promises is reported as truncated.
* :func:`voiced_frames` is a small energy detector used to tighten Whisper's word timings
  to where the channel actually has sound.

Memory: ``decode_audio`` collects the whole file as 16-bit PCM in memory and then converts
it to float32, so decoding peaks at about 6 bytes per sample per channel at 16 kHz
(≈ 0.7 GB for one hour of stereo); see the README's transcribe section for measurements.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import AudioDecodeError

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
"""Whisper's sample rate: every channel is decoded to this."""

SILENCE_PEAK = 10 ** (-55 / 20)
"""A channel whose loudest sample stays below -55 dBFS holds no speech (digital silence)."""

FIX_CONVERT = "Convert it to WAV or FLAC (e.g. `ffmpeg -i in.xyz out.wav`) and try again."
FIX_RECORD = "Check that the recording is complete; re-export it from the call recorder."


@dataclass(frozen=True)
class AudioInfo:
    """What the container says about a recording's first audio stream."""

    channels: int
    """1 = mono, 2 = stereo (one party per channel)."""
    sample_rate: int
    """The file's own rate (8000 for telephone audio); decoding resamples to 16 kHz."""
    codec: str
    """Codec name as FFmpeg reports it (``pcm_s16le``, ``flac``, ``mp3`` …)."""
    container: str
    """Container format as FFmpeg reports it (``wav``, ``flac``, ``mp3``, ``mov,mp4,…``)."""
    duration_s: float | None
    """The duration the header promises, if it gives one."""

    def as_dict(self) -> dict:
        return {"channels": self.channels, "sample_rate": self.sample_rate, "codec": self.codec,
                "container": self.container, "header_duration_s": self.duration_s}


def _looks_like_text(head: bytes) -> bool:
    if not head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(b >= 9 for b in head[:512])


def probe(path: str | Path) -> AudioInfo:
    """Open ``path`` with PyAV and describe its first audio stream.

    Raises :class:`AudioDecodeError` for anything that is not readable audio.
    """
    import av

    p = Path(path)
    try:
        size = p.stat().st_size
        with open(p, "rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise AudioDecodeError(f"cannot read the file: {exc.strerror}", path=str(p)) from None
    if size == 0:
        raise AudioDecodeError("empty file (0 bytes)", path=str(p), fix=FIX_RECORD)
    if _looks_like_text(head):
        raise AudioDecodeError(f"not audio: the file holds text, not a {p.suffix or 'sound'} recording",
                               path=str(p), fix="Point qa transcribe at the recordings themselves.")
    try:
        with av.open(str(p), mode="r", metadata_errors="ignore") as container:
            streams = container.streams.audio
            if not streams:
                raise AudioDecodeError("no audio stream in the file", path=str(p),
                                       fix="Point qa transcribe at the recordings themselves.")
            stream = streams[0]
            ctx = stream.codec_context
            channels = int(ctx.channels or 0) or len(getattr(ctx.layout, "channels", []) or [])
            rate = int(ctx.sample_rate or stream.rate or 0)
            duration = None
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / 1_000_000
            info = AudioInfo(channels=channels, sample_rate=rate, codec=ctx.name or "?",
                             container=container.format.name or "?", duration_s=duration)
    except AudioDecodeError:
        raise
    except av.error.InvalidDataError:
        raise AudioDecodeError("unsupported or corrupt audio: FFmpeg does not recognise the format",
                               path=str(p), fix=FIX_CONVERT) from None
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise AudioDecodeError(f"cannot open the audio ({_short(exc)})", path=str(p), fix=FIX_CONVERT) from None
    if info.channels not in (1, 2):
        raise AudioDecodeError(
            f"has {info.channels} audio channels; qa expects mono or stereo (one party per channel)",
            path=str(p), fix="Mix it down to the two parties' channels, e.g. "
                             "`sox in.wav out.wav remix 1 2`.")
    if info.sample_rate <= 0:
        raise AudioDecodeError("the audio stream has no sample rate", path=str(p), fix=FIX_CONVERT)
    missing = _wav_missing_bytes(p, size, head)
    if missing:
        raise AudioDecodeError(
            f"truncated audio: the WAV header promises {missing:,} more bytes of sound than the "
            "file holds", path=str(p), fix=FIX_RECORD)
    return info


def _wav_missing_bytes(p: Path, size: int, head: bytes) -> int:
    """For RIFF/WAVE files: how many bytes the ``data`` chunk declares beyond the end of
    the file (0 when complete, or when the size is a streaming placeholder)."""
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return 0
    pos = 12
    with open(p, "rb") as fh:
        while pos + 8 <= size:
            fh.seek(pos)
            hdr = fh.read(8)
            if len(hdr) < 8:
                return 0
            chunk, length = hdr[:4], int.from_bytes(hdr[4:8], "little")
            if chunk == b"data":
                if length in (0, 0xFFFFFFFF, 0x7FFFFFFF):
                    return 0  # written by a streaming recorder: size unknown
                return max(0, pos + 8 + length - size)
            pos += 8 + length + (length & 1)
    return 0


def decode(path: str | Path, info: AudioInfo | None = None) -> list[np.ndarray]:
    """Decode to 16 kHz float32 arrays, one per channel (``[mono]`` or ``[left, right]``)."""
    import av
    from faster_whisper import decode_audio

    p = Path(path)
    info = info or probe(p)
    try:
        if info.channels == 2:
            # two strided views of one interleaved array: no extra copy
            chans = list(decode_audio(str(p), sampling_rate=SAMPLE_RATE, split_stereo=True))
        else:
            chans = [decode_audio(str(p), sampling_rate=SAMPLE_RATE)]
    except (av.error.FFmpegError, OSError, ValueError, TypeError) as exc:
        raise AudioDecodeError(f"corrupt audio: decoding failed ({_short(exc)})", path=str(p),
                               fix=FIX_RECORD) from None
    n = len(chans[0])
    if n == 0:
        raise AudioDecodeError("corrupt or truncated audio: no audio could be decoded", path=str(p),
                               fix=FIX_RECORD)
    got = n / SAMPLE_RATE
    if info.duration_s and info.duration_s > 1.0 and got < 0.9 * info.duration_s - 0.5:
        raise AudioDecodeError(
            f"truncated audio: the header promises {info.duration_s:.1f} s but only {got:.1f} s "
            "could be decoded", path=str(p), fix=FIX_RECORD)
    return chans


def is_silent(samples: np.ndarray) -> bool:
    """True when the channel is digital silence (peak below :data:`SILENCE_PEAK`)."""
    return samples.size == 0 or max(float(samples.max()), -float(samples.min())) < SILENCE_PEAK


FRAME_S = 0.02


def voiced_frames(samples: np.ndarray, frame_s: float = FRAME_S) -> np.ndarray:
    """Energy detector: one bool per ``frame_s`` frame, True where the channel has sound.

    The threshold adapts to the channel: 10 dB above its noise floor (10th percentile of
    frame energy) and no more than 35 dB below its loud speech (98th percentile), so line
    hiss on telephone audio is not taken for speech.
    """
    hop = int(SAMPLE_RATE * frame_s)
    n = len(samples) // hop
    if n == 0:
        return np.zeros(0, dtype=bool)
    frames = samples[: n * hop].reshape(n, hop)
    energy = np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / hop  # no copy of the audio
    db = 10 * np.log10(energy + 1e-12)
    floor = float(np.percentile(db, 10))
    loud = float(np.percentile(db, 98))
    threshold = max(floor + 10.0, loud - 35.0, -70.0)
    return db > threshold


def pitch_hz(samples: np.ndarray, frame: int = 640, hop: int = 160) -> float | None:
    """Median voice pitch (Hz, 60-400) of a short stretch of speech, or None if it has no
    clearly periodic frames. Autocorrelation over 40 ms frames of the louder half."""
    n = (len(samples) - frame) // hop + 1
    if n < 1:
        return None
    idx = np.arange(frame)[None, :] + hop * np.arange(n)[:, None]
    fr = samples[idx].astype(np.float64)
    fr -= fr.mean(axis=1, keepdims=True)
    energy = (fr ** 2).sum(axis=1)
    fr = fr[energy >= np.median(energy)]
    if not len(fr) or energy.max() < 1e-6:
        return None
    ac = np.fft.irfft(np.abs(np.fft.rfft(fr, 2 * frame)) ** 2)[:, :frame]
    ac /= ac[:, :1] + 1e-12
    lo, hi = SAMPLE_RATE // 400, SAMPLE_RATE // 60
    lag = lo + np.argmax(ac[:, lo:hi], axis=1)
    periodic = ac[np.arange(len(ac)), lag] > 0.5
    if periodic.sum() < 1:
        return None
    return round(float(np.median(SAMPLE_RATE / lag[periodic])), 1)


def window_cuts(voiced: np.ndarray, total_s: float, window_s: float, frame_s: float = FRAME_S,
                search_s: float = 60.0) -> list[float]:
    """Where to cut a long channel into windows of at most ``window_s`` seconds.

    Each cut is placed in the middle of the longest unvoiced stretch within the last
    ``search_s`` seconds before the window limit, so no word is cut in two. Returns the
    window start times (the first is 0.0).
    """
    starts = [0.0]
    while total_s - starts[-1] > window_s:
        limit = starts[-1] + window_s
        lo, hi = int(max(starts[-1] + 1.0, limit - search_s) / frame_s), int(limit / frame_s)
        seg = voiced[lo:hi]
        best, best_len, run_start = hi, 0, None
        for i, v in enumerate(np.append(seg, True)):
            if not v and run_start is None:
                run_start = i
            elif v and run_start is not None:
                if i - run_start > best_len:
                    best_len, best = i - run_start, lo + (run_start + i) // 2
                run_start = None
        starts.append(round(best * frame_s, 3))
    return starts


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    # PyAV messages look like "[Errno 1094995529] Invalid data found …: 'path'"; drop the path
    if ": '" in text:
        text = text.split(": '")[0]
    return text[:160]
