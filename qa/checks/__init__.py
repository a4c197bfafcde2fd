"""Check types: the registry, the outcome of a check, and helpers every check uses.

A check type is a class registered under a name with :func:`register`. It declares

* ``Options``: a pydantic model of the YAML keys it accepts (unknown keys are refused and
  the message lists the known ones);
* ``needs``: which NLP features it uses (``lemma``; ``ner``; ``doc`` for spaCy ``Doc``);
* ``__init__(options, analyzer)``: compiles the options once per rubric (phrase lists are
  lemmatised once, not per conversation: :class:`qa.phrases.PhraseSet`);
* ``run(ctx) -> Outcome``: scores one conversation;
* ``explain() -> str``: what it looks for, in plain words (``qa rubric explain``).

Adding a check type is one registered class. ``REGISTRY`` maps names to classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..phrases import Hit, PhraseSet  # noqa: F401  (phrase matching: qa.phrases; kept importable here)

if TYPE_CHECKING:
    from ..conversation import Conversation, Turn
    from ..nlp import Analyzer, ConvNLP

REGISTRY: dict[str, type["Check"]] = {}


class CheckOptionsError(Exception):
    """Options that a schema cannot express (a bad Matcher pattern…): ``problems`` are
    ``(loc, message)`` pairs, ``loc`` relative to the criterion."""

    def __init__(self, problems: list[tuple[tuple, str]]):
        super().__init__("; ".join(m for _, m in problems))
        self.problems = problems


def register(cls: type["Check"]) -> type["Check"]:
    REGISTRY[cls.name] = cls
    return cls


# ---------------------------------------------------------------- outcomes
@dataclass
class Evidence:
    """One piece of evidence: where in the conversation, what was said, what matched."""

    turn_index: int
    """0-based index of the turn in ``Conversation.turns`` (reasons say "turn N", 1-based)."""
    speaker: str
    start_s: float | None
    end_s: float | None
    quote: str
    """The whole turn text, or a window of it for long turns."""
    match: str | None = None
    """The matched span's text."""
    match_start: int | None = None
    """Character offset of the match inside ``quote``."""
    match_end: int | None = None
    polarity: str = "positive"
    """``positive``: evidence for a pass; ``negative``: evidence for a fail."""
    note: str | None = None
    """What this quote shows, in plain words, for the reader of a report: "the customer's
    distress", "the agent's reply after a 6 min wait", "the agent's last message: no
    courteous close"."""


@dataclass
class Outcome:
    """What a check found in one conversation."""

    outcome: str
    """``pass``, ``fail`` or ``na``."""
    score: float | None
    """0..1 (graded checks give partial credit); None when ``na``."""
    reason: str
    """Plain words: why this outcome (always set)."""
    evidence: list[Evidence] = field(default_factory=list)
    na_reason: str | None = None


def na(reason: str) -> Outcome:
    return Outcome("na", None, reason, [], reason)


def passed(reason: str, evidence: list[Evidence] | None = None, score: float = 1.0) -> Outcome:
    return Outcome("pass", score, reason, evidence or [])


def failed(reason: str, evidence: list[Evidence] | None = None, score: float = 0.0) -> Outcome:
    return Outcome("fail", score, reason, evidence or [])


MAX_QUOTE = 400


def evidence(conv: "Conversation", i: int, polarity: str = "positive", span: tuple[int, int] | None = None,
             note: str | None = None) -> Evidence:
    """Evidence for turn ``i``, quoting the turn (a window of it around the match when long);
    ``note`` says what the quote shows (:attr:`Evidence.note`)."""
    t = conv.turns[i]
    text = t.text
    start = 0
    if len(text) > MAX_QUOTE:
        if span is not None:
            start = max(0, min(span[0] - MAX_QUOTE // 3, len(text) - MAX_QUOTE))
        text = text[start:start + MAX_QUOTE]
    if span is None:
        return Evidence(i, t.speaker, t.start_s, t.end_s, text, None, None, None, polarity, note)
    s, e = span[0] - start, span[1] - start
    return Evidence(i, t.speaker, t.start_s, t.end_s, text, text[s:e], s, e, polarity, note)


def fmt_s(seconds: float) -> str:
    """6 min 2 s / 45 s / 1.5 s / 1 h 3 min."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m} min {s} s" if s else f"{m} min"
    h, m = divmod(m, 60)
    return f"{h} h {m} min" if m else f"{h} h"


def at(t: "Turn") -> str:
    if t.start_s is None:
        return ""
    s = int(t.start_s)
    if s >= 3600:
        return f" at {s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f" at {s // 60}:{s % 60:02d}"


# ---------------------------------------------------------------- context
@dataclass
class Context:
    """One conversation being scored: the data, its analysed turns, and a scratch pad
    shared by the checks of one rubric (e.g. the customer's name, once found)."""

    conv: "Conversation"
    nlp: "ConvNLP"
    scratch: dict[str, Any] = field(default_factory=dict)

    def n_words(self, i: int) -> int:
        return self.nlp.n_words(i)

    def select(self, speaker: str, window: "Window | None") -> tuple[list[int] | None, str | None]:
        """:func:`select_turns`, with the speaker's turns listed once per conversation."""
        key = ("turns", speaker)
        idx = self.scratch.get(key)
        if idx is None:
            idx = self.scratch[key] = [i for i, t in enumerate(self.conv.turns)
                                       if speaker == "any" or t.speaker == speaker]
        return _window(self.conv, idx, speaker, window)

    @property
    def has_timestamps(self) -> bool:
        v = self.scratch.get("has_timestamps")
        if v is None:
            v = self.scratch["has_timestamps"] = self.conv.has_timestamps
        return v

    @property
    def has_customer(self) -> bool:
        v = self.scratch.get("has_customer")
        if v is None:
            v = self.scratch["has_customer"] = any(t.speaker == "customer" for t in self.conv.turns)
        return v


# ---------------------------------------------------------------- options shared by checks
Speaker = Literal["agent", "customer", "any"]


class Window(BaseModel):
    """Where in the conversation to look. At most one key."""

    model_config = ConfigDict(extra="forbid")
    first_turns: int | None = Field(default=None, ge=1)
    """The speaker's first N turns."""
    last_turns: int | None = Field(default=None, ge=1)
    """The speaker's last N turns."""
    first_seconds: float | None = Field(default=None, gt=0)
    """Turns starting in the first N seconds."""
    last_seconds: float | None = Field(default=None, gt=0)
    """Turns starting in the last N seconds."""

    @model_validator(mode="after")
    def _one(self) -> "Window":
        set_ = [k for k, v in self.model_dump().items() if v is not None]
        if len(set_) > 1:
            raise ValueError(f"use one of first_turns, last_turns, first_seconds, last_seconds, "
                             f"not {' and '.join(set_)}")
        return self

    def describe(self, speaker: str) -> str:
        who = "" if speaker == "any" else f"{speaker} "
        if self.first_turns:
            return f"in the first {self.first_turns} {who}turn{'s' if self.first_turns > 1 else ''}"
        if self.last_turns:
            return f"in the last {self.last_turns} {who}turn{'s' if self.last_turns > 1 else ''}"
        if self.first_seconds:
            return f"in {who}turns in the first {fmt_s(self.first_seconds)}"
        if self.last_seconds:
            return f"in {who}turns in the last {fmt_s(self.last_seconds)}"
        return f"in any {who}turn"


def select_turns(conv: "Conversation", speaker: str, window: Window | None
                 ) -> tuple[list[int] | None, str | None]:
    """Indices of the turns a check looks at, or (None, why N/A)."""
    idx = [i for i, t in enumerate(conv.turns) if speaker == "any" or t.speaker == speaker]
    return _window(conv, idx, speaker, window)


def _window(conv: "Conversation", idx: list[int], speaker: str, window: Window | None
            ) -> tuple[list[int] | None, str | None]:
    if not idx:
        return None, f"no {speaker} turns" if speaker != "any" else "the conversation has no turns"
    if window is None:
        return idx, None
    if window.first_turns:
        return idx[:window.first_turns], None
    if window.last_turns:
        return idx[-window.last_turns:], None
    if not conv.has_timestamps:
        return None, "the conversation has no timestamps, so a window in seconds cannot apply"
    t0 = min(t.start_s for t in conv.turns)  # type: ignore[type-var]
    if window.first_seconds:
        return [i for i in idx if conv.turns[i].start_s - t0 <= window.first_seconds], None
    end = max((t.end_s if t.end_s is not None else t.start_s) for t in conv.turns)  # type: ignore
    return [i for i in idx if end - conv.turns[i].start_s <= window.last_seconds], None


def short_list(items: list[str], n: int = 4) -> str:
    shown = ", ".join(f"'{x}'" for x in items[:n])
    return shown + (f" … ({len(items) - n} more)" if len(items) > n else "")


# ---------------------------------------------------------------- the base class
class Check:
    """Base class of the check types."""

    name: ClassVar[str]
    summary: ClassVar[str] = ""
    """One line for ``qa rubric explain`` and the README."""
    Options: ClassVar[type[BaseModel]]
    needs: ClassVar[frozenset[str]] = frozenset({"lemma"})
    timing: ClassVar[bool] = False
    """True for checks that read timestamps (their rubric examples cannot be text only)."""

    def __init__(self, options: BaseModel, analyzer: "Analyzer"):
        self.options = options

    @classmethod
    def validate_options(cls, data: dict[str, Any]) -> BaseModel:
        return cls.Options.model_validate(data)

    @classmethod
    def needs_for(cls, options: BaseModel) -> frozenset[str]:
        """NLP features this criterion needs (``pos`` loads the tagger)."""
        return cls.needs

    def run(self, ctx: Context) -> Outcome:  # pragma: no cover - abstract
        raise NotImplementedError

    def explain(self) -> str:
        return self.summary


class BaseOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


from . import text, timing, politeness, service  # noqa: E402,F401,I001  (registers the check types)
