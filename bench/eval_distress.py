"""Benchmark of the customer-distress detector (qa.affect) on data in ../shared/data.

Prints, in one run:
  1. GoEmotions dev, "negative" group: precision / recall / F1 of is_distress, next to
     VADER alone (compound <= -0.05) and the learned model alone; the model was trained on
     the train split only and its threshold chosen there (bench/train_distress.py).
  2. The graded development set (80 conversations): conversation-level distress (any
     customer turn is_distress) against the grader's `distress` column: agreement, Cohen's
     kappa, confusion; and the disagreements with the turn that decided (--show).
  3. Speed in turns per CPU-second on one core, as a ratio to VADER alone (vaderSentiment's
     SentimentIntensityAnalyzer.polarity_scores) on the same turns in the same run.

  4. With ``--other FILE --format NAME``: the same P / R / F1 (and Cohen's kappa) on another
     community's human labels, mapped onto distress (never used to fit anything):
     ``semeval-ec`` (SemEval-2018 Task 1 E-c tweets, ``ID<TAB>Tweet<TAB>`` 11 0/1 columns with
     a header; distress = anger, disgust, fear, pessimism or sadness), ``empathetic-dialogues``
     (EmpatheticDialogues' CSV: the situation ``prompt`` of each conversation, distress = one of
     its 16 negative emotions in ``context``: afraid, angry, annoyed, anxious, apprehensive,
     ashamed, devastated, disappointed, disgusted, embarrassed, furious, guilty, jealous,
     lonely, sad, terrified), ``dair-emotion``
     (``text;label`` lines; distress = sadness, anger or fear) or ``labelled``
     (``text<TAB>0|1``, a mapping you made yourself).

    .venv/bin/python bench/eval_distress.py
    .venv/bin/python bench/eval_distress.py --other 2018-E-c-En-train.txt --format semeval-ec --no-speed
    .venv/bin/python bench/eval_distress.py --smoke    # a few hundred turns, for a test
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa import affect  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
NEGATIVE = {
    "anger", "annoyance", "disappointment", "disapproval", "disgust", "embarrassment",
    "fear", "grief", "nervousness", "remorse", "sadness",
}
SMOKE_TURNS = [
    "I'm not angry, just confused about the bill.",
    "This is the third time I've called and it's still not fixed!",
    "What time do you open on Saturday?",
    "Honestly panicking a bit, money's really tight this month.",
    "no worries, thanks for checking",
    "I lost my saved game after the update",
    "my manager is breathing down my neck about this",
    "great, thank you so much!",
]


def prf(gold: list[int], pred: list[int]) -> tuple[float, float, float]:
    tp = sum(1 for g, p in zip(gold, pred) if g and p)
    fp = sum(1 for g, p in zip(gold, pred) if not g and p)
    fn = sum(1 for g, p in zip(gold, pred) if g and not p)
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def kappa(a: list[int], b: list[int]) -> tuple[float, float]:
    n = len(a)
    if not n:
        return 0.0, 0.0
    agree = sum(1 for x, y in zip(a, b) if x == y) / n
    pa, pb = sum(a) / n, sum(b) / n
    pe = pa * pb + (1 - pa) * (1 - pb)
    return agree, ((agree - pe) / (1 - pe) if pe < 1 else 1.0)


def goemotions(data: Path, limit: int | None) -> None:
    names = (data / "emotions" / "goemotions_labels.txt").read_text().split()
    texts, gold = [], []
    for line in (data / "emotions" / "goemotions_dev.tsv").read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) < 2:
            continue
        texts.append(parts[0])
        gold.append(int(any(names[int(i)] in NEGATIVE for i in parts[1].split(",") if i)))
    if limit:
        texts, gold = texts[:limit], gold[:limit]
    print(f"GoEmotions dev, negative group: {len(texts)} comments, {sum(gold)} negative")
    report(texts, gold)


# SemEval-2018 Task 1 E-c: the emotions of its 11 that are distress in GUIDE.md's sense
SEMEVAL_DISTRESS = {"anger", "disgust", "fear", "pessimism", "sadness"}
DAIR_DISTRESS = {"sadness", "anger", "fear"}
# EmpatheticDialogues: its 32 emotions, the 16 negative ones are distress
ED_DISTRESS = {"afraid", "angry", "annoyed", "anxious", "apprehensive", "ashamed", "devastated", "disappointed",
               "disgusted", "embarrassed", "furious", "guilty", "jealous", "lonely", "sad", "terrified"}
ED_OTHER = {"anticipating", "caring", "confident", "content", "excited", "faithful", "grateful", "hopeful",
            "impressed", "joyful", "nostalgic", "prepared", "proud", "sentimental", "surprised", "trusting"}
FORMATS = ("semeval-ec", "empathetic-dialogues", "dair-emotion", "labelled")


class OtherError(ValueError):
    """A line of an --other file that does not fit its --format (also raised by the other
    eval_*.py scripts that read another community's corpus)."""


def read_utf8(path: Path) -> str:
    """The whole --other file, or an OtherError naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise OtherError(f"{path}: cannot read it as UTF-8 text ({exc})") from None


def tab_labelled(path: Path, no: int, line: str) -> tuple[str, int]:
    """``(text, 0|1)`` of one ``text<TAB>0|1`` line (the ``labelled`` format)."""
    text, sep, label = line.rpartition("\t")
    if not sep or label.strip() not in ("0", "1"):
        raise OtherError(f"{path}:{no}: expected 'text<TAB>0' or 'text<TAB>1', got {line[:80]!r}")
    return text, int(label.strip())


def read_other(path: Path, fmt: str) -> tuple[list[str], list[int]]:
    """Texts and 0/1 distress labels of another community's corpus (see the module doc)."""
    texts, gold = [], []
    lines = read_utf8(path).splitlines()
    cols: list[str] = []
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if fmt == "semeval-ec":
            parts = line.split("\t")
            if not cols:
                cols = [c.strip().lower() for c in parts]
                if len(cols) < 3 or cols[1] != "tweet" or not SEMEVAL_DISTRESS & set(cols):
                    raise OtherError(f"{path}:{no}: expected the E-c header 'ID<TAB>Tweet<TAB>anger<TAB>...', "
                                     f"got {line[:80]!r}; pick the --format that fits the file")
                continue
            if len(parts) != len(cols) or any(v.strip() not in ("0", "1") for v in parts[2:]):
                raise OtherError(f"{path}:{no}: expected {len(cols)} tab-separated fields with 0/1 labels, "
                                 f"got {len(parts)}: {line[:80]!r}")
            texts.append(parts[1].replace("\\n", "\n"))
            gold.append(int(any(v.strip() == "1" and c in SEMEVAL_DISTRESS for c, v in zip(cols[2:], parts[2:]))))
        elif fmt == "empathetic-dialogues":
            parts = line.split(",")
            if not cols:
                cols = [c.strip().lower() for c in parts]
                if not {"conv_id", "context", "prompt"} <= set(cols):
                    raise OtherError(f"{path}:{no}: expected EmpatheticDialogues' header (conv_id,utterance_idx,"
                                     f"context,prompt,...), got {line[:80]!r}")
                seen: set[str] = set()
                continue
            if len(parts) < len(cols):
                raise OtherError(f"{path}:{no}: expected {len(cols)} comma-separated fields, got {len(parts)}")
            rec = dict(zip(cols, parts))
            emotion = rec["context"].strip().lower()
            if emotion not in ED_DISTRESS | ED_OTHER:
                raise OtherError(f"{path}:{no}: unknown emotion {emotion!r} in the context column")
            if rec["conv_id"] in seen:
                continue  # one situation per conversation
            seen.add(rec["conv_id"])
            texts.append(rec["prompt"].replace("_comma_", ","))
            gold.append(int(emotion in ED_DISTRESS))
        elif fmt == "dair-emotion":
            text, sep, label = line.rpartition(";")
            if not sep or not text.strip():
                raise OtherError(f"{path}:{no}: expected 'text;label', got {line[:80]!r}")
            texts.append(text)
            gold.append(int(label.strip().lower() in DAIR_DISTRESS))
        else:
            text, label = tab_labelled(path, no, line)
            texts.append(text)
            gold.append(label)
    if not texts:
        raise OtherError(f"{path}: no labelled lines found for --format {fmt}")
    return texts, gold


def other(path: Path, fmt: str, limit: int | None) -> None:
    texts, gold = read_other(path, fmt)
    if limit:
        texts, gold = texts[:limit], gold[:limit]
    print(f"{path.name} ({fmt}): {len(texts)} texts, {sum(gold)} distress by its labels")
    report(texts, gold)


def report(texts: list[str], gold: list[int], with_kappa: bool = True) -> None:
    """P / R / F1 (and kappa) of is_distress, next to VADER alone, the rules alone and the
    learned model alone, on the same texts."""
    res = affect.analyze_turns(texts)
    ours = [int(r.is_distress) for r in res]
    model = [int(r.model_probability >= affect.THRESHOLD) for r in res]
    vader = [int(affect.vader_scores(t)["compound"] <= -0.05) for t in texts]
    rules = [int(bool(affect.rule_cues(t)) and
                 1 - _prod(1 - c.weight for c in affect.rule_cues(t)) >= affect.THRESHOLD) for t in texts]
    print(f"  {'detector':34} {'P':>6} {'R':>6} {'F1':>6}" + (f" {'kappa':>6}" if with_kappa else ""))
    for name, pred in [("VADER alone (compound <= -0.05)", vader), ("rules alone", rules),
                       ("learned model alone", model), ("qa.affect is_distress", ours)]:
        p, r, f = prf(gold, pred)
        print(f"  {name:34} {p:6.3f} {r:6.3f} {f:6.3f}" + (f" {kappa(gold, pred)[1]:6.3f}" if with_kappa else ""))


def _prod(xs) -> float:
    out = 1.0
    for x in xs:
        out *= x
    return out


def graded(data: Path, limit: int | None, show: bool) -> None:
    convs: dict[str, list[dict]] = defaultdict(list)
    with open(data / "graded" / "conversations.jsonl", encoding="utf-8") as fh:
        for line in fh:
            m = json.loads(line)
            convs[m["conversation_id"]].append(m)
    grades = {r["conversation_id"]: r for r in csv.DictReader(open(data / "graded" / "grades.csv"))}
    ids = sorted(convs)[: limit or None]
    gold, pred, why = [], [], {}
    for cid in ids:
        texts, ctx, prev = [], [], None
        for m in convs[cid]:
            if m["speaker"] == "agent":
                prev = m["text"]
            else:
                texts.append(m["text"])
                ctx.append(prev)
        res = affect.analyze_turns(texts, ctx)
        hit = [(t, r) for t, r in zip(texts, res) if r.is_distress]
        gold.append(int(grades[cid]["distress"] == "1"))
        pred.append(int(bool(hit)))
        why[cid] = hit[0] if hit else (max(zip(texts, res), key=lambda x: x[1].distress) if res else None)
    agree, k = kappa(gold, pred)
    tp = sum(1 for g, p in zip(gold, pred) if g and p)
    fp = sum(1 for g, p in zip(gold, pred) if not g and p)
    fn = sum(1 for g, p in zip(gold, pred) if g and not p)
    tn = len(gold) - tp - fp - fn
    print(f"graded set, conversation distress (any customer turn) vs grader: {len(gold)} conversations")
    print(f"  agreement {agree:.3f}  Cohen's kappa {k:.3f}  (tp {tp} fp {fp} fn {fn} tn {tn})")
    if show:
        for cid, g, p in zip(ids, gold, pred):
            if g != p and why[cid]:
                t, r = why[cid]
                cue = r.cues[0] if r.cues else None
                print(f"  {cid} grader={g} ours={p} d={r.distress:.2f} "
                      f"cue={cue.kind + ':' + cue.text if cue else '-'} | {t[:110]!r}")


def speed(data: Path, n: int) -> None:
    texts = list(SMOKE_TURNS)
    conv = data / "graded" / "conversations.jsonl"
    if conv.exists():
        with open(conv, encoding="utf-8") as fh:
            texts = [json.loads(line)["text"] for line in fh]
    turns = (texts * (n // len(texts) + 1))[:n]
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    sia = SentimentIntensityAnalyzer()
    affect.load_model()
    affect.analyze_turns(turns[:50])
    sia.polarity_scores(turns[0])
    t0 = time.process_time()
    for t in turns:
        sia.polarity_scores(t)
    t_vader = time.process_time() - t0
    t0 = time.process_time()
    affect.analyze_turns(turns)
    t_all = time.process_time() - t0
    avg = sum(len(t) for t in turns) / len(turns)
    # CPU seconds of this process: on a shared machine wall-clock time measures the neighbours
    print(f"speed, one core (CPU time), {n} turns (mean {avg:.0f} chars): analyze_turns {n / t_all:,.0f} turns/s; "
          f"VADER alone (vaderSentiment) {n / t_vader:,.0f} turns/s; "
          f"ratio {t_vader / t_all:.2f}x VADER's speed")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="a few hundred turns, for a test")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--show", action="store_true", help="list graded-set disagreements")
    ap.add_argument("--other", type=Path, help="another community's labelled corpus (see --format)")
    ap.add_argument("--format", choices=FORMATS, default="semeval-ec", help="the --other file's format")
    ap.add_argument("--no-speed", action="store_true", help="skip the speed measurement")
    args = ap.parse_args(argv)
    if args.other is not None:
        try:
            read_other(args.other, args.format)
        except OtherError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    m = affect.load_model()
    if m is not None:
        print(f"model: {m.meta.get('trained_on')}, {len(m.weights)} weights, shift {m.shift:+.2f}, "
              f"CV F1 {m.meta.get('cv_f1')}")
    have = (args.data / "emotions" / "goemotions_dev.tsv").exists()
    if have:
        goemotions(args.data, 300 if args.smoke else None)
        graded(args.data, 10 if args.smoke else None, args.show)
    else:
        print(f"{args.data} not found: skipping GoEmotions and the graded set")
    if args.other is not None:
        other(args.other, args.format, 300 if args.smoke else None)
    if not args.no_speed:
        speed(args.data, 500 if args.smoke else 20_000)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
