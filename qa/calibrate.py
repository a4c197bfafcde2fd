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
import math
from pathlib import Path
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from .errors import QAError

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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
            mapping: dict[str, str] | None = None, *, rubric: Any = None) -> CalibrationReport:
    """Compare the results of ``qa score`` in ``results_dir`` with a grades file.

    ``mapping``: grades column → ``CRITERION`` or ``KIND:CRITERION`` (``--map``), on top of
    the rubric's ``calibration:`` block and :data:`DEFAULT_MAPPING`. ``rubric``: a
    :class:`~qa.rubric.Rubric` or a path (default: the packaged default rubric); it gives
    thresholds, the auto-fail flags and the ``calibration:`` block, and is checked against
    the rubric the results were scored with.

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
    conv = pl.read_parquet(paths.conversations, columns=[
        "conversation_id", "overall", "promptness", "politeness", "professionalism",
        "personalization", "empathy", "rubric_id", "rubric_hash"])
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
    for t in targets:
        if t.kind == "rating":
            cats_out.append(_rating(t, rows, scores, table.path))
            continue
        c = rub_crit.get(t.criterion)
        target_s = getattr(c.options, "target_s", None) if c is not None else None
        g_list, q_list, per_unit = [], [], {}
        for line, row in rows:
            raw = row.get(t.label, "")
            try:
                g = _answer(t, raw, target_s=target_s)
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
    return CalibrationReport(
        results_dir=str(paths.root), grades_path=table.path,
        rubric_id=", ".join(rubric_ids) or None, rubric_hash=", ".join(hashes) or None,
        graded=len(table.rows), matched=len(rows), mapping={t.label: t.spec for t in targets},
        criteria=criteria_out, categories=cats_out, disagreements=dis, issues=issues,
        inter_grader=inter, graders=graders, unknown_ids=unknown)


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
