"""Shared CLI pieces: option decorators, error conversion, batch bookkeeping."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import click

from ..errors import OutputLockedError, QAError
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


def meta_options(fn: Callable) -> Callable:
    return _compose(
        click.option("--meta", "meta", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="Sidecar CSV with agent_id, team, started_at, customer_name … per "
                          "'file' or 'conversation_id'."),
        click.option("--name-pattern", "name_pattern", metavar="PATTERN",
                     help='Read metadata from file names, e.g. "{agent_id}_{date}_{call_id}".'),
        click.option("--agent-id", "agent_id", metavar="ID",
                     help="Agent id for inputs whose file, --meta and --name-pattern give none."),
    )(fn)


def chat_options(fn: Callable) -> Callable:
    """``--map`` and the speaker-label options for chat exports (``qa ingest``, ``qa run``)."""
    return _compose(
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
    )(fn)


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


def setup_logging(quiet: bool) -> None:
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO,
                        format="%(message)s", stream=sys.stderr, force=True)
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
        click.echo(f"error: {f.file}: {f.reason}", err=True)

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
