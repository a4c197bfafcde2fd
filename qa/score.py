"""Scoring: conversations × rubric → results, and the results as Parquet.

```python
from qa.rubric import load_rubric
from qa.score import score_conversations, write_results

rubric = load_rubric()                       # the shipped default rubric
results = score_conversations(convs, rubric, cache_dir="qa-out/.cache/spacy")
write_results(results, "qa-out")             # qa-out/results/{conversations,criteria}.parquet
```

Rules (DESIGN.md): a category is the weighted mean of its criteria, N/A excluded, × 100
(null when every criterion in it is N/A); the overall score is the weighted mean of the
non-null categories (weights renormalised); a failed auto-fail criterion makes the overall
score 0 and is listed in ``auto_fail_criteria``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Sequence

from . import outcome_cache
from .checks import REGISTRY, Check, Context, Evidence, Outcome, na
from .conversation import Conversation
from .errors import ScoreError
from .inputs import AUDIO_EXTS
from .nlp import Analyzer, ConvNLP
from .rubric import CATEGORIES, Criterion, Rubric
from .store import OutDir, atomic_path, safe_name

if TYPE_CHECKING:
    from .executor import Executor
    from .store import ConversationIds

log = logging.getLogger(__name__)


@dataclass
class CriterionResult:
    """The outcome of one criterion on one conversation."""

    criterion_id: str
    category: str
    description: str
    coaching: str | None
    outcome: str
    """``pass``, ``fail`` or ``na``."""
    score: float | None
    """0..1, None when N/A."""
    weight: float
    auto_fail: bool
    """True when the criterion is auto-fail AND it failed."""
    na_reason: str | None
    reason: str
    """Plain words, always set."""
    evidence: list[Evidence] = field(default_factory=list)


@dataclass
class ConversationResult:
    """One conversation's scores: overall, per category, per criterion."""

    conversation_id: str
    agent_id: str
    agent_name: str | None
    team: str | None
    channel: str
    started_at: datetime | None
    duration_s: float | None
    n_turns: int
    overall: float | None
    """0..100; 0 when an auto-fail criterion failed; None when every category is None."""
    categories: dict[str, float | None]
    """Category id → 0..100, None when every criterion in it was N/A."""
    auto_fail: bool
    auto_fail_criteria: list[str]
    rubric_id: str
    rubric_version: str
    rubric_hash: str
    roles_inferred: bool
    transcript_path: str
    """The conversation JSON, relative to the output folder."""
    audio_path: str | None
    source_path: str
    scored_at: datetime
    criteria: list[CriterionResult] = field(default_factory=list)
    customer_sentiment_start: float | None = None
    """The customer's sentiment (-1..1, :mod:`qa.affect`) in their first turn; None
    when the customer never spoke."""
    customer_sentiment_end: float | None = None
    """The same in the customer's last turn."""
    customer_sentiment_shift: float | None = None
    """end - start: above 0 when the customer left happier than they came."""


# ---------------------------------------------------------------- inputs
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


# ---------------------------------------------------------------- aggregation
def category_scores(results: Sequence[CriterionResult]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for cat in CATEGORIES:
        rows = [r for r in results if r.category == cat and r.outcome != "na" and r.score is not None]
        total = sum(r.weight for r in rows)
        out[cat] = (100.0 * sum(r.weight * r.score for r in rows) / total) if rows and total > 0 else None
    return out


def overall_score(categories: dict[str, float | None], weights: dict[str, float]) -> float | None:
    used = [(weights.get(c, 0.0), s) for c, s in categories.items() if s is not None and weights.get(c, 0.0) > 0]
    total = sum(w for w, _ in used)
    if not used or total <= 0:
        return None
    return sum(w * s for w, s in used) / total


# ---------------------------------------------------------------- the scorer
def _audio_path(conv: Conversation) -> str | None:
    if conv.channel != "voice":
        return None
    p = Path(conv.source.path)
    if p.suffix.lower() in AUDIO_EXTS or conv.source.format == "audio":
        try:
            return str(p.resolve())
        except OSError:
            return str(p)
    return None


_PLURAL = {"voice": "calls", "chat": "chats", "email": "e-mails", "social": "social-media conversations"}
_SINGULAR = {"voice": "a call", "chat": "a chat", "email": "an e-mail", "social": "a social-media conversation"}


class Scorer:
    """A rubric compiled for scoring: one check object per criterion, one spaCy pipeline.

    ``cache_dir``: where parsed turns are cached (``OUT/.cache/spacy``); None disables it.
    """

    def __init__(self, rubric: Rubric, *, analyzer: Analyzer | None = None,
                 cache_dir: str | Path | None = None, n_process: int | None = None,
                 jobs: int | None = None, executor: "Executor | None" = None):
        self.rubric = rubric
        self.jobs = jobs
        """Scoring processes when no ``executor`` is given (None or 1: this process
        only). Used when many conversations need parsing: each process parses and scores
        its share. Re-scoring from the cache stays in one process (faster)."""
        self.executor = executor
        """Where chunks are scored (:mod:`qa.executor`): local worker processes (used as
        ``jobs`` is), or a Dask cluster (every chunk goes to the cluster)."""
        self.analyzer = analyzer or Analyzer(cache_dir, tagged="pos" in rubric.needs(), n_process=n_process)
        self.checks: list[tuple[Criterion, Check]] = [
            (c, REGISTRY[c.check](c.options, self.analyzer)) for c in rubric.criteria]
        cache = self.analyzer.cache_dir
        self.outcomes = (outcome_cache.OutcomeCache(cache, rubric, self.analyzer.version)
                         if cache is not None else None)

    def score_one(self, conv: Conversation, conv_nlp: ConvNLP | None, *, transcript_path: str | None = None,
                  cached: dict[str, Outcome] | None = None, sentiment: tuple | None = None,
                  fresh: dict[str, Outcome] | None = None) -> ConversationResult:
        """Score one conversation. ``cached``: criterion id → outcome kept from an earlier
        run (:mod:`qa.outcome_cache`), used instead of running that check; ``conv_nlp`` may
        be None only when every criterion and ``sentiment`` are cached. The outcomes that
        were computed are put in ``fresh`` (criterion id → outcome) when given."""
        ctx = Context(conv, conv_nlp)
        crit_results: list[CriterionResult] = []
        for crit, check in self.checks:
            if not crit.applies_to(conv.channel):
                kinds = " and ".join(_PLURAL.get(c, c) for c in crit.channels or ())
                out = na(f"applies to {kinds} only; this is {_SINGULAR.get(conv.channel, conv.channel)}")
                if fresh is not None:
                    fresh[crit.id] = out
            elif cached is not None and crit.id in cached:
                out = cached[crit.id]
            else:
                try:
                    out = _run_when(crit, check, ctx)
                except Exception as exc:  # a bug or odd data must not stop the batch
                    log.debug("check %s failed on %s", crit.id, conv.id, exc_info=True)
                    raise ScoreError(f"criterion '{crit.id}' ({crit.check}) could not be scored: "
                                     f"{type(exc).__name__}: {exc}", path=conv.source.path,
                                     place=f"conversation {conv.id}",
                                     fix="Report this with the conversation file.") from exc
                if fresh is not None:
                    fresh[crit.id] = out
            crit_results.append(_criterion_result(crit, out))
        cats = category_scores(crit_results)
        overall = overall_score(cats, self.rubric.categories)
        failed_af = [r.criterion_id for r in crit_results if r.auto_fail]
        if failed_af:
            overall = 0.0
        if sentiment is None:
            from . import situation
            from .affect import conversation_sentiment

            affects = situation.customer_affect(ctx)
            sentiment = conversation_sentiment(affects[i] for i in sorted(affects))
        s_start, s_end, s_shift = sentiment
        return ConversationResult(
            conversation_id=conv.id, agent_id=conv.agent_id, agent_name=conv.agent_name,
            team=conv.team, channel=conv.channel, started_at=conv.started_at,
            duration_s=conv.duration_s, n_turns=len(conv.turns), overall=overall, categories=cats,
            auto_fail=bool(failed_af), auto_fail_criteria=failed_af, rubric_id=self.rubric.id,
            rubric_version=self.rubric.version, rubric_hash=self.rubric.hash,
            roles_inferred=conv.roles_inferred,
            transcript_path=transcript_path or f"transcripts/{safe_name(conv.id)}.json",
            audio_path=_audio_path(conv), source_path=conv.source.path,
            scored_at=datetime.now(timezone.utc), criteria=crit_results,
            customer_sentiment_start=s_start, customer_sentiment_end=s_end,
            customer_sentiment_shift=s_shift)

    def score(self, convs: Sequence[Conversation], *, transcript_paths: Sequence[str | None] | None = None,
              on_error: Callable[[Conversation, ScoreError], None] | None = None,
              progress: Callable[[int], None] | None = None) -> Iterator[tuple[int, ConversationResult]]:
        """Yield ``(index, result)`` for each conversation (in completion order).

        A conversation whose scoring raises :class:`ScoreError` is passed to ``on_error``
        (re-raised when there is none) and the batch goes on.
        """
        ex = self.executor
        if ex is not None and ex.distributed:
            yield from self._score_parallel(convs, transcript_paths, on_error, progress, ex)
            return
        jobs = ex.workers if ex is not None else (self.jobs or 1)
        if jobs > 1 and len(convs) >= 2 * PARALLEL_CHUNK \
                and self.analyzer.count_uncached([[t.text for t in c.turns] for c in convs]) >= 2 * PARALLEL_CHUNK:
            # worth it only for parsing: reading the cache and scoring are faster in one process
            # than the cost of sending the results back from workers
            if ex is not None:
                yield from self._score_parallel(convs, transcript_paths, on_error, progress, ex)
                return
            from .executor import ProcessExecutor

            with ProcessExecutor(jobs) as own:
                yield from self._score_parallel(convs, transcript_paths, on_error, progress, own)
            return
        yield from self._score_serial(convs, range(len(convs)), transcript_paths, on_error, progress)

    def score_chunk(self, convs: Sequence[Conversation], transcript_paths: Sequence[str | None],
                    on_error: Callable[[Conversation, ScoreError], None],
                    progress: Callable[[int], None] | None = None) -> list[ConversationResult]:
        """Score a chunk of conversations and return the results in input order (workers
        finish in any order). If scoring the chunk raises anything else than a
        :class:`ScoreError` (a conversation that crashes spaCy), what is left is scored one
        conversation at a time, and each one that still raises goes to ``on_error``: one
        odd conversation never sinks the chunk."""
        results: dict[int, ConversationResult] = {}
        try:
            for i, res in self.score(convs, transcript_paths=transcript_paths, on_error=on_error,
                                     progress=progress):
                results[i] = res
        except Exception:  # noqa: BLE001 - retried one by one below
            log.debug("batch scoring failed; scoring one conversation at a time", exc_info=True)
            for i, (conv, path) in enumerate(zip(convs, transcript_paths)):
                if i in results:
                    continue
                try:
                    for _, res in self.score([conv], transcript_paths=[path], on_error=on_error):
                        results[i] = res
                except Exception as exc:  # noqa: BLE001 - recorded as this input's failure
                    on_error(conv, ScoreError(
                        f"conversation {conv.id!r} could not be scored: {type(exc).__name__}: "
                        f"{str(exc).splitlines()[0][:300]}", path=conv.source.path,
                        fix="Check the conversation's text; report it if it looks ordinary."))
        return [results[i] for i in sorted(results)]

    def _score_serial(self, convs, indices, transcript_paths, on_error, progress):
        """Score ``convs[i]`` for i in ``indices``: first those whose every outcome is in
        the outcome cache (no parsing, no checks), then the rest, parsed or read from the
        spaCy cache, running only the criteria the outcome cache lacks."""
        oc = self.outcomes
        entries: dict[int, tuple[str, dict]] = {}
        todo = list(indices)
        if oc is not None:
            todo = []
            for i in indices:
                key = outcome_cache.conversation_key(convs[i])
                entry = oc.read(key)
                entries[i] = (key, entry)
                if not oc.complete(entry):
                    todo.append(i)
                    continue
                res = self._guarded(convs[i], i, None, transcript_paths, on_error, progress,
                                    oc.outcomes(entry), tuple(entry[outcome_cache.SENTIMENT]))
                if res is not None:
                    self.analyzer.cached += 1
                    yield i, res
        texts = [[t.text for t in convs[i].turns] for i in todo]
        for k, conv_nlp in self.analyzer.analyze(texts):
            i = todo[k]
            conv = convs[i]
            if isinstance(conv_nlp, Exception):
                exc = conv_nlp
                err = ScoreError(exc.message if isinstance(exc, ScoreError) else str(exc),
                                 path=conv.source.path, place=f"conversation {conv.id}",
                                 fix=getattr(exc, "fix", None))
                if progress:
                    progress(1)
                if on_error is None:
                    raise err
                on_error(conv, err)
                continue
            key, entry = entries.get(i, (None, {}))
            cached = oc.outcomes(entry) if oc is not None else None
            fresh: dict[str, Outcome] = {}
            sentiment = entry.get(outcome_cache.SENTIMENT)
            res = self._guarded(conv, i, conv_nlp, transcript_paths, on_error, progress, cached,
                                tuple(sentiment) if isinstance(sentiment, list) and len(sentiment) == 3
                                else None, fresh)
            if res is None:
                continue
            if oc is not None and key is not None:
                oc.write(key, entry, fresh, (res.customer_sentiment_start, res.customer_sentiment_end,
                                             res.customer_sentiment_shift))
            yield i, res

    def _guarded(self, conv, i, conv_nlp, transcript_paths, on_error, progress, cached, sentiment,
                 fresh=None) -> ConversationResult | None:
        """:meth:`score_one`, with a :class:`ScoreError` sent to ``on_error`` (None returned)."""
        try:
            return self.score_one(conv, conv_nlp,
                                  transcript_path=transcript_paths[i] if transcript_paths else None,
                                  cached=cached, sentiment=sentiment, fresh=fresh)
        except ScoreError as exc:
            if on_error is None:
                raise
            on_error(conv, exc)
            return None
        finally:
            if progress:
                progress(1)

    def _score_parallel(self, convs, transcript_paths, on_error, progress, ex):
        """Score chunks of :data:`PARALLEL_CHUNK` conversations as tasks of ``ex`` (local
        worker processes or a Dask cluster); each worker process builds the scorer (and
        loads spaCy) once, and reads and writes the parse cache itself."""
        chunks = [(a, min(a + PARALLEL_CHUNK, len(convs))) for a in range(0, len(convs), PARALLEL_CHUNK)]
        cache_dir = None if self.analyzer.cache_dir is None else str(self.analyzer.cache_dir)
        if not ex.distributed:
            _FORK_PARENT[(self.rubric.hash, cache_dir)] = (os.getpid(), self)
        futures = {}
        for a, b in chunks:
            paths = list(transcript_paths[a:b]) if transcript_paths else None
            futures[ex.submit(_score_task, self.rubric, cache_dir, list(convs[a:b]), paths)] = a
        for fut in ex.as_completed(list(futures)):
            a = futures[fut]
            results, errors, parsed, cached = fut.result()
            self.analyzer.parsed += parsed
            self.analyzer.cached += cached
            for i, (message, path, place, fix) in errors:
                exc = ScoreError(message, path=path, place=place, fix=fix)
                if on_error is None:
                    raise exc
                on_error(convs[a + i], exc)
            if progress:
                progress(len(results) + len(errors))
            for i, res in results:
                yield a + i, res


PARALLEL_CHUNK = 50
"""Conversations per scoring task."""


_FORK_PARENT: dict[tuple, tuple[int, "Scorer"]] = {}
"""The scorer of this process per (rubric hash, cache folder), for local worker processes
forked from it: they use it instead of building their own (spaCy, the checks' models)."""


def _score_task(rubric: Rubric, cache_dir: str | None, convs: list[Conversation],
                paths: list[str | None] | None):
    """Worker side of :meth:`Scorer._score_parallel`: score one chunk with this worker's
    scorer (built once per process and thread); return ``(index, result)`` pairs, the
    errors as plain tuples, and the parse counts."""
    import os
    import threading

    from .executor import worker_cached

    def build() -> Scorer:
        parent = _FORK_PARENT.get((rubric.hash, cache_dir))
        if parent is not None and parent[0] != os.getpid():
            # a forked local worker: the parent's scorer, already built (checks, models)
            inherited = parent[1]
            inherited.analyzer.n_process = 1
            return inherited
        return Scorer(rubric, cache_dir=cache_dir, n_process=1)

    scorer = worker_cached(("scorer", rubric.hash, cache_dir, threading.get_ident()), build)
    before = scorer.analyzer.parsed, scorer.analyzer.cached
    errors: list = []
    conv_index = {id(c): i for i, c in enumerate(convs)}

    def on_error(conv, exc):
        errors.append((conv_index[id(conv)], (exc.message, exc.path, exc.place, exc.fix)))

    results = list(scorer._score_serial(convs, range(len(convs)), paths, on_error, None))
    return (results, errors, scorer.analyzer.parsed - before[0], scorer.analyzer.cached - before[1])


def _run_when(crit: Criterion, check: Check, ctx: Context) -> Outcome:
    """Run the check if the criterion's ``when:`` conditions hold; else N/A with the
    reason in plain words. When they hold, the reason says why the criterion applied and a
    failure quotes the turn that called for it."""
    if not crit.when:
        return check.run(ctx)
    from . import situation

    facts = [situation.fact(ctx, name) for name in crit.when]
    holding = [f for f in facts if f.holds]
    ok = bool(holding) if crit.when_any else len(holding) == len(facts)
    label = crit.id.replace("_", " ")
    if not ok:
        missing = next(f for f in facts if not f.holds)
        return na(f"no {label} needed: {missing.reason}")
    out = check.run(ctx)
    if out.outcome == "na":
        return out
    why = holding[0]
    out.reason = f"{out.reason} (needed: {why.reason})"
    if out.outcome == "fail" and why.turn_index is not None and all(
            e.turn_index != why.turn_index for e in out.evidence):
        from .checks import evidence

        out.evidence.insert(0, evidence(ctx.conv, why.turn_index, "negative", why.span,
                                        note=f"why it was needed: {why.reason}"))
    return out


FAIL_CEILING = 0.99
"""The highest score a failed criterion keeps (shown as 99 at most, never 100)."""


def _criterion_result(crit: Criterion, out: Outcome) -> CriterionResult:
    """One truth per criterion: a pass is the target met, scored 1 (100); a fail keeps its
    partial credit (how close it came) but below the pass mark, at most
    :data:`FAIL_CEILING`, so the outcome and the score never contradict each other."""
    score = None if out.outcome == "na" else (None if out.score is None else max(0.0, min(1.0, float(out.score))))
    if out.outcome == "pass":
        score = 1.0
    elif out.outcome == "fail" and score is not None:
        score = min(score, FAIL_CEILING)
    return CriterionResult(
        criterion_id=crit.id, category=crit.category, description=crit.description,
        coaching=crit.coaching, outcome=out.outcome, score=score, weight=crit.weight,
        auto_fail=crit.auto_fail and out.outcome == "fail",
        na_reason=(out.na_reason or out.reason) if out.outcome == "na" else None,
        reason=out.reason, evidence=list(out.evidence))


def score_conversations(convs: Iterable[Conversation], rubric: Rubric, *,
                        cache_dir: str | Path | None = None, scorer: Scorer | None = None,
                        n_process: int | None = None, jobs: int | None = None) -> list[ConversationResult]:
    """Score conversations against a rubric, in input order.

    ``cache_dir`` (e.g. ``OUT/.cache/spacy``) keeps parsed turns so that scoring again
    after a rubric edit does not parse again. ``jobs`` > 1 scores large batches in that
    many processes. Raises :class:`ScoreError` for a
    conversation that cannot be scored (use :meth:`Scorer.score` with ``on_error`` to go
    on past it).
    """
    convs = list(convs)
    scorer = scorer or Scorer(rubric, cache_dir=cache_dir, n_process=n_process, jobs=jobs)
    out: list[ConversationResult | None] = [None] * len(convs)
    for i, res in scorer.score(convs):
        out[i] = res
    return [r for r in out if r is not None]


# ---------------------------------------------------------------- Parquet
def _schemas():
    from .schema import CONVERSATION_SCHEMA, CRITERIA_SCHEMA

    return CONVERSATION_SCHEMA, CRITERIA_SCHEMA


def _utc(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    if dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


_EVIDENCE_FIELDS = ("turn_index", "speaker", "start_s", "end_s", "quote", "match", "match_start",
                    "match_end", "polarity", "note")


def results_frames(results: Sequence[ConversationResult]):
    """The two result tables as Polars DataFrames (columns: :mod:`qa.schema`)."""
    import polars as pl

    conv_schema, crit_schema = _schemas()
    cols: dict[str, list] = {k: [] for k in conv_schema}
    ccols: dict[str, list] = {k: [] for k in crit_schema if k != "evidence"}
    ev_cols: dict[str, list] = {k: [] for k in ("row", *_EVIDENCE_FIELDS)}
    row = 0
    for r in results:
        started = _utc(r.started_at)
        values = {
            "conversation_id": r.conversation_id, "agent_id": r.agent_id, "agent_name": r.agent_name,
            "team": r.team, "channel": r.channel, "started_at": started, "duration_s": r.duration_s,
            "n_turns": r.n_turns, "overall": r.overall, **{c: r.categories.get(c) for c in CATEGORIES},
            "auto_fail": r.auto_fail, "auto_fail_criteria": list(r.auto_fail_criteria),
            "rubric_id": r.rubric_id, "rubric_version": r.rubric_version, "rubric_hash": r.rubric_hash,
            "roles_inferred": r.roles_inferred, "transcript_path": r.transcript_path,
            "audio_path": r.audio_path, "source_path": r.source_path, "scored_at": _utc(r.scored_at),
            "customer_sentiment_start": r.customer_sentiment_start,
            "customer_sentiment_end": r.customer_sentiment_end,
            "customer_sentiment_shift": r.customer_sentiment_shift,
        }
        for k, v in values.items():
            cols[k].append(v)
        for c in r.criteria:
            ccols["conversation_id"].append(r.conversation_id)
            ccols["agent_id"].append(r.agent_id)
            ccols["team"].append(r.team)
            ccols["channel"].append(r.channel)
            ccols["started_at"].append(started)
            ccols["criterion_id"].append(c.criterion_id)
            ccols["category"].append(c.category)
            ccols["description"].append(c.description)
            ccols["coaching"].append(c.coaching)
            ccols["outcome"].append(c.outcome)
            ccols["score"].append(c.score)
            ccols["weight"].append(c.weight)
            ccols["auto_fail"].append(c.auto_fail)
            ccols["na_reason"].append(c.na_reason)
            ccols["reason"].append(c.reason)
            for e in c.evidence:
                ev_cols["row"].append(row)
                ev_cols["turn_index"].append(e.turn_index)
                ev_cols["speaker"].append(e.speaker)
                ev_cols["start_s"].append(e.start_s)
                ev_cols["end_s"].append(e.end_s)
                ev_cols["quote"].append(e.quote)
                ev_cols["match"].append(e.match)
                ev_cols["match_start"].append(e.match_start)
                ev_cols["match_end"].append(e.match_end)
                ev_cols["polarity"].append(e.polarity)
                ev_cols["note"].append(e.note)
            row += 1
    conv_df = pl.DataFrame(cols, schema=conv_schema)
    ev_struct = crit_schema["evidence"].inner
    ev_df = pl.DataFrame(ev_cols, schema={"row": pl.Int64, **dict(ev_struct.to_schema())})
    ev_lists = (ev_df.group_by("row", maintain_order=True)
                .agg(pl.struct(list(_EVIDENCE_FIELDS)).alias("evidence")))
    crit_df = (pl.DataFrame(ccols, schema={k: v for k, v in crit_schema.items() if k != "evidence"})
               .with_row_index("row").with_columns(pl.col("row").cast(pl.Int64))
               .join(ev_lists, on="row", how="left", maintain_order="left")
               .with_columns(pl.col("evidence").fill_null(pl.lit([], dtype=crit_schema["evidence"])))
               .drop("row"))
    return conv_df, crit_df.select(list(crit_schema)).cast(crit_schema)


def write_results(results: Sequence[ConversationResult], out: OutDir | str | Path) -> tuple[Path, Path]:
    """Write ``results/conversations.parquet`` and ``results/criteria.parquet`` atomically."""
    conv_df, crit_df = results_frames(results)
    return write_frames(conv_df, crit_df, out)


def write_frames(conv_df, crit_df, out: OutDir | str | Path) -> tuple[Path, Path]:
    """Write the two result tables (from :func:`results_frames`) atomically, in row groups
    of :data:`~qa.schema.ROW_GROUP_ROWS`: the reports read them a row group at a time."""
    from .schema import ROW_GROUP_ROWS

    out = out if isinstance(out, OutDir) else OutDir.at(out)
    conv_path = out.results / "conversations.parquet"
    crit_path = out.results / "criteria.parquet"
    with atomic_path(crit_path) as tmp:
        crit_df.write_parquet(tmp, row_group_size=ROW_GROUP_ROWS)
    with atomic_path(conv_path) as tmp:
        conv_df.write_parquet(tmp, row_group_size=ROW_GROUP_ROWS)
    return conv_path, crit_path


class ResultsWriter:
    """The results files of a run that scores chunk by chunk, with flat memory.

    Each :meth:`add`-ed chunk goes to two part files in a private folder under
    ``OUT/results`` (``.parts-*.tmp``: a killed run's is removed by the next one under the
    lock); :meth:`commit` streams the parts, in the order they came, into
    ``conversations.parquet`` and ``criteria.parquet`` (each renamed into place) and
    removes the folder. Nothing but one chunk is ever held in memory. The rows of a
    conversation stay together, in the order the conversations were scored."""

    def __init__(self, out: OutDir | str | Path):
        import shutil
        import tempfile
        import weakref

        self.out = out if isinstance(out, OutDir) else OutDir.at(out)
        self.out.results.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix=".parts-", suffix=".tmp", dir=self.out.results))
        # an exception (Ctrl-C too) that drops the writer removes the parts
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(self.dir), True)
        self.parts = 0
        self.conversations = 0

    def add(self, results: Sequence[ConversationResult]) -> None:
        if not results:
            return
        from .schema import ROW_GROUP_ROWS

        conv_df, crit_df = results_frames(results)
        crit_df.write_parquet(self.dir / f"k{self.parts:06d}.parquet", row_group_size=ROW_GROUP_ROWS)
        conv_df.write_parquet(self.dir / f"c{self.parts:06d}.parquet", row_group_size=ROW_GROUP_ROWS)
        self.parts += 1
        self.conversations += conv_df.height

    def commit(self) -> tuple[Path, Path]:
        import polars as pl

        from .schema import ROW_GROUP_ROWS

        try:
            if not self.parts:
                return write_frames(*results_frames([]), self.out)
            paths = []
            for prefix, name in (("k", "criteria.parquet"), ("c", "conversations.parquet")):
                target = self.out.results / name
                parts = [str(self.dir / f"{prefix}{i:06d}.parquet") for i in range(self.parts)]
                with atomic_path(target) as tmp:
                    pl.scan_parquet(parts).sink_parquet(tmp, row_group_size=ROW_GROUP_ROWS)
                paths.append(target)
            return paths[1], paths[0]
        finally:
            self.discard()

    def discard(self) -> None:
        self._cleanup()


# ---------------------------------------------------------------- rubric examples and explanation
@dataclass
class ExampleResult:
    """One rubric example run through its criterion (``qa rubric test``)."""

    criterion_id: str
    expected: str
    """``pass`` or ``fail``, as the trainer wrote it."""
    outcome: str
    """What the check gave: ``pass``, ``fail``, ``na`` (or ``skipped``)."""
    text: str
    """The example, as one line."""
    reason: str

    @property
    def ok(self) -> bool:
        return self.outcome == self.expected or self.outcome == "skipped"


def _example_conversation(crit: Criterion, example) -> Conversation:
    from .conversation import Source, Turn

    speaker = getattr(crit.options, "speaker", "agent")
    if speaker not in ("agent", "customer"):
        speaker = "agent"
    if isinstance(example, str):
        turns = [Turn(speaker=speaker, text=example)]
    else:
        turns = []
        for t in example:
            if t.customer is not None:
                turns.append(Turn(speaker="customer", text=t.customer))
            if t.agent is not None:
                turns.append(Turn(speaker="agent", text=t.agent))
    channel = crit.channels[0] if crit.channels else "chat"
    return Conversation(id=f"example-{crit.id}", channel=channel, agent_id="example",
                        source=Source(path="(rubric example)", sha256="0" * 64, format="example"),
                        turns=turns)


def _example_text(example) -> str:
    if isinstance(example, str):
        return example
    parts = []
    for t in example:
        if t.customer is not None:
            parts.append(f"customer: {t.customer}")
        if t.agent is not None:
            parts.append(f"agent: {t.agent}")
    return " / ".join(parts)


def run_examples(rubric: Rubric, scorer: Scorer | None = None) -> list[ExampleResult]:
    """Run every criterion's ``examples`` through its check; see :attr:`ExampleResult.ok`."""
    scorer = scorer or Scorer(rubric, n_process=1)
    todo: list[tuple[Criterion, Check, str, object]] = []
    for crit, check in scorer.checks:
        for expected, items in (("pass", crit.examples.pass_), ("fail", crit.examples.fail)):
            for ex in items:
                todo.append((crit, check, expected, ex))
    convs = [_example_conversation(c, ex) for c, _, _, ex in todo]
    analysed = dict(scorer.analyzer.analyze([[t.text for t in c.turns] for c in convs]))
    out = []
    for k, (crit, check, expected, ex) in enumerate(todo):
        if check.timing:
            out.append(ExampleResult(crit.id, expected, "skipped", _example_text(ex),
                                     f"{crit.check} reads timings; text examples cannot test it"))
            continue
        res = check.run(Context(convs[k], analysed[k]))
        out.append(ExampleResult(crit.id, expected, res.outcome, _example_text(ex), res.reason))
    return out


def explain_rubric(rubric: Rubric, scorer: Scorer | None = None) -> str:
    """The rubric in plain words for a trainer: what each criterion looks for, its weight as
    a share of its category and of the total (for calls and for chats: criteria limited to
    one channel are N/A on the other), and the auto-fail items."""
    scorer = scorer or Scorer(rubric, n_process=1)
    channels = [ch for ch in ("chat", "voice", "email", "social")
                if ch in ("chat", "voice") or any(c.channels and ch in c.channels for c in rubric.criteria)]
    label = {"chat": "chats", "voice": "calls", "email": "e-mails", "social": "social media"}

    def shares(channel: str) -> tuple[dict[str, float], dict[str, float]]:
        """Category share of the total, and criterion share of its category, on a channel."""
        crits = [c for c in rubric.criteria if c.applies_to(channel)]
        cat_w = {cat: rubric.categories.get(cat, 0.0) for cat in CATEGORIES
                 if any(c.category == cat for c in crits) and rubric.categories.get(cat, 0.0) > 0}
        total = sum(cat_w.values())
        cat_share = {cat: w / total for cat, w in cat_w.items()} if total else {}
        crit_share = {}
        for c in crits:
            in_cat = sum(k.weight for k in crits if k.category == c.category)
            crit_share[c.id] = c.weight / in_cat if in_cat else 0.0
        return cat_share, crit_share

    per = {ch: shares(ch) for ch in channels}
    lines = [f"Rubric '{rubric.id}', version {rubric.version} (content hash {rubric.hash[:12]})"]
    if rubric.description:
        lines.append(rubric.description)
    lines += ["", "How the score is made: each criterion gives 0-100% (or N/A when it cannot apply);",
              "a category is the weighted mean of its criteria; the overall score is the weighted",
              "mean of the categories. Shares below are for a conversation where every criterion",
              "of that channel applies; N/A criteria are left out and the others share their weight.",
              ""]
    lines.append("Categories (share of the overall score): " + ", ".join(f"on {label[ch]}" for ch in channels))
    for cat in CATEGORIES:
        n = sum(1 for k in rubric.criteria if k.category == cat)
        cells = "  ".join(f"{per[ch][0].get(cat, 0.0):>4.0%}" for ch in channels)
        lines.append(f"  {cat:<16} {cells}   {n} criteri{'a' if n != 1 else 'on'}")
    for cat in CATEGORIES:
        crits = [(c, ch) for c, ch in scorer.checks if c.category == cat]
        if not crits:
            continue
        cat_sh = [f"{per[ch][0].get(cat, 0.0):.0%}" for ch in channels]
        head = (f"{cat_sh[0]} of the overall score" if len(set(cat_sh)) == 1 else ", ".join(
            f"{v} of the overall score on {label[ch]}" for v, ch in zip(cat_sh, channels)))
        lines += ["", f"{cat.upper()} — {head}"]
        for c, check in crits:
            where = f" [{', '.join(label[x] for x in c.channels)} only]" if c.channels else ""
            af = "  AUTO-FAIL" if c.auto_fail else ""
            parts = []
            for ch in channels:
                if c.applies_to(ch):
                    cs = per[ch][1].get(c.id, 0.0)
                    parts.append(f"{cs:.0%} of {cat} on {label[ch]} ({cs * per[ch][0].get(cat, 0.0):.1%} of the total)")
            lines.append(f"  {c.id}{where}{af}: weight {c.weight:g} = " + "; ".join(parts))
            if c.description:
                lines.append(f"      {c.description}")
            lines.append(f"      Looks for: {check.explain()}")
            if c.coaching:
                lines.append(f"      Coaching: {c.coaching}")
    af = [c for c in rubric.criteria if c.auto_fail]
    lines.append("")
    if af:
        lines.append("Auto-fail: if any of these fails, the whole conversation scores 0:")
        for c in af:
            lines.append(f"  {c.id}: {c.description or c.check}")
    else:
        lines.append("Auto-fail: none.")
    return "\n".join(lines)
