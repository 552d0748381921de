"""The lab's SMTP servers on 127.0.0.2-7 port 25, one situation each (binding port 25 needs root).

Each `smtp-*.lab` domain has one MX host, `mx.<domain>`, at its own loopback address; what answers
there is below. The certificates come from a CA made for the run (`bot.lab.pki`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
from collections.abc import AsyncIterator, Awaitable, Callable

from bot.lab.pki import LabCa
from bot.lab.smtp import SmtpScript, tarpit

PORT = 25
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
# domain -> (the address of its MX host mx.<domain>, what answers there)
SERVERS: dict[str, tuple[str, str]] = {
    "smtp-good.lab": ("127.0.0.2", "STARTTLS with a good certificate"),
    "smtp-expired.lab": ("127.0.0.3", "STARTTLS with an expired certificate"),
    "smtp-tarpit.lab": ("127.0.0.4", "accepts the connection, never greets"),
    "smtp-554.lab": ("127.0.0.5", "greets with 554: no SMTP service here"),
    "smtp-nostarttls.lab": ("127.0.0.6", "no STARTTLS"),
    "smtp-closed.lab": ("127.0.0.7", "nothing listens: the connection is refused"),
}


class MailUnavailableError(OSError):
    """The SMTP servers could not be started; the message says why (usually: not root)."""


@contextlib.asynccontextmanager
async def serving(ca: LabCa) -> AsyncIterator[None]:
    """Run the servers in this event loop until the block ends."""
    handlers: dict[str, Handler] = {
        "smtp-good.lab": _script("smtp-good.lab", ca, expired=False),
        "smtp-expired.lab": _script("smtp-expired.lab", ca, expired=True),
        "smtp-tarpit.lab": tarpit,
        "smtp-554.lab": SmtpScript(banner=(b"554 5.7.1 mx.smtp-554.lab no service here",)),
        "smtp-nostarttls.lab": SmtpScript(
            banner=(b"220 mx.smtp-nostarttls.lab ESMTP lab",),
            ehlo=(b"250-mx.smtp-nostarttls.lab hello", b"250 8BITMIME"),
        ),
    }
    servers: list[asyncio.Server] = []
    try:
        for domain, handler in handlers.items():
            address = SERVERS[domain][0]
            try:
                servers.append(await asyncio.start_server(handler, address, PORT))
            except OSError as exc:
                raise MailUnavailableError(_why(address, exc)) from None
        yield
    finally:
        for server in servers:
            server.close()


def _why(address: str, exc: OSError) -> str:
    if exc.errno == errno.EACCES:
        return f"listening on {address}:{PORT} was refused: port {PORT} needs root"
    reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
    return f"cannot listen on {address}:{PORT} ({reason})"


def _script(domain: str, ca: LabCa, *, expired: bool) -> SmtpScript:
    host = f"mx.{domain}".encode()
    return SmtpScript(
        banner=(b"220 " + host + b" ESMTP lab",),
        ehlo=(b"250-" + host + b" hello", b"250-PIPELINING", b"250-STARTTLS", b"250 8BITMIME"),
        tls=ca.context([f"mx.{domain}"], expired=expired),
    )
