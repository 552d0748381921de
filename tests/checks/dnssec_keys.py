"""DNSKEY and DS records made on the spot, for the DNSSEC test modules."""

from __future__ import annotations

import dns.dnssec
import dns.rdata
import dns.rdtypes.ANY.DNSKEY
import dns.rdtypes.ANY.DS
from cryptography.hazmat.primitives.asymmetric import ec, rsa


def ec_key(flags: int = 257) -> dns.rdtypes.ANY.DNSKEY.DNSKEY:
    private = ec.generate_private_key(ec.SECP256R1())
    return dns.dnssec.make_dnskey(private.public_key(), 13, flags=flags)


def rsa_key(algorithm: int, bits: int, flags: int = 257) -> dns.rdtypes.ANY.DNSKEY.DNSKEY:
    private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return dns.dnssec.make_dnskey(private.public_key(), algorithm, flags=flags)


def raw_key(algorithm: int, key: bytes = b"\x01\x02\x03") -> dns.rdtypes.ANY.DNSKEY.DNSKEY:
    """A DNSKEY of an algorithm nothing can sign with any more: only its header matters here."""
    wire = (257).to_bytes(2, "big") + bytes([3, algorithm]) + key
    rdata = dns.rdata.from_wire("IN", "DNSKEY", wire, 0, len(wire))
    assert isinstance(rdata, dns.rdtypes.ANY.DNSKEY.DNSKEY)
    return rdata


def ds_of(key: dns.rdtypes.ANY.DNSKEY.DNSKEY, digest: str) -> dns.rdtypes.ANY.DS.DS:
    return dns.dnssec.make_ds("example.test.", key, digest, policy=dns.dnssec.allow_all_policy)
