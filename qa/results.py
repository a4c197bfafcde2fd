"""Results as Parquet: scored conversations → ``OUT/results/conversations.parquet`` and
``OUT/results/criteria.parquet`` (columns: :mod:`qa.schema`), written atomically.

```python
from qa.results import write_results

write_results(results, "qa-out")             # results from qa.score.score_conversations
```

:func:`results_frames` gives the two tables as Polars DataFrames; :class:`ResultsWriter`
writes a run chunk by chunk with flat memory.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from .rubric import CATEGORIES
from .store import OutDir, atomic_path

if TYPE_CHECKING:
    from .score import ConversationResult


def _schemas():
    from .schema import CONVERSATION_SCHEMA, CRITERIA_SCHEMA

    return CONVERSATION_SCHEMA, CRITERIA_SCHEMA


def _utc(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    if dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


_EVIDENCE_FIELDS = ("turn_index", "speaker", "start_s", "end_s", "quote", "match", "match_start",
                    "match_end", "polarity", "note")


def results_frames(results: Sequence[ConversationResult]):
    """The two result tables as Polars DataFrames (columns: :mod:`qa.schema`)."""
    import polars as pl

    conv_schema, crit_schema = _schemas()
    cols: dict[str, list] = {k: [] for k in conv_schema}
    ccols: dict[str, list] = {k: [] for k in crit_schema if k != "evidence"}
    ev_cols: dict[str, list] = {k: [] for k in ("row", *_EVIDENCE_FIELDS)}
    row = 0
    for r in results:
        started = _utc(r.started_at)
        values = {
            "conversation_id": r.conversation_id, "agent_id": r.agent_id, "agent_name": r.agent_name,
            "team": r.team, "channel": r.channel, "started_at": started, "duration_s": r.duration_s,
            "n_turns": r.n_turns, "overall": r.overall, **{c: r.categories.get(c) for c in CATEGORIES},
            "auto_fail": r.auto_fail, "auto_fail_criteria": list(r.auto_fail_criteria),
            "rubric_id": r.rubric_id, "rubric_version": r.rubric_version, "rubric_hash": r.rubric_hash,
            "roles_inferred": r.roles_inferred, "transcript_path": r.transcript_path,
            "audio_path": r.audio_path, "source_path": r.source_path, "scored_at": _utc(r.scored_at),
            "customer_sentiment_start": r.customer_sentiment_start,
            "customer_sentiment_end": r.customer_sentiment_end,
            "customer_sentiment_shift": r.customer_sentiment_shift,
        }
        for k, v in values.items():
            cols[k].append(v)
        for c in r.criteria:
            ccols["conversation_id"].append(r.conversation_id)
            ccols["agent_id"].append(r.agent_id)
            ccols["team"].append(r.team)
            ccols["channel"].append(r.channel)
            ccols["started_at"].append(started)
            ccols["criterion_id"].append(c.criterion_id)
            ccols["category"].append(c.category)
            ccols["description"].append(c.description)
            ccols["coaching"].append(c.coaching)
            ccols["outcome"].append(c.outcome)
            ccols["score"].append(c.score)
            ccols["weight"].append(c.weight)
            ccols["auto_fail"].append(c.auto_fail)
            ccols["na_reason"].append(c.na_reason)
            ccols["reason"].append(c.reason)
            for e in c.evidence:
                ev_cols["row"].append(row)
                for f in _EVIDENCE_FIELDS:
                    ev_cols[f].append(getattr(e, f))
            row += 1
    conv_df = pl.DataFrame(cols, schema=conv_schema)
    ev_struct = crit_schema["evidence"].inner
    ev_df = pl.DataFrame(ev_cols, schema={"row": pl.Int64, **dict(ev_struct.to_schema())})
    ev_lists = (ev_df.group_by("row", maintain_order=True)
                .agg(pl.struct(list(_EVIDENCE_FIELDS)).alias("evidence")))
    crit_df = (pl.DataFrame(ccols, schema={k: v for k, v in crit_schema.items() if k != "evidence"})
               .with_row_index("row").with_columns(pl.col("row").cast(pl.Int64))
               .join(ev_lists, on="row", how="left", maintain_order="left")
               .with_columns(pl.col("evidence").fill_null(pl.lit([], dtype=crit_schema["evidence"])))
               .drop("row"))
    return conv_df, crit_df.select(list(crit_schema)).cast(crit_schema)


def write_results(results: Sequence[ConversationResult], out: OutDir | str | Path) -> tuple[Path, Path]:
    """Write ``results/conversations.parquet`` and ``results/criteria.parquet`` atomically."""
    conv_df, crit_df = results_frames(results)
    return write_frames(conv_df, crit_df, out)


def write_frames(conv_df, crit_df, out: OutDir | str | Path) -> tuple[Path, Path]:
    """Write the two result tables (from :func:`results_frames`) atomically, in row groups
    of :data:`~qa.schema.ROW_GROUP_ROWS`: the reports read them a row group at a time."""
    from .schema import ROW_GROUP_ROWS

    out = out if isinstance(out, OutDir) else OutDir.at(out)
    conv_path = out.results / "conversations.parquet"
    crit_path = out.results / "criteria.parquet"
    with atomic_path(crit_path) as tmp:
        crit_df.write_parquet(tmp, row_group_size=ROW_GROUP_ROWS)
    with atomic_path(conv_path) as tmp:
        conv_df.write_parquet(tmp, row_group_size=ROW_GROUP_ROWS)
    return conv_path, crit_path


class ResultsWriter:
    """The results files of a run that scores chunk by chunk, with flat memory.

    Each :meth:`add`-ed chunk goes to two part files in a private folder under
    ``OUT/results`` (``.parts-*.tmp``: a killed run's is removed by the next one under the
    lock); :meth:`commit` streams the parts, in the order they came, into
    ``conversations.parquet`` and ``criteria.parquet`` (each renamed into place) and
    removes the folder. Nothing but one chunk is ever held in memory. The rows of a
    conversation stay together, in the order the conversations were scored."""

    def __init__(self, out: OutDir | str | Path):
        import shutil
        import tempfile
        import weakref

        self.out = out if isinstance(out, OutDir) else OutDir.at(out)
        self.out.results.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix=".parts-", suffix=".tmp", dir=self.out.results))
        # an exception (Ctrl-C too) that drops the writer removes the parts
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(self.dir), True)
        self.parts = 0
        self.conversations = 0

    def add(self, results: Sequence[ConversationResult]) -> None:
        if not results:
            return
        from .schema import ROW_GROUP_ROWS

        conv_df, crit_df = results_frames(results)
        crit_df.write_parquet(self.dir / f"k{self.parts:06d}.parquet", row_group_size=ROW_GROUP_ROWS)
        conv_df.write_parquet(self.dir / f"c{self.parts:06d}.parquet", row_group_size=ROW_GROUP_ROWS)
        self.parts += 1
        self.conversations += conv_df.height

    def commit(self) -> tuple[Path, Path]:
        import polars as pl

        from .schema import ROW_GROUP_ROWS

        try:
            if not self.parts:
                return write_frames(*results_frames([]), self.out)
            paths = []
            for prefix, name in (("k", "criteria.parquet"), ("c", "conversations.parquet")):
                target = self.out.results / name
                parts = [str(self.dir / f"{prefix}{i:06d}.parquet") for i in range(self.parts)]
                with atomic_path(target) as tmp:
                    pl.scan_parquet(parts).sink_parquet(tmp, row_group_size=ROW_GROUP_ROWS)
                paths.append(target)
            return paths[1], paths[0]
        finally:
            self.discard()

    def discard(self) -> None:
        self._cleanup()
