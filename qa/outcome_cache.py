"""Criterion outcomes kept between runs, so that re-scoring after a rubric edit runs only
the criteria that changed.

A criterion's outcome on a conversation depends on three things only: the conversation
(its turns, times, names, channel), the criterion's definition (check type, options,
``when:``, channels, id) and qa's scoring code. The cache key of an outcome is a hash of
all three; weights, categories, descriptions and coaching tips are applied after the
check and are not part of it, so editing them re-scores without running a single check.

One JSON file per conversation, ``CACHE/outcomes/<2 hex>/<key>.json``, holds the outcomes
of every criterion version it has seen (the newest :data:`KEEP_PER_CRITERIA` × the
rubric's criteria), so switching between two rubric versions stays fast. A damaged or
foreign entry is ignored and the criteria run again; JSON only, never pickle.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import fields
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic_core import from_json, to_json

from .checks import Evidence, Outcome

if TYPE_CHECKING:
    from .conversation import Conversation
    from .rubric import Criterion, Rubric

log = logging.getLogger(__name__)

FORMAT = 1
KEEP_PER_CRITERIA = 4
SENTIMENT = "_customer_sentiment"
"""The entry's key for the conversation's customer sentiment (start, end, shift)."""

_PACKAGE = Path(__file__).resolve().parent
_CODE = ("checks", "models", "acts.py", "affect.py", "situation.py", "nlp.py", "phrases.py",
         "score.py", "conversation.py", "outcome_cache.py")
"""What a check's outcome can depend on: editing any of these (a new qa version) starts a
fresh set of entries."""


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """sha256 of the scoring code and shipped models (computed once per process)."""
    h = hashlib.sha256(f"outcomes{FORMAT}".encode())
    for name in _CODE:
        p = _PACKAGE / name
        files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix in (".py", ".gz", ".json")) \
            if p.is_dir() else [p]
        for f in files:
            try:
                data = f.read_bytes()
            except OSError:
                continue
            h.update(str(f.relative_to(_PACKAGE)).encode())
            h.update(hashlib.sha256(data).digest())
    return h.hexdigest()


def criterion_key(crit: "Criterion", pipeline: str) -> str:
    """Hash of what a criterion's outcome depends on in the rubric (not its weight,
    category or wording for the report)."""
    spec = {"id": crit.id, "check": crit.check, "options": crit.options.model_dump(mode="json"),
            "when": list(crit.when), "when_any": crit.when_any,
            "channels": list(crit.channels) if crit.channels is not None else None,
            "pipeline": pipeline}
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:32]


def conversation_key(conv: "Conversation") -> str:
    """Hash of the conversation as the checks see it (its source file's path is left out,
    so a moved output folder keeps its cache) and of the scoring code."""
    h = hashlib.sha256(code_fingerprint().encode())
    h.update(conv.model_dump_json(exclude={"source"}).encode("utf-8", "surrogatepass"))
    return h.hexdigest()


_EVIDENCE = tuple(f.name for f in fields(Evidence))


def _dump(o: Outcome) -> dict:
    return {"o": o.outcome, "s": o.score, "r": o.reason, "n": o.na_reason,
            "e": [[getattr(e, f) for f in _EVIDENCE] for e in o.evidence]}


def _load(d: dict) -> Outcome:
    return Outcome(d["o"], d["s"], d["r"], [Evidence(**dict(zip(_EVIDENCE, e))) for e in d["e"]], d["n"])


class OutcomeCache:
    """Reads and writes one rubric's criterion outcomes under ``cache_dir/outcomes``."""

    def __init__(self, cache_dir: str | Path, rubric: "Rubric", pipeline: str):
        self.root = Path(cache_dir) / "outcomes"
        self.keys = {c.id: criterion_key(c, pipeline) for c in rubric.criteria}
        self.limit = KEEP_PER_CRITERIA * max(1, len(rubric.criteria))

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def read(self, conv_key: str) -> dict[str, Any]:
        """The entry's raw outcomes by criterion key ({} when there is none)."""
        try:
            data = from_json(self._path(conv_key).read_bytes())
            if data.get("v") != FORMAT or not isinstance(data.get("outcomes"), dict):
                return {}
            return data["outcomes"]
        except (OSError, ValueError, AttributeError):
            return {}

    def outcomes(self, entry: dict[str, Any]) -> dict[str, Outcome]:
        """Criterion id → cached outcome, for this rubric's criteria found in ``entry``
        (a malformed outcome is left out, so its criterion runs again)."""
        found: dict[str, Outcome] = {}
        for cid, key in self.keys.items():
            raw = entry.get(key)
            if raw is None:
                continue
            try:
                found[cid] = _load(raw)
            except (KeyError, TypeError, ValueError):
                continue
        return found

    def complete(self, entry: dict[str, Any]) -> bool:
        return SENTIMENT in entry and all(k in entry for k in self.keys.values())

    def write(self, conv_key: str, entry: dict[str, Any], fresh: dict[str, Outcome],
              sentiment: tuple) -> None:
        """Add the freshly computed outcomes (criterion id → outcome) to ``entry`` and
        write it; a cache that cannot be written is skipped (scoring goes on)."""
        from .store import atomic_write_bytes

        merged = {k: v for k, v in entry.items() if k != SENTIMENT}
        for cid, out in fresh.items():
            merged.pop(self.keys[cid], None)
            merged[self.keys[cid]] = _dump(out)
        if len(merged) > self.limit:  # oldest criterion versions go first
            merged = dict(list(merged.items())[-self.limit:])
        merged[SENTIMENT] = list(sentiment)
        try:
            atomic_write_bytes(self._path(conv_key), to_json({"v": FORMAT, "outcomes": merged}),
                               durable=False)
        except (OSError, ValueError) as exc:
            log.warning("could not write the outcome cache (%s); scoring goes on", exc)
