"""Process-wide network clients handed to every report (they hold caches shared across reports).

Checks find them in `ctx.services`; the CLI and the Slack app build them once with
`build_services(settings)`. DNS is not here: each report gets its own `DnsClient`.
"""

from __future__ import annotations

from dataclasses import dataclass

from checks.net.https import HttpsFetcher
from checks.net.probe.prober import SmtpProber
from checks.settings import Settings


@dataclass(frozen=True, slots=True)
class Services:
    """Process-wide network clients, built once (`checks.net.services.build_services`) and shared by
    every report for their caches and per-address politeness. A missing client means the checks
    that need it connect nowhere and say so."""

    smtp: SmtpProber | None = None
    https: HttpsFetcher | None = None


def build_services(settings: Settings) -> Services:
    """Build the shared clients for these settings."""
    return Services(smtp=SmtpProber(settings), https=HttpsFetcher(settings))
