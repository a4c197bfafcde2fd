"""Benchmark: aggregate and render the reports for 100,000 scored conversations.

Generates synthetic results straight into Parquet (500 agents in 10 teams, 12 weeks,
12 criteria per conversation, one evidence quote per criterion) plus a small transcript
JSON per conversation, then measures, each in its own fresh process:

* baseline: ``polars.read_parquet`` of the two results files (the floor: reading the data);
* aggregate: ``qa.aggregate.aggregate`` (every table the reports use);
* report-no-calls: ``render_reports(call_pages="none")``: index and every agent page;
* report: ``render_reports()`` as ``qa report`` runs it (``call_pages="auto"``: above
  20,000 conversations, call pages for the conversations the agent pages quote and each
  agent's 20 latest);
* report-all-calls (``--all-calls``): a page for every one of the conversations.

Prints wall time, CPU time and peak memory of each (the process and its worker processes
together, sampled from /proc), and the ratios to the baseline.
Target: report ≤ 60 s and ≤ 2 GiB on the 2-core development machine.

    python bench/bench_report.py [--conversations 100000] [--agents 500] [--keep DIR]
    python bench/bench_report.py --smoke      # 300 conversations, 6 agents: the script runs (the tests)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

CRITERIA = [
    ("greeting", "politeness"), ("closing", "politeness"), ("please_thanks", "politeness"),
    ("response_time", "promptness"), ("hold_time", "promptness"),
    ("no_profanity", "professionalism"), ("no_slang", "professionalism"),
    ("uses_name", "personalization"), ("recap", "personalization"),
    ("acknowledge", "empathy"), ("apology", "empathy"), ("reassure", "empathy"),
]
CATS = ("promptness", "politeness", "professionalism", "personalization", "empathy")


def generate(out: Path, n_conv: int, n_agents: int, seed: int = 7) -> None:
    import numpy as np
    import polars as pl

    from qa.schema import ROW_GROUP_ROWS

    rng = np.random.default_rng(seed)
    res = out / "results"
    res.mkdir(parents=True, exist_ok=True)
    agent_idx = rng.integers(0, n_agents, n_conv)
    skill = rng.uniform(0.45, 0.95, n_agents)  # each agent's pass probability
    start = datetime(2026, 1, 5, tzinfo=timezone.utc)
    offsets = rng.integers(0, 84 * 24 * 3600, n_conv)
    cids = [f"conv-{i:06d}" for i in range(n_conv)]
    agents = [f"agent-{a:03d}" for a in agent_idx]
    teams = [f"team-{a % 10}" for a in agent_idx]
    started = [start + timedelta(seconds=int(s)) for s in offsets]
    nc = len(CRITERIA)
    p = skill[agent_idx][:, None] + rng.normal(0, 0.1, (n_conv, nc))
    u = rng.uniform(0, 1, (n_conv, nc))
    outcome = np.where(u < 0.05, "na", np.where(u < p, "pass", "fail"))
    score = np.where(outcome == "pass", 1.0, 0.0)
    auto = (outcome[:, 5] == "fail") & (rng.uniform(0, 1, n_conv) < 0.1)
    cat_scores = {}
    for c in CATS:
        cols = [i for i, (_, cc) in enumerate(CRITERIA) if cc == c]
        applicable = outcome[:, cols] != "na"
        num = (score[:, cols] * applicable).sum(1)
        den = applicable.sum(1)
        cat_scores[c] = np.where(den > 0, 100 * num / np.maximum(den, 1), np.nan)
    overall = np.nanmean(np.stack([cat_scores[c] for c in CATS]), axis=0)
    overall = np.where(auto, 0.0, overall)
    conv = pl.DataFrame({
        "conversation_id": cids, "agent_id": agents,
        "agent_name": [f"Agent {a:03d}" for a in agent_idx], "team": teams,
        "channel": np.where(rng.uniform(0, 1, n_conv) < 0.5, "voice", "chat"),
        "started_at": started, "duration_s": rng.uniform(60, 900, n_conv),
        "n_turns": np.full(n_conv, 8), "overall": overall,
        **{c: cat_scores[c] for c in CATS},
        "auto_fail": auto,
        "auto_fail_criteria": [["no_profanity"] if a else [] for a in auto],
        "rubric_id": "bench", "rubric_version": "1", "rubric_hash": "0" * 64,
        "roles_inferred": False,
        "transcript_path": [f"transcripts/{c}.json" for c in cids],
        "audio_path": None, "source_path": [f"in/{c}.jsonl" for c in cids],
        "scored_at": start,
    }).with_columns(pl.col(c).fill_nan(None) for c in ("overall", *CATS)).with_columns(
        pl.col("started_at").dt.cast_time_unit("us"), pl.col("scored_at").dt.cast_time_unit("us"),
        pl.col("audio_path").cast(pl.String))
    conv.write_parquet(res / "conversations.parquet", row_group_size=ROW_GROUP_ROWS)

    turns = [
        ("agent", "Thank you for calling Acme, this is Sam. How can I help you today?"),
        ("customer", "Hi, my order has not arrived and I am getting worried about it."),
        ("agent", "I am sorry to hear that. Let me look up your order for you right now."),
        ("customer", "It was order 55312, placed last Monday."),
        ("agent", "Thanks. I can see it left the warehouse yesterday; it arrives tomorrow."),
        ("customer", "Great, thank you."),
        ("agent", "Is there anything else I can help you with?"),
        ("customer", "No, that's all."),
    ]
    crit_ids = [c for c, _ in CRITERIA]
    crit_cats = [c for _, c in CRITERIA]
    rows_cid = np.repeat(np.arange(n_conv), nc)
    rows_k = np.tile(np.arange(nc), n_conv)
    flat_out = outcome.reshape(-1)
    flat_score = score.reshape(-1)
    turn_idx = (rows_k % 4) * 2
    evidence = []
    for o, ti in zip(flat_out, turn_idx):
        if o == "na":
            evidence.append([])
            continue
        text = turns[ti][1]
        evidence.append([{"turn_index": int(ti), "speaker": "agent", "start_s": float(ti * 7),
                          "end_s": float(ti * 7 + 5), "quote": text, "match": text[:12],
                          "match_start": 0, "match_end": 12,
                          "polarity": "positive" if o == "pass" else "negative"}])
    crit = pl.DataFrame({
        "conversation_id": [cids[i] for i in rows_cid], "agent_id": [agents[i] for i in rows_cid],
        "team": [teams[i] for i in rows_cid], "channel": conv["channel"].gather(rows_cid),
        "started_at": conv["started_at"].gather(rows_cid),
        "criterion_id": [crit_ids[k] for k in rows_k],
        "category": [crit_cats[k] for k in rows_k],
        "description": [f"{crit_ids[k].replace('_', ' ').capitalize()}" for k in rows_k],
        "coaching": [f"Coaching tip for {crit_ids[k]}." for k in rows_k],
        "outcome": flat_out, "score": np.where(flat_out == "na", np.nan, flat_score),
        "weight": np.ones(len(rows_k)),
        "auto_fail": np.repeat(auto, nc) & (rows_k == 5),
        "evidence": evidence,
    }).with_columns(
        pl.col("score").fill_nan(None),
        pl.when(pl.col("outcome") == "na").then(pl.lit("not applicable")).alias("na_reason"),
        pl.when(pl.col("outcome") == "pass").then(pl.lit("found in the agent's turns"))
        .otherwise(pl.lit("not found in the agent's turns")).alias("reason"))
    # as qa score writes them: a conversation's rows together, 20,000-row groups
    crit.write_parquet(res / "criteria.parquet", row_group_size=ROW_GROUP_ROWS)

    tdir = out / "transcripts"
    tdir.mkdir(exist_ok=True)
    for i, cid in enumerate(cids):
        doc = {"schema_version": 1, "id": cid, "channel": "chat", "agent_id": agents[i],
               "source": {"path": f"in/{cid}.jsonl", "sha256": "0" * 64, "format": "bench"},
               "turns": [{"speaker": s, "text": t, "start_s": k * 7.0, "end_s": k * 7.0 + 5}
                         for k, (s, t) in enumerate(turns)]}
        (tdir / f"{cid}.json").write_text(json.dumps(doc))


class TreeSampler:
    """Samples this process and all its descendants (the report's worker processes are
    children of a fork server, which ``RUSAGE_CHILDREN`` does not see) from /proc every
    20 ms: the peak of their summed resident memory, and their CPU time."""

    def __init__(self, interval: float = 0.02):
        import threading

        self.interval = interval
        self.peak_kib = 0
        self.cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._tick = os.sysconf("SC_CLK_TCK")

    def _tree(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as fh:
                        ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(ppid, []).append(int(entry))
        out, todo = [], [os.getpid()]
        while todo:
            pid = todo.pop()
            out.append(pid)
            todo.extend(children.get(pid, []))
        return out

    def sample(self) -> None:
        total = 0
        for pid in self._tree():
            try:
                with open(f"/proc/{pid}/status") as fh:
                    for line in fh:
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1])
                            break
                with open(f"/proc/{pid}/stat") as fh:
                    f = fh.read().rsplit(")", 1)[1].split()
                self.cpu[pid] = (int(f[11]) + int(f[12])) / self._tick
            except (OSError, IndexError, ValueError):
                continue
        self.peak_kib = max(self.peak_kib, total)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> "TreeSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def _phase(name: str, out: str) -> dict:
    with TreeSampler() as sampler:
        result = _run_phase(name, out)
    # this process's own peak may fall between samples: take the larger of the two
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers = sum(v for pid, v in sampler.cpu.items() if pid != os.getpid())
    own_cpu = sum(getattr(resource.getrusage(resource.RUSAGE_SELF), f)
                  for f in ("ru_utime", "ru_stime"))
    result["peak_mib"] = round(max(sampler.peak_kib, own) / 1024, 1)
    result["cpu_s"] = round(own_cpu + workers, 1)
    return result


def _run_phase(name: str, out: str) -> dict:
    import polars as pl

    t0 = time.perf_counter()
    extra = {}
    if name == "generate":
        n_conv, n_agents = (int(x) for x in os.environ["QA_BENCH_SIZE"].split(","))
        generate(Path(out), n_conv, n_agents)
        extra = {"conversations": n_conv, "agents": n_agents}
    elif name == "baseline":
        a = pl.read_parquet(Path(out) / "results" / "conversations.parquet")
        b = pl.read_parquet(Path(out) / "results" / "criteria.parquet")
        extra = {"rows": a.height + b.height}
    elif name == "aggregate":
        from qa.aggregate import aggregate
        agg = aggregate(out)
        extra = {"agents": agg.agents.height}
    elif name == "report":
        from qa.render import render_reports
        s = render_reports(out)
        extra = {"agents": s.agents, "calls": s.calls, "call_pages": s.call_pages,
                 "problems": len(s.problems)}
    elif name == "report-no-calls":
        from qa.render import render_reports
        s = render_reports(out, call_pages="none")
        extra = {"agents": s.agents}
    elif name == "report-all-calls":
        from qa.render import render_reports
        s = render_reports(out, call_pages="all")
        extra = {"agents": s.agents, "calls": s.calls}
    wall = time.perf_counter() - t0
    return {"phase": name, "wall_s": round(wall, 2), **extra}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conversations", type=int, default=100_000)
    ap.add_argument("--agents", type=int, default=500)
    ap.add_argument("--keep", type=Path, help="keep the generated folder here")
    ap.add_argument("--all-calls", action="store_true",
                    help="also time a page for every conversation (call_pages='all')")
    ap.add_argument("--smoke", action="store_true",
                    help="300 conversations, 6 agents: the script runs (for the tests; no figure to quote)")
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.smoke:
        args.conversations, args.agents = 300, 6
    if args.phase:
        print(json.dumps(_phase(args.phase, args.dir)))
        return
    work = args.keep or Path(tempfile.mkdtemp(prefix="qa-bench-report-"))
    try:
        phases = ["baseline", "aggregate", "report-no-calls", "report"]
        if args.all_calls:
            phases.append("report-all-calls")
        if not (work / "results" / "criteria.parquet").exists():
            phases.insert(0, "generate")
        results = {}
        # every phase in a fresh process: ru_maxrss is per process (and survives exec,
        # so this parent stays small: it imports neither Polars nor qa)
        for phase in phases:
            shutil.rmtree(work / "reports", ignore_errors=True)
            proc = subprocess.run([sys.executable, __file__, "--phase", phase, "--dir", str(work)],
                                  capture_output=True, text=True,
                                  env={**os.environ, "PYTHONWARNINGS": "ignore",
                                       "QA_BENCH_SIZE": f"{args.conversations},{args.agents}"})
            if proc.returncode:
                sys.exit(f"phase {phase} failed:\n{proc.stderr}")
            results[phase] = json.loads(proc.stdout.strip().splitlines()[-1])
            if phase == "generate":
                print(f"generated {args.conversations} conversations for {args.agents} agents in "
                      f"{results.pop(phase)['wall_s']} s ({work})")
        base = results["baseline"]
        print(f"{'phase':<18}{'wall s':>9}{'CPU s':>8}{'peak MiB':>10}{'x wall':>9}{'x mem':>8}  detail")
        for name, r in results.items():
            detail = {k: v for k, v in r.items()
                      if k not in ("phase", "wall_s", "cpu_s", "peak_mib")}
            print(f"{name:<18}{r['wall_s']:>9.2f}{r['cpu_s']:>8.1f}{r['peak_mib']:>10.0f}"
                  f"{r['wall_s'] / max(base['wall_s'], 1e-6):>9.1f}"
                  f"{r['peak_mib'] / max(base['peak_mib'], 1e-6):>8.1f}  {detail}")
        rep = results["report"]
        print("peak MiB: resident memory of the process and its workers together, at its "
              "highest; CPU s: their user + system time")
        print(f"load average while running: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        ok = rep["wall_s"] <= 60 and rep["peak_mib"] <= 2048
        print(f"target report <= 60 s and <= 2048 MiB: {'met' if ok else 'NOT met'}")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
