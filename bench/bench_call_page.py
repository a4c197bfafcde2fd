"""Benchmark: what a call page costs, and what its chart adds.

Generates ``--calls`` scored voice conversations (a 4-minute call of 40 turns with word
timings, 12 criteria with evidence each) and renders their call pages twice in one process
(``jobs=1``): without the call chart (the baseline: scorecard and transcript) and with it
(the timeline and the customer's sentiment, drawn by matplotlib). Prints CPU ms per page
and the ratio to the baseline.

    python bench/bench_call_page.py [--calls 200]
    python bench/bench_call_page.py --smoke      # 5 calls: the script runs (the tests)
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

LINES = [("agent", "Thank you for calling Acme, this is Sam, how can I help you today?"),
         ("customer", "Hi, my heating stopped working again and I'm really worried about the kids."),
         ("agent", "I'm so sorry to hear that, let me check your account, one moment please."),
         ("customer", "Okay, thank you."),
         ("agent", "Thanks for holding. I can book an engineer for tomorrow morning."),
         ("customer", "That would be great, thank you so much.")]


def generate(out: Path, n: int) -> None:
    from report_helpers import conv_row, crit_row, ev, write_results

    from qa.conversation import Conversation, Source, Turn, Word
    from qa.store import OutDir, write_conversation

    rng = random.Random(7)
    convs, crits = [], []
    start = datetime(2026, 5, 4, 9, tzinfo=timezone.utc)
    for k in range(n):
        t, turns = 0.0, []
        for j in range(40):
            speaker, text = LINES[j % len(LINES)]
            words, w0 = [], t
            for w in text.split():
                words.append(Word(word=" " + w, start=w0, end=w0 + 0.3, probability=0.9))
                w0 += 0.35
            turns.append(Turn(speaker=speaker, text=text, start_s=t, end_s=w0, words=words))
            t = w0 + rng.uniform(0.2, 12.0 if j % 9 == 8 else 1.5)
        cid = f"call-{k:05d}"
        conv = Conversation(id=cid, channel="voice", agent_id=f"agent-{k % 10}",
                            source=Source(path="bench", sha256="0" * 64, format="test"),
                            duration_s=t, turns=turns)
        write_conversation(OutDir(out), conv)
        row = conv_row(cid, conv.agent_id, "north", start + timedelta(hours=k), 70.0,
                       channel="voice", duration_s=t, n_turns=40)
        convs.append(row)
        for c in range(12):
            i = (c * 3) % 40
            crits.append(crit_row(row, f"crit_{c}", "fail" if c % 3 == 0 else "pass",
                                  evidence=[ev(i, turns[i].text, turns[i].text.split()[0],
                                               polarity="negative" if c % 3 == 0 else "positive",
                                               speaker=turns[i].speaker, start_s=turns[i].start_s)]))
    write_results(out, convs, crits)


def pages_cpu(out: Path, charts: bool) -> float:
    import qa.render as render

    saved = render.call_charts
    if not charts:
        render.call_charts = lambda conv: None
    try:
        t0 = time.process_time()
        summary = render.render_reports(out, jobs=1, call_pages="all")
        return (time.process_time() - t0) * 1000 / max(summary.calls, 1)
    finally:
        render.call_charts = saved


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--smoke", action="store_true", help="5 calls: the script runs (for the tests; no figure to quote)")
    args = ap.parse_args()
    if args.smoke:
        args.calls = 5
    work = Path(tempfile.mkdtemp(prefix="qa-bench-callpage-"))
    try:
        generate(work, args.calls)
        pages_cpu(work, True)  # warm up: imports, fonts, the distress model
        base = pages_cpu(work, False)
        with_chart = pages_cpu(work, True)
        print(f"{args.calls} voice call pages (40 turns, word timings, 12 criteria), one process")
        print(f"baseline (no chart)   {base:7.1f} CPU ms per page   1.0")
        print(f"with the call chart   {with_chart:7.1f} CPU ms per page   {with_chart / base:.1f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
