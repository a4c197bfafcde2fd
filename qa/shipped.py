"""Where the files qa ships are: the rubrics and the report templates.

In the repository they sit at the top level, where trainers see them: ``rubrics/`` (the
default rubric and its channel variants) and ``reports/`` (the report templates, CSS and
script). The wheel maps both into the package at build time (``qa/rubrics``,
``qa/reports``: ``[tool.setuptools.package-dir]`` in pyproject.toml). This module finds
them in either place, so an installed wheel, an editable install and a checkout run with
``PYTHONPATH=<checkout>`` all work, from any folder.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
CHECKOUT = PACKAGE.parent
"""The repository root, when qa runs from a checkout (it holds ``pyproject.toml``)."""

# folder in the repository -> where the wheel keeps it inside the package
_INSIDE = {"rubrics": ("rubrics",), "reports": ("reports",)}


def folder(name: str) -> Path:
    """The folder of shipped ``rubrics`` or ``reports`` (templates)."""
    candidates = [PACKAGE / inside for inside in _INSIDE[name]]
    if (CHECKOUT / "pyproject.toml").is_file():
        candidates.append(CHECKOUT / name)
    for path in candidates:
        if path.is_dir():
            return path
    raise FileNotFoundError(
        f"the shipped {name}/ folder is missing (looked in {', '.join(map(str, candidates))}); "
        "reinstall qa-toolkit: pip install --force-reinstall qa-toolkit")


def rubrics_dir() -> Path:
    return folder("rubrics")


def reports_dir() -> Path:
    """The report templates (``index.html``, ``agent.html``, ``call.html``, ``report.css`` …)."""
    return folder("reports")


def shipped_rubrics() -> dict[str, Path]:
    """The shipped rubrics by name (``default``, and the channel variants such as ``social``)."""
    return {p.stem: p for p in sorted(rubrics_dir().glob("*.yaml"))}


def rubric_path(name: str = "default") -> Path:
    """The shipped rubric ``name`` (``default`` unless told)."""
    return rubrics_dir() / f"{name}.yaml"
