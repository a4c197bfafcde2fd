"""``qa score``: conversations (JSON, or chat exports read directly) x rubric ->
OUT/results/conversations.parquet and criteria.parquet."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..inputs import discover
from ..rubric import load_rubric
from ..store import OutDir, run_lock
from .common import (EXIT_FAILURES, EXIT_OK, EXIT_USAGE, QAClickException, cluster_group,
                     echo_summary, ingest_group, inputs_argument, out_option, quiet_option,
                     score_group, setup_logging)

if TYPE_CHECKING:
    from ..executor import ClusterOptions
    from ..ingest import IngestOptions
    from ..pipeline import ScoreOptions


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
@score_group()
@out_option
@ingest_group(chat=False)
@cluster_group
@quiet_option
@click.pass_context
def command(ctx: click.Context, inputs: tuple[Path, ...], out: Path, score: "ScoreOptions",
            ingest: "IngestOptions", cluster: "ClusterOptions", quiet: bool) -> None:
    """Score conversations against a rubric: the 4 P's and empathy, with evidence.

    INPUT is conversation JSON written by `qa ingest` / `qa transcribe` (typically
    OUT/transcripts; an output folder itself means its transcripts/), or chat exports and transcripts read directly (as `qa ingest` reads
    them). Writes OUT/results/conversations.parquet (one row per conversation: overall and
    one score per category) and OUT/results/criteria.parquet (one row per conversation and
    criterion: pass / fail / na, score, reason and evidence). Conversations are also kept
    in OUT/transcripts so reports can show them.

    Parsed text is cached in OUT/.cache/spacy: scoring again after a rubric edit does not
    parse again. With --cluster the chunks are scored on Dask workers (OUT on a filesystem
    every worker sees); the results are written here.

    \b
    Example:
      qa score qa-out/transcripts --out qa-out
      qa score qa-out/transcripts --rubric rubrics/acme.yaml --out qa-out
      qa score chats/export.jsonl --out qa-out

    A conversation that cannot be read or scored is reported on stderr and in
    OUT/results/failures.csv; the others are scored. Exit codes: 0 ok, 1 some inputs
    failed (or the rubric has problems), 2 usage error, 3 output folder busy.
    """
    from ..pipeline import SCORE_EXTS, ScoreBatch, make_scorer, score_paths, stage_session

    setup_logging(quiet)
    t0 = time.perf_counter()
    rubric = load_rubric(score.rubric)  # RubricError -> every problem, exit 1
    inputs = tuple(output_folder_inputs(inputs))
    files, _ = discover(inputs, SCORE_EXTS)
    metadata = ingest.metadata
    if metadata is not None and metadata.sidecar_path:
        skip = Path(metadata.sidecar_path).resolve()
        files = [f for f in files if f.resolve() != skip]
    if not files:
        raise QAClickException(f"no conversation files ({' '.join(SCORE_EXTS)}) in "
                               f"{', '.join(str(p) for p in inputs)}", EXIT_USAGE)
    outdir = OutDir.at(out)
    with run_lock(outdir), stage_session(cluster, outdir, inputs) as session:
        def on_failure(f, exc) -> None:
            click.echo(f"error: {exc if exc is not None else f'{f.file}: {f.reason}'}", err=True)

        batch = ScoreBatch(outdir, make_scorer(rubric, outdir, score, session), on_failure=on_failure)
        show = not quiet and sys.stderr.isatty()
        with click.progressbar(length=len(files), label="scoring (files read)", file=sys.stderr,
                               hidden=not show) as bar:
            for _ in score_paths(files, batch, ingest):
                bar.update(1)
            batch.commit()
        batch.record(("score",))
    code = EXIT_FAILURES if batch.failures else EXIT_OK
    done, scorer = batch.scored, batch.scorer
    dt = time.perf_counter() - t0
    mean = f", mean overall {batch.overall_sum / batch.overall_n:.1f}" if batch.overall_n else ""
    af, nfail = batch.auto_fail, len(batch.failures)
    echo_summary(quiet, (
        f"score: {done} conversation{'s' if done != 1 else ''} scored with rubric "
        f"{rubric.id} v{rubric.version}{'' if score.rubric else ' (default)'}{mean}, {af} auto-fail, "
        f"{nfail} failure{'s' if nfail != 1 else ''}; "
        f"{scorer.analyzer.parsed} parsed, {scorer.analyzer.cached} from cache; {dt:.1f} s"))
    echo_summary(quiet, f"results: {outdir.results / 'conversations.parquet'}, "
                        f"{outdir.results / 'criteria.parquet'}")
    ctx.exit(code)
