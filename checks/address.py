"""A/AAAA of every mail host: can a sender on the internet reach them, over IPv4 and IPv6?"""

from __future__ import annotations

import ipaddress
from typing import Final

from checks.context import Context, HostAddresses
from checks.model import DOMAIN, Finding, Status
from checks.net.policy import is_documentation, is_global

ID: Final = "address"
TITLE: Final = "Mail host addresses (A/AAAA)"
SCOPE: Final = DOMAIN


async def run(ctx: Context) -> list[Finding]:
    mx = await ctx.mx()
    if not mx.receives_mail:
        return [Finding("address.skipped", Status.SKIP, mx.no_hosts_reason)]
    hosts = await ctx.mx_addresses()
    findings: list[Finding] = []
    for host in hosts:
        findings.extend(_host(host, ctx.settings.allow_private))
    usable = [h for h in hosts if h.addresses]
    if not usable:
        return findings or [Finding("address.none", Status.FAIL, "No mail host has an address.")]
    if not any(h.aaaa.ok for h in hosts):
        findings.append(
            Finding(
                "address.no_ipv6",
                Status.INFO,
                "No mail host has an IPv6 (AAAA) address; IPv6-only senders cannot deliver.",
                fix="Optional: add AAAA records once your mail servers listen on IPv6.",
            )
        )
    listing = "; ".join(f"{h.host} {', '.join(h.addresses)}" for h in usable)
    findings.append(
        Finding(
            "address.ok",
            Status.PASS,
            f"Addresses: {listing}.",
            evidence=tuple(f"{h.host} {a}" for h in usable for a in h.addresses),
        )
    )
    return findings


def _host(host: HostAddresses, allow_private: bool) -> list[Finding]:
    findings: list[Finding] = []
    if host.a.failed and host.aaaa.failed:
        findings.append(
            Finding(
                "address.lookup_failed",
                Status.ERROR,
                f"Looking up {host.host} failed: {host.a.describe()}.",
            )
        )
    for address in host.addresses:
        if is_global(address):
            continue
        ip = ipaddress.ip_address(address)
        if allow_private and (ip.is_loopback or is_documentation(ip)):
            findings.append(
                Finding(
                    "address.lab_allowed",
                    Status.INFO,
                    f"{host.host} has the {_kind(ip)} address {address}; accepted because private "
                    "addresses are allowed in these settings (a lab).",
                )
            )
            continue
        findings.append(
            Finding(
                "address.non_global",
                Status.FAIL,
                f"{host.host} has the {_kind(ip)} address {address}, which senders on the internet cannot reach.",
                fix=f"Publish the server's public address for {host.host}, and keep internal addresses "
                "in internal DNS only.",
                evidence=(address,),
            )
        )
    return findings


def _kind(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if is_documentation(ip):
        return "documentation-only"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_unspecified:
        return "unspecified"
    if isinstance(ip, ipaddress.IPv4Address) and ip in ipaddress.ip_network("100.64.0.0/10"):
        return "shared (CGNAT)"
    if ip.is_private:
        return "private"
    return "reserved"
