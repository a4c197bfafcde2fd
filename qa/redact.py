"""PII redaction: mask payment cards, phone numbers, e-mail addresses, SSN-style ids,
street addresses and social-media handles in text that people read.

Scoring always sees the original conversation; reports, exports and transcripts written
for sharing use a redacted *copy* (:func:`redact_conversation`).

Design rules
- Deterministic and fast: plain :mod:`re`, no model, no network.
- Linear time: every pattern starts with a look-behind that lets a match begin only at the
  start of a token, and no quantified group can match the same text in two ways, so no
  input (a 1 MB run of digits, of ``a@``, of ``123 Main``…) makes the engine backtrack
  catastrophically. ``tests/test_redact.py`` checks this on adversarial input.
- Precision where it is cheap: a card number must pass the Luhn check; a bare run of digits
  is a phone only when it has a phone's shape (North American with a valid area code and
  exchange, or a national number with a leading trunk ``0``) and the words just before it
  do not call it an order / ticket / case / account number; numbers inside URLs are never
  masked (article ids, archive timestamps).
- Idempotent: masks (``[PHONE]``…) contain nothing any detector matches, so redacting a
  redacted text changes nothing.
"""

from __future__ import annotations

import bisect
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from .conversation import Conversation, Word

log = logging.getLogger(__name__)

REDACTION_VERSION = 1
"""Bumped when what is masked changes; recorded in a redacted conversation's metadata."""

CARD = "CARD"
PHONE = "PHONE"
EMAIL = "EMAIL"
SSN = "SSN"
ADDRESS = "ADDRESS"
HANDLE = "HANDLE"
NAME = "NAME"

KINDS: tuple[str, ...] = (CARD, PHONE, EMAIL, SSN, ADDRESS, HANDLE, NAME)
"""Every kind this module can mask, in priority order (an earlier kind wins an overlap)."""

DEFAULT_KINDS: frozenset[str] = frozenset(KINDS)
"""Kinds masked unless the caller narrows them. ``NAME`` only fires for names the caller
passes (``names=``; :func:`redact_conversation` passes the customer's name)."""

_PRIORITY = {k: i for i, k in enumerate((EMAIL, CARD, SSN, PHONE, ADDRESS, HANDLE, NAME))}


def mask(kind: str) -> str:
    """The text that replaces a span of ``kind``: ``[PHONE]``."""
    return f"[{kind}]"


@dataclass(frozen=True)
class RedactedSpan:
    """One masked span. Holds positions and lengths, never the original value."""

    kind: str
    """``CARD``, ``PHONE``, ``EMAIL``, ``SSN``, ``ADDRESS``, ``HANDLE`` or ``NAME``."""
    start: int
    """Start offset in the original text."""
    end: int
    """End offset (exclusive) in the original text."""
    redacted_start: int
    """Start offset of the mask in the redacted text."""
    redacted_end: int
    """End offset (exclusive) of the mask in the redacted text."""

    @property
    def length(self) -> int:
        """Length of the original value."""
        return self.end - self.start


@dataclass
class RedactionResult:
    """The redacted text and what was masked in it."""

    text: str
    """The text with every span replaced by its mask."""
    spans: list[RedactedSpan] = field(default_factory=list)
    """The masked spans, in text order, never overlapping."""

    @property
    def changed(self) -> bool:
        return bool(self.spans)

    def counts(self) -> dict[str, int]:
        """Number of masked spans per kind."""
        return dict(Counter(s.kind for s in self.spans))

    def map_offset(self, i: int) -> int:
        """Map an offset in the original text to the redacted text.

        An offset inside a masked span maps to the start of its mask, so evidence
        highlights computed on the original text can be placed on the redacted one
        (see :meth:`map_span`)."""
        delta = 0
        for s in self.spans:
            if i >= s.end:
                delta = s.redacted_end - s.end
            elif i > s.start:
                return s.redacted_start
            else:
                break
        return i + delta

    def map_span(self, start: int, end: int) -> tuple[int, int]:
        """Map an original ``[start, end)`` to the redacted text, widened to whole masks."""
        new_start = self.map_offset(start)
        new_end = self.map_offset(end)
        for s in self.spans:
            if s.start < end < s.end:
                new_end = s.redacted_end
        return new_start, max(new_start, new_end)


# ---- patterns ---------------------------------------------------------------------------
# URLs: numbers inside them are ids, not phones. `\S+` after a fixed prefix is linear.
_URL = re.compile(r"(?:\bhttps?:\s?//|\bwww\.)\S+|(?<![\w@.-])(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}/\S*",
                  re.IGNORECASE)

# E-mail: the local part may begin only where a run of local-part characters begins (the
# look-behind), so a long run without '@' is scanned once, not once per start position.
# Domain labels cannot contain '.', so `label(\.label)+` has one way to match.
_EMAIL = re.compile(
    r"(?<![\w.%+'-])[\w%+'-]+(?:\.[\w%+'-]+)*@[A-Za-z0-9](?:[A-Za-z0-9-]*)(?:\.[A-Za-z0-9-]+)+")
# Obfuscated e-mail: "name (at) example (dot) com" with any domain, or
# "name at gmail dot com" with a known mail provider (otherwise "look at this dot com" would
# be an address).
_MAIL_PROVIDERS = ("gmail|googlemail|yahoo|ymail|hotmail|outlook|live|msn|icloud|me|aol|"
                   "protonmail|proton|gmx|mail|yandex|zoho|comcast|verizon|att|naver|qq|163")
_EMAIL_OBFUSCATED = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*"
    r"(?:\s?[\[(\{]\s?at\s?[\])\}]\s?[A-Za-z0-9-]+(?:\s?[\[(\{]\s?dot\s?[\])\}]\s?[A-Za-z0-9-]+)+"
    r"|[ \t]+at[ \t]+(?:" + _MAIL_PROVIDERS + r")(?:[ \t]+dot[ \t]+[A-Za-z]{2,6}){1,2})\b",
    re.IGNORECASE)

# Payment card: 13-19 digits, optionally in groups separated by one space or dash. Found as
# a run of digit groups, then every window of whole groups with 13-19 digits is Luhn-checked.
_DIGIT_RUN = re.compile(r"(?<![\w.,/$€£#-])\d+(?:[ -]\d+)*(?![\w/%]|[.,]\d)")

# SSN: AAA-GG-SSSS (dashes or spaces), area not 000, 666 or 9xx, group not 00, serial
# not 0000. Nine bare digits only right after an SSN cue.
_SSN = re.compile(
    r"(?<![\w.,/$#-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\w/%-]|[.,]\d)")
_SSN_BARE = re.compile(
    r"(?i:\b(?:ssn|ss#|social security(?: number| no\.?| #)?|social)\s*(?:is|:|#)?\s*)"
    r"((?!000|666|9\d\d)\d{3}(?!00)\d{2}(?!0000)\d{4})(?![\w/%-]|[.,]\d)")

# Phones.
_EXT = r"(?:[ \t]*(?:ext\.?|extension|x)[ \t]*\d{1,6})?"
# North American: [+1 / 1 sep] (AAA) EEE-NNNN, with at least one separator or parentheses
# (bare digit runs are handled below, with their own rules).
_PHONE_NANP = re.compile(
    r"(?<![\w.,/$#+-])(?:\+?1[ .-]?)?(?:\([2-9]\d{2}\)[ .-]?|[2-9]\d{2}[ .-])[2-9]\d{2}[ .-]\d{4}"
    + _EXT + r"(?![\w/%-]|[.,]\d)", re.IGNORECASE)
# International: +CC (or 00CC), an optional "(0)", then groups of digits. After the
# first group every group needs a separator, so a run of digits splits one way only.
# 8-16 digits in all (checked after matching).
_PHONE_INTL = re.compile(
    r"(?<![\w.,/$#+-])(?:\+|00)[1-9]\d{0,2}(?:[ .-]?\(0\))?[ .-]?\(?\d{1,5}\)?"
    r"(?:[ .-]\(?\d{1,8}\)?|\(\d{1,5}\)){1,5}"
    + _EXT + r"(?![\w/%]|[.,-]\d)", re.IGNORECASE)
# Local seven digits (555-0132): a phone only right after a phone cue ("call me at").
_PHONE_LOCAL = re.compile(r"(?<![\w.,/$#+-])[2-9]\d{2}[.-]\d{4}(?![\w/%-]|[.,]\d)")
# National with a trunk 0 and separators: 020 7946 0958, 0161-496-0000, 07700 900123.
_PHONE_TRUNK = re.compile(
    r"(?<![\w.,/$#+-])\(?0\d{1,4}\)?[ .-]\d{3,8}(?:[ .-]\d{3,4})?(?![\w/%-]|[.,]\d)")
# Bare digits (10-11, or 12-13 with a country code): checked for shape and context below.
_PHONE_BARE = re.compile(r"(?<![\w.,/$€£#+:-])(\+?)(\d{10,13})(?![\w/%:-]|[.,]\d)")
_ID_CUES = re.compile(
    r"(?i)\b(?:order|ticket|case|ref|reference|confirmation|tracking|account|acct|invoice|"
    r"id|serial|transaction|booking|claim|policy|member|membership|pnr|sku|item|product|"
    r"imei|code|pin|receipt|report|request|incident)\b|#")
_PHONE_CUES = re.compile(
    r"(?i)\b(?:phone|call|calling|called|text|txt|sms|mobile|cell|cellphone|tel|telephone|"
    r"whatsapp|fax|contact|reach|dial|ring)\b")
# ("number" is no cue either way: "order number", "phone number")

# Street address: house number, 1-3 street-name words (or an ordinal), a suffix; then an
# optional unit and an optional ", City[, ST] [ZIP]". Suffixes are matched case-
# insensitively; name words are checked against a stop-word list after matching, so
# "3 people in my way" is not an address.
_SUFFIXES = (
    "street|st|avenue|ave|av|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|place|pl|"
    "way|terrace|ter|circle|cir|parkway|pkwy|highway|hwy|square|sq|trail|trl|plaza|plz|"
    "loop|alley|crescent|close|row|walk|pike|freeway|fwy|expressway|expy|route|rte")
_UNIT = r"(?:,?[ \t]+(?:apt|apartment|suite|ste|unit|fl|floor|rm|room|#)\.?[ \t]*#?[A-Za-z0-9-]{1,6})?"
# ", City[, ST] [ZIP]" with capitalised words, or lower-case words when a state and ZIP follow
_CITY_STATE_ZIP = (
    r"(?:,[ \t]*[A-Z][a-z]+(?:[ \t][A-Z][a-z]+){0,2}(?:,?[ \t]+[A-Z]{2}(?:[ \t]+\d{5}(?:-\d{4})?)?)?"
    r"|,?[ \t]+[a-z]+(?:[ \t][a-z]+){0,2},?[ \t]+[a-z]{2}[ \t]+\d{5}(?:-\d{4})?"
    r"|,?[ \t]+[A-Z]{2}[ \t]+\d{5}(?:-\d{4})?)?")
_ADDRESS = re.compile(
    r"(?<![\w.,/$#-])(?P<num>\d{1,6}[A-Za-z]?(?:-\d{1,4})?)[ \t]+"
    r"(?P<dir>(?i:[NSEW]|north|south|east|west|NE|NW|SE|SW)\.?[ \t]+)?"
    r"(?P<name>(?i:\d{1,4}(?:st|nd|rd|th)|[A-Za-z][A-Za-z'’]*)(?:[ \t]+[A-Za-z][A-Za-z'’]*){0,2})"
    r"[ \t]+(?P<suffix>(?i:" + _SUFFIXES + r"))\b\.?(?:[ \t]+(?:NE|NW|SE|SW)\b)?"
    + "(?i:" + _UNIT + ")" + _CITY_STATE_ZIP + r"(?!\w)")
_ADDRESS_STOP = frozenset(
    "a an the and or but of in on at to for from by with my your our his her their its this "
    "that these those is are was were be been am i you we they he she it me us them all any "
    "some no not more most less few many much very just only also then than so too up down "
    "out off over under again per via into onto about after before days day hours hour "
    "minutes minute times time weeks week months month years year people persons items "
    "things ways steps other another each every same new old first last next tb gb mb kb "
    "hard external usb ssd hdd inch foot feet miles mile km blocks block lanes".split())
_ADDRESS_SUFFIX_LOOSE = frozenset({"street", "avenue", "ave", "road", "rd", "boulevard", "blvd",
                                   "lane", "ln", "parkway", "pkwy", "highway", "hwy"})
"""Suffixes that make an address even in lower case ("6821 1st ave"); any other suffix
("St", "Dr", "Way", "Drive"…) must be capitalised, or the street name must be."""

# Digits read aloud, as a transcript writes them: "four one five, five five five, oh one
# three two", "double five". Six or more digit words (seven or more digits); each
# separator is spaces, or one comma / dot / dash with optional spaces, so a run splits one
# way only.
_DIGIT_WORD_VALUES = {"zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4",
                      "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9"}
_DIGIT_WORD = r"(?:(?:double|triple)[ \t]+)?(?:" + "|".join(_DIGIT_WORD_VALUES) + r")"
_SPOKEN_DIGITS = re.compile(
    r"(?<![\w-])" + _DIGIT_WORD + r"(?:(?:[ \t]+|[ \t]*[,.-][ \t]*)" + _DIGIT_WORD + r"){5,}(?!\w)",
    re.IGNORECASE)
_SSN_CUE = re.compile(r"(?i)\b(?:ssn|social security|social)\b")

# Handles: '@' + 1-15 word characters, not preceded by a word character (so not an e-mail,
# not "1080@30fps").
_HANDLE = re.compile(r"(?<![\w@])@(\w{1,15})(?!\w)")


# ---- detectors --------------------------------------------------------------------------
@dataclass(frozen=True)
class _Cand:
    kind: str
    start: int
    end: int


def luhn_ok(digits: str) -> bool:
    """True when the digit string passes the Luhn (mod 10) check."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)             # also other scripts' decimal digits ("٤١١١…")
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _find_cards(text: str) -> Iterable[_Cand]:
    """Runs of digit groups; in each, the longest Luhn-valid window of whole groups with
    13-19 digits, scanning left to right. A card is one unbroken number or groups of 3-6
    digits; a window never starts or continues at a shorter group."""
    for m in _DIGIT_RUN.finditer(text):
        run = m.group(0)
        if len(run) < 13 or (len(run) < 64 and sum(ch.isdigit() for ch in run) < 13):
            continue
        groups = [(g.start() + m.start(), g.end() + m.start(), g.group(0))
                  for g in re.finditer(r"\d+", run)]
        i = 0
        while i < len(groups):
            best = None
            n = 0
            for j in range(i, min(len(groups), i + 19)):
                n += len(groups[j][2])
                if n > 19 or len(groups[j][2]) < 3:
                    break
                if n >= 13:
                    digits = "".join(g[2] for g in groups[i:j + 1])
                    if luhn_ok(digits) and not _all_same(digits):
                        best = (groups[i][0], groups[j][1], j)
            if best:
                yield _Cand(CARD, best[0], best[1])
                i = best[2] + 1
            else:
                i += 1


def _all_same(digits: str) -> bool:
    return digits.count(digits[0]) == len(digits)


def _find_ssn(text: str) -> Iterable[_Cand]:
    for m in _SSN.finditer(text):
        yield _Cand(SSN, m.start(), m.end())
    for m in _SSN_BARE.finditer(text):
        yield _Cand(SSN, m.start(1), m.end(1))


def _nanp_ok(d10: str) -> bool:
    return d10[0] in "23456789" and d10[3] in "23456789" and d10[1:3] != "11"


def _context_before(text: str, start: int, width: int = 40) -> str:
    """The words just before ``start``, back to the previous sentence end or line break."""
    left = text[max(0, start - width):start]
    cut = max(left.rfind("\n"), left.rfind(". "), left.rfind("! "), left.rfind("? "))
    return left[cut + 1:] if cut >= 0 else left


def _last_cues(ctx: str) -> tuple[int, int]:
    return (max((m.end() for m in _ID_CUES.finditer(ctx)), default=-1),
            max((m.end() for m in _PHONE_CUES.finditer(ctx)), default=-1))


def _cues_before(text: str, start: int, prior: str) -> tuple[int, int]:
    """End offsets of the last id cue and the last phone cue before ``start``.

    The words before the number in its own sentence decide; when they hold no cue and the
    number opens its message, the end of ``prior`` (the conversation's previous turns) does:
    "may I have the order ID?" / "7916676427"."""
    last_id, last_phone = _last_cues(_context_before(text, start))
    if last_id < 0 and last_phone < 0 and prior and not text[:start].strip():
        last_id, last_phone = _last_cues(prior[-120:])
    return last_id, last_phone


def _id_context(text: str, start: int, prior: str = "") -> bool:
    """True when the nearest cue before ``start`` names an id (order, ticket…), not a phone."""
    last_id, last_phone = _cues_before(text, start, prior)
    return last_id > last_phone


def _phone_context(text: str, start: int, prior: str = "") -> bool:
    """True when the nearest cue before ``start`` says phone (call, text, mobile…)."""
    last_id, last_phone = _cues_before(text, start, prior)
    return last_phone > last_id


def _find_phones(text: str, prior: str = "") -> Iterable[_Cand]:
    for m in _PHONE_NANP.finditer(text):
        yield _Cand(PHONE, m.start(), m.end())
    for m in _PHONE_INTL.finditer(text):
        core = re.sub(r"(?i)(?:ext\.?|extension|x)\s*\d+$", "", m.group(0))
        n = sum(ch.isdigit() for ch in core)
        if 8 <= n <= 16:
            yield _Cand(PHONE, m.start(), m.end())
    for m in _PHONE_LOCAL.finditer(text):
        if _phone_context(text, m.start(), prior):
            yield _Cand(PHONE, m.start(), m.end())
    for m in _PHONE_TRUNK.finditer(text):
        n = sum(ch.isdigit() for ch in m.group(0))
        if 9 <= n <= 12 and not _id_context(text, m.start(), prior):
            yield _Cand(PHONE, m.start(), m.end())
    for m in _PHONE_BARE.finditer(text):
        plus, d = m.group(1), m.group(2)
        if plus:
            ok = 10 <= len(d) <= 13
        elif len(d) == 10:
            ok = _nanp_ok(d) or (d[0] == "0" and d[1] != "0")
        elif len(d) == 11:
            ok = (d[0] == "1" and _nanp_ok(d[1:])) or (d[0] == "0" and d[1] != "0")
        else:
            ok = False
        if ok and not _id_context(text, m.start(), prior):
            yield _Cand(PHONE, m.start(), m.end())


def spoken_digits(words: str) -> str:
    """``"four one five double five"`` -> ``"41555"``."""
    out, repeat = [], 1
    for w in re.findall(r"[A-Za-z]+", words.lower()):
        if w in ("double", "triple"):
            repeat = 2 if w == "double" else 3
        elif w in _DIGIT_WORD_VALUES:
            out.append(_DIGIT_WORD_VALUES[w] * repeat)
            repeat = 1
    return "".join(out)


def _find_spoken(text: str, prior: str = "") -> Iterable[_Cand]:
    """Numbers read aloud: a card when 13-19 digits pass Luhn, an SSN when 9 digits follow
    "SSN" / "social security", else a phone when 7-15 digits (unless an id cue precedes)."""
    for m in _SPOKEN_DIGITS.finditer(text):
        digits = spoken_digits(m.group(0))
        n = len(digits)
        if 13 <= n <= 19 and luhn_ok(digits):
            yield _Cand(CARD, m.start(), m.end())
        elif n == 9 and _SSN_CUE.search(_context_before(text, m.start())):
            yield _Cand(SSN, m.start(), m.end())
        elif 7 <= n <= 15 and not _id_context(text, m.start(), prior):
            yield _Cand(PHONE, m.start(), m.end())


def _find_emails(text: str) -> Iterable[_Cand]:
    for m in _EMAIL.finditer(text):
        tld = m.group(0).rsplit(".", 1)[-1]
        if len(tld) >= 2 and tld.isalpha():
            yield _Cand(EMAIL, m.start(), m.end())
    for m in _EMAIL_OBFUSCATED.finditer(text):
        yield _Cand(EMAIL, m.start(), m.end())


def _find_addresses(text: str) -> Iterable[_Cand]:
    for m in _ADDRESS.finditer(text):
        words = m.group("name").split()
        if any(w.lower() in _ADDRESS_STOP for w in words):
            continue
        suffix = m.group("suffix")
        # short, ambiguous suffixes ("st", "dr", "way") must be capitalised like a name,
        # or the street name must be; "5 more minutes way" is not an address.
        if suffix.lower() not in _ADDRESS_SUFFIX_LOOSE and not (
                suffix[0].isupper() or words[0][0].isupper() or words[0][0].isdigit()):
            continue
        num = m.group("num")
        if num.isdigit() and int(num) == 0:
            continue
        yield _Cand(ADDRESS, m.start(), m.end())


def _find_handles(text: str, keep: frozenset[str]) -> Iterable[_Cand]:
    for m in _HANDLE.finditer(text):
        if m.group(1).lower() not in keep:
            yield _Cand(HANDLE, m.start(), m.end())


def _find_names(text: str, names: Iterable[str]) -> Iterable[_Cand]:
    for name in names:
        for m in re.finditer(r"(?<!\w)" + re.escape(name) + r"(?!\w)", text):
            yield _Cand(NAME, m.start(), m.end())


def name_parts(full_name: str | None) -> list[str]:
    """The strings to mask for a customer's name, longest first: the whole name as given and
    Title-cased, then each part of two or more letters Title-cased ("crystal minh" also
    masks "Crystal" and "Minh", but not the word "crystal"). Matching is case-sensitive, on
    whole words."""
    if not full_name or not full_name.strip():
        return []
    full = " ".join(full_name.split())
    out: list[str] = []
    for cand in (full, full.title()):
        if cand not in out:
            out.append(cand)
    for part in full.split(" "):
        part = part.strip(".,")
        if len(part) >= 2 and any(ch.isalpha() for ch in part):
            cand = part[0].upper() + part[1:]
            if cand not in out:
                out.append(cand)
    return sorted(out, key=len, reverse=True)


# ---- the API ----------------------------------------------------------------------------
def _norm_handle(h: str) -> str:
    return h.strip().lstrip("@").lower()


def find_pii(text: str, *, kinds: Iterable[str] | None = None,
             keep_handles: Iterable[str] = (), names: Iterable[str] = (),
             prior: str = "") -> list[tuple[str, int, int]]:
    """The PII spans in ``text`` as ``(kind, start, end)``, in order, never overlapping.

    ``kinds``: the kinds to look for (default :data:`DEFAULT_KINDS`). ``keep_handles``:
    handles (with or without ``@``, any case) that are not masked — the brand's own account.
    ``names``: literal names to mask as ``NAME`` (whole words, case-sensitive). ``prior``:
    the text just before this one (the conversation's previous turns), read only to decide
    whether a bare number that opens the text answers "your phone?" or "your order id?"."""
    want = DEFAULT_KINDS if kinds is None else frozenset(kinds)
    unknown = want - set(KINDS)
    if unknown:
        raise ValueError(f"unknown redaction kind(s) {sorted(unknown)}; known: {', '.join(KINDS)}")
    if not text:
        return []
    cands: list[_Cand] = []
    if EMAIL in want:
        cands.extend(_find_emails(text))
    if CARD in want:
        cands.extend(_find_cards(text))
    if SSN in want:
        cands.extend(_find_ssn(text))
    if PHONE in want:
        cands.extend(_find_phones(text, prior))
    if want & {CARD, SSN, PHONE}:
        cands.extend(c for c in _find_spoken(text, prior) if c.kind in want)
    if ADDRESS in want:
        cands.extend(_find_addresses(text))
    if HANDLE in want:
        cands.extend(_find_handles(text, frozenset(_norm_handle(h) for h in keep_handles)))
    if NAME in want:
        cands.extend(_find_names(text, [n for n in names if n and n.strip()]))
    if not cands:
        return []
    urls = [(m.start(), m.end()) for m in _URL.finditer(text)] if (
        "/" in text or "www." in text.lower()) else []
    if urls:
        # ids inside URLs are not PII; an e-mail address inside a URL still is
        url_starts = [u[0] for u in urls]
        cands = [c for c in cands if c.kind == EMAIL or not _overlaps(c, urls, url_starts)]
    # an earlier kind wins an overlap, then the longer span
    cands.sort(key=lambda c: (_PRIORITY[c.kind], -(c.end - c.start), c.start))
    chosen: list[tuple[int, int]] = []      # sorted, non-overlapping
    starts: list[int] = []
    kind_at: dict[int, str] = {}
    for c in cands:
        if not _overlaps(c, chosen, starts):
            k = bisect.bisect_left(starts, c.start)
            starts.insert(k, c.start)
            chosen.insert(k, (c.start, c.end))
            kind_at[c.start] = c.kind
    return [(kind_at[s], s, e) for s, e in chosen]


def _overlaps(c: _Cand, ranges: list[tuple[int, int]], starts: list[int]) -> bool:
    """Does ``c`` overlap any of ``ranges`` (sorted by start, non-overlapping)?"""
    k = bisect.bisect_left(starts, c.end)       # ranges[:k] start before c ends
    return k > 0 and ranges[k - 1][1] > c.start


def redact_text(text: str, *, kinds: Iterable[str] | None = None,
                keep_handles: Iterable[str] = (), names: Iterable[str] = (),
                prior: str = "") -> RedactionResult:
    """Mask every PII span in ``text`` with ``[KIND]``.

    >>> redact_text("card 4111 1111 1111 1111, call (415) 555-0132").text
    'card [CARD], call [PHONE]'
    """
    found = find_pii(text, kinds=kinds, keep_handles=keep_handles, names=names, prior=prior)
    if not found:
        return RedactionResult(text=text)
    out: list[str] = []
    spans: list[RedactedSpan] = []
    pos = 0
    length = 0
    for kind, start, end in found:
        out.append(text[pos:start])
        length += start - pos
        m = mask(kind)
        spans.append(RedactedSpan(kind, start, end, length, length + len(m)))
        out.append(m)
        length += len(m)
        pos = end
    out.append(text[pos:])
    return RedactionResult(text="".join(out), spans=spans)


_GENERIC_AUTHORS = frozenset({"customer", "client", "caller", "user", "visitor", "guest",
                              "member", "speaker", "speaker 1", "speaker 2", "agent", "system",
                              "bot", "you", "me"})


def conversation_keep_handles(conv: Conversation) -> set[str]:
    """Handles not to mask in ``conv``: the agent's id and name and the authors of agent
    turns (a brand's own account, e.g. ``@AppleSupport``, is not personal data)."""
    keep = {conv.agent_id}
    if conv.agent_name:
        keep.add(conv.agent_name)
    keep.update(t.author for t in conv.turns if t.speaker == "agent" and t.author)
    return {_norm_handle(h) for h in keep if h and h.strip()}


def conversation_redactor(conv: Conversation, *, kinds: Iterable[str] | None = None,
                          keep_handles: Iterable[str] = ()) -> Callable[[str], str]:
    """A function that redacts any text belonging to ``conv`` (an evidence quote, a
    coaching example) the way :func:`redact_conversation` redacts its turns: same kinds,
    same kept handles, the customer's name masked."""
    want = DEFAULT_KINDS if kinds is None else frozenset(kinds)
    keep = conversation_keep_handles(conv) | {_norm_handle(h) for h in keep_handles}
    names = name_parts(conv.customer_name) if NAME in want else []

    def redact(text: str) -> str:
        return redact_text(text, kinds=want, keep_handles=keep, names=names).text

    return redact


def redact_conversation(conv: Conversation, *, kinds: Iterable[str] | None = None,
                        keep_handles: Iterable[str] = ()) -> Conversation:
    """A redacted copy of ``conv``; ``conv`` itself is not changed.

    Masks PII in every turn's text and in voice turns' word lists (consistently: a masked
    span that covers several words becomes one word spanning their times), the customer's
    name (field and every occurrence in the text as ``[NAME]``), customer turns' authors
    (``[HANDLE]``, unless a generic role label such as ``Customer``), and string values in
    ``metadata``. Turn count, speakers and times are kept. The copy's
    ``metadata["redaction"]`` says it was redacted, with counts per kind, so reports can
    say so."""
    want = DEFAULT_KINDS if kinds is None else frozenset(kinds)
    keep = conversation_keep_handles(conv) | {_norm_handle(h) for h in keep_handles}
    names = name_parts(conv.customer_name) if NAME in want else []
    opts: dict[str, Any] = {"kinds": want, "keep_handles": keep, "names": names}
    counts: Counter[str] = Counter()
    new = conv.model_copy(deep=True)
    for i, turn in enumerate(new.turns):
        prior = "\n".join(t.text for t in conv.turns[max(0, i - 2):i])
        res = redact_text(turn.text, prior=prior, **opts)
        counts.update(res.counts())
        turn.text = res.text
        if turn.words:
            turn.words = _redact_words(turn.words, {**opts, "prior": prior})
        if turn.author and turn.speaker != "agent" and HANDLE in want:
            if (_norm_handle(turn.author) not in keep
                    and turn.author.strip().lower() not in _GENERIC_AUTHORS):
                turn.author = mask(HANDLE)
                counts[HANDLE] += 1
    if new.customer_name and NAME in want:
        new.customer_name = mask(NAME)
        counts[NAME] += 1
    new.metadata = _redact_value(new.metadata, opts, counts)
    new.metadata["redaction"] = {
        "redacted": True,
        "version": REDACTION_VERSION,
        "kinds": sorted(want),
        "counts": dict(sorted(counts.items())),
    }
    log.debug("redacted conversation %s: %s", conv.id, dict(counts))
    return new


def is_redacted(conv: Conversation) -> bool:
    """True when ``conv`` is a copy made by :func:`redact_conversation`."""
    info = conv.metadata.get("redaction")
    return isinstance(info, dict) and info.get("redacted") is True


def _redact_value(value: Any, opts: dict[str, Any], counts: Counter[str]) -> Any:
    if isinstance(value, str):
        res = redact_text(value, **opts)
        counts.update(res.counts())
        return res.text
    if isinstance(value, dict):
        return {k: _redact_value(v, opts, counts) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_value(v, opts, counts) for v in value]
    return value


def _redact_words(words: list[Word], opts: dict[str, Any]) -> list[Word]:
    """Redact a voice turn's words as one text; words a mask touches merge into one word
    that spans their times (start of the first, end of the last, lowest probability)."""
    joined = "".join(w.word for w in words)
    res = redact_text(joined, **opts)
    if not res.spans:
        return [w.model_copy() for w in words]
    bounds = []
    pos = 0
    for w in words:
        bounds.append((pos, pos + len(w.word)))
        pos += len(w.word)
    # group consecutive words joined by a span
    group_of = list(range(len(words)))
    for s in res.spans:
        touched = [i for i, (a, b) in enumerate(bounds) if a < s.end and s.start < b]
        for i in touched[1:]:
            group_of[i] = group_of[touched[0]]
    out: list[Word] = []
    i = 0
    while i < len(words):
        j = i
        while j + 1 < len(words) and group_of[j + 1] == group_of[i]:
            j += 1
        a = res.map_offset(bounds[i][0])
        b = res.map_offset(bounds[j][1])
        out.append(Word(word=res.text[a:b], start=words[i].start, end=words[j].end,
                        probability=min(w.probability for w in words[i:j + 1])))
        i = j + 1
    return out
