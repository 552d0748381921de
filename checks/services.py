"""Process-wide network clients handed to every report (they hold caches shared across reports).

Checks find them in `ctx.services` by name; the CLI and the Slack app build them once with
`build_services(settings)`. DNS is not here: each report gets its own `DnsClient`.
"""

from __future__ import annotations

from typing import Any

from checks.https import HttpsFetcher
from checks.settings import Settings
from checks.smtp_probe import SmtpProber


def build_services(settings: Settings) -> dict[str, Any]:
    """Build the shared clients for these settings."""
    services: dict[str, Any] = {}
    services["https"] = HttpsFetcher(settings)
    services["smtp"] = SmtpProber(settings)
    return services
