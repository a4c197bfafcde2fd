"""Shared CLI pieces: option decorators, error conversion, batch bookkeeping."""

from __future__ import annotations

import functools
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import click

from ..errors import OutputLockedError, QAError, display
from ..store import Failure, OutDir, record_failures

EXIT_OK = 0
EXIT_FAILURES = 1
EXIT_USAGE = 2
EXIT_BUSY = 3


class QAClickException(click.ClickException):
    """A user's mistake, shown as one line (``Error: …``) with no traceback."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURES):
        super().__init__(message)
        self.exit_code = exit_code


def main_group() -> type[click.Group]:
    class QAGroup(click.Group):
        """Converts domain exceptions into clean messages, once, at the CLI edge."""

        def invoke(self, ctx: click.Context):  # noqa: D401
            try:
                return super().invoke(ctx)
            except OutputLockedError as exc:
                raise QAClickException(str(exc), EXIT_BUSY) from None
            except QAError as exc:
                raise QAClickException(str(exc), EXIT_FAILURES) from None
            except KeyboardInterrupt:
                click.echo("Interrupted; finished files are kept. Run the same command again to resume.",
                           err=True)
                ctx.exit(130)

    return QAGroup


# ---------------------------------------------------------------- option decorators
def _compose(*decorators: Callable) -> Callable:
    def apply(fn: Callable) -> Callable:
        for d in reversed(decorators):
            fn = d(fn)
        return fn

    return apply


def inputs_argument(fn: Callable) -> Callable:
    """Files or folders; a path that does not exist is a usage error (exit 2)."""
    return click.argument("inputs", nargs=-1, required=True,
                          type=click.Path(exists=True, path_type=Path))(fn)


def out_option(fn: Callable) -> Callable:
    return click.option(
        "--out", "-o", "out", type=click.Path(file_okay=False, path_type=Path), default=Path("qa-out"),
        show_default=True, help="Output folder (transcripts/, results/, reports/).")(fn)


def quiet_option(fn: Callable) -> Callable:
    return click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary on stderr.")(fn)


def ingest_options(*, maps: tuple[str, ...], agent_labels: tuple[str, ...],
                   customer_labels: tuple[str, ...], system_labels: tuple[str, ...], metadata,
                   agent_id: str | None, fmt: str | None = None):
    """The :class:`~qa.ingest.IngestOptions` for the :func:`chat_options`; a bad ``--map``
    is a usage error (exit 2)."""
    from ..ingest import IngestOptions, SpeakerLabels, parse_map_options

    try:
        mapping = parse_map_options(maps)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--map'") from None
    return IngestOptions(fmt=fmt, mapping=mapping, metadata=metadata, agent_id=agent_id,
                         labels=SpeakerLabels(agent=agent_labels, customer=customer_labels,
                                              system=system_labels))


def load_metadata(meta: Path | None, name_pattern: str | None):
    """The :class:`~qa.metadata.Metadata` for ``--meta`` / ``--name-pattern`` (None when
    neither is given); a bad sidecar or pattern is a usage error (exit 2)."""
    from ..errors import MetadataError
    from ..metadata import Metadata

    if not (meta or name_pattern):
        return None
    try:
        return Metadata(meta, name_pattern)
    except MetadataError as exc:
        raise QAClickException(str(exc), EXIT_USAGE) from None


# ---------------------------------------------------------------- option groups
def option_group(target: str, build: Callable[..., Any], *options: Callable) -> Callable:
    """One decorator for a group of click options that reach the command as one typed
    object: the raw values are taken out of the command's keyword arguments and
    ``build(**values)`` is passed as ``target`` (built once, before the command runs)."""

    def probe():  # pragma: no cover - never called
        pass

    for o in options:
        o(probe)
    names = [p.name for p in probe.__click_params__]

    def decorator(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            values = {n: kwargs.pop(n) for n in names}
            kwargs[target] = build(**values)
            return fn(*args, **kwargs)

        wrapper.__click_params__ = list(getattr(fn, "__click_params__", []))
        return _compose(*options)(wrapper)

    return decorator


def _transcribe_options(**v):
    from ..transcribe import TranscribeOptions

    if v["batch_size"] and not v["vad"]:
        raise click.BadParameter("--batch-size needs --vad (the batches are VAD speech segments)",
                                 param_hint="'--batch-size'")
    return TranscribeOptions(model=v["model"], device=v["device"], compute_type=v["compute_type"],
                             language=v["language"], beam_size=v["beam_size"], vad=v["vad"],
                             batch_size=v["batch_size"], temperature_fallback=v["temperature_fallback"],
                             agent_channel=v["agent_channel"], pause_split_s=v["pause_split"],
                             workers=v["workers"], cpu_threads=v["cpu_threads"])


transcribe_group = option_group(
    "transcribe", _transcribe_options,
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
    click.option("--batch-size", "batch_size", type=click.IntRange(0, 256), default=0, show_default=True,
                 help="Decode VAD segments in batches of this size with faster-whisper's batched "
                      "pipeline (less CPU per minute; fills a GPU). Needs --vad. 0 = sequential."),
    click.option("--temperature-fallback/--no-temperature-fallback", "temperature_fallback",
                 default=False, show_default=True,
                 help="Retry badly decoded windows at higher sampling temperatures (random: the same "
                      "audio may then give different words from run to run)."),
    click.option("--agent-channel", "agent_channel", type=click.Choice(["left", "right"]),
                 default="left", show_default=True,
                 help="Stereo: the channel that holds the agent; the other is the customer."),
    click.option("--pause-split", "pause_split", type=click.FloatRange(0.05, 30.0), default=1.0,
                 show_default=True, metavar="SECONDS",
                 help="A pause longer than this between two words starts a new turn."),
    click.option("--workers", type=click.IntRange(0, 64), default=0, show_default=True,
                 help="Channels transcribed at once on this machine, sharing one model (0 = one "
                      "per CPU core, at most 4). With --cluster every cluster worker takes channels."),
    click.option("--cpu-threads", "cpu_threads", type=click.IntRange(0, 256), default=0,
                 show_default=True, help="Threads per worker (0 = cores / workers)."),
)
"""Every transcription option -> ``transcribe`` (:class:`qa.transcribe.TranscribeOptions`)."""


_META = (
    click.option("--meta", "meta", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                 help="Sidecar CSV with agent_id, team, started_at, customer_name … per "
                      "'file' or 'conversation_id'."),
    click.option("--name-pattern", "name_pattern", metavar="PATTERN",
                 help='Read metadata from file names, e.g. "{agent_id}_{date}_{call_id}".'),
    click.option("--agent-id", "agent_id", metavar="ID",
                 help="Agent id for inputs whose file, --meta and --name-pattern give none."),
)
_CHAT = (
    click.option("--map", "maps", multiple=True, metavar="FIELD=COLUMN",
                 help="Where a differently named export keeps a field, e.g. --map "
                      "speaker=author_role --map text=body (repeatable). Fields: "
                      "conversation_id, speaker, text, timestamp, agent_id, agent_name, team, "
                      "customer_name, channel, message_id, author, messages."),
    click.option("--agent-label", "agent_labels", multiple=True, metavar="LABEL",
                 help="A speaker label that means the agent, e.g. support (repeatable, any case)."),
    click.option("--customer-label", "customer_labels", multiple=True, metavar="LABEL",
                 help="A speaker label that means the customer, e.g. user (repeatable, any case)."),
    click.option("--system-label", "system_labels", multiple=True, metavar="LABEL",
                 help="A speaker label for bot messages and notices (repeatable, any case)."),
)


def _ingest_options(*, meta=None, name_pattern=None, agent_id=None, maps=(), agent_labels=(),
                    customer_labels=(), system_labels=(), fmt=None):
    return ingest_options(maps=maps, agent_labels=agent_labels, customer_labels=customer_labels,
                          system_labels=system_labels, metadata=load_metadata(meta, name_pattern),
                          agent_id=agent_id, fmt=fmt)


def ingest_group(*, chat: bool = True, formats: bool = False) -> Callable:
    """Metadata options (``--meta``, ``--name-pattern``, ``--agent-id``), with ``chat`` the
    chat-export options (``--map``, speaker labels), with ``formats`` ``--format`` ->
    ``ingest`` (:class:`qa.ingest.IngestOptions`, its ``metadata`` loaded once)."""
    opts = list(_CHAT if chat else ()) + list(_META)
    if formats:
        from ..ingest import FORMATS

        opts.insert(0, click.option("--format", "fmt", type=click.Choice(list(FORMATS)), default=None,
                                    help="Read every input as this format instead of detecting it per file."))
    return option_group("ingest", _ingest_options, *opts)


def _score_options(*, rubric_path, jobs, no_cache=False):
    from ..pipeline import ScoreOptions

    return ScoreOptions(rubric=rubric_path, jobs=jobs, cache=not no_cache)


def score_group(*, cache_flag: bool = True) -> Callable:
    """``--rubric``, ``--jobs`` (and ``--no-cache``) -> ``score`` (:class:`qa.pipeline.ScoreOptions`)."""
    opts = [
        click.option("--rubric", "rubric_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     default=None, help="Rubric YAML (default: the shipped rubrics/default.yaml)."),
        click.option("--jobs", "-j", type=click.IntRange(1, 64), default=None,
                     help="Scoring processes on this machine for new text (default: 2 on a "
                          "multi-core machine; 1 scores in this process only)."),
    ]
    if cache_flag:
        opts.append(click.option("--no-cache", "no_cache", is_flag=True,
                                 help="Do not read or write the parsed-text cache in OUT/.cache/spacy."))
    return option_group("score", _score_options, *opts)


def _report_options(**v):
    from ..pipeline import ReportOptions

    if v["date_from"] and v["date_to"] and v["date_from"] > v["date_to"]:
        raise click.BadParameter("--from is after --to", param_hint="'--from'")
    return ReportOptions(period=v["period"], date_from=v["date_from"], date_to=v["date_to"],
                         team=v["team"], templates=v["templates_dir"], redact=v["redact"],
                         call_pages=v["call_pages"])


class DateParam(click.ParamType):
    """A calendar day, YYYY-MM-DD."""

    name = "DATE"

    def convert(self, value, param, ctx):
        from datetime import date

        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value).strip())
        except ValueError:
            self.fail(f"{value!r} is not a date; use YYYY-MM-DD, e.g. 2026-05-01", param, ctx)


def _call_page_modes() -> tuple[str, ...]:
    return ("auto", "all", "linked", "none")


report_group = option_group(
    "report", _report_options,
    click.option("--period", type=click.Choice(["week", "month"]), default="week",
                 show_default=True, help="Unit of the trend charts and arrows."),
    click.option("--from", "date_from", type=DateParam(),
                 help="First day to include (YYYY-MM-DD, UTC)."),
    click.option("--to", "date_to", type=DateParam(),
                 help="Last day to include (YYYY-MM-DD, UTC)."),
    click.option("--team", help="Only this team."),
    click.option("--templates", "templates_dir",
                 type=click.Path(exists=True, file_okay=False, path_type=Path),
                 help="Folder of templates overriding the shipped ones (reports/) by name "
                      "(index.html, agent.html, call.html, base.html, report.css)."),
    click.option("--redact", is_flag=True,
                 help="Mask personal data (cards, phones, e-mail, ids, addresses, handles, "
                      "the customer's name) in quotes and transcripts."),
    click.option("--call-pages", type=click.Choice(_call_page_modes()), default="auto",
                 show_default=True,
                 help="Pages per conversation: all, linked (quoted + 20 latest per agent), "
                      "none; auto = all up to 20,000 conversations, else linked."),
)
"""The report selection options -> ``report`` (:class:`qa.pipeline.ReportOptions`)."""


def _cluster_options(*, cluster):
    from ..executor import ClusterOptions

    try:
        return ClusterOptions.parse(cluster)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--cluster'") from None


cluster_group = option_group(
    "cluster", _cluster_options,
    click.option("--cluster", "cluster", metavar="local:N|tcp://HOST:PORT", default=None,
                 help="Run the work on a Dask cluster: local:N starts N worker processes on this "
                      "machine; tcp://HOST:8786 uses a running `dask scheduler` (inputs and OUT on a "
                      "filesystem every worker sees). Needs pip install 'qa-toolkit[dask]'."),
)
"""``--cluster`` -> ``cluster`` (:class:`qa.executor.ClusterOptions`)."""


class OneLine(logging.Filter):
    """Every message on stderr stays one line with its control characters shown (``\\n``,
    ``\\x1b``), whatever the file names, ids and texts it quotes hold (:func:`display`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        safe = display(msg)
        if safe != msg:
            record.msg, record.args = safe, None
        return True


def setup_logging(quiet: bool) -> None:
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO,
                        format="%(message)s", stream=sys.stderr, force=True)
    for handler in logging.getLogger().handlers:
        handler.addFilter(OneLine())
    # third-party libraries are noisy at INFO
    for name in ("faster_whisper", "httpx", "matplotlib", "numba", "PIL"):
        logging.getLogger(name).setLevel(logging.WARNING)


# ---------------------------------------------------------------- batch bookkeeping
@dataclass
class Batch:
    """Collects per-input failures for one command: prints each as one line on stderr,
    writes them to ``results/failures.csv`` and decides the exit code."""

    out: OutDir
    stages: tuple[str, ...]
    failures: list[Failure] = field(default_factory=list)

    def fail(self, file: str | Path, stage: str, reason: str) -> None:
        f = Failure(str(file), stage, reason.replace("\n", " "))
        self.failures.append(f)
        click.echo(f"error: {display(f.file)}: {display(f.reason)}", err=True)

    def fail_exc(self, file: str | Path, exc: QAError, stage: str | None = None) -> None:
        path = exc.path or str(file)
        place = f" ({exc.place})" if exc.place else ""
        self.failures.append(Failure(str(path), stage or exc.stage, f"{exc.reason}{place}"))
        click.echo(f"error: {exc}", err=True)

    def finish(self) -> int:
        record_failures(self.out, self.stages, self.failures)
        return EXIT_FAILURES if self.failures else EXIT_OK


def echo_summary(quiet: bool, text: str) -> None:
    if not quiet:
        click.echo(text, err=True)
