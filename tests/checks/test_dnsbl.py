"""Blocklists: listed, clean, refused, broken lists ignored, and the RFC 5782 query names."""

from __future__ import annotations

from dataclasses import replace

from checks import asn, dnsbl
from checks.model import Status
from checks.settings import Settings
from tests.conftest import MakeContext
from tests.fakes.dnsserver import DnsTestServer
from tests.findings import code_set

SOA = "@ 300 IN SOA ns1 host 1 7200 3600 1209600 300\n"
ZONE = SOA + "@ MX 10 mx\nmx A 192.0.2.25\nmx AAAA 2001:db8::25\n"


def with_zones(settings: Settings, *zones: str) -> Settings:
    return replace(settings, dnsbl_zones=zones)


def test_query_names_reverse_octets_and_nibbles() -> None:
    assert dnsbl.query_name("192.0.2.25", "bl.test") == "25.2.0.192.bl.test"
    assert (
        dnsbl.query_name("2001:db8::1", "bl.test")
        == "1.0.0.0." + "0.0.0.0." * 5 + "8.b.d.0.1.0.0.2.bl.test"
    )


async def test_a_listed_address_fails_with_the_lists_reason(
    context_for: MakeContext, dns_server: DnsTestServer, settings: Settings
) -> None:
    dns_server.add("25.2.0.192.bl.test", "A", "127.0.0.2")
    dns_server.add("25.2.0.192.bl.test", "TXT", '"Listed for spam, see https://bl.test/192.0.2.25"')
    dns_server.add("bl.test", "SOA", "ns.bl.test. host.bl.test. 1 2 3 4 5")
    ctx = await context_for(ZONE)
    ctx.settings = with_zones(settings, "bl.test")

    findings = await dnsbl.run(ctx)

    assert code_set(findings) == {("dnsbl.listed", Status.FAIL)}
    assert "Listed for spam" in findings[0].evidence[0]


async def test_clean_addresses_pass(
    context_for: MakeContext, dns_server: DnsTestServer, settings: Settings
) -> None:
    dns_server.add("bl.test", "SOA", "ns.bl.test. host.bl.test. 1 2 3 4 5")
    ctx = await context_for(ZONE)
    ctx.settings = with_zones(settings, "bl.test")

    findings = await dnsbl.run(ctx)

    assert code_set(findings) == {("dnsbl.clean", Status.PASS)}
    assert (
        dns_server.count(
            "5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test", "A"
        )
        == 1
    )


async def test_a_wildcarding_list_is_ignored_not_a_false_alarm(
    context_for: MakeContext, dns_server: DnsTestServer, settings: Settings
) -> None:
    dns_server.add("*.dead.test", "A", "127.0.0.2")
    ctx = await context_for(ZONE)
    ctx.settings = with_zones(settings, "dead.test")

    findings = await dnsbl.run(ctx)

    assert ("dnsbl.zone_broken", Status.INFO) in code_set(findings)
    assert ("dnsbl.listed", Status.FAIL) not in code_set(findings)


async def test_spamhaus_refusal_is_an_error_not_a_listing(
    context_for: MakeContext, dns_server: DnsTestServer, settings: Settings
) -> None:
    dns_server.add("25.2.0.192.zen.spamhaus.org", "A", "127.255.255.254")
    ctx = await context_for(ZONE)
    ctx.settings = with_zones(settings, "zen.spamhaus.org")

    assert code_set(await dnsbl.run(ctx)) >= {("dnsbl.query_refused", Status.ERROR)}


async def test_pbl_listing_of_a_receiving_host_is_a_warning(
    context_for: MakeContext, dns_server: DnsTestServer, settings: Settings
) -> None:
    dns_server.add("25.2.0.192.zen.spamhaus.org", "A", "127.0.0.10")
    ctx = await context_for(ZONE)
    ctx.settings = with_zones(settings, "zen.spamhaus.org")

    assert ("dnsbl.policy_listed", Status.WARN) in code_set(await dnsbl.run(ctx))


async def test_private_addresses_are_not_looked_up_unless_allowed(
    context_for: MakeContext, dns_server: DnsTestServer, settings: Settings
) -> None:
    ctx = await context_for(SOA + "@ MX 10 mx\nmx A 10.0.0.25\n")
    ctx.settings = replace(with_zones(settings, "bl.test"), allow_private=False)

    assert code_set(await dnsbl.run(ctx)) == {("dnsbl.skipped", Status.SKIP)}


async def test_loopback_is_never_looked_up_even_in_a_lab(
    context_for: MakeContext, dns_server: DnsTestServer, settings: Settings
) -> None:
    ctx = await context_for(SOA + "@ MX 10 mx\nmx A 127.0.0.2\n")
    ctx.settings = with_zones(settings, "bl.test")

    assert code_set(await dnsbl.run(ctx)) == {("dnsbl.skipped", Status.SKIP)}
    assert dns_server.count("2.0.0.127.bl.test", "A") == 0


async def test_asn_names_the_network_and_its_owner(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    dns_server.add(
        "25.2.0.192.origin.asn.cymru.com", "TXT", '"64500 | 192.0.2.0/24 | ZZ | test | 2020-01-01"'
    )
    dns_server.add(
        "AS64500.asn.cymru.com",
        "TXT",
        '"64500 | ZZ | test | 2020-01-01 | EXAMPLE-NET - Example Hosting"',
    )
    ctx = await context_for(SOA + "@ MX 10 mx\nmx A 192.0.2.25\n")

    findings = await asn.run(ctx)

    assert code_set(findings) == {("asn.origin", Status.INFO)}
    assert "AS64500 (EXAMPLE-NET - Example Hosting) in 192.0.2.0/24" in findings[0].message


async def test_asn_of_an_unrouted_address_is_informational(context_for: MakeContext) -> None:
    ctx = await context_for(SOA + "@ MX 10 mx\nmx A 192.0.2.25\n")

    assert code_set(await asn.run(ctx)) == {("asn.unannounced", Status.INFO)}
