"""Fixtures for the message diagnosis: the corpus's zone on the DNS test server, and one call
that diagnoses a corpus file."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from checks.message.diagnose import diagnose
from checks.message.result import MessageReport
from checks.settings import Settings
from tests.checks.message.corpus import ROOT, zone
from tests.fakes.dnsserver import DnsTestServer

Diagnose = Callable[..., Awaitable[MessageReport]]


@pytest.fixture
def message_settings(dns_server: DnsTestServer, settings: Settings) -> Settings:
    dns_server.load_zone(zone(), ".")
    return settings.with_overrides(dnsbl_zones=("bl.test",))


@pytest.fixture
def diagnose_file(message_settings: Settings) -> Diagnose:
    """`await diagnose_file("good.eml")` (a path under tests/data/messages), or raw bytes."""

    async def run(name: str | bytes, **kw: object) -> MessageReport:
        data = name if isinstance(name, bytes) else (ROOT / name).read_bytes()
        return await diagnose(data, message_settings, **kw)  # type: ignore[arg-type]

    return run


def corpus_path(name: str) -> Path:
    return ROOT / name
