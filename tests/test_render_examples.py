"""The committed demo set in examples/: a real recorded call with its licence, the chats
written by hand for each coaching situation, and the weekly chats make_examples.py makes."""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
from collections import Counter
from pathlib import Path

import polars as pl
from click.testing import CliRunner

from conftest import ROOT, need_tool

EXAMPLES = ROOT / "examples"
CHAT_FIELDS = {"conversation_id", "agent_id", "agent_name", "team", "timestamp", "speaker", "text",
               "customer_name"}


def _module():
    spec = importlib.util.spec_from_file_location("make_examples", EXAMPLES / "make_examples.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (EXAMPLES / "chats" / name).read_text().splitlines()]


def test_chats_are_regenerated_identically(tmp_path):
    mod = _module()
    assert mod.make_chats(tmp_path / "weekly_chats.jsonl") == 48
    assert (tmp_path / "weekly_chats.jsonl").read_bytes() == \
        (EXAMPLES / "chats" / "weekly_chats.jsonl").read_bytes()


def test_chats_are_canonical_jsonl_over_six_weeks():
    rows = _rows("weekly_chats.jsonl")
    assert all(set(r) == CHAT_FIELDS for r in rows)
    assert {r["speaker"] for r in rows} == {"agent", "customer"}
    convs = {r["conversation_id"]: r["agent_id"] for r in rows}
    assert Counter(convs.values()) == {"a-sam": 12, "a-casey": 12, "a-jordan": 12, "a-riley": 12}
    weeks = {r["timestamp"][:10] for r in rows}
    assert min(weeks) >= "2026-04-06" and max(weeks) <= "2026-05-17"


def test_service_chats_are_canonical_and_share_the_call_agent():
    rows = _rows("service_chats.jsonl")
    assert all(set(r) == CHAT_FIELDS for r in rows)
    convs = {r["conversation_id"]: r["agent_id"] for r in rows}
    assert Counter(convs.values()) == {"a-michelle": 8, "a-omar": 4, "a-grace": 4}
    assert {r["team"] for r in rows} == {"Service"}
    with open(EXAMPLES / "calls.csv", newline="") as fh:
        calls = list(csv.DictReader(fh))
    # the call's agent also has chats: her page shows calls and chats apart
    assert {c["agent_id"] for c in calls} == {"a-michelle"}
    assert {c["team"] for c in calls} == {"Service"}


def test_calls_csv_matches_the_recorded_call_and_its_licence():
    need_tool("soxi")
    with open(EXAMPLES / "calls.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["agent_id"] for r in rows] == ["a-michelle"]
    path = EXAMPLES / rows[0]["file"]
    info = subprocess.run(["soxi", str(path)], capture_output=True, text=True, check=True).stdout
    assert "Channels       : 2" in info and "Sample Rate    : 8000" in info
    assert "00:04:05.38" in info  # the whole call, not a cut
    assert path.stat().st_size < 3_500_000
    audio = [p.name for p in (EXAMPLES / "calls").iterdir() if p.suffix == ".flac"]
    assert audio == [Path(rows[0]["file"]).name]
    notice = (EXAMPLES / "calls" / "NOTICE.md").read_text()
    assert "aws-samples/amazon-transcribe-live-call-analytics" in notice
    assert "Apache License, Version 2.0" in notice
    assert "TERMS AND CONDITIONS" in (EXAMPLES / "calls" / "LICENSE-Apache-2.0").read_text()


def test_service_chats_show_each_coaching_situation(tmp_path):
    """Scored with the shipped rubric, each hand-written chat shows what it was written for."""
    from qa.cli import main

    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["score", str(EXAMPLES / "chats" / "service_chats.jsonl"),
                                    "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    crit = pl.read_parquet(out / "results" / "criteria.parquet")
    outcome = {(r["conversation_id"], r["criterion_id"]): r for r in crit.iter_rows(named=True)}

    def check(cid, criterion, want, *words):
        row = outcome[(cid, criterion)]
        assert row["outcome"] == want, (cid, criterion, row["reason"])
        for w in words:
            assert w in row["reason"], (cid, criterion, row["reason"])

    check("svc-m07", "empathy_response", "fail", "terrified")     # distress ignored
    check("svc-o01", "empathy_response", "fail", "panicking")
    check("svc-m05", "first_response", "fail", "6 min 50 s")      # slow first reply
    check("svc-o03", "longest_wait", "fail", "10 min")
    check("svc-g03", "closing", "fail")                           # missing closing
    check("svc-o01", "no_blame", "fail", "not my department")     # blame
    check("svc-o03", "no_slang", "fail", "dunno")                 # slang
    check("svc-g01", "empathy_response", "pass")                  # good empathy
    check("svc-g02", "empathy_response", "pass")
    check("svc-m01", "closing", "pass")
    check("svc-m01", "first_response", "pass")
