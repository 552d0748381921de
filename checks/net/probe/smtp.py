"""SMTP (RFC 5321; STARTTLS RFC 3207, implicit TLS RFC 8314): how far through greeting, EHLO,
STARTTLS and the TLS handshake does one connection get, step by step?

aiosmtplib speaks the protocol, and does several steps in one call, so the seams around it are:
- Connect: the caller opens the TCP connection to the vetted address literal and hands the
  connected socket to aiosmtplib (`sock=`). aiosmtplib therefore never resolves or connects
  anything, `connect()` only reads the greeting, and connect and greeting are timed and classified
  apart (refused, timeout, tarpit).
- Evidence: aiosmtplib turns a non-SMTP answer into "Malformed SMTP response line" with the bytes
  decoded lossily, and hides whether anything arrived before a timeout. Before handing the socket
  over we wait for the server's first bytes and read them with MSG_PEEK: they stay in the kernel
  for aiosmtplib, and we keep them raw. Nothing at all in time is a tarpit (no_banner); bytes but
  no complete reply is a drip-feed (timeout).
- Greeting wait: servers pause before the 220 on purpose (postscreen, greet_pause), so the
  greeting has its own timeout (`ProbeRun.greeting_wait`, from `settings.greeting_timeout` on
  port 25), longer than a step's; the other steps keep the step timeout.
- TLS timing: `starttls()` reads the 220 and runs the handshake, and an implicit-TLS `connect()`
  runs the handshake and reads the greeting. The capture context (`checks.net.probe.capture`) notes when
  the handshake starts and finishes, which splits those calls into steps, and each step gets its
  own step timeout (the `asyncio.timeout` is rescheduled at the handshake's start or end).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import NoReturn

import aiosmtplib
from aiosmtplib import (
    SMTPException,
    SMTPResponse,
    SMTPResponseException,
    SMTPServerDisconnected,
)

from checks.net.probe.capture import capture_context, server_name, tls_session
from checks.net.probe.result import Failure, Reply
from checks.net.probe.run import (
    PEEK,
    ProbeAbort,
    ProbeRun,
    elapsed_ms,
    judge_greeting,
    loop_time,
    why,
)

_MALFORMED = "Malformed SMTP response line: "  # aiosmtplib's wording (protocol.py)
_LOST = "Connection lost"  # aiosmtplib's wording when the transport is gone (protocol.py)
# What one aiosmtplib call can raise besides a reply: TimeoutError and ssl.SSLError are OSErrors.
_IO_ERRORS = (SMTPException, OSError, EOFError)


class SmtpSession:
    """One SMTP dialogue through aiosmtplib: greeting, EHLO, STARTTLS, EHLO, QUIT; nothing else.

    Every aiosmtplib call runs under its own `asyncio.timeout`; its exceptions become `ProbeAbort`s
    here, and the replies it returns (or raises as `SMTPResponseException`) become `Reply`s.
    """

    def __init__(self, run: ProbeRun, sock: socket.socket, helo_name: str) -> None:
        self.run = run
        self.sock = sock
        self.clock = capture_context()
        r = run.result
        self.implicit = r.protocol.implicit_tls
        self.sni = server_name(r.host)
        self.first = b""  # the server's first bytes, peeked before aiosmtplib reads them
        # With `sock=` aiosmtplib connects nowhere and resolves nothing: `hostname` is only used
        # as the TLS server name of an implicit-TLS connection, so there it is the host name (an
        # IP literal sends no SNI), and the vetted address otherwise.
        self.smtp = aiosmtplib.SMTP(
            hostname=(self.sni or r.address) if self.implicit else r.address,
            local_hostname=helo_name,  # given, so aiosmtplib never calls socket.getfqdn
            timeout=run.step_timeout,  # a backstop: our asyncio.timeout per step comes first
            use_tls=self.implicit,
            start_tls=False,  # never on its own: STARTTLS is a step we time and judge
            tls_context=self.clock,
            sock=sock,
        )
        self.transport: asyncio.BaseTransport | None = None
        self.open_before_starttls = False
        self.handed_over = False  # from `connect()` on, aiosmtplib's transport owns the socket

    async def converse(self) -> None:
        try:
            await self._dialogue()
        finally:
            self._close()

    async def _dialogue(self) -> None:
        run = self.run
        await (self._greet_tls() if self.implicit else self._greet())
        caps = await self._exchange("ehlo", self.smtp.ehlo)
        run.result = replace(run.result, capabilities=caps)
        if caps.code != "250":  # HELO would not help: STARTTLS needs EHLO (RFC 3207)
            await self._quit()
            raise ProbeAbort(Failure.EHLO_FAILED, f"EHLO was refused ({caps})", "ehlo")
        if not self.implicit:
            if not run.result.offers_starttls:
                await self._quit()
                raise ProbeAbort(
                    Failure.STARTTLS_MISSING, "the server does not offer STARTTLS", "starttls"
                )
            await self._starttls()
            after = await self._exchange("ehlo-tls", self.smtp.ehlo)
            run.result = replace(run.result, after_tls=after)
        await self._quit()

    # ---- greeting -------------------------------------------------------------------------------
    async def _greet(self) -> None:
        """Port 25/587: wait for the first bytes (kept raw), then let aiosmtplib read the greeting."""
        run = self.run
        started = time.monotonic()
        try:
            # The whole greeting, a multi-line one paused half-way (postscreen) too, gets the wait.
            async with asyncio.timeout(run.budget(run.greeting_wait)):
                self.first = await _first_bytes(self.sock, PEEK)
                if not self.first:
                    raise ConnectionResetError("closed")  # EOF before a single byte
                reply = await self._read_greeting()
        except _IO_ERRORS as exc:
            raise self._greeting_failed(exc, started, bytes_seen=bool(self.first)) from None
        self._greeted(reply, started, time.monotonic())

    async def _greet_tls(self) -> None:
        """Port 465: aiosmtplib does the handshake and reads the greeting in one `connect()`; the
        handshake gets a step timeout, the greeting after it the greeting wait."""
        run, clock = self.run, self.clock
        started = time.monotonic()
        try:
            async with asyncio.timeout(run.budget()) as limit:
                clock.on_done = lambda: limit.reschedule(
                    loop_time() + run.step_left(run.greeting_wait)
                )
                reply = await self._read_greeting()
        except _IO_ERRORS as exc:
            if clock.done is None:
                raise self._handshake_failed(exc, started) from None
            self._handshake_done(started)
            raise self._greeting_failed(exc, clock.done, bytes_seen=False) from None
        finally:
            clock.on_done = None
        self._handshake_done(started)
        self._greeted(reply, clock.done or started, time.monotonic())

    async def _read_greeting(self) -> Reply:
        self.handed_over = True
        try:
            # aiosmtplib's own backstop must not cut a greeting our (longer) greeting wait allows.
            response = await self.smtp.connect(timeout=self.run.greeting_wait)
        except SMTPResponseException as exc:  # a greeting other than 220, or not SMTP at all
            if exc.code < 0:
                raise
            return _reply(exc.code, exc.message)
        self.transport = self.smtp.transport
        return _reply(response.code, response.message)

    def _greeted(self, reply: Reply, started: float, until: float) -> None:
        run = self.run
        ms = run.record("banner", started, reply.code == "220", str(reply), until)
        run.result = replace(run.result, banner=reply, banner_ms=ms)
        judge_greeting("smtp", reply)

    def _greeting_failed(
        self, exc: BaseException, started: float, *, bytes_seen: bool
    ) -> ProbeAbort:
        failure, detail = _failure_of(exc, "banner", elapsed_ms(started))
        if failure is Failure.TIMEOUT and not bytes_seen:  # a tarpit: connected, then silence
            failure = Failure.NO_BANNER
            detail = f"connected, but no greeting within {elapsed_ms(started) / 1000:.1f} s"
        elif failure is Failure.CLOSED:
            failure, detail = (
                Failure.EARLY_CLOSE,
                "the server closed the connection without greeting",
            )
        if failure in (Failure.GARBAGE, Failure.EARLY_CLOSE):
            self._keep_garbage(exc, self.first)
        return self.run.fail("banner", started, failure, detail)

    # ---- STARTTLS and the handshake -----------------------------------------------------------
    async def _starttls(self) -> None:
        run, clock = self.run, self.clock
        started = time.monotonic()
        # Open now, with no await before STARTTLS is written: a later "Connection lost" then means
        # the connection went after the command was sent (see `_lost_after_reply`).
        self.open_before_starttls = _is_open(self.smtp.transport)
        try:
            async with asyncio.timeout(run.budget()) as limit:
                # The 220 came and the handshake begins: it gets a step timeout of its own.
                clock.on_start = lambda: limit.reschedule(loop_time() + run.step_left())
                response = await self.smtp.starttls(
                    server_hostname=self.sni or run.result.address, tls_context=clock
                )
        except SMTPResponseException as exc:
            if exc.code < 0 or clock.started is not None:
                raise self._starttls_failed(exc, started) from None
            await self._refused(_reply(exc.code, exc.message), started)
        except _IO_ERRORS as exc:
            raise self._starttls_failed(exc, started) from None
        finally:
            clock.on_start = None
        reply = _reply(response.code, response.message)
        run.result = replace(run.result, starttls=reply)
        run.record("starttls", started, True, str(reply), clock.started)
        self._handshake_done(clock.started or started)

    async def _refused(self, reply: Reply, started: float) -> NoReturn:
        self.run.result = replace(self.run.result, starttls=reply)
        self.run.record("starttls", started, False, str(reply))
        await self._quit()
        raise ProbeAbort(Failure.STARTTLS_REFUSED, f"STARTTLS answered {reply}", "starttls")

    def _starttls_failed(self, exc: BaseException, started: float) -> ProbeAbort:
        clock = self.clock
        if clock.started is None and self.open_before_starttls and _lost_after_reply(exc):
            # A 220, then a hang-up before the ClientHello could be answered: TLS cannot work.
            self.run.result = replace(self.run.result, starttls=Reply("220", ()))
            self.run.record("starttls", started, True, "220")
            detail = "the server closed the connection after its 220, before the TLS handshake"
            return self.run.fail("tls", time.monotonic(), Failure.TLS_FAILED, detail)
        if clock.started is None:  # no 220: the STARTTLS command itself failed
            if type(exc) is SMTPException:  # aiosmtplib read the EHLO reply differently from us
                return self.run.fail(
                    "starttls", started, Failure.STARTTLS_MISSING, "STARTTLS is not offered"
                )
            return self.run.fail(
                "starttls", started, *_failure_of(exc, "starttls", elapsed_ms(started))
            )
        # The server said 220 (aiosmtplib checks that before the handshake and keeps the text only
        # on success), so STARTTLS was accepted and the handshake is what failed.
        reply = Reply("220", ())
        self.run.result = replace(self.run.result, starttls=reply)
        self.run.record("starttls", started, True, "220", clock.started)
        return self._handshake_failed(exc, clock.started)

    def _handshake_done(self, started: float) -> None:
        """Record the handshake step and the TLS session the server gave us."""
        session = tls_session(self.clock.sslobj, self.sni)
        self.transport = self.smtp.transport or self.transport
        self.run.result = replace(self.run.result, tls=session)
        detail = f"{session.version} {session.cipher}"
        self.run.record("tls", started, True, detail, self.clock.done)

    def _handshake_failed(self, exc: BaseException, started: float) -> ProbeAbort:
        if isinstance(exc, TimeoutError):
            detail = f"the TLS handshake did not finish within {elapsed_ms(started) / 1000:g} s"
        else:
            detail = f"the TLS handshake failed: {why(exc)}"
        return self.run.fail("tls", started, Failure.TLS_FAILED, detail)

    # ---- commands ------------------------------------------------------------------------------
    async def _exchange(self, step: str, action: Callable[[], Awaitable[SMTPResponse]]) -> Reply:
        """One command and its reply; a refusal is a reply (the caller judges it), not an abort."""
        run = self.run
        started = time.monotonic()
        try:
            async with asyncio.timeout(run.budget()):
                response = await action()
            reply = _reply(response.code, response.message)
        except SMTPResponseException as exc:
            if exc.code < 0:
                raise self._failed(exc, step, started) from None
            reply = _reply(exc.code, exc.message)
        except _IO_ERRORS as exc:
            raise self._failed(exc, step, started) from None
        run.record(step, started, reply.code == "250", str(reply))
        return reply

    def _failed(self, exc: BaseException, step: str, started: float) -> ProbeAbort:
        failure, detail = _failure_of(exc, step, elapsed_ms(started))
        if failure is Failure.GARBAGE:
            self._keep_garbage(exc, b"")
        return self.run.fail(step, started, failure, detail)

    async def _quit(self) -> None:
        """Say goodbye politely; a server that does not answer QUIT costs at most a second."""
        run = self.run
        started = time.monotonic()
        try:
            async with asyncio.timeout(run.quit_timeout()):
                await self.smtp.quit()
        except SMTPResponseException as exc:  # any reply is a goodbye
            run.record("quit", started, exc.code >= 0, "" if exc.code >= 0 else "no goodbye")
            return
        except _IO_ERRORS:
            run.record("quit", started, False, "no goodbye")
            return
        run.record("quit", started, True)

    def _keep_garbage(self, exc: BaseException, peeked: bytes) -> None:
        """The first bytes as they came (peeked), else the line aiosmtplib could not parse."""
        garbage = peeked
        if not garbage and isinstance(exc, SMTPResponseException):
            garbage = _malformed(exc.message).encode("utf-8", "surrogateescape")
        self.run.result = replace(self.run.result, garbage=garbage[:PEEK])

    def _close(self) -> None:
        """End the connection now (after QUIT, or on failure), with no lingering TLS shutdown.

        aiosmtplib closes its transport itself when `connect()` fails, and a TLS close waits up to
        30 s for the server's close_notify; shutting the socket down ends the TCP connection at
        once without closing a descriptor that a transport may still have registered.
        """
        transport = self.smtp.transport or self.transport
        self.smtp.close()
        if isinstance(transport, asyncio.Transport):
            transport.abort()
        if not self.handed_over:
            self.sock.close()
            return
        with contextlib.suppress(OSError):  # already closed by the transport
            self.sock.shutdown(socket.SHUT_RDWR)


async def _first_bytes(sock: socket.socket, size: int) -> bytes:
    """Wait for the server to say something and look at it without taking it (MSG_PEEK).

    b"" when the server closed the connection first.
    """
    loop = asyncio.get_running_loop()
    while True:
        try:
            return sock.recv(size, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            pass
        readable: asyncio.Future[None] = loop.create_future()
        loop.add_reader(sock.fileno(), _wake, readable)
        try:
            await readable
        finally:
            loop.remove_reader(sock.fileno())


def _wake(readable: asyncio.Future[None]) -> None:
    if not readable.done():  # the peeked bytes stay unread, so the reader fires until removed
        readable.set_result(None)


def _failure_of(exc: BaseException, step: str, ms: int) -> tuple[Failure, str]:
    """What an aiosmtplib or socket exception means for the step: garbage, timeout or closed."""
    if isinstance(exc, SMTPResponseException):  # code -1: aiosmtplib could not parse the reply
        text = exc.message
        if text.startswith(_MALFORMED):
            return Failure.GARBAGE, f"not an SMTP reply: {_malformed(text)[:80]!r}"
        return Failure.GARBAGE, f"not an SMTP reply ({text[:80]})"
    if isinstance(exc, TimeoutError):
        return Failure.TIMEOUT, f"no reply to {step} within {ms / 1000:g} s"
    return Failure.CLOSED, f"connection lost ({why(exc)})"


def _is_open(transport: asyncio.BaseTransport | None) -> bool:
    return transport is not None and not transport.is_closing()


def _lost_after_reply(exc: BaseException) -> bool:
    """aiosmtplib's STARTTLS read a 220, then found the connection gone (protocol.py `start_tls`).

    Its other disconnects while STARTTLS waits differ: a FIN before the reply is "Unexpected EOF
    received", a reset before it is "Connection lost" caused by the socket error, and a connection
    already closing when the command is written is ruled out by `open_before_starttls`.
    """
    return isinstance(exc, SMTPServerDisconnected) and str(exc) == _LOST and exc.__cause__ is None


def _malformed(message: str) -> str:
    """The line in aiosmtplib's "Malformed SMTP response line: <line>" (decoded lossily)."""
    return message.removeprefix(_MALFORMED).rstrip("\r\n")


def _reply(code: int, message: str) -> Reply:
    # aiosmtplib decodes with surrogateescape; evidence must be plain, printable-safe text.
    text = message.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return Reply(str(code), tuple(text.split("\n")))
