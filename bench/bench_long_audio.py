"""Benchmark: peak memory of `qa transcribe` on a long recording, against a short one.

Builds a stereo 8 kHz telephone recording of the real call in ../shared/data/calls
(agent left, caller right) repeated to the length asked for (default 120 minutes), and a
short one of the same material (default 10 minutes), then runs `qa transcribe` on each in
a fresh process and prints the audio length, wall time, × real time and the peak resident
memory of each run, and their ratios. Memory that grew in proportion to the audio would
show as a memory ratio close to the length ratio. Lengths are whole copies of the 245 s
call (``--short 10`` gives 491 s, ``--minutes 120`` gives 7,116 s): the audio column says
what was measured.

Usage::

    .venv/bin/python bench/bench_long_audio.py                 # 120 min vs 10 min
    .venv/bin/python bench/bench_long_audio.py --minutes 30 --short 5
    .venv/bin/python bench/bench_long_audio.py --smoke         # 90 s vs 45 s of tests/data's cut (the tests)
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CALLS = ROOT.parent / "shared" / "data" / "calls"
CALL = (CALLS / "auto_repairs_40_agent.flac", CALLS / "auto_repairs_40_caller.flac")
# --smoke: the first 45 s of the same call, in the repository (tests/data/README.md)
SMOKE_CALL = (ROOT / "tests" / "data" / "calls" / "auto_repairs_40_agent_first45s.flac",
              ROOT / "tests" / "data" / "calls" / "auto_repairs_40_caller_first45s.flac")


def make_recording(workdir: Path, minutes: float, call: tuple[Path, Path] = CALL) -> Path:
    stereo = workdir / "call_stereo.wav"
    if not stereo.exists():
        missing = [str(p) for p in call if not p.exists()]
        if missing:
            raise SystemExit(f"missing {', '.join(missing)}: the real call is optional data "
                             "(../shared/data/calls); --smoke uses the cut in tests/data")
        subprocess.run(["sox", "-R", "-M", str(call[0]), str(call[1]), "-r", "8000", str(stereo)],
                       check=True)
    info = subprocess.run(["soxi", "-D", str(stereo)], capture_output=True, text=True, check=True)
    one = float(info.stdout)
    repeats = max(0, int(round(minutes * 60 / one)) - 1)
    out = workdir / f"long_{minutes:g}min.wav"
    subprocess.run(["sox", "-R", str(stereo), str(out), "repeat", str(repeats)], check=True)
    return out


def measure(path: Path, workdir: Path) -> dict:
    """Run `qa transcribe` on one file in a child process; wall time and its peak RSS."""
    out = workdir / f"out_{path.stem}"
    script = (
        "import resource, sys\n"
        "from qa.cli import main\n"
        "try:\n"
        "    main()\n"
        "finally:\n"
        "    print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", script, "transcribe", str(path), "--agent-id", "bench",
                           "--out", str(out), "-q"], capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"qa transcribe failed on {path}:\n{proc.stderr[-2000:]}")
    peak_kb = int(next(line.split()[1] for line in proc.stderr.splitlines() if line.startswith("PEAK_KB")))
    dur = float(subprocess.run(["soxi", "-D", str(path)], capture_output=True, text=True).stdout)
    return {"file": path.name, "audio_s": dur, "wall_s": wall, "xrt": dur / wall,
            "peak_mib": peak_kb / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=120.0, help="length of the long recording")
    ap.add_argument("--short", type=float, default=10.0, help="length of the baseline recording")
    ap.add_argument("--smoke", action="store_true",
                    help="90 s against 45 s of the call's cut in tests/data: the script runs (for the tests)")
    args = ap.parse_args()
    call = SMOKE_CALL if args.smoke else CALL
    if not all(p.exists() for p in call):
        print(f"{CALLS} is absent: building the recordings from the 45 s cut in tests/data instead")
        call = SMOKE_CALL
    if args.smoke:
        args.minutes, args.short = 1.5, 0.75
    with tempfile.TemporaryDirectory(prefix="qa-bench-long-") as tmp:
        work = Path(tmp)
        short = make_recording(work, args.short, call)
        long = make_recording(work, args.minutes, call)
        rows = [measure(short, work), measure(long, work)]
    print(f"{'file':<22}{'audio s':>10}{'wall s':>10}{'x real time':>13}{'peak MiB':>11}")
    for r in rows:
        print(f"{r['file']:<22}{r['audio_s']:>10.0f}{r['wall_s']:>10.1f}{r['xrt']:>13.1f}{r['peak_mib']:>11.0f}")
    a, b = rows
    print(f"length ratio {b['audio_s'] / a['audio_s']:.1f}x, peak memory ratio "
          f"{b['peak_mib'] / a['peak_mib']:.2f}x, speed ratio {b['xrt'] / a['xrt']:.2f}")
    print(f"cores: {os.cpu_count()}; ru_maxrss of the child = peak resident memory "
          f"({resource.getpagesize()} B pages)")


if __name__ == "__main__":
    main()
