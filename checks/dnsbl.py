"""DNS blocklists (RFC 5782): is any mail address listed where receivers look before accepting mail?

Each list is first asked about 127.0.0.1, which no working list includes: a list that "lists"
it is dead or wildcarding (as happens when a list's domain lapses), and its answers are ignored
rather than turned into a false alarm.
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Final

from checks.context import Context
from checks.model import DOMAIN_AND_ADDRESS, Fact, Finding, Status, with_facts
from checks.net.dns import Answer, Outcome

ID: Final = "dnsbl"
TITLE: Final = "DNS blocklists"
SCOPE: Final = DOMAIN_AND_ADDRESS

# Widely used lists that answer without a key; MXBOT_DNSBL_ZONES replaces the set.
DEFAULT_ZONES: Final = (
    "zen.spamhaus.org",
    "bl.spamcop.net",
    "b.barracudacentral.org",
    "psbl.surriel.com",
    "bl.mailspike.net",
)
_DELIST: Final = {
    "zen.spamhaus.org": "https://check.spamhaus.org/",
    "bl.spamcop.net": "https://www.spamcop.net/bl.shtml",
    "b.barracudacentral.org": "https://www.barracudacentral.org/rbl/removal-request",
    "psbl.surriel.com": "https://psbl.org/",
    "bl.mailspike.net": "https://mailspike.org/",
}
# Spamhaus return codes (https://docs.spamhaus.com/): what the listing means to a receiver.
_SPAMHAUS: Final = {
    "127.0.0.2": "SBL (spam source)",
    "127.0.0.3": "CSS (snowshoe spam)",
    "127.0.0.4": "XBL (exploited or infected host)",
    "127.0.0.9": "DROP (hijacked network)",
    "127.0.0.10": "PBL (end-user range, should not send directly)",
    "127.0.0.11": "PBL (end-user range, should not send directly)",
}
# 127.255.255.x from Spamhaus: the query was refused (open/public resolver or over the free limit).
_REFUSED = ipaddress.ip_network("127.255.255.0/24")
_LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


async def run(ctx: Context) -> list[Finding]:
    addresses = await _addresses(ctx)
    if isinstance(addresses, Finding):
        return [addresses]
    zones = ctx.settings.dnsbl_zones or DEFAULT_ZONES
    sane = await asyncio.gather(*(_zone_works(ctx, z) for z in zones))
    findings = [
        Finding(
            "dnsbl.zone_broken",
            Status.INFO,
            f"The blocklist {zone} lists 127.0.0.1 (its test address that must never be listed): "
            "it is dead or wildcarding, so its answers were ignored.",
        )
        for zone, ok in zip(zones, sane, strict=True)
        if not ok
    ]
    usable = [z for z, ok in zip(zones, sane, strict=True) if ok]
    pairs = [(a, z) for a in addresses for z in usable]
    answers = await asyncio.gather(*(_ask(ctx, a, z) for a, z in pairs))
    judged = [
        await _judge(ctx, address, zone, answer)
        for (address, zone), answer in zip(pairs, answers, strict=True)
    ]
    findings.extend(f for found in judged for f in found)
    if not any(f.status.severity >= Status.WARN.severity for f in findings):
        findings.append(
            Finding(
                "dnsbl.clean",
                Status.PASS,
                f"{', '.join(addresses)} {'is' if len(addresses) == 1 else 'are'} on none of "
                f"{len(usable)} blocklists ({', '.join(usable)}).",
            )
        )
    return with_facts(findings, _listings(usable, [z for _, z in pairs], judged))


def _listings(zones: list[str], asked: list[str], judged: list[list[Finding]]) -> list[Fact]:
    """Per usable zone, how many addresses it lists; no fact for a zone that could not say for
    every address (unknown is not zero)."""
    listed = dict.fromkeys(zones, 0)
    unknown: set[str] = set()
    for zone, found in zip(asked, judged, strict=True):
        codes = {f.code for f in found}
        if codes & {"dnsbl.lookup_failed", "dnsbl.query_refused"}:
            unknown.add(zone)
        listed[zone] += "dnsbl.listed" in codes
    return [Fact("dnsbl.listed", n, zone) for zone, n in listed.items() if zone not in unknown]


async def _addresses(ctx: Context) -> list[str] | Finding:
    addresses, why = await ctx.lookup_addresses()
    return list(addresses) if addresses else Finding("dnsbl.skipped", Status.SKIP, why)


def query_name(address: str, zone: str) -> str:
    """RFC 5782 2.1/2.4: reversed octets for IPv4, reversed nibbles for IPv6, under the zone."""
    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        return ".".join(reversed(address.split("."))) + "." + zone
    nibbles = ip.exploded.replace(":", "")
    return ".".join(reversed(nibbles)) + "." + zone


async def _zone_works(ctx: Context, zone: str) -> bool:
    answer = await ctx.dns.query(query_name("127.0.0.1", zone), "A")
    return not (answer.ok and not _refused(answer))


async def _ask(ctx: Context, address: str, zone: str) -> Answer:
    return await ctx.dns.query(query_name(address, zone), "A")


def _refused(answer: Answer) -> bool:
    return any(ipaddress.ip_address(a) in _REFUSED for a in answer.addresses())


async def _judge(ctx: Context, address: str, zone: str, answer: Answer) -> list[Finding]:
    if answer.outcome in (Outcome.NXDOMAIN, Outcome.NODATA):
        return []
    if answer.failed:
        return [
            Finding(
                "dnsbl.lookup_failed",
                Status.ERROR,
                f"Could not ask {zone} about {address}: {answer.describe()}.",
            )
        ]
    if _refused(answer):
        return [
            Finding(
                "dnsbl.query_refused",
                Status.ERROR,
                f"{zone} refused to answer through this resolver ({', '.join(answer.addresses())}); "
                "Spamhaus blocks queries from public resolvers.",
                fix="Point mxbot at your own recursive resolver (MXBOT_RESOLVERS) to query this list.",
            )
        ]
    codes = tuple(a for a in answer.addresses() if ipaddress.ip_address(a) in _LOOPBACK)
    if not codes:
        return [
            Finding(
                "dnsbl.bad_answer",
                Status.INFO,
                f"{zone} answered {', '.join(answer.addresses())} for {address}, which is not a "
                "blocklist code; ignored.",
            )
        ]
    reason_answer = await ctx.dns.txt(answer.name)
    reason = " ".join(reason_answer.texts())[:300]
    meaning = (
        ", ".join(_SPAMHAUS.get(c, c) for c in codes)
        if zone.endswith("spamhaus.org")
        else ", ".join(codes)
    )
    pbl_only = zone.endswith("spamhaus.org") and all(
        c in ("127.0.0.10", "127.0.0.11") for c in codes
    )
    delist = _DELIST.get(zone, f"the {zone} operator's web site")
    return [
        Finding(
            "dnsbl.policy_listed" if pbl_only else "dnsbl.listed",
            Status.WARN if pbl_only else Status.FAIL,
            f"{address} is listed on {zone} ({meaning})"
            + (
                "; fine for a host that only receives mail, but it must not send directly."
                if pbl_only
                else "; receivers using this list reject or junk its mail."
            ),
            fix=f"Find and stop the cause (compromised account, open relay, bad list), then request removal at {delist}.",
            evidence=(reason,) if reason else (),
        )
    ]
