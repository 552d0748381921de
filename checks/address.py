"""A/AAAA of every mail host (RFC 5321 5.1): can a sender on the internet reach them, over IPv4 and
IPv6, and for each host that has no address, why not?"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Final

from checks.context import Context, HostAddresses, MxSet
from checks.model import DOMAIN, Finding, Record, Status
from checks.net.dns import Outcome
from checks.net.policy import is_documentation, is_global, is_ip_literal

ID: Final = "address"
TITLE: Final = "Mail host addresses (A/AAAA)"
SCOPE: Final = DOMAIN


@dataclass(frozen=True, slots=True)
class _Unaddressed:
    """A mail host a sender finds no address for, and why, in words for a message."""

    host: str
    why: str  # "does not exist (NXDOMAIN)", "has no A or AAAA record (NODATA)", …
    fix: str
    definite: bool  # False when the lookup failed: we could not tell
    record: Record | None = None


async def run(ctx: Context) -> list[Finding]:
    mx = await ctx.mx()
    if not mx.receives_mail:
        return [Finding("address.skipped", Status.SKIP, mx.no_hosts_reason)]
    hosts = await ctx.mx_addresses()
    missing = _unaddressed(mx, hosts)
    usable = [h for h in hosts if h.addresses]
    if not usable:
        return _none(missing)
    findings = [f for h in hosts for f in _host(h, ctx.settings.allow_private)]
    findings.extend(_partly(m) for m in missing)
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


def _unaddressed(mx: MxSet, hosts: tuple[HostAddresses, ...]) -> list[_Unaddressed]:
    """Every mail host without an address, in MX order (IP literals included: no name, no A)."""
    looked_up = {h.host: h for h in hosts}
    out: list[_Unaddressed] = []
    for name in dict.fromkeys(h.name for h in mx.hosts):
        if is_ip_literal(name):
            out.append(_literal(name))
        elif name in looked_up and not looked_up[name].addresses:
            out.append(_why(looked_up[name], implicit=mx.implicit))
    return out


def _literal(name: str) -> _Unaddressed:
    return _Unaddressed(
        name,
        "is an IP address, not a host name (RFC 5321 5.1), so senders find no address for it",
        f"Give the server at {name} a host name with an A record and point the MX at that name.",
        definite=True,
    )


def _why(h: HostAddresses, *, implicit: bool) -> _Unaddressed:
    label = f"{h.host} (no MX record, so the domain itself)" if implicit else h.host
    if h.a.failed or h.aaaa.failed:
        failed = h.a if h.a.failed else h.aaaa
        return _Unaddressed(
            label,
            f"could not be looked up ({failed.describe()})",
            f"Check the name servers of {h.host}'s zone; run the check again.",
            definite=False,
        )
    record = Record(f"{h.host}.", "A", "<address of your mail server>")
    # RFC 2181 10.3 forbids an alias here; the mx check says so, we say where it leads.
    alias = f"is an alias of {h.a.cnames[-1]}, which " if h.a.cnames else ""
    if Outcome.NXDOMAIN in (h.a.outcome, h.aaaa.outcome):
        return _Unaddressed(
            label,
            f"{alias}does not exist (NXDOMAIN)",
            f"Create {h.host} with an A (and AAAA) record, or point the MX at a host that exists.",
            definite=True,
            record=record,
        )
    return _Unaddressed(
        label,
        f"{alias}has no A or AAAA record (NODATA)",
        f"Publish an A (and AAAA) record for {h.host}.",
        definite=True,
        record=record,
    )


def _none(missing: list[_Unaddressed]) -> list[Finding]:
    """No mail host has an address: name each and why; only lookup failures are inconclusive."""
    if not any(m.definite for m in missing):
        return [_lookup_failed(m) for m in missing]
    reasons = "; ".join(f"{m.host} {m.why}" for m in missing)
    fixes = list(dict.fromkeys(m.fix for m in missing))
    return [
        Finding(
            "address.none",
            Status.FAIL,
            f"No mail host has an address, so senders cannot deliver: {reasons}.",
            fix=" ".join(fixes),
            record=next((m.record for m in missing if m.record is not None), None),
            evidence=tuple(f"{m.host}: {m.why}" for m in missing),
        )
    ]


def _partly(m: _Unaddressed) -> Finding:
    """One host without an address while others have one: senders skip it."""
    if not m.definite:
        return _lookup_failed(m)
    return Finding(
        "address.host_no_address",
        Status.WARN,
        f"The mail host {m.host} {m.why}; senders skip it and deliver to the other mail hosts.",
        fix=m.fix,
        record=m.record,
    )


def _lookup_failed(m: _Unaddressed) -> Finding:
    return Finding("address.lookup_failed", Status.ERROR, f"{m.host} {m.why}.", fix=m.fix)


def _host(host: HostAddresses, allow_private: bool) -> list[Finding]:
    findings: list[Finding] = []
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
