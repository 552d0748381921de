"""One certificate, described for people (RFC 5280 fields): its names, dates, issuer and key, and
whether the key is too weak for current TLS clients."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

_MIN_RSA_BITS = 2048
_MIN_EC_BITS = 256


@dataclass(frozen=True, slots=True)
class CertSummary:
    """One certificate, described for people."""

    subject: str  # RFC 4514 string
    issuer: str
    common_name: str
    issuer_name: str  # the issuer's CN (or O), for short messages
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    not_before: dt.datetime
    not_after: dt.datetime
    key_type: str  # "RSA", "EC", "Ed25519", …
    key_bits: int
    key_detail: str  # "RSA 2048", "EC P-256"
    signature_hash: str  # "sha256", "" for EdDSA
    self_issued: bool  # issuer name equals subject name
    sha256: str  # fingerprint of the DER, hex

    @property
    def names(self) -> tuple[str, ...]:
        return self.dns_names + self.ip_addresses


def summarise(cert: x509.Certificate) -> CertSummary:
    dns_names, ips = subject_alt_names(cert)
    key_type, bits, detail = describe_key(cert.public_key())
    hash_alg = cert.signature_hash_algorithm
    return CertSummary(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        common_name=attribute(cert.subject, NameOID.COMMON_NAME),
        issuer_name=attribute(cert.issuer, NameOID.COMMON_NAME)
        or attribute(cert.issuer, NameOID.ORGANIZATION_NAME)
        or cert.issuer.rfc4514_string(),
        dns_names=dns_names,
        ip_addresses=ips,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        key_type=key_type,
        key_bits=bits,
        key_detail=detail,
        signature_hash=hash_alg.name if hash_alg is not None else "",
        self_issued=cert.issuer == cert.subject,
        sha256=hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest(),
    )


def describe_key(key: object) -> tuple[str, int, str]:
    """(type, bits, "RSA 2048" / "EC P-256" / "Ed25519")."""
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size, f"RSA {key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        curve = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}.get(
            key.curve.name, key.curve.name
        )
        return "EC", key.key_size, f"EC {curve}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256, "Ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456, "Ed448"
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size, f"DSA {key.key_size}"
    return "unknown", 0, type(key).__name__


def weak_key(summary: CertSummary) -> str:
    if summary.key_type == "RSA" and summary.key_bits < _MIN_RSA_BITS:
        return f"an RSA key of {summary.key_bits} bits (use at least {_MIN_RSA_BITS})"
    if summary.key_type == "EC" and summary.key_bits < _MIN_EC_BITS:
        return f"an EC key of {summary.key_bits} bits (use P-256 or larger)"
    if summary.key_type == "DSA":
        return "a DSA key (no longer accepted by current TLS clients)"
    return ""


def subject_alt_names(cert: x509.Certificate) -> tuple[tuple[str, ...], tuple[str, ...]]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return (), ()
    dns_names = tuple(str(n) for n in ext.get_values_for_type(x509.DNSName))
    ips = tuple(str(i) for i in ext.get_values_for_type(x509.IPAddress))
    return dns_names, ips


def attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else ""
