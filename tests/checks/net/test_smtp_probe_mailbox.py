"""IMAP, POP3 and implicit-TLS SMTP on the prober against real servers on loopback: each gets TLS,
and a POP3 server without STLS is told apart."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from checks.net.probe.prober import SmtpProber
from checks.net.probe.result import Failure, Protocol
from tests.checks.net.probe_setup import settings_for
from tests.fakes.mailservers.imap_pop3 import imap, pop3
from tests.fakes.mailservers.loopback import Handler, Loopback
from tests.fakes.mailservers.pki import Pki, make_pki
from tests.fakes.mailservers.smtp import implicit_smtp


@pytest.fixture(scope="module")
def pki() -> Iterator[Pki]:
    made, tmp = make_pki()
    yield made
    tmp.cleanup()


@pytest.mark.parametrize(
    ("protocol", "make"),
    [
        (Protocol.SMTPS, lambda pki: implicit_smtp(pki.context(pki.good))),
        (Protocol.IMAP, lambda pki: imap(pki.context(pki.good), implicit=False)),
        (Protocol.IMAPS, lambda pki: imap(pki.context(pki.good), implicit=True)),
        (Protocol.POP3, lambda pki: pop3(pki.context(pki.good), implicit=False)),
        (Protocol.POP3S, lambda pki: pop3(pki.context(pki.good), implicit=True)),
    ],
)
async def test_client_protocols_get_tls(
    pki: Pki, protocol: Protocol, make: Callable[[Pki], Handler]
) -> None:
    async with Loopback(make(pki)) as server:
        p = SmtpProber(
            settings_for(pki),
            ports={
                993: server.port,
                143: server.port,
                995: server.port,
                110: server.port,
                465: server.port,
            },
            cache_seconds=0,
        )
        port = {
            Protocol.SMTPS: 465,
            Protocol.IMAP: 143,
            Protocol.IMAPS: 993,
            Protocol.POP3: 110,
            Protocol.POP3S: 995,
        }[protocol]

        r = await p.probe("imap.example.test", "127.0.0.1", port=port, protocol=protocol)

    assert r.failure is None, r.detail
    assert r.tls is not None
    assert r.tls.version.startswith("TLSv1.")


async def test_pop3_without_stls_is_starttls_missing(pki: Pki) -> None:
    async with Loopback(pop3(pki.context(pki.good), implicit=False, stls=False)) as server:
        p = SmtpProber(settings_for(pki), ports={110: server.port}, cache_seconds=0)

        r = await p.probe("pop.example.test", "127.0.0.1", port=110, protocol=Protocol.POP3)

    assert r.failure is Failure.STARTTLS_MISSING
