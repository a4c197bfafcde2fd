"""Benchmark `qa score`: first scoring, and re-scoring after a rubric edit, against plain
spaCy ``nlp.pipe`` over the same text, in one run.

    .venv/bin/python bench/bench_score.py            # 1,000 chats x 100 turns (~1,400 words each)
    .venv/bin/python bench/bench_score.py --n 200    # a quicker run
    .venv/bin/python bench/bench_score.py --smoke    # 20 chats x 10 turns: the script runs (the tests)

Steps (all on the same synthetic conversations, written as conversation JSON first):
1. plain ``nlp.pipe`` over every turn text: with qa's own pipeline (the tokenizer; lemmas
   come from a lookup table), and with ``en_core_web_sm`` as shipped (all six components,
   timed on every 10th conversation) -- what a scorer that simply runs spaCy would pay;
2. first scoring with the shipped rubric: read the JSON files, parse (nothing cached),
   run every check, write the Parquet results;
3. re-scoring after a rubric edit (a weight changed, a phrase added, a threshold moved):
   the same work, with parsed text read from the cache.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.conversation import Conversation, Source, Turn  # noqa: E402
import spacy  # noqa: E402

from qa.nlp import PIPELINE_NAME, get_nlp  # noqa: E402
from qa.rubric import default_rubric_path, load_rubric, parse_rubric  # noqa: E402
from qa.inputs import iter_inputs  # noqa: E402
from qa.results import write_results  # noqa: E402
from qa.score import Scorer  # noqa: E402
from qa.store import OutDir, iter_conversation_files, write_conversation  # noqa: E402

FIRST = ["Anna", "Ben", "Carla", "David", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jamal"]
PRODUCTS = ["router", "laptop", "phone", "order", "subscription", "invoice", "parcel", "account"]
CUSTOMER = [
    "Hi, my name is {name} and my {p} has not arrived even though the tracking said it would be here on Monday",
    "I have been waiting for over a week now and honestly this is getting really frustrating for me and my family",
    "The {p} keeps disconnecting every few minutes and I already tried restarting it three times this morning",
    "Could you tell me why I was charged twice for the same {p} on my last statement please",
    "I am worried that the refund will not come through before my rent is due at the end of the month",
    "Yes that is right, the reference number should be on the email you sent me last Tuesday afternoon",
    "Okay I can try that now but I really need this fixed today because I work from home every day",
    "No, nobody called me back after the last chat even though I was promised a call within two days",
    "That sounds good, can you also confirm the delivery address is still the one on my {p} account",
    "Thanks, that is helpful, is there anything else I need to do on my side to get this sorted",
]
AGENT = [
    "Hello {name}, thank you for contacting us, my name is Sam and I will be helping you with your {p} today",
    "I'm sorry to hear that, I can understand how frustrating it is to wait this long for your {p}",
    "Let me check your {p} details in our system, this should only take a moment so please bear with me",
    "I can see the issue now, it looks like the {p} was held at the depot because of a missing label",
    "Could you please confirm the email address on the account so I can send you the confirmation",
    "Thanks for confirming, I have gone ahead and arranged a replacement which will ship out tomorrow morning",
    "I understand your concern, I will make sure the refund for the duplicate charge is processed today",
    "You should receive an email with the tracking number within the next hour or so, {name}",
    "Is there anything else I can help you with today regarding your {p} or your account with us",
    "Thank you for your patience {name}, have a great day and do not hesitate to reach out again",
]


def make_chat(k: int, n_turns: int, rng: random.Random) -> Conversation:
    name = rng.choice(FIRST)
    turns, t = [], 0.0
    for i in range(n_turns):
        speaker = "customer" if i % 2 == 0 else "agent"
        pool = CUSTOMER if speaker == "customer" else AGENT
        text = rng.choice(pool).format(name=name, p=rng.choice(PRODUCTS))
        words = text.split()[:13]
        rng.shuffle(words) if rng.random() < 0.3 else None  # vary the text so every turn differs
        text = " ".join(words) + rng.choice([".", "?", "!", "."]) + f" Ref {rng.randint(1000, 99999)}."
        t += rng.uniform(5, 120)
        turns.append(Turn(speaker=speaker, text=text, start_s=round(t, 1), end_s=round(t, 1)))
    return Conversation(id=f"bench-{k:05d}", channel="chat", agent_id=f"agent-{k % 25:02d}",
                        team=f"team-{k % 3}", started_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
                        source=Source(path=f"bench-{k}.jsonl", sha256="0" * 64, format="chat-jsonl"),
                        turns=turns)


def edited_rubric_text() -> str:
    """The shipped rubric after a typical trainer edit: a phrase added, a threshold and a
    target moved, a weight changed (each replacement must apply)."""
    text = default_rubric_path().read_text(encoding="utf-8")
    for old, new in (("rubric: qa-default", "rubric: qa-default-edited"),
                     ('"hi", "hey",', '"hi", "hey", "howdy",'),
                     ("threshold_s: 10", "threshold_s: 15"),
                     ("    target_s: 180\n", "    target_s: 150\n"),
                     ("  - id: closing\n    category: politeness\n    description: Closes courteously at the end "
                      "(offers more help, thanks, wishes them well)\n    check: closing\n    weight: 2",
                      "  - id: closing\n    category: politeness\n    description: Closes courteously at the end "
                      "(offers more help, thanks, wishes them well)\n    check: closing\n    weight: 3")):
        assert old in text, f"the shipped rubric no longer has {old!r}: update the benchmark's edit"
        text = text.replace(old, new, 1)
    return text


def _cpu() -> float:
    """CPU-seconds used by this process and its finished children (the scoring workers)."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def score_folder(out: OutDir, rubric, jobs: int) -> tuple[float, Scorer, int, float]:
    t0 = time.perf_counter()
    c0 = _cpu()
    convs = [c for c, _ in iter_inputs(iter_conversation_files(out))]
    scorer = Scorer(rubric, cache_dir=out.cache / "spacy", jobs=jobs)
    results = [r for _, r in scorer.score(convs)]
    write_results(results, out)
    return time.perf_counter() - t0, scorer, len(results), _cpu() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="conversations (default 1000)")
    ap.add_argument("--turns", type=int, default=100, help="turns per conversation (default 100)")
    ap.add_argument("--full-every", type=int, default=10,
                    help="time the full en_core_web_sm pipeline on every Nth conversation (default 10)")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                    help="scoring processes, as qa score --jobs (default: 2 on a multi-core machine)")
    ap.add_argument("--smoke", action="store_true",
                    help="20 chats x 10 turns, one process: the script runs (for the tests; no figure to quote)")
    args = ap.parse_args()
    if args.smoke:
        args.n, args.turns, args.full_every, args.jobs = 20, 10, 5, 1

    rng = random.Random(7)
    convs = [make_chat(k, args.turns, rng) for k in range(args.n)]
    texts = [t.text for c in convs for t in c.turns]
    texts_of = [[t.text for t in c.turns] for c in convs]
    n_words = sum(len(t.split()) for t in texts)
    print(f"{args.n} synthetic chats x {args.turns} turns, {n_words / args.n:,.0f} words each "
          f"({n_words:,} words); {os.cpu_count()} cores, qa score --jobs {args.jobs}, load average {os.getloadavg()[0]:.1f} at start")

    t0 = time.perf_counter()
    nlp = get_nlp()
    print(f"load spaCy pipeline ({'+'.join(['tokenizer', *nlp.pipe_names])}): {time.perf_counter() - t0:.1f} s "
          "(once per process, not counted below)")

    with tempfile.TemporaryDirectory() as tmp:
        out = OutDir.at(Path(tmp) / "out")
        for c in convs:
            write_conversation(out, c)
        del convs

        t0 = time.perf_counter()
        for _ in nlp.pipe(texts, batch_size=1000):
            pass
        base = time.perf_counter() - t0
        print(f"plain nlp.pipe, qa's pipeline ({'+'.join(['tokenizer', *nlp.pipe_names])}), all text:"
              f"{base:7.1f} s  {args.n / base:7.1f} conv/s  {n_words / base:,.0f} words/s")
        sample = texts_of[::args.full_every]
        full = spacy.load(PIPELINE_NAME)
        flat = [t for conv_texts in sample for t in conv_texts]
        t0 = time.perf_counter()
        for _ in full.pipe(flat, batch_size=1000):
            pass
        full_s = (time.perf_counter() - t0) * len(texts_of) / len(sample)
        print(f"plain nlp.pipe, en_core_web_sm as shipped ({'+'.join(full.pipe_names)}), timed on "
              f"{len(sample)} of the conversations: {args.n / full_s:.1f} conv/s")
        del full

        rubric = load_rubric()
        first, scorer, n, first_cpu = score_folder(out, rubric, args.jobs)
        assert n == args.n and scorer.analyzer.parsed == args.n
        print(f"qa score, first (read, parse, score, write): {first:7.1f} s  {args.n / first:7.1f} conv/s"
              f"  = {full_s / first:.1f} x faster than plain nlp.pipe with en_core_web_sm")
        ceiling = args.n / first_cpu * min(args.jobs, os.cpu_count() or 1)
        print(f"  ({first_cpu:.1f} CPU-seconds in all processes, {args.n / first_cpu:.1f} conv per CPU-second: "
              f"about {ceiling:.0f} conv/s with {args.jobs} idle cores)")

        edited = parse_rubric(edited_rubric_text(), "edited.yaml")
        assert edited.hash != rubric.hash
        again, scorer2, n2, again_cpu = score_folder(out, edited, args.jobs)
        assert n2 == args.n and scorer2.analyzer.cached == args.n and scorer2.analyzer.parsed == 0
        print(f"qa score, after a rubric edit (cache):       {again:7.1f} s  {args.n / again:7.1f} conv/s"
              f"  = {first / again:.1f} x faster than first scoring, {full_s / again:.0f} x faster than "
              "plain nlp.pipe with en_core_web_sm")
        print(f"  (re-scoring runs in one process: {again_cpu:.1f} CPU-seconds, {args.n / again_cpu:.0f} conv "
              "per CPU-second)")
        print(f"load average at the end: {os.getloadavg()[0]:.1f} (other processes slow every figure alike)")
        print(f"targets: first >= 20 conv/s: {'met' if args.n / first >= 20 else 'NOT met'}"
              f" (idle-core estimate {'met' if ceiling >= 20 else 'NOT met'}); "
              f"re-scoring >= 200 conv/s: {'met' if args.n / again >= 200 else 'NOT met'}")


if __name__ == "__main__":
    main()
