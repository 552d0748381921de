"""DnsClient over real UDP/TCP to the loopback test server: outcomes, CNAMEs, truncation, caching."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import dns.name
import dns.rdata
import dns.rdtypes.ANY.MX
import dns.rdtypes.IN.A
import pytest

from checks.net.dns import Answer, DnsClient, Outcome
from checks.settings import Nameserver, Settings, parse_nameserver
from tests.fakes.dnsserver import DnsTestServer

ZONE = """
@ 300 IN SOA ns1 host 1 7200 3600 1209600 300
@ 300 IN TXT "v=spf1 -all"
www 300 IN CNAME web
web 300 IN A 192.0.2.10
out 300 IN CNAME target.other.test.
loop1 300 IN CNAME loop2
loop2 300 IN CNAME loop1
a.b.c 300 IN A 192.0.2.11
"""


def client(settings: Settings) -> DnsClient:
    return DnsClient(settings)


async def test_answer_nxdomain_and_nodata_are_told_apart(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    dns_server.load_zone(ZONE, "example.test")
    dns_ = client(settings)

    txt, missing, nodata, empty_nonterminal = await asyncio.gather(
        dns_.txt("example.test"),
        dns_.txt("nope.example.test"),
        dns_.query("example.test", "MX"),
        dns_.query("b.c.example.test", "A"),
    )

    assert (txt.outcome, txt.texts()) == (Outcome.ANSWER, ("v=spf1 -all",))
    assert missing.outcome is Outcome.NXDOMAIN
    assert nodata.outcome is Outcome.NODATA
    assert empty_nonterminal.outcome is Outcome.NODATA


async def test_servfail_is_not_nxdomain(dns_server: DnsTestServer, settings: Settings) -> None:
    dns_server.behaviour.servfail.add(dns.name.from_text("broken.test"))

    answer = await client(settings).txt("broken.test")

    assert answer.outcome is Outcome.SERVFAIL
    assert answer.failed
    assert answer.server == dns_server.address


async def test_a_server_that_never_answers_gives_a_bounded_timeout(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    dns_server.behaviour.drop_all = True
    started = time.monotonic()

    answer = await client(settings).txt("example.test")

    elapsed = time.monotonic() - started
    assert answer.outcome is Outcome.TIMEOUT
    # two attempts of 0.5 s each (settings: timeout 0.5, one retry), with slack for a busy CI
    assert elapsed < (settings.dns_retries + 1) * settings.timeout + 2.0
    assert dns_server.count("example.test", "TXT") == settings.dns_retries + 1


async def test_cname_chain_is_followed_in_and_out_of_zone(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    dns_server.load_zone(ZONE, "example.test")
    dns_server.add("target.other.test", "A", "192.0.2.99")
    dns_ = client(settings)

    www, out = await asyncio.gather(
        dns_.query("www.example.test", "A"), dns_.query("out.example.test", "A")
    )

    assert www.addresses() == ("192.0.2.10",)
    assert www.cnames == ("web.example.test",)
    assert out.addresses() == ("192.0.2.99",)
    assert out.cnames == ("target.other.test",)


async def test_cname_loop_is_a_servfail_not_a_hang(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    dns_server.load_zone(ZONE, "example.test")

    answer = await client(settings).query("loop1.example.test", "A")

    assert answer.outcome is Outcome.SERVFAIL
    assert "loop" in answer.detail


async def test_truncated_udp_answer_is_retried_over_tcp(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    values = [f'"{"x" * 200} {i}"' for i in range(12)]  # ~2.4 kB: over any UDP payload we offer
    dns_server.add("big.test", "TXT", *values)

    answer = await client(settings).txt("big.test")

    assert answer.ok
    assert answer.tcp
    assert len(answer.texts()) == 12
    assert dns_server.tcp_queries == 1


async def test_identical_lookups_in_flight_are_made_once(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    dns_server.load_zone(ZONE, "example.test")
    dns_server.behaviour.delay = 0.05
    dns_ = client(settings)

    answers = await asyncio.gather(*(dns_.txt("Example.TEST.") for _ in range(10)))

    assert all(a.texts() == ("v=spf1 -all",) for a in answers)
    assert dns_server.count("example.test", "TXT") == 1
    assert (dns_.stats.asked, dns_.stats.sent) == (10, 1)


async def test_a_second_nameserver_answers_when_the_first_is_dead(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    dns_server.load_zone(ZONE, "example.test")
    dead = Nameserver("127.0.0.1", 9)  # discard port: nothing listens, the query is lost or refused
    dns_ = DnsClient(settings, nameservers=(dead, Nameserver(dns_server.host, dns_server.port)))

    answer = await dns_.txt("example.test")

    assert answer.ok
    assert answer.server == dns_server.address


async def test_ad_bit_is_requested_and_reported(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    dns_server.load_zone(ZONE, "example.test")

    answer = await client(settings).txt("example.test")

    assert answer.authenticated is False  # the test server does not validate


async def test_invalid_names_are_values_not_exceptions(settings: Settings) -> None:
    answer = await client(settings).txt("a" * 64 + ".example.test")

    assert answer.outcome is Outcome.NXDOMAIN
    assert "not a valid name" in answer.detail


async def test_a_server_without_edns_is_asked_again_without_it(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    dns_server.load_zone(ZONE, "example.test")
    dns_server.behaviour.no_edns = True

    answer = await client(settings).txt("example.test")

    assert answer.texts() == ("v=spf1 -all",)
    assert dns_server.count("example.test", "TXT") == 2  # once with EDNS (FORMERR), once without


async def test_an_ipv6_resolver_given_as_bracketed_host_and_port_is_used(
    settings: Settings,
) -> None:
    try:
        server = DnsTestServer("::1").start()
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    try:
        server.load_zone(ZONE, "example.test")
        resolver = parse_nameserver(server.address)  # "[::1]:port", as on the command line

        answer = await DnsClient(replace(settings, resolvers=(resolver,))).txt("example.test")
    finally:
        server.stop()

    assert answer.texts() == ("v=spf1 -all",)
    assert answer.server == server.address


async def test_typed_accessors_read_the_fields_of_each_record_type(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    dns_server.load_zone(ZONE, "example.test")
    dns_server.add("example.test", "MX", "20 b.example.test.", "10 a.example.test.")
    dns_server.add("_imaps._tcp.example.test", "SRV", "0 5 993 imap.example.test.")
    dns_server.add("_25._tcp.mx.example.test", "TLSA", f"3 1 1 {'ab' * 32}")
    dns_server.add("example.test", "NSEC3PARAM", "1 0 0 CAFE")
    dns_ = client(settings)

    mx, srv, tlsa, nsec3param = await asyncio.gather(
        dns_.query("example.test", "MX"),
        dns_.query("_imaps._tcp.example.test", "SRV"),
        dns_.query("_25._tcp.mx.example.test", "TLSA"),
        dns_.query("example.test", "NSEC3PARAM"),
    )

    assert sorted((r.preference, r.exchange.to_text()) for r in mx.mx_records()) == [
        (10, "a.example.test."),
        (20, "b.example.test."),
    ]
    assert [(r.priority, r.weight, r.port) for r in srv.srv_records()] == [(0, 5, 993)]
    assert [(r.usage, r.selector, r.mtype, r.cert) for r in tlsa.tlsa_records()] == [
        (3, 1, 1, b"\xab" * 32)
    ]
    assert [(p.iterations, p.salt) for p in nsec3param.nsec3params()] == [(0, b"\xca\xfe")]
    assert mx.dnskeys() == mx.ds_records() == mx.rrsigs() == ()


def test_an_accessor_returns_only_records_of_its_type() -> None:
    mx = dns.rdata.from_text("IN", "MX", "10 a.example.test.")
    a = dns.rdata.from_text("IN", "A", "192.0.2.1")
    answer = Answer("example.test", "MX", Outcome.ANSWER, rdata=(mx, a))

    assert answer.mx_records() == (mx,)
    assert answer.of_type(dns.rdtypes.IN.A.A) == (a,)
    assert answer.of_type(dns.rdtypes.ANY.MX.MX) == answer.mx_records()
    assert answer.addresses() == ("192.0.2.1",)
    assert answer.texts() == ()
