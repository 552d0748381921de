"""SPF flattening (RFC 7208 4.6.4, 5.3, 5.4): would replacing <domain>'s own a and mx terms with the
addresses they resolve to today bring its record within the ten-lookup limit?

Only the record's own a/mx terms are flattened: includes are the providers' to change, and their
addresses move without notice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
from typing import TypeGuard

from checks.model import Finding, Record
from checks.net.dns import DnsClient
from checks.spf.evaluate import MAX_LOOKUPS
from checks.spf.parse import Mechanism, SpfRecord, Term
from checks.spf.repair import spf_record

_NOTE = (
    " The record below replaces your own a/mx terms with the addresses they resolve to today "
    "(update it when those hosts change)."
)


async def flattened(dns: DnsClient, domain: str, record: SpfRecord, total: int) -> Record | None:
    """The record with its own a/mx terms replaced by addresses, when that alone brings the
    `total` lookups within the limit; None when it does not, or when a lookup failed."""
    flat: list[str] = []
    saved = 0
    for term in record.terms:
        if not _flattenable(term):
            flat.append(term.text)
            continue
        addresses = await _resolve(dns, term, domain)
        if addresses is None:
            return None  # a lookup failed: derive nothing from a partial picture
        saved += 1
        flat += [t for t in _address_terms(term, addresses) if t not in flat]
    if saved == 0 or total - saved > MAX_LOOKUPS:
        return None
    return spf_record(domain, " ".join(["v=spf1", *flat]))


def offer(findings: list[Finding], record: Record | None) -> list[Finding]:
    """The findings, with the flattened record (if any) offered on spf.too_many_lookups."""
    if record is None:
        return findings
    return [
        dataclasses.replace(f, fix=f.fix + _NOTE, record=record)
        if f.code == "spf.too_many_lookups"
        else f
        for f in findings
    ]


def _flattenable(term: Term) -> TypeGuard[Mechanism]:
    """An a or mx mechanism whose target is known without a message."""
    return (
        isinstance(term, Mechanism)
        and term.name in ("a", "mx")
        and "%" not in (term.domain_spec or "")
    )


async def _resolve(dns: DnsClient, term: Mechanism, domain: str) -> list[str] | None:
    """The addresses the term matches today, or None when a lookup failed."""
    target = (term.domain_spec or domain).rstrip(".")
    hosts = [target]
    if term.name == "mx":
        answer = await dns.query(target, "MX")
        if answer.failed:
            return None
        hosts = [h for h in answer.targets() if h and h != "."] if answer.ok else []
    found: list[str] = []
    for a, aaaa in await asyncio.gather(*(dns.addresses(h) for h in hosts)):
        if a.failed or aaaa.failed:
            return None
        found += [*a.addresses(), *aaaa.addresses()]
    return found


def _address_terms(term: Mechanism, addresses: list[str]) -> list[str]:
    """ip4:/ip6: terms with the mechanism's qualifier and CIDR lengths (RFC 7208 5.3, 5.4)."""
    qualifier = "" if term.qualifier == "+" else term.qualifier
    out = []
    for text in addresses:
        version = ipaddress.ip_address(text).version
        cidr = term.cidr4 if version == 4 else term.cidr6
        network = ipaddress.ip_network(
            f"{text}/{cidr if cidr is not None else (32 if version == 4 else 128)}", strict=False
        )
        out.append(
            f"{qualifier}ip{version}:{network.network_address}"
            + (f"/{network.prefixlen}" if network.prefixlen != network.max_prefixlen else "")
        )
    return out
