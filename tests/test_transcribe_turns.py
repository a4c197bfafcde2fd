"""Turn building from word timings, roles, cache records: pure functions, no model."""

from __future__ import annotations

import numpy as np
import pytest

from qa.conversation import Word
from qa.errors import AudioDecodeError
from qa.transcribe import (ChannelWords, Recognition, TranscribeOptions, assign_mono_roles,
                           build_turns, cache_key, merge_turns, ModelRef, refine_word_times,
                           split_turns)


def words(*spec):
    """(word, start, end) triples -> Words."""
    return [Word(word=w, start=s, end=e, probability=0.9) for w, s, e in spec]


def rec(*channels):
    return Recognition(duration_s=30.0, audio={"channels": len(channels)}, language="en",
                       channels=[ChannelWords(words=list(c)) for c in channels])


def test_split_at_pauses_longer_than_threshold():
    ws = words((" Hello", 0.5, 0.9), (" there.", 0.95, 1.3), (" How", 2.5, 2.7), (" are", 2.7, 2.9),
               (" you?", 2.9, 3.2))
    turns = split_turns(ws, "agent", pause_split_s=1.0)
    assert [(t.text, t.start_s, t.end_s) for t in turns] == [("Hello there.", 0.5, 1.3),
                                                             ("How are you?", 2.5, 3.2)]
    assert [len(t.words) for t in turns] == [2, 3]
    # a pause of exactly 1.2 s does not split at 1.5
    assert len(split_turns(ws, "agent", pause_split_s=1.5)) == 1


def test_merge_keeps_overlap_and_orders_by_start():
    agent = split_turns(words((" Your", 14.0, 14.3), (" car", 14.3, 14.6), (" is", 14.6, 14.8),
                              (" ready.", 14.8, 16.0)), "agent", 1.0)
    customer = split_turns(words((" Wait,", 15.2, 15.5), (" tomorrow?", 15.5, 16.3)), "customer", 1.0)
    early = split_turns(words((" Hi.", 1.0, 1.4)), "customer", 1.0)
    merged = merge_turns(agent, customer + early)
    assert [(t.speaker, t.start_s, t.end_s) for t in merged] == [
        ("customer", 1.0, 1.4), ("agent", 14.0, 16.0), ("customer", 15.2, 16.3)]
    # the interruption starts before the agent's turn ends: times are not shifted
    assert merged[2].start_s < merged[1].end_s


def test_refine_shrinks_words_to_voiced_frames():
    voiced = np.zeros(500, dtype=bool)  # 10 s at 20 ms
    voiced[25:50] = True    # 0.5 .. 1.0 s
    voiced[300:340] = True  # 6.0 .. 6.8 s
    ws = words((" Okay,", 0.0, 1.2), (" great,", 1.2, 6.5), (" thanks.", 6.5, 6.8), (" hm", 8.0, 8.5))
    out = refine_word_times(ws, voiced)
    assert [(w.word, w.start, w.end) for w in out] == [
        (" Okay,", 0.5, 1.0), (" great,", 6.0, 6.5), (" thanks.", 6.5, 6.8),
        (" hm", 8.0, 8.5)]  # no voiced frame: Whisper's times are kept
    # the stretched word no longer bridges the 5 s silence
    assert [t.text for t in split_turns(out, "customer", 1.0)] == ["Okay,", "great, thanks.", "hm"]


def test_mono_roles_from_voice_pitch():
    # agent ~220 Hz, customer ~120 Hz; the turns are only 0.6 s apart (no pause split)
    ws = words((" Hello,", 0.0, 0.4), (" Acme.", 0.45, 0.9),       # agent
               (" Hi,", 1.5, 1.8), (" my", 1.85, 2.0), (" car.", 2.05, 2.4),  # customer
               (" Sure.", 3.0, 3.4),                                # agent
               (" Thanks.", 4.0, 4.5), (" Bye.", 6.0, 6.3))        # customer, then a 1.5 s pause
    pitch = [220, 230, 120, 118, 125, 215, 122, 119]
    turns, rule = assign_mono_roles(ws, pitch, pause_split_s=1.0)
    assert [(t.speaker, t.text) for t in turns] == [
        ("agent", "Hello, Acme."), ("customer", "Hi, my car."), ("agent", "Sure."), ("customer", "Thanks."),
        ("customer", "Bye.")]
    assert rule == ("mono: roles from voice pitch (two voices, about 220 Hz = agent, 120 Hz = customer); "
                    "the first speaker is the agent")


def test_mono_roles_alternate_when_voices_sound_alike():
    ws = words((" Hello", 0.0, 0.5), (" there", 0.6, 0.9), (" Hi", 2.0, 2.4), (" Help?", 4.0, 4.5),
               (" Yes", 6.0, 6.4))
    turns, rule = assign_mono_roles(ws, [150, 152, 149, 151, 150], pause_split_s=1.0)
    assert [(t.speaker, t.text) for t in turns] == [("agent", "Hello there"), ("customer", "Hi"),
                                                    ("agent", "Help?"), ("customer", "Yes")]
    assert rule == ("mono: roles alternate at pauses longer than 1 s, the first speaker is the agent "
                    "(voices not told apart by pitch)")
    # no pitch at all (e.g. an old cache entry): the same rule
    assert assign_mono_roles(ws, None, 1.0)[0] == turns


def test_build_turns_stereo_channel_roles():
    left = words((" Hello", 0.5, 1.0))
    right = words((" Hi", 1.5, 2.0))
    turns, inferred, rule = build_turns(rec(left, right), TranscribeOptions(), "c.wav")
    assert [(t.speaker, t.text) for t in turns] == [("agent", "Hello"), ("customer", "Hi")]
    assert (inferred, rule) == (False, "stereo: left channel = agent")
    swapped, _, _ = build_turns(rec(left, right), TranscribeOptions(agent_channel="right"), "c.wav")
    assert [(t.speaker, t.text) for t in swapped] == [("customer", "Hello"), ("agent", "Hi")]


def test_build_turns_mono_is_inferred():
    turns, inferred, _ = build_turns(rec(words((" Hello", 0.5, 1.0), (" Hi", 3.0, 3.5))),
                                     TranscribeOptions(), "m.wav")
    assert inferred is True
    assert [t.speaker for t in turns] == ["agent", "customer"]


def test_no_speech_at_all():
    with pytest.raises(AudioDecodeError) as e:
        build_turns(rec([], []), TranscribeOptions(), "s.wav")
    assert str(e.value) == ("s.wav: no speech found in the recording. Fix: Check that the file is the call "
                            "recording and not silence.")


@pytest.mark.parametrize("agent_channel,message", [
    ("left", "no speech found on the right channel (customer)"),
    ("right", "no speech found on the right channel (agent)"),
])
def test_one_silent_channel_is_a_failure(agent_channel, message):
    with pytest.raises(AudioDecodeError) as e:
        build_turns(rec(words((" Hello", 0.5, 1.0)), []), TranscribeOptions(agent_channel=agent_channel),
                    "one.wav")
    assert e.value.message == message
    assert e.value.fix.startswith("A stereo call needs one party per channel")


def test_recognition_round_trips_through_cache_json():
    r = rec(words((" Hello", 0.5, 1.0)), words((" Hi", 1.5, 2.0)))
    again = Recognition.from_dict(r.to_dict())
    assert again == r


def test_cache_key_depends_on_audio_model_and_recognition_options_only():
    ref = ModelRef("tiny.en", path=None, identity="abc")  # type: ignore[arg-type]
    base = TranscribeOptions(device="cpu")
    k = cache_key("0" * 64, ref, base)
    assert k == cache_key("0" * 64, ref, TranscribeOptions(device="cpu", agent_channel="right",
                                                          pause_split_s=2.0, workers=1))
    assert k != cache_key("1" * 64, ref, base)
    assert k != cache_key("0" * 64, ModelRef("small", path=None, identity="def"), base)  # type: ignore
    assert k != cache_key("0" * 64, ref, TranscribeOptions(device="cpu", beam_size=1))
    assert k != cache_key("0" * 64, ref, TranscribeOptions(device="cpu", vad=False))
    assert k != cache_key("0" * 64, ref, TranscribeOptions(device="cpu", language="en"))
