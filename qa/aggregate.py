"""Aggregate scored results with lazy Polars: per agent, team, period and criterion.

Reads the two Parquet files ``qa score`` writes (``OUT/results/conversations.parquet`` and
``OUT/results/criteria.parquet``; their columns are listed in :data:`CONVERSATION_SCHEMA`
and :data:`CRITERIA_SCHEMA`) and answers the questions a coaching report asks:

* where each agent stands: mean overall and category scores, auto-fails, the team's
  average and the agent's percentile in the team (:func:`agent_summary`);
* how the agent moves: means per week or month and the direction of the last change
  (:func:`period_trend`, :func:`trend_direction`);
* what to coach: pass rate and mean score per criterion, against the team
  (:func:`criterion_partials` per chunk of rows, then :func:`criterion_finish`), the
  weakest and strongest criteria (:func:`focus_areas`), and the best and worst quotes
  behind each (:func:`evidence_candidates`, then :func:`top_evidence`).

Definitions (the report's footnotes repeat them):

* **Team average**: the mean over every conversation of the team in the selection
  (conversation-weighted), the agent's own included.
* **Percentile in team**: ``100 * (rank - 1) / (n - 1)`` where ``rank`` is the agent's
  average rank by mean overall score among the ``n`` agents of the team (lowest = 0,
  highest = 100); only for teams of :data:`PERCENTILE_MIN_AGENTS` agents or more (None
  otherwise: a percentile among two agents says nothing).
* **An agent's team** is the team of most of their conversations (ties: alphabetical).
* **Trend**: over the agent's last :data:`TREND_WINDOW` periods with conversations, the
  mean of the later half of those periods against the mean of the earlier half
  (``trend_<col>`` = later − earlier, conversation-weighted; with an odd number of periods
  the earlier half has one more). ``dir_<col>`` is ``None`` unless each half holds at
  least :data:`MIN_CONVERSATIONS` conversations; then ``up`` / ``down`` when the change is
  :data:`TREND_STEP` points or more and larger than chance explains (Welch's t at least
  :data:`TREND_T`: the change against the spread of the conversations' scores), else
  ``flat``. ``n_early`` / ``n_late`` say how many conversations stand behind it.
* **Needs attention**: any auto-fail; or mean overall :data:`ATTENTION_BELOW_TEAM` or more
  points below the team average over :data:`MIN_CONVERSATIONS` conversations or more; or
  an overall trend ``down`` by :data:`ATTENTION_DROP` points or more. The reasons are listed.
* **Focus areas**: among criteria that applied (pass or fail, not N/A) in at least
  ``min_count`` of the agent's conversations and that the agent did not always pass:
  criteria with auto-fails first, then the furthest below the team's pass rate, then the
  lowest pass rate, then the lowest mean score.
* **Strengths**: criteria (same minimum) where the agent does better than the team:
  a higher pass rate, or the same pass rate and a higher mean score. Criteria the whole
  team passes are never strengths. A criterion is never both.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Iterator

import polars as pl

from .errors import ReportError

log = logging.getLogger(__name__)

from .rubric import CATEGORIES
from .schema import CONVERSATION_SCHEMA, CRITERIA_SCHEMA, ROW_GROUP_ROWS, UTC_US

SCORE_COLUMNS = ("overall", *CATEGORIES)
CHUNK_ROWS = ROW_GROUP_ROWS
"""Criteria rows aggregated at a time: one row group of the file ``qa score`` writes."""
PERIODS = ("week", "month")
TREND_STEP = 2.0
"""A trend smaller than this many points is ``flat``."""
TREND_WINDOW = 6
"""Periods (with conversations) a trend looks back over."""
TREND_T = 2.0
"""Welch's t a change must reach to be ``up`` or ``down`` (about 95% confidence)."""
MIN_CONVERSATIONS = 3
"""Conversations each side of a trend, and an agent's conversations for "below team",
needs before the report says anything about it."""
PERCENTILE_MIN_AGENTS = 5
"""Agents a team needs (with scores) before percentiles in it are shown."""
ATTENTION_BELOW_TEAM = 10.0
ATTENTION_DROP = 5.0
VOICE = "voice"
"""Channel groups: ``voice`` (calls) and ``text`` (chat, e-mail, social)."""
SENTIMENT_COLUMNS = ("customer_sentiment_start", "customer_sentiment_end",
                     "customer_sentiment_shift")
"""The customer's sentiment (-1..1) in their first and last turn and the shift; read when
the results have them (older results: the reports show no sentiment)."""
SENTIMENT_STEP = 0.1
"""A shift of at least this much counts as the customer leaving happier (or, below
minus this, unhappier) than they came."""
QUOTES_PER_CONVERSATION = 2
"""Evidence items kept per conversation for a focus area or strength: the failing moment
and, where the check gives one, its context (the customer's message the reply missed)."""
NO_TEAM = ""

# columns the reports cannot do without (the rest are filled with nulls when absent)
REQUIRED_CONVERSATION = ("conversation_id", "agent_id", "overall", *CATEGORIES)
REQUIRED_CRITERIA = ("conversation_id", "agent_id", "criterion_id", "category", "outcome",
                     "score")


# ---------------------------------------------------------------- locating the files
@dataclass(frozen=True)
class ResultsPaths:
    """Where the results of one output folder are."""

    root: Path
    """The output folder (``transcript_path`` values are relative to it)."""
    conversations: Path
    criteria: Path


def locate_results(path: str | Path) -> ResultsPaths:
    """Accept the output folder (holding ``results/``) or the ``results/`` folder itself."""
    p = Path(path)
    for root, res in ((p, p / "results"), (p.parent, p)):
        conv, crit = res / "conversations.parquet", res / "criteria.parquet"
        if conv.is_file() or crit.is_file():
            for f in (conv, crit):
                if not f.is_file():
                    raise ReportError("results file missing", path=f,
                                      fix="Run `qa score` again with this --out folder.")
            return ResultsPaths(root=root, conversations=conv, criteria=crit)
    raise ReportError(
        "no results here (expected results/conversations.parquet and results/criteria.parquet)",
        path=p, fix=f"Score first: `qa score {p}/transcripts --out {p}`, or point at the --out "
        "folder of an earlier `qa score`.")


# ---------------------------------------------------------------- filters
@dataclass(frozen=True)
class Filters:
    """Which conversations a report covers."""

    period: str = "week"
    """``week`` (ISO weeks, starting Monday) or ``month``: the unit of the trend."""
    date_from: date | None = None
    """First day included (UTC). Conversations with no start time are left out when set."""
    date_to: date | None = None
    """Last day included (UTC)."""
    team: str | None = None
    """Only this team."""

    def __post_init__(self) -> None:
        if self.period not in PERIODS:
            raise ReportError(f"unknown period {self.period!r}",
                              fix=f"Use one of: {', '.join(PERIODS)}.")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ReportError(f"--from {self.date_from} is after --to {self.date_to}",
                              fix="Swap the two dates.")

    def describe(self) -> str:
        bits = []
        if self.team is not None:
            bits.append(f"team {self.team}")
        if self.date_from or self.date_to:
            bits.append(f"{self.date_from or '…'} to {self.date_to or '…'}")
        return ", ".join(bits) or "all conversations"


def _check_columns(lf: pl.LazyFrame, path: Path, schema: dict, required: tuple) -> pl.LazyFrame:
    try:
        have = lf.collect_schema()
    except Exception as exc:  # noqa: BLE001 - polars raises several types for bad files
        raise ReportError(f"cannot read the Parquet file ({exc.__class__.__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''})", path=path,
                          fix="Re-create it with `qa score`.") from None
    missing = [c for c in required if c not in have]
    if missing:
        raise ReportError(f"column(s) {', '.join(missing)} missing", path=path,
                          fix="The file was written by another qa version: run `qa score` again.")
    fill = [pl.lit(None, dtype=dt).alias(c) for c, dt in schema.items() if c not in have]
    if fill:
        lf = lf.with_columns(fill)
    casts = {c: dt for c, dt in schema.items()
             if c in have and have[c] != dt and not isinstance(dt, (pl.List, pl.Struct))}
    if casts:
        lf = lf.with_columns([pl.col(c).cast(dt, strict=False) for c, dt in casts.items()])
    return lf


def _date_bounds(filters: Filters) -> list[pl.Expr]:
    preds = []
    if filters.date_from is not None:
        start = datetime.combine(filters.date_from, time(0), tzinfo=timezone.utc)
        preds.append(pl.col("started_at") >= pl.lit(start).cast(UTC_US))
    if filters.date_to is not None:
        end = datetime.combine(filters.date_to + timedelta(days=1), time(0), tzinfo=timezone.utc)
        preds.append(pl.col("started_at") < pl.lit(end).cast(UTC_US))
    return preds


def select_conversations(paths: ResultsPaths, filters: Filters = Filters()) -> pl.LazyFrame:
    """Lazy frame of the selected conversations: ``team`` nulls become ``""`` (shown as
    "(no team)") so they group and join like any team; ``period`` (the start of the week
    or month, a Date) is added."""
    conv = _check_columns(pl.scan_parquet(paths.conversations), paths.conversations,
                          CONVERSATION_SCHEMA, REQUIRED_CONVERSATION)
    every = "1w" if filters.period == "week" else "1mo"
    have = conv.collect_schema()
    absent = [c for c in SENTIMENT_COLUMNS if c not in have]
    if absent:  # results scored before sentiment was recorded
        conv = conv.with_columns(pl.lit(None, dtype=pl.Float64).alias(c) for c in absent)
    conv = conv.with_columns(
        pl.when(pl.col("channel") == VOICE).then(pl.lit(VOICE)).otherwise(pl.lit("text"))
        .alias("channel_group"),
        pl.col("team").fill_null(NO_TEAM),
        pl.col("auto_fail").fill_null(False),
        pl.col("started_at").dt.truncate(every).dt.date().alias("period"),
    )
    preds = _date_bounds(filters)
    if filters.team is not None:
        preds.append(pl.col("team") == filters.team)
    if preds:
        conv = conv.filter(*preds)
    return conv


def _scan_criteria(paths: ResultsPaths) -> pl.LazyFrame:
    return _check_columns(pl.scan_parquet(paths.criteria), paths.criteria,
                          CRITERIA_SCHEMA, REQUIRED_CRITERIA)


def _with_conversations(crit: pl.LazyFrame, conv: pl.LazyFrame) -> pl.LazyFrame:
    """Criteria rows of the selected conversations, with the conversation's agent, team,
    start and period (the conversation table is the authority for those)."""
    return crit.drop("team", "started_at", "agent_id").join(
        conv.select("conversation_id", "agent_id", "team", "started_at", "period"),
        on="conversation_id", how="inner")


def criteria_chunks(paths: ResultsPaths, conv: pl.LazyFrame | None,
                    rows: int | None = None) -> Iterator[pl.LazyFrame]:
    """The criteria rows of the selected conversations ``conv``, ``rows`` file rows at
    a time (default :data:`CHUNK_ROWS`), as lazy frames with the conversation's agent, team,
    start and period (:func:`select_conversations`).

    ``qa score`` writes the criteria file in row groups of that size, so each chunk reads
    one row group and memory stays the same however many conversations there are. A
    conversation's rows may straddle two chunks: what is computed per chunk must merge
    (sums, counts, top-k candidates). With ``conv`` None, the file's rows as they are."""
    rows = rows or CHUNK_ROWS
    total = _scan_criteria(paths).select(pl.len()).collect().item()
    for offset in range(0, max(total, 1), rows):
        crit = _check_columns(pl.scan_parquet(paths.criteria).slice(offset, rows),
                              paths.criteria, CRITERIA_SCHEMA, REQUIRED_CRITERIA)
        yield crit if conv is None else _with_conversations(crit, conv)


# ---------------------------------------------------------------- agents and teams
def agent_teams(conv: pl.LazyFrame) -> pl.LazyFrame:
    """agent_id → team (of most conversations) and agent_name (latest non-null)."""
    team = (conv.group_by("agent_id", "team").agg(pl.len().alias("_n"))
            .sort(["agent_id", "_n", "team"], descending=[False, True, False])
            .group_by("agent_id", maintain_order=True).agg(pl.col("team").first()))
    name = (conv.filter(pl.col("agent_name").is_not_null())
            .sort("started_at", nulls_last=False)
            .group_by("agent_id").agg(pl.col("agent_name").last()))
    return team.join(name, on="agent_id", how="left")


def team_summary(conv: pl.LazyFrame) -> pl.LazyFrame:
    """Per team: conversations, agents, mean overall and category scores, auto-fails."""
    return (conv.group_by("team")
            .agg(pl.len().alias("n_conversations"),
                 pl.col("agent_id").n_unique().alias("n_agents"),
                 *[pl.col(c).mean() for c in SCORE_COLUMNS],
                 pl.col("auto_fail").sum().alias("auto_fails"),
                 pl.col("customer_sentiment_shift").mean().alias("sentiment_shift"))
            .sort("team"))


def agent_summary(conv: pl.LazyFrame, trend_dir: pl.LazyFrame | None = None, *,
                  unit: str = "period") -> pl.LazyFrame:
    """One row per agent: means, team means (``team_<col>``), the difference
    (``delta_<col>``), percentile in team, auto-fails, first/last conversation and the
    needs-attention flag with its reasons (when ``trend_dir`` from :func:`trend_direction`
    is given, its columns are joined in and falling trends count)."""
    teams = agent_teams(conv)
    shift = pl.col("customer_sentiment_shift")
    per_agent = (conv.group_by("agent_id")
                 .agg(pl.len().alias("n_conversations"),
                      *[pl.col(c).mean() for c in SCORE_COLUMNS],
                      pl.col("auto_fail").sum().alias("auto_fails"),
                      pl.col("started_at").min().alias("first_at"),
                      pl.col("started_at").max().alias("last_at"),
                      shift.count().alias("n_sentiment"),
                      pl.col("customer_sentiment_start").mean().alias("sentiment_start"),
                      pl.col("customer_sentiment_end").mean().alias("sentiment_end"),
                      shift.mean().alias("sentiment_shift"),
                      (shift >= SENTIMENT_STEP).sum().alias("sentiment_better"),
                      (shift <= -SENTIMENT_STEP).sum().alias("sentiment_worse"))
                 .join(teams, on="agent_id", how="left"))
    team_means = team_summary(conv).select(
        "team", *[pl.col(c).alias(f"team_{c}") for c in SCORE_COLUMNS],
        pl.col("sentiment_shift").alias("team_sentiment_shift"))
    out = per_agent.join(team_means, on="team", how="left").with_columns(
        *[(pl.col(c) - pl.col(f"team_{c}")).alias(f"delta_{c}") for c in SCORE_COLUMNS],
        pl.len().over("team").alias("team_size"),
        pl.col("overall").rank("average").over("team").alias("_rank"),
        pl.col("overall").is_not_null().sum().over("team").alias("_ranked"),
    ).with_columns(
        pl.when(pl.col("overall").is_null() | (pl.col("_ranked") < PERCENTILE_MIN_AGENTS))
        .then(None)
        .otherwise(100.0 * (pl.col("_rank") - 1) / (pl.col("_ranked") - 1))
        .alias("percentile"),
        pl.col("_ranked").alias("team_ranked"),
    ).drop("_rank", "_ranked")
    if trend_dir is not None:
        out = out.join(trend_dir, on="agent_id", how="left")
    else:
        out = out.with_columns(pl.lit(None, dtype=pl.Float64).alias("trend_overall"),
                               pl.lit(None, dtype=pl.String).alias("dir_overall"),
                               pl.lit(None, dtype=pl.Float64).alias("trend_early_overall"),
                               pl.lit(None, dtype=pl.Float64).alias("trend_late_overall"),
                               pl.lit(None, dtype=pl.Int64).alias("trend_periods"))
    points = lambda e: e.round(0).cast(pl.Int64)  # noqa: E731
    reasons = [
        pl.when(pl.col("auto_fails") > 0)
        .then(pl.format("{} auto-fail{}", pl.col("auto_fails"),
                        pl.when(pl.col("auto_fails") == 1).then(pl.lit("")).otherwise(pl.lit("s")))),
        pl.when((pl.col("delta_overall") <= -ATTENTION_BELOW_TEAM)
                & (pl.col("n_conversations") >= MIN_CONVERSATIONS))
        .then(pl.format("overall {} points below team over {} conversations",
                        points(-pl.col("delta_overall")), pl.col("n_conversations"))),
        pl.when((pl.col("dir_overall") == "down") & (pl.col("trend_overall") <= -ATTENTION_DROP))
        .then(pl.format(f"overall down {{}} points ({{}} → {{}} over the last {{}} {unit}s)",
                        points(-pl.col("trend_overall")), points(pl.col("trend_early_overall")),
                        points(pl.col("trend_late_overall")), pl.col("trend_periods"))),
    ]
    out = out.with_columns(
        pl.concat_list(reasons).list.drop_nulls().alias("attention_reasons"))
    return out.with_columns(
        (pl.col("attention_reasons").list.len() > 0).alias("needs_attention")
    ).sort(["team", "agent_id"])


# ---------------------------------------------------------------- trend
def period_trend(conv: pl.LazyFrame, by: str = "agent_id") -> pl.LazyFrame:
    """Mean scores per ``by`` (``agent_id`` or ``team``) and period, oldest first.
    Conversations without a start time have no period and are left out."""
    return (conv.filter(pl.col("period").is_not_null())
            .group_by(by, "period")
            .agg(pl.len().alias("n"), *[pl.col(c).mean() for c in SCORE_COLUMNS])
            .sort([by, "period"]))


def trend_direction(conv: pl.LazyFrame, by: str = "agent_id") -> pl.LazyFrame:
    """Per ``by`` (``agent_id`` or ``team``), from the conversations ``conv`` of
    :func:`select_conversations`: the trend of each score over the last
    :data:`TREND_WINDOW` periods with conversations (the module's definition).

    Columns: ``trend_periods`` (periods looked at), and per score column ``c``:
    ``trend_c`` (later half's mean − earlier half's), ``dir_c`` (``up`` / ``down`` /
    ``flat``, None without :data:`MIN_CONVERSATIONS` conversations each side); for
    ``overall`` also ``trend_early_overall`` / ``trend_late_overall`` (the two means) and
    ``n_early`` / ``n_late`` (the conversations behind them)."""
    dated = conv.filter(pl.col("period").is_not_null())
    window = (dated.select(by, "period").unique()
              .with_columns(pl.col("period").rank("dense", descending=True).over(by)
                            .alias("_back"))
              .filter(pl.col("_back") <= TREND_WINDOW)
              .with_columns(pl.col("_back").max().over(by).alias("trend_periods")))
    rows = dated.join(window, on=[by, "period"], how="inner").with_columns(
        (pl.col("_back") <= pl.col("trend_periods") // 2).alias("_late"))
    late, early = pl.col("_late"), ~pl.col("_late")
    aggs = [pl.col("trend_periods").first()]
    for c in SCORE_COLUMNS:
        for side, cond in (("late", late), ("early", early)):
            v = pl.col(c).filter(cond & pl.col(c).is_not_null())
            aggs += [v.count().alias(f"_n_{side}_{c}"), v.mean().alias(f"_m_{side}_{c}"),
                     v.var(ddof=1).alias(f"_v_{side}_{c}")]
    out = rows.group_by(by).agg(aggs)
    cols = []
    for c in SCORE_COLUMNS:
        ne, nl = pl.col(f"_n_early_{c}"), pl.col(f"_n_late_{c}")
        diff = pl.col(f"_m_late_{c}") - pl.col(f"_m_early_{c}")
        se = (pl.col(f"_v_early_{c}").fill_null(0.0) / ne
              + pl.col(f"_v_late_{c}").fill_null(0.0) / nl).sqrt()
        clear = pl.when(se > 0).then(diff.abs() / se >= TREND_T).otherwise(diff.abs() > 0)
        cols += [
            pl.when(pl.col("trend_periods") >= 2).then(diff).alias(f"trend_{c}"),
            pl.when((pl.col("trend_periods") < 2) | (ne < MIN_CONVERSATIONS)
                    | (nl < MIN_CONVERSATIONS)).then(None)
            .when(clear & (diff >= TREND_STEP)).then(pl.lit("up"))
            .when(clear & (diff <= -TREND_STEP)).then(pl.lit("down"))
            .otherwise(pl.lit("flat")).alias(f"dir_{c}"),
        ]
    return out.with_columns(
        *cols,
        pl.col("_m_early_overall").alias("trend_early_overall"),
        pl.col("_m_late_overall").alias("trend_late_overall"),
        pl.col("_n_early_overall").cast(pl.Int64).alias("n_early"),
        pl.col("_n_late_overall").cast(pl.Int64).alias("n_late"),
        pl.col("trend_periods").cast(pl.Int64),
    ).select(by, "trend_periods", "trend_early_overall", "trend_late_overall", "n_early",
             "n_late", *[f"trend_{c}" for c in SCORE_COLUMNS],
             *[f"dir_{c}" for c in SCORE_COLUMNS])


def channel_summary(conv: pl.LazyFrame) -> pl.LazyFrame:
    """Per agent and channel group (``voice``; ``text``: chat, e-mail, social):
    conversations and mean scores, with the same for the agent's team in that channel
    group (``team_<col>``)."""
    teams = agent_teams(conv).select("agent_id", "team")
    mine = (conv.group_by("agent_id", "channel_group")
            .agg(pl.len().alias("n"), *[pl.col(c).mean() for c in SCORE_COLUMNS]))
    team = (conv.group_by("team", "channel_group")
            .agg(pl.len().alias("team_n"),
                 *[pl.col(c).mean().alias(f"team_{c}") for c in SCORE_COLUMNS]))
    return (mine.join(teams, on="agent_id", how="left")
            .join(team, on=["team", "channel_group"], how="left")
            .sort(["agent_id", "channel_group"], descending=[False, True]))


# ---------------------------------------------------------------- criteria
_COUNTS = ("n_total", "n_applicable", "n_pass", "n_fail", "n_na", "auto_fails",
           "score_sum", "n_scored")


def criterion_partials(crit: pl.LazyFrame) -> pl.LazyFrame:
    """Per (agent, team, criterion): counts and the score sum. Sums of these over
    chunks of rows give the counts of the whole (see :func:`merge_partials`)."""
    applicable = pl.col("outcome").is_in(["pass", "fail"])
    scored = pl.col("score").filter(applicable)
    return crit.group_by("agent_id", "team", "criterion_id").agg(
        pl.len().cast(pl.Int64).alias("n_total"),
        applicable.sum().cast(pl.Int64).alias("n_applicable"),
        (pl.col("outcome") == "pass").sum().cast(pl.Int64).alias("n_pass"),
        (pl.col("outcome") == "fail").sum().cast(pl.Int64).alias("n_fail"),
        (pl.col("outcome") == "na").sum().cast(pl.Int64).alias("n_na"),
        pl.col("auto_fail").fill_null(False).sum().cast(pl.Int64).alias("auto_fails"),
        scored.sum().cast(pl.Float64).alias("score_sum"),
        scored.count().cast(pl.Int64).alias("n_scored"),
    )


def criterion_period_partials(crit: pl.LazyFrame) -> pl.LazyFrame:
    """Per (agent, criterion, period): applicable conversations and passes; sums over
    chunks give the whole (:func:`merge_period_partials`)."""
    return (crit.filter(pl.col("period").is_not_null())
            .group_by("agent_id", "criterion_id", "period").agg(
                pl.col("outcome").is_in(["pass", "fail"]).sum().cast(pl.Int64).alias("n"),
                (pl.col("outcome") == "pass").sum().cast(pl.Int64).alias("n_pass")))


def merge_period_partials(parts: pl.LazyFrame) -> pl.LazyFrame:
    return (parts.group_by("agent_id", "criterion_id", "period")
            .agg(pl.col("n").sum(), pl.col("n_pass").sum()))


def criterion_trend(parts: pl.LazyFrame) -> pl.LazyFrame:
    """Per agent, criterion and period: ``n`` conversations where the criterion applied,
    ``n_pass`` and ``pass_rate`` (null when it never applied), oldest period first."""
    return (parts.filter(pl.col("n") > 0)
            .with_columns((pl.col("n_pass") / pl.col("n")).alias("pass_rate"))
            .sort(["agent_id", "criterion_id", "period"]))


def merge_partials(parts: pl.LazyFrame) -> pl.LazyFrame:
    """Add up :func:`criterion_partials` of several chunks."""
    return parts.group_by("agent_id", "team", "criterion_id").agg(pl.col(c).sum() for c in _COUNTS)


_META = ("category", "description", "coaching")
_LATEST_FIRST = dict(by=["started_at", "conversation_id"], descending=True, nulls_last=True)


def criterion_meta_candidates(crit: pl.LazyFrame) -> pl.LazyFrame:
    """Each distinct wording of each criterion with its latest conversation: enough to
    find the latest wording of the whole from the candidates of its chunks."""
    return (crit.select("criterion_id", "started_at", "conversation_id", *_META)
            .sort(**_LATEST_FIRST)
            .unique(subset=["criterion_id", *_META], keep="first", maintain_order=True))


def criterion_meta(rows: pl.LazyFrame) -> pl.LazyFrame:
    """Per criterion: category, description and coaching tip from the most recent
    conversation that has them (the current rubric's wording)."""
    return (rows.sort(**_LATEST_FIRST)
            .group_by("criterion_id")
            .agg(pl.col(c).drop_nulls().first() for c in _META))


def _rate(num: str, den: str) -> pl.Expr:
    return pl.when(pl.col(den) > 0).then(pl.col(num) / pl.col(den))


def criterion_finish(parts: pl.LazyFrame, meta: pl.LazyFrame, teams: pl.LazyFrame) -> pl.LazyFrame:
    """One row per (agent, criterion) from merged partials, the criterion wording and
    each agent's main team (:func:`agent_teams`): counts, ``pass_rate`` (passes / (passes
    + fails), null when the criterion never applied), ``mean_score`` (0..1, N/A excluded),
    and the same two for the agent's team (``team_pass_rate``, ``team_mean_score``)."""
    # an agent in several teams: one row, compared with their main team
    agent = (parts.group_by("agent_id", "criterion_id").agg(pl.col(c).sum() for c in _COUNTS)
             .join(teams.select("agent_id", "team"), on="agent_id", how="left"))
    team = (parts.group_by("team", "criterion_id").agg(pl.col(c).sum() for c in _COUNTS)
            .select("team", "criterion_id",
                    _rate("n_pass", "n_applicable").alias("team_pass_rate"),
                    _rate("score_sum", "n_scored").alias("team_mean_score")))
    return (agent.with_columns(_rate("n_pass", "n_applicable").alias("pass_rate"),
                               _rate("score_sum", "n_scored").alias("mean_score"))
            .drop("score_sum", "n_scored")
            .join(meta, on="criterion_id", how="left")
            .join(team, on=["team", "criterion_id"], how="left")
            .sort(["agent_id", "criterion_id"]))


def auto_fail_counts(parts: pl.LazyFrame) -> pl.LazyFrame:
    """Per agent and criterion: how many auto-fails (from :func:`criterion_partials`)."""
    return (parts.filter(pl.col("auto_fails") > 0)
            .group_by("agent_id", "criterion_id").agg(pl.col("auto_fails").sum().alias("n"))
            .sort("agent_id", "criterion_id"))


def focus_areas(stats: pl.DataFrame, agent_id: str, *, k: int = 3,
                min_count: int = 2) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The agent's ``k`` focus areas and ``k`` strengths (rows of
    :func:`criterion_finish`), among criteria that applied ``min_count`` times or more.

    Focus areas: criteria not always passed (pass rate or mean score below 1); auto-fails
    first, then the furthest below the team's pass rate (what sets this agent apart from
    colleagues who work the same customers), then the lowest pass rate and mean score. Strengths: criteria where
    the agent beats the team (a higher pass rate, or the same and a higher mean score),
    the widest margin first; a criterion the whole team passes is not one."""
    eps = 1e-9
    rows = stats.filter((pl.col("agent_id") == agent_id)
                        & (pl.col("n_applicable") >= min_count))
    margin = pl.col("pass_rate") - pl.col("team_pass_rate")
    weak = (rows.filter((pl.col("pass_rate") < 1) | (pl.col("mean_score") < 1))
            .with_columns(margin.fill_null(0.0).alias("_margin"))
            .sort(["auto_fails", "_margin", "pass_rate", "mean_score", "n_applicable",
                   "criterion_id"],
                  descending=[True, False, False, False, True, False], nulls_last=True)
            .drop("_margin")
            .head(k))
    above = (margin > eps) | ((margin.abs() <= eps)
                              & (pl.col("mean_score") > pl.col("team_mean_score") + eps))
    strong = (rows.filter(above.fill_null(False) & (pl.col("pass_rate") > 0))
              .filter(~pl.col("criterion_id").is_in(weak["criterion_id"].implode()))
              .with_columns(margin.alias("_margin"))
              .sort(["_margin", "pass_rate", "mean_score", "n_applicable", "criterion_id"],
                    descending=[True, True, True, True, False], nulls_last=True)
              .drop("_margin")
              .head(k))
    return weak, strong


def evidence_candidates(crit: pl.LazyFrame) -> pl.LazyFrame:
    """Every quote that can illustrate an outcome: negative evidence of fails (``kind``
    ``worst``) and positive evidence of passes (``best``), with the sort key ``_key``."""
    return (crit.filter(pl.col("outcome").is_in(["pass", "fail"]))
            .select("agent_id", "criterion_id", "conversation_id", "started_at", "channel",
                    "outcome", "score", "reason", "evidence",
                    pl.int_ranges(pl.col("evidence").list.len().fill_null(0)).alias("ev_pos"))
            .explode("evidence", "ev_pos")
            .filter(pl.col("evidence").is_not_null())
            .unnest("evidence")
            .with_columns(pl.col("polarity").fill_null(
                pl.when(pl.col("outcome") == "pass").then(pl.lit("positive"))
                .otherwise(pl.lit("negative"))))
            .filter(((pl.col("outcome") == "fail") & (pl.col("polarity") == "negative"))
                    | ((pl.col("outcome") == "pass") & (pl.col("polarity") == "positive")))
            .with_columns(pl.when(pl.col("outcome") == "fail").then(pl.lit("worst"))
                          .otherwise(pl.lit("best")).alias("kind"),
                          pl.when(pl.col("outcome") == "fail").then(pl.col("score"))
                          .otherwise(-pl.col("score")).alias("_key")))


def top_evidence(ev: pl.LazyFrame, k: int, *, keep_key: bool = False) -> pl.LazyFrame:
    """The candidates of the ``k`` first conversations per (agent, criterion, kind), at
    most :data:`QUOTES_PER_CONVERSATION` items each in the order the check gave them (the
    check puts the moment that decided the outcome first, with the turn it answers
    beside it). ``worst``: lowest score first, then the most recent conversation;
    ``best``: highest score first, then the most recent. ``rank`` numbers the
    conversations (0 first), ``item`` the items of one conversation.

    Applied to the top-``k`` of each chunk (``keep_key=True``), it gives the top-``k`` of
    the whole: a conversation in the overall top-``k`` has fewer than ``k`` better ones
    overall, so fewer than ``k`` in its own chunk (a criterion's evidence is in one row)."""
    group = ("agent_id", "criterion_id", "kind")
    ev = (ev.drop("rank", "item", strict=False)
          .sort([*group, "_key", "started_at", "conversation_id", "ev_pos", "turn_index",
                 "match_start", "match_end", "match", "quote"],
                descending=[False, False, False, False, True, False, False, False, False,
                            False, False, False],
                nulls_last=True)
          .with_columns(pl.int_range(pl.len()).over(*group, "conversation_id").alias("item"))
          .filter(pl.col("item") < QUOTES_PER_CONVERSATION)
          .with_columns(((pl.col("item") == 0).cast(pl.Int64).cum_sum().over(*group) - 1)
                        .alias("rank"))
          .filter(pl.col("rank") < k))
    return ev if keep_key else ev.drop("_key")


# ---------------------------------------------------------------- everything at once
@dataclass
class Aggregates:
    """Everything the reports need, collected."""

    paths: ResultsPaths
    filters: Filters
    conversations: pl.DataFrame
    """The selected conversations (one row each, ``team`` "" when it had none)."""
    agents: pl.DataFrame
    """:func:`agent_summary` with trend columns."""
    teams: pl.DataFrame
    """:func:`team_summary` with the team trend directions."""
    trend: pl.DataFrame
    """:func:`period_trend` per agent."""
    team_trend: pl.DataFrame
    """:func:`period_trend` per team."""
    criteria: pl.DataFrame
    """:func:`criterion_finish`: one row per (agent, criterion)."""
    evidence: pl.DataFrame
    """:func:`top_evidence`: up to ``examples`` best and worst quotes per (agent, criterion)."""
    auto_fail_criteria: pl.DataFrame = field(default_factory=pl.DataFrame)
    """Per agent and criterion: how many auto-fails."""
    criterion_trend: pl.DataFrame = field(default_factory=pl.DataFrame)
    """:func:`criterion_trend`: pass rate per agent, criterion and period, with ``n``."""
    channels: pl.DataFrame = field(default_factory=pl.DataFrame)
    """:func:`channel_summary`: per agent and channel group (voice / text)."""

    @property
    def periods(self) -> list[date]:
        return sorted(p for p in self.conversations["period"].unique().to_list() if p)


def _compact(df: pl.DataFrame) -> pl.DataFrame:
    """A copy of a small frame that owns its strings.

    Polars strings are views into the buffers of the frame they were selected from: the
    few rows kept from a chunk would otherwise hold the whole chunk's text in memory
    (measured: +300 MiB over 100,000 conversations)."""
    buf = io.BytesIO()
    df.write_ipc(buf, compat_level=pl.CompatLevel.oldest())  # plain strings: a copy
    buf.seek(0)
    return pl.read_ipc(buf)


def aggregate(results: str | Path | ResultsPaths, filters: Filters = Filters(), *,
              examples: int = 3) -> Aggregates:
    """Read the results under ``results`` (output folder or its ``results/``) and
    compute every aggregate, in one lazy Polars plan per table."""
    paths = results if isinstance(results, ResultsPaths) else locate_results(results)
    conversations = (select_conversations(paths, filters)
                     .sort(["agent_id", "started_at", "conversation_id"], nulls_last=True)
                     .collect())
    conv = conversations.lazy()
    # the criteria rows chunk by chunk, folding each chunk's partial results into the
    # running ones: memory stays flat as the results grow (folding every few chunks
    # instead was faster but took more memory: 5.0 s / 411 MiB against 6.3 s / 366 MiB
    # for 1.2 M rows)
    partials = meta = ev = per = None
    for crit in criteria_chunks(paths, conv):
        p, m, e, q = map(_compact, pl.collect_all([
            criterion_partials(crit), criterion_meta_candidates(crit),
            top_evidence(evidence_candidates(crit), examples, keep_key=True),
            criterion_period_partials(crit)]))
        if partials is None:
            partials, meta, ev, per = p, m, e, q
            continue
        partials, meta, ev, per = pl.collect_all([
            merge_partials(pl.concat([partials, p]).lazy()),
            criterion_meta_candidates(pl.concat([meta, m]).lazy()),
            top_evidence(pl.concat([ev, e]).lazy(), examples, keep_key=True),
            merge_period_partials(pl.concat([per, q]).lazy())])
    partials = partials.lazy()
    trend = period_trend(conv)
    team_trend = period_trend(conv, by="team")
    frames = pl.collect_all([
        agent_summary(conv, trend_direction(conv), unit=filters.period),
        team_summary(conv).join(trend_direction(conv, by="team"), on="team", how="left",
                                maintain_order="left"),
        trend, team_trend,
        criterion_finish(partials, criterion_meta(meta.lazy()), agent_teams(conv)),
        top_evidence(ev.lazy(), examples),
        auto_fail_counts(partials),
        criterion_trend(per.lazy()),
        channel_summary(conv),
    ])
    agents, teams, trend_df, team_trend_df, stats, ev, af_df, ctrend, chan = frames
    from .store import plural

    log.info("aggregated %s, %s, %s",
             plural(conversations.height, "conversation"), plural(agents.height, "agent"),
             plural(teams.height, "team"))
    return Aggregates(paths=paths, filters=filters, conversations=conversations, agents=agents,
                      teams=teams, trend=trend_df, team_trend=team_trend_df, criteria=stats,
                      evidence=ev, auto_fail_criteria=af_df, criterion_trend=ctrend,
                      channels=chan)


def criteria_rows(paths: ResultsPaths, conversation_ids: pl.Series | list[str] | None = None
                  ) -> pl.LazyFrame:
    """The raw criteria rows (with evidence) of some conversations."""
    crit = _scan_criteria(paths)
    if conversation_ids is not None:
        ids = pl.Series("conversation_id", conversation_ids, dtype=pl.String).drop_nulls()
        crit = crit.filter(pl.col("conversation_id").is_in(ids.implode()))
    return crit


def _grouped(paths: ResultsPaths) -> bool:
    """Whether every conversation's criteria rows are next to each other in the file (as
    qa writes them), checked one chunk of the id column at a time."""
    seen: set[str] = set()
    last = None
    for crit in criteria_chunks(paths, None):
        ids = crit.select("conversation_id").collect()["conversation_id"]
        if ids.len() == 0:
            continue
        starts = ids.filter((ids != ids.shift(1)).fill_null(True)).to_list()
        if starts[0] == last:  # the previous chunk's last conversation goes on
            starts = starts[1:]
        for cid in starts:
            if cid in seen:
                return False
            seen.add(cid)
        last = ids[-1]
    return True


def criteria_by_conversation(paths: ResultsPaths, conversation_ids: pl.Series, *, per: int
                             ) -> Iterator[tuple[list[str], pl.DataFrame]]:
    """Yield ``(ids, rows)``: the criteria rows of at most ``per`` of ``conversation_ids`` at a
    time, each conversation's rows complete, until every id has come (an id with no rows
    comes with none).

    qa writes a conversation's rows together, so the file is read once, a chunk at a
    time, and memory does not depend on its size; a file in any other order is read per
    batch of ids instead."""
    wanted = pl.Series("conversation_id", conversation_ids, dtype=pl.String).drop_nulls().unique()
    if wanted.len() == 0:
        return
    if not _grouped(paths):
        ids = wanted.sort()
        for start in range(0, ids.len(), per):
            part = ids.slice(start, per)
            yield part.to_list(), criteria_rows(paths, part).collect()
        return
    done: set[str] = set()
    carry = None
    for crit in criteria_chunks(paths, None):
        raw, tail = pl.collect_all([crit.filter(pl.col("conversation_id").is_in(wanted.implode())),
                                    crit.select(pl.col("conversation_id").last())])
        tail = tail.item()
        if carry is not None:
            raw = pl.concat([carry, raw])
        # the chunk's last conversation may go on in the next chunk
        carry = raw.filter(pl.col("conversation_id") == tail)
        raw = raw.filter(pl.col("conversation_id") != tail)
        order = raw["conversation_id"].unique(maintain_order=True).to_list()
        for start in range(0, len(order), per):
            ids = order[start:start + per]
            done.update(ids)
            yield ids, raw.filter(pl.col("conversation_id").is_in(ids))
    if carry is not None and carry.height:
        ids = carry["conversation_id"].unique(maintain_order=True).to_list()
        done.update(ids)
        yield ids, carry
    rest = [cid for cid in wanted.to_list() if cid not in done]
    for start in range(0, len(rest), per):
        yield rest[start:start + per], _scan_criteria(paths).head(0).collect()


# ---------------------------------------------------------------- reviewed scores
def reviewed_scores(paths: ResultsPaths, rubric=None) -> pl.DataFrame:
    """Per reviewed conversation: the scores with the graders' answers in place of qa's
    where a review exists (``qa calibrate --record-reviews``; :mod:`qa.calibrate`).

    As :func:`qa.calibrate.reviewed_agent_scores` scores them, so the calibration page and
    the reports agree: a reviewed criterion scores 1 for pass, 0 for fail and is left out
    for N/A; categories are the weighted means of their criteria (the weights recorded in
    the results), overall the rubric's weighted mean of the categories (the built-in
    rubric unless ``rubric`` is given), 0 when an auto-fail criterion fails. Columns:
    ``conversation_id``, ``rev_overall``, ``rev_<category>``, ``n_reviews`` (criteria with
    a graders' answer) and ``n_changed`` (those whose answer differs from qa's). Empty
    without reviews; the automatic results are never changed."""
    from .calibrate import _load_rubric, read_reviews, reviewed_outcome
    from .score import overall_score

    cols = ["conversation_id", "rev_overall", *[f"rev_{c}" for c in CATEGORIES],
            "n_reviews", "n_changed"]
    schema = {c: (pl.String if c == "conversation_id" else
                  pl.Int64 if c.startswith("n_") else pl.Float64) for c in cols}
    reviews = read_reviews(paths.root)
    if not reviews:
        return pl.DataFrame(schema=schema)
    rub = _load_rubric(rubric)
    auto_fail_ids = {c.id for c in rub.criteria if c.auto_fail}
    ids = pl.Series("conversation_id", list(reviews), dtype=pl.String)
    crit = (_scan_criteria(paths)
            .select("conversation_id", "criterion_id", "category", "outcome", "score", "weight",
                    "auto_fail")
            .filter(pl.col("conversation_id").is_in(ids.implode())).collect())
    rows_by: dict[str, list[dict]] = {}
    for r in crit.iter_rows(named=True):
        rows_by.setdefault(r["conversation_id"], []).append(r)
    out = []
    for cid, rows in rows_by.items():
        cats: dict[str, list[tuple[float, float]]] = {}
        failed_af = n_rev = n_changed = 0
        for r in rows:
            outcome, score = r["outcome"], r["score"]
            rv = reviewed_outcome(reviews.get(cid, {}).get(r["criterion_id"], []))
            if rv is not None:
                n_rev += 1
                n_changed += rv != outcome
                outcome, score = rv, {"pass": 1.0, "fail": 0.0}.get(rv)
            if outcome == "fail" and (r["criterion_id"] in auto_fail_ids
                                      or (rv is None and r["auto_fail"])):
                failed_af = 1
            if outcome != "na" and score is not None:
                cats.setdefault(r["category"], []).append((r["weight"] or 0.0, score))
        cat_scores = {c: (100.0 * sum(w * s for w, s in v) / sum(w for w, _ in v)
                          if sum(w for w, _ in v) > 0 else None) for c, v in cats.items()}
        overall = 0.0 if failed_af else overall_score(cat_scores, rub.categories)
        out.append({"conversation_id": cid, "rev_overall": overall,
                    **{f"rev_{c}": cat_scores.get(c) for c in CATEGORIES},
                    "n_reviews": n_rev, "n_changed": n_changed})
    return pl.DataFrame(out, schema=schema)


def reviewed_summary(conv: pl.DataFrame, reviewed: pl.DataFrame) -> tuple[pl.DataFrame,
                                                                         pl.DataFrame]:
    """Agent and team means with reviewed scores in place of the automatic ones for the
    reviewed conversations of the selection ``conv`` (the others count as they are):
    per agent ``rev_<col>``, ``team_rev_<col>``, ``n_reviewed`` (conversations with at
    least one review); per team ``rev_<col>`` and ``n_reviewed``."""
    rows = conv.join(reviewed, on="conversation_id", how="left").with_columns(
        *[pl.when(pl.col("n_reviews").fill_null(0) > 0).then(pl.col(f"rev_{c}"))
          .otherwise(pl.col(c)).alias(f"rev_{c}") for c in SCORE_COLUMNS],
        (pl.col("n_reviews").fill_null(0) > 0).alias("_reviewed"))
    teams = agent_teams(rows.lazy()).collect().select("agent_id", "team")
    team = (rows.group_by("team")
            .agg(*[pl.col(f"rev_{c}").mean() for c in SCORE_COLUMNS],
                 pl.col("_reviewed").sum().cast(pl.Int64).alias("n_reviewed")))
    agent = (rows.group_by("agent_id")
             .agg(*[pl.col(f"rev_{c}").mean() for c in SCORE_COLUMNS],
                  pl.col("_reviewed").sum().cast(pl.Int64).alias("n_reviewed"))
             .join(teams, on="agent_id", how="left")
             .join(team.select("team", *[pl.col(f"rev_{c}").alias(f"team_rev_{c}")
                                         for c in SCORE_COLUMNS]), on="team", how="left")
             .drop("team"))
    return agent.sort("agent_id"), team.sort("team")
