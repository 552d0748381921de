"""DMARC policy discovery: the RFC 9989 tree walk, inheritance and the organisational domain,
over real DNS."""

from __future__ import annotations

from checks.dmarc import check as dmarc
from checks.dmarc import discovery as dmarc_discovery
from checks.model import Status
from tests.checks.dmarc_zones import GOOD, check, zone
from tests.conftest import MakeContext
from tests.fakes.dnsserver import DnsTestServer
from tests.findings import codes


def test_walk_names_follow_rfc9989_shortcut() -> None:
    assert dmarc_discovery.walk_names("a.b.example.com") == (
        "a.b.example.com",
        "b.example.com",
        "example.com",
        "com",
    )
    deep = "l10.l9.l8.l7.l6.l5.l4.l3.l2.l1"
    assert dmarc_discovery.walk_names(deep) == (
        deep,
        "l7.l6.l5.l4.l3.l2.l1",
        "l6.l5.l4.l3.l2.l1",
        "l5.l4.l3.l2.l1",
        "l4.l3.l2.l1",
        "l3.l2.l1",
        "l2.l1",
        "l1",
    )


async def test_deep_subdomain_inherits_the_org_record_in_at_most_8_lookups(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    deep = "a.b.c.d.e.f.g.h.example.test"
    ctx = await context_for(
        zone(GOOD, "a.b.c.d.e.f.g.h 300 IN A 192.0.2.1"), deep, origin="example.test"
    )

    findings = await dmarc.run(ctx)
    pol = await dmarc_discovery.policy(ctx)

    assert codes(findings) == [("dmarc.inherited", Status.INFO), ("dmarc.ok", Status.PASS)]
    assert pol is not None
    assert pol.source == "example.test"
    assert pol.org_domain == "example.test"
    dmarc_queries = [n for n, t in dns_server.names_queried() if n.startswith("_dmarc.")]
    assert len(dmarc_queries) <= 8
    assert dns_server.count("_dmarc.b.c.d.e.f.g.h.example.test", "TXT") == 0  # the shortcut
    assert dns_server.count("_dmarc.c.d.e.f.g.h.example.test", "TXT") == 0
    assert dns_server.count("_dmarc.d.e.f.g.h.example.test", "TXT") == 1  # the 7-label name


async def test_subdomain_gets_sp_of_the_org_record(context_for: MakeContext) -> None:
    z = zone(
        '_dmarc 300 IN TXT "v=DMARC1; p=reject; sp=none; rua=mailto:d@example.test"',
        "shop 300 IN A 192.0.2.1",
    )
    ctx = await context_for(z, "shop.example.test", origin="example.test")

    findings = await dmarc.run(ctx)

    assert codes(findings) == [
        ("dmarc.inherited", Status.INFO),
        ("dmarc.policy_none", Status.WARN),
        ("dmarc.subdomain_policy_weaker", Status.WARN),
    ]


async def test_nonexistent_subdomain_gets_np(context_for: MakeContext) -> None:
    z = zone('_dmarc 300 IN TXT "v=DMARC1; p=reject; np=reject; rua=mailto:d@example.test"')
    ctx = await context_for(z, "ghost.example.test", origin="example.test")

    pol = await dmarc_discovery.policy(ctx)

    assert pol is not None
    assert pol.applied == "reject"


async def test_psd_record_covers_a_domain_without_its_own(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    dns_server.add(
        "_dmarc.test", "TXT", '"v=DMARC1; p=reject; psd=y; rua=mailto:psd@registry.example"'
    )
    ctx = await context_for(zone(), "example.test", origin="example.test")

    findings = await dmarc.run(ctx)
    pol = await dmarc_discovery.policy(ctx)

    assert codes(findings) == [("dmarc.psd_policy", Status.WARN)]
    assert pol is not None
    assert pol.from_psd
    assert pol.source == "test"
    assert pol.org_domain == "example.test"  # one label below the psd=y record


async def test_psd_y_decides_the_org_domain_of_a_deep_name(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    dns_server.add("_dmarc.test", "TXT", '"v=DMARC1; p=reject; psd=y"')
    ctx = await context_for(
        zone(GOOD, "x.y 300 IN A 192.0.2.1"), "x.y.example.test", origin="example.test"
    )

    pol = await dmarc_discovery.policy(ctx)

    assert pol is not None
    assert pol.source == "example.test"
    assert pol.org_domain == "example.test"


async def test_psd_n_marks_the_org_domain(context_for: MakeContext) -> None:
    z = zone(GOOD, '_dmarc.y 300 IN TXT "v=DMARC1; p=reject; psd=n"', "x.y 300 IN A 192.0.2.1")
    ctx = await context_for(z, "x.y.example.test", origin="example.test")

    pol = await dmarc_discovery.policy(ctx)

    assert pol is not None
    assert pol.source == "y.example.test"
    assert pol.org_domain == "y.example.test"


async def test_multiple_records_at_subdomain_fall_back_to_the_org_record(
    context_for: MakeContext,
) -> None:
    z = zone(
        GOOD,
        '_dmarc.shop 300 IN TXT "v=DMARC1; p=none"',
        '_dmarc.shop 300 IN TXT "v=DMARC1; p=quarantine"',
    )

    findings = await check(context_for, z, "shop.example.test")

    assert codes(findings)[:2] == [
        ("dmarc.multiple", Status.FAIL),
        ("dmarc.inherited", Status.INFO),
    ]
    assert "use the policy at _dmarc.example.test" in findings[0].message
