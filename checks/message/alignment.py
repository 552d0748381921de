"""DMARC for this message (RFC 9989 4.4, 4.10): do the SPF or DKIM identifiers that passed align
with the From domain, relaxed or strict as its record says, and so what will a receiver do?

The policy is found by RFC 9989 discovery (`checks.dmarc.discovery`, the DNS tree walk), and so
are the organisational domains relaxed alignment compares.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from checks.context import Context
from checks.dmarc.discovery import DmarcPolicy, discovery, org_domain
from checks.message.sender import Sender
from checks.message.signatures import Signature
from checks.model import Finding, Status

ID: Final = "dmarc_align"
TITLE: Final = "DMARC alignment"


@dataclass(frozen=True, slots=True)
class Alignment:
    """What DMARC makes of the message's identifiers."""

    from_domain: str
    policy: DmarcPolicy | None
    lookup_failed: bool = False
    dkim_domains: tuple[str, ...] = ()  # d= of the signatures that verified
    dkim_aligned: tuple[str, ...] = ()
    spf_domain: str = ""  # the SPF identity's domain, when SPF passed
    spf_aligned: bool = False
    strict_dkim: bool = False
    strict_spf: bool = False
    notes: tuple[str, ...] = field(default=())

    @property
    def passes(self) -> bool:
        return bool(self.dkim_aligned) or self.spf_aligned


async def evaluate(ctx: Context, signatures: Sequence[Signature], sender: Sender) -> Alignment:
    """`ctx` is a context whose target is the From domain."""
    from_domain = ctx.domain
    found = await discovery(ctx)
    policy = found.policy
    if policy is None:
        return Alignment(from_domain, None, lookup_failed=found.failed is not None)
    strict_dkim = policy.record.adkim == "s"
    strict_spf = policy.record.aspf == "s"
    org = policy.org_domain
    passing = tuple(dict.fromkeys(s.domain for s in signatures if s.passed))
    aligned = [d for d in passing if await _aligned(ctx, d, from_domain, org, strict=strict_dkim)]
    spf_domain = sender.domain if sender.spf_pass else ""
    spf_ok = bool(spf_domain) and await _aligned(
        ctx, spf_domain, from_domain, org, strict=strict_spf
    )
    return Alignment(
        from_domain,
        policy,
        dkim_domains=passing,
        dkim_aligned=tuple(aligned),
        spf_domain=spf_domain,
        spf_aligned=spf_ok,
        strict_dkim=strict_dkim,
        strict_spf=strict_spf,
    )


async def _aligned(ctx: Context, domain: str, from_domain: str, org: str, *, strict: bool) -> bool:
    domain, from_domain = domain.lower().rstrip("."), from_domain.lower().rstrip(".")
    if domain == from_domain:
        return True
    if strict:
        return False
    return await org_domain(ctx, domain) == org


def judge(a: Alignment) -> list[Finding]:
    if a.policy is None:
        if a.lookup_failed:
            return [
                Finding(
                    "dmarc_align.lookup_failed",
                    Status.ERROR,
                    f"The DMARC lookup for {a.from_domain} failed, so its policy is unknown.",
                )
            ]
        return [
            Finding(
                "dmarc_align.no_policy",
                Status.FAIL,
                f"{a.from_domain} publishes no DMARC record: receivers judge the message on their "
                "own, and Gmail, Yahoo and Microsoft refuse bulk mail from such domains.",
                fix=f"Publish _dmarc.{a.from_domain} with p=none and a rua= address, then tighten "
                "once the reports show every sender aligned.",
            )
        ]
    applied = a.policy.applied or "none"
    how = _identifiers(a)
    if a.passes:
        return [
            Finding(
                "dmarc_align.pass",
                Status.PASS,
                f"DMARC passes for {a.from_domain}: {how} (policy p={applied}).",
            )
        ]
    outcome = {
        "reject": "receivers that follow it reject the message",
        "quarantine": "receivers that follow it put the message in spam",
    }.get(
        applied,
        "the policy (none) asks receivers to deliver it anyway, but it counts against the sender",
    )
    return [
        Finding(
            "dmarc_align.fail",
            Status.FAIL if applied in ("reject", "quarantine") else Status.WARN,
            f"DMARC fails for {a.from_domain}: {how}. With p={applied}, {outcome}.",
            fix=_fix(a),
            evidence=(a.policy.record.text,),
        )
    ]


def _identifiers(a: Alignment) -> str:
    if a.dkim_aligned:
        dkim_text = f"DKIM d={a.dkim_aligned[0]} aligns ({_mode(a.strict_dkim)})"
    elif a.dkim_domains:
        dkim_text = f"DKIM passed only for d={', '.join(a.dkim_domains)}, which does not align ({_mode(a.strict_dkim)})"
    else:
        dkim_text = "no DKIM signature verified"
    if a.spf_aligned:
        spf_text = f"SPF for {a.spf_domain} aligns ({_mode(a.strict_spf)})"
    elif a.spf_domain:
        spf_text = f"SPF passed for {a.spf_domain}, which does not align ({_mode(a.strict_spf)})"
    else:
        spf_text = "SPF did not pass"
    return f"{dkim_text}; {spf_text}"


def _mode(strict: bool) -> str:
    return "strict" if strict else "relaxed"


def _fix(a: Alignment) -> str:
    if a.dkim_domains and not a.dkim_aligned:
        return (
            f"Have the sender sign with d={a.from_domain} (a custom DKIM domain at the email "
            "service), not its own domain."
        )
    if a.spf_domain and not a.spf_aligned:
        return (
            f"Use a Return-Path (bounce domain) under {a.from_domain} at the email service, or "
            f"sign with DKIM d={a.from_domain}."
        )
    return (
        f"Sign with DKIM for {a.from_domain} and list the sending server in its SPF record; "
        "either one passing and aligned is enough."
    )
