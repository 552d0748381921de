"""Hostile and broken mail servers on loopback: a tarpit, drip-feeding, hang-ups, raw bytes (421/554
greetings, garbage), a hang-up right after STARTTLS's 220, and a `Blackhole` port that drops SYNs
like a firewall.
"""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest

from bot.lab.smtp import SmtpScript, tarpit
from tests.fakes.mailservers.loopback import Handler

__all__ = ["Blackhole", "close_after_starttls", "drip", "hang_up", "raw", "tarpit"]


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
