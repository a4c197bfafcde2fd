"""Input files: finding them (files or folders, folders searched recursively by
extension) and reading them into conversations (:func:`iter_inputs`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

if TYPE_CHECKING:
    from .conversation import Conversation
    from .store import ConversationIds

AUDIO_EXTS = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".wma", ".webm", ".mp4")
CHAT_EXTS = (".jsonl", ".ndjson", ".csv", ".json")
TRANSCRIPT_EXTS = (".vtt", ".srt")
TEXT_EXTS = CHAT_EXTS + TRANSCRIPT_EXTS


def discover(inputs: Iterable[str | Path], exts: Iterable[str]) -> tuple[list[Path], list[Path]]:
    """Expand files and folders into a sorted, de-duplicated list of files.

    Files named explicitly are kept whatever their extension (the reader decides);
    folders are searched recursively for ``exts`` (case-insensitive), skipping hidden
    files and folders. Everything with such a name that is not a folder is kept, a link
    to nothing or a named pipe included: the reader makes it that input's failure rather
    than leaving it out unsaid. Returns ``(files, missing)`` where ``missing`` are inputs
    that do not exist.
    """
    exts = tuple(e.lower() for e in exts)
    seen: set[Path] = set()
    files: list[Path] = []
    missing: list[Path] = []
    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            found = sorted(
                f for f in p.rglob("*")
                if f.suffix.lower() in exts and not f.is_dir()
                and not any(part.startswith(".") for part in f.relative_to(p).parts)
            )
        elif p.exists():
            found = [p]
        else:
            missing.append(p)
            continue
        for f in found:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                files.append(f)
    return files, missing


def is_audio(path: Path) -> bool:
    return path.suffix.lower() in AUDIO_EXTS


NOT_REGULAR_FIX = ("Give qa the file itself: copy the data to a regular file, or restore what "
                   "the link points to.")


def not_regular(path: str | Path) -> str | None:
    """Why ``path`` is not an input qa can read, when it exists but is not a regular file
    (a named pipe would block the read for ever, ``/dev/zero`` would fill the memory), or
    a link to nothing; None for a regular file, or for one that cannot be stat'ed (the
    reader's own open then gives the reason)."""
    import os
    import stat

    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        try:
            if os.path.islink(path):
                return f"a link to a file that is not there ({os.readlink(path)})"
        except (OSError, ValueError):
            pass
        return None
    if stat.S_ISREG(mode):
        return None
    kind = ("a folder" if stat.S_ISDIR(mode) else "a named pipe" if stat.S_ISFIFO(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a socket" if stat.S_ISSOCK(mode) else "a special file")
    return f"not a regular file ({kind})"


def iter_inputs(files: Iterable[str | Path], *, ingest_options=None,
                on_error: Callable[[Path, Exception], None] | None = None,
                ids: "ConversationIds | None" = None) -> Iterator[tuple[Conversation, Path]]:
    """Read input files into conversations, one file at a time: qa conversation JSON as
    it is, anything else (chat exports, transcripts) through :func:`qa.ingest.parse_file`.

    A file that cannot be read, or a conversation id seen before (``ids``, a
    :class:`qa.store.ConversationIds`, the check shared by the stages of a run), goes to
    ``on_error`` (raised when there is none); the rest are yielded with the file they
    came from.
    """
    from .errors import QAError
    from .ingest import IngestOptions, parse_file, read_conversation_file
    from .store import ConversationIds

    options = ingest_options or IngestOptions()
    ids = ConversationIds() if ids is None else ids

    def fail(f: Path, exc: QAError) -> None:
        if on_error is None:
            raise exc
        on_error(f, exc)

    for f in map(Path, files):
        try:
            conv = read_conversation_file(f)
        except QAError as exc:
            fail(f, exc)
            continue
        if conv is not None:
            convs = [conv]
        else:
            result = parse_file(f, options)
            for exc in result.errors:
                fail(f, exc)
            convs = result.conversations
        for conv in convs:
            owner = ids.claim(conv.id, f)
            if owner is not None:
                fail(f, ids.text_error(conv.id, f, owner))
                continue
            yield conv, f
