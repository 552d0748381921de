"""`mxbot live` and `/mx live` rendered (pure): the verdict in one sentence, then for each record the
current answer and every name server and resolver that does not give it, for the terminal, JSON
and Block Kit alike.

Every answer came from a remote server: the terminal gets it through `text.clean`, Slack through
`blocks.escape` (inside code blocks), JSON as it is.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any, Final

from bot.render.blocks import (
    Message,
    code,
    context_block,
    escape,
    header_block,
    section_block,
)
from bot.render.text import clean
from checks.live.result import LiveReport, RecordLive, Seen, State, Verdict

LABEL: Final = {
    Verdict.LIVE: "LIVE",
    Verdict.RESOLVERS_STALE: "CACHED",
    Verdict.SERVERS_DISAGREE: "DIFFERS",
    Verdict.UNKNOWN: "UNKNOWN",
}
EMOJI: Final = {
    Verdict.LIVE: "✅",
    Verdict.RESOLVERS_STALE: "⏳",
    Verdict.SERVERS_DISAGREE: "❌",
    Verdict.UNKNOWN: "❓",
}
WORDS: Final = {
    Verdict.LIVE: "live everywhere",
    Verdict.RESOLVERS_STALE: "resolvers still cache the old answer",
    Verdict.SERVERS_DISAGREE: "name servers disagree",
    Verdict.UNKNOWN: "could not tell",
}
_ANSWER_CHARS: Final = 200  # an answer in a row; the JSON has it whole


# ---- rows: one per name server address and resolver ----------------------------------------------
def mark(record: RecordLive, seen: Seen) -> str:
    """How one server's answer stands against the current one."""
    if seen.state is State.LAME:
        return "lame"
    if seen.state is State.FAILED:
        return "failed"
    if seen.state is State.UNTESTED:
        return "not asked"
    if record.new is None or seen.answer == record.new:
        return "same"
    if seen.serial is None:
        return "cached"  # a resolver still holding the old answer
    newest = max((s.serial for s in record.servers if s.serial is not None), default=0)
    return "behind" if seen.serial != newest else "differs"


def _row(record: RecordLive, seen: Seen) -> tuple[str, str, str, str]:
    """(mark, who, serial or TTL, the answer when it is not the current one)."""
    how = mark(record, seen)
    when = f"serial {seen.serial}" if seen.serial is not None else f"TTL {seen.ttl} s"
    who = f"{seen.address} (resolver)" if seen.server == seen.address else seen.who
    if not seen.answered:
        when = ""
    shown = "" if how == "same" else _answer(record, seen)
    return how, who, when, shown


def _answer(record: RecordLive, seen: Seen) -> str:
    if seen.state is State.RECORDS:
        return _clip(_typed(record, seen.answer))
    if seen.state is State.NONE:
        return "no record"
    return _clip(seen.detail or str(seen.state))


def _typed(record: RecordLive, answer: Sequence[str]) -> str:
    if not answer:
        return "no record"
    if answer[0].startswith("CNAME "):
        return answer[0]
    return f"{record.wanted.rdtype} " + " | ".join(answer)


def _clip(text: str) -> str:
    return text if len(text) <= _ANSWER_CHARS else text[: _ANSWER_CHARS - 1] + "…"


def _rows(record: RecordLive) -> list[str]:
    rows = [_row(record, s) for s in (*record.servers, *record.resolvers)]
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return [
        (
            "  ".join(part.ljust(width) for part, width in zip(row[:3], widths, strict=True))
            + "  "
            + row[3]
        ).rstrip()
        for row in rows
    ]


def _current(record: RecordLive) -> str:
    if record.new is None:
        return "current answer: unknown"
    return "current answer: " + _clip(_typed(record, record.new))


def _context(report: LiveReport) -> str:
    parts = [f"zone {report.apex}" if report.apex else "zone not found"]
    if report.serial is not None:
        parts.append(f"serial {report.serial}")
    if report.verdict is Verdict.RESOLVERS_STALE and report.wait_s:
        parts.append(f"old answers gone in at most {report.wait_s} s")
    parts.append(f"took {_duration(report.duration_ms)}")
    return " · ".join(parts)


def _duration(ms: int) -> str:
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


# ---- the terminal ---------------------------------------------------------------------------------
def text(report: LiveReport, *, width: int = 80) -> str:
    """The verdict wrapped to `width`, a summary line, then each record and its rows."""
    lines = textwrap.wrap(clean(report.sentence), max(width, 30)) or [""]
    lines.append(f"{report.domain}: {LABEL[report.verdict]} — {_context(report)}")
    for record in report.records:
        lines.append("")
        lines.append(f"{LABEL[record.verdict]:<8}{clean(record.wanted.label)}")
        lines.append(" " * 8 + clean(_current(record)))
        lines += [" " * 8 + clean(row) for row in _rows(record)]
    return "\n".join(lines) + "\n"


def progress(report: LiveReport, *, next_in_s: float, give_up_in_s: float) -> str:
    """One line while `--wait` waits: who is still behind, when the next look is, when it stops."""
    behind = list(dict.fromkeys(s.who for r in report.records for s in r.behind))
    if behind:
        more = f" and {len(behind) - 2} more" if len(behind) > 2 else ""
        waiting = f"waiting for {', '.join(behind[:2])}{more}"
    else:
        waiting = WORDS[report.verdict]
    return (
        f"not live yet, {waiting}; next look in {next_in_s:.0f} s, giving up in "
        f"{span(give_up_in_s)}"
    )


def ending(report: LiveReport, *, live: bool, looks: int, elapsed_s: float, limit_s: float) -> str:
    """The line after a wait: live after how long, or given up after how long."""
    tries = f"{looks} look{'s' if looks != 1 else ''}"
    if live:
        return f"Live after {span(elapsed_s)} ({tries})."
    return (
        f"Gave up after {span(elapsed_s)} ({tries}): the longest TTL and a margin "
        f"({span(limit_s)}) have passed, so what still disagrees will not fix itself."
    )


def span(seconds: float) -> str:
    whole = max(0, round(seconds))
    if whole < 120:
        return f"{whole} s"
    minutes, rest = divmod(whole, 60)
    if minutes < 120:
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


# ---- JSON ---------------------------------------------------------------------------------------
def as_json(report: LiveReport) -> dict[str, Any]:
    return {
        "domain": report.domain,
        "zone": report.apex,
        "serial": report.serial,
        "verdict": str(report.verdict),
        "live": report.live,
        "sentence": report.sentence,
        "wait_s": report.wait_s,
        "longest_ttl": report.longest_ttl,
        "duration_ms": report.duration_ms,
        "records": [_record_json(r) for r in report.records],
    }


def _record_json(record: RecordLive) -> dict[str, Any]:
    return {
        "name": record.wanted.name,
        "type": record.wanted.rdtype,
        "kind": record.wanted.kind,
        "verdict": str(record.verdict),
        "sentence": record.sentence,
        "current": list(record.new) if record.new is not None else None,
        "wait_s": record.wait_s,
        "servers": [_seen_json(record, s) for s in record.servers],
        "resolvers": [_seen_json(record, s) for s in record.resolvers],
    }


def _seen_json(record: RecordLive, seen: Seen) -> dict[str, Any]:
    return {
        "name": seen.server,
        "address": seen.address,
        "state": str(seen.state),
        "serial": seen.serial,
        "answer": list(seen.answer),
        "ttl": seen.ttl,
        "detail": seen.detail,
        "mark": mark(record, seen),
    }


# ---- Block Kit ----------------------------------------------------------------------------------
def render_blocks(report: LiveReport, *, command: str = "") -> Message:
    """The answer in Slack: the verdict, then each record and the servers that differ."""
    blocks = [
        header_block(f"{EMOJI[report.verdict]} Is it live? {report.domain}"),
        section_block(escape(report.sentence)),
        {"type": "divider"},
    ]
    blocks += [record_block(record) for record in report.records]
    asked = f" · `/mx {escape(command)}`" if command else ""
    blocks.append(context_block(escape(_context(report)) + asked))
    return {"text": escape(report.sentence), "blocks": blocks}


def record_block(record: RecordLive) -> dict[str, Any]:
    """One record in Slack: its verdict, the current answer, and every server and resolver."""
    rows = [_current(record), *_rows(record)]
    body = f"{EMOJI[record.verdict]} *{escape(record.wanted.label)}*: {WORDS[record.verdict]}\n"
    room = 2900 - len(body)
    return section_block(body + _fit("\n".join(rows), room))


def _fit(rows: str, room: int) -> str:
    block = code(rows)
    while len(block) > room and rows:
        rows = rows[: len(rows) - (len(block) - room) - 2]
        block = code(rows + " …")
    return block


def render_progress(name: str) -> Message:
    message = (
        f"Asking every name server of {escape(name)} and the resolvers whether the change is live…"
    )
    return {"text": message, "blocks": [section_block(message)]}
