"""`qa rubric init`: a trainer's own copy of a shipped rubric, from any folder; and where
the shipped rubrics and report templates are found (qa.shipped)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from conftest import ROOT
from qa.cli import main
from qa.rubric import default_rubric_path, load_rubric
from qa.shipped import reports_dir, rubrics_dir, shipped_rubrics


def test_the_shipped_files_are_found():
    assert "default" in shipped_rubrics()
    assert default_rubric_path() == shipped_rubrics()["default"] == rubrics_dir() / "default.yaml"
    for name in ("index.html", "agent.html", "call.html", "base.html", "report.css", "report.js"):
        assert (reports_dir() / name).is_file(), name


def test_init_from_another_folder_writes_a_valid_copy_with_instructions(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(main, ["rubric", "init", "my-rubric.yaml"])
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[0] == ("wrote my-rubric.yaml: the shipped 'default' rubric "
                                          f"({len(load_rubric().criteria)} criteria), rubric id my-rubric")
    text = (tmp_path / "my-rubric.yaml").read_text(encoding="utf-8")
    head = text.split("\n\n")[0]
    assert "qa rubric check my-rubric.yaml" in head and "qa rubric test my-rubric.yaml" in head
    mine, shipped = load_rubric(tmp_path / "my-rubric.yaml"), load_rubric()
    assert mine.id == "my-rubric" and mine.version == shipped.version
    assert [c.id for c in mine.criteria] == [c.id for c in shipped.criteria]
    # the copy is what `qa rubric check` and `qa rubric test` accept
    for cmd in ("check", "test"):
        res = CliRunner().invoke(main, ["rubric", cmd, "my-rubric.yaml"])
        assert res.exit_code == 0, res.output


def test_cli_py_at_the_top_level_runs_qa(tmp_path):
    """`python cli.py` in a checkout is `qa` (a two-line shim; not in the wheel)."""
    shim = ROOT / "cli.py"
    proc = subprocess.run([sys.executable, str(shim), "rubric", "init", "x.yaml"], cwd=tmp_path,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""})
    assert proc.returncode == 0, proc.stderr
    assert load_rubric(tmp_path / "x.yaml").id == "x"


@pytest.mark.parametrize("name", sorted(shipped_rubrics()))
def test_init_from_every_shipped_rubric(tmp_path, name):
    target = tmp_path / f"team {name}.yaml"
    res = CliRunner().invoke(main, ["rubric", "init", str(target), "--from", name])
    assert res.exit_code == 0, res.output
    text = target.read_text(encoding="utf-8")
    assert f"a copy of the shipped '{name}' rubric" in text.splitlines()[0]
    assert f'qa rubric check "{target}"' in text  # a path with a space is quoted
    assert load_rubric(target).id == f"team-{name}"


def test_init_never_overwrites_unless_forced(tmp_path):
    target = tmp_path / "mine.yaml"
    target.write_text("rubric: mine\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["rubric", "init", str(target)])
    assert res.exit_code == 2
    assert res.stderr == (f"Error: {target} already exists. Fix: choose another file name, or pass "
                          "--force to overwrite it.\n")
    assert target.read_text(encoding="utf-8") == "rubric: mine\n"
    res = CliRunner().invoke(main, ["rubric", "init", str(target), "--force"])
    assert res.exit_code == 0, res.output
    assert load_rubric(target).id == "mine"


def test_init_errors_name_the_fix(tmp_path):
    res = CliRunner().invoke(main, ["rubric", "init", str(tmp_path / "no" / "such" / "x.yaml")])
    assert res.exit_code == 2
    assert res.stderr.startswith(f"Error: folder {tmp_path / 'no' / 'such'} does not exist. Fix: create it")
    res = CliRunner().invoke(main, ["rubric", "init", str(tmp_path / "x.yaml"), "--from", "nope"])
    assert res.exit_code == 2
    assert "Invalid value for '--from': 'nope' is not" in res.output
    assert all(f"'{name}'" in res.output for name in shipped_rubrics())
    assert not (tmp_path / "x.yaml").exists()


def test_init_help_lists_the_shipped_rubrics():
    res = CliRunner().invoke(main, ["rubric", "init", "--help"])
    assert res.exit_code == 0
    assert f"--from [{'|'.join(sorted(shipped_rubrics()))}]" in res.output
