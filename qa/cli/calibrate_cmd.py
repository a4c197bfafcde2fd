"""``qa calibrate``: agreement of the results with a human grader's answers."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from .common import EXIT_OK, EXIT_USAGE, QAClickException, quiet_option, setup_logging

log = logging.getLogger(__name__)


def parse_maps(maps: tuple[str, ...]) -> dict[str, str]:
    """``("slang=no_slang", …)`` → ``{"slang": "no_slang"}``; a bad one is a usage error."""
    out: dict[str, str] = {}
    for m in maps:
        label, sep, spec = m.partition("=")
        if not sep or not label.strip() or not spec.strip():
            raise click.BadParameter(f"{m!r} is not LABEL=CRITERION, e.g. --map slang=no_slang",
                                     param_hint="'--map'")
        out[label.strip()] = spec.strip()
    return out


@click.command("calibrate")
@click.argument("results_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--grades", "grades", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The graders' answers: CSV or XLSX, one row per graded conversation, "
                   "conversation_id plus criterion ids or the GUIDE.md columns (and an optional "
                   "grader column).")
@click.option("--map", "maps", multiple=True, metavar="LABEL=CRITERION",
              help="Compare grades column LABEL with CRITERION (repeatable). Prefix the "
                   "criterion with inverted: (1 = it fails), applies: (1 = it applies), "
                   "seconds: (a time against its target_s) or rating: (a category or overall).")
@click.option("--rubric", "rubric_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The rubric the results were scored with (default: the built-in one): its "
                   "thresholds, phrases and calibration: block.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as JSON on stdout.")
@click.option("--disagreements", "limit", type=click.IntRange(min=0), default=20, show_default=True,
              help="Disagreements printed in the table (0: all).")
@click.option("--suggest/--no-suggest", default=True, show_default=True,
              help="Re-run the mapped criteria with other thresholds and phrases and suggest the "
                   "edits that raise agreement.")
@click.option("--apply", "apply_to", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a copy of the rubric with the suggested edits to this file (the "
                   "agreement before and after in its comments). The rubric itself is not changed.")
@click.option("--record-reviews", is_flag=True,
              help="Keep the grader's answers as reviews (OUT/results/reviews.parquet): reports "
                   "then show the reviewed outcome beside the automatic one.")
@click.option("--no-report", is_flag=True,
              help="Do not write OUT/reports/calibration.html or refresh OUT/reports.")
@quiet_option
@click.pass_context
def command(ctx, results_dir: Path, grades: Path, maps: tuple[str, ...], rubric_path: Path | None,
            as_json: bool, limit: int, suggest: bool, apply_to: Path | None, record_reviews: bool,
            no_report: bool, quiet: bool) -> None:
    """Measure how well the rubric agrees with your own QA graders.

    RESULTS_DIR is the --out folder of `qa score`. Prints, per criterion, the agreement,
    Cohen's kappa and the confusion counts; per category, Spearman's correlation and the mean
    absolute difference; every disagreement with qa's reason and quote; and suggested rubric
    edits as a YAML patch. Writes OUT/results/calibration.json and
    OUT/reports/calibration.html (and refreshes OUT/reports, when it exists, so the index
    links it).

    \b
    Example:
      qa calibrate qa-out --grades grades.csv
      qa calibrate qa-out --grades grades.xlsx --map personal=personal_help --json > agreement.json

    Exit codes: 0 compared (warnings on stderr); 1 the grades or results cannot be used;
    2 usage error; 3 output folder busy.
    """
    from ..calibrate import apply_suggestions, compare, format_text, write_outputs

    setup_logging(quiet)
    mapping = parse_maps(maps)
    if apply_to is not None and not suggest:
        raise QAClickException("--apply needs the suggestions; drop --no-suggest", EXIT_USAGE)
    report = compare(results_dir, grades, mapping, rubric=rubric_path, suggest=suggest)
    for issue in report.issues:
        click.echo(f"warning: {issue.message}", err=True)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo(format_text(report, limit=limit), nl=False)
    written = write_outputs(report, results_dir, reviews=record_reviews, html=not no_report,
                            rubric=rubric_path)
    if apply_to is not None:
        n = apply_suggestions(report, rubric_path, apply_to)
        written.append(apply_to)
        if n == 0:
            click.echo("no suggested edit raises agreement; the copy equals the rubric", err=True)
    if not quiet:
        for p in written:
            click.echo(f"wrote {p}", err=True)
    ctx.exit(EXIT_OK)


__all__ = ["command", "parse_maps"]
