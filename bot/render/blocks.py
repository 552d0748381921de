"""Block Kit for a report (pure): the headline, each problem with its fix and the record to paste,
one compact line for everything else (`summary` decides the order and the counts), details in
the thread.

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
from bot.render import screen, summary
from checks.model import Cause, CheckResult, Finding, Report, Status
from checks.target import Target

MAX_BLOCKS: Final = 50
MAX_SECTION: Final = 3000
MAX_HEADER: Final = 150
MAX_CONTEXT: Final = 2000
MAX_FALLBACK: Final = 3000
MAX_BUTTON_VALUE: Final = 2000
MAX_DETAIL_MESSAGES: Final = 5
MAX_EXPANDED: Final = 3  # problems spelled out per check in the summary; the rest: Details
MAX_EXPANDED_CHARS: Final = 1200
MAX_HEADLINE: Final = 500
MAX_COMPACT_LINE: Final = 600  # one compact line ("✅ MX · PTR · …"); all four fit a context

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
    """The finished report: the headline, each problem with its fix, one compact line for the
    rest, context and buttons (with "Watch" when `watchable`: the app keeps watch-lists and the
    target is a domain)."""
    name = display_name(report)
    top = [
        header_block(f"{EMOJI[report.status]} {name}"),
        section_block(_lead(report, name)),
        {"type": "divider"},
    ]
    watch = report.domain if watchable and not _is_address(report.domain) else ""
    bottom = [context_block(_context_line(report, when)), _actions(command, report_id, watch)]
    body = _body(report.results, report.cause, (), MAX_BLOCKS - len(top) - len(bottom))
    return {"text": _fallback(report, name), "blocks": [*top, *body, *bottom]}


def render_progress(
    target: Target,
    done: Sequence[CheckResult],
    pending: Sequence[tuple[str, str]],
    *,
    queued: int = 0,
) -> Message:
    """The message while checks run, laid out as the finished one: problems so far, the compact
    lines, and one ⏳ line naming the checks still running.

    Args:
        pending: (check id, title) of the checks still running, in display order.
        queued: how many reports are ahead of this one (0: running now).
    """
    name = display_name(target)
    blocks: list[dict[str, Any]] = [header_block(f"{RUNNING} Checking {name}…")]
    if queued:
        s = "s" if queued != 1 else ""
        blocks.append(section_block(f"{RUNNING} Queued: {queued} report{s} ahead of this one."))
    else:
        titles = [title for _, title in pending]
        blocks.extend(_body(done, None, titles, MAX_BLOCKS - 2))
    blocks.append(context_block(f"{len(done)} of {len(done) + len(pending)} checks done"))
    return {"text": clip(f"Checking {escape(name)}…", MAX_FALLBACK), "blocks": blocks}


def render_details(report: Report) -> list[Message]:
    """Every finding with its evidence, for the thread: one or more messages, each within limits.
    Problems first, in the summary's order; then the other checks in display order."""
    pieces: list[str] = []
    for result in summary.in_order(report):
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


def _lead(report: Report, name: str) -> str:
    """The headline (the diagnosed root cause) over the summary sentence with the counts."""
    status = report.status
    line = f"*{escape(name)}*: *{VERDICT[status]}* ({escape(summary.counts(report.results))})"
    if not report.headline:
        return line
    return f"*{escape(_one_line(report.headline, MAX_HEADLINE))}*\n{line}"


def _body(
    results: Sequence[CheckResult], cause: Cause | None, pending: Sequence[str], room: int
) -> list[dict[str, Any]]:
    """The problems (packed when there are more than fit in `room` blocks), then the compact
    lines in small print: passed, noted, skipped, and still running."""
    tail = [_compact(EMOJI[s], group) for s, group in summary.folded(results)]
    if pending:
        tail.append(_compact_titles(RUNNING, pending))
    # below the problems: the compact lines, the context line, the buttons, and their gaps
    reserved = screen.SMALL_LINE * (len(tail) + 1) + screen.BUTTONS + 3 * screen.GAP
    pieces = _problem_pieces(summary.problems(results, cause), reserved)
    body = [section_block(text) for text in _pack(pieces, room - (1 if tail else 0))]
    return [*body, context_block("\n".join(tail))] if tail else body


def _problem_pieces(bad: Sequence[CheckResult], reserved: float) -> list[str]:
    """Each problem in full (fix, record) while the message, from its first problem down, still
    fits a laptop screen (`screen`); the problems after that get one line each, as many as fit,
    and their fixes are behind Details."""
    full = [_problem_piece(r) for r in bad]
    plan = screen.fit([screen.lines(p) for p in full], reserved)
    rest = bad[plan.full :]
    if not rest:
        return full
    lines = [_problem_line(r) for r in rest[: plan.short]]
    if plan.short < len(rest):
        lines.append(f"_…and {len(rest) - plan.short} more problems._")
    return [*full[: plan.full], "\n".join([*lines, "_Their fixes and records: press Details._"])]


def _problem_line(result: CheckResult) -> str:
    """A problem in one screen line: the check and the start of its headline finding."""
    head = result.headline
    title = f"{EMOJI[result.status]} *{escape(result.title)}*: "
    text = " ".join(head.message.split()) if head else ""
    room = max(screen.LINE_CHARS - len(title), 20)
    if len(text) > room:  # cut between words, and say so
        text = text[: text.rfind(" ", 0, room) if " " in text[:room] else room - 1] + "…"
    return title + escape(text)


def _compact(emoji: str, results: Sequence[CheckResult]) -> str:
    return _compact_titles(emoji, [r.title for r in results])


def _compact_titles(emoji: str, titles: Sequence[str]) -> str:
    """One line: "✅ MX · PTR · SPF" (each title shortened, escaped; the line clipped)."""
    names = " · ".join(escape(summary.short_title(t)) for t in titles)
    return clip(f"{emoji} {names}", MAX_COMPACT_LINE)


def _problem_piece(result: CheckResult) -> str:
    """A check in trouble: its headline finding on the title line, then each distinct problem's
    fix and record to paste (at most MAX_EXPANDED of them; the rest behind Details)."""
    groups = summary.problem_groups(result)
    verdict = _one_line(groups[0][0].message) if groups else "no findings"
    text = f"{EMOJI[result.status]} *{escape(result.title)}*: {escape(verdict)}"
    parts = [_expanded(f, same, first=i == 0) for i, (f, same) in enumerate(groups[:MAX_EXPANDED])]
    if len(groups) > MAX_EXPANDED:
        parts.append(f"_…and {len(groups) - MAX_EXPANDED} more problems: press Details._")
    expansion = "\n".join(p for p in parts if p)
    if expansion:
        text += "\n" + clip(expansion, MAX_EXPANDED_CHARS, "\n" + _TRUNCATED)
    return clip(text, MAX_SECTION, "\n" + _TRUNCATED)


def _expanded(finding: Finding, same: Sequence[Finding], *, first: bool) -> str:
    lines = [] if first else [f"• {escape(_one_line(finding.message))}"]
    if finding.fix:
        lines.append(f"> *Fix:* {escape(finding.fix)}")
    if finding.record is not None:
        lines.append(code(finding.record.zone_line))
    if same:  # the same problem elsewhere (another host): its fix reads the same
        lines.append(f"_…and {len(same)} more like it: press Details._")
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


def _fallback(report: Report, name: str) -> str:
    """The notification text: the headline (or the verdict), the counts, then each problem."""
    status = report.status
    counts = summary.counts(report.results)
    lines = [f"{EMOJI[status]} {escape(name)}: {VERDICT[status]} ({counts})"]
    if report.headline:
        # the headline names the domain itself: it is what a phone's notification shows
        lines = [f"{EMOJI[status]} {escape(_one_line(report.headline))}", counts]
    for result in summary.problems(report.results, report.cause):
        if result.headline:
            lines.append(f"{escape(result.title)}: {escape(_one_line(result.headline.message))}")
    return clip("\n".join(lines), MAX_FALLBACK)


def _one_line(text: str, limit: int = 300) -> str:
    return clip(" ".join(text.split()), limit)


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
