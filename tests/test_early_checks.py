"""Checks that come before the work: a recording with no agent id fails before it is
transcribed; `qa score OUT` scores OUT's conversations, not its run.json or failures.csv."""

from __future__ import annotations

import csv
import json

from click.testing import CliRunner

from qa.cli import main
from report_helpers import write_wav


def test_recording_without_agent_id_fails_before_transcription(tmp_path, monkeypatch):
    import qa.transcribe as tr

    write_wav(tmp_path / "calls" / "nobody.wav", seconds=2.0)
    write_wav(tmp_path / "calls" / "sam_2026-05-04_c9.wav", seconds=2.0)

    def no_model(*a, **k):  # any transcription would decode and load the model
        raise AssertionError("a recording was decoded although no file can get an agent id")

    monkeypatch.setattr(tr.qaudio, "decode", no_model, raising=False)
    monkeypatch.setattr(tr, "load_model", no_model, raising=False)
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["transcribe", str(tmp_path / "calls" / "nobody.wav"),
                                    "--out", str(out), "--quiet"])
    assert res.exit_code == 1, res.output
    with open(out / "results" / "failures.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["stage"], r["reason"].split(".")[0]) for r in rows] == [
        ("transcribe", "conversation 'nobody' has no agent id")]
    assert "--name-pattern" in rows[0]["reason"]
    assert not (out / "transcripts").exists() or not list((out / "transcripts").iterdir())


def test_score_an_output_folder_scores_its_conversations(tmp_path):
    src = tmp_path / "chats.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in [
        {"conversation_id": "c1", "agent_id": "kim", "timestamp": "2026-05-04T09:00:00Z",
         "speaker": "customer", "text": "Hi, my card was charged twice."},
        {"conversation_id": "c1", "agent_id": "kim", "timestamp": "2026-05-04T09:00:30Z",
         "speaker": "agent", "text": "Sorry about that, I will refund it now."},
    ]) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    assert CliRunner().invoke(main, ["run", str(src), "--out", str(out), "--quiet"]).exit_code == 0
    assert (out / "run.json").is_file() and (out / "results" / "failures.csv").is_file()
    res = CliRunner().invoke(main, ["score", str(out), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "score: 1 conversation scored" in res.output
    with open(out / "results" / "failures.csv", encoding="utf-8") as fh:
        assert list(csv.DictReader(fh)) == []
