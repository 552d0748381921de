"""Shared fixtures: a live DNS test server on loopback, and contexts wired to it."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterator

import pytest

from checks.context import Context, Options
from checks.engine import make_context
from checks.settings import Nameserver, Settings
from checks.target import normalise
from tests.fakes.dnsserver import DnsTestServer

MakeContext = Callable[..., Awaitable[Context]]
# The network rule, enforced by the code's own policy: tests connect to loopback and nowhere else.
LOOPBACK_ONLY = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


@pytest.fixture(scope="session")
def dns_server_session() -> Iterator[DnsTestServer]:
    server = DnsTestServer().start()
    yield server
    server.stop()


@pytest.fixture
def dns_server(dns_server_session: DnsTestServer) -> Iterator[DnsTestServer]:
    dns_server_session.clear()
    yield dns_server_session
    dns_server_session.clear()


@pytest.fixture
def settings(dns_server: DnsTestServer) -> Settings:
    return Settings(
        resolvers=(Nameserver(dns_server.host, dns_server.port),),
        timeout=0.5,
        greeting_timeout=0.5,  # scaled down with the step timeout; greeting tests raise it
        dns_retries=1,
        check_budget=5.0,
        report_budget=8.0,
        allow_private=True,
        connect_networks=LOOPBACK_ONLY,
    )


@pytest.fixture
def context_for(dns_server: DnsTestServer, settings: Settings) -> MakeContext:
    """`await context_for(zone_text, "example.test")`: load the zone, return a fresh context."""

    async def make(
        zone: str = "",
        domain: str = "example.test",
        *,
        origin: str | None = None,
        **options: object,
    ) -> Context:
        if zone:
            dns_server.load_zone(zone, origin or domain)
        return make_context(normalise(domain), settings, options=Options(**options))  # type: ignore[arg-type]

    return make
