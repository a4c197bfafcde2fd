"""Make the demo set in examples/: short stereo calls and weeks of chats for four agents.

    python examples/make_examples.py          # needs espeak-ng and sox (make system-deps)

Writes (and the repository keeps) these files:

* ``examples/calls/*.flac``: five short two-party calls, 8 kHz, agent on the left channel
  and customer on the right, spoken by espeak-ng with a different voice per party;
* ``examples/calls.csv``: their metadata (``file, agent_id, agent_name, team, started_at,
  customer_name``), for ``qa run examples/ --meta examples/calls.csv``;
* ``examples/chats/weekly_chats.jsonl``: 48 chats in the canonical chat JSONL (one message
  per line: ``conversation_id, agent_id, agent_name, team, timestamp, speaker, text,
  customer_name``) over six weeks, for the same agents.

The four agents have different habits, so that the reports show real differences:

* **Sam Rivera** (Billing) is warm and quick: greets, uses the customer's name, says sorry,
  answers within seconds;
* **Casey Moore** (Billing) is curt: no greeting, no name, no apology; gets a little better
  over the weeks (a rising trend);
* **Jordan Blake** (Technical) is polite but slow, with long dead air on calls and replies
  that take minutes in chat, slower week after week (a falling trend);
* **Riley Chen** (Technical) talks over the customer on calls and pushes in chat.

Everything is seeded: running the script again writes the same chats and the same calls.
"""

from __future__ import annotations

import csv
import json
import random
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

AGENTS = {
    "a-sam": ("Sam Rivera", "Billing"),
    "a-casey": ("Casey Moore", "Billing"),
    "a-jordan": ("Jordan Blake", "Technical"),
    "a-riley": ("Riley Chen", "Technical"),
}
AGENT_VOICES = {"a-sam": "en-us+m3", "a-casey": "en-gb+m1", "a-jordan": "en-us+m7",
                "a-riley": "en-gb-x-rp+m2"}
CUSTOMER_VOICES = ["en-us+f3", "en-gb+f2", "en-us+f4", "en-gb-scotland+f1", "en-us+f2"]
RATE = 8000

# ---------------------------------------------------------------- calls
# (party, text, gap): gap = seconds after the previous line ended (negative: talks over it)
CALLS = [
    ("call-sam-1", "a-sam", "Dana Lee", "2026-05-04T09:30:00Z", [
        ("agent", "Thank you for calling Acme Billing, my name is Sam. How can I help you today?", 0.4),
        ("customer", "Hi, I was charged twice for my May invoice.", 0.5),
        ("agent", "I'm sorry about that, Dana. Let me check your account right now.", 0.6),
        ("customer", "Thank you.", 0.4),
        ("agent", "Good news, I can see the duplicate payment and I'll refund it today.", 1.0),
        ("customer", "Great, thanks so much.", 0.5),
        ("agent", "You're welcome, Dana. Is there anything else I can help you with?", 0.5),
    ]),
    ("call-casey-1", "a-casey", "Marcus Hill", "2026-05-05T10:10:00Z", [
        ("agent", "Billing.", 1.5),
        ("customer", "Hello, I'd like to cancel my subscription and get a refund for this month.", 0.5),
        ("agent", "Account number.", 2.0),
        ("customer", "It's eight eight two one three. I've been waiting a long time, this is really annoying.", 0.5),
        ("agent", "No refunds for partial months. It's in the terms.", 2.5),
        ("customer", "That's not fair.", 0.5),
        ("agent", "Cancelled. Bye.", 2.0),
    ]),
    ("call-jordan-1", "a-jordan", "Priya Shah", "2026-05-06T14:00:00Z", [
        ("agent", "Hello, thank you for calling Acme support, this is Jordan.", 1.0),
        ("customer", "Hi, the app keeps crashing when I open settings.", 0.5),
        ("agent", "I see. Let me look into that.", 9.0),
        ("customer", "Hello? Are you still there?", 8.0),
        ("agent", "Yes, sorry. That is a known issue in version four point two. An update is coming.", 7.0),
        ("customer", "Okay. When?", 0.5),
        ("agent", "Next week. Thank you for calling.", 6.0),
    ]),
    ("call-riley-1", "a-riley", "Tom Baker", "2026-05-07T11:15:00Z", [
        ("agent", "Hi, Acme support, Riley speaking.", 0.3),
        ("customer", "Hi, I can't log in, it says my account is locked and I tried", 0.3),
        ("agent", "Yeah, you typed the password wrong too many times.", -1.6),
        ("customer", "I don't think I did, I only", 0.2),
        ("agent", "You should have used the reset link. I'll send it now.", -1.2),
        ("customer", "Okay, thanks.", 0.3),
        ("agent", "Anything else?", 0.2),
    ]),
    ("call-jordan-2", "a-jordan", "Ahmed Khan", "2026-05-13T15:20:00Z", [
        ("agent", "Hello, this is Jordan at Acme support.", 1.0),
        ("customer", "Hi, my router keeps dropping the connection every evening.", 0.5),
        ("agent", "Okay.", 10.0),
        ("customer", "Is there something you can do?", 6.0),
        ("agent", "I will reset the line from here. Please wait.", 9.0),
        ("customer", "Alright.", 0.5),
        ("agent", "Done. Thank you for calling.", 10.0),
    ]),
]


def _layout(script, synth_len):
    """Start times from gaps: each line starts ``gap`` s after the previous line ended."""
    agent, customer = [], []
    t = 0.0
    for party, text, gap in script:
        start = max(0.0, t + gap)
        (agent if party == "agent" else customer).append((round(start, 2), text))
        t = max(t, start + synth_len(text, party))
    return agent, customer


def make_calls(dest: Path) -> list[dict]:
    sys.path.insert(0, str(ROOT))
    from tests.audio_helpers import make_stereo_call, synth, SYNTH_RATE  # noqa: E402

    dest.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (name, agent_id, customer, started, script) in enumerate(CALLS):
        avoice = AGENT_VOICES[agent_id]
        cvoice = CUSTOMER_VOICES[i % len(CUSTOMER_VOICES)]
        cache: dict[tuple, float] = {}

        def seconds(text, party):
            key = (text, party)
            if key not in cache:
                voice = avoice if party == "agent" else cvoice
                cache[key] = len(synth(text, voice=voice)) / SYNTH_RATE
            return cache[key]

        agent_lines, customer_lines = _layout(script, seconds)
        path = make_stereo_call(dest, agent_lines, customer_lines, name=name, fmt="flac",
                                rate=RATE, agent_voice=avoice, customer_voice=cvoice)
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size // 1024} KiB", file=sys.stderr)
        agent_name, team = AGENTS[agent_id]
        rows.append({"file": f"calls/{path.name}", "agent_id": agent_id, "agent_name": agent_name,
                     "team": team, "started_at": started, "customer_name": customer})
    return rows


# ---------------------------------------------------------------- chats
CUSTOMERS = ["Dana Lee", "Marcus Hill", "Priya Shah", "Tom Baker", "Ahmed Khan", "Lucia Gomez",
             "Wei Zhang", "Olivia Brown", "Noah Smith", "Fatima Ali", "Jonas Weber", "Maya Cohen"]
ISSUES = {
    "Billing": [
        ("I was charged twice this month and I'm really frustrated.", "both payments",
         "I've refunded the duplicate payment; it will be back on your card in 3 to 5 days."),
        ("Can I change the payment date on my plan?", "your plan",
         "Your payment date is now the 15th, starting next month."),
        ("My invoice shows a fee I don't understand.", "your invoice",
         "That fee was added by mistake; I've removed it from your invoice."),
        ("I want to cancel my subscription.", "your subscription",
         "Your subscription is cancelled at the end of this billing period."),
    ],
    "Technical": [
        ("The app keeps crashing when I open settings, this is so annoying.", "your app",
         "Version 4.2.2 fixes the crash; please update from the store."),
        ("I can't log in, it says my account is locked.", "your account",
         "I've unlocked your account and sent a reset link to your e-mail."),
        ("My router drops the connection every evening.", "your line",
         "I've reset your line and raised the signal level; it should stay up now."),
        ("Two-factor codes never arrive on my phone.", "your phone number",
         "Your phone number had a typo; I've corrected it and sent a new code."),
    ],
}


def _chat(rng: random.Random, cid: str, agent_id: str, week: int, start: datetime) -> list[dict]:
    name, team = AGENTS[agent_id]
    customer = rng.choice(CUSTOMERS)
    first = customer.split()[0]
    ask, thing, fix = rng.choice(ISSUES[team])
    msgs: list[tuple[float, str, str]] = []  # (seconds after start, speaker, text)

    def say(after: float, speaker: str, text: str) -> None:
        t = (msgs[-1][0] if msgs else 0.0) + after
        msgs.append((t, speaker, text))

    say(0, "customer", f"Hi, {ask}")
    if agent_id == "a-sam":  # warm and quick
        say(rng.uniform(15, 40), "agent", f"Hello {first}, thank you for contacting Acme {team}! "
            f"My name is Sam. I'm sorry about the trouble, let me look at {thing} for you.")
        say(rng.uniform(20, 50), "customer", "Thanks.")
        say(rng.uniform(20, 45), "agent", f"Good news, {first}: {fix}")
        say(rng.uniform(20, 60), "customer", "Perfect, thank you!")
        say(rng.uniform(10, 30), "agent", f"You're welcome, {first}. Is there anything else I can help you with?")
    elif agent_id == "a-casey":  # curt, slowly improving
        polite = rng.random() < week / 6  # more often polite in later weeks
        if polite:
            say(rng.uniform(60, 120), "agent", f"Hi {first}, thanks for contacting us. What is your account number?")
        else:
            say(rng.uniform(90, 240), "agent", "account number?")
        say(rng.uniform(30, 60), "customer", f"It's {rng.randint(10000, 99999)}. I've been waiting a while, this is annoying.")
        say(rng.uniform(60, 180), "agent", fix if polite else fix.lower().rstrip("."))
        say(rng.uniform(20, 60), "customer", "Ok.")
        if polite:
            say(rng.uniform(20, 60), "agent", "Thanks, anything else?")
    elif agent_id == "a-jordan":  # polite but slow, slower each week
        slow = 120 + 40 * week
        say(rng.uniform(slow, slow + 90), "agent", f"Hello {first}, thank you for contacting Acme support. "
            f"I understand, let me check {thing}.")
        say(rng.uniform(200, 300), "customer", "Hello? Are you still there?")
        say(rng.uniform(slow, slow + 120), "agent", f"Sorry for the wait. {fix}")
        say(rng.uniform(30, 60), "customer", "Ok, thanks.")
        say(rng.uniform(60, 120), "agent", "Thank you for contacting us. Have a good day.")
    else:  # a-riley: pushes, blames
        say(rng.uniform(10, 30), "agent", "Hi, Riley here.")
        say(rng.uniform(3, 8), "agent", f"You should have checked the help page first. {fix}")
        say(rng.uniform(20, 40), "customer", "I did check it, it didn't help.")
        say(rng.uniform(5, 15), "agent", "Well it's fixed now. Anything else?")
    rows = []
    for i, (t, speaker, text) in enumerate(msgs):
        rows.append({"conversation_id": cid, "agent_id": agent_id, "agent_name": name, "team": team,
                     "timestamp": (start + timedelta(seconds=round(t))).strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "speaker": speaker, "text": text, "customer_name": customer})
    return rows


def make_chats(dest: Path, *, weeks: int = 6, per_week: int = 2, seed: int = 20260406) -> int:
    rng = random.Random(seed)
    first_monday = datetime(2026, 4, 6, tzinfo=timezone.utc)
    rows = []
    n = 0
    for week in range(weeks):
        for agent_id in AGENTS:
            for k in range(per_week):
                day = first_monday + timedelta(weeks=week, days=rng.randint(0, 4),
                                               hours=rng.randint(8, 16), minutes=rng.randint(0, 59))
                n += 1
                rows.extend(_chat(rng, f"wk{week + 1}-{agent_id[2:]}-{k + 1}", agent_id, week, day))
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    return n


def main() -> None:
    rows = make_calls(HERE / "calls")
    with open(HERE / "calls.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["file", "agent_id", "agent_name", "team", "started_at",
                                           "customer_name"], lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    n = make_chats(HERE / "chats" / "weekly_chats.jsonl")
    size = sum(p.stat().st_size for p in (HERE / "calls").glob("*.flac"))
    print(f"wrote {len(rows)} calls ({size / 1e6:.2f} MB), examples/calls.csv and {n} chats in "
          "examples/chats/weekly_chats.jsonl", file=sys.stderr)


if __name__ == "__main__":
    main()
