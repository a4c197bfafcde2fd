"""Pieces every reader shares: decoding bytes, speaker labels, timestamps, and turning
parsed chat messages into :class:`~qa.conversation.Conversation` objects."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from ..conversation import Conversation, Source, Turn
from ..errors import IngestError, MetadataError, QAError, display
from ..metadata import parse_datetime

log = logging.getLogger("qa.ingest")

# ---------------------------------------------------------------- fields and mapping
#: Fields a chat message (row, line or JSON object) can carry, and the column names
#: read for each when no ``--map`` is given (first one present wins).
MESSAGE_FIELDS: dict[str, tuple[str, ...]] = {
    "conversation_id": ("conversation_id",),
    "speaker": ("speaker", "role"),
    "text": ("text", "message"),
    "timestamp": ("timestamp", "datetime", "time"),
    "agent_id": ("agent_id",),
    "agent_name": ("agent_name",),
    "team": ("team",),
    "customer_name": ("customer_name",),
    "channel": ("channel",),
    "message_id": ("message_id",),
    "author": ("author",),
    # JSON list of conversations: the key holding each conversation's messages
    "messages": ("messages", "turns"),
}
REQUIRED_FIELDS = ("speaker", "text")
CONVERSATION_FIELDS = ("agent_id", "agent_name", "team", "customer_name", "channel")
CHANNEL_NAMES = ("chat", "voice", "email", "social")
CHANNEL_ALIASES = {"call": "voice", "phone": "voice", "e-mail": "email", "mail": "email",
                   "twitter": "social", "facebook": "social", "instagram": "social",
                   "messenger": "social", "sms": "chat", "webchat": "chat", "live chat": "chat"}
"""Other names exports use for a channel."""


def parse_map_options(values: Iterable[str]) -> dict[str, str]:
    """Parse ``--map field=column`` options into ``{field: column}``.

    Raises :class:`ValueError` (a usage error) on a malformed item or unknown field.
    """
    mapping: dict[str, str] = {}
    for raw in values:
        fld, sep, col = raw.partition("=")
        fld, col = fld.strip(), col.strip()
        if not sep or not fld or not col:
            raise ValueError(f"{raw!r} is not FIELD=COLUMN, e.g. --map text=body")
        if fld not in MESSAGE_FIELDS:
            raise ValueError(f"unknown field {fld!r} in --map {raw}; "
                             f"fields: {', '.join(MESSAGE_FIELDS)}")
        mapping[fld] = col
    return mapping


def column_for(fld: str, columns: Iterable[str], mapping: dict[str, str] | None) -> str | None:
    """The column that holds ``fld``: the mapped one, else the first default name present
    (column names compared case-insensitively)."""
    cols = list(columns)
    lower = {c.lower(): c for c in cols}
    if mapping and fld in mapping:
        want = mapping[fld]
        return want if want in cols else lower.get(want.lower())
    for name in MESSAGE_FIELDS[fld]:
        if name in lower:
            return lower[name]
    return None


def map_fix(fld: str, columns: Iterable[str]) -> str:
    """A ``--map`` suggestion for a missing field, guessing the column when one looks right."""
    guesses = {"speaker": ("author_role", "sender_type", "from", "sender", "author", "user_type", "who"),
               "text": ("body", "content", "msg", "utterance", "message_text"),
               "timestamp": ("created_at", "sent_at", "date", "ts")}
    cols = list(columns)
    lower = {c.lower(): c for c in cols}
    for g in guesses.get(fld, ()):
        if g in lower:
            return f"--map {fld}={lower[g]}"
    return f"--map {fld}=COLUMN (one of: {', '.join(cols) or 'none'})"


# ---------------------------------------------------------------- speaker labels
DEFAULT_LABELS: dict[str, tuple[str, ...]] = {
    "agent": ("agent", "representative", "rep", "support", "staff", "operator", "advisor"),
    "customer": ("customer", "client", "caller", "user", "visitor", "guest"),
    "system": ("system", "bot", "action", "notice"),
}


@dataclass(frozen=True)
class SpeakerLabels:
    """How source speaker labels map to roles (compared case-insensitively, trimmed).

    The defaults (``DEFAULT_LABELS``) always apply; ``agent`` / ``customer`` / ``system``
    add labels, and win over a default that names another role.
    """

    agent: tuple[str, ...] = ()
    customer: tuple[str, ...] = ()
    system: tuple[str, ...] = ()

    def table(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for role, labels in DEFAULT_LABELS.items():
            for label in labels:
                out[label] = role
        for role in ("agent", "customer", "system"):
            for label in getattr(self, role):
                out[label.strip().lower()] = role
        return out

    def role(self, label: Any) -> str | None:
        if label is None:
            return None
        return self.table().get(str(label).strip().lower())


class LabelResolver:
    """Resolves labels for one file and collects the ones that match no role."""

    def __init__(self, labels: SpeakerLabels | None):
        self._table = (labels or SpeakerLabels()).table()
        self.unknown: dict[str, str] = {}  # label -> first place seen
        self.seen: dict[str, None] = {}

    def role(self, label: Any, place: str) -> str | None:
        key = "" if label is None else str(label).strip()
        self.seen.setdefault(key, None)
        role = self._table.get(key.lower())
        if role is None:
            self.unknown.setdefault(key, place)
        return role

    def check(self, path: Path) -> None:
        if not self.unknown:
            return
        unknown = list(self.unknown)
        shown = ", ".join(repr(u) for u in unknown[:12]) + (" …" if len(unknown) > 12 else "")
        seen = ", ".join(repr(s) for s in list(self.seen)[:12]) + (" …" if len(self.seen) > 12 else "")
        first = unknown[0] or "LABEL"
        if "" in self.unknown:
            raise IngestError(
                "a message has no speaker label", path=path, place=self.unknown[""],
                fix=f"Every message needs a speaker (labels seen: {seen}).")
        raise IngestError(
            f"speaker labels that match neither agent nor customer: {shown} (labels seen: {seen})",
            path=path, place=self.unknown[first],
            fix=(f"Say which role it is: --agent-label {_quote(first)} or "
                 f"--customer-label {_quote(first)}." if len(unknown) == 1 else
                 f"Say which role each is, e.g. --agent-label {_quote(first)} "
                 f"--customer-label {_quote(unknown[1])}."))


def _quote(label: str) -> str:
    return label if label and all(c.isalnum() or c in "-_.@" for c in label) else repr(label)


# ---------------------------------------------------------------- decoding
def decode_text(data: bytes, path: Path) -> str:
    """UTF-8 text of a file; a BOM is dropped, CRLF/CR become LF.

    Raises :class:`IngestError` for an empty file or bytes that are not UTF-8, naming
    the byte offset and line.
    """
    if not data.strip():
        raise IngestError("the file is empty", path=path,
                          fix="Export the conversations again, or remove the file from the inputs.")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise IngestError(
            f"not UTF-8 text: byte 0x{data[exc.start]:02x} at byte offset {exc.start}",
            path=path, place=f"line {line}",
            fix="Save the export as UTF-8 (in Excel: CSV UTF-8; or "
                "`iconv -f WINDOWS-1252 -t UTF-8 in.csv > out.csv`).") from None
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise IngestError("the file is empty", path=path,
                          fix="Export the conversations again, or remove the file from the inputs.")
    return text


# ---------------------------------------------------------------- JSON safety
MAX_JSON_DEPTH = 64
"""Deepest nesting of JSON arrays/objects qa reads. Real exports nest 3-6 levels; Python's
parser would recurse (and end the whole run) on a file nested 100,000 levels deep."""

_JSON_STRING = re.compile(r'"[^"\\\n]*(?:\\.[^"\\\n]*)*"')
_SURROGATE_ESCAPE = re.compile(
    r"(\\\\)|(\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2})|(\\u[dD][89a-fA-F][0-9a-fA-F]{2})")


_PAIR = re.compile(r"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


def check_json_depth(text: str, path: Path, limit: int = MAX_JSON_DEPTH) -> None:
    """Raise :class:`IngestError`, naming the line, when JSON text (a document or JSON
    lines) nests arrays/objects deeper than ``limit``. Linear time, no recursion: string
    literals are blanked (they cannot hold a raw newline, so line numbers stay right), then
    the brackets' running depth is summed with numpy."""
    import numpy as np

    if text.count("[") + text.count("{") <= limit:
        return
    bare = _JSON_STRING.sub('""', text)
    data = np.frombuffer(bare.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    step = np.zeros(data.shape, dtype=np.int8)
    step[(data == ord("[")) | (data == ord("{"))] = 1
    step[(data == ord("]")) | (data == ord("}"))] = -1
    if not step.any():
        return
    depth = np.cumsum(step, dtype=np.int64)
    over = np.flatnonzero(depth > limit)
    if over.size:
        at = int(over[0])
        line = int(np.count_nonzero(data[:at] == ord("\n"))) + 1
        raise IngestError(
            f"JSON nested more than {limit} levels deep", path=path, place=f"line {line}",
            fix="This is not a chat export or transcript qa can read (real exports nest a few "
                "levels); check the file, or leave it out.")


def fix_lone_surrogates(text: str, path: Path) -> str:
    """JSON text with every lone UTF-16 surrogate escape (``"\\ud800"`` without its pair,
    as a cut emoji leaves it) replaced by ``\\ufffd`` (the replacement character), and a
    warning naming the lines. Such a string is valid JSON but not valid Unicode, so it
    could not be written, scored or shown. Pairs (``\\ud83d\\ude00``) are kept."""
    if "\\u" not in text or not _SURROGATE.search(text) or not _SURROGATE.search(_PAIR.sub("", text)):
        return text  # (the quick test may see an escaped backslash as an escape: then below decides)
    lines: list[int] = []
    pos, line = 0, 1

    def sub(m: re.Match) -> str:
        nonlocal pos, line
        if m.group(3) is None:
            return m.group()
        line += text.count("\n", pos, m.start())
        pos = m.start()
        if not lines or lines[-1] != line:
            lines.append(line)
        return "\\ufffd"

    fixed = _SURROGATE_ESCAPE.sub(sub, text)
    if lines:
        shown = ", ".join(str(n) for n in lines[:10]) + (" …" if len(lines) > 10 else "")
        log.warning("%s: line%s %s: a lone surrogate escape (half of a UTF-16 pair, e.g. a cut "
                    "emoji) is not text; replaced by U+FFFD", display(path),
                    "s" if len(lines) > 1 else "", shown)
    return fixed


def safe_json_text(text: str, path: Path) -> str:
    """JSON text that :func:`json.loads` can parse without recursing too deep, and whose
    strings are valid Unicode (:func:`check_json_depth`, :func:`fix_lone_surrogates`)."""
    check_json_depth(text, path)
    return fix_lone_surrogates(text, path)


MAX_CONVERSATION_CHARS = 5 * 1024 * 1024
"""Most text qa keeps of one conversation (5,242,880 characters): beyond it the longest
turns are cut, with a warning. Scoring costs about 90 bytes of memory per character
(spaCy's tokens), so this bounds a run's memory whatever one conversation holds, in one
message or in many (README, "Bad input")."""

MAX_TURN_CHARS = MAX_CONVERSATION_CHARS
"""The longest one turn can be (the whole budget: the conversation's other turns are short)."""

MAX_TURNS = 20_000
"""Most turns one conversation may have (a day-long call has a few thousand): each turn
costs memory of its own when scored, so a conversation with more fails, saying so. An
export whose conversation id column is wrong often puts every message under one id."""


def _cap(lengths: list[int], budget: int) -> int:
    """The largest length ``c`` with ``sum(min(n, c) for n in lengths) <= budget``."""
    rest, left = budget, len(lengths)
    for n in sorted(lengths):
        share = rest // left
        if n > share:
            return share
        rest -= n
        left -= 1
    return max(lengths, default=0)


def bound_turns(conv: Conversation, path: Path, limit: int = MAX_CONVERSATION_CHARS,
                max_turns: int = MAX_TURNS) -> None:
    """Bound what scoring ``conv`` costs: more than ``max_turns`` turns is an
    :class:`IngestError`; text beyond ``limit`` characters in all is cut from the longest
    turns (each keeps at least its first ``c`` characters, ``c`` as large as the budget
    allows), each cut recorded in ``conv.metadata["truncated_turns"]`` with a warning."""
    if len(conv.turns) > max_turns:
        raise IngestError(
            f"conversation {conv.id} has {len(conv.turns):,} turns; qa scores at most "
            f"{max_turns:,} per conversation (a bound on memory)", path=str(path),
            fix="If the export puts several conversations under one id, point qa at the right "
                "id column (--map conversation_id=COLUMN); otherwise split the conversation.")
    lengths = [len(t.text) for t in conv.turns]
    if sum(lengths) <= limit:
        return
    cap = _cap(lengths, limit)
    cut = []
    for i, t in enumerate(conv.turns):
        if len(t.text) > cap:
            cut.append({"turn": i, "chars": len(t.text), "kept": cap})
            t.text = t.text[:cap]
    conv.metadata["truncated_turns"] = cut
    for c in cut[:3]:
        log.warning("%s: conversation %s turn %d has %s characters; kept the first %s for "
                    "scoring (a bound on memory: %s characters per conversation)", display(path),
                    display(conv.id), c["turn"] + 1, f"{c['chars']:,}", f"{cap:,}", f"{limit:,}")
    if len(cut) > 3:
        log.warning("%s: conversation %s: %d more turn%s cut to %s characters", display(path),
                    display(conv.id), len(cut) - 3, "" if len(cut) == 4 else "s", f"{cap:,}")


# ---------------------------------------------------------------- timestamps
def to_utc(value: Any, path: Path, place: str) -> tuple[datetime, bool]:
    """Parse a timestamp (ISO 8601 string, or epoch seconds/milliseconds) to an aware
    UTC datetime. Returns ``(utc, had_zone)``."""
    if isinstance(value, bool):
        raise IngestError(f"cannot read the timestamp {value!r}", path=path, place=place,
                          fix="Use ISO 8601, e.g. 2026-05-01T09:00:05Z.")
    raw = str(value).strip()
    try:
        dt = parse_datetime(raw).astimezone(timezone.utc)
    except (MetadataError, ValueError, OverflowError, OSError):
        raise IngestError(
            f"cannot read the timestamp {raw!r}", path=path, place=place,
            fix="Use ISO 8601 with a time zone, e.g. 2026-05-01T09:00:05Z, or epoch seconds, "
                "the same way on every line.") from None
    return dt, not _looks_naive(raw)


def _looks_naive(raw: str) -> bool:
    try:
        float(raw)
        return False  # epoch times are UTC by definition
    except ValueError:
        pass
    if raw.endswith(("Z", "z")):
        return False
    tail = raw[10:]
    return "+" not in tail and "-" not in tail


# ---------------------------------------------------------------- messages -> conversations
@dataclass
class Message:
    """One chat message as a reader found it, before roles and times are resolved."""

    place: str
    """Where it is in the file: ``line 3``, ``row 4``, ``item 2``."""
    conversation_id: str | None
    speaker: Any
    text: str
    timestamp: Any = None
    message_id: str | None = None
    author: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    """Conversation-level fields carried on the message (agent_id, team, …)."""


@dataclass
class ConvOutcome:
    """A conversation built from one file, or the error that stopped it."""

    conversation: Conversation | None
    error: QAError | None = None
    conversation_id: str | None = None


def clean(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        v = value.strip()
        return v or None
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value


def build_chats(messages: list[Message], *, path: Path, fmt: str, sha256: str,
                labels: SpeakerLabels | None, default_id: str) -> list[ConvOutcome]:
    """Group messages by conversation id (file order of first appearance), resolve
    roles and times, and build conversations.

    File-level problems (unknown speaker labels, unreadable or missing timestamps) raise
    :class:`IngestError`; a conversation with nothing to score is returned as an error
    outcome so the rest of the file still loads.
    """
    resolver = LabelResolver(labels)
    groups: dict[str, list[tuple[Message, str | None]]] = {}
    for m in messages:
        cid = clean(m.conversation_id)
        cid = default_id if cid is None else str(cid)
        role = resolver.role(m.speaker, m.place)
        groups.setdefault(cid, []).append((m, role))
    resolver.check(path)

    # timestamps: every message of a conversation has one, or none has
    for cid, items in groups.items():
        stamps = [clean(m.timestamp) is not None for m, _ in items]
        if any(stamps) and not all(stamps):
            missing = items[stamps.index(False)][0]
            raise IngestError(
                f"conversation {cid}: a message has no timestamp while others have one",
                path=path, place=missing.place,
                fix="Give every message a timestamp, or none (then times are unknown).")
    stamped = [m for m in messages if clean(m.timestamp) is not None]
    times: dict[int, datetime] = {}
    zones: set[bool] = set()
    first_good: str | None = None
    for m in stamped:
        try:
            dt, had_zone = to_utc(m.timestamp, path, m.place)
        except IngestError as exc:
            if first_good is not None:
                exc.message += f", while other lines use {first_good!r}: mixed date formats"
            raise
        first_good = first_good or str(m.timestamp)
        zones.add(had_zone)
        times[id(m)] = dt
    if len(zones) > 1:
        log.warning("%s: some timestamps have a time zone and some do not; those without "
                    "one are taken as UTC", path)

    out: list[ConvOutcome] = []
    for cid, items in groups.items():
        try:
            out.append(ConvOutcome(_build_one(cid, items, times, path=path, fmt=fmt,
                                              sha256=sha256), conversation_id=cid))
        except QAError as exc:
            out.append(ConvOutcome(None, exc, conversation_id=cid))
    return out


def _build_one(cid: str, items: list[tuple[Message, str | None]], times: dict[int, datetime], *,
               path: Path, fmt: str, sha256: str) -> Conversation:
    # stable sort by time (file order kept for ties)
    if items and id(items[0][0]) in times:
        items = sorted(items, key=lambda it: times[id(it[0])])
    # duplicate message ids: keep the first
    seen_ids: set[str] = set()
    kept: list[tuple[Message, str]] = []
    for m, role in items:
        mid = clean(m.message_id)
        if mid is not None:
            mid = str(mid)
            if mid in seen_ids:
                log.warning("%s:%s: conversation %s: duplicate message id %s, kept the first",
                            path, m.place, cid, mid)
                continue
            seen_ids.add(mid)
        kept.append((m, role))

    conv_fields: dict[str, Any] = {}
    extra_agents: list[str] = []
    for m, _ in kept:
        for k in CONVERSATION_FIELDS:
            v = clean(m.fields.get(k))
            if v is None:
                continue
            v = str(v)
            if k not in conv_fields:
                conv_fields[k] = v
            elif k == "agent_id" and v != conv_fields[k] and v not in extra_agents:
                extra_agents.append(v)
    channel = conv_fields.pop("channel", "chat").lower()
    channel = CHANNEL_ALIASES.get(channel, channel)
    if channel not in CHANNEL_NAMES:
        raise IngestError(f"conversation {cid}: unknown channel {channel!r}", path=path,
                          fix="Use chat, voice, email or social in the channel column.")

    timed = bool(kept) and id(kept[0][0]) in times
    t0 = times[id(kept[0][0])] if timed else None
    turns = []
    for m, role in kept:
        start = (times[id(m)] - t0).total_seconds() if t0 is not None else None
        turns.append(Turn(speaker=role, text="" if m.text is None else str(m.text),
                          start_s=start, end_s=start,
                          author=None if clean(m.author) is None and m.speaker is None
                          else str(clean(m.author) or m.speaker),
                          message_id=None if clean(m.message_id) is None else str(m.message_id)))
    conv = Conversation(
        id=cid, channel=channel, agent_id=conv_fields.pop("agent_id", ""),
        source=Source(path=str(path), sha256=sha256, format=fmt), turns=turns,
        started_at=t0, duration_s=turns[-1].start_s if t0 is not None and turns else None,
        **conv_fields)
    if extra_agents:
        conv.metadata["other_agent_ids"] = extra_agents
        log.warning("%s: conversation %s has messages from several agent ids; scored for %s "
                    "(others: %s)", path, cid, conv.agent_id, ", ".join(extra_agents))
    return conv


def require_agent_turns(conv: Conversation, path: Path) -> None:
    if not conv.agent_turns():
        raise IngestError(
            f"conversation {conv.id} has no agent turns: nothing to score", path=path,
            fix="Check the speaker labels (--agent-label), or leave this conversation out.")
