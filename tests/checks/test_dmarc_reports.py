"""DMARC report addresses: authorisation of external destinations (RFC 9990 3), and whether each
destination takes mail, over real DNS."""

from __future__ import annotations

import dns.name
import dns.rdatatype
import pytest

from checks.model import Status
from tests.checks.dmarc_zones import check, zone
from tests.conftest import MakeContext
from tests.fakes.dnsserver import DnsTestServer
from tests.findings import codes

EXTERNAL = '_dmarc 300 IN TXT "v=DMARC1; p=reject; rua=mailto:agg@reports.example; ruf=mailto:f@reports.example"'


@pytest.fixture(autouse=True)
def reports_example_receives_mail(dns_server: DnsTestServer) -> None:
    """The external report destination these tests use takes mail (its MX is the subject of
    the report_undeliverable tests, which change it)."""
    dns_server.add("reports.example", "MX", "10 mx.example.test.")


async def test_external_rua_without_authorisation_fails_with_the_record_to_publish(
    context_for: MakeContext,
) -> None:
    findings = await check(context_for, zone(EXTERNAL))

    assert codes(findings) == [
        ("dmarc.rua_unauthorized", Status.FAIL),
        ("dmarc.ruf_unauthorized", Status.FAIL),
    ]
    record = findings[0].record
    assert record is not None
    assert record.zone_line == 'example.test._report._dmarc.reports.example. 3600 IN TXT "v=DMARC1"'


async def test_external_rua_with_exact_authorisation_passes(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    dns_server.add("example.test._report._dmarc.reports.example", "TXT", '"v=DMARC1"')

    findings = await check(context_for, zone(EXTERNAL))

    assert codes(findings) == [("dmarc.ok", Status.PASS)]


async def test_external_rua_with_wildcard_authorisation_passes(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    dns_server.add("*._report._dmarc.reports.example", "TXT", '"v=DMARC1;"')

    findings = await check(context_for, zone(EXTERNAL))

    assert codes(findings) == [("dmarc.ok", Status.PASS)]


async def test_authorisation_that_is_not_dmarc1_does_not_count(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    dns_server.add("*._report._dmarc.reports.example", "TXT", '"hello"')

    findings = await check(context_for, zone(EXTERNAL))

    assert ("dmarc.rua_unauthorized", Status.FAIL) in codes(findings)


async def test_reports_within_the_same_org_domain_need_no_authorisation(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    z = zone(
        '_dmarc 300 IN TXT "v=DMARC1; p=reject; rua=mailto:d@reports.example.test"',
        "reports 300 IN MX 10 mx.example.test.",
    )

    findings = await check(context_for, z)

    assert codes(findings) == [("dmarc.ok", Status.PASS)]
    assert dns_server.count("example.test._report._dmarc.reports.example.test", "TXT") == 0


async def test_authorisation_lookup_failure_is_an_error(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    dns_server.behaviour.servfail.add(
        dns.name.from_text("example.test._report._dmarc.reports.example")
    )

    findings = await check(context_for, zone(EXTERNAL))

    assert ("dmarc.report_auth_lookup_failed", Status.ERROR) in codes(findings)


async def test_report_address_at_a_domain_that_does_not_exist_warns(
    context_for: MakeContext,
) -> None:
    z = zone('_dmarc 300 IN TXT "v=DMARC1; p=reject; rua=mailto:d@gone.example.test"')

    findings = await check(context_for, z)

    assert codes(findings) == [("dmarc.report_undeliverable", Status.WARN)]
    assert "gone.example.test" in findings[0].message
    assert "NXDOMAIN" in findings[0].message


async def test_report_address_at_a_null_mx_domain_warns(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    # replace the fixture's MX (add() would merge with it)
    dns_server.records.pop((dns.name.from_text("reports.example"), dns.rdatatype.MX))
    dns_server.add("reports.example", "MX", "0 .")
    dns_server.add("example.test._report._dmarc.reports.example", "TXT", '"v=DMARC1"')

    findings = await check(context_for, zone(EXTERNAL))

    assert codes(findings) == [("dmarc.report_undeliverable", Status.WARN)]
    assert findings[0].message.startswith("rua and ruf in _dmarc.example.test")
    assert "null MX" in findings[0].message


async def test_report_address_needs_an_mx_or_an_address(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    z = zone(
        '_dmarc 300 IN TXT "v=DMARC1; p=reject; rua=mailto:d@a.example.test,mailto:d@b.example.test"',
        'a 300 IN TXT "exists, but takes no mail"',
        "b 300 IN A 192.0.2.20",  # an address is the implicit MX (RFC 5321 5.1)
    )

    findings = await check(context_for, z)

    assert codes(findings) == [("dmarc.report_undeliverable", Status.WARN)]
    assert "a.example.test, which has neither an MX record nor an address" in findings[0].message
