"""What the smtp, tls, dane and ports check tests share: a zone whose MX is on loopback, its PTR,
a context whose prober connects to a given port, and the test CA's leaf key digest."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from checks.context import Context
from checks.engine import make_context
from checks.net.probe.prober import SmtpProber
from checks.net.services import Services
from checks.settings import Settings
from checks.target import normalise
from tests.fakes.dnsserver import DnsTestServer
from tests.fakes.mailservers.pki import Pki, make_pki

ZONE = """
@ 300 IN MX 10 mx.example.test.
mx 300 IN A 127.0.0.1
"""
PTR = "1.0.0.127.in-addr.arpa."
TLSA_NAME = "_25._tcp.mx.example.test."


@pytest.fixture(scope="module")
def pki() -> Iterator[Pki]:
    made, tmp = make_pki()
    yield made
    tmp.cleanup()


def context(
    dns_server: DnsTestServer,
    settings: Settings,
    pki: Pki,
    port: int,
    *,
    zone: str = ZONE,
    ptr: str = "mx.example.test.",
    **changes: object,
) -> Context:
    dns_server.load_zone(zone, "example.test")
    dns_server.add(PTR, "PTR", ptr)
    s = settings.with_overrides(ca_file=pki.ca_file, timeout=0.4, **changes)
    prober = SmtpProber(s, port=port, cache_seconds=0)
    return make_context(normalise("example.test"), s, services=Services(smtp=prober))


def spki_sha256(pki: Pki) -> str:
    cert = x509.load_pem_x509_certificate(pki.good.cert_chain_pems[0].bytes())
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()
