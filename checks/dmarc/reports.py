"""DMARC report destinations (RFC 9990): may an external rua/ruf address receive the reports
(the `<domain>._report._dmarc.<destination>` record, RFC 9990 3), and can it receive mail at all?"""

from __future__ import annotations

import asyncio

from checks.context import Context
from checks.dmarc.discovery import DmarcPolicy, Level, org_domain
from checks.dmarc.record import ReportUri, is_dmarc
from checks.model import Finding, Record, Status
from checks.net.dns import Answer, Outcome


async def report_auth(ctx: Context, level: Level, pol: DmarcPolicy) -> list[Finding]:
    """Report addresses at another organisation that has not agreed to receive them (RFC 9990 3)."""
    uris = [(tag, u) for tag, us in (("rua", pol.record.rua), ("ruf", pol.record.ruf)) for u in us]
    uris = [(tag, u) for tag, u in uris if u.domain]
    if not uris:
        return []
    own_org = await org_domain(ctx, level.name)
    hosts = list(dict.fromkeys(u.domain for _, u in uris))
    orgs = await asyncio.gather(*(org_domain(ctx, h) for h in hosts))
    external = [h for h, org in zip(hosts, orgs, strict=True) if org != own_org]
    answers = await asyncio.gather(*(ctx.dns.txt(_auth_name(level.name, h)) for h in external))
    by_host = dict(zip(external, answers, strict=True))
    out: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    for tag, uri in uris:
        answer = by_host.get(uri.domain)
        if answer is None or (tag, uri.domain) in seen:
            continue
        seen.add((tag, uri.domain))
        finding = _auth_finding(level, tag, uri, answer)
        if finding is not None:
            out.append(finding)
    return out


async def report_delivery(ctx: Context, level: Level, pol: DmarcPolicy) -> list[Finding]:
    """Report addresses at domains that cannot receive mail (RFC 9990 sends reports by mail)."""
    uris = [(tag, u) for tag, us in (("rua", pol.record.rua), ("ruf", pol.record.ruf)) for u in us]
    hosts = list(dict.fromkeys(u.domain for _, u in uris if u.scheme == "mailto" and u.domain))
    reasons = await asyncio.gather(*(_undeliverable(ctx, h) for h in hosts))
    out: list[Finding] = []
    for host, reason in zip(hosts, reasons, strict=True):
        if reason is None:
            continue
        tags = sorted({tag for tag, u in uris if u.domain == host}, key=("rua", "ruf").index)
        out.append(
            Finding(
                "dmarc.report_undeliverable",
                Status.WARN,
                f"{' and '.join(tags)} in {level.query} send reports to {host}, which {reason}, "
                "so the reports receivers send by mail (RFC 9990) are never delivered.",
                fix=f"Use a report address at a domain that receives mail, or give {host} "
                "an MX record.",
                evidence=(pol.record.text,),
            )
        )
    return out


async def _undeliverable(ctx: Context, host: str) -> str | None:
    """Why `host` cannot receive mail, or None if it can (or we could not tell)."""
    mx = await ctx.dns.query(host, "MX")
    if mx.outcome is Outcome.NXDOMAIN:
        return "does not exist (NXDOMAIN)"
    if mx.failed:
        return None
    if mx.ok:
        if all(t in ("", ".") for t in mx.targets()):
            return "publishes a null MX (RFC 7505): it accepts no mail"
        return None
    a, aaaa = await ctx.dns.addresses(host)  # no MX: the address is the implicit MX (RFC 5321 5.1)
    if a.failed or aaaa.failed or a.ok or aaaa.ok:
        return None
    return "has neither an MX record nor an address"


def _auth_name(policy_domain: str, host: str) -> str:
    return f"{policy_domain}._report._dmarc.{host}"


def _auth_finding(level: Level, tag: str, uri: ReportUri, answer: Answer) -> Finding | None:
    name = _auth_name(level.name, uri.domain)
    if answer.failed:
        return Finding(
            "dmarc.report_auth_lookup_failed",
            Status.ERROR,
            f"Could not look up {name} to see whether {uri.domain} accepts DMARC reports for "
            f"{level.name}: {answer.describe()}.",
        )
    if answer.ok and any(is_dmarc(t) for t in answer.texts()):
        return None
    kind = "aggregate" if tag == "rua" else "failure"
    return Finding(
        f"dmarc.{tag}_unauthorized",
        Status.FAIL,
        f"{tag}={uri.uri} sends {kind} reports to another organisation ({uri.domain}), which has "
        f"not published {name} (or *._report._dmarc.{uri.domain}) to accept them, so receivers "
        "will not send those reports (RFC 9990 3).",
        fix=f"Ask the operator of {uri.domain} to publish this record, or use an address at "
        f"your own domain.",
        record=Record(f"{name}.", "TXT", '"v=DMARC1"'),
        evidence=(level.record.text,) if level.record else (),
    )
