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


def write_wav(path: Path, seconds: float = 10.0, rate: int = 8000) -> Path:
    """A quiet tone, mono 16-bit PCM: enough for an <audio> element to seek in."""
    import math
    import struct
    import wave

    path.parent.mkdir(parents=True, exist_ok=True)
    n = int(seconds * rate)
    frames = b"".join(struct.pack("<h", int(800 * math.sin(2 * math.pi * 440 * i / rate)))
                      for i in range(n))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    return path


EVIL = "<script>alert('x')</script>"


def build_demo_results(out: Path, *, audio: bool = True) -> Path:
    """A small output folder: results Parquet, transcripts, one recording.

    * ``alice`` (team north): three chats, greeting passes once and fails twice;
    * ``bob`` (team north): one voice call with audio, roles inferred, a customer turn
      containing a ``<script>`` tag, an auto-fail for profanity;
    * ``<script>`` agent (team south): one chat whose agent id and name are markup;
    * conversation ``../evil/id``: its transcript file is missing.
    """
    from qa.store import OutDir, write_conversation
    from conftest import make_conv

    out = Path(out)
    od = OutDir(out)
    convs, crits = [], []

    def add(cid, agent, team, day, overall, turns, *, crit, channel="chat", name=None,
            write=True, **kw):
        row = conv_row(cid, agent, team, dt(day), overall, channel=channel, agent_name=name,
                       transcript_path=f"transcripts/{__import__('qa.store', fromlist=['x']).safe_name(cid)}.json",
                       **kw)
        convs.append(row)
        if write:
            write_conversation(od, make_conv(turns, id=cid, agent_id=agent, channel=channel,
                                             customer_name="Maria Lopez"))
        for c in crit:
            crits.append(crit_row(row, *c[:2], **c[2]))
        return row

    greet_ok = ("agent", "Hello Maria, thank you for calling Acme!", 0.0, 2.0)
    add("chat-1", "alice", "north", "2026-01-05", 90.0,
        [greet_ok, ("customer", "My parcel is late, email me at maria@example.com", 3.0, 5.0),
         ("agent", "I am sorry, let me check that for you.", 6.0, 8.0)],
        crit=[("greeting", "pass", dict(evidence=[ev(0, greet_ok[1], "thank you for calling",
                                                      polarity="positive", start_s=0.0)],
                                       coaching="Open with a greeting and your name.")),
              ("apology", "pass", dict(category="empathy", evidence=[
                  ev(2, "I am sorry, let me check that for you.", "sorry", polarity="positive",
                     start_s=6.0)]))])
    for i, day in ((2, "2026-01-13"), (3, "2026-01-14")):
        add(f"chat-{i}", "alice", "north", day, 60.0,
            [("agent", "Yeah?", 0.0, 1.0), ("customer", "Where is my order?", 2.0, 3.0),
             ("agent", "Dunno, hold on.", 4.0, 5.0)],
            crit=[("greeting", "fail", dict(evidence=[ev(0, "Yeah?", None, start_s=0.0)],
                                            coaching="Open with a greeting and your name.")),
                  ("apology", "fail", dict(category="empathy", evidence=[
                      ev(2, "Dunno, hold on.", "Dunno", start_s=4.0)],
                      coaching="Say sorry when the customer has a problem."))])
    audio_path = None
    if audio:
        from qa.audio import register_recording
        from qa.conversation import sha256_file

        audio_path = str(write_wav(out / "recordings" / "call-1.wav", seconds=12.0))
        # as `qa transcribe` does: the reports play only recordings qa decoded
        register_recording(out, audio_path, sha256_file(audio_path))
    add("call-1", "bob", "north", "2026-01-06", 0.0,
        [("agent", "Acme, what.", 0.5, 1.5), ("customer", EVIL + " my bill is wrong", 2.0, 4.0),
         ("agent", "Damn, not again.", 7.25, 8.0)],
        crit=[("greeting", "fail", dict(evidence=[ev(0, "Acme, what.", None, start_s=0.5)])),
              ("no_profanity", "fail", dict(category="professionalism", auto_fail=True,
                                            evidence=[ev(2, "Damn, not again.", "Damn",
                                                         start_s=7.25)],
                                            coaching="Keep it clean."))],
        channel="voice", audio_path=audio_path, roles_inferred=True, auto_fail=True,
        auto_fail_criteria=["no_profanity"])
    add("evil-1", EVIL, "south", "2026-01-07", 75.0,
        [("agent", "Hi " + EVIL, 0.0, 1.0)],
        crit=[("greeting", "pass", dict(evidence=[ev(0, "Hi " + EVIL, "Hi", polarity="positive",
                                                      start_s=0.0)]))],
        name=EVIL)
    add("../evil/id", "alice", "north", "2026-01-15", 70.0, [], write=False,
        crit=[("greeting", "pass", dict(coaching="Open with a greeting and your name."))])
    write_results(out, convs, crits)
    return out
