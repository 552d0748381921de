"""Mail servers for tests, on loopback, in the test's own event loop: a real aiosmtpd with STARTTLS,
and small scripted servers for the pathological cases (tarpit, 421/554 greetings, garbage, refused
STARTTLS, broken handshakes, drip-feeding, a hang-up right after STARTTLS's 220), IMAP/POP3
stand-ins for the client ports, and a `Blackhole` port that drops SYNs like a firewall.

Certificates come from one trustme CA per session (`Pki`): good, expired, expiring, wrong name,
self-signed, and a leaf from an intermediate that the server "forgets" to send.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
import ssl
import struct
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.smtp import SMTP
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from checks.settings import Settings
from tests.conftest import LOOPBACK_ONLY

MX_NAMES = (
    "mx.example.test",
    "mx2.example.test",
    "mail.example.test",
    "smtp.example.test",
    "imap.example.test",
    "pop.example.test",
)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


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


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class Loopback:
    """A TCP server on 127.0.0.x running `handler` per connection; closes everything on exit."""

    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 0) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self.accepted = 0
        self.peak = 0  # the most connections open at once
        self._open = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._stop = asyncio.Event()

    async def __aenter__(self) -> Loopback:
        self._server = await asyncio.start_server(self._client, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        self._stop.set()
        for w in list(self._writers):
            w.transport.abort()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            async with asyncio.timeout(2):
                await asyncio.gather(*self._tasks, return_exceptions=True)
                await self._server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        self.accepted += 1
        self._open += 1
        self.peak = max(self.peak, self._open)
        # The handler runs as its own task so that closing the server can cancel it without the
        # stream machinery logging a cancelled connection callback.
        work = asyncio.ensure_future(self.handler(reader, writer))
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({work, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (work, stop):
                t.cancel()
            await asyncio.gather(work, stop, return_exceptions=True)
            self._open -= 1
            self._writers.discard(writer)
            writer.transport.abort()
            self._tasks.discard(task)


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int


@contextlib.asynccontextmanager
async def aiosmtpd_server(
    tls: ssl.SSLContext | None, host: str = "127.0.0.1", hostname: str = "mx.example.test"
) -> AsyncIterator[Endpoint]:
    """A real aiosmtpd SMTP server (STARTTLS when `tls` is given) in this event loop."""

    class Sink:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 OK"

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(Sink(), hostname=hostname, ident="aiosmtpd test", tls_context=tls),
        host,
        0,
    )
    try:
        yield Endpoint(host, server.sockets[0].getsockname()[1])
    finally:
        server.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2):
                await server.wait_closed()


@dataclass
class SmtpScript:
    """A scripted SMTP server: say `banner`, answer EHLO with `ehlo`, STARTTLS with `starttls`."""

    banner: Sequence[bytes] = (b"220 mx.example.test ESMTP scripted",)
    ehlo: Sequence[bytes] = (
        b"250-mx.example.test hello",
        b"250-PIPELINING",
        b"250-SIZE 10240000",
        b"250-STARTTLS",
        b"250 8BITMIME",
    )
    starttls: bytes = b"220 2.0.0 Ready to start TLS"
    tls: ssl.SSLContext | None = None
    after_starttls_raw: bytes | None = None  # instead of a handshake, send these bytes and close
    close_after_banner: bool = False
    commands: list[str] = field(default_factory=list)

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for line in self.banner:
            writer.write(line + b"\r\n")
        await writer.drain()
        if self.close_after_banner:
            return
        while True:
            raw = await reader.readline()
            if not raw:
                return
            command = raw.decode().strip()
            self.commands.append(command)
            verb = command.split(" ")[0].upper()
            if verb in {"EHLO", "HELO"}:
                writer.write(b"".join(line + b"\r\n" for line in self.ehlo))
            elif verb == "STARTTLS":
                writer.write(self.starttls + b"\r\n")
                await writer.drain()
                if self.after_starttls_raw is not None:
                    writer.write(self.after_starttls_raw)
                    await writer.drain()
                    return
                if self.starttls.startswith(b"220") and self.tls is not None:
                    await writer.start_tls(self.tls)
                continue
            elif verb == "QUIT":
                writer.write(b"221 2.0.0 Bye\r\n")
                await writer.drain()
                return
            else:
                writer.write(b"502 5.5.2 not here\r\n")
            await writer.drain()


async def tarpit(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accept, then say nothing, ever."""
    await asyncio.sleep(3600)


async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A greeting that never ends: one continuation line every 50 ms."""
    while True:
        writer.write(b"220-still greeting you\r\n")
        await writer.drain()
        await asyncio.sleep(0.05)


async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accept and close at once (what rate-limiters and scanner blockers do)."""
    return


def raw(data: bytes, *, then_wait: bool = False) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        await writer.drain()
        if then_wait:
            await asyncio.sleep(3600)

    return handler


def imap(tls: ssl.SSLContext, *, implicit: bool) -> Handler:
    """A minimal IMAP server: greeting, CAPABILITY, STARTTLS, LOGOUT."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if implicit:
            await writer.start_tls(tls)
        writer.write(b"* OK [CAPABILITY IMAP4rev1] test IMAP ready\r\n")
        await writer.drain()
        while raw_line := await reader.readline():
            tag, _, command = raw_line.decode().strip().partition(" ")
            verb = command.upper()
            if verb == "CAPABILITY":
                caps = "IMAP4rev1 AUTH=PLAIN" if implicit else "IMAP4rev1 STARTTLS LOGINDISABLED"
                writer.write(f"* CAPABILITY {caps}\r\n{tag} OK done\r\n".encode())
            elif verb == "STARTTLS":
                writer.write(f"{tag} OK begin TLS\r\n".encode())
                await writer.drain()
                await writer.start_tls(tls)
                continue
            elif verb == "LOGOUT":
                writer.write(f"* BYE\r\n{tag} OK bye\r\n".encode())
                await writer.drain()
                return
            else:
                writer.write(f"{tag} BAD unknown\r\n".encode())
            await writer.drain()

    return handler


def pop3(tls: ssl.SSLContext, *, implicit: bool, stls: bool = True) -> Handler:
    """A minimal POP3 server: greeting, CAPA, STLS, QUIT."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if implicit:
            await writer.start_tls(tls)
        writer.write(b"+OK test POP3 ready\r\n")
        await writer.drain()
        while raw_line := await reader.readline():
            verb = raw_line.decode().strip().upper()
            if verb == "CAPA":
                extra = "STLS\r\n" if stls and not implicit else ""
                writer.write(f"+OK capabilities\r\nTOP\r\nUSER\r\n{extra}.\r\n".encode())
            elif verb == "STLS":
                writer.write(b"+OK begin TLS\r\n")
                await writer.drain()
                await writer.start_tls(tls)
                continue
            elif verb == "QUIT":
                writer.write(b"+OK bye\r\n")
                await writer.drain()
                return
            else:
                writer.write(b"-ERR unknown\r\n")
            await writer.drain()

    return handler


def implicit_smtp(tls: ssl.SSLContext) -> Handler:
    """SMTP on 465: TLS first (RFC 8314), then a plain greeting and EHLO."""
    script = SmtpScript(
        ehlo=(b"250-mx.example.test hello", b"250-AUTH PLAIN", b"250 8BITMIME"), tls=None
    )

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await writer.start_tls(tls)
        await script(reader, writer)

    return handler


class Blackhole:
    """A port that drops connection attempts, as a firewall that drops SYNs does, on loopback.

    Linux drops a SYN when the listener's accept queue is full (and net.ipv4.tcp_abort_on_overflow
    is 0, the default): so we listen with a backlog of 0, never accept, and fill the queue with
    our own connections until one more attempt goes unanswered. From then on every connection
    attempt gets no SYN-ACK, which is a genuine connect timeout, not a simulation. Entering checks
    that the kernel behaves so, and fails loudly (not silently passing) when it does not.
    """

    _PROBE_S = 0.15  # how long the check attempt waits for a SYN-ACK that must not come
    _MAX_FILL = 8

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._family = family
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        self._fillers: list[socket.socket] = []

    async def __aenter__(self) -> Blackhole:
        try:
            self._listener.bind((self.host, self.port))
            self._listener.listen(0)  # never accepted: the queue stays as full as we make it
            self.port = int(self._listener.getsockname()[1])
            await self._fill()
        except BaseException:
            self._close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._close()

    async def _fill(self) -> None:
        for _ in range(self._MAX_FILL):
            sock = await self._attempt()
            if sock is None:  # no SYN-ACK: the queue is full and SYNs are dropped
                return
            self._fillers.append(sock)
        self._close()
        pytest.skip(
            f"{self.host} port {self.port}: {self._MAX_FILL} connections to a backlog-0 listener "
            "were all accepted by the kernel; it does not drop SYNs on a full accept queue, so a "
            "connect timeout cannot be staged on loopback here"
        )

    async def _attempt(self) -> socket.socket | None:
        """A connected socket, or None when the attempt timed out; a refusal is an error."""
        loop = asyncio.get_running_loop()
        sock = socket.socket(self._family, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            async with asyncio.timeout(self._PROBE_S):
                await loop.sock_connect(sock, (self.host, self.port))
        except TimeoutError:
            sock.close()
            return None
        except OSError as exc:
            sock.close()
            raise RuntimeError(
                f"{self.host} port {self.port}: a connection to a full accept queue was "
                f"answered ({exc}); is net.ipv4.tcp_abort_on_overflow set?"
            ) from exc
        return sock

    def _close(self) -> None:
        for sock in self._fillers:
            sock.close()
        self._fillers.clear()
        self._listener.close()


def close_after_starttls(*, reset: bool, reply: bool = True) -> Handler:
    """Greet, offer STARTTLS, say 220 to it (unless not `reply`), then hang up before the handshake.

    `reset`: abort with a RST (SO_LINGER 0); otherwise half-close with a FIN (shutdown for
    writing, so the FIN is sent even if the ClientHello is already waiting unread) and keep the
    socket until the client gives up.
    """
    script = SmtpScript()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"".join(line + b"\r\n" for line in script.banner))
        await writer.drain()
        while line := await reader.readline():
            if line.upper().startswith(b"STARTTLS"):
                if reply:
                    writer.write(b"220 2.0.0 Ready to start TLS\r\n")
                    await writer.drain()
                sock = writer.get_extra_info("socket")
                if reset:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    writer.transport.abort()
                    return
                sock.shutdown(socket.SHUT_WR)
                while await reader.read(4096):  # the ClientHello, then the client's close
                    pass
                return
            writer.write(b"".join(x + b"\r\n" for x in script.ehlo))
            await writer.drain()

    return handler


def prober_settings(pki: Pki, step_timeout: float, **changes: object) -> Settings:
    """Settings for probing the loopback servers above: private addresses allowed, connections
    pinned to loopback, the test CA trusted."""
    base = Settings(
        timeout=step_timeout,
        check_budget=3.0,
        report_budget=4.0,
        allow_private=True,
        connect_networks=LOOPBACK_ONLY,
        ca_file=pki.ca_file,
    )
    return base.with_overrides(**changes)
