"""check_host() against the text of RFC 7208, case by case, over the loopback DNS server."""

from __future__ import annotations

import dns.name
import pytest

from checks.net.dns import DnsClient
from checks.settings import Settings
from checks.spf.evaluate import Result, SpfResult, check_host, identity, valid_domain
from tests.fakes.dnsserver import DnsTestServer

BASE = """
mail 300 IN A 192.0.2.10
mail 300 IN AAAA 2001:db8::10
"""


@pytest.fixture
def fast(settings: Settings) -> Settings:
    return settings.with_overrides(timeout=0.2, dns_retries=0)


async def spf(
    server: DnsTestServer,
    settings: Settings,
    zone: str,
    ip: str = "192.0.2.10",
    domain: str = "example.test",
    sender: str = "",
) -> SpfResult:
    server.load_zone(BASE + zone, "example.test")
    return await check_host(
        DnsClient(settings), ip, domain, sender or f"user@{domain}", "helo.example.test"
    )


async def test_ip4_match_passes_and_names_the_mechanism(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    r = await spf(dns_server, settings, '@ TXT "v=spf1 ip4:192.0.2.0/24 -all"')

    assert (r.result, r.mechanism) == (Result.PASS, "ip4:192.0.2.0/24")


@pytest.mark.parametrize(
    ("qualifier", "result"),
    [
        ("-", Result.FAIL),
        ("~", Result.SOFTFAIL),
        ("?", Result.NEUTRAL),
        ("+", Result.PASS),
        ("", Result.PASS),
    ],
)
async def test_the_qualifier_of_the_matching_mechanism_is_the_result(
    dns_server: DnsTestServer, settings: Settings, qualifier: str, result: Result
) -> None:
    r = await spf(dns_server, settings, f'@ TXT "v=spf1 ip4:198.51.100.1 {qualifier}all"')

    assert r.result is result


async def test_no_match_and_no_redirect_is_neutral(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    # RFC 7208 4.7: "If none of the mechanisms match and there is no redirect modifier ... neutral"
    r = await spf(dns_server, settings, '@ TXT "v=spf1 ip4:198.51.100.1"')

    assert r.result is Result.NEUTRAL


async def test_no_spf_record_is_none(dns_server: DnsTestServer, settings: Settings) -> None:
    r = await spf(dns_server, settings, '@ TXT "google-site-verification=abc"')

    assert r.result is Result.NONE


async def test_nonexistent_domain_is_none(dns_server: DnsTestServer, settings: Settings) -> None:
    r = await spf(dns_server, settings, "", domain="nowhere.example.test")

    assert r.result is Result.NONE


async def test_two_spf_records_are_a_permerror(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    r = await spf(dns_server, settings, '@ TXT "v=spf1 -all"\n@ TXT "v=spf1 +all"')

    assert r.result is Result.PERMERROR


async def test_a_syntax_error_anywhere_is_a_permerror_even_after_a_match(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    # RFC 7208 4.6: syntax errors anywhere in the record stop evaluation before it starts.
    r = await spf(dns_server, settings, '@ TXT "v=spf1 ip4:192.0.2.10 ip4:300.1.1.1"')

    assert r.result is Result.PERMERROR
    assert "ip4:300.1.1.1" in r.reason


async def test_a_txt_timeout_is_a_temperror(dns_server: DnsTestServer, fast: Settings) -> None:
    dns_server.behaviour.timeout.add(dns.name.from_text("example.test"))

    r = await spf(dns_server, fast, "")

    assert r.result is Result.TEMPERROR


async def test_servfail_on_the_record_is_a_temperror(
    dns_server: DnsTestServer, fast: Settings
) -> None:
    dns_server.behaviour.servfail.add(dns.name.from_text("example.test"))

    r = await spf(dns_server, fast, "")

    assert r.result is Result.TEMPERROR


async def test_include_passes_only_on_pass(dns_server: DnsTestServer, settings: Settings) -> None:
    zone = """
@ TXT "v=spf1 include:inc.example.test ~all"
inc TXT "v=spf1 ip4:192.0.2.10 -all"
"""
    assert (await spf(dns_server, settings, zone)).result is Result.PASS
    # the include's -all does not make the outer record fail (5.2: fail means "no match")
    assert (await spf(dns_server, settings, "", ip="198.51.100.7")).result is Result.SOFTFAIL


async def test_include_of_a_name_without_spf_is_a_permerror(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    r = await spf(dns_server, settings, '@ TXT "v=spf1 include:none.example.test -all"')

    assert r.result is Result.PERMERROR


async def test_a_temperror_inside_an_include_ends_everything(
    dns_server: DnsTestServer, fast: Settings
) -> None:
    dns_server.behaviour.servfail.add(dns.name.from_text("inc.example.test"))

    r = await spf(dns_server, fast, '@ TXT "v=spf1 include:inc.example.test ip4:192.0.2.10"')

    assert r.result is Result.TEMPERROR


async def test_redirect_to_a_name_without_spf_is_a_permerror(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    r = await spf(dns_server, settings, '@ TXT "v=spf1 redirect=none.example.test"')

    assert r.result is Result.PERMERROR


async def test_redirect_is_ignored_when_all_is_present(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    zone = """
@ TXT "v=spf1 ?all redirect=r.example.test"
r TXT "v=spf1 -all"
"""
    r = await spf(dns_server, settings, zone)

    assert r.result is Result.NEUTRAL
    assert dns_server.count("r.example.test", "TXT") == 0


async def test_explanation_comes_from_the_redirect_target_not_the_original(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    # RFC 7208 6.2: after redirect, the original domain's exp= must not be used.
    zone = """
@ TXT "v=spf1 exp=outer.example.test redirect=r.example.test"
r TXT "v=spf1 -all exp=inner.example.test"
outer TXT "outer"
inner TXT "%{i} is not one of %{d}'s senders (" "%{s}, via %{h})"
"""
    r = await spf(dns_server, settings, zone, sender="bob@example.test")

    assert r.result is Result.FAIL
    assert r.explanation == (
        "192.0.2.10 is not one of r.example.test's senders (bob@example.test, via helo.example.test)"
    )


async def test_an_includes_exp_is_never_used(dns_server: DnsTestServer, settings: Settings) -> None:
    zone = """
@ TXT "v=spf1 include:inc.example.test -all"
inc TXT "v=spf1 -all exp=e.example.test"
e TXT "from the include"
"""
    r = await spf(dns_server, settings, zone)

    assert (r.result, r.explanation) == (Result.FAIL, None)
    assert dns_server.count("e.example.test", "TXT") == 0


async def test_a_broken_explanation_leaves_the_result_alone(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    zone = """
@ TXT "v=spf1 -all exp=e.example.test"
e TXT "one"
e TXT "two"
"""
    r = await spf(dns_server, settings, zone)

    assert (r.result, r.explanation) == (Result.FAIL, None)


async def test_ten_dns_terms_are_allowed_and_the_eleventh_is_a_permerror(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    ten = " ".join(["a:mail.example.test/32"] * 9)
    zone = f"""
@ TXT "v=spf1 {ten} include:last.example.test -all"
last TXT "v=spf1 ip4:192.0.2.99"
eleven TXT "v=spf1 {ten} " "a:mail.example.test a:mail.example.test ip4:192.0.2.99"
"""
    at_limit = await spf(dns_server, settings, zone, ip="192.0.2.99")
    over = await spf(dns_server, settings, "", ip="192.0.2.99", domain="eleven.example.test")

    assert (at_limit.result, at_limit.lookups) == (Result.PASS, 10)
    assert over.result is Result.PERMERROR
    assert "limit is 10" in over.reason


async def test_a_third_void_lookup_is_a_permerror(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    zone = """
@ TXT "v=spf1 a:v1.example.test mx:v2.example.test ?all"
three TXT "v=spf1 a:v1.example.test mx:v2.example.test exists:v3.example.test ?all"
"""
    two = await spf(dns_server, settings, zone, ip="198.51.100.1")
    three = await spf(dns_server, settings, "", ip="198.51.100.1", domain="three.example.test")

    assert (two.result, two.void_lookups) == (Result.NEUTRAL, 2)
    assert three.result is Result.PERMERROR


async def test_more_than_ten_mx_names_is_a_permerror(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    mx = "\n".join(f"@ MX {i} mx{i}.example.test." for i in range(11))
    r = await spf(dns_server, settings, f'@ TXT "v=spf1 mx -all"\n{mx}')

    assert r.result is Result.PERMERROR


async def test_mx_matches_any_exchanger_address_with_cidr(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    zone = """
@ TXT "v=spf1 mx/24 -all"
@ MX 10 mail.example.test.
"""
    assert (await spf(dns_server, settings, zone, ip="192.0.2.77")).result is Result.PASS
    assert (await spf(dns_server, settings, "", ip="192.0.3.77")).result is Result.FAIL


async def test_a_uses_aaaa_and_the_ip6_cidr_for_ipv6_clients(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    zone = '@ TXT "v=spf1 a:mail.example.test/32//64 -all"'

    assert (await spf(dns_server, settings, zone, ip="2001:db8::ffff")).result is Result.PASS
    assert (await spf(dns_server, settings, "", ip="2001:db8:1::1")).result is Result.FAIL


async def test_ipv4_mapped_ipv6_clients_are_ipv4(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    r = await spf(
        dns_server, settings, '@ TXT "v=spf1 ip4:192.0.2.10 -all"', ip="::ffff:192.0.2.10"
    )

    assert (r.result, r.ip) == (Result.PASS, "192.0.2.10")


async def test_ptr_matches_a_validated_name_within_the_target(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    zone = '@ TXT "v=spf1 ptr -all"'
    dns_server.add("10.2.0.192.in-addr.arpa", "PTR", "mail.example.test.")

    assert (await spf(dns_server, settings, zone)).result is Result.PASS


async def test_ptr_only_looks_at_the_first_ten_names(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    names = [f"h{i}.other.test." for i in range(10)] + ["mail.example.test."]
    dns_server.add("10.2.0.192.in-addr.arpa", "PTR", *names)

    r = await spf(dns_server, settings, '@ TXT "v=spf1 ptr ?all"')

    # RFC 7208 4.6.4: names beyond the tenth are ignored, not an error (the DNS server may reorder)
    assert r.result in (Result.NEUTRAL, Result.PASS)


async def test_a_ptr_lookup_failure_is_no_match_not_temperror(
    dns_server: DnsTestServer, fast: Settings
) -> None:
    dns_server.behaviour.servfail.add(dns.name.from_text("10.2.0.192.in-addr.arpa"))

    r = await spf(dns_server, fast, '@ TXT "v=spf1 ptr ~all"')

    assert r.result is Result.SOFTFAIL


async def test_exists_with_macros_queries_the_expanded_name(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    zone = """
@ TXT "v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all"
10.2.0.192.bob._spf A 127.0.0.2
"""
    r = await spf(dns_server, settings, zone, sender="bob@example.test")

    assert r.result is Result.PASS
    assert dns_server.count("10.2.0.192.bob._spf.example.test", "A") == 1


async def test_p_macro_uses_the_validated_reverse_name(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    zone = """
@ TXT "v=spf1 exists:%{p}.allow.example.test -all"
mail.example.test.allow A 127.0.0.2
"""
    dns_server.add("10.2.0.192.in-addr.arpa", "PTR", "mail.example.test.")

    assert (await spf(dns_server, settings, zone)).result is Result.PASS


async def test_the_trace_lists_each_term_and_each_lookup(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    r = await spf(
        dns_server, settings, '@ TXT "v=spf1 a:gone.example.test include:mail.example.test -all"'
    )

    lookups = [(e.name, e.rdtype, e.outcome) for e in r.trace if e.kind == "lookup"]
    terms = [e.text for e in r.trace if e.kind == "term"]
    assert ("example.test", "TXT", "answer") in lookups
    assert ("gone.example.test", "A", "nxdomain") in lookups
    assert "a:gone.example.test: no match" in terms
    assert r.result is Result.PERMERROR  # mail.example.test has no SPF record


def test_identity_uses_postmaster_at_helo_for_the_null_sender() -> None:
    assert identity("", "mx.example.test") == ("mx.example.test", "postmaster@mx.example.test")
    assert identity("@example.test", "h") == ("example.test", "postmaster@example.test")
    assert identity("<a@b.example>", "h") == ("b.example", "a@b.example")


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("example.com", True),
        ("example.com.", True),
        ("com", False),
        ("a..example.com", False),
        ("[192.0.2.1]", False),
        ("a" * 64 + ".example.com", False),
        ("a" * 63 + ".example.com", True),
    ],
)
def test_malformed_domains_are_recognised(name: str, valid: bool) -> None:
    assert valid_domain(name) is valid
