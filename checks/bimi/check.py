"""BIMI (draft-brand-indicators-for-message-identification): is a brand logo published, and can it show?

The assertion record lives at `default._bimi.<domain>` (falling back to the organisational domain);
mailbox providers show the logo only when DMARC is at enforcement, and Gmail and Apple Mail also
want a mark certificate (VMC or CMC) at `a=`. The record is parsed by `checks.bimi.record`. Like a
mailbox provider, the check then fetches the logo (`l=`) and the evidence document (`a=`) with the
process-wide HTTPS client (`checks.bimi.fetch`) and judges them (`checks.bimi.logo`): SVG Tiny PS,
size, and the certificate's BIMI EKU, names and dates. The certificate chain is not verified
against a BIMI root list (we do not ship one).
"""

from __future__ import annotations

import re
from typing import Final

from checks.bimi.fetch import fetch_and_judge
from checks.bimi.record import BimiRecord, BimiSyntaxError, is_https, parse
from checks.context import Context
from checks.dmarc import discovery as dmarc_discovery
from checks.model import DOMAIN, Finding, Record, Status
from checks.net.dns import Answer

__all__ = ["ID", "SCOPE", "TITLE", "BimiRecord", "BimiSyntaxError", "parse", "run"]

ID: Final = "bimi"
TITLE: Final = "BIMI"
SCOPE: Final = DOMAIN

_SELECTOR: Final = (
    "default"  # the draft's default selector; others come from a BIMI-Selector header
)
_LOOKS_LIKE_BIMI = re.compile(r"\s*v\s*=\s*bimi", re.IGNORECASE)


async def run(ctx: Context) -> list[Finding]:
    name = f"{_SELECTOR}._bimi.{ctx.domain}"
    answer = await ctx.dns.txt(name)
    if not answer.failed and not _records(answer):
        org = await dmarc_discovery.org_domain(ctx, ctx.domain)
        if org != ctx.domain:  # the draft's fallback to the organisational domain
            fallback = await ctx.dns.txt(f"{_SELECTOR}._bimi.{org}")
            if fallback.failed or _records(fallback):
                name, answer = f"{_SELECTOR}._bimi.{org}", fallback
    if answer.failed:
        return [
            Finding(
                "bimi.lookup_failed",
                Status.ERROR,
                f"The DNS lookup of {name} failed ({answer.describe()}), so BIMI cannot be checked.",
            )
        ]
    texts = _records(answer)
    if not texts:
        return [_missing(ctx.domain)]
    if len(texts) > 1:
        return [
            Finding(
                "bimi.multiple",
                Status.FAIL,
                f"{name} has {len(texts)} BIMI records, so mailbox providers ignore all of them "
                "and show no logo.",
                fix="Keep exactly one BIMI record.",
                evidence=texts,
            )
        ]
    try:
        record = parse(texts[0])
    except BimiSyntaxError as exc:
        return [
            Finding(
                "bimi.invalid",
                Status.FAIL,
                f"The BIMI record at {name} is not valid ({exc}), so no logo is shown.",
                fix="Publish the record as v=BIMI1; l=https://...svg; a=https://...pem",
                record=Record(f"{name}.", "TXT", _example(ctx.domain)),
                evidence=texts,
            )
        ]
    return await _judge(ctx, name, record)


def _records(answer: Answer) -> tuple[str, ...]:
    return tuple(t for t in answer.texts() if _LOOKS_LIKE_BIMI.match(t)) if answer.ok else ()


def _example(domain: str) -> str:
    return f'"v=BIMI1; l=https://{domain}/bimi/logo.svg; a=https://{domain}/bimi/vmc.pem"'


def _missing(domain: str) -> Finding:
    return Finding(
        "bimi.missing",
        Status.INFO,
        f"{domain} publishes no BIMI record (optional: it shows your logo next to your mail in "
        "supporting mailbox providers, once DMARC is at enforcement).",
        fix="If you want the logo shown, publish an SVG Tiny PS logo and a BIMI record.",
        record=Record(f"{_SELECTOR}._bimi.{domain}.", "TXT", _example(domain)),
    )


async def _judge(ctx: Context, name: str, record: BimiRecord) -> list[Finding]:
    ev = (record.text,)
    if record.declined:
        return [
            Finding(
                "bimi.declined",
                Status.INFO,
                f"{name} is a declination record (empty l= and a=): the domain asks mailbox "
                "providers to show no logo.",
                evidence=ev,
            )
        ]
    findings = _locations(name, record)
    findings += [
        Finding(
            "bimi.unknown_tag",
            Status.INFO,
            f"{name} has a tag BIMI does not define ({tag}=); mailbox providers ignore it.",
            evidence=ev,
        )
        for tag in record.unknown
    ]
    findings += await _dmarc_ready(ctx)
    findings += await fetch_and_judge(ctx, name, record)
    if not any(f.status.severity >= Status.WARN.severity for f in findings):
        findings.append(
            Finding(
                "bimi.ok",
                Status.PASS,
                f"{name} points at the logo {record.logos[0]}, and DMARC is at enforcement.",
                evidence=ev,
            )
        )
    return findings


def _locations(name: str, record: BimiRecord) -> list[Finding]:
    ev = (record.text,)
    out: list[Finding] = []
    bad = [u for u in record.logos if not is_https(u)]
    if bad or not record.logos:
        shown = ", ".join(bad) if bad else "(empty)"
        out.append(
            Finding(
                "bimi.logo_not_https",
                Status.FAIL,
                f"The logo location l={shown} in {name} is not an https:// URL, so mailbox "
                "providers will not fetch the logo.",
                fix="Serve the SVG Tiny PS logo over HTTPS and put its https:// URL in l=.",
                evidence=ev,
            )
        )
    if record.evidence and not is_https(record.evidence):
        out.append(
            Finding(
                "bimi.evidence_not_https",
                Status.FAIL,
                f"The certificate location a={record.evidence} in {name} is not an https:// URL, "
                "so mailbox providers ignore it.",
                fix="Serve the VMC/CMC PEM file over HTTPS and put its https:// URL in a=.",
                evidence=ev,
            )
        )
    elif not record.evidence:
        out.append(
            Finding(
                "bimi.no_evidence",
                Status.INFO,
                f"{name} has no a= (mark certificate): Gmail and Apple Mail show BIMI logos only "
                "with a Verified Mark Certificate or Common Mark Certificate; some other providers "
                "show it without one.",
                fix="To get the logo shown in Gmail and Apple Mail, obtain a VMC or CMC and "
                "publish its https:// URL in a=.",
                evidence=ev,
            )
        )
    return out


async def _dmarc_ready(ctx: Context) -> list[Finding]:
    pol = await dmarc_discovery.policy(ctx)
    if pol is not None and pol.enforcing:
        return []
    why = _not_enforcing(pol) or "the policy is not quarantine or reject"
    return [
        Finding(
            "bimi.dmarc_not_enforced",
            Status.WARN,
            f"DMARC for {ctx.domain} is not at enforcement ({why}), so mailbox providers will not "
            "show the BIMI logo.",
            fix="Move DMARC to p=quarantine or p=reject for the domain and its subdomains, "
            "without t=y (and without pct below 100); see the DMARC check.",
            evidence=(pol.record.text,) if pol else (),
        )
    ]


def _not_enforcing(pol: dmarc_discovery.DmarcPolicy | None) -> str:
    """Why the policy does not count as enforcement for BIMI; "" when it does."""
    if pol is None or pol.record.policy is None:
        return "there is no usable DMARC record"
    r = pol.record
    strong = ("quarantine", "reject")
    reasons = []
    if r.policy not in strong:
        reasons.append(f"p={r.policy}")
    if r.subdomain_policy not in strong:
        reasons.append(f"sp={r.subdomain_policy}")
    if pol.applied not in strong and pol.source != pol.domain and not reasons:
        reasons.append(f"the policy that applies to {pol.domain} is {pol.applied}")
    if r.testing:
        reasons.append("t=y")
    if r.pct is not None and r.pct < 100:
        reasons.append(f"pct={r.pct}, which RFC 7489 receivers honour")
    return ", ".join(reasons)
