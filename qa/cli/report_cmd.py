"""``qa report``: results Parquet → HTML coaching reports."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from ..render import CALL_PAGE_MODES, render_reports
from ..store import OutDir, plural, run_lock
from .common import Batch, echo_summary, quiet_option, setup_logging


class DateParam(click.ParamType):
    """A calendar day, YYYY-MM-DD."""

    name = "DATE"

    def convert(self, value, param, ctx):
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value).strip())
        except ValueError:
            self.fail(f"{value!r} is not a date; use YYYY-MM-DD, e.g. 2026-05-01", param, ctx)


def report_options(fn):
    """The selection options shared by ``qa report`` (and, later, ``qa run``)."""
    for deco in reversed([
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
        click.option("--call-pages", type=click.Choice(CALL_PAGE_MODES), default="auto",
                     show_default=True,
                     help="Pages per conversation: all, linked (quoted + 20 latest per agent), "
                          "none; auto = all up to 20,000 conversations, else linked."),
    ]):
        fn = deco(fn)
    return fn


@click.command("report")
@click.argument("results_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "-o", "out", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder; reports go to OUT/reports. Default: RESULTS_DIR.")
@report_options
@quiet_option
@click.pass_context
def command(ctx, results_dir: Path, out: Path | None, period: str, date_from, date_to,
            team: str | None, templates_dir: Path | None, redact: bool, call_pages: str,
            quiet: bool) -> None:
    """Write HTML coaching reports from scored results.

    RESULTS_DIR is the --out folder of `qa score` (holding results/*.parquet). Writes
    OUT/reports/index.html (the team), OUT/reports/agents/<agent>.html (one coaching
    page per agent) and OUT/reports/calls/<conversation>.html (transcript, evidence and
    the audio player). Every page is self-contained HTML: open it from a share or an
    e-mail, offline. Recordings are hard-linked (or copied) into OUT/reports/audio.

    \b
    Example:
      qa report qa-out                                   # -> qa-out/reports/index.html
      qa report qa-out --period month --from 2026-01-01 --team billing --out monthly
    """
    setup_logging(quiet)
    out_dir = OutDir.at(out if out is not None else _default_out(results_dir))
    with run_lock(out_dir):
        batch = Batch(out_dir, ("report",))
        summary = render_reports(results_dir, out_dir.root, period=period, date_from=date_from,
                                 date_to=date_to, team=team, templates_dir=templates_dir,
                                 redact=redact, call_pages=call_pages)
        for f in summary.problems:
            batch.fail(f.file, f.stage, f.reason)
        echo_summary(quiet, f"{plural(summary.agents, 'agent page')}, "
                            f"{plural(summary.calls, 'call page')}, "
                            f"{plural(len(summary.problems), 'problem')} in {summary.seconds:.1f} s. "
                            f"Open {summary.index}")
        ctx.exit(batch.finish())


def _default_out(results_dir: Path) -> Path:
    """The output folder of the results: RESULTS_DIR, or its parent when it is results/."""
    if not (results_dir / "results").is_dir() and (results_dir / "conversations.parquet").exists():
        return results_dir.parent
    return results_dir


__all__ = ["command", "report_options", "DateParam"]
