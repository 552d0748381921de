"""Which network (autonomous system) announces each mail address, via Team Cymru's IP-to-ASN DNS zone.

This is context for the other verdicts: the AS owner is who sets a PTR record and who to ask
about a blocklisted range.
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass
from typing import Final

from checks.context import Context
from checks.model import DOMAIN_AND_ADDRESS, Finding, Status

ID: Final = "asn"
TITLE: Final = "Network (ASN)"
SCOPE: Final = DOMAIN_AND_ADDRESS

_ORIGIN4: Final = "origin.asn.cymru.com"
_ORIGIN6: Final = "origin6.asn.cymru.com"
_NAMES: Final = "asn.cymru.com"


class AsnSyntaxError(ValueError):
    """A Team Cymru TXT answer we cannot read."""


@dataclass(frozen=True, slots=True)
class Origin:
    asn: str  # the first, when several ASes announce the prefix
    prefix: str
    country: str


def parse(text: str) -> Origin:
    """'15169 | 8.8.8.0/24 | US | arin | 2023-12-28' -> Origin."""
    fields = [f.strip() for f in text.split("|")]
    if len(fields) < 3 or not fields[0]:
        raise AsnSyntaxError(f"unexpected origin record {text[:80]!r}")
    asn = fields[0].split()[0]
    if not asn.isdigit():
        raise AsnSyntaxError(f"{asn[:20]!r} is not an AS number")
    return Origin(asn, fields[1], fields[2])


def origin_name(address: str) -> str:
    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        return ".".join(reversed(address.split("."))) + "." + _ORIGIN4
    return ".".join(reversed(ip.exploded.replace(":", ""))) + "." + _ORIGIN6


async def run(ctx: Context) -> list[Finding]:
    addresses, why = await ctx.lookup_addresses()
    if not addresses:
        return [Finding("asn.skipped", Status.SKIP, why)]
    return list(await asyncio.gather(*(_one(ctx, a) for a in addresses)))


async def _one(ctx: Context, address: str) -> Finding:
    answer = await ctx.dns.txt(origin_name(address))
    if answer.failed:
        return Finding(
            "asn.lookup_failed",
            Status.ERROR,
            f"The ASN lookup for {address} failed: {answer.describe()}.",
        )
    origins = []
    for text in answer.texts():
        try:
            origins.append(parse(text))
        except AsnSyntaxError:
            continue
    if not origins:
        return Finding(
            "asn.unannounced",
            Status.INFO,
            f"No network announces {address} (not routed on the internet).",
        )
    best = max(origins, key=lambda o: _prefix_length(o.prefix))  # the most specific route wins
    names = await ctx.dns.txt(f"AS{best.asn}.{_NAMES}")
    owner = ""
    for text in names.texts():
        fields = [f.strip() for f in text.split("|")]
        if len(fields) >= 5:
            owner = fields[4]
            break
    label = f"AS{best.asn}" + (f" ({owner})" if owner else "")
    return Finding(
        "asn.origin",
        Status.INFO,
        f"{address} is announced by {label} in {best.prefix}"
        + (f", {best.country}" if best.country else "")
        + ".",
        evidence=tuple(answer.texts()),
    )


def _prefix_length(prefix: str) -> int:
    try:
        return ipaddress.ip_network(prefix, strict=False).prefixlen
    except ValueError:
        return -1
