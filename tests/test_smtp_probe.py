"""The SMTP/IMAP/POP3 prober against real servers on loopback: each failure mode is distinct and
bounded in time, the address policy is applied before connecting, and probes are polite."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest

from checks.settings import Settings
from checks.smtp_probe import Failure, Protocol, SmtpProber
from tests.conftest import LOOPBACK_ONLY
from tests.mailservers import (
    Handler,
    Loopback,
    Pki,
    SmtpScript,
    aiosmtpd_server,
    drip,
    free_port,
    hang_up,
    imap,
    implicit_smtp,
    make_pki,
    pop3,
    raw,
    tarpit,
)

HOST = "mx.example.test"
TIMEOUT = 0.4


@pytest.fixture(scope="module")
def pki() -> Iterator[Pki]:
    made, tmp = make_pki()
    yield made
    tmp.cleanup()


def settings_for(pki: Pki, **changes: object) -> Settings:
    base = Settings(
        timeout=TIMEOUT,
        check_budget=3.0,
        report_budget=4.0,
        allow_private=True,
        connect_networks=LOOPBACK_ONLY,
        ca_file=pki.ca_file,
    )
    return base.with_overrides(**changes)


def prober(pki: Pki, port: int, **kwargs: object) -> SmtpProber:
    return SmtpProber(settings_for(pki), port=port, cache_seconds=0, **kwargs)  # type: ignore[arg-type]


async def test_a_good_server_reports_every_step(pki: Pki) -> None:
    async with aiosmtpd_server(pki.context(pki.good)) as server:
        p = prober(pki, server.port)

        r = await p.probe(HOST, "127.0.0.1")

    assert r.failure is None
    assert [s.name for s in r.steps] == [
        "connect",
        "banner",
        "ehlo",
        "starttls",
        "tls",
        "ehlo-tls",
        "quit",
    ]
    assert r.banner is not None
    assert r.banner.code == "220"
    assert r.banner.first_word == HOST
    assert "STARTTLS" in r.extensions
    assert r.tls is not None
    assert r.tls.version == "TLSv1.3"
    assert r.tls.sni == HOST
    assert r.tls.chain
    assert r.tls.complete_capture
    analysis = p.analyse(r)
    assert analysis is not None
    assert analysis.trust.trusted
    assert analysis.name_matches


async def test_the_intermediate_is_captured_with_the_chain(pki: Pki) -> None:
    async with aiosmtpd_server(pki.context(pki.via_intermediate)) as server:
        r = await prober(pki, server.port).probe(HOST, "127.0.0.1")

    assert r.tls is not None
    assert len(r.tls.chain) == 2


@pytest.mark.parametrize(
    ("handler_name", "failure"),
    [
        ("tarpit", Failure.NO_BANNER),
        ("hang_up", Failure.EARLY_CLOSE),
        ("554", Failure.GREETING_REJECTED),
        ("421", Failure.GREETING_DEFERRED),
        ("ssh", Failure.GARBAGE),
        ("http", Failure.GARBAGE),
        ("binary", Failure.GARBAGE),
        ("drip", Failure.TIMEOUT),
        ("no_starttls", Failure.STARTTLS_MISSING),
        ("starttls_454", Failure.STARTTLS_REFUSED),
        ("tls_garbage", Failure.TLS_FAILED),
        ("tls_stall", Failure.TLS_FAILED),
        ("ehlo_500", Failure.EHLO_FAILED),
    ],
)
async def test_each_failure_mode_is_distinct_and_bounded(
    pki: Pki, handler_name: str, failure: Failure
) -> None:
    handlers: dict[str, Handler] = {
        "tarpit": tarpit,
        "hang_up": hang_up,
        "554": SmtpScript(banner=(b"554 5.3.2 No SMTP service here",)),
        "421": SmtpScript(
            banner=(b"421 4.7.0 Too many connections, try later",), close_after_banner=True
        ),
        "ssh": raw(b"SSH-2.0-OpenSSH_9.6\r\n", then_wait=True),
        "http": raw(b"HTTP/1.1 400 Bad Request\r\n\r\n"),
        "binary": raw(b"\x16\x03\x01\x00\xff\xfe\r\n"),
        "drip": drip,
        "no_starttls": SmtpScript(ehlo=(b"250-mx.example.test", b"250 8BITMIME")),
        "starttls_454": SmtpScript(starttls=b"454 4.7.0 TLS not available"),
        "tls_garbage": SmtpScript(after_starttls_raw=b"this is not TLS\r\n" * 4),
        "tls_stall": SmtpScript(tls=None),  # says 220, then never speaks TLS
        "ehlo_500": SmtpScript(ehlo=(b"500 5.5.1 what?",)),
    }
    async with Loopback(handlers[handler_name]) as server:
        p = prober(pki, server.port)
        started = time.monotonic()

        r = await p.probe(HOST, "127.0.0.1")
        elapsed = time.monotonic() - started

    assert r.failure is failure, r.detail
    assert elapsed < p.probe_budget + 2.0  # bounded (generously: CI machines are busy)
    assert r.inconclusive is (failure in {Failure.EARLY_CLOSE, Failure.GREETING_DEFERRED})


async def test_garbage_keeps_the_first_bytes_as_evidence(pki: Pki) -> None:
    async with Loopback(raw(b"SSH-2.0-OpenSSH_9.6\r\n", then_wait=True)) as server:
        r = await prober(pki, server.port).probe(HOST, "127.0.0.1")

    assert r.garbage.startswith(b"SSH-2.0")


async def test_a_tarpit_costs_one_step_timeout(pki: Pki) -> None:
    async with Loopback(tarpit) as server:
        started = time.monotonic()
        r = await prober(pki, server.port).probe(HOST, "127.0.0.1")
        elapsed = time.monotonic() - started

    assert r.failure is Failure.NO_BANNER
    assert TIMEOUT * 0.9 < elapsed < TIMEOUT + 2.0  # waited the step timeout, and no longer


async def test_a_closed_port_is_refused_at_once(pki: Pki) -> None:
    r = await prober(pki, free_port()).probe(HOST, "127.0.0.1")

    assert r.failure is Failure.CONNECTION_REFUSED
    assert not r.connected  # refused (not timed out): the failure says which


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
