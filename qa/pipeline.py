"""``qa run`` as a library function: ingest + transcribe + score + report in one pass.

Every stage is the same function its own command calls, and every stage's output is a
file in the output folder, so an interrupted run resumes where it stopped: transcripts
come from the transcription cache, parsed text from the spaCy cache, and the results and
reports are replaced whole (temporary file, then rename) only when they are complete.
"""

from __future__ import annotations

import logging
import platform
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from . import __version__
from .conversation import Conversation
from .errors import AudioDecodeError, IngestError, QAError, ReportError, display
from .inputs import AUDIO_EXTS, TEXT_EXTS, discover, is_audio
from .store import Failure, OutDir, keep_conversation, record_failures, write_json

log = logging.getLogger(__name__)

RUN_STAGES = ("ingest", "transcribe", "score", "report")
SCORE_CHUNK = 1000
"""Conversations scored at a time: memory holds one chunk of conversations plus the
(small) results, however many conversations the run has."""


@dataclass
class RunOptions:
    """Everything ``qa run`` can be told. Every field has a working default."""

    rubric: Path | None = None
    """Rubric YAML; None uses the shipped default rubric."""
    transcribe: "object | None" = None
    """A :class:`qa.transcribe.TranscribeOptions`; None uses its defaults."""
    ingest: "object | None" = None
    """A :class:`qa.ingest.IngestOptions` (format, --map, labels, metadata, agent id)."""
    metadata: "object | None" = None
    """A :class:`qa.metadata.Metadata` for recordings (chats get it through ``ingest``)."""
    agent_id: str | None = None
    """Agent id for inputs whose file and metadata name none."""
    period: str = "week"
    date_from: date | None = None
    date_to: date | None = None
    team: str | None = None
    redact: bool = False
    """Mask PII in the reports (scoring still sees the original text)."""
    call_pages: str = "auto"
    """Which call pages to write: ``auto``, ``all``, ``linked`` or ``none``."""
    templates: Path | None = None
    jobs: int | None = None
    """spaCy worker processes for new text (None: 2 on a multi-core machine)."""
    report: bool = True


@dataclass
class RunSummary:
    """What a run did. ``inputs == scored + failed`` counts conversations and files that
    could not be read into conversations."""

    files: int = 0
    recordings: int = 0
    text_files: int = 0
    conversations: int = 0
    """Conversations read or transcribed (before scoring)."""
    scored: int = 0
    agents: int = 0
    auto_fail: int = 0
    transcribed: int = 0
    transcripts_cached: int = 0
    audio_s: float = 0.0
    parsed: int = 0
    parse_cached: int = 0
    failures: list[Failure] = field(default_factory=list)
    report_index: Path | None = None
    report_pages: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    rubric: dict = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return len(self.failures)


def _under(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def find_inputs(inputs: Sequence[str | Path], out: OutDir, skip: Iterable[Path] = ()
                ) -> tuple[list[Path], list[Path]]:
    """Recordings and text inputs under ``inputs``, leaving out the output folder itself
    (``qa run . --out qa-out``) and files such as the metadata sidecar."""
    files, _ = discover(inputs, AUDIO_EXTS + TEXT_EXTS)
    skip_set = {Path(s).resolve() for s in skip}
    explicit = {Path(p).resolve() for p in inputs if Path(p).is_file()}
    files = [f for f in files
             if f.resolve() not in skip_set
             and (f.resolve() in explicit or not _under(f, out.root))]
    audio = [f for f in files if is_audio(f)]
    texts = [f for f in files if not is_audio(f)]
    return audio, texts


def run_pipeline(inputs: Sequence[str | Path], out: str | Path | OutDir,
                 options: RunOptions | None = None, *,
                 on_failure: Callable[[Failure, QAError | None], None] | None = None,
                 on_stage: Callable[[str], None] | None = None,
                 on_transcribed: Callable[[object], None] | None = None) -> RunSummary:
    """Ingest, transcribe, score and report everything under ``inputs`` into ``out``.

    The caller holds the output folder's lock (:func:`qa.store.run_lock`). Failures of
    single inputs are collected (and passed to ``on_failure`` as they happen) and written
    to ``results/failures.csv``; the run goes on. A bad rubric or a missing Whisper model
    raises before any input is processed.
    """
    from .ingest import IngestOptions, ingest_paths, read_conversation_file, unexpected_error
    from .rubric import load_rubric

    from .score import ResultsWriter, Scorer
    from .transcribe import TranscribeOptions, options_summary, resolve_model, transcribe_paths

    from .procs import install as die_with_this_process

    options = options or RunOptions()
    outdir = out if isinstance(out, OutDir) else OutDir.at(out)
    # every worker process (scoring, spaCy, reports) dies with this one, kill -9 included
    die_with_this_process(outdir.root)
    t_start = time.perf_counter()
    summary = RunSummary()
    timings = summary.timings

    def stage(name: str) -> None:
        if on_stage:
            on_stage(name)

    def fail(file: str | Path, stage_name: str, exc: QAError | None, reason: str | None = None) -> None:
        # file names and reasons are shown one per line: control characters are escaped
        if exc is not None:
            place = f" ({display(exc.place)})" if exc.place else ""
            f = Failure(display(exc.path or file), stage_name, f"{exc.reason}{place}")
        else:
            f = Failure(display(file), stage_name, display(reason or ""))
        summary.failures.append(f)
        if on_failure:
            on_failure(f, exc)

    # ---- everything that can stop the whole run is checked before any work
    rubric = load_rubric(options.rubric)
    summary.rubric = {"id": rubric.id, "version": rubric.version, "hash": rubric.hash,
                      "path": str(options.rubric) if options.rubric else "default"}
    ingest_opts = options.ingest or IngestOptions(metadata=options.metadata, agent_id=options.agent_id)
    topts = options.transcribe or TranscribeOptions()
    sidecar = getattr(options.metadata, "sidecar_path", None) or getattr(
        getattr(ingest_opts, "metadata", None), "sidecar_path", None)
    audio, texts = find_inputs(inputs, outdir, skip=[sidecar] if sidecar else [])
    summary.recordings, summary.text_files = len(audio), len(texts)
    summary.files = len(audio) + len(texts)
    model_ref = resolve_model(topts.model) if audio else None

    import os

    jobs = options.jobs if options.jobs is not None else min(2, os.cpu_count() or 1)
    scorer = Scorer(rubric, cache_dir=outdir.cache / "spacy", n_process=options.jobs, jobs=jobs)
    pending: list[tuple[Conversation, str]] = []
    # each scored chunk goes to disk at once (part files, joined at the end): memory
    # does not grow with the number of conversations
    writer = ResultsWriter(outdir)
    owners: dict[str, str] = {}
    agents: set[str] = set()

    def add(conv: Conversation, written: Path | None, src: Path) -> None:
        if conv.id in owners and owners[conv.id] != str(src):
            fail(src, "ingest", IngestError(
                f"duplicate conversation id {conv.id}, also in {owners[conv.id]}", path=src,
                fix="Conversation ids must be unique across inputs; give the files distinct ids."))
            return
        owners[conv.id] = str(src)
        summary.conversations += 1
        rel = (written or outdir.transcript_path(conv.id)).relative_to(outdir.root)
        pending.append((conv, str(rel)))
        if len(pending) >= SCORE_CHUNK:
            flush()

    def flush() -> None:
        if not pending:
            return
        t0 = time.perf_counter()
        results = scorer.score_chunk([c for c, _ in pending], [p for _, p in pending],
                                     on_error=lambda conv, exc: fail(conv.source.path, "score", exc))
        pending.clear()
        for res in results:
            agents.add(res.agent_id)
            summary.auto_fail += bool(res.auto_fail)
        summary.scored += len(results)
        writer.add(results)
        timings["score"] = timings.get("score", 0.0) + time.perf_counter() - t0

    # ---- chats and transcripts
    stage("ingest")
    t0 = time.perf_counter()
    to_ingest: list[Path] = []
    for f in texts:
        try:
            conv = read_conversation_file(f)
            if conv is None:
                to_ingest.append(f)
                continue
            written = keep_conversation(outdir, conv, f)
        except QAError as exc:
            fail(f, "ingest", exc)
            continue
        except Exception as exc:  # noqa: BLE001 - last resort: this file fails, not the run
            log.debug("unexpected error reading %s", f, exc_info=True)
            fail(f, "ingest", unexpected_error(exc, f))
            continue
        add(conv, written, f)
    ingest_owners: dict[str, Path] = {}
    for res in _per_file(lambda rest: ingest_paths(rest, outdir, ingest_opts, owners=ingest_owners),
                         to_ingest, "ingest"):
        for exc in res.errors:
            fail(res.path, "ingest", exc)
        for conv, written in zip(res.conversations, res.written):
            add(conv, written, res.path)
    timings["ingest"] = time.perf_counter() - t0 - timings.get("score", 0.0)
    # chats are scored before Whisper starts its threads: the scorer may fork worker
    # processes, which is safe only in a process without other threads
    flush()

    # ---- recordings
    if audio:
        scorer.jobs = 1
        stage("transcribe")
        t0 = time.perf_counter()
        score_before = timings.get("score", 0.0)
        for res in _per_file(lambda rest: transcribe_paths(
                rest, outdir, topts, options.metadata, agent_id=options.agent_id,
                progress=on_transcribed), audio, "transcribe", in_order=False):
            summary.audio_s += res.audio_s
            if not res.ok:
                fail(res.path, "transcribe", res.error)
                continue
            if res.cached:
                summary.transcripts_cached += 1
            else:
                summary.transcribed += 1
            add(res.conversation, res.transcript_path, res.path)
        timings["transcribe"] = time.perf_counter() - t0 - (timings.get("score", 0.0) - score_before)

    # ---- scoring what is left, then the results files
    stage("score")
    flush()
    t0 = time.perf_counter()
    writer.commit()
    timings["write_results"] = time.perf_counter() - t0
    summary.agents = len(agents)
    summary.parsed = scorer.analyzer.parsed
    summary.parse_cached = scorer.analyzer.cached

    # ---- reports
    if options.report and summary.scored:
        stage("report")
        from .render import render_reports

        t0 = time.perf_counter()
        try:
            rep = render_reports(outdir.root, outdir.root, period=options.period,
                                 date_from=options.date_from, date_to=options.date_to,
                                 team=options.team, templates_dir=options.templates,
                                 redact=options.redact, call_pages=options.call_pages)
        except ReportError as exc:
            fail(outdir.results, "report", exc)
        else:
            summary.report_index = rep.index
            summary.report_pages = 1 + rep.agents + rep.calls
            for p in rep.problems:
                fail(p.file, p.stage or "report", None, p.reason)
        timings["report"] = time.perf_counter() - t0

    record_failures(outdir, RUN_STAGES, summary.failures)
    timings["total"] = time.perf_counter() - t_start
    write_run_json(outdir, summary, options, inputs,
                   transcription=(options_summary(topts) | {"model": model_ref.name}) if model_ref else None)
    return summary


def _per_file(run: Callable[[list[Path]], Iterable], files: Sequence[Path], stage_name: str, *,
              in_order: bool = True) -> Iterator:
    """Results of ``run(files)`` (a stage yielding one result with ``.path`` per file), with
    a last-resort guard: should the stage itself raise (a bug, not bad input: the stages
    report bad input as results), the file it was on gets a failure result with the
    exception's type and message, and the stage is restarted on the files after it.

    ``in_order``: the stage yields its files in order (ingest), so the file it was on is
    the first one without a result; otherwise (transcription, in completion order) every
    file still without a result is failed with the reason."""
    from .ingest import FileResult as IngestResult
    from .transcribe import FileResult as AudioResult

    rest = list(files)
    while rest:
        done: set[Path] = set()
        try:
            for res in run(rest):
                done.add(Path(res.path))
                yield res
            return
        except Exception as exc:  # noqa: BLE001 - the last resort the docstring describes
            log.debug("the %s stage stopped on an unexpected error", stage_name, exc_info=True)
            left = [f for f in rest if Path(f) not in done]
            if not left:
                return
            blamed = left[:1] if in_order else left
            text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            for f in blamed:
                kind = IngestError if stage_name == "ingest" else AudioDecodeError
                err = kind(f"{stage_name} stopped on this file: unexpected {type(exc).__name__}"
                           + (f": {text}" if text else ""), path=str(f),
                           fix="Please report this as a qa bug; the other inputs were processed.")
                if stage_name == "ingest":
                    yield IngestResult(Path(f), errors=[err])
                else:
                    yield AudioResult(Path(f), error=err)
            rest = left[len(blamed):]


def write_run_json(out: OutDir, summary: RunSummary, options: RunOptions,
                   inputs: Sequence[str | Path], transcription: dict | None = None) -> Path:
    """``run.json``: what ran, with which versions, rubric, model and options, the
    counts and the timings — enough to reproduce or audit a run."""
    import polars
    import spacy

    try:
        import faster_whisper

        fw_version = faster_whisper.__version__
    except Exception:  # noqa: BLE001 - version lookup only
        fw_version = None
    data = {
        "qa_version": __version__,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "versions": {"spacy": spacy.__version__, "polars": polars.__version__,
                     "faster_whisper": fw_version},
        "inputs": [str(p) for p in inputs],
        "rubric": summary.rubric,
        "transcription": transcription,
        "options": {"period": options.period, "from": options.date_from, "to": options.date_to,
                    "team": options.team, "redact": options.redact},
        "counts": {"files": summary.files, "recordings": summary.recordings,
                   "text_files": summary.text_files, "conversations": summary.conversations,
                   "scored": summary.scored, "failed": summary.failed, "agents": summary.agents,
                   "auto_fail": summary.auto_fail, "transcribed": summary.transcribed,
                   "transcripts_cached": summary.transcripts_cached,
                   "audio_seconds": round(summary.audio_s, 1), "parsed": summary.parsed,
                   "parse_cached": summary.parse_cached, "report_pages": summary.report_pages},
        "timings_s": {k: round(v, 3) for k, v in summary.timings.items()},
        "report": str(summary.report_index) if summary.report_index else None,
    }
    write_json(out.run_json, data)
    return out.run_json
