"""The committed demo set in examples/ is what examples/make_examples.py makes."""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
from collections import Counter
from pathlib import Path

from conftest import ROOT, need_tool

EXAMPLES = ROOT / "examples"
CHAT_FIELDS = {"conversation_id", "agent_id", "agent_name", "team", "timestamp", "speaker", "text",
               "customer_name"}


def _module():
    spec = importlib.util.spec_from_file_location("make_examples", EXAMPLES / "make_examples.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_chats_are_regenerated_identically(tmp_path):
    mod = _module()
    assert mod.make_chats(tmp_path / "weekly_chats.jsonl") == 48
    assert (tmp_path / "weekly_chats.jsonl").read_bytes() == \
        (EXAMPLES / "chats" / "weekly_chats.jsonl").read_bytes()


def test_chats_are_canonical_jsonl_over_six_weeks():
    rows = [json.loads(line) for line in
            (EXAMPLES / "chats" / "weekly_chats.jsonl").read_text().splitlines()]
    assert all(set(r) == CHAT_FIELDS for r in rows)
    assert {r["speaker"] for r in rows} == {"agent", "customer"}
    convs = {r["conversation_id"]: r["agent_id"] for r in rows}
    assert Counter(convs.values()) == {"a-sam": 12, "a-casey": 12, "a-jordan": 12, "a-riley": 12}
    weeks = {r["timestamp"][:10] for r in rows}
    assert min(weeks) >= "2026-04-06" and max(weeks) <= "2026-05-17"


def test_calls_csv_matches_stereo_recordings():
    need_tool("soxi")
    with open(EXAMPLES / "calls.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["agent_id"] for r in rows] == ["a-sam", "a-casey", "a-jordan", "a-riley", "a-jordan"]
    total = 0
    for r in rows:
        path = EXAMPLES / r["file"]
        info = subprocess.run(["soxi", str(path)], capture_output=True, text=True, check=True).stdout
        assert "Channels       : 2" in info and "Sample Rate    : 8000" in info, path
        total += path.stat().st_size
    assert total < 3_000_000
    assert sorted(p.name for p in (EXAMPLES / "calls").iterdir()) == \
        sorted(Path(r["file"]).name for r in rows)
