"""``qa rubric check|test|explain``: for trainers who edit rubric YAML."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import RubricError
from ..rubric import default_rubric_path, load_rubric
from .common import EXIT_FAILURES, EXIT_OK

_FILE = click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))


def _load_or_report(ctx: click.Context, file: Path | None):
    try:
        return load_rubric(file)
    except RubricError as exc:
        for p in exc.problems or [str(exc)]:
            click.echo(p)
        n = len(exc.problems) or 1
        click.echo(f"{n} problem{'s' if n != 1 else ''}", err=True)
        ctx.exit(EXIT_FAILURES)


@click.group("rubric")
def command() -> None:
    """Check, test and explain a rubric YAML file.

    \b
    Example:
      qa rubric check rubrics/acme.yaml     # every problem with file:line, key and fix
      qa rubric test rubrics/acme.yaml      # the examples must pass / fail as written
      qa rubric explain rubrics/acme.yaml   # the rubric in plain words, weights in %

    Without FILE, each command works on the shipped default rubric.
    """


@command.command("check")
@_FILE
@click.pass_context
def check(ctx: click.Context, file: Path | None) -> None:
    """Validate a rubric: list every problem with its file, line, key and fix.

    Prints "ok: N criteria" and exits 0 when the rubric is valid; otherwise prints one
    line per problem (`rubrics/acme.yaml:14 criteria[2].weight: must be a number ≥ 0,
    got "high"`) and exits 1.

    \b
    Example:
      qa rubric check rubrics/acme.yaml
    """
    rubric = _load_or_report(ctx, file)
    click.echo(f"ok: {len(rubric.criteria)} criteria")
    ctx.exit(EXIT_OK)


@command.command("test")
@_FILE
@click.option("-v", "--verbose", is_flag=True, help="Also list the examples that behave as written.")
@click.pass_context
def test(ctx: click.Context, file: Path | None, verbose: bool) -> None:
    """Run each criterion's examples and report those that do not behave as written.

    A criterion's `examples: {pass: [...], fail: [...]}` are utterances (or short
    customer/agent exchanges) that must pass or fail it. Exits 1 when any does not.

    \b
    Example:
      qa rubric test rubrics/acme.yaml
    """
    from ..score import run_examples

    rubric = _load_or_report(ctx, file)
    results = run_examples(rubric)
    bad = [r for r in results if not r.ok]
    for r in results:
        if not r.ok:
            click.echo(f"FAIL {r.criterion_id}: {r.expected} example \"{r.text}\" gave {r.outcome} "
                       f"({r.reason})")
        elif verbose:
            note = " (skipped)" if r.outcome == "skipped" else ""
            click.echo(f"ok   {r.criterion_id}: {r.expected} example \"{r.text}\"{note}")
    tested = sum(1 for r in results if r.outcome != "skipped")
    crits = len({r.criterion_id for r in results})
    click.echo(f"{tested} example{'s' if tested != 1 else ''} in {crits} criteria: "
               + (f"{len(bad)} did not behave as written" if bad else "all behave as written"))
    ctx.exit(EXIT_FAILURES if bad else EXIT_OK)


@command.command("explain")
@_FILE
@click.pass_context
def explain(ctx: click.Context, file: Path | None) -> None:
    """Explain a rubric in plain words: what each criterion looks for, weights as % of the
    category and of the total, and the auto-fail items.

    \b
    Example:
      qa rubric explain rubrics/acme.yaml
      qa rubric explain            # the shipped default rubric
    """
    from ..score import explain_rubric

    rubric = _load_or_report(ctx, file)
    click.echo(explain_rubric(rubric))
    if file is None:
        click.echo(f"\n(file: {default_rubric_path()})")
    ctx.exit(EXIT_OK)
