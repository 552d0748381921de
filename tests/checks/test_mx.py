"""The MX check's verdicts, each against real DNS answers from the loopback server."""

from __future__ import annotations

import dns.name

from checks import mx
from checks.model import Status
from tests.conftest import MakeContext
from tests.fakes.dnsserver import DnsTestServer
from tests.findings import codes

SOA = "@ 300 IN SOA ns1 host 1 7200 3600 1209600 300\n"


async def test_two_reachable_hosts_pass_and_equal_preference_is_load_balancing(
    context_for: MakeContext,
) -> None:
    ctx = await context_for(SOA + "@ MX 10 a\n@ MX 10 b\na A 192.0.2.1\nb AAAA 2001:db8::1\n")

    findings = await mx.run(ctx)

    assert codes(findings) == [("mx.ok", Status.PASS)]
    assert "share the load" in findings[0].message


async def test_no_mx_with_an_address_is_an_implicit_mx_warning(context_for: MakeContext) -> None:
    ctx = await context_for(SOA + "@ A 192.0.2.1\n")

    findings = await mx.run(ctx)

    assert codes(findings) == [("mx.implicit", Status.WARN)]
    assert findings[0].record is not None


async def test_no_mx_and_no_address_fails(context_for: MakeContext) -> None:
    ctx = await context_for(SOA + '@ TXT "hello"\n')

    assert codes(await mx.run(ctx)) == [("mx.none", Status.FAIL)]


async def test_null_mx_says_the_domain_takes_no_mail(context_for: MakeContext) -> None:
    ctx = await context_for(SOA + "@ MX 0 .\n")

    findings = await mx.run(ctx)

    assert codes(findings) == [("mx.null", Status.INFO)]
    assert (await ctx.mx()).receives_mail is False


async def test_null_mx_mixed_with_real_hosts_fails(context_for: MakeContext) -> None:
    ctx = await context_for(SOA + "@ MX 0 .\n@ MX 10 a\na A 192.0.2.1\n")

    assert ("mx.null_mixed", Status.FAIL) in codes(await mx.run(ctx))


async def test_mx_target_that_is_a_cname_fails_with_the_real_name(context_for: MakeContext) -> None:
    ctx = await context_for(SOA + "@ MX 10 alias\nalias CNAME real\nreal A 192.0.2.1\n")

    findings = await mx.run(ctx)

    assert ("mx.target_cname", Status.FAIL) in codes(findings)
    cname = next(f for f in findings if f.code == "mx.target_cname")
    assert cname.record is not None
    assert "real.example.test." in cname.record.value


async def test_mx_target_that_is_an_ip_literal_fails(context_for: MakeContext) -> None:
    ctx = await context_for(SOA + "@ MX 10 192.0.2.1.\n")

    assert ("mx.target_ip", Status.FAIL) in codes(await mx.run(ctx))


async def test_mx_target_without_address_fails(context_for: MakeContext) -> None:
    ctx = await context_for(SOA + '@ MX 10 gone\n@ MX 20 empty\nempty TXT "x"\n')

    findings = await mx.run(ctx)

    assert codes(findings).count(("mx.target_no_address", Status.FAIL)) == 2
    assert any("does not exist" in f.message for f in findings)
    assert any("has no A or AAAA" in f.message for f in findings)


async def test_nxdomain_fails_with_a_plain_sentence(context_for: MakeContext) -> None:
    # The zone exists and is served; the name inside it does not.
    ctx = await context_for(SOA, domain="missing.example.test", origin="example.test")

    findings = await mx.run(ctx)

    assert codes(findings) == [("mx.nxdomain", Status.FAIL)]
    assert "does not exist" in findings[0].message


async def test_servfail_is_an_error_naming_the_resolver(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    dns_server.behaviour.servfail.add(dns.name.from_text("example.test"))
    ctx = await context_for(SOA)

    findings = await mx.run(ctx)

    assert codes(findings) == [("mx.lookup_failed", Status.ERROR)]
    assert dns_server.address in findings[0].message


async def test_timeout_is_an_error_not_a_failure(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    dns_server.behaviour.timeout.add(dns.name.from_text("example.test"))
    ctx = await context_for(SOA)

    findings = await mx.run(ctx)

    assert codes(findings) == [("mx.lookup_failed", Status.ERROR)]
    assert "timeout" in findings[0].message
