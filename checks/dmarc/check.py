"""DMARC (RFC 9989, reports RFC 9990): which policy record covers <domain>, and does it stop spoofing?

Discovery (the RFC 9989 4.10 tree walk and the organisational domain) is `checks.dmarc.discovery`;
the record parser is `checks.dmarc.record`. What receivers make of the record in use is judged in
`checks.dmarc.tags` (tag values) and `checks.dmarc.enforcement` (policy strength); its report
addresses in `checks.dmarc.reports`; corrected records come from `checks.dmarc.suggestion`.
"""

from __future__ import annotations

import asyncio
from typing import Final

from checks.context import Context
from checks.dmarc.discovery import Discovery, DmarcPolicy, Level, discovery
from checks.dmarc.enforcement import policy_findings
from checks.dmarc.record import DmarcRecord, DmarcSyntaxError, parse
from checks.dmarc.reports import report_auth, report_delivery
from checks.dmarc.suggestion import suggest
from checks.dmarc.tags import tag_findings
from checks.model import DOMAIN, Fact, Finding, Status, with_facts

__all__ = [
    "ID",
    "SCOPE",
    "TITLE",
    "DmarcRecord",
    "DmarcSyntaxError",
    "parse",
    "run",
]

ID: Final = "dmarc"
TITLE: Final = "DMARC"
SCOPE: Final = DOMAIN


async def run(ctx: Context) -> list[Finding]:
    d = await discovery(ctx)
    findings = await _verdict(ctx, d)
    if d.failed is not None:
        return findings
    found = d.found
    seen = (  # record history: the record receivers use, where it was found ("" for none)
        Fact("dmarc.record", 0, found.query, found.versioned[0])
        if found is not None and found.versioned
        else Fact("dmarc.record", 0, d.levels[0].query, "")
    )
    return with_facts(findings, [seen])


async def _verdict(ctx: Context, d: Discovery) -> list[Finding]:
    own = d.levels[0]
    findings = _own_level(d, own)
    if d.failed is not None:
        return [*findings, _lookup_failed(d.failed)]
    if d.found is None or d.policy is None:
        if not findings:
            findings.append(_missing(d))
        return findings
    if d.policy.from_psd:
        return [*findings, _psd_only(d, d.policy)]
    if d.found is not own:
        findings.append(_inherited(d, d.policy))
    findings.extend(_judge(d.found, d.policy, d))
    auth, delivery = await asyncio.gather(
        report_auth(ctx, d.found, d.policy), report_delivery(ctx, d.found, d.policy)
    )
    findings.extend([*auth, *delivery])
    if not any(f.status.severity >= Status.WARN.severity for f in findings):
        findings.append(_ok(d.found, d.policy))
    return findings


def _own_level(d: Discovery, own: Level) -> list[Finding]:
    """Records at _dmarc.<domain> that receivers discard: several, or not starting with v=DMARC1."""
    if own.versioned and len(own.versioned) > 1:
        return [
            Finding(
                "dmarc.multiple",
                Status.FAIL,
                f"{own.query} has {len(own.versioned)} DMARC records, so receivers discard all of "
                "them" + _then(d) + ".",
                fix="Delete all but one DMARC record (merge them into the suggested one).",
                record=suggest(d.domain, parse(own.versioned[0])),
                evidence=own.candidates,
            )
        ]
    if own.versioned:
        return []
    findings = []
    for text in own.candidates:
        try:
            parse(text)
        except DmarcSyntaxError as exc:
            findings.append(
                Finding(
                    "dmarc.invalid",
                    Status.FAIL,
                    f"{own.query} has a record that is not a valid DMARC record ({exc}), so "
                    "receivers ignore it" + _then(d) + ".",
                    fix="Replace it with a record that starts with v=DMARC1.",
                    record=suggest(d.domain, _salvage(text), org=d.org_domain),
                    evidence=(text,),
                )
            )
    return findings


def _salvage(text: str) -> DmarcRecord | None:
    """The tags of a record with a broken or misplaced version tag, read as if it began with
    v=DMARC1 (so the suggested record keeps the policy the owner wrote, e.g. "p=reject; v=DMARC1")."""
    tags = [t for t in text.split(";") if t.partition("=")[0].strip().lower() != "v" and t.strip()]
    return parse("; ".join(["v=DMARC1", *(t.strip() for t in tags)]))


def _then(d: Discovery) -> str:
    if d.found is not None and d.found is not d.levels[0]:
        return f" and use the policy at {d.found.query} instead"
    if d.failed is None:
        return " and apply no DMARC policy"
    return ""


def _lookup_failed(level: Level) -> Finding:
    return Finding(
        "dmarc.lookup_failed",
        Status.ERROR,
        f"The DNS lookup of {level.query} failed ({level.answer.describe()}), so the DMARC "
        "policy cannot be determined; receivers may defer or skip DMARC for now.",
        fix="Check that the domain's name servers answer TXT queries; then run the check again.",
    )


def _missing(d: Discovery) -> Finding:
    asked = ", ".join(lvl.query for lvl in d.levels)
    return Finding(
        "dmarc.missing",
        Status.FAIL,
        f"There is no DMARC record for {d.domain} (asked {asked}), so receivers have no policy for "
        f"mail that fails SPF and DKIM: anyone can send as @{d.domain} and you get no reports.",
        fix="Publish a DMARC record with p=none and a rua address, read the reports, fix your "
        "senders, then move to p=quarantine and p=reject.",
        record=suggest(d.domain, None, org=d.org_domain),
    )


def _psd_only(d: Discovery, pol: DmarcPolicy) -> Finding:
    return Finding(
        "dmarc.psd_policy",
        Status.WARN,
        f"{d.domain} has no DMARC record of its own; receivers apply the public-suffix operator's "
        f"record at _dmarc.{pol.source} (psd=y), which gives it "
        f"{_show(pol.applied)}. You get no reports and cannot change that policy.",
        fix=f"Publish your own DMARC record at _dmarc.{d.org_domain}.",
        record=suggest(d.org_domain, None),
        evidence=(pol.record.text,),
    )


def _inherited(d: Discovery, pol: DmarcPolicy) -> Finding:
    tag = "np" if d.nonexistent else "sp"
    return Finding(
        "dmarc.inherited",
        Status.INFO,
        f"{d.domain} has no DMARC record of its own; receivers use the one at _dmarc.{pol.source} "
        f"(found by the DNS tree walk), and its {tag} policy gives {d.domain} "
        f"{_show(pol.applied)}.",
        evidence=(pol.record.text,),
    )


def _show(policy: str | None) -> str:
    return f"p={policy}" if policy else "no policy at all"


def _judge(level: Level, pol: DmarcPolicy, d: Discovery) -> list[Finding]:
    r = pol.record
    ev = (r.text,)
    out = [*tag_findings(level, r), *policy_findings(level, pol, d)]
    if not r.rua and r.policy is not None:
        out.append(
            Finding(
                "dmarc.rua_missing",
                Status.WARN,
                f"{level.query} has no rua address, so no receiver sends aggregate reports: you "
                "cannot see who sends mail as your domain, or what would break if you tighten p.",
                fix="Add a rua=mailto: address whose mailbox you read (or a DMARC report service).",
                record=suggest(level.name, r, org=d.org_domain),
                evidence=ev,
            )
        )
    return out


def _ok(level: Level, pol: DmarcPolicy) -> Finding:
    r = pol.record
    extra = f", sp={r.sp}" if r.sp else ""
    return Finding(
        "dmarc.ok",
        Status.PASS,
        f"{level.query} publishes p={r.policy}{extra}: receivers {_effect(pol.applied)} mail that "
        f"fails DMARC for {pol.domain}.",
        evidence=(r.text,),
    )


def _effect(policy: str | None) -> str:
    return {"reject": "reject", "quarantine": "quarantine (junk)"}.get(policy or "", "deliver")
