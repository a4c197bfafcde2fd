"""The detector-based checks (agent_act, introduction, closing, personal_details,
wait_updates, name_usage by vocative) and conditional criteria (``when:``) on hand-built
conversations: pass, fail and N/A with the reason."""

from __future__ import annotations

import json

import pytest

from qa import acts
from qa.errors import RubricError
from qa.rubric import parse_rubric
from qa.score import score_conversations

from conftest import make_conv
from test_checks import run


def kinds(kind, text, **kw):
    return [a.text for a in acts.detect(kind, text, **kw)]


@pytest.mark.parametrize("kind,text,expected", [
    ("slang", "idk tbh lol, keep an eye on the site", ["idk", "tbh", "lol"]),
    ("slang", "ya u can roll back. np, cya", ["ya", "u", "np", "cya"]),
    ("slang", "LOLLL that's wild", ["LOLLL"]),
    ("slang", "Store in a cool, dry place. Plan K costs more.", []),
    ("profanity", "porting is a pain in the ass tbh", ["pain in the ass"]),
    ("profanity", "the update f***ed up a bunch of stuff", ["f***ed"]),
    ("profanity", "You're not stupid at all, scammers are convincing.", []),
    ("profanity", "Hello, how can I help?", []),
    ("blame", "That'll be the billing team, they never process move-outs on time.", ["That'll be the billing team"]),
    ("blame", "You should have read your contract.", ["You should have"]),
    ("blame", "missed appointments are down to them, not us", ["down to them, not us"]),
    ("blame", "I'm sorry you've had to chase this, and you shouldn't have had to.", []),
    ("blame", "Storm damage isn't anyone's fault.", []),
    ("overpromise", "I guarantee we'll get every single note back.", ["I guarantee"]),
    ("overpromise", "You'll 100% be online by lunchtime.", ["100%"]),
    ("overpromise", "I can't promise a time, but I've escalated it.", []),
    ("overpromise", "You'll get an email when the backup reaches 100%.", []),
    ("ownership", "I've refunded the £86 to your card.", ["I've refunded"]),
    ("ownership", "You will need to contact the courier.", []),
    ("ownership", "dm us and we'll see", []),
    ("apology", "Please don't apologise, it's fine.", []),
    ("apology", "We apologise for any inconvenience.", ["apologise"]),
    ("shouting", "PLEASE READ THE INSTRUCTIONS FIRST.", ["PLEASE READ THE INSTRUCTIONS FIRST"]),
    ("shouting", "Your NHS and DVLA letters are here.", []),
])
def test_act_detectors(kind, text, expected):
    assert kinds(kind, text) == expected


def test_spoken_words_are_not_slang_on_calls():
    assert kinds("slang", "yeah, gonna check that now", spoken=True) == []
    assert kinds("slang", "yeah, gonna check that now") == ["yeah", "gonna"]


def test_empathy_detector_forms():
    assert acts.empathy("I'm truly sorry about this.")[0].rule == "intensified apology"
    assert acts.empathy("Sorry to hear your flight was cancelled.")[0].rule == "personal apology"
    assert acts.empathy("That sounds really stressful.")[0].rule == "names the feeling"
    assert acts.empathy("It's natural to worry about that.")[0].rule == "validates the feeling"
    assert acts.empathy("I can see why you're upset.")[0].rule == "understands the situation"
    assert acts.empathy("What a scare!")[0].rule == "exclaims concern"
    assert acts.empathy("I'm glad you're safe.")[0].rule == "concern for the person"
    for text in ["Sorry for the inconvenience.", "I'm sorry you feel that way.", "Calm down.", "I understand.",
                 "I hope this helps."]:
        assert acts.empathy(text) == [], text


@pytest.mark.parametrize("text, rule", [
    ("I feel your pain, that's a long time to wait.", "shares the feeling"),
    ("I totally feel for you.", "shares the feeling"),
    ("Honestly, I feel you.", "shares the feeling"),
    ("I know exactly how you feel.", "shares the feeling"),
    ("I know what you're going through with the move.", "shares the feeling"),
    ("I know the feeling.", "shares the feeling"),
    ("I can totally relate.", "shares the feeling"),
    ("I've been there myself.", "shares the feeling"),
    ("Hope you feel better soon.", "concern for the person"),
    ("Hope your son is feeling better.", "concern for the person"),
    ("Hoping you're feeling better today.", "concern for the person"),
    ("You're not alone in this, and we'll sort it.", "concern for the person"),
    ("I'm here for you.", "concern for the person"),
])
def test_empathy_generic_constructions(text, rule):
    found = acts.empathy(text)
    assert found and found[0].rule == rule, (text, found)
    assert text[found[0].start:found[0].end] == found[0].text


@pytest.mark.parametrize("text", [
    "I know what you mean.", "I feel like the update broke it.", "I'm here to help.", "Hope you're well.",
    "I've been there before to check the mast.", "I know how it works.", "I can relate the order to your account.",
])
def test_empathy_generic_constructions_not_matched(text):
    assert acts.empathy(text) == [], text


def test_agent_act_any_and_none():
    conv = make_conv([("customer", "Where is my parcel?"), ("agent", "idk lol, check the site")])
    c = run(conv, category="professionalism", check="agent_act", act="slang", mode="none")
    assert c.outcome == "fail"
    assert c.reason == "the agent uses slang or texting shorthand: 'idk' (turn 2, texting shorthand or slang) and 1 more"
    assert [(e.turn_index, e.match) for e in c.evidence] == [(1, "idk"), (1, "lol")]
    conv = make_conv([("customer", "Where is my parcel?"), ("agent", "Let me check that for you.")])
    assert run(conv, category="professionalism", check="agent_act", act="slang", mode="none").outcome == "pass"
    c = run(conv, category="professionalism", check="agent_act", act="ownership")
    assert (c.outcome, c.evidence[0].match) == ("pass", "Let me check")
    c = run(conv, category="professionalism", check="agent_act", act="blame", mode="none",
            extra_phrases=["check that"])
    assert c.outcome == "fail" and "the rubric's phrase 'check that'" in c.reason


def test_apology_applies_only_to_a_problem():
    crit = dict(check="agent_act", act="apology", when="problem")
    c = run(make_conv([("customer", "What time do you open on Saturday?"), ("agent", "We open at 9.")]),
            category="empathy", **crit)
    assert (c.outcome, c.reason) == ("na", "no x needed: the customer asked a question, nothing went wrong")
    c = run(make_conv([("customer", "My parcel never arrived."), ("agent", "It is on its way.")]),
            category="empathy", **crit)
    assert c.outcome == "fail"
    assert c.reason == ("the agent never apologised or expressed regret (needed: the customer reported a problem: "
                        "'never arrived' (turn 1))")
    assert (c.evidence[0].turn_index, c.evidence[0].match) == (0, "never arrived")
    c = run(make_conv([("customer", "My parcel never arrived."), ("agent", "I'm sorry about that.")]),
            category="empathy", **crit)
    assert c.outcome == "pass"


def test_when_in_yaml_is_validated_with_its_line():
    text = """rubric: t
criteria:
  - id: a
    category: empathy
    check: agent_act
    act: apology
    when: problm
"""
    with pytest.raises(RubricError) as err:
        parse_rubric(text, "r.yaml")
    assert err.value.problems == ["r.yaml:7 criteria[0].when: unknown condition \"problm\"; did you mean "
                                  "'problem'? known conditions: problem, distress, long_wait, name_known, customer_spoke"]
    ok = parse_rubric(text.replace("when: problm", "when: {any: [problem, distress]}"))
    assert ok.criteria[0].when == ("problem", "distress") and ok.criteria[0].when_any


def test_introduction_needs_a_name():
    crit = dict(check="introduction")
    c = run(make_conv([("agent", "Hi, thanks for contacting Acme, I'm Amara.")]), category="personalization", **crit)
    assert (c.outcome, c.evidence[0].match) == ("pass", "Amara")
    c = run(make_conv([("agent", "This was an honest oversight."), ("agent", "I'm sorry.")]),
            category="personalization", **crit)
    assert c.outcome == "fail"
    assert run(make_conv([("agent", "Brightgrid, Mark speaking.")]), category="personalization", **crit).outcome == "pass"


def test_closing_only_at_the_end_and_na_when_the_customer_left():
    crit = dict(check="closing")
    c = run(make_conv([("customer", "hi"), ("agent", "Thanks for contacting us! What's up?"),
                       ("customer", "my bill"), ("agent", "Noted.")]), **crit)
    assert (c.outcome, c.reason) == ("fail", "the agent's last message (turn 4) is no courteous close")
    c = run(make_conv([("customer", "hi"), ("agent", "Anything else I can help with?"), ("customer", "no"),
                       ("agent", "Have a great day!"), ("customer", "you too")]), **crit)
    assert c.outcome == "pass"
    c = run(make_conv([("customer", "hi"), ("agent", "Order number?"), ("customer", "forget it")]), **crit)
    assert c.outcome == "na" and c.reason.startswith("the customer left before the agent could close")


def test_personal_details():
    crit = dict(check="personal_details")
    cust = ("customer", "My necklace order for my wife's birthday tomorrow still says processing.")
    c = run(make_conv([cust, ("agent", "I've upgraded your necklace to next-day delivery.")]),
            category="personalization", **crit)
    assert c.outcome == "pass" and c.evidence[0].match == "necklace"
    c = run(make_conv([cust, ("agent", "Orders are processed in the order received.")]),
            category="personalization", **crit)
    assert (c.outcome, c.reason) == ("fail", "the agent referred to none of the customer's own details")


def test_wait_updates():
    crit = dict(check="wait_updates", category="promptness")
    handled = make_conv([("customer", "my card was declined", 0), ("agent", "Let me check, it may take a few minutes.", 40),
                         ("agent", "Thanks for your patience, it's fixed.", 300)])
    c = run(handled, **crit)
    assert (c.outcome, c.reason) == ("pass", "1 wait over 3 min, each announced and acknowledged")
    silent = make_conv([("customer", "Which bundle?", 0), ("agent", "Hello.", 30), ("customer", "So which one?", 40),
                        ("agent", "Sorry for the wait. World 100.", 400)])
    c = run(silent, **crit)
    assert c.outcome == "fail"
    assert c.reason == "a 6 min wait for the agent before turn 4 was unannounced (the customer's message went unanswered)"
    quick = make_conv([("customer", "hi", 0), ("agent", "Hello!", 20)])
    assert run(quick, **crit).reason == "no wait over 3 min on the agent"
    assert run(make_conv([("customer", "hi"), ("agent", "Hello!")], channel="email"), **crit).outcome == "na"


def test_wait_updates_can_leave_the_first_reply_to_first_response():
    crit = dict(check="wait_updates", category="promptness", limits_s={"social": 900})
    slow_first = make_conv([("customer", "@brand my parcel never came", 0),
                            ("agent", "Hi, sorry! We've reissued it today.", 3000)], channel="social")
    assert run(slow_first, **crit).outcome == "fail"
    c = run(slow_first, **crit, first_reply=False)
    assert (c.outcome, c.reason) == ("na", "no wait over 15 min on the agent after the first reply")
    later = make_conv([("customer", "@brand my parcel never came", 0), ("agent", "Hi, sorry! Checking.", 600),
                       ("customer", "any news?", 700), ("agent", "It's reissued.", 4000)], channel="social")
    assert run(later, **crit, first_reply=False).outcome == "fail"


def test_wait_announced_before_the_customer_agreed_is_announced():
    crit = dict(check="wait_updates", category="promptness")
    hold = make_conv([("customer", "My phone says SOS only.", 0),
                      ("agent", "I'm going to run a line test, so I'll pop you on a short hold. Is that alright?", 10),
                      ("customer", "Yeah, sure.", 14), ("agent", "Thanks for holding, Aidan. The line is fine.", 80)],
                     channel="voice")
    c = run(hold, **crit)
    assert c.outcome == "pass"
    assert [e.turn_index for e in c.evidence] == [1, 3]  # the announcement and the return, not "Yeah, sure."
    unannounced = make_conv([("customer", "My phone says SOS only.", 0), ("agent", "What's your number?", 10),
                             ("customer", "555-0118.", 14), ("agent", "Thanks for holding. The line is fine.", 80)],
                            channel="voice")
    c = run(unannounced, **crit)
    assert c.outcome == "fail" and "unannounced" in c.reason


def test_first_response_targets_by_channel():
    crit = dict(check="response_latency", mode="first", target_s=60, zero_at_s=600, category="promptness",
                by_channel={"social": {"target_s": 3600, "zero_at_s": 21600}})
    tweet = make_conv([("customer", "@Acme help", 0), ("agent", "@me Hi! On it.", 1800)], channel="social")
    assert run(tweet, **crit).outcome == "pass"
    chat = make_conv([("customer", "help", 0), ("agent", "Hi! On it.", 1800)])
    assert run(chat, **crit).outcome == "fail"


def test_name_usage_by_vocative_without_metadata():
    c = run(make_conv([("customer", "my router is down"), ("agent", "Hi Jesse, let me check.")]),
            category="personalization", check="name_usage")
    assert c.outcome == "pass"
    assert c.reason.startswith("the agent addressed the customer by name ('Jesse', turn 2)")


def test_default_rubric_scores_every_channel():
    from qa.rubric import load_rubric

    rubric = load_rubric()
    convs = [make_conv([("customer", "@Acme my order never came"), ("agent", "@me So sorry! DM us. ^Kai")],
                       id=f"c-{ch}", channel=ch) for ch in ("chat", "social", "email", "voice")]
    results = score_conversations(convs, rubric)
    assert [r.channel for r in results] == ["chat", "social", "email", "voice"]
    social = {c.criterion_id: c for c in results[1].criteria}
    assert social["agent_introduction"].outcome == "na"
    assert social["agent_introduction"].reason == "applies to calls and chats and e-mails only; this is a social-media conversation"
    assert {"apology", "no_slang", "no_overpromise", "personal_details", "wait_updates"} <= set(social)


def test_empathy_bench_reads_epitome_labels(tmp_path):
    """bench/eval_empathy.py --other: EPITOME's CSV layout (replies written for this test)."""
    import csv
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    f = tmp_path / "er.csv"
    with open(f, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["sp_id", "rp_id", "seeker_post", "response_post", "level", "rationales"])
        w.writerow(["s1", "r1", "I lost my job today.", "I'm so sorry, that sounds really hard.", "2", ""])
        w.writerow(["s2", "r2", "Can't sleep again.", "Try melatonin, it works for me.", "0", ""])
        w.writerow(["s3", "r3", "Feeling alone.", "I know the feeling. Message me any time.", "1", ""])
    r = subprocess.run([sys.executable, str(root / "bench" / "eval_empathy.py"), "--other", str(f),
                        "--data", str(tmp_path)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "er.csv (epitome): 3 replies" in r.stdout
    assert "empathy = level >= 1:  n 3 (2 empathic)  P 1.000  R 1.000" in r.stdout
    assert "share detected by level: 0: 0/1, 1: 1/1, 2: 1/1" in r.stdout
    f.write_text("sp_id,rp_id,seeker_post,response_post,level,rationales\ns,r,x,y,3,\n", encoding="utf-8")
    r = subprocess.run([sys.executable, str(root / "bench" / "eval_empathy.py"), "--other", str(f)],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 2 and f"{f}:2: level must be 0, 1 or 2" in r.stderr and "Traceback" not in r.stderr
