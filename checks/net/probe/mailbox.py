"""IMAP (RFC 9051) and POP3 (RFC 1939; STLS RFC 2595) on the client ports: how far through
greeting, capabilities, STARTTLS and the TLS handshake does one connection get, step by step?

aiosmtplib speaks only SMTP, so these few lines are ours: a line reader on asyncio streams, bounded
in line length and line count, that keeps the first bytes of a non-protocol answer as evidence.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

from checks.net.probe.capture import CaptureContext, capture_context, server_name, tls_session
from checks.net.probe.result import Failure, Reply
from checks.net.probe.run import PEEK, ProbeAbort, ProbeRun, elapsed_ms, judge_greeting, why

_MAX_LINE = 4096  # RFC 5321 4.5.3.1.5 says 512; real servers are a little sloppier
_MAX_LINES = 100
_READ_LIMIT = 8192


@dataclass
class MailboxSession:
    """One IMAP or POP3 dialogue: greeting, CAPABILITY/CAPA, STARTTLS/STLS or implicit TLS, and
    LOGOUT/QUIT; nothing else."""

    run: ProbeRun
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    clock: CaptureContext = field(default_factory=lambda: capture_context())
    got_line: bool = False  # some reply line arrived (a slow multi-line greeting is no tarpit)

    @classmethod
    async def converse_on(cls, run: ProbeRun, sock: socket.socket) -> None:
        try:
            reader, writer = await asyncio.open_connection(sock=sock, limit=_READ_LIMIT)
        except BaseException:
            sock.close()
            raise
        d = cls(run, reader, writer)
        try:
            await d.converse()
        finally:
            await _close(writer)

    async def converse(self) -> None:
        run = self.run
        family = run.result.protocol.family
        if run.result.protocol.implicit_tls:
            await self.handshake()
        banner = await self.greeting(family)
        run.result = replace(run.result, banner=banner, banner_ms=run.steps[-1].ms)
        judge_greeting(family, banner)
        if family == "imap":
            caps = await self.timed("capability", lambda: self.command("A1 CAPABILITY", "A1"))
        else:
            caps = await self.timed("capa", lambda: self.command("CAPA", "", multiline=True))
        run.result = replace(run.result, capabilities=caps)
        if run.result.protocol.implicit_tls:
            await self.quit(family)
            return
        if not run.result.offers_starttls:
            await self.quit(family)
            raise ProbeAbort(
                Failure.STARTTLS_MISSING, "the server does not offer STARTTLS", "starttls"
            )
        line, tag = {"imap": ("A2 STARTTLS", "A2"), "pop3": ("STLS", "")}[family]
        reply = await self.timed("starttls", lambda: self.command(line, tag))
        run.result = replace(run.result, starttls=reply)
        if reply.code not in {"OK", "+OK"}:
            await self.quit(family)
            raise ProbeAbort(Failure.STARTTLS_REFUSED, f"STARTTLS answered {reply}", "starttls")
        await self.handshake()
        await self.quit(family)

    async def greeting(self, family: str) -> Reply:
        read = {"imap": lambda: self.imap_reply("banner", "*"), "pop3": self.pop3_reply_banner}
        try:
            return await self.timed("banner", read[family])
        except ProbeAbort as abort:
            if abort.failure is Failure.TIMEOUT and not self.got_line:
                raise ProbeAbort(
                    Failure.NO_BANNER,
                    f"connected, but no greeting within {self.run.steps[-1].ms / 1000:g} s",
                    "banner",
                ) from None
            if abort.failure is Failure.CLOSED:
                raise ProbeAbort(
                    Failure.EARLY_CLOSE,
                    "the server closed the connection without greeting",
                    "banner",
                ) from None
            raise

    async def handshake(self) -> None:
        run = self.run
        sni = server_name(run.result.host)
        started = time.monotonic()
        timeout = run.budget()
        try:
            async with asyncio.timeout(timeout):
                await self.writer.start_tls(
                    self.clock, server_hostname=sni, ssl_handshake_timeout=timeout
                )
        except TimeoutError:
            detail = f"the TLS handshake did not finish within {timeout:g} s"
            raise run.fail("tls", started, Failure.TLS_FAILED, detail) from None
        except (ssl.SSLError, OSError, EOFError) as exc:
            detail = f"the TLS handshake failed: {why(exc)}"
            raise run.fail("tls", started, Failure.TLS_FAILED, detail) from None
        session = tls_session(self.clock.sslobj, sni)
        run.result = replace(run.result, tls=session)
        run.record("tls", started, True, f"{session.version} {session.cipher}")

    async def quit(self, family: str) -> None:
        """Say goodbye politely; a server that does not answer costs at most a second."""
        run = self.run
        started = time.monotonic()
        try:
            async with asyncio.timeout(run.quit_timeout()):
                await self.send({"imap": "A9 LOGOUT", "pop3": "QUIT"}[family])
                await self.reader.readline()
        except (TimeoutError, OSError, ProbeAbort, ValueError):
            run.record("quit", started, False, "no goodbye")
            return
        run.record("quit", started, True)

    # ---- lines and replies ----------------------------------------------------------------------
    async def timed(self, step: str, action: Callable[[], Awaitable[Reply]]) -> Reply:
        run = self.run
        started = time.monotonic()
        try:
            async with asyncio.timeout(run.budget()):
                reply = await action()
        except TimeoutError:
            detail = f"no reply to {step} within {elapsed_ms(started) / 1000:g} s"
            raise run.fail(step, started, Failure.TIMEOUT, detail) from None
        except ProbeAbort as abort:
            run.record(step, started, False, abort.detail)
            raise
        run.record(step, started, True, str(reply))
        return reply

    async def send(self, line: str) -> None:
        self.writer.write(line.encode("ascii") + b"\r\n")
        async with asyncio.timeout(self.run.budget()):
            await self.writer.drain()

    async def command(self, line: str, tag: str, *, multiline: bool = False) -> Reply:
        await self.send(line)
        if tag:
            return await self.imap_reply(line.lower(), tag)
        return await self.pop3_reply(line.lower(), multiline=multiline)

    async def line(self, step: str) -> str:
        try:
            raw = await self.reader.readline()
        except (ValueError, asyncio.LimitOverrunError):
            raise ProbeAbort(Failure.GARBAGE, "a reply line was far too long", step) from None
        except OSError as exc:
            raise ProbeAbort(Failure.CLOSED, f"connection lost ({why(exc)})", step) from None
        if not raw.endswith(b"\n"):
            self.keep_garbage(raw)
            raise ProbeAbort(Failure.CLOSED, "the server closed the connection", step)
        if len(raw) > _MAX_LINE:
            self.keep_garbage(raw)
            raise ProbeAbort(Failure.GARBAGE, "a reply line was far too long", step)
        self.got_line = True
        return raw.rstrip(b"\r\n").decode("utf-8", "replace")

    def keep_garbage(self, raw: bytes) -> None:
        if not self.run.result.garbage:
            self.run.result = replace(self.run.result, garbage=raw[:PEEK])

    def wrong(self, protocol: str, text: str, step: str) -> ProbeAbort:
        self.keep_garbage(text.encode("utf-8", "replace"))
        return ProbeAbort(Failure.GARBAGE, f"not {protocol} reply: {text[:80]!r}", step)

    async def imap_reply(self, step: str, tag: str) -> Reply:
        """Untagged lines until the tagged status line (or just the greeting when tag is "*")."""
        lines: list[str] = []
        for _ in range(_MAX_LINES):
            text = await self.line(step)
            head, _, rest = text.partition(" ")
            status, _, info = rest.partition(" ")
            if tag == "*" or head == tag:
                if head != tag or status.upper() not in {"OK", "NO", "BAD", "BYE", "PREAUTH"}:
                    raise self.wrong("an IMAP", text, step)
                return Reply(status.upper(), (*lines, info))
            if head != "*":
                raise self.wrong("an IMAP", text, step)
            lines.append(rest)
        raise ProbeAbort(Failure.GARBAGE, f"more than {_MAX_LINES} reply lines", step)

    async def pop3_reply_banner(self) -> Reply:
        return await self.pop3_reply("banner")

    async def pop3_reply(self, step: str, *, multiline: bool = False) -> Reply:
        text = await self.line(step)
        status, _, info = text.partition(" ")
        if status.upper() not in {"+OK", "-ERR"}:
            raise self.wrong("a POP3", text, step)
        lines = [info]
        if multiline and status.upper() == "+OK":
            for _ in range(_MAX_LINES):
                more = await self.line(step)
                if more == ".":
                    return Reply(status.upper(), tuple(lines))
                lines.append(more)
            raise ProbeAbort(Failure.GARBAGE, f"more than {_MAX_LINES} reply lines", step)
        return Reply(status.upper(), tuple(lines))


async def _close(writer: asyncio.StreamWriter) -> None:
    try:
        writer.close()
        async with asyncio.timeout(0.5):
            await writer.wait_closed()
    except (TimeoutError, OSError, ssl.SSLError):
        writer.transport.abort()
