"""The HTTPS fetcher against a real TLS server on loopback: policy, verification, limits, time."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import dns.name
import pytest

from checks.net.dns import DnsClient
from checks.net.https import FetchOutcome, HttpsFetcher
from checks.settings import Settings
from tests.fakes.dnsserver import DnsTestServer
from tests.fakes.httpsserver import HttpsTestServer, Reply, shared_server

HOST = "mta-sts.example.test"
PATH = "/.well-known/mta-sts.txt"
POLICY = b"version: STSv1\r\nmode: enforce\r\nmx: mail.example.test\r\nmax_age: 86400\r\n"


@pytest.fixture
def https(dns_server: DnsTestServer) -> HttpsTestServer:
    server = shared_server()
    server.reset()
    dns_server.add(HOST, "A", "127.0.0.1")
    return server


@pytest.fixture
def trusting(settings: Settings, https: HttpsTestServer) -> Settings:
    return replace(settings, ca_file=https.ca_file)


@pytest.fixture
def fetcher(trusting: Settings, https: HttpsTestServer) -> HttpsFetcher:
    return HttpsFetcher(trusting, port=https.port)


@pytest.fixture
def client(trusting: Settings) -> DnsClient:
    return DnsClient(trusting)


async def test_fetch_connects_to_the_resolved_address_with_sni_and_host(
    https: HttpsTestServer, fetcher: HttpsFetcher, client: DnsClient
) -> None:
    https.serve(HOST, Reply(body=POLICY))

    result = await fetcher.fetch(client, HOST, PATH)

    assert result.outcome is FetchOutcome.OK, result.detail
    assert result.address == "127.0.0.1"
    assert result.response is not None
    assert (result.response.status, result.response.body) == (200, POLICY)
    assert result.response.content_type == "text/plain"
    assert https.seen.sni == [HOST]
    assert https.seen.requests == [(f"{HOST}:{https.port}", PATH)]


@pytest.mark.parametrize(
    "reply",
    [Reply(body=POLICY * 50, chunked=True), Reply(body=POLICY, sized=False)],
    ids=["chunked", "close-delimited"],
)
async def test_bodies_are_read_whatever_the_framing(
    https: HttpsTestServer, fetcher: HttpsFetcher, client: DnsClient, reply: Reply
) -> None:
    https.serve(HOST, reply)

    result = await fetcher.fetch(client, HOST, PATH)

    assert result.response is not None, result.detail
    assert result.response.body == reply.body


async def test_a_redirect_is_returned_not_followed(
    https: HttpsTestServer, fetcher: HttpsFetcher, client: DnsClient
) -> None:
    https.serve(HOST, Reply(301, headers=(("Location", f"https://{HOST}/elsewhere"),)))
    https.serve(HOST, Reply(body=POLICY), path="/elsewhere")

    result = await fetcher.fetch(client, HOST, PATH)

    assert result.response is not None
    assert result.response.is_redirect
    assert result.response.header("Location") == f"https://{HOST}/elsewhere"
    assert len(https.seen.requests) == 1


@pytest.mark.parametrize(
    "reply",
    [
        Reply(body=b"x" * 70000),
        Reply(body=b"x" * 70000, chunked=True),
        Reply(body=b"x" * 70000, sized=False),
        Reply(body=b"x" * 1_000_000),  # far more than the socket buffers: the sender blocks
    ],
    ids=["sized", "chunked", "close-delimited", "huge"],
)
async def test_an_oversized_body_is_refused(
    https: HttpsTestServer, fetcher: HttpsFetcher, client: DnsClient, reply: Reply
) -> None:
    https.serve(HOST, reply)

    result = await fetcher.fetch(client, HOST, PATH)

    assert result.outcome is FetchOutcome.TOO_LARGE
    assert result.response is None


async def test_a_certificate_for_another_name_fails_verification(
    https: HttpsTestServer, fetcher: HttpsFetcher, client: DnsClient, dns_server: DnsTestServer
) -> None:
    dns_server.add("mta-sts.wrong.test", "A", "127.0.0.1")

    result = await fetcher.fetch(client, "mta-sts.wrong.test", PATH)

    assert result.outcome is FetchOutcome.TLS_FAILED
    assert "mta-sts.wrong.test" in result.detail
    assert https.seen.requests == []


async def test_an_unknown_ca_fails_verification(
    https: HttpsTestServer, settings: Settings, client: DnsClient
) -> None:
    https.serve(HOST, Reply(body=POLICY))
    fetcher = HttpsFetcher(settings, port=https.port)  # system trust store: no test CA

    result = await fetcher.fetch(client, HOST, PATH)

    assert result.outcome is FetchOutcome.TLS_FAILED
    assert "certificate" in result.detail


async def test_private_addresses_are_refused_unless_allowed(
    https: HttpsTestServer, trusting: Settings
) -> None:
    strict = replace(trusting, allow_private=False)
    https.serve(HOST, Reply(body=POLICY))

    result = await HttpsFetcher(strict, port=https.port).fetch(DnsClient(strict), HOST, PATH)

    assert result.outcome is FetchOutcome.REFUSED
    assert "loopback" in result.detail
    assert https.seen.sni == []


async def test_a_name_without_address_or_with_failing_dns_is_reported(
    fetcher: HttpsFetcher, client: DnsClient, dns_server: DnsTestServer
) -> None:
    dns_server.add("nothing.example.test", "TXT", '"no address here"')
    dns_server.behaviour.servfail.add(dns.name.from_text("broken.example.test"))

    missing, broken = await asyncio.gather(
        fetcher.fetch(client, "nothing.example.test", PATH),
        fetcher.fetch(client, "broken.example.test", PATH),
    )

    assert missing.outcome is FetchOutcome.NO_ADDRESS
    assert broken.outcome is FetchOutcome.DNS_FAILED


async def test_a_closed_port_is_a_connect_failure(trusting: Settings, client: DnsClient) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]

    result = await HttpsFetcher(trusting, port=closed_port).fetch(client, HOST, PATH)

    assert result.outcome is FetchOutcome.CONNECT_FAILED


@pytest.fixture
async def plain_tcp() -> AsyncIterator[int]:
    """A server that speaks SMTP where TLS is expected."""

    async def greet(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(b"220 not a web server\r\n")
        await w.drain()
        w.close()

    server = await asyncio.start_server(greet, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


async def test_a_server_that_does_not_speak_tls_fails_the_handshake(
    trusting: Settings, client: DnsClient, plain_tcp: int
) -> None:
    result = await HttpsFetcher(trusting, port=plain_tcp).fetch(client, HOST, PATH)

    assert result.outcome is FetchOutcome.TLS_FAILED


async def test_garbage_instead_of_http_is_a_protocol_error(
    https: HttpsTestServer, fetcher: HttpsFetcher, client: DnsClient
) -> None:
    https.serve(HOST, Reply(raw=b"SSH-2.0-OpenSSH_9.2\r\n\r\n"))

    result = await fetcher.fetch(client, HOST, PATH)

    assert result.outcome is FetchOutcome.PROTOCOL_ERROR


async def test_a_stalled_server_times_out_after_one_step(
    https: HttpsTestServer, fetcher: HttpsFetcher, client: DnsClient, trusting: Settings
) -> None:
    https.serve(HOST, Reply(stall=True))
    started = time.monotonic()

    result = await fetcher.fetch(client, HOST, PATH)

    elapsed = time.monotonic() - started
    assert result.outcome is FetchOutcome.TIMEOUT
    assert trusting.timeout <= elapsed < trusting.timeout + 2.0


async def test_a_dripping_body_cannot_outlast_the_whole_fetch_bound(
    https: HttpsTestServer, trusting: Settings, client: DnsClient
) -> None:
    https.serve(HOST, Reply(body=POLICY, drip=0.05))
    fetcher = HttpsFetcher(replace(trusting, timeout=5.0), port=https.port, total_timeout=0.8)
    started = time.monotonic()

    result = await fetcher.fetch(client, HOST, PATH)

    assert result.outcome is FetchOutcome.TIMEOUT
    assert (
        time.monotonic() - started < 3.0
    )  # the drip alone would take ~3.6 s, each byte well within 5 s
