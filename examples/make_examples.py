"""Make ``examples/chats/weekly_chats.jsonl``: six weeks of templated chats for four agents.

    python examples/make_examples.py

The rest of the demo set is not generated: ``examples/calls/`` holds a real recorded call
(see ``examples/calls/NOTICE.md``) and ``examples/chats/demo_chats.jsonl`` and
``examples/chats/service_chats.jsonl`` were written by hand.

The weekly chats are in the canonical chat JSONL (one message per line:
``conversation_id, agent_id, agent_name, team, timestamp, speaker, text, customer_name``),
48 chats over six weeks. They are templated, so that the trends are known: four agents
with different habits,

* **Sam Rivera** (Billing) is warm and quick: greets, uses the customer's name, says sorry,
  answers within seconds;
* **Casey Moore** (Billing) is curt: no greeting, no name, no apology; gets a little better
  over the weeks (a rising trend);
* **Jordan Blake** (Technical) is polite but slow, with replies that take minutes, slower
  week after week (a falling trend);
* **Riley Chen** (Technical) pushes and blames.

Everything is seeded: running the script again writes the same chats.
"""

from __future__ import annotations

import json
import random
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent

AGENTS = {
    "a-sam": ("Sam Rivera", "Billing"),
    "a-casey": ("Casey Moore", "Billing"),
    "a-jordan": ("Jordan Blake", "Technical"),
    "a-riley": ("Riley Chen", "Technical"),
}

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
    n = make_chats(HERE / "chats" / "weekly_chats.jsonl")
    print(f"wrote {n} chats in examples/chats/weekly_chats.jsonl", file=sys.stderr)


if __name__ == "__main__":
    main()
