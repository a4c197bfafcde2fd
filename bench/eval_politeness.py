"""How well the `politeness` check separates polite from impolite requests.

    .venv/bin/python bench/eval_politeness.py
    .venv/bin/python bench/eval_politeness.py --fit    # also refit the weights on the training split

Data: the Stanford Politeness Corpus, Wikipedia requests (../shared/data/politeness/
wikipedia.annotated.csv, 4,353 requests, each rated by 5 people). As in the paper that
released it (Danescu-Niculescu-Mizil et al., 2013), the task is to tell the top quartile of
human politeness scores from the bottom quartile. Each request is scored as a one-turn
agent message by the `politeness` check of the shipped rubric (criterion `courtesy`).

The split is fixed (seed 13): 70% of the quartile requests to fit weights on, 30% held
out. Figures are on the held-out 30%: accuracy of the check's pass/fail (pass = polite)
and ROC AUC of the politeness score. The shipped weights (qa/checks/politeness.py) are the
ones `--fit` prints, fitted on the training split only.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from qa.checks.politeness import DEFAULT_BIAS, DEFAULT_WEIGHTS, FEATURES, PolitenessModel  # noqa: E402
from qa.conversation import Conversation, Source, Turn  # noqa: E402
from qa.nlp import Analyzer  # noqa: E402
from qa.rubric import load_rubric, parse_rubric  # noqa: E402
from qa.score import score_conversations  # noqa: E402

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "politeness" / "wikipedia.annotated.csv"


def load(path: Path) -> list[tuple[str, float]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [(row["Request"], float(row["Normalized Score"])) for row in csv.DictReader(fh)]


def quartile_split(rows, seed: int = 13, train_share: float = 0.7):
    scores = np.array([s for _, s in rows])
    q1, q3 = np.quantile(scores, [0.25, 0.75])
    data = [(t, 1) for t, s in rows if s >= q3] + [(t, 0) for t, s in rows if s <= q1]
    rng = random.Random(seed)
    rng.shuffle(data)
    n = int(len(data) * train_share)
    return data[:n], data[n:], (q1, q3)


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Probability that a random polite request scores above a random impolite one."""
    order = np.argsort(p, kind="mergesort")
    ranks = np.empty(len(p))
    sp = p[order]
    i = 0
    while i < len(sp):  # average ranks for ties
        j = i
        while j + 1 < len(sp) and sp[j + 1] == sp[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    n1 = y.sum()
    n0 = len(y) - n1
    return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def fit_logistic(X: np.ndarray, y: np.ndarray, l2: float = 1.0, iters: int = 50) -> np.ndarray:
    """Newton-Raphson logistic regression with an L2 penalty (not on the bias)."""
    Xb = np.hstack([np.ones((len(X), 1)), X])
    w = np.zeros(Xb.shape[1])
    reg = np.full(Xb.shape[1], l2)
    reg[0] = 0.0
    for _ in range(iters):
        p = 1 / (1 + np.exp(-Xb @ w))
        grad = Xb.T @ (p - y) + reg * w
        H = (Xb * (p * (1 - p))[:, None]).T @ Xb + np.diag(reg)
        step = np.linalg.solve(H, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--fit", action="store_true", help="refit the weights on the training split and print them")
    args = ap.parse_args()

    t0 = time.perf_counter()
    rows = load(args.data)
    train, test, (q1, q3) = quartile_split(rows)
    print(f"{len(rows)} requests; bottom quartile <= {q1:.3f}, top quartile >= {q3:.3f}; "
          f"{len(train)} to fit on, {len(test)} held out")

    analyzer = Analyzer(None)
    names = list(FEATURES)

    def features(items) -> np.ndarray:
        cnlp = analyzer.analyze_texts([t for t, _ in items])
        model = PolitenessModel(analyzer)
        found = model.features(cnlp, list(range(len(items))))
        return np.array([[1.0 if n in found[i] else 0.0 for n in names] for i in range(len(items))])

    X_train, X_test = features(train), features(test)
    y_train = np.array([y for _, y in train])
    y_test = np.array([y for _, y in test])

    if args.fit:
        w = fit_logistic(X_train, y_train)
        fitted = {n: round(float(v), 2) for n, v in zip(names, w[1:])}
        print("fitted on the training split:")
        print(f"DEFAULT_BIAS = {round(float(w[0]), 2)}")
        print("DEFAULT_WEIGHTS.update(" + json.dumps(fitted) + ")")
        folds = np.arange(len(y_train)) % 5
        cv = []
        for k in range(5):
            wk = fit_logistic(X_train[folds != k], y_train[folds != k])
            pk = 1 / (1 + np.exp(-(wk[0] + X_train[folds == k] @ wk[1:])))
            cv.append(((pk >= 0.5) == y_train[folds == k]).mean())
        print(f"  5-fold cross-validation on the training split: accuracy {np.mean(cv):.1%}")
        p = 1 / (1 + np.exp(-(w[0] + X_test @ w[1:])))
        print(f"  refitted weights, held out: accuracy {((p >= 0.5) == y_test).mean():.1%}, "
              f"ROC AUC {roc_auc(y_test, p):.3f}")

    # the shipped check, as users run it: one-turn agent conversations, the default rubric's criterion
    rubric = load_rubric()
    courtesy = next(c for c in rubric.data["criteria"] if c["check"] == "politeness")
    only = parse_rubric(json.dumps({"rubric": "politeness-eval", "criteria": [courtesy]}))
    convs = [Conversation(id=f"r{i}", channel="chat", agent_id="wiki", turns=[Turn(speaker="agent", text=t)],
                          source=Source(path=str(args.data), sha256="0" * 64, format="csv"))
             for i, (t, _) in enumerate(test)]
    results = score_conversations(convs, only)
    outcomes = np.array([1 if r.criteria[0].outcome == "pass" else 0 for r in results])
    w = np.array([DEFAULT_WEIGHTS[n] for n in names])
    p = 1 / (1 + np.exp(-(DEFAULT_BIAS + X_test @ w)))
    assert ((p >= courtesy.get("threshold", 0.5)) == outcomes).all(), "check and model disagree"
    acc = (outcomes == y_test).mean()
    auc = roc_auc(y_test, p)
    print(f"shipped `politeness` check (criterion '{courtesy['id']}'), held-out split: "
          f"accuracy {acc:.1%}, ROC AUC {auc:.3f}  (n={len(test)}; paper's classifier ~83%, humans ~86%)")
    print(f"{time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
