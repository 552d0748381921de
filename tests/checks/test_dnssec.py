"""DNSSEC: the check against real software (NSD serving signed zones, Unbound validating them)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

import dns.dnssec
import dns.rdtypes.ANY.DNSKEY
import pytest

from checks.context import Context
from checks.dnssec import check as dnssec
from checks.engine import make_context
from checks.model import Status
from checks.settings import Nameserver, Settings
from checks.target import normalise
from tests.checks.dnssec_keys import ds_of, ec_key, raw_key, rsa_key
from tests.conftest import LOOPBACK_ONLY, MakeContext
from tests.fakes.dnsseclab import DnssecLab, binaries_present
from tests.fakes.dnsserver import DnsTestServer
from tests.findings import codes


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


Resolver = Callable[[DnssecLab, str], Context]
BROKEN_CHAINS = [
    pytest.param("bogus.test", "matches none of the zone's DNSKEYs", id="ds-matches-no-key"),
    pytest.param("expired.test", "expired on", id="signatures-expired"),
]


@pytest.mark.parametrize(
    ("resolver", "domain", "expected", "phrase"),
    [
        pytest.param(
            validating,
            "good.test",
            [("dnssec.validated", Status.PASS)],
            (0, "validated its answers"),
            id="signed-and-chained-validates",
        ),
        pytest.param(
            validating,
            "outsourced.test",
            [("dnssec.validated", Status.PASS), ("dnssec.mx_unsigned", Status.INFO)],
            (1, "plain.test (MX mx.plain.test)"),
            id="mx-in-an-unsigned-zone-is-noted",
        ),
        pytest.param(
            validating,
            "plain.test",
            [("dnssec.unsigned", Status.INFO)],
            (0, "DANE"),
            id="unsigned-is-information-mentioning-dane",
        ),
        pytest.param(
            validating,
            "victim.test",
            [("dnssec.validated", Status.PASS), ("dnssec.mx_bogus", Status.FAIL)],
            (1, "mail.bogus.test"),
            id="mx-in-a-bogus-zone-fails",
        ),
        pytest.param(
            non_validating,
            "good.test",
            [("dnssec.not_validated", Status.INFO)],
            (0, "does not appear to validate"),
            id="non-validating-resolver-limits-the-verdict",
        ),
    ],
)
async def test_each_lab_zone_gets_its_verdict(
    lab: DnssecLab,
    resolver: Resolver,
    domain: str,
    expected: list[tuple[str, Status]],
    phrase: tuple[int, str],
) -> None:
    findings = await dnssec.run(resolver(lab, domain))

    assert codes(findings) == expected
    index, words = phrase
    assert words in findings[index].message


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        pytest.param("island.test", ("dnssec.no_ds", Status.WARN), id="signed-without-ds"),
        pytest.param("bogus.test", ("dnssec.bogus", Status.FAIL), id="ds-matches-no-key"),
    ],
)
async def test_the_ds_to_publish_is_the_one_for_the_zones_own_key(
    lab: DnssecLab, domain: str, expected: tuple[str, Status]
) -> None:
    findings = await dnssec.run(validating(lab, domain))

    assert codes(findings) == [expected]
    record = findings[0].record
    assert record is not None
    assert (record.name, record.type) == (f"{domain}.", "DS")
    tag = record.value.split()[0]
    assert f"key tag {tag}" in " ".join(findings[0].evidence)  # the DS names the zone's own key


@pytest.mark.parametrize(("domain", "why"), BROKEN_CHAINS)
async def test_a_bogus_chain_fails_with_a_plain_explanation(
    lab: DnssecLab, domain: str, why: str
) -> None:
    findings = await dnssec.run(validating(lab, domain))

    assert codes(findings) == [("dnssec.bogus", Status.FAIL)]
    assert why in findings[0].message
    assert "SERVFAIL" in findings[0].message
    assert "bounces or queues" in findings[0].message


async def test_expired_signatures_ask_for_re_signing(lab: DnssecLab) -> None:
    findings = await dnssec.run(validating(lab, "expired.test"))

    assert findings[0].record is None
    assert findings[0].fix.startswith("Re-sign expired.test")


@pytest.mark.parametrize(("domain", "why"), BROKEN_CHAINS)
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


@pytest.mark.parametrize(
    ("zone", "domain", "expected"),
    [
        pytest.param(
            "$TTL 300\n@ SOA ns hm 1 2 3 4 5\n@ MX 10 mail\nmail A 192.0.2.25\n",
            "example.test",
            ("dnssec.unsigned", Status.INFO),
            id="unsigned-zone",
        ),
        pytest.param("", "nowhere.test", ("dnssec.skipped", Status.SKIP), id="no-zone-found"),
    ],
)
async def test_unsigned_and_missing_zones_on_the_plain_test_server(
    context_for: MakeContext, zone: str, domain: str, expected: tuple[str, Status]
) -> None:
    ctx = await context_for(zone, domain)

    findings = await dnssec.run(ctx)

    assert codes(findings) == [expected]


# ---- cryptography (RFC 8624, RFC 9276) --------------------------------------------------------


async def test_yesterdays_cryptography_validates_but_is_called_out(lab: DnssecLab) -> None:
    findings = await dnssec.run(validating(lab, "legacy.test"))

    assert codes(findings) == [
        ("dnssec.validated", Status.PASS),
        ("dnssec.algorithm_weak", Status.WARN),
        ("dnssec.rsa_key_short", Status.WARN),
        ("dnssec.ds_sha1", Status.WARN),
        ("dnssec.nsec3_iterations", Status.WARN),
        ("dnssec.nsec3_salt", Status.INFO),
    ]
    tag = dns.dnssec.key_id(lab.keys["legacy.test."].dnskey)
    assert f"algorithm 5 (RSASHA1) (key tag {tag})" in findings[1].message
    assert f"KSK {tag} (1024 bits)" in findings[2].message


async def test_a_sha1_only_ds_comes_with_the_sha256_ds_for_the_same_key(lab: DnssecLab) -> None:
    findings = await dnssec.run(non_validating(lab, "legacy.test"))

    ds_sha1 = next(f for f in findings if f.code == "dnssec.ds_sha1")
    expected = dns.dnssec.make_ds("legacy.test.", lab.keys["legacy.test."].dnskey, "SHA256")
    assert ds_sha1.record is not None
    assert (ds_sha1.record.name, ds_sha1.record.type) == ("legacy.test.", "DS")
    assert ds_sha1.record.value == expected.to_text()
    assert "MUST NOT be used for DNSSEC delegation" in ds_sha1.message


async def test_crypto_findings_name_the_zone_through_the_plain_test_server(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    key = rsa_key(7, 1024)
    zone = "$TTL 300\n@ SOA ns hm 1 2 3 4 5\n@ MX 10 mail\nmail A 192.0.2.25\n"
    ctx = await context_for(zone, "example.test")
    dns_server.add("example.test", "DNSKEY", key.to_text())
    dns_server.add("example.test", "DS", ds_of(key, "SHA1").to_text())
    dns_server.add("example.test", "NSEC3PARAM", "1 0 20 BEEF")
    dns_server.behaviour.authenticated = True

    findings = await dnssec.run(ctx)

    assert codes(findings) == [
        ("dnssec.validated", Status.PASS),
        ("dnssec.algorithm_weak", Status.WARN),
        ("dnssec.rsa_key_short", Status.WARN),
        ("dnssec.ds_sha1", Status.WARN),
        ("dnssec.nsec3_iterations", Status.WARN),
        ("dnssec.nsec3_salt", Status.INFO),
    ]
    assert all("example.test" in f.message for f in findings)
    assert findings[3].record is not None
    assert findings[3].record.value == ds_of(key, "SHA256").to_text()


@pytest.mark.parametrize(
    ("make_key", "digest", "expected", "phrases"),
    [
        pytest.param(
            ec_key,
            "SHA1",
            [("dnssec.not_validated", Status.INFO), ("dnssec.ds_sha1", Status.WARN)],
            [],
            id="matching-sha1-ds-is-not-a-broken-chain",
        ),
        pytest.param(
            functools.partial(raw_key, 1),
            "SHA256",
            [("dnssec.not_validated", Status.INFO), ("dnssec.algorithm_deprecated", Status.FAIL)],
            [(0, "do not implement its signing algorithm"), (1, "algorithm 1 (RSAMD5)")],
            id="dead-algorithm-is-not-blamed-on-the-resolver",
        ),
    ],
)
async def test_an_unvalidated_zone_is_judged_from_its_own_records(
    context_for: MakeContext,
    dns_server: DnsTestServer,
    make_key: Callable[[], dns.rdtypes.ANY.DNSKEY.DNSKEY],
    digest: str,
    expected: list[tuple[str, Status]],
    phrases: list[tuple[int, str]],
) -> None:
    key = make_key()
    ctx = await context_for("$TTL 300\n@ SOA ns hm 1 2 3 4 5\n", "example.test")
    dns_server.add("example.test", "DNSKEY", key.to_text())
    dns_server.add("example.test", "DS", ds_of(key, digest).to_text())

    findings = await dnssec.run(ctx)

    assert codes(findings) == expected
    for index, words in phrases:
        assert words in findings[index].message
