"""A channel's digest (pure): what is broken across its watched domains, and what changed since.

`snapshot` reduces a report to what a digest remembers (check, code, status, message and, when
broken, fix per finding); `diff` compares two snapshots by finding code, per domain;
`render_digest` makes the Block Kit message: broken domains first, then what changed (findings,
and record values before → after, `bot.digest.history`), then the healthy ones on one compact
line. Everything remote is escaped, so a TXT record saying `<!channel>`
is shown, never obeyed. Text is shortened at word boundaries, and what does not fit is cut by
whole findings (or names), saying how many more: a finding is never cut off before its fix.
`late` marks a message posted after its due time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from bot.digest import history
from bot.digest.snapshot import DomainSnapshot, FindingState, Snapshot
from bot.render.blocks import EMOJI, clip, context_block, escape, header_block, section_block
from checks.model import Report, Status

BROKEN: Final = frozenset({Status.FAIL, Status.ERROR})  # what a digest calls "a problem"
MAX_BLOCKS: Final = 50
MAX_SECTION: Final = 3000
MAX_HEADER: Final = 150
MAX_CONTEXT: Final = 2000
MAX_FALLBACK: Final = 3000
MAX_ITEMS: Final = 5  # broken findings spelled out per domain; the rest are counted
MAX_MESSAGE: Final = 200  # characters of a finding's message in a digest line
MAX_FIX: Final = 200  # characters of a finding's fix in a digest line
MAX_STORED: Final = 300  # characters of a finding's message or fix kept in a snapshot
MAX_REASON: Final = 300  # characters of a broken domain's reason (the report's headline)
NEW: Final = "\U0001f195"  # the NEW button emoji
MAX_RECORDS: Final = 20  # record changes spelled out in a digest; the rest are counted

Message = dict[str, Any]


@dataclass(frozen=True, slots=True)
class DomainChanges:
    """One domain's broken findings, split by what they were at the previous digest."""

    domain: str
    newly_broken: tuple[FindingState, ...] = ()
    fixed: tuple[FindingState, ...] = ()
    still_broken: tuple[FindingState, ...] = ()
    is_new: bool = False  # not in the previous digest: nothing to compare with

    @property
    def broken(self) -> tuple[FindingState, ...]:
        return self.newly_broken + self.still_broken


@dataclass(frozen=True, slots=True)
class Changes:
    domains: tuple[DomainChanges, ...]  # in the current snapshot's order
    removed: tuple[str, ...] = ()  # watched last time, not any more

    @property
    def newly_broken(self) -> tuple[DomainChanges, ...]:
        return tuple(d for d in self.domains if d.newly_broken)

    @property
    def fixed(self) -> tuple[DomainChanges, ...]:
        return tuple(d for d in self.domains if d.fixed)


def snapshot(report: Report) -> DomainSnapshot:
    """What a digest keeps of a report: every finding's check, code, status and message, and the
    diagnosis's headline (the reason given for a broken domain)."""
    findings = tuple(
        FindingState(
            result.id,
            f.code,
            f.status,
            words(f.message, MAX_STORED),
            words(f.fix, MAX_STORED) if f.status in BROKEN else "",
        )
        for result in report.results
        for f in result.findings
    )
    return DomainSnapshot(
        report.domain, report.status, findings, report.display_name, report.headline
    )


def diff(previous: Snapshot | None, current: Snapshot) -> Changes:
    """Per domain, which broken finding codes are new, which were fixed, which remain."""
    before = previous or {}
    domains = []
    for name, now in current.items():
        old = before.get(name)
        broken_now = _broken(now.findings)
        if old is None:
            domains.append(
                DomainChanges(name, still_broken=tuple(broken_now.values()), is_new=True)
            )
            continue
        broken_then = _broken(old.findings)
        domains.append(
            DomainChanges(
                name,
                newly_broken=tuple(f for c, f in broken_now.items() if c not in broken_then),
                fixed=tuple(f for c, f in broken_then.items() if c not in broken_now),
                still_broken=tuple(f for c, f in broken_now.items() if c in broken_then),
            )
        )
    removed = tuple(name for name in before if name not in current)
    return Changes(tuple(domains), removed)


def headline(current: Snapshot, changes: Changes, since: datetime | None) -> str:
    """ "3 of 12 watched domains have problems; 1 newly broken since 2024-05-01 09:00 UTC"."""
    total = len(current)
    bad = sum(1 for d in changes.domains if d.broken)
    if total == 0:
        text = "No domains are watched here"
    elif bad == 0:
        text = (
            "The watched domain is fine" if total == 1 else f"All {total} watched domains are fine"
        )
    else:
        plural = "s" if total != 1 else ""
        text = f"{bad} of {total} watched domain{plural} {'has' if bad == 1 else 'have'} problems"
    if since is not None:
        parts = [f"{len(changes.newly_broken)} newly broken"]
        if changes.fixed:
            parts.append(f"{len(changes.fixed)} fixed")
        text += f"; {' and '.join(parts)} since {_stamp(since)}"
    return text


def render_digest(
    current: Snapshot,
    changes: Changes,
    *,
    since: datetime | None,
    when: datetime,
    schedule: str = "",
    records: Sequence[history.Change] = (),
) -> Message:
    """The digest message, within Slack's limits whatever the snapshot holds.

    Args:
        since: when the previous digest ran (None for the first one: nothing "changed").
        schedule: how often the digest runs ("daily at 09:00 UTC"), for the context line.
        records: record values that changed since the previous digest (`bot.digest.history`).
    """
    names = {d.domain: _name(d) for d in current.values()}
    reasons = {d.domain: d.headline for d in current.values() if d.headline}
    lead = headline(current, changes, since)
    worst = Status.worst(f.status for d in changes.domains for f in d.broken)
    blocks: list[dict[str, Any]] = [
        header_block(f"{EMOJI[worst]} Mail digest"),
        section_block(f"*{escape(lead)}*"),
    ]
    groups = [_broken_pieces(changes, names, reasons)]
    if since is not None:
        groups.append(_change_pieces(changes, names, since))
        groups.append(_record_pieces(records, since))
    groups.append(_good_pieces(changes, names))
    sections = [text for group in groups for text in _pack(group)]
    room = MAX_BLOCKS - len(blocks) - 1  # the context line
    blocks.extend(section_block(text) for text in _fit(sections, room))
    blocks.append(context_block(_context_line(len(current), when, schedule)))
    return {"text": _fallback(lead, changes, names, reasons), "blocks": blocks}


# ---- pieces -------------------------------------------------------------------------------------


def _broken(findings: Iterable[FindingState]) -> dict[str, FindingState]:
    """Broken findings by code; of several with one code (one per MX host…), the worst."""
    out: dict[str, FindingState] = {}
    for f in findings:
        if f.status in BROKEN:
            seen = out.get(f.code)
            if seen is None or f.status.severity > seen.status.severity:
                out[f.code] = f
    return out


def _broken_pieces(changes: Changes, names: dict[str, str], reasons: dict[str, str]) -> list[str]:
    """Each broken domain: its name and reason (the diagnosis's headline), then its findings,
    as many whole ones as fit one section."""
    broken = [d for d in changes.domains if d.broken]
    broken.sort(key=lambda d: (not d.newly_broken, names.get(d.domain, d.domain)))
    pieces: list[str] = []
    for d in broken:
        status = Status.worst(f.status for f in d.broken)
        tag = " _(new on the watch-list)_" if d.is_new else ""
        head = f"{EMOJI[status]} *{words(escape(names.get(d.domain, d.domain)), MAX_REASON)}*{tag}"
        if d.domain in reasons:
            head += f" — {words(escape(reasons[d.domain]), MAX_REASON)}"
        if not pieces:
            head = "*Broken now*\n" + head
        items = [(True, f) for f in d.newly_broken] + [(False, f) for f in d.still_broken]
        lines = [f"  • {NEW + ' ' if fresh else ''}{_item(f)}" for fresh, f in items]
        pieces.append(_whole_lines(head, lines, MAX_ITEMS))
    return pieces


def _whole_lines(head: str, lines: Sequence[str], most: int) -> str:
    """`head` and at most `most` of `lines`, whole, within one section; the rest counted."""
    kept = [head]
    for index, line in enumerate(lines[:most]):
        left = len(lines) - index - 1
        tail = len(_more(left)) + 1 if left else 0
        if len("\n".join([*kept, line])) + tail > MAX_SECTION:
            break
        kept.append(line)
    left = len(lines) - (len(kept) - 1)
    if left:
        kept.append(_more(left))
    return "\n".join(kept)


def _more(count: int) -> str:
    return f"  • _…and {count} more_"


def _change_pieces(changes: Changes, names: dict[str, str], since: datetime) -> list[str]:
    lines = []
    for d in changes.newly_broken:
        codes = ", ".join(f"`{escape(f.code)}`" for f in d.newly_broken[:MAX_ITEMS])
        more = (
            f" and {len(d.newly_broken) - MAX_ITEMS} more"
            if len(d.newly_broken) > MAX_ITEMS
            else ""
        )
        lines.append(f"{NEW} *{escape(names.get(d.domain, d.domain))}* broke: {codes}{more}")
    for d in changes.fixed:
        codes = ", ".join(f"`{escape(f.code)}`" for f in d.fixed[:MAX_ITEMS])
        more = f" and {len(d.fixed) - MAX_ITEMS} more" if len(d.fixed) > MAX_ITEMS else ""
        lines.append(
            f"{EMOJI[Status.PASS]} *{escape(names.get(d.domain, d.domain))}* fixed: {codes}{more}"
        )
    added = [d for d in changes.domains if d.is_new]
    if added:
        lines.append(
            ":heavy_plus_sign: Added: "
            + ", ".join(escape(names.get(d.domain, d.domain)) for d in added)
        )
    if changes.removed:
        lines.append(
            ":heavy_minus_sign: No longer watched: " + ", ".join(escape(n) for n in changes.removed)
        )
    if not lines:
        return [f"_Nothing changed since {_stamp(since)}._"]
    return [f"*Changed since {_stamp(since)}*\n" + lines[0], *lines[1:]]


def _record_pieces(records: Sequence[history.Change], since: datetime) -> list[str]:
    """Each record value that changed: "*example.com* SPF: `before` → `after`", oldest first."""
    if not records:
        return []
    changes = history.ordered(records)
    lines = [history.line(c, with_domain=True) for c in changes[:MAX_RECORDS]]
    if len(changes) > MAX_RECORDS:
        lines.append(
            f"_…and {len(changes) - MAX_RECORDS} more: `/mx history example.com` lists them_"
        )
    return [f"*Records changed since {_stamp(since)}*\n" + lines[0], *lines[1:]]


def _good_pieces(changes: Changes, names: dict[str, str]) -> list[str]:
    good = sorted(names.get(d.domain, d.domain) for d in changes.domains if not d.broken)
    if not good:
        return []
    text = f"{EMOJI[Status.PASS]} *All good ({len(good)}):* "
    shown: list[str] = []
    for index, name in enumerate(good):
        entry = words(escape(name), MAX_REASON)
        left = len(good) - index - 1
        tail = len(f" and {left} more") if left else 0
        if len(text + ", ".join([*shown, entry])) + tail > MAX_SECTION:
            break
        shown.append(entry)
    left = len(good) - len(shown)
    return [text + ", ".join(shown) + (f" and {left} more" if left else "")]


def _item(f: FindingState) -> str:
    """One finding: its code, message and fix, each shortened at a word, never dropped."""
    text = f"`{escape(f.code)}`"
    if f.message:
        text += f" {words(escape(f.message), MAX_MESSAGE)}"
    if f.fix:
        text += f" *Fix:* {words(escape(f.fix), MAX_FIX)}"
    return text


def words(text: str, limit: int) -> str:
    """`text` (whitespace folded) cut to `limit` characters at a word boundary, the cut shown by
    "…"; never inside an HTML entity, so escaped text stays escaped."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 0)]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    elif cut.rfind("&") > cut.rfind(";"):  # one long word: cut, but not inside an entity
        cut = cut[: cut.rfind("&")]
    return cut.rstrip(" ,") + "…"  # an entity's ";" stays


def late(message: Mapping[str, Any], due: datetime) -> Message:
    """The message, saying it is posted late and when it was due (any scheduled post)."""
    note = f"Posted late: this was due at {_stamp(due)}."
    blocks = [dict(b) for b in message.get("blocks") or []]
    if len(blocks) < MAX_BLOCKS:
        at = 1 if blocks and blocks[0].get("type") == "header" else 0
        blocks.insert(at, context_block(f":alarm_clock: {note}"))
    text = clip(f"{note} {message.get('text', '')}", MAX_FALLBACK)
    return {**message, "text": text, "blocks": blocks}


def _name(d: DomainSnapshot) -> str:
    return (
        f"{d.display_name} ({d.domain})"
        if d.display_name and d.display_name != d.domain
        else d.domain
    )


def _pack(pieces: Sequence[str]) -> list[str]:
    """Pieces joined into sections of at most MAX_SECTION characters."""
    packed: list[str] = []
    for piece in pieces:
        piece = clip(piece, MAX_SECTION)
        if packed and len(packed[-1]) + 1 + len(piece) <= MAX_SECTION:
            packed[-1] += "\n" + piece
        else:
            packed.append(piece)
    return packed


def _fit(sections: list[str], room: int) -> list[str]:
    """At most `room` sections, the overflow counted in the last one."""
    if len(sections) <= room:
        return sections
    left = len(sections) - room + 1
    more = f"_…{left} more sections not shown: run `/mx` on a domain for its full report._"
    return [*sections[: room - 1], more]


def _context_line(total: int, when: datetime, schedule: str) -> str:
    text = f"Checked {total} domain{'s' if total != 1 else ''} at {_stamp(when)}"
    if schedule:
        text += f" · digest {escape(schedule)}"
    return text + " · `/mx watches` to see the list"


def _fallback(lead: str, changes: Changes, names: dict[str, str], reasons: dict[str, str]) -> str:
    """The notification text: the headline, then one line per broken domain, as many whole ones
    as fit."""
    lines = [escape(lead)]
    broken = [d for d in changes.domains if d.broken]
    for index, d in enumerate(broken):
        why = reasons.get(d.domain) or ", ".join(f.code for f in d.broken[:MAX_ITEMS])
        line = f"{escape(names.get(d.domain, d.domain))}: {words(escape(why), MAX_REASON)}"
        left = len(broken) - index - 1
        tail = len(f"\n…and {left} more") if left else 0
        if len("\n".join([*lines, line])) + tail > MAX_FALLBACK:
            break
        lines.append(line)
    left = len(broken) - (len(lines) - 1)
    if left:
        lines.append(f"…and {left} more")
    return clip("\n".join(lines), MAX_FALLBACK)


def _stamp(moment: datetime) -> str:
    # Plain text, not Slack's <!date^…> token: nothing in a digest starts with "<!".
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
