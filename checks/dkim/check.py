"""DKIM (RFC 6376, RFC 8301, RFC 8463): are the domain's public keys published, usable and strong?

Selectors cannot be listed, so without `--selector` we probe the ones the big providers use and
report what we find; finding none is information, never a failure. RFC 8020 lets us stop early:
NXDOMAIN at `_domainkey.<domain>` means no name below it, so no selector, can exist.
"""

from __future__ import annotations

import asyncio
from typing import Final

from checks.context import Context
from checks.dkim.key import DkimKey, DkimSyntaxError, parse
from checks.dkim.selectors import CANARY, COMMON_SELECTORS, UNGUESSABLE, Probe, probe, unless_noise
from checks.dkim.verdict import judge
from checks.model import DOMAIN, Fact, Finding, Status, with_facts
from checks.net.dns import Answer, Outcome

__all__ = ["ID", "SCOPE", "TITLE", "DkimKey", "DkimSyntaxError", "parse", "run"]

ID: Final = "dkim"
TITLE: Final = "DKIM"
SCOPE: Final = DOMAIN


async def run(ctx: Context) -> list[Finding]:
    parent_name = f"_domainkey.{ctx.domain}"
    explicit = ctx.options.selectors
    if explicit:
        parent, probes = await asyncio.gather(
            ctx.dns.txt(parent_name), probe(ctx, tuple(s.lower() for s in explicit))
        )
        findings = [f for p in probes for f in _explicit(p)]
        if (
            parent.outcome is Outcome.NXDOMAIN
            and not parent.cnames
            and any(p.answer.ok for p in probes)
        ):
            findings.append(_nxdomain_parent(parent_name))
        return with_facts(findings, _keys(probes, explicit=True))
    parent = await ctx.dns.txt(parent_name)
    if parent.outcome is Outcome.NXDOMAIN and not parent.cnames:
        return [
            Finding(
                "dkim.no_domainkey",
                Status.INFO,
                f"{parent_name} does not exist (NXDOMAIN), so no DKIM selector can exist below it "
                "(RFC 8020); no selectors were probed. Mail from this domain is not DKIM-signed "
                "with its own domain.",
                fix="If you send mail, publish the DKIM key your provider gives you.",
            )
        ]
    canary, probes = await asyncio.gather(
        ctx.dns.txt(f"{CANARY}.{parent_name}"),
        probe(ctx, tuple(s for s, _ in COMMON_SELECTORS)),
    )
    kept = [unless_noise(p, canary) for p in probes]
    notes = [_wildcard(canary)] if canary.ok else []
    return with_facts(notes + _summarise(kept), _keys(kept, explicit=False))


def _keys(probes: list[Probe], *, explicit: bool) -> list[Fact]:
    """Record history: each key record found by selector; a named selector that answered with
    nothing is "" (definitely none), a guessed one is left out."""
    return [
        Fact("dkim.key", 0, p.selector, "\n".join(sorted(p.answer.texts())))
        for p in probes
        if p.answer.ok or (explicit and not p.answer.failed)
    ]


def _wildcard(canary: Answer) -> Finding:
    shown = "; ".join(canary.texts())[:120]
    return Finding(
        "dkim.wildcard",
        Status.INFO,
        f"{canary.name} answers although no one publishes that selector: a wildcard TXT record "
        f'covers every name there ("{shown}"). Selectors answering exactly the same were not '
        "counted as DKIM keys.",
        fix="If the wildcard is not meant to cover _domainkey, narrow it; explicit selector "
        "records are unaffected.",
        evidence=canary.texts(),
    )


def _explicit(p: Probe) -> list[Finding]:
    if p.answer.failed:
        return [_lookup_failed(p)]
    if not p.answer.ok:
        via = f" (the CNAME chain {p.chain} ends nowhere)" if p.answer.cnames else ""
        return [
            Finding(
                "dkim.selector_missing",
                Status.FAIL,
                f"There is no DKIM key at {p.name}{via}: {p.answer.describe()}. Mail signed with "
                f"s={p.selector} fails DKIM everywhere.",
                fix="Publish the key your mail provider or signing server gives for this selector.",
                evidence=p.answer.cnames,
            )
        ]
    return judge(p, explicit=True)


def _summarise(probes: list[Probe]) -> list[Finding]:
    found = [p for p in probes if p.answer.ok]
    failed = [p for p in probes if p.answer.failed]
    findings = [f for p in found for f in judge(p, explicit=False)]
    findings += [
        _dangling(p) for p in probes if p.answer.cnames and not p.answer.ok and not p.answer.failed
    ]
    if found:
        return findings
    if failed:
        names = ", ".join(p.name for p in failed[:5]) + (" …" if len(failed) > 5 else "")
        return [
            *findings,
            Finding(
                "dkim.lookup_failed",
                Status.ERROR,
                f"No DKIM key was found, but {len(failed)} selector lookups failed ({names}: "
                f"{failed[0].answer.describe()}), so the search is incomplete.",
            ),
        ]
    tried = ", ".join(p.selector for p in probes)
    return [
        *findings,
        Finding(
            "dkim.none_found",
            Status.INFO,
            f"No DKIM key was found at the {len(probes)} common selectors ({tried}). Selectors "
            "cannot be listed, so this does not mean mail is unsigned; "
            + "; ".join(UNGUESSABLE)
            + " cannot be guessed.",
            fix="Look at the s= tag of the DKIM-Signature header in a message you sent, and run "
            "the check with that selector.",
        ),
    ]


def _lookup_failed(p: Probe) -> Finding:
    return Finding(
        "dkim.lookup_failed",
        Status.ERROR,
        f"The DNS lookup of {p.name} failed ({p.answer.describe()}), so the key cannot be checked.",
    )


def _dangling(p: Probe) -> Finding:
    return Finding(
        "dkim.cname_dangling",
        Status.WARN,
        f"{p.name} is a CNAME that leads nowhere ({p.chain}: {p.answer.describe()}); the provider "
        "no longer publishes that key, so mail still signed with it fails DKIM.",
        fix=f"Remove the CNAME at {p.name} if you no longer use that provider, or re-enable DKIM "
        "in the provider's settings.",
        evidence=p.answer.cnames,
    )


def _nxdomain_parent(name: str) -> Finding:
    return Finding(
        "dkim.domainkey_nxdomain",
        Status.WARN,
        f"{name} answers NXDOMAIN although a selector below it exists; resolvers that follow RFC "
        "8020 then treat every selector as missing, and DKIM fails for them.",
        fix="Fix the DNS server (an empty non-terminal must answer NOERROR without data, not "
        "NXDOMAIN), or move the zone to a provider that does.",
    )
