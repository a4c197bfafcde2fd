"""The repository's top level is what the design card asks for, and the wheel still holds
everything: the shipped rubrics (rubrics/) and report templates (reports/) are mapped into
the package at build time, every package is listed, and nothing but `qa` is a top-level
import name."""

from __future__ import annotations

import fnmatch

import pytest
from click.testing import CliRunner

from conftest import ROOT
from qa.cli import main
from qa.shipped import reports_dir, rubrics_dir

tomllib = pytest.importorskip("tomllib", reason="tomllib is Python 3.11's")  # the layout checks read pyproject.toml
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]


def test_top_level_layout():
    for name in ("qa", "rubrics", "reports", "tests"):
        assert (ROOT / name).is_dir(), name
    for name in ("cli.py", "pyproject.toml", "README.md", "LICENSE", "NOTICE"):
        assert (ROOT / name).is_file(), name
    assert not (ROOT / "qa" / "rubrics").exists() and not (ROOT / "qa" / "templates").exists()
    assert (ROOT / "rubrics" / "default.yaml").is_file()
    assert rubrics_dir() == ROOT / "rubrics" and reports_dir() == ROOT / "reports"


def test_cli_py_is_a_two_line_shim():
    code = [line for line in (ROOT / "cli.py").read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.lstrip().startswith("#")]
    assert len(code) <= 2, code
    assert "qa.cli" in code[0]


def test_the_wheel_lists_every_package_and_only_qa():
    packages = SETUPTOOLS["packages"]
    assert all(p == "qa" or p.startswith("qa.") for p in packages), packages
    assert "py-modules" not in SETUPTOOLS  # cli.py stays out of the wheel
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "qa").rglob("__init__.py")}
    data = {"qa.models", "qa.rubrics", "qa.reports"}
    assert set(packages) == found | data, "list every package in pyproject.toml [tool.setuptools] packages"


def test_the_shipped_folders_are_mapped_into_the_package_with_every_file():
    assert SETUPTOOLS["package-dir"] == {"qa.rubrics": "rubrics", "qa.reports": "reports"}
    data = SETUPTOOLS["package-data"]
    for package, folder in (("qa.rubrics", "rubrics"), ("qa.reports", "reports"), ("qa.models", "qa/models")):
        files = [p.relative_to(ROOT / folder).as_posix() for p in (ROOT / folder).rglob("*") if p.is_file()
                 and "__pycache__" not in p.parts]
        assert files, folder
        left_out = [f for f in files if not any(fnmatch.fnmatch(f, pat) for pat in data[package])]
        assert left_out == [], f"{folder}/: add these to package-data {package}"


def test_help_names_paths_that_exist():
    for cmd in ("run", "score"):
        out = " ".join(CliRunner().invoke(main, [cmd, "--help"]).output.split())
        assert "the shipped rubrics/default.yaml" in out, cmd
    assert (ROOT / "rubrics" / "default.yaml").is_file()
