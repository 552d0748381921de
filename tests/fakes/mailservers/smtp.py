"""SMTP servers on loopback: a real aiosmtpd with STARTTLS, the lab's scripted server
(`bot.lab.smtp.SmtpScript`), and implicit TLS."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiosmtpd.smtp import SMTP

from bot.lab.smtp import SmtpScript
from tests.fakes.mailservers.loopback import Handler

__all__ = ["Endpoint", "SmtpScript", "aiosmtpd_server", "implicit_smtp"]


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


def implicit_smtp(tls: ssl.SSLContext) -> Handler:
    """SMTP on 465: TLS first (RFC 8314), then a plain greeting and EHLO."""
    script = SmtpScript(
        ehlo=(b"250-mx.example.test hello", b"250-AUTH PLAIN", b"250 8BITMIME"), tls=None
    )

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await writer.start_tls(tls)
        await script(reader, writer)

    return handler
