"""Shared fixtures: a live DNS test server on loopback, a zone's name servers beside it, and
contexts wired to them."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterator

import pytest

from checks.context import Context, Options
from checks.engine import make_context
from checks.settings import Nameserver, Settings
from checks.target import normalise
from tests.checks.zone_servers import ZoneServers
from tests.fakes.dnsserver import DnsTestServer

MakeContext = Callable[..., Awaitable[Context]]
# The network rule, enforced by the code's own policy: tests connect to loopback and nowhere else.
LOOPBACK_ONLY = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
# The DNS test server answers on 127.0.0.1 and, as the lab's second name server (ns2.lab), on
# 127.0.1.1. A zone's own name servers, one server each, listen on the same port at these
# addresses (the parent's first): `settings.authoritative_port` is that port.
SECOND_ADDRESS = "127.0.1.1"
NAME_SERVER_ADDRESSES = ("127.0.0.10", "127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14")


@pytest.fixture(scope="session")
def dns_server_session() -> Iterator[DnsTestServer]:
    server = DnsTestServer(also=(SECOND_ADDRESS,)).start()
    yield server
    server.stop()


@pytest.fixture
def dns_server(dns_server_session: DnsTestServer) -> Iterator[DnsTestServer]:
    dns_server_session.clear()
    yield dns_server_session
    dns_server_session.clear()


@pytest.fixture(scope="session")
def name_servers_session(dns_server_session: DnsTestServer) -> Iterator[dict[str, DnsTestServer]]:
    servers: dict[str, DnsTestServer] = {}
    try:
        for address in NAME_SERVER_ADDRESSES:
            servers[address] = DnsTestServer(address, dns_server_session.port).start()
        yield servers
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture
def name_servers(
    name_servers_session: dict[str, DnsTestServer], dns_server: DnsTestServer
) -> Iterator[dict[str, DnsTestServer]]:
    """Authoritative servers at 127.0.0.10-14, on the DNS test server's port; empty for each test."""
    for server in name_servers_session.values():
        server.clear()
    yield name_servers_session
    for server in name_servers_session.values():
        server.clear()


@pytest.fixture
def zone_servers(dns_server: DnsTestServer, name_servers: dict[str, DnsTestServer]) -> ZoneServers:
    """example.test delegated from test. to name servers on loopback (tests/checks/zone_servers)."""
    return ZoneServers(dns_server, name_servers)


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
        authoritative_port=dns_server.port,
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
