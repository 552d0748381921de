"""Minimal IMAP and POP3 servers for the client ports, with STARTTLS/STLS or implicit TLS."""

from __future__ import annotations

import asyncio
import ssl

from tests.fakes.mailservers.loopback import Handler


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
