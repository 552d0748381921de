"""The `ns` check against real name servers on loopback: a parent that refers, a zone's servers that
answer, lag, refuse or keep quiet, and the resolver in front of them."""

from __future__ import annotations

import time
from dataclasses import replace

import dns.name

from checks import registry
from checks.context import Context
from checks.engine import make_context, run_report
from checks.model import Finding, Status
from checks.ns import check as ns
from checks.ns import health
from checks.settings import Settings
from checks.target import normalise
from tests.checks.zone_servers import ADDRESSES, ZoneServers, zone
from tests.conftest import MakeContext
from tests.findings import by_code, code_set, codes

OK = ("ns.ok", Status.PASS)
THREE = {**ADDRESSES, "ns3.example.test": "127.0.0.13"}


async def run(context_for: MakeContext, domain: str = "example.test") -> list[Finding]:
    ctx: Context = await context_for("", domain)
    return await ns.run(ctx)


async def test_a_sound_delegation_passes_naming_each_server_and_its_serial(
    context_for: MakeContext, zone_servers: ZoneServers
) -> None:
    zone_servers.sound()

    findings = await run(context_for)

    assert codes(findings) == [OK]
    assert findings[0].evidence == (
        "ns1.example.test (127.0.0.11): serial 1",
        "ns2.example.test (127.0.1.1): serial 1",
    )
    assert "parent zone (test) delegates it" in findings[0].message


async def test_a_host_inside_the_zone_is_judged_by_its_zone(
    context_for: MakeContext, zone_servers: ZoneServers
) -> None:
    zone_servers.sound()

    findings = await run(context_for, "mx.example.test")

    assert codes(findings) == [OK]


async def test_a_server_that_refuses_the_zone_is_a_lame_delegation_named_by_address(
    context_for: MakeContext, zone_servers: ZoneServers
) -> None:
    text = zone(servers=THREE)
    zone_servers.delegate(tuple(THREE), glue=THREE)
    zone_servers.publish(text)
    zone_servers.serve("127.0.0.11", text)
    zone_servers.servers["127.0.0.13"].behaviour.refused_zones.add(
        dns.name.from_text("example.test")
    )

    findings = await run(context_for)

    assert code_set(findings) == {("ns.lame", Status.FAIL), OK}
    lame = by_code(findings, "ns.lame")
    assert lame.message.startswith("ns3.example.test (127.0.0.13) is named as a name server")
    assert "REFUSED" in lame.message


async def test_a_server_answering_without_authority_is_lame_too(
    context_for: MakeContext, zone_servers: ZoneServers
) -> None:
    zone_servers.sound()
    zone_servers.servers["127.0.0.11"].behaviour.not_authoritative = True

    findings = await run(context_for)

    assert code_set(findings) == {("ns.lame", Status.FAIL), OK}
    assert "no AA bit" in by_code(findings, "ns.lame").message


async def test_when_every_server_is_lame_the_parent_still_names_them_and_the_zone_fails(
    context_for: MakeContext, zone_servers: ZoneServers, settings: Settings
) -> None:
    zone_servers.delegate()
    apex = dns.name.from_text("example.test")
    zone_servers.servers["127.0.0.11"].behaviour.refused_zones.add(apex)
    zone_servers.resolver.behaviour.refused_zones.add(apex)  # 127.0.1.1 refuses it as well
    zone_servers.resolver.behaviour.servfail_zones.add(apex)  # so resolvers fail: SERVFAIL
    ctx = make_context(normalise("example.test"), settings)

    report = await run_report([registry.load("mx"), ns], ctx)

    findings = report.results[1].findings
    assert ("ns.all_lame", Status.FAIL) in codes(findings)
    assert report.cause is not None
    assert report.cause.code == "ns.all_lame"
    assert by_code(report.results[0].findings, "mx.lookup_failed").because == "ns.all_lame"


async def test_a_server_behind_on_the_serial_is_named_with_both_serials(
    context_for: MakeContext, zone_servers: ZoneServers
) -> None:
    zone_servers.sound(zone(serial=2))
    zone_servers.serve("127.0.0.11", zone(serial=1))

    findings = await run(context_for)

    assert code_set(findings) == {("ns.serial_mismatch", Status.WARN), OK}
    message = by_code(findings, "ns.serial_mismatch").message
    assert "ns1.example.test (127.0.0.11) serves serial 1" in message
    assert "(ns2.example.test (127.0.1.1)) serial 2" in message


async def test_serials_compare_by_rfc_1982_arithmetic_across_the_wrap(
    context_for: MakeContext, zone_servers: ZoneServers
) -> None:
    zone_servers.sound(zone(serial=4294967295))
    zone_servers.serve("127.0.0.11", zone(serial=3))  # 3 comes after 2**32 - 1

    findings = await run(context_for)

    assert "127.0.1.1) serves serial 4294967295" in by_code(findings, "ns.serial_mismatch").message


async def test_parent_and_zone_naming_different_servers_is_a_warning(
    context_for: MakeContext, zone_servers: ZoneServers
) -> None:
    zone_servers.sound(zone(servers=THREE))
    zone_servers.serve("127.0.0.13", zone(servers=THREE))

    findings = await run(context_for)

    assert code_set(findings) == {("ns.delegation_mismatch", Status.WARN), OK}
    mismatch = by_code(findings, "ns.delegation_mismatch")
    assert mismatch.evidence == ("only in the parent: -", "only in the zone: ns3.example.test")


async def test_a_server_inside_the_zone_needs_glue_and_one_outside_does_not(
    context_for: MakeContext, zone_servers: ZoneServers
) -> None:
    outside = {"ns1.example.test": "127.0.0.11", "ns.example.net": "127.0.1.1"}
    text = zone(servers=outside)
    zone_servers.delegate(tuple(outside), glue={})
    zone_servers.publish(text)
    zone_servers.resolver.add("ns.example.net", "A", "127.0.1.1")
    zone_servers.serve("127.0.0.11", text)

    findings = await run(context_for)

    assert code_set(findings) == {("ns.glue_missing", Status.FAIL), OK}
    assert "to ns1.example.test, a name inside" in by_code(findings, "ns.glue_missing").message


async def test_glue_that_differs_from_the_servers_own_address_is_a_warning(
    context_for: MakeContext, zone_servers: ZoneServers
) -> None:
    zone_servers.sound()
    zone_servers.delegate(glue={**ADDRESSES, "ns1.example.test": "127.0.0.12"})

    findings = await run(context_for)

    assert ("ns.glue_mismatch", Status.WARN) in codes(findings)
    # the glue address is asked too, and does not serve the zone
    assert ("ns.unresponsive", Status.FAIL) not in codes(findings)
    assert ("ns.lame", Status.FAIL) in codes(findings)


async def test_one_name_server_is_a_warning_not_a_failure_of_delivery(
    context_for: MakeContext, zone_servers: ZoneServers, settings: Settings
) -> None:
    only = {"ns1.example.test": "127.0.0.11"}
    zone_servers.delegate(tuple(only))
    zone_servers.publish(zone(servers=only))
    zone_servers.serve("127.0.0.11", zone(servers=only))
    ctx = make_context(normalise("example.test"), settings)

    report = await run_report([ns], ctx)

    assert code_set(report.results[0].findings) == {("ns.single", Status.WARN), OK}
    assert report.cause is None
    assert report.headline.startswith("Mail for example.test should flow")


async def test_servers_all_in_one_slash_24_are_a_warning(
    context_for: MakeContext, zone_servers: ZoneServers
) -> None:
    near = {"ns1.example.test": "127.0.0.11", "ns2.example.test": "127.0.0.12"}
    text = zone(servers=near)
    zone_servers.delegate(tuple(near), glue=near)
    zone_servers.publish(text)
    zone_servers.serve("127.0.0.11", text)
    zone_servers.serve("127.0.0.12", text)

    findings = await run(context_for)

    assert code_set(findings) == {("ns.same_network", Status.WARN), OK}
    assert "(127.0.0.0/24)" in by_code(findings, "ns.same_network").message


async def test_unusual_soa_timers_and_a_long_negative_ttl_are_warnings(
    context_for: MakeContext, zone_servers: ZoneServers
) -> None:
    text = zone(soa="172800 200000 300000 86400").replace("@ 300 IN SOA", "@ 86400 IN SOA")
    zone_servers.sound(text)

    findings = await run(context_for)

    assert code_set(findings) == {
        ("ns.soa_timers", Status.WARN),
        ("ns.negative_ttl_long", Status.WARN),
        OK,
    }
    timers = by_code(findings, "ns.soa_timers").message
    assert "refresh 172800 s" in timers
    assert "retry 200000 s is not shorter than refresh" in timers
    assert "expire 300000 s is not longer" in timers
    assert "for 86400 s" in by_code(findings, "ns.negative_ttl_long").message


async def test_a_negative_ttl_is_the_lesser_of_the_soa_ttl_and_minimum(
    context_for: MakeContext, zone_servers: ZoneServers
) -> None:
    zone_servers.sound(zone(soa="7200 3600 1209600 86400"))  # SOA TTL 300: 300 s it is

    findings = await run(context_for)

    assert codes(findings) == [OK]


async def test_an_authoritative_server_that_resolves_for_anyone_is_noted(
    context_for: MakeContext, zone_servers: ZoneServers
) -> None:
    zone_servers.sound()
    recursive = zone_servers.servers["127.0.0.11"]
    recursive.behaviour.recursion_available = True
    recursive.add(".", "NS", "a.root-servers.test.")

    findings = await run(context_for)

    assert code_set(findings) == {("ns.open_recursion", Status.INFO), OK}
    assert by_code(findings, "ns.open_recursion").message.startswith(
        "ns1.example.test (127.0.0.11)"
    )


async def test_a_silent_server_among_answering_ones_fails(
    context_for: MakeContext, zone_servers: ZoneServers
) -> None:
    zone_servers.sound()
    zone_servers.servers["127.0.0.11"].behaviour.drop_all = True

    findings = await run(context_for)

    assert code_set(findings) == {("ns.unresponsive", Status.FAIL), OK}


async def test_name_servers_that_never_answer_are_not_checked_rather_than_lame(
    context_for: MakeContext, zone_servers: ZoneServers
) -> None:
    near = {"ns1.example.test": "127.0.0.11", "ns3.example.test": "127.0.0.13"}
    text = zone(servers=near)
    zone_servers.delegate(tuple(near), glue=near)
    zone_servers.publish(text)
    for address in near.values():
        zone_servers.servers[address].behaviour.drop_all = True

    findings = await run(context_for)

    assert codes(findings)[0] == ("ns.unreachable", Status.INFO)
    assert ("ns.all_lame", Status.FAIL) not in codes(findings)


async def test_a_silent_ipv6_address_when_no_ipv6_answers_is_this_hosts_ipv6_not_theirs(
    context_for: MakeContext, zone_servers: ZoneServers
) -> None:
    text = zone() + "ns1.example.test. 300 IN AAAA ::1\n"  # nothing answers DNS on ::1 here
    zone_servers.sound(text)

    findings = await run(context_for)

    assert code_set(findings) == {("ns.not_asked", Status.INFO), OK}
    assert "this host's IPv6" in by_code(findings, "ns.not_asked").message


async def test_a_silent_parent_is_asked_twice_at_most_and_its_delegation_not_checked(
    context_for: MakeContext, zone_servers: ZoneServers
) -> None:
    zone_servers.sound()
    zone_servers.parent.behaviour.drop_all = True
    started = time.monotonic()

    findings = await run(context_for)

    assert code_set(findings) == {("ns.parent_not_checked", Status.INFO), OK}
    assert zone_servers.asked("127.0.0.10") <= 2 * 2  # one server here; two attempts each
    assert time.monotonic() - started < 4.0


async def test_a_server_whose_name_has_no_address_fails(
    context_for: MakeContext, zone_servers: ZoneServers
) -> None:
    named = {**ADDRESSES, "ns.gone.test": ""}
    zone_servers.delegate(tuple(named))
    zone_servers.publish(zone())
    zone_servers.serve("127.0.0.11", zone())

    findings = await run(context_for)

    assert code_set(findings) == {
        ("ns.no_address", Status.FAIL),
        ("ns.delegation_mismatch", Status.WARN),
        OK,
    }
    assert by_code(findings, "ns.no_address").message.startswith("ns.gone.test, a name server")


async def test_a_server_the_address_policy_forbids_is_not_asked(
    context_for: MakeContext, zone_servers: ZoneServers
) -> None:
    far = {**ADDRESSES, "ns3.example.test": "192.0.2.53"}
    text = zone(servers=far)
    zone_servers.delegate(tuple(far), glue=far)
    zone_servers.publish(text)
    zone_servers.serve("127.0.0.11", text)

    findings = await run(context_for)

    assert code_set(findings) == {("ns.not_asked", Status.INFO), OK}
    assert "outside the networks" in by_code(findings, "ns.not_asked").message


async def test_a_parent_that_denies_the_delegation_fails(
    context_for: MakeContext, zone_servers: ZoneServers
) -> None:
    zone_servers.sound()
    zone_servers.parent.clear()
    zone_servers.parent.load_zone(
        "@ 300 IN SOA ns.test. hostmaster.test. 1 7200 3600 1209600 300\n@ NS ns.test.\n", "test"
    )

    findings = await run(context_for)

    assert ("ns.not_delegated", Status.FAIL) in codes(findings)
    assert "answers NXDOMAIN" in by_code(findings, "ns.not_delegated").message


async def test_no_zone_no_servers_and_no_domain_are_nothing_to_check(
    context_for: MakeContext, zone_servers: ZoneServers
) -> None:
    zone_servers.sound()
    zone_servers.resolver.load_zone("@ 300 IN SOA ns1 host 1 7200 3600 1209600 300\n", "bare.test")

    nxdomain = await run(context_for, "nope.example.test")
    bare = await run(context_for, "bare.test")
    nothing = await run(context_for, "example.invalid")

    assert codes(nxdomain) == [("ns.not_found", Status.SKIP)]
    assert "does not exist" in nxdomain[0].message
    assert codes(bare) == [("ns.not_found", Status.SKIP)]
    assert codes(nothing) == [("ns.not_found", Status.SKIP)]


async def test_failing_lookups_that_the_parent_cannot_explain_are_inconclusive(
    context_for: MakeContext, zone_servers: ZoneServers
) -> None:
    zone_servers.delegate()
    zone_servers.resolver.behaviour.servfail_zones.add(dns.name.from_text("example.test"))
    zone_servers.parent.behaviour.servfail_zones.add(dns.name.from_text("example.test"))

    findings = await run(context_for)

    assert codes(findings) == [("ns.lookup_failed", Status.ERROR)]


async def test_only_the_servers_the_zone_names_are_asked(
    context_for: MakeContext, zone_servers: ZoneServers, settings: Settings
) -> None:
    zone_servers.sound()
    ctx = make_context(normalise("example.test"), replace(settings, dns_retries=0))

    await ns.run(ctx)

    asked = {a for a in zone_servers.servers if zone_servers.asked(a)}
    assert asked == {"127.0.0.10", "127.0.0.11"}  # the parent, and ns1 (ns2 is the resolver's)
    assert ctx.direct.sent == 1 + 2 * 2  # the delegation; SOA and recursion at both addresses


def test_serial_arithmetic_and_networks_follow_the_rfcs() -> None:
    assert health.newer(2, 1)
    assert health.newer(3, 4294967295)  # RFC 1982: 3 comes after 2**32 - 1
    assert not health.newer(4294967295, 3)
    assert health.newest([4294967295, 3, 1]) == 3
    assert health.network("2001:db8:1:2::53") == "2001:db8:1::/48"
    assert health.network("192.0.2.53") == "192.0.2.0/24"
