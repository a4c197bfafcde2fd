"""Chat exports: the canonical JSONL, the same fields as CSV, JSON lists of messages or
conversations, and differently named exports through a column mapping."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from ..errors import IngestError
from .common import (MESSAGE_FIELDS, REQUIRED_FIELDS, Message, column_for, map_fix)


_MISSING = object()


def _lookup(obj: dict, key: str) -> Any:
    """``obj[key]``, where ``key`` may be a dotted path into nested objects; ``_MISSING``
    when it is not there."""
    if key in obj:
        return obj[key]
    cur: Any = obj
    for part in key.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return _MISSING
        cur = cur[part]
    return cur


def _get(obj: dict, key: str | None) -> Any:
    """``obj[key]`` (dotted paths allowed), None when absent."""
    if key is None:
        return None
    v = _lookup(obj, key)
    return None if v is _MISSING else v


def _has(obj: dict, key: str) -> bool:
    return _lookup(obj, key) is not _MISSING


def _keys(obj: dict, mapping: dict[str, str] | None) -> list[str]:
    keys = list(obj)
    for col in (mapping or {}).values():
        if "." in col and col not in keys and _has(obj, col):
            keys.append(col)
    return keys


class _Columns:
    """Which key holds each field, resolved once per file (CSV) or per object (JSON)."""

    def __init__(self, keys: list[str], mapping: dict[str, str] | None):
        self.keys = keys
        self.col = {f: column_for(f, keys, mapping) for f in MESSAGE_FIELDS}

    def missing(self) -> list[str]:
        return [f for f in REQUIRED_FIELDS if self.col[f] is None]

    def id_lookalike(self) -> str | None:
        """With no conversation_id, a column that looks like one (``session_id``, ``thread``):
        reading the file as one conversation would then merge many."""
        if self.col["conversation_id"] is not None:
            return None
        for k in self.keys:
            low = k.lower()
            if any(w in low for w in _ID_WORDS) and k not in self.col.values():
                return k
        return None


_ID_WORDS = ("conversation", "session", "thread", "chat_id", "chatid", "ticket", "dialog",
             "transcript_id", "case_id", "call_id")


def _check_id(cols: _Columns, path: Path, place: str) -> None:
    look = cols.id_lookalike()
    if look is not None:
        raise IngestError(
            f"no 'conversation_id' column, but {look!r} looks like one", path=path, place=place,
            fix=f"Say which column groups messages into conversations with "
                f"--map conversation_id={look}.")


def _missing_error(missing: list[str], keys: list[str], path: Path, place: str, what: str,
                   mapping: dict[str, str] | None) -> IngestError:
    fixes = " ".join(map_fix(f, keys) for f in missing)
    mapped = [f"{f}={mapping[f]}" for f in missing if mapping and f in mapping]
    note = f" (--map {', '.join(mapped)} names a column that is not there)" if mapped else ""
    return IngestError(
        f"{what} has no {' or '.join(repr(f) for f in missing)} column{note}; "
        f"it has: {', '.join(keys) or 'no columns'}",
        path=path, place=place, fix=f"Name the column with {fixes}.")


def _message(obj: dict, cols: _Columns, place: str, conv_defaults: dict[str, Any] | None = None
             ) -> Message:
    c = cols.col
    fields = dict(conv_defaults or {})
    for k in ("agent_id", "agent_name", "team", "customer_name", "channel"):
        v = _get(obj, c[k])
        if v is not None and v != "":
            fields[k] = v
    cid = _get(obj, c["conversation_id"])
    if cid is None and conv_defaults:
        cid = conv_defaults.get("conversation_id")
    return Message(place=place, conversation_id=None if cid is None else str(cid),
                   speaker=_get(obj, c["speaker"]), text=_text(_get(obj, c["text"])),
                   timestamp=_get(obj, c["timestamp"]), message_id=_get(obj, c["message_id"]),
                   author=_get(obj, c["author"]), fields=fields)


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


# ---------------------------------------------------------------- JSONL
def read_jsonl(text: str, path: Path, mapping: dict[str, str] | None) -> list[Message]:
    """One JSON object per line. A broken line fails the whole file, naming the line."""
    messages: list[Message] = []
    cols: _Columns | None = None
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise IngestError(
                f"broken JSON: {exc.msg} (column {exc.colno})", path=path, place=f"line {lineno}",
                fix="Repair or remove that line; the file is not read until every line is valid "
                    "(a conversation with a lost message would be scored wrongly).") from None
        if not isinstance(obj, dict):
            raise IngestError(f"expected a JSON object per line, got {type(obj).__name__}",
                              path=path, place=f"line {lineno}",
                              fix="Write one message object per line.")
        keys = _keys(obj, mapping)
        if cols is None or keys != cols.keys:
            cols = _Columns(keys, mapping)
        missing = cols.missing()
        if missing:
            raise _missing_error(missing, keys, path, f"line {lineno}", "the message", mapping)
        if not messages:
            _check_id(cols, path, f"line {lineno}")
        messages.append(_message(obj, cols, f"line {lineno}"))
    return messages


# ---------------------------------------------------------------- CSV
def read_csv(text: str, path: Path, mapping: dict[str, str] | None) -> list[Message]:
    header_line = text.split("\n", 1)[0]
    delimiter = max(",;\t|", key=header_line.count) if any(d in header_line for d in ",;\t|") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise IngestError("the file is empty", path=path) from None
    header = [h.strip() for h in header]
    cols = _Columns(header, mapping)
    missing = cols.missing()
    if missing:
        raise _missing_error(missing, header, path, "line 1", "the CSV", mapping)
    _check_id(cols, path, "line 1")
    messages: list[Message] = []
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) > len(header):
                raise IngestError(
                    f"{len(row)} cells but the header has {len(header)} columns", path=path,
                    place=f"line {line}",
                    fix="Quote cells that contain the delimiter, e.g. \"Hi, Sam\".")
            obj = dict(zip(header, row))
            messages.append(_message(obj, cols, f"line {line}"))
    except csv.Error as exc:
        raise IngestError(f"broken CSV ({exc})", path=path, place=f"line {reader.line_num}",
                          fix="Repair the quoting on that line.") from None
    return messages


# ---------------------------------------------------------------- JSON
def read_json(data: Any, path: Path, mapping: dict[str, str] | None) -> list[Message]:
    """A JSON list of messages, a list of conversations (each with a list of messages
    under ``messages``/``turns``), one conversation object, or ``{"conversations": [...]}``."""
    if isinstance(data, dict):
        if isinstance(data.get("conversations"), list):
            data = data["conversations"]
        else:
            data = [data]
    if not isinstance(data, list):
        raise IngestError(f"expected a JSON list of messages or conversations, got "
                          f"{type(data).__name__}", path=path,
                          fix="Use --format to name the format, see `qa ingest --help`.")
    if not data:
        raise IngestError("the JSON list is empty: no conversations", path=path)
    messages: list[Message] = []
    conv_ids: dict[str, str] = {}
    for i, item in enumerate(data, start=1):
        place = f"item {i}"
        if not isinstance(item, dict):
            raise IngestError(f"expected an object, got {type(item).__name__}", path=path,
                              place=place, fix="Each item must be a message or a conversation object.")
        keys = _keys(item, mapping)
        msg_key = column_for("messages", keys, mapping)
        if msg_key is not None and isinstance(item.get(msg_key), list):
            conv_messages = _conversation_messages(item, msg_key, keys, path, place, mapping)
            cid = conv_messages[0].conversation_id if conv_messages else None
            if cid is not None and cid in conv_ids:
                raise IngestError(f"conversation id {cid} appears twice (also at {conv_ids[cid]})",
                                  path=path, place=place,
                                  fix="Give each conversation its own id.")
            if cid is not None:
                conv_ids[cid] = place
            messages.extend(conv_messages)
            continue
        cols = _Columns(keys, mapping)
        missing = cols.missing()
        if missing:
            raise _missing_error(missing, keys, path, place, "the message", mapping)
        if i == 1:
            _check_id(cols, path, place)
        messages.append(_message(item, cols, place))
    return messages


def _conversation_messages(conv: dict, msg_key: str, keys: list[str], path: Path, place: str,
                           mapping: dict[str, str] | None) -> list[Message]:
    head = _Columns([k for k in keys if k != msg_key], mapping)
    defaults: dict[str, Any] = {}
    for k in ("conversation_id", "agent_id", "agent_name", "team", "customer_name", "channel"):
        col = head.col[k] or (None if k != "conversation_id" else column_for_id(conv))
        v = _get(conv, col)
        if v is not None and v != "":
            defaults[k] = v
    if "conversation_id" not in defaults:
        raise IngestError("a conversation has no conversation_id (or id)", path=path, place=place,
                          fix="Add an id to each conversation, or --map conversation_id=KEY.")
    if not conv[msg_key]:
        raise IngestError(f"conversation {defaults['conversation_id']} has no messages",
                          path=path, place=place,
                          fix="Leave empty conversations out of the export.")
    out = []
    for j, obj in enumerate(conv[msg_key], start=1):
        mplace = f"{place} {msg_key}[{j}]"
        if not isinstance(obj, dict):
            raise IngestError(f"expected a message object, got {type(obj).__name__}", path=path,
                              place=mplace)
        mkeys = _keys(obj, mapping)
        cols = _Columns(mkeys, mapping)
        missing = cols.missing()
        if missing:
            raise _missing_error(missing, mkeys, path, mplace, "the message", mapping)
        m = _message(obj, cols, mplace, defaults)
        m.conversation_id = str(defaults["conversation_id"])
        out.append(m)
    return out


def column_for_id(conv: dict) -> str | None:
    return "id" if "id" in conv else None
