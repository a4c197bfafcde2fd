"""``qa report``: results Parquet → HTML coaching reports."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..store import OutDir, plural, run_lock
from .common import (Batch, DateParam, cluster_group, echo_summary, quiet_option, report_group,
                     setup_logging)

if TYPE_CHECKING:
    from ..executor import ClusterOptions
    from ..pipeline import ReportOptions


@click.command("report")
@click.argument("results_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "-o", "out", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder; reports go to OUT/reports. Default: RESULTS_DIR.")
@report_group
@cluster_group
@quiet_option
@click.pass_context
def command(ctx, results_dir: Path, out: Path | None, report: "ReportOptions",
            cluster: "ClusterOptions", quiet: bool) -> None:
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
    from ..pipeline import render_pages, stage_session

    setup_logging(quiet)
    out_dir = OutDir.at(out if out is not None else _default_out(results_dir))
    with run_lock(out_dir), stage_session(cluster, out_dir, [results_dir]) as session:
        batch = Batch(out_dir, ("report",))
        summary = render_pages(results_dir, out_dir, report, session)
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


__all__ = ["command", "DateParam"]
