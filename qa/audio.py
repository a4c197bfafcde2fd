"""Reading recordings: probe with PyAV, decode in one streaming pass with PyAV.

* :func:`probe` opens the file with PyAV and reads its first audio stream's channel count,
  sample rate, codec and the duration the header promises. A zero-byte file, a text file
  with an audio extension, an unknown container or a file with no audio stream is an
  :class:`~qa.errors.AudioDecodeError` with a one-line reason.
* :func:`decode` decodes to 16 kHz float32, one channel each (stereo is split, so left and
  right are transcribed apart). Any input sample rate works (8 kHz telephone audio
  included); a file that decodes to much less than its header promises is reported as
  truncated. It resamples exactly as faster-whisper's ``decode_audio`` does (same PyAV
  resampler, same frame grouping), so the samples are the same, but it writes each
  resampled block straight into a preallocated array per channel instead of collecting
  the whole file first.
* Long recordings (``spill_after_s``): a channel longer than that is written, as 16-bit
  PCM, to an unnamed temporary file (gone when closed, even after ``kill -9``) and comes
  back as a :class:`DiskChannel`, which reads any stretch as float32 on demand. Memory then
  stays the same whatever the length: the file lives in the page cache, not the heap.
* :func:`voiced_frames` is a small energy detector used to tighten Whisper's word timings
  to where the channel actually has sound; it reads a :class:`DiskChannel` a minute at a
  time.

Memory: decoding holds 4 bytes per sample per channel kept in memory (≈ 0.46 GB for one
hour of stereo without ``spill_after_s``; a few MB with it); see the README's transcribe
section for measurements.
"""

from __future__ import annotations

import gc
import itertools
import logging
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Union

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

    from .inputs import NOT_REGULAR_FIX, not_regular

    p = Path(path)
    if (why := not_regular(p)) is not None:
        raise AudioDecodeError(why, path=str(p), fix=NOT_REGULAR_FIX)
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
            # FFmpeg picks a demuxer by the extension too: random bytes named .flac "open"
            # with a stream of 0 channels. A recording has channels, a rate and a first
            # frame that decodes.
            if info.channels <= 0 or info.sample_rate <= 0 or not _first_frame_decodes(container, stream):
                raise AudioDecodeError(
                    "unsupported or corrupt audio: FFmpeg does not recognise the format",
                    path=str(p), fix=FIX_CONVERT)
    except AudioDecodeError:
        raise
    except (av.error.InvalidDataError, av.error.EOFError):
        raise AudioDecodeError("unsupported or corrupt audio: FFmpeg does not recognise the format",
                               path=str(p), fix=FIX_CONVERT) from None
    except av.error.FFmpegError as exc:
        raise AudioDecodeError(f"unsupported or corrupt audio: FFmpeg cannot open it ({_short(exc)})",
                               path=str(p), fix=FIX_CONVERT) from None
    except (OSError, ValueError) as exc:
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


def _first_frame_decodes(container, stream, max_packets: int = 50) -> bool:
    """True when one of the first ``max_packets`` packets of ``stream`` decodes to audio."""
    import av

    try:
        for i, packet in enumerate(container.demux(stream)):
            if i >= max_packets:
                return False
            try:
                if any(frame.samples for frame in packet.decode()):
                    return True
            except (av.error.FFmpegError, ValueError):
                continue
    except (av.error.FFmpegError, OSError, ValueError):
        return False
    return False


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


CHUNK_SAMPLES = 960_000
"""A :class:`DiskChannel` is read a minute (16 kHz) at a time; a multiple of every frame hop."""


class DiskChannel:
    """One decoded 16 kHz channel kept on disk as 16-bit PCM (a long recording).

    Behaves like a read-only 1-D float32 array for what transcription needs: ``len()``,
    contiguous slices (``ch[a:b]`` reads those samples and returns float32, exactly the
    values :func:`decode` would hold in memory) and :meth:`chunks`. The backing file is an
    unnamed temporary file, removed when the channel is closed or garbage-collected.
    """

    def __init__(self, fh, n: int, peak: float):
        self._fh = fh
        self._lock = threading.Lock()
        self.n = n
        self.peak = peak
        """Loudest sample, as a float in [0, 1] (for :func:`is_silent`)."""

    def __len__(self) -> int:
        return self.n

    @property
    def size(self) -> int:
        return self.n

    def __getitem__(self, key: slice) -> np.ndarray:
        if not isinstance(key, slice):
            raise TypeError("a DiskChannel is read by slices: channel[start:stop]")
        start, stop, step = key.indices(self.n)
        if step != 1:
            raise ValueError("a DiskChannel is read by contiguous slices")
        return self.read(start, stop)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples ``start`` to ``stop`` as float32 (a fresh array)."""
        count = max(0, min(stop, self.n) - start)
        out = np.empty(count, dtype=np.float32)
        pcm = np.empty(min(count, CHUNK_SAMPLES), dtype=np.int16)
        with self._lock:
            self._fh.seek(start * 2)
            for a in range(0, count, pcm.size):  # a chunk at a time: no second copy of the window
                part = pcm[: min(pcm.size, count - a)]
                got = self._fh.readinto(memoryview(part).cast("B")) // 2
                if got < part.size:
                    raise OSError(f"the temporary audio file ended early ({a + got} of {count} samples)")
                np.divide(part, np.float32(32768.0), out=out[a:a + part.size])
        return out

    def chunks(self, size: int = CHUNK_SAMPLES) -> Iterator[np.ndarray]:
        """The whole channel, ``size`` samples at a time (float32)."""
        for a in range(0, self.n, size):
            yield self.read(a, min(self.n, a + size))

    def close(self) -> None:
        self._fh.close()

    def __repr__(self) -> str:
        return f"DiskChannel({self.n} samples, {self.n / SAMPLE_RATE:.1f} s)"


Channel = Union[np.ndarray, DiskChannel]
"""A decoded channel: a float32 array in memory, or a long one on disk."""


class _SpillError(Exception):
    """Writing a long channel to its temporary file failed (disk full …)."""


class _Sink:
    """Collects one channel's int16 blocks: into a preallocated float32 array, or (past
    ``spill_n`` samples) into a temporary file."""

    def __init__(self, expect_n: int, spill_n: int | None, spill_dir: Path | None):
        self.n = 0
        self.spill_n = spill_n
        self.spill_dir = spill_dir
        self.fh = None
        self.peak_i = 0
        if spill_n is not None and expect_n > spill_n:
            self.buf = np.zeros(0, dtype=np.float32)
            self._spill()
        else:
            # a header can lie: never reserve more than an hour up front (it grows if needed)
            self.buf = np.empty(min(max(expect_n, SAMPLE_RATE), 3600 * SAMPLE_RATE), dtype=np.float32)

    def _spill(self) -> None:
        try:
            if self.spill_dir is not None:
                self.spill_dir.mkdir(parents=True, exist_ok=True)
            self.fh = tempfile.TemporaryFile(prefix="qa-audio-", dir=self.spill_dir)
            if self.n:
                head = self.buf[: self.n]
                # float32 k/32768 -> int16 k is exact
                self.fh.write((head * 32768.0).astype(np.int16).tobytes())
                self.peak_i = max(self.peak_i, int(round(max(float(head.max()), -float(head.min())) * 32768)))
        except OSError as exc:
            raise _SpillError(exc.strerror or str(exc)) from None
        self.buf = np.zeros(0, dtype=np.float32)

    def write(self, block: np.ndarray) -> None:
        if not block.size:
            return
        if self.fh is None and self.spill_n is not None and self.n + block.size > self.spill_n:
            self._spill()
        if self.fh is not None:
            try:
                self.fh.write(np.ascontiguousarray(block, dtype=np.int16).tobytes())
            except OSError as exc:
                raise _SpillError(exc.strerror or str(exc)) from None
            self.peak_i = max(self.peak_i, int(block.max()), -int(block.min()))
            self.n += block.size
            return
        end = self.n + block.size
        if end > self.buf.size:  # the header under-promised: grow by half
            grown = np.empty(max(end, self.buf.size + self.buf.size // 2), dtype=np.float32)
            grown[: self.n] = self.buf[: self.n]
            self.buf = grown
        # the same arithmetic as decode_audio: astype(float32) / 32768.0
        np.divide(block, np.float32(32768.0), out=self.buf[self.n:end], casting="unsafe")
        self.n = end

    def finish(self) -> Channel:
        if self.fh is not None:
            try:
                self.fh.flush()
            except OSError as exc:
                raise _SpillError(exc.strerror or str(exc)) from None
            return DiskChannel(self.fh, self.n, self.peak_i / 32768.0)
        if self.buf.size - self.n > SAMPLE_RATE * 5:  # the header over-promised: give memory back
            return self.buf[: self.n].copy()
        return self.buf[: self.n]

    def discard(self) -> None:
        if self.fh is not None:
            self.fh.close()


def _ignore_invalid_frames(frames):
    # as faster_whisper.audio: a damaged packet is skipped, not fatal
    import av

    iterator = iter(frames)
    while True:
        try:
            yield next(iterator)
        except StopIteration:
            break
        except av.error.InvalidDataError:
            continue


def _group_frames(frames, num_samples: int):
    import av

    fifo = av.audio.fifo.AudioFifo()
    for frame in frames:
        frame.pts = None  # ignore timestamp checks
        fifo.write(frame)
        if fifo.samples >= num_samples:
            yield fifo.read()
    if fifo.samples > 0:
        yield fifo.read()


def _resample_frames(frames, resampler):
    for frame in itertools.chain(frames, [None]):  # None flushes the resampler
        yield from resampler.resample(frame)


def decode(path: str | Path, info: AudioInfo | None = None, *, spill_after_s: float | None = None,
           spill_dir: str | Path | None = None) -> list[Channel]:
    """Decode to 16 kHz float32, one channel each (``[mono]`` or ``[left, right]``).

    With ``spill_after_s``, a channel longer than that many seconds is kept on disk
    (a :class:`DiskChannel` backed by an unnamed temporary file in ``spill_dir``, or the
    system's temporary folder) instead of in memory; without it every channel is a
    float32 array.
    """
    import av

    p = Path(path)
    info = info or probe(p)
    channels = 2 if info.channels == 2 else 1
    expect = int((info.duration_s or 0.0) * SAMPLE_RATE) + 2 * SAMPLE_RATE
    spill_n = None if spill_after_s is None else int(spill_after_s * SAMPLE_RATE)
    sdir = Path(spill_dir) if spill_dir is not None else None
    sinks: list[_Sink] = []
    try:
        sinks = [_Sink(expect, spill_n, sdir) for _ in range(channels)]
        resampler = av.audio.resampler.AudioResampler(format="s16", layout="stereo" if channels == 2 else "mono",
                                                      rate=SAMPLE_RATE)
        with av.open(str(p), mode="r", metadata_errors="ignore") as container:
            frames = _resample_frames(_group_frames(_ignore_invalid_frames(container.decode(audio=0)), 500000),
                                      resampler)
            for frame in frames:
                block = frame.to_ndarray().reshape(-1)  # packed s16: L R L R … for stereo
                if channels == 2:
                    sinks[0].write(block[0::2])
                    sinks[1].write(block[1::2])
                else:
                    sinks[0].write(block)
        del resampler, frames
        gc.collect()  # as decode_audio: PyAV's resampler graph is freed only by the collector
        chans = [s.finish() for s in sinks]
    except _SpillError as exc:
        for s in sinks:
            s.discard()
        where = sdir if sdir is not None else Path(tempfile.gettempdir())
        raise AudioDecodeError(f"cannot keep the decoded audio on disk in {where} ({exc})", path=str(p),
                               fix="Free some disk space there (a long recording needs about 115 MB "
                                   "per channel-hour) and try again.") from None
    except (av.error.FFmpegError, OSError, ValueError, TypeError) as exc:
        for s in sinks:
            s.discard()
        raise AudioDecodeError(f"corrupt audio: decoding failed ({_short(exc)})", path=str(p),
                               fix=FIX_RECORD) from None
    n = len(chans[0])
    if n == 0:
        raise AudioDecodeError("corrupt or truncated audio: no audio could be decoded", path=str(p),
                               fix=FIX_RECORD)
    got = n / SAMPLE_RATE
    if info.duration_s and info.duration_s > 1.0 and got < 0.9 * info.duration_s - 0.5:
        for c in chans:
            if isinstance(c, DiskChannel):
                c.close()
        raise AudioDecodeError(
            f"truncated audio: the header promises {info.duration_s:.1f} s but only {got:.1f} s "
            "could be decoded", path=str(p), fix=FIX_RECORD)
    return chans


def is_silent(samples: Channel) -> bool:
    """True when the channel is digital silence (peak below :data:`SILENCE_PEAK`)."""
    if isinstance(samples, DiskChannel):
        return samples.n == 0 or samples.peak < SILENCE_PEAK
    return samples.size == 0 or max(float(samples.max()), -float(samples.min())) < SILENCE_PEAK


FRAME_S = 0.02


def voiced_frames(samples: Channel, frame_s: float = FRAME_S) -> np.ndarray:
    """Energy detector: one bool per ``frame_s`` frame, True where the channel has sound.

    The threshold adapts to the channel: 10 dB above its noise floor (10th percentile of
    frame energy) and no more than 35 dB below its loud speech (98th percentile), so line
    hiss on telephone audio is not taken for speech. A :class:`DiskChannel` is read a
    chunk at a time (the same frames, the same result).
    """
    hop = int(SAMPLE_RATE * frame_s)
    if isinstance(samples, DiskChannel):
        step = hop * max(1, CHUNK_SAMPLES // hop)
        parts = [_frame_db(c, hop) for c in samples.chunks(step)]
        db = np.concatenate(parts) if parts else np.zeros(0)
    else:
        db = _frame_db(samples, hop)
    if db.size == 0:
        return np.zeros(0, dtype=bool)
    floor = float(np.percentile(db, 10))
    loud = float(np.percentile(db, 98))
    threshold = max(floor + 10.0, loud - 35.0, -70.0)
    return db > threshold


def _frame_db(samples: np.ndarray, hop: int) -> np.ndarray:
    """Energy (dB) of each whole ``hop``-sample frame."""
    n = len(samples) // hop
    if n == 0:
        return np.zeros(0)
    frames = samples[: n * hop].reshape(n, hop)
    energy = np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / hop  # no copy of the audio
    return 10 * np.log10(energy + 1e-12)


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


# ---------------------------------------------------------------- recordings the reports may play
RECORDINGS_CACHE = Path(".cache") / "recordings"
"""``OUT/.cache/recordings/``: one small JSON per recording qa itself decoded (or found in
its transcription cache by its sha256): its resolved path, sha256, size, mtime and inode."""


def _registry_file(out_root: Path, resolved: Path) -> Path:
    import hashlib

    key = hashlib.sha256(str(resolved).encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return Path(out_root) / RECORDINGS_CACHE / f"{key}.json"


def register_recording(out_root: str | Path, path: str | Path, sha256: str) -> None:
    """Remember that ``path`` (whose bytes hash to ``sha256``) is a recording qa decoded, so
    that the reports may play it (:func:`playable_recording`)."""
    import json
    import os

    from .store import atomic_write_text

    try:
        resolved = Path(path).resolve(strict=True)
        st = os.stat(resolved)
        entry = {"path": str(resolved), "sha256": sha256, "size": st.st_size,
                 "mtime_ns": st.st_mtime_ns, "ino": st.st_ino}
        atomic_write_text(_registry_file(Path(out_root), resolved), json.dumps(entry), durable=False)
    except (OSError, ValueError) as exc:
        log.debug("could not register recording %s (%s)", path, exc)


def playable_recording(out_root: str | Path, audio_path: str | None, sha256: str | None
                       ) -> tuple[Path | None, str | None]:
    """The file a call page may play, or None and the reason it may not.

    The rule (README, "Reports"): a recording is linked into ``reports/`` only when it is
    one qa itself decoded (registered by :func:`register_recording` with its sha256, and
    unchanged since: same size, mtime and inode), or, when qa has no record of it (a
    conversation JSON from elsewhere), when the file at ``audio_path`` still hashes to the
    conversation's recorded ``sha256`` and decodes as audio. Anything else (a path that
    names ``/etc/passwd``, a file changed since) is never linked or copied."""
    import json
    import os

    from .conversation import sha256_file

    from .errors import fs_path

    if not audio_path:
        return None, None
    try:
        resolved = Path(fs_path(audio_path)).resolve(strict=True)  # a name that is not UTF-8 too
        st = os.stat(resolved)
    except (OSError, RuntimeError, ValueError):
        return None, "not found"
    from .inputs import not_regular

    if (why := not_regular(resolved)) is not None:
        return None, why  # a pipe would block the hash for ever, a device never end it
    reg = _registry_file(Path(out_root), resolved)
    try:
        entry = json.loads(reg.read_text(encoding="utf-8"))
        if (entry.get("path") == str(resolved) and entry.get("size") == st.st_size
                and entry.get("mtime_ns") == st.st_mtime_ns and entry.get("ino") == st.st_ino
                and (sha256 is None or entry.get("sha256") == sha256)):
            return resolved, None
    except (OSError, ValueError, AttributeError):
        pass
    if not sha256:
        return None, "not a recording qa decoded, and no sha256 to check it against"
    try:
        if sha256_file(resolved) != sha256:
            return None, "the file there is not the recording that was transcribed (sha256 differs)"
        probe(resolved)
    except AudioDecodeError:
        return None, "the file there does not decode as audio"
    except OSError as exc:
        return None, f"cannot read it ({exc.strerror})"
    register_recording(out_root, resolved, sha256)
    return resolved, None
