"""A message diagnosis as Block Kit (pure): the headline, the bounce's delivery status, the hops,
the problems laid out as a report's (`blocks.render`), then each live check in one line.

Every header value, reply text and host name came from the message: all of it goes through
`blocks.escape` (a Subject saying `<!channel>` pings nobody), and every message stays within
Slack's limits (50 blocks, 3000 characters a section).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from bot.render import blocks, summary
from bot.render.blocks import EMOJI, VERDICT, Message, clip, code, escape
from bot.render.message_text import as_report, hop_line
from checks.message.result import Dsn, Hop, Kind, MessageReport
from checks.model import Report

MAX_HOPS: Final = 10
_TITLE: Final = {"message": "Message", "headers": "Headers", "bounce": "Bounce"}


def render(report: MessageReport) -> Message:
    status = report.status
    what = report.subject or report.from_domain or "pasted text"
    top = [
        blocks.header_block(f"{EMOJI[status]} {_TITLE[report.kind.value]}: {what}"),
        blocks.section_block(_lead(report)),
        {"type": "divider"},
    ]
    hops = report.hops if report.kind is not Kind.BOUNCE else ()  # a bounce's own trip: noise
    middle = [b for b in (_dsn(report.dsn), _hops(hops)) if b is not None]
    body = blocks.render(as_report(report), command="")["blocks"][3:-2]
    live = [_live(r) for r in report.live]
    tail = [blocks.context_block(_context(report))]
    room = blocks.MAX_BLOCKS - len(top) - len(middle) - len(live) - len(tail)
    everything = [*top, *middle, *body[: max(room, 0)], *live, *tail]
    return {
        "text": clip(f"{EMOJI[status]} {escape(report.headline)}", blocks.MAX_FALLBACK),
        "blocks": everything,
    }


def _lead(report: MessageReport) -> str:
    sections = report.sections
    counts = summary.counts(sections).replace("check", "part")
    line = f"*{VERDICT[report.status]}* ({escape(counts)})"
    return f"*{escape(clip(' '.join(report.headline.split()), blocks.MAX_HEADLINE))}*\n{line}"


def _dsn(dsn: Dsn | None) -> dict[str, Any] | None:
    if dsn is None or dsn.first is None:
        return None
    first = dsn.first
    retry = "permanent: not retried" if dsn.permanent else "temporary: being retried"
    recipients = ", ".join(r.recipient or "?" for r in dsn.recipients[:5])
    more = f" and {len(dsn.recipients) - 5} more" if len(dsn.recipients) > 5 else ""
    lines = [
        f"*Recipient:* {escape(recipients)}{more}",
        f"*Action:* {escape(first.action)} ({retry})",
        f"*Status:* `{escape(first.status or 'none')}` {escape(dsn.meaning)}",
    ]
    if first.remote_mta:
        lines.append(f"*Remote MTA:* {escape(first.remote_mta)}")
    if first.diagnostic:
        lines.append(code(clip(first.diagnostic, 1500)))
    return blocks.section_block(clip("\n".join(lines), blocks.MAX_SECTION))


def _hops(hops: Sequence[Hop]) -> dict[str, Any] | None:
    if not hops:
        return None
    shown = list(hops) if len(hops) <= MAX_HOPS else [*hops[:5], *hops[-5:]]
    lines = [hop_line(h) for h in shown]
    if len(hops) > MAX_HOPS:
        lines.insert(5, f"   … {len(hops) - MAX_HOPS} more hops")
    body = code(clip("\n".join(lines), 2500))
    return blocks.section_block(f"*Hops* ({len(hops)}, oldest first)\n{body}")


def _live(report: Report) -> dict[str, Any]:
    name = report.display_name or report.domain
    checks = " · ".join(r.title for r in report.results)
    line = report.headline or VERDICT[report.status]
    worst = [f for r in report.results for f in r.findings if f.status is report.status and f.fix][
        :1
    ]
    fix = f"\n> *Fix:* {escape(worst[0].fix)}" if worst and report.status in summary.PROBLEM else ""
    text = f"{EMOJI[report.status]} *Checked live: {escape(name)}* ({escape(checks)}): {escape(line)}{fix}"
    return blocks.section_block(clip(text, blocks.MAX_SECTION))


def _context(report: MessageReport) -> str:
    took = (
        f"{report.duration_ms} ms"
        if report.duration_ms < 1000
        else f"{report.duration_ms / 1000:.1f} s"
    )
    resolvers = ", ".join(report.resolvers) or "system resolver"
    return f"Took {took} · resolver {escape(resolvers)} · the message body is never kept or shown"
