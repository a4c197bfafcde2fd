"""Scale-out benchmark: the soak data through `qa run` on the local executor, on a Dask
`LocalCluster` of one worker and of two, in one run; and a projection for a 2,500-hour day.

    .venv/bin/python bench/bench_scale.py                          # 1,000 chats + 50 calls
    .venv/bin/python bench/bench_scale.py --chats 5000 --recordings 50
    .venv/bin/python bench/bench_scale.py --local-vs ../main       # + local path against another tree

What it does:
1. Generates (or reuses, in ``bench/.soak-data/``) the soak inputs with
   ``bench/bench_soak.py``'s generator: chats with known bad inputs, short stereo calls.
2. Runs ``qa run CHATS CALLS --meta calls.csv -q`` as a child process three times, each into
   a fresh output folder: with the local executor (no ``--cluster``), with
   ``--cluster local:1`` and with ``--cluster local:2``. For each: wall time,
   conversations per second, peak memory of the client (the ``qa run`` process) and of
   the largest other process (a scoring or report worker, a Dask worker), the stage
   timings from ``run.json``, and in == scored + failed (the script exits 1 otherwise, or
   when the three runs do not give the same conversations and scores).
3. From the ``local:1`` run (one worker process) it takes the per-worker transcription speed
   (× real time) and scoring speed, and from the client the seconds it spends per
   conversation on work that stays on the client (reading inputs, writing results,
   aggregation before the pages), and prints how many workers a 2,500-hour day needs
   and at what volume the one client becomes the bottleneck.
4. With ``--local-vs TREE`` it also runs ``bench/bench_transcribe.py`` and a scoring script
   (``bench_score.py``'s chats, ``Scorer(jobs=2)``, first pass and from the caches) with
   TREE's code (e.g. the main branch's checkout) and with this tree's, interleaved, and
   prints this tree's speed as a ratio of TREE's: the local path must be no slower than
   before the executor refactor.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_soak import DATA, GEN_VERSION, PER_FILE, _mem_kib, _tree, cached, read_counts, write_chats, write_calls  # noqa: E402

MiB = 1024 * 1024
DAY_AUDIO_H = 2500


class PerProcess(threading.Thread):
    """Peak RSS of every process of a child's tree, sampled from /proc."""

    def __init__(self, pid: int, every: float = 0.2):
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.peak: dict[int, int] = {}
        self.names: dict[int, str] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for p in _tree(self.pid):
                rss = _mem_kib(p)[0]
                if rss > self.peak.get(p, 0):
                    self.peak[p] = rss
                if p not in self.names:
                    try:
                        cmd = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                        self.names[p] = cmd[:120]
                    except OSError:
                        self.names[p] = "?"
            self.stop.wait(self.every)


def run_mode(label: str, inputs: list[Path], meta: Path, cluster: str | None, tree: Path = ROOT) -> dict:
    """``qa run`` of ``tree``'s code (this checkout by default) into a fresh folder."""
    out = Path(tempfile.mkdtemp(prefix="qa-scale-")) / "out"
    cmd = [sys.executable, "-m", "qa.cli", "run", *map(str, inputs), "--meta", str(meta),
           "--out", str(out), "-q", *(["--cluster", cluster] if cluster else [])]
    env = {**os.environ, "PYTHONPATH": str(tree) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, errors="replace")
    sampler = PerProcess(proc.pid)
    sampler.start()
    err = proc.stderr.read()
    # CPU-seconds of qa and every process it started and waited for (the Dask scheduler
    # runs in it; LocalCluster workers and pool workers are its children): unlike the wall
    # time, hardly moved by what else runs on a shared machine
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    sampler.stop.set()
    sampler.join()
    if proc.returncode not in (0, 1) or not (out / "run.json").exists():
        print(err[-3000:])
        raise SystemExit(f"[{label}] qa run exited {proc.returncode} without results")
    c = read_counts(out)
    client = sampler.peak.get(proc.pid, 0) / 1024
    others = {p: v / 1024 for p, v in sampler.peak.items() if p != proc.pid}
    biggest = max(others.values(), default=0.0)
    import polars as pl

    scores = pl.read_parquet(out / "results" / "conversations.parquet").select(
        "conversation_id", "overall").sort("conversation_id")
    return {"label": label, "wall_s": wall, "counts": c, "client_mib": client, "worker_mib": biggest,
            "procs": len(sampler.peak), "cpu_s": usage.ru_utime + usage.ru_stime, "traceback": "Traceback" in err, "scores": scores, "out": out}


def projection(one: dict, local: dict) -> list[str]:
    """Workers for a 2,500-hour day, and where the client saturates, from measured figures."""
    c, t = one["counts"], one["counts"]["timings"]
    lines = []
    audio = c["audio_s"]
    transcribe_s = t.get("transcribe", 0.0)
    n_conv = c["scored"]
    score_s = t.get("score", 0.0)
    # client-side work per conversation: what does not go to the workers (ingest reading and
    # writing transcripts, writing the results, aggregation and the report swap)
    client_s = t.get("ingest", 0.0) + t.get("write_results", 0.0)
    report_s = t.get("report", 0.0)
    day_audio_s = DAY_AUDIO_H * 3600
    if audio > 0 and transcribe_s > 0 and c["transcribed"]:
        xrt = audio / transcribe_s
        worker_day = xrt * 86400
        need = day_audio_s / worker_day
        lines.append(f"one worker process transcribes at {xrt:.1f}x real time (tiny.en, int8, this CPU, "
                     f"{os.cpu_count()} cores shared; the stage's wall time, model loading included): "
                     f"{worker_day / 3600:,.0f} audio hours a day")
        lines.append(f"  -> {DAY_AUDIO_H:,} audio hours a day need about {need:,.0f} such worker processes "
                     f"running 24 h ({need * 3:,.0f} in an 8-hour batch window)")
    if n_conv and score_s:
        lines.append(f"scoring (one worker): {n_conv / score_s:,.0f} conversations/s; a 2,500-hour day of "
                     f"5-minute calls is {day_audio_s / 300:,.0f} conversations = "
                     f"{day_audio_s / 300 / (n_conv / score_s) / 3600:.1f} worker-hours of scoring")
    if n_conv:
        per_conv = (client_s + report_s) / n_conv
        lines.append(f"client side, upper bound (ingest, writing results, the whole report stage: "
                     f"aggregation here, pages on the workers): "
                     f"{per_conv * 1000:.2f} ms per conversation -> the one client saturates at about "
                     f"{86400 / per_conv:,.0f} conversations a day "
                     f"({86400 / per_conv * 300 / 3600:,.0f} audio hours of 5-minute calls)")
    return lines


SCORE_SCRIPT = """
import random, resource, sys, tempfile, time
from pathlib import Path
tree, n = Path(sys.argv[1]), int(sys.argv[2])
sys.path.insert(0, str(tree / "bench"))
from bench_score import make_chat
from qa.rubric import load_rubric
from qa.score import Scorer

def cpu():
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

def main():
    rng = random.Random(7)
    convs = [make_chat(k, 100, rng) for k in range(n)]
    rubric = load_rubric()
    with tempfile.TemporaryDirectory() as cache:
        best = {}
        for label in ("first", "again", "again", "again", "again", "again"):
            t0, c0 = time.perf_counter(), cpu()
            got = list(Scorer(rubric, cache_dir=cache, jobs=2).score(convs))
            assert len(got) == n
            if label == "first":
                print("first_cpu", round(cpu() - c0, 3), flush=True)
            best[label] = min(best.get(label, 1e9), time.perf_counter() - t0)
        for label, t in best.items():
            print(label, round(t, 3), flush=True)

if __name__ == "__main__":
    main()
"""
"""The scoring half of --local-vs (the same in both trees: bench_score.py's chats, the shipped
rubric, 2 scoring processes, a fresh parse cache then the same again). It also prints the
CPU-seconds of the first pass in all processes (workers included): on a shared, loaded
machine the wall times of one round swing by tens of percent, the CPU-seconds by a few."""


def bench_pair(tree: Path, score_n: int, rounds: int = 2, files: list[Path] | None = None) -> list[str]:
    """bench_transcribe.py and bench_score.py of ``tree`` and of this tree, interleaved (the
    order alternates each round). Each figure: best of the rounds, and the spread of the
    ratios of the single rounds."""
    lines = []
    figures: dict[str, dict[str, list[float]]] = {}
    order = [("before", tree), ("this tree", ROOT)]
    for k in range(rounds):
        for name, t in (order if k % 2 == 0 else order[::-1]):
            env = {**os.environ, "PYTHONPATH": str(t)}
            got = figures.setdefault(name, {})
            r = subprocess.run([sys.executable, str(t / "bench" / "bench_transcribe.py"), "--repeat", "1",
                                *map(str, files or [])],
                               cwd=t, env=env, capture_output=True, text=True)
            m = re.search(r"^qa transcribe \(default[^\n]*?\s+([\d.]+)\s+([\d.]+)", r.stdout, re.M)
            if not m:
                raise SystemExit(f"bench_transcribe.py in {t} failed:\n{r.stdout[-1500:]}{r.stderr[-1500:]}")
            got.setdefault("transcribe_s", []).append(float(m.group(1)))
            r = subprocess.run([sys.executable, "-c", SCORE_SCRIPT, str(t), str(score_n)],
                               cwd=t, env=env, capture_output=True, text=True)
            m1 = re.search(r"^first ([\d.]+)$", r.stdout, re.M)
            m2 = re.search(r"^again ([\d.]+)$", r.stdout, re.M)
            m3 = re.search(r"^first_cpu ([\d.]+)$", r.stdout, re.M)
            if not (m1 and m2 and m3):
                raise SystemExit(f"scoring in {t} failed:\n{r.stdout[-1500:]}{r.stderr[-1500:]}")
            got.setdefault("score_first_s", []).append(float(m1.group(1)))
            got.setdefault("score_first_cpu", []).append(float(m3.group(1)))
            got.setdefault("score_again_s", []).append(float(m2.group(1)))
    b, a = figures["before"], figures["this tree"]
    lines.append(f"local path against {tree} (best of {rounds} interleaved runs each; ratio = speed of this "
                 "tree / speed before, >= 1 is no slower; in brackets the lowest..highest ratio of "
                 "single rounds):")
    what_files = f"{len(files)} soak calls" if files else "5 files, 485 s stereo"
    for key, what, unit in (
            ("transcribe_s", f"bench_transcribe.py, qa transcribe ({what_files})", "s"),
            ("score_first_s", f"Scorer(jobs=2), {score_n} bench_score chats x 100 turns, first", "s"),
            ("score_first_cpu", "  the same, CPU-seconds in all processes", "cpu-s"),
            ("score_again_s", "Scorer(jobs=2), the same again from the caches (best of 5)", "s")):
        per_round = [x / y for x, y in zip(b[key], a[key])]
        lines.append(f"  {what:62s} {min(b[key]):7.2f} {unit} -> {min(a[key]):7.2f} {unit}  ratio "
                     f"{min(b[key]) / min(a[key]):.2f}  [{min(per_round):.2f}..{max(per_round):.2f}]")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chats", type=int, default=1000, help="good chat conversations (default 1000)")
    ap.add_argument("--recordings", type=int, default=50, help="short stereo calls (default 50)")
    ap.add_argument("--modes", default="local,local:1,local:2",
                    help="comma-separated: local (no --cluster) and/or --cluster values")
    ap.add_argument("--local-vs", type=Path, default=None, metavar="TREE",
                    help="also compare bench_transcribe.py / bench_score.py against this checkout")
    ap.add_argument("--score-n", type=int, default=200, help="conversations for bench_score.py (--local-vs)")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds of --local-vs and --cluster-vs (best counts)")
    ap.add_argument("--only-local-vs", action="store_true", help="skip the soak runs")
    ap.add_argument("--cluster-vs", type=Path, default=None, metavar="TREE",
                    help="also run each --cluster mode with this checkout's code, interleaved, and "
                         "print this tree's stage times as ratios to it (before/after a change)")
    ap.add_argument("--vs-calls", type=int, default=0,
                    help="--local-vs: transcribe this many soak calls instead of bench_transcribe's "
                         "default 485 s (quicker on a loaded machine)")
    ap.add_argument("--smoke", action="store_true",
                    help="30 chats and 2 recordings, local and local:1, in a temporary folder: the script "
                         "runs (for the tests; no figure to quote)")
    args = ap.parse_args()
    global DATA
    if args.smoke:
        import tempfile

        args.chats, args.recordings, args.modes, args.local_vs = 30, 2, "local,local:1", None
        tmp = tempfile.TemporaryDirectory(prefix="qa-scale-smoke-")
        DATA = Path(tmp.name)
    print(f"qa scale: {args.chats:,} chats + {args.recordings} recordings; {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}; no GPU in this benchmark (CPU, tiny.en int8)", flush=True)
    calls_dir = DATA / f"calls-{args.recordings}"
    calls = cached(calls_dir, {"v": GEN_VERSION, "n": args.recordings}, lambda f: write_calls(f, args.recordings))
    chats_dir = DATA / f"chats-{args.chats}"
    cached(chats_dir, {"v": GEN_VERSION, "n": args.chats, "per_file": PER_FILE},
           lambda f: write_chats(f, args.chats, seed=args.chats))
    problems: list[str] = []
    runs = []
    before: dict[str, dict] = {}
    for mode in ([] if args.only_local_vs else args.modes.split(",")):
        cluster = None if mode == "local" else mode
        label = "local executor" if cluster is None else f"--cluster {cluster}"
        # --cluster-vs: TREE's code and this tree's, interleaved, --rounds times (best counts)
        trees = [(args.cluster_vs.resolve(), " (before)"), (ROOT, "")] * args.rounds \
            if cluster and args.cluster_vs else [(ROOT, "")]
        for tree, tag in trees:
            r = run_mode(label + tag, [chats_dir, calls_dir], calls_dir / "calls.csv", cluster, tree)
            c = r["counts"]
            if c["in"] != c["scored"] + c["failed"]:
                problems.append(f"{label}{tag}: in {c['in']} != scored {c['scored']} + failed {c['failed']}")
            if r["traceback"]:
                problems.append(f"{label}{tag}: a traceback on stderr")
            t = c["timings"]
            print(f"\n[{label}{tag}] {r['wall_s']:.1f} s wall, {r['cpu_s']:.1f} CPU-s, "
                  f"{c['scored'] / r['wall_s']:.1f} conversations/s "
                  f"(in {c['in']} = scored {c['scored']} + failed {c['failed']}); peak RSS: client "
                  f"{r['client_mib']:.0f} MiB, largest other process {r['worker_mib']:.0f} MiB, "
                  f"{r['procs']} processes; load average {os.getloadavg()[0]:.1f}", flush=True)
            print("  stages (s): " + ", ".join(f"{k} {v:.1f}" for k, v in t.items()))
            best = before if tag else {x["label"]: x for x in runs}
            old_r = best.get(label)
            if old_r is not None:  # keep the best of the rounds, each figure on its own
                for k in ("wall_s", "cpu_s"):
                    r[k] = min(r[k], old_r[k])
                for k, v in old_r["counts"]["timings"].items():
                    t[k] = min(t.get(k, v), v)
            if tag:
                before[label] = r
            else:
                r["label"] = label
                runs[:] = [x for x in runs if x["label"] != label] + [r]
    for label, b in before.items():
        a = next(r for r in runs if r["label"] == label)
        if not b["scores"].equals(a["scores"]):
            problems.append(f"{label}: conversations or scores differ from {args.cluster_vs}'s")
        tb, ta = b["counts"]["timings"], a["counts"]["timings"]
        print(f"\n{label}: this tree against {args.cluster_vs}, best of {args.rounds} interleaved "
              "(before -> after, speed ratio):")
        rows = [("CPU-seconds", b["cpu_s"], a["cpu_s"]), ("wall", b["wall_s"], a["wall_s"])] + \
            [(f"{k} stage", tb[k], ta[k]) for k in ta if k in tb]
        for k, x, y in rows:
            if x > 0.05 and y > 0.05:
                print(f"  {k:18s} {x:7.1f} -> {y:7.1f}  {x / y:.2f}x")
    for r in runs[1:]:
        if not r["scores"].equals(runs[0]["scores"]):
            problems.append(f"{r['label']}: conversations or scores differ from {runs[0]['label']}")
    one = next((r for r in runs if r["label"] == "--cluster local:1"), None)
    if one is not None:
        print("\nprojection (from the local:1 run; every figure scales with the CPU and the model):")
        for line in projection(one, runs[0]):
            print("  " + line)
    if len(runs) >= 2:
        base = runs[0]
        print("\nwall time ratios against the " + base["label"] + ": " + ", ".join(
            f"{r['label']} {base['wall_s'] / r['wall_s']:.2f}x speed" for r in runs[1:]))
    if args.local_vs:
        print()
        files = sorted(calls_dir.glob("*.wav"))[:args.vs_calls] if args.vs_calls else None
        for line in bench_pair(args.local_vs.resolve(), args.score_n, args.rounds, files):
            print(line, flush=True)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
    for p in problems:
        print(f"PROBLEM: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
