"""The ``politeness`` check's features, fitted weights, explanations and its bench script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from qa.checks.politeness import DEFAULT_BIAS, DEFAULT_WEIGHTS, FEATURES, FIT, PolitenessModel
from qa.nlp import Analyzer
from qa.rubric import parse_rubric
from qa.score import score_conversations

from conftest import make_conv

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "data" / "politeness" / "wikipedia.annotated.csv"


@pytest.fixture(scope="module")
def feats():
    analyzer = Analyzer(None)
    model = PolitenessModel(analyzer)

    def found(text: str) -> dict[str, str]:
        cnlp = analyzer.analyze_texts([text])
        return {name: text[s:e] for name, (s, e) in model.features(cnlp, [0])[0].items()}
    return found


@pytest.mark.parametrize("text, feature, span", [
    ("Thanks so much for your patience.", "gratitude", "Thanks"),
    ("I really appreciated your help.", "gratitude", "appreciated"),
    ("Hi Priya, how are you?", "greeting", "Hi"),
    ("Good morning! The parcel left.", "greeting", "Good morning"),
    ("Great work on this. Is it done?", "deference", "Great"),
    ("I apologised to the team.", "apologizing", "apologised"),
    ("Sorry for the wait.", "apologizing", "Sorry"),
    ("Could you send me the order number?", "indirect_request", "Could you"),
    ("Would you mind checking it?", "indirect_request", "Would you mind"),
    ("Can you confirm the address?", "direct_request", "Can you"),
    ("I think it may be the cable, perhaps.", "hedges", "think"),
    ("We will sort it out.", "first_person_plural", "We"),
    ("I checked it. It works.", "first_person_start", "I"),
    ("It was sent to you.", "second_person", "you"),
    ("You need to restart it.", "second_person_start", "You"),
    ("What is your name?", "direct_question", "What"),
    ("Why did you not read the instructions?", "why_question", "Why"),
    ("So it is broken again.", "direct_start", "So"),
    ("In fact it was never sent.", "factuality", "In fact"),
    ("Are you sure you restarted it?", "challenge", "Are you sure"),
    ("No worries, take your time.", "offer_help", "No worries"),
    ("What do you think about it?", "opinion_request", "What do you think"),
    ("That sounds wonderful.", "positive_words", "wonderful"),
    ("That is a stupid idea.", "negative_words", "stupid"),
    ("Please send it.", "please_start", "Please"),
    ("Send it please.", "please", "please"),
])
def test_feature_fires(feats, text, feature, span):
    got = feats(text)
    assert got.get(feature) == span, got


@pytest.mark.parametrize("text, feature", [
    ("Please send it.", "please"),            # "please" at the start is please_start only
    ("You need to restart it.", "second_person"),  # at the start it is second_person_start
    ("I know what you mean.", "direct_question"),  # "what" not opening a sentence
    ("Tell me why it failed.", "why_question"),
    ("It is good and cheap.", "direct_start"),
    ("The parcel left on Monday.", "gratitude"),
    ("Please send me the order number.", "positive_words"),  # "please" is not "pleased"
])
def test_feature_does_not_fire(feats, text, feature):
    assert feature not in feats(text)


def test_weights_load_and_are_fitted_data():
    assert set(DEFAULT_WEIGHTS) == set(FEATURES) and 10 <= len(FEATURES) <= 25
    assert all(isinstance(w, float) or isinstance(w, int) for w in DEFAULT_WEIGHTS.values())
    assert FIT["n_train"] > 0 and "request id" in FIT["split"] and FIT["seed"] == 2013
    assert DEFAULT_BIAS < 0  # a turn with no marker is not polite by default
    # signs the strategies are known for (Danescu-Niculescu-Mizil et al. 2013)
    for name in ("gratitude", "greeting", "apologizing", "indirect_request", "deference"):
        assert DEFAULT_WEIGHTS[name] > 0.5, name
    for name in ("why_question", "direct_start", "factuality", "second_person_start", "negative_words"):
        assert DEFAULT_WEIGHTS[name] < -0.5, name
    assert DEFAULT_WEIGHTS["please"] >= 0 and DEFAULT_WEIGHTS["please_start"] >= 0


def _courtesy(conv, **opts):
    crit = {"id": "courtesy", "category": "politeness", "check": "politeness", "threshold": 0.5, **opts}
    [res] = score_conversations([conv], parse_rubric(json.dumps({"rubric": "t", "criteria": [crit]})))
    return res.criteria[0]


@pytest.mark.parametrize("text", [
    "Hi Priya, thanks for contacting Acme. How can I help?",
    "Could you send me the order number?",
    "I'm sorry for the delay, let me check that for you.",
    "Happy to help! Is there anything else?",
])
def test_agent_turns_polite(text):
    assert _courtesy(make_conv([("agent", text)])).outcome == "pass"


@pytest.mark.parametrize("text", [
    "Why did you not read the instructions? Send the order number.",
    "Actually, that's not how it works.",
    "So what do you want me to do?",
    "You need to restart the router.",
])
def test_agent_turns_impolite(text):
    assert _courtesy(make_conv([("agent", text)])).outcome == "fail"


def test_reason_and_evidence_name_features_turns_and_weights():
    conv = make_conv([("customer", "my order never came"),
                      ("agent", "Hi Priya, thanks for waiting."),
                      ("agent", "Why did you not read the instructions?")])
    c = _courtesy(conv)
    w = DEFAULT_WEIGHTS
    assert f"gratitude {w['gratitude']:+.2f} (turn 2: 'thanks')" in c.reason
    assert f"greeting {w['greeting']:+.2f} (turn 2: 'Hi')" in c.reason
    assert f"impolite: why_question {w['why_question']:+.2f} (turn 3: 'Why')" in c.reason
    pos = [(e.turn_index, e.match) for e in c.evidence if e.polarity == "positive"]
    neg = [(e.turn_index, e.match) for e in c.evidence if e.polarity == "negative"]
    assert pos[:2] == [(1, "thanks"), (1, "Hi")] and (2, "Why") in neg


def test_bench_smoke_runs_without_the_corpus(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "eval_politeness.py"), "--smoke",
                          "--data", str(tmp_path / "absent.csv")],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "held out (the `courtesy` check's pass/fail): quartile accuracy" in out.stdout
    assert "split by request id" in out.stdout and "train   : quartile accuracy" in out.stdout


@pytest.mark.skipif(not CORPUS.exists(), reason="the politeness corpus (../shared/data/politeness) is absent")
def test_bench_smoke_on_the_corpus():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "eval_politeness.py"), "--smoke"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "wikipedia.annotated.csv: 80 requests" in out.stdout


@pytest.mark.skipif(not CORPUS.exists(), reason="the politeness corpus (../shared/data/politeness) is absent")
def test_fit_is_reproducible_and_matches_the_shipped_weights():
    sys.path.insert(0, str(ROOT / "bench"))
    import fit_politeness as fp

    res = fp.fit(fp.load(CORPUS))
    assert res["weights"] == DEFAULT_WEIGHTS and res["bias"] == DEFAULT_BIAS
    assert fp.split_of("629705") == fp.split_of("629705")


# ---------------------------------------------------------------- another community (--other)
SE_CUT = ROOT / "tests" / "data" / "politeness" / "stack_exchange_cut.csv"


@pytest.fixture(scope="module")
def ev():
    sys.path.insert(0, str(ROOT / "bench"))
    import eval_politeness

    return eval_politeness


def _bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "bench" / "eval_politeness.py"), *args],
                          capture_output=True, text=True, timeout=180, cwd=ROOT)


def test_other_community_runs_without_the_corpus(tmp_path):
    out = _bench("--smoke", "--data", str(tmp_path / "absent.csv"), "--other", str(SE_CUT))
    assert out.returncode == 0, out.stderr
    assert ("stack_exchange_cut.csv (another community, all held out; top vs bottom quartile): "
            "quartile accuracy") in out.stdout
    assert "the check passes" in out.stdout and "show no strong marker either way" in out.stdout
    assert "by community (>= 20 texts, largest first): 092011 Stack Overflow n=" in out.stdout
    assert "strategies that keep the sign of their weight here" in out.stdout


def test_other_community_separates_better_than_chance(ev):
    """Nothing is fitted on Stack Exchange: the shipped weights still rank its requests."""
    rows = ev.load_other(SE_CUT)
    assert len(rows) == 127 and rows[0]["community"] == "092011 Stack Overflow"
    q1, q3, how = ev.classes_of(rows)
    assert how == "top vs bottom quartile"
    f = ev.figures(rows, q1, q3, Analyzer(None), via_check=True, source=str(SE_CUT))
    assert f["criterion"] == "courtesy" and f["n_quartiles"] == 64
    assert f["auc"] > 0.6 and f["spearman"] > 0.15, f


def test_other_finds_columns_by_name_and_reads_word_labels(ev, tmp_path):
    p = tmp_path / "labels.csv"
    p.write_text("sentence,label,domain\n" + ("\"Thanks so much, could you check it?\",polite,forum\n"
                                              "Why did you delete it?,impolite,forum\n"
                                              "What time is it?,neutral,chat\n") * 3, encoding="utf-8")
    rows = ev.load_other(p)
    assert [r["score"] for r in rows[:3]] == [1.0, -1.0, 0.0]
    assert rows[0]["text"].startswith("Thanks") and rows[2]["community"] == "chat"


def test_other_two_valued_labels_are_the_two_classes(ev, tmp_path):
    p = tmp_path / "binary.csv"
    p.write_text("text,score\n" + "Could you please help?,1\nWhy is this broken?,0\n" * 5, encoding="utf-8")
    out = _bench("--smoke", "--data", str(tmp_path / "absent.csv"), "--other", str(p))
    assert out.returncode == 0, out.stderr
    assert "all held out; the two labels (0 vs 1)): accuracy 100.0% (n=10)" in out.stdout


def test_other_rating_scale_with_tied_quartiles_splits_at_the_median(ev):
    rows = [{"score": s} for s in (1, 3, 3, 3, 3, 3, 3, 5)]
    assert ev.classes_of(rows) == (1, 5, "above vs below the median")


@pytest.mark.parametrize("content, args, message", [
    ("body,stars\nhello,3\n", [], "no text column (looked for Request"),
    ("text,score\nhello,3\n", ["--score-col", "stars"], "no column 'stars'"),
    ("text,score\n" + "hi,1\n" * 8 + "oops,high\n", [], "line 10, column 'score': 'high' is not a score"),
])
def test_other_bad_file_is_a_clear_error(tmp_path, content, args, message):
    p = tmp_path / "bad.csv"
    p.write_text(content, encoding="utf-8")
    out = _bench("--smoke", "--data", str(tmp_path / "absent.csv"), "--other", str(p), *args)
    assert out.returncode != 0 and message in out.stderr and str(p) in out.stderr
    assert "Traceback" not in out.stderr
