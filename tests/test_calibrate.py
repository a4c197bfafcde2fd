"""qa calibrate: the statistics against hand computations, compare() on hand-made results
and grades, the CLI's exact messages and exit codes, suggestions, --apply and reviews."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from qa.calibrate import (DEFAULT_MAPPING, GradesError, Target, cohen_kappa, compare, confusion,
                          format_text, krippendorff_alpha, landis_koch, parse_target,
                          percent_agreement, read_reviews, reviewed_agent_scores, spearman,
                          write_outputs)
from qa.cli import main
from qa.rubric import load_rubric
from report_helpers import conv_row, crit_row, dt, ev, write_results

P, F, NA = "pass", "fail", "na"


# ---------------------------------------------------------------- statistics by hand
def test_cohen_kappa_equals_the_hand_computation():
    a = [P, P, P, F, F, F, P, F, P, P]
    b = [P, P, F, F, F, P, P, F, P, F]
    # agree on 7 of 10; a says pass 6 times, b 5 times
    po = 7 / 10
    pe = (6 / 10) * (5 / 10) + (4 / 10) * (5 / 10)
    assert cohen_kappa(a, b) == pytest.approx((po - pe) / (1 - pe))
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert percent_agreement(a, b) == pytest.approx(0.7)


def test_cohen_kappa_three_classes():
    a = [P, P, F, NA, NA, F]
    b = [P, F, F, NA, P, F]
    po = 4 / 6
    # a: P2 F2 NA2; b: P2 F3 NA1
    pe = (2 * 2 + 2 * 3 + 2 * 1) / 36
    assert cohen_kappa(a, b) == pytest.approx((po - pe) / (1 - pe))


def test_cohen_kappa_is_undefined_with_one_class_on_a_side():
    assert cohen_kappa([P, P, P], [P, P, P]) is None  # not 1.0
    assert cohen_kappa([P, P, P], [P, F, P]) is None
    assert cohen_kappa([], []) is None
    assert landis_koch(None) == "undefined"


def test_confusion_counts():
    table = confusion([P, P, F, F, F], [P, F, F, F, P], [P, F, NA])
    assert table == {P: {P: 1, F: 1, NA: 0}, F: {P: 1, F: 2, NA: 0}, NA: {P: 0, F: 0, NA: 0}}


def test_spearman_without_ties_is_the_textbook_formula():
    x = [1, 2, 3, 4, 5]
    y = [2, 1, 4, 3, 5]
    d2 = sum((i - j) ** 2 for i, j in zip([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]))
    assert spearman(x, y) == pytest.approx(1 - 6 * d2 / (5 * (25 - 1)))


def test_spearman_with_ties_uses_mean_ranks():
    x = [10, 20, 30, 40]
    y = [1, 3, 3, 4]  # ranks 1, 2.5, 2.5, 4
    rx, ry = [1, 2, 3, 4], [1, 2.5, 2.5, 4]
    mx, my = sum(rx) / 4, sum(ry) / 4
    num = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    den = math.sqrt(sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry))
    assert spearman(x, y) == pytest.approx(num / den)
    assert spearman([1, 2, 3], [5, 5, 5]) is None


def test_krippendorff_alpha_by_hand():
    # coincidences: (a,a) 2, (b,b) 2, (a,b) 1, (b,a) 1; n = 6, n_a = n_b = 3
    # D_o = 2, D_e = (3*3 + 3*3) / 5 = 3.6
    assert krippendorff_alpha([["a", "a"], ["b", "b"], ["a", "b"]]) == pytest.approx(1 - 2 / 3.6)
    assert krippendorff_alpha([["a", "a"], ["a"]]) is None


def test_landis_koch_bands():
    assert [landis_koch(k) for k in (-0.1, 0.1, 0.3, 0.5, 0.7, 0.81)] == [
        "poor", "slight", "fair", "moderate", "substantial", "almost perfect"]


def test_default_mapping_kinds():
    assert parse_target("profanity", DEFAULT_MAPPING["profanity"]) == Target(
        "profanity", "inverted", "no_profanity")
    assert parse_target("distress", DEFAULT_MAPPING["distress"]).kind == "applies"
    # a bare criterion keeps the label's kind: --map slang=no_slang stays inverted
    assert parse_target("slang", "no_slang") == Target("slang", "inverted", "no_slang")
    assert parse_target("mine", "greeting") == Target("mine", "outcome", "greeting")
    assert parse_target("overall_1to5", DEFAULT_MAPPING["overall_1to5"]).kind == "rating"


# ---------------------------------------------------------------- compare on hand-made results
QA_GREETING = [P, P, F, F, P, F]
QA_PROFANITY = [P, P, P, F, P, P]  # no_profanity outcomes
QA_POLITENESS = [90.0, 80.0, 20.0, 10.0, 70.0, 40.0]


@pytest.fixture
def results(tmp_path) -> Path:
    convs, crits = [], []
    for k in range(6):
        row = conv_row(f"c{k + 1}", "alice" if k < 3 else "bob", "north", dt("2026-01-05"), 50.0,
                       {"politeness": QA_POLITENESS[k], "promptness": None,
                        "professionalism": 50.0, "personalization": 50.0, "empathy": 50.0})
        convs.append(row)
        crits.append(crit_row(row, "greeting", QA_GREETING[k], reason=f"greeting reason {k + 1}",
                              evidence=[ev(0, f"quote {k + 1}", None)]))
        crits.append(crit_row(row, "no_profanity", QA_PROFANITY[k], category="professionalism",
                              auto_fail=QA_PROFANITY[k] == F))
    return write_results(tmp_path / "out", convs, crits)


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text.lstrip(), encoding="utf-8")
    return path


GRADES = """
conversation_id,greeting,profanity,politeness_1to5,comment
c1,1,0,5,
c2,1,0,4,
c3,1,0,2,
c4,0,1,1,
c5,0,0,3,
c6,0,1,2,
"""


def test_compare_equals_an_independent_computation(results, tmp_path):
    grades = write_csv(tmp_path / "grades.csv", GRADES)
    r = compare(results, grades)
    g = {c.label: c for c in r.criteria}
    greet = g["greeting"]
    grader = [P, P, P, F, F, F]
    assert (greet.criterion, greet.kind, greet.n) == ("greeting", "outcome", 6)
    assert greet.agreement == pytest.approx(4 / 6)
    # by hand: both 3 pass / 3 fail, pe = .5, kappa = (4/6 - .5) / .5
    assert greet.kappa == pytest.approx((4 / 6 - 0.5) / 0.5)
    assert greet.confusion == {P: {P: 2, F: 1}, F: {P: 1, F: 2}}
    assert greet.verdict == "fair"
    prof = g["profanity"]  # inverted: profanity=1 means no_profanity fails
    assert (prof.criterion, prof.kind) == ("no_profanity", "inverted")
    assert prof.confusion == {P: {P: 4, F: 0}, F: {P: 1, F: 1}}
    assert prof.kappa == pytest.approx(cohen_kappa([P, P, P, F, P, F], QA_PROFANITY))
    cat = r.categories[0]
    assert (cat.label, cat.category, cat.n, cat.scale) == ("politeness_1to5", "politeness", 6, "1-5")
    assert cat.spearman == pytest.approx(spearman([5, 4, 2, 1, 3, 2], QA_POLITENESS))
    on100 = [100, 75, 25, 0, 50, 25]
    assert cat.mean_abs_diff == pytest.approx(
        sum(abs(a - b) for a, b in zip(on100, QA_POLITENESS)) / 6)
    # disagreements: the auto-fail criterion first, then pass against fail
    first = r.disagreements[0]
    assert (first.conversation_id, first.criterion, first.grader, first.qa, first.severity) == (
        "c6", "no_profanity", F, P, 3)
    assert [(d.conversation_id, d.grader, d.qa) for d in r.disagreements[1:]] == [
        ("c3", P, F), ("c5", F, P)]
    assert r.disagreements[1].reason == "greeting reason 3"
    assert r.disagreements[1].quotes == ["quote 3"]
    assert r.disagreements[1].href == "reports/calls/c3.html"
    assert grader  # the grader's column as read


def test_kappa_undefined_is_said_not_printed_as_one(results, tmp_path):
    grades = write_csv(tmp_path / "g.csv", "conversation_id,no_profanity\nc1,pass\nc2,pass\nc3,pass\n")
    r = compare(results, grades)
    c = r.criteria[0]
    assert c.kappa is None and c.agreement == 1.0
    assert c.kappa_note == "undefined: both answered 'pass' every time"
    text = format_text(r)
    line = next(x for x in text.splitlines() if x.startswith("no_profanity"))
    assert "undef" in line and "1.00" not in line
    assert "no_profanity: kappa undefined: both answered 'pass' every time" in text


def test_na_gives_a_three_by_three_table(results, tmp_path):
    grades = write_csv(tmp_path / "g.csv", "conversation_id,greeting\nc1,na\nc2,pass\nc3,fail\nc4,\n")
    c = compare(results, grades).criteria[0]
    assert c.labels == [P, F, NA] and c.n == 3  # the empty cell is not graded
    assert c.confusion[NA] == {P: 1, F: 0, NA: 0}


def test_unknown_ids_and_unmapped_columns_are_reported_not_fatal(results, tmp_path):
    grades = write_csv(tmp_path / "g.csv", "conversation_id,greeting,slang,wibble\nc1,1,0,x\n"
                                           "zz9,1,0,x\nzz8,0,0,x\n")
    r = compare(results, grades)
    assert r.matched == 1 and r.graded == 3
    assert r.unknown_ids == ["zz9", "zz8"]
    msgs = [i.message for i in r.issues]
    assert ("2 graded conversation(s) are not in the results and were left out: zz9, zz8. "
            "Score them into this folder, or check the ids.") in msgs
    assert ("column 'slang' maps to criterion 'no_slang', which the results do not have; fix: "
            "--map slang=CRITERION") in msgs
    assert "column 'wibble' maps to no criterion; to compare it, add --map wibble=CRITERION" in msgs


def test_a_results_folder_scored_with_another_rubric_is_a_warning_with_both_hashes(results, tmp_path):
    grades = write_csv(tmp_path / "g.csv", GRADES)
    r = compare(results, grades)
    rub = load_rubric()
    [w] = [i for i in r.issues if i.kind == "rubric_mismatch"]
    assert w.message == (f"the results were scored with rubric test (hash {'0' * 12}), not with "
                         f"{rub.id} (hash {rub.hash[:12]}); thresholds and suggestions come from "
                         f"{rub.id}. Re-score with that rubric, or give --rubric the one used.")


def test_several_graders(results, tmp_path):
    grades = write_csv(tmp_path / "g.csv", "conversation_id,grader,greeting\n"
                                           "c1,ann,1\nc1,ben,1\nc2,ann,1\nc2,ben,0\n"
                                           "c3,ann,0\nc3,ben,0\nc4,ann,0\nc4,ben,0\n")
    r = compare(results, grades)
    assert r.graders == ["ann", "ben"]
    g = r.inter_grader[0]
    assert g.units == 4
    assert g.alpha_graders == pytest.approx(krippendorff_alpha([[P, P], [P, F], [F, F], [F, F]]))
    qa = QA_GREETING[:4]  # P P F F
    assert g.alpha_with_qa == pytest.approx(krippendorff_alpha(
        [[P, P, qa[0]], [P, F, qa[1]], [F, F, qa[2]], [F, F, qa[3]]]))
    assert g.kappa_qa["ann"] == pytest.approx(cohen_kappa([P, P, F, F], qa))
    assert g.kappa_qa["ben"] == pytest.approx(cohen_kappa([P, F, F, F], qa))
    assert r.criteria[0].n == 8


def test_xlsx_grades(results, tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    for row in (["conversation_id", "greeting", "politeness_1to5"], ["c1", 1, 80], ["c3", "fail", 30]):
        ws.append(row)
    wb.save(tmp_path / "g.xlsx")
    r = compare(results, tmp_path / "g.xlsx")
    assert r.criteria[0].confusion == {P: {P: 1, F: 0}, F: {P: 0, F: 1}}
    assert r.categories[0].scale == "0-100"
    assert r.categories[0].mean_abs_diff == pytest.approx((10 + 10) / 2)


@pytest.mark.parametrize("text, message", [
    ("", "the grades file is empty. Fix: Give a header row (conversation_id, then one column per "
         "question) and one row per graded conversation."),
    ("conversation_id,greeting\nc1,1\nc2,maybe\n",
     "line 3: column 'greeting' holds 'maybe'; allowed: pass, fail, na, 1 or 0. Fix: Correct the "
     "value, or leave the cell empty if not graded."),
    ("conversation_id,politeness_1to5\nc1,7000\n",
     "line 2: column 'politeness_1to5' holds '7000'; allowed: a rating 1-5 or 0-100. Fix: Correct "
     "the value, or leave the cell empty if not graded."),
    ("conversation_id,greeting\nc1,1\nc1,0\n",
     "line 3: conversation 'c1' is graded twice (lines 2 and 3). Fix: Keep one row per "
     "conversation, or add a grader column when several graders graded it."),
    ("id,greeting\nc1,1\n",
     "line 1: no conversation_id column. Fix: Name the column that holds the conversation ids "
     "conversation_id."),
])
def test_bad_grades_are_one_line_errors(results, tmp_path, text, message):
    grades = write_csv(tmp_path / "g.csv", text) if text else tmp_path / "g.csv"
    grades.write_text(text, encoding="utf-8")
    with pytest.raises(GradesError) as exc:
        compare(results, grades)
    assert str(exc.value) == f"{grades}{':' if message.startswith('line') else ': '}{message}"


# ---------------------------------------------------------------- the command line
def test_cli_prints_the_tables(results, tmp_path):
    grades = write_csv(tmp_path / "grades.csv", GRADES)
    res = CliRunner().invoke(main, ["calibrate", str(results), "--grades", str(grades), "-q"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0] == (f"6 of 6 graded rows compared with the results in {results} (rubric test, "
                        f"hash {'0' * 12})")
    assert ("greeting         greeting                6    67%   0.33  fair            "
            "pass/fail         2 1 | 1 2") in lines
    assert "Disagreements: 3" in lines
    assert any(x.startswith("  c6 no_profanity (profanity=1): grader fail, qa pass") for x in lines)
    assert (results / "results" / "calibration.json").is_file()
    assert (results / "reports" / "calibration.html").is_file()


def test_cli_json(results, tmp_path):
    grades = write_csv(tmp_path / "g.csv", "conversation_id,no_profanity\nc1,pass\nc2,pass\n")
    res = CliRunner().invoke(main, ["calibrate", str(results), "--grades", str(grades), "--json",
                                    "--no-report", "-q"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["criteria"][0]["kappa"] is None
    assert data["criteria"][0]["kappa_note"] == "undefined: both answered 'pass' every time"
    assert data["matched"] == 2 and "answers" not in data
    assert not (results / "reports").exists()


def test_cli_bad_value_is_exit_1_and_one_line(results, tmp_path):
    grades = write_csv(tmp_path / "g.csv", "conversation_id,greeting\nc1,maybe\n")
    res = CliRunner().invoke(main, ["calibrate", str(results), "--grades", str(grades)])
    assert res.exit_code == 1
    assert res.stderr == (f"Error: {grades}:line 2: column 'greeting' holds 'maybe'; allowed: pass, "
                          "fail, na, 1 or 0. Fix: Correct the value, or leave the cell empty if not "
                          "graded.\n")


def test_cli_empty_grades_file(results, tmp_path):
    grades = tmp_path / "g.csv"
    grades.write_text("")
    res = CliRunner().invoke(main, ["calibrate", str(results), "--grades", str(grades)])
    assert res.exit_code == 1
    assert res.stderr.startswith(f"Error: {grades}: the grades file is empty.")
    assert "Traceback" not in res.output


def test_cli_warnings_go_to_stderr(results, tmp_path):
    grades = write_csv(tmp_path / "g.csv", "conversation_id,greeting,slang\nc1,1,0\nnope,1,0\n")
    res = CliRunner().invoke(main, ["calibrate", str(results), "--grades", str(grades), "-q",
                                    "--no-report"])
    assert res.exit_code == 0
    assert ("warning: 1 graded conversation(s) are not in the results and were left out: nope. "
            "Score them into this folder, or check the ids.") in res.stderr.splitlines()
    assert ("warning: column 'slang' maps to criterion 'no_slang', which the results do not have; "
            "fix: --map slang=CRITERION") in res.stderr.splitlines()


def test_cli_map_fixes_a_column_and_bad_map_is_usage(results, tmp_path):
    grades = write_csv(tmp_path / "g.csv", "conversation_id,hello\nc1,1\nc3,1\n")
    res = CliRunner().invoke(main, ["calibrate", str(results), "--grades", str(grades), "-q",
                                    "--no-report", "--map", "hello=greeting"])
    assert res.exit_code == 0
    assert any(x.startswith("hello            greeting                2") for x in res.stdout.splitlines())
    res = CliRunner().invoke(main, ["calibrate", str(results), "--grades", str(grades),
                                    "--map", "hello"])
    assert res.exit_code == 2
    assert "'hello' is not LABEL=CRITERION, e.g. --map slang=no_slang" in res.stderr
    res = CliRunner().invoke(main, ["calibrate", str(results), "--grades", str(tmp_path / "no.csv")])
    assert res.exit_code == 2


def test_cli_no_column_maps(results, tmp_path):
    grades = write_csv(tmp_path / "g.csv", "conversation_id,wibble\nc1,1\n")
    res = CliRunner().invoke(main, ["calibrate", str(results), "--grades", str(grades)])
    assert res.exit_code == 1
    assert res.stderr.startswith(f"Error: {grades}:line 1: no grades column maps to a criterion")


# ---------------------------------------------------------------- reviews
def test_record_reviews_keeps_automatic_results(results, tmp_path):
    before = pl.read_parquet(results / "results" / "criteria.parquet")
    grades = write_csv(tmp_path / "g.csv", GRADES)
    r = compare(results, grades)
    write_outputs(r, results, reviews=True, html=False)
    assert pl.read_parquet(results / "results" / "criteria.parquet").equals(before)
    rv = read_reviews(results)
    assert rv["c3"]["greeting"] == [{"outcome": P, "grader": ""}]
    assert rv["c6"]["no_profanity"] == [{"outcome": F, "grader": ""}]
    # recording again replaces, not duplicates
    write_outputs(compare(results, grades), results, reviews=True, html=False)
    assert len(pl.read_parquet(results / "results" / "reviews.parquet")) == 12
    agents = {a["agent_id"]: a for a in reviewed_agent_scores(results)}
    assert agents["alice"]["overall_auto"] == pytest.approx(50.0)
    assert agents["alice"]["n_reviewed"] == 3
    # bob's c6: the grader failed no_profanity, an auto-fail criterion in the default rubric
    assert agents["bob"]["overall_reviewed"] is not None
    data = json.loads((results / "results" / "calibration.json").read_text())
    assert {a["agent_id"] for a in data["reviewed_agents"]} == {"alice", "bob"}


# ---------------------------------------------------------------- real scoring: suggestions
def _score_into(out: Path, convs, rubric) -> Path:
    from qa.score import score_conversations
    from qa.results import write_results as write_scored
    from qa.store import OutDir, write_conversation

    od = OutDir.at(out)
    for c in convs:
        write_conversation(od, c)
    write_scored(score_conversations(convs, rubric, n_process=1), od)
    return out


RUBRIC = """
rubric: cal-test
version: 1
criteria:
  - id: first_response
    category: promptness
    check: response_latency
    mode: first
    target_s: 60
    zero_at_s: 900
  - id: greeting
    category: politeness
    check: phrases
    speaker: agent
    window: {first_turns: 1}
    any: ["hello"]
"""


def test_threshold_and_phrase_suggestions_and_apply(tmp_path):
    from conftest import make_conv
    from qa.rubric import parse_rubric

    rubric_path = tmp_path / "rubric.yaml"
    rubric_path.write_text(RUBRIC.lstrip())
    rubric = parse_rubric(rubric_path.read_text(), str(rubric_path))
    # first replies after 30, 90, 100, 110, 200, 300 s; the grader's own limit is about 2 min.
    # The agent opens with "hello" in c1-c2, "howdy" in c3-c5 (a greeting the rubric lacks),
    # nothing in c6.
    delays = [30, 90, 100, 110, 200, 300]
    openers = ["hello there", "hello there", "howdy friend", "howdy pal", "howdy mate",
               "your order number"]
    convs = [make_conv([("customer", "my parcel is late", 0.0), ("agent", openers[k], float(d)),
                        ("customer", "ok", d + 10.0)], id=f"c{k + 1}")
             for k, d in enumerate(delays)]
    out = _score_into(tmp_path / "out", convs, rubric)
    grades = write_csv(tmp_path / "g.csv", "conversation_id,first_response,greeting\n"
                                           "c1,1,1\nc2,1,1\nc3,1,1\nc4,1,1\nc5,0,1\nc6,0,0\n")
    r = compare(out, grades, rubric=rubric, suggest=True)
    assert not [i for i in r.issues if i.kind == "rubric_mismatch"]
    s = {x.criterion: x for x in r.suggestions}
    t = s["first_response"]
    assert (t.key, t.old) == ("target_s", 60)
    assert 110 <= t.new < 200
    assert (t.before, t.after) == (pytest.approx(3 / 6), 1.0)
    p = s["greeting"]
    assert p.key == "any" and p.added == ["howdy"] and p.removed == []
    assert (p.before, p.after) == (pytest.approx(3 / 6), 1.0)

    # --apply writes a rubric that, scored again, agrees as the suggestion said
    from qa.calibrate import apply_suggestions
    new_path = tmp_path / "new.yaml"
    assert apply_suggestions(r, rubric_path, new_path) == 2
    text = new_path.read_text()
    assert "# qa calibrate: was 60; agreement 50% -> 100%" in text
    assert "# qa calibrate: added howdy; agreement 50% -> 100%" in text
    new_rubric = load_rubric(new_path)
    out2 = _score_into(tmp_path / "out2", convs, new_rubric)
    r2 = compare(out2, grades, rubric=new_rubric)
    assert {c.label: c.agreement for c in r2.criteria} == {"first_response": 1.0, "greeting": 1.0}
    assert rubric_path.read_text() == RUBRIC.lstrip()  # the rubric itself is untouched


def test_grader_ids_with_control_characters_print_as_one_inert_line(results, tmp_path):
    """A grader id holding ESC and NUL (a pasted colour code) used to reach the terminal raw
    (the table turned red); the page showed nothing. Both now show the characters."""
    from qa.calibrate import render_calibration_page

    grades = write_csv(tmp_path / "g.csv", 'conversation_id,grader,greeting\n'
                                           'c1,"Bob\x1b[31m\x00",0\nc2,"Ann\nLee",0\n')
    r = compare(results, grades)
    text = format_text(r)
    assert "Bob\\x1b[31m\\x00" in text and "Ann\\nLee" in text
    assert not any(ch in text for ch in "\x00\x1b")
    page = render_calibration_page(r.to_dict(), tmp_path / "reports").read_text(encoding="utf-8")
    assert "Bob␛[31m␀" in page and "\x1b" not in page and "\x00" not in page


@pytest.mark.parametrize("damaged", ["conversations.parquet", "reviews.parquet"])
def test_a_damaged_results_file_is_one_line_not_a_traceback(results, tmp_path, damaged):
    """Random bytes in results/reviews.parquet ended `qa report` and `qa export` with a
    polars traceback, and in conversations.parquet ended `qa calibrate` so."""
    from click.testing import CliRunner

    from qa.cli import main

    grades = write_csv(tmp_path / "g.csv", GRADES)
    (results / "results" / damaged).write_bytes(os.urandom(600))
    commands = [["report", str(results), "--out", str(results)],
                ["calibrate", str(results), "--grades", str(grades), "--no-suggest", "--record-reviews"]]
    if damaged == "conversations.parquet":
        commands.append(["export", str(results)])  # the export reads no reviews
    for args in commands:
        r = CliRunner().invoke(main, [*args, "-q"])
        assert r.exit_code == 1, (args, r.output, r.exception)
        assert f"{damaged}: cannot read the Parquet file (" in r.output, (args, r.output)
