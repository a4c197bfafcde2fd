"""What an agent's turn does: apologise, acknowledge feelings, own the next step, blame,
over-promise, swear, use slang, shout, introduce themself, close.

Each detector is a small set of general English constructions (not phrases from any
particular contact centre), written as regular expressions over the turn text, sentence
by sentence. Every hit is an :class:`Act` with the character span that decided it, so a
report can quote and highlight it. All patterns are linear-time (no nested repetition) and
a turn is read at most :data:`MAX_CHARS` characters in.

The constructions, in words (the README's "How the detectors decide" shows examples):

* **apology**: *sorry*, *apologise/apologies*, *regret*, *excuse me*, unless it is refused
  ("please don't apologise"), a request to repeat ("sorry?"), or dismissive ("sorry you
  feel that way").
* **empathy**: words aimed at the person's feeling or situation. An apology that is
  intensified or personal ("I'm truly sorry", "sorry to hear", "sorry your…"), not a bare
  "sorry for the inconvenience"; naming or validating a feeling ("that sounds stressful",
  "… is exhausting", "anyone would feel anxious", "I'd be upset too", "it's natural to
  worry", "understandable"); understanding aimed at the situation ("I can see why", "I
  can only imagine", "I completely understand how/why…", not a bare "I understand.");
  exclamations of concern ("oh no", "what a scare"); concern for the person ("I'm glad
  you're safe", "I hope your mum feels better", "take care of yourself"). Dismissive forms
  ("sorry you feel that way", "calm down", "relax") are never empathy.
* **ownership**: the agent commits to an action or states the next step ("I'll send…",
  "I've refunded…", "let me check", "we'll call you", "you'll receive…"), not "we'll see"
  and not sending the customer elsewhere ("you will need to contact…").
* **blame**: responsibility put on the customer ("you should have…", "that's on you") or on
  someone else ("that's on the warehouse", "down to them, not us", "their responsibility,
  not ours", "not my department", "they never process…").
* **overpromise**: certainty about outcomes the agent does not control ("I guarantee",
  "100%", "definitely fixed by tomorrow", "for sure", "I promise"), unless negated ("I
  can't promise").
* **profanity**: swear words, masked forms ("f***", "a$$"), "pain in the ass", insults
  aimed at people ("idiot", "bunch of clowns", "don't be so dumb").
* **slang**: texting shorthand and slang unfit for service ("lol", "idk", "tbh", "u",
  "ur", "gonna", "yep", "k"), in any case, with letters repeated ("lolll") or dotted.
* **shouting**: three or more words in capitals in a row (acronyms of 2-4 letters alone
  are not shouting).
"""

from __future__ import annotations

import re
from functools import lru_cache
from dataclasses import dataclass
from typing import Callable, Iterable

MAX_CHARS = 20_000
"""A turn is read this far (a pasted log past it is not searched)."""


@dataclass(frozen=True)
class Act:
    """One thing a turn does, with the words that show it."""

    kind: str
    """apology, empathy, ownership, blame, overpromise, profanity, slang, shouting."""
    start: int
    """Character offsets of the deciding words in the turn text."""
    end: int
    text: str
    """Those words."""
    rule: str
    """Which construction matched, in plain words (``intensified apology``)."""


# ---------------------------------------------------------------- helpers
_SENT = re.compile(r"[^.!?\n]+[.!?]*")
_Q = r"['\u2019]"  # an apostrophe, straight or curly


def _rx(pattern: str) -> re.Pattern:
    return re.compile(pattern.replace("'", _Q), re.IGNORECASE)


@lru_cache(maxsize=8192)
def sentences(text: str) -> tuple[tuple[int, str], ...]:
    """(offset, sentence) pairs: split at . ! ? and line ends (cached per text: every
    detector splits the same agent turn)."""
    return tuple((m.start(), m.group(0)) for m in _SENT.finditer(text[:MAX_CHARS]) if m.group(0).strip())


_SIGNOFF = re.compile(
    r"(?:\s*(?:https?://\S+|www\.\S+"                      # a link
    r"|[\^*~/]\s?[A-Za-z][A-Za-z.]{0,20}"                     # "^AB", "*MS", "~Nick", "/YE"
    r"|[-\u2013\u2014]\s?[A-Z][a-z'\-]{1,20}(?:\s[A-Z][a-z'\-]{1,20})?(?:\s\d+/\d+)?"  # "-Steven", "- Rene"
    r"|\(?\d{1,2}/\d{1,2}\)?"                                 # "2/2", "(4/4)": a thread's part counter
    r"|[\U0001F300-\U0001FAFF\u2600-\u27BF\uFE0F]))+\s*$")
"""What social-media and chat agents put after their last words: sign-off initials or a
first name ("^AB", "*MS", "-Steven", "~Nick"), a link, a thread counter ("2/2"), emoji."""


_LINK = re.compile(r"https?://\S+|www\.\S+")


def mask_links(text: str) -> str:
    """``text`` with each link replaced by a full stop and spaces (same length, so offsets
    stay true): a link ends a sentence, and its dots split nothing."""
    if "http" not in text and "www." not in text:
        return text
    return _LINK.sub(lambda m: "." + " " * (len(m.group(0)) - 1), text)


def body_end(text: str) -> int:
    """Where a message's own words end: before a trailing sign-off, link, thread counter or
    emoji (:data:`_SIGNOFF`), so "Thanks! ^NP" and "Hope this helps: https://…" end on
    their words."""
    t = text[:MAX_CHARS]
    m = _SIGNOFF.search(t)
    end = m.start() if m else len(t)
    while end > 0 and t[end - 1].isspace():
        end -= 1
    return end


FEELINGS = (
    # feelings and hard experiences, as adjectives a person can be or a situation can be
    "frustrating|frustrated|annoying|annoyed|irritating|infuriating|maddening|upsetting|upset|"
    "stressful|stressed|worrying|worried|worry|anxious|nervous|nerve-wracking|scary|scared|"
    "frightening|frightened|terrifying|terrified|alarming|shaken|rattled|shocking|shocked|"
    "distressing|distressed|overwhelming|overwhelmed|exhausting|exhausted|draining|tiring|"
    "disappointing|disappointed|gutting|gutted|heartbreaking|heartbroken|devastating|devastated|"
    "painful|sad|awful|horrible|terrible|dreadful|horrid|miserable|hard|tough|difficult|rough|"
    "unfair|unacceptable|embarrassing|embarrassed|humiliating|inconvenient|concerning|concerned|"
    "panicky|panicking|uncomfortable|lonely|hurtful|hurt|angry|furious|fed up|unsettling|"
    "a worry|a shock|a scare|a nightmare|a hassle|a lot to deal with|not okay|not ok|"
    "not fair|no fun|not what you (?:booked|ordered|paid for|expected|needed|wanted)")
FEEL_STRONG = ("frustrating|infuriating|maddening|upsetting|stressful|worrying|nerve-wracking|scary|frightening|terrifying|"
               "distressing|overwhelming|exhausting|draining|disappointing|heartbreaking|devastating|embarrassing|humiliating|"
               "unsettling|a\\s+lot\\s+to\\s+deal\\s+with")
"""Feelings a situation causes in a person: "X is exhausting" is said of the customer's experience."""
_INTENS = r"(?:so|really|very|truly|terribly|deeply|genuinely|incredibly|awfully|extremely|sincerely|super|utterly|completely|totally|such|quite|pretty|understandably|bound to be|must be)"
_TO_BE = r"(?:is|was|'s|are|were|'re|sounds|sounded|seems|seemed|must be|must have been|can be|would be|'d be|feels|felt|looks)"

_DISMISSIVE = _rx(r"\b(?:sorry|apologi[sz]e)\s+(?:that\s+|if\s+)?you\s+(?:feel|felt|think|thought)\b"
                  r"|\bcalm\s+down\b|\brelax\b|\bdon't\s+(?:be\s+so\s+)?(?:overreact|dramatic)"
                  r"|\bno\s+need\s+to\s+(?:get|be)\s+(?:upset|angry|worked\s+up)")

# ---------------------------------------------------------------- apology
_APOLOGY = _rx(r"\b(?:sorry|apologi[sz]e[sd]?|apologi[sz]ing|apology|apologies|regret|regrettably|excuse\s+me|pardon)\b"
               # regret without the word "sorry": "I hate to see this", "we're sad to hear that"
               r"|\b(?:i|we)\s+(?:really\s+|truly\s+)?hate\s+(?:to\s+(?:see|hear|learn|read)|that|this)\b"
               r"|\b(?:sad|saddened|gutted|disappointed)\s+to\s+(?:see|hear|learn|read)\b")
_NOT_APOLOGY = _rx(r"\b(?:don't|do\s+not|no\s+need\s+to|never)\s+(?:need\s+to\s+)?apologi[sz]e"
                   r"|\bno\s+apology\s+(?:needed|necessary)"
                   r"|^\W*sorry\s*\?\s*$|\bsorry,?\s+(?:what|come\s+again|i\s+didn't\s+(?:catch|hear))"
                   r"|^\W*sorry,?\s+(?:hi|hello|hey)\b")


def apology(text: str) -> list[Act]:
    out = []
    for off, s in sentences(text):
        m = _APOLOGY.search(s)
        if not m or _NOT_APOLOGY.search(s) or _DISMISSIVE.search(s):
            continue
        out.append(Act("apology", off + m.start(), off + m.end(), m.group(0), "apology"))
    return out


# ---------------------------------------------------------------- empathy
_EMPATHY_RULES: list[tuple[str, re.Pattern]] = [
    ("intensified apology", _rx(
        rf"\b(?:i'm|i\s+am|we're|we\s+are|i|we)\s+(?:{_INTENS}\s+)+sorry\b|^\W*(?:{_INTENS}\s+)+sorry\b")),
    ("personal apology", _rx(
        r"\b(?:i|we)\s+(?:really\s+|truly\s+)?hate\s+to\s+(?:see|hear|learn|read)\b"
        r"|\b(?:sad|saddened)\s+to\s+(?:see|hear|learn|read)\b"
        r"|\bsorry\s+(?:to\s+(?:hear|see|learn|read)|for\s+your\s+loss"
        r"|(?:that\s+)?(?:you're|you\s+are|you\s+were|you've|you\s+have|you\s+had|you\s+went|you\s+got|your|you)\b"
        r"|about\s+your\b|for\s+(?:the\s+)?(?:stress|worry|scare|upset|distress|frustration|hassle|trouble\s+you|all\s+this|everything))")),
    ("names the feeling", _rx(
        rf"\b(?:that|this|it|which|what\s+you've\s+been\s+through|all\s+of\s+this)\s*{_TO_BE}\s+"
        rf"(?:{_INTENS}\s+|a\s+(?:really|very|bit|little)\s+|a\s+)?(?:\w+\s+)?(?:{FEELINGS})\b"
        rf"|\b(?:sounds|sounded|must\s+be|must\s+have\s+been|must\s+feel|can\s+be|can't\s+be)\s+(?:{_INTENS}\s+)*(?:{FEELINGS})\b"
        rf"|\b(?:is|was|are|were|'s|has\s+been|have\s+been)\s+(?:{_INTENS}\s+)*(?:{FEEL_STRONG})\b")),
    ("validates the feeling", _rx(
        rf"\b(?:anyone|anybody|everyone|i|we|most\s+people)\s+(?:would|'d|could)\s+(?:feel|be|get)\s+(?:\w+\s+)?(?:{FEELINGS})"
        rf"|\b(?:it's|it\s+is|that's|that\s+is|it\s+was|which\s+is)\s+(?:{_INTENS}\s+)?(?:natural|normal|understandable|fair|reasonable|only\s+natural)"
        rf"(?:\s+to\s+(?:feel|be|worry|want|ask|expect)|\s+reaction|[.!,])"
        rf"|\bunderstandabl[ey]\s+(?:{FEELINGS}|so|given)"
        rf"|\byou(?:'re|\s+are|'ve\s+been|\s+have\s+every)\s+(?:right|entitled)\s+to\s+(?:be|feel)"
        rf"|\byou've\s+been\s+(?:more\s+than\s+|very\s+|so\s+)?patient")),
    ("understands the situation", _rx(
        rf"\b(?:i|we)\s+(?:completely\s+|totally\s+|fully\s+|really\s+|can\s+(?:only\s+)?|do\s+)?(?:understand|imagine|see|hear|appreciate)\s+"
        rf"(?:how|why|what|that\s+(?:this|it|you)|being|your\s+(?:frustration|concern|worry|worries|disappointment|anger|stress)|you're|you\s+are|you'd)"
        rf"|\bi\s+can\s+(?:only\s+)?imagine\b|\bi\s+know\s+how\s+(?:\w+\s+){{0,3}}(?:{FEELINGS})"
        rf"|\bi\s+know\s+(?:you're|you\s+are)\s+(?:on|in|under|dealing)")),
    ("shares the feeling", _rx(
        r"\bi\s+(?:really\s+|truly\s+|totally\s+|completely\s+|do\s+|can\s+)?feel\s+(?:your\s+(?:pain|frustration)\b|for\s+you\b|you\s*(?=[.!,;]|$))"
        r"|\bi\s+know\s+(?:exactly\s+|just\s+)?(?:how\s+you(?:'re|\s+are|\s+must)?\s+(?:be\s+)?feel(?:ing)?\b"
        r"|what\s+you(?:'re|\s+are)\s+(?:going\s+through|feeling|dealing\s+with)\b|the\s+feeling\b)"
        r"|\bi(?:'ve|\s+have)\s+been\s+there\s+(?:myself|too)\b"
        r"|\bi\s+can\s+(?:totally\s+|really\s+|definitely\s+|completely\s+|so\s+)?relate\b(?!\s+(?:the|this|that|it|your|my|our|their|his|her|a|an|these|those)\b)")),
    ("exclaims concern", _rx(
        rf"(?:^|[.!?,]\s*)(?:oh\s+no|oh\s+dear|oh\s+goodness|goodness|oh\s+my)\b"
        rf"|\bwhat\s+an?\s+(?:{_INTENS}\s+)?(?:awful|horrible|terrible|rough|stressful|scary|worrying|frustrating|disappointing|upsetting|difficult|tough|hard|nightmare|scare|shock|ordeal|pain|mess|start|thing|experience|situation|day|morning|night|week)"
        rf"|\bhow\s+(?:{FEELINGS})\b")),
    ("concern for the person", _rx(
        r"\b(?:i'm|i\s+am|we're|we\s+are)\s+(?:so\s+|really\s+|very\s+)?(?:glad|relieved|pleased)\s+(?:to\s+hear\s+)?(?:that\s+)?"
        r"(?:you're|you\s+are|nobody|no\s+one|everyone|everybody|she's|he's|they're|your|you\s+(?:weren't|were\s+not|got|made))"
        r"|\bi\s+hope\s+(?:you(?:'re|\s+are|\s+feel|\s+get|r\b)|your\s+\w+|she|he|they|the\s+\w+\s+(?:is|are|goes|turns|comes|gets))"
        r"(?!\s+(?:have|has)\s+a\s+(?:great|good|nice|lovely)\s+(?:day|evening|weekend))"
        r"|(?:^|[.!?,]\s*)(?:i\s+)?(?:hope|hoping)\s+(?:that\s+)?(?:you(?:'re|\s+are)?|u)\s+(?:feel(?:ing)?|get(?:ting)?)\s+better\b"
        r"|(?:^|[.!?,]\s*)(?:hope|hoping)\s+your\s+\w+\s+(?:(?:is|are|'s)\s+)?(?:feel(?:s|ing)?|get(?:s|ting)?|is|are)\s+better\b"
        r"|\b(?:you're|you\s+are)\s+not\s+alone\b|\bi(?:'m|\s+am)\s+(?:always\s+|right\s+)?here\s+for\s+you\b"
        r"|\btake\s+care\s+of\s+(?:yourself|yourselves|you)\b|\bwishing\s+(?:you|your|him|her|them)\b[^.!?]{0,40}\b(?:recovery|better|calmer|well|soon)"
        r"|\bare\s+you\s+(?:ok|okay|alright|all\s+right|safe|hurt)\b|\bis\s+(?:everyone|everybody|he|she)\s+(?:ok|okay|alright|safe)\b"
        r"|\b(?:you're|you\s+are)\s+doing\s+(?:everything|great|well|the\s+right\s+thing)")),
]
_BARE_UNDERSTAND = _rx(r"^\W*(?:i\s+)?(?:completely\s+|totally\s+)?understand\W*$")


def _first_rule(kind: str, text: str, rules: list[tuple[str, re.Pattern]],
                skip: Callable[[str], object] | None = None) -> list[Act]:
    """One act per sentence: the first of ``rules`` that matches (sentences ``skip``
    rejects are passed over). The span is trimmed to start at a letter or digit and end
    before trailing spaces."""
    out = []
    for off, s in sentences(text):
        if skip is not None and skip(s):
            continue
        for rule, rx in rules:
            m = rx.search(s)
            if m:
                a, b = off + m.start(), off + m.end()
                while a < b and not text[a].isalnum():
                    a += 1
                while b > a and text[b - 1].isspace():
                    b -= 1
                out.append(Act(kind, a, b, text[a:b], rule))
                break
    return out


def empathy(text: str) -> list[Act]:
    return _first_rule("empathy", text, _EMPATHY_RULES,
                       lambda s: _DISMISSIVE.search(s) or _BARE_UNDERSTAND.match(s))


# ---------------------------------------------------------------- ownership
_AGENT_STEP = (r"help|assist|investigate|look|check|review|reach\s+out|follow\s+up|get\s+back|sort|fix|resolve|escalate|"
               r"take\s+a\s+(?:closer\s+)?look|dig|troubleshoot|advise|contact\s+you|reach\s+you|update\s+you|help\s+you")
"""What the agent's team does next for the customer (verbs; "we can help", "so we can investigate")."""
_AGENT_DOING = (r"looking\s+into|investigating|working\s+on|monitoring|reviewing|checking|following\s+up|escalating|"
                r"removing|fixing|introducing|rolling\s+out|updating|processing|arranging|sending|booking|raising|adding|"
                r"refunding|calling|pulling|chasing|testing|tracking")
"""Work in progress the agent reports ("we're looking into it")."""
_NOT_ACTION = (r"(?:see|need|have\s+to|be\s+able|try\s+and\s+see|let\s+you\s+know\s+if\s+we\s+can|not|never|can't|cannot|"
               # "we have a guide", "I have no record": possession, not a perfect ("I've sent")
               r"a|an|the|some|any|no|lots|plenty|more|several|many|this|that|these|those|our|your|their|its|\d+)\b")
_OWNERSHIP = _rx(
    rf"\b(?:i|we)(?:'ll|\s+will|'ve|\s+have|'m\s+going\s+to|\s+am\s+going\s+to|'re\s+going\s+to|\s+are\s+going\s+to|'d\s+like\s+to|\s+would\s+like\s+to|'m\s+(?:now\s+)?(?:arranging|sending|booking|checking|pulling|looking|calling|raising|escalating|adding|refunding|processing))"
    rf"\s+(?:also\s+|now\s+|just\s+|already\s+|personally\s+|gone\s+ahead\s+and\s+|go\s+ahead\s+and\s+)?(?!{_NOT_ACTION})[a-z]+"
    r"|\blet\s+me\s+(?:\w+\s+)?(?:check|look|see|find|sort|get|arrange|fix|book|pull|confirm|take|send|call|raise|escalate|help|update|investigate|chase|review|try)"
    r"|\b(?:you'll|you\s+will|you\s+should)\s+(?:\w+\s+)?(?:receive|get|see|hear|be\s+(?:refunded|credited|contacted))\b"
    r"|\b(?:is|are|has\s+been|have\s+been|was|were)\s+(?:now\s+)?(?:booked|issued|refunded|credited|cancelled|reserved|arranged|sent|raised|escalated|on\s+(?:its|their|the)\s+way|processed|restored|fixed|added|updated|removed|reversed|waived|scheduled|rebooked|lifted|on\s+hold)\b"
    r"|^\W*(?:(?:yeah|ok|okay|right),?\s+)?(?:done|all\s+done|sorted|added|booked|cancelled|canceled|refunded|sent|fixed|updated|transferring\s+you|putting\s+you\s+through|connecting\s+you)\b"
    # a colleague or team on the agent's side, committed: "someone on our team will reach out"
    rf"|\b(?:someone|somebody|a\s+member|a\s+specialist|an?\s+(?:agent|advisor|engineer|expert)|our\s+(?:\w+\s+)?(?:team|experts?|specialists?|agents?|advisors?|engineers?))"
    rf"(?:\s+\w+){{0,4}}?\s+(?:will|'ll|is\s+going\s+to|are\s+going\s+to)\s+(?:\w+\s+)?(?:{_AGENT_STEP}|call|contact|reply|be\s+in\s+touch)\b"
    r"|\b(?:i|we)\s+can\s+(?:now\s+|also\s+|certainly\s+|definitely\s+)?(?:confirm|book|arrange|offer|send|refund|put\s+you\s+through|transfer|issue|hold|reserve|move|switch|cancel|credit|waive|escalate|raise|order|replace|reschedule|rebook|"
    rf"{_AGENT_STEP})\b"
    # the agent's next step as the purpose of what the customer is asked to do: "DM us so we
    # can look into it", "… for us to investigate", "follow this link so that we can help you"
    rf"|\b(?:so\s+(?:that\s+)?|and\s+|then\s+)(?:i|we)\s+(?:can|could|may|will|'ll)\s+(?:\w+\s+)?(?:{_AGENT_STEP})\b"
    rf"|\bfor\s+(?:us|me|our\s+team)\s+to\s+(?:\w+\s+)?(?:{_AGENT_STEP})\b"
    # work in progress, said as "we" as often as "I": "we're looking into it", "we're monitoring"
    rf"|\b(?:i'm|i\s+am|we're|we\s+are)\s+(?:now\s+|currently\s+|already\s+|actively\s+|still\s+)*(?:{_AGENT_DOING})\b"
    # a future outcome in the passive: "the hold will be cancelled", "it'll be refunded"
    r"|\b(?:will|'ll|should)\s+(?:now\s+|then\s+|automatically\s+)?be\s+(?:cancelled|canceled|refunded|credited|processed|sent|fixed|applied|removed|reversed|reviewed|escalated|restored|replaced|resolved|released|reinstated|unlocked|investigated|updated|corrected|waived|shipped|dispatched)\b"
    r"|\b(?:i'm|i\s+am|we're|we\s+are|i|we)?\s*gonna\s+(?!have\s+to|need)(?:\w+)"
    r"|\b(?:we're|we\s+are|i'm|i\s+am|[a-z]+\s+(?:are|r|is))\s+(?:already\s+|now\s+)?on\s+it\b"
    r"|\b(?:it|this|they|the\s+\w+|your\s+\w+|payment|refund|replacement|engineer|driver)\s+(?:will|'ll|should)\s+(?:\w+\s+)?(?:reach|arrive|be\s+(?:with|there|back|delivered|sent|processed|credited|refunded|fixed|applied)|show\s+up|appear)\b")
_OFFER_Q = _rx(r"\W*(?:i|we)\s+can\b")
_ELSEWHERE = _rx(r"\byou(?:'ll|\s+will)\s+(?:need|have)\s+to\b|\bwe'll\s+see\b|\bi'll\s+see\s+what\b")


def ownership(text: str) -> list[Act]:
    out = []
    for off, s in sentences(text):
        for m in _OWNERSHIP.finditer(s):
            if _ELSEWHERE.search(s[max(0, m.start() - 5):m.end() + 12]):
                continue
            if _OFFER_Q.match(m.group(0)) and s.rstrip().endswith("?"):
                continue  # "Anything else I can help with?" offers, it commits to nothing
            out.append(Act("ownership", off + m.start(), off + m.end(), m.group(0).strip(), "commits to an action"))
            break
    return out


# ---------------------------------------------------------------- blame
_INSULTS = ("idiot|idiots|idiotic|stupid|dumb|moron|morons|moronic|clown|clowns|imbecile|cretin|loser|losers|pathetic|"
            "incompetent|useless|clueless|dimwit|numpty|muppet")
_PARTY = (r"(?:the\s+|our\s+|your\s+|their\s+|that\s+)?(?:[a-z]+\s+)?(?:team|department|dept|warehouse|courier|couriers|driver|drivers|"
          r"contractor|contractors|partner|partners|manufacturer|supplier|restaurant|store|shop|kitchen|hotel|airline|bank|provider|carrier|"
          r"post\s+office|royal\s+mail|system|engineers?|billing|accounts|it|tech|shipping|delivery\s+company|third\s+party|colleague|"
          r"agent|guy|person|installer|installers|technician|company)")
_BLAME_RULES: list[tuple[str, re.Pattern]] = [
    ("blames the customer", _rx(
        r"\byou\s+(?:should|shouldn't|should\s+not|ought\s+to|needed\s+to|were\s+supposed\s+to)\s+(?:have|'ve)\b(?!\s+(?:had\s+)?to\b)"
        r"|\b(?:your|ur)\s+(?:own\s+)?fault\b"
        # "that's on you", "it was down to you": a copula before it ("crashing on you" is not blame)
        r"|\b(?:that's|thats|that\s+is|that\s+was|that'll\s+be|it's|its|it\s+is|it\s+was|this\s+is|this\s+was|which\s+is|is|was)\s+(?:all\s+|entirely\s+|completely\s+|totally\s+|really\s+)?(?:on|down\s+to)\s+(?:you|u|the\s+customer)\b(?!\s+to\b)|\bit's\s+on\s+the\s+customer"
        r"|\bdid\s+(?:you|u)\s+(?:even|actually|not)\b|\byou\s+didn't\s+(?:read|check|follow|listen)|\bif\s+you\s+had\s+(?:read|checked|followed|listened)"
        r"|\b(?:as\s+)?i\s+(?:already\s+)?(?:told|said\s+to)\s+you\b|\bas\s+(?:i\s+)?(?:already\s+)?(?:stated|said|explained)\b")),
    ("puts it on someone else", _rx(
        rf"\b(?:that's|thats|that\s+is|that'll\s+be|it's|its|it\s+is|this\s+is|it'll\s+be|they're|they\s+are|that\s+was|it\s+was)\s+(?:\w+\s+)?(?:on|down\s+to|up\s+to|the\s+fault\s+of|the\s+responsibility\s+of)\s+{_PARTY}"
        r"|\b(?:not|isn't|n't)\s+(?:really\s+)?(?:on|down\s+to)\s+(?:us|me|our\s+end|our\s+side)\b"
        r"|\b(?:on|down\s+to)\s+(?:them|they|him|her)\b,?\s+not\s+(?:us|me)\b|\bnot\s+something\s+(?:i|we)\s+(?:do|handle|control|deal\s+with|can\s+change)\b"
        r"|\b(?:responsibility|fault|problem|issue|job|department|area|call)\b[^.!?]{0,20},?\s+not\s+(?:ours|mine|us|me)\b"
        r"|\bnot\s+(?:really\s+|exactly\s+)?(?:my|our)\s+(?:fault|problem|job|department|responsibility|area|issue|call)\b"
        r"|\b(?:their|the\s+\w+'s|\w+'s)\s+(?:fault|responsibility|problem|mistake|error)\b"
        r"|\b(?:that's|thats|that\s+is|it's|it\s+is)\s+(?:a|an)\s+(?:\w+\s+)?(?:issue|problem|matter)\s+(?:for|with)\s+(?:the|them|their)\b")),
    ("criticises a colleague or partner", _rx(
        rf"\b(?:they|{_PARTY})\s+(?:\w+\s+)?never\s+(?!fails?\b)\w+"
        rf"|\b(?:they|{_PARTY})\s+(?:\w+\s+)?(?:always|keep|keeps|constantly)\s+(?:\w+\s+)?(?:mess|lose|loses|forget|forgets|mark|marks|cancel|cancels|screw|drop|drops|mix|mixes|miss|misses|break|breaks|get\s+it\s+wrong)"
        rf"|\bthat'll\s+be\s+{_PARTY}\b"
        rf"|\b(?:they|{_PARTY})\s+(?:\w+\s+)?(?:messed|screwed|mucked|stuffed)\s+up|\b(?:they're|they\s+are|{_PARTY}\s+(?:is|are))\s+(?:really\s+|so\s+|very\s+|always\s+|notoriously\s+)?(?:slow|useless|hopeless|incompetent|terrible|clueless)"
        rf"|\bthey\s+do\s+that\s+(?:a\s+lot|all\s+the\s+time)"
        rf"|\b{_PARTY}\s+(?:is|are|'re)\s+(?:\w+\s+)?(?:a\s+bunch\s+of|such|total|complete)\s+(?:{_INSULTS})")),
]
_NO_BLAME = _rx(r"\b(?:isn't|is\s+not|wasn't|not)\s+(?:anyone|anybody|your)(?:'s)?\s+fault|\bno(?:body|\s+one)(?:'s)?\s+(?:is\s+)?(?:at\s+)?fault")


def blame(text: str) -> list[Act]:
    return _first_rule("blame", text, _BLAME_RULES, _NO_BLAME.search)


# ---------------------------------------------------------------- overpromise
_OVERPROMISE = _rx(
    r"\b(?:i|we)\s+(?:can\s+)?(?:absolutely\s+)?(?:guarantee|promise)\b"
    r"|\bguarantee[ds]?\b(?!\s+(?:period|terms|policy|covers|claim))|(?:^|,\s*|\.\s*)promise[.!]*\s*$"
    r"|(?<!reaches\s)(?<!reached\s)(?<!reach\s)(?<!\bto\s)(?<!\bat\s)(?<!\bby\s)(?<!\bof\s)(?<!\bis\s)(?<!\bup\s)\b100\s?(?:%|percent|per\s+cent)(?!\s+(?:of|refund|cashback|complete|charged|covered|renewable))"
    r"|\b(?:will|'ll|be|is|are|gets?|it's)\s+(?:\w+\s+){0,3}?(?:definitely|def|deffo|defo|certainly|absolutely|surely)\s+(?:be\s+)?(?:\w+\s+){0,2}?(?:fixed|back|sorted|resolved|there|arrive|arrives|delivered|working|online|done|finished|refunded|approved|tomorrow|today|tonight)"
    r"|\b(?:definitely|certainly|def|deffo|defo)\s+(?:will|be|get|arrive|fix|sort|have)\b"
    r"|\bfor\s+sure\b(?!\s*\?)|\bwithout\s+(?:a|any)\s+doubt\b|\bno\s+doubt\s+about\s+it\b"
    r"|\b(?:won't|will\s+never|never\s+will)\s+happen\s+again\b|\bevery\s+single\b")
_NOT_PROMISE = _rx(r"\b(?:can't|cannot|can\s+not|couldn't|won't|unable\s+to|not\s+able\s+to|don't|do\s+not|no)\s+(?:\w+\s+)?(?:guarantee|promise)"
                   r"|\bno\s+guarantee")


def overpromise(text: str) -> list[Act]:
    out = []
    for off, s in sentences(text):
        if _NOT_PROMISE.search(s):
            continue
        m = _OVERPROMISE.search(s)
        if m:
            out.append(Act("overpromise", off + m.start(), off + m.end(), m.group(0).strip(), "certainty about an outcome"))
    return out


# ---------------------------------------------------------------- profanity
_SWEARS = ("fuck|fucks|fucked|fucking|fuckin|motherfucker|shit|shits|shitty|bullshit|crap|crappy|damn|dammit|damned|goddamn|"
           "hell|bloody|bollocks|bugger|piss|pissed|pissing|arse|ass|asshole|arsehole|bastard|bitch|bitching|dick|prick|"
           "wanker|twat|cock|sucks|screw\\s+(?:you|that|this|it)|wtf|stfu|ffs|omfg")
_PROFANITY_RULES: list[tuple[str, re.Pattern]] = [
    ("vulgar idiom", _rx(r"\bpain\s+in\s+the\s+(?:ass|arse|a[\*\$]{2}|butt|backside|rear)\b|\bkick\s+(?:your|his|her|their)\s+(?:ass|arse|butt)"
                         r"|\bpiss(?:ed|ing)?\s+(?:off|about|around)\b|\bscrewed\s+(?:up|over)\b|\bsuck(?:s|ed)?\s+(?:big|so\s+much)")),
    ("swear word", re.compile(rf"(?<![\w@#/.])(?:{_SWEARS})(?![\w@/])", re.IGNORECASE)),
    ("masked swear word", re.compile(
        r"(?<![\w@])(?:f[\*#@!$%]{1,4}(?:k|ck|cking|ked|king|ing|ed)?|f[u\*][\*#@!$%]{1,3}(?:k|ed|ing|king)?|s[h\*][\*#@!$%]{1,3}t|"
        r"a[\$\*]{2}(?:hole)?|a[r\*][\*#@!$%]{1,3}e?|b[\*#@!$%]{1,3}(?:tch|h)|d[\*#@!$%]{1,3}n|c[\*#@!$%]{2,3}p|h[\*#@!$%]{2}l)(?![\w])",
        re.IGNORECASE)),
    ("insult", _rx(rf"\b(?:you|u|ur|you're|you\s+are|they're|they\s+are|bunch\s+of|what\s+an?|such\s+an?|be\s+so|so|that's|thats)\s+(?!not\b|never\b)(?:\w+\s+)?(?:{_INSULTS})\b"
                   rf"|\b(?:shut\s+up|get\s+lost|piss\s+off|bugger\s+off|sod\s+off)\b")),
]


def profanity(text: str) -> list[Act]:
    return _first_rule("profanity", text, _PROFANITY_RULES)


# ---------------------------------------------------------------- slang
SLANG_ALWAYS = ("lol|lmao|lmfao|rofl|idk|idc|tbh|smh|omg|omfg|btw|brb|bbl|imo|imho|afaik|fyi|np|cya|ty|thx|thnx|tnx|pls|plz|"
                "u|ur|r|ya|yah|yea|k|kk|mk|ok+ay+|bruh|bro|dude|gonna|wanna|gotta|kinda|sorta|dunno|lemme|gimme|ain't|y'all|"
                "coz|cuz|cos|nvm|ikr|jk|tho|thru|gr8|b4|2day|2moro|l8r|w/e|whatevs|nah|nope|yup|yep|yeah|yeh|cool|awesome|sup|"
                "wassup|no\\s+worries\\s+mate|no\\s+prob|no\\s+probs|my\\s+bad|chill|legit|totes|deffo|defo|obvs|sure\\s+thing")
SLANG_SPOKEN_OK = {"yeah", "yep", "yup", "nope", "nah", "ok", "okay", "cool", "awesome", "gonna", "wanna", "gotta", "kinda",
                   "sorta", "sure thing", "no prob", "no probs", "yea", "yeh", "chill", "alright"}
"""Said aloud on a call these are ordinary speech (and Whisper writes them so): slang only in writing."""
_SLANG = re.compile(rf"(?<![\w@#/.'\-^*~])(?:{SLANG_ALWAYS})(?![\w'@/\-]|\.\w)", re.IGNORECASE)
_REPEATS = re.compile(r"(\w)\1{2,}")


def slang(text: str, *, spoken: bool = False) -> list[Act]:
    out = []
    src = text[:MAX_CHARS]
    norm = _REPEATS.sub(r"\1\1", src) if _REPEATS.search(src) else src
    if len(norm) != len(src):  # offsets must stay the turn's: match word by word instead
        return _slang_words(src, spoken)
    for m in _SLANG.finditer(norm):
        w = m.group(0)
        low = w.lower()
        if spoken and (low in SLANG_SPOKEN_OK or re.fullmatch(r"ok+ay+", low)):
            continue
        if low in ("ok", "okay") and not spoken:
            continue  # plain "ok" is not slang in writing either
        if low == "r" and not _between_words(src, m.start(), m.end()):
            continue
        if low == "k" and not _alone(src, m.start(), m.end()):
            continue
        if low in ("u", "ur") and w.isupper() and len(src) > 1 and src[m.end():m.end() + 1] == ".":
            continue  # "U.S."
        if low in ("cool", "awesome", "sure thing") and not _starts_sentence(src, m.start()):
            continue  # "a cool, dry place": slang only as a reply word
        out.append(Act("slang", m.start(), m.end(), w, "texting shorthand or slang"))
    return out


def _slang_words(text: str, spoken: bool) -> list[Act]:
    out = []
    for m in re.finditer(r"[\w']+", text):
        if m.start() and text[m.start() - 1] in "^*~/@#.-":
            continue  # a sign-off ("^NP"), a handle, a path: as in :data:`_SLANG`
        w = _REPEATS.sub(r"\1", m.group(0))
        for a in slang(w, spoken=spoken):
            out.append(Act("slang", m.start(), m.end(), m.group(0), a.rule))
    return out


def _between_words(text: str, a: int, b: int) -> bool:
    return bool(re.search(r"\w\s+$", text[max(0, a - 20):a])) and bool(re.match(r"\s+\w", text[b:b + 20]))


def _alone(text: str, a: int, b: int) -> bool:
    """'k' as a whole reply or clause ("k", "k, thanks"), not "Plan K"."""
    before = text[max(0, a - 3):a].strip()
    return (not before or before[-1] in ".!?,:;") and not text[a:b].isupper() or text.strip().lower() == "k"


def _starts_sentence(text: str, a: int) -> bool:
    before = text[:a].rstrip()
    return not before or before[-1] in ".!?,:;" or bool(re.search(r"(?:^|[.!?]\s*)\W*\w+[,!]?\s*$", before)) and len(before) < 3


# ---------------------------------------------------------------- shouting
_CAPS = re.compile(r"\b[A-Z][A-Z'’]{1,}(?:[\s,]+[A-Z][A-Z'’]{1,}){2,}\b")


def shouting(text: str) -> list[Act]:
    out = []
    for m in _CAPS.finditer(text[:MAX_CHARS]):
        words = re.findall(r"[A-Z'’]+", m.group(0))
        if sum(len(w) >= 3 for w in words) >= 2:
            out.append(Act("shouting", m.start(), m.end(), m.group(0), "words in capitals"))
    return out


# ---------------------------------------------------------------- registry
DETECTORS: dict[str, Callable[..., list[Act]]] = {
    "apology": apology, "empathy": empathy, "ownership": ownership, "blame": blame,
    "overpromise": overpromise, "profanity": profanity, "slang": slang, "shouting": shouting,
}
"""Act kind → detector (text → acts)."""

NEVER = {
    "apology": "never apologised or expressed regret",
    "empathy": "never acknowledged the customer's feeling or situation",
    "ownership": "never committed to an action or stated the next step",
    "blame": "never blamed the customer, a colleague, another team or a partner",
    "overpromise": "never promised an outcome with certainty it cannot guarantee",
    "profanity": "never swore or insulted",
    "slang": "never used slang or texting shorthand",
    "shouting": "never wrote in capitals",
}
"""Act kind → what a turn without it did not do (for reasons)."""

DESCRIPTIONS = {
    "apology": "apologises or expresses regret",
    "empathy": "acknowledges the customer's feeling or situation",
    "ownership": "commits to an action or states the next step",
    "blame": "blames the customer, a colleague, another team or a partner",
    "overpromise": "promises an outcome with certainty it cannot guarantee",
    "profanity": "swears or insults",
    "slang": "uses slang or texting shorthand",
    "shouting": "writes in capitals",
}


def detect(kind: str, text: str, *, spoken: bool = False) -> list[Act]:
    if kind == "slang":
        return slang(text, spoken=spoken)
    return DETECTORS[kind](text)
