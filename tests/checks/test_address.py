"""The address check: public, reachable A/AAAA for every mail host."""

from __future__ import annotations

from dataclasses import replace

import dns.name

from checks import address
from checks.model import Status
from checks.settings import Settings
from tests.conftest import MakeContext
from tests.fakes.dnsserver import DnsTestServer
from tests.findings import by_code, code_set, codes

SOA = "@ 300 IN SOA ns1 host 1 7200 3600 1209600 300\n"


async def test_public_v4_and_v6_pass(context_for: MakeContext) -> None:
    ctx = await context_for(SOA + "@ MX 10 a\na A 8.8.4.4\na AAAA 2606:4700::1\n")

    assert code_set(await address.run(ctx)) == {("address.ok", Status.PASS)}


async def test_no_ipv6_is_informational(context_for: MakeContext) -> None:
    ctx = await context_for(SOA + "@ MX 10 a\na A 8.8.4.4\n")

    assert code_set(await address.run(ctx)) == {
        ("address.no_ipv6", Status.INFO),
        ("address.ok", Status.PASS),
    }


async def test_private_and_reserved_addresses_in_public_mx_data_fail(
    context_for: MakeContext,
) -> None:
    ctx = await context_for(
        SOA + "@ MX 10 a\n@ MX 20 b\n@ MX 30 c\na A 10.1.2.3\nb A 169.254.0.9\nc AAAA fd00::1\n"
    )

    findings = await address.run(ctx)

    bad = [f for f in findings if f.code == "address.non_global"]
    assert [f.status for f in bad] == [Status.FAIL] * 3
    assert {"private", "link-local"} <= {w for f in bad for w in f.message.split()}


async def test_loopback_is_tolerated_only_when_private_addresses_are_allowed(
    context_for: MakeContext, settings: Settings
) -> None:
    ctx = await context_for(SOA + "@ MX 10 a\na A 127.0.0.5\n")
    assert ("address.lab_allowed", Status.INFO) in code_set(await address.run(ctx))

    strict = await context_for("")
    strict.settings = replace(settings, allow_private=False)

    assert ("address.non_global", Status.FAIL) in code_set(await address.run(strict))


async def test_null_mx_skips(context_for: MakeContext) -> None:
    ctx = await context_for(SOA + "@ MX 0 .\n")

    assert code_set(await address.run(ctx)) == {("address.skipped", Status.SKIP)}


async def test_implicit_mx_checks_the_domains_own_address(context_for: MakeContext) -> None:
    ctx = await context_for(SOA + "@ A 8.8.4.4\n")

    findings = await address.run(ctx)

    assert ("address.ok", Status.PASS) in code_set(findings)
    assert "example.test 8.8.4.4" in findings[-1].message


async def test_documentation_addresses_fail_in_public_but_pass_in_a_lab(
    context_for: MakeContext, settings: Settings
) -> None:
    lab = await context_for(SOA + "@ MX 10 a\na A 192.0.2.1\n")
    assert ("address.lab_allowed", Status.INFO) in code_set(await address.run(lab))

    public = await context_for("")
    public.settings = replace(settings, allow_private=False)
    findings = await address.run(public)

    assert ("address.non_global", Status.FAIL) in code_set(findings)
    assert "documentation-only" in findings[0].message


# ---- hosts without an address: each named, with why ---------------------------------------------
UNADDRESSED = (
    SOA
    + "@ MX 10 gone\n"  # NXDOMAIN
    + '@ MX 20 bare\nbare TXT "a name with no address"\n'  # NODATA
    + "@ MX 30 192.0.2.1.\n"  # an IP literal where a host name belongs
    + "@ MX 40 broken\n"  # the lookup fails (SERVFAIL)
    + "@ MX 50 alias\nalias CNAME gone-too\n"  # an alias to a name that does not exist
)


async def test_each_host_without_an_address_is_named_with_why(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    ctx = await context_for(UNADDRESSED)
    dns_server.behaviour.servfail.add(dns.name.from_text("broken.example.test"))

    findings = await address.run(ctx)

    assert codes(findings) == [("address.none", Status.FAIL)]
    assert findings[0].evidence == (
        "gone.example.test: does not exist (NXDOMAIN)",
        "bare.example.test: has no A or AAAA record (NODATA)",
        "192.0.2.1: is an IP address, not a host name (RFC 5321 5.1), so senders find no "
        "address for it",
        f"broken.example.test: could not be looked up (SERVFAIL from {dns_server.address})",
        "alias.example.test: is an alias of gone-too.example.test, which does not exist (NXDOMAIN)",
    )
    message = findings[0].message
    assert message.startswith("No mail host has an address, so senders cannot deliver: ")
    assert "No mail host has an address." not in message
    assert findings[0].record is not None
    assert findings[0].record.name == "gone.example.test."


async def test_a_host_without_an_address_beside_a_working_one_is_a_warning(
    context_for: MakeContext,
) -> None:
    ctx = await context_for(SOA + "@ MX 10 a\na A 8.8.4.4\n@ MX 20 gone\n")

    findings = await address.run(ctx)

    assert code_set(findings) == {
        ("address.host_no_address", Status.WARN),
        ("address.no_ipv6", Status.INFO),
        ("address.ok", Status.PASS),
    }
    assert by_code(findings, "address.host_no_address").message.startswith(
        "The mail host gone.example.test does not exist (NXDOMAIN)"
    )


async def test_only_failed_lookups_are_an_error_not_a_failure(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    ctx = await context_for(SOA + "@ MX 10 broken\n")
    dns_server.behaviour.servfail.add(dns.name.from_text("broken.example.test"))

    findings = await address.run(ctx)

    assert codes(findings) == [("address.lookup_failed", Status.ERROR)]
    assert findings[0].message.startswith("broken.example.test could not be looked up (SERVFAIL")


async def test_an_implicit_mx_without_an_address_says_the_domain_itself_has_none(
    context_for: MakeContext,
) -> None:
    ctx = await context_for(SOA + '@ TXT "v=spf1 -all"\n')

    findings = await address.run(ctx)

    assert codes(findings) == [("address.none", Status.FAIL)]
    assert findings[0].evidence == (
        "example.test (no MX record, so the domain itself): has no A or AAAA record (NODATA)",
    )
