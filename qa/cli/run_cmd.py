"""``qa run``: recordings, chats and transcripts -> scores -> reports, in one command."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..store import OutDir, plural, run_lock
from .common import (EXIT_FAILURES, EXIT_OK, EXIT_USAGE, QAClickException, cluster_group,
                     ingest_group, inputs_argument, out_option, quiet_option, report_group,
                     score_group, setup_logging, transcribe_group)

if TYPE_CHECKING:
    from ..executor import ClusterOptions
    from ..ingest import IngestOptions
    from ..pipeline import ReportOptions, ScoreOptions
    from ..transcribe import TranscribeOptions


@click.command("run")
@inputs_argument
@score_group(cache_flag=False)
@out_option
@transcribe_group
@ingest_group()
@report_group
@click.option("--no-report", is_flag=True, help="Score only; skip the HTML reports.")
@cluster_group
@quiet_option
@click.pass_context
def command(ctx: click.Context, inputs: tuple[Path, ...], out: Path, score: "ScoreOptions",
            transcribe: "TranscribeOptions", ingest: "IngestOptions", report: "ReportOptions",
            no_report: bool, cluster: "ClusterOptions", quiet: bool) -> None:
    """Transcribe, ingest, score and report everything, end to end.

    INPUTs are files or folders, mixed: recordings (.wav .flac .mp3 .ogg .m4a …) are
    transcribed, chat exports and transcripts (.jsonl .csv .json .vtt .srt) are read,
    conversation JSON from an earlier run is used as it is. Everything is scored against
    the rubric (the shipped default when --rubric is not given) and the HTML reports are
    written to OUT/reports. Cached transcripts and parsed text are reused: running the
    same command again, or after a rubric edit, redoes only what changed; after an
    interruption it finishes what was not done.

    \b
    Example:
      qa run examples/ --meta examples/calls.csv --out qa-out
      qa run recordings/ chats/week48.jsonl --rubric rubrics/acme.yaml --out qa-out
      qa run calls/ --name-pattern "{agent_id}_{date}_{call_id}" --redact --out qa-out
      qa run /mnt/qa/calls --cluster tcp://10.0.0.5:8786 --out /mnt/qa/out

    Then open OUT/reports/index.html. Inputs that fail are listed on stderr and in
    OUT/results/failures.csv; the rest are scored. Exit codes: 0 ok, 1 some inputs
    failed (or the rubric has problems), 2 usage error, 3 output folder busy.
    """
    from ..pipeline import RunOptions, run_pipeline

    setup_logging(quiet)
    options = RunOptions(ingest=ingest, transcribe=transcribe, score=score, report=report,
                         cluster=cluster, write_report=not no_report)
    outdir = OutDir.at(out)

    def on_failure(f, exc) -> None:
        click.echo(f"error: {exc if exc is not None else f'{f.file}: {f.reason}'}", err=True)

    def on_stage(name: str) -> None:
        if not quiet:
            click.echo(f"{name} …", err=True)

    def on_transcribed(res) -> None:
        if not quiet and res.ok:
            how = "from cache" if res.cached else "transcribed"
            click.echo(f"  {res.path}: {res.audio_s:.0f} s audio, {how}", err=True)

    with run_lock(outdir):
        summary = run_pipeline(inputs, outdir, options, on_failure=on_failure, on_stage=on_stage,
                               on_transcribed=on_transcribed)
    if summary.files == 0:
        raise QAClickException(
            f"no recordings, chat exports or transcripts in {', '.join(str(p) for p in inputs)}",
            EXIT_USAGE)
    if not quiet:
        _print_summary(summary, outdir)
    ctx.exit(EXIT_FAILURES if summary.failures else EXIT_OK)


def _print_summary(summary, outdir: OutDir) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="qa run", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("inputs", f"{plural(summary.files, 'file')} ({plural(summary.recordings, 'recording')}, "
                            f"{plural(summary.text_files, 'chat/transcript file')})")
    if summary.recordings:
        table.add_row("transcribed", f"{summary.transcribed} new, {summary.transcripts_cached} from cache, "
                                     f"{summary.audio_s / 60:.1f} audio min")
    table.add_row("conversations", f"{summary.conversations} read, {summary.scored} scored, "
                                   f"{summary.auto_fail} auto-fail")
    table.add_row("agents", str(summary.agents))
    table.add_row("rubric", f"{summary.rubric.get('id')} v{summary.rubric.get('version')} "
                            f"({summary.rubric.get('path')})")
    table.add_row("failures", f"{summary.failed}" + (f" — see {outdir.failures_csv}" if summary.failed else ""))
    table.add_row("time", f"{summary.timings.get('total', 0):.1f} s")
    table.add_row("report", str(summary.report_index) if summary.report_index else "not written")
    Console(stderr=True).print(table)
