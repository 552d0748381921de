"""Whole reports, diagnosed by the engine: every check against the DNS test server (and DNSSEC's
lab on NSD and Unbound), and the cause each report names."""

from __future__ import annotations

from collections.abc import Iterator

import dns.name
import pytest

from checks import engine, registry
from checks.context import Context
from checks.model import Cause, Report, Status
from tests.checks.diagnosis_samples import consequences, findings_of
from tests.checks.test_dnssec import validating
from tests.conftest import MakeContext
from tests.fakes.dnsseclab import DnssecLab, binaries_present
from tests.fakes.dnsserver import DnsTestServer
from tests.findings import by_code

SOA = "@ 300 IN SOA ns1 host 1 7200 3600 1209600 300\n"
AUTH = """@ TXT "v=spf1 mx -all"
_dmarc TXT "v=DMARC1; p=reject; rua=mailto:dmarc@example.test"
_smtp._tls TXT "v=TLSRPTv1; rua=mailto:tlsrpt@example.test"
"""


async def every_check(ctx: Context) -> Report:
    return await engine.run_report(registry.select(None, is_address=False), ctx)


def failing(report: Report) -> list[str]:
    return [f.code for f in findings_of(report) if f.status is Status.FAIL]


async def test_a_domain_that_does_not_exist_is_one_failure(context_for: MakeContext) -> None:
    ctx = await context_for(domain="gone.example.test")  # a name the server does not hold

    report = await every_check(ctx)

    assert failing(report) == ["mx.nxdomain"]
    assert report.cause == Cause("mx", "mx.nxdomain")
    assert ("spf.missing", Status.SKIP, "mx.nxdomain") in consequences(report)
    assert by_code(findings_of(report), "dmarc.missing").record is None  # no DMARC advice


async def test_a_dangling_mx_is_the_cause_and_the_missing_addresses_its_consequence(
    context_for: MakeContext,
) -> None:
    ctx = await context_for(SOA + AUTH + "@ MX 10 gone.example.test.\n")

    report = await every_check(ctx)

    assert report.cause == Cause("mx", "mx.target_no_address")
    assert report.headline.startswith("Mail to example.test cannot be delivered: none of its MX")
    assert failing(report) == ["mx.target_no_address"]


async def test_a_healthy_domain_has_no_cause(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    zone = SOA + AUTH + "@ MX 10 mx\nmx A 192.0.2.25\n"
    dns_server.add("25.2.0.192.in-addr.arpa", "PTR", "mx.example.test.")
    ctx = await context_for(zone)

    report = await every_check(ctx)

    assert report.cause is None
    assert report.headline.startswith("Mail for example.test should flow")
    assert consequences(report) == set()


async def test_a_domain_whose_dns_fails_is_one_error(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    ctx = await context_for(SOA + AUTH + "@ MX 10 mx\nmx A 192.0.2.25\n")
    dns_server.behaviour.servfail_zones.add(dns.name.from_text("example.test"))

    report = await every_check(ctx)

    assert report.cause == Cause("mx", "mx.lookup_failed")
    errors = [f.code for f in findings_of(report) if f.status is Status.ERROR]
    assert errors == ["mx.lookup_failed"]


@pytest.fixture(scope="module")
def lab() -> Iterator[DnssecLab]:
    if not binaries_present():
        pytest.skip("nsd and unbound are not installed (CI installs them from .ci/apt-packages)")
    running = DnssecLab().start()
    yield running
    running.stop()


async def test_a_bogus_dnssec_chain_explains_every_servfail(lab: DnssecLab) -> None:
    report = await every_check(validating(lab, "bogus.test"))

    assert report.cause == Cause("dnssec", "dnssec.bogus")
    assert ("mx.lookup_failed", Status.SKIP, "dnssec.bogus") in consequences(report)
    assert [f.code for f in findings_of(report) if f.code.endswith("lookup_failed")] == [
        f.code for f in findings_of(report) if f.because == "dnssec.bogus"
    ]
