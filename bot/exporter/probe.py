"""Run one probe: the report a `ProbeQuery` asks for, on the process-wide services, within its
budget, and the registry of its series."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from bot.exporter.request import ProbeQuery
from bot.exporter.series import probe_registry
from checks import registry
from checks.engine import make_context, run_report
from checks.model import Report
from checks.net.services import Services
from checks.settings import Settings


@dataclass(frozen=True, slots=True)
class Prober:
    """Probes for one process: every probe shares `services` (the SMTP prober's per-address
    politeness lock and cache, the HTTPS fetcher) with the others and with the rest of the app."""

    settings: Settings
    services: Services
    clock: Callable[[], float] = time.monotonic

    async def report(self, query: ProbeQuery) -> tuple[Report, float]:
        """The report and how long it took, in seconds."""
        settings = self.settings.with_overrides(
            report_budget=query.budget, check_budget=min(self.settings.check_budget, query.budget)
        )
        checks = registry.select(list(query.checks) or None, is_address=query.target.is_address)
        ctx = make_context(query.target, settings, services=self.services)
        started = self.clock()
        report = await run_report(checks, ctx)
        return report, self.clock() - started

    async def __call__(self, query: ProbeQuery) -> CollectorRegistry:
        """The probe's series, in a registry of its own."""
        report, seconds = await self.report(query)
        return probe_registry(report, seconds)
