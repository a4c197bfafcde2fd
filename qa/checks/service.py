"""Checks built on the detectors (:mod:`qa.acts`, :mod:`qa.affect`, :mod:`qa.situation`):
agent_act, empathy_response, introduction, closing, personal_details, wait_updates."""

from __future__ import annotations

import bisect
import re
from functools import lru_cache
from typing import Literal

from pydantic import Field

from .. import situation
from ..acts import DESCRIPTIONS, NEVER, Act, body_end, mask_links, sentences
from ..phrases import PhraseSet
from . import (BaseOptions, Check, Context, Evidence, Outcome, Window, evidence, failed, fmt_s, na, passed,
               register, short_list)
from .text import _phrase_list, agent_intro
from .timing import HOLD_THANKS

MAX_EVIDENCE = 5
ActKind = Literal["apology", "empathy", "ownership", "blame", "overpromise", "profanity", "slang", "shouting"]


def _act_ev(ctx: Context, found: list[tuple[int, Act]], polarity: str) -> list[Evidence]:
    return [evidence(ctx.conv, i, polarity, (a.start, a.end),
                     note=f"{'what broke the rule' if polarity == 'negative' else 'what counted'}: {a.rule}")
            for i, a in found[:MAX_EVIDENCE]]


def _with_phrases(ctx: Context, kind: str, extra: PhraseSet | None, turns: list[int] | None = None
                  ) -> list[tuple[int, Act]]:
    """Acts of ``kind`` in agent turns (all, or ``turns``), plus the rubric's own phrases."""
    found = [(i, a) for i, acts in situation.acts(ctx, kind).items() for a in acts
             if turns is None or i in turns]
    if extra:
        agent = [i for i, t in enumerate(ctx.conv.turns) if t.speaker == "agent"] if turns is None else turns
        for h in extra.find(ctx.nlp, agent):
            found.append((h.turn_index, Act(kind, h.start, h.end, ctx.conv.turns[h.turn_index].text[h.start:h.end],
                                            f"the rubric's phrase '{h.phrase}'")))
    found.sort(key=lambda x: (x[0], x[1].start))
    return found


# ---------------------------------------------------------------- agent_act
class AgentActOptions(BaseOptions):
    act: ActKind
    """What the agent does: apology, empathy, ownership, blame, overpromise, profanity, slang, shouting."""
    mode: Literal["any", "none"] = "any"
    """any: pass when the agent does it at least once; none: fail when the agent does it."""
    window: Window | None = None
    """Where to look (first_turns / last_turns / first_seconds / last_seconds)."""
    extra_phrases: list[str] = Field(default_factory=list)
    """More wordings that count, matched like the phrases check (any form of the words)."""


@register
class AgentAct(Check):
    name = "agent_act"
    summary = ("What the agent's words do (apologise, acknowledge feelings, own the next step, blame, "
               "over-promise, swear, use slang, shout), found by general language rules.")
    Options = AgentActOptions

    def __init__(self, options: AgentActOptions, analyzer):
        super().__init__(options, analyzer)
        self.extra = PhraseSet(_phrase_list(options.extra_phrases), analyzer) if options.extra_phrases else None

    def explain(self) -> str:
        o = self.options
        what = DESCRIPTIONS[o.act]
        extra = f" (also: {short_list(o.extra_phrases)})" if o.extra_phrases else ""
        where = f" {o.window.describe('agent')}" if o.window else ""
        if o.mode == "any":
            return f"Passes when the agent {what}{where}{extra}."
        return f"Fails when the agent {what}{where}{extra}."

    def run(self, ctx: Context) -> Outcome:
        o = self.options
        idx, why = ctx.select("agent", o.window)
        if idx is None:
            return na(why or "no agent turns")
        found = _with_phrases(ctx, o.act, self.extra, idx if o.window else None)
        what = DESCRIPTIONS[o.act]
        if o.mode == "any":
            if found:
                i, a = found[0]
                return passed(f"the agent {what}: '{a.text}' (turn {i + 1})", _act_ev(ctx, found, "positive"))
            return failed(f"the agent {NEVER[o.act]}", [evidence(
                ctx.conv, idx[-1], "negative", note=f"the agent's last message; the agent {NEVER[o.act]}")])
        if not found:
            return passed(f"the agent {NEVER[o.act]}")
        i, a = found[0]
        more = f" and {len(found) - 1} more" if len(found) > 1 else ""
        return failed(f"the agent {what}: '{a.text}' (turn {i + 1}, {a.rule}){more}", _act_ev(ctx, found, "negative"))


# ---------------------------------------------------------------- empathy_response
class EmpathyOptions(BaseOptions):
    within_turns: int = Field(default=2, ge=1)
    """How many agent turns after the customer's distress may hold the acknowledgement."""
    min_share: float = Field(default=1.0, gt=0, le=1)
    """Share of the distress moments that must be acknowledged to pass."""
    extra_acknowledgements: list[str] = Field(default_factory=list)
    """More wordings that count as acknowledging the feeling (any form of the words)."""


@register
class EmpathyResponse(Check):
    name = "empathy_response"
    summary = ("When the customer voices distress (frustration, worry, fear, sadness, anger, urgency, "
               "repeated failure, loss), the agent acknowledges the feeling or situation in words aimed at "
               "the person within the next agent turns; N/A when the customer voiced none.")
    Options = EmpathyOptions

    def __init__(self, options: EmpathyOptions, analyzer):
        super().__init__(options, analyzer)
        self.extra = (PhraseSet(_phrase_list(options.extra_acknowledgements), analyzer)
                      if options.extra_acknowledgements else None)

    def explain(self) -> str:
        o = self.options
        return (f"When the customer voices distress, the agent must acknowledge it (\"that sounds stressful\", "
                f"\"I'm so sorry to hear that\", \"I'd be upset too\") within the next {o.within_turns} agent "
                "turn(s); a bare \"sorry for the inconvenience\" or \"I understand.\" is not enough, and "
                "dismissive words (\"sorry you feel that way\", \"calm down\") never count. N/A when the "
                "customer voices no distress.")

    def run(self, ctx: Context) -> Outcome:
        o = self.options
        conv = ctx.conv
        if not ctx.has_customer:
            return na("no customer turns")
        states = situation.customer_affect(ctx)
        agent_idx = [i for i, t in enumerate(conv.turns) if t.speaker == "agent"]
        # moments: distressed customer turns; consecutive ones with no agent turn between merge
        moments: list[int] = []
        last_agent_seen = True
        for i, t in enumerate(conv.turns):
            if t.speaker == "agent":
                last_agent_seen = True
            elif i in states and states[i].is_distress and last_agent_seen:
                moments.append(i)
                last_agent_seen = False
        if not moments:
            return na("no empathy needed: " + situation.NOT_HOLDING["distress"])
        acks: dict[int, Act] = {}
        for i, a in _with_phrases(ctx, "empathy", self.extra):
            acks.setdefault(i, a)
        acked, missed = [], []
        for m in moments:
            k = bisect.bisect_right(agent_idx, m)
            window = agent_idx[k:k + o.within_turns]
            found = next(((i, acks[i]) for i in window if i in acks), None)
            if found:
                acked.append((m, found))
            elif not window:
                continue  # the customer's last words: nobody could answer them
            else:
                missed.append((m, window[0]))
        if not acked and not missed:
            return na("no empathy needed in time: the customer's distress came in their last message")

        def cust_ev(m: int, pol: str) -> Evidence:
            st = states[m]
            span = (st.cues[0].start, st.cues[0].end) if st.cues else None
            return evidence(conv, m, pol, span, note="the customer's distress")

        def said(m: int) -> str:
            st = states[m]
            if st.cues:
                return f"'{conv.turns[m].text[st.cues[0].start:st.cues[0].end]}'"
            words = ", ".join(w for w, v in st.top_words[:3] if v > 0)
            return f"distress (words: {words})" if words else "distress"

        ev: list[Evidence] = []
        for m, reply in missed[:2]:
            ev.append(cust_ev(m, "negative"))
            ev.append(evidence(conv, reply, "negative",
                               note="the agent's reply, which did not acknowledge it"))
        for m, (i, a) in acked[:2]:
            ev.append(cust_ev(m, "positive"))
            ev.append(evidence(conv, i, "positive", (a.start, a.end),
                               note="the agent acknowledged the feeling"))
        total = len(acked) + len(missed)
        share = len(acked) / total
        extra = f" ({len(acked)} of {total} moments)" if total > 1 else ""
        if share >= o.min_share - 1e-9:
            m, (i, a) = acked[0]
            return passed(f"the customer voiced {said(m)} in turn {m + 1}; the agent acknowledged it "
                          f"('{a.text}', {a.rule}) in turn {i + 1}{extra}", ev, share)
        m, reply = missed[0]
        return failed(f"the customer voiced {said(m)} in turn {m + 1}; no acknowledgement of the feeling in the "
                      f"next {o.within_turns} agent turn(s) (turn {reply + 1} went straight on){extra}", ev, share)


# ---------------------------------------------------------------- introduction
class IntroductionOptions(BaseOptions):
    window: Window = Field(default_factory=lambda: Window(first_turns=2))
    """Where the agent must give their name (default: their first 2 turns)."""


@register
class Introduction(Check):
    name = "introduction"
    summary = ("The agent gives their own name near the start (\"I'm Michelle\", \"this is Sam from…\", "
               "\"Ryan here\", a sign-off \"^SK\"): a name, not just \"this is\".")
    Options = IntroductionOptions

    def explain(self) -> str:
        return (f"Passes when the agent gives their own name {self.options.window.describe('agent')} "
                "(\"my name is Sam\", \"I'm Sam\", \"this is Sam from Acme\", \"Sam here\", a \"^Sam\" sign-off).")

    def run(self, ctx: Context) -> Outcome:
        idx, why = ctx.select("agent", self.options.window)
        if idx is None:
            return na(why or "no agent turns")
        hit = agent_intro(ctx, idx)
        if hit:
            i, a, b = hit
            return passed(f"the agent introduced themself as '{ctx.conv.turns[i].text[a:b]}' (turn {i + 1})",
                          [evidence(ctx.conv, i, "positive", (a, b))])
        return failed(f"the agent did not give their name {self.options.window.describe('agent')}",
                      [evidence(ctx.conv, idx[0], "negative", note="no name given here")])


# ---------------------------------------------------------------- closing
CLOSINGS = ["thank you for contacting", "thanks for contacting", "thank you for calling", "thanks for calling",
            "thanks for reaching out", "thank you for reaching out", "thanks for getting in touch",
            "thank you for getting in touch", "thanks for chatting", "thank you for chatting",
            "thank you for choosing", "thanks for choosing", "thanks for your patience",
            "thank you for your patience", "thanks for bearing with", "thank you for bearing with",
            "thanks for letting us know", "thank you for letting us know", "thanks for your time",
            "thank you for your time", "thank you for your email", "thanks for your message",
            "anything else", "is there anything", "can i help with anything", "let us know if", "let me know if",
            "have a great", "have a good", "have a nice", "have a lovely", "have a wonderful", "have a brilliant",
            "have a safe", "have fun", "enjoy", "take care", "good luck", "all the best", "best wishes",
            "wishing you", "i hope", "hope you", "hope your", "hope the", "goodbye", "good bye", "kind regards",
            "best regards", "warm regards", "many thanks", "you're welcome", "you are welcome", "my pleasure",
            "happy to help", "glad i could help", "glad we could help", "glad to help", "any time",
            "don't hesitate", "do not hesitate", "feel free to",
            # good wishes as social-media and chat agents write them: "Hope this helps!",
            # "Stay safe!", "We're here if you need us", "Looking forward to seeing you"
            "hope this", "hope that", "hope it", "hope these", "stay safe", "stay well", "keep safe",
            "here if you need", "here whenever you need", "here when you need", "here for you",
            "look forward to", "wish you", "wish your",
            # an open door: "DM us anytime", "Reach back out if needed"
            "anytime", "reach back out", "reach out again", "if you need anything"]

_THANKS_END = re.compile(r"^\W*(?:(?:and|so|again|once\s+again),?\s+)?(?:many\s+)?(?:thanks|thank\s+you|thx|cheers)"
                         r"(?:\s+(?:so\s+much|very\s+much|again|in\s+advance|a\s+lot)|\s+(?:for|and)\b[^.!?]{0,40}"
                         r"|,?\s+(?-i:[A-Z][a-z'\-]+))?[.!]*\W*$",
                         re.IGNORECASE)
"""A message whose last sentence thanks the customer ("Thanks!", "Thank you!", "Thanks in
advance!", "Thanks and stay safe") closes courteously (its sign-off aside)."""


_FAREWELL = re.compile(r"\b(?:bye|goodbye|you\s+too|cheers|thanks|thank\s+you|take\s+care|ta-ra|see\s+you)\b", re.IGNORECASE)


class ClosingOptions(BaseOptions):
    phrases: list[str] = Field(default_factory=lambda: list(CLOSINGS))
    """What counts as a courteous close (thanks for contacting, offers more help, wishes them well)."""
    extra_phrases: list[str] = Field(default_factory=list)
    """Added to the built-in phrases."""
    short_words: int = Field(default=3, ge=0)
    """A last agent turn of at most this many words that is a farewell ("bye", "you too") lets the turn before it hold the close."""


@register
class Closing(Check):
    name = "closing"
    summary = ("The agent's last message closes courteously (thanks, offers more help, wishes them well); "
               "a \"thanks\" mid-conversation is no closing; N/A when the customer left before the agent could close.")
    Options = ClosingOptions

    def __init__(self, options: ClosingOptions, analyzer):
        super().__init__(options, analyzer)
        self.set = PhraseSet(_phrase_list(options.phrases + options.extra_phrases), analyzer)

    def explain(self) -> str:
        return (f"Passes when the agent's last message closes courteously ({short_list(self.options.phrases, 4)}); "
                "a bare \"bye\", \"k\" or \"Noted.\" is no closing. N/A when the conversation ends with the "
                "customer leaving after an agent message that was not a closing.")

    def run(self, ctx: Context) -> Outcome:
        conv = ctx.conv
        agent = [i for i, t in enumerate(conv.turns) if t.speaker == "agent"]
        if not agent:
            return na("no agent turns")
        last = agent[-1]
        look = [last]
        if ctx.n_words(last) <= self.options.short_words and len(agent) > 1:
            look.insert(0, agent[-2])  # "Have a great day!" … "Bye!" / "I won't :)"
        hits = [h for h in self.set.find(ctx.nlp, look) if not _opens(conv, agent[0], h)]
        if hits:
            h = hits[-1]
            return passed(f"the agent closed with '{conv.turns[h.turn_index].text[h.start:h.end]}' (turn {h.turn_index + 1})",
                          [evidence(conv, h.turn_index, "positive", (h.start, h.end))])
        span = _thanks_at_end(conv.turns[last].text)
        if span:
            return passed(f"the agent closed with '{conv.turns[last].text[span[0]:span[1]]}' (turn {last + 1})",
                          [evidence(conv, last, "positive", span)])
        ended_by_customer = any(t.speaker == "customer" for t in conv.turns[last + 1:])
        if ended_by_customer:
            c = max(i for i, t in enumerate(conv.turns) if t.speaker == "customer")
            return na(f"the customer left before the agent could close (their last message, turn {c + 1}, "
                      "came after the agent's last)")
        return failed(f"the agent's last message (turn {last + 1}) is no courteous close",
                      [evidence(conv, last, "negative",
                                note="the agent's last message, with no courteous close")])


def _opens(conv, first_agent: int, h) -> bool:
    """A closing phrase in the opening sentence of the agent's first message ("Thanks for
    reaching out, Jessica! You can check…") is the greeting, not the close; it still closes
    when nothing follows it."""
    if h.turn_index != first_agent:
        return False
    text = conv.turns[first_agent].text
    sents = sentences(mask_links(text[:body_end(text)]))
    if len(sents) < 2:
        return False
    off, first = sents[0]
    if len(first.split()) <= 3 and len(sents) > 2:  # "Hi there! Happy to help! …": the opening is two short sentences
        off, second = sents[1]
        return h.start < off + len(second)
    return h.start < off + len(first)


def _thanks_at_end(text: str) -> tuple[int, int] | None:
    """The span of a thanks that ends the message (sign-off, link and emoji aside), or None."""
    end = body_end(text)
    sents = sentences(mask_links(text[:end]))
    if not sents:
        return None
    off, last = sents[-1]
    if len(sents) == 1 and len(last.split()) > 8:
        return None  # a one-sentence message that thanks for something is no sign-off
    if _THANKS_END.match(last):
        a = off + len(last) - len(last.lstrip())
        return a, off + len(last.rstrip())
    return None


# ---------------------------------------------------------------- personal_details
_TOKEN = re.compile(r"[A-Za-z][A-Za-z'\u2019\-]*[A-Za-z]|[£$€]?\d[\d,.:/\-]*(?:am|pm|h|kg|gb|mb|%)?|[A-Z]{1,5}-?\d[\w\-]*",
                    re.UNICODE)
GENERIC_WORDS = set("""
about above account accounts actually added address after again agent all also always am an and any anything app
appointment are area around as ask asked at available away back bank be because been before being best better bill
billing booking both but buy by call called calling calls can cannot card case change changed chat check checked
claim claims come company confirm contact contacted could customer customers day days dear details did do does doing
done down each email emails else even every fee fees few find first fix for from get getting give go going good got
great had has have having hello help here hi how however if in information into is issue issues it its just know last
let like line look looking made make many may me message messages might minute minutes mobile month months more morning
most much my need needed new next no not now number of off on once one only or order orders other our out over
payment phone plan please problem problems reference refund request right said same say says see sent service
should since so some someone something soon sorry still such support sure system take team than thank thanks that
the their them then there these they thing things think this those through time times to today told too try trying
two under until up update us use used very via want wanted was way we week weeks well were what when where which
while who why will with within without work working would yes yet you your yours
""".split())
"""Words every service conversation uses: reusing them is not personalisation."""


_DIGIT = re.compile(r"\d")
_CONTRACTION = ("'re", "'ve", "'ll")


@lru_cache(maxsize=8192)
def _content(text: str) -> dict[str, tuple[int, int]]:
    """Specific words of a text (names, places, items, numbers, dates): lower-cased key →
    first span. Generic service words and short words are left out. (Cached per text:
    callers must not change the dict.)"""
    out: dict[str, tuple[int, int]] = {}
    for m in _TOKEN.finditer(text[:20_000]):
        key = m.group(0).lower().replace("\u2019", "'").rstrip(".,")
        if "n't" in key or key.endswith(_CONTRACTION):
            continue
        if key.endswith("'s"):
            key = key[:-2]
        if key.endswith("s") and len(key) > 4 and not key.endswith("ss"):
            key = key[:-1]
        if not _DIGIT.search(key) and (len(key) < 4 or key in GENERIC_WORDS):
            continue
        if key not in out:
            out[key] = (m.start(), m.end())
    return out


_HANDLE_OR_LINK = re.compile(r"https?://\S+|www\.\S+|[\w.+\-]+@[\w\-]+\.[\w.\-]+|(?<!\w)@\w+")
_CAMEL = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def _unlinked(text: str) -> str:
    """``text`` with links, e-mail addresses and @handles blanked out (same length, so
    offsets stay true): a link's words ("https", "support", the brand's domain) and the
    handles a reply starts with are no details the customer gave."""
    if "@" not in text and "http" not in text and "www." not in text:
        return text
    return _HANDLE_OR_LINK.sub(lambda m: " " * len(m.group(0)), text)


def brand_words(ctx: Context) -> set[str]:
    """The words of the brand's and the agent's own names: the agent id and name, the team,
    and every @handle in the conversation, split at capitals, digits and underscores
    ("@TeamYouTube" gives team, you, tube, teamyou, youtube, teamyoutube). Every reply
    says them; they are nobody's personal detail."""
    cached = ctx.scratch.get("brand_words")
    if cached is None:
        conv = ctx.conv
        names = [conv.agent_id or "", conv.agent_name or "", conv.team or ""]
        for t in conv.turns:
            if "@" in t.text:
                names += re.findall(r"(?<!\w)@(\w+)", t.text)
        cached = set()
        for n in names:
            for chunk in re.split(r"[\s_\-.]+", n):
                parts = [p.lower() for p in _CAMEL.findall(chunk)]
                for a in range(len(parts)):
                    for b in range(a + 1, len(parts) + 1):
                        cached.add("".join(parts[a:b]))
        ctx.scratch["brand_words"] = cached
    return cached


class PersonalDetailsOptions(BaseOptions):
    min_details: int = Field(default=1, ge=1)
    """How many of the customer's own specifics (names, places, items, numbers, dates) the agent must reuse."""
    ignore: list[str] = Field(default_factory=list)
    """Words that never count (your brand and product names, which every reply says)."""


@register
class PersonalDetails(Check):
    name = "personal_details"
    summary = ("The agent refers back to specifics the customer gave (their item, place, date, amount, "
               "people, situation), measured as the customer's own content words reused in later agent turns; "
               "template text and generic service words do not count.")
    Options = PersonalDetailsOptions

    def explain(self) -> str:
        return (f"Passes when the agent reuses at least {self.options.min_details} specific words the customer "
                "said first (their item, place, date, amount, people), not generic service words.")

    def run(self, ctx: Context) -> Outcome:
        conv = ctx.conv
        if not ctx.has_customer:
            return na("no customer turns")
        ignore = {w.lower() for w in self.options.ignore} | brand_words(ctx)
        from .text import _name_parts, customer_name

        name = customer_name(ctx)[0]
        ignore |= {p.lower() for p in _name_parts(name)} if name else set()  # name_usage judges the name
        said_by_agent: set[str] = set()
        given: dict[str, tuple[int, tuple[int, int]]] = {}
        reused: list[tuple[str, int, tuple[int, int]]] = []
        seen: set = set()
        for i, t in enumerate(conv.turns):
            if t.speaker == "customer":
                for k, span in _content(_unlinked(t.text)).items():
                    if k not in said_by_agent and k not in given and k not in ignore:
                        given[k] = (i, span)
            elif t.speaker == "agent":
                for off, sent in sentences(mask_links(t.text)):
                    if not _YOU.search(sent):
                        continue  # details count when said to the customer about them
                    words = _content(_unlinked(sent))
                    for k, (a, b) in words.items():
                        if k in given and k not in seen:
                            seen.add(k)
                            reused.append((k, i, (off + a, off + b)))
                    fact = _ACCOUNT_FACT.search(sent)
                    if fact and ("fact", i) not in seen:
                        seen.add(("fact", i))
                        reused.append((f"fact:{i}", i, (off + fact.start(), off + fact.end())))
                said_by_agent |= _content(_unlinked(t.text)).keys()
        n = self.options.min_details
        ev = [evidence(conv, i, "positive", span) for _, i, span in reused[:MAX_EVIDENCE]]
        shown = ", ".join(f"'{conv.turns[i].text[s[0]:s[1]]}'" for _, i, s in reused[:4])
        if len(reused) >= n:
            return passed(f"the agent referred to the customer's own details: {shown}", ev)
        if not given and not reused:
            return na("the customer gave no specifics to refer back to")
        got = f" (only {shown})" if reused else ""
        agent = [i for i, t in enumerate(conv.turns) if t.speaker == "agent"]
        neg = [evidence(conv, agent[-1], "negative", note="the agent's last message")] if agent else []
        what = "none" if n == 1 else f"fewer than {n}"
        return failed(f"the agent referred to {what} of the customer's own details{got}",
                      ev + neg, len(reused) / n)


_YOU = re.compile(r"\b(?:you|your|yours|you're|you've|you'll|you'd|u|ur)\b", re.IGNORECASE)
_MONTHS = ("january|february|march|april|may|june|july|august|september|october|november|december|"
           "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec|monday|tuesday|wednesday|thursday|friday|"
           "saturday|sunday|tomorrow|tonight")
_ACCOUNT_FACT = re.compile(rf"\byour\s+(?:[\w\-]+\s+){{0,4}}?[\w\-]+\b[^.!?]{{0,60}}?(?:[£$€]\s?\d[\d,.]*|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:{_MONTHS})\b|\b(?:{_MONTHS})\b|\b\d[\d,.:]*\s?(?:am|pm|gb|mb|%|minutes|hours|days)\b)",
                           re.IGNORECASE)
# ---------------------------------------------------------------- wait_updates
ANNOUNCE = ["let me check", "let me look", "let me find", "let me pull up", "let me see", "one moment", "a moment",
            "one sec", "one second", "a second", "just a sec", "bear with me", "please wait", "hold on", "on hold",
            "brief hold", "give me a minute", "give me a moment", "give me", "a few minutes", "a couple of minutes",
            "couple of minutes", "may take", "might take", "will take", "takes a few", "i'll be right back",
            "i'll come back", "i'll come straight back", "i'll update you", "i'll keep you posted", "back with you",
            "back to you", "while i check", "while i look", "checking with", "check with", "i'm checking",
            "i am checking", "i'm going to", "i am going to", "i need to check", "still checking", "still looking",
            "short hold", "quick hold", "put you on", "pop you on", "place you on",
            "still working on", "almost there", "nearly there", "more minutes", "more minute"]
# announcing a chat wait is not only a call's "hold" (the word alone, as in "held at the depot",
# announces nothing), so ANNOUNCE stands alone; every way to thank for a hold also acknowledges a wait
ACKNOWLEDGE = HOLD_THANKS + ["thanks for bearing with", "thank you for bearing with", "sorry for keeping you",
                             "apologies for the wait", "appreciate you waiting", "sorry for the delay",
                             "still checking", "still looking", "still working on", "almost there", "nearly there",
                             "more minutes", "more minute", "thanks for hanging on", "thank you for hanging on"]


class WaitUpdatesOptions(BaseOptions):
    limits_s: dict[Literal["chat", "social", "voice"], float] = Field(
        default_factory=lambda: dict(situation.WAIT_LIMITS_S))
    """A wait on the agent longer than this (per channel) must be handled (calls: silence)."""
    announce_phrases: list[str] = Field(default_factory=lambda: list(ANNOUNCE))
    """How an agent announces a wait or gives an update ("let me check", "two more minutes")."""
    acknowledge_phrases: list[str] = Field(default_factory=lambda: list(ACKNOWLEDGE))
    """How an agent acknowledges a wait after it ("thanks for waiting") or breaks it with an update."""
    first_reply: bool = True
    """False: the wait for the agent's first reply is left to ``first_response`` (social media,
    where a first reply within the hour is good service and cannot be announced)."""


@register
class WaitUpdates(Check):
    name = "wait_updates"
    summary = ("Every long wait on the agent (chat and social over 3 min, calls over 15 s of silence) is "
               "announced or broken by an update, and acknowledged after (\"thanks for waiting\"); a slow first "
               "reply cannot be announced. N/A when the customer never waited long.")
    Options = WaitUpdatesOptions
    timing = True

    def __init__(self, options: WaitUpdatesOptions, analyzer):
        super().__init__(options, analyzer)
        self.announce = PhraseSet(_phrase_list(options.announce_phrases), analyzer)
        self.ack = PhraseSet(_phrase_list(options.acknowledge_phrases), analyzer)

    def explain(self) -> str:
        lim = ", ".join(f"{ch} {fmt_s(s)}" for ch, s in self.options.limits_s.items())
        return (f"Every wait on the agent longer than the channel's limit ({lim}) must be announced "
                f"({short_list(self.options.announce_phrases, 3)}) or broken by an update, and acknowledged "
                f"after ({short_list(self.options.acknowledge_phrases, 2)}). N/A without long waits or timestamps.")

    def run(self, ctx: Context) -> Outcome:
        conv = ctx.conv
        if conv.channel not in self.options.limits_s:
            return na(f"waits are not judged on {conv.channel}")
        if not ctx.has_timestamps:
            return na(f"the {conv.channel} has no timestamps, so waits cannot be measured")
        found = situation.waits(ctx, dict(self.options.limits_s))
        if not self.options.first_reply:
            first = next((i for i, t in enumerate(conv.turns) if t.speaker == "agent"), None)
            found = [w for w in found if first is not None and w.reply > first]
        if not found:
            later = "" if self.options.first_reply else " after the first reply"
            return na(f"no wait over {fmt_s(self.options.limits_s[conv.channel])} on the agent{later}")
        bad, good = [], []
        for w in found:
            # announced by the agent's last turn before the wait, even when the customer
            # answered it ("I'll pop you on a short hold, is that alright?" / "Sure.")
            said = next((j for j in range(w.after, -1, -1) if conv.turns[j].speaker == "agent"), None)
            announced = said is not None and bool(self.announce.find(ctx.nlp, [said]))
            acked = bool(self.ack.find(ctx.nlp, [w.reply]))
            (good if announced and acked else bad).append((w, announced, acked, said))
        ev: list[Evidence] = []
        for w, announced, acked, said in bad[:2]:
            at_turn = said if announced else w.after
            who = "the agent's" if conv.turns[at_turn].speaker == "agent" else "the customer's"
            ev.append(evidence(conv, at_turn, "negative", note=(
                f"{who} message; the wait of {fmt_s(w.seconds)} began here"
                + (", announced" if announced else ", unannounced"))))
            ev.append(evidence(conv, w.reply, "negative", note=(
                f"the agent's reply after a {fmt_s(w.seconds)} wait"
                + ("" if acked else ", with no word about the wait"))))
        for w, _, _, said in good[:2]:
            ev.append(evidence(conv, said, "positive", note=f"the wait of {fmt_s(w.seconds)} announced"))
            ev.append(evidence(conv, w.reply, "positive",
                               note=f"the agent's reply after a {fmt_s(w.seconds)} wait, acknowledging it"))
        score = len(good) / len(found)
        n = len(found)
        if not bad:
            return passed(f"{n} wait{'s' if n > 1 else ''} over {fmt_s(self.options.limits_s[conv.channel])}, "
                          "each announced and acknowledged", ev, score)
        w, announced, acked, _ = max(bad, key=lambda b: b[0].seconds)
        if not announced and conv.turns[w.after].speaker != "agent":
            why = "unannounced (the customer's message went unanswered)"
        elif not announced:
            why = "not announced"
        else:
            why = "announced but not acknowledged after"
        first = " (the first reply)" if not any(t.speaker == "agent" for t in conv.turns[:w.reply]) else ""
        return failed(f"a {fmt_s(w.seconds)} wait for the agent before turn {w.reply + 1}{first} was {why}"
                      + (f"; {len(bad)} of {n} waits unhandled" if n > 1 else ""), ev, score)
