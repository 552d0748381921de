"""SPF for one sending IP (RFC 7208 2.6, 4): what does check_host() give for the address the user
named, and what should <domain> publish if that address is theirs?"""

from __future__ import annotations

import ipaddress

from checks.context import Context
from checks.model import Finding, Record, Status
from checks.spf.evaluate import Result, SpfResult, check_host
from checks.spf.parse import SpfRecord
from checks.spf.repair import spf_record

_TRACE_LINES = 40


async def evaluate(ctx: Context, record: SpfRecord, ip: str) -> list[Finding]:
    """Run check_host() for `ip` as a receiver would for postmaster@<domain>, traced."""
    try:
        address = ipaddress.ip_address(ip.strip().strip("[]"))
    except ValueError:
        return [Finding("spf.bad_ip", Status.ERROR, f"{ip!r} is not an IP address.")]
    outcome = await check_host(
        ctx.dns, str(address), ctx.domain, f"postmaster@{ctx.domain}", ctx.domain
    )
    evidence = tuple(f"{'  ' * e.depth}{e.text}" for e in outcome.trace[:_TRACE_LINES])
    return [_ip_finding(ctx.domain, record, outcome, evidence)]


def _ip_finding(domain: str, record: SpfRecord, r: SpfResult, evidence: tuple[str, ...]) -> Finding:
    match r.result:
        case Result.PASS:
            return Finding(
                "spf.ip_authorised",
                Status.PASS,
                f"{r.ip} is authorised to send for {domain} (SPF pass, via {r.mechanism}).",
                evidence=evidence,
            )
        case Result.FAIL | Result.SOFTFAIL:
            return _not_authorised(domain, record, r, evidence)
        case Result.NEUTRAL | Result.NONE:
            return Finding(
                "spf.ip_neutral",
                Status.WARN,
                f"SPF gives {r.result.value} for {r.ip} at {domain}: the record neither authorises "
                "nor forbids it, so receivers judge the mail on other signals.",
                fix=f"If {r.ip} is yours, add {_term(r.ip)} to the record.",
                record=_with_ip(domain, record, r.ip),
                evidence=evidence,
            )
        case Result.TEMPERROR:
            return Finding(
                "spf.ip_temperror",
                Status.ERROR,
                f"Evaluating SPF for {r.ip} at {domain} hit a DNS failure (temperror): {r.reason}.",
                evidence=evidence,
            )
        case _:
            return Finding(
                "spf.ip_permerror",
                Status.FAIL,
                f"Evaluating SPF for {r.ip} at {domain} gives permerror: {r.reason}. Receivers "
                "treat that as a failed or missing policy.",
                fix="Fix the error named above; the other SPF findings say how.",
                evidence=evidence,
            )


def _not_authorised(
    domain: str, record: SpfRecord, r: SpfResult, evidence: tuple[str, ...]
) -> Finding:
    hard = r.result is Result.FAIL
    why = f" The receiver's explanation: {r.explanation}" if r.explanation else ""
    return Finding(
        "spf.ip_not_authorised" if hard else "spf.ip_softfail",
        Status.FAIL if hard else Status.WARN,
        f"{r.ip} is not authorised to send for {domain}: SPF {r.result.value} "
        f"(matched {r.mechanism}), so receivers "
        + ("reject or junk its mail." if hard else "treat its mail as suspicious.")
        + why,
        fix=f"If {r.ip} is yours, add {_term(r.ip)} to the record (or include your provider's "
        "record).",
        record=_with_ip(domain, record, r.ip),
        evidence=evidence,
    )


def _term(ip: str) -> str:
    return f"ip{ipaddress.ip_address(ip).version}:{ip}"


def _with_ip(domain: str, record: SpfRecord, ip: str) -> Record:
    """The record with the address authorised first, ahead of every existing term."""
    return spf_record(domain, " ".join(["v=spf1", _term(ip), *(t.text for t in record.terms)]))
