"""Export the results as flat tables for BI tools and spreadsheets (CSV or XLSX).

Three tables, from the same aggregation as the HTML reports:

* ``agent_summary``: one row per agent: conversations, mean overall and category
  scores, the team's means and the differences, percentile in team, auto-fails, the
  last trend step, needs-attention and why;
* ``agent_criteria``: one row per (agent, criterion): counts, pass rate and mean score,
  against the team;
* ``criteria``: one row per (conversation, criterion) as scored, with the number of
  evidence quotes and the first quote (the nested evidence list does not fit a sheet).

Spreadsheet safety: text that came from conversations or ids can start with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return, which a spreadsheet would run as a formula
("CSV injection"). In CSV such a cell gets a leading apostrophe (``'=SUM(A1)``), which
spreadsheets show as text; numbers are never changed. In XLSX every text cell is written
with the string type, so nothing is ever read as a formula. In both formats the text is
kept as is, except control characters (``\x00``, ``\x1b`` …, which XML forbids and
which a terminal showing a CSV would run), which become their visible "control pictures"
(``␀``, ``␛``; :func:`qa.errors.control_pictures`).
Times are UTC (XLSX has no time zones: they are written as UTC wall-clock times).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from .aggregate import CATEGORIES, NO_TEAM, Aggregates, Filters, aggregate, criteria_rows
from .errors import ReportError, control_pictures
from .store import atomic_path

log = logging.getLogger(__name__)

FORMATS = ("csv", "xlsx")
DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
XLSX_MAX_ROWS = 1_048_575  # Excel's limit, less the header row


@dataclass
class ExportSummary:
    """What :func:`export_tables` wrote."""

    files: list[Path] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    """Rows per table."""


_XLSX_OTHER = re.compile("[\ud800-\udfff\ufffe\uffff]")
_CONTROL_PATTERN = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
"""The characters :func:`qa.errors.control_pictures` replaces, for Polars."""


def xlsx_text(value: str) -> str:
    """Text an XLSX cell can hold: the control characters XML forbids (NUL, ESC, BEL …;
    real chat exports carry them) become their visible Unicode "control pictures"
    (``\x1b`` -> ``␛``, ``\x00`` -> ``␀``), and the few other code points XML forbids
    become ``�``. Tab, newline and carriage return are allowed and kept."""
    value = control_pictures(value)
    return _XLSX_OTHER.sub("\ufffd", value) if _XLSX_OTHER.search(value) else value


def _visible_frame(df: pl.DataFrame) -> pl.DataFrame:
    """Control characters in text columns as control pictures (only the columns that hold any)."""
    cols = [c for c, dt in df.schema.items()
            if dt == pl.String and df[c].str.contains(_CONTROL_PATTERN).any()]
    return df.with_columns(pl.col(c).map_elements(control_pictures, return_dtype=pl.String,
                                                  skip_nulls=True) for c in cols) if cols else df


def neutralise(value: str) -> str:
    """Prefix an apostrophe to text a spreadsheet would take for a formula."""
    return "'" + value if value.startswith(DANGEROUS_PREFIXES) else value


def _neutralise_frame(df: pl.DataFrame) -> pl.DataFrame:
    pattern = r"^[=+\-@\t\r]"
    return df.with_columns(
        pl.when(pl.col(c).str.contains(pattern)).then(pl.lit("'") + pl.col(c))
        .otherwise(pl.col(c)).alias(c)
        for c, dt in df.schema.items() if dt == pl.String)


def agent_summary_table(agg: Aggregates) -> pl.DataFrame:
    cols = ["agent_id", "agent_name", "team", "n_conversations", "overall", *CATEGORIES,
            "team_overall", *[f"team_{c}" for c in CATEGORIES], "delta_overall", "percentile",
            "team_size", "auto_fails", "trend_overall", "dir_overall", "needs_attention",
            "attention_reasons", "first_at", "last_at"]
    return agg.agents.select(cols).with_columns(
        pl.col("attention_reasons").list.join("; "),
        pl.when(pl.col("team") == NO_TEAM).then(None).otherwise(pl.col("team")).alias("team"),
        *[pl.col(c).round(2) for c in ("overall", *CATEGORIES, "team_overall", "delta_overall",
                                       "percentile", "trend_overall",
                                       *[f"team_{c}" for c in CATEGORIES])])


def agent_criteria_table(agg: Aggregates) -> pl.DataFrame:
    return agg.criteria.select(
        "agent_id", pl.when(pl.col("team") == NO_TEAM).then(None).otherwise(pl.col("team"))
        .alias("team"), "criterion_id", "category", "description", "n_total", "n_applicable",
        "n_pass", "n_fail", "n_na", pl.col("pass_rate").round(4), pl.col("mean_score").round(4),
        pl.col("team_pass_rate").round(4), pl.col("team_mean_score").round(4), "auto_fails")


def criteria_table(agg: Aggregates) -> pl.DataFrame:
    ids = agg.conversations["conversation_id"]
    return (criteria_rows(agg.paths, ids)
            .select("conversation_id", "agent_id", "team", "channel", "started_at",
                    "criterion_id", "category", "outcome", "score", "weight", "auto_fail",
                    "na_reason", "reason",
                    pl.col("evidence").list.len().alias("evidence_count"),
                    pl.col("evidence").list.first().struct.field("quote").alias("first_quote"))
            .sort("conversation_id", "criterion_id")
            .collect())


def _shareable(path: Path) -> None:
    """Temporary files are private (0600); an export is meant to be opened by others."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def _write_csv(df: pl.DataFrame, path: Path) -> None:
    df = _neutralise_frame(_visible_frame(df).with_columns(
        pl.col(c).dt.strftime("%Y-%m-%dT%H:%M:%SZ") for c, dt in df.schema.items()
        if isinstance(dt, pl.Datetime)))
    with atomic_path(path) as tmp:
        df.write_csv(tmp)
    _shareable(path)


def _write_xlsx(tables: dict[str, pl.DataFrame], path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    wb = Workbook(write_only=True)
    for name, df in tables.items():
        df = df.with_columns(pl.col(c).dt.replace_time_zone(None)
                             for c, dt in df.schema.items() if isinstance(dt, pl.Datetime))
        parts = max(1, -(-df.height // XLSX_MAX_ROWS))
        for part in range(parts):
            ws = wb.create_sheet(name if part == 0 else f"{name} ({part + 1})")
            ws.append(df.columns)
            for row in df.slice(part * XLSX_MAX_ROWS, XLSX_MAX_ROWS).iter_rows():
                cells = []
                for v in row:
                    if isinstance(v, str):
                        cell = WriteOnlyCell(ws, value=xlsx_text(v))
                        cell.data_type = "s"  # text, never a formula
                        cells.append(cell)
                    else:
                        cells.append(v)
                ws.append(cells)
        if parts > 1:
            log.warning("table %s has %d rows: split over %d sheets (Excel holds %d per sheet)",
                        name, df.height, parts, XLSX_MAX_ROWS)
    with atomic_path(path) as tmp:
        wb.save(tmp)
    _shareable(path)


REDACT_COLUMNS = ("first_quote", "reason", "na_reason")
"""Columns that can hold what a customer or agent said (quotes, and reasons that quote)."""


def redact_table(df: pl.DataFrame) -> pl.DataFrame:
    """Mask PII (:mod:`qa.redact`) in the columns of ``df`` that carry conversation text."""
    from .redact import redact_text

    cols = [c for c in REDACT_COLUMNS if c in df.columns]
    return df.with_columns(
        pl.col(c).map_elements(lambda t: redact_text(t).text, return_dtype=pl.String, skip_nulls=True)
        for c in cols)


def export_tables(results_dir: str | Path, out_dir: str | Path, fmt: str = "csv", *,
                  filters: Filters = Filters(), redact: bool = False) -> ExportSummary:
    """Write ``out_dir/exports/{agent_summary,agent_criteria,criteria}.csv`` or
    ``out_dir/exports/qa-export.xlsx`` (one sheet per table). Atomic writes.
    ``redact`` masks card numbers, phones, e-mails, SSNs, addresses and handles in the
    quotes and reasons (see :mod:`qa.redact`)."""
    if fmt not in FORMATS:
        raise ReportError(f"unknown export format {fmt!r}", fix=f"Use one of: {', '.join(FORMATS)}.")
    agg = aggregate(results_dir, filters)
    if agg.conversations.height == 0:
        raise ReportError(f"no conversations match ({filters.describe()})",
                          path=agg.paths.conversations,
                          fix="Widen --from/--to, or check the --team name.")
    tables = {"agent_summary": agent_summary_table(agg),
              "agent_criteria": agent_criteria_table(agg),
              "criteria": criteria_table(agg)}
    if redact:
        tables = {k: redact_table(v) for k, v in tables.items()}
    dest = Path(out_dir) / "exports"
    summary = ExportSummary(rows={k: v.height for k, v in tables.items()})
    if fmt == "csv":
        for name, df in tables.items():
            path = dest / f"{name}.csv"
            _write_csv(df, path)
            summary.files.append(path)
    else:
        path = dest / "qa-export.xlsx"
        _write_xlsx(tables, path)
        summary.files.append(path)
    return summary
