"""Shared test helpers: hand-built conversations, the test fixtures and the optional data.

Everything a test needs by default is in ``tests/data/`` (small, attributed cuts of public
data: see ``tests/data/README.md``), so ``make test`` passes in a fresh clone. The full
data sets are optional: ``../shared/data`` beside the project, or the folder named by
``$QA_SHARED_DATA``. Tests that need them take the ``shared_data`` fixture and skip with a
one-line reason when the folder is absent.

``slow`` marks tests that load Whisper or spaCy's full pipeline, or
that run ``qa`` end to end in child processes or over megabytes of input: ``make test-fast``
(``-m "not slow"``) leaves them out. A test that loads a Whisper model without the mark
fails, saying so (checked in this process; ``make test-fast`` runs that check).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from qa.conversation import Conversation, Source, Turn

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
SHARED_DATA = Path(os.environ.get("QA_SHARED_DATA") or ROOT.parent / "shared" / "data")

# the small cuts every test may use (tests/data/README.md says where each comes from)
IBM_CUT = DATA / "chats" / "ibm_twitter_care_dev_first40.json"
ABCD = DATA / "chats" / "abcd_sample.json"
CALL_CUT = (DATA / "calls" / "auto_repairs_40_agent_first45s.flac",
            DATA / "calls" / "auto_repairs_40_caller_first45s.flac")
# the full files, when the optional data is present
IBM_FULL = SHARED_DATA / "chats" / "ibm_twitter_care_dev.json"
CALL_FULL = (SHARED_DATA / "calls" / "auto_repairs_40_agent.flac",
             SHARED_DATA / "calls" / "auto_repairs_40_caller.flac")


def need_tool(*names: str) -> None:
    """Fail (not skip) when a system tool the tests need is missing: CI installs them."""
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        pytest.fail(f"missing system tools {missing}: run `make system-deps`")


def need_shared(*parts: str) -> Path:
    """The optional full data file or folder ``SHARED_DATA/parts``, or skip with one line."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"optional data {path} is absent (CI has ../shared/data)")
    return path


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
    """The optional full data folder (``../shared/data``); the test skips without it."""
    return need_shared()


def _whisper_models() -> int:
    mod = sys.modules.get("qa.transcribe")
    return len(getattr(mod, "_MODELS", ())) if mod is not None else 0


_MODELS_BEFORE = pytest.StashKey[int]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    item.stash[_MODELS_BEFORE] = _whisper_models()
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """A test not marked ``slow`` that loads a Whisper model (itself or in its fixtures)
    fails with a line saying so."""
    result = yield
    if item.get_closest_marker("slow") is None and _whisper_models() > item.stash.get(_MODELS_BEFORE, 0):
        pytest.fail(f"{item.nodeid} loads a Whisper model: mark it @pytest.mark.slow", pytrace=False)
    return result
