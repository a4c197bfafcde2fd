"""Each check type on hand-built conversations: where it must pass, fail and be N/A, with
the reason and the evidence it gives."""

from __future__ import annotations

import json

import pytest

from qa.conversation import Turn, Word
from qa.rubric import parse_rubric
from qa.score import CriterionResult, score_conversations

from conftest import make_conv


def run(conv, category="politeness", **criterion) -> CriterionResult:
    data = {"rubric": "t", "criteria": [{"id": "x", "category": category, **criterion}]}
    [res] = score_conversations([conv], parse_rubric(json.dumps(data)))
    [c] = res.criteria
    # evidence always points at the quoted text
    for e in c.evidence:
        assert e.speaker == conv.turns[e.turn_index].speaker
        assert e.quote in conv.turns[e.turn_index].text
        if e.match is not None:
            assert e.quote[e.match_start:e.match_end] == e.match
    if c.outcome == "na":
        assert c.score is None and c.na_reason == c.reason
    else:
        assert 0.0 <= c.score <= 1.0 and c.na_reason is None
    assert c.reason
    return c


def voice(turns, **kw):
    """Voice conversation from (speaker, text, start, end) with evenly spaced word timings."""
    conv = make_conv([], channel="voice", **kw)
    for speaker, text, start, end in turns:
        words = text.split()
        step = (end - start) / max(1, len(words))
        conv.turns.append(Turn(speaker=speaker, text=text, start_s=start, end_s=end, words=[
            Word(word=" " + w, start=start + k * step, end=start + (k + 1) * step) for k, w in enumerate(words)]))
    conv.duration_s = max(t[3] for t in turns) if turns else None
    return conv


# ---------------------------------------------------------------- phrases
GREETING = dict(check="phrases", window={"first_turns": 2}, any=["thank you for calling", "hello"])


def test_phrases_any_pass_fail_na():
    c = run(make_conv([("customer", "hi"), ("agent", "Hello, thanks for calling Acme!")]), **GREETING)
    assert (c.outcome, c.score, c.reason) == ("pass", 1.0, "'hello' said in turn 2")
    [e] = c.evidence
    assert (e.turn_index, e.speaker, e.match, e.match_start, e.polarity) == (1, "agent", "Hello", 0, "positive")

    c = run(make_conv([("agent", "Yeah?"), ("agent", "What do you want"), ("agent", "Hello")]), **GREETING)
    assert (c.outcome, c.score) == ("fail", 0.0)
    assert c.reason == "none of 'thank you for calling', 'hello' in the first 2 agent turns"
    assert [(e.turn_index, e.polarity) for e in c.evidence] == [(0, "negative")]

    c = run(make_conv([("customer", "Hello?")]), **GREETING)
    assert (c.outcome, c.reason) == ("na", "no agent turns")


def test_phrases_match_lemmas_and_spelling_variants():
    crit = dict(check="phrases", any=["apologise"])
    for text in ["I apologize for that.", "We apologised yesterday.", "Apologies for the wait!",
                 "I'm apologizing now"]:
        assert run(make_conv([("agent", text)]), **crit).outcome == "pass", text
    assert run(make_conv([("agent", "I am sorry")]), **crit).outcome == "fail"
    # exact matching wants the words as written
    assert run(make_conv([("agent", "Apologies!")]), check="phrases", any=["apologise"],
               match="exact").outcome == "fail"
    # whole words only, never inside a word, never across turns
    assert run(make_conv([("agent", "Othello is a play")]), check="phrases", any=["hello"]).outcome == "fail"
    assert run(make_conv([("agent", "thank you"), ("agent", "for calling")]), check="phrases",
               any=["thank you for calling"]).outcome == "fail"
    assert run(make_conv([("agent", "Thank you, for calling!")]), check="phrases",
               any=["thank you for calling"]).outcome == "pass"


def test_phrases_none_is_forbidden_language():
    crit = dict(check="phrases", none=["damn", "shut up"], match="exact")
    c = run(make_conv([("agent", "Fine."), ("customer", "damn it"), ("agent", "Oh, SHUT UP, damn it")]), **crit)
    assert (c.outcome, c.score) == ("fail", 0.0)
    assert c.reason == "'SHUT UP' in turn 3 and 1 more"
    assert [(e.turn_index, e.match, e.polarity) for e in c.evidence] == [(2, "SHUT UP", "negative"),
                                                                           (2, "damn", "negative")]
    c = run(make_conv([("agent", "Happy to help."), ("customer", "damn")]), **crit)
    assert (c.outcome, c.evidence) == ("pass", [])
    assert c.reason == "none of 'damn', 'shut up' in any agent turn"


def test_phrases_all_gives_partial_credit():
    crit = dict(check="phrases", all=["anything else", "thank you"], window={"last_turns": 1})
    c = run(make_conv([("agent", "Anything else?"), ("agent", "Anything else I can do?")]), **crit)
    assert (c.outcome, c.score, c.reason) == ("fail", 0.5, "'thank you' not said in the last 1 agent turn")
    c = run(make_conv([("agent", "Thank you! Anything else?")]), **crit)
    assert (c.outcome, c.score) == ("pass", 1.0)


def test_phrases_speaker_and_time_windows():
    crit = dict(check="phrases", speaker="customer", any=["refund"], window={"first_seconds": 30})
    conv = make_conv([("customer", "Hi", 0), ("agent", "Hello", 5), ("customer", "I want a refund", 40)])
    c = run(conv, **crit)
    assert (c.outcome, c.reason) == ("fail", "none of 'refund' in customer turns in the first 30 s")
    conv.turns[2].start_s = 20
    assert run(conv, **crit).outcome == "pass"
    c = run(make_conv([("customer", "I want a refund")]), **crit)
    assert (c.outcome, c.reason) == (
        "na", "the conversation has no timestamps, so a window in seconds cannot apply")


def test_phrases_min_count():
    crit = dict(check="phrases", any=["please"], min_count=2)
    c = run(make_conv([("agent", "Please wait."), ("agent", "OK")]), **crit)
    assert (c.outcome, c.reason) == ("fail", "none of 'please' in any agent turn (said 1 time, need 2)")
    assert run(make_conv([("agent", "Please wait."), ("agent", "please")]), **crit).outcome == "pass"


# ---------------------------------------------------------------- patterns
def test_patterns_any_none_and_na():
    crit = dict(check="patterns", patterns=[[{"LOWER": {"IN": ["could", "would"]}}, {"LOWER": "you"}]])
    c = run(make_conv([("agent", "Could you send the number?")]), **crit)
    assert (c.outcome, c.reason) == ("pass", "pattern matched 'Could you' in turn 1")
    assert c.evidence[0].match == "Could you"
    c = run(make_conv([("agent", "Send the number.")]), **crit)
    assert (c.outcome, c.reason) == ("fail", "no pattern matched in any agent turn")
    c = run(make_conv([("agent", "Would you hold?")]), mode="none", **crit)
    assert (c.outcome, c.reason) == ("fail", "'Would you' in turn 1")
    assert run(make_conv([("customer", "Could you?")]), **crit).outcome == "na"


def test_patterns_on_parts_of_speech_load_the_tagger():
    crit = dict(check="patterns", patterns=[[{"LEMMA": "be"}, {"POS": "ADJ"}]])
    r = parse_rubric(json.dumps({"rubric": "t", "criteria": [{"id": "x", "category": "empathy", **crit}]}))
    assert "pos" in r.needs()
    assert run(make_conv([("agent", "That was awful.")]), **crit).outcome == "pass"
    assert run(make_conv([("agent", "That was a car.")]), **crit).outcome == "fail"


# ---------------------------------------------------------------- response_latency
def test_first_response_chat():
    crit = dict(check="response_latency", mode="first", target_s=60, zero_at_s=600)
    conv = make_conv([("customer", "Hi, my order is late", 0), ("agent", "Sorry, checking", 362)])
    c = run(conv, category="promptness", **crit)
    assert c.outcome == "fail"
    assert c.reason == "first agent reply after 6 min 2 s (turn 2 at 6:02), target 1 min"
    assert c.score == pytest.approx(1 - 302 / 540)
    assert [(e.turn_index, e.polarity) for e in c.evidence] == [(0, "negative"), (1, "negative")]
    conv.turns[1].start_s = conv.turns[1].end_s = 45
    c = run(conv, category="promptness", **crit)
    assert (c.outcome, c.score) == ("pass", 1.0)
    c = run(make_conv([("customer", "Hi"), ("agent", "Hello")]), category="promptness", **crit)
    assert (c.outcome, c.reason) == ("na", "the chat has no timestamps, so response time cannot be measured")
    c = run(make_conv([("agent", "Hello", 0)]), category="promptness", **crit)
    assert (c.outcome, c.reason) == ("na", "no customer turns")
    c = run(make_conv([("customer", "Hello?", 0)]), category="promptness", **crit)
    assert (c.outcome, c.reason) == ("fail", "the agent never replied")


def test_reply_time_chat_statistics():
    conv = make_conv([("customer", "a", 0), ("customer", "b", 10), ("agent", "x", 40),
                      ("customer", "c", 50), ("agent", "y", 250)])
    c = run(conv, category="promptness", check="response_latency", target_s=60, statistic="mean")
    # chat waits count from the first unanswered customer message: 40 s and 200 s
    assert c.reason.startswith("mean agent reply time 2 min over 2 replies, target 1 min (longest 3 min 20 s")
    assert c.outcome == "fail" and c.score == pytest.approx(1 - 60 / 180)
    c = run(conv, category="promptness", check="response_latency", target_s=60, statistic="median")
    assert c.outcome == "fail"
    c = run(conv, category="promptness", check="response_latency", target_s=300, statistic="max")
    assert (c.outcome, c.score) == ("pass", 1.0)



def test_longest_wait_counts_announced_waits():
    """mode: wait counts the customer's wait on the agent from the message before each agent
    message, the agent's own "let me check" included: announced, the wait is still a wait."""
    crit = dict(category="promptness", check="response_latency", mode="wait", statistic="max",
                target_s=180, zero_at_s=900)
    conv = make_conv([("customer", "My card was declined", 0), ("agent", "Hi, sorry about that", 40),
                      ("agent", "Let me check, it may take a couple of minutes", 60),
                      ("agent", "Thanks for waiting: the block is lifted", 420),
                      ("customer", "thanks", 430), ("agent", "You're welcome", 450)])
    c = run(conv, **crit)
    assert c.outcome == "fail"
    assert c.reason == "longest wait on the agent 6 min over 4 agent messages, target 3 min (turn 4 at 7:00)"
    assert c.score == pytest.approx(1 - 180 / 720)
    # the wait began at the agent's own announcement, and ended at its next message
    assert [(e.turn_index, e.polarity) for e in c.evidence] == [(2, "negative"), (3, "negative")]
    assert c.evidence[0].note.startswith("the agent's message; the customer's longest wait of 6 min")
    # reply mode sees only the replies to the customer (40 s and 20 s): it passes
    assert run(conv, **{**crit, "mode": "reply"}).outcome == "pass"
    conv.turns[3].start_s = conv.turns[3].end_s = 150
    c = run(conv, **crit)
    assert (c.outcome, c.score) == ("pass", 1.0)
    c = run(make_conv([("customer", "Hi"), ("agent", "Hello")]), **crit)
    assert c.outcome == "na"
    # by channel: on social an hour is the target
    social = make_conv([("customer", "@brand late again", 0), ("agent", "@me sorry! DM us", 1500),
                        ("customer", "@brand done", 1600), ("agent", "@me sorted, thanks", 4000)],
                       channel="social")
    c = run(social, **{**crit, "by_channel": {"social": {"target_s": 3600, "zero_at_s": 21600}}})
    assert c.outcome == "pass"
    assert c.reason.startswith("longest wait on the agent 40 min over 2 agent messages, target 1 h (turn 4")

def test_response_gap_voice_from_end_of_customer_turn():
    conv = voice([("customer", "my phone is broken", 0.0, 3.0), ("agent", "let me check", 3.5, 5.0),
                  ("customer", "thanks so much", 6.0, 8.0), ("agent", "found it", 14.0, 15.0)])
    c = run(conv, category="promptness", check="response_latency", target_s=2, zero_at_s=8)
    assert c.reason.startswith("mean agent reply time 3.2 s over 2 replies, target 2.0 s (longest 6.0 s")
    assert c.outcome == "fail" and c.score == pytest.approx(1 - 1.25 / 6)


# ---------------------------------------------------------------- dead_air
def test_dead_air_pass_fail_hold_and_na():
    crit = dict(check="dead_air", threshold_s=10)
    quiet = voice([("agent", "hello how can I help", 0, 2), ("customer", "my bill is wrong", 3, 5),
                   ("agent", "ok I see", 30, 32), ("customer", "thanks", 33, 34)])
    c = run(quiet, category="promptness", **crit)
    assert c.outcome == "fail"
    assert c.reason == "1 silence over 10 s, longest 25 s at 0:05 after turn 2"
    assert [(e.turn_index, e.polarity) for e in c.evidence] == [(1, "negative")]

    hold = voice([("agent", "hello how can I help", 0, 2), ("customer", "my bill is wrong", 3, 5),
                  ("agent", "let me put you on a brief hold", 6, 8),
                  ("agent", "thank you for holding, I fixed it", 70, 73)])
    c = run(hold, category="promptness", **crit)
    assert c.outcome == "pass"
    assert c.reason == "no silence over 10 s; 1 announced hold (1 min 2 s) not counted"
    assert [e.match for e in c.evidence] == ["hold", "thank you for holding"]

    hold.turns[3].text = "ok, I fixed it"
    c = run(hold, category="promptness", **crit)
    assert c.outcome == "fail"
    assert c.reason == ("1 silence over 10 s, longest 1 min 2 s at 0:08 after turn 3 "
                        "(hold announced but not thanked)")
    c = run(make_conv([("agent", "hi", 0), ("customer", "x", 100)]), category="promptness", **crit)
    assert (c.outcome, c.reason) == ("na", "dead air applies to calls, not to chat")


def test_dead_air_inside_a_turn_from_word_timings():
    conv = voice([("agent", "hello", 0, 1), ("customer", "hi", 1.5, 2)])
    conv.turns.append(Turn(speaker="agent", text="one two", start_s=3, end_s=30, words=[
        Word(word="one", start=3, end=3.5), Word(word="two", start=29, end=30)]))
    c = run(conv, category="promptness", check="dead_air", threshold_s=10)
    assert c.outcome == "fail" and "longest 26 s at 0:03 after turn 3" in c.reason


# ---------------------------------------------------------------- interruptions
def test_interruptions():
    crit = dict(check="interruptions", max_per_minute=0.5)
    polite = voice([("customer", "so the thing is my router keeps dropping", 0, 4),
                    ("agent", "I see, let me check that", 4.5, 6), ("customer", "thanks", 7, 8),
                    ("agent", "okay", 60, 61)])
    c = run(polite, category="professionalism", **crit)
    assert c.outcome == "pass" and c.reason == "0 interruptions in 1 min 1 s (0.00 per minute, max 0.5)"
    rude = voice([("customer", "so the thing is my router keeps dropping every evening", 0, 8),
                  ("agent", "right but did you restart it", 3, 5),
                  ("customer", "yes I did that twice already and it did not help", 6, 12),
                  ("agent", "then buy a new one", 8, 10), ("agent", "bye", 50, 51)])
    c = run(rude, category="professionalism", **crit)
    assert c.outcome == "fail"
    assert c.reason.startswith("2 interruptions in 51 s (2.35 per minute, max 0.5); first in turn 2 at 0:03")
    # a short backchannel is not an interruption
    back = voice([("customer", "so the thing is my router keeps dropping", 0, 6), ("agent", "mm-hmm", 3, 3.5),
                  ("agent", "let me look", 7, 8), ("customer", "ok", 9, 10)])
    assert run(back, category="professionalism", **crit).outcome == "pass"
    c = run(make_conv([("agent", "hi", 0)]), category="professionalism", **crit)
    assert (c.outcome, c.reason) == ("na", "interruptions apply to calls, not to chat")


# ---------------------------------------------------------------- talk_ratio
def test_talk_ratio():
    crit = dict(check="talk_ratio", min_share=0.3, max_share=0.7)
    balanced = voice([("agent", "hello there", 0, 10), ("customer", "hi my problem", 10, 20)])
    c = run(balanced, category="professionalism", **crit)
    assert (c.outcome, c.reason) == ("pass", "agent 50% of the talking time (bounds 30%–70%)")
    monologue = voice([("agent", "hello there", 0, 90), ("customer", "hi", 90, 100)])
    c = run(monologue, category="professionalism", **crit)
    assert (c.outcome, c.reason) == ("fail", "agent 90% of the talking time (bounds 30%–70%)")
    assert c.score == pytest.approx(0.0)
    chat = make_conv([("agent", "one two three"), ("customer", "one")])
    c = run(chat, category="professionalism", **crit)
    assert (c.outcome, c.reason) == ("fail", "agent 75% of the words (bounds 30%–70%)")
    c = run(make_conv([("agent", "hello")]), category="professionalism", **crit)
    assert (c.outcome, c.reason) == ("na", "the customer did not talk")


# ---------------------------------------------------------------- name_usage
def test_name_usage_from_metadata_and_from_the_conversation():
    crit = dict(check="name_usage")
    c = run(make_conv([("customer", "hi"), ("agent", "Hello Ms. Lopez, how can I help?")],
                      customer_name="Maria Lopez"), category="personalization", **crit)
    assert (c.outcome, c.reason) == ("pass", "customer's name 'Lopez' (from the metadata) used in turn 2")
    c = run(make_conv([("customer", "hi"), ("agent", "Hello, how can I help?")], customer_name="Maria Lopez"),
            category="personalization", **crit)
    assert (c.outcome, c.reason) == ("fail", "the agent never used the customer's name 'Maria Lopez' (from the metadata)")

    given = make_conv([("agent", "Acme support, hello"), ("customer", "Hi, this is John Smith calling about my bill"),
                       ("agent", "Thanks John, let me look.")])
    c = run(given, category="personalization", **crit)
    assert (c.outcome, c.reason) == ("pass", "customer's name 'John' (given in turn 2) used in turn 3")
    assert c.evidence[0].match == "John"
    given.turns[2].text = "Thanks, let me look."
    c = run(given, category="personalization", **crit)
    assert c.outcome == "fail"
    assert c.reason == "the agent never used the customer's name 'John Smith' (given in turn 2) after it was given"
    assert [(e.turn_index, e.match, e.polarity) for e in c.evidence] == [(1, "John Smith", "positive"),
                                                                           (2, None, "negative")]
    c = run(make_conv([("customer", "Hi, I'm frustrated with my bill"), ("agent", "Sorry to hear that")]),
            category="personalization", **crit)
    assert (c.outcome, c.reason) == (
        "na", "the customer's name is not known (not in the metadata, never given in the conversation)")


def test_name_usage_before_the_name_was_given_does_not_count():
    conv = make_conv([("agent", "Hi John?"), ("customer", "my name is John Smith"), ("agent", "ok")])
    assert run(conv, category="personalization", check="name_usage").outcome == "fail"


# ---------------------------------------------------------------- empathy_response
def test_empathy_response():
    crit = dict(check="empathy_response")
    upset = [("customer", "This is the third time I've called, I'm really frustrated."),
             ("agent", "What's your account number?")]
    c = run(make_conv(upset + [("agent", "I'm so sorry to hear that, let me fix it.")]), category="empathy", **crit)
    assert c.outcome == "pass"
    assert c.reason.startswith("the customer voiced ")
    assert "the agent acknowledged it ('I'm so sorry'" in c.reason and "in turn 3" in c.reason
    assert [(e.turn_index, e.polarity) for e in c.evidence] == [(0, "positive"), (2, "positive")]
    c = run(make_conv(upset + [("agent", "Done."), ("agent", "I'm so sorry to hear that.")]), category="empathy", **crit)
    assert c.outcome == "fail"
    assert "no acknowledgement of the feeling in the next 2 agent turn(s) (turn 2 went straight on)" in c.reason
    assert [(e.turn_index, e.polarity) for e in c.evidence] == [(0, "negative"), (1, "negative")]
    c = run(make_conv([("customer", "How do I reset my password?"), ("agent", "Sure")]), category="empathy", **crit)
    assert (c.outcome, c.reason) == ("na", "no empathy needed: the customer voiced no frustration, worry, loss "
                                           "or other distress")
    c = run(make_conv([("agent", "Hello")]), category="empathy", **crit)
    assert (c.outcome, c.reason) == ("na", "no customer turns")


def test_empathy_response_rejects_formulaic_and_dismissive_replies():
    crit = dict(check="empathy_response")
    upset = ("customer", "I'm so angry, my order never arrived and I'm really upset.")
    for reply in ["We apologise for any inconvenience caused.", "I'm sorry you feel that way.",
                  "Calm down, I'll check.", "I understand."]:
        c = run(make_conv([upset, ("agent", reply)]), category="empathy", **crit)
        assert c.outcome == "fail", reply
    for reply in ["I'm truly sorry, that sounds really stressful.", "Losing a whole weekend to this is exhausting.",
                  "Anyone would feel anxious after that.", "Oh no, I'd be upset too."]:
        c = run(make_conv([upset, ("agent", reply)]), category="empathy", **crit)
        assert c.outcome == "pass", reply


def test_empathy_partial_share():
    conv = make_conv([("customer", "I'm really worried about the bill"), ("agent", "That sounds worrying, let me check"),
                      ("customer", "and I'm so upset and angry about the delay"), ("agent", "It ships Monday."),
                      ("agent", "Anything else?")])
    c = run(conv, category="empathy", check="empathy_response")
    assert (c.outcome, c.score) == ("fail", 0.5)
    assert c.reason.endswith("(1 of 2 moments)")
    assert run(conv, category="empathy", check="empathy_response", min_share=0.5).outcome == "pass"


# ---------------------------------------------------------------- filler_rate
def test_filler_rate():
    crit = dict(check="filler_rate", max_per_100_words=3, min_words=10)
    clean = "I can help you with that today and the refund will arrive on Monday morning"
    c = run(make_conv([("agent", clean)]), category="professionalism", **crit)
    assert (c.outcome, c.reason) == ("pass", "0 fillers in 15 agent words (0.0 per 100, max 3)")
    messy = "um so uh I can um help you with uh that you know the refund um will arrive"
    c = run(make_conv([("agent", messy)]), category="professionalism", **crit)
    assert c.outcome == "fail"
    assert c.reason == "6 fillers in 18 agent words (33.3 per 100, max 3)"
    assert c.evidence[0].match == "um"
    c = run(make_conv([("agent", "um ok")]), category="professionalism", **crit)
    assert (c.outcome, c.reason) == ("na", "the agent said only 2 words (fewer than 10)")


# ---------------------------------------------------------------- politeness
def test_politeness():
    crit = dict(check="politeness", threshold=0.5)
    c = run(make_conv([("agent", "Thanks so much for waiting! Could you please confirm your email?")]), **crit)
    assert c.outcome == "pass" and c.score == 1.0
    assert c.reason.startswith("politeness ")
    assert "over 1 agent turn (threshold 0.50); polite: gratitude +" in c.reason
    assert "(turn 1: 'Thanks')" in c.reason and "indirect_request +" in c.reason
    assert {e.polarity for e in c.evidence} == {"positive"}
    # plain statements of fact do not dilute the politeness of the turns that show it
    mixed = make_conv([("agent", "Thanks so much for waiting!"), ("agent", "The parcel left on Monday."),
                       ("agent", "It is in Leeds."), ("agent", "Delivery is at noon.")])
    c = run(mixed, **crit)
    assert c.outcome == "pass" and " over 1 agent turn " in c.reason
    assert run(mixed, include_plain_turns=True, **crit).outcome == "fail"
    c = run(make_conv([("agent", "Why did you not read the email? Obviously it says no.")]), **crit)
    assert c.outcome == "fail" and c.score < 1
    assert "impolite:" in c.reason and {e.polarity for e in c.evidence} == {"negative"}
    c = run(make_conv([("customer", "hi")]), **crit)
    assert (c.outcome, c.reason) == ("na", "no agent turns with words")


def test_politeness_weights_can_be_overridden_and_are_validated():
    conv = make_conv([("agent", "Thanks!")])
    assert run(conv, check="politeness", weights={"gratitude": -3}).outcome == "fail"
    data = {"rubric": "t", "criteria": [{"id": "x", "category": "politeness", "check": "politeness",
                                         "weights": {"gratitud": 1}}]}
    from qa.errors import RubricError

    with pytest.raises(RubricError) as info:
        parse_rubric(json.dumps(data), "r.yaml")
    [msg] = info.value.problems
    assert msg.startswith("r.yaml:1 criteria[0].weights: unknown politeness feature 'gratitud'; known "
                          "features: gratitude, deference")


def test_channels_not_applying_are_na_with_reason():
    c = run(make_conv([("agent", "hi")]), check="phrases", any=["hi"], channels=["voice"])
    assert (c.outcome, c.reason) == ("na", "applies to calls only; this is a chat")
