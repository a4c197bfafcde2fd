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

import csv
import io
import json
import logging
import math
import re
from pathlib import Path
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from .errors import QAError, control_pictures, display

log = logging.getLogger(__name__)

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


# ---------------------------------------------------------------- errors and results


class GradesError(QAError):
    """A grades file that cannot be used: empty, unreadable, a bad value, a bad mapping."""

    stage = "calibrate"


@dataclass
class CriterionAgreement:
    """Agreement of one grades column with one criterion's outcomes."""

    label: str
    """The grades column."""
    criterion: str
    kind: str
    """How the column compares (:data:`Kind`)."""
    n: int
    """Graded conversations compared (answers left empty are not counted)."""
    agreement: float | None
    """Share of the ``n`` where the grader and qa agree, 0..1."""
    kappa: float | None
    """Cohen's kappa; None when undefined (see :attr:`kappa_note`)."""
    kappa_note: str | None
    """Why kappa is undefined, in words; None when it is defined."""
    verdict: str
    """Landis & Koch band of the kappa (``undefined`` when it is)."""
    labels: list[str]
    """Row and column labels of :attr:`confusion`, in order."""
    confusion: dict[str, dict[str, int]]
    """``confusion[grader][qa]``: conversations with that pair of answers."""
    disagreements: int = 0


@dataclass
class CategoryAgreement:
    """Agreement of one rating column with a category score (or ``overall``)."""

    label: str
    category: str
    n: int
    scale: str
    """``1-5`` or ``0-100``: how the grader's ratings were read."""
    spearman: float | None
    """Spearman's rank correlation of rating and score; None when undefined."""
    mean_abs_diff: float | None
    """Mean absolute difference on 0-100 (a 1-5 rating r is 25 × (r - 1))."""
    grader_mean: float | None
    """Mean grader rating on 0-100."""
    qa_mean: float | None
    """Mean qa score over the same conversations."""


@dataclass
class Disagreement:
    """One conversation where the grader and qa answer differently."""

    conversation_id: str
    label: str
    criterion: str
    grader: str
    """The grader's answer, in qa's terms (``pass``/``fail``/``na``; ``applies``/``na``)."""
    qa: str
    """qa's answer in the same terms."""
    raw: str
    """The value in the grades file."""
    reason: str
    """qa's reason for its outcome."""
    quotes: list[str]
    """The quoted evidence (at most three)."""
    href: str
    """The call page, relative to the output folder."""
    severity: int
    """3 auto-fail criterion, 2 pass against fail, 1 a question of whether it applies."""
    grader_id: str | None = None
    """The ``grader`` column, when the file has one."""


@dataclass
class GraderAgreement:
    """With several graders: how consistent the graders are, beside qa."""

    label: str
    criterion: str
    units: int
    """Conversations graded by two or more graders."""
    alpha_graders: float | None
    """Krippendorff's alpha (nominal) between the graders."""
    alpha_with_qa: float | None
    """The same with qa added as one more grader."""
    kappa_qa: dict[str, float | None]
    """Cohen's kappa of qa with each grader."""


@dataclass
class Issue:
    """A problem with the grades that did not stop the comparison."""

    kind: str
    """``unknown_ids``, ``unmapped``, ``rubric_mismatch``, ``duplicate``…"""
    message: str
    """One line, with the fix."""
    items: list[str] = field(default_factory=list)


@dataclass
class Suggestion:
    """A reviewable rubric edit and what it does to the agreement on this grades file."""

    criterion: str
    key: str
    """The rubric key changed (``target_s``, ``any``, ``none``…)."""
    old: Any
    new: Any
    added: list[str]
    """Phrases added (phrase lists)."""
    removed: list[str]
    """Phrases removed (phrase lists)."""
    before: float
    """Percent agreement now, 0..1."""
    after: float
    """Percent agreement with the edit."""
    kappa_before: float | None
    kappa_after: float | None
    n: int
    note: str = ""


@dataclass
class CalibrationReport:
    """Everything ``qa calibrate`` measured; :meth:`to_dict` is the ``--json`` output."""

    results_dir: str
    grades_path: str
    rubric_id: str | None
    """The rubric the results were scored with."""
    rubric_hash: str | None
    graded: int
    """Rows in the grades file."""
    matched: int
    """Rows whose conversation is in the results."""
    mapping: dict[str, str]
    """Each compared column → its target (``KIND:CRITERION`` text)."""
    criteria: list[CriterionAgreement]
    categories: list[CategoryAgreement]
    disagreements: list[Disagreement]
    """Worst first."""
    issues: list[Issue]
    inter_grader: list[GraderAgreement] = field(default_factory=list)
    graders: list[str] = field(default_factory=list)
    suggestions: list[Suggestion] = field(default_factory=list)
    unknown_ids: list[str] = field(default_factory=list)
    reviewed_agents: list[dict] = field(default_factory=list)
    """With recorded reviews: per agent, the overall score automatic and reviewed."""
    answers: list[dict] = field(default_factory=list, repr=False)
    """The grader's answers in criterion terms, for :func:`record_reviews` (not in
    :meth:`to_dict`)."""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("answers")
        return d


# ---------------------------------------------------------------- reading grades

PASS_WORDS = {"pass", "1", "yes", "y", "true", "p", "1.0"}
FAIL_WORDS = {"fail", "0", "no", "n", "false", "f", "0.0"}
NA_WORDS = {"na", "n/a", "n.a.", "not applicable", "-"}


@dataclass
class GradesTable:
    """A grades file read as text: ``rows[i]`` is the ``i``-th data row, ``lines[i]`` where
    it is in the file (line number of a CSV, row number of a spreadsheet)."""

    path: str
    columns: list[str]
    rows: list[dict[str, str]]
    lines: list[int]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _check_parquet(path: Path, fix: str = "Re-create it with `qa score`.") -> None:
    """A damaged Parquet file is a one-line :class:`ReportError` naming it, not a traceback."""
    import polars as pl

    from .errors import ReportError

    try:
        pl.read_parquet_schema(path)
    except Exception as exc:  # noqa: BLE001 - polars raises several types for bad files
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise ReportError(f"cannot read the Parquet file ({type(exc).__name__}: {first})", path=path,
                          fix=fix) from None


REVIEWS_FIX = "Delete it and record the reviews again with `qa calibrate --record-reviews`."


def read_grades(path: str | Path) -> GradesTable:
    """Read a CSV or XLSX grades file (first sheet) as text cells. Raises
    :class:`GradesError` when it is missing, unreadable, empty or has no
    ``conversation_id`` column."""
    p = Path(path)
    if not p.is_file():
        raise GradesError("grades file not found", path=p, fix="Give --grades a CSV or XLSX file.")
    rows: list[list[str]] = []
    lines: list[int] = []
    if p.suffix.lower() in (".xlsx", ".xlsm"):
        try:
            import openpyxl

            wb = openpyxl.load_workbook(p, read_only=True, data_only=True)
            try:
                for k, row in enumerate(wb.worksheets[0].iter_rows(values_only=True), 1):
                    rows.append([_cell(v) for v in row])
                    lines.append(k)
            finally:
                wb.close()
        except Exception as exc:  # openpyxl raises many kinds on a bad file
            raise GradesError(f"cannot read the spreadsheet ({type(exc).__name__}: {exc})", path=p,
                              fix="Save it again as .xlsx, or export the sheet as CSV.") from None
    else:
        try:
            text = p.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            raise GradesError("the grades file is not UTF-8 text", path=p,
                              fix="Save it as CSV UTF-8 (or give the .xlsx file).") from None
        try:
            dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        reader = csv.reader(io.StringIO(text), dialect)
        for row in reader:
            rows.append([c.strip() for c in row])
            lines.append(reader.line_num)
    while rows and not any(rows[0]):
        rows.pop(0)
        lines.pop(0)
    if not rows:
        raise GradesError("the grades file is empty", path=p,
                          fix="Give a header row (conversation_id, then one column per question) "
                              "and one row per graded conversation.")
    header = [h.strip() for h in rows[0]]
    if "conversation_id" not in header:
        raise GradesError("no conversation_id column", path=p, place=f"line {lines[0]}",
                          fix="Name the column that holds the conversation ids conversation_id.")
    dup = sorted({h for h in header if h and header.count(h) > 1})
    if dup:
        raise GradesError(f"column {dup[0]!r} appears twice", path=p, place=f"line {lines[0]}",
                          fix="Give every column a different name.")
    data, where = [], []
    for row, line in zip(rows[1:], lines[1:]):
        if not any(row):
            continue
        data.append({h: (row[i] if i < len(row) else "") for i, h in enumerate(header) if h})
        where.append(line)
    if not data:
        raise GradesError("the grades file has a header but no graded conversations", path=p,
                          fix="Add one row per graded conversation.")
    return GradesTable(str(p), [h for h in header if h], data, where)


def _binary(value: str) -> str | None:
    v = value.strip().lower()
    if v in PASS_WORDS:
        return "pass"
    if v in FAIL_WORDS:
        return "fail"
    if v in NA_WORDS:
        return "na"
    return None


def _number(value: str) -> float | None:
    try:
        x = float(value.strip())
    except ValueError:
        return None
    return x if math.isfinite(x) else None


# ---------------------------------------------------------------- the mapping in use


def resolve_mapping(columns: Sequence[str], criterion_ids: Sequence[str], *,
                    rubric_map: dict[str, str] | None = None,
                    overrides: dict[str, str] | None = None
                    ) -> tuple[list[Target], list[Issue]]:
    """The targets of the grades ``columns``: the default mapping, then the rubric's
    ``calibration:`` block, then ``overrides`` (``--map``); a column named like a criterion
    id maps to it. Columns that map to no criterion in the results come back as issues,
    each with the ``--map`` that would fix it."""
    import difflib

    from .rubric import CATEGORIES

    specs = dict(DEFAULT_MAPPING)
    specs.update(rubric_map or {})
    specs.update(overrides or {})
    ids = set(criterion_ids)
    targets: list[Target] = []
    issues: list[Issue] = []
    for col in columns:
        if col in IGNORED_COLUMNS:
            continue
        if col in ids and col not in (overrides or {}) and col not in (rubric_map or {}):
            targets.append(Target(col, "outcome", col))  # named like a criterion: that one
            continue
        if col in specs:
            spec = specs[col]
        else:
            guess = difflib.get_close_matches(col, sorted(ids), n=1, cutoff=0.75)
            fix = f"--map {col}={guess[0] if guess else 'CRITERION'}"
            issues.append(Issue("unmapped", f"column {col!r} maps to no criterion; to compare it, "
                                f"add {fix}", [col]))
            continue
        try:
            t = parse_target(col, spec)
        except ValueError as exc:
            raise GradesError(str(exc), fix="Write LABEL=CRITERION, or LABEL=KIND:CRITERION "
                              f"with KIND one of {', '.join(KINDS)}.") from None
        if t.kind == "rating":
            if t.criterion not in CATEGORIES and t.criterion != "overall":
                issues.append(Issue("unmapped", f"column {col!r} maps to {t.criterion!r}, which is "
                              f"no category; fix: --map {col}=rating:CATEGORY (one of "
                              f"{', '.join(CATEGORIES)}, overall)", [col]))
                continue
        elif t.criterion not in ids:
            cands = [i for i in sorted(ids) if t.criterion in i or i in t.criterion]
            guess = cands or difflib.get_close_matches(t.criterion, sorted(ids), n=1, cutoff=0.75)
            crit = guess[0] if guess else "CRITERION"
            spec = crit if parse_target(col, crit).kind == t.kind else Target(col, t.kind, crit).spec
            issues.append(Issue("unmapped", f"column {col!r} maps to criterion {t.criterion!r}, "
                          f"which the results do not have; fix: --map {col}={spec}", [col]))
            continue
        targets.append(t)
    return targets, issues


# ---------------------------------------------------------------- compare

QA_COLUMNS = ("conversation_id", "criterion_id", "outcome", "reason", "evidence", "auto_fail")


def _kappa_note(grader: list[str], qa: list[str]) -> str | None:
    if not grader:
        return "undefined: nothing to compare"
    g, q = set(grader), set(qa)
    if len(g) < 2 and len(q) < 2:
        return f"undefined: both answered {next(iter(g))!r} every time"
    if len(g) < 2:
        return f"undefined: the grader answered {next(iter(g))!r} every time"
    if len(q) < 2:
        return f"undefined: qa answered {next(iter(q))!r} every time"
    return None


def _answer(t: Target, raw: str, *, target_s: float | None) -> str | None:
    """The grader's raw value in qa's terms; None when left empty; raises ValueError when
    not an allowed value."""
    v = raw.strip()
    if v == "":
        return None
    if t.kind == "seconds":
        if v.lower() in NA_WORDS:
            return None
        x = _number(v)
        if x is None or x < 0:
            raise ValueError("a number of seconds (or empty, or na)")
        return "pass" if x <= (target_s or 0) else "fail"
    b = _binary(v)
    if b is None:
        raise ValueError("pass, fail, na, 1 or 0")
    if t.kind == "inverted":
        return {"pass": "fail", "fail": "pass", "na": "na"}[b]
    if t.kind == "applies":
        return {"pass": "applies", "fail": "na", "na": None}[b]
    return b


def _target_s(crit: Any, channel: str | None) -> float | None:
    """A timing criterion's ``target_s`` for this channel (its ``by_channel`` entry first)."""
    if crit is None:
        return None
    opts = crit.options
    entry = (getattr(opts, "by_channel", None) or {}).get(channel) if channel else None
    if entry is not None:
        v = entry.get("target_s") if isinstance(entry, dict) else getattr(entry, "target_s", None)
        if v is not None:
            return v
    return getattr(opts, "target_s", None)


def _qa_answer(t: Target, outcome: str) -> str:
    if t.kind == "applies":
        return "na" if outcome == "na" else "applies"
    return outcome


def _quotes(evidence: list | None, limit: int = 3) -> list[str]:
    out = []
    for e in evidence or []:
        q = (e.get("quote") or "").strip()
        if q and q not in out:
            out.append(q if len(q) <= 240 else q[:237] + "…")
        if len(out) >= limit:
            break
    return out


def _load_rubric(rubric: Any) -> Any:
    from .rubric import Rubric, load_rubric

    if isinstance(rubric, Rubric):
        return rubric
    return load_rubric(rubric)


def compare(results_dir: str | Path, grades_path: str | Path,
            mapping: dict[str, str] | None = None, *, rubric: Any = None,
            suggest: bool = False) -> CalibrationReport:
    """Compare the results of ``qa score`` in ``results_dir`` with a grades file.

    ``mapping``: grades column → ``CRITERION`` or ``KIND:CRITERION`` (``--map``), on top of
    the rubric's ``calibration:`` block and :data:`DEFAULT_MAPPING`. ``rubric``: a
    :class:`~qa.rubric.Rubric` or a path (default: the packaged default rubric); it gives
    thresholds, the auto-fail flags and the ``calibration:`` block, and is checked against
    the rubric the results were scored with. ``suggest`` re-runs the mapped criteria on the
    graded conversations to find the rubric edits that raise agreement (:func:`suggest`).

    Raises :class:`GradesError` for a grades file that cannot be used (empty, a bad value
    with its row and column, a conversation graded twice by the same grader) and
    :class:`~qa.errors.ReportError` when ``results_dir`` holds no results. Unknown
    conversation ids and columns that map to no criterion are reported in
    :attr:`CalibrationReport.issues`, not raised.
    """
    import polars as pl

    from .aggregate import locate_results
    from .store import safe_name

    paths = locate_results(results_dir)
    table = read_grades(grades_path)
    rub = _load_rubric(rubric)
    _check_parquet(paths.conversations)
    _check_parquet(paths.criteria)
    conv = pl.read_parquet(paths.conversations, columns=[
        "conversation_id", "overall", "promptness", "politeness", "professionalism",
        "personalization", "empathy", "rubric_id", "rubric_hash", "channel"])
    issues: list[Issue] = []
    hashes = sorted({h for h in conv["rubric_hash"].to_list() if h})
    rubric_ids = sorted({h for h in conv["rubric_id"].to_list() if h})
    if hashes and rub.hash not in hashes:
        issues.append(Issue("rubric_mismatch",
                            f"the results were scored with rubric {', '.join(rubric_ids)} (hash "
                            f"{', '.join(h[:12] for h in hashes)}), not with {rub.id} (hash "
                            f"{rub.hash[:12]}); thresholds and suggestions come from {rub.id}. "
                            f"Re-score with that rubric, or give --rubric the one used.",
                            [*hashes, rub.hash]))
    known = set(conv["conversation_id"].to_list())
    crit_ids = (pl.scan_parquet(paths.criteria).select("criterion_id").unique()
                .collect()["criterion_id"].to_list())
    targets, map_issues = resolve_mapping(table.columns, crit_ids,
                                          rubric_map=rub.data.get("calibration"),
                                          overrides=mapping)
    issues.extend(map_issues)
    rub_crit = {c.id: c for c in rub.criteria}
    ok_targets = []
    for t in targets:
        if t.kind == "seconds":
            c = rub_crit.get(t.criterion)
            if c is None or getattr(c.options, "target_s", None) is None:
                issues.append(Issue("unmapped", f"column {t.label!r} holds seconds, but criterion "
                              f"{t.criterion!r} has no target_s in rubric {rub.id}; fix: "
                              f"--map {t.label}=seconds:CRITERION with a response_latency "
                              "criterion", [t.label]))
                continue
        ok_targets.append(t)
    targets = ok_targets
    if not targets:
        raise GradesError("no grades column maps to a criterion or category of these results",
                          path=table.path, place=f"line {table.lines[0] - 1 if table.lines else 1}",
                          fix="Name columns like the rubric's criterion ids, or map them with "
                              "--map LABEL=CRITERION." + (f" ({issues[-1].message})" if issues else ""))

    has_grader = "grader" in table.columns
    seen: dict[tuple[str, str], int] = {}
    unknown: list[str] = []
    rows: list[tuple[int, dict[str, str]]] = []
    for row, line in zip(table.rows, table.lines):
        cid = row.get("conversation_id", "").strip()
        if not cid:
            raise GradesError("empty conversation_id", path=table.path, place=f"line {line}",
                              fix="Fill in the conversation id, or delete the row.")
        key = (cid, row.get("grader", "").strip() if has_grader else "")
        if key in seen:
            who = f" by grader {key[1]!r}" if has_grader else ""
            raise GradesError(f"conversation {cid!r} is graded twice{who} (lines {seen[key]} and "
                              f"{line})", path=table.path, place=f"line {line}",
                              fix="Keep one row per conversation" + (
                                  " and grader." if has_grader else
                                  ", or add a grader column when several graders graded it."))
        seen[key] = line
        if cid not in known:
            if cid not in unknown:
                unknown.append(cid)
            continue
        rows.append((line, row))
    if unknown:
        shown = ", ".join(unknown[:10]) + (f" … ({len(unknown) - 10} more)" if len(unknown) > 10 else "")
        issues.append(Issue("unknown_ids", f"{len(unknown)} graded conversation(s) are not in the "
                            f"results and were left out: {shown}. Score them into this folder, "
                            "or check the ids.", unknown))
    if not rows:
        raise GradesError("none of the graded conversations is in the results", path=table.path,
                          fix=f"Score the graded conversations into {paths.root} first; the first "
                              f"unknown id is {unknown[0]!r}." if unknown else "")
    ids = sorted({r["conversation_id"].strip() for _, r in rows})
    wanted = [t.criterion for t in targets if t.kind != "rating"]
    crit = (pl.scan_parquet(paths.criteria).select(QA_COLUMNS)
            .filter(pl.col("conversation_id").is_in(ids) & pl.col("criterion_id").is_in(wanted))
            .collect())
    qa_rows = {(r["conversation_id"], r["criterion_id"]): r for r in crit.iter_rows(named=True)}
    scores = {r["conversation_id"]: r for r in conv.filter(pl.col("conversation_id").is_in(ids))
              .iter_rows(named=True)}

    criteria_out: list[CriterionAgreement] = []
    cats_out: list[CategoryAgreement] = []
    dis: list[Disagreement] = []
    inter: list[GraderAgreement] = []
    graders = sorted({r.get("grader", "").strip() for _, r in rows}) if has_grader else []
    cases: list[tuple[Target, list[tuple[str, str]]]] = []
    answers: list[dict] = []
    for t in targets:
        if t.kind == "rating":
            cats_out.append(_rating(t, rows, scores, table.path))
            continue
        c = rub_crit.get(t.criterion)
        g_list, q_list, case_ids, per_unit = [], [], [], {}
        for line, row in rows:
            raw = row.get(t.label, "")
            try:
                g = _answer(t, raw, target_s=_target_s(c, scores.get(
                    row["conversation_id"].strip(), {}).get("channel")))
            except ValueError as exc:
                raise GradesError(f"column {t.label!r} holds {raw!r}; allowed: {exc}",
                                  path=table.path, place=f"line {line}",
                                  fix="Correct the value, or leave the cell empty if not graded.") from None
            if g is None:
                continue
            cid = row["conversation_id"].strip()
            qrow = qa_rows.get((cid, t.criterion))
            if qrow is None:
                continue
            q = _qa_answer(t, qrow["outcome"])
            if t.kind == "seconds" and q == "na":
                continue  # the criterion does not measure this conversation (channel, times)
            g_list.append(g)
            q_list.append(q)
            case_ids.append(cid)
            if t.kind in ("outcome", "inverted", "seconds"):
                answers.append({"conversation_id": cid, "criterion_id": t.criterion, "outcome": g,
                                "grader": row.get("grader", "").strip() if has_grader else "",
                                "label": t.label, "value": raw})
            grader_id = row.get("grader", "").strip() if has_grader else None
            unit = per_unit.setdefault(cid, {"qa": q, "graders": {}})
            if grader_id is not None:
                unit["graders"][grader_id] = g
            if g != q:
                af = bool(c.auto_fail) if c is not None else bool(qrow.get("auto_fail"))
                severity = 1 if "na" in (g, q) else (3 if af else 2)
                dis.append(Disagreement(cid, t.label, t.criterion, g, q, raw,
                                        qrow.get("reason") or "", _quotes(qrow.get("evidence")),
                                        f"reports/calls/{safe_name(cid)}.html", severity,
                                        grader_id))
        if t.kind in ("outcome", "inverted"):
            cases.append((t, [(cid, g) for cid, g in zip(case_ids, g_list) if g != "na"]))
        base = ["applies", "na"] if t.kind == "applies" else ["pass", "fail"]
        labels = base + ([] if t.kind == "applies" or "na" not in (*g_list, *q_list) else ["na"])
        k = cohen_kappa(g_list, q_list)
        criteria_out.append(CriterionAgreement(
            t.label, t.criterion, t.kind, len(g_list), percent_agreement(g_list, q_list), k,
            _kappa_note(g_list, q_list) if k is None else None, landis_koch(k), labels,
            confusion(g_list, q_list, labels), sum(a != b for a, b in zip(g_list, q_list))))
        if has_grader:
            units = [u for u in per_unit.values() if len(u["graders"]) >= 2]
            kq = {}
            for gid in graders:
                pairs = [(u["graders"][gid], u["qa"]) for u in per_unit.values() if gid in u["graders"]]
                kq[gid] = cohen_kappa([p[0] for p in pairs], [p[1] for p in pairs])
            inter.append(GraderAgreement(
                t.label, t.criterion, len(units),
                krippendorff_alpha([list(u["graders"].values()) for u in units]),
                krippendorff_alpha([[*u["graders"].values(), u["qa"]] for u in units]), kq))
    dis.sort(key=lambda d: (-d.severity, d.label, d.conversation_id, d.grader_id or ""))
    suggestions = _suggest_all(paths.root, rub, cases) if suggest else []
    return CalibrationReport(
        results_dir=str(paths.root), grades_path=table.path,
        rubric_id=", ".join(rubric_ids) or None, rubric_hash=", ".join(hashes) or None,
        graded=len(table.rows), matched=len(rows), mapping={t.label: t.spec for t in targets},
        criteria=criteria_out, categories=cats_out, disagreements=dis, issues=issues,
        inter_grader=inter, graders=graders, unknown_ids=unknown, suggestions=suggestions,
        answers=answers)


def _rating(t: Target, rows: list[tuple[int, dict[str, str]]], scores: dict[str, dict],
            path: str) -> CategoryAgreement:
    values: list[tuple[float, float]] = []
    raw_all: list[tuple[int, float]] = []
    for line, row in rows:
        raw = row.get(t.label, "").strip()
        if raw == "" or raw.lower() in NA_WORDS:
            continue
        x = _number(raw)
        if x is None or not (0 <= x <= 100):
            raise GradesError(f"column {t.label!r} holds {raw!r}; allowed: a rating 1-5 or 0-100",
                              path=path, place=f"line {line}",
                              fix="Correct the value, or leave the cell empty if not graded.")
        raw_all.append((line, x))
        s = scores.get(row["conversation_id"].strip(), {}).get(t.criterion)
        values.append((x, s))
    five = all(1 <= x <= 5 for _, x in raw_all)
    scale = "1-5" if five else "0-100"
    pairs = [((x - 1) * 25.0 if five else x, s) for x, s in values if s is not None]
    g = [p[0] for p in pairs]
    q = [p[1] for p in pairs]
    return CategoryAgreement(t.label, t.criterion, len(pairs), scale, spearman(g, q),
                             mean_abs_diff(g, q), sum(g) / len(g) if g else None,
                             sum(q) / len(q) if q else None)


# ---------------------------------------------------------------- output


def _f(x: float | None, digits: int = 2) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.0f}%"


def _matrix(c: CriterionAgreement) -> str:
    return " | ".join(" ".join(str(c.confusion[g][q]) for q in c.labels) for g in c.labels)


def format_text(report: CalibrationReport, *, limit: int = 20) -> str:
    """The report as the plain-text tables ``qa calibrate`` prints (``limit``
    disagreements, 0 for all)."""
    out: list[str] = []
    rid = report.rubric_id or "?"
    rh = (report.rubric_hash or "?")[:12]
    out.append(f"{report.matched} of {report.graded} graded rows compared with the results in "
               f"{report.results_dir} (rubric {rid}, hash {rh})")
    if report.graders:
        out.append(f"graders: {', '.join(report.graders)}")
    out.append("")
    out.append("Criteria (confusion: grader rows × qa columns, in the order of 'answers')")
    head = f"{'column':<16} {'criterion':<20} {'n':>4} {'agree':>6} {'kappa':>6}  {'verdict':<15} {'answers':<17} confusion"
    out.append(head)
    out.append("-" * len(head))
    for c in report.criteria:
        kappa = _f(c.kappa) if c.kappa is not None else "undef"
        out.append(f"{c.label:<16} {c.criterion:<20} {c.n:>4} {_pct(c.agreement):>6} {kappa:>6}  "
                   f"{c.verdict:<15} {'/'.join(c.labels):<17} {_matrix(c)}")
    notes = [c for c in report.criteria if c.kappa_note]
    for c in notes:
        out.append(f"  {c.label}: kappa {c.kappa_note}")
    if report.categories:
        out.append("")
        out.append("Categories (grader rating against qa's score, on 0-100)")
        head = f"{'column':<22} {'score':<16} {'n':>4} {'spearman':>8} {'mean |diff|':>11} {'grader':>7} {'qa':>5}"
        out.append(head)
        out.append("-" * len(head))
        for c in report.categories:
            out.append(f"{c.label:<22} {c.category:<16} {c.n:>4} {_f(c.spearman):>8} "
                       f"{_f(c.mean_abs_diff, 1):>11} {_f(c.grader_mean, 1):>7} {_f(c.qa_mean, 1):>5}")
    if report.inter_grader:
        out.append("")
        out.append("Graders against each other (Krippendorff's alpha), and with qa as one more grader")
        head = f"{'column':<16} {'criterion':<20} {'units':>5} {'graders':>8} {'+qa':>6}  qa kappa per grader"
        out.append(head)
        out.append("-" * len(head))
        for g in report.inter_grader:
            per = ", ".join(f"{k} {_f(v)}" for k, v in g.kappa_qa.items())
            out.append(f"{g.label:<16} {g.criterion:<20} {g.units:>5} {_f(g.alpha_graders):>8} "
                       f"{_f(g.alpha_with_qa):>6}  {per}")
    out.append("")
    n = len(report.disagreements)
    shown = report.disagreements if limit <= 0 else report.disagreements[:limit]
    out.append(f"Disagreements: {n}" + (f" (the worst {len(shown)}; all of them with --json, "
                                        "--disagreements 0 and in reports/calibration.html)"
                                        if len(shown) < n else ""))
    for d in shown:
        who = f" [{d.grader_id}]" if d.grader_id else ""
        q = " ".join(d.quotes[0].split()) if d.quotes else ""
        quote = f' "{q if len(q) <= 120 else q[:119] + "…"}"' if q else ""
        out.append(f"  {d.conversation_id} {d.criterion} ({d.label}={d.raw}){who}: grader {d.grader}, "
                   f"qa {d.qa}: {d.reason}{quote}  {d.href}")
    if report.suggestions:
        out.append("")
        out.append("Suggested rubric edits (a patch to review; nothing was changed):")
        out.extend(suggestions_yaml(report).rstrip().split("\n"))
    # grader ids, quotes and reasons are user text: each entry stays one line on the
    # terminal, with control characters shown (\\n, \\x1b), not run
    return "\n".join(display(line) for line in out) + "\n"


def _page_context(report: dict, reports_dir: Path) -> dict:
    dis = []
    for d in report["disagreements"]:
        href = d["href"].removeprefix("reports/")
        dis.append({**d, "page": href if (reports_dir / href).is_file() else None})
    return {"r": report, "disagreements": dis,
            "patch": suggestions_yaml_from_dict(report) if report.get("suggestions") else "",
            "has_index": (reports_dir / "index.html").is_file(),
            "reviewed_agents": report.get("reviewed_agents") or []}


def render_calibration_page(report: dict, reports_dir: str | Path, *,
                            templates_dir: str | Path | None = None,
                            common: dict | None = None) -> Path:
    """Write ``reports_dir/calibration.html`` from a :meth:`CalibrationReport.to_dict`.
    Links to call pages only where ``reports_dir/calls/<id>.html`` exists."""
    from datetime import datetime

    from . import __version__
    from .render import _assets, make_env
    from .store import atomic_write_text

    reports_dir = Path(reports_dir)
    env = make_env(templates_dir)
    ctx = {"generated": datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
           "selection": "calibration", "period": "week", "redacted": False,
           "version": __version__, **(common or {}), **_assets(env),
           **_page_context(report, reports_dir)}
    html = control_pictures(env.get_template("calibration.html").render(**ctx))
    reports_dir.mkdir(parents=True, exist_ok=True)
    path = reports_dir / "calibration.html"
    atomic_write_text(path, html)
    return path


def _yaml_list(items: Sequence[str]) -> str:
    return "[" + ", ".join(json.dumps(x, ensure_ascii=False) for x in items) + "]"


def suggestions_yaml_from_dict(report: dict) -> str:
    """The suggestions of a :meth:`CalibrationReport.to_dict` as a YAML patch: one entry
    per criterion, each change with the agreement before and after in a comment."""
    sug = report.get("suggestions") or []
    if not sug:
        return ""
    lines = [f"# Suggested edits to rubric {report.get('rubric_id') or '?'}, measured on "
             f"{Path(report.get('grades_path') or 'grades').name} ({report.get('matched')} "
             "conversations).",
             "# Review each one: nothing was changed. `qa calibrate … --apply NEW.yaml` writes "
             "a rubric with them.",
             "criteria:"]
    by_crit: dict[str, list[dict]] = {}
    for s in sug:
        by_crit.setdefault(s["criterion"], []).append(s)
    for cid, items in by_crit.items():
        lines.append(f"  - id: {cid}")
        for s in items:
            comment = (f"agreement {_pct(s['before'])} -> {_pct(s['after'])}, kappa "
                       f"{_f(s['kappa_before'])} -> {_f(s['kappa_after'])} (n={s['n']})")
            if s["added"] or s["removed"]:
                lines.append(f"    {s['key']}:  # {comment}")
                if s["added"]:
                    lines.append(f"      add: {_yaml_list(s['added'])}")
                if s["removed"]:
                    lines.append(f"      remove: {_yaml_list(s['removed'])}")
            else:
                lines.append(f"    {s['key']}: {s['new']:g}  # was {s['old']:g}; {comment}")
            if s.get("note"):
                lines.append(f"    # {s['note']}")
    return "\n".join(lines) + "\n"


def suggestions_yaml(report: CalibrationReport) -> str:
    return suggestions_yaml_from_dict(report.to_dict())


# ---------------------------------------------------------------- suggestions

THRESHOLD_KEYS = ("target_s", "threshold_s", "max_per_minute", "max_per_100_words", "min_share",
                  "max_share", "threshold", "min_uses", "min_count", "within_turns")
"""Numeric check options that decide pass or fail, tried at other values."""
FACTORS = (0.25, 0.33, 0.5, 0.67, 0.75, 0.8, 0.9, 1.1, 1.25, 1.5, 2.0, 3.0, 4.0)
"""Multiples of the current value tried for a threshold."""
MAX_PHRASE_CANDIDATES = 12
"""Phrases tried per criterion and direction."""
MIN_GAIN = 2
"""An edit is suggested only when it turns at least this many disagreements into agreements
(phrase by phrase), so one odd conversation does not move the rubric."""
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def _round2(x: float) -> float:
    """Two significant digits (90, 0.45, 1.2)."""
    if x == 0:
        return 0.0
    return float(f"{x:.2g}")


def _candidates(value: float, integer: bool) -> list[float]:
    out = set()
    for f in FACTORS:
        v = value * f
        v = max(1, round(v)) if integer else _round2(v)
        if v != value and v > 0:
            out.add(v)
    return sorted(out)


@dataclass
class _Case:
    """One criterion under tuning: the pairs to agree on, and how to re-run it."""

    target: Target
    crit: Any
    """The rubric's Criterion."""
    items: list[tuple[int, str]]
    """(conversation index, grader answer in criterion terms) per compared grades row."""


class _Rerun:
    """Re-runs criteria on the graded conversations with changed options."""

    def __init__(self, rubric: Any, convs: list[Any], nlps: list[Any]):
        from .checks import REGISTRY
        from .nlp import Analyzer

        self.registry = REGISTRY
        self.rubric = rubric
        self.convs = convs
        self.nlps = nlps
        self.analyzer: Analyzer | None = None

    def outcomes(self, crit: Any, options: Any, idx: Sequence[int]) -> dict[int, Any]:
        from .checks import Context, na

        check = self.registry[crit.check](options, self.analyzer)
        out = {}
        for i in sorted(set(idx)):
            conv = self.convs[i]
            if not crit.applies_to(conv.channel):
                out[i] = na("channel")
                continue
            try:
                out[i] = check.run(Context(conv, self.nlps[i]))
            except Exception:  # same as scoring: a check that cannot run is no outcome
                log.debug("re-running %s on %s failed", crit.id, conv.id, exc_info=True)
                out[i] = None
        return out


def _with(options: Any, **changes: Any) -> Any:
    data = options.model_dump(by_alias=True, exclude_none=True)
    data.update(changes)
    return type(options).model_validate(data)


def _agree(case: _Case, outcomes: dict[int, Any]) -> tuple[float, float | None, int]:
    g, q = [], []
    for i, ans in case.items:
        o = outcomes.get(i)
        if o is None:
            continue
        g.append(ans)
        q.append(o.outcome)
    return (percent_agreement(g, q) or 0.0), cohen_kappa(g, q), len(g)


def _ngrams(text: str, stop: set[str]) -> set[str]:
    words = _WORD.findall(text.lower())
    out = set()
    for n in (1, 2, 3):
        for k in range(len(words) - n + 1):
            gram = words[k:k + n]
            if all(w in stop for w in gram) or gram[0] in stop and n > 1 and gram[-1] in stop:
                continue
            if n == 1 and (gram[0] in stop or len(gram[0]) < 3):
                continue
            out.add(" ".join(gram))
    return out


def _suggest_threshold(rr: _Rerun, case: _Case) -> Suggestion | None:
    opts = case.crit.options
    idx = [i for i, _ in case.items]
    best: Suggestion | None = None
    base = _agree(case, rr.outcomes(case.crit, opts, idx))
    for key in THRESHOLD_KEYS:
        value = getattr(opts, key, None)
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        integer = isinstance(value, int)
        for v in _candidates(float(value), integer):
            try:
                new_opts = _with(opts, **{key: int(v) if integer else v})
            except Exception:  # pydantic: out of the allowed range for this check
                continue
            a, k, n = _agree(case, rr.outcomes(case.crit, new_opts, idx))
            better = best is None or a > best.after or (
                a == best.after and abs(v - value) < abs(best.new - value))
            if (a - base[0]) * n >= MIN_GAIN - 1e-9 and better:
                best = Suggestion(case.crit.id, key, value, int(v) if integer else v, [], [],
                                  base[0], a, base[1], k, n)
    return best


def _suggest_phrases(rr: _Rerun, case: _Case, stop: set[str]) -> Suggestion | None:
    opts = case.crit.options
    key = "any" if getattr(opts, "any", None) else "none" if getattr(opts, "none", None) else None
    if key is None:
        return None
    idx = [i for i, _ in case.items]
    base_out = rr.outcomes(case.crit, opts, idx)
    base = _agree(case, base_out)
    current = list(getattr(opts, key))
    # qa misses: for any:, the grader passed and qa failed (a phrase qa does not know);
    # for none:, the grader failed and qa passed (forbidden words qa does not know)
    miss_want = "pass" if key == "any" else "fail"
    missed = [i for i, g in case.items if g == miss_want and base_out.get(i) is not None
              and base_out[i].outcome not in (miss_want, "na")]
    others = [i for i, g in case.items if g != miss_want]
    speaker = getattr(opts, "speaker", "agent")

    def grams(i: int) -> set[str]:
        return set().union(*[_ngrams(t.text, stop) for t in rr.convs[i].turns
                             if speaker == "any" or t.speaker == speaker] or [set()])

    known = {p.lower() for p in current}
    add_cands: list[str] = []
    if len(missed) >= 2:
        df_miss: Counter = Counter()
        for i in set(missed):
            df_miss.update(grams(i))
        df_other: Counter = Counter()
        for i in set(others):
            df_other.update(grams(i))
        ranked = sorted((g for g, c in df_miss.items() if c >= 2 and g not in known),
                        key=lambda g: (-(df_miss[g] - 2 * df_other[g]), len(g.split()), g))
        add_cands = [g for g in ranked if df_miss[g] > df_other[g]][:MAX_PHRASE_CANDIDATES]
    # qa's wrong hits: the phrases that made qa disagree the other way
    wrong = [i for i, g in case.items if g != miss_want and g != "na" and base_out.get(i) is not None
             and base_out[i].outcome == miss_want]
    hit_counts: Counter = Counter()
    for i in wrong:
        for e in base_out[i].evidence:
            if e.match and e.match.lower() in known:
                hit_counts[e.match.lower()] += 1
    remove_cands = [p for p, _ in hit_counts.most_common(MAX_PHRASE_CANDIDATES)]

    def score(adds: list[str], removes: list[str]) -> tuple[float, float | None, int] | None:
        lst = [p for p in current if p.lower() not in removes] + adds
        if not lst:
            return None
        try:
            new_opts = _with(opts, **{key: lst})
        except Exception:
            return None
        return _agree(case, rr.outcomes(case.crit, new_opts, idx))

    adds: list[str] = []
    removes: list[str] = []
    now = base
    for kind, cands in (("add", add_cands), ("remove", remove_cands)):
        for p in cands:
            trial = score(adds + ([p] if kind == "add" else []),
                          removes + ([p] if kind == "remove" else []))
            if trial is not None and (trial[0] - now[0]) * trial[2] >= MIN_GAIN - 1e-9:
                (adds if kind == "add" else removes).append(p)
                now = trial
    if not adds and not removes:
        return None
    return Suggestion(case.crit.id, key, current,
                      [p for p in current if p.lower() not in removes] + adds, adds, removes,
                      base[0], now[0], base[1], now[1], now[2],
                      "phrases found by counting words in the disagreements: check that each "
                      "one means what the criterion asks, not only that it fits these conversations")


def _suggest_all(results_root: str | Path, rubric: Any, cases: list[tuple[Target, list[tuple[str, str]]]]
            ) -> list[Suggestion]:
    """Suggested edits for each criterion in ``cases`` (target and its (conversation id,
    grader answer in criterion terms) pairs): the threshold value, and the phrases to add to
    or remove from its list, that raise agreement most on these conversations."""
    from .conversation import Conversation
    from .nlp import Analyzer

    root = Path(results_root)
    crits = {c.id: c for c in rubric.criteria}
    cases = [(t, pairs) for t, pairs in cases if t.criterion in crits]
    if not cases:
        return []
    import polars as pl

    from .aggregate import locate_results

    paths = locate_results(root)
    ids = sorted({cid for _, pairs in cases for cid, _ in pairs})
    tpaths = dict(pl.read_parquet(paths.conversations, columns=["conversation_id", "transcript_path"])
                  .filter(pl.col("conversation_id").is_in(ids)).iter_rows())
    convs, index = [], {}
    for cid in ids:
        tp = tpaths.get(cid)
        if not tp:
            continue
        p = Path(tp)
        if not p.is_absolute():
            p = paths.root / p
        try:
            convs.append(Conversation.load(p))
        except QAError as exc:
            log.warning("suggestions leave out %s: %s", cid, exc)
            continue
        index[cid] = len(convs) - 1
    if not convs:
        return []
    analyzer = Analyzer(paths.root / ".cache" / "spacy", tagged="pos" in rubric.needs(), n_process=1)
    nlps: list[Any] = [None] * len(convs)
    for k, res in analyzer.analyze([[t.text for t in c.turns] for c in convs]):
        nlps[k] = None if isinstance(res, Exception) else res
    keep = [k for k, n in enumerate(nlps) if n is not None]
    rr = _Rerun(rubric, convs, nlps)
    rr.analyzer = analyzer
    from spacy.lang.en.stop_words import STOP_WORDS

    stop = set(STOP_WORDS)
    out: list[Suggestion] = []
    for t, pairs in cases:
        items = [(index[cid], g) for cid, g in pairs if cid in index and index[cid] in keep]
        case = _Case(t, crits[t.criterion], items)
        if not items:
            continue
        for fn in (_suggest_threshold, lambda r, c: _suggest_phrases(r, c, stop)):
            s = fn(rr, case)
            if s is not None:
                out.append(s)
    return out


# ---------------------------------------------------------------- reviews

REVIEWS_FILE = "reviews.parquet"
"""``OUT/results/reviews.parquet``: graders' answers kept as reviews, beside (never over)
the automatic results."""
REVIEW_SCHEMA = {"conversation_id": "String", "criterion_id": "String", "outcome": "String",
                 "grader": "String", "label": "String", "value": "String",
                 "grades_file": "String", "reviewed_at": "Datetime"}


def _review_frame(rows: list[dict]):
    import polars as pl

    schema = {k: (pl.Datetime("us", "UTC") if v == "Datetime" else pl.String)
              for k, v in REVIEW_SCHEMA.items()}
    return pl.DataFrame(rows, schema=schema)


def record_reviews(report: CalibrationReport, results_dir: str | Path) -> Path:
    """Add the grader's pass/fail/na answers of ``report`` to ``results/reviews.parquet``
    (a later answer for the same conversation, criterion and grader replaces the earlier
    one). The automatic results are not touched."""
    from datetime import datetime, timezone

    import polars as pl

    from .aggregate import locate_results
    from .store import atomic_path

    paths = locate_results(results_dir)
    now = datetime.now(timezone.utc)
    new = _review_frame([{**a, "grades_file": report.grades_path, "reviewed_at": now}
                         for a in report.answers])
    path = paths.conversations.parent / REVIEWS_FILE
    if path.is_file():
        _check_parquet(path, REVIEWS_FIX)
        old = pl.read_parquet(path)
        new = pl.concat([old.select(new.columns).cast(new.schema), new])
        new = new.unique(["conversation_id", "criterion_id", "grader"], keep="last",
                         maintain_order=True)
    with atomic_path(path) as tmp:
        new.write_parquet(tmp)
    return path


def read_reviews(results_dir: str | Path) -> dict[str, dict[str, list[dict]]]:
    """``reviews[conversation_id][criterion_id]`` = the reviews (``outcome``, ``grader``)
    in ``results/reviews.parquet``; empty when there is none."""
    import polars as pl

    from .aggregate import locate_results

    path = locate_results(results_dir).conversations.parent / REVIEWS_FILE
    if not path.is_file():
        return {}
    _check_parquet(path, REVIEWS_FIX)
    out: dict[str, dict[str, list[dict]]] = {}
    for r in pl.read_parquet(path, columns=["conversation_id", "criterion_id", "outcome",
                                            "grader"]).iter_rows(named=True):
        out.setdefault(r["conversation_id"], {}).setdefault(r["criterion_id"], []).append(
            {"outcome": r["outcome"], "grader": r["grader"] or ""})
    return out


def reviewed_outcome(reviews: list[dict]) -> str | None:
    """The graders' answer: the most common one; None on a tie (then the automatic
    outcome stands)."""
    counts = Counter(r["outcome"] for r in reviews).most_common()
    if not counts or (len(counts) > 1 and counts[0][1] == counts[1][1]):
        return None
    return counts[0][0]


def reviewed_agent_scores(results_dir: str | Path, rubric: Any = None) -> list[dict]:
    """Per agent: the mean overall score automatic, and reviewed (each reviewed criterion
    scored 1 for pass, 0 for fail, left out for na; categories and overall weighted as
    ``qa score`` does, auto-fail criteria included). Empty without reviews."""
    import polars as pl

    from .aggregate import locate_results
    from .store import safe_name

    reviews = read_reviews(results_dir)
    if not reviews:
        return []
    rub = _load_rubric(rubric)
    paths = locate_results(results_dir)
    conv = pl.read_parquet(paths.conversations, columns=["conversation_id", "agent_id", "overall"])
    ids = list(reviews)
    crit = (pl.scan_parquet(paths.criteria)
            .select("conversation_id", "criterion_id", "category", "outcome", "score", "weight")
            .filter(pl.col("conversation_id").is_in(ids)).collect())
    from .score import overall_score

    rev_overall: dict[str, float | None] = {}
    rows_by_conv: dict[str, list[dict]] = {}
    for r in crit.iter_rows(named=True):
        rows_by_conv.setdefault(r["conversation_id"], []).append(r)
    af = {c.id for c in rub.criteria if c.auto_fail}
    for cid, rows in rows_by_conv.items():
        cats: dict[str, list[tuple[float, float]]] = {}
        failed_af = False
        for r in rows:
            outcome, score = r["outcome"], r["score"]
            rv = reviewed_outcome(reviews.get(cid, {}).get(r["criterion_id"], []))
            if rv is not None:
                outcome, score = rv, {"pass": 1.0, "fail": 0.0}.get(rv)
            if r["criterion_id"] in af and outcome == "fail":
                failed_af = True
            if outcome != "na" and score is not None:
                cats.setdefault(r["category"], []).append((r["weight"], score))
        cat_scores = {c: (100.0 * sum(w * s for w, s in v) / sum(w for w, _ in v)
                          if sum(w for w, _ in v) > 0 else None) for c, v in cats.items()}
        rev_overall[cid] = 0.0 if failed_af else overall_score(cat_scores, rub.categories)
    out = []
    for (agent,), g in conv.group_by(["agent_id"], maintain_order=True):
        autos = [x for x in g["overall"].to_list() if x is not None]
        revs = [rev_overall.get(cid, o) for cid, o in zip(g["conversation_id"], g["overall"])]
        revs = [x for x in revs if x is not None]
        out.append({"agent_id": agent, "page": f"{safe_name(agent)}.html", "n": g.height,
                    "n_reviewed": sum(1 for cid in g["conversation_id"] if cid in rev_overall),
                    "overall_auto": sum(autos) / len(autos) if autos else None,
                    "overall_reviewed": sum(revs) / len(revs) if revs else None})
    return sorted(out, key=lambda a: a["agent_id"])


# ---------------------------------------------------------------- files


def write_outputs(report: CalibrationReport, results_dir: str | Path, *,
                  reviews: bool = False, html: bool = True, rubric: Any = None) -> list[Path]:
    """Write ``results/calibration.json`` (and, with ``reviews``, add the answers to
    ``results/reviews.parquet``), then, with ``html``, ``reports/calibration.html``: when the
    output folder already has reports (``reports/index.html``), they are rendered again with
    ``qa report``'s defaults, so the index links the page and the call pages show the
    reviews; otherwise the calibration page alone is written. Returns the files written."""
    from .aggregate import locate_results
    from .store import OutDir, atomic_write_text, run_lock

    paths = locate_results(results_dir)
    out = OutDir.at(paths.root)
    written: list[Path] = []
    with run_lock(out):
        if reviews:
            written.append(record_reviews(report, paths.root))
        report.reviewed_agents = reviewed_agent_scores(paths.root, rubric)
        data = report.to_dict()
        jpath = paths.conversations.parent / CALIBRATION_FILE
        atomic_write_text(jpath, json.dumps(data, indent=1, ensure_ascii=False))
        written.append(jpath)
        if html:
            reports = paths.root / "reports"
            if (reports / "index.html").is_file():
                from .render import render_reports

                log.info("rendering %s again so the index links the calibration page", reports)
                render_reports(paths.root)
                written.append(reports / "index.html")
                written.append(reports / "calibration.html")
            else:
                written.append(render_calibration_page(data, reports))
    return written


CALIBRATION_FILE = "calibration.json"
"""``OUT/results/calibration.json``: the last ``qa calibrate`` report, which ``qa report``
renders as ``reports/calibration.html``."""


def calibration_page_data(results_dir: str | Path) -> dict | None:
    """The saved report of the last ``qa calibrate`` (None when there is none, or it cannot
    be read)."""
    from .aggregate import locate_results

    path = locate_results(results_dir).conversations.parent / CALIBRATION_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("ignoring %s: %s", path, exc)
        return None


# ---------------------------------------------------------------- --apply


def apply_suggestions(report: CalibrationReport, rubric_path: str | Path | None,
                      dest: str | Path) -> int:
    """Write a copy of the rubric (``rubric_path``, default the built-in one) with the
    suggestions applied to ``dest``, each changed key commented with the agreement before
    and after. Comments and layout of the rest are kept. Returns the edits applied."""
    from ruamel.yaml import YAML
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    from .rubric import default_rubric_path
    from .store import atomic_write_text

    src = Path(rubric_path) if rubric_path is not None else default_rubric_path()
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    doc = yaml.load(src.read_text(encoding="utf-8"))
    by_id = {c.get("id"): c for c in doc.get("criteria") or []}
    n = 0
    for s in report.suggestions:
        node = by_id.get(s.criterion)
        if node is None:
            continue
        seq = node.get(s.key)
        if isinstance(s.new, list) and isinstance(seq, list):
            # edit the list in place: its quoting and line breaks stay as the trainer wrote them
            for k in reversed(range(len(seq))):
                if str(seq[k]).lower() in s.removed:
                    del seq[k]
            seq.extend(DoubleQuotedScalarString(p) for p in s.added)
        else:
            node[s.key] = s.new
        old = s.old if not isinstance(s.old, list) else f"{len(s.old)} phrases"
        what = ""
        if s.added:
            what += f" added {', '.join(s.added)};"
        if s.removed:
            what += f" removed {', '.join(s.removed)};"
        if not isinstance(s.old, list):
            what = f" was {s.old:g};"
        node.yaml_add_eol_comment(
            f"qa calibrate:{what} agreement {_pct(s.before)} -> {_pct(s.after)}, kappa "
            f"{_f(s.kappa_before)} -> {_f(s.kappa_after)} on {Path(report.grades_path).name} "
            f"(n={s.n})", s.key)
        del old
        n += 1
    buf = io.StringIO()
    yaml.dump(doc, buf)
    header = (f"# Written by qa calibrate from {src.name} and {Path(report.grades_path).name}: "
              f"{n} suggested edit(s), each commented with the agreement before and after.\n"
              "# Review it (`qa rubric check`, `qa rubric test`), then score with it.\n")
    atomic_write_text(Path(dest), header + buf.getvalue())
    return n
