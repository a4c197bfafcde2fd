"""``qa ingest``: chat exports and transcripts -> OUT/transcripts/<id>.json."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..ingest import ingest_paths, summarize
from ..inputs import TEXT_EXTS, discover
from ..store import OutDir, run_lock
from ..errors import display
from .common import (EXIT_USAGE, Batch, QAClickException, echo_summary, ingest_group,
                     inputs_argument, out_option, quiet_option, setup_logging)

if TYPE_CHECKING:
    from ..ingest import IngestOptions


@click.command("ingest")
@inputs_argument
@out_option
@ingest_group(formats=True)
@quiet_option
@click.pass_context
def command(ctx: click.Context, inputs: tuple[Path, ...], out: Path, ingest: "IngestOptions",
            quiet: bool) -> None:
    """Read chat exports and transcripts into conversation JSON files.

    Writes one file per conversation to OUT/transcripts/<conversation_id>.json, ready for
    `qa score`. Formats are detected from each file (or named with --format): the
    canonical chat JSONL, the same fields as CSV, JSON lists of messages or conversations,
    WebVTT, SRT, faster-whisper / whisperX JSON, and the ibm-twitter and abcd exports.
    Folders are searched for .jsonl .ndjson .csv .json .vtt .srt files.

    \b
    Example:
      qa ingest examples/chats/demo_chats.jsonl --out qa-out
      qa ingest export.csv --map speaker=author_role --map text=body \\
          --agent-label support --customer-label user --out qa-out
      qa ingest calls/*.vtt --name-pattern "{agent_id}_{date}_{call_id}" --out qa-out

    A file that cannot be read is reported on stderr and in OUT/results/failures.csv;
    the others are still read. Exit codes: 0 ok, 1 some inputs failed, 2 usage error.
    """
    setup_logging(quiet)
    options = ingest
    files, _ = discover(inputs, TEXT_EXTS)
    if not files:
        raise QAClickException(
            f"no chat exports or transcripts ({' '.join(TEXT_EXTS)}) in "
            f"{', '.join(str(p) for p in inputs)}", EXIT_USAGE)
    outdir = OutDir.at(out)
    batch = Batch(outdir, ("ingest",))
    with run_lock(outdir):
        results = []
        for result in ingest_paths(files, outdir, options):
            results.append(result)
            for exc in result.errors:
                batch.fail_exc(result.path, exc, stage="ingest")
            if result.conversations and not quiet:
                n = len(result.conversations)
                click.echo(f"{display(result.path)}: {n} conversation{'s' if n != 1 else ''} "
                           f"({result.format})", err=True)
        code = batch.finish()
    echo_summary(quiet, summarize(results).line())
    ctx.exit(code)
