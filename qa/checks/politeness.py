"""The ``politeness`` check: politeness strategies (Danescu-Niculescu-Mizil et al., 2013).

Each agent turn is scored from a small set of explainable features: gratitude, greeting,
apologising, "please", indirect requests ("could you / would you"), hedges, first-person
plural, deference …  (polite), and direct questions, sentence-initial "so / but", "you" at
the start, factuality ("in fact", "actually"), rude words … (impolite). Each feature has a
weight; a turn's politeness is ``sigmoid(bias + Σ weight × present)``, 0..1. The default
weights were fitted (logistic regression) on the training split of the Stanford
Politeness Corpus (Wikipedia requests) by ``bench/eval_politeness.py``; trainers can
override any of them in the rubric.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, field_validator

from . import (BaseOptions, Check, Context, Outcome, PhraseSet, evidence, failed, na, passed,
               register)
from ..nlp import ConvNLP

# name: (where, match, phrases, plain description)
#   where: "any" anywhere in the turn, "start" the first words of a sentence,
#          "inner" anywhere except a sentence start
FEATURES: dict[str, tuple[str, str, list[str], str]] = {
    "gratitude": ("any", "lemma", ["thank", "thanks", "thank you", "appreciate", "grateful"],
                  "thanks the other person"),
    "deference": ("start", "exact", ["great", "good", "nice", "interesting", "cool", "excellent",
                                     "awesome", "wonderful", "impressive", "fantastic"],
                  "opens with a compliment (\"Great work …\")"),
    "greeting": ("start", "exact", ["hi", "hello", "hey", "greetings", "good morning",
                                    "good afternoon", "good evening", "dear"],
                 "greets (\"Hi\", \"Hello\")"),
    "apologizing": ("any", "lemma", ["sorry", "apologize", "apology", "excuse me", "forgive me",
                                     "pardon", "my bad", "oops", "regret", "my mistake"],
                    "apologises"),
    "please": ("inner", "exact", ["please", "pls", "plz", "kindly"], "says \"please\" inside the request"),
    "please_start": ("start", "exact", ["please", "pls", "plz", "kindly"], "starts with \"please\""),
    "by_the_way": ("any", "exact", ["by the way", "btw", "incidentally"], "indirect (\"by the way\")"),
    "indirect_modal": ("any", "exact", ["could you", "would you", "could we", "would it be", "would you mind",
                                        "would it be possible", "could i", "may i", "might"],
                       "asks indirectly (\"could you\", \"would you\")"),
    "direct_modal": ("any", "exact", ["can you", "will you", "can't you", "won't you"],
                     "asks directly (\"can you\", \"will you\")"),
    "hedges": ("any", "lemma", ["think", "suggest", "perhaps", "maybe", "possibly", "probably",
                                "likely", "seem", "appear", "guess", "assume", "believe", "wonder",
                                "somewhat", "kind of", "sort of", "i feel", "a bit", "a little",
                                "if you don't mind", "hopefully", "hope", "might"],
               "hedges (\"I think\", \"perhaps\", \"I wonder\")"),
    "first_person_plural": ("any", "exact", ["we", "our", "us", "ours", "let's", "ourselves"],
                            "says \"we\" / \"us\""),
    "first_person": ("inner", "exact", ["i", "my", "me", "mine", "myself"], "speaks in the first person"),
    "first_person_start": ("start", "exact", ["i", "my", "me"], "starts a sentence with \"I\""),
    "second_person": ("inner", "exact", ["you", "your", "yours", "yourself"], "says \"you\""),
    "second_person_start": ("start", "exact", ["you", "your", "yours"],
                            "starts a sentence with \"you\""),
    "direct_question": ("start", "exact", ["what", "why", "who", "how", "where", "when", "which"],
                        "asks a direct wh-question (\"Why did you …?\")"),
    "direct_start": ("start", "exact", ["so", "then", "and", "but", "or", "well"],
                     "starts with \"so\", \"but\", \"and\""),
    "factuality": ("any", "exact", ["in fact", "actually", "really", "the point is", "the reality is",
                                    "the truth is", "obviously", "clearly", "of course",
                                    "as i said", "as i already said"],
                   "insists (\"in fact\", \"actually\", \"obviously\")"),
    "positive_words": ("any", "lemma", ["glad", "happy", "pleased", "welcome", "helpful", "good",
                                        "great", "nice", "wonderful", "excellent", "love", "enjoy",
                                        "awesome", "fantastic", "perfect", "interesting", "cool"],
                       "uses positive words"),
    "negative_words": ("any", "lemma", ["wrong", "bad", "problem", "mistake", "error", "fail",
                                        "worse", "worst", "poor", "confused", "confusing",
                                        "unclear", "disagree", "bias", "vandalism", "delete",
                                        "revert", "remove", "complain", "annoy", "waste"],
                       "uses negative words"),
    "rude": ("any", "lemma", ["stupid", "idiot", "nonsense", "ridiculous", "shut up", "wtf",
                              "damn", "hell", "crap", "dumb", "pathetic", "whatever", "seriously",
                              "ignorant", "lazy", "absurd"],
             "uses rude or dismissive words"),
    "conditional": ("any", "exact", ["if you could", "if you can", "if you have time", "if possible",
                                     "if you don't mind", "if you wouldn't mind", "if that's ok",
                                     "when you have a moment", "when you get a chance", "no rush",
                                     "at your convenience", "in advance"],
                    "leaves the other person room (\"if you have time\", \"no rush\")"),
    "obligation": ("any", "exact", ["you need to", "you have to", "you must", "you should",
                                    "you ought to", "i need you to", "i want you to", "you better",
                                    "you'd better", "make sure you", "stop", "don't"],
                   "orders (\"you need to\", \"you must\", \"don't\")"),
    "opinion_request": ("any", "exact", ["what do you think", "what are your thoughts", "your thoughts",
                                         "your opinion", "any thoughts", "any suggestions", "any ideas",
                                         "what would you suggest", "would you agree", "do you think"],
                        "asks for the other person's view (\"what do you think?\")"),
    "reassurance": ("any", "exact", ["don't worry", "do not worry", "not to worry", "no worries",
                                     "no problem", "no rush", "take your time", "not a problem",
                                     "that's fine", "that's ok", "that's okay", "sounds good", "sounds fine"],
                    "reassures (\"no worries\", \"take your time\")"),
    "offer_help": ("any", "exact", ["happy to help", "glad to help", "happy to", "glad to", "i'd be happy",
                                    "i would be happy", "i can help", "let me know", "hope this helps",
                                    "hope that helps", "i'll have a look", "i will have a look",
                                    "i'll take a look", "feel free", "you're welcome", "you are welcome"],
                   "offers help (\"happy to help\", \"let me know\")"),
    "challenge": ("any", "exact", ["aren't you", "isn't it", "isn't that", "don't you", "didn't you",
                                   "shouldn't", "why not", "are you sure", "did you even", "how come",
                                   "what's wrong with", "what is wrong with", "do you even", "why would you",
                                   "why are you", "why did you", "why do you", "why is it", "you keep"],
                  "challenges (\"why did you …\", \"aren't you …\", \"are you sure\")"),
    "question": ("any", "exact", ["?"], "asks a question"),
    "exclamation": ("any", "exact", ["!"], "exclaims (\"!\")"),
}

# Fitted (L2 logistic regression) on the training split of the Stanford Politeness Corpus:
# `python bench/eval_politeness.py --fit` prints these. Positive: more polite. One change by
# hand: "please" inside a request fitted slightly negative (-0.23; on Wikipedia it often sits
# in demands); it is set to 0 so that no agent is told "please" is impolite.
DEFAULT_BIAS = -1.08
DEFAULT_WEIGHTS: dict[str, float] = {
    "gratitude": 3.62, "deference": 1.13, "greeting": 1.73, "apologizing": 1.93, "please": 0.0,
    "please_start": -0.61, "by_the_way": 0.17, "indirect_modal": 1.36, "direct_modal": 0.73,
    "hedges": 0.28, "first_person_plural": 0.28, "first_person": 0.23, "first_person_start": 0.81,
    "second_person": 0.36, "second_person_start": -0.63, "direct_question": -0.67,
    "direct_start": -1.43, "factuality": -1.09, "positive_words": 1.3, "negative_words": -0.6,
    "rude": -1.17, "conditional": 1.56, "obligation": -0.85, "opinion_request": 1.81,
    "reassurance": 2.19, "offer_help": 0.66, "challenge": -2.46, "question": 0.0, "exclamation": 0.38,
}
assert set(DEFAULT_WEIGHTS) == set(FEATURES)


class PolitenessOptions(BaseOptions):
    speaker: Literal["agent", "customer", "any"] = "agent"
    threshold: float = Field(default=0.5, ge=0, le=1)
    """Pass when the mean politeness of the speaker's turns (0..1) is at least this."""
    weights: dict[str, float] = Field(default_factory=dict)
    """Override the weight of a feature (positive: more polite; negative: less)."""
    bias: float | None = None
    """Override the score of a turn with no feature at all (log-odds; 0 = 0.5)."""
    min_turns: int = Field(default=1, ge=1)
    """N/A when the speaker has fewer turns with words."""
    include_plain_turns: bool = False
    """Count turns with no politeness marker either way in the mean (they score low)."""

    @field_validator("weights")
    @classmethod
    def _known(cls, v: dict[str, float]) -> dict[str, float]:
        unknown = [k for k in v if k not in FEATURES]
        if unknown:
            raise ValueError(f"unknown politeness feature {', '.join(repr(k) for k in unknown)}; "
                             f"known features: {', '.join(FEATURES)}")
        return v


@dataclass
class FeatureHit:
    feature: str
    start: int
    end: int
    weight: float


class PolitenessModel:
    """The features compiled once (one phrase set per feature); scores analysed turns."""

    def __init__(self, analyzer, weights: dict[str, float] | None = None, bias: float | None = None):
        self.weights = dict(DEFAULT_WEIGHTS)
        self.weights.update(weights or {})
        self.bias = DEFAULT_BIAS if bias is None else bias
        # two phrase sets (lemma and exact features), each phrase labelled with its feature
        self.sets: list[PhraseSet] = []
        for mode in ("lemma", "exact"):
            phrases, labels, starts = [], [], []
            for name, (where, match, words, _) in FEATURES.items():
                if match != mode or name in ("exclamation", "question"):
                    continue
                phrases += words
                labels += [name] * len(words)
                starts += [where == "start"] * len(words)
            self.sets.append(PhraseSet(phrases, analyzer, mode, labels=labels, sentence_start=starts))

    def features(self, cnlp: ConvNLP, turns: list[int]) -> dict[int, dict[str, tuple[int, int]]]:
        """Turn → feature name → the character span of its first occurrence."""
        found: dict[int, dict[str, tuple[int, int]]] = {i: {} for i in turns}
        for ps in self.sets:
            for h in ps.find(cnlp, turns, overlapping=True):
                feats = found[h.turn_index]
                for name in h.labels:
                    if FEATURES[name][0] == "inner" and h.at_start:
                        continue
                    if name not in feats:
                        feats[name] = (h.start, h.end)
        for i in turns:
            for name, ch in (("exclamation", "!"), ("question", "?")):
                k = cnlp.texts[i].find(ch)
                if k >= 0:
                    found[i][name] = (k, k + 1)
        return found

    def score(self, feats: dict[str, tuple[int, int]]) -> tuple[float, list[FeatureHit]]:
        z = self.bias
        hits = []
        for name, (s, e) in feats.items():
            w = self.weights.get(name, 0.0)
            z += w
            if w:
                hits.append(FeatureHit(name, s, e, w))
        return 1.0 / (1.0 + math.exp(-z)), hits


@register
class Politeness(Check):
    name = "politeness"
    summary = ("Politeness strategies in the speaker's turns (thanks, please, \"could you\", "
               "apologies, hedges … vs direct questions, \"actually\", rude words), each with a "
               "weight; the mean turn score against a threshold.")
    Options = PolitenessOptions

    def __init__(self, options: PolitenessOptions, analyzer):
        super().__init__(options, analyzer)
        self.model = PolitenessModel(analyzer, options.weights, options.bias)

    def explain(self) -> str:
        w = self.model.weights
        pos = sorted((k for k in w if w[k] > 0), key=lambda k: -w[k])
        neg = sorted((k for k in w if w[k] < 0), key=lambda k: w[k])
        return (f"Scores each {self.options.speaker} turn 0..1 from politeness strategies. Raises it: "
                + ", ".join(f"{FEATURES[k][3]} ({w[k]:+.1f})" for k in pos[:8])
                + ". Lowers it: " + ", ".join(f"{FEATURES[k][3]} ({w[k]:+.1f})" for k in neg[:6])
                + f". Passes when the mean over the turns that show any of these is at least "
                f"{self.options.threshold:.2f}.")

    def run(self, ctx: Context) -> Outcome:
        o = self.options
        conv = ctx.conv
        idx = [i for i, t in enumerate(conv.turns) if o.speaker == "any" and t.speaker != "system"
               or t.speaker == o.speaker]
        idx = [i for i in idx if ctx.n_words(i) > 0]
        if len(idx) < o.min_turns:
            return na(f"no {o.speaker} turns with words" if not idx else
                      f"only {len(idx)} {o.speaker} turn(s), fewer than {o.min_turns}")
        scores, plain = [], []
        best: list[tuple[float, int, FeatureHit]] = []
        feats = self.model.features(ctx.nlp, idx)
        for i in idx:
            p, hits = self.model.score(feats[i])
            (scores if hits or o.include_plain_turns else plain).append(p)
            for h in hits:
                best.append((h.weight, i, h))
        # turns with no marker either way (plain statements of fact) do not dilute the mean
        n_scored = len(scores) if scores else len(plain)
        mean = sum(scores or plain) / n_scored
        # evidence and reason name the strong markers (|weight| >= 0.5); weaker ones still count
        pos = sorted((b for b in best if b[0] >= 0.5), key=lambda b: -b[0])[:3]
        neg = sorted((b for b in best if b[0] <= -0.5), key=lambda b: b[0])[:3]
        ev = [evidence(conv, i, "positive", (h.start, h.end)) for _, i, h in pos]
        ev += [evidence(conv, i, "negative", (h.start, h.end)) for _, i, h in neg]

        def names(items):
            seen = []
            for _, _, h in items:
                label = FEATURES[h.feature][3].split(" (")[0]
                if label not in seen:
                    seen.append(label)
            return "; ".join(seen)

        detail = []
        if pos:
            detail.append(f"polite: {names(pos)}")
        if neg:
            detail.append(f"impolite: {names(neg)}")
        reason = (f"politeness {mean:.2f} over {n_scored} {o.speaker} turn{'s' if n_scored > 1 else ''} "
                  f"(threshold {o.threshold:.2f})" + (f"; {' / '.join(detail)}" if detail else
                                                       "; no politeness markers either way"))
        if mean >= o.threshold:
            return passed(reason, ev, 1.0)
        return failed(reason, ev, mean / o.threshold if o.threshold > 0 else 0.0)

