"""DNSSEC: the check against real software (NSD serving signed zones, Unbound validating them)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from checks import dnssec
from checks.context import Context
from checks.engine import make_context
from checks.model import Finding, Status
from checks.settings import Nameserver, Settings
from checks.target import normalise
from tests.conftest import LOOPBACK_ONLY, MakeContext
from tests.dnsseclab import DnssecLab, binaries_present


@pytest.fixture(scope="session")
def lab() -> Iterator[DnssecLab]:
    if not binaries_present():
        pytest.skip("nsd and unbound are not installed (CI installs them from .ci/apt-packages)")
    running = DnssecLab().start()
    yield running
    running.stop()


def _context(domain: str, port: int) -> Context:
    settings = Settings(
        resolvers=(Nameserver("127.0.0.1", port),),
        timeout=2.0,
        dns_retries=0,
        check_budget=10.0,
        report_budget=10.0,
        allow_private=True,
        connect_networks=LOOPBACK_ONLY,
    )
    return make_context(normalise(domain), settings)


def validating(lab: DnssecLab, domain: str) -> Context:
    """Asking Unbound, which validates from the lab's trust anchor."""
    return _context(domain, lab.unbound_port)


def non_validating(lab: DnssecLab, domain: str) -> Context:
    """Asking NSD directly: the records are all there, but nobody validates (no AD bit ever)."""
    return _context(domain, lab.nsd_port)


def codes(findings: list[Finding]) -> list[tuple[str, Status]]:
    return [(f.code, f.status) for f in findings]


async def test_a_signed_chained_zone_validates(lab: DnssecLab) -> None:
    findings = await dnssec.run(validating(lab, "good.test"))

    assert codes(findings) == [("dnssec.validated", Status.PASS)]


async def test_an_mx_in_an_unsigned_zone_is_noted(lab: DnssecLab) -> None:
    findings = await dnssec.run(validating(lab, "outsourced.test"))

    assert codes(findings) == [
        ("dnssec.validated", Status.PASS),
        ("dnssec.mx_unsigned", Status.INFO),
    ]
    assert "plain.test (MX mx.plain.test)" in findings[1].message


async def test_an_unsigned_zone_is_information_mentioning_dane(lab: DnssecLab) -> None:
    findings = await dnssec.run(validating(lab, "plain.test"))

    assert codes(findings) == [("dnssec.unsigned", Status.INFO)]
    assert "DANE" in findings[0].message


async def test_a_signed_zone_without_ds_warns_with_the_ds_to_publish(lab: DnssecLab) -> None:
    findings = await dnssec.run(validating(lab, "island.test"))

    assert codes(findings) == [("dnssec.no_ds", Status.WARN)]
    record = findings[0].record
    assert record is not None
    assert (record.name, record.type) == ("island.test.", "DS")
    tag = record.value.split()[0]
    assert f"key tag {tag}" in " ".join(findings[0].evidence)  # the DS names the zone's own key


@pytest.mark.parametrize(
    ("domain", "why"),
    [("bogus.test", "matches none of the zone's DNSKEYs"), ("expired.test", "expired on")],
)
async def test_a_bogus_chain_fails_with_a_plain_explanation(
    lab: DnssecLab, domain: str, why: str
) -> None:
    findings = await dnssec.run(validating(lab, domain))

    assert codes(findings) == [("dnssec.bogus", Status.FAIL)]
    assert why in findings[0].message
    assert "SERVFAIL" in findings[0].message
    assert "bounces or queues" in findings[0].message


async def test_a_mismatched_ds_comes_with_the_ds_that_matches_the_key(lab: DnssecLab) -> None:
    findings = await dnssec.run(validating(lab, "bogus.test"))

    record = findings[0].record
    assert record is not None
    assert (record.name, record.type) == ("bogus.test.", "DS")
    assert f"key tag {record.value.split()[0]}" in " ".join(findings[0].evidence)


async def test_expired_signatures_ask_for_re_signing(lab: DnssecLab) -> None:
    findings = await dnssec.run(validating(lab, "expired.test"))

    assert findings[0].record is None
    assert findings[0].fix.startswith("Re-sign expired.test")


async def test_an_mx_in_a_bogus_zone_fails(lab: DnssecLab) -> None:
    findings = await dnssec.run(validating(lab, "victim.test"))

    assert codes(findings) == [
        ("dnssec.validated", Status.PASS),
        ("dnssec.mx_bogus", Status.FAIL),
    ]
    assert "mail.bogus.test" in findings[1].message


async def test_a_non_validating_resolver_limits_the_verdict(lab: DnssecLab) -> None:
    findings = await dnssec.run(non_validating(lab, "good.test"))

    assert codes(findings) == [("dnssec.not_validated", Status.INFO)]
    assert "does not appear to validate" in findings[0].message


@pytest.mark.parametrize(
    ("domain", "why"),
    [("bogus.test", "matches none of the zone's DNSKEYs"), ("expired.test", "expired on")],
)
async def test_broken_chains_are_seen_even_without_a_validating_resolver(
    lab: DnssecLab, domain: str, why: str
) -> None:
    findings = await dnssec.run(non_validating(lab, domain))

    assert codes(findings) == [("dnssec.bogus", Status.FAIL)]
    assert why in findings[0].message


async def test_a_subdomain_is_judged_by_its_zone(lab: DnssecLab) -> None:
    findings = await dnssec.run(validating(lab, "mail.good.test"))

    assert codes(findings)[0] == ("dnssec.validated", Status.PASS)
    assert "mail.good.test (zone good.test)" in findings[0].message


async def test_an_unsigned_zone_on_the_plain_test_server(context_for: MakeContext) -> None:
    zone = "$TTL 300\n@ SOA ns hm 1 2 3 4 5\n@ MX 10 mail\nmail A 192.0.2.25\n"
    ctx = await context_for(zone, "example.test")

    findings = await dnssec.run(ctx)

    assert codes(findings) == [("dnssec.unsigned", Status.INFO)]


async def test_a_domain_whose_zone_cannot_be_found_is_skipped(context_for: MakeContext) -> None:
    ctx = await context_for("", "nowhere.test")

    findings = await dnssec.run(ctx)

    assert codes(findings) == [("dnssec.skipped", Status.SKIP)]
