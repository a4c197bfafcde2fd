"""Calibrate: how well the rubric's automatic outcomes agree with a human grader's answers.

``qa calibrate OUT --grades grades.csv`` reads the results of ``qa score`` and a grades file
(one row per graded conversation), maps each grades column to a criterion (or a category
score), and measures agreement: percent agreement, Cohen's kappa and the confusion counts
per criterion, Spearman's correlation and the mean absolute difference per category, and
every disagreement with qa's reason and quote.

The statistics are plain functions over sequences of labels or numbers, with no
dependency beyond the standard library, so a benchmark can import them:

>>> cohen_kappa(["pass", "fail", "pass", "fail"], ["pass", "fail", "fail", "fail"])
0.5
>>> cohen_kappa(["pass", "pass"], ["pass", "pass"]) is None   # one class: undefined
True
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

# ---------------------------------------------------------------- statistics


def _pairs(a: Sequence, b: Sequence) -> list[tuple]:
    if len(a) != len(b):
        raise ValueError(f"the two sequences differ in length ({len(a)} and {len(b)})")
    return list(zip(a, b))


def percent_agreement(a: Sequence, b: Sequence) -> float | None:
    """Share of positions where ``a`` and ``b`` hold the same label, 0..1 (None when empty)."""
    pairs = _pairs(a, b)
    if not pairs:
        return None
    return sum(x == y for x, y in pairs) / len(pairs)


def cohen_kappa(a: Sequence, b: Sequence) -> float | None:
    """Cohen's kappa between two raters' labels: ``(po - pe) / (1 - pe)``.

    ``po`` is the observed agreement, ``pe`` the agreement expected by chance from each
    rater's own label frequencies. Returns None (undefined) when either rater used a single
    class, or when there is nothing to compare: then agreement says nothing beyond chance,
    and a kappa of 1.0 or 0.0 would mislead.
    """
    pairs = _pairs(a, b)
    n = len(pairs)
    if n == 0:
        return None
    ca = Counter(x for x, _ in pairs)
    cb = Counter(y for _, y in pairs)
    if len(ca) < 2 or len(cb) < 2:
        return None
    po = sum(x == y for x, y in pairs) / n
    pe = sum(ca[k] * cb.get(k, 0) for k in ca) / (n * n)
    if pe >= 1.0:  # pragma: no cover - impossible with two classes on each side
        return None
    return (po - pe) / (1.0 - pe)


def confusion(a: Sequence, b: Sequence, labels: Sequence[Hashable] | None = None
              ) -> dict[Hashable, dict[Hashable, int]]:
    """Confusion counts: ``result[label_a][label_b]`` = positions where ``a`` said
    ``label_a`` and ``b`` said ``label_b``. Every label in ``labels`` (default: the labels
    seen, sorted) has a row and a column, zeros included."""
    pairs = _pairs(a, b)
    if labels is None:
        labels = sorted({x for p in pairs for x in p}, key=str)
    table: dict[Hashable, dict[Hashable, int]] = {x: {y: 0 for y in labels} for x in labels}
    for x, y in pairs:
        if x not in table or y not in table[x]:
            raise ValueError(f"label {x!r} or {y!r} is not one of {list(labels)}")
        table[x][y] += 1
    return table


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties given the mean of the ranks they span (as Spearman needs)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        mean_rank = (i + j) / 2 + 1
        for k in range(i, j + 1):
            out[order[k]] = mean_rank
        i = j + 1
    return out


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson's correlation; None when fewer than 2 pairs or either side is constant."""
    pairs = _pairs(x, y)
    n = len(pairs)
    if n < 2:
        return None
    mx = sum(p[0] for p in pairs) / n
    my = sum(p[1] for p in pairs) / n
    sxy = sum((p[0] - mx) * (p[1] - my) for p in pairs)
    sxx = sum((p[0] - mx) ** 2 for p in pairs)
    syy = sum((p[1] - my) ** 2 for p in pairs)
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rank correlation (Pearson's on the ranks, ties averaged); None when
    fewer than 2 pairs or either side is constant."""
    _pairs(x, y)
    if len(x) < 2:
        return None
    return pearson(ranks(list(x)), ranks(list(y)))


def mean_abs_diff(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Mean absolute difference; None when empty."""
    pairs = _pairs(x, y)
    if not pairs:
        return None
    return sum(abs(p - q) for p, q in pairs) / len(pairs)


def krippendorff_alpha(units: Sequence[Sequence[Hashable]]) -> float | None:
    """Krippendorff's alpha for nominal labels.

    ``units`` holds, per rated item, the labels its raters gave (any number of raters per
    item; items with fewer than two labels are left out, as the method says). Returns None
    when fewer than two pairable labels remain or only one label value occurs.
    """
    coincidence: Counter = Counter()
    for labels in units:
        m = len(labels)
        if m < 2:
            continue
        counts = Counter(labels)
        for c in counts:
            for k in counts:
                pairs = counts[c] * (counts[k] - (1 if c == k else 0))
                if pairs:
                    coincidence[(c, k)] += pairs / (m - 1)
    n = sum(coincidence.values())
    if n < 2:
        return None
    marg: Counter = Counter()
    for (c, _), v in coincidence.items():
        marg[c] += v
    if len(marg) < 2:
        return None
    observed = sum(v for (c, k), v in coincidence.items() if c != k)
    expected = sum(marg[c] * marg[k] for c in marg for k in marg if c != k) / (n - 1)
    if expected == 0:  # pragma: no cover - needs a single value, handled above
        return None
    return 1.0 - observed / expected


def landis_koch(kappa: float | None) -> str:
    """The usual verbal band of a kappa (Landis & Koch, 1977)."""
    if kappa is None:
        return "undefined"
    if kappa < 0:
        return "poor"
    if kappa <= 0.20:
        return "slight"
    if kappa <= 0.40:
        return "fair"
    if kappa <= 0.60:
        return "moderate"
    if kappa <= 0.80:
        return "substantial"
    return "almost perfect"


# ---------------------------------------------------------------- the label mapping

Kind = Literal["outcome", "inverted", "applies", "rating", "seconds"]
"""How a grades column compares with qa's results:

* ``outcome``: 1/pass = the criterion passes, 0/fail = it fails, na = it does not apply;
* ``inverted``: 1 = the criterion FAILS (``profanity=1`` means ``no_profanity`` fails);
* ``applies``: 1 = the criterion applies (qa's outcome is not ``na``), 0 = it does not;
* ``rating``: a 1-5 or 0-100 rating compared with a category score (or ``overall``);
* ``seconds``: a measured time compared with a timing criterion's ``target_s``
  (at or under the target = pass).
"""

KINDS: tuple[str, ...] = ("outcome", "inverted", "applies", "rating", "seconds")


@dataclass(frozen=True)
class Target:
    """What one grades column is compared with."""

    label: str
    """The grades column."""
    kind: str
    """One of :data:`KINDS`."""
    criterion: str
    """A criterion id; for ``rating``, a category id or ``overall``."""

    @property
    def spec(self) -> str:
        """The mapping written back as ``--map`` / ``calibration:`` text."""
        return self.criterion if self.kind in ("outcome",) else f"{self.kind}:{self.criterion}"


DEFAULT_MAPPING: dict[str, str] = {
    "greeting": "greeting",
    "agent_intro": "agent_introduction",
    "closing": "closing",
    "name_used": "name_usage",
    "apology": "apology",
    "empathy": "empathy_response",
    "profanity": "inverted:no_profanity",
    "slang": "inverted:no_slang",
    "blame": "inverted:no_blame",
    "overpromise": "inverted:no_overpromise",
    "ownership": "ownership",
    "personal": "personal_details",
    "waits_handled": "wait_updates",
    "first_response_s": "seconds:first_response",
    "distress": "applies:empathy_response",
    "problem": "applies:apology",
    "long_wait": "applies:wait_updates",
    "name_known": "applies:name_usage",
    "promptness_1to5": "rating:promptness",
    "politeness_1to5": "rating:politeness",
    "professionalism_1to5": "rating:professionalism",
    "personalization_1to5": "rating:personalization",
    "empathy_1to5": "rating:empathy",
    "overall_1to5": "rating:overall",
}
"""The columns of ``shared/data/graded/GUIDE.md`` → the default rubric's criteria.

A value is ``CRITERION`` or ``KIND:CRITERION`` (see :data:`Kind`): ``inverted:`` marks
labels where 1 means the criterion fails, ``applies:`` labels that say whether the
criterion applies at all, ``rating:`` category ratings, ``seconds:`` measured times. The
same text is accepted by ``--map LABEL=SPEC`` and a rubric's ``calibration:`` block.
"""

IGNORED_COLUMNS = ("conversation_id", "grader", "channel", "notes", "comment", "comments")
"""Grades columns that are never compared."""


def parse_target(label: str, spec: str) -> Target:
    """``"inverted:no_slang"`` → ``Target(label, "inverted", "no_slang")``.

    A bare criterion id keeps the kind the default mapping gives ``label`` (so
    ``--map slang=no_slang`` stays inverted); otherwise it is ``outcome``, or ``rating``
    when it names a category or ``overall``.
    """
    from .rubric import CATEGORIES

    spec = spec.strip()
    kind, sep, crit = spec.partition(":")
    if sep:
        kind = kind.strip()
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r} in {label}={spec} (known: {', '.join(KINDS)})")
        return Target(label, kind, crit.strip())
    default = DEFAULT_MAPPING.get(label)
    if default and ":" in default:
        dkind = default.partition(":")[0]
        if dkind != "rating" or spec in CATEGORIES or spec == "overall":
            return Target(label, dkind, spec)
    if spec in CATEGORIES or spec == "overall":
        return Target(label, "rating", spec)
    return Target(label, "outcome", spec)
