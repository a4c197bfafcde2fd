"""``qa rubric init|check|test|explain``: for trainers who edit rubric YAML."""

from __future__ import annotations

import os
import re
from pathlib import Path

import click

from ..errors import RubricError
from ..rubric import default_rubric_path, load_rubric
from ..shipped import shipped_rubrics
from .common import EXIT_FAILURES, EXIT_OK, EXIT_USAGE

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
      qa rubric init rubrics/acme.yaml      # a copy of the shipped default rubric to edit
      qa rubric check rubrics/acme.yaml     # every problem with file:line, key and fix
      qa rubric test rubrics/acme.yaml      # the examples must pass / fail as written
      qa rubric explain rubrics/acme.yaml   # the rubric in plain words, weights in %

    Without FILE, check, test and explain work on the shipped default rubric.
    """


_SHIPPED = sorted(shipped_rubrics())
_ID_LINE = re.compile(r"^rubric:[ \t]*(\S[^#\n]*?)[ \t]*(#.*)?$", re.MULTILINE)


def _header(target: Path, source: Path, name: str) -> str:
    shown = str(target)
    quoted = f'"{shown}"' if any(c.isspace() for c in shown) else shown
    return (
        f"# {target.name}: a copy of the shipped '{name}' rubric ({source.name}), made by\n"
        f"# `qa rubric init` for you to edit. After each edit, check and test it:\n"
        f"#   qa rubric check {quoted}      # every problem, with its line and the fix\n"
        f"#   qa rubric test {quoted}       # each criterion's examples pass / fail as written\n"
        f"#   qa rubric explain {quoted}    # the rubric in plain words, weights in %\n"
        f"# then score with it: qa run ... --rubric {quoted} (or qa score ... --rubric {quoted}).\n"
        f"# Results record the rubric id, version and a hash of this file; raise `version` when\n"
        f"# you change what it measures.\n"
        f"#\n")


@command.command("init")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--from", "source", type=click.Choice(_SHIPPED), default="default", show_default=True,
              help="Which shipped rubric to copy (the default one, or a channel variant).")
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
@click.pass_context
def init(ctx: click.Context, file: Path, source: str, force: bool) -> None:
    """Write a copy of a shipped rubric to FILE, for a trainer to edit.

    The copy starts with a comment saying how to check and test it; its `rubric:` id is
    FILE's name. The shipped rubrics stay as they are.

    \b
    Example:
      qa rubric init my-rubric.yaml                  # from the shipped default rubric
      qa rubric init social-team.yaml --from social  # from a channel variant
      qa rubric check my-rubric.yaml && qa rubric test my-rubric.yaml
    """
    src = shipped_rubrics()[source]
    if file.exists() and not force:
        click.echo(f"Error: {file} already exists. Fix: choose another file name, or pass --force "
                   "to overwrite it.", err=True)
        ctx.exit(EXIT_USAGE)
    if not file.parent.is_dir():
        click.echo(f"Error: folder {file.parent} does not exist. Fix: create it first "
                   f"(mkdir -p {file.parent}) or choose another path.", err=True)
        ctx.exit(EXIT_USAGE)
    text = src.read_text(encoding="utf-8")
    new_id = re.sub(r"[^A-Za-z0-9_.-]+", "-", file.stem).strip("-") or "my-rubric"
    text = _ID_LINE.sub(lambda m: f"rubric: {new_id}  # copied from {m.group(1)}", text, count=1)
    try:
        tmp = file.with_name(f".{file.name}.tmp")
        tmp.write_text(_header(file, src, source) + text, encoding="utf-8")
        os.replace(tmp, file)
    except OSError as exc:
        click.echo(f"Error: cannot write {file}: {exc.strerror}. Fix: choose a folder you can "
                   "write to.", err=True)
        ctx.exit(EXIT_FAILURES)
    n = len(load_rubric(file).criteria)
    click.echo(f"wrote {file}: the shipped '{source}' rubric ({n} criteria), rubric id {new_id}")
    click.echo(f"next: edit it, then  qa rubric check {file}  and  qa rubric test {file}")
    ctx.exit(EXIT_OK)


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
    from ..rubric_tools import run_examples

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
    from ..rubric_tools import explain_rubric

    rubric = _load_or_report(ctx, file)
    click.echo(explain_rubric(rubric))
    if file is None:
        click.echo(f"\n(file: {default_rubric_path()})")
    ctx.exit(EXIT_OK)
