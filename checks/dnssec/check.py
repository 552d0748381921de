"""DNSSEC (RFC 4033-4035): are the domain's zone and its MX hosts' zones signed, and do they validate?

A validating resolver sets the AD bit on answers it could verify, and answers SERVFAIL for a zone
whose chain of trust is broken ("bogus"); asking again with checking disabled (CD) tells a bogus
zone from one that is simply down. A broken chain is worse than no DNSSEC at all: receivers whose
resolvers validate cannot find your MX, so mail to you bounces or queues.
"""

from __future__ import annotations

import asyncio
import datetime
import enum
from dataclasses import dataclass
from typing import Final

import dns.dnssec
import dns.name
import dns.rdtypes.ANY.DNSKEY

from checks.context import Context, MxSet
from checks.dnssec.crypto import ZoneKeys, judge, only_deprecated_algorithms
from checks.model import DOMAIN, Finding, Record, Status
from checks.net.dns import Answer
from checks.net.policy import is_ip_literal

ID: Final = "dnssec"
TITLE: Final = "DNSSEC"
SCOPE: Final = DOMAIN

_SEP = 0x0001  # DNSKEY flag: secure entry point (a key-signing key)
_ZONE = 0x0100  # DNSKEY flag: a zone key
_DIGESTS = {1: "SHA1", 2: "SHA256", 4: "SHA384"}


class ZoneState(enum.StrEnum):
    VALIDATED = "validated"  # the resolver vouched for it (AD bit)
    UNSIGNED = "unsigned"  # no DS, no DNSKEY
    ISLAND = "island"  # DNSKEY but no DS at the parent: validators treat it as unsigned
    BOGUS = "bogus"  # SERVFAIL that succeeds with CD set
    BROKEN = "broken"  # seen without validation, but validators will reject it
    UNVALIDATED = "unvalidated"  # looks signed and chained, but the resolver does not validate
    FAILED = "failed"  # could not find out


@dataclass(frozen=True, slots=True)
class ZoneVerdict:
    apex: str
    state: ZoneState
    why: str = ""  # for BOGUS/BROKEN/FAILED: what is wrong, in words
    ds_to_publish: str = ""  # no DS, or a wrong one: the DS record derived from the zone's KSK
    evidence: tuple[str, ...] = ()
    server: str = ""
    keys: ZoneKeys | None = None  # the records the cryptography is judged from (signed zones)


async def run(ctx: Context) -> list[Finding]:
    domain_apex = await _zone_of(ctx, ctx.domain)
    if domain_apex is None:
        return [
            Finding(
                "dnssec.skipped",
                Status.SKIP,
                f"Could not find the DNS zone of {ctx.domain} (no SOA record answered).",
            )
        ]
    mx = await ctx.mx()
    mx_zones = await _mx_zones(ctx, mx, domain_apex)
    apexes = [domain_apex, *(z for z in mx_zones if z != domain_apex)]
    verdicts = dict(
        zip(apexes, await asyncio.gather(*(_assess(ctx, a) for a in apexes)), strict=True)
    )
    any_ad = any(v.state is ZoneState.VALIDATED for v in verdicts.values())
    findings = [_domain_finding(ctx.domain, verdicts[domain_apex], any_ad)]
    findings += _crypto_findings(verdicts[domain_apex])
    for apex, hosts in mx_zones.items():
        if apex != domain_apex:
            findings.extend(_mx_finding(apex, hosts, verdicts[apex], any_ad))
            findings += _crypto_findings(verdicts[apex])
    return findings


def _crypto_findings(verdict: ZoneVerdict) -> list[Finding]:
    """RFC 8624 / RFC 9276 judgements on a signed zone's algorithms, DS digests and NSEC3."""
    return judge(verdict.keys) if verdict.keys is not None else []


# ---- finding the zones ------------------------------------------------------------------------


async def _zone_of(ctx: Context, name: str) -> str | None:
    """The apex of the zone holding `name`: the closest enclosing name with its own SOA."""
    labels = name.rstrip(".").split(".")
    for i in range(len(labels)):
        candidate = ".".join(labels[i:])
        # asked with DO set, the same query _assess makes, so the apex's SOA is fetched once
        answer = await ctx.dns.query(candidate, "SOA", dnssec=True)
        if answer.failed:
            answer = await ctx.dns.query(candidate, "SOA", dnssec=True, cd=True)
        if answer.ok and not answer.cnames:
            return candidate
    return None


async def _mx_zones(ctx: Context, mx: MxSet, domain_apex: str) -> dict[str, tuple[str, ...]]:
    """Zone apex -> the MX hosts in it (the domain's own zone included when it holds any)."""
    if not mx.receives_mail:
        return {}
    hosts = [h.name for h in mx.hosts if not is_ip_literal(h.name)]
    apexes = await asyncio.gather(*(_zone_of(ctx, h) for h in hosts))
    zones: dict[str, tuple[str, ...]] = {}
    for host, apex in zip(hosts, apexes, strict=True):
        if apex is not None:
            zones[apex] = (*zones.get(apex, ()), host)
    return zones


# ---- judging one zone -------------------------------------------------------------------------


async def _assess(ctx: Context, apex: str) -> ZoneVerdict:
    soa, dnskey, ds, nsec3param = await asyncio.gather(
        ctx.dns.query(apex, "SOA", dnssec=True),
        ctx.dns.query(apex, "DNSKEY", dnssec=True),
        ctx.dns.query(apex, "DS", dnssec=True),
        ctx.dns.query(apex, "NSEC3PARAM", dnssec=True),
    )
    server = soa.server
    if soa.failed or dnskey.failed:
        return await _bogus_or_failed(ctx, apex, soa)
    keys = _zone_keys(apex, dnskey, ds, nsec3param)
    if soa.authenticated or dnskey.authenticated:
        return ZoneVerdict(
            apex, ZoneState.VALIDATED, evidence=_evidence(ds, dnskey), server=server, keys=keys
        )
    zone_keys = _zone_signing_keys(dnskey)
    has_ds = ds.ok and bool(ds.rdata)
    if not zone_keys and not has_ds:
        return ZoneVerdict(apex, ZoneState.UNSIGNED, server=server)
    if not has_ds:
        return ZoneVerdict(
            apex,
            ZoneState.ISLAND,
            ds_to_publish=_ds_for(apex, zone_keys),
            evidence=_evidence(ds, dnskey),
            server=server,
            keys=keys,
        )
    why, new_ds = _chain_problem(apex, ds, dnskey, (soa, dnskey))
    state = ZoneState.BROKEN if why else ZoneState.UNVALIDATED
    return ZoneVerdict(apex, state, why, new_ds, _evidence(ds, dnskey), server, keys)


def _zone_keys(apex: str, dnskey: Answer, ds: Answer, nsec3param: Answer) -> ZoneKeys | None:
    """The records to judge the zone's cryptography from; None when the zone is not signed."""
    if not (dnskey.ok and dnskey.rdata) and not (ds.ok and ds.rdata):
        return None
    return ZoneKeys(
        apex,
        dnskey.dnskeys() if dnskey.ok else (),
        ds.ds_records() if ds.ok else (),
        nsec3param.nsec3params() if nsec3param.ok else (),
    )


async def _bogus_or_failed(ctx: Context, apex: str, soa: Answer) -> ZoneVerdict:
    soa_cd, dnskey_cd, ds_cd, nsec3param_cd = await asyncio.gather(
        ctx.dns.query(apex, "SOA", dnssec=True, cd=True),
        ctx.dns.query(apex, "DNSKEY", dnssec=True, cd=True),
        ctx.dns.query(apex, "DS", dnssec=True, cd=True),
        ctx.dns.query(apex, "NSEC3PARAM", dnssec=True, cd=True),
    )
    if soa_cd.failed:
        return ZoneVerdict(
            apex, ZoneState.FAILED, f"the SOA lookup failed: {soa.describe()}", server=soa.server
        )
    why, new_ds = _chain_problem(apex, ds_cd, dnskey_cd, (soa_cd, dnskey_cd))
    why = why or "the signatures do not validate against the zone's keys"
    keys = _zone_keys(apex, dnskey_cd, ds_cd, nsec3param_cd)
    evidence = _evidence(ds_cd, dnskey_cd)
    return ZoneVerdict(apex, ZoneState.BOGUS, why, new_ds, evidence, soa.server, keys)


def _chain_problem(
    apex: str, ds: Answer, dnskey: Answer, signed: tuple[Answer, ...]
) -> tuple[str, str]:
    """What breaks the chain of trust, judged from the records alone ('' when nothing visible),
    and the DS record that would repair it when the DS is what is wrong."""
    keys = _zone_signing_keys(dnskey)
    if ds.ok and ds.rdata and not keys:
        return f"the parent zone publishes a DS record for {apex}, but {apex} has no DNSKEY", ""
    if ds.ok and keys and _matching_ds(apex, ds, keys) is False:
        tags = ", ".join(str(r.key_tag) for r in ds.ds_records())
        key_tags = ", ".join(str(dns.dnssec.key_id(k)) for k in keys)
        why = (
            f"the DS record at the parent (key tag {tags}) matches none of the zone's DNSKEYs "
            f"(key tags {key_tags})"
        )
        return why, _ds_for(apex, keys)
    return _signature_problem(signed), ""


def _zone_signing_keys(dnskey: Answer) -> list[dns.rdtypes.ANY.DNSKEY.DNSKEY]:
    """The DNSKEYs with the Zone Key flag (RFC 4034 2.1.1): only those may sign the zone."""
    return [k for k in dnskey.dnskeys() if k.flags & _ZONE] if dnskey.ok else []


def _matching_ds(apex: str, ds: Answer, keys: list[dns.rdtypes.ANY.DNSKEY.DNSKEY]) -> bool | None:
    """Does any DS match any key? None when no DS uses a digest we can compute."""
    owner = dns.name.from_text(apex)
    computable = False
    for record in ds.ds_records():
        algorithm = _DIGESTS.get(record.digest_type)
        if algorithm is None:
            continue
        computable = True
        for key in keys:
            # validating=True: the default policy refuses to *create* SHA-1 DS records
            if dns.dnssec.make_ds(owner, key, algorithm, validating=True) == record:
                return True
    return False if computable else None


def _signature_problem(answers: tuple[Answer, ...]) -> str:
    now = datetime.datetime.now(datetime.UTC).timestamp()
    for answer in answers:
        for sig in answer.rrsigs():
            expiration, inception = sig.expiration, sig.inception
            if expiration < now:
                when = datetime.datetime.fromtimestamp(expiration, datetime.UTC)
                return f"the signatures on {answer.name} {answer.rdtype} expired on {when:%Y-%m-%d %H:%M} UTC"
            if inception > now:
                when = datetime.datetime.fromtimestamp(inception, datetime.UTC)
                return f"the signatures on {answer.name} {answer.rdtype} are not valid before {when:%Y-%m-%d %H:%M} UTC"
    return ""


def _ds_for(apex: str, keys: list[dns.rdtypes.ANY.DNSKEY.DNSKEY]) -> str:
    ksks = [k for k in keys if k.flags & _SEP] or keys
    return dns.dnssec.make_ds(dns.name.from_text(apex), ksks[0], "SHA256").to_text()


def _evidence(ds: Answer, dnskey: Answer) -> tuple[str, ...]:
    lines = [f"DS {r.to_text()}" for r in ds.rdata] if ds.ok else []
    if dnskey.ok:
        lines += [
            f"DNSKEY flags {k.flags} algorithm {k.algorithm} key tag {dns.dnssec.key_id(k)}"
            for k in dnskey.dnskeys()
        ]
    return tuple(lines)


# ---- findings ---------------------------------------------------------------------------------


def _domain_finding(domain: str, verdict: ZoneVerdict, any_ad: bool) -> Finding:
    apex = verdict.apex
    zone = domain if apex == domain else f"{domain} (zone {apex})"
    match verdict.state:
        case ZoneState.VALIDATED:
            return Finding(
                "dnssec.validated",
                Status.PASS,
                f"{zone} is signed and the resolver validated its answers (AD bit set).",
                evidence=verdict.evidence,
            )
        case ZoneState.UNSIGNED:
            return Finding(
                "dnssec.unsigned",
                Status.INFO,
                f"{zone} is not signed with DNSSEC (optional). Signing protects your MX and other "
                "records from forgery and is what makes DANE (TLSA records) possible, letting "
                "senders authenticate your mail servers' TLS.",
                fix="Optional: turn on DNSSEC signing at your DNS host, then publish the DS record "
                "it gives you at your registrar.",
            )
        case ZoneState.ISLAND:
            return Finding(
                "dnssec.no_ds",
                Status.WARN,
                f"{zone} is signed, but the parent zone has no DS record for it, so no resolver "
                "can validate it: it is treated as unsigned.",
                fix=f"Publish this DS record at your registrar for {apex}.",
                record=Record(f"{apex}.", "DS", verdict.ds_to_publish),
                evidence=verdict.evidence,
            )
        case ZoneState.BOGUS | ZoneState.BROKEN:
            return _bogus(verdict, zone, "your MX and other records")
        case ZoneState.UNVALIDATED:
            return _unvalidated(verdict, zone, any_ad)
        case ZoneState.FAILED:
            return Finding(
                "dnssec.lookup_failed",
                Status.ERROR,
                f"Could not check DNSSEC for {zone}: {verdict.why}.",
                fix="Check that the zone's name servers answer; then run the check again.",
            )


def _bogus(verdict: ZoneVerdict, zone: str, what: str, code: str = "dnssec.bogus") -> Finding:
    seen = (
        "Validating resolvers answer SERVFAIL for it (with checking disabled the records are there)"
        if verdict.state is ZoneState.BOGUS
        else "Validating resolvers will reject it"
    )
    return Finding(
        code,
        Status.FAIL,
        f"The DNSSEC chain of trust of {zone} is broken: {verdict.why}. {seen}, so senders whose "
        f"resolvers validate cannot look up {what}: mail to you bounces or queues.",
        fix=_bogus_fix(verdict),
        record=Record(f"{verdict.apex}.", "DS", verdict.ds_to_publish)
        if verdict.ds_to_publish
        else None,
        evidence=verdict.evidence,
    )


def _bogus_fix(verdict: ZoneVerdict) -> str:
    fallback = (
        "If that cannot be done quickly, remove the DS record at the registrar: the zone then "
        "counts as unsigned once the DS record's TTL expires."
    )
    if verdict.ds_to_publish:
        return (
            f"Replace the DS record for {verdict.apex} at the registrar with this one. {fallback}"
        )
    if "signatures" in verdict.why:
        return (
            f"Re-sign {verdict.apex} now and check why signatures are no longer refreshed "
            f"(the DNS host's signing job or keys). {fallback}"
        )
    return f"Re-sign {verdict.apex} with its published keys, or fix the DS record. {fallback}"


def _unvalidated(
    verdict: ZoneVerdict, zone: str, any_ad: bool, code: str = "dnssec.not_validated"
) -> Finding:
    if verdict.keys is not None and only_deprecated_algorithms(verdict.keys):
        why = "validators do not implement its signing algorithm, so they treat it as unsigned"
    elif any_ad:
        why = "the chain of trust above it may be missing"
    else:
        why = (
            f"the resolver mxbot uses ({verdict.server or 'configured'}) does not appear to "
            "validate DNSSEC (it set the AD bit on no answer)"
        )
    return Finding(
        code,
        Status.INFO,
        f"{zone} is signed and its parent publishes a matching DS record, but its answers were "
        f"not marked as validated: {why}. So this verdict is limited: a broken signature would "
        "not show here.",
        fix="Point mxbot at a validating resolver (MXBOT_RESOLVERS) for a full DNSSEC verdict.",
        evidence=verdict.evidence,
    )


def _mx_finding(
    apex: str, hosts: tuple[str, ...], verdict: ZoneVerdict, any_ad: bool
) -> list[Finding]:
    names = ", ".join(hosts)
    zone = f"{apex} (MX {names})"
    match verdict.state:
        case ZoneState.VALIDATED:
            return [
                Finding(
                    "dnssec.mx_validated",
                    Status.PASS,
                    f"The zone {zone} is signed and validated.",
                    evidence=verdict.evidence,
                )
            ]
        case ZoneState.UNSIGNED | ZoneState.ISLAND:
            how = (
                "not signed"
                if verdict.state is ZoneState.UNSIGNED
                else "signed but has no DS at its parent"
            )
            return [
                Finding(
                    "dnssec.mx_unsigned",
                    Status.INFO,
                    f"The zone of your MX hosts, {zone}, is {how}, so DANE cannot protect "
                    "delivery to them.",
                    fix=f"Optional: ask whoever runs {apex} to sign it (and publish its DS).",
                    evidence=verdict.evidence,
                )
            ]
        case ZoneState.BOGUS | ZoneState.BROKEN:
            return [_bogus(verdict, zone, f"the addresses of {names}", "dnssec.mx_bogus")]
        case ZoneState.UNVALIDATED:
            return [_unvalidated(verdict, zone, any_ad, "dnssec.mx_not_validated")]
        case ZoneState.FAILED:
            return [
                Finding(
                    "dnssec.mx_lookup_failed",
                    Status.ERROR,
                    f"Could not check DNSSEC for {zone}: {verdict.why}.",
                )
            ]
