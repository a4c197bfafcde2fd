"""Hand-built results Parquet files (the contract in qa.aggregate's schemas) for the
aggregation, report and export tests."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from qa.aggregate import CATEGORIES, CONVERSATION_SCHEMA, CRITERIA_SCHEMA


def dt(day: str, hour: int = 9) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=timezone.utc)


def conv_row(cid: str, agent: str, team: str | None, started: datetime | None,
             overall: float | None, cats: dict | float | None = None, *, auto_fail=False,
             auto_fail_criteria=(), agent_name=None, channel="chat", transcript_path=None,
             audio_path=None, roles_inferred=False, duration_s=60.0, n_turns=4) -> dict:
    if not isinstance(cats, dict):
        cats = {c: (overall if cats is None else cats) for c in CATEGORIES}
    return {
        "conversation_id": cid, "agent_id": agent, "agent_name": agent_name or agent.title(),
        "team": team, "channel": channel, "started_at": started, "duration_s": duration_s,
        "n_turns": n_turns, "overall": overall, **{c: cats.get(c) for c in CATEGORIES},
        "auto_fail": auto_fail, "auto_fail_criteria": list(auto_fail_criteria),
        "rubric_id": "test", "rubric_version": "1", "rubric_hash": "0" * 64,
        "roles_inferred": roles_inferred,
        "transcript_path": transcript_path if transcript_path is not None else f"transcripts/{cid}.json",
        "audio_path": audio_path, "source_path": f"in/{cid}.jsonl",
        "scored_at": datetime(2026, 3, 1, tzinfo=timezone.utc),
    }


def ev(turn_index: int, quote: str, match: str | None = None, *, polarity="negative",
       speaker="agent", start_s: float | None = None) -> dict:
    ms = me = None
    if match is not None and match in quote:
        ms = quote.index(match)
        me = ms + len(match)
    return {"turn_index": turn_index, "speaker": speaker, "start_s": start_s,
            "end_s": None if start_s is None else start_s + 1.0, "quote": quote,
            "match": match, "match_start": ms, "match_end": me, "polarity": polarity}


def crit_row(conv: dict, criterion: str, outcome: str, score: float | None = None, *,
             category="politeness", evidence=(), coaching="Do better.", weight=1.0,
             auto_fail=False, description=None, reason="because") -> dict:
    if score is None and outcome != "na":
        score = 1.0 if outcome == "pass" else 0.0
    return {
        "conversation_id": conv["conversation_id"], "agent_id": conv["agent_id"],
        "team": conv["team"], "channel": conv["channel"], "started_at": conv["started_at"],
        "criterion_id": criterion, "category": category,
        "description": description or f"{criterion} description", "coaching": coaching,
        "outcome": outcome, "score": score, "weight": weight, "auto_fail": auto_fail,
        "na_reason": "not applicable" if outcome == "na" else None, "reason": reason,
        "evidence": list(evidence),
    }


def write_results(out: Path, convs: list[dict], crits: list[dict]) -> Path:
    res = Path(out) / "results"
    res.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(convs, schema=CONVERSATION_SCHEMA).write_parquet(res / "conversations.parquet")
    pl.DataFrame(crits, schema=CRITERIA_SCHEMA).write_parquet(res / "criteria.parquet")
    return Path(out)
