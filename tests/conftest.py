"""Shared test helpers: hand-built conversations and the path to the real data."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from qa.conversation import Conversation, Source, Turn

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


def need_tool(*names: str) -> None:
    """Fail (not skip) when a system tool the tests need is missing: CI installs them."""
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        pytest.fail(f"missing system tools {missing}: run `make system-deps`")


def make_conv(turns, *, id="c1", channel="chat", agent_id="a1", customer_name=None,
              **kw) -> Conversation:
    """Build a Conversation from (speaker, text[, start_s[, end_s]]) tuples."""
    built = []
    for t in turns:
        speaker, text, *times = t
        start = times[0] if times else None
        end = times[1] if len(times) > 1 else start
        built.append(Turn(speaker=speaker, text=text, start_s=start, end_s=end))
    return Conversation(id=id, channel=channel, agent_id=agent_id, customer_name=customer_name,
                        source=Source(path="test", sha256="0" * 64, format="test"),
                        turns=built, **kw)


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.fail(f"{SHARED_DATA} is missing: the real data must sit beside the project")
    return SHARED_DATA
