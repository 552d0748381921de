"""DirectClient: one question to one server, over real UDP/TCP to name servers on 127.0.0.10-14."""

from __future__ import annotations

import time
from dataclasses import replace

import dns.name

from checks.net.direct import Delivery, DirectClient
from checks.settings import Nameserver, Settings
from tests.fakes.dnsserver import DnsTestServer

ZONE = """
@ 300 IN SOA ns1 hostmaster 7 7200 3600 1209600 120
@ 300 IN NS ns1
@ 300 IN NS ns.elsewhere.test.
@ 600 IN TXT "v=spf1 -all"
www 300 IN CNAME web
ns1 300 IN A 127.0.0.11
"""
PARENT = """
@ 300 IN SOA ns hostmaster 1 7200 3600 1209600 300
@ 300 IN NS ns
ns 300 IN A 127.0.0.10
example 300 IN NS ns1.example
example 300 IN NS ns.elsewhere.test.
ns1.example 300 IN A 127.0.0.11
"""


async def test_an_authoritative_answer_comes_back_with_its_flags_records_and_ttl(
    name_servers: dict[str, DnsTestServer], settings: Settings
) -> None:
    server = name_servers["127.0.0.11"]
    server.load_zone(ZONE, "example.test")

    reply = await DirectClient(settings).ask("127.0.0.11", "Example.TEST.", "TXT")

    assert reply.responded
    assert reply.rcode == "NOERROR"
    assert reply.authoritative
    assert not reply.recursion_available
    assert [r.to_text() for r in reply.records] == ['"v=spf1 -all"']
    assert reply.ttl == 600
    assert reply.server == Nameserver("127.0.0.11", settings.authoritative_port)
    assert server.recursion_desired == 0  # recursion off: the server's own data, nothing else


async def test_a_negative_answer_carries_the_zones_soa_and_its_negative_ttl(
    name_servers: dict[str, DnsTestServer], settings: Settings
) -> None:
    name_servers["127.0.0.11"].load_zone(ZONE, "example.test")
    client = DirectClient(settings)

    missing = await client.ask("127.0.0.11", "nope.example.test", "TXT")
    nodata = await client.ask("127.0.0.11", "example.test", "MX")

    assert missing.nxdomain
    assert not missing.nodata
    assert nodata.nodata
    assert not nodata.nxdomain
    assert missing.soa is not None
    assert missing.soa.serial == 7
    assert missing.soa.negative_ttl == 120  # RFC 2308: the lesser of the SOA's TTL and MINIMUM


async def test_an_alias_is_reported_as_its_target_not_followed(
    name_servers: dict[str, DnsTestServer], settings: Settings
) -> None:
    name_servers["127.0.0.11"].load_zone(ZONE + "web 300 IN A 192.0.2.1\n", "example.test")

    reply = await DirectClient(settings).ask("127.0.0.11", "www.example.test", "TXT")

    assert reply.cname == "web.example.test"
    assert not reply.nodata


async def test_a_parent_refers_with_the_delegation_and_glue_for_servers_inside_it(
    name_servers: dict[str, DnsTestServer], settings: Settings
) -> None:
    parent = name_servers["127.0.0.10"]
    parent.load_zone(PARENT, "test")
    parent.behaviour.delegations.add(dns.name.from_text("example.test"))

    reply = await DirectClient(settings).ask("127.0.0.10", "example.test", "NS")

    assert reply.is_referral
    assert not reply.authoritative
    assert reply.referral_zone == "example.test"
    assert sorted(reply.referral) == ["ns.elsewhere.test", "ns1.example.test"]
    assert reply.glue == (("ns1.example.test", "127.0.0.11"),)  # none for the outside server


async def test_a_lame_server_refuses_or_answers_without_authority(
    name_servers: dict[str, DnsTestServer], settings: Settings
) -> None:
    refusing, caching = name_servers["127.0.0.12"], name_servers["127.0.0.13"]
    refusing.behaviour.refused_zones.add(dns.name.from_text("example.test"))
    caching.load_zone(ZONE, "example.test")
    caching.behaviour.not_authoritative = True
    client = DirectClient(settings)

    refused = await client.ask("127.0.0.12", "example.test", "SOA")
    cached = await client.ask("127.0.0.13", "example.test", "SOA")

    assert refused.rcode == "REFUSED"
    assert refused.describe() == "REFUSED"
    assert cached.soa_record() is not None
    assert not cached.authoritative
    assert cached.describe() == "an answer without authority (no AA bit)"


async def test_a_truncated_answer_is_asked_again_over_tcp(
    name_servers: dict[str, DnsTestServer], settings: Settings
) -> None:
    server = name_servers["127.0.0.11"]
    server.load_zone(ZONE, "example.test")
    server.behaviour.udp_limit = 60

    reply = await DirectClient(settings).ask("127.0.0.11", "example.test", "TXT")

    assert reply.tcp
    assert len(reply.records) == 1
    assert server.tcp_queries == 1


async def test_a_server_without_edns_is_asked_again_without_it(
    name_servers: dict[str, DnsTestServer], settings: Settings
) -> None:
    server = name_servers["127.0.0.11"]
    server.load_zone(ZONE, "example.test")
    server.behaviour.no_edns = True

    reply = await DirectClient(settings).ask("127.0.0.11", "example.test", "SOA")

    soa = reply.soa_record()
    assert soa is not None
    assert soa.serial == 7
    assert soa.refresh == 7200
    assert server.count("example.test", "SOA") == 2


async def test_a_silent_server_costs_a_bounded_wait(
    name_servers: dict[str, DnsTestServer], settings: Settings
) -> None:
    server = name_servers["127.0.0.14"]
    server.behaviour.drop_all = True
    started = time.monotonic()

    reply = await DirectClient(settings).ask("127.0.0.14", "example.test", "SOA")

    assert reply.delivery is Delivery.TIMEOUT
    assert not reply.responded
    assert time.monotonic() - started < (settings.dns_retries + 1) * settings.timeout + 2.0
    assert server.count("example.test", "SOA") == settings.dns_retries + 1


async def test_an_address_outside_the_allowed_networks_is_never_asked(
    name_servers: dict[str, DnsTestServer], settings: Settings
) -> None:
    pinned = replace(settings, allow_private=False)

    reply = await DirectClient(pinned).ask("127.0.0.11", "example.test", "SOA")
    elsewhere = await DirectClient(settings).ask("192.0.2.53", "example.test", "SOA")

    assert reply.delivery is Delivery.NOT_ASKED
    assert "loopback" in reply.detail
    assert elsewhere.delivery is Delivery.NOT_ASKED
    assert name_servers["127.0.0.11"].count("example.test", "SOA") == 0


async def test_a_resolver_is_asked_with_recursion_on(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    dns_server.load_zone(ZONE, "example.test")
    dns_server.behaviour.recursion_available = True

    reply = await DirectClient(settings).ask_resolver(settings.resolvers[0], "example.test", "TXT")

    assert reply.recursion_available
    assert reply.ttl == 600
    assert dns_server.recursion_desired == 1
