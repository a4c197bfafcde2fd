"""Scoring rules, pairs of conversations that differ in one behaviour, the Parquet
results contract, the parse cache, and `qa score`."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import polars as pl
import pytest
from click.testing import CliRunner

from qa.cli import main
from qa.errors import ScoreError
from qa.rubric import CATEGORIES, load_rubric, parse_rubric
from qa.results import write_results
from qa.score import CriterionResult, Scorer, category_scores, overall_score, score_conversations
from qa.store import OutDir, write_conversation

from conftest import ABCD, IBM_CUT, IBM_FULL, ROOT, make_conv, need_shared

DEFAULT = load_rubric()


def cr(cid, category, outcome, score, weight=1.0, auto_fail=False) -> CriterionResult:
    return CriterionResult(cid, category, "", None, outcome, score, weight, auto_fail,
                           "n/a" if outcome == "na" else None, "r", [])


# ---------------------------------------------------------------- the rules
def test_category_is_weighted_mean_without_na():
    got = category_scores([cr("a", "politeness", "pass", 1.0, 3), cr("b", "politeness", "fail", 0.0, 1),
                           cr("c", "politeness", "na", None, 5), cr("d", "empathy", "na", None, 1)])
    assert got == {"promptness": None, "politeness": 75.0, "professionalism": None,
                   "personalization": None, "empathy": None}


def test_overall_renormalises_over_non_null_categories():
    weights = {"promptness": 25, "politeness": 20, "professionalism": 20, "personalization": 15, "empathy": 20}
    cats = {"promptness": 100.0, "politeness": 50.0, "professionalism": None, "personalization": None,
            "empathy": None}
    assert overall_score(cats, weights) == pytest.approx((25 * 100 + 20 * 50) / 45)
    assert overall_score({c: None for c in CATEGORIES}, weights) is None


RUBRIC = parse_rubric(json.dumps({
    "rubric": "t", "version": 2,
    "categories": {"politeness": {"weight": 30}, "professionalism": {"weight": 10}},
    "criteria": [
        {"id": "greeting", "category": "politeness", "check": "phrases", "any": ["hello"], "weight": 3},
        {"id": "closing", "category": "politeness", "check": "phrases", "any": ["bye"], "weight": 1},
        {"id": "no_swearing", "category": "professionalism", "check": "phrases", "none": ["damn"],
         "auto_fail": True},
    ]}))


def test_scores_and_auto_fail():
    ok = make_conv([("agent", "Hello!"), ("agent", "Sorted.")], id="ok")
    bad = make_conv([("agent", "Hello!"), ("agent", "damn, bye")], id="bad")
    r_ok, r_bad = score_conversations([ok, bad], RUBRIC)
    assert r_ok.categories["politeness"] == 75.0 and r_ok.categories["professionalism"] == 100.0
    assert r_ok.overall == pytest.approx((30 * 75 + 10 * 100) / 40)
    assert (r_ok.auto_fail, r_ok.auto_fail_criteria) == (False, [])
    assert r_bad.categories["politeness"] == 100.0 and r_bad.categories["professionalism"] == 0.0
    assert (r_bad.overall, r_bad.auto_fail, r_bad.auto_fail_criteria) == (0.0, True, ["no_swearing"])
    assert [c.auto_fail for c in r_bad.criteria] == [False, False, True]
    assert (r_ok.rubric_id, r_ok.rubric_version, r_ok.rubric_hash) == ("t", "2", RUBRIC.hash)


def test_everything_na_gives_null_overall():
    [res] = score_conversations([make_conv([("customer", "hello?")])], RUBRIC)
    assert res.overall is None and all(v is None for v in res.categories.values())
    assert {c.outcome for c in res.criteria} == {"na"}


# ---------------------------------------------------------------- pairs: better behaviour scores higher
def _pair(better, worse, category):
    b, w = score_conversations([better, worse], DEFAULT)
    assert b.categories[category] is not None and w.categories[category] is not None
    assert b.categories[category] > w.categories[category], (b.categories, w.categories)
    return b, w


def _chat(agent_open, agent_second="Let me check your order for you.", *, reply_at=30, customer_name=None,
          first="Hi, my order has not arrived.", **kw):
    return make_conv([("customer", first, 0), ("agent", agent_open, reply_at),
                      ("customer", "It was order 123.", reply_at + 20),
                      ("agent", agent_second, reply_at + 40),
                      ("agent", "Is there anything else I can help with? Have a great day!", reply_at + 60)],
                     customer_name=customer_name, **kw)


def test_pair_greeting():
    _pair(_chat("Hello, thanks for contacting Acme. How can I help?"), _chat("Order number?"), "politeness")


def test_pair_customer_name():
    _pair(_chat("Hi Dana, I can help with that.", customer_name="Dana Lee"),
          _chat("Hi, I can help with that.", customer_name="Dana Lee"), "personalization")


def test_pair_apology_after_complaint():
    first = "This is ridiculous, my order is two weeks late and I'm really frustrated."
    _pair(_chat("I'm so sorry to hear that, I understand how frustrating that is.", first=first),
          _chat("Ok. What's the order number?", first=first), "empathy")


def test_pair_six_minute_chat_reply():
    b, w = _pair(_chat("Hello, let me check.", reply_at=30), _chat("Hello, let me check.", reply_at=362),
                 "promptness")
    first = next(c for c in w.criteria if c.criterion_id == "first_response")
    assert first.reason == "first agent reply after 6 min 2 s (turn 2 at 6:02), target 1 min"


def test_pair_curse_is_auto_fail():
    b, w = _pair(_chat("Hello, let me check that for you."), _chat("Hello, damn, let me check that."),
                 "professionalism")
    assert w.overall == 0.0 and w.auto_fail_criteria == ["no_profanity"]
    assert b.overall > 0


def test_default_rubric_on_a_call_scores_the_voice_criteria():
    from test_checks import voice

    call = voice([("agent", "Thank you for calling Acme, this is Sam, how can I help", 0.5, 4),
                  ("customer", "hi this is Dana, my internet keeps dropping and I'm so frustrated", 5, 10),
                  ("agent", "I'm sorry to hear that Dana, let me put you on a brief hold", 11, 14),
                  ("agent", "thank you for holding, I have reset your line", 60, 64),
                  ("customer", "great thanks", 65, 66),
                  ("agent", "is there anything else I can help with today", 66.5, 69)])
    [res] = score_conversations([call], DEFAULT)
    by_id = {c.criterion_id: c for c in res.criteria}
    for cid in ("first_response_voice", "response_gap_voice", "dead_air", "interruptions", "talk_ratio",
                "greeting", "closing", "name_usage", "empathy_response", "no_profanity"):
        assert by_id[cid].outcome == "pass", (cid, by_id[cid].reason)
    assert by_id["filler_words"].outcome == "pass"
    for cid in ("first_response", "reply_time", "longest_wait"):
        assert by_id[cid].outcome == "na"
        assert by_id[cid].reason in ("applies to chats and social-media conversations and e-mails only; this is a call",
                                     "applies to chats only; this is a call")
    assert by_id["dead_air"].reason == "no silence over 10 s; 1 announced hold (46 s) not counted"
    assert res.overall is not None and res.overall > 80


# ---------------------------------------------------------------- results contract
SCHEMA_CONV = {
    "conversation_id": pl.String, "agent_id": pl.String, "agent_name": pl.String, "team": pl.String,
    "channel": pl.String, "started_at": pl.Datetime("us", "UTC"), "duration_s": pl.Float64,
    "n_turns": pl.Int64, "overall": pl.Float64, "promptness": pl.Float64, "politeness": pl.Float64,
    "professionalism": pl.Float64, "personalization": pl.Float64, "empathy": pl.Float64,
    "auto_fail": pl.Boolean, "auto_fail_criteria": pl.List(pl.String), "rubric_id": pl.String,
    "rubric_version": pl.String, "rubric_hash": pl.String, "roles_inferred": pl.Boolean,
    "transcript_path": pl.String, "audio_path": pl.String, "source_path": pl.String,
    "scored_at": pl.Datetime("us", "UTC"),
    "customer_sentiment_start": pl.Float64, "customer_sentiment_end": pl.Float64,
    "customer_sentiment_shift": pl.Float64}
EVIDENCE = pl.List(pl.Struct({
    "turn_index": pl.Int64, "speaker": pl.String, "start_s": pl.Float64, "end_s": pl.Float64,
    "quote": pl.String, "match": pl.String, "match_start": pl.Int64, "match_end": pl.Int64,
    "polarity": pl.String, "note": pl.String}))
SCHEMA_CRIT = {
    "conversation_id": pl.String, "agent_id": pl.String, "team": pl.String, "channel": pl.String,
    "started_at": pl.Datetime("us", "UTC"), "criterion_id": pl.String, "category": pl.String,
    "description": pl.String, "coaching": pl.String, "outcome": pl.String, "score": pl.Float64,
    "weight": pl.Float64, "auto_fail": pl.Boolean, "na_reason": pl.String, "reason": pl.String,
    "evidence": EVIDENCE}


def test_parquet_files_follow_the_schema(tmp_path):
    convs = [_chat("Hello Dana, sorry about that.", customer_name="Dana", id="c1", team="blue",
                   started_at=datetime(2026, 5, 4, 9, 0, tzinfo=timezone.utc)),
             _chat("damn", id="c2")]
    results = score_conversations(convs, DEFAULT)
    conv_path, crit_path = write_results(results, tmp_path)
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["conversations.parquet", "criteria.parquet"]
    conv = pl.read_parquet(conv_path)
    crit = pl.read_parquet(crit_path)
    assert dict(conv.schema) == SCHEMA_CONV
    assert dict(crit.schema) == SCHEMA_CRIT
    assert conv.height == 2 and crit.height == 2 * len(DEFAULT.criteria)
    row = conv.row(0, named=True)
    assert row["transcript_path"] == "transcripts/c1.json" and row["team"] == "blue"
    assert row["started_at"] == datetime(2026, 5, 4, 9, 0, tzinfo=timezone.utc)
    assert conv["auto_fail_criteria"].to_list() == [[], ["no_profanity"]]
    greet = crit.filter((pl.col("conversation_id") == "c1") & (pl.col("criterion_id") == "greeting")).row(0, named=True)
    assert greet["outcome"] == "pass" and greet["reason"] == "'hello' said in turn 2"
    assert greet["evidence"] == [{"turn_index": 1, "speaker": "agent", "start_s": 30.0, "end_s": 30.0,
                                  "quote": "Hello Dana, sorry about that.", "match": "Hello",
                                  "match_start": 0, "match_end": 5, "polarity": "positive", "note": None}]
    na = crit.filter(pl.col("outcome") == "na")
    assert na.height > 0 and na["na_reason"].null_count() == 0 and na["score"].null_count() == na.height
    assert crit.filter(pl.col("outcome") != "na")["na_reason"].null_count() == crit.filter(pl.col("outcome") != "na").height


def test_customer_sentiment_start_end_and_shift(tmp_path):
    turns = [("customer", "This is the third time my order has gone missing and I'm furious.", 0.0),
             ("agent", "I'm so sorry, that's really frustrating. I've reshipped it today.", 30.0),
             ("customer", "Oh great, thank you so much, that's wonderful!", 60.0)]
    happier, silent = score_conversations([make_conv(turns, id="up"),
                                           make_conv([("agent", "Hello?", 0.0)], id="quiet")], DEFAULT)
    assert happier.customer_sentiment_start < 0 < happier.customer_sentiment_end
    assert happier.customer_sentiment_shift == pytest.approx(
        happier.customer_sentiment_end - happier.customer_sentiment_start, abs=1e-3)
    assert (silent.customer_sentiment_start, silent.customer_sentiment_shift) == (None, None)
    conv = pl.read_parquet(write_results([happier, silent], tmp_path)[0])
    assert conv["customer_sentiment_shift"][0] > 0 and conv["customer_sentiment_shift"][1] is None


def test_empty_results_still_write_typed_files(tmp_path):
    conv_path, crit_path = write_results([], tmp_path)
    assert dict(pl.read_parquet(conv_path).schema) == SCHEMA_CONV
    assert dict(pl.read_parquet(crit_path).schema) == SCHEMA_CRIT


def test_results_writer_streams_chunks_into_the_same_files(tmp_path):
    from qa.results import ResultsWriter

    convs = [_chat(text, id=f"c{i}", customer_name="Dana",
                   started_at=datetime(2026, 5, 4, 9, i, tzinfo=timezone.utc))
             for i, text in enumerate(["Hello Dana, sorry about that.", "damn", "hi", "Thanks, bye",
                                       "I understand, Dana. Let me fix it.", "ok"])]
    results = score_conversations(convs, DEFAULT)
    whole = write_results(results, tmp_path / "whole")
    writer = ResultsWriter(tmp_path / "parts")
    parts_dir = writer.dir
    assert parts_dir.parent == tmp_path / "parts" / "results" and parts_dir.name.startswith(".")
    for chunk in (results[:1], [], results[1:4], results[4:]):
        writer.add(chunk)
    assert writer.conversations == 6 and writer.parts == 3
    got = writer.commit()
    assert not parts_dir.exists()
    assert sorted(p.name for p in (tmp_path / "parts" / "results").iterdir()) == [
        "conversations.parquet", "criteria.parquet"]
    for a, b in zip(whole, got):
        assert pl.read_parquet(a).equals(pl.read_parquet(b))
    # nothing added: typed, empty files; a writer dropped without commit leaves nothing
    empty = ResultsWriter(tmp_path / "empty").commit()
    assert dict(pl.read_parquet(empty[1]).schema) == SCHEMA_CRIT
    dropped = ResultsWriter(tmp_path / "dropped")
    dropped.add(results[:2])
    d = dropped.dir
    del dropped
    assert not d.exists()


# ---------------------------------------------------------------- cache
def test_rescoring_after_a_rubric_edit_reads_the_cache(tmp_path):
    convs = [_chat("Hello, sorry!", id=f"c{i}") for i in range(3)]
    s1 = Scorer(DEFAULT, cache_dir=tmp_path)
    first = [r for _, r in sorted(s1.score(convs), key=lambda x: x[0])]
    assert (s1.analyzer.parsed, s1.analyzer.cached) == (3, 0)
    edited = parse_rubric(json.dumps({**DEFAULT.data, "version": 9}))
    s2 = Scorer(edited, cache_dir=tmp_path)
    again = [r for _, r in sorted(s2.score(convs), key=lambda x: x[0])]
    assert (s2.analyzer.parsed, s2.analyzer.cached) == (0, 3)
    assert [r.overall for r in again] == [r.overall for r in first]
    assert [[(c.outcome, c.reason) for c in r.criteria] for r in again] == \
        [[(c.outcome, c.reason) for c in r.criteria] for r in first]
    # a changed turn is a new cache entry
    convs[0].turns[1].text = "Hello there, sorry!"
    s3 = Scorer(edited, cache_dir=tmp_path)
    list(s3.score(convs))
    assert (s3.analyzer.parsed, s3.analyzer.cached) == (1, 2)


def test_rescoring_runs_only_the_criteria_that_changed(tmp_path, monkeypatch):
    from qa.checks.text import Phrases

    convs = [_chat("Hello, sorry!", id=f"c{i}") for i in range(3)]
    first = [r for _, r in Scorer(DEFAULT, cache_dir=tmp_path).score(convs)]
    runs: list[str] = []
    real = Phrases.run

    def counting(self, ctx):
        runs.append(ctx.conv.id)
        return real(self, ctx)

    monkeypatch.setattr(Phrases, "run", counting)
    # a weight and a description change no outcome: no check runs, nothing is parsed
    data = json.loads(json.dumps(DEFAULT.data))
    greeting = next(c for c in data["criteria"] if c["id"] == "greeting")
    greeting["weight"] = 3
    greeting["description"] = "Greets the customer warmly"
    s = Scorer(parse_rubric(json.dumps(data)), cache_dir=tmp_path)
    again = [r for _, r in s.score(convs)]
    assert runs == [] and s.analyzer.parsed == 0 and s.analyzer.cached == 3
    assert [c.outcome for c in again[0].criteria] == [c.outcome for c in first[0].criteria]
    assert again[0].customer_sentiment_start == first[0].customer_sentiment_start
    # a changed phrase list runs that criterion again, on the cached parse
    greeting["any"] = [p for p in greeting["any"] if p != "hello"]
    edited = parse_rubric(json.dumps(data))
    s = Scorer(edited, cache_dir=tmp_path)
    edited_results = [r for _, r in s.score(convs)]
    assert sorted(runs) == ["c0", "c1", "c2"] and s.analyzer.parsed == 0
    uncached = [r for _, r in Scorer(edited).score(convs)]
    assert [[(c.outcome, c.score, c.reason) for c in r.criteria] for r in edited_results] == \
        [[(c.outcome, c.score, c.reason) for c in r.criteria] for r in uncached]


def test_damaged_cache_entry_is_parsed_again(tmp_path):
    conv = _chat("Hello!")
    s = Scorer(DEFAULT, cache_dir=tmp_path)
    [(_, r1)] = list(s.score([conv]))
    for p in tmp_path.rglob("*.spacy"):
        p.write_bytes(b"garbage")
    for p in (tmp_path / "outcomes").rglob("*.json"):
        p.write_text('{"v": 1, "outcomes": {"x": 1', encoding="utf-8")
    s2 = Scorer(DEFAULT, cache_dir=tmp_path)
    [(_, r2)] = list(s2.score([conv]))
    assert s2.analyzer.parsed == 1 and r2.overall == r1.overall


def test_a_check_that_breaks_is_a_score_error_for_that_conversation(monkeypatch):
    from qa.checks.text import Phrases

    def boom(self, ctx):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(Phrases, "run", boom)
    errors = []
    out = list(Scorer(RUBRIC).score([make_conv([("agent", "hi")])], on_error=lambda c, e: errors.append(e)))
    assert out == []
    [e] = errors
    assert isinstance(e, ScoreError)
    assert e.message == "criterion 'greeting' (phrases) could not be scored: ZeroDivisionError: division by zero"


# ---------------------------------------------------------------- CLI
def test_cli_scores_conversation_json_and_chat_exports(tmp_path):
    out = tmp_path / "out"
    src = tmp_path / "convs"
    for c in (_chat("Hello!", id="j1"), _chat("Hi there", id="j2")):
        write_conversation(OutDir.at(src), c)
    chats = ROOT / "examples" / "chats" / "demo_chats.jsonl"
    res = CliRunner().invoke(main, ["score", str(src / "transcripts"), str(chats), "--out", str(out)])
    assert res.exit_code == 0, res.output
    conv = pl.read_parquet(out / "results" / "conversations.parquet")
    assert set(conv["conversation_id"]) >= {"j1", "j2", "demo-c1"}
    assert (out / "transcripts" / "demo-c1.json").is_file() and (out / "transcripts" / "j1.json").is_file()
    assert (out / "results" / "failures.csv").read_text() == "file,stage,reason\n"
    assert f"score: {conv.height} conversations scored with rubric qa-default v2 (default)" in res.stderr
    # second run: everything from the cache
    res = CliRunner().invoke(main, ["score", str(out / "transcripts"), "--out", str(out)])
    assert res.exit_code == 0
    assert f"0 parsed, {conv.height} from cache" in res.stderr


def test_cli_scores_in_chunks_with_the_same_results(tmp_path, monkeypatch):
    import qa.pipeline

    chats = [ROOT / "examples" / "chats" / n for n in ("demo_chats.jsonl", "weekly_chats.jsonl")]
    whole = CliRunner().invoke(main, ["score", *map(str, chats), "--out", str(tmp_path / "a"), "-q"])
    monkeypatch.setattr(qa.pipeline, "SCORE_CHUNK", 7)  # 54 conversations: 8 chunks
    chunked = CliRunner().invoke(main, ["score", *map(str, chats), "--out", str(tmp_path / "b"), "-q"])
    assert whole.exit_code == chunked.exit_code == 0, chunked.output
    for name in ("conversations.parquet", "criteria.parquet"):
        a = pl.read_parquet(tmp_path / "a" / "results" / name).drop("scored_at", strict=False)
        b = pl.read_parquet(tmp_path / "b" / "results" / name).drop("scored_at", strict=False)
        assert a.height > 50 and a.equals(b)
    assert sorted(p.name for p in (tmp_path / "b" / "results").iterdir()) == [
        "conversations.parquet", "criteria.parquet", "failures.csv"]


def test_cli_bad_file_is_recorded_and_the_rest_scored(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "broken.json").write_text('{"schema_version": 1, "turns": [')
    write_conversation(OutDir.at(tmp_path / "x"), _chat("Hello", id="fine"))
    (src / "fine.json").write_text((tmp_path / "x" / "transcripts" / "fine.json").read_text())
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["score", str(src), "--out", str(out), "-q"])
    assert res.exit_code == 1
    assert pl.read_parquet(out / "results" / "conversations.parquet")["conversation_id"].to_list() == ["fine"]
    rows = (out / "results" / "failures.csv").read_text().splitlines()
    assert rows[0] == "file,stage,reason" and len(rows) == 2
    assert rows[1].startswith(f"{src / 'broken.json'},score,")


def test_cli_bad_rubric_lists_problems_and_scores_nothing(tmp_path):
    rub = tmp_path / "r.yaml"
    rub.write_text("rubric: r\ncriteria:\n  - id: a\n    category: empathy\n    check: phrase\n")
    conv_dir = tmp_path / "c"
    write_conversation(OutDir.at(conv_dir), _chat("Hello"))
    res = CliRunner().invoke(main, ["score", str(conv_dir), "--rubric", str(rub), "--out", str(tmp_path / "o")])
    assert res.exit_code == 1
    assert f"{rub}:5 criteria[0].check: Unknown check 'phrase'. Known checks: phrases," in res.output
    assert not (tmp_path / "o" / "results" / "conversations.parquet").exists()


def test_cli_no_inputs_is_usage_error(tmp_path):
    (tmp_path / "empty").mkdir()
    res = CliRunner().invoke(main, ["score", str(tmp_path / "empty"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "no conversation files" in res.output


@pytest.mark.slow
def test_parallel_scoring_gives_the_same_results(tmp_path, monkeypatch):
    convs = [_chat(f"Hello, sorry about that! Ref {i}" if i % 2 else f"Order number {i}?", id=f"p{i}",
                   reply_at=10 + i) for i in range(120)]
    serial = score_conversations(convs, DEFAULT, jobs=1)
    scorer = Scorer(DEFAULT, cache_dir=tmp_path, jobs=2)
    parallel = score_conversations(convs, DEFAULT, scorer=scorer)
    assert (scorer.analyzer.parsed, scorer.analyzer.cached) == (120, 0)
    # re-scoring from the cache stays in this process and gives the same again
    rescorer = Scorer(DEFAULT, cache_dir=tmp_path, jobs=2)
    again = score_conversations(convs, DEFAULT, scorer=rescorer)
    assert (rescorer.analyzer.parsed, rescorer.analyzer.cached) == (0, 120)
    assert [r.overall for r in again] == [r.overall for r in serial]
    assert [r.conversation_id for r in parallel] == [c.id for c in convs]
    assert [(r.overall, r.categories) for r in parallel] == [(r.overall, r.categories) for r in serial]
    assert [[(c.outcome, c.reason) for c in r.criteria] for r in parallel] == \
        [[(c.outcome, c.reason) for c in r.criteria] for r in serial]
    # a failing conversation in a worker comes back as a ScoreError for that conversation
    from qa.checks.text import NameUsage

    real = NameUsage.run

    def flaky(self, ctx):
        if ctx.conv.id == "p7":
            raise ValueError("odd data")
        return real(self, ctx)

    monkeypatch.setattr(NameUsage, "run", flaky)
    errors = []
    from qa.executor import ProcessExecutor

    # forked workers, so that they see the patched check
    with ProcessExecutor(2, start="fork") as ex:
        out = list(Scorer(DEFAULT, executor=ex).score(
            convs, on_error=lambda c, e: errors.append((c.id, e.message))))
    assert len(out) == 119
    assert errors == [("p7", "criterion 'name_usage' (name_usage) could not be scored: ValueError: odd data")]


def test_forked_scoring_workers_leave_what_they_inherit_out_of_their_collections():
    """A forked worker moves the objects it inherited (the spaCy pipeline, the scorer, the
    parent's conversations) out of its garbage collector's reach (gc.freeze): its full
    collections walk what it made, not the parent's whole heap. The parent is unchanged."""
    import gc

    from qa.executor import ProcessExecutor

    inherited = len(gc.get_objects())
    with ProcessExecutor(1, start="fork") as ex:
        frozen = ex.submit(gc.get_freeze_count).result()
    assert frozen >= inherited // 2
    assert gc.get_freeze_count() == 0


@pytest.mark.slow
def test_a_huge_message_is_scored():
    conv = make_conv([("customer", "log line " * 170_000), ("agent", "Hello, thanks for sending the log, I can help.")])
    [res] = score_conversations([conv], DEFAULT)
    assert res.n_turns == 2 and res.overall is not None
    assert next(c for c in res.criteria if c.criterion_id == "greeting").outcome == "pass"


@pytest.mark.parametrize("which,n", [("cut", 43), pytest.param("full", 528, marks=pytest.mark.slow)])
def test_real_chats_are_scored_with_reasons_and_evidence(tmp_path, which, n):
    ibm = IBM_CUT if which == "cut" else need_shared("chats", "ibm_twitter_care_dev.json")
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["score", str(ibm), str(ABCD), "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    conv = pl.read_parquet(out / "results" / "conversations.parquet")
    crit = pl.read_parquet(out / "results" / "criteria.parquet")
    assert conv.height == n and crit.height == n * len(DEFAULT.criteria)
    assert crit["reason"].null_count() == 0 and (crit["reason"].str.len_chars() > 0).all()
    for cat in CATEGORIES:
        vals = conv[cat].drop_nulls()
        assert ((vals >= 0) & (vals <= 100)).all()
    # every quote is the conversation's own text, every match sits where it says
    texts = {}
    for row in crit.filter(pl.col("evidence").list.len() > 0).head(2000).iter_rows(named=True):
        cid = row["conversation_id"]
        if cid not in texts:
            data = json.loads((out / "transcripts" / f"{cid}.json").read_text())
            texts[cid] = [t["text"] for t in data["turns"]]
        for e in row["evidence"]:
            assert e["quote"] in texts[cid][e["turn_index"]]
            if e["match"] is not None:
                assert e["quote"][e["match_start"]:e["match_end"]] == e["match"]
    # ABCD gives the customer's name: name_usage is never N/A there
    abcd = crit.filter(pl.col("criterion_id") == "name_usage",
                       pl.col("conversation_id").is_in(["3592", "9489", "3695"]))
    assert abcd.height == 3 and (abcd["outcome"] != "na").all()


def test_moved_names_still_import_from_qa_score():
    """Input reading, Parquet writing and the rubric tools left qa.score; the names users
    imported from it still work (the README's examples did)."""
    import qa.inputs
    import qa.results
    import qa.rubric_tools
    from qa.score import (ExampleResult, ResultsWriter, explain_rubric, iter_inputs, results_frames,
                          run_examples, write_frames)
    from qa.score import write_results as compat_write

    assert iter_inputs is qa.inputs.iter_inputs
    assert compat_write is qa.results.write_results is write_results
    assert (results_frames, write_frames, ResultsWriter) == (
        qa.results.results_frames, qa.results.write_frames, qa.results.ResultsWriter)
    assert (run_examples, ExampleResult, explain_rubric) == (
        qa.rubric_tools.run_examples, qa.rubric_tools.ExampleResult, qa.rubric_tools.explain_rubric)
    with pytest.raises(ImportError):
        from qa.score import no_such_name  # noqa: F401
