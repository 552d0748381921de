"""DMARC (RFC 9989, reports RFC 9990): which policy record covers <domain>, and does it stop spoofing?

Discovery (the RFC 9989 4.10 tree walk and the organisational domain) is `checks.dmarc.discovery`;
the record parser is `checks.dmarc.record`. An external report address needs the
`<domain>._report._dmarc.<destination>` authorisation record (RFC 9990 3).
"""

from __future__ import annotations

import asyncio
from typing import Final

from checks.context import Context
from checks.dmarc.discovery import Discovery, DmarcPolicy, Level, discovery, org_domain
from checks.dmarc.record import (
    POLICIES,
    DmarcRecord,
    DmarcSyntaxError,
    ReportUri,
    is_dmarc,
    parse,
)
from checks.model import DOMAIN, Finding, Record, Status
from checks.net.dns import Answer, Outcome

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
        _report_auth(ctx, d.found, d.policy), _report_delivery(ctx, d.found, d.policy)
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
                record=_suggest(d.domain, parse(own.versioned[0])),
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
                    record=_suggest(d.domain, _salvage(text), org=d.org_domain),
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
        record=_suggest(d.domain, None, org=d.org_domain),
    )


def _psd_only(d: Discovery, pol: DmarcPolicy) -> Finding:
    return Finding(
        "dmarc.psd_policy",
        Status.WARN,
        f"{d.domain} has no DMARC record of its own; receivers apply the public-suffix operator's "
        f"record at _dmarc.{pol.source} (psd=y), which gives it "
        f"{_show(pol.applied)}. You get no reports and cannot change that policy.",
        fix=f"Publish your own DMARC record at _dmarc.{d.org_domain}.",
        record=_suggest(d.org_domain, None),
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
    out = [*_tag_findings(level, r), *_policy_findings(level, pol, d)]
    if not r.rua and r.policy is not None:
        out.append(
            Finding(
                "dmarc.rua_missing",
                Status.WARN,
                f"{level.query} has no rua address, so no receiver sends aggregate reports: you "
                "cannot see who sends mail as your domain, or what would break if you tighten p.",
                fix="Add a rua=mailto: address whose mailbox you read (or a DMARC report service).",
                record=_suggest(level.name, r, org=d.org_domain),
                evidence=ev,
            )
        )
    return out


def _tag_findings(level: Level, r: DmarcRecord) -> list[Finding]:
    out: list[Finding] = []
    ev = (r.text,)
    for prob in r.problems:
        if prob.tag == "p" and "p" not in r.tags and r.policy == "none":
            # RFC 9989 4.7: p is RECOMMENDED, not required; a record without it (and with a rua
            # address, 4.10) is read as p=none, which the policy_none finding already explains.
            continue
        if prob.tag in r.invalid_policy_tags or (prob.tag == "p" and r.p is None):
            consequence = (
                "receivers treat the whole record as p=none (it has a rua address)"
                if r.policy == "none"
                else "receivers apply no DMARC policy at all"
            )
            out.append(
                Finding(
                    "dmarc.policy_invalid",
                    Status.FAIL,
                    f"In {level.query}, {prob.tag}={prob.value} {prob.reason}, so {consequence}."
                    if prob.value
                    else f"In {level.query}, {prob.tag} {prob.reason}, so {consequence}.",
                    fix=f"Set {prob.tag} to none, quarantine or reject.",
                    record=_suggest(level.name, r),
                    evidence=ev,
                )
            )
        else:
            out.append(
                Finding(
                    "dmarc.tag_invalid",
                    Status.WARN,
                    f"In {level.query}, {prob.tag}={prob.value} {prob.reason}"
                    + (
                        "."
                        if "receivers" in prob.reason
                        else "; receivers ignore that value and use the default."
                    ),
                    fix="Correct or remove the tag.",
                    record=_suggest(level.name, r),
                    evidence=ev,
                )
            )
    for tag in r.unknown:
        out.append(
            Finding(
                "dmarc.unknown_tag",
                Status.INFO,
                f"{level.query} has a tag that DMARC does not define ({tag}={r.tags[tag]}); "
                "receivers ignore it.",
                fix=f"Remove {tag}= unless a typo hides a real tag.",
                evidence=ev,
            )
        )
    out.extend(_removed(level, r, tag) for tag in r.removed)
    return out


def _removed(level: Level, r: DmarcRecord, tag: str) -> Finding:
    value = r.tags[tag]
    if tag == "pct":
        lower = {"reject": "quarantine", "quarantine": "none"}.get(r.policy or "", "none")
        if r.pct is None or r.pct >= 100:
            meaning = "pct=100 is the old default and changes nothing."
        elif r.policy in (None, "none"):
            meaning = "With p=none there is nothing to apply partially, so it changes nothing."
        elif r.pct == 0:
            meaning = (
                f"Receivers still on RFC 7489 apply the next lower policy (p={lower}) to all "
                f"failing mail instead of p={r.policy}; RFC 9989 receivers ignore pct and apply "
                "the policy in full (use t=y for a test phase)."
            )
        else:
            meaning = (
                f"Receivers still on RFC 7489 apply p={r.policy} to only {r.pct}% of failing mail "
                f"and p={lower} to the rest; RFC 9989 receivers ignore pct and apply the policy "
                "to all of it."
            )
    elif tag == "rf":
        meaning = "It chose the failure-report format; RFC 9989 receivers ignore it (AFRF is the only format)."
    else:
        meaning = (
            "It asked for an aggregate report interval; RFC 9989 receivers ignore it and send "
            "reports at least daily (RFC 9990)."
        )
    return Finding(
        "dmarc.removed_tag",
        Status.INFO,
        f"{level.query} uses {tag}={value}, a tag RFC 9989 removed. {meaning}",
        fix=f"Remove {tag}= once you no longer rely on RFC 7489 receivers honouring it.",
        evidence=(r.text,),
    )


def _weaker(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and POLICIES.index(a) < POLICIES.index(b)


def _policy_findings(level: Level, pol: DmarcPolicy, d: Discovery) -> list[Finding]:
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
                record=_suggest(
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
                record=_suggest(name, r, t=False),
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
                record=_suggest(name, r, sp=""),
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
                record=_suggest(name, r, np=""),
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


# ---- report destinations (RFC 9990 3) -----------------------------------------------------------


async def _report_auth(ctx: Context, level: Level, pol: DmarcPolicy) -> list[Finding]:
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


async def _report_delivery(ctx: Context, level: Level, pol: DmarcPolicy) -> list[Finding]:
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


# ---- suggested records --------------------------------------------------------------------------


def _suggest(
    name: str,
    r: DmarcRecord | None,
    *,
    org: str = "",
    p: str | None = None,
    sp: str | None = None,
    np: str | None = None,
    t: bool | None = None,
) -> Record:
    """A corrected record for _dmarc.<name>: valid tags kept, removed and bad ones dropped.

    Keyword arguments override a tag; an empty string removes it.
    """
    parts = ["v=DMARC1", f"p={p or (r.policy if r else None) or 'none'}"]
    chosen = {"sp": sp if sp is not None else r.sp if r else None}
    chosen["np"] = np if np is not None else r.np if r else None
    parts += [f"{k}={v}" for k, v in chosen.items() if v]
    if r is not None:
        parts += [f"{k}={getattr(r, k)}" for k in ("adkim", "aspf") if getattr(r, k) == "s"]
        if r.testing if t is None else t:
            parts.append("t=y")
        if r.psd != "u":
            parts.append(f"psd={r.psd}")
    rua = [u.uri for u in r.rua if u.domain] if r else []
    parts.append("rua=" + ",".join(rua or [f"mailto:dmarc-reports@{org or name}"]))
    if r is not None and any(u.domain for u in r.ruf):
        parts.append("ruf=" + ",".join(u.uri for u in r.ruf if u.domain))
        if r.fo != ("0",):
            parts.append("fo=" + ":".join(r.fo))
    return Record(f"_dmarc.{name}.", "TXT", _quote("; ".join(parts)))


def _quote(text: str) -> str:
    """TXT presentation: 255-byte strings, quotes and backslashes escaped (RFC 1035 5.1)."""
    escaped = [
        text[i : i + 255].replace("\\", "\\\\").replace('"', '\\"')
        for i in range(0, len(text), 255)
    ]
    return " ".join(f'"{s}"' for s in escaped)
