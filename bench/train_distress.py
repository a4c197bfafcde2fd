"""Train the customer-distress model that ships in qa/models/distress.json.gz.

NB-weighted logistic regression (scikit-learn, only here: ``pip install -e ".[train]"``) over the
features of :func:`qa.affect.features` (words, word pairs, negation-marked words,
L2-normalised), :func:`qa.affect.char_features` (3-5 character n-grams inside words,
L2-normalised as their own block) and :func:`qa.affect.dense_features` (VADER shares, counts,
the rule layer's strength per kind), on the GoEmotions TRAIN split only, label = any
emotion of the paper's negative group.

The regularisation C, the fit (unweighted, class-balanced, or their average: see
:data:`VARIANTS`) and the decision shift are chosen by 5-fold cross-validation on the
training split (the shift on the out-of-fold scores combined with the rule layer exactly as
at run time, ``max(rules, model)``): the largest F1 whose precision is at least
--min-precision. The dev split is never read here.

    .venv/bin/python bench/train_distress.py            # writes qa/models/distress.json.gz
    .venv/bin/python bench/train_distress.py --smoke    # 2,000 comments, writes to a temp file
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa import affect  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "emotions"
NEGATIVE = {
    "anger", "annoyance", "disappointment", "disapproval", "disgust", "embarrassment",
    "fear", "grief", "nervousness", "remorse", "sadness",
}
DENSE = ["vader_neg", "vader_pos", "vader_compound", "vader_negative", "vader_min", "n_neg",
         "n_pos", "neg_pos", "is_question", "exclaims", "short", "rules"] + [
         "rule_" + k for k in affect.RULE_KINDS]
SEED = 13


def read_split(path: Path, names: list[str]) -> tuple[list[str], np.ndarray]:
    texts, ys = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) < 2:
            continue
        ids = [int(x) for x in parts[1].split(",") if x.strip()]
        texts.append(parts[0])
        ys.append(1 if any(names[i] in NEGATIVE for i in ids) else 0)
    return texts, np.array(ys, dtype=np.int8)


def featurize(texts: list[str]):
    """Per text: (word-feature list, char-feature list), dense vector, rule strength,
    question flag."""
    feats, dense, rules, quest = [], [], [], []
    for t in texts:
        toks = affect.tokenize(t)
        feats.append(([f for f, _ in affect.features(toks)], [g for g, _ in affect.char_features(toks)]))
        vs = affect.vader_scores(t, toks)
        cues = affect.rule_cues(t)
        r = 1.0
        for c in cues:
            r *= 1.0 - c.weight
        rules.append(1.0 - r)
        d = affect.dense_features(vs, toks, 1.0 - r, cues)
        dense.append([d[k] for k in DENSE])
        quest.append(affect.is_question(t))
    return feats, np.array(dense), np.array(rules), np.array(quest)


def build_matrix(feats, dense, vocabs):
    """Columns: the word block, the char block (each row of each block scaled by
    1/sqrt(its feature count), as :func:`qa.affect._model_logit` does), the dense block."""
    from scipy.sparse import csr_matrix, hstack

    mats = []
    for b, vocab in enumerate(vocabs):
        rows, cols, vals = [], [], []
        for r, pair in enumerate(feats):
            fs = pair[b]
            if not fs:
                continue
            v = 1.0 / np.sqrt(len(fs))
            for f in fs:
                j = vocab.get(f)
                if j is not None:
                    rows.append(r)
                    cols.append(j)
                    vals.append(v)
        X = csr_matrix((vals, (rows, cols)), shape=(len(feats), len(vocab)))
        X.sum_duplicates()
        mats.append(X)
    return hstack(mats + [csr_matrix(dense)]).tocsr()


def nb_ratios(X, y, n_sparse: int, alpha: float = 1.0) -> np.ndarray:
    """NB-LR (Wang & Manning 2012): scale each sparse feature by its log-count ratio
    between the classes; dense features keep scale 1. Folded into the exported weights."""
    B = (X[:, :n_sparse] > 0).astype(np.float64)
    p = alpha + np.asarray(B[y == 1].sum(0)).ravel()
    q = alpha + np.asarray(B[y == 0].sum(0)).ravel()
    r = np.ones(X.shape[1])
    r[:n_sparse] = np.log((p / p.sum()) / (q / q.sum()))
    return r


VARIANTS = ("plain", "balanced", "average")
"""Fits compared by cross-validation: unweighted classes, balanced class weights, and the
average of the two (one linear model: its weights are the mean of theirs)."""


def fit(X, y, n_sparse, C) -> dict[str, tuple[np.ndarray, float]]:
    """``variant -> (weights, intercept)`` for each of :data:`VARIANTS`."""
    from scipy.sparse import diags
    from sklearn.linear_model import LogisticRegression

    r = nb_ratios(X, y, n_sparse)
    Xr = X @ diags(r)
    out = {}
    for name, cw in (("plain", None), ("balanced", "balanced")):
        clf = LogisticRegression(C=C, max_iter=3000, solver="liblinear", random_state=SEED,
                                 class_weight=cw)
        clf.fit(Xr, y)
        out[name] = (clf.coef_[0] * r, float(clf.intercept_[0]))
    out["average"] = ((out["plain"][0] + out["balanced"][0]) / 2,
                      (out["plain"][1] + out["balanced"][1]) / 2)
    return out


def make_vocab(feats, min_df: int) -> list[dict[str, int]]:
    """One vocabulary per block (words, chars): features seen in at least min_df texts."""
    out = []
    for b in (0, 1):
        df: dict[str, int] = {}
        for pair in feats:
            for f in set(pair[b]):
                df[f] = df.get(f, 0) + 1
        keep = sorted(f for f, n in df.items() if n >= min_df)
        out.append({f: i for i, f in enumerate(keep)})
    return out


def prf(y, pred):
    tp = int(((pred == 1) & (y == 1)).sum())
    fp = int(((pred == 1) & (y == 0)).sum())
    fn = int(((pred == 0) & (y == 1)).sum())
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def combined(z, rules, quest, shift):
    zz = z - shift - np.where(quest & (rules <= 0), affect.QUESTION_DAMPING, 0.0)
    p = 1.0 / (1.0 + np.exp(-zz))
    return np.maximum(rules, p)


def choose_shift(z, rules, quest, y, min_precision):
    best = None
    for shift in np.arange(-3.0, 3.01, 0.05):
        pred = (combined(z, rules, quest, shift) >= affect.THRESHOLD).astype(np.int8)
        p, r, f = prf(y, pred)
        ok = p >= min_precision
        key = (ok, f if ok else p)
        if best is None or key > best[0]:
            best = (key, float(round(shift, 2)), p, r, f)
    return best[1:]


def oof_logits(feats, dense, y, C, folds, min_df):
    from sklearn.model_selection import StratifiedKFold

    z = {v: np.zeros(len(y)) for v in VARIANTS}
    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=SEED)
    for tr, te in skf.split(np.zeros(len(y)), y):
        vocabs = make_vocab([feats[i] for i in tr], min_df)
        Xtr = build_matrix([feats[i] for i in tr], dense[tr], vocabs)
        Xte = build_matrix([feats[i] for i in te], dense[te], vocabs)
        for v, (coef, b0) in fit(Xtr, y[tr], sum(map(len, vocabs)), C).items():
            z[v][te] = Xte @ coef + b0
    return z


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="2,000 comments, 2 folds, temp output")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--out", type=Path, default=ROOT / "qa" / "models" / affect.MODEL_RESOURCE)
    ap.add_argument("--C", type=float, nargs="*", default=[2.0])
    ap.add_argument("--min-df", type=int, default=2)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--min-precision", type=float, default=0.62)
    args = ap.parse_args(argv)

    names = (args.data / "goemotions_labels.txt").read_text().split()
    texts, y = read_split(args.data / "goemotions_train.tsv", names)
    if args.smoke:
        rng = np.random.default_rng(SEED)
        idx = rng.choice(len(texts), size=min(2000, len(texts)), replace=False)
        texts, y = [texts[i] for i in idx], y[idx]
        args.folds, args.C = 2, args.C[:1]
        if args.out == ROOT / "qa" / "models" / affect.MODEL_RESOURCE:
            args.out = Path(tempfile.mkdtemp()) / affect.MODEL_RESOURCE
    t0 = time.perf_counter()
    feats, dense, rules, quest = featurize(texts)
    print(f"train: {len(texts)} comments, {int(y.sum())} negative ({y.mean():.1%}); "
          f"featurised in {time.perf_counter() - t0:.1f}s")

    rp, rr, rf = prf(y, (rules >= affect.THRESHOLD).astype(np.int8))
    print(f"  rules alone: P {rp:.3f} R {rr:.3f} F1 {rf:.3f}")
    best = None
    for C in args.C:
        zs = oof_logits(feats, dense, y, C, args.folds, args.min_df)
        for v in VARIANTS:
            shift, p, r, f = choose_shift(zs[v], rules, quest, y, args.min_precision)
            print(f"  C={C:<5} {v:9} {args.folds}-fold CV (rules + model, shift {shift:+.2f}): "
                  f"P {p:.3f} R {r:.3f} F1 {f:.4f}")
            if best is None or f > best[0]:
                best = (f, C, v, shift, p, r)
    f, C, variant, shift, p, r = best

    vw, vc = make_vocab(feats, args.min_df)
    X = build_matrix(feats, dense, [vw, vc])
    coef, intercept = fit(X, y, len(vw) + len(vc), C)[variant]
    weights = {f_: round(float(coef[i]), 4) for f_, i in vw.items() if abs(coef[i]) >= 0.005}
    chars = {f_: round(float(coef[len(vw) + i]), 4) for f_, i in vc.items()
             if abs(coef[len(vw) + i]) >= 0.005}
    n_sparse = len(vw) + len(vc)
    dense_w = {k: round(float(coef[n_sparse + j]), 4) for j, k in enumerate(DENSE)}
    model = {
        "weights": weights,
        "chars": chars,
        "dense": dense_w,
        "intercept": round(intercept, 4),
        "shift": shift,
        "meta": {
            "trained_on": "GoEmotions train split (negative group)",
            "n_train": len(texts), "C": C, "class_weight": variant, "min_df": args.min_df, "folds": args.folds,
            "cv_precision": round(p, 4), "cv_recall": round(r, 4), "cv_f1": round(f, 4),
            "min_precision": args.min_precision, "seed": SEED, "smoke": args.smoke,
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    blob = json.dumps(model, sort_keys=True, separators=(",", ":")).encode("utf-8")
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_bytes(gzip.compress(blob, mtime=0))
    tmp.replace(args.out)  # atomic: a test or run reading the model never sees half a file
    print(f"chosen: C={C}, {variant} fit, shift {shift:+.2f} (threshold: distress >= {affect.THRESHOLD}); "
          f"CV P {p:.3f} R {r:.3f} F1 {f:.3f}")
    print(f"wrote {args.out} ({len(weights)} word and {len(chars)} character weights, {args.out.stat().st_size / 1e6:.2f} MB) "
          f"in {time.perf_counter() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
