"""Scripted SMTP servers: say a banner, answer EHLO and STARTTLS as told (the lab's mail servers
and the tests' use them), and a tarpit that accepts and never greets."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field


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
    # A deliberate pause before the greeting (sendmail greet_pause), after `pregreet` when given:
    # the first line of a multi-line greeting, as Postfix postscreen sends "220-" and then waits.
    greeting_delay: float = 0.0
    pregreet: bytes | None = None
    commands: list[str] = field(default_factory=list)

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.pregreet is not None:
            writer.write(self.pregreet + b"\r\n")
            await writer.drain()
        if self.greeting_delay:
            await asyncio.sleep(self.greeting_delay)
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
    """Accept, then say nothing, ever: until the client gives up and hangs up."""
    await reader.read()
    writer.close()
