"""Block Kit for a report (pure): summary first, fixes for what is wrong, details in the thread.

Everything that came from DNS, a remote server or the user goes through `escape`, so a TXT
record saying `<!channel>` is shown, never obeyed; we never set `link_names`. Every message stays
inside Slack's limits whatever the report holds, by truncating with a visible marker:
50 blocks, 3000 characters of section text, a 150-character header, 75-character buttons.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from bot.commands import USAGES
from checks.model import CheckResult, Finding, Report, Status
from checks.target import Target

MAX_BLOCKS: Final = 50
MAX_SECTION: Final = 3000
MAX_HEADER: Final = 150
MAX_CONTEXT: Final = 2000
MAX_FALLBACK: Final = 3000
MAX_BUTTON_VALUE: Final = 2000
MAX_DETAIL_MESSAGES: Final = 5
MAX_EXPANDED: Final = 5  # bad findings spelled out per check in the summary; the rest: Details
MAX_EXPANDED_CHARS: Final = 1500

RERUN: Final = "mx_rerun"
DETAILS: Final = "mx_details"
WATCH: Final = "mx_watch"  # reserved for watch-lists

EMOJI: Final = {
    Status.PASS: "✅",
    Status.INFO: "\u2139\ufe0f",  # information source
    Status.WARN: "⚠️",
    Status.ERROR: "❓",
    Status.FAIL: "❌",
    Status.SKIP: "\u2796",  # heavy minus sign
}
RUNNING: Final = "⏳"
VERDICT: Final = {
    Status.PASS: "all good",
    Status.INFO: "OK, with notes",
    Status.WARN: "works, with warnings",
    Status.ERROR: "could not check everything",
    Status.FAIL: "problems found",
    Status.SKIP: "nothing to check",
}
_EXPAND = frozenset({Status.FAIL, Status.ERROR, Status.WARN})
_TRUNCATED = "… (truncated: press Details for everything)"

Message = dict[str, Any]  # {"text": …, "blocks": […]}, ready for chat.postMessage/update


def escape(text: str) -> str:
    """Slack's three control characters as entities: nothing remote can become a mention or link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int, marker: str = "…") -> str:
    """`text` cut to `limit` characters, the cut shown by `marker`."""
    if len(text) <= limit:
        return text
    return text[: max(limit - len(marker), 0)] + marker[:limit]


def code(text: str) -> str:
    """A code block of untrusted text: escaped, and unable to close itself early."""
    body = escape(text).replace("```", "`\u200b`\u200b`")
    return f"```{body}```"


def display_name(target: Target | Report) -> str:
    """The name to show: "bücher.example (xn--bcher-kva.example)" for an IDN."""
    if isinstance(target, Report):
        name, uname = target.domain, target.display_name
    else:
        name, uname = target.name, target.unicode
    return f"{uname} ({name})" if uname and uname != name else name


def render(
    report: Report,
    *,
    command: str,
    when: datetime | None = None,
    report_id: str = "",
    watchable: bool = False,
) -> Message:
    """The finished report: verdict, one line per check, fixes, context and buttons (with
    "Watch" when `watchable`: the app keeps watch-lists and the target is a domain)."""
    status = report.status
    name = display_name(report)
    blocks: list[dict[str, Any]] = [
        header_block(f"{EMOJI[status]} {name}"),
        section_block(f"*{escape(name)}*: *{VERDICT[status]}*  ({_counts(report.results)})"),
        {"type": "divider"},
    ]
    pieces = [_check_piece(r) for r in report.results]
    room = MAX_BLOCKS - len(blocks) - 2  # context + actions
    blocks.extend(section_block(text) for text in _pack(pieces, room))
    blocks.append(context_block(_context_line(report, when)))
    watch = report.domain if watchable and not _is_address(report.domain) else ""
    blocks.append(_actions(command, report_id, watch))
    return {"text": _fallback(report, name), "blocks": blocks}


def render_progress(
    target: Target,
    done: Sequence[CheckResult],
    pending: Sequence[tuple[str, str]],
    *,
    queued: int = 0,
) -> Message:
    """The message while checks run: finished ones filled in, the others shown as ⏳.

    Args:
        pending: (check id, title) of the checks still running, in display order.
        queued: how many reports are ahead of this one (0: running now).
    """
    name = display_name(target)
    title = f"{RUNNING} Checking {name}…"
    blocks: list[dict[str, Any]] = [header_block(title)]
    lines = [_line(r) for r in done] + [f"{RUNNING} *{escape(t)}*: running…" for _, t in pending]
    if queued:
        lines = [
            f"{RUNNING} Queued: {queued} report{'s' if queued != 1 else ''} ahead of this one."
        ]
    blocks.extend(section_block(text) for text in _pack(lines, MAX_BLOCKS - 2))
    blocks.append(context_block(f"{len(done)} of {len(done) + len(pending)} checks done"))
    return {"text": clip(f"Checking {escape(name)}…", MAX_FALLBACK), "blocks": blocks}


def render_details(report: Report) -> list[Message]:
    """Every finding with its evidence, for the thread: one or more messages, each within limits."""
    pieces: list[str] = []
    for result in report.results:
        head = f"{EMOJI[result.status]} *{escape(result.title)}* ({_ms(result.duration_ms)})"
        pieces.append(clip(head, MAX_SECTION))
        pieces.extend(_detail(f) for f in result.findings)
    per_message = MAX_BLOCKS - 1
    chunks = _pack(pieces, per_message * MAX_DETAIL_MESSAGES)
    name = escape(display_name(report))
    messages: list[Message] = []
    for start in range(0, len(chunks), per_message):
        part = chunks[start : start + per_message]
        index = start // per_message + 1
        blocks = [context_block(f"Details for *{name}*, part {index}")] + [
            section_block(t) for t in part
        ]
        messages.append(
            {"text": clip(f"Details for {name} (part {index})", MAX_FALLBACK), "blocks": blocks}
        )
    if not messages:
        messages.append(render_text(clip(f"No findings for {name}.", MAX_FALLBACK)))
    return messages


def render_text(text: str) -> Message:
    """A plain notice (usage, rate limit, error) as a message; `text` must already be escaped."""
    return {"text": clip(text, MAX_FALLBACK), "blocks": [section_block(text)]}


# ---- pieces -------------------------------------------------------------------------------------


def _line(result: CheckResult) -> str:
    head = result.headline
    verdict = _one_line(head.message) if head else "no findings"
    return f"{EMOJI[result.status]} *{escape(result.title)}*: {escape(verdict)} · {_ms(result.duration_ms)}"


def _check_piece(result: CheckResult) -> str:
    text = _line(result)
    if result.status in _EXPAND:
        bad = [f for f in result.findings if f.status in _EXPAND]
        parts = [_expanded(f, first=f is result.headline) for f in bad[:MAX_EXPANDED]]
        if len(bad) > MAX_EXPANDED:
            parts.append(f"_…and {len(bad) - MAX_EXPANDED} more: press Details._")
        text += "\n" + clip("\n".join(p for p in parts if p), MAX_EXPANDED_CHARS, "\n" + _TRUNCATED)
    return clip(text, MAX_SECTION, "\n" + _TRUNCATED)


def _expanded(finding: Finding, *, first: bool) -> str:
    lines = [] if first else [f"• {escape(_one_line(finding.message))}"]
    if finding.fix:
        lines.append(f"> *Fix:* {escape(finding.fix)}")
    if finding.record is not None:
        lines.append(code(finding.record.zone_line))
    return "\n".join(lines)


def _detail(finding: Finding) -> str:
    lines = [f"{EMOJI[finding.status]} `{escape(finding.code)}` {escape(finding.message)}"]
    if finding.fix:
        lines.append(f"> *Fix:* {escape(finding.fix)}")
    if finding.record is not None:
        lines.append(code(finding.record.zone_line))
    if finding.evidence:
        lines.append("Evidence:\n" + code(clip("\n".join(finding.evidence), 2000)))
    return clip("\n".join(lines), MAX_SECTION, "\n" + _TRUNCATED)


def _pack(pieces: Sequence[str], room: int) -> list[str]:
    """Put pieces into at most `room` sections of at most MAX_SECTION characters each."""
    pieces = [clip(p, MAX_SECTION, "\n" + _TRUNCATED) for p in pieces]
    if len(pieces) <= room:
        return list(pieces)
    packed: list[str] = []
    for piece in pieces:
        if packed and len(packed[-1]) + 1 + len(piece) <= MAX_SECTION:
            packed[-1] += "\n" + piece
        else:
            packed.append(piece)
    if len(packed) > room:
        left = len(packed) - room + 1
        more = f"_…{left} more section{'s' if left != 1 else ''} not shown: press Details._"
        packed = [*packed[: room - 1], more]
    return packed


def header_block(text: str) -> dict[str, Any]:
    """A header block; `text` is escaped here and clipped to Slack's 150 characters."""
    # plain_text is never parsed for mentions; escaping still keeps "<!" out of every message.
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": clip(escape(text), MAX_HEADER), "emoji": True},
    }


def section_block(text: str) -> dict[str, Any]:
    """A mrkdwn section; `text` must already be escaped. Clipped to Slack's limit."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, MAX_SECTION)}}


def context_block(text: str) -> dict[str, Any]:
    """A mrkdwn context line; `text` must already be escaped. Clipped to Slack's limit."""
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, MAX_CONTEXT)}]}


def _actions(command: str, report_id: str, watch: str = "") -> dict[str, Any]:
    buttons: list[dict[str, Any]] = [
        _button("Re-run", RERUN, command),
    ]
    if report_id:
        buttons.append(_button("Details", DETAILS, report_id))
    if watch:
        buttons.append(_button("Watch", WATCH, watch))
    return {"type": "actions", "block_id": "mx_actions", "elements": buttons}


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _button(label: str, action_id: str, value: str) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": clip(label, 75), "emoji": True},
        "value": clip(value, MAX_BUTTON_VALUE, ""),
    }


def _context_line(report: Report, when: datetime | None) -> str:
    resolvers = ", ".join(report.resolvers) or "system resolver"
    stamp = (when or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    took = (
        f"{report.duration_ms} ms"
        if report.duration_ms < 1000
        else f"{report.duration_ms / 1000:.1f} s"
    )
    return f"Took {took} · resolver {escape(resolvers)} · {stamp}"


def _counts(results: Sequence[CheckResult]) -> str:
    words = {
        Status.FAIL: "failing",
        Status.ERROR: "inconclusive",
        Status.WARN: "with warnings",
        Status.INFO: "with notes",
        Status.PASS: "passing",
        Status.SKIP: "skipped",
    }
    parts = []
    for status in sorted(words, key=lambda s: -s.severity):
        n = sum(1 for r in results if r.status is status)
        if n:
            parts.append(f"{n} {words[status]}")
    return ", ".join(parts) or "no checks"


def _fallback(report: Report, name: str) -> str:
    """The notification text: the diagnosis's headline when there is one."""
    status = report.status
    if report.headline:
        return clip(f"{EMOJI[status]} {escape(report.headline)}", MAX_FALLBACK)
    lines = [f"{EMOJI[status]} {escape(name)}: {VERDICT[status]} ({_counts(report.results)})"]
    for result in report.results:
        if result.status in _EXPAND and result.headline:
            lines.append(f"{escape(result.title)}: {escape(_one_line(result.headline.message))}")
    return clip("\n".join(lines), MAX_FALLBACK)


def _one_line(text: str) -> str:
    return clip(" ".join(text.split()), 300)


def _ms(ms: int) -> str:
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def render_report(report: Report) -> Message:
    """The finished report for the CLI's `--blocks` (Re-run re-checks the same target)."""
    return render(report, command=report.domain)


@dataclass(frozen=True, slots=True)
class HistoryLine:
    """One past report, as App Home lists it."""

    status: Status
    name: str
    command: str
    when: datetime


def render_help(prefix: str, checks: Sequence[tuple[str, str]], extra: str = "") -> Message:
    """What the bot understands; `prefix` is "/mx" or "@mxbot"; `extra` adds usage lines (mrkdwn)."""
    usage = "\n".join(f"`{escape(prefix)} {escape(form)}`: {what}" for form, what in USAGES)
    if extra:
        usage = f"{usage}\n{extra}"
    names = ", ".join(f"`{escape(cid)}` ({escape(title)})" for cid, title in checks)
    text = f"*I check why mail to or from a domain fails, and say how to fix it.*\n{usage}"
    blocks = [section_block(text), context_block(clip(f"Checks: {names}", MAX_CONTEXT))]
    return {"text": clip(f"Usage: {prefix} example.com", MAX_FALLBACK), "blocks": blocks}


def render_home(
    checks: Sequence[tuple[str, str]],
    recent: Sequence[HistoryLine],
    *,
    help_extra: str = "",
    tail: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The App Home tab: what the bot does, the workspace's latest reports, then `tail` blocks."""
    blocks: list[dict[str, Any]] = [
        header_block("mxbot: mail diagnostics"),
        *render_help("/mx", checks, help_extra)["blocks"],
    ]
    blocks += [{"type": "divider"}, section_block("*Latest reports in this workspace*")]
    if not recent:
        blocks.append(context_block("None yet: type `/mx example.com` in any channel."))
    for line in recent[:20]:
        stamp = line.when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        text = f"{EMOJI[line.status]} *{escape(line.name)}*: {VERDICT[line.status]} · `/mx {escape(line.command)}` · {stamp}"
        blocks.append(section_block(text))
    blocks.extend(tail)
    return {"type": "home", "blocks": blocks[:100]}
