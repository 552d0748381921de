"""DMARC enforcement (RFC 9989): does the policy in use stop spoofed mail from <domain> and below?"""

from __future__ import annotations

from checks.dmarc.discovery import Discovery, DmarcPolicy, Level
from checks.dmarc.record import POLICIES
from checks.dmarc.suggestion import suggest
from checks.model import Finding, Status


def _weaker(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and POLICIES.index(a) < POLICIES.index(b)


def policy_findings(level: Level, pol: DmarcPolicy, d: Discovery) -> list[Finding]:
    """The ways spoofed mail still gets through: p=none, test mode, a weaker sp or np."""
    r = pol.record
    ev = (r.text,)
    out: list[Finding] = []
    name = level.name
    if pol.applied == "none":
        if level.name != d.domain:
            where = f"the policy inherited from {level.query} is none for {d.domain}"
        elif "p" not in r.tags:
            where = f"{level.query} has no p tag, which receivers read as p=none (RFC 9989 4.7)"
        else:
            where = f"{level.query} {'says' if r.p == 'none' else 'is read as'} p=none"
        out.append(
            Finding(
                "dmarc.policy_none",
                Status.WARN,
                f"{where}: receivers deliver mail that fails DMARC as usual, so anyone can still "
                f"send mail with a From: address at {d.domain}; only your reports will show it.",
                fix="Once reports show all your own mail passing, change to p=quarantine, then "
                "p=reject.",
                record=suggest(
                    name,
                    r,
                    p=r.p if r.p in ("quarantine", "reject") else "quarantine",
                    sp="" if r.sp == "none" else None,
                    np="" if r.np == "none" else None,
                ),
                evidence=ev,
            )
        )
    if r.testing:
        out.append(
            Finding(
                "dmarc.testing",
                Status.WARN,
                f"{level.query} has t=y (test mode): receivers are asked not to apply "
                f"p={r.policy} in full (RFC 9989 5.3; like pct=0 in RFC 7489), so mail spoofing "
                f"{d.domain} is at most handled one level more gently and may reach inboxes.",
                fix="Remove t=y once the reports show your own mail passing.",
                record=suggest(name, r, t=False),
                evidence=ev,
            )
        )
    if r.sp and name != d.org_domain:
        out.append(
            Finding(
                "dmarc.sp_ignored",
                Status.INFO,
                f"{level.query} sets sp={r.sp}, but receivers read sp only in the organisational "
                f"domain's record (_dmarc.{d.org_domain}); here it has no effect, and names below "
                f"{name} that find this record get p={r.policy} (RFC 9989 4.7, 4.10).",
                fix=f"Remove sp= here; set it in _dmarc.{d.org_domain} if that is what you meant.",
                evidence=ev,
            )
        )
    elif r.sp and _weaker(r.sp, r.policy):
        np_note = (
            " and from names that do not exist (np is not set, so sp applies to them too)"
            if r.np is None
            else ""
        )
        out.append(
            Finding(
                "dmarc.subdomain_policy_weaker",
                Status.WARN,
                f"{level.query} has p={r.policy} but sp={r.sp}: mail that fails DMARC from any "
                f"subdomain (From: someone@anything.{name}){np_note} gets only sp={r.sp}, so a "
                f"spoofer can use a subdomain instead of {name} itself.",
                fix="Remove sp= (subdomains then follow p) or raise it to match p.",
                record=suggest(name, r, sp=""),
                evidence=ev,
            )
        )
    if r.np and _weaker(r.np, r.policy):
        out.append(
            Finding(
                "dmarc.nonexistent_policy_weaker",
                Status.WARN,
                f"{level.query} has p={r.policy} but np={r.np}: mail from subdomains that do not "
                f"even exist (From: x@made-up.{name}) gets only np={r.np}, so a spoofer can invent "
                "one.",
                fix="Remove np= or raise it to match p (no real mail comes from non-existent names).",
                record=suggest(name, r, np=""),
                evidence=ev,
            )
        )
    return out
