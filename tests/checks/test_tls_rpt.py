"""TLS-RPT: the pure parser, and the check against a live DNS server on loopback."""

from __future__ import annotations

import contextlib

import dns.name
import pytest
from hypothesis import given
from hypothesis import strategies as st

from checks import tls_rpt
from checks.model import Status
from checks.tls_rpt import TlsRptSyntaxError, parse
from tests.conftest import MakeContext
from tests.fakes.dnsserver import DnsTestServer
from tests.findings import codes

ZONE = """
$TTL 300
@     SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 300
@     MX  10 mail.example.test.
mail  A   192.0.2.25
{extra}
"""


@pytest.mark.parametrize(
    ("text", "rua"),
    [
        ("v=TLSRPTv1; rua=mailto:tls@example.test", ("mailto:tls@example.test",)),
        (
            "v=TLSRPTv1;rua=mailto:a@example.test, https://reports.example.net/tlsrpt;",
            ("mailto:a@example.test", "https://reports.example.net/tlsrpt"),
        ),
        (
            "v=TLSRPTv1; rua=HTTPS://r.example.test:8443/x; ext=1",
            ("HTTPS://r.example.test:8443/x",),
        ),
    ],
)
def test_valid_records_parse(text: str, rua: tuple[str, ...]) -> None:
    assert parse(text).rua == rua


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("rua=mailto:a@b.test; v=TLSRPTv1", "begin"),
        ("v=TLSRPTv1", "no rua"),
        ("v=TLSRPTv1; rua=", "empty"),
        ("v=TLSRPTv1; rua=http://r.example.test/", "mailto: or https:"),
        ("v=TLSRPTv1; rua=mailto:nobody", "not a valid mailto"),
        ("v=TLSRPTv1; rua=mailto:a@b.test,", "empty"),
        ("v=TLSRPTv1; rua=mailto:a@b.test; rua=mailto:c@d.test", "more than once"),
        ("v=TLSRPTv1; garbage", "name=value"),
    ],
)
def test_bad_records_are_rejected_with_a_reason(text: str, why: str) -> None:
    with pytest.raises(TlsRptSyntaxError, match=why):
        parse(text)


def test_space_after_equals_is_tolerated_and_a_later_v_is_an_extension() -> None:
    record = parse("v=TLSRPTv1 ;\trua= mailto:a@b.test ; v=2; ext.x-1=y;")

    assert (record.rua, record.extensions) == (("mailto:a@b.test",), (("v", "2"), ("ext.x-1", "y")))


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("v=TLSRPTv1; rua =mailto:a@b.test", "name=value"),  # RFC 8460 3: nothing before "="
        ("v=TLSRPTv1; RUA=mailto:a@b.test", "no rua"),  # names are case-sensitive
        ("v=TLSRPTv1; rua=mailto:a@b.test;\r", "name=value"),  # only WSP surrounds ";"
    ],
)
def test_records_outside_the_rfc_8460_grammar_are_rejected(text: str, why: str) -> None:
    with pytest.raises(TlsRptSyntaxError, match=why):
        parse(text)


@given(st.text(max_size=200))
def test_parse_never_crashes_on_hostile_text(text: str) -> None:
    with contextlib.suppress(TlsRptSyntaxError):
        parse("v=TLSRPTv1; " + text)
    with contextlib.suppress(TlsRptSyntaxError):
        parse(text)


async def test_a_valid_record_passes(context_for: MakeContext) -> None:
    ctx = await context_for(
        ZONE.format(extra='_smtp._tls TXT "v=TLSRPTv1; rua=mailto:r@example.test"')
    )

    findings = await tls_rpt.run(ctx)

    assert codes(findings) == [("tls_rpt.ok", Status.PASS)]


async def test_other_txt_records_at_the_name_are_ignored(context_for: MakeContext) -> None:
    extra = '_smtp._tls TXT "v=TLSRPTv1; rua=mailto:r@example.test"\n_smtp._tls TXT "unrelated"'
    ctx = await context_for(ZONE.format(extra=extra))

    findings = await tls_rpt.run(ctx)

    assert codes(findings) == [("tls_rpt.ok", Status.PASS)]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            '_smtp._tls TXT "v=TLSRPTv1; rua=mailto:a@example.test"\n'
            '_smtp._tls TXT "v=TLSRPTv1; rua=mailto:b@example.test"',
            "tls_rpt.multiple",
        ),
        ('_smtp._tls TXT "v=TLSRPTv1; rua=ftp://example.test/"', "tls_rpt.invalid"),
    ],
)
async def test_broken_records_fail(context_for: MakeContext, extra: str, expected: str) -> None:
    ctx = await context_for(ZONE.format(extra=extra))

    findings = await tls_rpt.run(ctx)

    assert codes(findings) == [(expected, Status.FAIL)]


async def test_no_record_is_information_with_the_record_to_publish(
    context_for: MakeContext,
) -> None:
    ctx = await context_for(ZONE.format(extra=""))

    findings = await tls_rpt.run(ctx)

    assert codes(findings) == [("tls_rpt.none", Status.INFO)]
    assert findings[0].record is not None
    assert findings[0].record.zone_line == (
        '_smtp._tls.example.test. 3600 IN TXT "v=TLSRPTv1; rua=mailto:tls-reports@example.test"'
    )
    assert "optional" in findings[0].message


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ('_mta-sts TXT "v=STSv1; id=1"', "MTA-STS is deployed"),
        ("_25._tcp.mail TLSA 3 1 1 " + "ab" * 32, "DANE is deployed"),
    ],
)
async def test_no_record_while_mta_sts_or_dane_is_deployed_says_why_it_matters(
    context_for: MakeContext, extra: str, named: str
) -> None:
    ctx = await context_for(ZONE.format(extra=extra))

    findings = await tls_rpt.run(ctx)

    assert codes(findings) == [("tls_rpt.none", Status.INFO)]
    assert named in findings[0].message


async def test_a_failing_lookup_is_an_error(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    dns_server.behaviour.servfail.add(dns.name.from_text("_smtp._tls.example.test"))
    ctx = await context_for(ZONE.format(extra=""))

    findings = await tls_rpt.run(ctx)

    assert codes(findings) == [("tls_rpt.lookup_failed", Status.ERROR)]
