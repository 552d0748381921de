"""What the prober test modules share: the host they probe, the step timeout, and a prober for
a loopback port."""

from __future__ import annotations

from checks.net.probe.prober import SmtpProber
from checks.settings import Settings
from tests.fakes.mailservers.loopback import prober_settings
from tests.fakes.mailservers.pki import Pki

HOST = "mx.example.test"
TIMEOUT = 0.4


def settings_for(pki: Pki, **changes: object) -> Settings:
    return prober_settings(pki, TIMEOUT, **changes)


def prober(pki: Pki, port: int, **kwargs: object) -> SmtpProber:
    return SmtpProber(settings_for(pki), port=port, cache_seconds=0, **kwargs)  # type: ignore[arg-type]
