"""Named formats for two public exports.

``ibm-twitter``
    IBM's Twitter customer-care set (``ibm_twitter_care_dev.json``): a JSON list of
    ``{dialogHeader, dialogContent, agentURL}``. ``dialogContent`` items carry ``client``
    / ``client1`` (customers) or ``agent`` (the brand), ``datetime``, ``message``,
    ``tweet_ID``. ``agentURL.url_utterance`` is the agent's closing reply; it has no
    ``datetime``, so its time is read from its ``tweet_ID``, a Twitter snowflake:
    ``ms since epoch = (id >> 22) + 1288834974657``. The conversation id is
    ``dialogHeader.sessionID``, the agent id the brand's handle ``dialogHeader.company``.
    Text is kept exactly as exported (``&amp;`` included).

``abcd``
    ASAPP's ABCD (``abcd_sample.json`` / ``abcd_v1.1.json``): a JSON list (or a
    ``{"train": [...], ...}`` object) of ``{convo_id, scenario, original}`` where
    ``original`` is ``[[speaker, text], ...]`` with speakers ``agent``, ``customer`` and
    ``action`` (a system notice, kept as speaker ``system``). ``customer_name`` comes
    from ``scenario.personal.customer_name``. There are no timestamps (``start_s`` is
    None) and no agent ids: every conversation is given ``ABCD_AGENT_ID`` unless
    ``--agent-id`` or ``--meta`` supplies one.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ..conversation import Conversation, Source, Turn
from ..errors import IngestError
from .common import ConvOutcome, to_utc

TWITTER_EPOCH_MS = 1288834974657
ABCD_AGENT_ID = "abcd-agent"
"""The agent id ABCD conversations get when nothing else names one: the data set has none."""

_IBM_ROLES = {"client": "customer", "client1": "customer", "agent": "agent"}


def snowflake_time(tweet_id: str | int) -> datetime:
    """The UTC time a tweet was posted, from its snowflake id (millisecond precision)."""
    ms = (int(tweet_id) >> 22) + TWITTER_EPOCH_MS
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=ms)


def looks_like_ibm(data: Any) -> bool:
    return (isinstance(data, list) and bool(data) and isinstance(data[0], dict)
            and "dialogContent" in data[0] and "dialogHeader" in data[0])


def looks_like_abcd(data: Any) -> bool:
    if isinstance(data, dict):
        data = next((v for v in data.values() if isinstance(v, list) and v), None)
    return (isinstance(data, list) and bool(data) and isinstance(data[0], dict)
            and "original" in data[0] and ("convo_id" in data[0] or "scenario" in data[0]))


def read_ibm(data: Any, path: Path, sha256: str) -> list[ConvOutcome]:
    if not looks_like_ibm(data):
        raise IngestError("not the IBM Twitter customer-care format: expected a list of objects "
                          "with dialogHeader and dialogContent", path=path, place="item 1",
                          fix="Drop --format ibm-twitter, or check the file.")
    out: list[ConvOutcome] = []
    for i, item in enumerate(data, start=1):
        place = f"item {i}"
        try:
            out.append(ConvOutcome(_ibm_one(item, path, place, sha256),
                                   conversation_id=_ibm_id(item)))
        except IngestError as exc:
            out.append(ConvOutcome(None, exc, conversation_id=_ibm_id(item)))
    return out


def _ibm_id(item: Any) -> str | None:
    try:
        return str(item["dialogHeader"]["sessionID"])
    except (KeyError, TypeError):
        return None


def _ibm_one(item: Any, path: Path, place: str, sha256: str) -> Conversation:
    if not isinstance(item, dict) or not isinstance(item.get("dialogHeader"), dict):
        raise IngestError("conversation without dialogHeader", path=path, place=place)
    head = item["dialogHeader"]
    cid = head.get("sessionID")
    if not cid:
        raise IngestError("conversation without dialogHeader.sessionID", path=path, place=place)
    company = head.get("company") or ""
    stamped: list[tuple[datetime, Turn]] = []
    for j, msg in enumerate(item.get("dialogContent") or [], start=1):
        mplace = f"{place} dialogContent[{j}]"
        role_key = next((k for k in _IBM_ROLES if k in msg), None)
        if role_key is None:
            raise IngestError(f"message with none of client/client1/agent (keys: "
                              f"{', '.join(msg)})", path=path, place=mplace)
        if not msg.get("datetime"):
            raise IngestError("message without datetime", path=path, place=mplace)
        when, _ = to_utc(msg["datetime"], path, mplace)
        stamped.append((when, Turn(speaker=_IBM_ROLES[role_key], text=str(msg.get("message", "")),
                                   author=str(msg[role_key]), message_id=_str(msg.get("tweet_ID")))))
    closing = item.get("agentURL")
    if isinstance(closing, dict) and closing.get("url_utterance") is not None:
        tid = closing.get("tweet_ID")
        try:
            when = snowflake_time(tid)
        except (TypeError, ValueError):
            raise IngestError(f"agentURL.tweet_ID {tid!r} is not a tweet id", path=path,
                              place=f"{place} agentURL") from None
        stamped.append((when, Turn(speaker="agent", text=str(closing["url_utterance"]),
                                   author=company or None, message_id=_str(tid))))
    if not stamped:
        raise IngestError(f"conversation {cid} has no messages", path=path, place=place)
    stamped.sort(key=lambda st: st[0])  # stable: file order kept for ties
    t0 = stamped[0][0]
    turns = []
    seen: set[str] = set()
    for when, turn in stamped:
        if turn.message_id is not None:
            if turn.message_id in seen:
                continue
            seen.add(turn.message_id)
        turn.start_s = turn.end_s = (when - t0).total_seconds()
        turns.append(turn)
    customers = [t.author for t in turns if t.speaker == "customer" and t.author]
    meta: dict[str, Any] = {"company": company,
                            "closing_reply_time": "from agentURL.tweet_ID (Twitter snowflake)"}
    if customers:
        meta["customer_handle"] = customers[0]
    if isinstance(closing, dict) and closing.get("url"):
        meta["closing_reply_url"] = closing["url"]
    return Conversation(
        id=str(cid), channel="social", agent_id=company, agent_name=company or None,
        source=Source(path=str(path), sha256=sha256, format="ibm-twitter"),
        started_at=t0, duration_s=turns[-1].start_s, turns=turns, metadata=meta)


def _str(v: Any) -> str | None:
    return None if v is None else str(v)


def read_abcd(data: Any, path: Path, sha256: str) -> list[ConvOutcome]:
    if not looks_like_abcd(data):
        raise IngestError("not the ABCD format: expected a list of objects with convo_id, "
                          "scenario and original", path=path, place="item 1",
                          fix="Drop --format abcd, or check the file.")
    if isinstance(data, dict):  # abcd_v1.1.json: {"train": [...], "dev": [...], "test": [...]}
        items = [(f"{k}[{i}]", c) for k, v in data.items() if isinstance(v, list)
                 for i, c in enumerate(v, start=1)]
    else:
        items = [(f"item {i}", c) for i, c in enumerate(data, start=1)]
    out: list[ConvOutcome] = []
    for place, item in items:
        cid = str(item.get("convo_id", "")) if isinstance(item, dict) else ""
        try:
            out.append(ConvOutcome(_abcd_one(item, path, place, sha256), conversation_id=cid))
        except IngestError as exc:
            out.append(ConvOutcome(None, exc, conversation_id=cid))
    return out


_ABCD_ROLES = {"agent": "agent", "customer": "customer", "action": "system"}


def _abcd_one(item: Any, path: Path, place: str, sha256: str) -> Conversation:
    if not isinstance(item, dict) or item.get("convo_id") in (None, ""):
        raise IngestError("conversation without convo_id", path=path, place=place)
    cid = str(item["convo_id"])
    turns = []
    for j, pair in enumerate(item.get("original") or [], start=1):
        if not (isinstance(pair, list) and len(pair) == 2):
            raise IngestError("a turn that is not [speaker, text]", path=path,
                              place=f"{place} original[{j}]")
        label, text = pair
        role = _ABCD_ROLES.get(str(label).strip().lower())
        if role is None:
            raise IngestError(f"speaker {label!r} is none of agent, customer, action", path=path,
                              place=f"{place} original[{j}]")
        turns.append(Turn(speaker=role, text=str(text), author=str(label)))
    if not turns:
        raise IngestError(f"conversation {cid} has no turns", path=path, place=place)
    scenario = item.get("scenario") if isinstance(item.get("scenario"), dict) else {}
    personal = scenario.get("personal") if isinstance(scenario.get("personal"), dict) else {}
    meta = {k: scenario[k] for k in ("flow", "subflow") if k in scenario}
    return Conversation(
        id=cid, channel="chat", agent_id="", customer_name=personal.get("customer_name") or None,
        source=Source(path=str(path), sha256=sha256, format="abcd"), turns=turns, metadata=meta)
