"""Checks that read timings: response_latency, dead_air, interruptions, talk_ratio."""

from __future__ import annotations

import statistics
from typing import Literal

from pydantic import Field, model_validator

from ..phrases import PhraseSet
from . import BaseOptions, Check, Context, Evidence, Outcome, at, evidence, failed, fmt_s, na, passed, register


def _end(t) -> float | None:
    if t.words:
        return t.words[-1].end
    return t.end_s if t.end_s is not None else t.start_s


def _graded(value: float, target: float, zero_at: float) -> float:
    if value <= target:
        return 1.0
    if zero_at <= target:
        return 0.0
    return max(0.0, 1.0 - (value - target) / (zero_at - target))


# ---------------------------------------------------------------- response_latency
class ChannelTarget(BaseOptions):
    target_s: float = Field(gt=0)
    """Replies at or under this many seconds score full marks on this channel."""
    zero_at_s: float | None = Field(default=None, gt=0)
    """A reply this slow scores 0 on this channel (default 4 × target_s)."""


class LatencyOptions(BaseOptions):
    mode: Literal["reply", "first", "wait"] = "reply"
    """reply: every agent reply to the customer; first: the first response only; wait: every
    time the customer waited on the agent, counted to each agent message from the message
    before it, the agent's own included (a "let me check" starts a wait, announced or not)."""
    target_s: float = Field(gt=0)
    """Replies at or under this many seconds score full marks (and pass)."""
    zero_at_s: float | None = Field(default=None, gt=0)
    """A reply this slow scores 0; in between the score falls linearly (default 4 × target_s)."""
    statistic: Literal["mean", "median", "max", "p90"] = "mean"
    """reply mode: which figure over all replies is graded."""
    by_channel: dict[Literal["voice", "chat", "email", "social"], "ChannelTarget"] = Field(default_factory=dict)
    """Targets for one channel that differ from target_s / zero_at_s (social: an hour is good)."""

    @model_validator(mode="after")
    def _order(self) -> "LatencyOptions":
        if self.zero_at_s is not None and self.zero_at_s <= self.target_s:
            raise ValueError(f"zero_at_s ({self.zero_at_s:g}) must be larger than target_s ({self.target_s:g})")
        return self


def _calls_only(ctx: Context, subject: str) -> Outcome | None:
    """N/A (with the reason) unless the conversation is a call with timestamps;
    ``subject`` starts the reason: "dead air applies" to calls, not to chat."""
    if ctx.conv.channel != "voice":
        return na(f"{subject} to calls, not to {ctx.conv.channel}")
    if not ctx.has_timestamps:
        return na("the call has no timestamps")
    if not has_turn_lengths(ctx):
        return na("the call's turns have start times only (no lengths or word timings), so silences "
                  "between them cannot be told from speech")
    return None


def has_turn_lengths(ctx: Context) -> bool:
    """True when some turn has an end after its start, or word timings (a transcript with
    start times only cannot show silences or overlaps)."""
    v = ctx.scratch.get("has_turn_lengths")
    if v is None:
        v = ctx.scratch["has_turn_lengths"] = any(
            t.words or (t.end_s is not None and t.start_s is not None and t.end_s > t.start_s)
            for t in ctx.conv.turns)
    return v


@register
class ResponseLatency(Check):
    name = "response_latency"
    summary = ("Time the customer waits for the agent: voice, from the end of a customer turn to "
               "the agent's reply; chat, each reply time and the first-response time; graded "
               "against a target.")
    Options = LatencyOptions
    needs = frozenset()
    timing = True

    def explain(self) -> str:
        o = self.options
        zero = o.zero_at_s or 4 * o.target_s
        what = ("the agent's first response" if o.mode == "first"
                else f"the {o.statistic} time the customer waits on the agent" if o.mode == "wait"
                else f"the {o.statistic} time the agent takes to reply")
        per = "".join(f"; on {ch}: {fmt_s(t.target_s)} (0 at {fmt_s(t.zero_at_s or 4 * t.target_s)})"
                      for ch, t in o.by_channel.items())
        return (f"Full marks when {what} is at most {fmt_s(o.target_s)}; the score falls to 0 at "
                f"{fmt_s(zero)}{per}. N/A without timestamps.")

    def gaps(self, ctx: Context) -> list[tuple[float, int, int]]:
        """(seconds waited, customer turn, agent turn) for each reply (computed once per
        conversation, shared by every latency criterion)."""
        cached = ctx.scratch.get("reply_gaps")
        if cached is None:
            cached = ctx.scratch["reply_gaps"] = self._gaps(ctx)
        return cached

    def _gaps(self, ctx: Context) -> list[tuple[float, int, int]]:
        conv = ctx.conv
        voice = conv.channel == "voice"
        out = []
        waiting_since: int | None = None  # chat: first unanswered customer message
        last_customer: int | None = None  # voice: the customer turn just before the reply
        for i, t in enumerate(conv.turns):
            if t.speaker == "customer":
                if waiting_since is None:
                    waiting_since = i
                last_customer = i
            elif t.speaker == "agent" and waiting_since is not None:
                c = last_customer if voice else waiting_since
                ct = conv.turns[c]
                ref = _end(ct) if voice else ct.start_s
                if ref is not None and t.start_s is not None:
                    out.append((max(0.0, t.start_s - ref), c, i))
                waiting_since = None
                last_customer = None
        return out

    def wait_gaps(self, ctx: Context) -> list[tuple[float, int, int]]:
        """(seconds waited, the message before, the agent message) for every time the
        customer waited on the agent: the same waits as the ``long_wait`` condition, at any
        length (so an announced "let me check" followed by minutes of silence counts)."""
        from ..situation import waits

        return [(w.seconds, w.after, w.reply) for w in waits(ctx, {ctx.conv.channel: 0.0})]

    def targets(self, channel: str) -> tuple[float, float]:
        """(target, zero-at) seconds on this channel."""
        o = self.options
        t = o.by_channel.get(channel)
        if t is not None:
            return t.target_s, t.zero_at_s or 4 * t.target_s
        return o.target_s, o.zero_at_s or 4 * o.target_s

    def run(self, ctx: Context) -> Outcome:
        o = self.options
        conv = ctx.conv
        if not ctx.has_customer:
            return na("no customer turns")
        if not ctx.has_timestamps:
            return na(f"the {conv.channel} has no timestamps, so response time cannot be measured")
        target, zero = self.targets(conv.channel)
        if o.mode == "reply" and conv.channel == "voice" and not has_turn_lengths(ctx):
            return na("the call's turns have start times only, so the pause before each reply cannot be measured")
        gaps = self.wait_gaps(ctx) if o.mode == "wait" else self.gaps(ctx)
        if o.mode == "first":
            first_c = conv.customer_turns()[0][0]
            first_a = next((i for i, t in enumerate(conv.turns) if t.speaker == "agent"), None)
            if first_a is None:
                return failed("the agent never replied", [evidence(
                    conv, first_c, "negative", note="the customer's message, never answered")])
            if conv.channel == "voice" and first_a < first_c:
                t0 = min(t.start_s for t in conv.turns)
                value = max(0.0, conv.turns[first_a].start_s - min(t0, 0.0))
                ev = [evidence(conv, first_a, "positive" if value <= target else "negative",
                               note=f"the agent opened the call after {fmt_s(value)}")]
                what = f"the agent opened the call after {fmt_s(value)}"
            else:
                if not gaps:
                    return failed("the agent never replied to the customer", [evidence(
                        conv, first_c, "negative", note="the customer's message, never answered")])
                value, c, a = gaps[0]
                pol = "positive" if value <= target else "negative"
                ev = [evidence(conv, c, pol, note=f"the customer's message; the wait of {fmt_s(value)} "
                                                  "began here"),
                      evidence(conv, a, pol, note=f"the agent's first reply, after a {fmt_s(value)} wait")]
                what = f"first agent reply after {fmt_s(value)} (turn {a + 1}{at(conv.turns[a])})"
            score = _graded(value, target, zero)
            reason = f"{what}, target {fmt_s(target)}"
            return passed(reason, ev) if value <= target else failed(reason, ev, score)
        if not gaps:
            c = conv.customer_turns()[-1][0]
            return failed("the agent never replied to the customer", [evidence(
                conv, c, "negative", note="the customer's message, never answered")])
        values = [g for g, _, _ in gaps]
        if o.statistic == "mean":
            value = statistics.fmean(values)
        elif o.statistic == "median":
            value = statistics.median(values)
        elif o.statistic == "max":
            value = max(values)
        else:
            value = sorted(values)[min(len(values) - 1, int(round(0.9 * (len(values) - 1))))]
        worst = max(gaps)
        score = _graded(value, target, zero)
        pol = "positive" if value <= target else "negative"
        longest = "longest " if len(gaps) > 1 else ""
        label = {"mean": "mean", "median": "median", "max": "longest", "p90": "90th-percentile"}[o.statistic]
        if o.mode == "wait":
            whose = "the agent's" if conv.turns[worst[1]].speaker == "agent" else "the customer's"
            ev = [evidence(conv, worst[1], pol, note=f"{whose} message; the customer's {longest}wait of "
                                                     f"{fmt_s(worst[0])} on the agent began here"),
                  evidence(conv, worst[2], pol, note=f"the agent's next message, after {fmt_s(worst[0])}")]
            reason = (f"{label} wait on the agent {fmt_s(value)} over {len(values)} "
                      f"agent message{'s' if len(values) > 1 else ''}, target {fmt_s(target)}")
        else:
            ev = [evidence(conv, worst[1], pol, note=f"the customer's message; the {longest}wait of "
                                                     f"{fmt_s(worst[0])} began here"),
                  evidence(conv, worst[2], pol, note=f"the agent's reply after a {fmt_s(worst[0])} wait")]
            reason = (f"{label} agent reply time {fmt_s(value)} over {len(values)} "
                      f"repl{'ies' if len(values) > 1 else 'y'}, target {fmt_s(target)}")
        if o.statistic != "max":
            reason += f" (longest {fmt_s(worst[0])}, turn {worst[2] + 1}{at(conv.turns[worst[2]])})"
        else:
            reason += f" (turn {worst[2] + 1}{at(conv.turns[worst[2]])})"
        return passed(reason, ev) if value <= target else failed(reason, ev, score)


# ---------------------------------------------------------------- dead_air
HOLD_ANNOUNCE = ["hold", "one moment", "a moment", "bear with me", "one second", "a second",
                 "just a sec", "give me a minute", "a few minutes", "a couple of minutes",
                 "let me check", "let me look", "let me pull up", "let me find"]
HOLD_THANKS = ["thank you for holding", "thanks for holding", "thank you for waiting",
               "thanks for waiting", "thank you for your patience", "thanks for your patience",
               "appreciate your patience", "sorry for the wait", "sorry to keep you waiting",
               "sorry about the wait", "thanks for bearing with me", "thank you for bearing with me"]


class DeadAirOptions(BaseOptions):
    threshold_s: float = Field(default=10.0, gt=0)
    """A silence longer than this is dead air (unless it is an announced, thanked hold)."""
    max_events: int = Field(default=0, ge=0)
    """Pass with at most this many dead-air silences."""
    zero_at_total_s: float = Field(default=60.0, gt=0)
    """Score falls linearly to 0 as the total dead air reaches this many seconds."""
    hold_phrases: list[str] = Field(default_factory=lambda: list(HOLD_ANNOUNCE))
    """How an agent announces a hold (in the agent turn before the silence)."""
    thanks_phrases: list[str] = Field(default_factory=lambda: list(HOLD_THANKS))
    """How an agent thanks for holding (in the agent turn after the silence)."""


@register
class DeadAir(Check):
    name = "dead_air"
    summary = ("Silences longer than a threshold on a call; a hold the agent announced and "
               "thanked the customer for is not dead air.")
    Options = DeadAirOptions
    timing = True

    def __init__(self, options: DeadAirOptions, analyzer):
        super().__init__(options, analyzer)
        self.announce = PhraseSet(options.hold_phrases, analyzer)
        self.thanks = PhraseSet(options.thanks_phrases, analyzer)

    def explain(self) -> str:
        o = self.options
        return (f"Fails when a call has more than {o.max_events} silence(s) over {fmt_s(o.threshold_s)}; "
                "a hold the agent announced (\"let me put you on a brief hold\") and thanked the "
                "customer for (\"thank you for holding\") does not count. Calls only.")

    def run(self, ctx: Context) -> Outcome:
        o = self.options
        conv = ctx.conv
        if (skip := _calls_only(ctx, "dead air applies")) is not None:
            return skip
        turns = conv.turns
        order = sorted(range(len(turns)), key=lambda i: turns[i].start_s)
        silences: list[tuple[float, float, int, int | None]] = []  # start, length, before, after
        spoken_until = None
        prev = None
        for i in order:
            t = turns[i]
            if spoken_until is not None and t.start_s - spoken_until > o.threshold_s:
                silences.append((spoken_until, t.start_s - spoken_until, prev, i))
            # silences inside a long turn, from word timings
            for w0, w1 in zip(t.words, t.words[1:]):
                if w1.start - w0.end > o.threshold_s:
                    silences.append((w0.end, w1.start - w0.end, i, i))
            e = _end(t)
            if e is not None and (spoken_until is None or e > spoken_until):
                spoken_until = e
                prev = i
        dead, holds = [], []
        for start, length, before, after in silences:
            a_before = next((j for j in range(before, -1, -1) if turns[j].speaker == "agent"), None)
            a_after = next((j for j in range(after if after is not None else before, len(turns))
                            if turns[j].speaker == "agent" and (turns[j].start_s or 0) >= start), None)
            announced = a_before is not None and self.announce.find(ctx.nlp, [a_before])
            thanked = a_after is not None and self.thanks.find(ctx.nlp, [a_after])
            if announced and thanked:
                holds.append((start, length, announced[0], thanked[0]))
            else:
                dead.append((start, length, before, after, bool(announced), bool(thanked)))
        ev: list[Evidence] = []
        for start, length, before, after, ann, thk in dead[:5]:
            ev.append(evidence(conv, before, "negative",
                               note=f"a silence of {fmt_s(length)} followed this turn"))
        for start, length, a, b in holds[:2]:
            ev.append(evidence(conv, a.turn_index, "positive", (a.start, a.end),
                               note=f"the hold announced ({fmt_s(length)})"))
            ev.append(evidence(conv, b.turn_index, "positive", (b.start, b.end),
                               note="the customer thanked for holding"))
        hold_note = (f"; {len(holds)} announced hold{'s' if len(holds) > 1 else ''} "
                     f"({fmt_s(sum(h[1] for h in holds))}) not counted") if holds else ""
        if not dead:
            return passed(f"no silence over {fmt_s(o.threshold_s)}{hold_note}", ev)
        total = sum(d[1] for d in dead)
        start, length, before, after, ann, thk = max(dead, key=lambda d: d[1])
        m, s = divmod(int(start), 60)
        clock = f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"
        why = "" if not (ann or thk) else (" (hold announced but not thanked)" if ann else
                                           " (thanked, but the hold was not announced)")
        reason = (f"{len(dead)} silence{'s' if len(dead) > 1 else ''} over {fmt_s(o.threshold_s)}, "
                  f"longest {fmt_s(length)} at {clock} after turn {before + 1}{why}{hold_note}")
        score = max(0.0, 1 - total / o.zero_at_total_s)
        if len(dead) <= o.max_events:
            return passed(reason, ev, score)
        return failed(reason, ev, score)


# ---------------------------------------------------------------- interruptions
BACKCHANNELS = {"yeah", "yes", "yep", "ok", "okay", "right", "sure", "mhm", "mm", "hmm", "uh-huh",
                "mm-hmm", "got", "it", "i", "see", "alright", "oh"}


class InterruptionOptions(BaseOptions):
    max_per_minute: float = Field(default=0.5, ge=0)
    """Pass at or under this many interruptions per minute of call."""
    zero_at_per_minute: float | None = Field(default=None, gt=0)
    """Score 0 at this rate (default 3 × max_per_minute, at least max + 1)."""
    min_overlap_s: float = Field(default=0.5, ge=0)
    """The agent must start at least this long before the customer stops."""
    ignore_backchannels: bool = True
    """Short "yeah", "okay", "mm-hmm" while the customer talks are not interruptions."""


@register
class Interruptions(Check):
    name = "interruptions"
    summary = ("The agent starts talking while the customer is still speaking (from word timings "
               "or turn overlaps), per minute of call.")
    Options = InterruptionOptions
    needs = frozenset()
    timing = True

    def explain(self) -> str:
        return (f"Passes with at most {self.options.max_per_minute:g} interruptions per minute: the "
                f"agent starting at least {self.options.min_overlap_s:g} s before the customer stops. "
                "Calls only.")

    def run(self, ctx: Context) -> Outcome:
        o = self.options
        conv = ctx.conv
        if (skip := _calls_only(ctx, "interruptions apply")) is not None:
            return skip
        cust = [(i, t) for i, t in conv.customer_turns()]
        if not cust:
            return na("no customer turns")
        found = []
        for i, a in conv.agent_turns():
            words = a.text.lower().replace(",", " ").replace(".", " ").split()
            if o.ignore_backchannels and len(words) <= 3 and all(w in BACKCHANNELS for w in words):
                continue
            for j, c in cust:
                ce = _end(c)
                if c.start_s < a.start_s and ce is not None and ce - a.start_s >= o.min_overlap_s:
                    found.append((i, j, ce - a.start_s))
                    break
        starts = [t.start_s for t in conv.turns]
        ends = [_end(t) for t in conv.turns]
        duration = conv.duration_s or (max(e for e in ends if e is not None) - min(starts))
        minutes = max(duration / 60.0, 1e-9)
        if duration <= 0:
            return na("the call has no length")
        rate = len(found) / minutes
        zero = o.zero_at_per_minute or max(3 * o.max_per_minute, o.max_per_minute + 1)
        ev = []
        for i, j, ov in found[:5]:
            ev.append(evidence(conv, j, "negative", note="the customer, still speaking"))
            ev.append(evidence(conv, i, "negative",
                               note=f"the agent cut in {ov:.1f} s before the customer stopped"))
        reason = (f"{len(found)} interruption{'s' if len(found) != 1 else ''} in {fmt_s(duration)} "
                  f"({rate:.2f} per minute, max {o.max_per_minute:g})")
        if found:
            i, j, ov = found[0]
            reason += f"; first in turn {i + 1}{at(conv.turns[i])}, {ov:.1f} s before the customer stopped"
        if rate <= o.max_per_minute:
            return passed(reason, ev)
        return failed(reason, ev, _graded(rate, o.max_per_minute, zero))


# ---------------------------------------------------------------- talk_ratio
class TalkRatioOptions(BaseOptions):
    min_share: float = Field(default=0.3, ge=0, le=1)
    """Lowest acceptable agent share of the talking (0..1)."""
    max_share: float = Field(default=0.7, ge=0, le=1)
    """Highest acceptable agent share of the talking (0..1)."""
    measure: Literal["auto", "time", "words"] = "auto"
    """time: seconds of speech (calls); words: word counts; auto: time when turns have lengths."""
    zero_at_distance: float = Field(default=0.2, gt=0)
    """Score falls to 0 this far outside the bounds."""

    @model_validator(mode="after")
    def _order(self) -> "TalkRatioOptions":
        if self.min_share > self.max_share:
            raise ValueError(f"min_share ({self.min_share:g}) is above max_share ({self.max_share:g})")
        return self


@register
class TalkRatio(Check):
    name = "talk_ratio"
    summary = "The agent's share of the talking (time on calls, words in chats) within bounds."
    Options = TalkRatioOptions
    needs = frozenset({"lemma"})

    def explain(self) -> str:
        o = self.options
        return (f"Passes when the agent does between {o.min_share:.0%} and {o.max_share:.0%} of the "
                "talking (speaking time on calls, words in chats).")

    def run(self, ctx: Context) -> Outcome:
        o = self.options
        conv = ctx.conv
        use_time = o.measure == "time" or (
            o.measure == "auto" and conv.has_timestamps
            and any((_end(t) or 0) > (t.start_s or 0) for t in conv.turns))
        if o.measure == "time" and not conv.has_timestamps:
            return na("the conversation has no timestamps, so talk time cannot be measured")
        agent = cust = 0.0
        for i, t in enumerate(conv.turns):
            if t.speaker == "system":
                continue
            amount = max(0.0, (_end(t) or 0) - (t.start_s or 0)) if use_time else ctx.n_words(i)
            if t.speaker == "agent":
                agent += amount
            else:
                cust += amount
        if agent + cust <= 0:
            return na("nobody talked")
        if cust == 0:
            return na("the customer did not talk")
        share = agent / (agent + cust)
        unit = "of the talking time" if use_time else "of the words"
        reason = f"agent {share:.0%} {unit} (bounds {o.min_share:.0%}–{o.max_share:.0%})"
        if o.min_share <= share <= o.max_share:
            return passed(reason)
        dist = o.min_share - share if share < o.min_share else share - o.max_share
        return failed(reason, [], max(0.0, 1 - dist / o.zero_at_distance))
