"""The prober's SMTP dialogue against real servers on loopback: what it says, the steps it
reports, and each failure mode distinct, bounded in time and kept as evidence."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP

from checks.net.probe.prober import SmtpProber
from checks.net.probe.result import Failure, Protocol
from checks.tls.analysis import analyse_probe
from tests.checks.net.probe_setup import HOST, TIMEOUT, prober, settings_for
from tests.fakes.mailservers.hostile import drip, hang_up, raw, tarpit
from tests.fakes.mailservers.loopback import Handler, Loopback, free_port
from tests.fakes.mailservers.pki import Pki, make_pki
from tests.fakes.mailservers.smtp import SmtpScript, aiosmtpd_server


@pytest.fixture(scope="module")
def pki() -> Iterator[Pki]:
    made, tmp = make_pki()
    yield made
    tmp.cleanup()


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
    analysis = analyse_probe(r, p.trust)
    assert analysis is not None
    assert analysis.trust.trusted
    assert analysis.name_matches


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


# ---- the aiosmtplib dialogue: what is sent, what is timed, what is kept -------------------------
class RecordingSMTP(SMTP):
    """aiosmtpd's real server, noting every line a client sends (after STARTTLS too: the TLS layer
    hands the decrypted bytes to this same protocol)."""

    def __init__(self, lines: list[bytes], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lines = lines
        self._partial = b""

    def data_received(self, data: bytes) -> None:
        self._partial += data
        *complete, self._partial = self._partial.split(b"\r\n")
        self._lines.extend(complete)
        super().data_received(data)


@contextlib.asynccontextmanager
async def recording_aiosmtpd(tls: ssl.SSLContext) -> AsyncIterator[tuple[int, list[bytes]]]:
    lines: list[bytes] = []

    class Sink:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 OK"

    server = await asyncio.get_running_loop().create_server(
        lambda: RecordingSMTP(lines, Sink(), hostname=HOST, tls_context=tls), "127.0.0.1", 0
    )
    try:
        yield server.sockets[0].getsockname()[1], lines
    finally:
        server.close()
        async with asyncio.timeout(2):
            await server.wait_closed()


async def test_the_probe_says_ehlo_starttls_ehlo_quit_and_nothing_else(pki: Pki) -> None:
    async with recording_aiosmtpd(pki.context(pki.good)) as (port, lines):
        p = prober(pki, port, helo_name="probe.mxbot.test")

        r = await p.probe(HOST, "127.0.0.1")

    assert r.failure is None, r.detail
    assert lines == [
        b"EHLO probe.mxbot.test",
        b"STARTTLS",
        b"EHLO probe.mxbot.test",
        b"QUIT",
    ]  # never MAIL, RCPT, AUTH, DATA, nor HELO as a fallback


async def test_implicit_tls_says_ehlo_and_quit_only(pki: Pki) -> None:
    script = SmtpScript(ehlo=(b"250-mx.example.test hi", b"250 AUTH PLAIN"))
    tls = pki.context(pki.good)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await writer.start_tls(tls)
        await script(reader, writer)

    async with Loopback(handler) as server:
        p = SmtpProber(settings_for(pki), ports={465: server.port}, cache_seconds=0)

        r = await p.probe(HOST, "127.0.0.1", port=465, protocol=Protocol.SMTPS)

    assert r.failure is None, r.detail
    assert [s.name for s in r.steps] == ["connect", "tls", "banner", "ehlo", "quit"]
    assert [c.split()[0] for c in script.commands] == ["EHLO", "QUIT"]


async def test_ipv6_loopback_is_probed_on_its_own_family(pki: Pki) -> None:
    async with aiosmtpd_server(pki.context(pki.good), host="::1") as server:
        r = await prober(pki, server.port).probe(HOST, "::1")

    assert r.failure is None, r.detail
    assert r.steps[0].detail == f"::1 port {server.port}"


async def test_a_refused_ehlo_after_tls_is_reported_not_hidden(pki: Pki) -> None:
    tls = pki.context(pki.good)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 mx.example.test ESMTP\r\n")
        encrypted = False
        while line := await reader.readline():
            verb = line.split()[0].upper() if line.split() else b""
            if verb == b"EHLO":
                writer.write(
                    b"554 5.7.0 not after TLS\r\n"
                    if encrypted
                    else b"250-mx.example.test\r\n250 STARTTLS\r\n"
                )
            elif verb == b"STARTTLS":
                writer.write(b"220 go ahead\r\n")
                await writer.drain()
                await writer.start_tls(tls)
                encrypted = True
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                return
            await writer.drain()

    async with Loopback(handler) as server:
        r = await prober(pki, server.port).probe(HOST, "127.0.0.1")

    assert r.failure is None
    assert r.after_tls is not None
    assert r.after_tls.code == "554"
    assert [(s.name, s.ok) for s in r.steps][-2:] == [("ehlo-tls", False), ("quit", True)]


async def test_what_was_seen_before_a_failure_is_kept(pki: Pki) -> None:
    async with Loopback(SmtpScript(starttls=b"454 4.7.0 TLS not available")) as server:
        r = await prober(pki, server.port).probe(HOST, "127.0.0.1")

    assert r.failure is Failure.STARTTLS_REFUSED
    assert r.starttls is not None
    assert str(r.starttls) == "454 4.7.0 TLS not available"
    assert "STARTTLS" in r.extensions
    assert [(s.name, s.ok) for s in r.steps][-2:] == [("starttls", False), ("quit", True)]


async def test_binary_garbage_is_kept_byte_for_byte(pki: Pki) -> None:
    async with Loopback(raw(b"\x16\x03\x01\x00\xff\xfe\r\n", then_wait=True)) as server:
        r = await prober(pki, server.port).probe(HOST, "127.0.0.1")

    assert r.failure is Failure.GARBAGE
    assert r.garbage == b"\x16\x03\x01\x00\xff\xfe\r\n"
    assert r.failed_step == "banner"


async def test_garbage_after_the_greeting_keeps_that_line_not_the_greeting(pki: Pki) -> None:
    async with Loopback(SmtpScript(ehlo=(b"HELLO THERE",))) as server:
        r = await prober(pki, server.port).probe(HOST, "127.0.0.1")

    assert r.failure is Failure.GARBAGE
    assert r.failed_step == "ehlo"
    assert r.garbage == b"HELLO THERE"


def test_a_helo_name_aiosmtplib_would_refuse_is_refused_at_start_up(pki: Pki) -> None:
    with pytest.raises(ValueError, match="helo_name"):
        SmtpProber(settings_for(pki), helo_name="two words")
