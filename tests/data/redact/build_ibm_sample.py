"""Build the labelled redaction sample ``ibm_twitter_sample.jsonl`` from
../shared/data/chats/ibm_twitter_care_dev.json.

Selection: every message that a *broad* candidate filter flags (an '@' inside a word, 7+
digits with separators outside URLs, a number near a street word, "at … dot"), plus a random
sample of the other messages (seed 6), 300 in all. The filter is deliberately looser than
qa.redact and shares no code with it.

Labels: the author of qa.redact read all 300 messages (URLs shortened) and wrote down the PII
below by hand: the exact e-mail and phone strings, and which @handles are brands/companies
(not personal data). Every other @handle is a person's and is labelled HANDLE. Nothing in
the sample is a card number, an SSN or a street address. Not labelled (not kinds of
qa.redact): first names in agent replies ("Hi Chris"), agents' signatures, gamer tags
written without '@' ("my id is …").

The data README asks not to copy the data into this repository, so the output holds the
message id, a hash of its text and the gold spans (offsets), not the text; bench/eval_redact.py
reads the text from ../shared/data and checks the hash.

    python tests/data/redact/build_ibm_sample.py          # rewrites ibm_twitter_sample.jsonl
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT.parent / "shared" / "data" / "chats" / "ibm_twitter_care_dev.json"
TOTAL = 300
SEED = 6

URLISH = re.compile(r"\S*(?:https?:|www\.|\.com/|\.net/|\.org/)\S*")
CANDIDATE = re.compile(
    r"\w@\w|\d(?:[ ().+-]*\d){6,}|\d+\s+\w+(?:\s+\w+){0,3}\s+(?i:st|street|ave|avenue|road|rd|"
    r"blvd|lane|drive|way|court)\b|(?i:\bat\b.{1,30}\bdot\b)")


def messages() -> list[dict]:
    convs = json.loads(DATA.read_text(encoding="utf-8"))
    out = []
    for conv in convs:
        sid = conv["dialogHeader"]["sessionID"]
        company = conv["dialogHeader"]["company"]
        for i, m in enumerate(conv["dialogContent"]):
            role = "agent" if "agent" in m else "customer"
            out.append({"id": f"{sid}/{i}", "company": company, "role": role,
                        "text": m["message"]})
        out.append({"id": f"{sid}/final", "company": company, "role": "agent",
                    "text": conv["agentURL"]["url_utterance"]})
    return out


# ---- the hand labels ---------------------------------------------------------------------
EMAILS = ["zekidemir089@gmail.com", "lukasdewaal121@gmail.com", "reportphish@wellsfargo.com",
          "abuse@chase.com", "chfun1224@nave.com", "aslamsalm20@yahoo.com"]
# company support lines are phone numbers too: labelled, and qa.redact masks them
PHONES = ["1-800-848-9136", "1-888-907-0345", "1-800-225-5935", "1-800-956-4442",
          "1-800-435-9792", "01120738976"]
# read but NOT PII: "1497421950" (a ticket number), "8-4750000030256" (a video id),
# "#10267422" (a ticket), "0x30005001" (an error code), "10.14.6", "8.5.50.916" (versions),
# "1920*1080@30fps" (not a handle).
BRAND_HANDLES = {h.lower() for h in """
Adobe AdobeCare AdobePremiere amazon AmazonHelp Apple AppleSupport archerfxx AskeBay
AskPlayStation creativecloud Delta Dropbox DropboxBusiness DropboxSupport eBay Facebook gmail
GoDaddy GoDaddyHelp Google googlechrome GoogleIndia GoogleUK hulu hulu_support lysol Microsoft
MicrosoftHelps MojangSupport Photoshop RockstarSupport Spotify SpotifyCares Spotlightsband Sprint
TeamYouTube TMobile Walmart WellsFargo Windows WindowsInd Yahoo YahooCare YouTube youtubetv
ytcreators zoom_us""".split()}
# Public figures' handles (@JohnLegere, @sundarpichai, @satyanadella, @TuckerCarlson,
# @HJBenjamin) are people's: labelled HANDLE.
HANDLE_AT = re.compile(r"(?<![\w@])@(\w+)")


def label(text: str) -> list[dict]:
    spans = []
    for kind, values in (("EMAIL", EMAILS), ("PHONE", PHONES)):
        for v in values:
            for m in re.finditer(re.escape(v), text):
                spans.append({"kind": kind, "start": m.start(), "end": m.end()})
    taken = [(s["start"], s["end"]) for s in spans]
    for m in HANDLE_AT.finditer(text):
        if m.group(1).lower() in BRAND_HANDLES:
            continue
        if any(a <= m.start() < b for a, b in taken):     # the '@' of an e-mail address
            continue
        spans.append({"kind": "HANDLE", "start": m.start(), "end": m.end()})
    return sorted(spans, key=lambda s: s["start"])


def select() -> list[dict]:
    msgs = messages()
    cands = [m for m in msgs if CANDIDATE.search(URLISH.sub(" ", m["text"]))]
    others = [m for m in msgs if m not in cands]
    rng = random.Random(SEED)
    picked = cands + rng.sample(others, TOTAL - len(cands))
    print(f"{len(msgs)} messages, {len(cands)} candidates, {TOTAL - len(cands)} random others",
          file=sys.stderr)
    for m in picked:
        m["selected"] = "candidate" if m in cands else "random"
    return picked


def main() -> None:
    out = Path(__file__).with_name("ibm_twitter_sample.jsonl")
    lines = []
    for m in select():
        text = m.pop("text")
        m["sha256"] = hashlib.sha256(text.encode("utf-8")).hexdigest()
        m["spans"] = label(text)
        lines.append(json.dumps(m, ensure_ascii=False))
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {out} ({len(lines)} messages)", file=sys.stderr)


if __name__ == "__main__":
    main()
