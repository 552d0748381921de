"""Name servers (RFC 1034 4.2.2, RFC 2182, RFC 1912): does every server the parent and the zone name
answer for the zone, with one version of it, from more than one network?

The zone and its servers are found by `checks.ns.discovery`; every address of every server is then
asked, directly and at once, for the zone's SOA (recursion off), and for the root's NS records with
recursion on (an open resolver answers); `checks.ns.health` judges the answers.
"""

from __future__ import annotations

import asyncio
from typing import Final

from checks.context import Context
from checks.model import DOMAIN, Finding
from checks.ns import health
from checks.ns.discovery import Found, ask_each, discover

ID: Final = "ns"
TITLE: Final = "Name servers"
SCOPE: Final = DOMAIN


async def run(ctx: Context) -> list[Finding]:
    zone = await discover(ctx.dns, ctx.direct, ctx.domain)
    if zone.found is not Found.ZONE:
        return health.judge(zone, ())
    soas, recursion = await asyncio.gather(
        ask_each(ctx.direct, zone, zone.apex, "SOA"),
        ask_each(ctx.direct, zone, ".", "NS", recurse=True),
    )
    return health.judge(zone, soas, recursion)
