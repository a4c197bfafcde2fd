"""How well the ``problem`` fact (the customer reports a problem, complaint or something that
went wrong, not just a question) agrees with another community's human labels.

    .venv/bin/python bench/eval_problem.py --other complaints-data.csv --format complaints
    .venv/bin/python bench/eval_problem.py --other complaints-data.csv --format complaints --show look
    .venv/bin/python bench/eval_problem.py --smoke      # a few hand-written tweets, for a test

``--format complaints``: the CSV of Preotiuc-Pietro et al., "Automatically Identifying
Complaints in Social Media" (ACL 2019; github.com/danielpreotiuc/complaints-social-media):
``id,text,label,domain`` rows (an optional header), label 1 = a complaint, 0 = not, tweets
to brands in nine domains plus random tweets. ``--format labelled``: ``text<TAB>0|1`` lines.
The corpus has no licence: keep it outside the repository and use it to evaluate only.

Each text is scored as a conversation of one customer turn on the ``social`` channel,
through :func:`qa.situation.problem`, the same fact the scorer's ``when: problem`` uses
(a report-of-failure cue, else the distress detector). The rows are split by a hash of
the id (sha256, even = ``look``, odd = ``held-out``): the look half's errors may be read
(``--show look``) to find general rules; the held-out half is only scored. Prints
precision / recall / F1 / Cohen's kappa with n for each half, for the two parts of the
fact alone (the cue, distress), and per domain on the held-out half.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa import situation  # noqa: E402
from qa.checks import Context  # noqa: E402
from qa.conversation import Conversation, Source, Turn  # noqa: E402
from eval_distress import OtherError, kappa, prf, read_utf8, tab_labelled  # noqa: E402

FORMATS = ("complaints", "labelled")
# written for the smoke run (not from any corpus): text, label, domain
SMOKE = [
    ("@acme my parcel still hasn't arrived, 3 weeks now", 1, "retail"),
    ("@acme is the X200 compatible with the old charger?", 0, "electronics"),
    ("@acme charged twice for one order and no reply to my email", 1, "retail"),
    ("@acme can I return a jacket bought in store online?", 0, "apparel"),
    ("@acme thanks so much, the new app is great", 0, "software"),
    ("@acme why is it so hard to cancel a subscription?", 1, "software"),
    ("@acme what time do you open on Sunday?", 0, "retail"),
    ("@acme wifi not working again on the 8:15 train #fail", 1, "transport"),
]


def read_other(path: Path, fmt: str) -> list[tuple[str, str, int, str]]:
    """``(id, text, label, domain)`` rows of the file."""
    raw = read_utf8(path)
    rows = []
    if fmt == "complaints":
        for no, rec in enumerate(csv.reader(raw.splitlines()), 1):
            if not rec or (no == 1 and rec[0].strip().lower() == "id"):
                continue
            if len(rec) != 4 or rec[2].strip() not in ("0", "1"):
                raise OtherError(f"{path}:{no}: expected 'id,text,label,domain' with label 0 or 1, "
                                 f"got {','.join(rec)[:80]!r}; pick the --format that fits the file")
            rows.append((rec[0].strip(), rec[1], int(rec[2]), rec[3].strip() or "-"))
    else:
        for no, line in enumerate(raw.splitlines(), 1):
            if not line.strip():
                continue
            text, label = tab_labelled(path, no, line)
            rows.append((f"line{no}", text, label, "-"))
    if not rows:
        raise OtherError(f"{path}: no labelled rows found for --format {fmt}")
    return rows


def half(row_id: str) -> str:
    return "look" if hashlib.sha256(row_id.encode()).digest()[-1] % 2 == 0 else "held-out"


def judge(text: str) -> tuple[int, int, int, str]:
    """``(problem, cue alone, distress alone, reason)`` for one customer turn."""
    conv = Conversation(id="t", channel="social", agent_id="-",
                        source=Source(path="-", sha256="-", format="complaints"),
                        turns=[Turn(speaker="customer", text=text)])
    ctx = Context(conv=conv, nlp=None)
    fact = situation.problem(ctx)
    return (int(fact.holds), int(situation.problem_cue(text) is not None),
            int(situation.distress(ctx).holds), fact.reason)


def line(name: str, gold: list[int], pred: list[int]) -> str:
    p, r, f = prf(gold, pred)
    return f"  {name:30} {len(gold):5} {sum(gold):5} {p:6.3f} {r:6.3f} {f:6.3f} {kappa(gold, pred)[1]:6.3f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--other", type=Path, help="the labelled corpus (see --format)")
    ap.add_argument("--format", choices=FORMATS, default="complaints", help="the --other file's format")
    ap.add_argument("--show", choices=("look",), help="print the look half's disagreements (never the held-out's)")
    ap.add_argument("--smoke", action="store_true", help="a few hand-written tweets, no file needed")
    args = ap.parse_args(argv)
    if args.smoke:
        rows = [(f"smoke{i}", t, g, d) for i, (t, g, d) in enumerate(SMOKE)]
        name = "smoke tweets"
    elif args.other is None:
        ap.error("give --other FILE (or --smoke)")
    else:
        try:
            rows = read_other(args.other, args.format)
        except OtherError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        name = args.other.name
    judged = [(h, g, d, *judge(t), t) for rid, t, g, d in rows for h in [half(rid)]]
    print(f"{name} ({args.format}): {len(rows)} texts, {sum(g for _, _, g, _ in rows)} labelled complaints; "
          f"split by sha256(id): look {sum(1 for j in judged if j[0] == 'look')}, "
          f"held-out {sum(1 for j in judged if j[0] == 'held-out')}")
    print(f"  {'half / detector':30} {'n':>5} {'pos':>5} {'P':>6} {'R':>6} {'F1':>6} {'kappa':>6}")
    for h in ("look", "held-out"):
        sel = [j for j in judged if j[0] == h]
        gold = [j[1] for j in sel]
        print(line(f"{h}: problem fact", gold, [j[3] for j in sel]))
        print(line(f"{h}:   failure cue alone", gold, [j[4] for j in sel]))
        print(line(f"{h}:   distress alone", gold, [j[5] for j in sel]))
    print("held-out half by domain (problem fact):")
    by = defaultdict(list)
    for j in judged:
        if j[0] == "held-out":
            by[j[2]].append(j)
    for d in sorted(by):
        print(line(d, [j[1] for j in by[d]], [j[3] for j in by[d]]))
    if args.show == "look":
        print("look half, disagreements (gold, qa, reason, text):")
        for j in judged:
            if j[0] == "look" and j[1] != j[3]:
                print(f"  gold={j[1]} qa={j[3]} [{j[2]}] {j[6]!r}\n      {j[7][:160]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
