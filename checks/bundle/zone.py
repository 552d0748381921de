"""The zone snippet (RFC 1035 5): every entry with a `;` comment saying what it replaces and why.

Live lines are the entries to publish; entries that need a value, a served file or another
zone's admin first are written as comments, so pasting the whole snippet is always safe.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Final

from checks.bundle.presentation import one_line, quoted
from checks.bundle.result import Action, Entry, Reason

MAX_REASONS: Final = 3  # findings quoted above one entry; the rest are counted

_SECTIONS: Final = (
    (Action.PUBLISH, ""),
    (Action.FILL_IN, "Fill in the <...> value, then remove the leading '; ' from the record"),
    (Action.LATER, "Publish once the MTA-STS policy file is served (remove the leading '; ')"),
    (Action.ELSEWHERE, "Not in this zone: for the admins named (left as comments here)"),
)


def render(domain: str, entries: Sequence[Entry]) -> str:
    """The snippet: valid zone-file text whatever the entries hold (only PUBLISH lines are live)."""
    lines = list(_header(domain, entries))
    quoted_before: set[Reason] = set()  # findings quoted in full once, then named
    for action, title in _SECTIONS:
        chosen = [e for e in entries if e.action is action]
        if not chosen:
            continue
        if title:
            lines += ["", f"; ---- {title} ----"]
        for entry in chosen:
            lines += ["", *_block(entry, quoted_before)]
            quoted_before.update(entry.reasons)
    return "\n".join(lines) + "\n"


def _header(domain: str, entries: Sequence[Entry]) -> Iterator[str]:
    yield f"; Fix bundle for {domain}, from mxbot's checks: paste it into the {domain} zone."
    if not entries:
        yield "; Nothing to publish: no finding proposes a record."
        return
    yield "; Each record replaces what its comment names: for TXT only the record of that kind"
    yield "; (the SPF record, the DMARC record), for other types every record of that type there."


def _block(entry: Entry, quoted_before: set[Reason]) -> list[str]:
    lines = [
        f"; {r.code} ({r.status.value}): {'see above' if r in quoted_before else r.message}"
        for r in entry.reasons[:MAX_REASONS]
    ]
    left = len(entry.reasons) - MAX_REASONS
    if left > 0:
        lines.append(f"; and {left} more finding{'s' if left > 1 else ''}")
    if entry.action is not Action.ELSEWHERE:  # their zone: what is there is theirs to see
        lines.append(f"; {_replaces(entry)}")
    if entry.hint:
        lines.append(f"; {one_line(entry.hint)}")
    prefix = "" if entry.action is Action.PUBLISH else "; "
    lines += [prefix + r.zone_line for r in entry.records]
    return lines


def _replaces(entry: Entry) -> str:
    name = entry.name.rstrip(".")
    if entry.current:
        shown = [_shown(entry, value) for value in entry.current]
        count = (
            f"{len(shown)} {entry.kind} records" if len(shown) > 1 else f"the {entry.kind} record"
        )
        return f"replaces {count} at {name}: {', '.join(shown)}"
    if entry.new:
        return f"new: there is no {entry.kind} record at {name} today"
    if entry.type == "TXT":
        return f"replaces the {entry.kind} record at {name}"
    return f"replaces every {entry.type} record at {name}"


def _shown(entry: Entry, value: str) -> str:
    return quoted(value) if entry.type == "TXT" else one_line(value)
