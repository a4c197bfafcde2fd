"""Existing transcripts: WebVTT with ``<v Agent>`` voices, SRT with ``Agent:`` prefixes,
and faster-whisper / whisperX JSON (segments with words, ``speaker`` when diarised).

Each cue or segment becomes one voice turn, with its times; a cue with no speaker of its
own continues the previous speaker.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..conversation import Word
from ..errors import IngestError
from .common import LabelResolver, SpeakerLabels

_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{1,3})"
_TIMING = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}")
_VOICE = re.compile(r"<v(?:\.[^ \t>]*)?[ \t]+([^>]+)>")
_TAG = re.compile(r"</?[^>]*>")
_PREFIX = re.compile(r"^\s*([^\s:][^:\n]{0,39}?)\s*:\s+(\S.*)$")


@dataclass
class Cue:
    place: str
    start: float
    end: float
    label: str | None
    text: str
    words: list[Word] = field(default_factory=list)


def _secs(h: str | None, m: str, s: str, frac: str) -> float:
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + int(frac.ljust(3, "0")) / 1000.0


def _timing(line: str) -> tuple[float, float] | None:
    m = _TIMING.match(line)
    if not m:
        return None
    g = m.groups()
    return _secs(*g[:4]), _secs(*g[4:])


def _blocks(text: str) -> list[tuple[int, list[str]]]:
    """Blank-line separated blocks with the line number of their first line."""
    out, cur, start = [], [], 0
    for i, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            if not cur:
                start = i
            cur.append(line)
        elif cur:
            out.append((start, cur))
            cur = []
    if cur:
        out.append((start, cur))
    return out


def _split_prefix(text: str) -> tuple[str | None, str]:
    m = _PREFIX.match(text)
    # a speaker label is short and does not start in lower case ("Agent", "SPEAKER_00",
    # "Sam Rivera"); "so the problem is: …" is text
    if (m and len(m.group(1).split()) <= 3 and not m.group(1)[0].islower()
            and not m.group(1).startswith(("http", "www"))):
        return m.group(1), m.group(2)
    return None, text


def read_vtt(text: str, path: Path) -> list[Cue]:
    blocks = _blocks(text)
    if not blocks or not blocks[0][1][0].lstrip("\ufeff").startswith("WEBVTT"):
        raise IngestError("not a WebVTT file: the first line must be WEBVTT", path=path,
                          place="line 1", fix="Check the file, or name its format with --format.")
    cues: list[Cue] = []
    for start_line, lines in blocks[1:]:
        if lines[0].startswith(("NOTE", "STYLE", "REGION")):
            continue
        idx = 0 if "-->" in lines[0] else 1
        if idx >= len(lines) or (times := _timing(lines[idx])) is None:
            raise IngestError("a cue without a valid timing line (00:00:01.000 --> 00:00:04.000)",
                              path=path, place=f"line {start_line + idx}",
                              fix="Repair the cue timing.")
        payload = lines[idx + 1:]
        place = f"line {start_line + idx}"
        # each line that opens a <v Speaker> span starts a new speaker's text
        segments: list[tuple[str | None, list[str]]] = []
        for line in payload:
            vm = _VOICE.search(line)
            if vm or not segments:
                segments.append((vm.group(1).strip() if vm else None, []))
            segments[-1][1].append(html.unescape(_TAG.sub("", line)).strip())
        for label, parts in segments:
            body = " ".join(p for p in parts if p)
            if label is None:
                label, body = _split_prefix(body)
            cues.append(Cue(place, times[0], times[1], label, body))
    if not cues:
        raise IngestError("the WebVTT file has no cues", path=path, fix="Check the export.")
    return cues


def read_srt(text: str, path: Path) -> list[Cue]:
    cues: list[Cue] = []
    for start_line, lines in _blocks(text):
        idx = next((i for i, ln in enumerate(lines[:2]) if "-->" in ln), None)
        if idx is None or (times := _timing(lines[idx])) is None:
            raise IngestError("not an SRT cue: no timing line (00:00:01,000 --> 00:00:04,000)",
                              path=path, place=f"line {start_line}",
                              fix="Repair the cue, or name the file's format with --format.")
        body = " ".join(html.unescape(_TAG.sub("", ln)).strip() for ln in lines[idx + 1:]).strip()
        label, body = _split_prefix(body)
        cues.append(Cue(f"line {start_line + idx}", times[0], times[1], label, body))
    if not cues:
        raise IngestError("the SRT file has no cues", path=path)
    return cues


# ---------------------------------------------------------------- whisper JSON
def looks_like_whisper(data: Any) -> bool:
    segs = data.get("segments") if isinstance(data, dict) else data
    return (isinstance(segs, list) and bool(segs) and isinstance(segs[0], dict)
            and "start" in segs[0] and "end" in segs[0] and "text" in segs[0])


def read_whisper_json(data: Any, path: Path) -> tuple[list[Cue], str | None]:
    """Cues from faster-whisper segments (``[{start, end, text, words}]`` or
    ``{"segments": [...], "language": ...}``) or whisperX output (``speaker`` on segments
    and words). Returns the cues and the language when the file names one."""
    language = data.get("language") if isinstance(data, dict) else None
    segs = data.get("segments") if isinstance(data, dict) else data
    if not isinstance(segs, list) or not segs:
        raise IngestError("no segments: expected faster-whisper / whisperX JSON with a "
                          "'segments' list", path=path, fix="Name the file's format with --format.")
    cues: list[Cue] = []
    for i, seg in enumerate(segs, start=1):
        place = f"segment {i}"
        if not isinstance(seg, dict):
            raise IngestError(f"expected a segment object, got {type(seg).__name__}", path=path,
                              place=place)
        try:
            start, end = float(seg["start"]), float(seg["end"])
        except (KeyError, TypeError, ValueError):
            raise IngestError("a segment without numeric start/end", path=path, place=place,
                              fix="Each segment needs start and end in seconds.") from None
        words, word_speakers = _words(seg.get("words") or [], start, end, path, place)
        label = seg.get("speaker")
        if label is None and word_speakers:
            label = max(set(word_speakers), key=word_speakers.count)
        text = seg.get("text")
        text = "" if text is None else str(text).strip()
        cues.append(Cue(place, start, end, None if label is None else str(label), text, words))
    return cues, language if isinstance(language, str) else None


def _words(raw: list, seg_start: float, seg_end: float, path: Path, place: str
           ) -> tuple[list[Word], list[str]]:
    words: list[Word] = []
    speakers: list[str] = []
    last = seg_start
    for w in raw:
        if not isinstance(w, dict) or "word" not in w:
            raise IngestError("a word without 'word'", path=path, place=place,
                              fix="Words look like {\"word\": \"Hi\", \"start\": 1.0, \"end\": 1.2}.")
        # whisperX leaves numbers it could not align without times: borrow the neighbour's
        ws = w.get("start")
        we = w.get("end")
        ws = float(ws) if isinstance(ws, (int, float)) else last
        we = float(we) if isinstance(we, (int, float)) else max(ws, last)
        prob = w.get("probability", w.get("score", 1.0))
        prob = float(prob) if isinstance(prob, (int, float)) else 1.0
        words.append(Word(word=str(w["word"]), start=ws, end=we, probability=prob))
        last = we
        if w.get("speaker") is not None:
            speakers.append(str(w["speaker"]))
    return words, speakers


# ---------------------------------------------------------------- cues -> turns
def resolve_cues(cues: list[Cue], path: Path, labels: SpeakerLabels | None, fmt: str
                 ) -> list[tuple[Cue, str]]:
    """Give each cue a role; a cue with no speaker continues the previous one."""
    if all(c.label is None for c in cues):
        if fmt == "whisper-json":
            raise IngestError(
                "no speaker labels in this faster-whisper JSON: nobody can tell the agent "
                "from the customer", path=path,
                fix="Transcribe the recording with `qa transcribe` (stereo: one channel per "
                    "party), or diarise with whisperX and map its labels with "
                    "--agent-label SPEAKER_00 --customer-label SPEAKER_01.")
        example = "<v Agent>Hello</v>" if fmt == "vtt" else "Agent: Hello"
        raise IngestError(f"no speaker labels in the {fmt.upper()} cues", path=path,
                          place=cues[0].place,
                          fix=f"Mark each speaker change, e.g. {example!r}.")
    resolver = LabelResolver(labels)
    out: list[tuple[Cue, str]] = []
    role: str | None = None
    labelled = False
    for c in cues:
        if c.label is not None:
            role = resolver.role(c.label, c.place)
            labelled = True
        elif not labelled:
            raise IngestError("the first cue has no speaker", path=path, place=c.place,
                              fix="Mark who speaks in the first cue, e.g. 'Agent: Hello'.")
        out.append((c, role or "customer"))
    resolver.check(path)
    return out
