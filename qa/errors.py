"""Domain exceptions. The library raises these; the CLI turns them into one-line
messages (never a traceback) at its edge.

Every error says *where* (file, and line or key when known) and *what to do*.
"""

from __future__ import annotations

import re

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(m: re.Match) -> str:
    ch = m.group()
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte of a file name (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def unicode_path(path: object) -> str:
    """``str(path)``, or, when the name holds bytes that are not UTF-8 (which JSON and
    Parquet cannot store), its :func:`display` form with those bytes as ``\\xNN``."""
    s = str(path)
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return display(s)


_ESCAPED = re.compile(r"\\(x[0-9a-f]{2}|u[0-9a-f]{4}|[nrt])")


def fs_path(text: str) -> str:
    """The file name :func:`unicode_path` wrote as ``text``: itself when such a file exists,
    else with its ``\\xNN`` escapes turned back into the bytes of the name (an audio path
    recorded from a name that is not UTF-8). The caller checks what it finds."""
    import os

    if os.path.lexists(text) or not _ESCAPED.search(text):
        return text
    named = {"n": "\n", "r": "\r", "t": "\t"}

    def back(m: re.Match) -> str:
        code = m.group(1)
        if code in named:
            return named[code]
        value = int(code[1:], 16)
        return chr(0xDC00 + value) if code[0] == "x" and value >= 0x80 else chr(value)

    return _ESCAPED.sub(back, text)


def display(text: object) -> str:
    """``text`` made safe for one line of a terminal or a CSV cell: control characters
    (newlines, escape sequences, NUL …), Unicode line and bidi-override characters and
    lone surrogates (undecodable bytes of a file name) are written as backslash escapes
    (``\\n``, ``\\x1b``, ``\\xff``); everything else is kept as is."""
    s = str(text)
    return _UNSAFE.sub(_escape, s) if _UNSAFE.search(s) else s


_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _picture(m: re.Match) -> str:
    code = ord(m.group())
    return "\u2421" if code == 0x7F else chr(0x2400 + code)


def control_pictures(text: str) -> str:
    """``text`` with its control characters (NUL, ESC, BEL … and DEL; real chat exports
    carry them) shown as their Unicode "control pictures" (``\x1b`` -> ``␛``, ``\x00`` ->
    ``␀``): visible, and inert in a page, a spreadsheet or a terminal. Tab, newline and
    carriage return are kept."""
    return _CONTROL.sub(_picture, text) if _CONTROL.search(text) else text


class QAError(Exception):
    """Base class for every error a user can cause and fix.

    ``path`` is the file the problem is in, ``place`` a line / key / row inside it,
    ``fix`` a sentence saying what to do about it.
    """

    stage = "qa"

    def __init__(self, message: str, *, path: str | None = None, place: str | None = None,
                 fix: str | None = None):
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None
        self.place = place
        self.fix = fix

    @property
    def location(self) -> str:
        """``path:place``, made safe for one line (:func:`display`)."""
        if self.path and self.place:
            return display(f"{self.path}:{self.place}")
        return display(self.path or self.place or "")

    @property
    def reason(self) -> str:
        """The message without the location: what goes in failures.csv's reason column."""
        text = self.message
        if self.fix:
            end = "" if text.endswith((".", "!", "?")) else "."
            text = f"{text}{end} Fix: {self.fix}"
        return display(text)

    def __str__(self) -> str:
        loc = self.location
        return f"{loc}: {self.reason}" if loc else self.reason


class IngestError(QAError):
    """A chat export or transcript that cannot be read."""

    stage = "ingest"


class MetadataError(QAError):
    """A sidecar CSV or filename pattern problem, or a conversation with no agent."""

    stage = "ingest"


class AudioDecodeError(QAError):
    """A recording that cannot be decoded, or holds nothing to transcribe."""

    stage = "transcribe"


class ModelNotFoundError(QAError):
    """A Whisper or spaCy model that is not on disk."""

    stage = "transcribe"


class RubricError(QAError):
    """A rubric YAML file with one or more problems. ``problems`` holds each one."""

    stage = "rubric"

    def __init__(self, message: str, *, path: str | None = None, place: str | None = None,
                 fix: str | None = None, problems: list[str] | None = None):
        super().__init__(message, path=path, place=place, fix=fix)
        self.problems = problems or []

    def __str__(self) -> str:
        if self.problems:
            return "\n".join(self.problems)
        return super().__str__()


class ScoreError(QAError):
    """A conversation that cannot be scored."""

    stage = "score"


class ReportError(QAError):
    """A results folder that cannot be reported on."""

    stage = "report"


class OutputLockedError(QAError):
    """Another qa process is writing to the same output folder."""

    stage = "run"
