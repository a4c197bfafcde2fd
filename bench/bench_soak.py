"""Soak benchmark: thousands of chats plus short recordings through one `qa run`.

    .venv/bin/python bench/bench_soak.py                       # 5,000 chats + 50 calls, and 1,000 + 50
    .venv/bin/python bench/bench_soak.py --stages              # also peak memory per stage
    .venv/bin/python bench/bench_soak.py --chats 500 --small 100 --recordings 5   # a quick look
    .venv/bin/python bench/bench_soak.py --smoke     # 60 + 20 chats, 2 calls, in a temp folder (the tests)

What it does:
1. Generates (once; reused from ``bench/.soak-data/``, which git ignores) synthetic chat
   exports in the canonical chat JSONL -- 6 to 40 turns each, 50 agents in 5 teams, eight
   weeks of dates, greetings, apologies, names, a few curses, long waits -- split into
   files of 500 conversations, and 50 short stereo calls (espeak-ng + sox, 5-15 s each)
   with a ``calls.csv`` sidecar. Mixed in on purpose, with a known count: a chat file with
   a broken JSON line in the middle, an empty chat file, conversations with no agent
   turns, a conversation with no agent id, a conversation id repeated in a second file,
   and a truncated recording.
2. Runs ``python -m qa.cli run CHATS CALLS --meta calls.csv --out TMP -q`` as a child
   process, for the large set and then for the small set (same recordings, same bad
   inputs, same file size), and measures for each:
   - wall time of the child;
   - peak memory: ``ru_maxrss`` from ``os.wait4`` on the child (the largest single
     process of its tree: the ``qa run`` process or one of its scoring / report workers),
     and the peak of the tree's summed PSS (proportional set size, so pages that forked
     workers share with their parent are counted once), sampled from /proc every 0.2 s;
   - conversations in (read or transcribed + failed before scoring), scored, failed,
     from ``OUT/run.json`` and ``OUT/results/failures.csv``; the script exits 1 unless
     in == scored + failed, and unless scored and failed equal what was generated;
   - the size of the results: the Parquet files on disk and the two frames in memory
     (Polars ``estimated_size()``).
   With ``--stages`` it runs ``qa run`` without ``-q`` and, from the time each stage line
   ("ingest …", "transcribe …", "score …", "report …") arrives, prints the peak memory of
   each stage.
3. Prints peak memory of both runs and their ratio: memory beyond the results must not
   grow with the number of conversations (the Whisper model and spaCy are the same in
   both; the results are the only thing that should scale).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA = Path(__file__).resolve().parent / ".soak-data"
PER_FILE = 500
GEN_VERSION = 2
MiB = 1024 * 1024
NOISE_MIB = 25  # allowance for allocator and sampling noise in a peak-memory figure

# ---------------------------------------------------------------- the words
FIRST = ["Anna", "Ben", "Carla", "David", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jamal", "Kira",
         "Liam", "Maya", "Noah", "Olga", "Pedro", "Quinn", "Rosa", "Sven", "Tara", "Uma", "Victor",
         "Wendy", "Xavier", "Yusuf", "Zoe"]
LAST = ["Smith", "Garcia", "Okafor", "Nguyen", "Kowalski", "Hansen", "Rossi", "Dubois", "Patel",
        "Murphy", "Schneider", "Silva", "Tanaka", "Cohen", "Moreau", "Byrne"]
TEAMS = ["Billing", "Technical", "Orders", "Retention", "Onboarding"]
PRODUCTS = ["router", "laptop", "phone", "order", "subscription", "invoice", "parcel", "account",
            "card", "refund", "password", "delivery"]
GREET = ["Hello {c}, thanks for reaching out, my name is {a} and I'll be looking after you today.",
         "Hi {c}! This is {a} from the {team} team. How can I help?",
         "Good morning, you're chatting with {a}. What can I do for you?",
         "Hi there, {a} here. Thank you for contacting us.",
         "hey"]
OPEN = ["Hi, my {p} still hasn't arrived and the tracking hasn't moved since Monday.",
        "Hello, I was charged twice for my {p} last month.",
        "My {p} stopped working yesterday and I need it for work.",
        "I've been waiting 40 minutes to talk to someone, this is ridiculous.",
        "Can someone please explain why my {p} was cancelled without any notice?",
        "hi i cant log in to my account, it says my password is wrong",
        "This is the third time I'm contacting you about my {p}. Nobody ever gets back to me.",
        "What the hell is going on with my {p}? It's been two weeks!"]
AGENT_MID = ["I'm so sorry about that, {c}, I understand how frustrating this must be.",
             "Let me check that for you, it will only take a moment.",
             "Thanks for your patience while I look into your {p}.",
             "I can see the problem now: the {p} was held at the depot because of a missing label.",
             "Could you please confirm the email address on the account?",
             "I have arranged a replacement {p}, it will ship out tomorrow morning.",
             "I've processed the refund, you should see it within 3 to 5 working days.",
             "Apologies for the long wait, we are very busy today.",
             "Please hold on, I'm still checking.",
             "ok",
             "That's not something we can do.",
             "I have escalated this to my supervisor, {c}, and I will follow up personally by Friday.",
             "You need to restart the {p} first. Did you do that?"]
CUST_MID = ["Sure, it's {c_lower}.{last_lower}@example.com.",
            "Okay, thank you.",
            "That's what the last person told me too.",
            "Damn, I really needed it this week.",
            "Yes, I already tried restarting it three times.",
            "Hello? Are you still there?",
            "How long is this going to take?",
            "Fine. Can you at least send me a confirmation?",
            "I don't understand why this is so complicated.",
            "Great, that helps a lot, thanks {a}.",
            "Seriously? This is crap service.",
            "The reference is {ref}."]
CLOSE_A = ["Is there anything else I can help you with today?",
           "Thank you for contacting us, {c}. Have a great day!",
           "Glad I could help. Take care!",
           "bye"]
CLOSE_C = ["No, that's all, thanks.", "Thanks, bye.", "Whatever.", "Thank you so much for your help!"]


def agents_list() -> list[dict]:
    rng = random.Random(7)
    out = []
    for i in range(50):
        first, last = FIRST[i % len(FIRST)], LAST[(i * 7) % len(LAST)]
        out.append({"agent_id": f"ag-{i:03d}", "agent_name": f"{first} {last}",
                    "team": TEAMS[i % len(TEAMS)], "speed": rng.uniform(0.5, 2.0)})
    return out


START = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)  # a Monday; eight weeks from here


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def chat_messages(cid: str, rng: random.Random, agents: list[dict], *, agent_turns: bool = True,
                  agent_id: bool = True) -> list[dict]:
    """One conversation as canonical chat JSONL messages."""
    ag = rng.choice(agents)
    cust_first, cust_last = rng.choice(FIRST), rng.choice(LAST)
    n = rng.randint(6, 40)
    t = START + timedelta(days=rng.randrange(56), hours=rng.randrange(11), minutes=rng.randrange(60),
                          seconds=rng.randrange(60))
    fill = {"c": cust_first, "a": ag["agent_name"].split()[0], "team": ag["team"],
            "c_lower": cust_first.lower(), "last_lower": cust_last.lower()}
    msgs = []
    speaker = "customer"
    for i in range(n):
        p = rng.choice(PRODUCTS)
        if i == 0:
            text = rng.choice(OPEN)
        elif i == 1 and speaker == "agent":
            text = rng.choice(GREET)
        elif i >= n - 2:
            text = rng.choice(CLOSE_A if speaker == "agent" else CLOSE_C)
        else:
            text = rng.choice(AGENT_MID if speaker == "agent" else CUST_MID)
        text = text.format(p=p, ref=f"RX-{rng.randint(10000, 99999)}", **fill)
        if not agent_turns:
            speaker = "customer"
        # replies take seconds to minutes; one chat in ten has a long wait somewhere
        gap = rng.uniform(4, 90) * (ag["speed"] if speaker == "agent" else 1.0)
        if rng.random() < 0.02:
            gap += rng.uniform(300, 1500)
        t += timedelta(seconds=gap)
        msg = {"conversation_id": cid, "agent_id": ag["agent_id"] if agent_id else "",
               "agent_name": ag["agent_name"] if agent_id else "", "team": ag["team"],
               "customer_name": f"{cust_first} {cust_last}", "timestamp": _iso(t),
               "speaker": speaker, "text": text}
        msgs.append(msg)
        speaker = "agent" if speaker == "customer" else "customer"
    return msgs


def write_chats(folder: Path, n: int, seed: int) -> dict:
    """``n`` good conversations in files of PER_FILE, plus the bad inputs; returns the
    expected counts."""
    rng = random.Random(seed)
    agents = agents_list()
    folder.mkdir(parents=True, exist_ok=True)
    n_files = max(1, -(-n // PER_FILE))
    files: list[list[str]] = [[] for _ in range(n_files)]
    for k in range(n):
        cid = f"chat-{seed}-{k:06d}"
        files[k % n_files].extend(json.dumps(m, ensure_ascii=False) for m in chat_messages(cid, rng, agents))
    # bad conversations inside good files: no agent turns (3), no agent id (1)
    for j in range(3):
        files[j % n_files].extend(json.dumps(m) for m in chat_messages(
            f"noagentturns-{seed}-{j}", rng, agents, agent_turns=False))
    files[-1].extend(json.dumps(m) for m in chat_messages(f"noagentid-{seed}", rng, agents, agent_id=False))
    for i, lines in enumerate(files):
        (folder / f"export-{i:03d}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    # a conversation id that an earlier file already has (the whole conversation, again)
    dup = [json.loads(line) for line in files[0] if json.loads(line)["conversation_id"] == f"chat-{seed}-000000"]
    (folder / "zz-resend.jsonl").write_text("\n".join(json.dumps(m) for m in dup) + "\n", encoding="utf-8")
    # a file with a broken JSON line in the middle: the whole file fails (20 conversations)
    broken = []
    for j in range(20):
        broken.extend(json.dumps(m) for m in chat_messages(f"broken-{seed}-{j}", rng, agents))
    broken[len(broken) // 2] = broken[len(broken) // 2][:-15]
    (folder / "broken-line.jsonl").write_text("\n".join(broken) + "\n", encoding="utf-8")
    (folder / "empty.jsonl").write_bytes(b"")
    return {"good": n, "files": n_files + 3,
            "bad": {"ingest: no agent turns": 3, "ingest: no agent id": 1,
                    "ingest: duplicate conversation id": 1, "ingest: broken JSON line (file of 20)": 1,
                    "ingest: empty file": 1}}


# ---------------------------------------------------------------- recordings
def write_calls(folder: Path, n: int, seed: int = 11) -> dict:
    from tests.audio_helpers import SYNTH_RATE, make_stereo_call, synth

    rng = random.Random(seed)
    agents = agents_list()
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    agent_says = ["Thank you for calling, my name is {a}, how can I help?",
                  "I'm sorry to hear that, let me check your account.",
                  "I can see the refund was processed yesterday.",
                  "Is there anything else I can help you with?",
                  "Thanks for waiting, {c}, the replacement ships tomorrow."]
    cust_says = ["Hi, my {p} has not arrived yet.", "I was charged twice for my {p}.",
                 "Okay, thank you.", "How long will that take?", "No, that's all, thanks."]
    for k in range(n):
        ag = rng.choice(agents)
        cust = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        fill = {"a": ag["agent_name"].split()[0], "c": cust.split()[0], "p": rng.choice(PRODUCTS)}
        exchanges = rng.randint(1, 2)  # 5-12 s calls
        a_lines, c_lines, t = [], [], 0.3
        for e in range(exchanges):
            text = agent_says[0] if e == 0 else rng.choice(agent_says[1:])
            text = text.format(**fill)
            a_lines.append((t, text))
            t += len(synth(text)) / SYNTH_RATE + rng.uniform(0.3, 0.9)
            text = rng.choice(cust_says).format(**fill)
            c_lines.append((t, text))
            t += len(synth(text, voice="en-us+f3")) / SYNTH_RATE + rng.uniform(0.3, 0.9)
        a_lines.append((t, "Have a great day. Goodbye."))
        name = f"call-{k:03d}"
        fmt = "flac" if k % 5 == 0 else "wav"
        make_stereo_call(folder, agent_lines=a_lines, customer_lines=c_lines, name=name, fmt=fmt,
                         rate=8000 if k % 4 == 0 else 16000)
        started = START + timedelta(days=rng.randrange(56), hours=rng.randrange(10), minutes=rng.randrange(60))
        rows.append({"file": f"{name}.{fmt}", "agent_id": ag["agent_id"], "agent_name": ag["agent_name"],
                     "team": ag["team"], "started_at": _iso(started), "customer_name": cust})
    # a truncated recording: the header promises more sound than the file holds
    good = folder / "call-001.wav" if (folder / "call-001.wav").exists() else next(folder.glob("*.wav"))
    data = good.read_bytes()
    (folder / "truncated.wav").write_bytes(data[: max(200, len(data) // 3)])
    rows.append({"file": "truncated.wav", "agent_id": "ag-000", "agent_name": agents[0]["agent_name"],
                 "team": agents[0]["team"], "started_at": _iso(START), "customer_name": "Anna Smith"})
    with open(folder / "calls.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return {"good": n, "bad": {"transcribe: truncated recording": 1}}


def _shown(path: Path) -> str:
    """``path`` relative to the repository when it is inside it (--smoke's is not)."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def cached(folder: Path, key: dict, make) -> dict:
    """Run ``make(folder)`` unless the folder holds data made with the same key."""
    stamp = folder.parent / f"{folder.name}.manifest.json"  # beside it: not an input
    if stamp.exists():
        try:
            data = json.loads(stamp.read_text())
            if data.get("key") == key:
                return data["expected"]
        except (OSError, ValueError):
            pass
    if folder.exists():
        shutil.rmtree(folder)
    t0 = time.perf_counter()
    expected = make(folder)
    stamp.write_text(json.dumps({"key": key, "expected": expected}))
    print(f"  generated {_shown(folder)} in {time.perf_counter() - t0:.1f} s", flush=True)
    return expected


# ---------------------------------------------------------------- measuring the child
def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo.extend(int(c) for c in fh.read().split())
        except OSError:
            pass
    return out


def _mem_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in KiB; zeros when it has gone."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


class Sampler(threading.Thread):
    def __init__(self, pid: int, every: float = 0.2):
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.peak_pss = self.peak_rss_sum = self.peak_main = self.peak_procs = 0
        self.timeline: list[tuple[float, int, int]] = []  # (time, qa run RSS, tree PSS) in KiB
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            pids = _tree(self.pid)
            mems = [_mem_kib(p) for p in pids]
            pss = sum(m[1] for m in mems)
            self.timeline.append((time.perf_counter(), mems[0][0], pss))
            self.peak_pss = max(self.peak_pss, pss)
            self.peak_rss_sum = max(self.peak_rss_sum, sum(m[0] for m in mems))
            self.peak_main = max(self.peak_main, mems[0][0])
            self.peak_procs = max(self.peak_procs, len(pids))
            self.stop.wait(self.every)


STAGE_LINE = re.compile(r"^(ingest|transcribe|score|report) …$")


def run_qa(inputs: list[Path], meta: Path, out: Path, extra: list[str], stages: bool = False) -> dict:
    """Run ``qa run`` as a child process and measure it. ``stages``: run without ``-q`` and
    note when each stage line ("ingest …") arrives, for peak memory per stage."""
    cmd = [sys.executable, "-m", "qa.cli", "run", *map(str, inputs), "--meta", str(meta),
           "--out", str(out), *([] if stages else ["-q"]), *extra]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, encoding="utf-8", errors="replace")
    sampler = Sampler(proc.pid)
    sampler.start()
    lines: list[tuple[float, str]] = []

    def read() -> None:
        for line in proc.stderr:
            lines.append((time.perf_counter(), line.rstrip("\n")))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    sampler.stop.set()
    sampler.join()
    reader.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    marks = [(t, m.group(1)) for t, line in lines if (m := STAGE_LINE.match(line))]
    per_stage = []
    for i, (t, name) in enumerate(marks):
        end = marks[i + 1][0] if i + 1 < len(marks) else float("inf")
        inside = [(rss, pss) for ts, rss, pss in sampler.timeline if t <= ts < end]
        if inside:
            per_stage.append((name, end - t if end != float("inf") else t0 + wall - t,
                              max(r for r, _ in inside) / 1024, max(p for _, p in inside) / 1024))
    errors = [line for _, line in lines if line.startswith("error:")]
    return {"cmd": cmd, "rc": proc.returncode, "wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime,
            "maxrss_mib": ru.ru_maxrss / 1024, "peak_pss_mib": sampler.peak_pss / 1024,
            "peak_rss_sum_mib": sampler.peak_rss_sum / 1024, "peak_main_mib": sampler.peak_main / 1024,
            "procs": sampler.peak_procs, "error_lines": len(errors), "per_stage": per_stage,
            "stderr": "\n".join(line for _, line in lines)}


def read_counts(out: Path) -> dict:
    import polars as pl

    run = json.loads((out / "run.json").read_text())
    counts = run["counts"]
    by_stage: dict[str, int] = {}
    with open(out / "results" / "failures.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        by_stage[r["stage"]] = by_stage.get(r["stage"], 0) + 1
    before_scoring = by_stage.get("ingest", 0) + by_stage.get("transcribe", 0)
    conv_failed = before_scoring + by_stage.get("score", 0)
    res = out / "results"
    frames = {name: pl.read_parquet(res / f"{name}.parquet") for name in ("conversations", "criteria")}
    return {
        "in": counts["conversations"] + before_scoring,
        "read": counts["conversations"],
        "scored": counts["scored"],
        "failed": conv_failed,
        "failed_total": counts["failed"],
        "failures_csv_rows": len(rows),
        "by_stage": by_stage,
        "failures": rows,
        "agents": counts["agents"],
        "transcribed": counts["transcribed"],
        "audio_s": counts["audio_seconds"],
        "report_pages": counts["report_pages"],
        "timings": run["timings_s"],
        "parquet_mib": sum((res / f"{n}.parquet").stat().st_size for n in frames) / MiB,
        "frames_mib": sum(df.estimated_size() for df in frames.values()) / MiB,
        "criteria_rows": frames["criteria"].height,
    }


def soak(label: str, chats: Path, calls: Path, expected_good: int, expected_bad: int, extra: list[str],
         keep: bool, stages: bool) -> tuple[dict, dict, list[str]]:
    work = Path(tempfile.mkdtemp(prefix="qa-soak-"))
    out = work / "out"
    print(f"\n[{label}] qa run {_shown(chats)} {_shown(calls)} "
          f"--meta calls.csv --out {out}{'' if stages else ' -q'}", flush=True)
    m = run_qa([chats, calls], calls / "calls.csv", out, extra, stages)
    problems = []
    if m["rc"] not in (0, 1) or not (out / "run.json").exists():
        print(m["stderr"][-3000:])
        raise SystemExit(f"qa run exited {m['rc']} without results")
    c = read_counts(out)
    if "Traceback" in m["stderr"]:
        problems.append(f"{label}: a traceback on stderr")
    if c["in"] != c["scored"] + c["failed"]:
        problems.append(f"{label}: in {c['in']} != scored {c['scored']} + failed {c['failed']}")
    if c["scored"] != expected_good:
        problems.append(f"{label}: scored {c['scored']}, expected {expected_good}")
    if c["failed"] != expected_bad:
        problems.append(f"{label}: failed {c['failed']}, expected {expected_bad}")
    if c["failed_total"] != c["failures_csv_rows"]:
        problems.append(f"{label}: run.json counts {c['failed_total']} failures, failures.csv has "
                        f"{c['failures_csv_rows']} rows")
    if c["failures_csv_rows"] != m["error_lines"]:
        problems.append(f"{label}: {m['error_lines']} error lines on stderr for "
                        f"{c['failures_csv_rows']} failures")
    if m["rc"] != (1 if c["failed_total"] else 0):
        problems.append(f"{label}: exit code {m['rc']}")
    print(f"  exit {m['rc']}; conversations in {c['in']:,} = scored {c['scored']:,} + failed {c['failed']}"
          f"  [{'ok' if c['in'] == c['scored'] + c['failed'] else 'BROKEN'}]; failures by stage "
          f"{c['by_stage']}")
    print(f"  {c['transcribed']} recordings transcribed ({c['audio_s']:.0f} s audio), {c['agents']} agents, "
          f"{c['report_pages']:,} report pages")
    print(f"  wall {m['wall_s']:.1f} s, CPU {m['cpu_s']:.1f} s; stage times " +
          ", ".join(f"{k} {v:.1f}" for k, v in c["timings"].items() if k != "total"))
    print(f"  peak memory: largest process {m['maxrss_mib']:.0f} MiB (ru_maxrss); whole tree "
          f"{m['peak_pss_mib']:.0f} MiB PSS ({m['peak_rss_sum_mib']:.0f} MiB summed RSS, up to "
          f"{m['procs']} processes); qa run process alone {m['peak_main_mib']:.0f} MiB RSS")
    if m["per_stage"]:
        print("  per stage (chats are scored inside 'ingest', before Whisper starts; 'score' scores "
              "the recordings and writes the Parquet files):")
    for name, secs, rss, pss in m["per_stage"]:
        print(f"    stage {name:10s} {secs:6.1f} s: qa run process up to {rss:5.0f} MiB RSS, "
              f"tree up to {pss:5.0f} MiB PSS")
    print(f"  results: {c['parquet_mib']:.2f} MiB Parquet, {c['frames_mib']:.1f} MiB in memory as Polars "
          f"frames ({c['scored']:,} + {c['criteria_rows']:,} rows)")
    if keep:
        print(f"  kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return m, c, problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chats", type=int, default=5000, help="good chat conversations in the large run")
    ap.add_argument("--small", type=int, default=1000, help="good chat conversations in the small run "
                                                           "(0: skip the memory-growth comparison)")
    ap.add_argument("--recordings", type=int, default=50, help="short stereo calls in both runs")
    ap.add_argument("--keep", action="store_true", help="keep the output folders")
    ap.add_argument("--no-report", action="store_true", help="pass --no-report to qa run")
    ap.add_argument("--stages", action="store_true",
                    help="run qa run without -q and print peak memory per stage")
    ap.add_argument("--smoke", action="store_true",
                    help="60 + 20 chats and 2 recordings, generated in a temporary folder: the script "
                         "runs (for the tests; no figure to quote)")
    args = ap.parse_args()
    if args.smoke:
        global DATA
        args.chats, args.small, args.recordings = 60, 20, 2
        tmp = tempfile.TemporaryDirectory(prefix="qa-soak-smoke-")
        DATA = Path(tmp.name)
    if args.chats < 1 or args.recordings < 1 or args.small < 0:
        ap.error("--chats and --recordings must be >= 1, --small >= 0")
    extra = ["--no-report"] if args.no_report else []

    print(f"qa soak: {args.chats:,} chats + {args.recordings} recordings"
          + (f", then {args.small:,} chats + the same recordings" if args.small else "")
          + f"; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)
    calls_dir = DATA / f"calls-{args.recordings}"
    calls = cached(calls_dir, {"v": GEN_VERSION, "n": args.recordings},
                   lambda f: write_calls(f, args.recordings))
    runs = []
    for n in [args.chats] + ([args.small] if args.small else []):
        folder = DATA / f"chats-{n}"
        exp = cached(folder, {"v": GEN_VERSION, "n": n, "per_file": PER_FILE},
                     lambda f, n=n: write_chats(f, n, seed=n))
        bad = {**exp["bad"], **calls["bad"]}
        size = sum(p.stat().st_size for p in folder.glob("*.jsonl")) / MiB
        print(f"  input {folder.name}: {n:,} good chats in {exp['files']} files ({size:.1f} MiB) + "
              f"{args.recordings} good recordings; {sum(bad.values())} bad inputs: "
              + ", ".join(f"{v} {k}" for k, v in bad.items()))
        runs.append((n, folder, exp["good"] + calls["good"], sum(bad.values())))

    problems: list[str] = []
    results = []
    for n, folder, good, bad in runs:
        m, c, p = soak(f"{n:,} chats", folder, calls_dir, good, bad, extra, args.keep, args.stages)
        problems += p
        results.append((n, m, c))
    if len(results) == 2:
        (n1, m1, c1), (n2, m2, c2) = results
        print(f"\nmemory growth, {n1:,} chats against {n2:,} chats ({n1 / n2:.1f}x the conversations):")
        for key, what in (("maxrss_mib", "largest process (ru_maxrss)"),
                          ("peak_main_mib", "qa run process RSS"),
                          ("peak_pss_mib", "whole tree PSS")):
            print(f"  {what:30s} {m1[key]:7.0f} MiB vs {m2[key]:7.0f} MiB  = {m1[key] / m2[key]:.2f}x"
                  f"  (difference {m1[key] - m2[key]:+.0f} MiB)")
        d_res = c1["frames_mib"] - c2["frames_mib"]
        print(f"  results in memory (Polars)     {c1['frames_mib']:7.1f} MiB vs {c2['frames_mib']:7.1f} MiB"
              f"  (difference {d_res:+.1f} MiB)")
        print(f"  wall time                      {m1['wall_s']:7.1f} s   vs {m2['wall_s']:7.1f} s"
              f"    = {m1['wall_s'] / m2['wall_s']:.2f}x")
        beyond = max(m1[k] - m2[k] for k in ("maxrss_mib", "peak_pss_mib")) - d_res
        print(f"  growth beyond the results: {beyond:+.0f} MiB; target: memory grows no more than "
              f"the results (within {NOISE_MIB} MiB of noise): {'met' if beyond <= NOISE_MIB else 'NOT met'}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    for p in problems:
        print(f"PROBLEM: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
