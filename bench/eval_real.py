"""Agreement with a QA grader on REAL conversations (not the invented dev set).

    .venv/bin/python bench/eval_real.py                           # every bench/data/real_grades_*.csv
    .venv/bin/python bench/eval_real.py --grades bench/data/real_grades_b.csv --show distress
    .venv/bin/python bench/eval_real.py --call qa-out/transcripts/platinum-motors-service.json

The grades in ``bench/data/real_grades_*.csv`` answer the questions of
``../shared/data/graded/GUIDE.md`` for conversations of ``../shared/data/chats/``: random
IBM Twitter customer-care threads (fixed seeds, not picked by hand), the 3 ABCD chats and
the demo call (``examples/calls``; give its transcript with ``--call``, else that row is
skipped). One grader (an LLM session, working from GUIDE.md alone) graded each file before
seeing qa's outcomes on it; see the README ("On real conversations") for how each file was
used. Prints, per label, n / positives / negatives / N/A, agreement and Cohen's kappa, with
the same label → criterion mapping as ``bench/eval_graded.py``.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from eval_graded import qa_value  # noqa: E402
from qa.calibrate import DEFAULT_MAPPING, cohen_kappa, parse_target, percent_agreement  # noqa: E402
from qa.ingest import IngestOptions, parse_file  # noqa: E402
from qa.rubric import load_rubric  # noqa: E402
from qa.score import Scorer  # noqa: E402

CHATS = ROOT.parent / "shared" / "data" / "chats"
INPUTS = [CHATS / "ibm_twitter_care_dev.json", CHATS / "abcd_sample.json"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--grades", action="append", default=[], help="grades CSV (default: bench/data/real_grades_*.csv)")
    ap.add_argument("--call", action="append", default=[], help="a call's transcript JSON from `qa run` (its row is graded)")
    ap.add_argument("--rubric", default=None, help="rubric YAML (default: the shipped one)")
    ap.add_argument("--show", action="append", default=[], help="print the disagreements on this label")
    ap.add_argument("--smoke", action="store_true", help="8 conversations of the first grades file only")
    args = ap.parse_args(argv)
    files = [Path(g) for g in args.grades] or sorted((ROOT / "bench" / "data").glob("real_grades_*.csv"))
    if args.smoke:
        files = files[:1]
    missing = [p for p in INPUTS if not p.exists()]
    if missing or not files:
        print(f"needs {', '.join(map(str, missing or files))}", file=sys.stderr)
        return 2
    convs = {}
    for path in INPUTS + [Path(c) for c in args.call]:
        for c in parse_file(path, IngestOptions()).conversations:
            convs[c.id] = c
    scorer = Scorer(load_rubric(args.rubric), n_process=1)
    for f in files:
        with open(f, newline="", encoding="utf-8") as fh:
            grades = {r["conversation_id"]: r for r in csv.DictReader(fh) if r["conversation_id"] in convs}
        if args.smoke:
            grades = dict(list(grades.items())[:8])
        res = {r.conversation_id: r for _, r in scorer.score([convs[i] for i in grades])}
        print(f"{f.name}: {len(res)} conversations ({sum(1 for g in grades.values() if g['channel'] == 'social')} social)")
        print(f"{'label':<15}{'criterion':<28}{'n':>4}{'pos':>5}{'neg':>5}{'na':>4}{'agree':>7}{'kappa':>7}")
        for label, spec in DEFAULT_MAPPING.items():
            t = parse_target(label, spec)
            if t.kind in ("rating", "seconds"):
                continue
            pairs = []
            for cid, g in grades.items():
                gv = (g.get(label) or "").strip().lower()
                qv = qa_value(res[cid], t)
                if gv and qv is not None:
                    pairs.append((cid, gv, qv))
            a = [p[1] for p in pairs]
            b = [p[2] for p in pairs]
            k = cohen_kappa(a, b)
            ks = f"{k:.2f}" if k is not None else "undef"
            print(f"{label:<15}{t.spec:<28}{len(pairs):>4}{a.count('1'):>5}{a.count('0'):>5}{a.count('na'):>4}"
                  f"{percent_agreement(a, b):>7.0%}{ks:>7}")
            if label in args.show:
                for cid, gv, qv in pairs:
                    if gv != qv:
                        crit = next(c for c in res[cid].criteria if c.criterion_id == t.criterion)
                        print(f"    {cid} grader={gv} qa={qv}: {crit.reason}")
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
