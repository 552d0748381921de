"""DKIM key generation (RFC 6376 3.6.1, RFC 8301, RFC 8463): the record parses, carries the
public half of the private key in strings of at most 255 bytes, and the DKIM check accepts it
from the DNS test server."""

from __future__ import annotations

import base64

import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from checks.dkim import check as dkim
from checks.dkim.key import parse
from checks.dkim.keygen import KeygenError, KeyPair, check_selector, generate, txt_strings
from checks.model import Status
from tests.conftest import MakeContext
from tests.findings import code_set

ZONE = "@ 300 IN SOA ns1 host 1 7200 3600 1209600 300\n@ 300 IN MX 10 mx\nmx 300 IN A 192.0.2.25\n"


def strings(pair: KeyPair) -> list[bytes]:
    """The record's character-strings, as a zone-file parser reads them."""
    rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, pair.record.value)
    return list(rdata.strings)  # type: ignore[attr-defined]


def published_key(pair: KeyPair) -> bytes:
    return parse(b"".join(strings(pair)).decode()).public_key


def test_an_rsa_record_carries_the_private_keys_public_half() -> None:
    pair = generate("example.test", "s1")

    private = serialization.load_pem_private_key(pair.private_pem, password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    assert private.key_size == 2048
    spki = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert published_key(pair) == spki
    assert pair.record.name == "s1._domainkey.example.test."
    assert pair.record.zone_line.startswith(
        's1._domainkey.example.test. 3600 IN TXT "v=DKIM1; k=rsa; p='
    )
    assert pair.private_pem.startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8


def test_every_string_of_the_record_fits_in_255_bytes() -> None:
    pair = generate("example.test", "s1", bits=4096)

    lengths = [len(s) for s in strings(pair)]

    assert len(lengths) > 2
    assert max(lengths) <= 255


def test_an_ed25519_record_is_the_raw_32_byte_key() -> None:
    pair = generate("example.test", "ed", ed=True)

    private = serialization.load_pem_private_key(pair.private_pem, password=None)
    assert isinstance(private, ed25519.Ed25519PrivateKey)
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    assert published_key(pair) == raw
    assert b"".join(strings(pair)) == b"v=DKIM1; k=ed25519; p=" + base64.b64encode(raw)


@pytest.mark.parametrize("bits", [512, 1024, 2047, 8192])
def test_keys_rfc_8301_does_not_want_are_refused(bits: int) -> None:
    with pytest.raises(KeygenError):
        generate("example.test", "s1", bits=bits)


@pytest.mark.parametrize("selector", ["", "a_b", "-x", "a..b", "s 1", "x" * 64])
def test_a_selector_must_be_dns_labels(selector: str) -> None:
    with pytest.raises(KeygenError):
        check_selector(selector)


def test_the_private_key_stays_out_of_the_repr() -> None:
    pair = generate("example.test", "ed", ed=True)

    assert "PRIVATE" not in repr(pair)


def test_txt_strings_split_a_long_text() -> None:
    assert txt_strings("a" * 300) == f'"{"a" * 255}" "{"a" * 45}"'


@pytest.mark.parametrize("ed", [False, True])
async def test_the_dkim_check_accepts_the_published_key(context_for: MakeContext, ed: bool) -> None:
    pair = generate("example.test", "s1", ed=ed)
    ctx = await context_for(ZONE + pair.record.zone_line + "\n", "example.test", selectors=("s1",))

    findings = await dkim.run(ctx)

    assert ("dkim.ok", Status.PASS) in code_set(findings)
    assert not [f for f in findings if f.status in (Status.FAIL, Status.WARN, Status.ERROR)]
