"""The ``politeness`` check: politeness strategies (Danescu-Niculescu-Mizil et al., 2013).

Each of the speaker's turns is scored from a small set of explainable, general features,
each a rule over words or lemmas (found by the shared phrase index, so no feature can make
scoring slow): gratitude, greeting, apologising, deference, "please", indirect requests
("could you / would you"), hedges, "we" … (polite) and direct questions ("why …?"), a
sentence opening with "so / but / and", with "you" or with a bare order ("Send …"),
factuality ("in fact", "actually"), negative words … (impolite). A turn's politeness is
``sigmoid(bias + Σ weight of each feature present)``, 0..1.

The weights are data, not hand-set: ``bench/fit_politeness.py`` fits them (L2 logistic
regression) on the training split of the Stanford Politeness Corpus (Wikipedia requests,
split by request id) and writes the block between the ``fitted weights`` markers below;
``bench/eval_politeness.py`` reports them on the held-out split. Trainers can override any
weight in the rubric (``weights:``), and the ``bias``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple

from pydantic import Field, field_validator

from ..nlp import ConvNLP
from ..phrases import PhraseSet
from . import BaseOptions, Check, Context, Outcome, evidence, failed, na, passed, register


class Feature(NamedTuple):
    where: str
    """``any``: anywhere in the turn; ``start``: the first words of a sentence; ``inner``:
    anywhere except a sentence start."""
    match: str
    """``lemma`` (any inflection: "thanked", "apologised") or ``exact`` (the words as written)."""
    phrases: list[str]
    label: str
    """Plain words for reasons and ``qa rubric explain``."""


# Kept few and general on purpose: each must mean the same thing on Wikipedia talk pages,
# Stack Exchange comments and a customer-service agent's turns (no topic words).
FEATURES: dict[str, Feature] = {
    "gratitude": Feature("any", "lemma", [
        "thank", "thanks", "thank you", "thx", "appreciate", "grateful"], "thanks"),
    "deference": Feature("start", "exact", [
        "great", "good", "nice", "interesting", "excellent", "awesome", "wonderful",
        "impressive", "fantastic", "well done", "good job", "good point", "good question"],
        "opens with praise (\"Great work\")"),
    "greeting": Feature("start", "exact", [
        "hi", "hello", "hey", "hiya", "greetings", "good morning", "good afternoon",
        "good evening", "dear", "welcome"], "greets (\"Hi\", \"Hello\")"),
    "apologizing": Feature("any", "lemma", [
        "sorry", "apologize", "apologise", "apology", "excuse me", "forgive me", "pardon",
        "my apologies", "my bad", "my mistake", "regret"], "apologises"),
    "please": Feature("inner", "exact", ["please", "pls", "plz", "kindly"],
                      "says \"please\" inside the sentence"),
    "please_start": Feature("start", "exact", ["please", "pls", "plz", "kindly"],
                            "opens with \"please\""),
    "indirect_request": Feature("any", "exact", [
        "could you", "would you", "could we", "would we", "could i", "may i", "would it be",
        "would you mind", "if you could", "if you would", "if you don't mind", "if possible",
        "if you have time", "when you get a chance", "when you have a moment",
        "i was wondering", "i wonder if"],
        "asks indirectly (\"could you\", \"would you mind\")"),
    "direct_request": Feature("any", "exact", ["can you", "will you", "can we", "can i"],
                              "asks directly (\"can you\", \"will you\")"),
    "hedges": Feature("any", "lemma", [
        "think", "suggest", "perhaps", "maybe", "possibly", "probably", "likely", "seem",
        "guess", "assume", "believe", "wonder", "somewhat", "kind of", "sort of", "i feel",
        "a bit", "a little", "hopefully", "hope", "might", "not sure", "if i understand",
        "as far as i know", "i suppose"], "hedges (\"I think\", \"perhaps\")"),
    "first_person_plural": Feature("any", "exact", ["we", "our", "us", "ours", "let's", "ourselves"],
                                   "says \"we\" / \"us\""),
    "first_person_start": Feature("start", "exact", ["i", "my", "i'm", "i've", "i'd", "i'll"],
                                  "opens a sentence with \"I\""),
    "second_person": Feature("inner", "exact", ["you", "your", "yours", "yourself"],
                             "addresses the other person (\"you\")"),
    "second_person_start": Feature("start", "exact", ["you", "your", "yours", "you're", "you've"],
                                   "opens a sentence with \"you\""),
    "direct_question": Feature("start", "exact", ["what", "who", "where", "when", "which", "how"],
                               "asks a direct question (\"What is …?\")"),
    "why_question": Feature("start", "exact", ["why", "how come"],
                            "asks \"why …?\" (reads as a challenge)"),
    "direct_start": Feature("start", "exact", ["so", "then", "and", "but", "or", "well"],
                            "opens with \"so\", \"but\", \"and\""),
    "factuality": Feature("any", "exact", [
        "in fact", "actually", "the point is", "the reality is", "the truth is", "obviously",
        "clearly", "as i said", "as i already said", "as i told you", "of course"],
        "insists (\"in fact\", \"actually\", \"obviously\")"),
    "challenge": Feature("any", "exact", [
        "are you sure", "did you even", "do you even", "what's wrong with", "what is wrong with",
        "you keep", "you always", "you never", "why would you", "why don't you", "why didn't you"],
        "challenges (\"are you sure\", \"did you even\")"),
    "offer_help": Feature("any", "exact", [
        "no problem", "no worries", "not a problem", "feel free", "let me know", "happy to help",
        "glad to help", "happy to", "glad to", "you're welcome", "you are welcome",
        "take your time", "hope this helps", "hope that helps", "i can help", "i'd be happy",
        "i would be happy"], "offers help or reassures (\"happy to help\", \"no worries\")"),
    "opinion_request": Feature("any", "exact", [
        "what do you think", "do you think", "any thoughts", "any suggestions", "any ideas",
        "your thoughts", "your opinion", "would you agree", "what would you suggest"],
        "asks for the other person's view (\"what do you think?\")"),
    "positive_words": Feature("any", "lemma", [
        "glad", "happy", "welcome", "helpful", "good", "great", "nice", "wonderful",
        "excellent", "love", "enjoy", "awesome", "fantastic", "perfect", "interesting", "kind",
        "cool", "lovely"], "positive words"),
    "negative_words": Feature("any", "lemma", [
        "wrong", "bad", "mistake", "fail", "worse", "worst", "poor", "confusing", "unclear",
        "stupid", "ridiculous", "nonsense", "useless", "pointless", "waste", "annoying",
        "terrible", "horrible", "awful", "lazy", "silly", "dumb", "idiot", "crap", "damn",
        "hell", "whatever", "seriously", "ignore"], "negative words"),
}

# ---- fitted weights (written by bench/fit_politeness.py; do not edit by hand) ----
# split by request id: sha256('2013:<Id>') in the first 75% of the hash range trains, the rest is held out;
# fitted on the training split's top/bottom quartiles
# (n=1646), L2 penalty 0.3 chosen by 5-fold cross-validation;
# held at >= 0: please, please_start.
FIT = {
    "split": "split by request id: sha256('2013:<Id>') in the first 75% of the hash range trains, the rest is held out",
    "seed": 2013,
    "train_share": 0.75,
    "n_train": 1646,
    "l2": 0.3,
    "cv_accuracy": 0.7849,
    "quartiles": [-0.4459, 0.5152],
}
DEFAULT_BIAS = -1.14
DEFAULT_WEIGHTS: dict[str, float] = {
    "gratitude": 3.58, "deference": 1.91, "greeting": 1.89, "apologizing": 1.5, "please": 0.46,
    "please_start": 0.0, "indirect_request": 1.94, "direct_request": 1.17, "hedges": 0.23,
    "first_person_plural": 0.11, "first_person_start": 0.8, "second_person": 0.19,
    "second_person_start": -1.0, "direct_question": -0.2, "why_question": -2.71,
    "direct_start": -1.59, "factuality": -1.16, "challenge": -2.71, "offer_help": 2.18,
    "opinion_request": 1.9, "positive_words": 1.24, "negative_words": -1.12,
}
# ---- end of fitted weights ----
assert set(DEFAULT_WEIGHTS) == set(FEATURES), "refit: bench/fit_politeness.py --write"


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
    """Count turns with no politeness marker either way in the mean."""

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
    """Character span of the feature's first occurrence in the turn."""
    weight: float


class PolitenessModel:
    """The features compiled once (one labelled phrase set per match mode); scores turns."""

    def __init__(self, analyzer, weights: dict[str, float] | None = None, bias: float | None = None):
        self.weights = dict(DEFAULT_WEIGHTS)
        self.weights.update(weights or {})
        self.bias = DEFAULT_BIAS if bias is None else bias
        self.sets: list[PhraseSet] = []
        for mode in ("lemma", "exact"):
            phrases, labels, starts = [], [], []
            for name, f in FEATURES.items():
                if f.match != mode:
                    continue
                phrases += f.phrases
                labels += [name] * len(f.phrases)
                starts += [f.where == "start"] * len(f.phrases)
            self.sets.append(PhraseSet(phrases, analyzer, mode, labels=labels, sentence_start=starts))

    def features(self, cnlp: ConvNLP, turns: list[int]) -> dict[int, dict[str, tuple[int, int]]]:
        """Turn → feature name → the character span of its first occurrence."""
        found: dict[int, dict[str, tuple[int, int]]] = {i: {} for i in turns}
        for ps in self.sets:
            for h in ps.find(cnlp, turns, overlapping=True):
                feats = found[h.turn_index]
                for name in h.labels:
                    if FEATURES[name].where == "inner" and h.at_start:
                        continue
                    old = feats.get(name)
                    if old is None or h.start < old[0]:
                        feats[name] = (h.start, h.end)
        return found

    def score(self, feats: dict[str, tuple[int, int]]) -> tuple[float, list[FeatureHit]]:
        """A turn's politeness 0..1 and the features that moved it, strongest first."""
        z = self.bias
        hits = []
        for name, (s, e) in feats.items():
            w = self.weights.get(name, 0.0)
            z += w
            if w:
                hits.append(FeatureHit(name, s, e, w))
        hits.sort(key=lambda h: -abs(h.weight))
        return 1.0 / (1.0 + math.exp(-z)), hits


STRONG = 0.5
"""Features with at least this weight (either way) are named in reasons and evidence."""


def _quote(text: str, s: int, e: int) -> str:
    return text[s:e].replace("\n", " ")


@register
class Politeness(Check):
    name = "politeness"
    summary = ("Politeness strategies in the speaker's turns (thanks, greetings, apologies, "
               "\"could you\", hedges … vs \"why …?\", bare orders, \"actually\", negative words), "
               "weights fitted on rated requests; the mean turn score against a threshold.")
    Options = PolitenessOptions

    def __init__(self, options: PolitenessOptions, analyzer):
        super().__init__(options, analyzer)
        self.model = PolitenessModel(analyzer, options.weights, options.bias)

    def explain(self) -> str:
        w = self.model.weights
        pos = sorted((k for k in w if w[k] > 0), key=lambda k: -w[k])
        neg = sorted((k for k in w if w[k] < 0), key=lambda k: w[k])
        return (f"Scores each {self.options.speaker} turn 0..1 from politeness strategies. Raises it: "
                + ", ".join(f"{FEATURES[k].label} ({w[k]:+.1f})" for k in pos[:8])
                + ". Lowers it: " + ", ".join(f"{FEATURES[k].label} ({w[k]:+.1f})" for k in neg[:6])
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
        fired: list[tuple[int, FeatureHit]] = []
        feats = self.model.features(ctx.nlp, idx)
        for i in idx:
            p, hits = self.model.score(feats[i])
            (scores if hits or o.include_plain_turns else plain).append(p)
            fired += [(i, h) for h in hits]
        # turns with no marker either way (plain statements of fact) do not dilute the mean
        n_scored = len(scores) if scores else len(plain)
        mean = sum(scores or plain) / n_scored
        # the reason and evidence name the strongest features either way (|weight| >= 0.5):
        # which, in which turn, with what weight; weaker ones still count
        pos = sorted((f for f in fired if f[1].weight >= STRONG), key=lambda f: (-f[1].weight, f[0]))
        neg = sorted((f for f in fired if f[1].weight <= -STRONG), key=lambda f: (f[1].weight, f[0]))

        def named(items: list[tuple[int, FeatureHit]]) -> str:
            out, seen = [], set()
            for i, h in items:
                if h.feature in seen:
                    continue
                seen.add(h.feature)
                out.append(f"{h.feature} {h.weight:+.2f} (turn {i + 1}: "
                           f"'{_quote(conv.turns[i].text, h.start, h.end)}')")
                if len(out) == 3:
                    break
            return ", ".join(out)

        ev = [evidence(conv, i, "positive", (h.start, h.end)) for i, h in pos[:3]]
        ev += [evidence(conv, i, "negative", (h.start, h.end)) for i, h in neg[:3]]
        detail = [f"polite: {named(pos)}"] if pos else []
        detail += [f"impolite: {named(neg)}"] if neg else []
        s = "s" if n_scored > 1 else ""
        shown = f"{mean:.2f}"
        if (mean >= o.threshold) != (float(shown) >= o.threshold):  # 0.499 must not read 0.50
            shown = f"{mean:.3f}" if round(mean, 3) != o.threshold else f"{mean:.4f}"
        reason = (f"politeness {shown} over {n_scored} {o.speaker} turn{s} (threshold {o.threshold:.2f})"
                  + (f"; {'; '.join(detail)}" if detail else "; no politeness markers either way"))
        if mean >= o.threshold:
            return passed(reason, ev, 1.0)
        return failed(reason, ev, mean / o.threshold if o.threshold > 0 else 0.0)
