"""Domain exceptions. The library raises these; the CLI turns them into one-line
messages (never a traceback) at its edge.

Every error says *where* (file, and line or key when known) and *what to do*.
"""

from __future__ import annotations


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
        if self.path and self.place:
            return f"{self.path}:{self.place}"
        return self.path or self.place or ""

    @property
    def reason(self) -> str:
        """The message without the location: what goes in failures.csv's reason column."""
        text = self.message
        if self.fix:
            end = "" if text.endswith((".", "!", "?")) else "."
            text = f"{text}{end} Fix: {self.fix}"
        return text

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
