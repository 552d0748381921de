"""One look at whether records are live: the zone's name servers found (`checks.ns.discovery`),
every address of every one asked directly for the SOA and each record, every resolver asked for
each record, and the answers compared (`checks.live.compare`).

Questions go only to the servers the zone and its parent name, and to the configured resolvers
(`settings.resolvers`, else the host's) and `settings.live_resolvers`; each has its timeout, and
the whole look the report budget.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import replace

from checks.live import compare
from checks.live.result import LiveReport, RecordLive, Wanted
from checks.net.direct import DirectClient, Reply
from checks.net.dns import DnsClient
from checks.ns.discovery import Asked, Found, Zone, ask_each, discover
from checks.ns.health import newest
from checks.settings import Nameserver, Settings


async def survey(domain: str, wanted: Sequence[Wanted], settings: Settings) -> LiveReport:
    """Look once: every name server and every resolver, for each record in `wanted`."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(settings.report_budget):
            found = await _survey(domain, wanted, settings)
    except TimeoutError:
        why = f"not every server answered within {settings.report_budget:g} s"
        found = compare.nothing(domain, why)
    return replace(found, duration_ms=round((time.monotonic() - started) * 1000))


def resolvers_of(settings: Settings) -> tuple[Nameserver, ...]:
    """The resolvers asked: the configured ones (the host's when none are), then the extra ones."""
    configured = DnsClient(settings).nameservers
    return tuple(dict.fromkeys((*configured, *settings.live_resolvers)))


async def _survey(domain: str, wanted: Sequence[Wanted], settings: Settings) -> LiveReport:
    dns, direct = DnsClient(settings), DirectClient(settings)
    zone = await discover(dns, direct, domain)
    if zone.found is not Found.ZONE:
        return compare.nothing(domain, zone.detail)
    if not zone.addresses:
        return compare.nothing(domain, f"no name server of {zone.apex} has an address")
    resolvers = resolvers_of(settings)
    soas, looked = await asyncio.gather(  # every question at once: a silent server costs one wait
        ask_each(direct, zone, zone.apex, "SOA"),
        asyncio.gather(*(_ask(direct, zone, resolvers, w) for w in wanted)),
    )
    records = [s for a in soas if (s := a.reply.soa_record()) is not None and a.reply.authoritative]
    serial = newest([s.serial for s in records]) if records else None
    primary = next((s.primary for s in records if s.serial == serial), "")
    judged = [
        _judge(w, soas, answers, resolvers, cached, primary)
        for w, (answers, cached) in zip(wanted, looked, strict=True)
    ]
    return compare.report(domain, zone.apex, judged, serial=serial)


async def _ask(
    direct: DirectClient, zone: Zone, resolvers: Sequence[Nameserver], wanted: Wanted
) -> tuple[tuple[Asked, ...], list[Reply]]:
    """One record, of every name server address and every resolver."""
    return await asyncio.gather(
        ask_each(direct, zone, wanted.name, wanted.rdtype),
        asyncio.gather(*(direct.ask_resolver(r, wanted.name, wanted.rdtype) for r in resolvers)),
    )


def _judge(
    wanted: Wanted,
    soas: Sequence[Asked],
    answers: Sequence[Asked],
    resolvers: Sequence[Nameserver],
    cached: Sequence[Reply],
    primary: str,
) -> RecordLive:
    servers = [
        compare.at_server(a.server, a.address, soa.reply, a.reply, wanted)
        for a, soa in zip(answers, soas, strict=True)
    ]
    at_resolvers = [
        compare.at_resolver(str(r), reply, wanted)
        for r, reply in zip(resolvers, cached, strict=True)
    ]
    return compare.judge(wanted, servers, at_resolvers, primary)
