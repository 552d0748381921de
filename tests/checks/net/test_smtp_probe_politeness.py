"""The prober's manners against real servers on loopback: the address policy is applied before
connecting, one address gets one connection at a time, and results are cached."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from checks.net.probe.prober import SmtpProber
from checks.net.probe.result import Failure
from tests.checks.net.probe_setup import HOST, prober, settings_for
from tests.fakes.mailservers.hostile import tarpit
from tests.fakes.mailservers.loopback import Loopback
from tests.fakes.mailservers.pki import Pki, make_pki
from tests.fakes.mailservers.smtp import SmtpScript, aiosmtpd_server


@pytest.fixture(scope="module")
def pki() -> Iterator[Pki]:
    made, tmp = make_pki()
    yield made
    tmp.cleanup()


async def test_private_addresses_are_refused_before_connecting(pki: Pki) -> None:
    async with Loopback(tarpit) as server:
        p = SmtpProber(settings_for(pki, allow_private=False), port=server.port)

        r = await p.probe(HOST, "127.0.0.1")

    assert r.failure is Failure.REFUSED_BY_POLICY
    assert server.accepted == 0
    assert p.connections == 0


async def test_tests_never_leave_loopback_even_with_private_addresses_allowed(pki: Pki) -> None:
    p = SmtpProber(settings_for(pki), port=25)

    r = await p.probe(HOST, "192.0.2.1")

    assert r.failure is Failure.REFUSED_BY_POLICY
    assert p.connections == 0


async def test_one_connection_at_a_time_per_address_and_results_are_cached(pki: Pki) -> None:
    async with aiosmtpd_server(pki.context(pki.good)) as server:
        p = SmtpProber(settings_for(pki), port=server.port, cache_seconds=60)

        results = await asyncio.gather(*(p.probe(HOST, "127.0.0.1") for _ in range(5)))
        again = await p.probe(HOST, "127.0.0.1")

    assert p.connections == 1
    assert [r.cached for r in results].count(False) == 1
    assert again.cached
    assert again.failure is None


async def test_probes_of_one_address_never_overlap(pki: Pki) -> None:
    script = SmtpScript(tls=pki.context(pki.good))
    async with Loopback(script) as server:
        p = prober(pki, server.port)

        await asyncio.gather(*(p.probe(f"mx{i}.example.test", "127.0.0.1") for i in range(4)))

    assert server.accepted == 4
    assert server.peak == 1
