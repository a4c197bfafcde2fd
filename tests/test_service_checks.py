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
    # sign-off initials after ^ * ~ are a signature, not shorthand
    ("slang", "Glad that worked for you! ^NP", []),
    ("slang", "Please send us the order id. *TY", []),
    ("slang", "Can you pls restart the app?", ["pls"]),
    ("slang", "@sammyyyy Glad it works now! ^NP", []),  # letters repeated in a handle: word by word
    # "on you" blames only as a predicate ("that's on you"), not "it keeps freezing on you"
    ("blame", "Which tablet keeps freezing on you?", []),
    ("blame", "Honestly that one is on you.", ["is on you"]),
    # the team's next step as the purpose of the customer's part, or as work in progress
    ("ownership", "Message us your postcode so we can look into the outage.", ["so we can look"]),
    ("ownership", "Please reply with the serial number for us to investigate further.", ["for us to investigate"]),
    ("ownership", "We're currently reviewing every affected booking.", ["We're currently reviewing"]),
    ("ownership", "The duplicate payment will be reversed within two days.", ["will be reversed"]),
    ("ownership", "We can help with that in a private message.", ["We can help"]),
    ("ownership", "Is there anything else I can help with?", []),
    ("ownership", "Visit the help centre so that we can see if it fits.", []),
    ("ownership", "Someone on our returns team will reach out today.", ["Someone on our returns team will reach out"]),
    ("ownership", "We have a guide for that on our site.", []),
    # regret without "sorry"
    ("apology", "I hate to see that happen to your order.", ["I hate to see"]),
    ("apology", "We were sad to hear the parcel was late.", ["sad to hear"]),
    ("apology", "I hate waiting in queues too.", []),
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
    # the team speaks as "we" on social media and e-mail
    assert acts.empathy("We understand your frustration with the delays.")[0].rule == "understands the situation"
    assert acts.empathy("We hate to see the app crash like that.")[0].rule == "personal apology"
    for text in ["Sorry for the inconvenience.", "I'm sorry you feel that way.", "Calm down.", "I understand.",
                 "I hope this helps.", "We appreciate your feedback."]:
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


@pytest.mark.parametrize("text,words", [
    ("i cant get online since the update", "cant get"),            # apostrophe left out
    ("the game didn’t save my progress", "didn’t save"),           # curly apostrophe
    ("the new firmware won't let me stream anything", "won't let"),
    ("i still don't have the credit on my account", "still don't have"),
    ("the map has been unplayable all week", "unplayable"),
    ("tried the reset but nothing happens", "nothing happens"),
    ("the product page says it doesn't exist", "doesn't exist"),
    ("the reward I won is gone from my garage", "is gone"),
    ("somebody signed into my email last night", "somebody signed into my"),
    ("my place in the queue hasn't moved in an hour", "hasn't moved"),
    ("i havent been able to sign in since friday", "havent been able to sign in"),
    ("please fix the sync on the tablet app", "please fix"),
    ("every update makes it run slower", "run slower"),
    ("after the reset I do not have the bonus anymore", "do not have the"),
    ("total service loss in my street since noon", "service loss"),
    ("no one seems to be able to help me", "no one seems to be able to help"),
    ("why aren't apps updating?", "aren't apps updating"),   # any inflection of the verb
    ("the site does not allow me to log out", "does not allow"),
])
def test_problem_reports_as_people_type_them(text, words):
    from qa.situation import problem_cue
    span = problem_cue(text)
    assert span is not None and text[span[0]:span[1]] == words


@pytest.mark.parametrize("text", ["is the store open on Sunday?", "an unforgettable trip, thanks!",
                                  "can I book a flight leaving late summer?", "I don't have an account yet, can I order?",
                                  "I'm not using the old phone anymore, how do I remove it?",
                                  "how do I add a second user?", "I don't want the newsletter, how do I stop it?"])
def test_questions_are_no_problem_report(text):
    from qa.situation import problem_cue
    assert problem_cue(text) is None


@pytest.mark.parametrize("text,words", [
    # constructions of complaining (hand-written; the rules were read off no corpus sentence)
    ("I can't open the invoice you sent", "can't open"),
    ("still showing the old balance after two days", "still showing"),
    ("why is it so hard to talk to a person?", "why is it so hard"),
    ("why won't the kettle switch off", "why won't"),
    ("how come my parcel went to Leeds?", "how come"),
    ("what's the point of express shipping then", "what's the point"),
    ("the service at your Leeds branch was absolutely shocking", "service at your Leeds branch was absolutely shocking"),
    ("worst customer service I have dealt with", "worst customer service"),
    ("really disappointed with the new sofa", "disappointed"),
    ("paid for next day, arrived in a week #fail", "#fail"),
    ("thanks for ignoring my emails", "thanks for ignoring"),
    ("love how your agents hang up on people", "love how your agents hang"),
    ("the driver hung up on me twice", "hung up on"),
    ("on hold for an hour now", "on hold for an hour"),
    ("my charger went out on me after a week", "went out on me"),
    ("there's a bug in the calendar export", "bug"),
    ("no confirmation email for my booking", "no confirmation"),
    ("where is my parcel?", "where is my parcel"),
    ("it was working last week", "was working last"),
    ("you charged me twice for one coffee", "charged me twice"),
    ("the app no longer remembers my login", "no longer remembers"),
    ("it should have been dispatched on Monday", "should have been"),
    ("delivery was supposed to take two days", "was supposed to"),
    ("they promised a callback and it never happened", "never happened"),
    ("is this really what you call a large pizza", "is this really what you call"),
])
def test_complaints_as_people_tweet_them(text, words):
    from qa.situation import problem_cue
    span = problem_cue(text)
    assert span is not None and text[span[0]:span[1]] == words


@pytest.mark.parametrize("text", [
    "can I return a coat bought online in your store?", "is the X200 compatible with the old dock?",
    "do you still have the blue one in medium?", "I can't wait for the new range!",
    "thank you for resolving my issue so quickly", "Problem solved, thanks a lot",
    "if I have any more problems I'll message you", "what is the usual delivery time to Spain?",
    "will the sale start on Friday?", "how do I change my delivery address?",
    "is delivery guaranteed before Christmas?", "what am I supposed to bring to the appointment?",
])
def test_neutral_questions_and_solved_problems_are_no_complaint(text):
    from qa.situation import problem_cue
    assert problem_cue(text) is None


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


def test_closing_as_social_media_agents_write_it():
    crit = dict(check="closing")
    # good wishes and thanks at the end, before a sign-off, a link or a thread counter
    for last in ["Try the steps on our help page. Hope this helps! ^RK",
                 "Restart the router first. Thanks! -Dana",
                 "The form is here: https://help.example.com/form Thank you!",
                 "You can follow the status page. We're here if you need us. Stay safe! 2/2",
                 "Great, see you at the branch on Monday. Looking forward to it."]:
        c = run(make_conv([("customer", "my router keeps dropping"), ("agent", last)]), **crit)
        assert c.outcome == "pass", last
    # a thanks that opens the only reply is its greeting, not a close
    c = run(make_conv([("customer", "is the pool open?"),
                       ("agent", "Thanks for reaching out, Ana! The opening hours are on our site. ~Lee")]), **crit)
    assert (c.outcome, c.reason) == ("fail", "the agent's last message (turn 2) is no courteous close")
    c = run(make_conv([("customer", "is the pool open?"),
                       ("agent", "Thanks for reaching out about the pool!")]), **crit)
    assert c.outcome == "pass"  # nothing follows: it is the close too
    # a short last word after the close ("I won't!") leaves the close before it standing
    c = run(make_conv([("customer", "hi"), ("agent", "All done, have a nice evening!"),
                       ("customer", "don't forget to water the plants"), ("agent", "I won't!")]), **crit)
    assert c.outcome == "pass"
    # an open door at the end is a close; "Happy to help!" opening the only reply is not
    c = run(make_conv([("customer", "is the store open?"),
                       ("agent", "Thanks for asking, Sal. Opening hours are on the store page. DM us anytime ^DK")]), **crit)
    assert c.outcome == "pass"
    c = run(make_conv([("customer", "can't log in"),
                       ("agent", "Hi there! Happy to help! Try the backup codes from your settings page.")]), **crit)
    assert c.outcome == "fail"
    c = run(make_conv([("customer", "hi"), ("agent", "Thanks, checking."), ("customer", "ok?"),
                       ("agent", "Done.")]), **crit)
    assert c.outcome == "fail"


def test_personal_details():
    crit = dict(check="personal_details")
    cust = ("customer", "My necklace order for my wife's birthday tomorrow still says processing.")
    c = run(make_conv([cust, ("agent", "I've upgraded your necklace to next-day delivery.")]),
            category="personalization", **crit)
    assert c.outcome == "pass" and c.evidence[0].match == "necklace"
    c = run(make_conv([cust, ("agent", "Orders are processed in the order received.")]),
            category="personalization", **crit)
    assert (c.outcome, c.reason) == ("fail", "the agent referred to none of the customer's own details")


def test_personal_details_leave_links_handles_and_the_brand_out():
    crit = dict(check="personal_details", category="personalization")
    cust = ("customer", "@AcmeHelp my ParcelPoint locker code never came, see https://acme.example/track/123")
    # the brand's own name, a link's words and the handles are no personal detail
    c = run(make_conv([cust, ("agent", "@kim_r Hi! You can track it at https://acme.example/track Thanks ^JO")],
                      agent_id="AcmeHelp"), **crit)
    assert (c.outcome, c.reason) == ("fail", "the agent referred to none of the customer's own details")
    c = run(make_conv([cust, ("agent", "@kim_r Your AcmeHelp order is fine, we support you.")], agent_id="AcmeHelp"), **crit)
    assert c.outcome == "fail"
    c = run(make_conv([cust, ("agent", "@kim_r Sorry! I've sent a new code for your ParcelPoint locker.")],
                      agent_id="AcmeHelp"), **crit)
    assert c.outcome == "pass" and {e.match for e in c.evidence} == {"code", "ParcelPoint", "locker"}
    c = run(make_conv([("customer", "@AcmeHelp https://acme.example/x"), ("agent", "@kim_r Hello!")],
                      agent_id="AcmeHelp"), **crit)
    assert c.outcome == "na"


def test_name_usage_by_vocative_as_social_replies_write_it():
    crit = dict(check="name_usage", category="personalization")
    for reply in ["@edgar_o Edgar - sorry for the wait, here is the form.",
                  "\u00a1Hi Cassie! It is on the list.",
                  "Check the careers page, Manny Jr!"]:
        c = run(make_conv([("customer", "hello"), ("agent", reply)]), **crit)
        assert c.outcome == "pass", reply
    c = run(make_conv([("customer", "hello"), ("agent", "Sorry - the form is here.")]), **crit)
    assert c.outcome == "na"


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
