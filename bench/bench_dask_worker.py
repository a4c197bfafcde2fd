"""Whisper inside a Dask worker against a plain process: the same channels, the same task.

    .venv/bin/python bench/bench_dask_worker.py                 # 8 soak calls = 16 channels, 2 rounds
    .venv/bin/python bench/bench_dask_worker.py --calls 4 --rounds 1

Each mode runs in a fresh process and transcribes the same channels one after the other
through ``qa.transcribe._channel_task`` (the cluster's task: decode the channel from its
path, Whisper with the model loaded once per process, 1 CPU thread unless said), after
loading the model, and reports the CPU-seconds (user + system), the minor page faults and
the wall time of that loop:

1. a plain process;
2. a plain process with the environment Dask's nanny gives its workers
   (``distributed.nanny.pre-spawn-environ``: ``MALLOC_TRIM_THRESHOLD_``, ``OMP_NUM_THREADS`` …);
3. a Dask worker (``LocalCluster`` of one worker process) as Dask starts it;
4. a Dask worker with qa's worker plugin (:mod:`qa.dask_worker`), as ``--cluster`` runs it;
5. a plain process with 2 CPU threads per channel (what one worker process per 2-core
   machine gets).

CPU-seconds, not the wall time, are compared (ratios to mode 1): on a shared machine the
wall time says more about the neighbours. Modes alternate for ``--rounds`` rounds; the
best of each counts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

MODES = {
    "plain process": ("process", 1, False),
    "plain process, Dask's worker environment": ("process", 1, True),
    "Dask worker as Dask starts it": ("dask", 1, False),
    "Dask worker with qa's plugin (--cluster)": ("dask+plugin", 1, False),
    "plain process, 2 threads per channel": ("process", 2, False),
}


def channels_loop(files: list[str], cpu_threads: int) -> dict:
    """The measured loop (runs in the child process or on the Dask worker)."""
    import resource
    import time

    from qa.transcribe import TranscribeOptions, _channel_task, _cluster_worker_options, load_model, resolve_model

    options = TranscribeOptions(cpu_threads=cpu_threads)
    ref = resolve_model(None)
    load_model(ref, _cluster_worker_options(options))
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    words = 0
    for f in files:
        for ch in (0, 1):
            words += len(_channel_task(f, ch, ref, options, None)[1].words)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    return {"wall_s": time.perf_counter() - t0, "cpu_s": r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime,
            "sys_s": r1.ru_stime - r0.ru_stime, "faults": r1.ru_minflt - r0.ru_minflt, "words": words,
            "malloc_env": os.environ.get("MALLOC_TRIM_THRESHOLD_")}


def child(where: str, cpu_threads: int, files: list[str]) -> dict:
    if where == "process":
        return channels_loop(files, cpu_threads)
    import logging

    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0",
                      scheduler_kwargs={"dashboard": False}, silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        if where == "dask+plugin":
            from qa.dask_worker import QAWorkerPlugin

            client.register_plugin(QAWorkerPlugin())
        return client.submit(channels_loop, files, cpu_threads, pure=False).result()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=8, help="soak calls (2 channels each; default 8)")
    ap.add_argument("--rounds", type=int, default=2, help="rounds of the modes, alternating (best counts)")
    ap.add_argument("--smoke", action="store_true", help="2 calls, 1 round, in a temporary folder (for the tests)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        spec = json.loads(args.child)
        print("RESULT " + json.dumps(child(spec["where"], spec["threads"], spec["files"])), flush=True)
        return 0
    import dask
    import distributed  # noqa: F401 - its configuration defaults

    from bench_soak import DATA, GEN_VERSION, cached, write_calls

    tmp = None
    data = DATA
    if args.smoke:
        args.calls, args.rounds = 2, 1
        tmp = tempfile.TemporaryDirectory(prefix="qa-dask-worker-")
        data = Path(tmp.name)
    folder = data / f"calls-{args.calls}"
    cached(folder, {"v": GEN_VERSION, "n": args.calls}, lambda f: write_calls(f, args.calls))
    files = sorted(str(p) for p in folder.glob("call-*"))
    dask_env = {k: str(v) for k, v in dask.config.get("distributed.nanny.pre-spawn-environ").items()}
    print(f"{len(files) * 2} channels of {len(files)} soak calls, one after the other, tiny.en int8; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; Dask's worker environment: {dask_env}")
    plain_env = {k: v for k, v in os.environ.items() if k not in dask_env}
    plain_env["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
    best: dict[str, dict] = {}
    for _ in range(args.rounds):
        for name, (where, threads, with_env) in MODES.items():
            env = {**plain_env, **(dask_env if with_env else {})}
            spec = json.dumps({"where": where, "threads": threads, "files": files})
            r = subprocess.run([sys.executable, __file__, "--child", spec], env=env, capture_output=True,
                               text=True, cwd=ROOT)
            line = next((x for x in r.stdout.splitlines() if x.startswith("RESULT ")), None)
            if line is None:
                print(r.stdout[-2000:] + r.stderr[-3000:])
                raise SystemExit(f"{name}: failed")
            got = json.loads(line[7:])
            print(f"  {name:44s} {got['cpu_s']:6.2f} CPU-s ({got['sys_s']:5.2f} system), "
                  f"{got['faults']:>9,} page faults, {got['wall_s']:6.2f} s wall, {got['words']} words "
                  f"(MALLOC_TRIM_THRESHOLD_={got['malloc_env']})", flush=True)
            old = best.get(name)
            best[name] = got if old is None else {k: min(v, old[k]) if isinstance(v, (int, float)) else v
                                                  for k, v in got.items()}
    base = best["plain process"]
    print(f"\nbest of {args.rounds}; CPU ratio to a plain process (1.00 = as fast; lower is better):")
    for name, got in best.items():
        print(f"  {name:44s} {got['cpu_s'] / base['cpu_s']:5.2f}x CPU, {got['faults'] / max(1, base['faults']):5.2f}x "
              f"page faults, {got['sys_s'] / max(0.01, base['sys_s']):5.2f}x system time")
    words = {got["words"] for got in best.values()}
    if len(words) != 1:
        print(f"note: the modes heard different numbers of words {sorted(words)}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
