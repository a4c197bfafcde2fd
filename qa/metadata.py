"""Metadata for inputs that carry none: a sidecar CSV or a file-name pattern.

Sidecar CSV (``--meta calls.csv``): one row per file or conversation. The key column is
``file`` (a file name, with or without folders and extension) or ``conversation_id``.
Known columns: ``agent_id``, ``agent_name``, ``team``, ``started_at``, ``customer_name``,
``channel``; every other column goes into the conversation's ``metadata``.

File-name pattern (``--name-pattern "{agent_id}_{date}_{call_id}"``): fields in braces
are read from the file name (without extension). ``date`` / ``started_at`` become the
start time, ``call_id`` / ``conversation_id`` the conversation id, the known columns
above their fields, anything else goes into ``metadata``.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .conversation import Conversation
from .errors import MetadataError, unicode_path

KNOWN_FIELDS = ("agent_id", "agent_name", "team", "started_at", "customer_name", "channel")
KEY_COLUMNS = ("file", "conversation_id", "call_id", "id")


def parse_datetime(value: str, *, path: str | None = None, place: str | None = None) -> datetime:
    """Parse ISO-8601 dates and times (``2026-05-01``, ``2026-05-01T09:00:05Z``,
    ``2026-05-01 09:00:05+02:00``, ``20260501``, ``20260501T090005``). Naive times are
    taken as UTC."""
    v = str(value).strip()
    if re.fullmatch(r"\d{8}", v):
        v = f"{v[:4]}-{v[4:6]}-{v[6:]}"
    elif re.fullmatch(r"\d{8}[T_-]?\d{6}", v):
        v = f"{v[:4]}-{v[4:6]}-{v[6:8]}T{v[-6:-4]}:{v[-4:-2]}:{v[-2:]}"
    if v.endswith(("Z", "z")):
        v = v[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(v)
    except ValueError:
        try:  # epoch seconds / milliseconds
            num = float(v)
        except ValueError:
            raise MetadataError(
                f"cannot read the date/time {value!r}", path=path, place=place,
                fix="Use ISO 8601, e.g. 2026-05-01T09:00:05Z.") from None
        if num > 1e11:
            num /= 1000.0
        return datetime.fromtimestamp(num, tz=timezone.utc)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt


@dataclass
class MetaRow:
    """Fields for one file or conversation."""

    fields: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    conversation_id: str | None = None


class Metadata:
    """Lookup of metadata by file or conversation id, from a sidecar CSV and/or a pattern."""

    def __init__(self, sidecar: str | Path | None = None, name_pattern: str | None = None):
        self.sidecar_path = str(sidecar) if sidecar else None
        self.by_key: dict[str, MetaRow] = {}
        self.pattern = compile_name_pattern(name_pattern) if name_pattern else None
        self.name_pattern = name_pattern
        if sidecar:
            self._load_sidecar(Path(sidecar))

    # ---------------------------------------------------------------- sidecar
    def _load_sidecar(self, path: Path) -> None:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise MetadataError(f"cannot read metadata CSV: {exc.strerror}", path=str(path)) from None
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise MetadataError("metadata CSV is not UTF-8", path=str(path),
                                fix="Save it as UTF-8 (CSV UTF-8 in Excel).") from None
        reader = csv.DictReader(text.splitlines())
        cols = [c.strip() for c in (reader.fieldnames or [])]
        key_col = next((c for c in KEY_COLUMNS if c in cols), None)
        if key_col is None:
            raise MetadataError(
                f"metadata CSV has no key column (has: {', '.join(cols) or 'nothing'})",
                path=str(path), place="line 1",
                fix="Add a 'file' column with each recording's file name, or 'conversation_id'.")
        for lineno, row in enumerate(reader, start=2):
            row = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k}
            key = row.get(key_col, "")
            if not key:
                continue
            meta = MetaRow()
            for k, v in row.items():
                if k == key_col or v == "":
                    continue
                if k == "started_at":
                    meta.fields[k] = parse_datetime(v, path=str(path), place=f"line {lineno}")
                elif k in KNOWN_FIELDS:
                    meta.fields[k] = v
                elif k in ("conversation_id", "call_id"):
                    meta.conversation_id = v
                else:
                    meta.extra[k] = v
            if key_col != "file":
                meta.conversation_id = meta.conversation_id or key
            for alias in _keys_for(key):
                self.by_key[alias] = meta

    # ---------------------------------------------------------------- lookup
    def for_file(self, path: str | Path) -> MetaRow:
        """Metadata for an input file: pattern fields first, sidecar row on top."""
        p = Path(path)
        row = MetaRow()
        if self.pattern:
            m = self.pattern.fullmatch(p.stem)
            if m:
                _apply_pattern_fields(row, m.groupdict())
        hit = self._lookup(p)
        if hit:
            row.fields.update(hit.fields)
            row.extra.update(hit.extra)
            row.conversation_id = hit.conversation_id or row.conversation_id
        return row

    def for_conversation(self, conversation_id: str) -> MetaRow | None:
        return self.by_key.get(conversation_id)

    def _lookup(self, p: Path) -> MetaRow | None:
        for key in (str(p), p.as_posix(), p.name, p.stem):
            if key in self.by_key:
                return self.by_key[key]
        return None

    def apply(self, conv: Conversation, path: str | Path | None = None) -> Conversation:
        """Fill the conversation's empty fields from metadata (source data wins over
        the pattern; the sidecar CSV wins over both, since the user wrote it for this)."""
        row = MetaRow()
        if path is not None and self.pattern:
            m = self.pattern.fullmatch(Path(path).stem)
            if m:
                _apply_pattern_fields(row, m.groupdict())
                for k, v in row.fields.items():
                    if getattr(conv, k, None) in (None, ""):
                        setattr(conv, k, v)
                for k, v in row.extra.items():
                    conv.metadata.setdefault(k, v)
        hits = [self.by_key.get(conv.id)]
        if path is not None:
            hits.append(self._lookup(Path(path)))
        for hit in hits:
            if hit is None:
                continue
            for k, v in hit.fields.items():
                setattr(conv, k, v)
            conv.metadata.update(hit.extra)
        return conv


def _keys_for(key: str) -> list[str]:
    p = Path(key)
    return list(dict.fromkeys([key, p.as_posix(), p.name, p.stem]))


def _apply_pattern_fields(row: MetaRow, groups: dict[str, str]) -> None:
    for k, v in groups.items():
        if v is None:
            continue
        v = unicode_path(v)  # bytes of a file name that are not UTF-8 as \xNN (JSON needs text)
        if k in ("date", "started_at", "datetime"):
            try:
                row.fields["started_at"] = parse_datetime(v)
            except MetadataError:
                row.extra[k] = v
        elif k in ("call_id", "conversation_id"):
            row.conversation_id = v
        elif k in KNOWN_FIELDS:
            row.fields[k] = v
        else:
            row.extra[k] = v


def compile_name_pattern(pattern: str) -> re.Pattern[str]:
    """Turn ``{agent_id}_{date}_{call_id}`` into a regex with named groups.

    A field matches as few characters as it can (non-greedy), except the last one,
    which takes the rest of the name; literal text between fields must appear as is.
    """
    names = re.findall(r"\{([^{}]*)\}", pattern)
    for n in names:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", n):
            raise MetadataError(
                f"bad field name {{{n}}} in --name-pattern {pattern!r}",
                fix="Use names like {agent_id}_{date}_{call_id}.")
    if len(set(names)) != len(names):
        raise MetadataError(f"a field appears twice in --name-pattern {pattern!r}")
    if not names:
        raise MetadataError(f"--name-pattern {pattern!r} has no {{field}}",
                            fix='Example: --name-pattern "{agent_id}_{date}_{call_id}".')
    parts = re.split(r"(\{[^{}]*\})", pattern)
    regex = ""
    last = parts[-2] if parts[-1] == "" else None
    for part in parts:
        if part.startswith("{") and part.endswith("}"):
            name = part[1:-1]
            regex += f"(?P<{name}>.+)" if part == last else f"(?P<{name}>.+?)"
        else:
            regex += re.escape(part)
    return re.compile(regex)


def require_agent(conv: Conversation, path: str | Path) -> None:
    if not conv.agent_id:
        raise MetadataError(
            f"conversation {conv.id!r} has no agent id", path=str(path),
            fix="Add an agent_id column/field, or supply one with --meta calls.csv "
                "(columns: file, agent_id, …) or --name-pattern \"{agent_id}_{date}_{call_id}\".")
