""" "Tell me when it's live" in Slack (pure): the button (under a `/mx live` answer, a fix bundle, a
report whose findings propose records) and what its value carries, the acknowledgement in the
thread, and the post that ends a follow-up: live, given up, or cancelled.

Answers and sentences come from remote servers: escaped (inside code blocks where they are
records). The one mention is of the user who asked, by the id Slack gave us, checked as such, so
that they are told in the thread they asked in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from bot.render.blocks import (
    MAX_BLOCKS,
    MAX_BUTTON_VALUE,
    MAX_FALLBACK,
    Message,
    clip,
    code,
    context_block,
    escape,
    section_block,
)
from bot.render.live import record_block, span
from checks.bundle.result import Action, Bundle
from checks.live.result import LiveReport, Verdict, Wanted
from checks.model import Report

FOLLOW: Final = "mx_follow"
UNFOLLOW: Final = "mx_unfollow"
LABEL: Final = "Tell me when it's live"
MAX_RECORDS: Final = 8  # records one button carries
KINDS: Final = ("SPF", "DMARC", "MTA-STS")  # the kinds of TXT record `mxbot live` tells apart
_USER = re.compile(r"^[UW][A-Z0-9]{1,20}$")
_TXT_KIND = (
    (re.compile(r'^"?v=spf1(\s|"|$)', re.IGNORECASE), "SPF"),
    (re.compile(r'^"?v=DMARC1'), "DMARC"),
    (re.compile(r'^"?v=STSv1'), "MTA-STS"),
)
_FOLLOWED_ACTIONS = (Action.PUBLISH, Action.FILL_IN, Action.LATER)
_ROOM: Final = 2900  # of a section's 3000 characters, for a code block of answers

Followed = tuple[Wanted, Sequence[str]]  # a record, and the answer it should converge to


# ---- the button --------------------------------------------------------------------------------
def button(domain: str, records: Sequence[Wanted]) -> dict[str, Any] | None:
    """The button, or None when there is nothing in the domain's zone to follow."""
    value = encode(domain, records)
    if value is None:
        return None
    return {
        "type": "button",
        "action_id": FOLLOW,
        "text": {"type": "plain_text", "text": LABEL, "emoji": True},
        "value": value,
    }


def encode(domain: str, records: Sequence[Wanted]) -> str | None:
    """`{"d": domain, "r": [[TYPE, NAME, KIND], …]}`, NAME relative to the domain; as many
    records as fit a button's value (and `MAX_RECORDS`); None when none does."""
    items: list[list[str]] = []
    for wanted in dict.fromkeys(records):
        name = _relative(wanted.name, domain)
        if name is None or len(items) == MAX_RECORDS:
            continue
        candidate = [*items, [wanted.rdtype, name, wanted.kind]]
        if len(_dump(domain, candidate)) > MAX_BUTTON_VALUE:
            break
        items = candidate
    return _dump(domain, items) if items else None


def decode(value: str) -> tuple[str, list[tuple[str, str, str]]]:
    """What `encode` wrote: (domain, [(TYPE, NAME, KIND), …]). Raises ValueError for anything else
    (the caller checks the names and types, as it would for a command)."""
    data = json.loads(value)
    if not isinstance(data, dict) or not isinstance(data.get("d"), str):
        raise ValueError("not a follow-up button's value")
    items = data.get("r")
    if not isinstance(items, list) or not 0 < len(items) <= MAX_RECORDS:
        raise ValueError("no records to follow")
    records = []
    for item in items:
        if not (
            isinstance(item, list) and len(item) == 3 and all(isinstance(i, str) for i in item)
        ):
            raise ValueError("not a record")
        records.append((item[0], item[1], item[2]))
    return data["d"], records


def _dump(domain: str, items: list[list[str]]) -> str:
    return json.dumps({"d": domain, "r": items}, separators=(",", ":"), ensure_ascii=False)


def _relative(name: str, domain: str) -> str | None:
    """'@', '_dmarc', or None for a name outside the domain (another zone's record)."""
    name, domain = name.rstrip(".").lower(), domain.rstrip(".").lower()
    if name == domain:
        return "@"
    if name.endswith("." + domain):
        return name[: -len(domain) - 1]
    return None


def proposed(report: Report) -> list[Wanted]:
    """The records a report's findings propose, in the domain's zone (what its fix changes)."""
    found = [f.record for r in report.results for f in r.findings if f.record is not None]
    return [
        Wanted(
            record.name.rstrip(".").lower(), record.type.upper(), _kind(record.type, record.value)
        )
        for record in found
        if _relative(record.name, report.domain) is not None
    ]


def bundled(bundle: Bundle) -> list[Wanted]:
    """The records a fix bundle changes in the domain's zone (not those for other zones)."""
    return [
        Wanted(
            e.name.rstrip(".").lower(),
            e.type.upper(),
            e.kind if e.type.upper() == "TXT" and e.kind in KINDS else "",
        )
        for e in bundle.entries
        if e.action in _FOLLOWED_ACTIONS and _relative(e.name, bundle.domain) is not None
    ]


def _kind(rdtype: str, value: str) -> str:
    if rdtype.upper() != "TXT":
        return ""
    return next((kind for pattern, kind in _TXT_KIND if pattern.match(value.strip())), "")


def with_button(message: Message, found: dict[str, Any] | None) -> Message:
    """The message with the button: beside the report's own buttons, or in a row of its own."""
    if found is None:
        return message
    blocks = [dict(b) for b in message.get("blocks") or []]
    last = blocks[-1] if blocks else {}
    if last.get("type") == "actions" and len(last.get("elements") or []) < 25:
        blocks[-1] = {**last, "elements": [*last["elements"], found]}
    elif len(blocks) < MAX_BLOCKS:
        blocks.append({"type": "actions", "block_id": "mx_follow", "elements": [found]})
    return {**message, "blocks": blocks}


# ---- the thread --------------------------------------------------------------------------------
def render_ack(
    followed: Sequence[Followed],
    report: LiveReport,
    *,
    followup_id: int,
    give_up_at: datetime,
    now: datetime,
    asker: str,
) -> Message:
    """In the thread, at once: what is followed, until when, and how to stop it."""
    limit = f"at {_clock(give_up_at)} at the latest (in {span((give_up_at - now).total_seconds())}: the longest TTL, {report.longest_ttl} s, and a margin)"
    lead = (
        f"👀 I'll post here when every name server and every resolver give the answer below, "
        f"or {limit}, saying what still disagrees."
    )
    cancel = {
        "type": "button",
        "action_id": UNFOLLOW,
        "text": {"type": "plain_text", "text": "Cancel", "emoji": True},
        "value": str(followup_id),
    }
    blocks = [
        section_block(lead),
        section_block(_answers(followed)),
        section_block(f"Now: {escape(report.sentence)}"),
        {"type": "actions", "block_id": "mx_unfollow", "elements": [cancel]},
        context_block(
            f"Asked by {_mention(asker) or 'someone'} · "
            f"`/mx live cancel {escape(report.domain)}` stops it too"
        ),
    ]
    text = f"I'll post here when {escape(report.domain)} is live everywhere, or {limit}."
    return {"text": clip(text, MAX_FALLBACK), "blocks": blocks}


def render_live(
    report: LiveReport,
    *,
    asker: str,
    since: datetime,
    now: datetime,
    looks: int,
    changed: Sequence[Followed] = (),
) -> Message:
    """The follow-up's end: live everywhere."""
    what = _labels(report)
    after = f"after {span((now - since).total_seconds())}, {_looks(looks)}"
    lead = f"✅ {_to(asker)}*{escape(what)}* is live everywhere ({after})."
    blocks = [section_block(lead), section_block(escape(report.sentence))]
    if changed:
        note = "Not the answer it had when you asked: the zone has changed since. Now:\n"
        blocks.append(section_block(note + _answers(changed)))
    blocks.append(context_block(_context(report, since)))
    text = f"{_to(asker)}{escape(what)} is live everywhere ({after})."
    return {"text": clip(text, MAX_FALLBACK), "blocks": blocks}


def render_gave_up(
    report: LiveReport | None,
    *,
    asker: str,
    domain: str,
    last: str,
    since: datetime,
    now: datetime,
    looks: int,
) -> Message:
    """The follow-up's end: the give-up time passed, and what still disagrees."""
    after = f"after {span((now - since).total_seconds())} ({_looks(looks)})"
    lead = (
        f"⌛ {_to(asker)}I stopped following *{escape(domain)}* {after}: the longest TTL and a "
        "margin have passed, so what still disagrees will not fix itself."
    )
    sentence = report.sentence if report is not None else last or "I could not look again."
    blocks = [section_block(lead), section_block(f"Still not live: {escape(sentence)}")]
    if report is not None:
        behind = [r for r in report.records if r.verdict is not Verdict.LIVE]
        room = MAX_BLOCKS - len(blocks) - 1
        blocks += [record_block(r) for r in behind[:room]]
        blocks.append(context_block(_context(report, since)))
    text = f"{_to(asker)}I stopped following {escape(domain)} {after}: {escape(sentence)}"
    return {"text": clip(text, MAX_FALLBACK), "blocks": blocks}


def render_cancelled(domain: str, *, by: str) -> Message:
    """In the thread, when someone stops the follow-up."""
    text = (
        f"🛑 {_mention(by) or 'Someone'} cancelled: I no longer follow {escape(domain)} here, and "
        "will post nothing more about it."
    )
    return {"text": text, "blocks": [section_block(text)]}


def render_already_live(report: LiveReport) -> Message:
    """Nothing to wait for; with a hint for a change that is not published yet."""
    text = (
        f"✅ Every name server and resolver already give the same answer: "
        f"{escape(report.sentence)} If your change is not published yet, publish it, then press "
        f"*{LABEL}* again."
    )
    return {"text": clip(escape(report.sentence), MAX_FALLBACK), "blocks": [section_block(text)]}


def render_unknown(report: LiveReport) -> Message:
    """Nothing to follow: the current answer is unknown."""
    text = (
        "I could not tell what the current answer is, so there is nothing to follow yet: "
        f"{escape(report.sentence)}"
    )
    return {"text": clip(text, MAX_FALLBACK), "blocks": [section_block(text)]}


def render_following(domain: str, *, since: datetime, give_up_at: datetime) -> Message:
    """To the asker alone: a follow-up of the same records here is running already."""
    text = (
        f"I'm already following {escape(domain)} in this thread (since {_clock(since)}): I'll "
        f"post there when it is live, or at {_clock(give_up_at)} at the latest."
    )
    return {"text": text, "blocks": [section_block(text)]}


def render_cancel_answer(domain: str, count: int) -> Message:
    """`/mx live cancel example.com`: how many follow-ups it stopped."""
    if not count:
        text = f"I was not following {escape(domain)} in this channel."
    else:
        many = f"{count} follow-ups" if count != 1 else "1 follow-up"
        text = f"Stopped following {escape(domain)} in this channel ({many})."
    return {"text": text, "blocks": [section_block(text)]}


# ---- pieces -------------------------------------------------------------------------------------
def _answers(followed: Sequence[Followed]) -> str:
    """One line per record: its label and the answer, in a code block inside a section's limit."""
    rows = [(w.label, _shown(w, answer)) for w, answer in followed]
    width = max((len(label) for label, _ in rows), default=0)
    lines = [f"{label.ljust(width)}  {a}" for label, a in rows]
    while len(lines) > 1 and len(code("\n".join(lines))) > _ROOM:
        cut = 2 if lines[-1] == "…" else 1
        lines = [*lines[:-cut], "…"]
    return code("\n".join(lines))


def _shown(wanted: Wanted, answer: Sequence[str]) -> str:
    if not answer:
        return "no record"
    if answer[0].startswith("CNAME "):
        return answer[0]
    return clip(f"{wanted.rdtype} " + " | ".join(answer), 400)


def _labels(report: LiveReport) -> str:
    labels = [r.wanted.label for r in report.records]
    if len(labels) == 1:
        return labels[0]
    return f"{report.domain} ({len(labels)} records)"


def _context(report: LiveReport, since: datetime) -> str:
    parts = [f"zone {escape(report.apex)}" if report.apex else "zone not found"]
    if report.serial is not None:
        parts.append(f"serial {report.serial}")
    parts.append(f"followed since {_clock(since)}")
    return " · ".join(parts)


def _looks(n: int) -> str:
    return f"{n} look{'s' if n != 1 else ''}"


def _clock(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%H:%M UTC")


def _mention(user: str) -> str:
    return f"<@{user}>" if _USER.match(user) else ""


def _to(user: str) -> str:
    mention = _mention(user)
    return f"{mention} " if mention else ""
