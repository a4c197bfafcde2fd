"""How well the `politeness` check separates polite from impolite requests.

    .venv/bin/python bench/eval_politeness.py                 # train and held-out figures, ~5 s
    .venv/bin/python bench/eval_politeness.py --other stack-exchange.annotated.csv
    .venv/bin/python bench/eval_politeness.py --smoke         # a tiny run (the tests use it)
    .venv/bin/python bench/eval_politeness.py --fit           # refit first (bench/fit_politeness.py)

Data: the Stanford Politeness Corpus, Wikipedia requests (../shared/data/politeness/
wikipedia.annotated.csv, 4,353 requests, each rated by 5 people). The split is the one the
shipped weights were fitted on (bench/fit_politeness.py: by request id, seeded, 75% train).
As in Danescu-Niculescu-Mizil et al. (2013), the standard figure is the accuracy of telling
the top quartile of the human score from the bottom quartile: here the `courtesy` criterion's
pass/fail (the shipped rubric's `politeness` check, each request scored as a one-turn agent
chat). Also: ROC AUC of the turn score on the same requests, and Spearman's rho between the
turn score and the human score over every request of the split (all four quartiles).

``--other`` scores a corpus from another community (nothing was fitted on it, so all of it
counts as held out): the Stack Exchange half of the corpus (``stack-exchange.annotated.csv``)
or any CSV of human-rated texts. The text and score columns are found by name (``Request`` /
``text`` / ``sentence`` …, ``Normalized Score`` / ``score`` / ``label`` …; or give
``--text-col`` / ``--score-col``); scores may be numbers or ``polite`` / ``neutral`` /
``impolite``. A score with many values is cut at that file's own quartiles (top vs bottom, as
in the paper); a score with two values (a polite/impolite label) is used as the two classes.
Besides the three figures it prints how often the check passes, the share of texts with no
strong marker either way, the figures per community (a ``Community`` column) and which
strategies keep the sign of their fitted weight there.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

import fit_politeness as fp  # noqa: E402
from qa.checks.politeness import DEFAULT_BIAS, DEFAULT_WEIGHTS, FIT, STRONG  # noqa: E402
from qa.conversation import Conversation, Source, Turn  # noqa: E402
from qa.nlp import Analyzer  # noqa: E402
from qa.rubric import default_rubric_path, parse_rubric  # noqa: E402
from qa.score import score_conversations  # noqa: E402

SMOKE_ROWS = 80


def turn_scores(texts: list[str], analyzer, with_matrix: bool = False):
    """The check's per-turn log-odds (bias + Σ weights) with the shipped weights (and the 0/1
    feature matrix, ``fp.FEATURE_NAMES`` columns, with ``with_matrix``)."""
    X = fp.feature_matrix(texts, analyzer)
    w = np.array([DEFAULT_WEIGHTS[n] for n in fp.FEATURE_NAMES])
    z = DEFAULT_BIAS + X @ w
    return (z, X) if with_matrix else z


def check_outcomes(texts: list[str], source: str) -> tuple[np.ndarray, str, float]:
    """1 where the shipped rubric's politeness criterion passes a one-turn agent chat."""
    # only the criterion: the rest of the rubric need not load for this figure
    from ruamel.yaml import YAML

    try:
        data = YAML(typ="safe").load(default_rubric_path().read_text(encoding="utf-8"))
        crit = next(c for c in data["criteria"] if c.get("check") == "politeness")
        crit = {k: v for k, v in crit.items() if k != "examples"}
    except Exception as e:  # the shipped rubric mid-edit: the check's defaults
        print(f"(default rubric unreadable, {type(e).__name__}; using the check's defaults)", file=sys.stderr)
        crit = {"id": "courtesy", "category": "politeness", "check": "politeness", "speaker": "agent"}
    only = parse_rubric(json.dumps({"rubric": "politeness-eval", "criteria": [crit]}))
    convs = [Conversation(id=f"r{i}", channel="chat", agent_id="eval", turns=[Turn(speaker="agent", text=t)],
                          source=Source(path=source, sha256="0" * 64, format="csv"))
             for i, t in enumerate(texts)]
    results = score_conversations(convs, only)
    return (np.array([1 if r.criteria[0].outcome == "pass" else 0 for r in results]), crit["id"],
            float(crit.get("threshold", 0.5)))


def figures(rows: list[dict], q1: float, q3: float, analyzer, *, via_check: bool, source: str) -> dict:
    z_all, X = turn_scores([r["text"] for r in rows], analyzer, with_matrix=True)
    rho = fp.spearman(z_all, np.array([r["score"] for r in rows]))
    keep = [k for k, r in enumerate(rows) if r["score"] >= q3 or r["score"] <= q1]
    y = np.array([1 if rows[k]["score"] >= q3 else 0 for k in keep])
    z = z_all[keep]
    p = 1 / (1 + np.exp(-z))
    out = {"n": len(rows), "n_quartiles": len(keep), "spearman": rho, "auc": fp.roc_auc(y, p),
           "z": z_all, "X": X, "keep": keep, "y": y, "threshold": 0.5}
    if via_check:
        passed, crit_id, threshold = check_outcomes([rows[k]["text"] for k in keep], source)
        # turns with no feature are scored like any other when they are a conversation's only turn
        assert ((p >= threshold) == passed).all(), "the check and the model disagree"
        out.update(accuracy=float((passed == y).mean()), criterion=crit_id, threshold=threshold)
    else:
        out.update(accuracy=float(((p >= 0.5) == y).mean()))
    return out


def line(name: str, f: dict, accuracy: str = "quartile accuracy") -> str:
    return (f"{name}: {accuracy} {f['accuracy']:.1%} (n={f['n_quartiles']}), "
            f"ROC AUC {f['auc']:.3f}, Spearman {f['spearman']:.3f} with the human score (n={f['n']})")


# ---------------------------------------------------------------- another community's corpus
TEXT_COLUMNS = ("Request", "request", "text", "Text", "sentence", "Sentence", "utterance", "message", "comment")
SCORE_COLUMNS = ("Normalized Score", "normalized_score", "score", "Score", "politeness", "Politeness",
                 "label", "Label", "rating", "Rating")
COMMUNITY_COLUMNS = ("Community", "community", "domain", "Domain", "source", "site")
MIN_COMMUNITY = 20
"""Communities with fewer texts are pooled in the per-community figures (too few to mean much)."""
WORD_LABELS = {"polite": 1.0, "neutral": 0.0, "impolite": -1.0}


def load_other(path: Path, text_col: str | None = None, score_col: str | None = None) -> list[dict]:
    """Rows with ``text``, ``score`` and ``community`` from a CSV of human-rated texts; a
    clear error (file, row, column, fix) instead of a traceback when it does not fit."""
    if not path.is_file():
        raise SystemExit(f"{path}: not found (give a CSV of human-rated texts to --other)")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        cols = reader.fieldnames or []

        def pick(given: str | None, names: tuple[str, ...], what: str, flag: str) -> str | None:
            if given:
                if given not in cols:
                    raise SystemExit(f"{path}: no column {given!r} (columns: {', '.join(cols)}); fix {flag}")
                return given
            found = next((c for c in names if c in cols), None)
            if found is None and flag:
                raise SystemExit(f"{path}: no {what} column (looked for {', '.join(names)}; columns: "
                                 f"{', '.join(cols)}); name it with {flag}")
            return found

        tcol = pick(text_col, TEXT_COLUMNS, "text", "--text-col")
        scol = pick(score_col, SCORE_COLUMNS, "score", "--score-col")
        ccol = pick(None, COMMUNITY_COLUMNS, "community", "")
        rows = []
        for line_no, row in enumerate(reader, start=2):
            text = (row.get(tcol) or "").strip()
            raw = (row.get(scol) or "").strip()
            if not text:
                continue
            try:
                score = WORD_LABELS[raw.lower()] if raw.lower() in WORD_LABELS else float(raw)
            except ValueError:
                raise SystemExit(f"{path} line {line_no}, column {scol!r}: {raw!r} is not a score (a number, or "
                                 f"polite / neutral / impolite); fix the row or pick another column with "
                                 f"--score-col") from None
            if score != score:
                raise SystemExit(f"{path} line {line_no}, column {scol!r}: NaN is not a score; fix the row")
            rows.append({"id": str(line_no), "text": text, "score": score,
                         "community": (row.get(ccol) or "").strip() if ccol else ""})
    if len(rows) < 8:
        raise SystemExit(f"{path}: {len(rows)} rated texts; at least 8 are needed for the figures")
    return rows


def classes_of(rows: list[dict]) -> tuple[float, float, str]:
    """(bottom, top) cut-offs: a two-valued score is its own two classes; otherwise the
    file's quartiles (top vs bottom quartile), or above vs below the median when ties make
    the quartiles meet (e.g. a 1-5 rating)."""
    values = sorted({r["score"] for r in rows})
    if len(values) < 2:
        raise SystemExit("the --other file's scores are all the same; nothing to separate")
    if len(values) == 2:
        return values[0], values[1], f"the two labels ({values[0]:g} vs {values[1]:g})"
    q1, q3 = fp.quartiles(rows)
    if q1 < q3:
        return q1, q3, "top vs bottom quartile"
    med = float(np.median([r["score"] for r in rows]))
    below = [v for v in values if v < med]
    above = [v for v in values if v > med]
    if not below or not above:
        raise SystemExit("the --other file's scores do not split around their median")
    return below[-1], above[0], "above vs below the median"


def other_report(rows: list[dict], f: dict) -> list[str]:
    """How often the check passes, marker coverage, figures per community, and which
    strategies keep the sign of their fitted weight in this corpus."""
    z, X, y, keep = f["z"], f["X"], f["y"], f["keep"]
    names = fp.FEATURE_NAMES
    p = 1 / (1 + np.exp(-z))
    strong = [j for j, n in enumerate(names) if abs(DEFAULT_WEIGHTS[n]) >= STRONG]
    out = [f"  the check passes {float((p >= f['threshold']).mean()):.0%} of them; "
           f"{float((X[:, strong].sum(1) == 0).mean()):.0%} show no strong marker either way "
           f"(|weight| >= {STRONG}: they all score near the bias, {DEFAULT_BIAS:+.2f})"]
    comm: dict[str, list[int]] = {}
    for k, r in enumerate(rows):
        comm.setdefault(r.get("community") or "", []).append(k)
    if len(comm) > 1:
        pos = {k: j for j, k in enumerate(keep)}
        ranked = sorted(comm.items(), key=lambda kv: -len(kv[1]))
        groups = [(c or "(none)", idx) for c, idx in ranked if len(idx) >= MIN_COMMUNITY][:6]
        rest = [k for c, idx in ranked if (c or "(none)", idx) not in groups for k in idx]
        if rest:
            groups.append((f"the other {len(ranked) - len(groups)} together", rest))
        parts = []
        for c, idx in groups:
            q = [pos[k] for k in idx if k in pos]
            yq = y[q] if q else np.array([])
            a = fp.roc_auc(yq, z[np.array(keep)[q]]) if q and 0 < yq.sum() < len(yq) else float("nan")
            rho = fp.spearman(z[idx], np.array([rows[k]["score"] for k in idx])) if len(idx) > 2 else float("nan")
            parts.append(f"{c} n={len(idx)} AUC {a:.2f} rho {rho:.2f}")
        out.append(f"  by community (>= {MIN_COMMUNITY} texts, largest first): " + "; ".join(parts))
    score = np.array([r["score"] for r in rows])
    same, flips, tested = 0, [], 0
    for j, n in enumerate(names):
        on = X[:, j] > 0
        w = DEFAULT_WEIGHTS[n]
        if on.sum() < 10 or (~on).sum() < 10 or not w:
            continue
        d = float(score[on].mean() - score[~on].mean())
        tested += 1
        if np.sign(d) == np.sign(w):
            same += 1
        else:
            flips.append(f"{n} {w:+.2f} here {d:+.2f}")
    out.append(f"  strategies that keep the sign of their weight here (mean human score with the "
               f"feature minus without): {same} of {tested} that occur on >= 10 texts"
               + (f"; not: {', '.join(flips)}" if flips else ""))
    return out


SMOKE_CSV = [  # hand-written, in the corpus's columns: a stand-in when the corpus is absent
    ("Thanks so much for the fix! Could you also look at the second table?", 1.5),
    ("Hi, would you mind checking the references when you have a moment?", 1.2),
    ("Sorry to bother you, but I think the date may be wrong. What do you think?", 1.0),
    ("Great work on the article. Would it be possible to add a source?", 1.3),
    ("Why did you remove my edit? Actually it was correct.", -1.4),
    ("So you just deleted it? Are you sure you read the source?", -1.2),
    ("What is this supposed to mean? You keep changing it.", -1.0),
    ("But why would you do that? In fact nobody asked.", -1.5),
    ("Where is the source for this claim?", -0.3),
    ("Can you add the infobox?", 0.2),
    ("I added the table. Is it right?", 0.3),
    ("Did the bot run today?", 0.0),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=fp.DATA)
    ap.add_argument("--other", type=Path, action="append", default=[],
                    help="a corpus from another community in the same CSV columns (repeatable)")
    ap.add_argument("--text-col", help="--other files: the text column (found by name when not given)")
    ap.add_argument("--score-col", help="--other files: the human score column (found by name when not given)")
    ap.add_argument("--smoke", action="store_true",
                    help=f"a tiny run: the first {SMOKE_ROWS} requests (or a built-in dozen when --data is absent)")
    ap.add_argument("--fit", action="store_true", help="refit the weights first (bench/fit_politeness.py --write)")
    args = ap.parse_args()
    t0 = time.perf_counter()

    if args.fit:
        res = fp.fit(fp.load(args.data))
        fp.write_weights(fp.weights_block(res["bias"], res["weights"], res["fit"]))
        print(f"refitted and written to qa/checks/politeness.py (CV accuracy {res['fit']['cv_accuracy']:.1%}); "
              "run again without --fit for the figures")
        return

    tmp = None
    data = args.data
    if not data.exists():
        if not args.smoke:
            raise SystemExit(f"{data}: not found (the Stanford Politeness Corpus, see ../shared/data/README.md)")
        tmp = tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, newline="", encoding="utf-8")
        w = csv.writer(tmp)
        w.writerow(["Community", "Id", "Request", "Normalized Score"])
        w.writerows(["smoke", str(k), t, s] for k, (t, s) in enumerate(SMOKE_CSV))
        tmp.close()
        data = Path(tmp.name)
    rows = fp.load(data)
    if args.smoke:
        rows = rows[:SMOKE_ROWS]
    seed, share = FIT.get("seed", fp.SEED), FIT.get("train_share", fp.TRAIN_SHARE)
    train, test = fp.split(rows, seed, share)
    if not train or not test:  # a tiny smoke file can land on one side
        train, test = rows[: len(rows) * 3 // 4], rows[len(rows) * 3 // 4:]
    q1, q3 = fp.quartiles(train)
    print(f"{data.name}: {len(rows)} requests; {fp.describe_split(seed, share)}: "
          f"{len(train)} train, {len(test)} held out; quartiles from the training split: "
          f"bottom <= {q1:.3f}, top >= {q3:.3f}")
    print(f"weights: {len(DEFAULT_WEIGHTS)} features fitted on {FIT.get('n_train', '?')} training requests "
          f"(5-fold CV accuracy there {FIT.get('cv_accuracy', float('nan')):.1%})")
    analyzer = Analyzer(None)
    print(line("train   ", figures(train, q1, q3, analyzer, via_check=False, source=str(data))))
    f = figures(test, q1, q3, analyzer, via_check=True, source=str(data))
    print(line(f"held out (the `{f['criterion']}` check's pass/fail)", f))
    for other in args.other:
        orows = load_other(other, args.text_col, args.score_col)
        if args.smoke:
            orows = orows[:SMOKE_ROWS]
        oq1, oq3, how = classes_of(orows)
        of = figures(orows, oq1, oq3, analyzer, via_check=True, source=str(other))
        acc = {"top vs bottom quartile": "quartile accuracy"}.get(how, "accuracy")
        print(line(f"{other.name} (another community, all held out; {how})", of, acc))
        for extra in other_report(orows, of):
            print(extra)
    print("reference: the paper's classifier ~83% in-domain on Wikipedia, ~68% trained on Wikipedia and "
          "tested on Stack Exchange; humans agree ~86%")
    if tmp is not None:
        Path(tmp.name).unlink()
    print(f"{time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
