"""Live checks on what a bounce names (the sending domain's SPF/DKIM/DMARC, the sending IP on
blocklists and its reverse DNS, the recipient domain's MX): does today's DNS confirm the cause?

Each is an ordinary report from the engine (`checks.engine.run_report`), run beside the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass
from typing import Final

from checks import registry
from checks.engine import make_context, run_report
from checks.message.knowledge import BLOCKLIST, IP_PTR, RECIPIENT_MX, SENDER_AUTH
from checks.model import Report
from checks.net.services import Services
from checks.settings import Settings
from checks.target import Target, TargetError, normalise

_SENDER_CHECKS: Final = ("spf", "dkim", "dmarc")


@dataclass(frozen=True, slots=True)
class Plan:
    """One live report to run: its target and checks."""

    target: Target
    checks: tuple[str, ...]


def plans(
    wants: Collection[str], *, sender_domain: str, recipient_domain: str, ip: str
) -> list[Plan]:
    """The reports a cause asks for, for the names the bounce gives (unusable names skipped)."""
    out: list[Plan] = []
    if SENDER_AUTH in wants:
        _add(out, sender_domain, _SENDER_CHECKS, address=False)
    ip_checks = tuple(c for w, c in ((BLOCKLIST, "dnsbl"), (IP_PTR, "ptr")) if w in wants)
    if ip_checks:
        _add(out, ip, ip_checks, address=True)
    if RECIPIENT_MX in wants:
        _add(out, recipient_domain, ("mx",), address=False)
    return out


def _add(out: list[Plan], name: str, checks: tuple[str, ...], *, address: bool) -> None:
    if not name:
        return
    try:
        target = normalise(name)
    except TargetError:
        return
    if target.is_address == address:
        out.append(Plan(target, checks))


async def run(plans_: list[Plan], settings: Settings, services: Services) -> tuple[Report, ...]:
    """Every planned report at once, each under the engine's own budgets."""
    reports = await asyncio.gather(
        *(
            run_report(
                registry.select(list(p.checks), is_address=p.target.is_address),
                make_context(p.target, settings, services=services),
            )
            for p in plans_
        )
    )
    return tuple(reports)
