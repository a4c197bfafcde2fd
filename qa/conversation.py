"""The one data model every stage shares: a Conversation made of Turns.

Chats, transcripts and recordings all become a :class:`Conversation`; the scorer and
the reports read nothing else. Serialised as JSON, one file per conversation, with
``schema_version`` so that later versions can read older files.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import IngestError

SCHEMA_VERSION = 1

Speaker = Literal["agent", "customer", "system"]
Channel = Literal["voice", "chat", "email", "social"]


class Word(BaseModel):
    """One recognised word of a voice turn, with its timing."""

    model_config = ConfigDict(extra="forbid")

    word: str
    """The word as Whisper wrote it (may carry a leading space or punctuation)."""
    start: float
    """Seconds from the start of the call."""
    end: float
    """Seconds from the start of the call."""
    probability: float = 1.0
    """Whisper's confidence in the word, 0..1."""


class Turn(BaseModel):
    """One uninterrupted contribution by one party."""

    model_config = ConfigDict(extra="forbid")

    speaker: Speaker
    """``agent``, ``customer`` or ``system`` (bot messages, notices)."""
    text: str
    """What was said or written, exactly as in the source."""
    start_s: float | None = None
    """Voice: seconds from call start. Chat: seconds from the first message. None if unknown."""
    end_s: float | None = None
    """When the turn ended (voice) or was sent (chat: equals ``start_s``)."""
    words: list[Word] = Field(default_factory=list)
    """Voice only: word timings from the recogniser."""
    author: str | None = None
    """The label or handle the source gave the speaker (``@AppleSupport``, ``Agent``)."""
    message_id: str | None = None
    """The source's id for this message, when it has one."""


class Source(BaseModel):
    """Where a conversation came from."""

    model_config = ConfigDict(extra="forbid")

    path: str
    """The input file, as given on the command line."""
    sha256: str
    """Hash of the whole input file's bytes."""
    format: str
    """The reader that parsed it (``chat-jsonl``, ``vtt``, ``audio`` …)."""


class Conversation(BaseModel):
    """A whole call, chat or e-mail thread between one agent and a customer."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    id: str
    """Conversation id, from the source or derived from the file name."""
    channel: Channel = "chat"
    agent_id: str
    """The agent scored for this conversation. Never empty."""
    agent_name: str | None = None
    team: str | None = None
    customer_name: str | None = None
    started_at: datetime | None = None
    duration_s: float | None = None
    language: str | None = None
    source: Source
    turns: list[Turn] = Field(default_factory=list)
    roles_inferred: bool = False
    """True when speaker roles were guessed (mono audio) rather than known."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Anything else: sidecar CSV columns, transcription model and options, …"""

    # ---- convenience -----------------------------------------------------------------
    def agent_turns(self) -> list[tuple[int, Turn]]:
        return [(i, t) for i, t in enumerate(self.turns) if t.speaker == "agent"]

    def customer_turns(self) -> list[tuple[int, Turn]]:
        return [(i, t) for i, t in enumerate(self.turns) if t.speaker == "customer"]

    @property
    def has_timestamps(self) -> bool:
        return bool(self.turns) and all(t.start_s is not None for t in self.turns)

    # ---- (de)serialisation -----------------------------------------------------------
    def to_json(self) -> str:
        return self.model_dump_json(indent=1, exclude_none=False)

    @classmethod
    def from_json(cls, text: str, *, path: str | Path | None = None) -> "Conversation":
        """Parse conversation JSON; errors name the file and the field."""
        try:
            data = json.loads(text)
            return cls.from_dict(data, path=path)
        except json.JSONDecodeError as exc:
            raise IngestError(
                f"not valid JSON ({exc.msg})", path=path, place=f"line {exc.lineno}",
                fix="Re-create it with `qa ingest` or `qa transcribe`.") from None
        except RecursionError:  # `[[[[…` 100,000 deep: Python's parser recurses
            raise IngestError("nested too deeply to read (Python's recursion limit)", path=path,
                              fix="Re-create it with `qa ingest` or `qa transcribe`.") from None

    @classmethod
    def from_dict(cls, data: Any, *, path: str | Path | None = None) -> "Conversation":
        if isinstance(data, dict):
            version = data.get("schema_version", SCHEMA_VERSION)
            if isinstance(version, int) and version > SCHEMA_VERSION:
                raise IngestError(
                    f"conversation schema version {version} is newer than this qa understands "
                    f"({SCHEMA_VERSION})", path=path, fix="Upgrade qa.")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
            raise IngestError(
                f"not a qa conversation file: {loc}: {first['msg']}"
                + (f" ({exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""),
                path=path, fix="Conversation JSON is written by `qa ingest` / `qa transcribe`; "
                "for a chat export use `qa ingest` with --format.") from None

    @classmethod
    def load(cls, path: str | Path) -> "Conversation":
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise IngestError("not UTF-8 text", path=p) from None
        except OSError as exc:
            raise IngestError(f"cannot read: {exc.strerror}", path=p) from None
        if "\\u" in text:  # a lone surrogate escape (an edited file) could not be written out
            from .ingest.common import fix_lone_surrogates

            text = fix_lone_surrogates(text, p)
        return cls.from_json(text, path=p)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hash a file in chunks (bounded memory for multi-hour recordings)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
