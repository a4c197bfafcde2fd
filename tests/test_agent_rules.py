"""The agent page's rules on hand-built results with known answers: trends and "needs
attention" only on enough conversations, percentiles only in teams large enough,
strengths only above the team, voice and text apart, the customer's sentiment shift."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from qa.aggregate import (MIN_CONVERSATIONS, PERCENTILE_MIN_AGENTS, TREND_WINDOW, aggregate,
                          focus_areas)
from report_helpers import conv_row, crit_row, dt, write_results

MONDAY = date(2026, 3, 2)


def _day(week: int, day: int = 0) -> str:
    return (MONDAY + timedelta(weeks=week, days=day)).isoformat()


def _agent(agg, agent_id):
    return agg.agents.filter(pl.col("agent_id") == agent_id).to_dicts()[0]


def _write(tmp_path, convs, crits=None):
    if crits is None:
        crits = [crit_row(c, "greeting", "pass") for c in convs]
    return aggregate(write_results(tmp_path, convs, crits))


def test_a_slow_fall_over_six_weeks_is_flagged(tmp_path):
    # 80 -> 67 over six weeks, two conversations a week (a point or two of noise)
    weekly = [80, 78, 76, 72, 70, 67]
    convs = []
    for w, score in enumerate(weekly):
        for d, noise in ((0, 1.0), (2, -1.0)):
            convs.append(conv_row(f"f{w}{d}", "fran", "t", dt(_day(w, d)), score + noise))
    # a steady colleague
    convs += [conv_row(f"s{w}", "sol", "t", dt(_day(w)), 75.0) for w in range(6)]
    agg = _write(tmp_path, convs)
    fran = _agent(agg, "fran")
    # the last two weeks alone differ by 3 points; the six-week window sees the fall
    assert fran["trend_periods"] == TREND_WINDOW
    assert (fran["n_early"], fran["n_late"]) == (6, 6)
    assert fran["trend_early_overall"] == pytest.approx((80 + 78 + 76) / 3)
    assert fran["trend_late_overall"] == pytest.approx((72 + 70 + 67) / 3)
    assert fran["trend_overall"] == pytest.approx(-25 / 3)
    assert fran["dir_overall"] == "down"
    assert fran["needs_attention"] is True
    assert fran["attention_reasons"] == ["overall down 8 points (78 → 70 over the last 6 weeks)"]
    assert _agent(agg, "sol")["dir_overall"] == "flat"
    assert _agent(agg, "sol")["needs_attention"] is False


def test_one_bad_conversation_against_five_is_not_a_trend(tmp_path):
    convs = [conv_row(f"g{i}", "gil", "t", dt(_day(0, i)), 85.0 + i) for i in range(5)]
    convs.append(conv_row("g9", "gil", "t", dt(_day(1)), 50.0))  # down 37 on one conversation
    convs += [conv_row(f"h{i}", "hal", "t", dt(_day(0, i)), 80.0) for i in range(3)]
    agg = _write(tmp_path, convs)
    gil = _agent(agg, "gil")
    assert gil["trend_overall"] == pytest.approx(50 - 87.0)
    assert (gil["n_early"], gil["n_late"]) == (5, 1)
    assert gil["dir_overall"] is None  # fewer than MIN_CONVERSATIONS on the late side
    assert gil["needs_attention"] is False and gil["attention_reasons"] == []
    assert MIN_CONVERSATIONS > 1


def test_a_noisy_change_is_flat(tmp_path):
    # three conversations each side, means 5 points apart, spread of 30 points: chance
    early, late = [50.0, 80.0, 95.0], [45.0, 75.0, 90.0]
    convs = [conv_row(f"e{i}", "ida", "t", dt(_day(0, i)), v) for i, v in enumerate(early)]
    convs += [conv_row(f"l{i}", "ida", "t", dt(_day(1, i)), v) for i, v in enumerate(late)]
    ida = _agent(_write(tmp_path, convs), "ida")
    assert ida["trend_overall"] == pytest.approx(-5.0)
    assert ida["dir_overall"] == "flat" and ida["needs_attention"] is False


def test_below_team_needs_enough_conversations(tmp_path):
    convs = [conv_row(f"t{i}", "top", "t", dt(_day(0, i)), 95.0) for i in range(6)]
    convs += [conv_row("o1", "one", "t", dt(_day(0)), 20.0)]
    convs += [conv_row(f"m{i}", "many", "t", dt(_day(0, i)), 40.0) for i in range(3)]
    agg = _write(tmp_path, convs)
    assert _agent(agg, "one")["attention_reasons"] == []
    reasons = _agent(agg, "many")["attention_reasons"]
    assert len(reasons) == 1 and reasons[0].startswith("overall ")
    assert reasons[0].endswith(" points below team over 3 conversations")


def test_percentile_only_with_enough_agents(tmp_path):
    scores = [50.0, 60.0, 70.0, 80.0, 90.0]
    convs = [conv_row(f"b{i}", f"big{i}", "big", dt(_day(0)), s) for i, s in enumerate(scores)]
    convs += [conv_row("s1", "small1", "small", dt(_day(0)), 60.0),
              conv_row("s2", "small2", "small", dt(_day(0)), 90.0)]
    agg = _write(tmp_path, convs)
    assert PERCENTILE_MIN_AGENTS == 5
    assert [_agent(agg, f"big{i}")["percentile"] for i in range(5)] == [0.0, 25.0, 50.0, 75.0, 100.0]
    assert _agent(agg, "small2")["percentile"] is None  # not "100 of 2 agents"
    assert _agent(agg, "small2")["team_ranked"] == 2


def test_strengths_only_above_the_team(tmp_path):
    convs = [conv_row(f"a{i}", "amy", "t", dt(_day(0, i)), 80.0) for i in range(4)]
    convs += [conv_row(f"b{i}", "ben", "t", dt(_day(0, i)), 60.0) for i in range(4)]
    crits = []
    for i, c in enumerate(convs):
        amy = c["agent_id"] == "amy"
        crits.append(crit_row(c, "greeting", "pass"))                      # everyone: 100%
        crits.append(crit_row(c, "empathy", "pass" if amy or i % 2 else "fail",
                              category="empathy"))                         # amy 4/4, ben 2/4
        crits.append(crit_row(c, "closing", "fail" if amy and i == 0 else "pass"))  # amy 3/4
        crits.append(crit_row(c, "hold", "pass", 1.0 if amy else 0.6, category="promptness"))
    agg = _write(tmp_path, convs, crits)
    weak, strong = focus_areas(agg.criteria, "amy")
    # greeting: the whole team passes it; closing: amy is below the team
    assert strong["criterion_id"].to_list() == ["empathy", "hold"]
    assert weak["criterion_id"].to_list() == ["closing"]
    _, ben_strong = focus_areas(agg.criteria, "ben")
    assert ben_strong["criterion_id"].to_list() == ["closing"]  # 4/4 against the team's 7/8


def test_auto_fail_criteria_are_coached_first(tmp_path):
    convs = [conv_row(f"c{i}", "cat", "t", dt(_day(0, i)), 50.0) for i in range(4)]
    crits = []
    for i, c in enumerate(convs):
        crits.append(crit_row(c, "greeting", "fail"))
        crits.append(crit_row(c, "no_profanity", "fail" if i == 0 else "pass", auto_fail=i == 0,
                              category="professionalism"))
    weak, _ = focus_areas(_write(tmp_path, convs, crits).criteria, "cat")
    assert weak["criterion_id"].to_list() == ["no_profanity", "greeting"]


def test_voice_and_text_apart_and_criterion_trend(tmp_path):
    convs = [conv_row("v1", "vic", "t", dt(_day(0)), 60.0, channel="voice"),
             conv_row("v2", "vic", "t", dt(_day(1)), 70.0, channel="voice"),
             conv_row("c1", "vic", "t", dt(_day(0, 1)), 90.0, channel="chat"),
             conv_row("s1", "vic", "t", dt(_day(1, 1)), 80.0, channel="social"),
             conv_row("w1", "wes", "t", dt(_day(1)), 40.0, channel="voice")]
    crits = [crit_row(c, "greeting", "pass" if c["overall"] >= 70 else "fail") for c in convs]
    crits.append(crit_row(convs[0], "closing", "na"))
    agg = _write(tmp_path, convs, crits)
    ch = {r["channel_group"]: r for r in agg.channels.filter(pl.col("agent_id") == "vic").to_dicts()}
    assert set(ch) == {"voice", "text"}
    assert (ch["voice"]["n"], ch["voice"]["overall"]) == (2, 65.0)
    assert (ch["text"]["n"], ch["text"]["overall"]) == (2, 85.0)
    assert ch["voice"]["team_overall"] == pytest.approx(170 / 3) and ch["voice"]["team_n"] == 3
    tr = agg.criterion_trend.filter(pl.col("agent_id") == "vic")
    assert tr.select("criterion_id", "period", "n", "n_pass").rows() == [
        ("greeting", MONDAY, 2, 1), ("greeting", MONDAY + timedelta(weeks=1), 2, 2)]


def test_customer_sentiment_shift(tmp_path):
    convs = [conv_row(f"m{i}", "mo", "t", dt(_day(0, i)), 80.0) for i in range(4)]
    shifts = [(-0.6, 0.2), (-0.2, -0.15), (0.1, -0.4), (None, None)]
    for c, (a, b) in zip(convs, shifts):
        c.update(customer_sentiment_start=a, customer_sentiment_end=b,
                 customer_sentiment_shift=None if a is None else b - a)
    convs.append(conv_row("n1", "ned", "t", dt(_day(0)), 80.0))
    res = write_results(tmp_path, convs, [crit_row(c, "greeting", "pass") for c in convs])
    # results written with the sentiment columns, whatever the schema module says
    path = res / "results" / "conversations.parquet"
    df = pl.read_parquet(path)
    if "customer_sentiment_shift" not in df.columns:
        extra = pl.DataFrame([{k: c.get(k) for k in ("customer_sentiment_start",
                              "customer_sentiment_end", "customer_sentiment_shift")}
                              for c in convs], schema={k: pl.Float64 for k in (
                                  "customer_sentiment_start", "customer_sentiment_end",
                                  "customer_sentiment_shift")})
        pl.concat([df, extra], how="horizontal").write_parquet(path)
    mo = _agent(aggregate(res), "mo")
    assert mo["n_sentiment"] == 3
    assert mo["sentiment_shift"] == pytest.approx((0.8 + 0.05 - 0.5) / 3)
    assert (mo["sentiment_better"], mo["sentiment_worse"]) == (1, 1)  # +0.05 is no change
    assert mo["sentiment_start"] == pytest.approx((-0.6 - 0.2 + 0.1) / 3)


def test_results_without_sentiment_columns(tmp_path):
    convs = [conv_row("x1", "xi", "t", dt(_day(0)), 80.0)]
    res = write_results(tmp_path, convs, [crit_row(convs[0], "greeting", "pass")])
    path = res / "results" / "conversations.parquet"
    pl.read_parquet(path).drop("customer_sentiment_start", "customer_sentiment_end",
                               "customer_sentiment_shift", strict=False).write_parquet(path)
    xi = _agent(aggregate(res), "xi")
    assert xi["n_sentiment"] == 0 and xi["sentiment_shift"] is None
