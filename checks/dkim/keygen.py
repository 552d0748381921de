"""DKIM key pairs (RFC 6376 3.6.1): a new signing key, and the TXT record that publishes its
public half. RSA keys of 2048 to 4096 bits (RFC 8301 3.2) or Ed25519 keys (RFC 8463).

Pure apart from the randomness of the key itself: writing the private key somewhere safe is
the caller's job, and `KeyPair` keeps it out of its repr so that no log line can carry it.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from checks.model import Record

RSA_BITS: Final = (
    2048,
    3072,
    4096,
)  # RFC 8301 3.2: at least 1024, SHOULD 2048; verifiers stop at 4096
MAX_STRING: Final = 255  # RFC 1035 3.3.14: one TXT character-string holds at most 255 octets
TTL: Final = 3600
# RFC 6376 3.1: selector = sub-domain *("." sub-domain), sub-domain as in RFC 5321 4.1.2
_LABEL: Final = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_SELECTOR: Final = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


class KeygenError(ValueError):
    """The key cannot be made as asked; the message says why and what to use."""


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A new key: the record to publish, and the private key (PKCS#8 PEM) for the signer."""

    algorithm: str  # "rsa" or "ed25519"
    bits: int
    record: Record
    private_pem: bytes = field(repr=False)  # never logged, never sent to Slack


def generate(domain: str, selector: str, *, bits: int = 2048, ed: bool = False) -> KeyPair:
    """A fresh key pair for `selector._domainkey.domain` (domain already in A-labels)."""
    selector = check_selector(selector)
    if ed:
        key = ed25519.Ed25519PrivateKey.generate()
        raw = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )  # RFC 8463 4.2: p= is the raw 32-byte key, not SubjectPublicKeyInfo
        return KeyPair("ed25519", 256, dkim_record(domain, selector, "ed25519", raw), _pem(key))
    check_bits(bits)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    spki = rsa_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )  # RFC 6376 3.6.1 (erratum 3017): SubjectPublicKeyInfo, as `openssl rsa -pubout` writes
    return KeyPair("rsa", bits, dkim_record(domain, selector, "rsa", spki), _pem(rsa_key))


def check_selector(selector: str) -> str:
    selector = selector.strip().rstrip(".").lower()
    if not _SELECTOR.fullmatch(selector) or len(selector) > 200:
        raise KeygenError(
            f"{selector[:70]!r} is not a selector: use letters, digits and hyphens, in labels "
            "separated by dots (RFC 6376 3.1), e.g. s1 or mail2025"
        )
    return selector


def check_bits(bits: int) -> None:
    if bits <= 1024:
        raise KeygenError(
            f"{bits}-bit RSA keys are refused: RFC 8301 3.2 asks signers for at least 2048 bits "
            "(verifiers reject keys under 1024, and 1024-bit keys can be factored); use --bits "
            "2048 (or --ed25519)"
        )
    if bits not in RSA_BITS:
        raise KeygenError(
            f"use --bits {', '.join(map(str, RSA_BITS))}: verifiers need only support RSA keys "
            "of up to 4096 bits (RFC 8301 3.2)"
        )


def dkim_record(domain: str, selector: str, algorithm: str, public_key: bytes) -> Record:
    """The key record, as zone text split into strings of at most 255 bytes."""
    text = f"v=DKIM1; k={algorithm}; p={base64.b64encode(public_key).decode('ascii')}"
    name = f"{selector}._domainkey.{domain.rstrip('.').lower()}."
    return Record(name, "TXT", txt_strings(text), TTL)


def txt_strings(text: str) -> str:
    """An ASCII TXT value as quoted strings of at most MAX_STRING bytes (RFC 6376 3.6.2.2:
    verifiers join them without spaces)."""
    chunks = [text[i : i + MAX_STRING] for i in range(0, len(text), MAX_STRING)] or [""]
    return " ".join(f'"{c}"' for c in chunks)


def _pem(key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
