"""The output folder: layout, atomic writes, safe file names, failures, a run lock.

```
OUT/
  transcripts/<conversation_id>.json
  results/conversations.parquet, results/criteria.parquet, results/failures.csv
  reports/...
  run.json
```
Every write goes to a temporary file in the same folder and is renamed into place, so
an interrupted run leaves the last good file, never a half-written one.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import tempfile
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from .errors import IngestError, OutputLockedError, display

FAILURE_COLUMNS = ["file", "stage", "reason"]


# ---------------------------------------------------------------- counts in words
def plural(n: int, word: str, many: str | None = None) -> str:
    """``n`` and ``word`` in the right number: "1 team", "2 teams", "1 reply", "3 replies"
    (``many`` when adding "s" is wrong)."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


# ---------------------------------------------------------------- atomic writes
def atomic_write_bytes(path: str | Path, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it into place.

    A killed process never leaves a half-written ``path``. ``durable`` also fsyncs the
    data before the rename, so that a power cut cannot leave an empty file either: worth
    its cost (milliseconds per file) for results, not for the thousands of per-item
    cache files and pages, which a re-run rebuilds or re-validates.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:40]}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path: str | Path, text: str, *, durable: bool = True) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), durable=durable)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it into place on success.

    For writers that want a file name (Polars ``write_parquet``, openpyxl).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:40]}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# ---------------------------------------------------------------- safe names
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
                     *(f"lpt{i}" for i in range(1, 10))}
_SLUG_KEEP = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(value: str, max_len: int = 80) -> str:
    """A file-name-safe, unique slug for an id that came from user data.

    The result never contains a path separator, never starts with a dot, is never a
    Windows reserved name, and is at most ``max_len`` + 9 characters. Ids that are
    already safe are kept as they are; any id that had to be changed gets a short
    hash of the original appended, so two different ids never share a file.
    """
    value = "" if value is None else str(value)
    norm = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")
    slug = _SLUG_KEEP.sub("-", norm).strip(".-_")
    slug = slug[:max_len].rstrip(".-_")
    changed = slug != value or not slug or slug.split(".")[0].lower() in _WINDOWS_RESERVED
    if changed:
        digest = hashlib.sha1(value.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        slug = f"{slug}-{digest}" if slug else f"id-{digest}"
    return slug


# ---------------------------------------------------------------- layout
@dataclass(frozen=True)
class OutDir:
    """Paths inside an output folder."""

    root: Path

    @classmethod
    def at(cls, root: str | Path) -> "OutDir":
        return cls(Path(root))

    @property
    def transcripts(self) -> Path:
        return self.root / "transcripts"

    @property
    def results(self) -> Path:
        return self.root / "results"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def cache(self) -> Path:
        return self.root / ".cache"

    @property
    def failures_csv(self) -> Path:
        return self.results / "failures.csv"

    @property
    def run_json(self) -> Path:
        return self.root / "run.json"

    def transcript_path(self, conversation_id: str) -> Path:
        return self.transcripts / f"{safe_name(conversation_id)}.json"


# ---------------------------------------------------------------- failures
@dataclass(frozen=True)
class Failure:
    """One input that could not be processed, and why."""

    file: str
    stage: str
    reason: str


class ConversationIds:
    """The one duplicate-id check of every stage: which input each conversation id came
    from. A later input whose conversation has the id of an earlier one's fails, whatever
    stage reads it (ingest, transcribe, score, run); nothing is overwritten."""

    def __init__(self) -> None:
        self.owner: dict[str, str] = {}

    def claim(self, cid: str, src: str | Path) -> str | None:
        """Take ``cid`` for ``src``: None when it is new (or ``src``'s already), else the
        input that holds it."""
        prev = self.owner.get(cid)
        if prev is not None and prev != str(src):
            return prev
        self.owner[cid] = str(src)
        return None

    def holder(self, cid: str, src: str | Path) -> str | None:
        """The other input that holds ``cid`` (None when none does), without claiming it."""
        prev = self.owner.get(cid)
        return prev if prev is not None and prev != str(src) else None

    def release(self, cid: str, src: str | Path) -> None:
        """Give ``cid`` back (its conversation could not be written)."""
        if self.owner.get(cid) == str(src):
            del self.owner[cid]

    def text_error(self, cid: str, src: str | Path, owner: str):
        from .errors import IngestError

        return IngestError(f"duplicate conversation id {cid}, also in {owner}", path=str(src),
                           fix="Conversation ids must be unique across inputs; leave one file out, "
                               "or give the files' conversations distinct ids.")

    def recording_error(self, cid: str, src: str | Path, owner: str):
        from .errors import AudioDecodeError

        return AudioDecodeError(
            f"conversation id {cid!r} is also the id of {owner}; it would overwrite it",
            path=str(src), fix="Give the recordings distinct file names, or distinct call_id "
            "values with --meta / --name-pattern.")


def read_failures(out: OutDir) -> list[Failure]:
    if not out.failures_csv.exists():
        return []
    with open(out.failures_csv, newline="", encoding="utf-8") as fh:
        return [Failure(r.get("file", ""), r.get("stage", ""), r.get("reason", ""))
                for r in csv.DictReader(fh)]


def record_failures(out: OutDir, stages: Iterable[str], failures: Iterable[Failure]) -> Path:
    """Rewrite ``failures.csv``: rows of ``stages`` are replaced by ``failures``; rows
    that other stages wrote earlier are kept. The file always exists afterwards (a
    header alone means nothing failed)."""
    stages = set(stages)
    kept = [f for f in read_failures(out) if f.stage not in stages]
    rows = kept + list(failures)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(FAILURE_COLUMNS)
    for f in rows:  # one line per row, valid UTF-8 whatever the file name holds
        writer.writerow([display(f.file), f.stage, display(f.reason)])
    atomic_write_text(out.failures_csv, buf.getvalue())
    return out.failures_csv


# ---------------------------------------------------------------- run lock
_HELD: set[str] = set()
"""Output folders this process holds the lock of (POSIX locks do not exclude the process
that holds them, so a second command in the same process is stopped here)."""


def _locked_error(out: OutDir, holder: str) -> OutputLockedError:
    return OutputLockedError(
        f"another qa command ({holder}) is writing to this output folder", path=str(out.root),
        fix="Wait for it to finish, or choose another --out folder.")


@contextmanager
def run_lock(out: OutDir) -> Iterator[None]:
    """Hold an exclusive lock on the output folder for the length of a command.

    A second qa command on the same folder, in another process or in this one, stops at
    once with a clear message. The lock is a POSIX record lock (``lockf``), not ``flock``:
    it belongs to this process alone, so worker processes forked later neither inherit it
    nor keep it alive, and the OS releases it when this process dies (kill -9 included).
    """
    import fcntl

    out.root.mkdir(parents=True, exist_ok=True)
    lock_path = out.root / ".qa.lock"
    key = str(lock_path.resolve())
    if key in _HELD:
        raise _locked_error(out, f"pid {os.getpid()}")
    fh = open(lock_path, "a+")
    try:
        try:
            fcntl.lockf(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (BlockingIOError, PermissionError):
            raise _locked_error(out, _lock_holder(fh)) from None
        _HELD.add(key)
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()}")
            fh.flush()
            from .procs import reap_left_behind

            reap_left_behind(out.root)  # helpers a killed command on this folder left running
            clean_stale_temp(out)
            yield
        finally:
            _HELD.discard(key)
    finally:
        fh.close()


def _lock_holder(fh) -> str:
    """``pid N`` of the process holding ``fh``'s lock. Asked of the kernel (``F_GETLK``),
    not read from the file: the holder writes its pid only after it has the lock, so a
    reader could find the file still empty."""
    import fcntl
    import struct
    import time

    try:
        query = struct.pack("hhqqi", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
        query += b"\0" * (32 - len(query))
        got = fcntl.fcntl(fh.fileno(), fcntl.F_GETLK, query)
        l_type, _, _, _, l_pid = struct.unpack_from("hhqqi", got)
        if l_type != fcntl.F_UNLCK and l_pid > 0:
            return f"pid {l_pid}"
    except (OSError, struct.error, AttributeError):  # not Linux-like: read what the holder wrote
        pass
    for _ in range(20):
        fh.seek(0)
        text = fh.read().strip()
        if text:
            return text
        time.sleep(0.025)
    return "another process"


def clean_stale_temp(out: OutDir) -> int:
    """Remove temporary files a killed run left behind (``.NAME.XXXX.tmp`` from the
    atomic writes, ``.reports.tmp-*`` staging folders). Only call it while holding the
    folder's lock: then no other qa process can be writing them."""
    import shutil

    removed = 0
    if not out.root.is_dir():
        return 0
    for folder in (out.root, out.transcripts, out.results, out.reports):
        if not folder.is_dir():
            continue
        for p in folder.iterdir():
            if p.name.startswith(".") and (p.name.endswith(".tmp") or p.name.startswith(".reports.tmp-")):
                if p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
                removed += 1
    # the caches nest their entries (spacy/<2 hex>/, spacy/outcomes/<2 hex>/): walk them all
    if out.cache.is_dir():
        for folder, _dirs, files in os.walk(out.cache):
            for name in files:
                if name.startswith(".") and name.endswith(".tmp"):
                    Path(folder, name).unlink(missing_ok=True)
                    removed += 1
    return removed


def write_json(path: str | Path, data: object) -> None:
    atomic_write_text(path, json.dumps(data, indent=1, default=str, ensure_ascii=False) + "\n")


def write_conversation(out: OutDir, conv) -> Path:
    """Write one conversation to ``OUT/transcripts/<safe id>.json`` atomically.

    Raises :class:`~qa.errors.IngestError` naming the field when the conversation cannot
    be serialised (text that is not valid Unicode, such as a lone surrogate)."""
    path = out.transcript_path(conv.id)
    try:
        text = conv.to_json()
    except Exception as exc:  # noqa: BLE001 - pydantic's serialisation errors, whatever their type
        where = _invalid_text_at(conv.model_dump(mode="python"))
        raise IngestError(
            f"conversation {conv.id} cannot be written: "
            + (f"{where} is not valid Unicode text (a lone surrogate)" if where
               else f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"),
            path=getattr(getattr(conv, "source", None), "path", None),
            fix="Re-export the file as UTF-8; qa replaces lone surrogate escapes in JSON exports "
                "itself, so please report this as a qa bug.") from None
    atomic_write_text(path, text, durable=False)
    return path


def _invalid_text_at(value, where: str = "") -> str | None:
    """The key path (``turns[3].text``) of the first string in ``value`` that UTF-8 cannot
    encode, or None."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return where or "(top level)"
        return None
    if isinstance(value, dict):
        for k, v in value.items():
            key = f"{where}.{k}" if where else str(k)
            found = _invalid_text_at(k, key) if isinstance(k, str) else None
            found = found or _invalid_text_at(v, key)
            if found:
                return found
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            found = _invalid_text_at(v, f"{where}[{i}]")
            if found:
                return found
    return None


def keep_conversation(out: OutDir, conv, src: str | Path) -> Path:
    """``OUT/transcripts/<safe id>.json`` of ``conv``, written there unless ``src`` (the
    file it was read from) is that file already, as when re-scoring a folder's own
    transcripts."""
    path = out.transcript_path(conv.id)
    try:
        same = Path(src).resolve() == path.resolve()
    except OSError:
        same = False
    return path if same else write_conversation(out, conv)


def iter_conversation_files(out: OutDir) -> list[Path]:
    """Conversation JSON files in ``OUT/transcripts``, sorted."""
    if not out.transcripts.is_dir():
        return []
    return sorted(p for p in out.transcripts.glob("*.json") if not p.name.startswith("."))
