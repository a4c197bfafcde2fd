"""Scale-out: the same stages on a real Dask cluster give the same outputs as a local run,
and a worker killed mid-run loses and duplicates nothing."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from qa.cli import main
from qa.store import OutDir, write_conversation

from audio_helpers import make_stereo_call
from conftest import ROOT, need_tool

pytest.importorskip("distributed")

DEMO_CHATS = ROOT / "examples" / "chats" / "demo_chats.jsonl"
QA = [sys.executable, "-m", "qa.cli"]
DASK = str(Path(sys.executable).parent / "dask")
ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _qa(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*QA, *map(str, args)], cwd=ROOT, env=ENV, capture_output=True, text=True,
                          timeout=timeout)


def _results(out: Path) -> tuple[pl.DataFrame, pl.DataFrame, list[tuple[str, str, str]]]:
    """What must not depend on where the work ran: conversations (ids, scores, agents),
    criteria (outcomes, scores, reasons) and the failure rows."""
    conv = pl.read_parquet(out / "results" / "conversations.parquet").drop("scored_at")
    crit = pl.read_parquet(out / "results" / "criteria.parquet")
    fails = pl.read_csv(out / "results" / "failures.csv", infer_schema_length=0)
    rows = sorted((Path(f).name, s, r) for f, s, r in fails.iter_rows())
    return (conv.sort("conversation_id"), crit.sort("conversation_id", "criterion_id"), rows)


def _same(a: Path, b: Path) -> None:
    conv_a, crit_a, fail_a = _results(a)
    conv_b, crit_b, fail_b = _results(b)
    assert conv_a["conversation_id"].to_list() == conv_b["conversation_id"].to_list()
    assert conv_a.equals(conv_b)
    assert crit_a.select("conversation_id", "criterion_id", "outcome", "score", "reason").equals(
        crit_b.select("conversation_id", "criterion_id", "outcome", "score", "reason"))
    assert fail_a == fail_b


def test_bad_cluster_values_are_usage_errors(tmp_path):
    res = CliRunner().invoke(main, ["score", str(DEMO_CHATS), "--out", str(tmp_path / "o"),
                                    "--cluster", "local:zero"])
    assert res.exit_code == 2
    assert "local:N needs a number of workers" in res.output
    res = CliRunner().invoke(main, ["score", str(DEMO_CHATS), "--out", str(tmp_path / "o"),
                                    "--cluster", "somewhere"])
    assert res.exit_code == 2
    assert "tcp://10.0.0.5:8786" in res.output


def test_cluster_without_dask_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    res = CliRunner().invoke(main, ["score", str(DEMO_CHATS), "--out", str(tmp_path / "o"),
                                    "--cluster", "local:2"])
    assert res.exit_code == 1
    assert "--cluster needs Dask distributed, which is not installed" in res.output
    assert "pip install 'qa-toolkit[dask]'" in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "o" / "results" / "conversations.parquet").exists()


def test_an_unreachable_scheduler_is_one_clear_error(tmp_path):
    port = _free_port()
    res = _qa("score", DEMO_CHATS, "--out", tmp_path / "o", "--cluster", f"tcp://127.0.0.1:{port}",
              "-q", timeout=120)
    assert res.returncode == 1
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}" in res.stderr
    assert "Traceback" not in res.stderr


def test_run_on_a_local_cluster_equals_a_local_run(tmp_path):
    """`qa run --cluster local:2` on chats, one stereo call and a broken file: the same ids,
    scores, outcomes and failures as the local run."""
    need_tool("espeak-ng")
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "chats.jsonl").write_text(DEMO_CHATS.read_text())
    (inputs / "broken.jsonl").write_text('{"conversation_id": "x1", "agent_id": "a", "speaker": "agent", '
                                         '"text": "hi", "timestamp": "2026-05-01T09:00:00Z"}\n{oops\n')
    make_stereo_call(inputs, agent_lines=[(0.5, "Thank you for calling Acme, this is Sam. How can I help?")],
                     customer_lines=[(4.5, "Hi, my order has not arrived and I am really worried.")],
                     name="call1")
    local, cluster = tmp_path / "local", tmp_path / "cluster"
    a = _qa("run", inputs, "--agent-id", "sam", "--out", local, "-q")
    b = _qa("run", inputs, "--agent-id", "sam", "--out", cluster, "-q", "--cluster", "local:2")
    assert a.returncode == b.returncode == 1, (a.stderr, b.stderr)  # the broken file
    assert "Traceback" not in b.stderr
    _same(local, cluster)
    conv, _, fails = _results(cluster)
    assert "call1" in conv["conversation_id"].to_list() and conv.height >= 5
    assert [f[:2] for f in fails] == [("broken.jsonl", "ingest")]
    assert (cluster / "reports" / "index.html").is_file()
    assert sorted(p.name for p in (cluster / "reports" / "calls").iterdir()) == \
        sorted(p.name for p in (local / "reports" / "calls").iterdir())
    import json

    assert json.loads((cluster / "run.json").read_text())["options"]["cluster"] == "local:2"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(args, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL,
                            stderr=open(log, "w"), start_new_session=True)


def _wait_workers(address: str, n: int, timeout: float = 90) -> None:
    from distributed import Client

    with Client(address, timeout="30s") as client:
        client.wait_for_workers(n, timeout=timeout)


def _chats(folder: Path, n: int, turns: int) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from bench_score import make_chat
    finally:
        sys.path.pop(0)
    rng = random.Random(16)
    out = OutDir.at(folder)
    for k in range(n):
        write_conversation(out, make_chat(k, turns, rng))


def test_score_on_a_dask_scheduler_survives_a_killed_worker(tmp_path):
    """A real `dask scheduler` and `dask worker`s on 127.0.0.1: `qa score --cluster tcp://…`
    equals a local run; then a worker is killed (kill -9) halfway through a second run and
    its tasks are run again on the other worker: every conversation is scored once."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs: list[subprocess.Popen] = []
    try:
        procs.append(_start([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                             "--no-dashboard"], tmp_path / "scheduler.log"))
        worker = [DASK, "worker", address, "--nthreads", "1", "--no-dashboard", "--no-nanny"]
        procs.append(_start(worker + ["--name", "w1"], tmp_path / "w1.log"))
        _wait_workers(address, 1)

        # 1. the same results as a local run (demo chats, plus a file that fails)
        inputs = tmp_path / "in"
        inputs.mkdir()
        (inputs / "chats.jsonl").write_text(DEMO_CHATS.read_text())
        (inputs / "empty.jsonl").write_text("")
        a = _qa("score", inputs, "--out", tmp_path / "local", "-q")
        b = _qa("score", inputs, "--out", tmp_path / "cluster", "-q", "--cluster", address)
        assert a.returncode == b.returncode == 1, (a.stderr, b.stderr)
        assert "Traceback" not in b.stderr
        _same(tmp_path / "local", tmp_path / "cluster")

        # 2. a worker dies mid-run: nothing lost, nothing scored twice
        many = tmp_path / "many"
        _chats(many, 600, 30)
        procs.append(_start(worker + ["--name", "w2"], tmp_path / "w2.log"))
        _wait_workers(address, 2)
        out = tmp_path / "killed"
        run = subprocess.Popen([*QA, "score", str(many / "transcripts"), "--out", str(out), "-q",
                                "--cluster", address], cwd=ROOT, env=ENV,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        parsed = out / ".cache" / "spacy"
        deadline = time.time() + 300
        while time.time() < deadline and run.poll() is None:
            if parsed.is_dir() and sum(1 for _ in parsed.rglob("*.spacy")) >= 100:
                break
            time.sleep(0.05)
        assert run.poll() is None, "the run ended before a worker could be killed"
        os.kill(procs[1].pid, signal.SIGKILL)  # w1, in the middle of its tasks
        procs[1].wait()
        _, err = run.communicate(timeout=600)
        assert run.returncode == 0, err
        assert "Traceback" not in err
        conv = pl.read_parquet(out / "results" / "conversations.parquet")
        assert conv.height == 600
        assert conv["conversation_id"].n_unique() == 600  # none twice
        assert pl.read_csv(out / "results" / "failures.csv").height == 0  # none lost

        # ... and the scores are those of a local run
        local = _qa("score", many / "transcripts", "--out", tmp_path / "many-local", "-q")
        assert local.returncode == 0, local.stderr
        _same(tmp_path / "many-local", out)
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def test_leaving_a_session_on_an_error_cancels_the_cluster_work():
    """Ctrl-C (any exception) inside a command cancels what it submitted to the cluster."""
    from qa.executor import ClusterOptions, Session

    with pytest.raises(KeyboardInterrupt):
        with Session(ClusterOptions.parse("local:1")) as session:
            ex = session.executor("cpu", 1)
            fast = ex.submit(sum, [1, 2])
            slow = [ex.submit(time.sleep, 30) for _ in range(3)]
            assert next(iter(ex.as_completed([fast]))).result() == 3
            raise KeyboardInterrupt
    assert all(f.cancelled() for f in slow)


def test_a_worker_that_cannot_see_a_path_names_it(tmp_path):
    """The shared-filesystem check's worker side: the paths a worker cannot see, the probe
    file the client wrote included."""
    from qa.executor import _sees

    (tmp_path / "probe").write_text("token")
    assert _sees([str(tmp_path)], str(tmp_path / "probe"), "token") == []
    assert _sees([str(tmp_path / "elsewhere")], None, "token") == [str(tmp_path / "elsewhere")]
    # the same path on the worker, but another filesystem: the probe is not there
    assert _sees([str(tmp_path)], str(tmp_path / "missing-probe"), "token") == [str(tmp_path)]


def test_worker_state_is_built_once_per_process():
    from qa.executor import ThreadExecutor, forget_cached, worker_cached

    built = []
    with ThreadExecutor(4) as ex:
        got = [f.result() for f in [ex.submit(worker_cached, ("t", 1), lambda: built.append(1) or object())
                                    for _ in range(20)]]
    assert len(built) == 1 and all(g is got[0] for g in got)
    forget_cached(("t", 1))
    assert worker_cached(("t", 1), lambda: "new") == "new"
