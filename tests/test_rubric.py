"""Rubric loading and validation: located messages with the fix, safe YAML, hashing,
the shipped default rubric, and `qa rubric check|test|explain`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from qa.checks import REGISTRY
from qa.cli import main
from qa.errors import RubricError
from qa.rubric import CATEGORIES, default_rubric_path, load_rubric, parse_rubric

GOOD = """\
rubric: acme
version: 3
categories:
  promptness: {weight: 25}
  politeness: {weight: 20}
criteria:
  - id: greeting
    category: politeness
    description: Greets the customer
    check: phrases
    window: {first_turns: 2}
    any: ["thank you for calling", "hello"]
    weight: 2
    coaching: Open with a greeting.
    examples:
      pass: ["Hello, thanks for calling."]
      fail: ["What?"]
  - id: speed
    category: promptness
    check: response_latency
    target_s: 60
"""


def problems(text: str, path: str = "rubrics/acme.yaml") -> list[str]:
    with pytest.raises(RubricError) as info:
        parse_rubric(text, path)
    return info.value.problems


def test_good_rubric_loads():
    r = parse_rubric(GOOD, "acme.yaml")
    assert r.id == "acme"
    assert r.version == "3"
    assert [c.id for c in r.criteria] == ["greeting", "speed"]
    assert r.categories == {"promptness": 25.0, "politeness": 20.0, "professionalism": 0.0,
                            "personalization": 0.0, "empathy": 0.0}
    g = r.criterion("greeting")
    assert g.weight == 2.0 and g.line == 7 and g.coaching == "Open with a greeting."
    assert g.options.any == ["thank you for calling", "hello"]
    assert g.options.window.first_turns == 2
    assert len(r.hash) == 64


def test_registry_snapshot():
    assert sorted(REGISTRY) == sorted([
        "phrases", "patterns", "response_latency", "dead_air", "interruptions", "talk_ratio",
        "name_usage", "empathy_response", "filler_rate", "politeness", "agent_act", "introduction",
        "closing", "personal_details", "wait_updates"])
    for name, cls in REGISTRY.items():
        assert cls.name == name and cls.summary and cls.Options.model_fields


def test_weight_not_a_number_names_file_line_key_and_fix():
    text = GOOD.replace("    weight: 2\n", '    weight: "high"\n')
    assert problems(text) == ['rubrics/acme.yaml:13 criteria[0].weight: must be a number ≥ 0, got "high"']


def test_negative_weight():
    text = GOOD.replace("    weight: 2\n", "    weight: -1\n")
    assert problems(text) == ["rubrics/acme.yaml:13 criteria[0].weight: must be a number ≥ 0, got -1"]


def test_unknown_check_lists_known_checks():
    text = GOOD.replace("check: phrases", "check: phrase")
    assert problems(text) == [
        "rubrics/acme.yaml:10 criteria[0].check: Unknown check 'phrase'. Known checks: phrases, "
        "patterns, name_usage, filler_rate, response_latency, dead_air, "
        "interruptions, talk_ratio, politeness, agent_act, empathy_response, introduction, closing, personal_details, wait_updates"]


def test_unknown_option_lists_the_checks_options():
    text = GOOD.replace("    target_s: 60\n", "    target_s: 60\n    targt: 3\n")
    [msg] = problems(text)
    assert msg.startswith("rubrics/acme.yaml:22 criteria[1].targt: unknown option for check "
                          "'response_latency'; its options are: mode, target_s, zero_at_s, statistic")


def test_every_problem_is_listed_at_once():
    text = GOOD.replace("category: politeness", "category: politness").replace(
        "    target_s: 60\n", "").replace("version: 3", "version: 3\nextra: 1")
    got = problems(text)
    assert got == [
        "rubrics/acme.yaml:3 extra: unknown key; remove it (allowed keys: rubric, version, "
        "description, categories, criteria, calibration)",
        "rubrics/acme.yaml:9 criteria[0].category: must be one of 'promptness', 'politeness', "
        "'professionalism', 'personalization' or 'empathy', got \"politness\"",
        "rubrics/acme.yaml:19 criteria[1].target_s: is required; add it",
    ]


def test_missing_id_and_duplicate_ids():
    text = GOOD.replace("  - id: speed\n", "  - id: greeting\n")
    assert problems(text) == ["rubrics/acme.yaml:18 criteria[1].id: duplicate id 'greeting' "
                              "(also criteria[0]); give each criterion its own id"]
    text = GOOD.replace("  - id: speed\n    category", "  - category")
    assert problems(text) == ["rubrics/acme.yaml:18 criteria[1].id: is required; add it"]


def test_phrases_needs_exactly_one_list():
    text = GOOD.replace('    any: ["thank you for calling", "hello"]\n',
                        '    any: ["hello"]\n    none: ["damn"]\n')
    assert problems(text) == ["rubrics/acme.yaml:7 criteria[0]: give exactly one phrase list: any:, "
                              "all: or none: (found any, none)"]


def test_category_with_criteria_needs_a_weight():
    text = GOOD.replace("  promptness: {weight: 25}\n", "")
    assert problems(text) == ["rubrics/acme.yaml:3 categories: category 'promptness' has criteria "
                              "but no weight; add `promptness: {weight: 20}` (weights are relative)"]


def test_duplicate_key_reported_with_line():
    text = GOOD.replace("    weight: 2\n", "    weight: 2\n    weight: 3\n")
    assert problems(text) == ["rubrics/acme.yaml:14 (file): duplicate key 'weight' in the mapping "
                              "that starts at line 7; keep one of them"]


def test_tab_indentation_says_use_spaces():
    text = GOOD.replace("    weight: 2\n", "\tweight: 2\n")
    assert problems(text) == ["rubrics/acme.yaml:13 (file): a tab character is used for indentation; "
                              "YAML needs spaces: replace the tab with spaces"]


def test_python_tags_are_refused_and_never_run(tmp_path):
    marker = tmp_path / "pwned"
    text = GOOD + f'  - !!python/object/apply:os.system ["touch {marker}"]\n'
    assert problems(text) == ["rubrics/acme.yaml:22 (file): YAML tag '!!python/object/apply:os.system' "
                              "is not allowed; remove it (a rubric holds only plain text, numbers, "
                              "lists and mappings)"]
    assert not marker.exists()
    assert problems("rubric: !!python/name:os.system x\ncriteria: []\n")[0].startswith(
        "rubrics/acme.yaml:1 (file): YAML tag '!!python/name:os.system' is not allowed")


def test_alias_bomb_is_refused_quickly():
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    text = "\n".join(lines) + "\nrubric: x\ncriteria: []\n"
    t0 = time.perf_counter()
    assert problems(text) == ["rubrics/acme.yaml:1 (file): more than 1000 alias uses; write the lists "
                              "out instead"]
    assert time.perf_counter() - t0 < 2


def test_empty_file_and_not_a_mapping():
    assert problems("") == ["rubrics/acme.yaml:1 (file): the file is empty; start from a copy of the "
                            "default rubric (qa rubric explain shows it)"]
    assert problems("- a\n- b\n") == ["rubrics/acme.yaml:1 (top level): the rubric must be a mapping "
                                      "with keys rubric, version, categories, criteria"]


def test_patterns_refuse_regex_and_bad_patterns():
    base = GOOD.replace('    any: ["thank you for calling", "hello"]\n', "").replace(
        "check: phrases", "check: patterns")
    text = base.replace("    weight: 2\n", '    weight: 2\n    patterns: [[{LOWER: {REGEX: "(a+)+$"}}]]\n')
    assert problems(text) == ["rubrics/acme.yaml:13 criteria[0].patterns[0]: REGEX is not allowed in "
                              "patterns: slow regular expressions could stall scoring (use IN: [..] "
                              "lists, LOWER or LEMMA)"]
    text = base.replace("    weight: 2\n", "    weight: 2\n    patterns: [[{LOWR: hello}]]\n")
    [msg] = problems(text)
    assert msg.startswith("rubrics/acme.yaml:13 criteria[0].patterns[0]: not a valid token pattern:")
    assert "LOWR" in msg


def test_hash_ignores_comments_and_layout_but_not_content():
    a = parse_rubric(GOOD)
    b = parse_rubric("# a comment\n" + GOOD.replace("{weight: 25}", "{ weight:   25 }"))
    c = parse_rubric(GOOD.replace("{weight: 25}", "{weight: 26}"))
    assert a.hash == b.hash
    assert a.hash != c.hash


def test_missing_file():
    with pytest.raises(RubricError) as info:
        load_rubric("nope/missing.yaml")
    assert str(info.value) == "nope/missing.yaml: rubric file not found. Fix: Check the path given to --rubric."


# ---------------------------------------------------------------- the shipped rubric
def test_default_rubric_is_complete():
    r = load_rubric()
    assert default_rubric_path().is_file()
    ids = {c.id for c in r.criteria}
    assert {"greeting", "closing", "name_usage", "empathy_response", "no_profanity",
            "first_response"} <= ids
    assert r.criterion("no_profanity").auto_fail is True
    assert any(c.check == "politeness" for c in r.criteria)
    for cat in CATEGORIES:
        assert r.categories[cat] > 0
        for channel in ("voice", "chat"):
            assert any(c.category == cat and c.applies_to(channel) for c in r.criteria), (cat, channel)
    for c in r.criteria:
        assert c.description and c.coaching, c.id


# ---------------------------------------------------------------- CLI
def test_cli_check_ok_and_problems(tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["rubric", "check", str(default_rubric_path())])
    assert res.exit_code == 0
    assert res.output == f"ok: {len(load_rubric().criteria)} criteria\n"
    bad = tmp_path / "acme.yaml"
    bad.write_text(GOOD.replace("    weight: 2\n", '    weight: "high"\n').replace(
        "check: response_latency", "check: latency"))
    res = runner.invoke(main, ["rubric", "check", str(bad)])
    assert res.exit_code == 1
    assert res.stdout.splitlines() == [
        f'{bad}:13 criteria[0].weight: must be a number ≥ 0, got "high"',
        f"{bad}:20 criteria[1].check: Unknown check 'latency'. Known checks: phrases, patterns, "
        "name_usage, filler_rate, response_latency, dead_air, interruptions, "
        "talk_ratio, politeness, agent_act, empathy_response, introduction, closing, personal_details, wait_updates"]
    assert "2 problems" in res.stderr


def test_cli_test_default_and_a_wrong_example(tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["rubric", "test"])
    assert res.exit_code == 0, res.output
    assert res.output.strip().endswith("all behave as written")
    wrong = tmp_path / "acme.yaml"
    wrong.write_text(GOOD.replace('fail: ["What?"]', 'fail: ["What?", "Hello there!"]'))
    res = runner.invoke(main, ["rubric", "test", str(wrong)])
    assert res.exit_code == 1
    assert res.output.splitlines() == [
        "FAIL greeting: fail example \"Hello there!\" gave pass ('hello' said in turn 1)",
        "3 examples in 1 criteria: 1 did not behave as written"]


def test_cli_explain_gives_shares_and_auto_fail():
    res = CliRunner().invoke(main, ["rubric", "explain"])
    assert res.exit_code == 0
    out = res.output
    assert "Rubric 'qa-default', version 2" in out
    assert "Categories (share of the overall score): on chats, on calls, on e-mails" in out
    assert "  empathy           25%   25%   25%   25%   3 criteria" in out
    assert "EMPATHY — 25% of the overall score" in out
    assert ("  first_response_voice [calls only]: weight 1 = 17% of promptness on calls (3.3% of the total)"
            in out)
    assert "no_profanity  AUTO-FAIL: weight 3 = 25% of professionalism on chats (5.0% of the total)" in out
    assert "Auto-fail: if any of these fails, the whole conversation scores 0:" in out
    assert "Looks for: Passes when the agent says at least one of 'thank you for calling'" in out


def test_cli_check_reports_invalid_yaml_file(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("rubric: x\ncriteria:\n  - id: a\n    any: [unclosed\n")
    res = CliRunner().invoke(main, ["rubric", "check", str(p)])
    assert res.exit_code == 1
    assert res.stdout.startswith(f"{p}:")
    assert "YAML syntax error" in res.stdout


def test_json_is_valid_rubric_yaml():
    data = {"rubric": "j", "criteria": [{"id": "a", "category": "empathy", "check": "empathy_response"}]}
    r = parse_rubric(json.dumps(data))
    assert r.categories["empathy"] == 20.0 and len(r.criteria) == 1
    assert Path(default_rubric_path()).name == "default.yaml"


def test_readme_documents_every_check_and_its_options():
    from conftest import ROOT

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("<!-- section:score -->"):text.index("<!-- /section:score -->")]
    for name, cls in REGISTRY.items():
        head = f"#### `{name}`"
        assert head in section, f"README has no section for check {name}"
        body = section[section.index(head):].split("\n#### ", 1)[0].split("\n### ", 1)[0]
        for option in cls.Options.model_fields:
            assert f"`{option}`" in body, f"README does not document {name}.{option}"


def test_version_is_kept_as_written():
    text = GOOD.replace("version: 3", "version: 1.10")
    assert parse_rubric(text).version == "1.10"
    assert parse_rubric(GOOD.replace("version: 3", 'version: "v2"')).version == "v2"


@pytest.mark.parametrize("path", sorted(default_rubric_path().parent.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_rubric_checks_and_its_examples_behave(path):
    from qa.rubric_tools import run_examples

    rubric = load_rubric(path)
    assert {"greeting", "no_profanity", "empathy_response", "apology", "first_response"} <= \
        {c.id for c in rubric.criteria}
    results = run_examples(rubric)
    assert results and all(r.ok for r in results), [r for r in results if not r.ok]
