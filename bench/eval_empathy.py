"""Benchmark of the agent-empathy detector (qa.acts.empathy, behind ``empathy_response``).

Prints, in one run:
  1. The graded development set (../shared/data/graded): in each conversation where the
     grader marked customer distress and answered ``empathy``, whether any agent turn holds an
     empathy act, against the grader's ``empathy`` (agreement, Cohen's kappa, P / R / F1).
     (The check itself also asks that the acknowledgement follow the distress within two agent
     turns; bench/eval_graded.py scores the check.)
  2. With ``--other FILE --format epitome``: the same figures on another community's human
     labels, never used to fit anything. EPITOME (Sharma et al., EMNLP 2020,
     behavioral-data/Empathy-Mental-Health): Reddit peer-support replies rated 0 / 1 / 2 for
     "emotional reactions" (warmth, compassion, concern); the CSV has the columns
     ``response_post`` and ``level``. Two mappings: empathy = level >= 1 (weak or strong),
     and strong only (level 2 against level 0, the weak ones left out).

    .venv/bin/python bench/eval_empathy.py
    .venv/bin/python bench/eval_empathy.py --other emotional-reactions-reddit.csv --format epitome
    .venv/bin/python bench/eval_empathy.py --smoke    # 10 conversations (for the tests)
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa import acts  # noqa: E402
from eval_distress import OtherError, kappa, prf, read_utf8, tab_labelled  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
FORMATS = ("epitome", "labelled")


def figures(gold: list[int], pred: list[int]) -> str:
    n = len(gold)
    tp = sum(1 for g, p in zip(gold, pred) if g and p)
    fp = sum(1 for g, p in zip(gold, pred) if not g and p)
    fn = sum(1 for g, p in zip(gold, pred) if g and not p)
    tn = n - tp - fp - fn
    p, r, f = prf(gold, pred)
    agree, k = kappa(gold, pred)
    return (f"n {n} ({tp + fn} empathic)  P {p:.3f}  R {r:.3f}  F1 {f:.3f}  agreement {agree:.3f}  "
            f"kappa {k:.3f}  (tp {tp} fp {fp} fn {fn} tn {tn})")


def graded(data: Path, limit: int | None) -> None:
    convs: dict[str, list[dict]] = defaultdict(list)
    with open(data / "graded" / "conversations.jsonl", encoding="utf-8") as fh:
        for line in fh:
            m = json.loads(line)
            convs[m["conversation_id"]].append(m)
    with open(data / "graded" / "grades.csv", newline="", encoding="utf-8") as fh:
        grades = {r["conversation_id"]: r for r in csv.DictReader(fh)}
    ids = [c for c in sorted(convs) if c in grades][: limit or None]
    gold, pred = [], []
    for cid in ids:
        g = grades[cid]
        if g.get("distress") != "1" or g.get("empathy") not in ("0", "1"):
            continue
        gold.append(int(g["empathy"] == "1"))
        pred.append(int(any(acts.empathy(m["text"]) for m in convs[cid] if m["speaker"] == "agent")))
    print(f"graded set, empathy detector (any agent turn) vs the grader, conversations with distress:")
    print("  " + figures(gold, pred))


def read_other(path: Path, fmt: str) -> list[tuple[str, int]]:
    """``(response text, level)`` rows: EPITOME's 0/1/2, or a 0/1 label (``labelled``:
    ``text<TAB>0|1`` lines)."""
    raw = read_utf8(path)
    rows: list[tuple[str, int]] = []
    if fmt == "epitome":
        reader = csv.DictReader(raw.splitlines(keepends=True))
        if not reader.fieldnames or not {"response_post", "level"} <= set(reader.fieldnames):
            raise OtherError(f"{path}:1: expected a CSV header with 'response_post' and 'level' "
                             f"(EPITOME's columns), got {reader.fieldnames}")
        for rec in reader:
            level = (rec.get("level") or "").strip()
            if level not in ("0", "1", "2"):
                raise OtherError(f"{path}:{reader.line_num}: level must be 0, 1 or 2, got {level!r}")
            rows.append((rec.get("response_post") or "", int(level)))
    else:
        for no, line in enumerate(raw.splitlines(), 1):
            if not line.strip():
                continue
            rows.append(tab_labelled(path, no, line))
    if not rows:
        raise OtherError(f"{path}: no labelled rows found for --format {fmt}")
    return rows


def other(path: Path, fmt: str, limit: int | None, show: bool) -> None:
    rows = read_other(path, fmt)[: limit or None]
    found = [acts.empathy(t) for t, _ in rows]
    pred = [int(bool(a)) for a in found]
    print(f"{path.name} ({fmt}): {len(rows)} replies")
    print("  empathy = level >= 1:  " + figures([int(lv >= 1) for _, lv in rows], pred))
    if fmt == "epitome":
        strong = [(int(lv == 2), p) for (_, lv), p in zip(rows, pred) if lv != 1]
        print("  strong only (2 vs 0):  " + figures([g for g, _ in strong], [p for _, p in strong]))
        by: dict[int, list[int]] = defaultdict(list)
        for (_, lv), p in zip(rows, pred):
            by[lv].append(p)
        print("  share detected by level: " + ", ".join(
            f"{lv}: {sum(v)}/{len(v)}" for lv, v in sorted(by.items())))
    if show:
        for (t, lv), a in zip(rows, found):
            if (lv >= 1) != bool(a):
                print(f"  level {lv} ours={'yes' if a else 'no'} {a[0].rule + ': ' + a[0].text if a else '-'} | {t[:120]!r}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="10 conversations and 50 rows, for a test")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--other", type=Path, help="another community's labelled replies (see --format)")
    ap.add_argument("--format", choices=FORMATS, default="epitome", help="the --other file's format")
    ap.add_argument("--show", action="store_true", help="list the --other disagreements")
    args = ap.parse_args(argv)
    if args.other is not None:
        try:
            read_other(args.other, args.format)
        except OtherError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if (args.data / "graded" / "grades.csv").exists():
        graded(args.data, 10 if args.smoke else None)
    else:
        print(f"{args.data / 'graded'} not found: skipping the graded set")
    if args.other is not None:
        other(args.other, args.format, 50 if args.smoke else None, args.show)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
