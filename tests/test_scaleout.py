"""Scale-out: the same stages on a real Dask cluster give the same outputs as a local run,
and a worker killed mid-run loses and duplicates nothing."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

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


@contextlib.contextmanager
def _scheduler(tmp_path: Path) -> Iterator[tuple[str, list[subprocess.Popen]]]:
    """A real `dask scheduler` on 127.0.0.1: (its address, the list of processes to stop at
    the end, the scheduler first; add the workers you start)."""
    port = _free_port()
    procs = [_start([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                    tmp_path / "scheduler.log")]
    try:
        yield f"tcp://127.0.0.1:{port}", procs
    finally:
        _stop(procs)


def _stop(procs: list[subprocess.Popen]) -> None:
    """SIGTERM each process group still running (the last started first), then wait for
    each; one that does not exit in 20 s gets SIGKILL."""
    for p in reversed(procs):
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


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


@pytest.mark.slow  # about 75 s: three qa runs over 600 conversations
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
        from distributed import Client

        with Client(address, timeout="30s") as watch:
            # the kill lands while w1 holds a task (not between two, nor after its last)
            w1 = next(a for a, w in watch.scheduler_info()["workers"].items() if w.get("name") == "w1")
            deadline = time.time() + 300
            while time.time() < deadline and run.poll() is None:
                if parsed.is_dir() and sum(1 for _ in parsed.rglob("*.spacy")) >= 100 \
                        and watch.processing([w1]).get(w1):
                    break
                time.sleep(0.05)
            assert run.poll() is None, "the run ended before a worker could be killed"
            os.kill(procs[1].pid, signal.SIGKILL)  # w1, in the middle of a task
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
        _stop(procs)


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


def _can_unshare_mounts() -> bool:
    try:
        return subprocess.run(["unshare", "-m", "true"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _no_temporary_files(out: Path) -> list[Path]:
    """What an interrupted write would leave: ``.NAME.XXXX.tmp`` files, ``.parts-*.tmp``
    folders (the results), ``.reports.tmp-*`` staging folders."""
    return [p for p in out.rglob(".*") if p.name.endswith(".tmp") or p.name.startswith(".reports.tmp-")]


@pytest.mark.slow
def test_a_worker_that_does_not_mount_the_shared_folder_stops_the_command_up_front(tmp_path):
    """A real `dask worker` whose view of the filesystem differs: it runs in its own mount
    namespace with an empty filesystem mounted over the folder holding the inputs and the
    output folder (a worker machine without the share, with local folders at the same
    paths). `qa score` and `qa run` stop before any work with the documented error naming
    the worker and the path, exit 1, no traceback, nothing in results/."""
    if not _can_unshare_mounts():
        pytest.skip("`unshare -m` is not allowed here (needs root or user namespaces)")
    shared = tmp_path / "shared"
    (shared / "in").mkdir(parents=True)
    chats = shared / "in" / "chats.jsonl"
    chats.write_text(DEMO_CHATS.read_text())
    with _scheduler(tmp_path) as (address, procs):
        # in the worker's namespace (private mounts: the test's view is untouched) `shared`
        # is an empty tmpfs holding empty in/ and out/ folders
        mount = 'mount -t tmpfs qa-not-shared "$0" && mkdir -p "$0/in" "$0/out" && exec "$@"'
        procs.append(_start(["unshare", "-m", "sh", "-c", mount, str(shared),
                             DASK, "worker", address, "--nthreads", "1", "--no-dashboard", "--no-nanny"],
                            tmp_path / "worker.log"))
        _wait_workers(address, 1)
        fix = "Fix: Inputs and the output folder must be on a filesystem every worker mounts at the same path"

        # 1. the output folder exists on the worker, but it is another folder: the probe
        #    file the client wrote there is missing
        out = shared / "out"
        res = _qa("score", shared / "in", "--out", out, "-q", "--cluster", address, timeout=300)
        assert res.returncode == 1, res.stderr
        assert "Traceback" not in res.stderr
        assert res.stderr.startswith(f"Error: {out}: Dask worker tcp://127.0.0.1:")
        assert f"cannot see {out}" in res.stderr and fix in res.stderr
        assert not (out / "results").exists()
        assert not list(out.glob(".qa-shared-check-*"))  # the probe is removed

        # 2. the output folder is shared, an input is not
        out2 = tmp_path / "out"
        res = _qa("run", chats, "--out", out2, "-q", "--cluster", address, timeout=300)
        assert res.returncode == 1, res.stderr
        assert "Traceback" not in res.stderr
        assert res.stderr.startswith(f"Error: {chats}: Dask worker tcp://127.0.0.1:")
        assert f"cannot see {chats}" in res.stderr and fix in res.stderr
        assert not (out2 / "results").exists() and not (out2 / "reports").exists()
        assert not list(out2.glob(".qa-shared-check-*"))


@pytest.mark.slow
def test_ctrl_c_cancels_the_cluster_work_and_a_rerun_completes(tmp_path):
    """SIGINT to `qa run --cluster tcp://…` in the middle of scoring: exit 130 with the
    documented message and no traceback, the scheduler drops the command's tasks and the
    worker goes idle, no half-written file is left in the output folder; the same command
    again finishes with in = scored + failed."""
    many = tmp_path / "many"
    _chats(many, 400, 30)
    (many / "empty.jsonl").write_text("")  # one input that fails: in = 400 + 1
    out = tmp_path / "out"
    with _scheduler(tmp_path) as (address, procs):
        procs.append(_start([DASK, "worker", address, "--nthreads", "1", "--no-dashboard", "--no-nanny"],
                            tmp_path / "worker.log"))
        _wait_workers(address, 1)
        cmd = [*QA, "run", str(many), "--out", str(out), "-q", "--cluster", address]
        run = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
        parsed = out / ".cache" / "spacy"
        deadline = time.time() + 300
        while time.time() < deadline and run.poll() is None:
            if parsed.is_dir() and sum(1 for _ in parsed.rglob("*.spacy")) >= 60:
                break
            time.sleep(0.05)
        assert run.poll() is None, "the run ended before it could be interrupted"
        run.send_signal(signal.SIGINT)
        _, err = run.communicate(timeout=120)
        assert run.returncode == 130, err
        assert "Interrupted; finished files are kept. Run the same command again to resume." in err
        assert "Traceback" not in err
        assert not (out / "results" / "conversations.parquet").exists()
        assert _no_temporary_files(out) == []

        from distributed import Client

        with Client(address, timeout="30s") as client:
            deadline = time.time() + 60  # a chunk already running finishes, nothing starts
            while time.time() < deadline:
                tasks = client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))
                busy = [k for keys in client.processing().values() for k in keys]
                if tasks == 0 and not busy:
                    break
                time.sleep(0.5)
            assert (tasks, busy) == (0, [])

        again = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
        assert again.returncode == 1, again.stderr  # the empty file
        assert "Traceback" not in again.stderr
    conv = pl.read_parquet(out / "results" / "conversations.parquet")
    fails = pl.read_csv(out / "results" / "failures.csv")
    assert conv.height == 400 and conv["conversation_id"].n_unique() == 400
    assert [Path(f).name for f in fails["file"]] == ["empty.jsonl"]  # in 401 = scored 400 + failed 1
    assert _no_temporary_files(out) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc settings (Linux)")
def test_dask_workers_reuse_freed_memory_like_a_plain_process():
    """Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which also switches
    off glibc's dynamic mmap threshold: every freed block over 128 KiB goes back to the
    kernel and the next one is faulted in again, page by page (1.5x the CPU time of
    Whisper on a worker). qa's worker plugin sets the thresholds back on every worker."""

    def faults() -> int:
        import resource

        import numpy as np

        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(200):
            block = np.ones(1 << 18, dtype=np.float32)  # 1 MiB, allocated and freed
            del block
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    # what Dask's environment does to a plain process: 200 x 256 pages
    plain = subprocess.run([sys.executable, "-c", "import cloudpickle, sys; "
                            "print(cloudpickle.loads(sys.stdin.buffer.read())())"],
                           input=__import__("cloudpickle").dumps(faults), capture_output=True,
                           env={**ENV, "MALLOC_TRIM_THRESHOLD_": "65536"})
    assert int(plain.stdout) > 40_000, plain.stderr
    from qa.executor import ClusterOptions, Session

    with Session(ClusterOptions.parse("local:1")) as session:
        [(env, n)] = session.client.run(lambda: (os.environ.get("MALLOC_TRIM_THRESHOLD_"), faults())).values()
    assert n < 5_000, f"{n} page faults on the worker (MALLOC_TRIM_THRESHOLD_={env})"


@pytest.mark.slow
def test_a_worker_without_qa_stops_the_command_up_front(tmp_path):
    """A real `dask worker` whose Python cannot import qa (a machine where it is not
    installed): the command stops when it sets up the workers, before any work, with one
    line saying what to install."""
    no_qa = ("import sys; sys.modules['qa'] = None; sys.argv[0] = 'dask worker'; "  # import qa fails
             "from distributed.cli.dask_worker import main; main()")
    with _scheduler(tmp_path) as (address, procs):
        procs.append(_start([sys.executable, "-c", no_qa, address, "--nthreads", "1", "--no-dashboard",
                             "--no-nanny"], tmp_path / "worker.log"))
        _wait_workers(address, 1)
        out = tmp_path / "out"
        res = _qa("score", DEMO_CHATS, "--out", out, "-q", "--cluster", address, timeout=300)
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr
    assert res.stderr.startswith(f"Error: a Dask worker of {address} cannot run qa (")
    assert "Fix: Install the same qa version in every worker's Python environment" in res.stderr
    assert not (out / "results").exists()


@pytest.mark.slow
def test_ctrl_c_in_a_terminal_stops_a_local_cluster_quietly(tmp_path):
    """Ctrl-C in a terminal sends SIGINT to the whole process group: `qa run --cluster
    local:2` and the Dask worker processes it started. Only qa answers (exit 130, the one
    documented line, no traceback from the workers); no process of the group is left and
    no half-written file."""
    many = tmp_path / "many"
    _chats(many, 300, 30)
    out = tmp_path / "out"
    run = subprocess.Popen([*QA, "run", str(many), "--out", str(out), "-q", "--cluster", "local:2"],
                           cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)  # its own process group, as in a terminal
    try:
        parsed = out / ".cache" / "spacy"
        deadline = time.time() + 300
        while time.time() < deadline and run.poll() is None:
            if parsed.is_dir() and sum(1 for _ in parsed.rglob("*.spacy")) >= 40:
                break
            time.sleep(0.05)
        assert run.poll() is None, "the run ended before it could be interrupted"
        os.killpg(run.pid, signal.SIGINT)
        _, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    assert run.returncode == 130, err
    assert err.strip() == "Interrupted; finished files are kept. Run the same command again to resume."
    deadline = time.time() + 30
    while time.time() < deadline:
        left = subprocess.run(["pgrep", "-s", str(run.pid)], capture_output=True, text=True).stdout.split()
        if not left:
            break
        time.sleep(0.5)
    assert left == []
    assert _no_temporary_files(out) == []
