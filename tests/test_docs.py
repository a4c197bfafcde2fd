"""The documentation cannot rot: README.md's and docs/*.md's Python examples run, their
``# 'value'`` comments hold, and every `qa` command and option, `make` target and bench
script (with its options) that they name exists.

Python blocks run in a temporary folder holding what the examples name: ``call.wav`` (the
real call's cut in tests/data), ``calls.csv``, ``rubrics/acme.yaml`` (``qa rubric init``),
``qa-out/transcripts`` (the demo chats, ingested), and the names ``paths`` and ``conv``.
"""

from __future__ import annotations

import ast
import re
import shlex
import subprocess
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from conftest import CALL_CUT, ROOT, need_tool
from qa.cli import main
from qa.conversation import Conversation

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.M | re.S)
INLINE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")


def _blocks(lang: str) -> list[tuple[str, str]]:
    """(``file:line``, code) of every fenced block of ``lang`` in the docs."""
    out = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            if m.group(1) == lang:
                line = text.count("\n", 0, m.start()) + 1
                out.append((f"{doc.relative_to(ROOT)}:{line}", m.group(2)))
    return out


# ---------------------------------------------------------------- Python examples
PY_BLOCKS = _blocks("python")
SLOW_WORDS = ("transcribe", "faster_whisper", "spacy.load")  # Whisper / the full spaCy pipeline


@pytest.fixture
def example_dir(tmp_path, monkeypatch):
    """A folder holding the files and names the examples use."""
    from qa.shipped import rubric_path

    (tmp_path / "rubrics").mkdir()
    (tmp_path / "rubrics" / "acme.yaml").write_text(rubric_path("default").read_text(encoding="utf-8"),
                                                     encoding="utf-8")
    res = CliRunner().invoke(main, ["ingest", str(ROOT / "examples" / "chats" / "demo_chats.jsonl"),
                                    "--out", str(tmp_path / "qa-out"), "-q"])
    assert res.exit_code == 0, res.output
    (tmp_path / "calls.csv").write_text("file,agent_id,agent_name\ncall.wav,sam,Sam Rivera\n",
                                        encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    first = sorted((tmp_path / "qa-out" / "transcripts").glob("*.json"))[0]
    return {"paths": ["call.wav"], "conv": Conversation.load(first)}


def _checked(code: str) -> str:
    """The code with ``expr  # 'literal'`` lines turned into assertions."""
    lines = []
    for line in code.splitlines():
        m = re.match(r"^(\s*)(.+?)\s+#\s*(.+)$", line)
        if m:
            try:
                expected = ast.literal_eval(m.group(3))
                expr = ast.parse(m.group(2).strip(), mode="eval")
            except (ValueError, SyntaxError):
                pass
            else:
                got = ast.unparse(expr)
                lines.append(f"{m.group(1)}assert ({got}) == {expected!r}, ({got}, {expected!r})")
                continue
        lines.append(line)
    return "\n".join(lines)


@pytest.mark.parametrize("where,code", [
    pytest.param(w, c, id=w, marks=[pytest.mark.slow] if any(s in c for s in SLOW_WORDS) else [])
    for w, c in PY_BLOCKS])
def test_python_example_runs(where, code, example_dir):
    if "call.wav" in code:
        need_tool("sox")
        subprocess.run(["sox", "-R", "-M", str(CALL_CUT[0]), str(CALL_CUT[1]), "call.wav"], check=True)
    namespace = {"__name__": "__docs__", **example_dir}
    exec(compile(_checked(code), where, "exec"), namespace)  # noqa: S102 - our own README


def test_the_examples_are_found():
    assert len(PY_BLOCKS) >= 3, PY_BLOCKS
    assert _checked("x = 1\nlen('ab')  # 2\nimport os  # the os\n") == \
        "x = 1\nassert (len('ab')) == 2, (len('ab'), 2)\nimport os  # the os"


# ---------------------------------------------------------------- commands named
def _command_lines() -> list[tuple[str, list[str]]]:
    """(``file:line``, tokens) of every shell command in bash blocks, ``$ `` lines of other
    blocks and inline code spans that start with qa, make or a bench script."""
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        spans = []
        for m in FENCE.finditer(text):
            start = text.count("\n", 0, m.start()) + 2
            body = m.group(2).replace("\\\n", " \n")
            for i, line in enumerate(body.splitlines()):
                if m.group(1) in ("bash", "sh", "shell", "console"):
                    spans.append((start + i, line.removeprefix("$ ")))
                elif line.startswith("$ "):
                    spans.append((start + i, line[2:]))
        outside = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
        for m in INLINE.finditer(outside):  # a code span that starts with a command
            if re.match(r"(qa|make|(\.venv/bin/)?python3?) ", m.group(1)):
                spans.append((outside.count("\n", 0, m.start()) + 1, m.group(1)))
        for line_no, cmd in spans:
            try:
                lex = shlex.shlex(cmd, posix=True, punctuation_chars=True)
                lex.whitespace_split = True
                lex.commenters = "#"
                tokens = list(lex)
            except ValueError:  # an unbalanced quote in prose
                continue
            segment: list[str] = []
            for tok in tokens + [";"]:
                if tok and set(tok) <= set(";&|<>()"):
                    if segment and _is_ours(segment):
                        found.append((f"{doc.relative_to(ROOT)}:{line_no}", segment))
                    segment = []
                else:
                    segment.append(tok)
    return found


def _is_ours(tokens: list[str]) -> bool:
    if tokens[0] in ("qa", "make"):
        return len(tokens) > 1 or tokens[0] == "qa"
    return tokens[0].endswith("python") and len(tokens) > 1 and tokens[1].startswith("bench/")


COMMANDS = _command_lines()
MAKE_TARGETS = set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), re.M))


def _check_qa(tokens: list[str]) -> list[str]:
    cmd: click.Command = main
    path = ["qa"]
    problems = []
    for tok in tokens[1:]:
        if isinstance(cmd, click.Group) and not tok.startswith("-"):
            if tok in cmd.commands:
                cmd = cmd.commands[tok]
                path.append(tok)
                continue
            if re.fullmatch(r"[a-z][a-z-]*", tok):
                problems.append(f"'{' '.join(path)}' has no command {tok!r}")
            break
        if tok.startswith("-") and tok not in ("-", "--") and not re.fullmatch(r"-\d.*", tok):
            name = tok.split("=", 1)[0]
            opts = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
            opts |= {"--help", "-h"}
            if name not in opts:
                problems.append(f"'{' '.join(path)}' has no option {name}")
    return problems


def _script_options(script: Path) -> set[str]:
    src = script.read_text(encoding="utf-8")
    return set(re.findall(r"add_argument\(\s*[\"'](-[-\w]+)[\"']", src)) | \
        set(re.findall(r"add_argument\(\s*[\"']-\w[\"'],\s*[\"'](--[-\w]+)[\"']", src)) | {"--help", "-h"}


def _check(tokens: list[str]) -> list[str]:
    if tokens[0] == "qa":
        return _check_qa(tokens)
    if tokens[0] == "make":
        return [f"the Makefile has no target {t!r}" for t in tokens[1:]
                if not t.startswith("-") and "=" not in t and t not in MAKE_TARGETS]
    script = ROOT / tokens[1]
    if not script.is_file():
        return [f"{tokens[1]} does not exist"]
    return [f"{tokens[1]} has no option {t.split('=')[0]}" for t in tokens[2:]
            if t.startswith("--") and t.split("=")[0] not in _script_options(script)]


def test_every_command_the_docs_name_exists():
    assert len(COMMANDS) > 30
    problems = [f"{where}: {p}  ({' '.join(tokens)})" for where, tokens in COMMANDS for p in _check(tokens)]
    assert problems == []


def test_the_command_check_finds_what_is_missing():
    assert _check_qa(["qa", "rubric", "init", "x.yaml", "--from", "default"]) == []
    assert _check_qa(["qa", "scroe", "x"]) == ["'qa' has no command 'scroe'"]
    assert _check_qa(["qa", "score", "x", "--rubrik", "r.yaml"]) == ["'qa score' has no option --rubrik"]
    assert _check(["make", "test-slow"]) == []
    assert _check(["make", "tests"]) == ["the Makefile has no target 'tests'"]
    assert _check([".venv/bin/python", "bench/bench_score.py", "--smoke"]) == []
    assert _check(["python", "bench/bench_score.py", "--fast"]) == ["bench/bench_score.py has no option --fast"]


# ---------------------------------------------------------------- repository paths named
REPO_PATH = re.compile(r"`((?:qa|bench|tests|docs|examples|rubrics)/[^`\s<>…]*)`")


def test_every_repository_path_the_docs_name_exists():
    """`qa/…`, `bench/…`, `tests/…`, `docs/…`, `examples/…` and the shipped `rubrics/…` named
    in the docs exist (globs too); generated, hidden folders such as bench/.soak-data/ aside."""
    missing = []
    for doc in DOCS:
        for line_no, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
            for m in REPO_PATH.finditer(line):
                path = m.group(1).rstrip(".,:;")
                if "/." in path or (path.startswith("rubrics/") and path != "rubrics/"
                                    and not (ROOT / "rubrics").is_dir()):
                    continue
                if path.startswith("rubrics/") and Path(path).stem not in ("default", *_shipped()):
                    continue  # a trainer's own file, such as rubrics/acme.yaml
                if not (any(ROOT.glob(path)) if "*" in path else (ROOT / path).exists()):
                    missing.append(f"{doc.relative_to(ROOT)}:{line_no}: {path}")
    assert missing == []


def _shipped() -> list[str]:
    from qa.shipped import shipped_rubrics

    return list(shipped_rubrics())


def test_every_check_type_and_option_is_documented():
    """README's "Check types" has a section per registered check naming each of its options,
    so a trainer who reads it can use every option the rubric accepts."""
    import qa.score  # noqa: F401  (registers every check)
    from qa.checks import REGISTRY

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = []
    for name, cls in sorted(REGISTRY.items()):
        m = re.search(r"#### `%s`(.*?)(?=\n#### |\n### |\n## )" % re.escape(name), readme, re.S)
        if m is None:
            missing.append(f"no '#### `{name}`' section")
            continue
        missing += [f"{name}: option `{f}`" for f in cls.Options.model_fields if f"`{f}`" not in m.group(1)]
    assert not missing, "README.md check types lack: " + "; ".join(missing)
