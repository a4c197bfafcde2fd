"""Checks that read what was said: phrases, patterns, name_usage, filler_rate."""

from __future__ import annotations

import bisect
import re
from typing import Any, Literal

from pydantic import Field, model_validator

from ..phrases import Hit, PhraseSet
from . import (BaseOptions, Check, CheckOptionsError, Context, Outcome, Window, Speaker, evidence, failed, na,
               passed, register, short_list)

MAX_EVIDENCE = 5
_NER_WINDOW = 300
"""Characters either side of a name candidate that the entity recogniser sees."""


def _ev(ctx: Context, hits: list[Hit], polarity: str, note: str | None = None):
    return [evidence(ctx.conv, h.turn_index, polarity, (h.start, h.end), note=note)
            for h in hits[:MAX_EVIDENCE]]


def _missing_here(ctx: Context, idx: list[int], where: str):
    """Evidence for a phrase that was not said: the first turn looked at, and where."""
    who = ctx.conv.turns[idx[0]].speaker
    return evidence(ctx.conv, idx[0], "negative",
                    note=f"the {who}'s {'first ' if len(idx) > 1 else ''}turn looked at ({where}): "
                         "not said here")


def _phrase_list(v: list[str]) -> list[str]:
    for i, p in enumerate(v):
        if not p.strip():
            raise ValueError(f"phrase {i + 1} is empty; remove it")
    return v


# ---------------------------------------------------------------- phrases
class PhrasesOptions(BaseOptions):
    speaker: Speaker = "agent"
    """Whose turns to search: agent, customer or any."""
    window: Window | None = None
    """first_turns / last_turns / first_seconds / last_seconds: where to look."""
    any: list[str] | None = None
    """Pass when at least one of these phrases is said."""
    all: list[str] | None = None
    """Pass when every one of these phrases is said (score: the share said)."""
    none: list[str] | None = None
    """Pass when none of these phrases is said (forbidden language)."""
    match: Literal["lemma", "exact"] = "lemma"
    """lemma: "apologise" also matches "apologized", "apologies"; exact: the words as written."""
    min_count: int = Field(default=1, ge=1)
    """With any: how many times one of the phrases must be said."""

    @model_validator(mode="after")
    def _one_list(self) -> "PhrasesOptions":
        given = [k for k in ("any", "all", "none") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one phrase list: any:, all: or none: "
                             f"(found {', '.join(given) if given else 'none of them'})")
        lst = getattr(self, given[0])
        if not lst:
            raise ValueError(f"the {given[0]}: list is empty; add phrases")
        _phrase_list(lst)
        return self


@register
class Phrases(Check):
    name = "phrases"
    summary = "Looks for phrases (any / all / none of a list) in a speaker's turns."
    Options = PhrasesOptions

    def __init__(self, options: PhrasesOptions, analyzer):
        super().__init__(options, analyzer)
        self.kind = "any" if options.any is not None else "all" if options.all is not None else "none"
        lst = getattr(options, self.kind)
        if self.kind == "all":
            self.sets = [PhraseSet([p], analyzer, options.match) for p in lst]
        self.set = PhraseSet(lst, analyzer, options.match)
        self.phrases = lst

    def explain(self) -> str:
        o = self.options
        where = o.window.describe(o.speaker) if o.window else f"in any {o.speaker} turn" if o.speaker != "any" else "anywhere"
        how = "words as written" if o.match == "exact" else "any form of the words"
        verb = {"any": "says at least one of", "all": "says all of", "none": "never says any of"}[self.kind]
        who = "the speaker" if o.speaker == "any" else f"the {o.speaker}"
        times = f" (at least {o.min_count} times)" if self.kind == "any" and o.min_count > 1 else ""
        return f"Passes when {who} {verb} {short_list(self.phrases, 6)} {where}{times} ({how})."

    def run(self, ctx: Context) -> Outcome:
        o = self.options
        idx, why = ctx.select(o.speaker, o.window)
        if idx is None:
            return na(why or "nothing to look at")
        where = o.window.describe(o.speaker) if o.window else (
            f"in any {o.speaker} turn" if o.speaker != "any" else "in any turn")
        if self.kind == "any":
            hits = self.set.find_in(ctx, idx)
            if len(hits) >= o.min_count:
                h = hits[0]
                return passed(f"'{h.phrase}' said in turn {h.turn_index + 1}", _ev(ctx, hits, "positive"))
            found = f" (said {len(hits)} time{'s' if len(hits) != 1 else ''}, need {o.min_count})" if hits else ""
            ev = _ev(ctx, hits, "negative") if hits else [_missing_here(ctx, idx, where)]
            return failed(f"none of {short_list(self.phrases)} {where}{found}", ev)
        if self.kind == "none":
            hits = self.set.find_in(ctx, idx)
            if not hits:
                return passed(f"none of {short_list(self.phrases)} {where}")
            h = hits[0]
            more = f" and {len(hits) - 1} more" if len(hits) > 1 else ""
            return failed(f"'{ctx.conv.turns[h.turn_index].text[h.start:h.end]}' in turn {h.turn_index + 1}{more}",
                          _ev(ctx, hits, "negative", "the phrase that broke the rule"))
        found: list[Hit] = []
        missing: list[str] = []
        for phrase, ps in zip(self.phrases, self.sets):
            hits = ps.find_in(ctx, idx)
            if hits:
                found.append(hits[0])
            else:
                missing.append(phrase)
        score = len(found) / len(self.phrases)
        if not missing:
            return passed(f"all {len(self.phrases)} phrases said {where}", _ev(ctx, found, "positive"))
        ev = _ev(ctx, found, "positive") or [_missing_here(ctx, idx, where)]
        return failed(f"{short_list(missing)} not said {where}", ev, score)


# ---------------------------------------------------------------- patterns
class PatternsOptions(BaseOptions):
    speaker: Speaker = "agent"
    window: Window | None = None
    patterns: list[list[dict[str, Any]]] = Field(min_length=1)
    """spaCy Matcher token patterns, e.g. [{LOWER: could}, {LOWER: you}, {POS: VERB}]."""
    mode: Literal["any", "none"] = "any"
    """any: pass when a pattern matches; none: fail when one does."""


def _keys(obj: Any) -> set[str]:
    """Every key used in a token pattern, upper-cased (nested ones included)."""
    out: set[str] = set()
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.add(str(k).upper())
            out |= _keys(v)
    elif isinstance(obj, list):
        for v in obj:
            out |= _keys(v)
    return out


_TAGGER_KEYS = {"POS", "TAG", "MORPH"}
_UNAVAILABLE = {"DEP": "the parser is not loaded (use POS, TAG or LEMMA)",
                "HEAD": "the parser is not loaded (use POS, TAG or LEMMA)",
                "SENT_START": "sentence boundaries are not parsed",
                "IS_SENT_START": "sentence boundaries are not parsed",
                "ENT_TYPE": "entities are not recognised in every turn (use phrases or name_usage)",
                "ENT_IOB": "entities are not recognised in every turn",
                "ENT_ID": "entities are not recognised in every turn",
                "ENT_KB_ID": "entities are not recognised in every turn",
                "REGEX": "slow regular expressions could stall scoring (use IN: [..] lists, LOWER or LEMMA)",
                "_": "custom extension attributes are not set by qa"}


@register
class Patterns(Check):
    name = "patterns"
    summary = "spaCy Matcher token patterns (lemma, part of speech, …) in a speaker's turns."
    Options = PatternsOptions
    needs = frozenset({"lemma", "doc"})

    @classmethod
    def validate_options(cls, data):
        opts = super().validate_options(data)
        problems = []
        for i, p in enumerate(opts.patterns):
            bad = sorted(_keys(p) & set(_UNAVAILABLE))
            for k in bad:
                problems.append((("patterns", i), f"{k} is not allowed in patterns: {_UNAVAILABLE[k]}"))
        if problems:
            raise CheckOptionsError(problems)
        from spacy.lang.en import English
        from spacy.matcher import Matcher

        matcher = Matcher(English().vocab, validate=True)
        for i, p in enumerate(opts.patterns):
            try:
                matcher.add(f"p{i}", [p])
            except Exception as exc:  # spaCy's own validation message
                msg = " ".join(str(exc).split())
                msg = re.sub(r"^\[E\d+\]\s*", "", msg)
                problems.append((("patterns", i), f"not a valid token pattern: {msg[:300]} "
                                 "(see https://spacy.io/usage/rule-based-matching)"))
        if problems:
            raise CheckOptionsError(problems)
        return opts

    @classmethod
    def needs_for(cls, options: PatternsOptions) -> frozenset[str]:
        if any(_keys(p) & _TAGGER_KEYS for p in options.patterns):
            return frozenset({"lemma", "doc", "pos"})
        return cls.needs

    def __init__(self, options: PatternsOptions, analyzer):
        super().__init__(options, analyzer)
        from spacy.matcher import Matcher

        self.matcher = Matcher(analyzer.nlp.vocab)
        for i, p in enumerate(options.patterns):
            self.matcher.add(f"p{i}", [p])

    def explain(self) -> str:
        o = self.options
        where = o.window.describe(o.speaker) if o.window else f"in any {o.speaker} turn"
        verb = "matches" if o.mode == "any" else "never matches"
        return f"Passes when the {o.speaker} {verb} one of {len(o.patterns)} token pattern(s) {where}."

    def run(self, ctx: Context) -> Outcome:
        o = self.options
        idx, why = ctx.select(o.speaker, o.window)
        if idx is None:
            return na(why or "nothing to look at")
        docs = ctx.nlp.docs()
        hits = []
        for i in idx:
            for _, s, e in self.matcher(docs[i]):
                span = docs[i][s:e]
                hits.append(Hit(i, span.start_char, span.end_char, span.text))
        where = o.window.describe(o.speaker) if o.window else f"in any {o.speaker} turn"
        if o.mode == "any":
            if hits:
                return passed(f"pattern matched '{hits[0].phrase}' in turn {hits[0].turn_index + 1}",
                              _ev(ctx, hits, "positive"))
            return failed(f"no pattern matched {where}", [_missing_here(ctx, idx, where)])
        if hits:
            return failed(f"'{hits[0].phrase}' in turn {hits[0].turn_index + 1}",
                          _ev(ctx, hits, "negative", "the words that broke the rule"))
        return passed(f"no pattern matched {where}")


# ---------------------------------------------------------------- name_usage
NAME_CUES = ["my name is", "my name's", "name is", "this is", "it is", "it's", "i am", "i'm",
             "call me", "speaking", "here"]
_STOP_NAMES = {"i", "the", "a", "an", "not", "so", "just", "very", "calling", "here", "sorry",
               "really", "trying", "having", "still", "also", "from", "with", "at", "in", "on",
               "mr", "mrs", "ms", "miss", "dr", "hi", "hello", "yes", "no", "ok", "okay"}
_TITLE = {"mr", "mrs", "ms", "miss", "dr", "mister"}


class NameUsageOptions(BaseOptions):
    min_uses: int = Field(default=1, ge=1)
    """How many agent turns must use the customer's name."""
    use_entities: bool = True
    """Confirm names the customer gives with spaCy's PERSON entities."""
    window: Window | None = None
    """Where the agent must use the name (after it is known)."""


_CUE_RE = re.compile(r"\b(?i:my name(?:'s| is)|name is|this is|it's|it is|i am|i'm|call me)[ \t]+"
                     r"((?:(?i:mr|mrs|ms|miss|dr|mister)\.?[ \t]+)?[A-Z][\w'\-]+(?:[ \t]+[A-Z][\w'\-]+)?)")


def customer_name(ctx: Context, use_entities: bool = True) -> tuple[str | None, int | None, tuple | None]:
    """The customer's name: (name, turn where given or None if from metadata, span)."""
    cached = ctx.scratch.get("customer_name")
    if cached is not None:
        return cached
    conv = ctx.conv
    name = conv.customer_name or (conv.metadata or {}).get("customer_name")
    result: tuple = (None, None, None)
    if isinstance(name, str) and name.strip():
        result = (name.strip(), None, None)
    else:
        cands = []
        cust = [(i, t.text) for i, t in enumerate(conv.turns) if t.speaker == "customer"]
        # one pass over all customer turns (joined by newlines; a name never spans two)
        joined = "\n".join(text for _, text in cust)
        bases, pos = [], 0
        for _, text in cust:
            bases.append(pos)
            pos += len(text) + 1
        for m in _CUE_RE.finditer(joined):
            k = bisect.bisect_right(bases, m.start(1)) - 1
            i, base = cust[k][0], bases[k]
            first = m.group(1)
            if not first[0].isupper():
                continue
            word = first.split()[0].lower().rstrip(".")
            if word in _STOP_NAMES and word not in _TITLE:
                continue
            cands.append((i, m.start(1) - base, m.end(1) - base, first))
        if not cands:
            # a name given as a signature ("- Dee", "Raj" on its own last line) or as the
            # answer to the agent's "can I take your name?"
            prev_agent = None
            for i, t in enumerate(conv.turns):
                if t.speaker == "agent":
                    prev_agent = t.text
                    continue
                if t.speaker != "customer":
                    continue
                m = None
                if prev_agent is not None and _ASKS_NAME_RE.search(prev_agent[-300:]):
                    m = _ANSWER_NAME_RE.search(t.text[:200])
                if m is None and conv.channel in ("email", "social"):
                    m = _SIGNATURE_RE.search(t.text[-200:])
                    if m is not None:
                        off = max(0, len(t.text) - 200)
                        m = (m.start(1) + off, m.end(0) + off)
                if m is not None and not isinstance(m, tuple):
                    m = (m.start(1), m.end(0))
                if m is not None:
                    word = t.text[m[0]:m[1]].strip(" ,.!\n")
                    if word and word.split()[0].lower() not in _NOT_NAMES | _STOP_NAMES:
                        cands.append((i, m[0], m[0] + len(word), word))
                        result = (word, i, (m[0], m[0] + len(word)))
                        break
            if result[0]:
                ctx.scratch["customer_name"] = result
                return result
        if cands:
            confirmed = None
            # "my name is X" / "call me X" need no confirmation; "this is X" / "I'm X" do
            for i, s, e, text in cands:
                head = conv.turns[i].text[max(0, s - 15):s].lower()
                if "name" in head or "call me" in head:
                    confirmed = (i, s, e, text)
                    break
            if confirmed is None and use_entities:
                from ..nlp import entities

                # spaCy's entity recogniser confirms the first candidate that is a PERSON
                # (on a window around the candidate: a pasted 5 MB message is not parsed whole)
                for i, s, e, text in cands[:5]:
                    turn_text = conv.turns[i].text
                    w0 = max(0, s - _NER_WINDOW)
                    window = turn_text[w0:e + _NER_WINDOW]
                    for a, b, label in entities([window])[0]:
                        a, b = a + w0, b + w0
                        if label == "PERSON" and a < e and b > s:
                            confirmed = (i, max(a, s), min(b, e), turn_text[max(a, s):min(b, e)])
                            break
                    if confirmed:
                        break
            elif confirmed is None:
                confirmed = cands[0]
            if confirmed:
                i, s, e, text = confirmed
                result = (text.strip(), i, (s, e))
    ctx.scratch["customer_name"] = result
    return result


_NOT_NAMES = {"there", "team", "everyone", "all", "again", "sir", "madam", "mate", "folks", "guys", "friend",
              "customer", "you", "so", "much", "very", "thanks", "thank", "welcome", "back", "and", "for", "from",
              "both", "again", "too", "hope", "good", "great", "happy", "sorry", "please", "yes", "no", "ok", "okay",
              "just", "now", "today", "then", "here", "this", "that", "the", "a", "an", "i", "we", "it", "is",
              "morning", "afternoon", "evening", "night", "day", "bye", "goodbye", "cheers", "regards", "kind",
              "best", "dear", "hi", "hello", "hey"}
_VOCATIVE_RE = re.compile(
    r"(?:^|[.!?\n]\s*|@\w+\s+)[\u00a1\u00bf]?(?i:hi|hello|hey|dear|thanks|thank\s+you|good\s+(?:morning|afternoon|evening)|morning|"
    r"welcome(?:\s+back)?|sorry|of\s+course|absolutely|great|perfect)[,!]?\s+([A-Z][a-z'\u2019\-]{1,20})\b(?![ \t]+[A-Z])"
    r"|,\s+([A-Z][a-z'\u2019\-]{1,20})(?:\s+(?:Jr|Sr)\.?)?\s*[.!?](?:\s|$)"
    # the name opening a reply, set off by a dash: "@edgar_o Edgar - sorry for the delay"
    r"|(?:^|@\w+\s+)([A-Z][a-z'\u2019\-]{1,20})\s+[-\u2013\u2014]\s")
_SIGNATURE_RE = re.compile(r"(?:\n\s*|\s[-\u2013\u2014~]\s?)([A-Z][a-z'\-]{1,20})(?:[ \t]+[A-Z][a-z'\-]{1,20})?\s*$")
_ASKS_NAME_RE = re.compile(r"(?i:your\s+(?:full\s+)?name|who\s+am\s+i\s+speaking|name\s+for\s+the|take\s+a\s+name|who's\s+calling)")
_ANSWER_NAME_RE = re.compile(r"^\W*(?:(?i:it's|it\s+is|this\s+is|i'm|i\s+am|yes,?|yeah,?|sure,?)\s+)?([A-Z][a-z'\-]{1,20})(?:[ \t]+[A-Z][a-z'\-]{1,20})?\s*(?:[,.!]|$)")


def agent_vocative(ctx: Context) -> tuple[int, int, int] | None:
    """The first place the agent addresses the customer by a first name ("Hi Jesse,",
    "You're welcome, Ruth."): (turn, start, end), or None. The agent's own name (from their
    introduction) is not a vocative."""
    cached = ctx.scratch.get("vocative", False)
    if cached is not False:
        return cached
    own = {n.lower() for n in agent_names(ctx)}
    found = None
    for i, t in enumerate(ctx.conv.turns):
        if t.speaker != "agent":
            continue
        for m in _VOCATIVE_RE.finditer(t.text[:5000]):
            g = next(k for k in (1, 2, 3) if m.group(k))
            word = m.group(g)
            if word.lower() in _NOT_NAMES or word.lower() in own:
                continue
            found = (i, m.start(g), m.end(g))
            break
        if found:
            break
    ctx.scratch["vocative"] = found
    return found


_INTRO_RE = re.compile(
    r"(?i:\bmy\s+name(?:'s|\u2019s|\s+is)|\bi'm|\bi\u2019m|\bi\s+am|\bthis\s+is|\byou(?:'re|\u2019re|\s+are)\s+(?:speaking|chatting|through)\s+(?:with|to)|\bit's|\bit\u2019s)"
    r"\s+([A-Z][a-z'\-]{1,20})\b(?![ \t]+[A-Z][a-z])"
    r"|(?:^|[,.!]\s+)([A-Z][a-z'\-]{1,20})(?i:\s+(?:here|speaking))\b"
    r"|(?:^|\s)\^([A-Z]{1,3}|[A-Z][a-z]{1,20})\s*$")
_INTRO_STOP = _NOT_NAMES | {"afraid", "glad", "happy", "sorry", "calling", "here", "pleased", "delighted", "going",
                            "looking", "checking", "not", "really", "still", "just", "also", "able", "unable", "sure",
                            "certain", "confident", "the", "your", "our"}


def agent_intro(ctx: Context, turns: list[int]) -> tuple[int, int, int] | None:
    """Where the agent gives their own name in these turns: (turn, start, end), or None."""
    for i in turns:
        text = ctx.conv.turns[i].text[:5000]
        for m in _INTRO_RE.finditer(text):
            g = next(k for k in (1, 2, 3) if m.group(k))
            if m.group(g).lower() in _INTRO_STOP:
                continue
            return i, m.start(g), m.end(g)
    return None


def agent_names(ctx: Context) -> list[str]:
    """Names the agent gives for themself (introduction, sign-off) in any turn."""
    cached = ctx.scratch.get("agent_names")
    if cached is None:
        cached = []
        if ctx.conv.agent_name:
            cached.append(ctx.conv.agent_name.split()[0])
        for i, t in enumerate(ctx.conv.turns):
            if t.speaker == "agent":
                hit = agent_intro(ctx, [i])
                if hit:
                    cached.append(t.text[hit[1]:hit[2]])
        ctx.scratch["agent_names"] = cached
    return cached


def _name_parts(name: str) -> list[str]:
    parts = [p.strip(".,") for p in name.split() if p.strip(".,")]
    parts = [p for p in parts if p.lower() not in _TITLE]
    return parts


@register
class NameUsage(Check):
    name = "name_usage"
    summary = ("The agent uses the customer's name (from metadata, or where the customer gives "
               "it: \"my name is …\", \"this is …\").")
    Options = NameUsageOptions
    needs = frozenset({"lemma", "ner"})

    def explain(self) -> str:
        n = self.options.min_uses
        return (f"Passes when the agent uses the customer's name in at least {n} turn{'s' if n > 1 else ''}. "
                "The name comes from the metadata (customer_name) or from the customer's own words "
                "(\"my name is …\"); N/A when the name is never known.")

    def run(self, ctx: Context) -> Outcome:
        o = self.options
        if not ctx.has_customer and not ctx.conv.customer_name:
            return na("no customer turns")
        name, given_at, span = customer_name(ctx, o.use_entities)
        if not name:
            voc = agent_vocative(ctx)
            if voc is not None:
                i, a, b = voc
                return passed(f"the agent addressed the customer by name ('{ctx.conv.turns[i].text[a:b]}', "
                              f"turn {i + 1}); the name is not in the metadata",
                              [evidence(ctx.conv, i, "positive", (a, b))])
            return na("the customer's name is not known (not in the metadata, never given in the conversation)")
        parts = _name_parts(name)
        if not parts:
            return na(f"the customer's name '{name}' has no usable part")
        # first name, last name, or the whole name; whole words, any case
        rx = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(p) for p in sorted(parts, key=len, reverse=True))
                        + r")(?!\w)", re.IGNORECASE)
        idx, why = ctx.select("agent", o.window)
        if idx is None:
            return na(why or "no agent turns")
        start = given_at if given_at is not None else -1
        hits = []
        for i in idx:
            if i <= start:
                continue
            m = rx.search(ctx.conv.turns[i].text)
            if m:
                hits.append(Hit(i, m.start(), m.end(), m.group(0)))
        source = "from the metadata" if given_at is None else f"given in turn {given_at + 1}"
        ev_given = [evidence(ctx.conv, given_at, "positive", span)] if given_at is not None else []
        if len(hits) >= o.min_uses:
            return passed(f"customer's name '{hits[0].phrase}' ({source}) used in turn {hits[0].turn_index + 1}",
                          _ev(ctx, hits, "positive"))
        after = " after it was given" if given_at is not None else ""
        neg = [evidence(ctx.conv, i, "negative", note="the agent could have used the name here")
               for i in idx if i > start][:1]
        used = f" (used {len(hits)} time(s), need {o.min_uses})" if hits else ""
        return failed(f"the agent never used the customer's name '{name}' ({source}){after}{used}",
                      ev_given + neg, len(hits) / o.min_uses)


# ---------------------------------------------------------------- filler_rate
DEFAULT_FILLERS = ["um", "umm", "uh", "uhh", "erm", "er", "hmm", "you know", "i mean", "like, ",
                   "basically", "literally", "sort of", "kind of"]


class FillerOptions(BaseOptions):
    fillers: list[str] = Field(default_factory=lambda: [f for f in DEFAULT_FILLERS if "," not in f])
    """Filler words and phrases (matched as written, lower case)."""
    max_per_100_words: float = Field(default=3.0, ge=0)
    """Pass at or below this many fillers per 100 agent words."""
    zero_at_per_100_words: float | None = Field(default=None, gt=0)
    """Score falls linearly to 0 at this rate (default: 3 × max_per_100_words)."""
    min_words: int = Field(default=30, ge=1)
    """N/A when the agent said fewer words than this."""


@register
class FillerRate(Check):
    name = "filler_rate"
    summary = "Filler words (um, uh, you know …) per 100 agent words, against a maximum."
    Options = FillerOptions

    def __init__(self, options: FillerOptions, analyzer):
        super().__init__(options, analyzer)
        self.set = PhraseSet(options.fillers, analyzer, "exact")

    def explain(self) -> str:
        o = self.options
        return (f"Passes when the agent says at most {o.max_per_100_words:g} fillers per 100 words "
                f"({short_list(o.fillers, 5)}).")

    def run(self, ctx: Context) -> Outcome:
        o = self.options
        idx = [i for i, t in enumerate(ctx.conv.turns) if t.speaker == "agent"]
        if not idx:
            return na("no agent turns")
        words = sum(ctx.n_words(i) for i in idx)
        if words < o.min_words:
            return na(f"the agent said only {words} words (fewer than {o.min_words})")
        hits = self.set.find_in(ctx, idx)
        rate = 100.0 * len(hits) / words
        zero = o.zero_at_per_100_words or max(3 * o.max_per_100_words, o.max_per_100_words + 1)
        if rate <= o.max_per_100_words:
            return passed(f"{len(hits)} fillers in {words} agent words ({rate:.1f} per 100, max "
                          f"{o.max_per_100_words:g})", _ev(ctx, hits, "negative") if hits else [])
        score = max(0.0, 1 - (rate - o.max_per_100_words) / (zero - o.max_per_100_words))
        return failed(f"{len(hits)} fillers in {words} agent words ({rate:.1f} per 100, max "
                      f"{o.max_per_100_words:g})", _ev(ctx, hits, "negative"), score)
