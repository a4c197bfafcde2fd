"""Finding input files: files or folders, folders searched recursively by extension."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

AUDIO_EXTS = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".wma", ".webm", ".mp4")
CHAT_EXTS = (".jsonl", ".ndjson", ".csv", ".json")
TRANSCRIPT_EXTS = (".vtt", ".srt")
TEXT_EXTS = CHAT_EXTS + TRANSCRIPT_EXTS


def discover(inputs: Iterable[str | Path], exts: Iterable[str]) -> tuple[list[Path], list[Path]]:
    """Expand files and folders into a sorted, de-duplicated list of files.

    Files named explicitly are kept whatever their extension (the reader decides);
    folders are searched recursively for ``exts`` (case-insensitive), skipping hidden
    files and folders. Returns ``(files, missing)`` where ``missing`` are inputs that
    do not exist.
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
                if f.is_file() and f.suffix.lower() in exts
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
