"""``qa score``: conversations (JSON, or chat exports read directly) x rubric ->
OUT/results/conversations.parquet and criteria.parquet."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click

from ..conversation import Conversation
from ..errors import QAError
from ..inputs import TEXT_EXTS, discover
from ..rubric import load_rubric
from ..store import OutDir, keep_conversation, run_lock
from .common import (Batch, EXIT_USAGE, QAClickException, echo_summary, inputs_argument,
                     load_metadata, meta_options, out_option, quiet_option, setup_logging)

SCORE_EXTS = tuple(dict.fromkeys((".json",) + TEXT_EXTS))


def is_output_folder(path: Path) -> bool:
    """True for a qa output folder (``run.json``, or ``results/`` beside ``transcripts/``)."""
    return path.is_dir() and (path / "transcripts").is_dir() and (
        (path / "run.json").is_file() or (path / "results").is_dir())


def output_folder_inputs(inputs) -> list[Path]:
    """Inputs with each qa output folder replaced by its ``transcripts/``: `qa score qa-out`
    scores the conversations kept there, never ``run.json`` or ``results/failures.csv``
    (nor the reports) as if they were chat exports."""
    out = []
    for p in inputs:
        p = Path(p)
        if is_output_folder(p):
            out.append(p / "transcripts")
        elif p.is_dir() and (p / "run.json").is_file() and (p / "results").is_dir():
            raise QAClickException(
                f"{p} is a qa output folder with no transcripts/ to score. Fix: run `qa ingest` or "
                f"`qa transcribe` with --out {p} first, or give the chat exports themselves.",
                EXIT_USAGE)
        else:
            out.append(p)
    return out


@click.command("score")
@inputs_argument
@click.option("--rubric", "rubric_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Rubric YAML (default: the shipped rubrics/default.yaml).")
@out_option
@click.option("--jobs", "-j", type=click.IntRange(1, 64), default=None,
              help="Scoring processes for large batches (default: 2 on a multi-core machine; "
                   "1 scores in this process only).")
@click.option("--no-cache", is_flag=True, help="Do not read or write the parsed-text cache in OUT/.cache/spacy.")
@meta_options
@quiet_option
@click.pass_context
def command(ctx: click.Context, inputs: tuple[Path, ...], rubric_path: Path | None, out: Path,
            jobs: int | None, no_cache: bool, agent_id: str | None, meta: Path | None,
            name_pattern: str | None, quiet: bool) -> None:
    """Score conversations against a rubric: the 4 P's and empathy, with evidence.

    INPUT is conversation JSON written by `qa ingest` / `qa transcribe` (typically
    OUT/transcripts; an output folder itself means its transcripts/), or chat exports and transcripts read directly (as `qa ingest` reads
    them). Writes OUT/results/conversations.parquet (one row per conversation: overall and
    one score per category) and OUT/results/criteria.parquet (one row per conversation and
    criterion: pass / fail / na, score, reason and evidence). Conversations are also kept
    in OUT/transcripts so reports can show them.

    Parsed text is cached in OUT/.cache/spacy: scoring again after a rubric edit does not
    parse again.

    \b
    Example:
      qa score qa-out/transcripts --out qa-out
      qa score qa-out/transcripts --rubric rubrics/acme.yaml --out qa-out
      qa score chats/export.jsonl --out qa-out

    A conversation that cannot be read or scored is reported on stderr and in
    OUT/results/failures.csv; the others are scored. Exit codes: 0 ok, 1 some inputs
    failed (or the rubric has problems), 2 usage error, 3 output folder busy.
    """
    from ..ingest import IngestOptions
    from ..pipeline import SCORE_CHUNK
    from ..score import ResultsWriter, Scorer, iter_inputs

    setup_logging(quiet)
    t0 = time.perf_counter()
    rubric = load_rubric(rubric_path)  # RubricError -> every problem, exit 1
    metadata = load_metadata(meta, name_pattern)
    inputs = tuple(output_folder_inputs(inputs))
    files, _ = discover(inputs, SCORE_EXTS)
    if metadata is not None and metadata.sidecar_path:
        skip = Path(metadata.sidecar_path).resolve()
        files = [f for f in files if f.resolve() != skip]
    if not files:
        raise QAClickException(f"no conversation files ({' '.join(SCORE_EXTS)}) in "
                               f"{', '.join(str(p) for p in inputs)}", EXIT_USAGE)
    outdir = OutDir.at(out)
    batch = Batch(outdir, ("score",))
    done = overall_sum = overall_n = af = 0
    with run_lock(outdir):
        scorer = Scorer(rubric, cache_dir=None if no_cache else outdir.cache / "spacy",
                        jobs=jobs if jobs is not None else min(2, os.cpu_count() or 1))
        # read, score and write 1,000 conversations at a time: memory does not grow with
        # the size of the batch
        writer = ResultsWriter(outdir)
        pending: list[tuple[Conversation, str]] = []

        def on_error(conv: Conversation, exc: QAError) -> None:
            batch.fail_exc(conv.source.path, exc, stage="score")

        def flush() -> None:
            nonlocal done, overall_sum, overall_n, af
            results = scorer.score_chunk([c for c, _ in pending], [p for _, p in pending],
                                         on_error=on_error)
            pending.clear()
            writer.add(results)
            done += len(results)
            scored = [r.overall for r in results if r.overall is not None]
            overall_sum += sum(scored)
            overall_n += len(scored)
            af += sum(1 for r in results if r.auto_fail)

        show = not quiet and sys.stderr.isatty()
        with click.progressbar(length=len(files), label="scoring (files read)", file=sys.stderr,
                               hidden=not show) as bar:
            def files_read():
                for f in files:
                    yield f
                    bar.update(1)  # resumed once this file's conversations are taken

            for conv, src in iter_inputs(
                    files_read(), ingest_options=IngestOptions(metadata=metadata, agent_id=agent_id),
                    on_error=lambda f, exc: batch.fail_exc(f, exc, stage="score")):
                # keep every scored conversation in OUT/transcripts (reports read it there)
                target = keep_conversation(outdir, conv, src)
                pending.append((conv, str(target.relative_to(outdir.root))))
                if len(pending) >= SCORE_CHUNK:
                    flush()
            flush()
        writer.commit()
        code = batch.finish()
    dt = time.perf_counter() - t0
    mean = f", mean overall {overall_sum / overall_n:.1f}" if overall_n else ""
    echo_summary(quiet, (
        f"score: {done} conversation{'s' if done != 1 else ''} scored with rubric "
        f"{rubric.id} v{rubric.version}{'' if rubric_path else ' (default)'}{mean}, {af} auto-fail, "
        f"{len(batch.failures)} failure{'s' if len(batch.failures) != 1 else ''}; "
        f"{scorer.analyzer.parsed} parsed, {scorer.analyzer.cached} from cache; {dt:.1f} s"))
    echo_summary(quiet, f"results: {outdir.results / 'conversations.parquet'}, "
                        f"{outdir.results / 'criteria.parquet'}")
    ctx.exit(code)

