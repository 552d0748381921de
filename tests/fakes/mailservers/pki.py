"""Certificates for the mail servers, from one trustme CA per session (`Pki`): good, expired,
expiring, wrong name, self-signed, and a leaf from an intermediate that the server "forgets" to
send.
"""

from __future__ import annotations

import datetime as dt
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

MX_NAMES = (
    "mx.example.test",
    "mx2.example.test",
    "mail.example.test",
    "smtp.example.test",
    "imap.example.test",
    "pop.example.test",
)


@dataclass
class Pki:
    """A test CA and server contexts for every certificate situation the tests need."""

    directory: Path
    ca: trustme.CA = field(default_factory=trustme.CA)

    def __post_init__(self) -> None:
        now = dt.datetime.now(dt.UTC)
        self.ca_file = str(self.directory / "ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_file)
        self.good = self.ca.issue_cert(*MX_NAMES)
        self.expired = self.ca.issue_cert(
            *MX_NAMES, not_before=now - dt.timedelta(days=90), not_after=now - dt.timedelta(days=2)
        )
        self.expiring = self.ca.issue_cert(*MX_NAMES, not_after=now + dt.timedelta(days=5))
        self.wrong_name = self.ca.issue_cert("other.example.net")
        self.intermediate = self.ca.create_child_ca()
        self.via_intermediate = self.intermediate.issue_cert(*MX_NAMES)

    def context(self, leaf: trustme.LeafCert, *, full_chain: bool = True) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        if full_chain:
            leaf.configure_cert(ctx)
            return ctx
        cert = self.directory / f"leaf-{id(leaf)}.pem"
        key = self.directory / f"key-{id(leaf)}.pem"
        leaf.cert_chain_pems[0].write_to_path(str(cert))
        leaf.private_key_pem.write_to_path(str(key))
        ctx.load_cert_chain(str(cert), str(key))
        return ctx

    def self_signed_context(self, name: str = "mx.example.test") -> ssl.SSLContext:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=90))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256())
        )
        cert_path = self.directory / "self-signed.pem"
        key_path = self.directory / "self-signed-key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(cert_path), str(key_path))
        return ctx


def make_pki() -> tuple[Pki, tempfile.TemporaryDirectory[str]]:
    tmp = tempfile.TemporaryDirectory(prefix="mxbot-smtp-")
    return Pki(Path(tmp.name)), tmp
