"""`qa run` end to end: mixed inputs, failures, caching, kill -9 and resume, a busy
output folder, and no network access."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from qa.cli import main
from qa.store import OutDir, run_lock

from conftest import IBM_CUT, IBM_FULL, ROOT, need_shared, need_tool

DEMO_CHATS = ROOT / "examples" / "chats" / "demo_chats.jsonl"
# the 525 real IBM chats when the optional data is present (CI), else the first 40 of them
IBM = IBM_FULL if IBM_FULL.exists() else IBM_CUT
QA = [sys.executable, "-m", "qa.cli"]


def _frames(out: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    conv = pl.read_parquet(out / "results" / "conversations.parquet").drop("scored_at")
    crit = pl.read_parquet(out / "results" / "criteria.parquet")
    return (conv.sort("conversation_id"),
            crit.sort("conversation_id", "criterion_id"))


def _leftovers(out: Path) -> list[Path]:
    """Temporary files or folders of an interrupted write."""
    return [p for p in out.rglob("*") if p.name.endswith(".tmp") or ".reports.tmp-" in p.name]


def test_run_chats_end_to_end(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(DEMO_CHATS), "--out", str(out)])
    assert result.exit_code == 0, result.output
    conv = pl.read_parquet(out / "results" / "conversations.parquet")
    n = sum(1 for _ in open(DEMO_CHATS, encoding="utf-8"))
    assert conv.height == len({json.loads(line)["conversation_id"] for line in open(DEMO_CHATS)})
    assert n > conv.height
    assert (out / "reports" / "index.html").is_file()
    assert len(list((out / "reports" / "agents").glob("*.html"))) == conv["agent_id"].n_unique()
    assert len(list((out / "reports" / "calls").glob("*.html"))) == conv.height
    run = json.loads((out / "run.json").read_text())
    assert run["counts"]["scored"] == conv.height
    assert run["counts"]["failed"] == 0
    assert run["rubric"]["hash"] == conv["rubric_hash"][0]
    assert (out / "results" / "failures.csv").read_text() == "file,stage,reason\n"
    assert "qa run" in result.output and "report" in result.output


def test_run_bad_input_is_recorded_and_the_rest_scored(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "good.jsonl").write_text(DEMO_CHATS.read_text())
    (inputs / "empty.jsonl").write_text("")
    (inputs / "broken.jsonl").write_text('{"conversation_id": "x1", "agent_id": "a", "speaker": "agent", '
                                         '"text": "hi", "timestamp": "2026-05-01T09:00:00Z"}\n{oops\n')
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(inputs), "--out", str(out), "-q"])
    assert result.exit_code == 1
    failures = pl.read_csv(out / "results" / "failures.csv")
    assert sorted(Path(f).name for f in failures["file"]) == ["broken.jsonl", "empty.jsonl"]
    assert set(failures["stage"]) == {"ingest"}
    assert any("line 2" in r for r in failures["reason"])
    conv = pl.read_parquet(out / "results" / "conversations.parquet")
    assert conv.height > 0 and (out / "reports" / "index.html").exists()
    run = json.loads((out / "run.json").read_text())
    assert run["counts"]["failed"] == 2
    assert "Traceback" not in result.output


def test_second_run_reuses_parses_and_gives_same_results(tmp_path):
    out = tmp_path / "out"
    runner = CliRunner()
    assert runner.invoke(main, ["run", str(DEMO_CHATS), "--out", str(out), "-q"]).exit_code == 0
    first = _frames(out)
    assert runner.invoke(main, ["run", str(DEMO_CHATS), "--out", str(out), "-q"]).exit_code == 0
    run = json.loads((out / "run.json").read_text())
    assert run["counts"]["parsed"] == 0
    assert run["counts"]["parse_cached"] == run["counts"]["conversations"]
    second = _frames(out)
    assert first[0].equals(second[0]) and first[1].equals(second[1])


def test_output_folder_of_inputs_is_not_read_back(tmp_path):
    """`qa run . --out qa-out`: the transcripts written by the run are not inputs."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "chats.jsonl").write_text(DEMO_CHATS.read_text())
    out = work / "qa-out"
    runner = CliRunner()
    for _ in range(2):
        result = runner.invoke(main, ["run", str(work), "--out", str(out), "-q"])
        assert result.exit_code == 0, result.output
    run = json.loads((out / "run.json").read_text())
    assert run["counts"]["files"] == 1


def test_busy_output_folder_exits_3(tmp_path):
    out = OutDir.at(tmp_path / "out")
    with run_lock(out):
        result = subprocess.run([*QA, "run", str(DEMO_CHATS), "--out", str(out.root)],
                                capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 3
    assert "is writing to this output folder" in result.stderr
    assert "Wait for it to finish, or choose another --out folder." in result.stderr
    assert not (out.root / "results" / "conversations.parquet").exists()


def _lock_holder_pid(lock: Path) -> int | None:
    """The pid holding the output folder's lock, asked of the kernel (F_GETLK) without
    taking the lock; None when nobody holds it."""
    import fcntl
    import struct

    if not lock.exists():
        return None
    with open(lock, "a+") as fh:
        query = struct.pack("hhqqi", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0).ljust(32, b"\0")
        l_type, _, _, _, l_pid = struct.unpack_from("hhqqi", fcntl.fcntl(fh.fileno(), fcntl.F_GETLK, query))
    return l_pid if l_type != fcntl.F_UNLCK else None


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="F_GETLK's record layout is Linux's")
def test_two_runs_at_once_one_waits_nothing_corrupted(tmp_path):
    """The second run on a folder the first is writing stops with exit 3; the first is held
    (SIGSTOP) while it holds the lock, so the two always overlap, however fast the machine."""
    out = tmp_path / "out"
    a = subprocess.Popen([*QA, "run", str(IBM), "--out", str(out), "-q"], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while _lock_holder_pid(out / ".qa.lock") != a.pid:
            assert a.poll() is None, "the first run ended before it was seen holding the lock"
            assert time.time() < deadline, "the first run never took the lock"
            time.sleep(0.01)
        a.send_signal(signal.SIGSTOP)
        try:
            b = subprocess.run([*QA, "run", str(IBM), "--out", str(out), "-q"], cwd=ROOT,
                               capture_output=True, text=True)
        finally:
            a.send_signal(signal.SIGCONT)
        a_out, a_err = a.communicate(timeout=600)
    finally:
        a.kill()
    assert a.returncode == 0, a_err
    assert b.returncode == 3, b.stderr
    assert f"another qa command (pid {a.pid}) is writing to this output folder" in b.stderr
    n = len(json.loads(IBM.read_text(encoding="utf-8")))
    assert pl.read_parquet(out / "results" / "conversations.parquet").height == n


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """Results of one uninterrupted run over the real IBM chats and the demo chats."""
    ref = tmp_path_factory.mktemp("ref")
    subprocess.run([*QA, "run", str(IBM), str(DEMO_CHATS), "--out", str(ref), "-q"], cwd=ROOT,
                   check=True, capture_output=True)
    return _frames(ref)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_kill_9_then_rerun_equals_uninterrupted(tmp_path, seed, uninterrupted):
    """kill -9 at a random moment (seeded, so a failure can be replayed), run again: the
    results equal an uninterrupted run's, and no temporary file is left behind."""
    expected = uninterrupted

    out = tmp_path / "out"
    delay = random.Random(seed).uniform(0.5, 6.0)
    proc = subprocess.Popen([*QA, "run", str(IBM), str(DEMO_CHATS), "--out", str(out), "-q"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # whatever the moment, a results file is either absent or complete
    for name in ("conversations.parquet", "criteria.parquet"):
        p = out / "results" / name
        if p.exists():
            pl.read_parquet(p)
    again = subprocess.run([*QA, "run", str(IBM), str(DEMO_CHATS), "--out", str(out), "-q"],
                           cwd=ROOT, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    got = _frames(out)
    assert got[0].drop("transcript_path").equals(expected[0].drop("transcript_path"))
    assert got[1].equals(expected[1])
    assert _leftovers(out) == []


NO_NETWORK = textwrap.dedent("""
    import socket, sys
    attempts = []
    LOOPBACK = ("127.", "::1", "localhost")
    def hook(event, args):
        # any name lookup is an attempt to reach out
        if event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr"):
            attempts.append(f"{event} {args[:1]}")
            raise OSError("network blocked by test")
        # connecting or sending anywhere but this machine (urllib3 binds ::1 on import
        # to learn whether IPv6 works: that stays on the machine)
        if event in ("socket.connect", "socket.sendto", "socket.bind"):
            sock, addr = args[0], args[1]
            if getattr(sock, "family", None) == socket.AF_UNIX:
                return
            host = addr[0] if isinstance(addr, tuple) else str(addr)
            if not str(host).startswith(LOOPBACK):
                attempts.append(f"{event} {addr!r}")
                raise OSError("network blocked by test")
    sys.addaudithook(hook)
    from qa.cli import main
    try:
        main()
    finally:
        if attempts:
            sys.stderr.write("NETWORK ATTEMPTS: %r\\n" % attempts)
            sys.stderr.flush()
            import os; os._exit(99)
""")


@pytest.mark.slow
def test_full_run_with_sockets_blocked(tmp_path):
    need_tool("espeak-ng", "sox")
    from audio_helpers import make_stereo_call

    calls = tmp_path / "calls"
    calls.mkdir()
    wav = make_stereo_call(calls, agent_lines=[(0.3, "Thank you for calling Acme, this is Sam."),
                                               (4.5, "I am sorry to hear that. Let me check.")],
                           customer_lines=[(2.4, "Hi, my order is late.")])
    meta = tmp_path / "calls.csv"
    meta.write_text(f"file,agent_id,team\n{wav.name},sam,blue\n")
    out = tmp_path / "out"
    env = {**os.environ, "HF_HUB_OFFLINE": "0"}  # the code itself must not reach out
    result = subprocess.run([sys.executable, "-c", NO_NETWORK, "run", str(calls), str(DEMO_CHATS),
                             "--meta", str(meta), "--out", str(out), "-q"],
                            cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    assert "NETWORK ATTEMPTS" not in result.stderr
    assert result.returncode == 0, result.stderr
    conv = pl.read_parquet(out / "results" / "conversations.parquet")
    voice = conv.filter(pl.col("channel") == "voice")
    assert voice["agent_id"].to_list() == ["sam"]
    assert conv.filter(pl.col("channel") == "chat").height > 0


def test_run_redact_masks_reports_but_scores_the_original(tmp_path):
    chat = tmp_path / "pii.jsonl"
    rows = [
        {"conversation_id": "p1", "agent_id": "a-pii", "speaker": "agent", "timestamp": "2026-05-01T09:00:00Z",
         "text": "Hi, thanks for reaching out! This is Sam."},
        {"conversation_id": "p1", "agent_id": "a-pii", "speaker": "customer", "timestamp": "2026-05-01T09:00:30Z",
         "text": "I'm so frustrated, my card 4111 1111 1111 1111 was charged twice. Mail me at dana.lee@example.com"},
        {"conversation_id": "p1", "agent_id": "a-pii", "speaker": "agent", "timestamp": "2026-05-01T09:01:00Z",
         "text": "I'm sorry to hear that, I understand how frustrating that is. Is there anything else I can help with?"},
    ]
    chat.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(chat), "--redact", "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    pages = [p.read_text() for p in (out / "reports").rglob("*.html")]
    assert len(pages) == 3
    for html in pages:
        assert "dana.lee@example.com" not in html and "4111 1111 1111 1111" not in html
        assert "personal data redacted" in html
    call = (out / "reports" / "calls" / "p1.html").read_text()
    assert "[EMAIL]" in call and "[CARD]" in call
    # scoring saw the original text: the empathy criterion found the complaint and the apology
    crit = pl.read_parquet(out / "results" / "criteria.parquet")
    emp = crit.filter(pl.col("criterion_id") == "empathy_response")
    assert emp["outcome"].to_list() == ["pass"]
    assert json.loads((out / "run.json").read_text())["options"]["redact"] is True


def test_lock_dies_with_its_process_not_with_its_workers(tmp_path):
    """A worker forked by a qa command must not keep the output folder locked after the
    command is killed (the scorer forks workers)."""
    out = tmp_path / "out"
    script = textwrap.dedent(f"""
        import os, sys, time
        from qa.store import OutDir, run_lock
        with run_lock(OutDir.at({str(out)!r})):
            pid = os.fork()
            if pid == 0:
                time.sleep(60)
                os._exit(0)
            print(pid, flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    child = int(proc.stdout.readline())
    try:
        with pytest.raises(Exception, match="is writing to this output folder"):
            with run_lock(OutDir.at(out)):
                pass
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with run_lock(OutDir.at(out)):  # the orphaned worker holds nothing
            pass
    finally:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_busy_message_names_the_holder_even_before_it_wrote_its_pid(tmp_path):
    """The holder writes "pid N" into the lock file only after it has the lock; the busy
    message asks the kernel who holds it (F_GETLK), so it never says "(another process)"
    in that window."""
    out = tmp_path / "out"
    out.mkdir()
    script = textwrap.dedent(f"""
        import fcntl, time
        fh = open({str(out / ".qa.lock")!r}, "a+")
        fcntl.lockf(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # locked, nothing written yet
        print("locked", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        assert (out / ".qa.lock").read_text() == ""
        with pytest.raises(Exception) as e:
            with run_lock(OutDir.at(out)):
                pass
        assert f"another qa command (pid {proc.pid}) is writing to this output folder" in str(e.value)
        assert "another process" not in str(e.value)
    finally:
        proc.kill()
        proc.wait()


def _descendants(pid: int) -> set[int]:
    """Pids of every living descendant of ``pid`` (children, grandchildren …), from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - found
        found |= frontier
    return found


def _living(pids: set[int]) -> set[int]:
    alive = set()
    for p in pids:
        try:
            state = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(p)
    return alive


def _many_chats(folder: Path, copies: int) -> Path:
    """``copies`` renamed copies of the 48 weekly demo chats in one JSONL file."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [json.loads(line) for line in
            (ROOT / "examples" / "chats" / "weekly_chats.jsonl").read_text().splitlines() if line]
    with open(folder / "many.jsonl", "w", encoding="utf-8") as fh:
        for k in range(copies):
            for r in rows:
                fh.write(json.dumps({**r, "conversation_id": f"{r['conversation_id']}-{k}"}) + "\n")
    return folder


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: qa starts no worker pool")
@pytest.mark.parametrize("stage, pool", [("ingest", 2), ("report", 3)])
def test_kill_9_leaves_no_process_behind(tmp_path, stage, pool):
    """kill -9 of `qa run` while its workers run: the scoring workers (forked while the chats
    are read and scored), or the report stage's fork server, its resource tracker and its
    workers, which used to run on for ever (the workers hold both ends of their task
    queue). None may outlive it. Made from the repository's own demo chats (no optional
    data needed): 480 conversations keep each pool busy long enough to be seen."""
    inp = _many_chats(tmp_path / "in", 10)
    out = tmp_path / "out"
    proc = subprocess.Popen([*QA, "run", str(inp), "--out", str(out)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    helpers: set[int] = set()
    try:
        for line in proc.stderr:
            if line.startswith(stage):
                break
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            helpers |= _descendants(proc.pid)
            if len(_living(helpers)) >= pool:  # the pool's processes all started
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before its workers could be seen"
        assert len(_living(helpers)) >= pool, helpers
        helpers |= _descendants(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.time() + 15
        while _living(helpers) and time.time() < deadline:
            time.sleep(0.1)
        assert not _living(helpers), f"left running: {sorted(_living(helpers))}"
    finally:
        proc.kill()
        for p in _living(helpers):
            os.kill(p, signal.SIGKILL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
def test_the_next_command_stops_helpers_a_killed_run_left(tmp_path):
    """Where the kernel could not stop them, the next command on the same folder does:
    helpers carry QA_OUT and QA_PARENT_PID; their qa process is gone."""
    out = tmp_path / "out"
    out.mkdir()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    env = {**os.environ, "QA_OUT": str(out.resolve()), "QA_PARENT_PID": str(gone.pid)}
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], env=env)
    other_out = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                                 env={**env, "QA_OUT": str((tmp_path / "elsewhere").resolve())})
    try:
        time.sleep(0.3)
        with run_lock(OutDir.at(out)):
            assert orphan.wait(timeout=10) == -signal.SIGKILL
        assert other_out.poll() is None  # another folder's helpers are not this folder's business
    finally:
        orphan.kill()
        other_out.kill()
        orphan.wait()
        other_out.wait()
