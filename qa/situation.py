"""What a conversation calls for: facts about it that decide whether a criterion applies.

A criterion's ``when:`` (see :mod:`qa.rubric`) names one or more of these conditions; the
criterion is N/A unless they hold, and the N/A reason says why in plain words. Each
condition gives a :class:`Fact`: whether it holds, a sentence saying why, and the turn and
words that show it (quoted in the report, e.g. why empathy was needed).

Conditions:

* ``problem``: the customer reports a problem, complaint or something that went wrong
  (not just a question): a distress cue, a report of failure ("hasn't arrived", "was
  charged twice", "keeps disconnecting", "cancelled", "broken", "no signal"…), or a
  construction of complaining ("why is it so hard…", "still no reply", "worst service",
  "#fail", "thanks for ignoring me"); a problem that is over or only supposed is none;
* ``distress``: the customer voices a negative emotion or a hard situation
  (:mod:`qa.affect`);
* ``long_wait``: the customer waited on the agent longer than the channel's limit (chat
  and social 3 min, calls 15 s of silence; never on e-mail);
* ``name_known``: the customer's first name is known (metadata, given in the conversation,
  or the agent addresses them by it);
* ``customer_spoke``: the conversation has customer turns.

Everything is computed once per conversation and kept in the scoring context.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .acts import MAX_CHARS, Act, detect

if TYPE_CHECKING:
    from .checks import Context


@dataclass
class Fact:
    """Whether a condition holds in one conversation, and why."""

    holds: bool
    reason: str
    """Plain words: "the customer voiced distress: 'I'm freaking out' (turn 1)"."""
    turn_index: int | None = None
    span: tuple[int, int] | None = None
    """Character offsets of the words that show it in that turn."""


CONDITIONS = {
    "problem": "the customer reported a problem",
    "distress": "the customer voiced distress",
    "long_wait": "the customer waited on the agent",
    "name_known": "the customer's name is known",
    "customer_spoke": "the customer said something",
}
"""Condition name → what it means (for ``qa rubric explain`` and messages)."""

NOT_HOLDING = {
    "problem": "the customer asked a question, nothing went wrong",
    "distress": "the customer voiced no frustration, worry, loss or other distress",
    "long_wait": "the customer never waited long for the agent",
    "name_known": "the customer's name is not known",
    "customer_spoke": "the customer said nothing",
}

# A report that something went wrong: failure of an expected event, a fault word, a loss.
_FAIL_VERBS = (r"arrive[d]?|come|came|turn(?:ed)?\s+up|show(?:ed)?\s+up|work(?:ed|ing)?|load(?:ed|ing)?|connect(?:ed|ing)?|"
               r"charge[d]?|receive[d]?|get|got|log\s+in|login|sign\s+in|open(?:ed)?|start(?:ed)?|respond(?:ed)?|reply|replied|"
               r"call(?:ed)?\s+(?:me\s+)?back|update[d]?|refund(?:ed)?|deliver(?:ed)?|pay|paid|process(?:ed)?|fix(?:ed)?|"
               r"send|sent|ship(?:ped)?|install(?:ed)?|go\s+through|went\s+through|been\s+(?:paid|fixed|sent|booked|delivered|refunded|processed)|booked|sorted|resolved|approved|answered|"
               # access and use: "can't access my account", "won't let me play", "doesn't exist"
               r"access|recover|retrieve|let|play|go\s+online|get\s+online|get\s+into|download|upload|stream|watch|hear|"
               r"see|find|use|exist|appear|boot|remember|stay|hear(?:d)?\s+back|heard|happen(?:ed)?|launch|sync|verify|reset|save|print|accept|recogni[sz]e|mov(?:e|ed|ing)|progress(?:ed|ing)?|chang(?:e|ed|ing)|letting|lets|join|switch|support|sign|get\s+in|allow|"
               r"(?:updat|sav|receiv|arriv|chang|mov|charg|recogni[sz]|com|issu|releas|restor|resolv)ing")  # -e verbs' -ing
_NEG = (r"hasn't|haven't|hadn't|didn't|did\s+not|never|not|no\s+longer|won't|wouldn't|can't|cannot|couldn't|doesn't|does\s+not|"
        r"isn't|wasn't|aren't|weren't|unable\s+to|(?:not|haven't|hasn't|wasn't|weren't|never)\s+(?:been\s+)?able\s+to|"
        r"still\s+(?:not|no|hasn't|haven't|don't|doesn't|didn't|can't|won't|isn't|waiting|have\s+not|has\s+not)")
def _apostrophes(pattern: str) -> str:
    """A pattern written with "n't" that also reads the curly apostrophe ("didn’t") and the
    apostrophe left out, as people type on phones ("didnt", "cant", "wont")."""
    return pattern.replace("n't", "n['\u2019]?t")


_PROBLEM = re.compile(_apostrophes(
    rf"\b(?:{_NEG})"
    rf"\s+(?:\w+\s+)?(?:{_FAIL_VERBS})(?:s|es|ed|d|ing)?\b"  # any inflection: "aren't updating", "won't allow"
    r"|\b(?:broken|broke|damaged|smashed|cracked|faulty|defective|missing|wrong|incorrect|error|errors|fault|failed|fails|failure|"
    r"crash(?:ed|es|ing)?|freez(?:es|ing)|frozen|declined|rejected|denied|cancel(?:l)?ed|late\b(?!\s+(?:spring|summer|autumn|fall|winter|night|morning|afternoon|evening|january|february|march|april|may|june|july|august|september|october|november|december|\d))|delayed|overcharged|double[-\s]charged|"
    r"charged\s+(?:twice|me\s+twice|two|double|again)|stuck|lost|stolen|burst|leak(?:ing|s)?|flood(?:ed|ing)?|outage|"
    r"disconnect(?:s|ed|ing)|dropp(?:ed|ing)\s+(?:out|calls?)?|cut\s+off|banned|locked\s+out|deleted|hacked|scam(?:med)?|fraud|"
    r"accident|injured|hurt|fell|admitted|passed\s+away|died|bereavement|spoil(?:ed|t)|stone\s+cold|cold|rotten|expired|"
    r"complain(?:t|ing)?|problem|issue|trouble|mistake|mix-up|mixup|unacceptable|ridiculous|overdue|"
    r"(?:no|zero)\s+(?:signal|water|power|internet|connection|service|heating|hot\s+water|reply|response|answer|update|updates|explanation|solution|fix|resolution|progress)|"
    r"(?:keeps|kept)\s+\w+ing|stopped\s+\w+ing|(?:higher|more)\s+than\s+(?:usual|normal|expected)|(?:bill|charge|fee)\s+(?:is|was|went)\s+(?:up|higher)|"
    r"(?:instead\s+of\s+(?:my|the|what))|someone\s+else's|(?:is|was|are|went)\s+down\b|not\s+(?:what|the\s+one)\s+i\s+(?:ordered|booked|paid)|"
    # nothing happens where something should: "nothing works", "no one answers"
    r"(?:nothing|no\s+one|nobody)\s+(?:\w+\s+){0,5}?(?:works?|worked|working|happens?|happened|help|helps?|helped|loads?|answers?|answered|responds?|responded|replie[sd]|changed?)\b|"
    # what they should have is not there: "I do not have the bonus", "I don't have any backup codes"
    r"(?:don't|do\s+not|didn't|did\s+not|doesn't|does\s+not)\s+have\s+(?:my|the|any|it|them|their|our)\b|"
    # service lost: "total service loss", "loss of signal"
    r"(?:service|signal|data|power|internet|connection)\s+loss|loss\s+of\s+(?:service|signal|data|power|access|internet|connection)|"
    # a thing that cannot be used: "unplayable", "unusable", "unresponsive"
    r"un(?:play|us|watch|read|load|open|install|print|stream|reach|access|work|repair|recover|contact|deliver|navig|download|upload)[a-z]{0,4}(?:able|ible)|"
    r"unresponsive|compromised|breached|hijacked|"
    # asked to mend it, or it got worse: "please fix it", "I need a fix", "it's getting slower"
    r"(?:please\s+|pls\s+|plz\s+|need\s+(?:you\s+to\s+)?|must\s+)fix|need\s+a\s+fix|(?:^\W*|@\w+\s+)fix\b|"
    r"(?:getting|got|gets|becoming|became|is|runs?|running|much|even|way)\s+(?:much\s+|even\s+|so\s+|a\s+lot\s+|way\s+)?(?:slower|worse|laggier|buggier)|(?:is|are|it's|its|now|all|just|was|were)\s+gone|disappeared|vanished|losing\s+(?:my|our|money|dollars|\w+\s+every)|"
    r"(?:someone|somebody|a\s+stranger|hackers?)\s+(?:\w+\s+)?(?:got\s+into|signed\s+in(?:to)?|logged\s+in(?:to)?|accessed|hacked|used|took\s+over|broke\s+into|changed)\s+(?:my|our)|still\s+(?:don't|doesn't|haven't|hasn't|didn't)\s+(?:\w+\s+)?(?:have|got))"),
    re.IGNORECASE)
# Constructions of complaining (general, from the complaints literature: a negative mismatch
# with what was expected, blame, negative evaluation, sarcasm), each a pattern of the words
# people use, not a list of the complaints seen.
_COMPLAINT = re.compile(_apostrophes(
    # the customer cannot do what they came to do: "can't pick it up", "unable to unlock"
    r"\b(?:can't|cannot|can\s+not|unable\s+to|won't|wont|will\s+not|not\s+able\s+to)\s+(?:even\s+|seem\s+to\s+|actually\s+)?"
    r"(?!(?:be|wait|believe|stop|thank|recommend|complain|miss|lie|deny|agree|decide|tell|say|imagine|help\s+(?:it|but)|afford\s+to\s+miss)\b)[a-z]{3,}"
    # still in the bad state after trying: "still demanding i sign in", "still in an endless loop"
    r"|\bstill\s+(?:get(?:ting|s)?|having|experienc\w+|show(?:s|ing)|say(?:s|ing)|ask(?:s|ing)|demand\w*|trying|charg\w+|messed\s+up|"
    r"broken|down|out|stuck|wrong|the\s+same|in\s+(?:an?\s+)?(?:endless\s+)?loop|in\s+the\s+\w+ing\s+process|nothing|no\b|(?:bluescreen|crash|freez|lag)\w*)"
    # a question of blame: "why is it so hard…", "why won't…", "how come…", "what's the point…"
    r"|\bwhy\s+(?:not|isn't|aren't|won't|can't|don't|doesn't|didn't|hasn't|haven't|wasn't|weren't|wouldn't|couldn't|is\s+there\s+no)\b"
    r"|\bwhy\s+(?:is|are|does|do|did|has|have|would|should)\s+(?:\w+\s+){0,4}?(?:so\s+\w+|always|never|still|keep\w*|forever|taking|take\s+away|got\s+rid)"
    r"|\bw+hy+\s+(?:is|are)\s+(?:\w+\s+){0,3}?(?:so|such)\b|\bhow\s+come\b|\bwhat(?:'s|\s+is)\s+(?:going\s+on|up)\s+with\b|\bwhat(?:'s|\s+is)\s+the\s+point\b|\bwhat\s+gives\b"
    r"|\bis\s+(?:this|that|it)\s+(?:really\s+)?(?:normal|typical|acceptable|legit|how\s+you|what\s+you\s+call|your\s+(?:policy|protocol|idea))\b"
    # negative evaluation of the service or product: "worst customer service", "service … is shocking"
    r"|\b(?:shocking|terrible|horrible|awful|pathetic|appalling|atrocious|abysmal|rubbish|useless|poor|bad|lousy|crappy|crap|"
    r"disappointing|rude|unhelpful|unprofessional|incompetent|disgusting|worst|slow|laggy)\s+(?:\w+\s+)?(?:service|customer\s+service|support|"
    r"experience|staff|employees?|performance|quality|connection|reception|signal|speeds?|latency|company|product|app|website|site|delivery|care)\b"
    r"|\b(?:service|support|experience|staff|app|website|site|company|product|quality|delivery|care|branch|store|wifi|internet)\s+(?:\w+\s+){0,4}?"
    r"(?:is|was|are|were|has\s+been|have\s+been)\s+(?:so\s+|very\s+|really\s+|absolutely\s+|just\s+|kinda\s+|pretty\s+|beyond\s+)?"
    r"(?:shocking|terrible|horrible|awful|pathetic|appalling|rubbish|useless|poor|bad|disgusting|slow|a\s+joke|a\s+disgrace|disappointing|worse|trash)\b"
    r"|\b(?:is|are|was|were)\s+(?:by\s+far\s+)?the\s+worst\b|\bworst\s+\w+(?:\s+\w+)?\s+ever\b|\b(?:so|very|really|too|painfully|extremely)\s+slow\b|\bis\s+slow\b"
    r"|\btoo\s+(?:long|slow|small|big|large|tight|short|expensive|loud)\b|\boverpriced\b|\bprice\s+hike\b"
    # disappointment and being let down: "really disappointed", "not impressed", "letting me down"
    r"|\bdisappoint(?:ed|ing|ment)\b|\blet\s+down\b|\bletting\s+(?:me|us)\s+down\b|\bnot\s+(?:happy|impressed|pleased|satisfied|acceptable|good\s+enough)\b"
    r"|\bfed\s+up\b|\bsick\s+(?:of|and\s+tired)\b|\bripp(?:ed|ing)\s+(?:\w+\s+)?off\b|\brip-?off\b"
    # hashtags of negative evaluation: "#fail", "#badservice", "#nothappy"
    r"|#(?:\w*(?:fail|worst|useless|appalling|disappoint|nothappy|unhappy|ripoff|scam|shady|pissed|neveragain|notimpressed|fixit)\w*|bad\w+|poor\w+|terrible\w*|awful\w*|shame\w*)"
    # sarcastic thanks or praise of a bad event: "thanks for ignoring all my tweets", "love when you hang up on me"
    r"|\bthanks?\s+(?:you\s+)?(?:@\w+\s+)*for\s+(?:nothing|ignoring|not\s+\w+ing|wasting|losing|ruining|charging|making\s+me\s+wait|sending\s+me\s+(?:a|the)\s+(?:wrong|ripped|broken|damaged))"
    r"|\b(?:love|great|nice)\s+(?:it\s+)?(?:when|how)\s+(?:@\w+\s+|you\s+|they\s+|your\s+\w+\s+)*(?:hang|cancel|ignore|lose|lost|charge|keep|make|leave)\w*"
    # ill-treated or left waiting: "hung up on me", "kicked me out", "on hold for an hour", "2.5 hours since we ordered"
    r"|\bhung\s+up\s+on\b|\bhang(?:s|ing)?\s+up\s+on\b|\bkick(?:ed|s|ing)?\s+(?:me|us)\s+(?:out|off)\b|\block(?:ed)?\s+me\s+out\b"
    r"|\bon\s+hold\s+(?:for\s+)?(?:like\s+|over\s+|almost\s+|nearly\s+)?(?:an?|\d+|two|three|several)\s*(?:min\w*|hours?|hrs?)\b|\bwait(?:ed|ing)\s+(?:for\s+)?(?:over|more\s+than|almost|nearly|like)\s+"
    r"|\b\d+(?:\.\d+)?\s*(?:-\s*)?(?:min\w*|hours?|hrs?|days?|weeks?)\s+(?:since|wait|hold|and\s+still|now\s+and|-\s*nothing)\b|\btak(?:es|ing)\s+(?:forever|ages|so\s+long)\b"
    # a thing gave out or is bad: "went out on me", "battery go dead", "a bug", "what a mess"
    r"|\b(?:went|go|goes|gone|died|dies|quit|quits)\s+(?:out\s+)?on\s+(?:me|us)\b|\bquit\s+working\b|\b(?:go|goes|went|gone|is|was|looks?\s+like\s+it\s+is)\s+dead\b|\bdead\s+batter\w+"
    r"|\bbugs?\b|\bglitch\w*|\bfiasco\b|\bdebacle\b|\bnightmare\b|\brun-?around\b|\b(?:total|complete|such\s+a|what\s+a)\s+(?:mess|joke|shambles)\b|\b(?:messed|screwed)\s+up\b"
    r"|\b(?:barely|hardly)\s+(?:any|hear|see|work\w*|load\w*|use\w*|get|got)\b|\b(?:you|they|staff|driver|store|he|she|someone)\s+(?:\w+\s+)?forgot\b"
    r"|\b(?:no|zero)\s+(?:sound|audio|picture|lights?|electricity|gas|wifi|wi-fi|network|coverage|dial\s+tone|trains?|bus(?:es)?|communication|confirmation|"
    r"tracking|refund|receipt|help|support|luck|idea\s+where|interest|show|call\s*back|callback)\b"
    r"|\bwhere(?:'s|\s+is|\s+are)\s+my\s+(?:\w+\s+)?(?:order|parcel|package|delivery|refund|bill|money|item|items|food|paper|stuff|tokens?|card|replacement)\b"
    r"|\bfound\s+my\s+order\s+yet\b|\bany\s+updates?\s+on\s+(?:this|my|the)\b|\bnothing\s+back\b"
    # it worked before, so it does not now: "it was working last week", "it used to work"
    r"|\b(?:was|were)\s+working\s+(?:fine\s+|ok\s+|perfectly\s+)?(?:last|before|yesterday|earlier|until)\b|\bused\s+to\s+(?:work|be\s+able)\b"
    r"|\bis\s+there\s+(?:a|any)\s+reason\s+(?:why\s+)?(?:\w+\s+){0,4}?(?:no|not|isn't|aren't|won't|can't|doesn't|don't|didn't)\b"
    r"|\bwhy\s+(?:are|do|did|would|have|is)\s+(?:you|y'all|u|your\s+\w+)\b|\bcharg(?:ed|ing)\s+(?:me\s+|us\s+)?(?:extra|more|twice|double)\b"
    r"|\bno\s+(?:phone|mobile|internet|tv|cell|network)\s+(?:service|signal|connection|coverage)\b|\bgoing\s+worse\b"
    r"|\bbatter(?:y|ies)\s+(?:\w+\s+){0,3}?drain\w*|\bdrain\w*\s+(?:my\s+|the\s+)?batter"
    # a mismatch with what was promised or due: "should have been dispatched", "was supposed to be 2 days"
    r"|\bshould(?:n't|\s+not)?\s+(?:have\s+(?:to|been|had|arrived|received|got)|never\s+have)\b|\b(?:was|were)\s+supposed\s+to\b"
    r"|\b(?:was|were|been|you|they)\s+(?:\w+\s+)?(?:promised|guaranteed)\b|\b(?:promised|guaranteed)\s+(?:me|us)\b"
    r"|\bnot\s+what\s+(?:i|we)\s+(?:wanted|want|expected|ordered|paid|asked)|\bis\s+this\s+(?:really\s+)?(?:how\s+you|what\s+you\s+call|the\s+kind\s+of|your\s+idea\s+of)\b"),
    re.IGNORECASE)
# a problem that is over ("Problem solved", "thank you for resolving my issue") or only supposed
# ("if I have any more problems"): no report of one now
_RESOLVED = re.compile(r"(?:\b(?:problem|issue)s?\s+(?:(?:has|have|is|was|got|been|now|all|finally)\s+){0,2}(?:solved|resolved|fixed|sorted)\b"
                       r"|\b(?:resolved|solved|fixed|sorted)\s+(?:my|the|our|this|that|all\s+my)\s+(?:\w+\s+)?(?:problem|issue)s?\b"
                       r"|\bthanks?\s+(?:you\s+)?(?:\S+\s+){0,3}for\s+(?:\w+\s+){0,3}(?:resolv|solv|fix|sort|mak)\w*\s+(?:\w+\s+){0,3}(?:problem|issue)s?"
                       r"|\bresolution\s+following\s+(?:\w+\s+){0,2}(?:problem|issue)s?|\bif\s+(?:\w+\s+){0,4}(?:\w+\s+)?(?:problem|issue)s?\b)", re.IGNORECASE)
_NOT_PROBLEM = re.compile(r"\bno\s+(?:problem|issue|trouble)s?\b|\bnot\s+(?:a\s+)?(?:problem|issue|complain\w*)\b|\bwithout\s+(?:a\s+)?(?:problem|issue)",
                          re.IGNORECASE)


def problem_cue(text: str) -> tuple[int, int] | None:
    """The words of a turn that report something going wrong, or None."""
    t = text[:MAX_CHARS]
    found = [m.span() for m in _PROBLEM.finditer(t)] + [m.span() for m in _COMPLAINT.finditer(t)]  # failure words first
    for a, b in found:
        around = t[max(0, a - 12):b + 12]
        if _NOT_PROBLEM.search(around):
            continue
        lo = max(0, a - 60)
        if any(lo + r.start() < b and a < lo + r.end() for r in _RESOLVED.finditer(t[lo:b + 40])):
            continue  # over ("problem solved") or only supposed ("if I have any problems")
        return a, b
    return None


# ---------------------------------------------------------------- per-conversation facts
def customer_affect(ctx: "Context") -> dict:
    """Turn index → :class:`qa.affect.TurnAffect` for every customer turn (computed once)."""
    cached = ctx.scratch.get("affect")
    if cached is None:
        from .affect import analyze_turns

        conv = ctx.conv
        idx = [i for i, t in enumerate(conv.turns) if t.speaker == "customer"]
        prev_agent: list[str | None] = []
        last = None
        for i, t in enumerate(conv.turns):
            if t.speaker == "agent":
                last = t.text
            elif t.speaker == "customer":
                prev_agent.append(last)
        states = analyze_turns([conv.turns[i].text for i in idx], prev_agent) if idx else []
        cached = ctx.scratch["affect"] = dict(zip(idx, states))
    return cached


def acts(ctx: "Context", kind: str) -> dict[int, list[Act]]:
    """Agent turn index → the acts of ``kind`` in it (turns without any left out)."""
    key = ("acts", kind)
    cached = ctx.scratch.get(key)
    if cached is None:
        spoken = ctx.conv.channel == "voice"
        cached = {}
        for i, t in enumerate(ctx.conv.turns):
            if t.speaker == "agent":
                found = detect(kind, t.text, spoken=spoken)
                if found:
                    cached[i] = found
        ctx.scratch[key] = cached
    return cached


def _quote(text: str, span: tuple[int, int]) -> str:
    words = text[span[0]:span[1]].strip()
    return words if len(words) <= 80 else words[:77] + "…"


def distress(ctx: "Context") -> Fact:
    cached = ctx.scratch.get(("fact", "distress"))
    if cached is not None:
        return cached
    states = customer_affect(ctx)
    best = None
    for i, st in states.items():
        if st.is_distress:
            best = (i, st)
            break
    if best is None:
        fact = Fact(False, NOT_HOLDING["distress"])
    else:
        i, st = best
        text = ctx.conv.turns[i].text
        if st.cues:
            c = st.cues[0]
            span = (c.start, c.end)
            fact = Fact(True, f"the customer voiced distress ({c.kind}): '{_quote(text, span)}' (turn {i + 1})", i, span)
        else:
            words = ", ".join(w for w, v in st.top_words[:3] if v > 0)
            fact = Fact(True, f"the customer voiced distress (turn {i + 1}; words that weighed most: {words})", i, None)
    ctx.scratch[("fact", "distress")] = fact
    return fact


def problem(ctx: "Context") -> Fact:
    cached = ctx.scratch.get(("fact", "problem"))
    if cached is not None:
        return cached
    fact = None
    for i, t in enumerate(ctx.conv.turns):
        if t.speaker != "customer":
            continue
        span = problem_cue(t.text)
        if span is not None:
            fact = Fact(True, f"the customer reported a problem: '{_quote(t.text, span)}' (turn {i + 1})", i, span)
            break
    if fact is None:
        d = distress(ctx)
        fact = (Fact(True, d.reason.replace("voiced distress", "reported a problem, voicing distress", 1), d.turn_index, d.span)
                if d.holds else Fact(False, NOT_HOLDING["problem"]))
    ctx.scratch[("fact", "problem")] = fact
    return fact


WAIT_LIMITS_S = {"chat": 180.0, "social": 180.0, "voice": 15.0}
"""How long a customer may wait on the agent before it is a long wait (no limit on e-mail)."""


@dataclass
class Wait:
    """The customer waiting on the agent: from ``after`` (the last message before the
    silence) to ``reply`` (the agent message that ended it)."""

    after: int
    reply: int
    seconds: float


def waits(ctx: "Context", limits: dict[str, float] | None = None) -> list[Wait]:
    """Every wait longer than the channel's limit while the customer waited on the agent
    (the first reply included). Chats and social: the time between an agent message and
    the message before it, when that one was the customer's or the agent's own (the
    customer had not answered). Calls: a silence between turns (from the end of the one
    before)."""
    limits = limits or WAIT_LIMITS_S
    conv = ctx.conv
    limit = limits.get(conv.channel)
    if limit is None or not ctx.has_timestamps:
        return []
    key = ("waits", limit)
    cached = ctx.scratch.get(key)
    if cached is not None:
        return cached
    out: list[Wait] = []
    turns = conv.turns
    voice = conv.channel == "voice"
    prev = None
    spoken_until = None
    for i, t in enumerate(turns):
        if t.start_s is None or t.speaker == "system":
            continue
        if prev is not None:
            if voice:
                gap = t.start_s - (spoken_until if spoken_until is not None else turns[prev].start_s)
                waiting = t.speaker == "agent" or turns[prev].speaker == "agent"
            else:
                gap = t.start_s - turns[prev].start_s
                waiting = t.speaker == "agent"
            if waiting and gap > limit:
                out.append(Wait(prev, i, gap))
        end = t.end_s if t.end_s is not None else t.start_s
        spoken_until = end if spoken_until is None else max(spoken_until, end)
        prev = i
    ctx.scratch[key] = out
    return out


def long_wait(ctx: "Context") -> Fact:
    found = waits(ctx)
    if not found:
        if ctx.conv.channel not in WAIT_LIMITS_S:
            return Fact(False, f"waits are not judged on {ctx.conv.channel}")
        if not ctx.has_timestamps:
            return Fact(False, "the conversation has no timestamps")
        return Fact(False, NOT_HOLDING["long_wait"])
    from .checks import fmt_s

    w = max(found, key=lambda w: w.seconds)
    return Fact(True, f"the customer waited {fmt_s(w.seconds)} for the agent (turn {w.reply + 1})", w.reply, None)


def name_known(ctx: "Context") -> Fact:
    from .checks.text import agent_vocative, customer_name

    name, given_at, span = customer_name(ctx)
    if name:
        where = "from the metadata" if given_at is None else f"given in turn {given_at + 1}"
        return Fact(True, f"the customer's name is known ({name}, {where})", given_at, span)
    voc = agent_vocative(ctx)
    if voc is not None:
        i, a, b = voc
        return Fact(True, f"the agent knows the customer's name ('{ctx.conv.turns[i].text[a:b]}', turn {i + 1})", i, (a, b))
    return Fact(False, NOT_HOLDING["name_known"])


def customer_spoke(ctx: "Context") -> Fact:
    return Fact(True, "the customer said something") if ctx.has_customer else Fact(False, NOT_HOLDING["customer_spoke"])


FACTS = {"problem": problem, "distress": distress, "long_wait": long_wait, "name_known": name_known,
         "customer_spoke": customer_spoke}


def fact(ctx: "Context", name: str) -> Fact:
    return FACTS[name](ctx)
