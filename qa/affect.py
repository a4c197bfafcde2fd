"""The customer's state in each of their turns: distress (with the words that show it) and
sentiment.

Two parts decide, and both say which words did it:

* **Rules** over the turn's words (general English constructions, not phrases from any one
  contact centre). Each hit is a :class:`DistressCue` with its character span, a kind and a
  weight:

  - *feelings*: frustration ("frustrated", "fed up", "sick of", "at my wits' end", "pulling
    my hair out"), anger ("angry", "furious", "livid"), worry ("worried", "anxious",
    "panicking", "stressed", "breathing down my neck"), fear ("scared", "terrified",
    "petrified"), sadness ("upset", "devastated", "heartbroken", "in tears");
  - *urgency that hurts* ("urgent", "asap", "emergency", "desperate", "I need it today",
    "in an hour", "money's tight", "stranded");
  - *repeated failure*: an ordinal or count with *time(s)* ("third time", "5 times"),
    "still not / still no / still waiting", "yet again", "(it's) broken again", "keeps
    crashing", "over and over", "for weeks now";
  - *loss*: "lost / deleted / wiped / stolen / disappeared / missing" about the customer's
    things ("I lost my saved game", "my photos are gone"), not hypothetical ("what if I
    lose my card?").

  An intensifier just before a cue ("really", "so", "extremely", "absolutely") raises its
  weight. A cue in the scope of a negation (up to four words after *not*, *n't*, *no*,
  *never*, *nothing*, *without*, within the clause) is dropped, so "not angry, just
  confused", "no worries" and "not worried, just checking" are not distress, while "not
  upset with you, but I'm exhausted" is (the negation does not cross *but* or a comma).
  Cues inside a conditional or hypothetical clause ("if", "in case", "what if") are dropped.

  Also: *hardship* ("I have literally nothing", "on crutches", "meant to be at my sister's
  wedding"), negated positives ("not impressed", "never again"), distress emoji.

* **A learned model**: NB-weighted logistic regression over words, word pairs,
  negation-marked words ("not" + "happy" gives ``NEG_happy``), the 3-5 character n-grams
  inside each word (unseen forms such as "frustratingly" or "soooo" are read by their
  parts), plus VADER lexicon shares and the rule layer's strongest cue of each kind,
  trained on the GoEmotions train split (Reddit comments whose raters gave any of anger, annoyance,
  disappointment, disapproval, disgust, embarrassment, fear, grief, nervousness, remorse,
  sadness). Its weights live in ``qa/models/distress.json.gz`` and are applied here in plain
  Python; :attr:`TurnAffect.top_words` lists the words that weighed most (a word's
  character n-grams are added to the word itself). When only the
  model fires, the cue is its strongest word (kind ``negative``). The model's decision point
  was chosen by cross-validation on the training split (``bench/train_distress.py``).

The two are combined as ``distress = max(rules, model)``, where ``rules`` is the noisy-or
of the cue weights and ``model`` is the model's probability moved so that its chosen
threshold sits at 0.5; ``is_distress`` is ``distress >= 0.5``. (The model reads the cues as
features; a noisy-or of the two would count them twice, and cost precision on the training
split.) A weak cue (0.4) therefore needs a second cue, or enough weight in the model. A plain
question with no rule cue needs a stronger model score (its logit is lowered by
:data:`QUESTION_DAMPING`).

**Sentiment** is VADER's compound score (-1..1) of the turn; when the turn is distress and
VADER saw nothing negative, it is pulled to at most ``-0.25 - 0.5 * (distress - 0.5)``, so
"third time I'm calling about this" does not read as neutral.

**Context**: the previous agent turn may be given. A short "yes"-like answer to an agent
question that names a feeling ("are you worried about…?") takes the feeling from the
question; "no"/"not really" does not.

Web and e-mail addresses and social-media handles ("@AcmeHelp") are read by neither part
(:data:`_NOT_WORDS_RE`): they name an account, not a feeling.

Bounds: a turn is read at most :data:`MAX_CHARS` characters in (a pasted log past that is
not searched); all patterns are linear-time. Library code logs, never prints.
"""

from __future__ import annotations

import gzip
import heapq
import json
import logging
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Iterable, Sequence

log = logging.getLogger(__name__)

MAX_CHARS = 4_000
"""A turn is read this far in; the rest is not searched (bounds the work on pastes)."""

MODEL_RESOURCE = "distress.json.gz"
"""File name of the learned model inside ``qa/models``."""

THRESHOLD = 0.5
"""``is_distress`` is ``distress >= THRESHOLD`` (the model is shifted to fit this)."""

QUESTION_DAMPING = 1.0
"""Logit subtracted from the model for a question with no rule cue."""

TOP_WORDS = 6
"""How many of the model's heaviest words :attr:`TurnAffect.top_words` keeps."""


@dataclass
class DistressCue:
    """Words in a customer turn that show distress."""

    start: int
    """Character offset (in the turn text) where the deciding words start."""
    end: int
    """Character offset where they end (exclusive): ``text == turn[start:end]``."""
    text: str
    """The deciding words, as written."""
    kind: str
    """frustration, anger, worry, fear, sadness, urgency, hardship, repeated_failure, loss,
    or negative (the learned model's strongest word, when no rule fired)."""
    weight: float
    """Its strength (0..1); the cues of a turn combine as a noisy-or into the rules' part
    of :attr:`TurnAffect.distress`."""


@dataclass
class TurnAffect:
    """The customer's state in one turn."""

    sentiment: float
    """-1 (very negative) .. 1 (very positive): VADER's compound, pulled down for distress."""
    distress: float
    """0..1 strength of distress: the stronger of the rule cues (their noisy-or) and the
    learned model."""
    is_distress: bool
    """``distress >= THRESHOLD``, after negation, hedges and questions were handled."""
    cues: list[DistressCue] = field(default_factory=list)
    """The spans that show the distress, strongest first (empty when there is none)."""
    top_words: list[tuple[str, float]] = field(default_factory=list)
    """The learned model's heaviest features in this turn and their contributions to its
    logit (positive = towards distress), largest magnitude first."""
    model_probability: float = 0.0
    """The learned model alone, shifted so that 0.5 is its chosen threshold."""


# --------------------------------------------------------------------------- tokens

_TOKEN_RE = re.compile(
    r"[A-Za-z0-9\u00C0-\u024F]+(?:['’][A-Za-z]+)*"  # words, with n't / 's / 're
    r"|[!?]"
    r"|[.,;:()\u2014\u2013]"  # clause marks
    r"|[\U0001F300-\U0001FAFF\u2600-\u27BF]"  # emoji
)
_CLAUSE = frozenset(".,;:()!?\u2014\u2013")
_NEGATORS = frozenset(
    "not no never nothing nobody none nor neither without hardly barely cannot cant dont "
    "doesnt didnt isnt wasnt arent werent wont wouldnt shouldnt couldnt havent hasnt hadnt "
    "aint".split()
)
_SCOPE_BREAKERS = frozenset("but though although however just only except yet".split())
_NEG_SCOPE = 4


def _norm(tok: str) -> str:
    return tok.lower().replace("’", "'")


def _is_negator(t: str) -> bool:
    return t in _NEGATORS or t.endswith("n't")


_NOT_WORDS_RE = re.compile(r"(?:https?://|www\.)\S+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+|(?<![\w@])@\w+", re.IGNORECASE)
"""Web addresses, e-mail addresses and social-media handles ("@AppleSupport"): they name an
account or a page, and their letters are not words the customer chose, so neither the rules
nor the model read them."""


def _not_words(text: str) -> list[tuple[int, int]]:
    """Spans of :data:`_NOT_WORDS_RE` in ``text`` (cheap when there is no '@', '/' or 'www')."""
    if "@" not in text and "/" not in text and "www" not in text.lower():
        return []
    return [(m.start(), m.end()) for m in _NOT_WORDS_RE.finditer(text)]


def tokenize(text: str) -> list[tuple[str, int, int]]:
    """Lower-cased tokens of the first :data:`MAX_CHARS` characters, with their offsets;
    web and e-mail addresses and social-media handles are left out (:data:`_NOT_WORDS_RE`)."""
    skip = _not_words(text[:MAX_CHARS])
    if not skip:
        return [(_norm(m.group()), m.start(), m.end()) for m in _TOKEN_RE.finditer(text, 0, MAX_CHARS)]
    return [(_norm(m.group()), m.start(), m.end()) for m in _TOKEN_RE.finditer(text, 0, MAX_CHARS)
            if not any(a <= m.start() < b for a, b in skip)]


def features(toks: Sequence[tuple[str, int, int]]) -> list[tuple[str, int]]:
    """The learned model's sparse features of a tokenized turn: ``(name, token index)``.

    Words (``w``), word pairs (``w1 w2``) and, for words in a negation's scope,
    ``NEG_w``; ``!`` and ``?`` are kept as words; a clause mark ends a negation scope.
    """
    out: list[tuple[str, int]] = []
    neg_left = 0
    prev = "<s>"
    for i, (t, _, _) in enumerate(toks):
        if t in _CLAUSE and t not in "!?":
            neg_left = 0
            prev = "<p>"
            continue
        if t in _SCOPE_BREAKERS:
            neg_left = 0
        if neg_left > 0 and not _is_negator(t):
            out.append(("NEG_" + t, i))
            neg_left -= 1
        else:
            out.append((t, i))
        out.append((prev + " " + t, i))
        if _is_negator(t):
            neg_left = _NEG_SCOPE
        prev = t
    return out


CHAR_MIN, CHAR_MAX = 3, 5
"""Lengths of the character n-grams the learned model reads inside each word."""


@lru_cache(maxsize=65536)
def char_ngrams(word: str) -> tuple[str, ...]:
    """The character n-grams (:data:`CHAR_MIN`..:data:`CHAR_MAX`) of one word, padded with a
    space each side: ``"mad"`` gives ``" ma", "mad", "ad ", " mad", "mad ", " mad "``.
    They let the model read unseen forms (*frustratingly*, *soooo*, *f*cking*) by their parts."""
    w = " " + word + " "
    n = len(w)
    return tuple(w[i:i + k] for k in range(CHAR_MIN, CHAR_MAX + 1) for i in range(n - k + 1))


def char_features(toks: Sequence[tuple[str, int, int]]) -> list[tuple[str, int]]:
    """The learned model's character features of a tokenized turn: ``(n-gram, token index)``
    for every word token (clause marks, ``!`` and ``?`` have none)."""
    out: list[tuple[str, int]] = []
    for i, (t, _, _) in enumerate(toks):
        if t in _CLAUSE:
            continue
        out.extend((g, i) for g in char_ngrams(t))
    return out


# --------------------------------------------------------------------------- rules

# (kind, weight, regex). Regexes run over the turn with IGNORECASE; \b-bounded.
_INTENS = (
    r"(?:really|so|very|extremely|incredibly|absolutely|completely|totally|utterly|"
    r"seriously|super|truly|honestly|beyond|quite|pretty|getting|starting to (?:get|feel)|"
    r"more than a (?:bit|little))"
)
_ORD = (
    r"(?:second|2nd|third|3rd|fourth|4th|fifth|5th|sixth|6th|seventh|eighth|ninth|tenth|"
    r"umpteenth|nth|hundredth|millionth|\d+(?:st|nd|rd|th))"
)
_NUMW = r"(?:two|three|four|five|six|seven|eight|nine|ten|a dozen|\d+|several|multiple|many|countless|numerous|a few|a couple of)"

_NOT_LOSS = (  # "lost" that is not the customer losing something of theirs
    r"(?! (?:to|against|at|in|on|by|out on|interest|track|count|weight|touch|sight|time|"
    r"(?:hours|minutes|days|weeks) of|(?:an |\d+ |two |three |several )?(?:hours?|minutes|days|weeks)\b|"
    r"(?:the|a|an|that|this|every|another|one|two|three|\d+)(?: \w+)? (?:games?|match(?:es)?|"
    r"rounds?|races?|bets?|fights?|argument|battle|sets?|votes?|toss|final|tournament|coin toss)\b))"
)

_RULES: list[tuple[str, float, str]] = [
    # frustration
    ("frustration", 0.8, r"frustrat(?:ed|ing|ion)|exasperat(?:ed|ing)|infuriat(?:ed|ing)|"
     r"fed up|sick (?:and tired )?of|tired of|had enough|had it with|"
     r"wits['’]? end|end of my (?:rope|tether)|pulling my hair out|at a loss|"
     r"losing my (?:mind|patience|temper)|can(?:no|')?t (?:take|stand|deal with) (?:this|it|any ?more)|"
     r"(?:this|it) is (?:a )?(?:joke|ridiculous|unacceptable|absurd|insane|a nightmare|a disgrace)|"
     r"ridiculous|unacceptable|outrageous|disgrace(?:ful)?|shambles|nightmare|"
     r"(?:complete|total|utter) (?:waste|joke|mess)|waste of (?:my )?(?:time|money)|"
     r"useless|pathetic|hopeless|appalling|terrible|awful|horrible|worst|rubbish|"
     r"disappoint(?:ed|ing|ment)|let down|annoy(?:ed|ing)|irritat(?:ed|ing)|"
     r"exhaust(?:ed|ing)|drained|stressed out|done with (?:this|you)|"
     r"argh+|wtf|"
     r"fix (?:this|it) (?:already|now)|enough is enough|thanks,? i guess|"
     r"nobody cares"),
    # anger
    ("anger", 0.85, r"angry|furious|livid|fuming|outraged|enraged|pissed(?: off)?|"
     r"(?:so|really|very) mad|disgust(?:ed|ing)|appalled|"
     r"i hate|hate (?:this|that|it|you)|sick to death"),
    # worry
    ("worry", 0.75, r"worried|worrying|anxious|anxiety|nervous|uneasy|"
     r"panic(?:king|ked)?|stressed|stressful|on edge|losing sleep|can['’]?t sleep|"
     r"freaking out|freaked out|beside myself|breathing down my neck|"
     r"(?:out of|at) my depth|don['’]?t know what (?:to|else to) do|"
     r"what (?:am i|do i) (?:supposed to|going to|gonna) do|overwhelm(?:ed|ing)"),
    # fear
    ("fear", 0.8, r"scared|scary|afraid|terrified|terrifying|petrified|frightened|frightening|"
     r"fear(?:ful)?|shaking|shaken|rattled|traumati[sz](?:ed|ing)|in shock|unsafe"),
    # sadness
    ("sadness", 0.8, r"sad|upset(?:ting)?|devastat(?:ed|ing)|heartbr(?:oken|eaking)|"
     r"miserable|depress(?:ed|ing)|crying|in tears|gutted|distraught|grie(?:f|ving)|"
     r"passed away|funeral|bereave(?:d|ment)|lonely|"
     r"(?:mum|mom|mother|dad|father|husband|wife|son|daughter|partner|brother|sister|grandma|"
     r"grandpa|grandmother|grandfather|nan|gran|friend|dog|cat|pet|baby|uncle|aunt)"
     r"(?: \w+)? (?:has |had |just )?died|"
     r"embarrass(?:ed|ing)|humiliat(?:ed|ing)|ashamed|hurt(?:s|ful)?|"
     r"heart ?sick|sorry for myself|broke my heart"),
    # urgency that hurts
    ("urgency", 0.7, r"urgent(?:ly)?|"
     r"(?:need|needs|needed) (?:it|this|them|that|help|a \w+|my \w+) (?:today|tonight|now|"
     r"right now|by (?:tomorrow|tonight|today|\w+day)|before)|"
     r"(?:need|needs|needed|want|have to|has to|must)(?: \w+){0,3} (?:right now|immediately|"
     r"as soon as possible|urgently)|time[- ]sensitive|"
     r"(?:in|within) (?:an|one|two|\d+) (?:hour|hours|minutes|mins)|"
     r"(?:have|need|got) to be at (?:work|school|the \w+)|"
     r"running out of (?:time|money|medication|meds|insulin)|"
     r"money(?:['’]s| is) (?:really |so |very )?tight|can(?:no|['’])?t afford|"
     r"stranded|(?:i['’]m|i am|we['’]re|we are|(?:i|we)(?:['’]ve| have) been|been|got|left|now|still|people|family|kids|i|we) stuck (?:here|at|in|without|abroad|outside|on)(?! \d)|without (?:power|heat|heating|water|internet|"
     r"a phone|money|food|my medication)|no (?:power|heat|heating|water|food)|"
     r"(?:kids?|children|son|daughter|baby|family)(?: \w+)? (?:haven['’]?t|hasn['’]?t|can['’]?t|"
     r"didn['’]?t) (?:eaten|eat|sleep|slept)|"
     r"(?:my )?(?:boss|manager)(?:['’]s| is) (?:on my case|going to kill me|furious)"),
    # repeated failure
    ("repeated_failure", 0.75,
     r"(?:for )?(?:the |a |my |our )?" + _ORD + r" (?:time|attempt|call|try)|" + _NUMW + r" times (?:now|already|before|this|today|"
     r"in|i['’]ve|and|but|over)|" + _NUMW + r" (?:calls|emails|attempts|tries|messages)|"
     r"(?:called|rang|rung|phoned|emailed|written|tried|asked|chased|contacted)(?: \w+)? "
     + _NUMW + r" times|"
     r"yet again|once again|(?:all )?over again|again and again|over and over|time after time|"
     r"every single time|keeps? (?:on )?(?:crash|fail|drop|break|freez|happen|cutt|"
     r"declin|reject|charg|disconnect|going down)\w*|"
     r"still (?:says|shows|showing|pending|processing|stuck|the same|"
     r"not (?:working|fixed|arrived|received|here|resolved|sorted|back|showing|loading|"
     r"connected|refunded|delivered|heard|got|been|able|on|there|right|credited|processed|"
     r"cancel+ed|answered|replied)|no|nothing|hasn['’]?t|haven['’]?t|isn['’]?t|doesn['’]?t|didn['’]?t|"
     r"won['’]?t|can['’]?t|waiting|broken|down|missing|getting|charging|the same|no word|"
     r"no sign|no reply|no response|haven|unresolved|not fixed|having (?:the same )?(?:issues?|problems?|trouble))|"
     r"(?:broken|down|failed|crashed|happened|happening|charged|declined|wrong|late|out|"
     r"cut off|disconnected|missing) again|"
     r"(?:for|over) (?:a |two |three |four |several |\d+ )?(?:weeks|months|days) now|"
     r"been (?:waiting|chasing|trying|calling|on hold) (?:for )?(?:ages|forever|hours|days|weeks|"
     r"months|over|since|all)|"
     r"never (?:arrived|came|received|got|showed|turned up|fixed|resolved|heard back|called back)|"
     r"no one (?:ever )?(?:called|got) back|nobody (?:ever )?(?:called|got) back|"
     r"(?:already|i['’]ve|we['’]ve|i have|we have|have|i|we) (?:tried|done) (?:that|this|everything|all)|"
     # a failure counted: "crashed eight times", "declined 3 times today"
     r"(?:crash|fail|drop|disconnect|declin|reject|freez|froze|broke|stopp|cut|log)\w*(?: \w+){0,2} " + _NUMW + r" times|"
     # a long wait, told as a duration: "I have waited for more than 4 weeks"
     r"(?:waited|waiting|been waiting)(?: for)? (?:over |more than |almost |nearly |about |well over )?"
     r"(?:a|an|two|three|four|five|six|seven|eight|nine|ten|several|many|\d+) (?:hours?|days?|weeks?|months?)|"
     r"(?:tried|done) (?:that|this|everything) already|"
     r"(?:not|isn['’]?t|wasn['’]?t) (?:the )?first time|same (?:problem|issue|thing) (?:again|as)"),
    # a negated positive: "not impressed", "not happy", "never again"
    ("frustration", 0.7, r"(?:not|\w*n['’]t|never|hardly) (?:very |too |at all |exactly |remotely )?"
     r"(?:seem |sound |look |feel |be |very )?"
     r"(?:impressed|happy|pleased|satisfied|ok|okay|good enough|acceptable|fair|great|amused|funny)|"
     r"never again|"
     r"(?:how|why) (?:am|are|is) (?:i|we) (?:meant|supposed|expected) to"),
    # urgency around a need with a deadline, or a hardship
    ("urgency", 0.65,
     r"(?:need|needs|needed|have to|has to|got to|meant to|supposed to|due)(?: [\w'’]+){0,8} "
     r"(?:today|tonight|tomorrow|this (?:morning|afternoon|evening|weekend)|"
     r"on (?:mon|tues|wednes|thurs|fri|satur|sun)day|by (?:mon|tues|wednes|thurs|fri|satur|sun)day|"
     r"in (?:an|one|two|\d+) (?:hour|hours|minutes|mins))|"
     r"(?:a lot of|so much|too much) money(?: for (?:us|me))|(?:i|we)(?:['’]ve| have)(?: got)? (?:a|an urgent|a tight) deadline|(?:rent|mortgage|bills?) (?:is |are )?due|"
     r"is (?:it|this|that|the \w+) safe|safe to (?:drink|use|eat)|"
     r"(?:overdrawn|in debt|broke|bounced|overdraft fees?)"),
    # a hard situation: nothing left, too much on, a vulnerable person
    ("hardship", 0.65, r"(?:i|we) (?:have|['’]ve got|have got) (?:literally |absolutely )?nothing|"
     r"(?:enough|so much|a lot) (?:going on|on my plate)|on crutches|in a wheelchair|"
     r"(?:i['’]m|i am|we['’]re|my \w+ is|she['’]s|he['’]s) (?:in hospital|in the hospital|disabled|"
     r"housebound|pregnant|unwell|seriously ill|recovering from)|just had (?:surgery|an operation|a baby)|"
     r"(?:meant|supposed|have|need|due) to be (?:at|in) (?:my|our|a|the) [\w'’ ]{0,25}"
     r"(?:wedding|funeral|interview|exam|hospital|flight|appointment|surgery)"),
    # repeated failure: days in a row, "AGAIN" said at a clause end
    ("repeated_failure", 0.7, _ORD + r" (?:day|morning|night|week|month|evening)s? (?:running|in a row)|"
     + _NUMW + r" (?:days|mornings|nights|weeks|months|times) in a row|again[.!]{2,}|"
     r"(?:nothing|still|nobody|no one|no reply|no response|no update|no word)[^.!?]{0,40} again\b"),
    # emoji of distress
    ("anger", 0.7, "\U0001F621|\U0001F620|\U0001F92C|\U0001F624"),
    ("sadness", 0.6, "\U0001F622|\U0001F62D|\U0001F494|\U0001F61E|\U0001F614|\u2639"),
    ("frustration", 0.55, "\U0001F629|\U0001F62B|\U0001F644|\U0001F612|\U0001F611|\U0001F926|\U0001F643"),  # + facepalm, upside-down (irony)
    # exasperated punctuation: "?!?!", "??!!", "!?"
    ("frustration", 0.55, r"(?<=\w)\s?(?:\?+!+|!+\?+)[?!]*(?![\w'’])"),
    # nothing to show for the trying: "no solution yet", "no fix so far"
    ("frustration", 0.6, r"no (?:solution|fix|resolution|progress|help|answer|reply|response)s? (?:yet|so far|at all|whatsoever)"),
    ("worry", 0.6, "\U0001F630|\U0001F631|\U0001F61F|\U0001F628|\U0001F625|\U0001F613"),
    # weak cues: distress in service talk, but often not on their own (noisy on the training
    # split): they need a second cue or the model's support to reach the threshold.
    ("frustration", 0.4, r"unbelievable|seriously\?+|ugh+|smh|ffs|over it|"
     r"no (?:one|body) (?:has|will|is|can|ever)|mad (?:at|about)|useless"),
    ("worry", 0.4, r"worr(?:y|ies)|concern(?:ed|ing)|stress"),
    ("urgency", 0.4, r"asap|emergency|desperate(?:ly)?|right now|immediately|"
     r"(?:please|pls|plz|someone|somebody|anyone) help(?: me| us)?|help me(?: please| pls)?"),
    ("frustration", 0.6, r"(?:nothing|no one|nobody) (?:\w+ ){0,5}?(?:works|worked|is working|happens|happened|help|helps|helped|"
     r"loads|answers|answered|responds|responded|replies|replied|changed)"),
    ("repeated_failure", 0.4, r"over and over|every time|still not|keeps? (?:on )?(?:getting|asking|telling|saying|sending)"),
    ("sadness", 0.4, r"died"),
    ("urgency", 0.4, r"(?:birthday|wedding|honeymoon|anniversary|interview|exam|surgery|funeral)"
     r"(?: \w+)?(?: is| was)? (?:today|tonight|tomorrow|this|on|trip|present|gift)"),
    ("repeated_failure", 0.4, r"again(?=[.!]|$)"),
    # loss
    ("loss", 0.75, r"(?:i|i['’]ve|we|we['’]ve|i have|we have|have|has|just|already) "
     r"(?:lost|lose|losing)" + _NOT_LOSS + r"|(?:i['’]?m|we['’]?re|am|are|keep) losing" + _NOT_LOSS + r"|lost" + _NOT_LOSS + r" (?:my|all|our|everything|the|access|\w+ (?:of|worth))|"
     r"(?:is|are|was|were|has been|have been|got|get|been|all|now|just|completely|it['’]?s|its|they['’]?re) "
     r"(?:deleted|wiped|erased|gone|disappeared|vanished|stolen|missing|corrupted)|"
     # someone else in what is theirs: "someone got into my account", "a hacked email account"
     r"(?:someone|somebody|a stranger|strangers|hackers?) (?:\w+ )?(?:got into|signed into|logged into|signed in to|logged in to|"
     r"accessed|hacked|used|took over|broke into|changed) (?:my|our)\b|"
     r"hacked (?:\w+ ){0,2}(?:account|email|e-mail|phone|card|profile|channel)|"
     r"(?:went|gone|go|still) missing|(?:deleted|wiped|erased|stole|corrupted) (?:my|all|our|everything)|"
     r"missing (?:from|items?|parcel|package|money|funds|payment|order)|"
     r"(?:got|been|was|were|is|are) (?:hacked|stolen|robbed|scammed|defrauded|compromised|breached|hijacked)|"
     # shut out of what is theirs: "can't access my account", "won't let me log into my email"
     r"(?:can['’]?t|cannot|can not|couldn['’]?t|unable to|not able to|(?:won['’]?t|doesn['’]?t|don['’]?t|didn['’]?t)(?: even)? let me) "
     r"(?:\w+ )?(?:access|recover|retrieve|get into|get back|log ?in(?:to)?|sign ?in(?:to)?|open|use)(?: \w+)? "
     r"(?:my|our|his|her|their)\b|"
     r"money (?:is )?gone|out of pocket|lost out|lost (?:over |about |almost |nearly )?[$£€]?\d"),
    ("anger", 0.7, r"idiots?|morons?|imbeciles?|clowns|incompetent|scammers?|thie(?:f|ves)|crooks?"),
]
# Run over the lower-cased turn (twice as fast as IGNORECASE); the IGNORECASE twins serve
# the rare turn whose lower-casing changes its length (offsets must stay true).
def _rx(p: str, flags: int = 0) -> re.Pattern:
    lead = "" if not p[0].isascii() else r"\b"  # emoji patterns have no word boundary
    return re.compile(lead + r"(?:" + p + r")(?![\w'’])", flags)


_RULE_RES = [(k, w, _rx(p)) for k, w, p in _RULES]
_RULE_RES_I = [(k, w, _rx(p, re.IGNORECASE)) for k, w, p in _RULES]

_INTENS_RE = re.compile(r"(?:" + _INTENS + r")\s+(?:\w+\s+)?$", re.IGNORECASE)
_WEAK_RE = re.compile(r"(?:a (?:little|bit|tad)|slightly|somewhat|kind of|kinda|sort of|a touch)\s+(?:\w+\s+)?$", re.IGNORECASE)
_HYPO_RE = re.compile(
    r"(?:\bif\b|\bin case\b|\bwhat if\b|\bwhether\b|\bunless\b|\bso that\b|\bto avoid\b|\bprevent\b|"
    r"\bwould\b|\bcould\b|\bwill i\b|\bcan i\b|\bhow (?:do|can|would) i\b|\bdo i\b)[^.,;!?]*$",
    re.IGNORECASE,
)
_NOT_ME_RE = re.compile(  # the feeling is about someone else's state, asked or wished
    r"(?:\bdon['’]?t\b|\bno need to\b|\bnothing to\b|\bnot\b|\bnever\b|\bno\b)\s+(?:\w+\s+){0,3}$",
    re.IGNORECASE,
)
_CLAUSE_SPLIT_RE = re.compile(r"[.,;:!?()\u2014\u2013]|\bbut\b|\band\b|\bthough\b|\balthough\b|\bhowever\b|\bjust\b", re.IGNORECASE)
_NEG_WORD_RE = re.compile(
    r"(?<![\w'’])(?:not|no|never|nothing|nobody|none|without|hardly|barely|cannot|nor|"
    r"\w+n['’]t)(?![\w'’])",
    re.IGNORECASE,
)

# cues whose own wording contains a negation: never dropped as "negated".
_SELF_NEGATED = re.compile(
    r"^(?:still |never |no (?:one|body|power|heat|heating|water|food)|can|not the first|unable|not able|won|doesn|don|didn|couldn|nothing|"
    r"please help|pls help|plz help|someone help|somebody help|anyone help|help me|"
    r"isn|wasn|nobody|kids?|children|son|daughter|baby|family|without|money)",
    re.IGNORECASE,
)

_QUESTION_START = re.compile(
    r"^\s*(?:what|when|where|which|who|whom|whose|why|how|is|are|am|was|were|do|does|did|can|"
    r"could|would|will|should|shall|may|have|has)\b",
    re.IGNORECASE,
)


def _clause_prefix(text: str, start: int) -> str:
    """The text of the current clause before ``start`` (at most 80 characters)."""
    lo = max(0, start - 80)
    before = text[lo:start]
    last = None
    for m in _CLAUSE_SPLIT_RE.finditer(before):
        last = m
    return before[last.end():] if last else before


_NEVER_SO_RE = re.compile(r"\bnever\b(?: \w+)? (?:this|so|that|more|as)\s+(?:\w+\s+)?$", re.IGNORECASE)


def _negated(prefix: str) -> bool:
    words = prefix.split()[-_NEG_SCOPE - 1:]
    tail = " ".join(words)
    if _NEVER_SO_RE.search(tail + " "):
        return False  # "never been this sad": stronger, not negated
    return bool(_NEG_WORD_RE.search(tail))


_CAPS_WORD = re.compile(r"(?<![\w@#/$'’\[<{])[A-Z]{4,}(?![\w'’\]>}])")  # "[NAME]", "<URL>": placeholders
_VOWEL = re.compile(r"[AEIOUY]")
_ONSET = re.compile(r"(?:[AEIOUY]|[B-DF-HJ-NP-TV-Z][AEIOUY]|BL|BR|CH|CL|CR|DR|DW|FL|FR|GL|GR|KN|PH|PL|PR|QU|SC|SH|SK|SL|SM|"
                    r"SN|SP|ST|SW|TH|TR|TW|WH|WR)")
"""How an English word can begin (a vowel, one consonant, or a consonant pair English
starts words with): "STILL", "PLEASE", "THREE" can be words, "BSOD", "HDMI", "NVIDIA" are
letters read out."""


def _emphatic_caps(text: str) -> DistressCue | None:
    """Words written in capitals for emphasis in an otherwise lower-case message ("crashed
    EIGHT TIMES", "STILL charging me", "WOULD SOMEONE PLEASE HELP"): a weak cue (0.4) for
    one such word, 0.6 from two on. Words of four letters or more with a vowel only (GTA,
    PS4 and other acronyms are not emphasis), and only where most words are lower-case."""
    hits = [m for m in _CAPS_WORD.finditer(text) if _VOWEL.search(m.group()) and _ONSET.match(m.group())]
    if not hits:
        return None
    words = re.findall(r"[A-Za-z]{2,}", text)
    lower = sum(1 for w in words if not w.isupper())
    if lower < len(words) / 2:
        # a message shouted whole ("FIX. THE. APP. NOW."): three capital words or more, a weak cue
        # (and nothing positive in it: "THIS IS THE BEST DAY" is joy)
        shouted = sum(1 for w in words if w.isupper() and len(w) >= 3)
        if shouted < 3 or vader_scores(text)["compound"] > 0:
            return None
        return DistressCue(hits[0].start(), hits[0].end(), hits[0].group(), "frustration", 0.4)  # weak: memes shout too
    s, e = hits[0].start(), hits[0].end()
    return DistressCue(s, e, text[s:e], "frustration", 0.6 if len(hits) >= 2 else 0.4)


def rule_cues(text: str) -> list[DistressCue]:
    """The rule layer's cues in ``text`` (negated and hypothetical ones dropped), strongest
    first, overlapping hits merged (the longer one wins)."""
    t = text[:MAX_CHARS]
    low = t.lower()
    rules = _RULE_RES
    if len(low) != len(t):
        low, rules = t, _RULE_RES_I
    found: list[DistressCue] = []
    skip = _not_words(t)
    for kind, w, rx in rules:
        for m in rx.finditer(low):
            s, e = m.start(), m.end()
            if skip and any(a <= s < b for a, b in skip):
                continue
            prefix = _clause_prefix(t, s)
            if not _SELF_NEGATED.match(m.group()) and _negated(prefix):
                continue
            if kind in ("loss", "fear", "worry", "urgency", "sadness") and _HYPO_RE.search(prefix):
                continue
            weight = w
            if _INTENS_RE.search(prefix[-40:]):
                weight = min(0.95, w + 0.1)
            elif _WEAK_RE.search(prefix[-30:]):
                weight = max(0.55, w - 0.1)
            found.append(DistressCue(s, e, t[s:e], kind, round(weight, 3)))
    caps = _emphatic_caps(t)
    if caps is not None and vader_scores(t)["compound"] <= 0.5:
        found.append(caps)  # capitals in a clearly happy message are joy ("this is AMAZING")
    if not found:
        return found
    # drop cues contained in a longer one
    found.sort(key=lambda c: (c.start, -(c.end - c.start)))
    kept: list[DistressCue] = []
    for c in found:
        if kept and c.start < kept[-1].end:
            if c.end - c.start > kept[-1].end - kept[-1].start:
                kept[-1] = c
            continue
        kept.append(c)
    kept.sort(key=lambda c: -c.weight)
    return kept


# --------------------------------------------------------------------------- model


@dataclass
class _Model:
    weights: dict[str, float]
    dense: dict[str, float]
    intercept: float
    shift: float
    meta: dict
    chars: dict[str, float] = field(default_factory=dict)
    _word_chars: dict[str, tuple[float, int]] = field(default_factory=dict, repr=False)

    def word_chars(self, word: str) -> tuple[float, int]:
        """``(sum of the word's character n-gram weights, number of n-grams)``, cached."""
        hit = self._word_chars.get(word)
        if hit is None:
            grams = char_ngrams(word)
            cw = self.chars
            hit = (sum(cw.get(g, 0.0) for g in grams), len(grams))
            if len(self._word_chars) < 200_000:
                self._word_chars[word] = hit
        return hit


@lru_cache(maxsize=1)
def load_model() -> _Model | None:
    """The shipped learned model (``qa/models/distress.json.gz``), or None if it is absent."""
    try:
        raw = resources.files("qa").joinpath("models", MODEL_RESOURCE).read_bytes()
    except (FileNotFoundError, OSError) as exc:
        log.warning("distress model not found (%s); rules only", exc)
        return None
    d = json.loads(gzip.decompress(raw).decode("utf-8"))
    return _Model(
        weights={k: float(v) for k, v in d["weights"].items()},
        dense={k: float(v) for k, v in d["dense"].items()},
        intercept=float(d["intercept"]),
        shift=float(d["shift"]),
        meta=d.get("meta", {}),
        chars={k: float(v) for k, v in d.get("chars", {}).items()},
    )


@dataclass
class _Lexicon:
    valence: dict[str, float]
    boosters: dict[str, float]
    negate: frozenset


@lru_cache(maxsize=1)
def _lexicon() -> _Lexicon:
    """VADER's lexicon (MIT, from the vaderSentiment package), emoji included."""
    import vaderSentiment.vaderSentiment as vs

    base = Path(vs.__file__).parent
    val: dict[str, float] = {}
    for line in (base / "vader_lexicon.txt").read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2:
            try:
                val[parts[0]] = float(parts[1])
            except ValueError:
                continue
    emo = base / "emoji_utf8_lexicon.txt"
    if emo.exists():
        for line in emo.read_text(encoding="utf-8").splitlines():
            parts = line.split("\t")
            if len(parts) >= 2 and parts[0] not in val:
                v = sum(val.get(w, 0.0) for w in parts[1].lower().split())
                if v:
                    val[parts[0]] = max(-4.0, min(4.0, v))
    negate = frozenset(w.replace("'", "") for w in vs.NEGATE) | frozenset(vs.NEGATE) | _NEGATORS
    return _Lexicon(val, dict(vs.BOOSTER_DICT), negate)


def vader_scores(text: str, toks: Sequence[tuple[str, int, int]] | None = None) -> dict[str, float]:
    """VADER's scoring, re-implemented over :func:`tokenize` for speed: valence of lexicon
    words, with negation (x -0.74 within three words), boosters ("very", "kind of"), a word
    in capitals among lower-case ones, "but" (before x0.5, after x1.5), and "!"/"??"
    emphasis. Returns ``neg``, ``pos``, ``compound`` (-1..1, as VADER) and, for the model,
    ``min`` (most negative word valence), ``n_neg``/``n_pos`` (negative/positive words) and
    ``neg_pos`` (negated positive words: "not happy")."""
    lex = _lexicon()
    if toks is None:
        toks = tokenize(text)
    words = [t for t in toks if t[0] not in _CLAUSE]
    n = len(words)
    head = text[:MAX_CHARS]
    any_lower = any(not head[s:e].isupper() for _, s, e in words)
    sents: list[float] = []
    but_at = -1
    n_neg = n_pos = neg_pos = 0
    vmin = 0.0
    val, boost, negs = lex.valence, lex.boosters, lex.negate
    clause_start = 0
    j = -1
    for w, s, e in toks:
        if w in _CLAUSE:
            clause_start = j + 1
            continue
        j += 1
        i = j
        if w == "but":
            but_at = i
        v = val.get(w)
        if v is None or w in boost:
            sents.append(0.0)
            continue
        if w == "no" and i + 1 < n and words[i + 1][0] in val and i + 1 >= clause_start:
            v = 0.0
        caps = any_lower and head[s:e].isupper() and e - s > 1
        if caps:
            v += 0.733 if v > 0 else -0.733
        negated = False
        for k in (1, 2, 3):
            if i - k < clause_start:
                break
            pw = words[i - k][0]
            if pw in boost and pw not in val:
                b = boost[pw]
                b = b if v > 0 else -b
                sents_scale = 1.0 if k == 1 else (0.95 if k == 2 else 0.9)
                v += b * sents_scale
            if pw in negs or pw.endswith("n't"):
                if pw == "never" and any(words[i - m][0] in ("so", "this", "more", "as") for m in range(1, k)):
                    v *= 1.25  # "never been this sad", "never so angry": stronger, not negated
                else:
                    negated = True
        if negated:
            if v > 0:
                neg_pos += 1
            v *= -0.74
        if v < 0:
            n_neg += 1
            vmin = min(vmin, v)
        elif v > 0:
            n_pos += 1
        sents.append(v)
    if but_at >= 0:
        sents = [x * 0.5 if i < but_at else (x * 1.5 if i > but_at else x) for i, x in enumerate(sents)]
    if not sents:
        return {"neg": 0.0, "pos": 0.0, "compound": 0.0, "min": 0.0, "n_neg": 0, "n_pos": 0, "neg_pos": 0}
    total = sum(sents)
    ep = min(4, head.count("!")) * 0.292
    qc = head.count("?")
    qm = (qc * 0.18 if qc <= 3 else 0.96) if qc > 1 else 0.0
    amp = ep + qm
    if total > 0:
        total += amp
    elif total < 0:
        total -= amp
    compound = total / math.sqrt(total * total + 15)
    compound = max(-1.0, min(1.0, compound))
    pos_sum = sum(x + 1 for x in sents if x > 0)
    neg_sum = sum(x - 1 for x in sents if x < 0)
    neu = sum(1 for x in sents if x == 0)
    if pos_sum > -neg_sum:
        pos_sum += amp
    elif pos_sum < -neg_sum:
        neg_sum -= amp
    tot = pos_sum - neg_sum + neu
    return {
        "neg": -neg_sum / tot if tot else 0.0,
        "pos": pos_sum / tot if tot else 0.0,
        "compound": compound,
        "min": vmin,
        "n_neg": n_neg,
        "n_pos": n_pos,
        "neg_pos": neg_pos,
    }


RULE_KINDS = ("frustration", "anger", "worry", "fear", "sadness", "urgency", "hardship",
              "repeated_failure", "loss")
"""The rule layer's kinds, each a dense feature of the learned model (its strongest cue)."""


def dense_features(vs: dict[str, float], toks: Sequence[tuple[str, int, int]], rules: float = 0.0,
                   cues: Sequence[DistressCue] = ()) -> dict[str, float]:
    """The learned model's dense features: lexicon valence shares, a few counts, the rule
    layer's strength and its strongest cue of each kind (so the model knows what the rules
    already said)."""
    n = len(toks)
    kinds = dict.fromkeys(("rule_" + k for k in RULE_KINDS), 0.0)
    for c in cues:
        key = "rule_" + c.kind
        if key in kinds and c.weight > kinds[key]:
            kinds[key] = c.weight
    q = ex = 0
    for t, _, _ in toks:
        if t == "?":
            q = 1
        elif t == "!":
            ex += 1
    return {
        "vader_neg": vs["neg"],
        "vader_pos": vs["pos"],
        "vader_compound": vs["compound"],
        "vader_negative": 1.0 if vs["compound"] <= -0.05 else 0.0,
        "vader_min": vs["min"] / 4.0,
        "n_neg": min(3, vs["n_neg"]) / 3.0,
        "n_pos": min(3, vs["n_pos"]) / 3.0,
        "neg_pos": min(2, vs["neg_pos"]) / 2.0,
        "is_question": float(q),
        "exclaims": min(3, ex) / 3.0,
        "short": 1.0 if n <= 4 else 0.0,
        "rules": rules,
        **kinds,
    }


_CLOSER_RE = re.compile(
    r"^\W*(?:(?:no|nope|nah|yes|yeah|ok|okay)\W+)?(?:that['’]?s (?:it|all|everything|fine|great)|"
    r"no thanks?|no thank you|thanks?|thank you|ty|cheers|that['’]?s all for now)"
    r"(?:\W+(?:thanks?|thank you|ty|cheers|bye|so much|\w+))?\W*$",
    re.IGNORECASE,
)
"""A bare closing answer ("No, that's it.", "no thanks!") after an agent turn: no model."""

_ANSWER_WORDS = frozenset("no nope nah yes yeah yep yup ok okay sure".split())


def _model_logit(model: _Model, toks, vs, answer: bool = False, rules: float = 0.0,
                 cues: Sequence[DistressCue] = ()) -> tuple[float, list[tuple[str, float, int]]]:
    """The model's logit and each sparse feature's contribution ``(name, logit, token
    index)``; a word's character n-grams are added to that word's own entry, so the
    explanation names words and word pairs. ``answer``: the turn answers an agent's
    question, so its leading "no"/"nope"/"yes" words are an answer, not a disagreement, and
    do not count."""
    feats = features(toks)
    w = model.weights
    skip = 0
    if answer:  # the leading answer words ("No, no, ...", "yes yes"), with their commas
        for i, (t, _, _) in enumerate(toks):
            if t in _ANSWER_WORDS:
                skip = i + 1
            elif t not in _CLAUSE:
                break
    norm = 1.0 / math.sqrt(len(feats)) if feats else 0.0
    z = model.intercept
    contribs = []
    word_at: dict[int, int] = {}
    for f, i in feats:
        if i < skip or (i == skip and skip and " " in f):
            continue
        if " " not in f:
            word_at[i] = len(contribs)
            contribs.append((f, w.get(f, 0.0) * norm, i))
        elif f in w:
            contribs.append((f, w[f] * norm, i))
    if model.chars:
        sums = []
        n_grams = 0
        for i, (t, _, _) in enumerate(toks):
            if t in _CLAUSE:
                continue
            cs, cn = model.word_chars(t)
            n_grams += cn
            if i >= skip:
                sums.append((i, cs))
        cnorm = 1.0 / math.sqrt(n_grams) if n_grams else 0.0
        for i, cs in sums:
            j = word_at.get(i)
            if j is None:
                continue
            f, c, _ = contribs[j]
            contribs[j] = (f, c + cs * cnorm, i)
    contribs = [x for x in contribs if x[1]]
    for _, c, _ in contribs:
        z += c
    dw = model.dense
    for k, v in dense_features(vs, toks, rules, cues).items():
        z += dw.get(k, 0.0) * v
    return z, contribs


def _abs_contrib(x: tuple[str, float, int]) -> float:
    return abs(x[1])


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def combine(rules: float, model_logit: float, shift: float, question: bool) -> tuple[float, float]:
    """``(distress, model probability)`` from the rules' noisy-or strength and the model's
    raw logit: the logit is moved by the chosen ``shift`` (and by
    :data:`QUESTION_DAMPING` for a question with no rule cue); distress is the stronger of
    the two. (The model already reads the rules' cues as features, so adding them again as
    a noisy-or would count them twice: on the training split that cost precision.)"""
    z = model_logit - shift
    if question and rules <= 0.0:
        z -= QUESTION_DAMPING
    p = _sigmoid(z)
    return max(rules, p), p


def is_question(text: str) -> bool:
    """A turn that asks: ends with '?' or opens with a question word and has a '?'."""
    head = text[:MAX_CHARS].rstrip()
    return head.endswith("?") or bool(_QUESTION_START.match(head) and "?" in head)


# --------------------------------------------------------------------------- context

_YES_RE = re.compile(
    r"^\s*(?:yes|yeah|yep|yup|ya|very|very much|a lot|definitely|totally|absolutely|of course|"
    r"i am|i do|it is|really|so much|honestly yes|kind of|a bit|a little)\b",
    re.IGNORECASE,
)
_NO_RE = re.compile(r"^\s*(?:no|nope|nah|not really|not at all|i['’]?m (?:fine|ok|okay|good))\b", re.IGNORECASE)


def _from_context(text: str, agent: str | None) -> list[DistressCue]:
    if not agent or "?" not in agent or len(text) > 60 or _NO_RE.match(text):
        return []
    m = _YES_RE.match(text)
    if not m:
        return []
    q = agent[: agent.rfind("?") + 1]
    q = q[max(0, q.rfind(".", 0, len(q) - 1) + 1):]
    cues = [c for c in rule_cues(q) if c.kind != "negative"]
    if not cues:
        return []
    c = cues[0]
    s, e = m.start(), m.end()
    while s < e and text[s].isspace():
        s += 1
    return [DistressCue(s, e, text[s:e], c.kind, round(c.weight * 0.9, 3))]


# --------------------------------------------------------------------------- API


def _analyze(text: str, agent: str | None, model: _Model | None) -> TurnAffect:
    text = text or ""
    toks = tokenize(text)
    vs = vader_scores(text, toks)
    cues = rule_cues(text)
    if not cues and agent:
        cues = _from_context(text, agent)
    rules = 1.0
    for c in cues:
        rules *= 1.0 - c.weight
    rules = 1.0 - rules

    p_model = 0.0
    top: list[tuple[str, float]] = []
    if model is not None and toks and not (agent and _CLOSER_RE.match(text)):
        z, contribs = _model_logit(model, toks, vs, answer=bool(agent), rules=rules, cues=cues)
        _, p_model = combine(rules, z, model.shift, is_question(text))
        seen = set()
        for f, c, _ in heapq.nlargest(3 * TOP_WORDS, contribs, key=_abs_contrib):
            if f in seen:
                continue
            seen.add(f)
            top.append((f, round(c, 3)))
            if len(top) >= TOP_WORDS:
                break
        if p_model >= THRESHOLD and not cues:
            best = max(contribs, key=lambda x: x[1], default=None)
            if best is not None and best[1] > 0:
                i = best[2]
                name = best[0]
                _, s, e = toks[i]
                if " " in name and i > 0 and not name.startswith(("<s>", "<p>")):
                    s = toks[i - 1][1]
                cues = [DistressCue(s, e, text[s:e], "negative", round(p_model, 3))]
    distress = max(rules, p_model)
    is_d = distress >= THRESHOLD
    sentiment = vs["compound"]
    if is_d:
        sentiment = min(sentiment, -0.25 - 0.5 * (distress - THRESHOLD))
    return TurnAffect(
        sentiment=round(sentiment, 4),
        distress=round(distress, 4),
        is_distress=is_d,
        cues=cues if is_d or cues else [],
        top_words=top,
        model_probability=round(p_model, 4),
    )


def analyze_turns(
    texts: Sequence[str], context: Sequence[str | None] | None = None
) -> list[TurnAffect]:
    """Distress and sentiment of each customer turn in ``texts``.

    ``context``, if given, holds the previous agent turn of each (or None), so that a short
    "yes" to "are you worried about it?" is read with its question.
    """
    model = load_model()
    if context is not None and len(context) != len(texts):
        raise ValueError("context must have one entry per text")
    out = []
    for i, t in enumerate(texts):
        out.append(_analyze(t, context[i] if context is not None else None, model))
    return out


def analyze_turn(text: str, context: str | None = None) -> TurnAffect:
    """:func:`analyze_turns` for one turn."""
    return _analyze(text, context, load_model())


def conversation_sentiment(affects: Iterable[TurnAffect]) -> tuple[float | None, float | None, float | None]:
    """``(start, end, shift)`` of customer sentiment over a conversation's customer turns:
    the first turn's, the last turn's and end - start (None when there are no turns)."""
    a = list(affects)
    if not a:
        return None, None, None
    s, e = a[0].sentiment, a[-1].sentiment
    return s, e, round(e - s, 4)
