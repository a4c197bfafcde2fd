"""``qa export``: results → CSV / XLSX tables for BI tools and spreadsheets."""

from __future__ import annotations

from pathlib import Path

import click

from ..aggregate import Filters
from ..export import FORMATS, export_tables
from ..store import OutDir, run_lock
from .common import echo_summary, quiet_option, setup_logging
from .report_cmd import DateParam, _default_out


@click.command("export")
@click.argument("results_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="csv", show_default=True,
              help="csv: three files; xlsx: one workbook with a sheet per table.")
@click.option("--out", "-o", "out", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder; files go to OUT/exports. Default: RESULTS_DIR.")
@click.option("--from", "date_from", type=DateParam(), help="First day to include (YYYY-MM-DD, UTC).")
@click.option("--to", "date_to", type=DateParam(), help="Last day to include (YYYY-MM-DD, UTC).")
@click.option("--team", help="Only this team.")
@click.option("--redact", is_flag=True,
              help="Mask card numbers, phone numbers, e-mails, SSNs, addresses and handles in "
                   "quotes and reasons.")
@quiet_option
@click.pass_context
def command(ctx, results_dir: Path, fmt: str, out: Path | None, date_from, date_to,
            team: str | None, redact: bool, quiet: bool) -> None:
    """Export agent summaries and criteria as CSV or XLSX for BI tools.

    Writes agent_summary (one row per agent), agent_criteria (one row per agent and
    criterion) and criteria (one row per conversation and criterion) to OUT/exports.
    Text a spreadsheet could run as a formula (starting with = + - @) is neutralised:
    a leading apostrophe in CSV, the text type in XLSX.

    \b
    Example:
      qa export qa-out --format xlsx        # -> qa-out/exports/qa-export.xlsx
      qa export qa-out --from 2026-01-01 --to 2026-01-31 --out january
      qa export qa-out --redact --out to-share   # quotes with PII masked
    """
    setup_logging(quiet)
    out_dir = OutDir.at(out if out is not None else _default_out(results_dir))
    with run_lock(out_dir):
        summary = export_tables(results_dir, out_dir.root, fmt,
                                filters=Filters(date_from=date_from, date_to=date_to, team=team),
                                redact=redact)
        rows = ", ".join(f"{k} {v}" for k, v in summary.rows.items())
        echo_summary(quiet, f"wrote {', '.join(str(f) for f in summary.files)} (rows: {rows})")
        ctx.exit(0)
