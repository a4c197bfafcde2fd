"""Polars aggregation on hand-built results with known answers."""

from __future__ import annotations

import random
from datetime import date

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from qa.aggregate import (Filters, aggregate, focus_areas, locate_results)
from qa.errors import ReportError
from qa.schema import CONVERSATION_SCHEMA, CRITERIA_SCHEMA
from report_helpers import conv_row, crit_row, dt, ev, write_results


def _dataset():
    c1 = conv_row("c1", "alice", "north", dt("2026-01-05"), 80.0,
                  {"promptness": 100.0, "politeness": 60.0, "professionalism": 80.0,
                   "personalization": None, "empathy": 80.0})
    c2 = conv_row("c2", "alice", "north", dt("2026-01-07"), 90.0,
                  {"promptness": 80.0, "politeness": 100.0, "professionalism": 90.0,
                   "personalization": 50.0, "empathy": 90.0})
    c3 = conv_row("c3", "alice", "north", dt("2026-01-13"), 70.0)
    c4 = conv_row("c4", "bob", "north", dt("2026-01-06"), 60.0)
    c5 = conv_row("c5", "bob", "north", dt("2026-01-14"), 0.0, 40.0, auto_fail=True,
                  auto_fail_criteria=["no_profanity"])
    c6 = conv_row("c6", "carol", "north", dt("2026-01-08"), 100.0)
    c7 = conv_row("c7", "carol", "north", None, 90.0)
    c8 = conv_row("c8", "dave", "south", dt("2026-02-02"), 50.0)
    convs = [c1, c2, c3, c4, c5, c6, c7, c8]
    crits = [
        crit_row(c1, "greeting", "pass", evidence=[ev(0, "Hello, thanks for calling", "Hello",
                                                      polarity="positive", start_s=1.0)]),
        crit_row(c2, "greeting", "fail", evidence=[ev(0, "Yeah what", None, start_s=0.5),
                                                   ev(2, "What now", None)]),
        crit_row(c3, "greeting", "fail", evidence=[ev(1, "Go on", None, start_s=3.0)]),
        crit_row(c1, "empathy_phrase", "pass", category="empathy"),
        crit_row(c2, "empathy_phrase", "pass", category="empathy"),
        crit_row(c3, "empathy_phrase", "na", category="empathy"),
        crit_row(c1, "name_use", "fail", category="personalization"),
        crit_row(c2, "name_use", "na", category="personalization"),
        crit_row(c3, "name_use", "na", category="personalization"),
        crit_row(c1, "hold", "pass", category="promptness"),
        crit_row(c2, "hold", "pass", category="promptness"),
        crit_row(c3, "hold", "pass", 0.5, category="promptness"),
        crit_row(c4, "greeting", "pass"),
        crit_row(c5, "greeting", "pass"),
        crit_row(c5, "no_profanity", "fail", category="professionalism", auto_fail=True,
                 evidence=[ev(3, "oh damn it", "damn")]),
        crit_row(c8, "greeting", "fail"),
    ]
    return convs, crits


@pytest.fixture
def results(tmp_path):
    convs, crits = _dataset()
    return write_results(tmp_path / "out", convs, crits)


def _agent(agg, agent_id):
    rows = agg.agents.filter(pl.col("agent_id") == agent_id).to_dicts()
    assert len(rows) == 1
    return rows[0]


def test_agent_means_team_average_and_percentile(results):
    agg = aggregate(results)
    alice, bob, carol, dave = (_agent(agg, a) for a in ("alice", "bob", "carol", "dave"))
    assert alice["n_conversations"] == 3 and alice["overall"] == pytest.approx(80.0)
    assert alice["promptness"] == pytest.approx((100 + 80 + 70) / 3)
    assert alice["personalization"] == pytest.approx((50 + 70) / 2)  # null ignored
    assert bob["overall"] == pytest.approx(30.0) and bob["auto_fails"] == 1
    assert carol["overall"] == pytest.approx(95.0)
    # team north: mean over its 7 conversations
    assert alice["team_overall"] == pytest.approx(490 / 7)
    assert alice["delta_overall"] == pytest.approx(80 - 490 / 7)
    # three agents in north, one in south: too few for a percentile
    assert (bob["percentile"], alice["percentile"], carol["percentile"]) == (None, None, None)
    assert (alice["team_size"], alice["team_ranked"]) == (3, 3)
    assert dave["team"] == "south" and dave["percentile"] is None and dave["delta_overall"] == 0.0
    teams = {r["team"]: r for r in agg.teams.to_dicts()}
    assert teams["north"]["n_agents"] == 3 and teams["north"]["auto_fails"] == 1
    assert teams["south"]["overall"] == 50.0


def test_trend_per_week_and_direction(results):
    agg = aggregate(results)
    alice_trend = agg.trend.filter(pl.col("agent_id") == "alice")
    assert alice_trend["period"].to_list() == [date(2026, 1, 5), date(2026, 1, 12)]
    assert alice_trend["overall"].to_list() == [85.0, 70.0]
    assert alice_trend["n"].to_list() == [2, 1]
    alice, carol = _agent(agg, "alice"), _agent(agg, "carol")
    # 85 (2 conversations) -> 70 (1): a change, but too few conversations for an arrow
    assert alice["trend_overall"] == -15.0 and alice["dir_overall"] is None
    assert (alice["n_early"], alice["n_late"], alice["trend_periods"]) == (2, 1, 2)
    # carol: one dated conversation (the undated one has no period) -> no trend
    assert carol["trend_overall"] is None and carol["dir_overall"] is None
    assert agg.periods == [date(2026, 1, 5), date(2026, 1, 12), date(2026, 2, 2)]


def test_month_period_merges_weeks(results):
    agg = aggregate(results, Filters(period="month"))
    assert agg.trend.filter(pl.col("agent_id") == "alice")["period"].to_list() == [date(2026, 1, 1)]
    assert _agent(agg, "alice")["dir_overall"] is None


def test_needs_attention_reasons(results):
    agg = aggregate(results)
    # alice fell 15 points, bob 60, but on one or two conversations: only bob's auto-fail
    # counts (and bob's 40 points below team rests on two conversations: not enough)
    assert _agent(agg, "alice")["attention_reasons"] == []
    assert _agent(agg, "bob")["attention_reasons"] == ["1 auto-fail"]
    assert _agent(agg, "carol")["needs_attention"] is False
    assert _agent(agg, "bob")["needs_attention"] is True


def test_criterion_pass_rates_and_team_rates(results):
    agg = aggregate(results)
    stats = {(r["agent_id"], r["criterion_id"]): r for r in agg.criteria.to_dicts()}
    g = stats[("alice", "greeting")]
    assert (g["n_applicable"], g["n_pass"], g["n_fail"]) == (3, 1, 2)
    assert g["pass_rate"] == pytest.approx(1 / 3)
    assert g["team_pass_rate"] == pytest.approx(3 / 5)  # alice 1/3 + bob 2/2 in north
    assert g["coaching"] == "Do better." and g["category"] == "politeness"
    e = stats[("alice", "empathy_phrase")]
    assert (e["n_applicable"], e["n_na"], e["pass_rate"]) == (2, 1, 1.0)
    assert stats[("alice", "hold")]["mean_score"] == pytest.approx(2.5 / 3)
    assert stats[("dave", "greeting")]["team_pass_rate"] == 0.0
    assert agg.auto_fail_criteria.to_dicts() == [
        {"agent_id": "bob", "criterion_id": "no_profanity", "n": 1}]


def test_weakest_and_strongest_with_min_count(results):
    agg = aggregate(results)
    weak, strong = focus_areas(agg.criteria, "alice", k=3, min_count=2)
    # name_use applied once only: below min_count, left out
    assert weak["criterion_id"].to_list() == ["greeting", "hold"]
    # empathy_phrase: alice passes 2 of 2, and so does the team: nothing to praise
    assert strong["criterion_id"].to_list() == []
    weak1, _ = focus_areas(agg.criteria, "alice", k=1, min_count=1)
    # greeting: 1/3 against the team's 3/5; name_use: 0/1, but so is the team (alice alone)
    assert weak1["criterion_id"].to_list() == ["greeting"]
    weak3, _ = focus_areas(agg.criteria, "alice", k=3, min_count=1)
    assert weak3["criterion_id"].to_list() == ["greeting", "name_use", "hold"]


def test_best_and_worst_evidence(results):
    agg = aggregate(results)
    rows = agg.evidence.filter((pl.col("agent_id") == "alice")
                               & (pl.col("criterion_id") == "greeting"))
    worst = rows.filter(pl.col("kind") == "worst")
    # both fails score 0: the most recent conversation first, its evidence in the
    # check's order (two items at most per conversation)
    assert worst["conversation_id"].to_list() == ["c3", "c2", "c2"]
    assert worst["quote"].to_list() == ["Go on", "Yeah what", "What now"]
    assert worst["turn_index"].to_list() == [1, 0, 2]
    assert worst["rank"].to_list() == [0, 1, 1] and worst["item"].to_list() == [0, 0, 1]
    assert worst["reason"].to_list() == ["because"] * 3
    best = rows.filter(pl.col("kind") == "best")
    assert best["quote"].to_list() == ["Hello, thanks for calling"]
    assert (best["match_start"][0], best["match_end"][0], best["start_s"][0]) == (0, 5, 1.0)
    worst_k1 = aggregate(results, examples=1).evidence.filter(
        (pl.col("agent_id") == "alice") & (pl.col("kind") == "worst"))
    assert worst_k1["conversation_id"].to_list() == ["c3"]


def test_date_and_team_filters(results):
    agg = aggregate(results, Filters(date_from=date(2026, 1, 12), date_to=date(2026, 1, 31)))
    assert sorted(agg.conversations["conversation_id"].to_list()) == ["c3", "c5"]
    assert sorted(agg.agents["agent_id"].to_list()) == ["alice", "bob"]
    assert set(agg.criteria["agent_id"].to_list()) == {"alice", "bob"}
    south = aggregate(results, Filters(team="south"))
    assert south.agents["agent_id"].to_list() == ["dave"]
    assert south.criteria["criterion_id"].to_list() == ["greeting"]
    to_only = aggregate(results, Filters(date_to=date(2026, 1, 5)))
    assert to_only.conversations["conversation_id"].to_list() == ["c1"]


def test_agent_in_two_teams_gets_main_team(tmp_path):
    convs = [conv_row("x1", "eve", "a", dt("2026-01-05"), 50.0),
             conv_row("x2", "eve", "b", dt("2026-01-06"), 70.0),
             conv_row("x3", "eve", "b", dt("2026-01-07"), 90.0),
             conv_row("x4", "fay", None, dt("2026-01-07"), 40.0, agent_name="Fay F")]
    crits = [crit_row(c, "greeting", "pass") for c in convs]
    agg = aggregate(write_results(tmp_path, convs, crits))
    eve = _agent(agg, "eve")
    assert eve["team"] == "b" and eve["overall"] == pytest.approx(70.0)
    assert eve["team_overall"] == pytest.approx(80.0)
    fay = _agent(agg, "fay")
    assert fay["team"] == "" and fay["agent_name"] == "Fay F"
    assert agg.criteria.filter(pl.col("agent_id") == "eve")["team"].to_list() == ["b"]


def test_locate_results_accepts_results_folder_and_reports_missing(tmp_path, results):
    assert locate_results(results / "results").root == results
    assert locate_results(results).conversations == results / "results" / "conversations.parquet"
    with pytest.raises(ReportError) as err:
        locate_results(tmp_path / "nothing")
    assert "no results here" in str(err.value) and "qa score" in str(err.value)
    (results / "results" / "criteria.parquet").unlink()
    with pytest.raises(ReportError, match="results file missing"):
        locate_results(results)


def test_missing_column_is_a_clear_error(tmp_path):
    res = tmp_path / "results"
    res.mkdir()
    pl.DataFrame({"conversation_id": ["c1"], "agent_id": ["a"]}).write_parquet(
        res / "conversations.parquet")
    pl.DataFrame({"conversation_id": ["c1"]}).write_parquet(res / "criteria.parquet")
    with pytest.raises(ReportError) as err:
        aggregate(tmp_path)
    assert str(err.value).startswith(str(res / "conversations.parquet"))
    assert "column(s) overall, promptness" in str(err.value)


def test_bad_filters():
    with pytest.raises(ReportError, match="unknown period 'day'"):
        Filters(period="day")
    with pytest.raises(ReportError, match="is after --to"):
        Filters(date_from=date(2026, 2, 1), date_to=date(2026, 1, 1))


def _random_results(tmp_path, seed=7, n=300):
    """Many conversations, agents who change team, a criterion whose wording changed,
    ties in scores, several quotes per outcome; criteria rows in random order."""
    rng = random.Random(seed)
    agents = [f"ag{i:02d}" for i in range(12)]
    convs, crits = [], []
    for i in range(n):
        agent = rng.choice(agents)
        team = rng.choice(["north", "south"]) if agent in agents[:3] else f"t{agents.index(agent) % 3}"
        day = f"2026-0{1 + i % 3}-{1 + i % 27:02d}"
        c = conv_row(f"c{i:04d}", agent, team, dt(day, 8 + i % 9) if i % 17 else None,
                     float(rng.randint(0, 100)))
        convs.append(c)
        for crit in ("greeting", "closing", "empathy", "hold", "name", "courtesy"):
            outcome = rng.choice(["pass", "fail", "fail", "na"])
            score = None if outcome == "na" else rng.choice([0.0, 0.25, 0.5, 1.0])
            if outcome == "pass":
                score = max(score, 0.5)
            evidence = [ev(t, f"quote {i} {t}", "quote" if t % 2 else None,
                           polarity=rng.choice(["positive", "negative", None]),
                           start_s=float(t))
                        for t in rng.sample(range(8), rng.randint(0, 3))]
            wording = "old words" if crit == "closing" and i < n // 2 else None
            crits.append(crit_row(c, crit, outcome, score, evidence=evidence,
                                  description=wording, auto_fail=crit == "courtesy"
                                  and outcome == "fail" and rng.random() < 0.2))
    rng.shuffle(crits)
    return write_results(tmp_path, convs, crits), convs, crits


def test_chunked_aggregation_equals_whole_and_known_answers(tmp_path, monkeypatch):
    import qa.aggregate as A

    out, convs, crits = _random_results(tmp_path)
    monkeypatch.setattr(A, "CHUNK_ROWS", 10**9)
    whole = aggregate(out)
    for rows in (7, 250):  # conversations straddle chunks; many chunks per agent
        monkeypatch.setattr(A, "CHUNK_ROWS", rows)
        chunked = aggregate(out)
        for name in ("conversations", "agents", "teams", "trend", "team_trend", "criteria",
                     "evidence", "auto_fail_criteria", "criterion_trend", "channels"):
            assert_frame_equal(getattr(whole, name), getattr(chunked, name))

    # pass rates and mean scores, counted by hand
    stats = {(r["agent_id"], r["criterion_id"]): r for r in whole.criteria.to_dicts()}
    for (agent, crit), row in stats.items():
        mine = [c for c in crits if c["agent_id"] == agent and c["criterion_id"] == crit]
        applied = [c for c in mine if c["outcome"] != "na"]
        assert row["n_total"] == len(mine) and row["n_applicable"] == len(applied)
        if applied:
            assert row["pass_rate"] == pytest.approx(
                sum(c["outcome"] == "pass" for c in applied) / len(applied))
            assert row["mean_score"] == pytest.approx(sum(c["score"] for c in applied) / len(applied))
        else:
            assert row["pass_rate"] is None and row["mean_score"] is None
        assert row["auto_fails"] == sum(bool(c["auto_fail"]) for c in mine)
    # the current wording is the latest conversation's
    assert set(whole.criteria.filter(pl.col("criterion_id") == "closing")["description"]) == {
        "closing description"}

    # worst quotes by hand: lowest score, latest conversation, the first two negative
    # items of each conversation in the check's order, three conversations
    started = {c["conversation_id"]: c["started_at"] for c in convs}
    for (agent, crit), row in list(stats.items())[:20]:
        cands = [(c["score"], c["conversation_id"], pos, e) for c in crits
                 if c["agent_id"] == agent and c["criterion_id"] == crit and c["outcome"] == "fail"
                 for pos, e in enumerate(c["evidence"]) if e["polarity"] in ("negative", None)]
        cands.sort(key=lambda x: (x[0], -(started[x[1]].timestamp() if started[x[1]] else -1e12),
                                  x[1], x[2]))
        per, want = {}, []
        for score, cid, pos, e in cands:
            if cid not in per and len(per) == 3:
                continue
            per[cid] = per.get(cid, 0) + 1
            if per[cid] <= 2:
                want.append((cid, e["turn_index"]))
        got = whole.evidence.filter((pl.col("agent_id") == agent) & (pl.col("criterion_id") == crit)
                                    & (pl.col("kind") == "worst"))
        assert list(zip(got["conversation_id"], got["turn_index"])) == want


@pytest.mark.slow
def test_results_files_are_written_in_row_groups(tmp_path):
    import pyarrow.parquet as pq

    from qa.schema import ROW_GROUP_ROWS
    from qa.results import write_frames

    out, convs, crits = _random_results(tmp_path / "a", n=ROW_GROUP_ROWS // 6 * 2 + 50)
    conv_df = pl.DataFrame(convs, schema=CONVERSATION_SCHEMA)
    crit_df = pl.DataFrame(crits, schema=CRITERIA_SCHEMA)
    conv_path, crit_path = write_frames(conv_df, crit_df, tmp_path / "b")
    meta = pq.ParquetFile(crit_path).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [
        ROW_GROUP_ROWS, ROW_GROUP_ROWS, crit_df.height - 2 * ROW_GROUP_ROWS]
    assert_frame_equal(pl.read_parquet(crit_path), crit_df)


@pytest.mark.parametrize("grouped", [True, False])
def test_criteria_by_conversation_gives_each_conversation_whole_once(tmp_path, monkeypatch,
                                                                     grouped):
    import qa.aggregate as A

    out, convs, crits = _random_results(tmp_path, n=120)
    if grouped:  # as qa writes them: a conversation's rows together (any conversation order)
        order = {c["conversation_id"]: i for i, c in enumerate(reversed(convs))}
        write_results(out, convs, sorted(crits, key=lambda r: order[r["conversation_id"]]))
    paths = locate_results(out)
    assert A._grouped(paths) is grouped
    monkeypatch.setattr(A, "CHUNK_ROWS", 13)  # conversations straddle chunks
    wanted = [c["conversation_id"] for c in convs[::3]] + ["no-such-conversation"]
    seen = []
    for ids, rows in A.criteria_by_conversation(paths, pl.Series(wanted), per=7):
        assert 0 < len(ids) <= 7
        assert set(rows["conversation_id"]) <= set(ids)
        for cid in ids:
            want = sorted((r["criterion_id"], r["outcome"]) for r in crits
                          if r["conversation_id"] == cid)
            got = rows.filter(pl.col("conversation_id") == cid)
            assert sorted(zip(got["criterion_id"], got["outcome"])) == want
        seen.extend(ids)
    assert sorted(seen) == sorted(wanted)
