"""``qa transcribe``: recordings -> OUT/transcripts/<id>.json, with faster-whisper."""

from __future__ import annotations

import time
from pathlib import Path

import click

from ..inputs import AUDIO_EXTS, discover
from ..store import OutDir, run_lock
from ..transcribe import FileResult, TranscribeOptions, transcribe_paths
from .common import (Batch, EXIT_USAGE, QAClickException, echo_summary, inputs_argument,
                     load_metadata, meta_options, out_option, quiet_option, setup_logging)


def model_options(fn):
    """``--model/--device/--compute-type/--language/--beam-size/--vad`` (shared with ``qa run``)."""
    decorators = [
        click.option("--model", "model", metavar="FOLDER|NAME", default=None,
                     help="A CTranslate2 Whisper model folder, or a faster-whisper model name "
                          "(small, large-v3 …; downloaded only if not on disk). "
                          "Default: the bundled tiny.en, works offline."),
        click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
                     show_default=True, help="auto uses CUDA when a GPU is present."),
        click.option("--compute-type", "compute_type", default="auto", show_default=True,
                     help="CTranslate2 compute type: auto (int8 on CPU, float16 on CUDA), int8, "
                          "int8_float16, float16, float32."),
        click.option("--language", default=None, metavar="CODE",
                     help="Spoken language, e.g. en. Default: detected per channel."),
        click.option("--beam-size", "beam_size", type=click.IntRange(1, 20), default=5, show_default=True),
        click.option("--vad/--no-vad", default=True, show_default=True,
                     help="Skip non-speech with Silero VAD before recognition."),
    ]
    for d in reversed(decorators):
        fn = d(fn)
    return fn


def parallel_options(fn):
    decorators = [
        click.option("--workers", type=click.IntRange(0, 64), default=0, show_default=True,
                     help="Channels transcribed at once, sharing one model (0 = one per CPU core, "
                          "at most 4)."),
        click.option("--cpu-threads", "cpu_threads", type=click.IntRange(0, 256), default=0,
                     show_default=True, help="Threads per worker (0 = cores / workers)."),
    ]
    for d in reversed(decorators):
        fn = d(fn)
    return fn


def turn_options(fn):
    """``--agent-channel/--pause-split``: how a recording becomes turns (shared with ``qa run``)."""
    decorators = [
        click.option("--agent-channel", "agent_channel", type=click.Choice(["left", "right"]),
                     default="left", show_default=True,
                     help="Stereo: the channel that holds the agent; the other is the customer."),
        click.option("--pause-split", "pause_split", type=click.FloatRange(0.05, 30.0), default=1.0,
                     show_default=True, metavar="SECONDS",
                     help="A pause longer than this between two words starts a new turn."),
    ]
    for d in reversed(decorators):
        fn = d(fn)
    return fn


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
@model_options
@click.option("--batch-size", "batch_size", type=click.IntRange(0, 256), default=0, show_default=True,
              help="Decode VAD segments in batches of this size with faster-whisper's batched "
                   "pipeline (less CPU per minute; fills a GPU). Needs --vad. 0 = sequential.")
@click.option("--temperature-fallback/--no-temperature-fallback", "temperature_fallback",
              default=False, show_default=True,
              help="Retry badly decoded windows at higher sampling temperatures (random: the same "
                   "audio may then give different words from run to run).")
@turn_options
@parallel_options
@meta_options
@quiet_option
@click.pass_context
def command(ctx: click.Context, inputs: tuple[Path, ...], out: Path, model: str | None, device: str,
            compute_type: str, language: str | None, beam_size: int, vad: bool,
            batch_size: int, temperature_fallback: bool, agent_channel: str,
            pause_split: float, workers: int, cpu_threads: int, agent_id: str | None,
            meta: Path | None, name_pattern: str | None, quiet: bool) -> None:
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
    setup_logging(quiet)
    if batch_size and not vad:
        raise click.BadParameter("--batch-size needs --vad (the batches are VAD speech segments)",
                                 param_hint="'--batch-size'")
    metadata = load_metadata(meta, name_pattern)
    files, _ = discover(inputs, AUDIO_EXTS)
    if not files:
        raise QAClickException(
            f"no recordings ({' '.join(AUDIO_EXTS)}) in {', '.join(str(p) for p in inputs)}", EXIT_USAGE)
    options = TranscribeOptions(model=model, device=device, compute_type=compute_type, language=language,
                                beam_size=beam_size, vad=vad, batch_size=batch_size,
                                temperature_fallback=temperature_fallback,
                                agent_channel=agent_channel,
                                pause_split_s=pause_split, workers=workers, cpu_threads=cpu_threads)
    outdir = OutDir.at(out)
    batch = Batch(outdir, ("transcribe",))
    done = cached = 0
    t0 = time.perf_counter()
    with run_lock(outdir):
        progress = _Progress(len(files), quiet)
        with progress:
            failed: list[FileResult] = []
            for res in transcribe_paths(files, outdir, options, metadata, progress=progress.update,
                                        agent_id=agent_id):
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
