"""What checks measure for machines (`Fact`): the MX count, the SPF lookup count and the blocklist
listings, each carried beside the prose and absent when it could not be measured. (The TLS
certificate's notAfter is measured end to end in tests/bot/test_exporter_probe.py.)"""

from __future__ import annotations

from dataclasses import replace

import dns.name
import pytest

from checks import dnsbl, mx
from checks.model import FACTS, CheckResult, Fact, Finding, Status, with_facts
from checks.settings import Settings
from checks.spf import check as spf
from tests.conftest import MakeContext
from tests.fakes.dnsserver import DnsTestServer

SOA = "@ 300 IN SOA ns1 host 1 7200 3600 1209600 300\n"
MX_ZONE = SOA + "@ MX 10 mx\nmx A 192.0.2.25\nmx AAAA 2001:db8::25\n"


def facts(findings: list[Finding]) -> list[Fact]:
    """The numbers measured (the records seen, text facts, are tests/checks/test_seen_records.py's)."""
    return [f for f in CheckResult("x", "X", tuple(findings), 0).facts if f.name in FACTS]


def test_facts_ride_on_the_first_finding_and_the_result_gathers_them() -> None:
    a, b = Finding("x.a", Status.PASS, "a"), Finding("x.b", Status.WARN, "b")
    one, two = Fact("mx.hosts", 1), Fact("spf.lookups", 2)

    carried = with_facts(with_facts([a, b], [one]), [two])

    assert carried[0].facts == (one, two)
    assert carried[1] == b
    assert facts(carried) == [one, two]
    assert with_facts([], [one]) == []


@pytest.mark.parametrize(
    ("zone", "count"),
    [
        ("@ MX 10 a\n@ MX 20 b\na A 192.0.2.1\nb A 192.0.2.2\n", 2),
        ("@ MX 10 alias\nalias CNAME real\nreal A 192.0.2.1\n", 1),
        ("@ MX 0 .\n", 0),
        ("@ A 192.0.2.1\n", 0),
        ('@ TXT "hello"\n', 0),
    ],
    ids=["two hosts", "a broken host still counts", "null MX", "implicit MX", "none"],
)
async def test_the_mx_check_counts_the_published_hosts(
    context_for: MakeContext, zone: str, count: int
) -> None:
    ctx = await context_for(SOA + zone)

    assert facts(await mx.run(ctx)) == [Fact("mx.hosts", count)]


async def test_a_failed_mx_lookup_measures_nothing(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    ctx = await context_for(SOA)
    dns_server.behaviour.servfail.add(dns.name.from_text("example.test"))

    assert facts(await mx.run(ctx)) == []


@pytest.mark.parametrize(
    ("record", "lookups"),
    [
        ('@ TXT "v=spf1 mx include:_spf.example.test -all"', 2),
        ('@ TXT "v=spf1 mx a a a a a a a a a a ~all"', 11),
        ('@ TXT "v=spf1 ip4:192.0.2.1 ?all"', 0),  # a warning, and still counted
    ],
)
async def test_the_spf_check_counts_lookups_whatever_its_verdict(
    context_for: MakeContext, record: str, lookups: int
) -> None:
    zone = SOA + "@ MX 10 mx\nmx A 192.0.2.25\n" + record + '\n_spf TXT "v=spf1 -all"\n'
    ctx = await context_for(zone)

    assert facts(await spf.run(ctx)) == [Fact("spf.lookups", lookups)]


async def test_an_unreadable_spf_record_measures_nothing(context_for: MakeContext) -> None:
    ctx = await context_for(SOA + '@ TXT "v=spf1 mx ip4:192.0.2.300 -all"\n')

    assert facts(await spf.run(ctx)) == []


async def test_blocklists_report_each_zone_listed_clean_or_unknown(
    context_for: MakeContext, dns_server: DnsTestServer, settings: Settings
) -> None:
    for zone in ("bl.test", "clean.test", "zen.spamhaus.org", "down.test"):
        dns_server.add(zone, "SOA", f"ns.{zone}. host.{zone}. 1 2 3 4 5")
    dns_server.add("25.2.0.192.bl.test", "A", "127.0.0.2")
    dns_server.add("25.2.0.192.zen.spamhaus.org", "A", "127.0.0.10")
    ctx = await context_for(MX_ZONE)
    ctx.settings = replace(
        settings, dnsbl_zones=("bl.test", "clean.test", "zen.spamhaus.org", "down.test")
    )
    dns_server.behaviour.servfail.add(dns.name.from_text("25.2.0.192.down.test"))

    found = facts(await dnsbl.run(ctx))

    assert found == [
        Fact("dnsbl.listed", 1, "bl.test"),
        Fact("dnsbl.listed", 0, "clean.test"),
        Fact(
            "dnsbl.listed", 0, "zen.spamhaus.org"
        ),  # a policy listing (WARN) is not a listing here
    ]


def test_every_fact_a_check_emits_is_documented() -> None:
    assert set(FACTS) == {"mx.hosts", "spf.lookups", "tls.not_after", "dnsbl.listed"}
