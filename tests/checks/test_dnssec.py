"""DNSSEC: the check against real software (NSD serving signed zones, Unbound validating them)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

import dns.dnssec
import dns.dnssectypes
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.DNSKEY
import dns.rdtypes.ANY.DS
import dns.rdtypes.ANY.NSEC3PARAM
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given
from hypothesis import strategies as st

from checks.context import Context
from checks.dnssec import check as dnssec
from checks.dnssec.crypto import DnskeySyntaxError, ZoneKeys, judge, rsa_modulus_bits
from checks.engine import make_context
from checks.model import Status
from checks.settings import Nameserver, Settings
from checks.target import normalise
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


def _ec_key(flags: int = 257) -> dns.rdtypes.ANY.DNSKEY.DNSKEY:
    private = ec.generate_private_key(ec.SECP256R1())
    return dns.dnssec.make_dnskey(private.public_key(), 13, flags=flags)


def _rsa_key(algorithm: int, bits: int, flags: int = 257) -> dns.rdtypes.ANY.DNSKEY.DNSKEY:
    private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return dns.dnssec.make_dnskey(private.public_key(), algorithm, flags=flags)


def _raw_key(algorithm: int, key: bytes = b"\x01\x02\x03") -> dns.rdtypes.ANY.DNSKEY.DNSKEY:
    """A DNSKEY of an algorithm nothing can sign with any more: only its header matters here."""
    wire = (257).to_bytes(2, "big") + bytes([3, algorithm]) + key
    rdata = dns.rdata.from_wire("IN", "DNSKEY", wire, 0, len(wire))
    assert isinstance(rdata, dns.rdtypes.ANY.DNSKEY.DNSKEY)
    return rdata


def _ds(key: dns.rdtypes.ANY.DNSKEY.DNSKEY, digest: str) -> dns.rdtypes.ANY.DS.DS:
    return dns.dnssec.make_ds("example.test.", key, digest, policy=dns.dnssec.allow_all_policy)


def _ds_text(text: str) -> dns.rdtypes.ANY.DS.DS:
    rdata = dns.rdata.from_text("IN", "DS", text)
    assert isinstance(rdata, dns.rdtypes.ANY.DS.DS)
    return rdata


def _nsec3param(text: str) -> dns.rdtypes.ANY.NSEC3PARAM.NSEC3PARAM:
    rdata = dns.rdata.from_text("IN", "NSEC3PARAM", text)
    assert isinstance(rdata, dns.rdtypes.ANY.NSEC3PARAM.NSEC3PARAM)
    return rdata


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(_ec_key(), id="ECDSAP256SHA256"),
        pytest.param(_rsa_key(8, 2048), id="RSASHA256-2048"),
        pytest.param(_rsa_key(10, 2048), id="RSASHA512-2048"),
    ],
)
def test_sound_keys_with_a_sha256_ds_raise_nothing(key: dns.rdtypes.ANY.DNSKEY.DNSKEY) -> None:
    zone = ZoneKeys("example.test", (key,), (_ds(key, "SHA256"),), (_nsec3param("1 0 0 -"),))

    assert judge(zone) == []


@pytest.mark.parametrize(
    ("algorithm", "name"), [(1, "RSAMD5"), (3, "DSA"), (6, "DSA-NSEC3-SHA1"), (12, "ECC-GOST")]
)
def test_a_zone_signed_only_with_a_deprecated_algorithm_fails(algorithm: int, name: str) -> None:
    key = _raw_key(algorithm)

    findings = judge(ZoneKeys("example.test", (key,)))

    assert codes(findings)[0] == ("dnssec.algorithm_deprecated", Status.FAIL)
    tag = dns.dnssec.key_id(key)
    assert f"is signed with algorithm {algorithm} ({name}) (key tag {tag})" in findings[0].message
    assert "algorithm 13" in findings[0].fix


def test_a_deprecated_algorithm_beside_a_sound_one_is_an_unfinished_rollover() -> None:
    zone = ZoneKeys("example.test", (_raw_key(3), _ec_key()))

    findings = judge(zone)

    assert codes(findings) == [("dnssec.algorithm_deprecated", Status.WARN)]
    assert findings[0].fix.startswith("Finish the rollover")


@pytest.mark.parametrize(
    ("ds", "expected"),
    [
        pytest.param(
            "12345 1 2 " + "ab" * 32,
            ("dnssec.algorithm_deprecated", Status.FAIL),
            id="algorithm-judged-from-the-ds",
        ),
        pytest.param(
            "12345 13 1 " + "ab" * 20,
            ("dnssec.ds_sha1", Status.WARN),
            id="sha1-ds-warns-without-a-record",
        ),
    ],
)
def test_without_dnskeys_the_ds_alone_is_judged_and_no_ds_is_offered(
    ds: str, expected: tuple[str, Status]
) -> None:
    findings = judge(ZoneKeys("example.test", (), (_ds_text(ds),)))

    assert codes(findings) == [expected]
    assert "key tag 12345" in findings[0].message
    assert findings[0].record is None  # no key to derive a DS from
    assert "(this one)" not in findings[0].fix


@pytest.mark.parametrize("algorithm", [5, 7])
def test_sha1_algorithms_warn(algorithm: int) -> None:
    key = _rsa_key(algorithm, 2048)

    findings = judge(ZoneKeys("example.test", (key,), (_ds(key, "SHA256"),)))

    assert codes(findings) == [("dnssec.algorithm_weak", Status.WARN)]
    assert "NOT RECOMMENDED" in findings[0].message


def test_short_rsa_keys_are_named_by_role_tag_and_size() -> None:
    ksk, zsk = _rsa_key(8, 2048), _rsa_key(8, 1024, flags=256)

    findings = judge(ZoneKeys("example.test", (ksk, zsk), (_ds(ksk, "SHA256"),)))

    assert codes(findings) == [("dnssec.rsa_key_short", Status.WARN)]
    assert f"ZSK {dns.dnssec.key_id(zsk)} (1024 bits)" in findings[0].message
    assert f"KSK {dns.dnssec.key_id(ksk)}" not in findings[0].message


def test_a_sha1_ds_beside_a_sha256_one_is_not_flagged() -> None:
    key = _ec_key()

    assert judge(ZoneKeys("example.test", (key,), (_ds(key, "SHA1"), _ds(key, "SHA256")))) == []


def _gost_only() -> tuple[ZoneKeys, dns.rdtypes.ANY.DNSKEY.DNSKEY]:
    key = _ec_key()
    gost = _ds_text(f"{dns.dnssec.key_id(key)} 13 3 " + "ab" * 32)
    return ZoneKeys("example.test", (key,), (gost,)), key


def _sha1_for_the_second_key() -> tuple[ZoneKeys, dns.rdtypes.ANY.DNSKEY.DNSKEY]:
    first, second = _ec_key(), _ec_key()
    return ZoneKeys("example.test", (first, second), (_ds(second, "SHA1"),)), second


@pytest.mark.parametrize(
    ("make_zone", "expected"),
    [
        pytest.param(
            _gost_only, ("dnssec.ds_digest_deprecated", Status.FAIL), id="gost-only-ds-fails"
        ),
        pytest.param(
            _sha1_for_the_second_key,
            ("dnssec.ds_sha1", Status.WARN),
            id="for-the-key-the-old-ds-points-at",
        ),
    ],
)
def test_a_deprecated_ds_digest_comes_with_the_sha256_replacement(
    make_zone: Callable[[], tuple[ZoneKeys, dns.rdtypes.ANY.DNSKEY.DNSKEY]],
    expected: tuple[str, Status],
) -> None:
    zone, key = make_zone()

    findings = judge(zone)

    assert codes(findings) == [expected]
    assert findings[0].record is not None
    assert findings[0].record.value == _ds(key, "SHA256").to_text()


@pytest.mark.parametrize(
    ("param", "expected", "phrase"),
    [
        pytest.param("1 0 0 -", [], "", id="no-iterations-no-salt"),
        pytest.param(
            "1 0 5 -", [("dnssec.nsec3_iterations", Status.WARN)], "may treat", id="5-iterations"
        ),
        pytest.param(
            "1 0 151 -",
            [("dnssec.nsec3_iterations", Status.WARN)],
            "already treat",
            id="151-iterations",
        ),
        pytest.param("1 0 0 CAFE", [("dnssec.nsec3_salt", Status.INFO)], "SHOULD NOT", id="salt"),
    ],
)
def test_nsec3_parameters_follow_rfc_9276(
    param: str, expected: list[tuple[str, Status]], phrase: str
) -> None:
    key = _ec_key()
    zone = ZoneKeys("example.test", (key,), (_ds(key, "SHA256"),), (_nsec3param(param),))

    findings = judge(zone)

    assert codes(findings) == expected
    assert all(phrase in f.message for f in findings)


def test_rsa_modulus_bits_reads_rfc_3110_keys() -> None:
    one_byte = _rsa_key(8, 1024).key
    long_exponent = b"\x00\x00\x03" + b"\x01\x00\x01" + b"\x80" + bytes(255)

    assert rsa_modulus_bits(one_byte) == 1024
    assert rsa_modulus_bits(long_exponent) == 2048


@given(st.binary(max_size=300))
def test_rsa_modulus_bits_rejects_garbage_only_with_its_own_error(key: bytes) -> None:
    try:
        bits = rsa_modulus_bits(key)
    except DnskeySyntaxError:
        return
    assert 0 <= bits <= 8 * len(key)


def test_a_malformed_rsa_key_is_not_judged_for_size() -> None:
    assert judge(ZoneKeys("example.test", (_raw_key(8, b"\x05\x01"),))) == []


async def test_crypto_findings_name_the_zone_through_the_plain_test_server(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    key = _rsa_key(7, 1024)
    zone = "$TTL 300\n@ SOA ns hm 1 2 3 4 5\n@ MX 10 mail\nmail A 192.0.2.25\n"
    ctx = await context_for(zone, "example.test")
    dns_server.add("example.test", "DNSKEY", key.to_text())
    dns_server.add("example.test", "DS", _ds(key, "SHA1").to_text())
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
    assert findings[3].record.value == _ds(key, "SHA256").to_text()


@pytest.mark.parametrize(
    ("make_key", "digest", "expected", "phrases"),
    [
        pytest.param(
            _ec_key,
            "SHA1",
            [("dnssec.not_validated", Status.INFO), ("dnssec.ds_sha1", Status.WARN)],
            [],
            id="matching-sha1-ds-is-not-a-broken-chain",
        ),
        pytest.param(
            functools.partial(_raw_key, 1),
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
    dns_server.add("example.test", "DS", _ds(key, digest).to_text())

    findings = await dnssec.run(ctx)

    assert codes(findings) == expected
    for index, words in phrases:
        assert words in findings[index].message
