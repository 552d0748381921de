"""The sending server (RFC 7208, RFC 8601 2.7.2, FCrDNS): may the first external hop's address
send for the envelope sender, and does its reverse DNS confirm?

SPF is mxbot's own `check_host()` (`checks.spf.evaluate`) for the client address of the
receiver's first hop from outside, with the Return-Path as MAIL FROM, or the HELO name when the
Return-Path is null (RFC 7208 2.4). Without a Return-Path, the envelope sender the receiver
reported (`smtp.mailfrom` in Authentication-Results) stands in.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Final

from checks.message.hops import external_hop
from checks.message.parse import Parsed
from checks.message.reported import Reported
from checks.message.result import Hop
from checks.model import Finding, Status
from checks.net.dns import DnsClient
from checks.spf.evaluate import Result, SpfResult, check_host, identity

ID: Final = "spf_verify"
TITLE: Final = "SPF for the sending server"

_MAX_PTR_NAMES: Final = 10


@dataclass(frozen=True, slots=True)
class Sender:
    """Who sent it, as the receiver saw: address, HELO, envelope sender, and the verdicts."""

    hop: Hop | None
    mailfrom: str  # the envelope sender; "" for the null sender <>
    mailfrom_known: bool
    domain: str  # the SPF identity's domain (MAIL FROM's, or HELO's for <>)
    spf: SpfResult | None = None
    ptr_names: tuple[str, ...] = ()
    confirmed: tuple[str, ...] = ()  # PTR names that resolve back to the address
    dns_failed: bool = False

    @property
    def ip(self) -> str:
        return self.hop.from_ip if self.hop else ""

    @property
    def spf_pass(self) -> bool:
        return self.spf is not None and self.spf.result is Result.PASS


def envelope(parsed: Parsed, reported: Sequence[Reported]) -> tuple[str, bool]:
    """(MAIL FROM, known?): the topmost Return-Path, else the receiver's smtp.mailfrom."""
    value = parsed.get("Return-Path")
    if value is not None:
        stripped = value.strip()
        if stripped in ("<>", ""):
            return "", True
        return parseaddr(stripped)[1].lower(), True
    mailfrom = next((r.prop("smtp.mailfrom") for r in reported if r.prop("smtp.mailfrom")), "")
    return mailfrom.lower(), bool(mailfrom)


async def evaluate(
    parsed: Parsed,
    hops: Sequence[Hop],
    reported: Sequence[Reported],
    dns: DnsClient,
    *,
    allow_private: bool,
    now: int,
) -> Sender:
    hop = external_hop(hops, allow_private=allow_private)
    mailfrom, known = envelope(parsed, reported)
    if hop is None or not known:
        return Sender(hop, mailfrom, known, "")
    domain, sender = identity(mailfrom, hop.from_host)
    spf_task = check_host(dns, hop.from_ip, domain, sender, hop.from_host, now=now)
    spf, (names, confirmed, failed) = await asyncio.gather(spf_task, _fcrdns(dns, hop.from_ip))
    return Sender(hop, mailfrom, known, domain, spf, names, confirmed, failed)


async def _fcrdns(dns: DnsClient, address: str) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    ptr = await dns.ptr(address)
    names = tuple(n for n in ptr.targets() if n)[:_MAX_PTR_NAMES] if ptr.ok else ()
    rdtype = "AAAA" if ipaddress.ip_address(address).version == 6 else "A"
    forwards = await asyncio.gather(*(dns.query(n, rdtype) for n in names))
    wanted = ipaddress.ip_address(address)
    confirmed = tuple(
        n
        for n, fwd in zip(names, forwards, strict=True)
        if any(ipaddress.ip_address(a) == wanted for a in fwd.addresses())
    )
    return names, confirmed, ptr.failed or any(f.failed for f in forwards)


def judge(sender: Sender) -> list[Finding]:
    if sender.hop is None:
        return [
            Finding(
                "spf_verify.no_hop",
                Status.SKIP,
                "No Received field names an outside client address, so SPF cannot be "
                "re-checked (paste the headers as the final receiver shows them).",
            )
        ]
    if not sender.mailfrom_known:
        return [
            Finding(
                "spf_verify.no_envelope",
                Status.SKIP,
                "There is no Return-Path, so the envelope sender SPF checks is unknown.",
            )
        ]
    spf = sender.spf
    assert spf is not None  # noqa: S101 -- evaluated whenever the hop and envelope are known
    who = f"{sender.ip} (HELO {sender.hop.from_host or '?'})"
    identity_text = (
        f"the envelope sender {sender.mailfrom}"
        if sender.mailfrom
        else f"the HELO name {sender.domain} (the Return-Path is null)"
    )
    base = f"SPF {spf.result.value} for {who} sending as {identity_text}"
    evidence = tuple(e.text for e in spf.trace if e.kind in ("record", "result"))[:4]
    return [_spf_finding(spf, base, sender.domain, evidence)]


def _spf_finding(spf: SpfResult, base: str, domain: str, evidence: tuple[str, ...]) -> Finding:
    code = f"spf_verify.{spf.result.value}"
    match spf.result:
        case Result.PASS:
            return Finding(code, Status.PASS, f"{base}.", evidence=evidence)
        case Result.FAIL | Result.SOFTFAIL:
            return Finding(
                code,
                Status.FAIL if spf.result is Result.FAIL else Status.WARN,
                f"{base}: {domain}'s SPF record does not list this address.",
                fix=f"Add the sending service to {domain}'s SPF record (its include: or ip4:), "
                "or send through a server it already lists.",
                evidence=evidence,
            )
        case Result.TEMPERROR:
            return Finding(code, Status.ERROR, f"{base}: {spf.reason}.", evidence=evidence)
        case Result.PERMERROR:
            return Finding(
                code,
                Status.FAIL,
                f"{base}: {spf.reason}, and receivers treat a broken record as a failure.",
                fix=f"Repair {domain}'s SPF record (`mxbot spf {domain}` shows the evaluation).",
                evidence=evidence,
            )
        case _:
            return Finding(
                code,
                Status.WARN,
                f"{base}: {spf.reason or 'the record does not decide'}.",
                fix=f"Publish an SPF record for {domain} that lists its senders and ends in -all "
                "or ~all.",
                evidence=evidence,
            )


def judge_fcrdns(sender: Sender) -> Finding | None:
    """Forward-confirmed reverse DNS of the sending address (a bulk-sender requirement)."""
    if sender.hop is None or not sender.ip:
        return None
    if sender.confirmed:
        return Finding(
            "bulk.fcrdns",
            Status.PASS,
            f"{sender.ip} has forward-confirmed reverse DNS ({sender.confirmed[0]}).",
        )
    if sender.dns_failed:
        return Finding(
            "bulk.fcrdns_unknown",
            Status.ERROR,
            f"The reverse DNS of {sender.ip} could not be looked up.",
        )
    what = (
        f"its PTR ({', '.join(sender.ptr_names[:3])}) does not resolve back to it"
        if sender.ptr_names
        else "it has no PTR record"
    )
    return Finding(
        "bulk.fcrdns",
        Status.FAIL,
        f"The sending address {sender.ip} lacks forward-confirmed reverse DNS: {what}. Gmail "
        "and Yahoo refuse or junk such mail (Gmail 5.7.25).",
        fix=f"Ask whoever owns {sender.ip} (the hosting provider or ISP) for a PTR naming the "
        "server, and give that name an A/AAAA record pointing back.",
    )
