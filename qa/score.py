"""Scoring: conversations × rubric → results.

```python
from qa.results import write_results
from qa.rubric import load_rubric
from qa.score import score_conversations

rubric = load_rubric()                       # the shipped default rubric
results = score_conversations(convs, rubric, cache_dir="qa-out/.cache/spacy")
write_results(results, "qa-out")             # qa-out/results/{conversations,criteria}.parquet
```

Rules (DESIGN.md): a category is the weighted mean of its criteria, N/A excluded, × 100
(null when every criterion in it is N/A); the overall score is the weighted mean of the
non-null categories (weights renormalised); a failed auto-fail criterion makes the overall
score 0 and is listed in ``auto_fail_criteria``.

Reading input files is :mod:`qa.inputs`, writing the results as Parquet :mod:`qa.results`,
the rubric tools (``qa rubric test`` / ``explain``) :mod:`qa.rubric_tools`. The names they
had here (``iter_inputs``, ``write_results``, ``write_frames``, ``results_frames``,
``ResultsWriter``, ``run_examples``, ``ExampleResult``, ``explain_rubric``) are kept,
re-exported, for compatibility.
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
from .inputs import AUDIO_EXTS, iter_inputs  # noqa: F401  (iter_inputs: kept for compatibility)
from .nlp import Analyzer, ConvNLP
from .results import ResultsWriter, results_frames, write_frames, write_results  # noqa: F401  (compatibility)
from .rubric import CATEGORIES, Criterion, Rubric
from .store import safe_name

if TYPE_CHECKING:
    from .executor import Executor

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


# ---------------------------------------------------------------- compatibility
_MOVED = {"run_examples": "rubric_tools", "ExampleResult": "rubric_tools", "explain_rubric": "rubric_tools"}
"""Names that lived here, now in :mod:`qa.rubric_tools` (which imports this module, hence
read on first use): ``from qa.score import run_examples`` keeps working."""


def __getattr__(name: str):
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(f"{__package__}.{_MOVED[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
