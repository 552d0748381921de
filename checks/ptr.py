"""Reverse DNS (RFC 1912 2.1, FCrDNS): does every mail address have a PTR that resolves back to it?

Receivers reject or junk mail from addresses without forward-confirmed reverse DNS, and the fix is
made by whoever owns the address block (the hosting provider or ISP), not in the domain's own zone.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from dataclasses import dataclass
from typing import Final

from checks.context import Context
from checks.model import DOMAIN_AND_ADDRESS, Finding, Status
from checks.net.dns import Answer

ID: Final = "ptr"
TITLE: Final = "Reverse DNS (PTR)"
SCOPE: Final = DOMAIN_AND_ADDRESS

_MAX_PTR_NAMES = 10  # RFC 7208 4.6.4 uses the same bound for the same walk
# Names that look machine-generated from the address: receivers score these as dynamic/residential.
_GENERIC = re.compile(
    r"(\d{1,3}[-.x]\d{1,3}[-.x]\d{1,3}[-.x]\d{1,3})|\b(dyn(amic)?|dhcp|dsl|adsl|pool|cable|ppp|pppoe|broadband|dialup|residential)\b"
)


@dataclass(frozen=True, slots=True)
class _Confirmed:
    address: str
    host: str  # the mail host name we connected the address to
    ptr: Answer
    confirmed: tuple[str, ...]  # PTR names that resolve back to the address
    failed_forward: bool  # a forward lookup could not be done (SERVFAIL/timeout)


async def run(ctx: Context) -> list[Finding]:
    if not ctx.target.is_address:
        mx = await ctx.mx()
        if not mx.receives_mail:
            return [Finding("ptr.skipped", Status.SKIP, mx.no_hosts_reason)]
    pairs = await ctx.distinct_mail_addresses()
    if not pairs:
        return [Finding("ptr.skipped", Status.SKIP, "No mail host addresses to look up.")]
    results = await asyncio.gather(*(_confirm(ctx, host, address) for host, address in pairs))
    findings = [f for r in results for f in _judge(r)]
    if not any(f.status.severity > Status.INFO.severity for f in findings):
        findings.append(
            Finding(
                "ptr.ok",
                Status.PASS,
                "Every mail address has forward-confirmed reverse DNS: "
                + "; ".join(f"{r.address} ↔ {r.confirmed[0]}" for r in results if r.confirmed)
                + ".",
            )
        )
    return findings


async def _confirm(ctx: Context, host: str, address: str) -> _Confirmed:
    ptr = await ctx.dns.ptr(address)
    names = ptr.targets()[:_MAX_PTR_NAMES] if ptr.ok else ()
    rdtype = "AAAA" if ipaddress.ip_address(address).version == 6 else "A"
    forwards = await asyncio.gather(*(ctx.dns.query(n, rdtype) for n in names))
    wanted = ipaddress.ip_address(address)
    confirmed = tuple(
        n
        for n, fwd in zip(names, forwards, strict=True)
        if any(ipaddress.ip_address(a) == wanted for a in fwd.addresses())
    )
    return _Confirmed(address, host, ptr, confirmed, any(f.failed for f in forwards))


def _judge(r: _Confirmed) -> list[Finding]:
    who = (
        f"Ask whoever owns {r.address} (your hosting provider or ISP; they control the reverse zone, "
        "not your domain's DNS)"
    )
    if r.ptr.failed:
        return [
            Finding(
                "ptr.lookup_failed",
                Status.ERROR,
                f"The PTR lookup for {r.address} failed: {r.ptr.describe()}.",
            )
        ]
    if not r.ptr.ok:
        return [
            Finding(
                "ptr.missing",
                Status.FAIL,
                f"{r.address} ({r.host}) has no PTR record; many receivers reject mail from "
                "addresses without reverse DNS.",
                fix=f"{who} to set its PTR to {_suggested(r)}.",
            )
        ]
    names = r.ptr.targets()
    if not r.confirmed:
        if r.failed_forward:
            return [
                Finding(
                    "ptr.forward_lookup_failed",
                    Status.ERROR,
                    f"{r.address} has PTR {', '.join(names)}, but looking that name up failed.",
                    evidence=names,
                )
            ]
        return [
            Finding(
                "ptr.unconfirmed",
                Status.FAIL,
                f"{r.address} has PTR {', '.join(names)}, but that name does not resolve back to "
                f"{r.address} (no forward-confirmed reverse DNS).",
                fix=f"Either add {r.address} to the A/AAAA records of {names[0]}, or {who[0].lower()}{who[1:]} "
                f"to set the PTR to a name that resolves to it, such as {_suggested(r)}.",
                evidence=names,
            )
        ]
    findings: list[Finding] = []
    if len(names) > 1:
        findings.append(
            Finding(
                "ptr.multiple",
                Status.INFO,
                f"{r.address} has {len(names)} PTR records ({', '.join(names)}); one is usual, "
                "and some receivers look only at the first.",
                evidence=names,
            )
        )
    name = r.confirmed[0]
    if _GENERIC.search(name):
        findings.append(
            Finding(
                "ptr.generic",
                Status.WARN,
                f"The PTR of {r.address} is {name}, which looks generic (built from the address); "
                "receivers often treat such senders as residential and junk their mail.",
                fix=f"{who} to set a PTR naming the mail server, such as {_suggested(r)}.",
            )
        )
    return findings


def _suggested(r: _Confirmed) -> str:
    """The name to ask for: the MX host name, or a placeholder when the target was an address."""
    return (
        "the mail server's host name (one whose A/AAAA record points back here)"
        if r.host == r.address
        else r.host
    )
