"""DMARC policy discovery (RFC 9989 4.10): which _dmarc record covers <domain>, and which is its
organisational domain?

Discovery is the DNS tree walk (no public-suffix list): `_dmarc.<domain>`, then up the labels, at
most eight lookups. The same walk decides the organisational domain (psd=n, psd=y, or the record
with the fewest labels), which the DMARC check uses to decide whether a report address is external
and the BIMI check to find the organisation's records.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from checks.context import Context
from checks.dmarc.record import DmarcRecord, is_dmarc, looks_like_dmarc, parse
from checks.net.dns import Answer, Outcome

_MAX_WALK_LABELS = 7  # RFC 9989 4.10 step 5: long names jump straight to their last 7 labels


@dataclass(frozen=True, slots=True)
class DmarcPolicy:
    """The policy that covers a domain, as a receiver would find it; shared with the BIMI check."""

    domain: str  # the domain asked about
    source: str  # the domain whose _dmarc record was used
    record: DmarcRecord
    org_domain: str
    applied: str | None  # p, sp or np as it applies to `domain`; None: no DMARC processing
    from_psd: bool = False  # the record is a public-suffix-domain record (psd=y) above the domain

    @property
    def enforcing(self) -> bool:
        """quarantine/reject for the domain and its subdomains, not in test mode, pct 100 (RFC 7489)."""
        strong = ("quarantine", "reject")
        r = self.record
        return (
            self.applied in strong
            and r.policy in strong
            and r.subdomain_policy in strong
            and not r.testing
            and (r.pct is None or r.pct >= 100)
        )


@dataclass(frozen=True, slots=True)
class Level:
    """One step of the tree walk: the TXT answer at _dmarc.<name> and the DMARC record in it."""

    name: str
    answer: Answer
    candidates: tuple[str, ...]  # TXT strings that look like DMARC records (shown as evidence)
    versioned: tuple[str, ...]  # those that start with v=DMARC1 exactly (what receivers count)
    record: DmarcRecord | None  # exactly one versioned record, parsed

    @property
    def query(self) -> str:
        return f"_dmarc.{self.name}"


@dataclass(frozen=True, slots=True)
class Discovery:
    """The whole walk for one domain, and what a receiver makes of it."""

    domain: str
    levels: tuple[Level, ...]
    found: Level | None  # the level whose record receivers use
    failed: Level | None  # a lookup that failed before a record was found
    org_domain: str
    nonexistent: bool = False
    policy: DmarcPolicy | None = field(default=None)


def walk_names(domain: str) -> tuple[str, ...]:
    """The names RFC 9989 4.10 queries for `domain`, in order: at most 8, the TLD last."""
    labels = domain.rstrip(".").split(".")
    names = [".".join(labels)]
    count = len(labels) - 1 if len(labels) <= _MAX_WALK_LABELS else _MAX_WALK_LABELS
    names.extend(".".join(labels[-k:]) for k in range(count, 0, -1))
    return tuple(names)


async def discovery(ctx: Context) -> Discovery:
    """The tree walk for the target, memoised per report (shared by the DMARC and BIMI checks)."""
    return await ctx.once("dmarc", lambda: _discover(ctx))


async def policy(ctx: Context) -> DmarcPolicy | None:
    """The DMARC policy covering the target, memoised per report (None: none usable)."""
    return (await discovery(ctx)).policy


async def _walk(ctx: Context, domain: str) -> tuple[Level, ...]:
    names = walk_names(domain)
    answers = await asyncio.gather(*(ctx.dns.txt(f"_dmarc.{n}") for n in names))
    return tuple(_level(n, a) for n, a in zip(names, answers, strict=True))


def _level(name: str, answer: Answer) -> Level:
    texts = answer.texts() if answer.ok else ()
    candidates = tuple(t for t in texts if looks_like_dmarc(t))
    versioned = tuple(t for t in texts if is_dmarc(t))
    record = parse(versioned[0]) if len(versioned) == 1 else None
    return Level(name, answer, candidates, versioned, record)


def _org_domain(domain: str, levels: tuple[Level, ...]) -> str:
    """RFC 9989 4.10.1: psd=n marks it, psd=y marks the domain one label below, else fewest labels."""
    labels = domain.split(".")
    with_record = [lvl for lvl in levels if lvl.record is not None]
    for index, lvl in enumerate(levels):
        if lvl.record is None:
            continue
        if lvl.record.psd == "n":
            return lvl.name
        if lvl.record.psd == "y" and index > 0:
            return ".".join(labels[-(lvl.name.count(".") + 2) :])
    return with_record[-1].name if with_record else domain


async def org_domain(ctx: Context, domain: str) -> str:
    """The organisational domain of any `domain` (a report destination, say), by its own walk."""
    return _org_domain(domain, await _walk(ctx, domain))


async def _discover(ctx: Context) -> Discovery:
    domain = ctx.domain
    levels = await _walk(ctx, domain)
    found = failed = None
    for lvl in levels:
        if lvl.answer.failed:
            failed = lvl
            break
        if lvl.record is not None:
            found = lvl
            break
    org = _org_domain(domain, levels)
    if found is None or found.record is None:
        return Discovery(domain, levels, None, failed, org)
    record = found.record
    nonexistent = False
    if found.name == domain:
        applied = record.policy
    else:
        mx = await ctx.mx()
        nonexistent = mx.answer.outcome is Outcome.NXDOMAIN
        applied = record.nonexistent_policy if nonexistent else record.subdomain_policy
    from_psd = record.psd == "y" and found.name != domain
    pol = DmarcPolicy(domain, found.name, record, org, applied, from_psd)
    return Discovery(domain, levels, found, None, org, nonexistent, pol)
