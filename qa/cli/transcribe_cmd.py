"""``qa transcribe``: recordings -> OUT/transcripts/<id>.json, with faster-whisper."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..inputs import AUDIO_EXTS, discover
from ..store import OutDir, run_lock
from ..transcribe import FileResult, transcribe_paths
from .common import (Batch, EXIT_USAGE, QAClickException, cluster_group, echo_summary,
                     ingest_group, inputs_argument, out_option, quiet_option, setup_logging,
                     transcribe_group)

if TYPE_CHECKING:
    from ..executor import ClusterOptions
    from ..ingest import IngestOptions
    from ..transcribe import TranscribeOptions


class _Progress:
    """Rich progress bar on stderr: files done, audio minutes, speed as × real time."""

    def __init__(self, total: int, quiet: bool):
        self.bar = None
        self.t0 = time.perf_counter()
        self.audio_s = 0.0
        self.new_audio_s = 0.0  # audio actually transcribed (not from the cache)
        if quiet or total < 1:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(TextColumn("transcribing"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("files · {task.fields[audio]:.1f} audio min · {task.fields[speed]}"),
                            TimeElapsedColumn(), console=Console(stderr=True), transient=False)
        self.task = self.bar.add_task("transcribe", total=total, audio=0.0, speed="")

    def __enter__(self):
        if self.bar:
            self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        if self.bar:
            self.bar.__exit__(*exc)

    def update(self, res: FileResult) -> None:
        self.audio_s += res.audio_s
        if not res.cached:
            self.new_audio_s += res.audio_s
        if self.bar:
            self.bar.update(self.task, advance=1, audio=self.audio_s / 60, speed=self.speed())

    def speed(self) -> str:
        wall = max(time.perf_counter() - self.t0, 1e-6)
        return f"{self.new_audio_s / wall:.1f}× real time" if self.new_audio_s else "from cache"


@click.command("transcribe")
@inputs_argument
@out_option
@transcribe_group
@ingest_group(chat=False)
@cluster_group
@quiet_option
@click.pass_context
def command(ctx: click.Context, inputs: tuple[Path, ...], out: Path, transcribe: "TranscribeOptions",
            ingest: "IngestOptions", cluster: "ClusterOptions", quiet: bool) -> None:
    """Transcribe call recordings into conversation JSON files with faster-whisper.

    Writes OUT/transcripts/<conversation_id>.json per recording: turns with speaker,
    start/end seconds, text and word timings, plus duration, language, model and options.
    Stereo recordings hold one party per channel (left = agent unless --agent-channel
    right); each channel is transcribed alone and cut into turns at pauses. Mono
    recordings are one stream; roles are inferred (two voices told apart by pitch, the
    first speaker is the agent; alternation at pauses when the voices sound alike) and
    the conversation says so. Formats: wav flac mp3 ogg m4a …, any
    sample rate. Every recording needs an agent id: from --meta, --name-pattern or
    --agent-id.

    Results are cached in OUT/.cache by audio hash, model and options: running the same
    command again transcribes nothing.

    \b
    Example:
      qa transcribe calls/ --meta calls.csv --out qa-out
      qa transcribe calls/ --name-pattern "{agent_id}_{date}_{call_id}" --out qa-out
      qa transcribe call.flac --agent-id sam --agent-channel right --model ~/models/whisper-small-ct2

    A recording that cannot be used (corrupt, empty, silent, no speech on one channel,
    no agent id) is reported on stderr and in OUT/results/failures.csv; the others go on.
    Exit codes: 0 ok, 1 some inputs failed, 2 usage error, 3 output folder busy.
    """
    from ..pipeline import stage_session

    setup_logging(quiet)
    options = transcribe
    files, _ = discover(inputs, AUDIO_EXTS)
    if not files:
        raise QAClickException(
            f"no recordings ({' '.join(AUDIO_EXTS)}) in {', '.join(str(p) for p in inputs)}", EXIT_USAGE)
    outdir = OutDir.at(out)
    batch = Batch(outdir, ("transcribe",))
    done = cached = 0
    t0 = time.perf_counter()
    with run_lock(outdir), stage_session(cluster, outdir, inputs) as session:
        progress = _Progress(len(files), quiet)
        with progress:
            failed: list[FileResult] = []
            for res in transcribe_paths(files, outdir, options, ingest.metadata, progress=progress.update,
                                        agent_id=ingest.agent_id,
                                        executor=session.executor("gil-free", options.resolved_workers())):
                if res.ok:
                    done += 1
                    cached += res.cached
                else:
                    failed.append(res)
        for res in sorted(failed, key=lambda r: str(r.path)):
            batch.fail_exc(res.path, res.error, stage="transcribe")
        code = batch.finish()
    wall = time.perf_counter() - t0
    transcribed = done - cached
    echo_summary(quiet, f"{len(files)} recording{'s' if len(files) != 1 else ''}: {cached} cached, "
                        f"{transcribed} transcribed, {len(failed)} failed; "
                        f"{progress.audio_s / 60:.1f} audio min in {wall:.1f} s ({progress.speed()}) "
                        f"-> {outdir.transcripts}")
    ctx.exit(code)
