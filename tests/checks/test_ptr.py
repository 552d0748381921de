"""Reverse DNS: PTR present, forward-confirmed, and the fix names who can set it."""

from __future__ import annotations

import pytest

from checks import ptr
from checks.model import Status
from tests.conftest import MakeContext
from tests.fakes.dnsserver import DnsTestServer
from tests.findings import code_set

SOA = "@ 300 IN SOA ns1 host 1 7200 3600 1209600 300\n"
MX = SOA + "@ MX 10 mx\nmx A 192.0.2.25\n"


async def test_forward_confirmed_ptr_passes(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    dns_server.add("25.2.0.192.in-addr.arpa", "PTR", "mx.example.test.")
    ctx = await context_for(MX)

    assert code_set(await ptr.run(ctx)) == {("ptr.ok", Status.PASS)}


async def test_missing_ptr_fails_and_says_who_sets_it(context_for: MakeContext) -> None:
    ctx = await context_for(MX)

    findings = await ptr.run(ctx)

    assert code_set(findings) == {("ptr.missing", Status.FAIL)}
    assert "hosting provider or ISP" in findings[0].fix
    assert "mx.example.test" in findings[0].fix


async def test_ptr_that_does_not_resolve_back_fails(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    dns_server.add("25.2.0.192.in-addr.arpa", "PTR", "elsewhere.example.test.")
    ctx = await context_for(MX + "elsewhere A 192.0.2.99\n")

    assert code_set(await ptr.run(ctx)) == {("ptr.unconfirmed", Status.FAIL)}


async def test_generic_ptr_warns(context_for: MakeContext, dns_server: DnsTestServer) -> None:
    dns_server.add("25.2.0.192.in-addr.arpa", "PTR", "192-0-2-25.dyn.isp.test.")
    dns_server.add("192-0-2-25.dyn.isp.test", "A", "192.0.2.25")
    ctx = await context_for(MX)

    assert code_set(await ptr.run(ctx)) == {("ptr.generic", Status.WARN)}


async def test_ipv6_ptr_is_confirmed_against_aaaa(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    dns_server.add(
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
        "PTR",
        "mx.example.test.",
    )
    ctx = await context_for(SOA + "@ MX 10 mx\nmx AAAA 2001:db8::1\n")

    assert code_set(await ptr.run(ctx)) == {("ptr.ok", Status.PASS)}


async def test_an_ip_address_target_checks_its_own_ptr(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    dns_server.add("7.113.0.203.in-addr.arpa", "PTR", "out.example.test.")
    dns_server.add("out.example.test", "A", "203.0.113.7")
    ctx = await context_for("", domain="203.0.113.7")

    assert code_set(await ptr.run(ctx)) == {("ptr.ok", Status.PASS)}


async def test_one_lookup_per_address_even_when_two_hosts_share_it(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    dns_server.add("25.2.0.192.in-addr.arpa", "PTR", "mx.example.test.")
    ctx = await context_for(MX + "@ MX 20 mx2\nmx2 A 192.0.2.25\n")

    findings = await ptr.run(ctx)

    assert code_set(findings) == {("ptr.ok", Status.PASS)}
    assert dns_server.count("25.2.0.192.in-addr.arpa", "PTR") == 1


async def test_an_address_target_without_ptr_asks_for_a_host_name(context_for: MakeContext) -> None:
    ctx = await context_for("", domain="203.0.113.9")

    findings = await ptr.run(ctx)

    assert code_set(findings) == {("ptr.missing", Status.FAIL)}
    assert "host name" in findings[0].fix
    assert "PTR to 203.0.113.9" not in findings[0].fix


@pytest.mark.parametrize(
    ("name", "generic"),
    [
        ("192-0-2-25.dyn.isp.test", True),
        ("ip-192-0-2-25.ec2.internal", True),
        ("25.2.0.192.static.isp.test", True),
        ("dsl-pool.isp.test", True),
        ("host1.example.test", False),
        ("mail-01.example.test", False),
        ("mx.example.test", False),
    ],
)
async def test_generic_ptr_names_are_recognised_without_flagging_ordinary_host_names(
    context_for: MakeContext, dns_server: DnsTestServer, name: str, generic: bool
) -> None:
    dns_server.add("25.2.0.192.in-addr.arpa", "PTR", f"{name}.")
    dns_server.add(name, "A", "192.0.2.25")
    ctx = await context_for(MX)

    found = code_set(await ptr.run(ctx))

    assert (("ptr.generic", Status.WARN) in found) is generic
