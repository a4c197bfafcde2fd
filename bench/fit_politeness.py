"""Fit the `politeness` check's feature weights on the training split, reproducibly.

    .venv/bin/python bench/fit_politeness.py            # fit, print weights and figures
    .venv/bin/python bench/fit_politeness.py --write    # ... and write them into qa/checks/politeness.py
    .venv/bin/python bench/fit_politeness.py --smoke    # 400 requests, nothing written (the tests)

Data: the Stanford Politeness Corpus, Wikipedia requests (../shared/data/politeness/
wikipedia.annotated.csv: 4,353 requests, each rated by 5 people, `Normalized Score`).

Split: by request id, seeded (``split_of``: sha256 of "<seed>:<Id>", the first 75% of the
hash range trains, the rest is held out), so a request's side never depends on file order
and the held-out split is never seen while fitting. As in Danescu-Niculescu-Mizil et al.
(2013), the labels are the top quartile (polite) and the bottom quartile (impolite) of the
human score; the quartile cut-offs come from the training split.

Model: L2-penalised logistic regression (Newton's method, numpy only) on binary features
(``PolitenessModel.features``: does the request show the feature?), with the "please"
features held at >= 0 (``NONNEGATIVE``). The penalty is chosen by 5-fold cross-validation
on the training split. No scikit-learn needed.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "politeness" / "wikipedia.annotated.csv"
MODULE = ROOT / "qa" / "checks" / "politeness.py"
SEED = 2013
TRAIN_SHARE = 0.75
L2_GRID = (0.3, 1.0, 3.0, 10.0)
# Weights held at >= 0. On Wikipedia "please" opening a sentence fits negative because it
# marks an order ("Please stop removing …") and the model has no feature for orders; a
# negative weight would tell an agent that adding "please" to a request makes it ruder.
NONNEGATIVE = ("please", "please_start")


# ---------------------------------------------------------------- data and split
def load(path: Path) -> list[dict]:
    """Rows with ``id``, ``text``, ``score`` (the corpus's Normalized Score)."""
    with open(path, newline="", encoding="utf-8") as fh:
        return [{"id": row["Id"], "text": row["Request"], "score": float(row["Normalized Score"])}
                for row in csv.DictReader(fh)]


def split_of(request_id: str, seed: int = SEED, train_share: float = TRAIN_SHARE) -> str:
    h = int(hashlib.sha256(f"{seed}:{request_id}".encode()).hexdigest()[:12], 16) / 16 ** 12
    return "train" if h < train_share else "held-out"


def split(rows: list[dict], seed: int = SEED, train_share: float = TRAIN_SHARE) -> tuple[list[dict], list[dict]]:
    train = [r for r in rows if split_of(r["id"], seed, train_share) == "train"]
    test = [r for r in rows if split_of(r["id"], seed, train_share) != "train"]
    return train, test


def quartiles(rows: list[dict]) -> tuple[float, float]:
    q1, q3 = np.quantile([r["score"] for r in rows], [0.25, 0.75])
    return float(q1), float(q3)


def labelled(rows: list[dict], q1: float, q3: float) -> list[tuple[dict, int]]:
    """The top (1) and bottom (0) quartile requests."""
    return [(r, 1) for r in rows if r["score"] >= q3] + [(r, 0) for r in rows if r["score"] <= q1]


def describe_split(seed: int = SEED, train_share: float = TRAIN_SHARE) -> str:
    return (f"split by request id: sha256('{seed}:<Id>') in the first {train_share:.0%} of the hash "
            f"range trains, the rest is held out")


# ---------------------------------------------------------------- features and statistics
FEATURE_NAMES: list[str] = []


def feature_matrix(texts: list[str], analyzer=None) -> np.ndarray:
    """One row per text, one 0/1 column per feature (``FEATURE_NAMES`` order)."""
    from qa.checks.politeness import FEATURES, PolitenessModel
    from qa.nlp import Analyzer

    FEATURE_NAMES[:] = list(FEATURES)
    analyzer = analyzer or Analyzer(None)
    cnlp = analyzer.analyze_texts(texts)
    found = PolitenessModel(analyzer).features(cnlp, list(range(len(texts))))
    return np.array([[1.0 if n in found[i] else 0.0 for n in FEATURE_NAMES] for i in range(len(texts))])


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def fit_logistic(X: np.ndarray, y: np.ndarray, l2: float = 1.0, iters: int = 100) -> np.ndarray:
    """Newton-Raphson logistic regression with an L2 penalty (not on the bias); [bias, w...]."""
    Xb = np.hstack([np.ones((len(X), 1)), X])
    w = np.zeros(Xb.shape[1])
    reg = np.full(Xb.shape[1], l2)
    reg[0] = 0.0
    for _ in range(iters):
        p = sigmoid(Xb @ w)
        grad = Xb.T @ (p - y) + reg * w
        H = (Xb * (p * (1 - p))[:, None]).T @ Xb + np.diag(reg) + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(H, grad)
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    return w


def rank(v: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties averaged."""
    order = np.argsort(v, kind="mergesort")
    ranks = np.empty(len(v))
    sv = v[order]
    i = 0
    while i < len(sv):
        j = i
        while j + 1 < len(sv) and sv[j + 1] == sv[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = rank(np.asarray(a, float)), rank(np.asarray(b, float))
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Probability that a random polite request scores above a random impolite one."""
    r = rank(np.asarray(p, float))
    n1 = y.sum()
    n0 = len(y) - n1
    if not n1 or not n0:
        return float("nan")
    return float((r[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def fit_constrained(X: np.ndarray, y: np.ndarray, l2: float) -> np.ndarray:
    """``fit_logistic`` with the ``NONNEGATIVE`` features' weights held at >= 0 (a feature
    that fits negative is set to 0 and the rest refitted without it, until none does)."""
    fixed: set[int] = set()
    while True:
        keep = [j for j in range(X.shape[1]) if j not in fixed]
        wk = fit_logistic(X[:, keep], y, l2)
        w = np.zeros(X.shape[1] + 1)
        w[0] = wk[0]
        w[[j + 1 for j in keep]] = wk[1:]
        bad = [j for j in keep if FEATURE_NAMES[j] in NONNEGATIVE and w[j + 1] < 0]
        if not bad:
            return w
        fixed.add(min(bad, key=lambda j: w[j + 1]))


def cross_validate(X: np.ndarray, y: np.ndarray, l2: float, k: int = 5) -> float:
    folds = np.arange(len(y)) % k
    acc = []
    for f in range(k):
        w = fit_constrained(X[folds != f], y[folds != f], l2)
        p = sigmoid(w[0] + X[folds == f] @ w[1:])
        acc.append(((p >= 0.5) == y[folds == f]).mean())
    return float(np.mean(acc))


# ---------------------------------------------------------------- writing the weights
def weights_block(bias: float, weights: dict[str, float], fit: dict) -> str:
    lines = ["# ---- fitted weights (written by bench/fit_politeness.py; do not edit by hand) ----",
             f"# {fit['split']};",
             "# fitted on the training split's top/bottom quartiles",
             f"# (n={fit['n_train']}), L2 penalty {fit['l2']} chosen by 5-fold cross-validation;",
             f"# held at >= 0: {', '.join(NONNEGATIVE)}.",
             "FIT = {"] + [f"    {json.dumps(k)}: {json.dumps(v)}," for k, v in fit.items()] + [
             "}",
             f"DEFAULT_BIAS = {bias}",
             "DEFAULT_WEIGHTS: dict[str, float] = {"]
    items = [f'"{k}": {v}' for k, v in weights.items()]
    line = "   "
    for it in items:
        if len(line) + len(it) + 2 > 100:
            lines.append(line.rstrip())
            line = "   "
        line += f" {it},"
    lines.append(line.rstrip())
    lines += ["}", "# ---- end of fitted weights ----"]
    return "\n".join(lines)


def write_weights(block: str, path: Path = MODULE) -> None:
    src = path.read_text(encoding="utf-8")
    pat = re.compile(r"# ---- fitted weights .*?# ---- end of fitted weights ----", re.S)
    if not pat.search(src):
        raise SystemExit(f"{path}: no fitted-weights markers")
    path.write_text(pat.sub(lambda _: block, src, count=1), encoding="utf-8")


# ---------------------------------------------------------------- main
def fit(rows: list[dict], seed: int = SEED, train_share: float = TRAIN_SHARE, analyzer=None) -> dict:
    train, test = split(rows, seed, train_share)
    q1, q3 = quartiles(train)
    lab = labelled(train, q1, q3)
    X = feature_matrix([r["text"] for r, _ in lab], analyzer)
    y = np.array([yy for _, yy in lab], float)
    cv = {l2: cross_validate(X, y, l2) for l2 in L2_GRID}
    l2 = max(cv, key=lambda k: (round(cv[k], 4), k))
    w = fit_constrained(X, y, l2)
    return {"bias": round(float(w[0]), 2),
            "weights": {n: round(float(v), 2) for n, v in zip(FEATURE_NAMES, w[1:])},
            "fit": {"split": describe_split(seed, train_share), "seed": seed, "train_share": train_share,
                    "n_train": len(lab), "l2": l2, "cv_accuracy": round(cv[l2], 4),
                    "quartiles": [round(q1, 4), round(q3, 4)]},
            "cv": cv, "n_rows": len(rows), "n_train_rows": len(train), "n_test_rows": len(test)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--write", action="store_true", help=f"write the weights into {MODULE.relative_to(ROOT)}")
    ap.add_argument("--smoke", action="store_true",
                    help="the first 400 requests (or eval_politeness.py's hand-written stand-ins when the "
                         "corpus is absent), never written: the script runs (for the tests)")
    args = ap.parse_args()
    if args.smoke and args.write:
        ap.error("--smoke fits on a few rows: it never writes the weights")
    if args.smoke and not args.data.exists():
        sys.path.insert(0, str(ROOT / "bench"))
        from eval_politeness import SMOKE_CSV

        rows = [{"id": f"smoke-{r}-{k}", "text": t, "score": s}
                for r in range(4) for k, (t, s) in enumerate(SMOKE_CSV)]
    elif not args.data.exists():
        raise SystemExit(f"{args.data}: not found (the Stanford Politeness Corpus, see ../shared/data/README.md)")
    else:
        rows = load(args.data)[:400] if args.smoke else load(args.data)
    t0 = time.perf_counter()
    res = fit(rows, args.seed)
    f = res["fit"]
    print(f"{res['n_rows']} requests; {f['split']}: {res['n_train_rows']} train, {res['n_test_rows']} held out")
    print(f"training quartiles: bottom <= {f['quartiles'][0]}, top >= {f['quartiles'][1]}; "
          f"{f['n_train']} labelled training requests")
    print("5-fold CV accuracy on the training split by L2 penalty: "
          + ", ".join(f"{k}: {v:.1%}" for k, v in res["cv"].items()) + f"  -> {f['l2']}")
    print(f"bias {res['bias']:+.2f}")
    for n, v in sorted(res["weights"].items(), key=lambda kv: -kv[1]):
        print(f"  {n:22s} {v:+.2f}")
    block = weights_block(res["bias"], res["weights"], f)
    if args.write:
        write_weights(block)
        print(f"written to {MODULE.relative_to(ROOT)}; held-out figures: .venv/bin/python bench/eval_politeness.py")
    else:
        print("(not written; --write to update the module)")
    print(f"{time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
