"""What the BIMI test modules share: the zone they start from, an enforcing DMARC record, a Tiny
PS logo, and a stand-in mark certificate."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from checks.bimi.logo import BIMI_EKU

BASE = "@ 300 IN MX 10 mx.example.test.\nmx 300 IN A 192.0.2.10\n"
ENFORCED = '_dmarc 300 IN TXT "v=DMARC1; p=reject; rua=mailto:d@example.test"\n'
TINY_PS = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<!-- brand -->\n'
    b'<svg xmlns="http://www.w3.org/2000/svg" version="1.2" baseProfile="tiny-ps" '
    b'viewBox="0 0 100 100"><title>Example Brand</title>'
    b'<circle cx="50" cy="50" r="40" fill="#c00"/></svg>\n'
)
NOW = dt.datetime.now(dt.UTC)
_KEY = ec.generate_private_key(ec.SECP256R1())


def make_vmc(
    names: tuple[str, ...] = ("example.test",),
    *,
    eku: bool = True,
    not_after: dt.datetime | None = None,
) -> bytes:
    """A self-signed stand-in for a VMC: the fields a provider reads, no real chain."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Example Brand")])
    usages = [BIMI_EKU] if eku else [ExtendedKeyUsageOID.SERVER_AUTH]
    after = not_after or NOW + dt.timedelta(days=365)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(_KEY.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(after - dt.timedelta(days=400))
        .not_valid_after(after)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .add_extension(x509.ExtendedKeyUsage(usages), False)
        .sign(_KEY, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)
