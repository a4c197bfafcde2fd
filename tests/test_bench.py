"""Every bench/ script has a ``--smoke`` size, and a test runs it: the benchmarks behind the
README's figures cannot rot. (The figures themselves come from full runs; a smoke run only
shows that the script still works end to end.)"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT, need_shared, need_tool

BENCH = ROOT / "bench"

# script -> (a line its smoke run prints, why it is slow or None, optional data it needs)
SMOKE = {
    "bench_call_page.py": ("with the call chart", None, None),
    "bench_dask_worker.py": ("CPU ratio to a plain process", "a local Dask cluster and Whisper", None),
    "bench_long_audio.py": ("peak memory ratio", "Whisper", None),
    "bench_report.py": ("target report <= 60 s", "child processes", None),
    "bench_scale.py": ("wall time ratios against the local executor", "a local Dask cluster and Whisper", None),
    "bench_score.py": ("qa score, after a rubric edit", "the full spaCy pipeline", None),
    "bench_soak.py": ("memory growth", "Whisper", None),
    "bench_transcribe.py": ("qa speed / plain faster-whisper speed", "Whisper", None),
    "eval_empathy.py": ("graded set, empathy detector", None, "graded"),
    "eval_graded.py": ("graded set:", None, "graded"),
    "eval_problem.py": ("held-out: problem fact", None, None),
    "eval_real.py": ("real_grades_a.csv: 8 conversations", None, "chats"),
    "eval_redact.py": ("Speed over", "the full spaCy pipeline", None),
    "fit_politeness.py": ("(not written; --write to update the module)", None, None),
}
# smoke runs that other test modules own
ELSEWHERE = {"eval_distress.py": "test_affect.py", "train_distress.py": "test_affect.py",
             "eval_politeness.py": "test_politeness.py"}


@pytest.mark.parametrize("script", [
    pytest.param(name, marks=[pytest.mark.slow] if slow else [], id=name)
    for name, (_, slow, _) in SMOKE.items()])
def test_smoke_run(script, tmp_path):
    expect, _, data = SMOKE[script]
    if data:
        need_shared(data)
    if script in ("bench_dask_worker.py", "bench_long_audio.py", "bench_soak.py", "bench_transcribe.py"):
        need_tool("sox", "espeak-ng")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(BENCH / script), "--smoke"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert expect in proc.stdout, proc.stdout[-2000:]
    assert list(tmp_path.iterdir()) == []  # smoke runs write only to temporary folders


def test_every_bench_script_has_a_smoke_run_that_a_test_runs():
    scripts = sorted(p.name for p in BENCH.glob("*.py"))
    assert scripts, BENCH
    for name in scripts:
        src = (BENCH / name).read_text(encoding="utf-8")
        assert re.search(r"add_argument\(\s*[\"']--smoke[\"']", src), f"bench/{name} has no --smoke"
        if name in SMOKE:
            continue
        owner = ELSEWHERE.get(name)
        assert owner, f"bench/{name}: add it to SMOKE in tests/test_bench.py"
        assert name in (ROOT / "tests" / owner).read_text(encoding="utf-8"), f"{owner} does not run {name}"


def test_eval_problem_names_the_file_and_line_of_a_bad_row(tmp_path):
    bad = tmp_path / "complaints.csv"
    bad.write_text("1,my parcel never came,1,retail\n2,what time do you open,maybe,retail\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(BENCH / "eval_problem.py"), "--other", str(bad), "--format", "complaints"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert f"{bad}:2: expected 'id,text,label,domain' with label 0 or 1" in proc.stderr
    assert "Traceback" not in proc.stderr
