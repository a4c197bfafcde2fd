"""Rubric tools for trainers: run a rubric's examples through their checks
(``qa rubric test``, :func:`run_examples`) and explain a rubric in plain words
(``qa rubric explain``, :func:`explain_rubric`)."""

from __future__ import annotations

from dataclasses import dataclass

from .checks import Check, Context
from .conversation import Conversation
from .rubric import CATEGORIES, Criterion, Rubric
from .score import Scorer


@dataclass
class ExampleResult:
    """One rubric example run through its criterion (``qa rubric test``)."""

    criterion_id: str
    expected: str
    """``pass`` or ``fail``, as the trainer wrote it."""
    outcome: str
    """What the check gave: ``pass``, ``fail``, ``na`` (or ``skipped``)."""
    text: str
    """The example, as one line."""
    reason: str

    @property
    def ok(self) -> bool:
        return self.outcome == self.expected or self.outcome == "skipped"


def _example_conversation(crit: Criterion, example) -> Conversation:
    from .conversation import Source, Turn

    speaker = getattr(crit.options, "speaker", "agent")
    if speaker not in ("agent", "customer"):
        speaker = "agent"
    if isinstance(example, str):
        turns = [Turn(speaker=speaker, text=example)]
    else:
        turns = []
        for t in example:
            if t.customer is not None:
                turns.append(Turn(speaker="customer", text=t.customer))
            if t.agent is not None:
                turns.append(Turn(speaker="agent", text=t.agent))
    channel = crit.channels[0] if crit.channels else "chat"
    return Conversation(id=f"example-{crit.id}", channel=channel, agent_id="example",
                        source=Source(path="(rubric example)", sha256="0" * 64, format="example"),
                        turns=turns)


def _example_text(example) -> str:
    if isinstance(example, str):
        return example
    parts = []
    for t in example:
        if t.customer is not None:
            parts.append(f"customer: {t.customer}")
        if t.agent is not None:
            parts.append(f"agent: {t.agent}")
    return " / ".join(parts)


def run_examples(rubric: Rubric, scorer: Scorer | None = None) -> list[ExampleResult]:
    """Run every criterion's ``examples`` through its check; see :attr:`ExampleResult.ok`."""
    scorer = scorer or Scorer(rubric, n_process=1)
    todo: list[tuple[Criterion, Check, str, object]] = []
    for crit, check in scorer.checks:
        for expected, items in (("pass", crit.examples.pass_), ("fail", crit.examples.fail)):
            for ex in items:
                todo.append((crit, check, expected, ex))
    convs = [_example_conversation(c, ex) for c, _, _, ex in todo]
    analysed = dict(scorer.analyzer.analyze([[t.text for t in c.turns] for c in convs]))
    out = []
    for k, (crit, check, expected, ex) in enumerate(todo):
        if check.timing:
            out.append(ExampleResult(crit.id, expected, "skipped", _example_text(ex),
                                     f"{crit.check} reads timings; text examples cannot test it"))
            continue
        res = check.run(Context(convs[k], analysed[k]))
        out.append(ExampleResult(crit.id, expected, res.outcome, _example_text(ex), res.reason))
    return out


def explain_rubric(rubric: Rubric, scorer: Scorer | None = None) -> str:
    """The rubric in plain words for a trainer: what each criterion looks for, its weight as
    a share of its category and of the total (for calls and for chats: criteria limited to
    one channel are N/A on the other), and the auto-fail items."""
    scorer = scorer or Scorer(rubric, n_process=1)
    channels = [ch for ch in ("chat", "voice", "email", "social")
                if ch in ("chat", "voice") or any(c.channels and ch in c.channels for c in rubric.criteria)]
    label = {"chat": "chats", "voice": "calls", "email": "e-mails", "social": "social media"}

    def shares(channel: str) -> tuple[dict[str, float], dict[str, float]]:
        """Category share of the total, and criterion share of its category, on a channel."""
        crits = [c for c in rubric.criteria if c.applies_to(channel)]
        cat_w = {cat: rubric.categories.get(cat, 0.0) for cat in CATEGORIES
                 if any(c.category == cat for c in crits) and rubric.categories.get(cat, 0.0) > 0}
        total = sum(cat_w.values())
        cat_share = {cat: w / total for cat, w in cat_w.items()} if total else {}
        crit_share = {}
        for c in crits:
            in_cat = sum(k.weight for k in crits if k.category == c.category)
            crit_share[c.id] = c.weight / in_cat if in_cat else 0.0
        return cat_share, crit_share

    per = {ch: shares(ch) for ch in channels}
    lines = [f"Rubric '{rubric.id}', version {rubric.version} (content hash {rubric.hash[:12]})"]
    if rubric.description:
        lines.append(rubric.description)
    lines += ["", "How the score is made: each criterion gives 0-100% (or N/A when it cannot apply);",
              "a category is the weighted mean of its criteria; the overall score is the weighted",
              "mean of the categories. Shares below are for a conversation where every criterion",
              "of that channel applies; N/A criteria are left out and the others share their weight.",
              ""]
    lines.append("Categories (share of the overall score): " + ", ".join(f"on {label[ch]}" for ch in channels))
    for cat in CATEGORIES:
        n = sum(1 for k in rubric.criteria if k.category == cat)
        cells = "  ".join(f"{per[ch][0].get(cat, 0.0):>4.0%}" for ch in channels)
        lines.append(f"  {cat:<16} {cells}   {n} criteri{'a' if n != 1 else 'on'}")
    for cat in CATEGORIES:
        crits = [(c, ch) for c, ch in scorer.checks if c.category == cat]
        if not crits:
            continue
        cat_sh = [f"{per[ch][0].get(cat, 0.0):.0%}" for ch in channels]
        head = (f"{cat_sh[0]} of the overall score" if len(set(cat_sh)) == 1 else ", ".join(
            f"{v} of the overall score on {label[ch]}" for v, ch in zip(cat_sh, channels)))
        lines += ["", f"{cat.upper()} — {head}"]
        for c, check in crits:
            where = f" [{', '.join(label[x] for x in c.channels)} only]" if c.channels else ""
            af = "  AUTO-FAIL" if c.auto_fail else ""
            parts = []
            for ch in channels:
                if c.applies_to(ch):
                    cs = per[ch][1].get(c.id, 0.0)
                    parts.append(f"{cs:.0%} of {cat} on {label[ch]} ({cs * per[ch][0].get(cat, 0.0):.1%} of the total)")
            lines.append(f"  {c.id}{where}{af}: weight {c.weight:g} = " + "; ".join(parts))
            if c.description:
                lines.append(f"      {c.description}")
            lines.append(f"      Looks for: {check.explain()}")
            if c.coaching:
                lines.append(f"      Coaching: {c.coaching}")
    af = [c for c in rubric.criteria if c.auto_fail]
    lines.append("")
    if af:
        lines.append("Auto-fail: if any of these fails, the whole conversation scores 0:")
        for c in af:
            lines.append(f"  {c.id}: {c.description or c.check}")
    else:
        lines.append("Auto-fail: none.")
    return "\n".join(lines)
