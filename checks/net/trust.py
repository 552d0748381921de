"""The roots certificate chains are verified against: loaded once per process (file and system
store reads), shared by every probe and report."""

from __future__ import annotations

import ssl
import warnings
from collections.abc import Sequence

from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.verification import Store


class TrustStore:
    """Root certificates to verify chains against: `ca_file` when given, else the system store."""

    def __init__(self, certificates: Sequence[x509.Certificate]) -> None:
        self.certificates = tuple(certificates)
        self._subjects = {c.subject.public_bytes() for c in self.certificates}
        self._store = Store(list(self.certificates)) if self.certificates else None

    @classmethod
    def load(cls, ca_file: str | None = None) -> TrustStore:
        """The system roots, plus the CAs in `ca_file` (a private CA is added, not substituted:
        the same report may meet public and private certificates)."""
        extra: list[x509.Certificate] = []
        if ca_file:
            with open(ca_file, "rb") as fh:
                extra = x509.load_pem_x509_certificates(fh.read())
        # The default context loads the system bundle (cafile); capath directories load lazily and
        # are not listed, which is why Debian's single bundle file is what we rely on.
        ders = ssl.create_default_context().get_ca_certs(binary_form=True)
        return cls([*extra, *(c for c in (load_der(d) for d in ders) if c is not None)])

    @property
    def store(self) -> Store | None:
        return self._store

    def knows_subject(self, name: x509.Name) -> bool:
        return name.public_bytes() in self._subjects


def load_der(der: bytes) -> x509.Certificate | None:
    # Some long-lived roots (Go Daddy, Starfield, SECOM, …) have serial number 0, which RFC 5280
    # forbids and cryptography warns about; they still anchor real chains, so keep them quietly.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        try:
            return x509.load_der_x509_certificate(der)
        except ValueError:
            return None
