"""The test CA the real-server labs take their certificates from."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import trustme


class TestCa:
    """A trustme CA, its PEM file, and certificate files for the servers (good and expired)."""

    __test__ = False  # not a pytest test class despite the name

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ca = trustme.CA()
        self.ca_file = str(directory / "ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_file)

    def leaf(self, name: str, *hosts: str, expired: bool = False) -> tuple[Path, Path, bytes]:
        """Write `<name>.crt` and `<name>.key`; return their paths and the leaf's PEM."""
        if expired:
            now = dt.datetime.now(dt.UTC)
            cert = self.ca.issue_cert(
                *hosts, not_before=now - dt.timedelta(days=90), not_after=now - dt.timedelta(days=2)
            )
        else:
            cert = self.ca.issue_cert(*hosts)
        crt, key = self.directory / f"{name}.crt", self.directory / f"{name}.key"
        crt.write_bytes(b"".join(p.bytes() for p in cert.cert_chain_pems))
        key.write_bytes(cert.private_key_pem.bytes())
        key.chmod(0o600)
        return crt, key, cert.cert_chain_pems[0].bytes()
