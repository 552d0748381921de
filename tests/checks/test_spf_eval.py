"""check_host() against the text of RFC 7208, case by case, over the loopback DNS server."""

from __future__ import annotations

import enum

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
    ids=[
        "minus-fails",
        "tilde-softfails",
        "question-mark-is-neutral",
        "plus-passes",
        "none-passes",
    ],
)
async def test_the_qualifier_of_the_matching_mechanism_is_the_result(
    dns_server: DnsTestServer, settings: Settings, qualifier: str, result: Result
) -> None:
    r = await spf(dns_server, settings, f'@ TXT "v=spf1 ip4:198.51.100.1 {qualifier}all"')

    assert r.result is result


INCLUDE = """
@ TXT "v=spf1 include:inc.example.test ~all"
inc TXT "v=spf1 ip4:192.0.2.10 -all"
"""
MX_CIDR = """
@ TXT "v=spf1 mx/24 -all"
@ MX 10 mail.example.test.
"""
ELEVEN_MX = "\n".join(f"@ MX {i} mx{i}.example.test." for i in range(11))
A_DUAL_CIDR = '@ TXT "v=spf1 a:mail.example.test/32//64 -all"'


@pytest.mark.parametrize(
    ("zone", "given", "result"),
    [
        # RFC 7208 4.7: "If none of the mechanisms match and there is no redirect modifier ... neutral"
        pytest.param(
            '@ TXT "v=spf1 ip4:198.51.100.1"',
            {},
            Result.NEUTRAL,
            id="no-match-and-no-redirect-is-neutral",
        ),
        pytest.param(
            '@ TXT "google-site-verification=abc"', {}, Result.NONE, id="no-spf-record-is-none"
        ),
        pytest.param(
            "",
            {"domain": "nowhere.example.test"},
            Result.NONE,
            id="nonexistent-domain-is-none",
        ),
        pytest.param(
            '@ TXT "v=spf1 -all"\n@ TXT "v=spf1 +all"',
            {},
            Result.PERMERROR,
            id="two-spf-records-are-a-permerror",
        ),
        pytest.param(INCLUDE, {}, Result.PASS, id="include-passes-on-pass"),
        # the include's -all does not make the outer record fail (5.2: fail means "no match")
        pytest.param(
            INCLUDE, {"ip": "198.51.100.7"}, Result.SOFTFAIL, id="include-fail-is-no-match"
        ),
        pytest.param(
            '@ TXT "v=spf1 include:none.example.test -all"',
            {},
            Result.PERMERROR,
            id="include-of-a-name-without-spf-is-a-permerror",
        ),
        pytest.param(
            '@ TXT "v=spf1 redirect=none.example.test"',
            {},
            Result.PERMERROR,
            id="redirect-to-a-name-without-spf-is-a-permerror",
        ),
        pytest.param(
            f'@ TXT "v=spf1 mx -all"\n{ELEVEN_MX}',
            {},
            Result.PERMERROR,
            id="more-than-ten-mx-names-is-a-permerror",
        ),
        pytest.param(MX_CIDR, {"ip": "192.0.2.77"}, Result.PASS, id="mx-matches-within-its-cidr"),
        pytest.param(MX_CIDR, {"ip": "192.0.3.77"}, Result.FAIL, id="mx-misses-outside-its-cidr"),
        pytest.param(
            A_DUAL_CIDR, {"ip": "2001:db8::ffff"}, Result.PASS, id="a-uses-aaaa-and-the-ip6-cidr"
        ),
        pytest.param(
            A_DUAL_CIDR, {"ip": "2001:db8:1::1"}, Result.FAIL, id="a-misses-outside-the-ip6-cidr"
        ),
    ],
)
async def test_the_record_decides_the_result(
    dns_server: DnsTestServer,
    settings: Settings,
    zone: str,
    given: dict[str, str],
    result: Result,
) -> None:
    r = await spf(dns_server, settings, zone, **given)

    assert r.result is result


async def test_a_syntax_error_anywhere_is_a_permerror_even_after_a_match(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    # RFC 7208 4.6: syntax errors anywhere in the record stop evaluation before it starts.
    r = await spf(dns_server, settings, '@ TXT "v=spf1 ip4:192.0.2.10 ip4:300.1.1.1"')

    assert r.result is Result.PERMERROR
    assert "ip4:300.1.1.1" in r.reason


class Failure(enum.StrEnum):
    """How the loopback DNS server mistreats a name."""

    TIMEOUT = "timeout"  # never answers
    SERVFAIL = "servfail"


@pytest.mark.parametrize(
    ("failure", "name", "zone", "result"),
    [
        pytest.param(
            Failure.TIMEOUT, "example.test", "", Result.TEMPERROR, id="a-txt-timeout-is-a-temperror"
        ),
        pytest.param(
            Failure.SERVFAIL,
            "example.test",
            "",
            Result.TEMPERROR,
            id="servfail-on-the-record-is-a-temperror",
        ),
        pytest.param(
            Failure.SERVFAIL,
            "inc.example.test",
            '@ TXT "v=spf1 include:inc.example.test ip4:192.0.2.10"',
            Result.TEMPERROR,
            id="a-temperror-inside-an-include-ends-everything",
        ),
        pytest.param(
            Failure.SERVFAIL,
            "10.2.0.192.in-addr.arpa",
            '@ TXT "v=spf1 ptr ~all"',
            Result.SOFTFAIL,
            id="a-ptr-lookup-failure-is-no-match-not-temperror",
        ),
    ],
)
async def test_a_dns_failure_decides_the_result(
    dns_server: DnsTestServer,
    fast: Settings,
    failure: Failure,
    name: str,
    zone: str,
    result: Result,
) -> None:
    names = (
        dns_server.behaviour.timeout
        if failure is Failure.TIMEOUT
        else dns_server.behaviour.servfail
    )
    names.add(dns.name.from_text(name))

    r = await spf(dns_server, fast, zone)

    assert r.result is result


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


async def test_ipv4_mapped_ipv6_clients_are_ipv4(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    r = await spf(
        dns_server, settings, '@ TXT "v=spf1 ip4:192.0.2.10 -all"', ip="::ffff:192.0.2.10"
    )

    assert (r.result, r.ip) == (Result.PASS, "192.0.2.10")


@pytest.mark.parametrize(
    "zone",
    [
        pytest.param(
            '@ TXT "v=spf1 ptr -all"', id="ptr-matches-a-validated-name-within-the-target"
        ),
        pytest.param(
            """
@ TXT "v=spf1 exists:%{p}.allow.example.test -all"
mail.example.test.allow A 127.0.0.2
""",
            id="p-macro-uses-the-validated-reverse-name",
        ),
    ],
)
async def test_the_validated_reverse_name_is_used(
    dns_server: DnsTestServer, settings: Settings, zone: str
) -> None:
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
    ids=[
        "plain",
        "trailing-dot",
        "single-label",
        "empty-label",
        "address-literal",
        "64-character-label",
        "63-character-label",
    ],
)
def test_malformed_domains_are_recognised(name: str, valid: bool) -> None:
    assert valid_domain(name) is valid
