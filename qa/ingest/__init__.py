"""Read chat exports and existing transcripts into :class:`~qa.conversation.Conversation`.

Library API (the ``qa ingest`` command is a thin layer over it)::

    from qa.ingest import read_file, ingest_paths, IngestOptions, SpeakerLabels

    convs = read_file("chats.csv", mapping={"text": "body"},
                      labels=SpeakerLabels(agent=("support",), customer=("user",)))
    for result in ingest_paths(["exports/"], OutDir.at("qa-out"), IngestOptions()):
        print(result.path, len(result.conversations), [str(e) for e in result.errors])

Formats (``FORMATS``): ``chat-jsonl``, ``chat-csv``, ``chat-json``, ``vtt``, ``srt``,
``whisper-json``, ``ibm-twitter``, ``abcd``. Detected from the extension and the content
unless named.
"""

from __future__ import annotations

import json
import logging
from functools import partial
from dataclasses import dataclass, field
from datetime import timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from ..conversation import Conversation, Source, Turn, sha256_bytes
from ..errors import IngestError, MetadataError, QAError, unicode_path
from ..inputs import AUDIO_EXTS, NOT_REGULAR_FIX, TEXT_EXTS, discover, not_regular
from ..metadata import Metadata, require_agent
from ..store import ConversationIds, OutDir, write_conversation
from . import chat, exports, transcripts
from .common import (DEFAULT_LABELS, MESSAGE_FIELDS, ConvOutcome, SpeakerLabels, bound_turns,
                     build_chats, decode_text, parse_map_options, require_agent_turns,
                     safe_json_text)
from .exports import ABCD_AGENT_ID, snowflake_time

__all__ = [
    "ABCD_AGENT_ID", "DEFAULT_LABELS", "FORMATS", "MESSAGE_FIELDS", "FileResult", "IngestOptions",
    "IngestSummary", "SpeakerLabels", "detect_format", "ingest_paths", "parse_file",
    "parse_map_options", "read_conversation_file", "read_file", "snowflake_time", "summarize",
]

log = logging.getLogger("qa.ingest")

FORMATS: dict[str, str] = {
    "chat-jsonl": "canonical chat JSONL, one message per line (also mapped exports)",
    "chat-csv": "the same fields as CSV (also mapped exports)",
    "chat-json": "a JSON list of messages, or of conversations with a 'messages' list",
    "vtt": "WebVTT with <v Agent> / <v Customer> voices",
    "srt": "SRT with 'Agent:' / 'Customer:' prefixes",
    "whisper-json": "faster-whisper / whisperX JSON (segments with words; 'speaker' when diarised)",
    "ibm-twitter": "IBM Twitter customer-care export (dialogHeader / dialogContent / agentURL)",
    "abcd": "ASAPP ABCD export (convo_id / scenario / original)",
}
VOICE_FORMATS = ("vtt", "srt", "whisper-json")
JSON_FORMATS = ("chat-jsonl", "chat-json", "whisper-json", "ibm-twitter", "abcd")
WRITE_THREADS = 8
_BY_EXT = {".jsonl": "chat-jsonl", ".ndjson": "chat-jsonl", ".csv": "chat-csv", ".tsv": "chat-csv",
           ".vtt": "vtt", ".srt": "srt"}


@dataclass(frozen=True)
class IngestOptions:
    """How to read inputs. Every field is optional."""

    fmt: str | None = None
    """A name from ``FORMATS``; None detects the format per file."""
    mapping: Mapping[str, str] | None = None
    """``{field: column}``: where a differently named export keeps each field
    (fields: ``MESSAGE_FIELDS``); dotted keys reach into nested JSON objects."""
    labels: SpeakerLabels | None = None
    """Extra speaker labels per role, on top of ``DEFAULT_LABELS``."""
    metadata: Metadata | None = None
    """Sidecar CSV and/or file-name pattern for what the files do not carry."""
    agent_id: str | None = None
    """Agent id for conversations that still have none after the file and metadata."""


@dataclass
class FileResult:
    """What one input file gave: its conversations, and the errors that stopped the file
    (then ``conversations`` is empty) or single conversations in it."""

    path: Path
    format: str | None = None
    conversations: list[Conversation] = field(default_factory=list)
    errors: list[QAError] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    """Conversation files written (``ingest_paths`` only)."""

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class IngestSummary:
    files: int = 0
    conversations: int = 0
    turns: int = 0
    agents: int = 0
    failures: int = 0

    def line(self) -> str:
        return (f"ingest: {self.files} {_plural(self.files, 'file')}, {self.conversations} "
                f"{_plural(self.conversations, 'conversation')}, {self.turns} "
                f"{_plural(self.turns, 'turn')}, {self.agents} {_plural(self.agents, 'agent')}, "
                f"{self.failures} {_plural(self.failures, 'failure')}")


def _plural(n: int, word: str) -> str:
    return word if n == 1 else word + "s"


# ---------------------------------------------------------------- detection
def _load_json(text: str, path: Path) -> tuple[str, Any]:
    """``("json", data)``, or ``("jsonl", None)`` for JSON lines in a .json file."""
    try:
        return "json", json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":
            first = text.lstrip().split("\n", 1)[0]
            try:
                if isinstance(json.loads(first), dict):
                    return "jsonl", None
            except json.JSONDecodeError:
                pass
        raise IngestError(f"broken JSON: {exc.msg} (column {exc.colno})", path=path,
                          place=f"line {exc.lineno}",
                          fix="Repair the JSON at that line (a validator such as "
                              "`python -m json.tool FILE` shows the spot).") from None


def detect_format(path: str | Path, text: str) -> tuple[str, Any]:
    """The format name of a file from its extension and content, and the parsed JSON
    when it had to be parsed to tell (else None)."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext in _BY_EXT:
        return _BY_EXT[ext], None
    head = text.lstrip()[:200]
    if ext == ".json" or head[:1] in "[{":
        kind, data = _load_json(text, path)
        if kind == "jsonl":
            return "chat-jsonl", None
        if exports.looks_like_ibm(data):
            return "ibm-twitter", data
        if exports.looks_like_abcd(data):
            return "abcd", data
        if transcripts.looks_like_whisper(data):
            return "whisper-json", data
        return "chat-json", data
    if head.startswith("WEBVTT"):
        return "vtt", None
    lines = head.split("\n")
    if len(lines) > 1 and "-->" in lines[1]:
        return "srt", None
    if "," in lines[0] or "\t" in lines[0] or ";" in lines[0]:
        return "chat-csv", None
    raise IngestError(
        f"cannot tell the format of this file (extension {ext or 'none'})", path=path,
        fix=f"Name it with --format ({', '.join(FORMATS)}).")


# ---------------------------------------------------------------- one file
def parse_file(path: str | Path, options: IngestOptions | None = None) -> FileResult:
    """Read one file. Never raises for bad input: problems are in ``FileResult.errors``."""
    path = Path(path)
    options = options or IngestOptions()
    result = FileResult(path)
    try:
        fmt, outcomes = _read(path, options)
        result.format = fmt
    except QAError as exc:
        result.errors.append(exc)
        return result
    except RecursionError:  # nesting the depth check did not foresee: still this file's problem
        log.debug("recursion reading %s", path, exc_info=True)
        result.errors.append(IngestError(
            "nested too deeply to read (Python's recursion limit)", path=path,
            fix="This is not a chat export or transcript qa can read; check the file, or leave "
                "it out."))
        return result
    except MemoryError:
        result.errors.append(IngestError(
            "not enough memory to read this file", path=path,
            fix="Split the export into smaller files (a few hundred MB each) and try again."))
        return result
    except Exception as exc:  # a reader bug must not stop the batch or show a traceback
        log.debug("unexpected error reading %s", path, exc_info=True)
        result.errors.append(unexpected_error(exc, path))
        return result
    for oc in outcomes:
        if oc.error is not None:
            result.errors.append(oc.error)
            continue
        conv = oc.conversation
        try:
            _finish(conv, path, fmt, options)
        except QAError as exc:
            result.errors.append(exc)
            continue
        except Exception as exc:  # as above: never a traceback for one conversation
            log.debug("unexpected error finishing %s in %s", conv.id, path, exc_info=True)
            result.errors.append(unexpected_error(exc, path, f"conversation {conv.id}"))
            continue
        result.conversations.append(conv)
    return result


def read_file(path: str | Path, *, fmt: str | None = None, mapping: Mapping[str, str] | None = None,
              labels: SpeakerLabels | None = None, metadata: Metadata | None = None,
              agent_id: str | None = None) -> list[Conversation]:
    """Read one file into conversations; raises the first :class:`IngestError` /
    :class:`MetadataError` when the file, or any conversation in it, cannot be read."""
    result = parse_file(path, IngestOptions(fmt=fmt, mapping=mapping, labels=labels,
                                            metadata=metadata, agent_id=agent_id))
    if result.errors:
        raise result.errors[0]
    return result.conversations


def _read(path: Path, options: IngestOptions) -> tuple[str, list[ConvOutcome]]:
    if options.fmt is not None and options.fmt not in FORMATS:
        raise IngestError(f"unknown format {options.fmt!r}", fix=f"Use one of: {', '.join(FORMATS)}.")
    if options.fmt is None and path.suffix.lower() in AUDIO_EXTS:
        raise IngestError("this is a recording, not a chat export or transcript", path=path,
                          fix="Transcribe it with `qa transcribe` (or `qa run`).")
    if (why := not_regular(path)) is not None:
        raise IngestError(why, path=path, fix=NOT_REGULAR_FIX)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise IngestError(f"cannot read the file: {exc.strerror}", path=path) from None
    text = decode_text(raw, path)
    sha = sha256_bytes(raw)
    del raw
    if options.fmt in JSON_FORMATS or (options.fmt is None and (
            path.suffix.lower() in (".json", ".jsonl", ".ndjson") or text.lstrip()[:1] in ("[", "{"))):
        text = safe_json_text(text, path)
    mapping = dict(options.mapping or {})
    data: Any = None
    fmt = options.fmt
    if fmt is None:
        fmt, data = detect_format(path, text)
    elif fmt in ("chat-json", "whisper-json", "ibm-twitter", "abcd"):
        kind, data = _load_json(text, path)
        if kind == "jsonl":
            raise IngestError(f"this is JSON lines, not one JSON document as --format {fmt} "
                              "expects", path=path, fix="Use --format chat-jsonl.")
    log.debug("%s: format %s", path, fmt)

    if fmt == "ibm-twitter":
        return fmt, exports.read_ibm(data, path, sha)
    if fmt == "abcd":
        return fmt, exports.read_abcd(data, path, sha)
    if fmt in VOICE_FORMATS:
        return fmt, [_voice(path, fmt, text, data, sha, options)]
    if fmt == "chat-jsonl":
        messages = chat.read_jsonl(text, path, mapping)
    elif fmt == "chat-csv":
        messages = chat.read_csv(text, path, mapping)
    else:
        messages = chat.read_json(data, path, mapping)
    if not messages:
        raise IngestError("no messages in the file", path=path, fix="Check the export.")
    return fmt, build_chats(messages, path=path, fmt=fmt, sha256=sha, labels=options.labels,
                            default_id=_file_conversation_id(path, options))


def _file_conversation_id(path: Path, options: IngestOptions) -> str:
    if options.metadata is not None:
        cid = options.metadata.for_file(path).conversation_id
        if cid:
            return cid
    return path.stem


def _voice(path: Path, fmt: str, text: str, data: Any, sha: str, options: IngestOptions
           ) -> ConvOutcome:
    language = None
    if fmt == "vtt":
        cues = transcripts.read_vtt(text, path)
    elif fmt == "srt":
        cues = transcripts.read_srt(text, path)
    else:
        cues, language = transcripts.read_whisper_json(data, path)
    resolved = transcripts.resolve_cues(cues, path, options.labels, fmt)
    resolved.sort(key=lambda cr: cr[0].start)  # stable
    turns = [Turn(speaker=role, text=c.text, start_s=c.start, end_s=c.end, words=c.words,
                  author=c.label) for c, role in resolved]
    cid = _file_conversation_id(path, options)
    conv = Conversation(id=cid, channel="voice", agent_id="", language=language,
                        duration_s=max((t.end_s or 0.0) for t in turns) if turns else None,
                        source=Source(path=str(path), sha256=sha, format=fmt), turns=turns)
    return ConvOutcome(conv, conversation_id=cid)


def _finish(conv: Conversation, path: Path, fmt: str, options: IngestOptions) -> None:
    """Metadata, fall-back agent id, and the checks every conversation must pass."""
    if options.metadata is not None:
        options.metadata.apply(conv, path)
    if not conv.agent_id:
        if options.agent_id:
            conv.agent_id = options.agent_id
        elif fmt == "abcd":
            conv.agent_id = ABCD_AGENT_ID
    if conv.started_at is not None and conv.started_at.tzinfo is not None:
        conv.started_at = conv.started_at.astimezone(timezone.utc)
    meta = options.metadata
    if not conv.agent_id and meta is not None and meta.pattern is not None \
            and not meta.pattern.fullmatch(path.stem):
        raise MetadataError(
            f"conversation {conv.id!r} has no agent id, and --name-pattern "
            f"{meta.name_pattern!r} does not match the file name {path.stem!r}", path=str(path),
            fix="Rename the file to fit the pattern, change the pattern, or give the agent with "
                "--meta calls.csv (columns: file, agent_id, …) or --agent-id.")
    require_agent(conv, path)
    require_agent_turns(conv, path)
    bound_turns(conv, path)
    conv.source.path = unicode_path(conv.source.path)  # a file name that is not UTF-8


def unexpected_error(exc: BaseException, path: Path, what: str | None = None) -> IngestError:
    """The failure row for an exception no reader foresaw: its type and message, so that a
    batch never ends on one file (the traceback goes to the debug log)."""
    text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    subject = f"{what} could not be read" if what else "could not be read"
    return IngestError(
        f"{subject}: unexpected {type(exc).__name__}" + (f": {text}" if text else ""), path=path,
        fix="Check the file's structure against `qa ingest --help`; if it looks right, please "
            "report this as a qa bug.")


def read_conversation_file(path: str | Path) -> Conversation | None:
    """The conversation in ``path`` when it is a qa conversation JSON file (``.json`` with
    ``schema_version`` and ``turns``, as ``qa ingest`` / ``qa transcribe`` write); None for
    anything else (a chat export to ingest).

    Read with the same guards as the readers:
    the nesting limit, lone surrogates replaced, over-long turns cut
    (:func:`~qa.ingest.common.bound_turns`). Raises :class:`IngestError` naming the file
    and the field; never anything else."""
    from pydantic import ValidationError

    p = Path(path)
    if p.suffix.lower() != ".json":
        return None
    if (why := not_regular(p)) is not None:
        raise IngestError(why, path=p, fix=NOT_REGULAR_FIX)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise IngestError(f"cannot read the file: {exc.strerror}", path=p) from None
    if not (b'"schema_version"' in raw[:4096] and b'"turns"' in raw):
        return None
    text = safe_json_text(decode_text(raw, p), p)
    del raw
    try:
        try:
            conv = Conversation.model_validate_json(text)
        except ValidationError:  # the library's own, located message
            conv = Conversation.from_json(text, path=p)
    except QAError:
        raise
    except RecursionError:
        raise IngestError("nested too deeply to read (Python's recursion limit)", path=p,
                          fix="Re-create it with `qa ingest` or `qa transcribe`.") from None
    except Exception as exc:  # noqa: BLE001 - whatever pydantic raises: this file's failure
        log.debug("unexpected error reading %s", p, exc_info=True)
        raise unexpected_error(exc, p) from None
    bound_turns(conv, p)
    return conv


# ---------------------------------------------------------------- many files
def ingest_paths(paths: Iterable[str | Path], out: OutDir, options: IngestOptions | None = None,
                 ids: ConversationIds | None = None) -> Iterator[FileResult]:
    """Read files and folders (folders searched for chat and transcript extensions) and
    write each conversation to ``OUT/transcripts/<safe id>.json``.

    Yields one :class:`FileResult` per file, in order. A conversation id already written
    by an earlier file of the same call is an error for the later one (nothing is
    overwritten); a path that does not exist is an error result of its own. ``ids``
    (:class:`qa.store.ConversationIds`) carries that check over several calls and stages.

    Nothing a file holds ends the batch: any exception while reading, validating or writing
    a file is an error of that file's result, and one conversation that cannot be written
    is an error of that conversation.
    """
    files, missing = discover(paths, TEXT_EXTS)
    sidecar = options.metadata.sidecar_path if options and options.metadata else None
    if sidecar:  # `qa ingest exports/ --meta exports/calls.csv`: the sidecar is not a chat
        skip = Path(sidecar).resolve()
        files = [f for f in files if f.resolve() != skip]
    for m in missing:
        yield FileResult(m, errors=[IngestError("no such file or folder", path=m)])
    ids = ConversationIds() if ids is None else ids
    # each write is fsync'd (atomic_write): threads overlap the waits on the disk. Writes
    # stay on this machine (the client), with or without a cluster.
    from ..executor import ThreadExecutor

    with ThreadExecutor(WRITE_THREADS, "qa-write") as pool:
        for f in files:
            try:
                result = parse_file(f, options)
                kept = []
                for conv in result.conversations:
                    owner = ids.claim(conv.id, f)
                    if owner is not None:
                        result.errors.append(ids.text_error(conv.id, f, owner))
                        continue
                    kept.append(conv)
                written = list(pool.map(partial(_write_one, out, f), kept))
                result.conversations, result.written = [], []
                for conv, w in zip(kept, written):
                    if isinstance(w, QAError):
                        ids.release(conv.id, f)
                        result.errors.append(w)
                    else:
                        result.conversations.append(conv)
                        result.written.append(w)
            except Exception as exc:  # noqa: BLE001 - last resort: this file fails, the batch goes on
                log.debug("unexpected error ingesting %s", f, exc_info=True)
                result = FileResult(Path(f), errors=[unexpected_error(exc, Path(f))])
            yield result


def _write_one(out: OutDir, path: Path, conv: Conversation) -> Path | QAError:
    """Write one conversation; an error (bad text, disk full) is returned, not raised."""
    try:
        return write_conversation(out, conv)
    except QAError as exc:
        if exc.path is None:
            exc.path = str(path)
        return exc
    except OSError as exc:
        return IngestError(f"conversation {conv.id} could not be written: {exc.strerror or exc}",
                           path=path, fix="Check the output folder's free space and permissions.")
    except Exception as exc:  # noqa: BLE001
        log.debug("unexpected error writing %s from %s", conv.id, path, exc_info=True)
        return unexpected_error(exc, path, f"conversation {conv.id}")


def summarize(results: Iterable[FileResult]) -> IngestSummary:
    s = IngestSummary()
    agents: set[str] = set()
    for r in results:
        s.files += 1
        s.conversations += len(r.conversations)
        s.turns += sum(len(c.turns) for c in r.conversations)
        agents.update(c.agent_id for c in r.conversations)
        s.failures += len(r.errors)
    s.agents = len(agents)
    return s
