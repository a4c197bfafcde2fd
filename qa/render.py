"""Render the HTML coaching reports from aggregated results.

``render_reports(results_dir)`` writes::

    reports/index.html                        the team index
    reports/agents/<safe agent id>.html       one coaching page per agent
    reports/calls/<safe conversation id>.html one page per conversation
    reports/audio/<safe conversation id>.<ext> the recordings the call pages play

Every HTML file is self-contained: CSS, JavaScript and the SVG charts (drawn by
matplotlib) are inline; nothing is fetched from a network, and a Content-Security-Policy
meta tag forbids it. The recordings are the one thing beside the pages: a call page's
``<audio>`` plays ``../audio/<name>``, a hard link to (or, across file systems, a copy of)
the source recording, so the ``reports/`` folder can be zipped or moved as a whole. Only
recordings qa itself decoded (or that still hash to the conversation's recorded sha256 and
decode as audio) are ever linked: :func:`qa.audio.playable_recording`.

Templates live in ``reports/`` (``qa/reports`` in the wheel; :mod:`qa.shipped` finds them)
and can be overridden one by one with a folder of files of the same names
(``templates_dir``). Autoescape is on for every
template: transcript text, names and ids are untrusted and always shown as text.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import logging
import math
import os
import re
import shutil
import tempfile
import time as _time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

import polars as pl
from jinja2 import (ChoiceLoader, Environment, FileSystemLoader, StrictUndefined,
                    select_autoescape)
from markupsafe import Markup, escape

from . import __version__
from .aggregate import (CATEGORIES, MIN_CONVERSATIONS, NO_TEAM, PERCENTILE_MIN_AGENTS,
                        Aggregates, Filters, ResultsPaths, aggregate, criteria_by_conversation,
                        focus_areas, locate_results, reviewed_scores, reviewed_summary)
from .audio import playable_recording
from .conversation import Conversation
from .errors import QAError, ReportError, control_pictures, display
from .procs import pid_alive
from .shipped import reports_dir
from .store import Failure, plural, safe_name

if TYPE_CHECKING:
    from .executor import Executor

log = logging.getLogger(__name__)

CALL_PAGE_MODES = ("auto", "all", "linked", "none")
CALL_PAGES_ALL_LIMIT = 20_000
"""``call_pages="auto"`` renders every call page up to this many conversations."""
POOL_MIN_PAGES = 400
"""Fewer pages than this are rendered in-process (starting workers costs ~1 s)."""
CALL_CHUNK = 500
"""Call pages whose criteria rows are read (and turned into Python dicts) at a time."""
CALL_TASK = 100
"""Call pages per worker task; at most two tasks per worker wait at a time."""
RECENT_CALLS = 20
"""``call_pages="linked"``: each agent's latest conversations that get a page."""
ARROWS = {"up": "↑", "down": "↓", "flat": "→", None: ""}
CATEGORY_LABELS = {c: c.capitalize() for c in CATEGORIES}
AGENT_COLOR = "#1f5fa8"
TEAM_COLOR = "#9aa5b1"


# ---------------------------------------------------------------- small formatters
def fmt_score(value: float | None, digits: int = 0) -> str:
    """A 0..100 score for display; an em dash when there is none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}"


def fmt_delta(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    r = round(value)
    return f"+{r}" if r > 0 else ("±0" if r == 0 else f"−{abs(r)}")


def fmt_pct(rate: float | None) -> str:
    if rate is None or (isinstance(rate, float) and math.isnan(rate)):
        return "—"
    return f"{100 * rate:.0f}%"


def fmt_time(seconds: float | None) -> str:
    """Seconds as ``m:ss`` (or ``h:mm:ss``); empty when unknown."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return ""
    s = int(max(0.0, seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def fmt_datetime(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "—"


def fmt_date(value: datetime | date | None) -> str:
    return value.strftime("%Y-%m-%d") if value else "—"


def fmt_counted(n: int | None, noun: str, plural: str | None = None) -> str:
    """``1 agent``, ``2 agents``, ``0 agents`` (``plural`` for irregular nouns)."""
    n = n or 0
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"


def fmt_signed(value: float | None, digits: int = 2) -> str:
    """A signed number (sentiment): ``+0.21``, ``−0.30``; an em dash when there is none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    r = round(value, digits)
    return f"+{r:.{digits}f}" if r > 0 else (f"{0:.{digits}f}" if r == 0 else f"−{abs(r):.{digits}f}")


def period_label(value: date | None, period: str) -> str:
    if value is None:
        return "—"
    if period == "month":
        return value.strftime("%Y-%m")
    y, w, _ = value.isocalendar()
    return f"{y}-W{w:02d}"


def team_label(team: str | None) -> str:
    return "(no team)" if team in (None, NO_TEAM) else team


def score_class(value: float | None, team: float | None, margin: float = 5.0) -> str:
    """CSS class: ``above`` / ``below`` the team by ``margin`` points or more, else ``level``."""
    if value is None or team is None:
        return "none"
    if value >= team + margin:
        return "above"
    if value <= team - margin:
        return "below"
    return "level"


# ---------------------------------------------------------------- redaction
Fix = Callable[[str], str] | None
"""A text filter applied to every piece of user text shown (``None``: shown as is)."""


def pattern_redactor() -> Callable[[str], str]:
    """Mask PII found by pattern (cards, phones, e-mail, ids, addresses, handles) with
    :mod:`qa.redact`; used where the conversation (and so the customer's name) is not at
    hand, e.g. quotes on agent pages."""
    from .redact import redact_text as _redact

    return lambda text: _redact(text).text


def conversation_fix(conv: Conversation) -> Callable[[str], str]:
    """Mask PII in text of ``conv`` as :func:`qa.redact.redact_conversation` does, the
    customer's name included."""
    from .redact import conversation_redactor

    return conversation_redactor(conv)


# ---------------------------------------------------------------- highlighting
def _span_in(text: str, quote: str | None, match: str | None, ms: int | None,
             me: int | None) -> tuple[int, int] | None:
    """Where the evidence match lies in ``text`` (a quote or the whole turn)."""
    if quote is not None and ms is not None and me is not None and 0 <= ms < me <= len(quote):
        off = text.find(quote)
        if off >= 0:
            return off + ms, off + me
    if match:
        i = text.lower().find(match.lower())
        if i >= 0:
            return i, i + len(match)
    return None


def highlight(text: str, spans: Iterable[tuple[int, int, str]], *, fix: Fix = None) -> Markup:
    """``text`` with each (start, end, css class) span wrapped in ``<mark>``.

    Built by escaping every piece of ``text`` separately and joining them with literal
    ``<mark>`` tags, so nothing in ``text`` can ever become markup. Overlapping spans merge
    (a negative class wins over a positive one). ``fix`` (redaction) is applied to each
    piece before it is escaped.
    """
    fix = fix or (lambda s: s)
    if not spans:
        return escape(fix(text))
    merged: list[list[Any]] = []
    for s, e, cls in sorted((max(0, s), min(len(text), e), c) for s, e, c in spans):
        if s >= e:
            continue
        if merged and s < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
            if cls == "neg":
                merged[-1][2] = "neg"
        else:
            merged.append([s, e, cls])
    out: list[str] = []
    pos = 0
    for s, e, cls in merged:
        cls = "neg" if cls == "neg" else "pos"  # only our two classes reach the markup
        out.append(escape(fix(text[pos:s])))
        out.append(f'<mark class="{cls}">{escape(fix(text[s:e]))}</mark>')
        pos = e
    out.append(escape(fix(text[pos:])))
    return Markup("".join(out))


def highlight_quote(ev: dict, *, fix: Fix = None) -> Markup:
    quote = ev.get("quote") or ""
    span = _span_in(quote, quote, ev.get("match"), ev.get("match_start"), ev.get("match_end"))
    cls = "pos" if ev.get("polarity") == "positive" else "neg"
    return highlight(quote, [(*span, cls)] if span else [], fix=fix)


# ---------------------------------------------------------------- charts (matplotlib → SVG)
# ---------------------------------------------------------------- charts (matplotlib → SVG)
_SVG_RC = {"svg.hashsalt": "qa-report", "svg.fonttype": "none", "font.size": 9,
           "font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans"],
           "axes.spines.top": False, "axes.spines.right": False, "axes.edgecolor": "#888888"}


_SVG_STYLE = re.compile(r"<defs>\s*<style[^>]*>[^<]*</style>\s*</defs>\s*")


def _chart_text(label: str, limit: int = 40) -> str:
    """Labels drawn in charts: one line, bounded, no ``$`` (matplotlib mathtext), and
    control characters written as ``\\x1b`` (the chart font has no glyph for them)."""
    label = display(" ".join(str(label).split())).replace("$", "＄")
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _nan(values):
    return [float("nan") if v is None else float(v) for v in values]


class Charts:
    """The two agent-page charts, drawn by matplotlib as SVG.

    Each chart is two SVG layers of one matplotlib figure, stacked by CSS: the *frame*
    (axes, ticks, labels, grid and the team's bars or line, with the team legend) and the
    *agent* layer (the agent's bars or line and values, axes hidden). The frame depends
    only on the team, so it is drawn once per team and reused on every agent page of that
    team; an agent page then costs only its own data layer, a fraction of a full figure.
    The trend chart's x axis is every period of the selection, the same on every page.
    Output is deterministic (``svg.hashsalt``, no date) and small (``svg.fonttype =
    none``: text stays text). matplotlib escapes every label it writes into the SVG, so a
    name like ``<script>`` is drawn as text.
    """

    def __init__(self, period_labels: list[str]):
        import matplotlib
        import numpy as np
        from matplotlib.figure import Figure
        from matplotlib.legend import Legend

        self._rc = matplotlib.rc_context
        self._frames: dict[tuple, Markup] = {}
        with matplotlib.rc_context(_SVG_RC):
            # categories: agent bars against team bars
            fig = self.cat_fig = Figure(figsize=(6.0, 2.6))
            fig.patch.set_visible(False)
            ax = self.cat_ax = fig.add_subplot()
            fig.subplots_adjust(left=0.19, right=0.97, top=0.86, bottom=0.17)
            ax.patch.set_visible(False)
            y = np.arange(len(CATEGORIES))
            self.agent_bars = ax.barh(y - 0.2, [0] * len(y), 0.38, color=AGENT_COLOR)
            self.team_bars = ax.barh(y + 0.2, [0] * len(y), 0.38, color=TEAM_COLOR)
            self.bar_texts = [ax.text(0, yi - 0.2, "", va="center", fontsize=8) for yi in y]
            ax.set_yticks(y, [CATEGORY_LABELS[c] for c in CATEGORIES])
            ax.set_ylim(len(y) - 0.4, -0.6)
            ax.set_xlim(0, 108)
            ax.set_xlabel("score (0–100)")
            self.cat_team_legend = Legend(ax, [self.team_bars], ["Team average"],
                                          loc="lower right", fontsize=8, frameon=False,
                                          bbox_to_anchor=(1.0, 1.0))
            ax.add_artist(self.cat_team_legend)
            # the agent's key: a swatch and a text (a Legend costs ~5x more to draw)
            self.cat_agent_legend = self._key(ax, AGENT_COLOR)
            # trend: the agent's overall per period against the team's
            fig2 = self.trend_fig = Figure(figsize=(6.0, 2.4))
            fig2.patch.set_visible(False)
            ax2 = self.trend_ax = fig2.add_subplot()
            fig2.subplots_adjust(left=0.1, right=0.97, top=0.86, bottom=0.14)
            ax2.patch.set_visible(False)
            x = list(range(len(period_labels)))
            self.team_line, = ax2.plot(x, [float("nan")] * len(x), color=TEAM_COLOR,
                                       linestyle="--", marker="o", markersize=3)
            self.agent_line, = ax2.plot(x, [float("nan")] * len(x), color=AGENT_COLOR,
                                        marker="o", markersize=4)
            step = max(1, math.ceil(len(x) / 8))
            ax2.set_xticks(x[::step], [_chart_text(lb, 12) for lb in period_labels[::step]])
            ax2.set_xlim(-0.5, max(len(x) - 0.5, 0.5))
            ax2.set_ylim(0, 105)
            ax2.set_ylabel("overall")
            ax2.grid(axis="y", color="#e5e5e5")
            self.trend_team_legend = Legend(ax2, [self.team_line], ["Team average"],
                                            loc="lower right", fontsize=8, frameon=False,
                                            bbox_to_anchor=(1.0, 1.0))
            ax2.add_artist(self.trend_team_legend)
            self.trend_agent_legend = self._key(ax2, AGENT_COLOR)

    @staticmethod
    def _key(ax, color):
        from matplotlib.patches import Rectangle

        swatch = Rectangle((0.0, 1.065), 0.035, 0.05, transform=ax.transAxes, color=color,
                           clip_on=False)
        ax.add_patch(swatch)
        text = ax.text(0.05, 1.09, "", transform=ax.transAxes, fontsize=8, va="center",
                       ha="left", clip_on=False)
        return swatch, text

    def _svg(self, fig) -> str:
        buf = io.StringIO()
        with self._rc(_SVG_RC):
            fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
        text = buf.getvalue()
        # drop the XML declaration and DOCTYPE (the <svg> element goes inline in HTML) and
        # matplotlib's document-wide `*{stroke-…}` style (report.css scopes it to charts)
        return _SVG_STYLE.sub("", text[text.find("<svg"):], count=1).strip()

    def _layers(self, fig, ax, frame_artists, agent_artists, key) -> Markup:
        frame = self._frames.get(key)
        if frame is None:
            ax.set_axis_on()
            for a in frame_artists:
                a.set_visible(True)
            for a in agent_artists:
                a.set_visible(False)
            frame = self._frames[key] = self._svg(fig)
        ax.set_axis_off()
        for a in frame_artists:
            a.set_visible(False)
        for a in agent_artists:
            a.set_visible(True)
        # the SVG is matplotlib's output, which escapes every text it draws
        return Markup(f'<div class="layers">{frame}{self._svg(fig)}</div>')

    def categories(self, agent: dict, team: dict, agent_label: str) -> Markup:
        team_values = tuple(team.get(c) for c in CATEGORIES)
        for bar, v in zip(self.team_bars, team_values):
            bar.set_width(v or 0)
        for bar, text, c in zip(self.agent_bars, self.bar_texts, CATEGORIES):
            v = agent.get(c)
            bar.set_width(v or 0)
            text.set_x((v or 0) + 1)
            text.set_text(fmt_score(v))
        self.cat_agent_legend[1].set_text(_chart_text(agent_label))
        return self._layers(self.cat_fig, self.cat_ax, [*self.team_bars, self.cat_team_legend],
                            [*self.agent_bars, *self.bar_texts, *self.cat_agent_legend],
                            ("categories", team_values))

    def trend(self, agent_values: list[float | None], team_values: list[float | None],
              agent_label: str) -> Markup:
        self.team_line.set_ydata(_nan(team_values))
        self.agent_line.set_ydata(_nan(agent_values))
        self.trend_agent_legend[1].set_text(_chart_text(agent_label))
        return self._layers(self.trend_fig, self.trend_ax,
                            [self.team_line, self.trend_team_legend],
                            [self.agent_line, *self.trend_agent_legend],
                            ("trend", tuple(team_values)))


# ---------------------------------------------------------------- call charts
CUSTOMER_COLOR = "#7c3aed"
SILENCE_S = 3.0
"""A pause longer than this with nobody speaking is drawn as silence on the timeline."""
LONG_SILENCE_S = 10.0
"""A silence this long is a hold when the agent announced one just before (else dead air)."""


def _spans(t) -> list[tuple[float, float]]:
    """Where a turn has speech: its words (merged over gaps under a second), else its turn."""
    if t.words:
        out: list[list[float]] = []
        for w in t.words:
            if out and w.start - out[-1][1] < 1.0:
                out[-1][1] = max(out[-1][1], w.end)
            else:
                out.append([w.start, w.end])
        return [(a, b) for a, b in out if b > a]
    if t.start_s is not None and t.end_s is not None and t.end_s > t.start_s:
        return [(t.start_s, t.end_s)]
    return []


def call_timeline(conv: Conversation) -> dict:
    """Talk of each party, silences, holds and overlaps on a call, in seconds:
    ``{"agent": [(start, length)], "customer": [...], "silence": [...], "hold": [...],
    "overlap": [...], "end": seconds}``."""
    from .checks.timing import HOLD_ANNOUNCE

    talk: dict[str, list[tuple[float, float]]] = {"agent": [], "customer": []}
    for t in conv.turns:
        if t.speaker in talk:
            talk[t.speaker].extend(_spans(t))
    both = sorted(talk["agent"] + talk["customer"])
    end = max([b for _, b in both] + [conv.duration_s or 0.0])
    silence, hold = [], []
    covered = 0.0
    for a, b in both:
        if a - covered > SILENCE_S:
            before = [t for t in conv.turns if t.speaker == "agent" and t.start_s is not None
                      and t.start_s <= covered]
            said = before[-1].text.lower() if before else ""
            is_hold = a - covered >= LONG_SILENCE_S and any(p in said for p in HOLD_ANNOUNCE)
            (hold if is_hold else silence).append((covered, a - covered))
        covered = max(covered, b)
    overlap = []
    ag = sorted(talk["agent"])
    for a, b in sorted(talk["customer"]):
        for x, y in ag:
            if x >= b:
                break
            lo, hi = max(a, x), min(b, y)
            if hi - lo > 0.2:
                overlap.append((lo, hi - lo))
    return {"agent": [(a, b - a) for a, b in talk["agent"]],
            "customer": [(a, b - a) for a, b in talk["customer"]],
            "silence": silence, "hold": hold, "overlap": overlap, "end": end}


def customer_sentiment(conv: Conversation) -> list[tuple[int, float | None, float]]:
    """``(turn index, start_s, sentiment -1..1)`` for each customer turn
    (:func:`qa.affect.analyze_turns`, read with the agent turn before it)."""
    from .affect import analyze_turns

    idx, texts, context = [], [], []
    prev_agent = None
    for i, t in enumerate(conv.turns):
        if t.speaker == "agent":
            prev_agent = t.text
        elif t.speaker == "customer" and t.text.strip():
            idx.append(i)
            texts.append(t.text)
            context.append(prev_agent)
    if not texts:
        return []
    return [(i, conv.turns[i].start_s, a.sentiment)
            for i, a in zip(idx, analyze_turns(texts, context))]


TIMELINE_COLORS = {"agent": AGENT_COLOR, "customer": CUSTOMER_COLOR, "silence": "#d1d5db",
                   "hold": "#fcd34d", "overlap": "#dc2626"}


_CALL_FIGS: dict[tuple, tuple] = {}
"""The call chart's figures, one per layout, made once per process and redrawn with each
call's data (a new figure per page would cost twice as much)."""


def _call_fig(sentiment: bool, timed: bool):
    key = (sentiment, timed)
    got = _CALL_FIGS.get(key)
    if got is not None:
        return got
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    fig = Figure(figsize=(7.0, 2.9 if sentiment else 1.5))
    fig.patch.set_visible(False)
    if sentiment:
        ax, ax2 = fig.subplots(2, 1, sharex=timed, height_ratios=[1, 1.2])
        fig.subplots_adjust(left=0.12, right=0.98, top=0.97, bottom=0.15, hspace=0.35)
    else:
        ax, ax2 = fig.add_subplot(), None
        fig.subplots_adjust(left=0.12, right=0.98, top=0.95, bottom=0.3)
    ax.set_yticks([0.5, 1.5], ["Customer", "Agent"])
    ax.set_ylim(0, 2)
    clock = FuncFormatter(lambda x, _pos: fmt_time(x))
    ax.xaxis.set_major_locator(MaxNLocator(6, steps=[1, 2, 3, 5, 6, 10]))
    ax.xaxis.set_major_formatter(clock)
    if ax2 is not None:
        if timed:  # one time axis, under the sentiment panel
            ax.tick_params(axis="x", bottom=False, labelbottom=False)
        ax2.axhline(0, color="#9ca3af", linewidth=0.8)
        ax2.set_ylim(-1.05, 1.05)
        ax2.set_yticks([-1, 0, 1], ["negative", "neutral", "positive"])
        ax2.set_ylabel("sentiment", fontsize=8)
        ax2.set_xlabel("time into the call (m:ss)" if timed else "customer turn")
        if not timed:
            ax.set_xlabel("time into the call (m:ss)")
    else:
        ax.set_xlabel("time into the call (m:ss)")
    got = _CALL_FIGS[key] = (fig, ax, ax2, [])
    return got


def call_charts(conv: Conversation) -> dict | None:
    """The call page's chart (matplotlib SVG, one figure of two panels): the timeline of
    talk, silence, holds and overlap for both parties, and below it the customer's
    sentiment per turn on the same time axis. The legend is the page's caption (HTML).
    The figure is made once per process and redrawn with each call's data."""
    if not conv.turns or not any(t.start_s is not None for t in conv.turns):
        return None
    import matplotlib

    tl = call_timeline(conv)
    if not (tl["agent"] or tl["customer"]):
        return None
    sent = customer_sentiment(conv)
    end = max(tl["end"], 1.0)
    timed = bool(sent) and all(t is not None for _, t, _ in sent)
    out = {"svg": None, "colors": TIMELINE_COLORS, "has_sentiment": bool(sent),
           "counts": {k: len(tl[k]) for k in ("silence", "hold", "overlap")}}
    with matplotlib.rc_context(_SVG_RC):
        fig, ax, ax2, drawn = _call_fig(bool(sent), timed)
        for artist in drawn:  # the previous call's data
            artist.remove()
        drawn.clear()
        for key, y, h in (("agent", 1.1, 0.8), ("customer", 0.1, 0.8), ("silence", 0.1, 1.8),
                          ("hold", 0.1, 1.8), ("overlap", 0.0, 2.0)):
            if tl[key]:
                drawn.append(ax.broken_barh(tl[key], (y, h), color=TIMELINE_COLORS[key],
                                            alpha=0.8 if key in ("silence", "hold") else 1.0))
        ax.set_xlim(0, end)
        if ax2 is not None:
            xs = [t for _, t, _ in sent] if timed else [k + 1 for k in range(len(sent))]
            drawn.extend(ax2.plot(xs, [v for _, _, v in sent], color=CUSTOMER_COLOR, marker="o",
                                  markersize=3))
            if not timed:
                ax2.set_xlim(0.5, len(sent) + 0.5)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
        text = buf.getvalue()
        out["svg"] = Markup(_SVG_STYLE.sub("", text[text.find("<svg"):], count=1).strip())
    return out


# ---------------------------------------------------------------- Jinja2 environment
class _ReportEnvironment(Environment):
    """``row.name`` on a dict looks the key up first: the page data are plain dicts, and
    Jinja's default (attribute first, then key) raises and catches an AttributeError for
    every lookup, a large share of the rendering time of 100,000 call pages."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


def make_env(templates_dir: str | Path | None = None) -> Environment:
    """The report templates: ``templates_dir`` first (when given), then the package's."""
    loaders = []
    if templates_dir is not None:
        tdir = Path(templates_dir)
        if not tdir.is_dir():
            raise ReportError("templates folder not found", path=tdir,
                              fix="Give --templates a folder holding index.html, agent.html, "
                                  "call.html or report.css to override.")
        loaders.append(FileSystemLoader(str(tdir)))
    loaders.append(FileSystemLoader(str(reports_dir())))
    env = _ReportEnvironment(loader=ChoiceLoader(loaders),
                      autoescape=select_autoescape(enabled_extensions=("html", "htm", "xml"),
                                                   default_for_string=True, default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(score=fmt_score, delta=fmt_delta, pct=fmt_pct, time=fmt_time,
                       datetime=fmt_datetime, date=fmt_date, team=team_label, plural=plural)
    env.filters.update(counted=fmt_counted, signed=fmt_signed)  # agent and index pages
    env.globals.update(arrows=ARROWS, categories=CATEGORIES, category_labels=CATEGORY_LABELS,
                       score_class=score_class, version=__version__)
    return env


def _assets(env: Environment) -> dict:
    css = env.get_template("report.css").render()
    js = env.get_template("report.js").render()
    digest = base64.b64encode(hashlib.sha256(js.encode("utf-8")).digest()).decode("ascii")
    # no network, no script but ours (allowed by its hash), media from files beside the page
    csp = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
           f"script-src 'sha256-{digest}'; media-src 'self' file: data: blob:; "
           "base-uri 'none'; form-action 'none'")
    return {"css": Markup(css), "js": Markup(js), "csp": csp}


# ---------------------------------------------------------------- the result
@dataclass
class ReportSummary:
    """What :func:`render_reports` wrote."""

    reports: Path
    """The ``reports/`` folder."""
    index: Path
    """``reports/index.html``: the file to open."""
    agents: int = 0
    """Agent pages written."""
    calls: int = 0
    """Call pages written."""
    conversations: int = 0
    """Conversations in the selection."""
    call_pages: str = "all"
    """Which call pages were written: ``all``, ``linked`` or ``none``."""
    audio: int = 0
    """Recordings linked or copied into ``reports/audio``."""
    problems: list[Failure] = field(default_factory=list)
    """Conversations whose transcript or recording could not be read (their pages were
    still written, with a notice)."""
    seconds: float = 0.0


# ---------------------------------------------------------------- page data
def _link_audio(src: Path, dest: Path) -> None:
    """Hard-link ``src`` at ``dest`` (a copy when the two are on different file systems).
    ``src`` is a verified recording (:func:`qa.audio.playable_recording`); a hard link
    that is not that same file (swapped since the check) is removed and refused."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    if tmp.exists():
        tmp.unlink()
    before = os.stat(src)
    try:
        os.link(src, tmp, follow_symlinks=False)
    except OSError:
        shutil.copy2(src, tmp, follow_symlinks=False)
    else:
        if os.stat(tmp).st_ino != before.st_ino:
            tmp.unlink()
            raise OSError(0, "the file changed while it was being linked")
    os.replace(tmp, dest)


def _transcript_file(root: Path, transcript_path: str) -> Path:
    """A conversation's JSON: relative paths are relative to the output folder; an absolute
    path that is gone (an output folder moved since) is looked for in this folder's
    ``transcripts/`` by name."""
    p = Path(transcript_path)
    if not p.is_absolute():
        return root / p
    if not p.exists() and (root / "transcripts" / p.name).is_file():
        return root / "transcripts" / p.name
    return p


def _recorded_sha256(root: Path, c: dict) -> str | None:
    """The sha256 a voice conversation's JSON records for its recording (source format
    ``audio``), or None."""
    import json

    try:
        data = json.loads(_transcript_file(Path(root), c["transcript_path"]).read_text(encoding="utf-8"))
        source = data.get("source") or {}
        return source.get("sha256") if source.get("format") == "audio" else None
    except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return None


def _find_recording(root: Path, out: Path, c: dict, name: str) -> tuple[Path | None, str | None]:
    """The recording a call page plays, and why not when there is none.

    Its recorded place first (a relative ``audio_path`` is relative to the output folder);
    when it is not there (the output folder was moved or copied, or the recordings were
    archived), the copy an earlier ``qa report`` put in ``reports/audio`` of this output
    folder, verified against the sha256 the transcript records. So an output folder
    moved with ``cp -a`` still plays its recordings."""
    sha = _recorded_sha256(root, c)
    audio = Path(c["audio_path"])
    if not audio.is_absolute():
        audio = Path(root) / audio
    src, why = playable_recording(root, str(audio), sha)
    if src is not None or why != "not found" or not sha:
        return src, why
    for folder in dict.fromkeys((Path(root) / "reports" / "audio", Path(out) / "reports" / "audio")):
        copy = folder / name
        if copy.is_file():
            found, why2 = playable_recording(root, str(copy), sha)
            if found is not None:
                return found, None
    return None, why


def _audio_name(cid: str, audio_path: str) -> str:
    ext = Path(audio_path).suffix.lower()
    if not re.fullmatch(r"\.[a-z0-9]{1,5}", ext):
        ext = ".audio"
    return f"{safe_name(cid)}{ext}"


_ENTITY = re.compile(r"&(?:amp|lt|gt|quot|apos|nbsp|#\d{1,7}|#[xX][0-9a-fA-F]{1,6});")
_SPACE_PUNCT = re.compile(r"(?<=\w) +([,.!?;:])(?=\s|$)")


def display_text(text: str) -> str:
    """User text as a reader should see it: HTML entities that an export left in the text
    (``&amp;`` from Twitter) shown once as the character they stand for (then escaped again
    exactly once by the page), and the space of a word-by-word join before punctuation
    dropped ("Hi , thank you" → "Hi, thank you")."""
    if "&" in text:
        text = _ENTITY.sub(lambda m: html.unescape(m.group(0)), text)
    if " " in text:
        text = _SPACE_PUNCT.sub(r"\1", text)
    return text


def _display_fix(fix: Fix) -> Callable[[str], str]:
    if fix is None:
        return display_text
    return lambda s: display_text(fix(s))


def criterion_label(row: dict) -> str:
    """The human name of a criterion: its description, else its id in words."""
    d = (row.get("description") or "").strip()
    if d:
        return d
    cid = row.get("criterion_id") or "criterion"
    return cid.replace("_", " ").capitalize()


def speaker_label(speaker: str | None) -> str:
    return {"agent": "Agent", "customer": "Customer", "system": "System"}.get(
        speaker or "", (speaker or "someone").capitalize())


def _dur(seconds: float) -> str:
    from .checks import fmt_s

    return fmt_s(max(0.0, float(seconds)))


def when_in(start_s: float | None, channel: str | None) -> str:
    """When a turn came, in the conversation's terms, never like a clock time: "6:41 into
    the call" (voice), "1 h 26 min after the first message" (chat, social, e-mail)."""
    if start_s is None or (isinstance(start_s, float) and math.isnan(start_s)):
        return ""
    if channel == "voice":
        return f"{fmt_time(start_s)} into the call"
    if start_s < 1:
        return "the first message"
    return f"{_dur(start_s)} after the first message"


def evidence_meta(ev: dict, started_at: datetime | None, channel: str | None) -> dict:
    """Who spoke, when (:func:`when_in`), on which date, and the turn anchor of one piece
    of evidence: ``{"who", "when", "date", "anchor"}``."""
    from datetime import timedelta

    start = ev.get("start_s")
    day = None
    if started_at is not None:
        day = started_at
        if start is not None and channel != "voice" and not math.isnan(start):
            day = started_at + timedelta(seconds=float(start))
    i = ev.get("turn_index")
    return {"who": speaker_label(ev.get("speaker")), "when": when_in(start, channel),
            "date": fmt_date(day) if day is not None else "",
            "anchor": None if i is None else f"turn-{i}"}


SNIPPET = 220
"""Characters of a quote shown beside a criterion (the whole turn is in the transcript)."""
SNIPPET_AGAIN = 90
"""Characters of a turn quoted again by another failed criterion on the same page."""


def _snippet(ev: dict, limit: int = SNIPPET) -> dict:
    """``ev`` with its quote cut to ``limit`` characters around the match (… marks a cut)."""
    quote = ev.get("quote") or ""
    if len(quote) <= limit:
        return ev
    span = _span_in(quote, quote, ev.get("match"), ev.get("match_start"), ev.get("match_end"))
    a = 0 if span is None else max(0, min(span[0] - limit // 3, len(quote) - limit))
    b = min(len(quote), a + limit)
    if a > 0:  # start on a word
        sp = quote.find(" ", a, a + 30)
        a = sp + 1 if sp >= 0 and (span is None or sp < span[0]) else a
    if b < len(quote):
        sp = quote.rfind(" ", b - 30, b)
        b = sp if sp > a and (span is None or sp >= span[1]) else b
    part = quote[a:b]
    lead, tail = ("…" if a > 0 else ""), ("…" if b < len(quote) else "")
    out = {**ev, "quote": lead + part + tail}
    if span is not None and a <= span[0] and span[1] <= b:
        out["match_start"], out["match_end"] = span[0] - a + len(lead), span[1] - a + len(lead)
    else:
        out["match_start"] = out["match_end"] = None
    return out


CATEGORY_COLORS = {"promptness": "#b45309", "politeness": "#1f5fa8", "professionalism": "#6d28d9",
                   "personalization": "#0f766e", "empathy": "#be185d"}


def _turn_rows(conv: Conversation, crit_rows: list[dict], fix: Fix) -> list[dict]:
    """The transcript: each turn's text with the evidence marked in place, and the
    criteria that cite it (human names, category, outcome and reason) for the margin."""
    spans: dict[int, list[tuple[int, int, str]]] = {}
    cites: dict[int, list[dict]] = {}
    shown = _display_fix(fix)
    for row in crit_rows:
        if row.get("outcome") == "na":
            continue
        for ev in row.get("evidence") or []:
            i = ev.get("turn_index")
            if i is None or not (0 <= i < len(conv.turns)):
                continue
            lst = cites.setdefault(i, [])
            neg = ev.get("polarity") != "positive"
            if not any(c["criterion_id"] == row["criterion_id"] for c in lst):
                lst.append({"criterion_id": row["criterion_id"], "name": criterion_label(row),
                            "category": row.get("category"), "outcome": row.get("outcome"),
                            "negative": neg,
                            "reason": shown(row.get("reason") or ""),
                            "note": shown(ev.get("note") or "")})
            span = _span_in(conv.turns[i].text, ev.get("quote"), ev.get("match"),
                            ev.get("match_start"), ev.get("match_end"))
            if span:
                spans.setdefault(i, []).append((*span, "neg" if neg else "pos"))
    rows = []
    for i, t in enumerate(conv.turns):
        author = t.author if t.author and t.author.strip().lower() not in (
            t.speaker, speaker_label(t.speaker).lower()) else None
        cs = sorted(cites.get(i, ()), key=lambda c: (not (c["negative"] and c["outcome"] == "fail"),
                                                   CATEGORIES.index(c["category"])
                                                   if c["category"] in CATEGORIES else 9))
        rows.append({"index": i, "speaker": t.speaker, "who": speaker_label(t.speaker),
                     "author": shown(author) if author else None, "start_s": t.start_s,
                     "time": fmt_time(t.start_s) if conv.channel == "voice" else
                     (_dur(t.start_s) if t.start_s else ("0:00" if t.start_s == 0 else "")),
                     "html": highlight(t.text, spans.get(i, ()), fix=shown),
                     "cites": cs,
                     "marks": sorted({(c["category"], c["negative"] and c["outcome"] == "fail")
                                      for c in cs}, key=lambda m: (not m[1], str(m[0])))})
    return rows


def _criteria_for_page(crit_rows: list[dict], fix: Fix, conv: dict | None = None) -> dict:
    """The scorecard: ``fails`` (auto-fails first) grouped by category in category order,
    ``passes``, and ``na`` (shown folded); every row with its human name, score, reason and
    evidence (who, when, date, anchor and a short quote)."""
    conv = conv or {}
    order = {c: i for i, c in enumerate(CATEGORIES)}
    shown = _display_fix(fix)
    started, channel = conv.get("started_at"), conv.get("channel")
    quoted: set[int] = set()  # turns already quoted on the page: again, a short cut only
    rows = []
    for row in sorted(crit_rows, key=lambda r: (order.get(r.get("category"), 99),
                                                not r.get("auto_fail"), r.get("score") or 0,
                                                r.get("criterion_id") or "")):
        evs = []
        for e in row.get("evidence") or []:
            if row.get("outcome") == "fail" and e.get("polarity") == "positive" and any(
                    x.get("polarity") != "positive" for x in row.get("evidence") or []):
                continue  # a fail shows what lost the point; the rest is in the transcript
            i = e.get("turn_index")
            cut = _snippet(e, SNIPPET if i not in quoted or row.get("outcome") != "fail"
                           else SNIPPET_AGAIN)
            if row.get("outcome") == "fail" and i is not None:
                quoted.add(i)
            evs.append({**e, **evidence_meta(e, started, channel),
                        "html": highlight_quote(cut, fix=shown),
                        "note_text": shown(e.get("note") or ""),
                        "time": fmt_time(e.get("start_s"))})
        score = row.get("score")
        pct = None if score is None else (math.floor(score * 100) if row.get("outcome") == "fail"
                                          else round(score * 100))
        rows.append({**row, "name": criterion_label(row), "evidence": evs, "pct": pct,
                     "reason_text": shown(row.get("reason") or ""),
                     "na_text": shown(row.get("na_reason") or row.get("reason") or "")})
    fails = [r for r in rows if r.get("outcome") == "fail"]
    groups = []
    for c in [*CATEGORIES, *sorted({r.get("category") or "" for r in fails} - set(CATEGORIES))]:
        mine = [r for r in fails if r.get("category") == c]
        if mine:
            groups.append({"category": c, "label": CATEGORY_LABELS.get(c, c.capitalize() or "Other"),
                           "rows": mine})
    groups.sort(key=lambda g: not any(r.get("auto_fail") for r in g["rows"]))
    counts = {c: sum(1 for r in fails if r.get("category") == c) for c in CATEGORIES}
    return {"fail_groups": groups, "n_fail": len(fails),
            "passes": [r for r in rows if r.get("outcome") == "pass"],
            "na": [r for r in rows if r.get("outcome") not in ("pass", "fail")],
            "fails_by_category": counts, "all": rows}


def _quotes(moments: list[dict], fix: Fix) -> list[dict]:
    """Each moment's quoted turns highlighted (and redacted with ``fix``)."""
    return [{**m, "reason": fix(m["reason"]) if fix else m["reason"],
             "items": [{**i, "html": highlight_quote(i, fix=fix)} for i in m["items"]]}
            for m in moments]


# ---------------------------------------------------------------- page writers (no Polars)
class _Writer:
    """Renders and writes pages from plain Python data. Runs in the main process or in a
    worker process; it never touches Polars (whose thread pool does not survive a fork)."""

    def __init__(self, staging: str, root: str, templates_dir: str | None, redact: bool,
                 common: dict, period_labels: list[str]):
        self.staging = Path(staging)
        self.root = Path(root)
        self.env = make_env(templates_dir)
        self.redact = redact
        self.fix = pattern_redactor() if redact else None
        self.common = {**common, **_assets(self.env)}
        self.period_labels = period_labels
        self._charts: Charts | None = None
        self._templates = {}

    @property
    def charts(self) -> Charts:
        if self._charts is None:
            self._charts = Charts(self.period_labels)
        return self._charts

    def write(self, rel: str, template: str, ctx: dict) -> None:
        tpl = self._templates.get(template) or self._templates.setdefault(
            template, self.env.get_template(template))
        # control characters of conversation text (NUL, ESC …) shown, not hidden or run
        html = control_pictures(tpl.render(**self.common, **ctx))
        path = self.staging / rel
        # plain write: the whole staging folder replaces reports/ at the end, atomically
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(html)

    def agent(self, ctx: dict) -> None:
        a = ctx["agent"]
        ctx["charts"] = {
            "categories": self.charts.categories(a, ctx["team"], ctx["label"]),
            "trend": self.charts.trend(ctx["trend_agent"], ctx["trend_team"], ctx["label"])
            if self.period_labels else None,
        }
        ctx["focus"] = [{**f, "quotes": _quotes(f["quotes"], self.fix)} for f in ctx["focus"]]
        ctx["strengths"] = [{**s, "quotes": _quotes(s["quotes"], self.fix)}
                            for s in ctx["strengths"]]
        self.write(f"agents/{safe_name(a['agent_id'])}.html", "agent.html", ctx)

    def call(self, c: dict, crit_rows: list[dict], team: dict, audio_src: str | None,
             audio_notice: str | None) -> list[Failure]:
        problems = []
        transcript = None
        notice = None
        tpath = None
        if c.get("transcript_path"):
            tpath = _transcript_file(self.root, c["transcript_path"])
            try:
                transcript = Conversation.load(tpath)
            except QAError as exc:
                if not tpath.exists():
                    notice = "The transcript file is missing; scores and quotes are shown without it."
                    problems.append(Failure(str(tpath), "report",
                                            "transcript file missing: its call page shows scores "
                                            "and quotes only. Fix: re-run `qa ingest`/`qa transcribe` "
                                            "into this output folder."))
                else:
                    notice = f"The transcript could not be read ({exc.message})."
                    problems.append(Failure(str(tpath), "report", exc.reason))
        else:
            notice = "No transcript was recorded for this conversation."
        customer = transcript.customer_name if transcript else None
        if customer and self.redact:
            customer = "[customer]"
        fix = self.fix
        if self.redact and transcript is not None:
            fix = conversation_fix(transcript)
        card = _criteria_for_page(crit_rows, fix, c)
        charts = None
        if transcript is not None and transcript.channel == "voice":
            charts = call_charts(transcript)
        ctx = {"conv": c, "card": card, "criteria": card["all"], "charts": charts,
               "category_colors": CATEGORY_COLORS, "silence_s": f"{SILENCE_S:g}",
               "turns": _turn_rows(transcript, crit_rows, fix) if transcript else [],
               "notice": notice, "audio_src": audio_src, "audio_notice": audio_notice,
               "agent_href": f"../agents/{safe_name(c['agent_id'])}.html",
               "customer": customer, "team": team}
        self.write(f"calls/{safe_name(c['conversation_id'])}.html", "call.html", ctx)
        return problems


def _writer(token: str, init_args: tuple) -> _Writer:
    """This worker process's page writer for the report run ``token`` (built once)."""
    from .executor import worker_cached

    def make() -> _Writer:
        import logging as _logging
        _logging.getLogger("matplotlib").setLevel(_logging.WARNING)
        return _Writer(*init_args)

    return worker_cached(("report-writer", token), make)


def _do_agents(token: str, init_args: tuple, batch: list[dict]) -> int:
    writer = _writer(token, init_args)
    for ctx in batch:
        writer.agent(ctx)
    return len(batch)


def _do_calls(token: str, init_args: tuple, batch: list[tuple]) -> list[Failure]:
    writer = _writer(token, init_args)
    problems = []
    for item in batch:
        problems.extend(writer.call(*item))
    return problems


# ---------------------------------------------------------------- page contexts (Polars)
def _partition(df: pl.DataFrame, key: str) -> dict[str, pl.DataFrame]:
    if df.height == 0:
        return {}
    return {k[0]: v for k, v in df.partition_by(key, as_dict=True, maintain_order=True).items()}


def _agent_contexts(agg: Aggregates, teams: dict[str, dict],
                    reviewed: dict[str, dict] | None = None) -> list[dict]:
    """The data of every agent page (plain dicts; :meth:`_Writer.agent` renders them).
    ``reviewed``: per agent, the means with reviewed scores (:func:`reviewed_summary`)."""
    periods = agg.periods
    period = agg.filters.period
    conv_by = _partition(agg.conversations, "agent_id")
    trend_by = _partition(agg.trend, "agent_id")
    ev_by = _partition(agg.evidence, "agent_id")
    ctrend_by = _partition(agg.criterion_trend, "agent_id")
    crit_by = _partition(agg.criteria, "agent_id")
    chan_by = _partition(agg.channels, "agent_id")
    af_by: dict[str, list[dict]] = {}
    for row in agg.auto_fail_criteria.to_dicts():
        af_by.setdefault(row["agent_id"], []).append(row)
    team_trend: dict[str, dict] = {}
    for row in agg.team_trend.to_dicts():
        team_trend.setdefault(row["team"], {})[row["period"]] = row
    out = []
    for a in agg.agents.to_dicts():
        aid = a["agent_id"]
        label = a.get("agent_name") or aid
        stats = crit_by.get(aid, agg.criteria.head(0))
        weak, strong = focus_areas(stats, aid)
        groups: dict[tuple, list[dict]] = {}
        if aid in ev_by:
            for e in ev_by[aid].to_dicts():
                key = (e["criterion_id"], e["kind"])
                if not groups.get(key) or groups[key][-1]["conversation_id"] != e["conversation_id"]:
                    groups.setdefault(key, []).append(_moment(e))
                groups[key][-1]["items"].append(_item(e))
        mine = {r["period"]: r for r in trend_by[aid].to_dicts()} if aid in trend_by else {}
        theirs = team_trend.get(a["team"], {})
        trend_rows = [{"label": period_label(p, period),
                       "n": mine[p]["n"] if p in mine else 0,
                       **{c: mine.get(p, {}).get(c) for c in ("overall", *CATEGORIES)},
                       "team_overall": theirs.get(p, {}).get("overall")}
                      for p in periods if p in mine]
        convs = []
        if aid in conv_by:
            for c in conv_by[aid].sort("started_at", descending=True, nulls_last=True).to_dicts():
                convs.append({"conversation_id": c["conversation_id"], "channel": c["channel"],
                              "when": fmt_datetime(c["started_at"]),
                              "scores": [fmt_score(c[k]) for k in ("overall", *CATEGORIES)],
                              "auto_fail": c["auto_fail"],
                              "auto_fail_criteria": c["auto_fail_criteria"],
                              "href": f"../calls/{safe_name(c['conversation_id'])}.html"})
        focus = _distinct_moments([{**w, "quotes": groups.get((w["criterion_id"], "worst"), [])}
                                   for w in weak.to_dicts()])
        strengths = _distinct_moments([{**s, "quotes": groups.get((s["criterion_id"], "best"), [])}
                                       for s in strong.to_dicts()])
        out.append({
            "agent": a, "label": label, "team": teams.get(a["team"], {}),
            "focus": focus, "strengths": strengths,
            "trend": trend_rows, "trend_note": _trend_note(a, period),
            "trend_agent": [mine.get(p, {}).get("overall") for p in periods],
            "trend_team": [theirs.get(p, {}).get("overall") for p in periods],
            "criterion_trend": _criterion_trend(ctrend_by.get(aid), stats, focus, period),
            "channels": _channels(chan_by.get(aid)),
            "sentiment": _sentiment(a),
            "reviewed": (reviewed or {}).get(aid),
            "conversations": convs, "auto_fails": af_by.get(aid, []),
        })
    return out


_SPEAKERS = {"agent": "Agent", "customer": "Customer"}
_MEDIUM = {"voice": "call", "chat": "chat", "email": "e-mail thread", "social": "conversation"}


def _moment(e: dict) -> dict:
    """One conversation's evidence for a criterion: where, when and why."""
    page = f"../calls/{safe_name(e['conversation_id'])}.html"
    return {"conversation_id": e["conversation_id"], "href": page,
            "date": fmt_date(e.get("started_at")), "reason": e.get("reason") or "",
            "medium": _MEDIUM.get(e.get("channel") or "", "conversation"), "items": []}


def _item(e: dict) -> dict:
    """One quoted turn: who spoke, when into the conversation, and the link to it."""
    page = f"../calls/{safe_name(e['conversation_id'])}.html"
    ti = e.get("turn_index")
    speaker = e.get("speaker") or ""
    return {**e, "who": _SPEAKERS.get(speaker, speaker.capitalize() or "Someone"),
            "time": fmt_time(e.get("start_s")),
            "href": page if ti is None else f"{page}#turn-{ti}"}


def _distinct_moments(areas: list[dict]) -> list[dict]:
    """Order each area's moments so that its first one quotes turns no earlier area
    led with: three focus areas never open on the same line."""
    used: set[tuple] = set()
    for area in areas:
        qs = area["quotes"]
        fresh = [q for q in qs if not any((q["conversation_id"], i.get("turn_index")) in used
                                          for i in q["items"])]
        area["quotes"] = fresh + [q for q in qs if q not in fresh]
        if area["quotes"]:
            used.update((area["quotes"][0]["conversation_id"], i.get("turn_index"))
                        for i in area["quotes"][0]["items"])
    return areas


def _trend_note(a: dict, period: str) -> str:
    """The trend in words, with the conversations behind it."""
    k = a.get("trend_periods")
    if not k:
        return "no dated conversations: no trend"
    if k < 2:
        return f"one {period} only: no trend yet"
    ne, nl = a.get("n_early") or 0, a.get("n_late") or 0
    span = (f"last {k // 2} {period}{'s' if k // 2 != 1 else ''} ({nl} conversation"
            f"{'s' if nl != 1 else ''}) against the {k - k // 2} before ({ne})")
    if a.get("dir_overall") is None:
        return (f"not enough conversations for a trend: {span}; "
                f"{MIN_CONVERSATIONS} a side needed")
    words = {"up": "up", "down": "down", "flat": "no clear change"}[a["dir_overall"]]
    return (f"{words}: {fmt_score(a.get('trend_early_overall'))} → "
            f"{fmt_score(a.get('trend_late_overall'))}, {span}")


def _criterion_trend(rows: pl.DataFrame | None, stats: pl.DataFrame, focus: list[dict],
                     period: str, last: int = 8) -> dict | None:
    """The pass rate of each criterion per period (the agent's last ``last`` periods),
    with the conversations behind each cell; focus areas first. ``rows``: the agent's
    :attr:`Aggregates.criterion_trend`, ``stats`` the agent's :attr:`Aggregates.criteria`."""
    if rows is None or rows.height == 0:
        return None
    all_rows = rows.to_dicts()
    ps = sorted({r["period"] for r in all_rows})[-last:]
    keep = set(ps)
    cells: dict[str, dict] = {}
    for r in all_rows:
        if r["period"] in keep:
            cells.setdefault(r["criterion_id"], {})[r["period"]] = r
    desc = {r["criterion_id"]: r for r in stats.to_dicts()}
    first = [f["criterion_id"] for f in focus]
    order = sorted(cells, key=lambda c: (c not in first, first.index(c) if c in first else 0,
                                         desc.get(c, {}).get("pass_rate") or 0.0, c))
    clean = {c for c in order if c not in first
             and all(r["n_pass"] == r["n"] for r in cells[c].values())}
    return {"periods": [period_label(p, period) for p in ps], "n_clean": len(clean),
            "rows": [{"criterion_id": c, "focus": c in first,
                      "description": desc.get(c, {}).get("description") or c,
                      "cells": [cells[c].get(p) for p in ps]} for c in order if c not in clean]}


_CHANNEL_LABELS = {"voice": ("Calls", "call"), "text": ("Chat, e-mail and social",
                                                          "written conversation")}


def _channels(rows: pl.DataFrame | None) -> list[dict]:
    """Voice and text apart, only for an agent who has both."""
    if rows is None or rows.height < 2:
        return []
    return [{**r, "label": _CHANNEL_LABELS[r["channel_group"]][0],
             "noun": _CHANNEL_LABELS[r["channel_group"]][1]} for r in rows.to_dicts()]


def _sentiment(a: dict) -> dict | None:
    n = a.get("n_sentiment") or 0
    if not n:
        return None
    return {"n": n, "better": a.get("sentiment_better") or 0,
            "worse": a.get("sentiment_worse") or 0,
            "start": a.get("sentiment_start"), "end": a.get("sentiment_end"),
            "shift": a.get("sentiment_shift"), "team_shift": a.get("team_sentiment_shift")}


def _call_batches(agg: Aggregates, staging: Path, teams: dict[str, dict], chunk: int,
                  summary: "ReportSummary", only: set[str] | None = None):
    """Yield lists of call-page work items (``chunk`` at most), reading the criteria rows
    a chunk at a time (:func:`qa.aggregate.criteria_by_conversation`)."""
    conv = agg.conversations
    if only is not None:
        conv = conv.filter(pl.col("conversation_id").is_in(pl.Series(sorted(only), dtype=pl.String).implode()))
    for ids, crit in criteria_by_conversation(agg.paths, conv["conversation_id"], per=chunk):
        part = pl.DataFrame({"conversation_id": ids}, schema={"conversation_id": pl.String}).join(
            conv, on="conversation_id", how="inner", maintain_order="left")
        crit_by: dict[str, list[dict]] = {}
        for row in crit.to_dicts():
            crit_by.setdefault(row["conversation_id"], []).append(row)
        items = []
        for c in part.to_dicts():
            audio_src = audio_notice = None
            if c.get("audio_path"):
                name = _audio_name(c["conversation_id"], c["audio_path"])
                # only a recording qa decoded, or one that still hashes to the recorded
                # sha256 and decodes as audio, is ever linked into reports/ (qa.audio)
                src, why = _find_recording(agg.paths.root, staging.parent, c, name)
                if src is not None:
                    try:
                        _link_audio(src, staging / "audio" / name)
                        audio_src = f"../audio/{name}"
                        summary.audio += 1
                    except OSError as exc:
                        audio_notice = f"The recording could not be copied ({exc.strerror})."
                elif why != "not found":
                    audio_notice = "The recording could not be verified; no player."
                    summary.problems.append(Failure(
                        c["audio_path"], "report", f"recording of conversation "
                        f"{c['conversation_id']} not linked: {why}. Fix: only recordings qa "
                        "transcribed are played; transcribe it with `qa run` or `qa transcribe`."))
                else:
                    audio_notice = "The recording is not at its recorded place; no player."
                    summary.problems.append(Failure(c["audio_path"], "report",
                                                    f"recording of conversation {c['conversation_id']} "
                                                    "not found: its call page has no player. Fix: put "
                                                    "the file back, or re-run `qa transcribe` from its "
                                                    "new place."))
            items.append((c, crit_by.get(c["conversation_id"], []), teams.get(c["team"], {}),
                          audio_src, audio_notice))
        yield items


def _swap_in(staging: Path, reports: Path) -> None:
    """Replace ``reports`` with ``staging`` (two renames; the old folder is then removed)."""
    old = None
    if reports.exists():
        old = reports.with_name(f".{reports.name}.old-{os.getpid()}")
        os.replace(reports, old)
    os.replace(staging, reports)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)



def _remove_stale(out: Path) -> None:
    """Remove the half-written folders of a report run that was killed (its process is
    gone): ``.reports.tmp-<pid>-*`` and ``.reports.old-<pid>``."""
    for p in out.glob(".reports.*-*"):
        m = re.fullmatch(r"\.reports\.(?:tmp|old)-(\d+)(?:-.*)?", p.name)
        if m and p.is_dir() and int(m.group(1)) != os.getpid() and not pid_alive(int(m.group(1))):
            log.info("removing %s, left by an interrupted report run", p)
            shutil.rmtree(p, ignore_errors=True)


def _render_pooled(ex: "Executor", init_args: tuple, contexts: list[dict], call_pages: bool,
                   batches) -> ReportSummary:
    """Agent and call pages as tasks of ``ex`` (local worker processes or a Dask cluster),
    written by the workers into the staging folder (on a cluster: the output folder on the
    shared filesystem); the caller swaps the folder in when every page is done."""
    import uuid

    token = uuid.uuid4().hex
    jobs = max(1, ex.workers)
    acc = ReportSummary(reports=Path(), index=Path())
    step = max(1, min(25, len(contexts) // (jobs * 4) or 1))
    futures = [ex.submit(_do_agents, token, init_args, contexts[i:i + step])
               for i in range(0, len(contexts), step)]
    try:
        if call_pages:
            pending: set = set()
            for items in batches(acc):
                for i in range(0, len(items), CALL_TASK):
                    pending.add(ex.submit(_do_calls, token, init_args, items[i:i + CALL_TASK]))
                    # a few tasks in flight: the pages waiting for a worker are held here,
                    # so this bounds memory whatever the number of conversations
                    while len(pending) > jobs * 2:
                        done, pending = ex.wait_first(pending)
                        for f in done:
                            acc.problems.extend(f.result())
                acc.calls += len(items)
            for f in ex.as_completed(pending):
                acc.problems.extend(f.result())
        acc.agents = sum(f.result() for f in futures)
    except BaseException:
        ex.cancel(futures)
        raise
    finally:
        ex.forget(("report-writer", token))
    return acc


def _render_serial(writer: _Writer, contexts: list[dict], call_pages: bool,
                   batches) -> ReportSummary:
    acc = ReportSummary(reports=Path(), index=Path())
    for ctx in contexts:
        writer.agent(ctx)
    acc.agents = len(contexts)
    if call_pages:
        for items in batches(acc):
            for item in items:
                acc.problems.extend(writer.call(*item))
            acc.calls += len(items)
    return acc


def render_reports(results_dir: str | Path, out_dir: str | Path | None = None, *,
                   period: str = "week", date_from: date | None = None,
                   date_to: date | None = None, team: str | None = None,
                   templates_dir: str | Path | None = None, redact: bool = False,
                   call_pages: str = "auto", recent_calls: int = RECENT_CALLS,
                   jobs: int | None = None, chunk: int = CALL_CHUNK,
                   executor: "Executor | None" = None) -> ReportSummary:
    """Aggregate the results in ``results_dir`` (an output folder holding ``results/``,
    or that ``results/`` folder) and write the HTML reports to ``out_dir/reports``
    (``out_dir`` defaults to the output folder of the results).

    The pages are written into a fresh folder beside ``reports/`` that replaces it when
    every page is done: an interrupted run leaves the previous reports whole.
    ``redact`` masks personal data (:mod:`qa.redact`: cards, phone numbers, e-mail
    addresses, ids, street addresses, handles) in every quote, reason and transcript, and
    the customer's name on call pages.

    ``call_pages``: ``all`` writes a page for every conversation; ``linked`` only for the
    conversations an agent page quotes (focus areas, strengths) and each agent's
    ``recent_calls`` latest ones (the agent page links the rest by id only); ``none``
    writes none; ``auto`` (the default) is ``all`` up to :data:`CALL_PAGES_ALL_LIMIT`
    conversations and ``linked`` above (a page costs about a millisecond and a file).

    ``jobs`` worker processes render the agent and call
    pages (default: one per CPU; 1 renders in this process); ``executor``
    (:mod:`qa.executor`) runs them instead: a command's local pool or its Dask cluster. Raises
    :class:`ReportError` when there are no results or nothing matches the filters.
    """
    t0 = _time.perf_counter()
    if call_pages not in CALL_PAGE_MODES:
        raise ReportError(f"unknown call-pages mode {call_pages!r}",
                          fix=f"Use one of: {', '.join(CALL_PAGE_MODES)}.")
    paths: ResultsPaths = locate_results(results_dir)
    out = Path(out_dir) if out_dir is not None else paths.root
    filters = Filters(period=period, date_from=date_from, date_to=date_to, team=team)
    make_env(templates_dir)  # a bad --templates folder fails before any work
    agg = aggregate(paths, filters)
    if agg.conversations.height == 0:
        raise ReportError(f"no conversations match ({filters.describe()})",
                          path=paths.conversations,
                          fix="Widen --from/--to, or check the --team name.")
    reports = out / "reports"
    out.mkdir(parents=True, exist_ok=True)
    _remove_stale(out)
    staging = Path(tempfile.mkdtemp(prefix=f".reports.tmp-{os.getpid()}-", dir=out))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes it private; reports are to be shared
    summary = ReportSummary(reports=reports, index=reports / "index.html",
                            conversations=agg.conversations.height)
    try:
        for sub in ("agents", "calls"):
            (staging / sub).mkdir()
        teams = {r["team"]: r for r in agg.teams.to_dicts()}
        common = {"generated": datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
                  "filters": filters, "selection": filters.describe(), "period": filters.period,
                  "redacted": redact}
        from .calibrate import calibration_page_data, read_reviews
        calibration = calibration_page_data(paths.root)  # the last `qa calibrate`, if any
        common["calibration_href"] = "calibration.html" if calibration else None
        common["reviews"] = read_reviews(paths.root)  # graders' reviews shown on call pages
        common["review"] = None
        common["min_conversations"] = MIN_CONVERSATIONS
        common["percentile_min_agents"] = PERCENTILE_MIN_AGENTS
        labels = [period_label(p, filters.period) for p in agg.periods]
        init_args = (str(staging), str(paths.root),
                     None if templates_dir is None else str(templates_dir), redact, common, labels)
        writer = _Writer(*init_args)

        # reviewed scores (graders' answers in place of qa's), beside the automatic ones
        rev_agents: dict[str, dict] = {}
        review = None
        if common["reviews"]:
            rev_conv = reviewed_scores(paths).filter(pl.col("n_reviews") > 0).join(
                agg.conversations.select("conversation_id"), on="conversation_id", how="semi")
            if rev_conv.height:
                ra, rt = reviewed_summary(agg.conversations, rev_conv)
                rev_agents = {r["agent_id"]: r for r in ra.to_dicts()}
                for r in rt.to_dicts():
                    if r["team"] in teams:
                        teams[r["team"]]["rev"] = r
                review = {"n": rev_conv.height, "n_total": agg.conversations.height,
                          "n_changed": int((rev_conv["n_changed"] > 0).sum())}
        agents = agg.agents.to_dicts()
        for a in agents:
            a["href"] = f"agents/{safe_name(a['agent_id'])}.html"
            a["rev"] = rev_agents.get(a["agent_id"])
        writer.common["review"] = common["review"] = review
        writer.write("index.html", "index.html", {
            "agents": agents, "teams": sorted(teams.values(), key=lambda t: t["team"]),
            "n_conversations": agg.conversations.height, "periods": labels,
            "needing": [a for a in agents if a["needs_attention"]]})

        mode = call_pages
        if mode == "auto":
            mode = "all" if agg.conversations.height <= CALL_PAGES_ALL_LIMIT else "linked"
            if mode == "linked":
                log.info("%d conversations: call pages only for the %d latest per agent and "
                         "those quoted (--call-pages all for every one)",
                         agg.conversations.height, recent_calls)
        contexts = _agent_contexts(agg, teams, rev_agents)
        paged: set[str] | None = None  # None: every conversation has a page
        if mode == "none":
            paged = set()
        elif mode == "linked":
            paged = set()
            for ctx in contexts:
                paged.update(c["conversation_id"] for c in ctx["conversations"][:recent_calls])
                for area in (*ctx["focus"], *ctx["strengths"]):
                    paged.update(q["conversation_id"] for q in area["quotes"])
        for ctx in contexts:
            for c in ctx["conversations"]:
                if paged is not None and c["conversation_id"] not in paged:
                    c["href"] = None
            if paged is not None:
                for area in (*ctx["focus"], *ctx["strengths"]):
                    area["quotes"] = [q for q in area["quotes"] if q["conversation_id"] in paged]
        summary.call_pages = mode
        call_pages = mode != "none"
        jobs = max(1, jobs if jobs is not None else (os.cpu_count() or 1))
        if executor is not None:
            jobs = executor.workers if executor.distributed else min(jobs, executor.workers)
        n_work = len(contexts) + (agg.conversations.height if call_pages else 0)
        use_pool = (executor is not None and executor.distributed) or (jobs > 1 and n_work >= POOL_MIN_PAGES)
        batches = lambda acc: _call_batches(agg, staging, teams, chunk, acc, paged)  # noqa: E731
        done = None
        if use_pool:
            from concurrent.futures.process import BrokenProcessPool

            from .executor import ProcessExecutor

            own = None
            if executor is None:
                own = executor = ProcessExecutor(jobs, start="forkserver")
            try:
                done = _render_pooled(executor, init_args, contexts, call_pages, batches)
            except (BrokenProcessPool, OSError) as exc:  # a worker died (memory?), or no fork
                log.warning("worker processes failed (%s); rendering in this process", exc)
            except Exception as exc:  # noqa: BLE001 - Dask's KilledWorker after its retries
                if type(exc).__name__ != "KilledWorker":
                    raise
                log.warning("cluster workers failed (%s); rendering in this process", exc)
            finally:
                if own is not None:
                    own.shutdown(wait=True)
        if done is None:
            done = _render_serial(writer, contexts, call_pages, batches)
        summary.agents, summary.calls = done.agents, done.calls
        summary.audio, summary.problems = done.audio, done.problems
        log.info("wrote the index, %s and %s", plural(summary.agents, "agent page"),
                 plural(summary.calls, "call page"))
        if calibration:
            from .calibrate import render_calibration_page
            render_calibration_page(calibration, staging, templates_dir=templates_dir,
                                    common={k: common[k] for k in ("generated", "selection",
                                                                   "period", "redacted")})
        _swap_in(staging, reports)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    summary.seconds = _time.perf_counter() - t0
    return summary
