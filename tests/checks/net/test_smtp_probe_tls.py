"""TLS on the prober against real servers on loopback: the chain is captured, the host name is
only the TLS server name, and each handshake is bounded by a step timeout of its own."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterator

import pytest

from checks.net.probe.prober import SmtpProber
from checks.net.probe.result import Failure, Protocol
from tests.checks.net.probe_setup import HOST, TIMEOUT, prober, settings_for
from tests.fakes.mailservers.hostile import tarpit
from tests.fakes.mailservers.loopback import Loopback
from tests.fakes.mailservers.pki import Pki, make_pki
from tests.fakes.mailservers.smtp import SmtpScript, aiosmtpd_server, implicit_smtp


@pytest.fixture(scope="module")
def pki() -> Iterator[Pki]:
    made, tmp = make_pki()
    yield made
    tmp.cleanup()


async def test_the_intermediate_is_captured_with_the_chain(pki: Pki) -> None:
    async with aiosmtpd_server(pki.context(pki.via_intermediate)) as server:
        r = await prober(pki, server.port).probe(HOST, "127.0.0.1")

    assert r.tls is not None
    assert len(r.tls.chain) == 2


@pytest.mark.parametrize("protocol", [Protocol.SMTP, Protocol.SMTPS])
async def test_the_address_is_connected_and_the_name_is_only_the_tls_server_name(
    pki: Pki, protocol: Protocol
) -> None:
    # A name under .invalid resolves nowhere: the probe only works if nothing tries to.
    names: list[str | None] = []
    tls = pki.context(pki.good)
    tls.sni_callback = lambda _sock, name, _ctx: names.append(name)
    host = "mx.nowhere.invalid"
    handler = implicit_smtp(tls) if protocol is Protocol.SMTPS else SmtpScript(tls=tls)
    async with Loopback(handler) as server:
        p = SmtpProber(
            settings_for(pki), ports={25: server.port, 465: server.port}, cache_seconds=0
        )

        r = await p.probe(
            host, "127.0.0.1", port=465 if protocol is Protocol.SMTPS else 25, protocol=protocol
        )

    assert r.failure is None, r.detail
    assert names == [host]
    assert r.tls is not None
    assert r.tls.sni == host


async def test_an_ip_literal_host_sends_no_server_name(pki: Pki) -> None:
    names: list[str | None] = []
    tls = pki.context(pki.good)
    tls.sni_callback = lambda _sock, name, _ctx: names.append(name)
    async with Loopback(SmtpScript(tls=tls)) as server:
        r = await prober(pki, server.port).probe("127.0.0.1", "127.0.0.1")

    assert r.failure is None, r.detail
    assert names == [None]
    assert r.tls is not None
    assert r.tls.sni is None


async def test_a_handshake_that_never_comes_fails_tls_within_a_step(pki: Pki) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 mx.example.test ESMTP\r\n")
        while line := await reader.readline():
            if line.startswith(b"STARTTLS"):
                writer.write(b"220 go ahead\r\n")  # then never a ServerHello
                await writer.drain()
                await asyncio.sleep(3600)
            writer.write(b"250-mx.example.test\r\n250 STARTTLS\r\n")
            await writer.drain()

    async with Loopback(handler) as server:
        started = time.monotonic()
        r = await prober(pki, server.port).probe(HOST, "127.0.0.1")
        elapsed = time.monotonic() - started

    assert r.failure is Failure.TLS_FAILED, r.detail
    assert r.failed_step == "tls"
    assert [(s.name, s.ok) for s in r.steps][-2:] == [("starttls", True), ("tls", False)]
    assert TIMEOUT * 0.9 < elapsed < TIMEOUT + 2.0


async def test_implicit_tls_to_a_silent_port_fails_tls_within_a_step(pki: Pki) -> None:
    async with Loopback(tarpit) as server:
        p = SmtpProber(settings_for(pki), ports={465: server.port}, cache_seconds=0)
        started = time.monotonic()

        r = await p.probe(HOST, "127.0.0.1", port=465, protocol=Protocol.SMTPS)
        elapsed = time.monotonic() - started

    assert r.failure is Failure.TLS_FAILED, r.detail
    assert TIMEOUT * 0.9 < elapsed < TIMEOUT + 2.0


async def test_implicit_tls_then_silence_is_no_banner(pki: Pki) -> None:
    tls = pki.context(pki.good)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await writer.start_tls(tls)
        await asyncio.sleep(3600)

    async with Loopback(handler) as server:
        p = SmtpProber(settings_for(pki), ports={465: server.port}, cache_seconds=0)

        r = await p.probe(HOST, "127.0.0.1", port=465, protocol=Protocol.SMTPS)

    assert r.failure is Failure.NO_BANNER, r.detail
    assert r.tls is not None  # the handshake worked: its certificate can still be judged


SLOW = 0.45  # each half of a two-part step, longer than half the step timeout below
SLOW_TIMEOUT = 0.8


async def test_the_starttls_reply_and_the_handshake_each_get_a_step_timeout(pki: Pki) -> None:
    tls = pki.context(pki.good)
    inner = SmtpScript()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 mx.example.test ESMTP\r\n")
        while line := await reader.readline():
            verb = line.split()[0].upper()
            if verb == b"STARTTLS":
                transport = writer.transport
                assert isinstance(transport, asyncio.Transport)
                transport.pause_reading()  # the ClientHello waits in the kernel
                await asyncio.sleep(SLOW)
                writer.write(b"220 go ahead\r\n")
                await writer.drain()
                await asyncio.sleep(SLOW)
                await writer.start_tls(tls)
                continue
            if verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                return
            writer.write(b"".join(x + b"\r\n" for x in inner.ehlo))
            await writer.drain()

    async with Loopback(handler) as server:
        p = SmtpProber(settings_for(pki, timeout=SLOW_TIMEOUT), port=server.port, cache_seconds=0)

        r = await p.probe(HOST, "127.0.0.1")

    assert r.failure is None, r.detail  # 2 x 0.45 s > 0.8 s: one shared timeout would cut it
    steps = {s.name: s for s in r.steps}
    assert steps["starttls"].ms >= SLOW * 1000 * 0.9
    assert steps["tls"].ms >= SLOW * 1000 * 0.9


async def test_the_implicit_handshake_and_the_greeting_each_get_a_step_timeout(pki: Pki) -> None:
    tls = pki.context(pki.good)
    loop = asyncio.get_running_loop()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)

    async def serve() -> None:
        conn, _ = await loop.sock_accept(listener)
        await asyncio.sleep(SLOW)  # the ClientHello waits unread
        reader = asyncio.StreamReader()
        protocol = asyncio.StreamReaderProtocol(reader)
        transport, _ = await loop.connect_accepted_socket(lambda: protocol, conn, ssl=tls)
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        await asyncio.sleep(SLOW)
        try:
            await SmtpScript(ehlo=(b"250 mx.example.test",))(reader, writer)
        finally:
            transport.abort()

    server = asyncio.ensure_future(serve())
    try:
        port = listener.getsockname()[1]
        p = SmtpProber(settings_for(pki, timeout=SLOW_TIMEOUT), ports={465: port}, cache_seconds=0)

        r = await p.probe(HOST, "127.0.0.1", port=465, protocol=Protocol.SMTPS)
    finally:
        server.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server
        listener.close()

    assert r.failure is None, r.detail
    steps = {s.name: s for s in r.steps}
    assert steps["tls"].ms >= SLOW * 1000 * 0.9
    assert steps["banner"].ms >= SLOW * 1000 * 0.9
