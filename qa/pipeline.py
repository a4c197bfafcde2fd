"""``qa run`` as a library function, and the one batch loop every command scores through.

Every stage is a library function over paths, yielding one result per input
(:func:`qa.ingest.ingest_paths`, :func:`qa.transcribe.transcribe_paths`,
:func:`score_paths`, and :func:`qa.render.render_reports` for the pages); the conversations
they give go into one :class:`ScoreBatch`, which owns the duplicate-id check, chunked
scoring, the results part files, the failure rows and progress. ``qa run`` and each stage
command call the same functions. All parallel work goes through the executors of one
:class:`qa.executor.Session`: local pools by default, a Dask cluster with ``--cluster``.

Every stage's output is a file in the output folder, so an interrupted run resumes where
it stopped: transcripts come from the transcription cache, parsed text from the spaCy
cache, and the results and reports are replaced whole (temporary file, then rename) only
when they are complete.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from . import __version__
from .conversation import Conversation
from .errors import AudioDecodeError, IngestError, QAError, ReportError, display
from .executor import ClusterOptions, Session
from .ingest import IngestOptions
from .inputs import AUDIO_EXTS, TEXT_EXTS, discover, is_audio
from .store import ConversationIds, Failure, OutDir, keep_conversation, record_failures, write_json
from .transcribe import TranscribeOptions

log = logging.getLogger(__name__)

RUN_STAGES = ("ingest", "transcribe", "score", "report")
SCORE_CHUNK = 1000
"""Conversations scored at a time: memory holds one chunk of conversations plus the
(small) results, however many conversations the run has."""
SCORE_EXTS = tuple(dict.fromkeys((".json",) + TEXT_EXTS))
"""What ``qa score`` reads: conversation JSON, chat exports, transcripts."""


# ---------------------------------------------------------------- options
@dataclass(frozen=True)
class ScoreOptions:
    """How to score."""

    rubric: Path | None = None
    """Rubric YAML; None uses the shipped default rubric."""
    jobs: int | None = None
    """Local scoring processes for new text (None: 2 on a multi-core machine; 1: this
    process only). Ignored on a cluster: every worker scores."""
    cache: bool = True
    """Read and write the parsed-text cache in ``OUT/.cache/spacy``."""

    def resolved_jobs(self) -> int:
        return self.jobs if self.jobs is not None else min(2, os.cpu_count() or 1)


@dataclass(frozen=True)
class ReportOptions:
    """Which reports to write (``qa report``, and the report stage of ``qa run``)."""

    period: str = "week"
    date_from: date | None = None
    date_to: date | None = None
    team: str | None = None
    templates: Path | None = None
    redact: bool = False
    """Mask PII in the reports (scoring still sees the original text)."""
    call_pages: str = "auto"
    """Which call pages to write: ``auto``, ``all``, ``linked`` or ``none``."""
    jobs: int | None = None
    """Local page-rendering processes (None: one per CPU). Ignored on a cluster."""


@dataclass(frozen=True)
class RunOptions:
    """Everything ``qa run`` can be told, one typed group per stage. Every field has a
    working default."""

    ingest: IngestOptions = field(default_factory=IngestOptions)
    """Chat formats, --map, speaker labels, metadata (recordings use it too), agent id."""
    transcribe: TranscribeOptions = field(default_factory=TranscribeOptions)
    score: ScoreOptions = field(default_factory=ScoreOptions)
    report: ReportOptions = field(default_factory=ReportOptions)
    cluster: ClusterOptions = field(default_factory=ClusterOptions)
    write_report: bool = True


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


# ---------------------------------------------------------------- the batch loop
def failure_of(file: str | Path, stage: str, exc: QAError | None, reason: str | None = None) -> Failure:
    """One failure row; file names and reasons are shown one per line, so control
    characters are escaped."""
    if exc is not None:
        place = f" ({display(exc.place)})" if exc.place else ""
        return Failure(display(exc.path or file), stage, f"{exc.reason}{place}")
    return Failure(display(file), stage, display(reason or ""))


class ScoreBatch:
    """The one batch loop: conversations from any stage go in with :meth:`add`; it checks
    duplicate ids (one :class:`~qa.store.ConversationIds` for the whole command), scores
    them :data:`SCORE_CHUNK` at a time (through the scorer's executor), writes each chunk's
    results to part files (:class:`~qa.results.ResultsWriter`: memory stays flat), collects
    the failure rows and reports progress. :meth:`commit` writes the results files,
    :meth:`record` ``results/failures.csv``.

    ``on_failure(failure, exc)`` is called as each failure happens; ``progress(n)`` as
    ``n`` conversations are scored or failed."""

    def __init__(self, out: OutDir, scorer, *, chunk: int = SCORE_CHUNK,
                 on_failure: Callable[[Failure, QAError | None], None] | None = None,
                 progress: Callable[[int], None] | None = None):
        from .results import ResultsWriter

        self.out = out
        self.scorer = scorer
        self.chunk = chunk
        self.on_failure = on_failure
        self.progress = progress
        self.ids = ConversationIds()
        self.failures: list[Failure] = []
        self.pending: list[tuple[Conversation, str]] = []
        self.writer = ResultsWriter(out)
        self.conversations = 0
        self.scored = 0
        self.auto_fail = 0
        self.agents: set[str] = set()
        self.overall_sum = 0.0
        self.overall_n = 0
        self.seconds = 0.0

    def fail(self, file: str | Path, stage: str, exc: QAError | None = None,
             reason: str | None = None) -> None:
        f = failure_of(file, stage, exc, reason)
        self.failures.append(f)
        if self.on_failure:
            self.on_failure(f, exc)

    def add(self, conv: Conversation, src: str | Path, written: Path | None = None,
            stage: str = "ingest") -> bool:
        """Queue ``conv`` (read from ``src``, kept at ``written``) for scoring; a
        conversation id another input holds is ``src``'s failure. Returns False then."""
        owner = self.ids.claim(conv.id, src)
        if owner is not None:
            self.fail(src, stage, self.ids.text_error(conv.id, src, owner))
            return False
        self.conversations += 1
        rel = (written or self.out.transcript_path(conv.id)).relative_to(self.out.root)
        self.pending.append((conv, str(rel)))
        if len(self.pending) >= self.chunk:
            self.flush()
        return True

    def flush(self) -> None:
        if not self.pending:
            return
        t0 = time.perf_counter()
        convs, paths = [c for c, _ in self.pending], [p for _, p in self.pending]
        self.pending = []

        def on_error(conv: Conversation, exc: QAError) -> None:
            self.fail(conv.source.path, "score", exc)
            if self.progress:
                self.progress(0)

        results = self.scorer.score_chunk(convs, paths, on_error=on_error, progress=self.progress)
        for res in results:
            self.agents.add(res.agent_id)
            self.auto_fail += bool(res.auto_fail)
            if res.overall is not None:
                self.overall_sum += res.overall
                self.overall_n += 1
        self.scored += len(results)
        self.writer.add(results)
        self.seconds += time.perf_counter() - t0

    def commit(self):
        """Score what is left and write ``conversations.parquet`` and ``criteria.parquet``."""
        self.flush()
        return self.writer.commit()

    def record(self, stages: Sequence[str]) -> Path:
        return record_failures(self.out, stages, self.failures)


def make_scorer(rubric, out: OutDir, options: ScoreOptions, session: Session):
    """The scorer of a command: the rubric compiled once, chunks scored on the session's
    executor (local processes, or the cluster)."""
    from .score import Scorer

    jobs = options.resolved_jobs()
    return Scorer(rubric, cache_dir=out.cache / "spacy" if options.cache else None,
                  n_process=options.jobs, jobs=jobs, executor=session.executor("cpu", jobs))


def score_paths(files: Iterable[str | Path], batch: ScoreBatch, ingest: IngestOptions | None = None
                ) -> Iterator[Path]:
    """The scoring stage over paths: read each file (conversation JSON as it is, chat
    exports and transcripts as ``qa ingest`` reads them), keep its conversations in
    ``OUT/transcripts`` (reports read them there) and queue them in ``batch``; yield each
    file once its conversations are queued. Unreadable files are ``batch`` failures."""
    from .inputs import iter_inputs

    out = batch.out
    pending_file: list[Path] = []

    def files_read():
        for f in map(Path, files):
            pending_file.append(f)
            yield f

    done = 0
    for conv, src in iter_inputs(files_read(), ingest_options=ingest or IngestOptions(),
                                 on_error=lambda f, exc: batch.fail(f, "score", exc), ids=batch.ids):
        try:
            target = keep_conversation(out, conv, src)
        except QAError as exc:
            batch.fail(src, "score", exc)
            continue
        batch.add(conv, src, target, stage="score")
        # every file before the one this conversation came from is finished
        while done < len(pending_file) - 1:
            yield pending_file[done]
            done += 1
    while done < len(pending_file):
        yield pending_file[done]
        done += 1


def stage_session(cluster: ClusterOptions, out: OutDir, inputs: Sequence[str | Path] = ()) -> Session:
    """The executors of one command, entered: on a cluster, the workers are checked to see
    the output folder and the inputs (a shared filesystem) before any work. Every local
    worker process the command starts dies with it, ``kill -9`` included
    (:func:`qa.procs.install`), as in ``qa run``."""
    from .procs import install as die_with_this_process

    die_with_this_process(out.root)
    session = Session(cluster, scratch=out.cache / "dask").__enter__()
    try:
        if session.distributed:
            out.root.mkdir(parents=True, exist_ok=True)
            session.check_shared([out.root, *inputs])
    except BaseException:
        session.close()
        raise
    return session


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
                 on_transcribed: Callable[[object], None] | None = None,
                 progress: Callable[[int], None] | None = None) -> RunSummary:
    """Ingest, transcribe, score and report everything under ``inputs`` into ``out``.

    The caller holds the output folder's lock (:func:`qa.store.run_lock`). Failures of
    single inputs are collected (and passed to ``on_failure`` as they happen) and written
    to ``results/failures.csv``; the run goes on. A bad rubric, a missing Whisper model or
    a cluster that cannot be used raises before any input is processed. ``progress(n)``
    is called as conversations are scored.
    """
    from .ingest import ingest_paths, read_conversation_file, unexpected_error
    from .procs import install as die_with_this_process
    from .rubric import load_rubric
    from .transcribe import options_summary, resolve_model, transcribe_paths

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

    # ---- everything that can stop the whole run is checked before any work
    rubric = load_rubric(options.score.rubric)
    summary.rubric = {"id": rubric.id, "version": rubric.version, "hash": rubric.hash,
                      "path": str(options.score.rubric) if options.score.rubric else "default"}
    metadata = options.ingest.metadata
    sidecar = metadata.sidecar_path if metadata is not None else None
    audio, texts = find_inputs(inputs, outdir, skip=[sidecar] if sidecar else [])
    summary.recordings, summary.text_files = len(audio), len(texts)
    summary.files = len(audio) + len(texts)
    topts = options.transcribe
    model_ref = resolve_model(topts.model) if audio else None

    with stage_session(options.cluster, outdir, inputs) as session:
        batch = ScoreBatch(outdir, make_scorer(rubric, outdir, options.score, session),
                           on_failure=on_failure, progress=progress)
        fail = batch.fail

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
                owner = batch.ids.claim(conv.id, f)
                if owner is not None:
                    fail(f, "ingest", batch.ids.text_error(conv.id, f, owner))
                    continue
                written = keep_conversation(outdir, conv, f)
            except QAError as exc:
                fail(f, "ingest", exc)
                continue
            except Exception as exc:  # noqa: BLE001 - last resort: this file fails, not the run
                log.debug("unexpected error reading %s", f, exc_info=True)
                fail(f, "ingest", unexpected_error(exc, f))
                continue
            batch.add(conv, f, written)
        for res in _per_file(lambda rest: ingest_paths(rest, outdir, options.ingest, ids=batch.ids),
                             to_ingest, "ingest"):
            for exc in res.errors:
                fail(res.path, "ingest", exc)
            for conv, written in zip(res.conversations, res.written):
                batch.add(conv, res.path, written)
        timings["ingest"] = time.perf_counter() - t0 - batch.seconds
        # the chats are scored while nothing else runs (memory: one chunk at a time)
        batch.flush()

        # ---- recordings
        if audio:
            stage("transcribe")
            t0 = time.perf_counter()
            score_before = batch.seconds
            whisper = session.executor("gil-free", topts.resolved_workers())
            for res in _per_file(lambda rest: transcribe_paths(
                    rest, outdir, topts, metadata, agent_id=options.ingest.agent_id,
                    progress=on_transcribed, executor=whisper, ids=batch.ids),
                    audio, "transcribe", in_order=False):
                summary.audio_s += res.audio_s
                if not res.ok:
                    fail(res.path, "transcribe", res.error)
                    continue
                if res.cached:
                    summary.transcripts_cached += 1
                else:
                    summary.transcribed += 1
                batch.add(res.conversation, res.path, res.transcript_path, stage="transcribe")
            timings["transcribe"] = time.perf_counter() - t0 - (batch.seconds - score_before)

        # ---- scoring what is left, then the results files
        stage("score")
        batch.flush()
        t0 = time.perf_counter()
        batch.commit()
        timings["score"] = batch.seconds
        timings["write_results"] = time.perf_counter() - t0
        summary.conversations = batch.conversations
        summary.scored = batch.scored
        summary.auto_fail = batch.auto_fail
        summary.agents = len(batch.agents)
        summary.parsed = batch.scorer.analyzer.parsed
        summary.parse_cached = batch.scorer.analyzer.cached

        # ---- reports
        if options.write_report and summary.scored:
            stage("report")
            t0 = time.perf_counter()
            try:
                rep = render_pages(outdir, outdir, options.report, session)
            except ReportError as exc:
                fail(outdir.results, "report", exc)
            else:
                summary.report_index = rep.index
                summary.report_pages = 1 + rep.agents + rep.calls
                for p in rep.problems:
                    fail(p.file, p.stage or "report", None, p.reason)
            timings["report"] = time.perf_counter() - t0

    summary.failures = batch.failures
    batch.record(RUN_STAGES)
    timings["total"] = time.perf_counter() - t_start
    write_run_json(outdir, summary, options, inputs,
                   transcription=(options_summary(topts) | {"model": model_ref.name}) if model_ref else None)
    return summary


def render_pages(results: str | Path | OutDir, out: str | Path | OutDir, options: ReportOptions,
                 session: Session):
    """The report stage: every page of ``results`` into ``out/reports``, rendered on the
    session's executor (local processes, or the cluster's workers)."""
    from .render import render_reports

    res_root = results.root if isinstance(results, OutDir) else Path(results)
    out_root = out.root if isinstance(out, OutDir) else Path(out)
    jobs = max(1, options.jobs if options.jobs is not None else (os.cpu_count() or 1))
    return render_reports(res_root, out_root, period=options.period, date_from=options.date_from,
                          date_to=options.date_to, team=options.team,
                          templates_dir=options.templates, redact=options.redact,
                          call_pages=options.call_pages, jobs=jobs,
                          executor=session.executor("cpu", jobs, fork=False)
                          if jobs > 1 or session.distributed else None)


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
        "options": {"period": options.report.period, "from": options.report.date_from,
                    "to": options.report.date_to, "team": options.report.team,
                    "redact": options.report.redact, "cluster": options.cluster.address},
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
