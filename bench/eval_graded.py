"""How well the rubric agrees with a QA grader, on the graded development set.

    .venv/bin/python bench/eval_graded.py                         # ../shared/data/graded, default rubric
    .venv/bin/python bench/eval_graded.py --rubric my.yaml --show empathy
    .venv/bin/python bench/eval_graded.py --smoke                 # 8 conversations (for the tests)

Scores ``conversations.jsonl`` with the rubric (parsed fresh, no cache), then compares each
grader label of ``grades.csv`` (GUIDE.md) with the criterion it maps to
(:data:`qa.calibrate.DEFAULT_MAPPING`):

* a yes/no label against the criterion's outcome: 1 = pass, 0 = fail, ``na`` = N/A (three
  classes, so applying a criterion where the grader says it does not apply is a
  disagreement); ``profanity``, ``slang``, ``blame`` and ``overpromise`` are inverted (1 = the
  criterion fails);
* ``distress``, ``problem``, ``long_wait``, ``name_known``: whether the criterion applies;
* the 1-5 ratings: Spearman correlation with the category score (an N/A category counts
  as 100: nothing went wrong there).

Prints agreement and Cohen's kappa per label (targets: kappa >= 0.70 on every label with at
least 5 positives and 5 negatives; Spearman >= 0.60 per category, >= 0.70 overall) and,
with ``--show LABEL``, every disagreement on that label with qa's reason.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.calibrate import DEFAULT_MAPPING, cohen_kappa, parse_target, percent_agreement, spearman  # noqa: E402
from qa.ingest import IngestOptions, parse_file  # noqa: E402
from qa.rubric import load_rubric  # noqa: E402
from qa.score import Scorer  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "graded"
KAPPA_TARGET = 0.70
SPEARMAN_TARGET = 0.60
SPEARMAN_OVERALL_TARGET = 0.70


def score(conv_path: Path, rubric_path: str | None, ids: set[str] | None = None):
    parsed = parse_file(conv_path, IngestOptions())
    if parsed.errors:
        for e in parsed.errors:
            print(f"error: {e}", file=sys.stderr)
    convs = [c for c in parsed.conversations if ids is None or c.id in ids]
    scorer = Scorer(load_rubric(rubric_path), n_process=1)
    t0 = time.perf_counter()
    results = {r.conversation_id: r for _, r in scorer.score(convs)}
    return results, time.perf_counter() - t0, len(parsed.errors)


def qa_value(res, target) -> str | None:
    """qa's answer to a grader label: '1', '0', 'na' (None when the criterion is absent)."""
    if target.kind == "rating":
        return None
    crit = next((c for c in res.criteria if c.criterion_id == target.criterion), None)
    if crit is None:
        return None
    if target.kind == "applies":
        return "0" if crit.outcome == "na" else "1"
    if crit.outcome == "na":
        return "na"
    ok = crit.outcome == "pass"
    if target.kind == "inverted":
        ok = not ok
    return "1" if ok else "0"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(DATA), help="folder with conversations.jsonl and grades.csv")
    ap.add_argument("--rubric", default=None, help="rubric YAML (default: the shipped one)")
    ap.add_argument("--show", action="append", default=[], help="print the disagreements on this label")
    ap.add_argument("--smoke", action="store_true", help="8 conversations only")
    args = ap.parse_args(argv)
    data = Path(args.data)
    if not (data / "grades.csv").exists():
        print(f"no graded set at {data} (grades.csv missing); give --data", file=sys.stderr)
        return 2
    with open(data / "grades.csv", newline="", encoding="utf-8") as fh:
        grades = {r["conversation_id"]: r for r in csv.DictReader(fh)}
    ids = set(sorted(grades)[:8]) if args.smoke else None
    results, seconds, n_err = score(data / "conversations.jsonl", args.rubric, ids)
    rows = [(cid, g) for cid, g in sorted(grades.items()) if cid in results]
    print(f"graded set: {len(grades)} conversations graded, {len(results)} scored "
          f"({n_err} refused), in {seconds:.1f} s")
    print()
    print(f"{'label':<18}{'criterion':<28}{'n':>4}{'pos':>5}{'neg':>5}{'agree':>8}{'kappa':>8}  target")
    met_all = True
    for label, spec in DEFAULT_MAPPING.items():
        target = parse_target(label, spec)
        if target.kind in ("rating", "seconds"):
            continue
        pairs = []
        for cid, g in rows:
            gv = (g.get(label) or "").strip().lower()
            if gv == "":
                continue
            qv = qa_value(results[cid], target)
            if qv is None:
                break
            pairs.append((cid, gv, qv))
        else:
            pos = sum(1 for _, g, _ in pairs if g == "1")
            neg = sum(1 for _, g, _ in pairs if g == "0")
            a = [g for _, g, _ in pairs]
            b = [q for _, _, q in pairs]
            k = cohen_kappa(a, b)
            agree = percent_agreement(a, b)
            counted = pos >= 5 and neg >= 5
            ok = k is not None and k >= KAPPA_TARGET
            met_all &= ok or not counted
            verdict = ("met" if ok else "NOT met") if counted else "(too few to count)"
            ks = f"{k:.2f}" if k is not None else "undef"
            print(f"{label:<18}{target.spec:<28}{len(pairs):>4}{pos:>5}{neg:>5}{agree:>8.0%}{ks:>8}  {verdict}")
            for show in args.show:
                if show == label:
                    for cid, gv, qv in pairs:
                        if gv != qv:
                            crit = next(c for c in results[cid].criteria if c.criterion_id == target.criterion)
                            print(f"    {cid} grader={gv} qa={qv}: {crit.reason}")
            continue
        print(f"{label:<18}{target.spec:<28}   criterion not in the rubric")
        met_all = False
    print()
    print(f"{'rating':<24}{'category':<18}{'n':>4}{'spearman':>10}  target")
    for label, spec in DEFAULT_MAPPING.items():
        target = parse_target(label, spec)
        if target.kind != "rating":
            continue
        xs, ys = [], []
        for cid, g in rows:
            gv = (g.get(label) or "").strip()
            if not gv:
                continue
            res = results[cid]
            v = res.overall if target.criterion == "overall" else res.categories.get(target.criterion)
            xs.append(float(gv))
            ys.append(100.0 if v is None else float(v))
        rho = spearman(xs, ys)
        need = SPEARMAN_OVERALL_TARGET if target.criterion == "overall" else SPEARMAN_TARGET
        ok = rho is not None and rho >= need
        met_all &= ok
        rs = f"{rho:.2f}" if rho is not None else "undef"
        print(f"{label:<24}{target.criterion:<18}{len(xs):>4}{rs:>10}  >= {need:.2f} {'met' if ok else 'NOT met'}")
    reference_points(rows)
    print()
    print("targets: " + ("all met" if met_all else "not all met"))
    return 0


GUIDE_FIRST_REPLY_S = {"chat": 60, "social": 3600, "email": 86400}
"""The grading guide's words: a chat reply within a minute, social within an hour, e-mail within a day."""


def reference_points(rows) -> None:
    """How far the grader's promptness rating follows their own timing answers, and how far
    it moves with their other ratings: what a timing-only score can reach (no qa involved)."""
    timing, prompt, polite = [], [], []
    for _, g in rows:
        try:
            rating = float(g["promptness_1to5"])
        except (KeyError, ValueError):
            continue
        parts = []
        target = GUIDE_FIRST_REPLY_S.get((g.get("channel") or "").strip())
        if target is not None and (g.get("first_response_s") or "").strip():
            parts.append(1.0 if float(g["first_response_s"]) <= target else 0.0)
        if (g.get("waits_handled") or "").strip() in ("0", "1"):
            parts.append(float(g["waits_handled"]))
        if not parts:
            parts.append(1.0)
        timing.append(sum(parts) / len(parts))
        prompt.append(rating)
        polite.append(float(g.get("politeness_1to5") or "nan"))
    if len(prompt) < 5:
        return
    print()
    print("reference points for promptness_1to5 (the grader's own answers, no qa involved):")
    rho = spearman(prompt, timing)
    print(f"  their timing answers (first reply within the guide's channel target; waits_handled): "
          f"spearman {rho:.2f}" if rho is not None else "  their timing answers: undefined")
    pairs = [(a, b) for a, b in zip(prompt, polite) if b == b]
    rho = spearman([a for a, _ in pairs], [b for _, b in pairs])
    if rho is not None:
        print(f"  their politeness_1to5 rating: spearman {rho:.2f} (ratings move together beyond timing)")


if __name__ == "__main__":
    raise SystemExit(main())
