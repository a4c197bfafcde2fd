"""``qa run``: recordings, chats and transcripts -> scores -> reports, in one command."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from ..store import OutDir, plural, run_lock
from .common import (EXIT_FAILURES, EXIT_OK, EXIT_USAGE, QAClickException, chat_options,
                     ingest_options, inputs_argument, load_metadata, meta_options, out_option,
                     quiet_option, setup_logging)
from .report_cmd import report_options
from .transcribe_cmd import model_options, parallel_options, turn_options


@click.command("run")
@inputs_argument
@click.option("--rubric", "rubric_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Rubric YAML (default: the shipped rubrics/default.yaml).")
@out_option
@model_options
@parallel_options
@turn_options
@chat_options
@meta_options
@report_options
@click.option("--no-report", is_flag=True, help="Score only; skip the HTML reports.")
@click.option("--jobs", "-j", type=click.IntRange(1, 64), default=None,
              help="spaCy worker processes for new text (default: 2 on a multi-core machine).")
@quiet_option
@click.pass_context
def command(ctx: click.Context, inputs: tuple[Path, ...], rubric_path: Path | None, out: Path,
            model: str | None, device: str, compute_type: str, language: str | None, beam_size: int,
            vad: bool, workers: int, cpu_threads: int, agent_channel: str, pause_split: float,
            maps: tuple[str, ...], agent_labels: tuple[str, ...], customer_labels: tuple[str, ...],
            system_labels: tuple[str, ...], agent_id: str | None, meta: Path | None,
            name_pattern: str | None, period: str, date_from: date | None, date_to: date | None,
            team: str | None, templates_dir: Path | None, redact: bool, call_pages: str,
            no_report: bool, jobs: int | None, quiet: bool) -> None:
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

    Then open OUT/reports/index.html. Inputs that fail are listed on stderr and in
    OUT/results/failures.csv; the rest are scored. Exit codes: 0 ok, 1 some inputs
    failed (or the rubric has problems), 2 usage error, 3 output folder busy.
    """
    from ..pipeline import RunOptions, run_pipeline
    from ..transcribe import TranscribeOptions

    setup_logging(quiet)
    metadata = load_metadata(meta, name_pattern)
    if date_from and date_to and date_from > date_to:
        raise click.BadParameter("--from is after --to", param_hint="'--from'")

    topts = TranscribeOptions(model=model, device=device, compute_type=compute_type, language=language,
                              beam_size=beam_size, vad=vad, agent_channel=agent_channel,
                              pause_split_s=pause_split, workers=workers, cpu_threads=cpu_threads)
    iopts = ingest_options(maps=maps, agent_labels=agent_labels, customer_labels=customer_labels,
                           system_labels=system_labels, metadata=metadata, agent_id=agent_id)
    options = RunOptions(rubric=rubric_path, transcribe=topts, ingest=iopts, metadata=metadata,
                         agent_id=agent_id, period=period,
                         date_from=date_from, date_to=date_to, team=team, redact=redact,
                         templates=templates_dir, call_pages=call_pages, jobs=jobs,
                         report=not no_report)
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
