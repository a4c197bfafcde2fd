"""The results files' columns: the contract between ``qa score`` (which writes them) and
aggregation, reports and exports (which read them). One definition, used by both sides.

``results/conversations.parquet`` has one row per conversation, ``results/criteria.parquet``
one row per conversation × criterion; the README's "The output folder" section describes
each column.
"""

from __future__ import annotations

import polars as pl

from .rubric import CATEGORIES

UTC_US = pl.Datetime("us", "UTC")

ROW_GROUP_ROWS = 20_000
"""Rows per Parquet row group in the results files (sorted by conversation id), so that
the reports read the criteria file a row group at a time (:func:`qa.aggregate.criteria_chunks`)
and a call page's rows from the row groups that can hold them."""

EVIDENCE_STRUCT = pl.Struct({
    "turn_index": pl.Int64, "speaker": pl.String, "start_s": pl.Float64, "end_s": pl.Float64,
    "quote": pl.String, "match": pl.String, "match_start": pl.Int64, "match_end": pl.Int64,
    "polarity": pl.String, "note": pl.String,
})

CONVERSATION_SCHEMA: dict[str, pl.DataType] = {
    "conversation_id": pl.String, "agent_id": pl.String, "agent_name": pl.String,
    "team": pl.String, "channel": pl.String, "started_at": UTC_US, "duration_s": pl.Float64,
    "n_turns": pl.Int64, "overall": pl.Float64,
    **{c: pl.Float64 for c in CATEGORIES},
    "auto_fail": pl.Boolean, "auto_fail_criteria": pl.List(pl.String), "rubric_id": pl.String,
    "rubric_version": pl.String, "rubric_hash": pl.String, "roles_inferred": pl.Boolean,
    "transcript_path": pl.String, "audio_path": pl.String, "source_path": pl.String,
    "scored_at": UTC_US,
    "customer_sentiment_start": pl.Float64, "customer_sentiment_end": pl.Float64,
    "customer_sentiment_shift": pl.Float64,
}

CRITERIA_SCHEMA: dict[str, pl.DataType] = {
    "conversation_id": pl.String, "agent_id": pl.String, "team": pl.String,
    "channel": pl.String, "started_at": UTC_US, "criterion_id": pl.String,
    "category": pl.String, "description": pl.String, "coaching": pl.String,
    "outcome": pl.String, "score": pl.Float64, "weight": pl.Float64, "auto_fail": pl.Boolean,
    "na_reason": pl.String, "reason": pl.String, "evidence": pl.List(EVIDENCE_STRUCT),
}
