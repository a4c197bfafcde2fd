"""Phrase matching, in one place: how phrases and words become keys, how a rubric's
phrase lists are compiled, and how they are found in a conversation.

* **Keys.** Every word of a turn is searched as a key: its lemma normalised
  (:func:`match_key`: apologise / apologize / apologies → ``apology``) in ``lemma`` mode,
  the word lower-cased (:func:`exact_key`) in ``exact`` mode. :mod:`qa.nlp` builds each
  conversation's key strings (:class:`qa.nlp.ConvSeq`: :data:`SEP` between turns,
  :data:`MARK` before each sentence) and turns a phrase into keys with the same pipeline
  (:meth:`qa.nlp.Analyzer.phrase_keys`).
* **Compiling.** A :class:`PhraseSet` (one per phrase list of a criterion) keys its
  phrases once per rubric and adds them to the analyser's :class:`PhraseRegistry`, which
  holds every phrase of the rubric.
* **Matching.** :func:`phrase_hits` finds every phrase of the registry in one pass over
  a conversation (memoised on it, shared by all criteria); :meth:`PhraseSet.find` picks
  its own phrases from those hits, in the turns asked for, longest match first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .checks import Context
    from .nlp import Analyzer, ConvNLP

MARK = "^"
"""Key marking the start of a sentence in the searchable strings (``^ please help``)."""
SEP = "\x00"
"""Key separating turns (no phrase can match across two turns)."""


# ---------------------------------------------------------------- match keys
_KEY_MEMO: dict[str, str] = {}


def match_key(lemma: str) -> str:
    """Normalise a lemma so that spelling variants and -ize verbs meet their noun:
    apologise / apologize / apologized / apologies → ``apology``."""
    k = _KEY_MEMO.get(lemma)
    if k is not None:
        return k
    k = lemma.lower().replace("\u2019", "'").replace(" ", "_")
    n = len(k)
    if n > 6 and k.endswith(("ised", "ized")):
        k = k[:-4] + "y"
    elif n > 7 and k.endswith(("ising", "izing")):
        k = k[:-5] + "y"
    elif n > 5 and k.endswith(("ise", "ize")):
        k = k[:-3] + "y"
    if len(_KEY_MEMO) < 500_000:
        _KEY_MEMO[lemma] = k
    return k


def exact_key(word: str) -> str:
    return word.lower().replace("\u2019", "'").replace(" ", "_")


# ---------------------------------------------------------------- the registry and one pass
class PhraseRegistry:
    """Every phrase key of a rubric, indexed for one pass over a conversation that finds
    every phrase of every criterion (:func:`phrase_hits`): one-word phrases in a
    set, longer ones by their first two keys."""

    def __init__(self) -> None:
        self.uni: dict[str, set[str]] = {"lemma": set(), "exact": set()}
        # mode -> (first key, second key) -> phrase length -> phrases (as key tuples)
        self.bi: dict[str, dict[tuple[str, str], dict[int, set[tuple[str, ...]]]]] = {"lemma": {}, "exact": {}}
        self.version = 0

    def add(self, mode: str, key: str) -> None:
        toks = tuple(key.split(" "))
        if len(toks) == 1:
            if toks[0] not in self.uni[mode]:
                self.uni[mode].add(toks[0])
                self.version += 1
            return
        group = self.bi[mode].setdefault(toks[:2], {}).setdefault(len(toks), set())
        if toks not in group:
            group.add(toks)
            self.version += 1


def phrase_hits(cnlp: "ConvNLP", mode: str, registry: PhraseRegistry) -> dict[tuple[str, ...], list[int]]:
    """Phrase (as a key tuple) → the key index of each place it starts in the conversation,
    for every phrase in the registry (one pass over the conversation, shared by all
    criteria; kept on ``cnlp`` until the registry changes)."""
    mode = "exact" if mode == "exact" else "lemma"
    cached = cnlp.hit_memo.get(mode)
    if cached is not None and cached[0] == registry.version:
        return cached[1]
    keys = cnlp.seq(mode).keys
    uni = registry.uni[mode]
    bi = registry.bi[mode]
    out: dict[tuple[str, ...], list[int]] = {}
    for i in [i for i, k in enumerate(keys) if k in uni]:
        out.setdefault((keys[i],), []).append(i)
    if bi:
        for i, pair in [(i, p) for i, p in enumerate(zip(keys, keys[1:])) if p in bi]:
            for n, group in bi[pair].items():
                toks = pair if n == 2 else tuple(keys[i:i + n])
                if toks in group:
                    out.setdefault(toks, []).append(i)
    cnlp.hit_memo[mode] = (registry.version, out)
    return out


# ---------------------------------------------------------------- phrase sets (what checks use)
@dataclass
class Hit:
    turn_index: int
    start: int
    """Character offsets in the turn text."""
    end: int
    phrase: str
    """The rubric's phrase that matched."""
    labels: frozenset = frozenset()
    """The labels of every phrase that matched here (features, for politeness)."""
    at_start: bool = False
    """True when the match begins a sentence."""
    _a: int = -1


class PhraseSet:
    """A list of phrases compiled once, matched on lemmas (``lemma``) or lower-cased
    words (``exact``), whole words only, punctuation ignored, never across two turns.

    In ``lemma`` mode with the tagger (context-dependent lemmas) a phrase also matches its
    words exactly as written; lookup lemmas do not depend on context. Phrases are
    compared as sequences of keys, found in one pass over each conversation shared by
    every criterion (:func:`phrase_hits`): no regular expressions, so no
    phrase can make matching slow. ``sentence_start`` phrases match only as the first
    words of a sentence. ``labels`` (one per phrase) tag the hits.
    """

    def __init__(self, phrases: list[str], analyzer: "Analyzer", match: str = "lemma", *,
                 labels: list[str] | None = None, sentence_start: list[bool] | None = None):
        self.phrases = list(phrases)
        self.mode = match
        self.registry = analyzer.registry
        self.modes = ("exact",) if match == "exact" else (
            ("lemma", "exact") if analyzer.tagged else ("lemma",))
        self.by_key: dict[str, dict[tuple[str, ...], tuple[str, frozenset, int]]] = {m: {} for m in self.modes}
        keys = analyzer.phrase_keys(self.phrases) if self.phrases else []
        for k, (phrase, (kl, ke)) in enumerate(zip(self.phrases, keys)):
            label = labels[k] if labels else phrase
            for m in self.modes:
                key = kl if m == "lemma" else ke
                if not key:
                    continue
                if sentence_start and sentence_start[k]:
                    key = f"{MARK} {key}"
                toks = tuple(key.split(" "))
                old = self.by_key[m].get(toks)
                self.by_key[m][toks] = (old[0] if old else phrase,
                                        (old[1] if old else frozenset()) | {label}, len(toks))
                self.registry.add(m, key)

    def __bool__(self) -> bool:
        return any(self.by_key.values())

    def find(self, cnlp: "ConvNLP", turns: "list[int] | None" = None, limit: int | None = None,
             *, overlapping: bool = False) -> list[Hit]:
        """Hits in the given turns (all turns when None), in turn and text order; where
        phrases overlap, the longest wins (``overlapping``: every phrase found, each its
        own hit)."""
        kturn, kstart, kend = cnlp.kturn, cnlp.kstart, cnlp.kend
        allowed = set(turns) if turns is not None else None
        if allowed is not None and not allowed:
            return []
        cands = []
        for m in self.modes:
            found = phrase_hits(cnlp, m, self.registry)
            mine = self.by_key[m]
            if len(found) < len(mine):
                pairs = [(mine[k], v) for k, v in found.items() if k in mine]
            else:
                pairs = [(info, found[k]) for k, info in mine.items() if k in found]
            for (phrase, labels, n), starts in pairs:
                for a in starts:
                    if allowed is not None and kturn[a] not in allowed:
                        continue
                    cands.append((a, -n, phrase, labels))
        if not cands:
            return []
        cands.sort(key=lambda c: (c[0], c[1]))
        hits: list[Hit] = []
        last_end = -1
        for a, neg_n, phrase, labels in cands:
            b = a - neg_n - 1
            if a <= last_end and not overlapping:
                if hits and a == hits[-1]._a:
                    hits[-1].labels = hits[-1].labels | labels
                continue
            at_start = a > 0 and kstart[a - 1] < 0 and kturn[a - 1] >= 0
            s0 = a
            while s0 < b and kstart[s0] < 0:  # a sentence-start marker
                s0 += 1
            h = Hit(kturn[a], kstart[s0], kend[b], phrase, labels, at_start or s0 > a)
            h._a = a
            hits.append(h)
            last_end = b
            if limit is not None and len(hits) >= limit:
                break
        return hits

    def find_in(self, ctx: "Context", indices: list[int], limit: int | None = None) -> list[Hit]:
        return self.find(ctx.nlp, indices, limit)
