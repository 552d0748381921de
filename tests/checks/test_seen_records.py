"""What each check saw published (`TEXT_FACTS`), for record history: the value when the look-up
answered, "" when nothing is published, and nothing at all when the look-up failed."""

from __future__ import annotations

import dns.name

from checks import dane, mta_sts, mx, tls_rpt
from checks.dkim import check as dkim
from checks.dmarc import check as dmarc
from checks.model import FACTS, TEXT_FACTS, CheckResult, Fact, Finding
from checks.spf import check as spf
from tests.conftest import MakeContext
from tests.fakes.dnsserver import DnsTestServer

SOA = "@ 300 IN SOA ns1 host 1 7200 3600 1209600 300\n"
ZONE = SOA + (
    "@ MX 20 mx2\n@ MX 10 mx1\nmx1 A 192.0.2.25\nmx2 A 192.0.2.26\n"
    '@ TXT "v=spf1 mx -all"\n@ TXT "hello"\n'
    '_dmarc TXT "v=DMARC1; p=reject"\n'
    '_smtp._tls TXT "v=TLSRPTv1; rua=mailto:tls@example.test"\n'
    '_mta-sts TXT "v=STSv1; id=20240501"\n'
    's1._domainkey TXT "v=DKIM1; k=rsa; p=MIIB"\n'
    "_25._tcp.mx1 TLSA 3 1 1 " + "ab" * 32 + "\n"
)


def seen(findings: list[Finding]) -> list[Fact]:
    return [f for f in CheckResult("x", "X", tuple(findings), 0).facts if f.name in TEXT_FACTS]


async def test_each_check_records_what_is_published(context_for: MakeContext) -> None:
    ctx = await context_for(ZONE, selectors=("s1", "s2"))

    found = {
        check.ID: seen(await check.run(ctx))
        for check in (mx, spf, dmarc, dkim, tls_rpt, mta_sts, dane)
    }

    assert found["mx"] == [Fact("mx.set", 0, "", "10 mx1.example.test\n20 mx2.example.test")]
    assert found["spf"] == [Fact("spf.record", 0, "", "v=spf1 mx -all")]
    assert found["dmarc"] == [Fact("dmarc.record", 0, "_dmarc.example.test", "v=DMARC1; p=reject")]
    assert found["dkim"] == [
        Fact("dkim.key", 0, "s1", "v=DKIM1; k=rsa; p=MIIB"),
        Fact("dkim.key", 0, "s2", ""),  # named and absent: definitely none
    ]
    assert found["tls_rpt"] == [
        Fact("tls_rpt.record", 0, "", "v=TLSRPTv1; rua=mailto:tls@example.test")
    ]
    assert found["mta_sts"] == [Fact("mta_sts.id", 0, "", "20240501")]  # no policy could be read
    assert found["dane"] == [
        Fact("dane.tlsa", 0, "_25._tcp.mx1.example.test", "3 1 1 " + "ab" * 32)
    ]


async def test_nothing_published_is_an_empty_value(context_for: MakeContext) -> None:
    ctx = await context_for(SOA + "@ A 192.0.2.1\n")

    found = [f for check in (mx, spf, dmarc, tls_rpt) for f in seen(await check.run(ctx))]

    assert found == [
        Fact("mx.set", 0, "", ""),
        Fact("spf.record", 0, "", ""),
        Fact("dmarc.record", 0, "_dmarc.example.test", ""),
        Fact("tls_rpt.record", 0, "", ""),
    ]


async def test_a_failed_look_up_records_nothing(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    ctx = await context_for(ZONE)
    dns_server.behaviour.servfail.add(dns.name.from_text("example.test"))
    dns_server.behaviour.servfail.add(dns.name.from_text("_smtp._tls.example.test"))

    found = [f for check in (mx, spf, tls_rpt) for f in seen(await check.run(ctx))]

    assert found == []


def test_text_facts_and_numbers_are_named_apart() -> None:
    assert not set(TEXT_FACTS) & set(FACTS)
