"""Record history (pure): the record values a run saw, and their changes as a digest and
`/mx history` show them.

A run's `Observation` is read from the report's text facts (`checks.model.TEXT_FACTS`: the MX
set, SPF, DMARC, DKIM keys, MTA-STS, TLS-RPT, TLSA, the certificate's fingerprint) and the
certificate's notAfter (`tls.not_after`, kept as its date). The store keeps one row per value
for as long as it lasts (first and last seen), so only changes take room; a `Change` is a value
and the one it replaced. A record with a subject (a DKIM selector, an MX host) that a run no
longer sees, when its check ran without an error, is recorded as gone ("").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

from bot.render.blocks import context_block, escape, section_block
from checks.model import TEXT_FACTS, Report, Status

DEFAULT_KEEP: Final = timedelta(days=400)  # MXBOT_HISTORY_DAYS
MAX_VALUE: Final = 160  # characters of one value in a line
MAX_SECTION: Final = 3000  # Block Kit's section text
MAX_SECTIONS: Final = 20
MAX_LISTED: Final = 60  # changes `/mx history` lists
EXPIRY: Final = "tls.expiry"  # the certificate's notAfter, as a date (from `tls.not_after`)
LABELS: Final = {  # display order
    "mx.set": "MX",
    "spf.record": "SPF",
    "dmarc.record": "DMARC",
    "dkim.key": "DKIM key",
    "mta_sts.id": "MTA-STS id",
    "mta_sts.policy": "MTA-STS policy",
    "tls_rpt.record": "TLS-RPT",
    "dane.tlsa": "TLSA",
    "tls.fingerprint": "certificate",
    EXPIRY: "certificate expiry",
}
_CHECK_OF: Final = {kind: kind.partition(".")[0] for kind in LABELS}


@dataclass(frozen=True, slots=True)
class Seen:
    """One record value a run saw: `kind` is a text fact's name, `subject` its selector or host."""

    kind: str
    subject: str
    value: str


@dataclass(frozen=True, slots=True)
class Observation:
    """What one run saw of a domain, and which kinds it saw whole (their checks ran without an
    error), so a subject missing from them is gone rather than unknown."""

    seen: tuple[Seen, ...]
    complete: frozenset[str]


@dataclass(frozen=True, slots=True)
class Change:
    """A record's new value and the one before it (None: the first value recorded)."""

    domain: str
    kind: str
    subject: str
    before: str | None
    after: str
    at: datetime  # when the new value was first seen


def observe(report: Report) -> Observation:
    """The record values in a finished report."""
    seen: dict[tuple[str, str], Seen] = {}
    for result in report.results:
        for fact in result.facts:
            if fact.name in TEXT_FACTS:
                seen[(fact.name, fact.subject)] = Seen(fact.name, fact.subject, fact.text)
            elif fact.name == "tls.not_after":
                when = datetime.fromtimestamp(fact.value, UTC)
                seen[(EXPIRY, fact.subject)] = Seen(EXPIRY, fact.subject, stamp(when))
    clean = {r.id for r in report.results if r.status is not Status.ERROR}
    complete = frozenset(kind for kind, check in _CHECK_OF.items() if check in clean)
    return Observation(tuple(seen.values()), complete)


def label(kind: str, subject: str) -> str:
    """ "SPF", "DKIM key s1", "certificate mx1.example.com" (escaped)."""
    name = LABELS.get(kind, kind)
    return escape(f"{name} {subject}" if subject else name)


def shown(value: str | None) -> str:
    """A value for a Slack line: escaped, one line, shortened; "(none)" for nothing."""
    if not value:
        return "_(none)_"
    text = " · ".join(line.strip() for line in value.splitlines() if line.strip())
    text = escape(text)
    if len(text) > MAX_VALUE:
        cut = text[: MAX_VALUE - 1]
        if cut.rfind("&") > cut.rfind(";"):  # never inside an entity
            cut = cut[: cut.rfind("&")]
        text = cut + "…"
    return f"`{text}`"


def line(change: Change, *, with_domain: bool) -> str:
    """One change: "*example.com* SPF: `old` → `new`" (or "first seen: `value`")."""
    where = f"*{escape(change.domain)}* " if with_domain else ""
    if change.before is None:
        return f"{where}{label(change.kind, change.subject)} first seen: {shown(change.after)}"
    return (
        f"{where}{label(change.kind, change.subject)}: "
        f"{shown(change.before)} → {shown(change.after)}"
    )


def ordered(changes: Sequence[Change]) -> list[Change]:
    """Oldest first, then in display order."""
    rank = {kind: index for index, kind in enumerate(LABELS)}
    return sorted(changes, key=lambda c: (c.at, c.domain, rank.get(c.kind, 99), c.subject))


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


class HistoryBox(Protocol):
    """What digests and alerts need of record history (`bot.store.history.RecordHistory`)."""

    async def record(
        self, team_id: str, domain: str, observation: Observation, *, now: datetime
    ) -> list[Change]: ...

    async def changes(
        self, team_id: str, domains: Sequence[str], *, since: datetime
    ) -> list[Change]: ...


def render_history(
    domain: str, changes: Sequence[Change], *, keep: timedelta, more: bool = False
) -> dict[str, Any]:
    """`/mx history example.com`: the changes, newest first, each dated; within Slack's limits
    (sections of at most 3000 characters, at most 20 of them)."""
    name = escape(domain)
    if not changes:
        text = (
            f"No record history for *{name}* yet: it is kept for watched domains, from their "
            "first digest or alert check on."
        )
        return {"text": text, "blocks": [section_block(text)]}
    lines = [f"• {stamp(c.at)} · {line(c, with_domain=False)}" for c in changes]
    head = f"*Record history of {name}* (newest first)"
    sections = _pack([head, *lines])[:MAX_SECTIONS]
    tail = f"Kept for {keep.days} days (`MXBOT_HISTORY_DAYS`)"
    if more:
        tail += f"; only the latest {len(changes)} changes are shown"
    blocks = [section_block(s) for s in sections] + [context_block(tail)]
    return {"text": f"Record history of {name}: {len(changes)} changes", "blocks": blocks}


def _pack(lines: Sequence[str]) -> list[str]:
    packed: list[str] = []
    for text in lines:
        text = text[:MAX_SECTION]
        if packed and len(packed[-1]) + 1 + len(text) <= MAX_SECTION:
            packed[-1] += "\n" + text
        else:
            packed.append(text)
    return packed
