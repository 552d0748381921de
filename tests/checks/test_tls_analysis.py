"""Certificate and session analysis (pure), and the DANE matcher, on certificates from a test CA."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from checks import dane
from checks.model import Status
from checks.net.trust import TrustStore
from checks.tls.analysis import Grade, analyse, forward_secrecy, grade_protocol, weak_cipher
from checks.tls.chain import ChainProblem, name_matches
from checks.tls.findings import findings
from tests.fakes.mailservers.pki import Pki, make_pki
from tests.findings import Code, code_set, codes

NOW = dt.datetime.now(dt.UTC)
HOST = "mx.example.test"


@pytest.fixture(scope="module")
def pki() -> Iterator[Pki]:
    made, tmp = make_pki()
    yield made
    tmp.cleanup()


def ders(leaf: trustme.LeafCert, *, full_chain: bool = True) -> list[bytes]:
    pems = leaf.cert_chain_pems if full_chain else leaf.cert_chain_pems[:1]
    return [
        x509.load_pem_x509_certificate(p.bytes()).public_bytes(serialization.Encoding.DER)
        for p in pems
    ]


def verdict_codes(
    pki: Pki, chain: list[bytes], *, strict: bool = False, host: str = HOST
) -> set[Code]:
    """What the `tls` check would say of this chain, offered with a modern protocol."""
    trust = TrustStore.load(pki.ca_file)
    a = analyse(host, "TLSv1.3", "TLS_AES_256_GCM_SHA384", chain, trust, NOW)
    return code_set(findings(a, "tls", host, clients_verify=strict))


@pytest.mark.parametrize(
    ("host", "names", "expected"),
    [
        ("mx.example.com", ["mx.example.com"], True),
        ("MX.Example.COM.", ["mx.example.com"], True),
        ("mx.example.com", ["*.example.com"], True),
        ("a.mx.example.com", ["*.example.com"], False),  # one label only
        ("example.com", ["*.example.com"], False),
        ("mx.com", ["*.com"], False),  # never a public suffix alone
        ("mx.example.com", ["m*.example.com"], False),  # partial wildcards: RFC 9525
        ("mx.example.com", ["mx.example.org"], False),
        ("mx.example.com", [], False),
    ],
)
def test_names_match_per_rfc_6125(host: str, names: list[str], expected: bool) -> None:
    assert name_matches(host, names) is expected


def test_an_ip_host_matches_only_ip_sans() -> None:
    assert name_matches("192.0.2.1", ["192.0.2.1"], ["192.0.2.1"])
    assert not name_matches("192.0.2.1", ["192.0.2.1"], [])


@given(st.text(max_size=60), st.lists(st.text(max_size=60), max_size=4))
def test_name_matching_never_crashes_and_wildcards_stay_one_label(
    host: str, names: list[str]
) -> None:
    result = name_matches(host, names)

    if result and not any(
        n.strip().rstrip(".").lower() == host.strip().rstrip(".").lower() for n in names
    ):
        assert any(n.strip().startswith("*.") for n in names)


@pytest.mark.parametrize(
    ("version", "grade"),
    [
        ("TLSv1.3", Grade.GOOD),
        ("TLSv1.2", Grade.SUFFICIENT),
        ("TLSv1.1", Grade.INSUFFICIENT),
        ("TLSv1", Grade.INSUFFICIENT),
    ],
)
def test_protocol_grades(version: str, grade: Grade) -> None:
    assert grade_protocol(version) is grade


@pytest.mark.parametrize(
    ("cipher", "weak"),
    [
        ("TLS_AES_256_GCM_SHA384", False),
        ("ECDHE-RSA-AES128-GCM-SHA256", False),
        ("DES-CBC3-SHA", True),
        ("ECDHE-RSA-DES-CBC3-SHA", True),
        ("RC4-SHA", True),
        ("NULL-SHA256", True),
        ("EXP-RC4-MD5", True),
        ("ADH-AES128-SHA", True),
    ],
)
def test_weak_ciphers_are_named(cipher: str, weak: bool) -> None:
    assert bool(weak_cipher(cipher)) is weak


def test_rsa_key_exchange_has_no_forward_secrecy() -> None:
    assert not forward_secrecy("TLSv1.2", "AES128-GCM-SHA256")
    assert forward_secrecy("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256")
    assert forward_secrecy("TLSv1.3", "TLS_AES_128_GCM_SHA256")


def test_a_good_chain_passes(pki: Pki) -> None:
    assert verdict_codes(pki, ders(pki.good)) == {("tls.ok", Status.PASS)}


def test_an_expired_certificate_fails_and_names_the_date(pki: Pki) -> None:
    trust = TrustStore.load(pki.ca_file)
    a = analyse(HOST, "TLSv1.3", "TLS_AES_128_GCM_SHA256", ders(pki.expired), trust, NOW)

    found = findings(a, "tls", HOST, clients_verify=False)

    assert codes(found) == [("tls.cert_expired", Status.FAIL)]
    assert a.trust.trusted  # judged apart from the dates
    assert f"{a.chain[0].not_after:%Y-%m-%d}" in found[0].message


def test_a_certificate_expiring_within_14_days_warns(pki: Pki) -> None:
    assert verdict_codes(pki, ders(pki.expiring)) == {("tls.cert_expiring", Status.WARN)}


def test_a_wrong_name_warns_on_port_25_and_fails_for_clients(pki: Pki) -> None:
    assert verdict_codes(pki, ders(pki.wrong_name)) == {("tls.cert_name_mismatch", Status.WARN)}
    assert verdict_codes(pki, ders(pki.wrong_name), strict=True) == {
        ("tls.cert_name_mismatch", Status.FAIL)
    }


def test_a_missing_intermediate_is_named(pki: Pki) -> None:
    trust = TrustStore.load(pki.ca_file)
    a = analyse(HOST, "TLSv1.3", "x", ders(pki.via_intermediate, full_chain=False), trust, NOW)

    assert a.trust.problem is ChainProblem.INCOMPLETE
    assert verdict_codes(pki, ders(pki.via_intermediate, full_chain=False)) == {
        ("tls.cert_chain_incomplete", Status.WARN)
    }
    assert verdict_codes(pki, ders(pki.via_intermediate)) == {("tls.ok", Status.PASS)}


def test_a_chain_from_another_ca_is_untrusted(pki: Pki) -> None:
    other = trustme.CA()
    leaf = ders(other.issue_cert(HOST))
    root = x509.load_pem_x509_certificate(other.cert_pem.bytes())

    assert verdict_codes(pki, leaf) == {("tls.cert_chain_incomplete", Status.WARN)}
    assert verdict_codes(pki, [*leaf, root.public_bytes(serialization.Encoding.DER)]) == {
        ("tls.cert_untrusted", Status.WARN)
    }


def _self_signed(bits: int = 2048, name: str = HOST) -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=60))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


def test_self_signed_and_weak_keys_are_named(pki: Pki) -> None:
    assert verdict_codes(pki, [_self_signed()]) == {("tls.cert_self_signed", Status.WARN)}
    assert verdict_codes(pki, [_self_signed(1024)]) == {
        ("tls.cert_self_signed", Status.WARN),
        ("tls.key_weak", Status.FAIL),
    }


# ---- dates are judged apart from trust ---------------------------------------------------------
# trustme's CA is valid from 2000-01-01: a leaf dated from before then lies partly outside the
# root's validity, as an old leaf does under a root that was reissued or cross-signed later.
BEFORE_THE_ROOT = dt.datetime(1999, 6, 1, tzinfo=dt.UTC)


def _with_root(ca: trustme.CA, chain: list[bytes]) -> list[bytes]:
    root = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    return [*chain, root.public_bytes(serialization.Encoding.DER)]


@pytest.mark.parametrize("root_sent", [False, True], ids=["leaf-only", "with-root"])
@pytest.mark.parametrize(
    ("not_before", "not_after", "code"),
    [
        (BEFORE_THE_ROOT, NOW - dt.timedelta(days=2), "tls.cert_expired"),
        (NOW - dt.timedelta(days=90), NOW - dt.timedelta(days=2), "tls.cert_expired"),
        (NOW + dt.timedelta(days=2), NOW + dt.timedelta(days=90), "tls.cert_not_yet_valid"),
    ],
    ids=["expired-and-older-than-the-root", "expired", "not-yet-valid"],
)
def test_a_leaf_outside_its_dates_from_a_trusted_ca_is_only_a_date_problem(
    pki: Pki, root_sent: bool, not_before: dt.datetime, not_after: dt.datetime, code: str
) -> None:
    leaf = ders(pki.ca.issue_cert(HOST, not_before=not_before, not_after=not_after))
    chain = _with_root(pki.ca, leaf) if root_sent else leaf

    assert verdict_codes(pki, chain) == {(code, Status.FAIL)}


def test_a_valid_leaf_older_than_its_root_is_trusted(pki: Pki) -> None:
    leaf = ders(pki.ca.issue_cert(HOST, not_before=BEFORE_THE_ROOT))

    assert verdict_codes(pki, leaf) == {("tls.ok", Status.PASS)}
    assert verdict_codes(pki, _with_root(pki.ca, leaf)) == {("tls.ok", Status.PASS)}


def test_an_expired_leaf_from_an_untrusted_ca_is_both_untrusted_and_expired(pki: Pki) -> None:
    other = trustme.CA()
    leaf = ders(other.issue_cert(HOST, not_after=NOW - dt.timedelta(days=2)))

    assert verdict_codes(pki, _with_root(other, leaf)) == {
        ("tls.cert_untrusted", Status.WARN),
        ("tls.cert_expired", Status.FAIL),
    }
    assert verdict_codes(pki, leaf) == {
        ("tls.cert_chain_incomplete", Status.WARN),
        ("tls.cert_expired", Status.FAIL),
    }


def test_old_protocols_and_weak_ciphers_fail(pki: Pki) -> None:
    trust = TrustStore.load(pki.ca_file)
    a = analyse(HOST, "TLSv1", "DES-CBC3-SHA", ders(pki.good), trust, NOW)

    got = code_set(findings(a, "tls", HOST, clients_verify=False))

    assert got == {("tls.protocol_old", Status.FAIL), ("tls.cipher_weak", Status.FAIL)}


def test_an_empty_chain_is_reported(pki: Pki) -> None:
    assert verdict_codes(pki, []) == {("tls.cert_missing", Status.WARN)}


# ---- DANE matching ---------------------------------------------------------------------------
def _certs(leaf: trustme.LeafCert) -> list[x509.Certificate]:
    return [x509.load_pem_x509_certificate(p.bytes()) for p in leaf.cert_chain_pems]


def test_dane_ee_matches_the_leaf_key_regardless_of_name_and_dates(pki: Pki) -> None:
    chain = _certs(pki.expired)
    spki = (
        chain[0]
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    record = dane.parse(f"3 1 1 {hashlib.sha256(spki).hexdigest()}")

    assert dane.matches(record, chain, "not-the-name.test", NOW)
    assert not dane.matches(dane.parse(f"3 1 1 {'00' * 32}"), chain, HOST, NOW)


def test_dane_ta_needs_the_ca_in_the_chain_the_name_and_the_dates(pki: Pki) -> None:
    chain = _certs(pki.via_intermediate)  # leaf, intermediate
    ta = dane.Tlsa(2, 0, 2, dane.association(chain[1], 0, 2))

    assert dane.matches(ta, chain, HOST, NOW)
    assert not dane.matches(ta, chain, "other.test", NOW)
    assert not dane.matches(ta, chain[:1], HOST, NOW)


def test_pkix_usages_and_unknown_parameters_are_not_usable() -> None:
    assert not dane.parse(f"1 1 1 {'ab' * 32}").usable
    assert not dane.parse(f"3 1 7 {'ab' * 32}").usable
    assert not dane.parse("3 1 1 abcd").usable  # wrong digest length
    assert dane.parse(f"3 1 1 {'ab' * 16} {'ab' * 16}").usable


@given(st.text(max_size=120))
def test_tlsa_parser_fails_only_with_its_own_error(text: str) -> None:
    try:
        record = dane.parse(text)
    except dane.TlsaSyntaxError:
        return
    assert 0 <= record.usage <= 255


def test_the_system_trust_store_loads_without_warnings_and_a_ca_file_adds_to_it(
    tmp_path: Path,
) -> None:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    system = TrustStore.load(None)  # filterwarnings=error: roots with serial 0 must not warn
    both = TrustStore.load(str(ca_file))

    assert len(both.certificates) == len(system.certificates) + 1
    assert both.knows_subject(x509.load_pem_x509_certificate(ca.cert_pem.bytes()).subject)
