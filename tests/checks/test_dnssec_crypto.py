"""The pure DNSSEC cryptography judge (RFC 8624, RFC 9276): the algorithms, key sizes, DS digests
and NSEC3 parameters of a zone's keys."""

from __future__ import annotations

from collections.abc import Callable

import dns.dnssec
import dns.rdata
import dns.rdtypes.ANY.DNSKEY
import dns.rdtypes.ANY.DS
import dns.rdtypes.ANY.NSEC3PARAM
import pytest
from hypothesis import given
from hypothesis import strategies as st

from checks.dnssec.crypto import DnskeySyntaxError, ZoneKeys, judge, rsa_modulus_bits
from checks.model import Status
from tests.checks.dnssec_keys import ds_of, ec_key, raw_key, rsa_key
from tests.findings import codes


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
        pytest.param(ec_key(), id="ECDSAP256SHA256"),
        pytest.param(rsa_key(8, 2048), id="RSASHA256-2048"),
        pytest.param(rsa_key(10, 2048), id="RSASHA512-2048"),
    ],
)
def test_sound_keys_with_a_sha256_ds_raise_nothing(key: dns.rdtypes.ANY.DNSKEY.DNSKEY) -> None:
    zone = ZoneKeys("example.test", (key,), (ds_of(key, "SHA256"),), (_nsec3param("1 0 0 -"),))

    assert judge(zone) == []


@pytest.mark.parametrize(
    ("algorithm", "name"), [(1, "RSAMD5"), (3, "DSA"), (6, "DSA-NSEC3-SHA1"), (12, "ECC-GOST")]
)
def test_a_zone_signed_only_with_a_deprecated_algorithm_fails(algorithm: int, name: str) -> None:
    key = raw_key(algorithm)

    findings = judge(ZoneKeys("example.test", (key,)))

    assert codes(findings)[0] == ("dnssec.algorithm_deprecated", Status.FAIL)
    tag = dns.dnssec.key_id(key)
    assert f"is signed with algorithm {algorithm} ({name}) (key tag {tag})" in findings[0].message
    assert "algorithm 13" in findings[0].fix


def test_a_deprecated_algorithm_beside_a_sound_one_is_an_unfinished_rollover() -> None:
    zone = ZoneKeys("example.test", (raw_key(3), ec_key()))

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
    key = rsa_key(algorithm, 2048)

    findings = judge(ZoneKeys("example.test", (key,), (ds_of(key, "SHA256"),)))

    assert codes(findings) == [("dnssec.algorithm_weak", Status.WARN)]
    assert "NOT RECOMMENDED" in findings[0].message


def test_short_rsa_keys_are_named_by_role_tag_and_size() -> None:
    ksk, zsk = rsa_key(8, 2048), rsa_key(8, 1024, flags=256)

    findings = judge(ZoneKeys("example.test", (ksk, zsk), (ds_of(ksk, "SHA256"),)))

    assert codes(findings) == [("dnssec.rsa_key_short", Status.WARN)]
    assert f"ZSK {dns.dnssec.key_id(zsk)} (1024 bits)" in findings[0].message
    assert f"KSK {dns.dnssec.key_id(ksk)}" not in findings[0].message


def test_a_sha1_ds_beside_a_sha256_one_is_not_flagged() -> None:
    key = ec_key()

    assert judge(ZoneKeys("example.test", (key,), (ds_of(key, "SHA1"), ds_of(key, "SHA256")))) == []


def _gost_only() -> tuple[ZoneKeys, dns.rdtypes.ANY.DNSKEY.DNSKEY]:
    key = ec_key()
    gost = _ds_text(f"{dns.dnssec.key_id(key)} 13 3 " + "ab" * 32)
    return ZoneKeys("example.test", (key,), (gost,)), key


def _sha1_for_the_second_key() -> tuple[ZoneKeys, dns.rdtypes.ANY.DNSKEY.DNSKEY]:
    first, second = ec_key(), ec_key()
    return ZoneKeys("example.test", (first, second), (ds_of(second, "SHA1"),)), second


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
    assert findings[0].record.value == ds_of(key, "SHA256").to_text()


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
    key = ec_key()
    zone = ZoneKeys("example.test", (key,), (ds_of(key, "SHA256"),), (_nsec3param(param),))

    findings = judge(zone)

    assert codes(findings) == expected
    assert all(phrase in f.message for f in findings)


def test_rsa_modulus_bits_reads_rfc_3110_keys() -> None:
    one_byte = rsa_key(8, 1024).key
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
    assert judge(ZoneKeys("example.test", (raw_key(8, b"\x05\x01"),))) == []
