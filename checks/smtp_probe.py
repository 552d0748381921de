"""Probe a mail server step by step (connect, greeting, EHLO/CAPA, STARTTLS or implicit TLS, QUIT),
politely and within bounds, and say exactly where it went wrong. No mail is ever sent: no MAIL, no
RCPT, no AUTH, no DATA.

Design choices:
- SMTP (25 and 587 with STARTTLS, 465 with implicit TLS) is spoken by `aiosmtplib.SMTP`; IMAP and
  POP3 (client ports only) by a small line reader on asyncio streams. aiosmtplib does several
  steps in one call, so the seams around it are:
  - Connect: we open the TCP connection ourselves, to the address the caller resolved through
    `ctx.dns` and `checks.netpolicy.refusal` vetted, and hand the connected socket to aiosmtplib
    (`sock=`). aiosmtplib therefore never resolves or connects anything, `connect()` only reads the
    greeting, and connect and greeting are timed and classified apart (refused, timeout, tarpit).
  - Evidence: aiosmtplib turns a non-SMTP answer into "Malformed SMTP response line" with the bytes
    decoded lossily, and hides whether anything arrived before a timeout. Before handing the socket
    over we wait for the server's first bytes and read them with MSG_PEEK: they stay in the kernel
    for aiosmtplib, and we keep them raw. Nothing at all in time is a tarpit (no_banner); bytes but
    no complete reply is a drip-feed (timeout).
  - TLS timing: `starttls()` reads the 220 and runs the handshake, and an implicit-TLS `connect()`
    runs the handshake and reads the greeting. The capture context's `sslobject_class` (a public
    `ssl.SSLContext` hook) notes when the handshake starts and finishes, which splits those calls
    into steps, and each step gets its own step timeout (the `asyncio.timeout` is rescheduled at
    the handshake's start or end).
- Certificate chain capture: the handshake runs with verification off (a server with a broken
  certificate must still be described), and `checks.tls_analysis` verifies the captured chain with
  `cryptography` against the system store or `settings.ca_file`, so no second connection is made.
  Python 3.13 has `SSLObject.get_unverified_chain()`; 3.10 to 3.12 have the same method on the
  private `_sslobj` (CPython's `_ssl._SSLSocket`, bpo-18233), which we use when present. Only when
  neither exists do we fall back to the leaf (`getpeercert(binary_form=True)`) and say so.
- Address policy: the caller passes an address it resolved through `ctx.dns`; we connect to that
  literal (SNI = the host name), never to a name, so DNS rebinding cannot change where we go, and
  `checks.netpolicy.refusal` is asked before every connection.
- Politeness: one connection at a time per address (an asyncio.Lock), and results are cached per
  (address, port, name, protocol) for `cache_seconds` across reports, so repeated reports and
  digests do not hammer anyone's MX.
- Bounds: every step has `settings.timeout`; the whole probe has `probe_budget` (default
  `4 * timeout`, capped by the check budget); replies are limited in lines and bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import enum
import ipaddress
import socket
import ssl
import time
import warnings
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Final, NoReturn

import aiosmtplib
from aiosmtplib import SMTPException, SMTPResponse, SMTPResponseException

from checks.netpolicy import refusal
from checks.settings import Settings
from checks.tls_analysis import TlsAnalysis, TrustStore, analyse

if TYPE_CHECKING:
    from checks.context import Context

_MAX_LINE = 4096  # RFC 5321 4.5.3.1.5 says 512; real servers are a little sloppier
_MAX_LINES = 100
_READ_LIMIT = 8192
_PEEK = 200  # first bytes kept as evidence of a non-SMTP answer
_QUIT_WAIT = 1.0
_CACHE_MAX = 4096
_MALFORMED = "Malformed SMTP response line: "  # aiosmtplib's wording (protocol.py)
# What one aiosmtplib call can raise besides a reply: TimeoutError and ssl.SSLError are OSErrors.
_IO_ERRORS = (SMTPException, OSError, EOFError)
DEFAULT_CACHE_SECONDS: Final = 60.0


class Protocol(enum.StrEnum):
    """What to speak, and whether TLS comes first (implicit) or after STARTTLS."""

    SMTP = "smtp"  # 25 and 587: greeting, EHLO, STARTTLS
    SMTPS = "smtps"  # 465 (RFC 8314): TLS first
    IMAP = "imap"  # 143: CAPABILITY, STARTTLS
    IMAPS = "imaps"  # 993
    POP3 = "pop3"  # 110: CAPA, STLS
    POP3S = "pop3s"  # 995

    @property
    def implicit_tls(self) -> bool:
        return self in (Protocol.SMTPS, Protocol.IMAPS, Protocol.POP3S)

    @property
    def family(self) -> str:
        return self.value.rstrip("s") if self.value != "smtps" else "smtp"


class Failure(enum.StrEnum):
    """Where a probe stopped; each has its own finding."""

    REFUSED_BY_POLICY = "refused_by_policy"  # we would not connect (private address …)
    CONNECTION_REFUSED = "connection_refused"  # RST: nothing listens
    CONNECT_TIMEOUT = "connect_timeout"  # no SYN-ACK in time (filtered)
    UNREACHABLE = "unreachable"  # no route, network unreachable, …
    NO_BANNER = "no_banner"  # connected, but no greeting in time (tarpit)
    EARLY_CLOSE = "early_close"  # the server hung up before or instead of greeting
    GREETING_DEFERRED = "greeting_deferred"  # 4xx greeting (421 too many connections …)
    GREETING_REJECTED = "greeting_rejected"  # 5xx greeting (554 no service …)
    GARBAGE = "garbage"  # not the expected protocol
    EHLO_FAILED = "ehlo_failed"  # EHLO/CAPABILITY rejected
    STARTTLS_MISSING = "starttls_missing"
    STARTTLS_REFUSED = "starttls_refused"
    TLS_FAILED = "tls_failed"  # handshake failure
    TIMEOUT = "timeout"  # a later step (or the whole probe) ran out of time
    CLOSED = "closed"  # the server hung up in the middle of the dialogue

    @property
    def inconclusive(self) -> bool:
        """The server may be fine for real senders: it is rate-limiting or blocking scanners."""
        return self in (Failure.GREETING_DEFERRED, Failure.EARLY_CLOSE)


@dataclass(frozen=True, slots=True)
class Reply:
    """One server reply: `code` is "220" for SMTP, "OK"/"NO"/"BAD"/"BYE" for IMAP, "+OK"/"-ERR" for POP3."""

    code: str
    lines: tuple[str, ...]  # text after the code, one per line

    @property
    def text(self) -> str:
        return " ".join(line.strip() for line in self.lines).strip()

    @property
    def first_word(self) -> str:
        """The host name a server announces first on its greeting or EHLO line."""
        parts = (self.lines[0] if self.lines else "").split()
        return parts[0].lower().rstrip(".") if parts else ""

    def __str__(self) -> str:
        return f"{self.code} {self.text}".strip()


@dataclass(frozen=True, slots=True)
class Step:
    name: str  # "connect", "banner", "ehlo", "starttls", "tls", "ehlo-tls", "quit"
    ms: int
    ok: bool
    detail: str = ""

    def __str__(self) -> str:
        mark = "" if self.ok else " FAILED"
        return f"{self.name}{mark} in {self.ms} ms" + (f": {self.detail}" if self.detail else "")


@dataclass(frozen=True, slots=True)
class TlsSession:
    version: str
    cipher: str
    bits: int
    chain: tuple[bytes, ...]  # DER, leaf first, as the server sent it
    complete_capture: bool  # False when only the leaf could be captured
    sni: str | None


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """Everything one probe saw; `failure` is None when it got through TLS (or as far as it should)."""

    host: str
    address: str
    port: int  # the standard port the probe stands for (25, 465, 993, …)
    protocol: Protocol
    failure: Failure | None = None
    detail: str = ""  # why, in words, for the failure
    failed_step: str = ""
    steps: tuple[Step, ...] = ()
    banner: Reply | None = None
    banner_ms: int | None = None
    connect_ms: int | None = None
    capabilities: Reply | None = None  # EHLO / CAPABILITY / CAPA reply
    starttls: Reply | None = None
    tls: TlsSession | None = None
    after_tls: Reply | None = None  # EHLO after STARTTLS (SMTP only)
    garbage: bytes = b""  # the first bytes of a non-protocol answer
    total_ms: int = 0
    probed_at: float = 0.0  # time.time() when the probe started
    cached: bool = False
    connected_port: int = 0  # the port actually connected to (tests remap standard ports)

    @property
    def connected(self) -> bool:
        return self.connect_ms is not None

    @property
    def extensions(self) -> tuple[str, ...]:
        """EHLO keywords with parameters (`SIZE 52428800`), or IMAP/POP3 capabilities."""
        if self.capabilities is None:
            return ()
        lines = self.capabilities.lines
        if self.protocol.family == "imap":  # "* CAPABILITY IMAP4rev1 STARTTLS …"
            return tuple(
                w
                for line in lines
                if line.upper().startswith("CAPABILITY ")
                for w in line.split()[1:]
            )
        return tuple(line.strip() for line in lines[1:] if line.strip())  # EHLO / CAPA

    @property
    def offers_starttls(self) -> bool:
        words = {e.split()[0].upper() for e in self.extensions if e.split()}
        return bool(words & {"STARTTLS", "STLS"})

    @property
    def inconclusive(self) -> bool:
        return self.failure is not None and self.failure.inconclusive

    def describe_steps(self) -> str:
        return "; ".join(str(s) for s in self.steps)


class _Abort(Exception):
    """Control flow inside one probe; never escapes it."""

    def __init__(self, failure: Failure, detail: str, step: str) -> None:
        super().__init__(detail)
        self.failure = failure
        self.detail = detail
        self.step = step


@dataclass
class _Run:
    """One probe while it runs: what it has seen so far and its clock. Frozen into `result`."""

    result: ProbeResult
    step_timeout: float
    deadline: float  # loop time
    steps: list[Step] = field(default_factory=list)

    def remaining(self) -> float:
        return self.deadline - asyncio.get_running_loop().time()

    def step_left(self) -> float:
        """The time the next step may take: a step timeout, or what is left of the budget."""
        return max(0.0, min(self.step_timeout, self.remaining()))

    def budget(self) -> float:
        if self.remaining() <= 0:
            raise _Abort(Failure.TIMEOUT, "the probe's time budget ran out", "budget")
        return self.step_left()

    def record(
        self, name: str, started: float, ok: bool, detail: str = "", until: float | None = None
    ) -> int:
        ms = _ms(started, until)
        self.steps.append(Step(name, ms, ok, detail[:120]))
        return ms

    def fail(self, name: str, started: float, failure: Failure, detail: str) -> _Abort:
        """Record the failed step and return the abort to raise."""
        self.record(name, started, False, detail)
        return _Abort(failure, detail, name)

    def finish(self, abort: _Abort | None, started: float) -> ProbeResult:
        result = self.result
        if abort is not None:
            result = replace(
                result, failure=abort.failure, detail=abort.detail, failed_step=abort.step
            )
        return replace(result, steps=tuple(self.steps), total_ms=_ms(started))


class SmtpProber:
    """Process-wide: holds the per-address locks, the short result cache and the trust store.

    Args:
        port: where "port 25" really listens (tests); shorthand for `ports={25: port}`.
        ports: standard port -> port to connect to, for the client ports (tests).
        cache_seconds: how long a result is reused across reports (default 60 s,
            `settings.extra["smtp_cache_seconds"]`).
        helo_name: the name we give in EHLO (`settings.extra["helo_name"]`).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        port: int | None = None,
        ports: Mapping[int, int] | None = None,
        cache_seconds: float | None = None,
        helo_name: str | None = None,
    ) -> None:
        self.settings = settings
        self._ports = dict(ports or {})
        if port is not None:
            self._ports[25] = port
        extra = settings.extra
        self.cache_seconds = float(
            cache_seconds
            if cache_seconds is not None
            else extra.get("smtp_cache_seconds", DEFAULT_CACHE_SECONDS)
        )
        self.helo_name = _checked_helo(helo_name or str(extra.get("helo_name") or _default_helo()))
        self.step_timeout = settings.timeout
        self.probe_budget = float(
            extra.get("probe_budget", min(4 * settings.timeout, settings.check_budget * 0.9))
        )
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._cache: dict[tuple[str, int, str, Protocol], ProbeResult] = {}
        self._trust: TrustStore | None = None
        self.connections = 0  # how many TCP connections were opened (tests check politeness)

    @property
    def trust(self) -> TrustStore:
        """The roots chains are verified against, loaded once per process on first use."""
        if self._trust is None:
            self._trust = TrustStore.load(self.settings.ca_file)
        return self._trust

    def analyse(self, result: ProbeResult, now: dt.datetime | None = None) -> TlsAnalysis | None:
        """The certificate and protocol verdict on the probe's TLS session, for its host name."""
        tls = result.tls
        if tls is None:
            return None
        return analyse(
            result.host,
            tls.version,
            tls.cipher,
            tls.chain,
            self.trust,
            now or dt.datetime.now(dt.UTC),
            complete_capture=tls.complete_capture,
        )

    def refusal(self, address: str) -> str | None:
        """Why we will not connect to `address`: the project's one address policy."""
        return refusal(address, self.settings)

    async def probe(
        self, host: str, address: str, *, port: int = 25, protocol: Protocol = Protocol.SMTP
    ) -> ProbeResult:
        """Probe `address` (already resolved through ctx.dns) as `host`; never raises for I/O."""
        base = ProbeResult(host, address, port, protocol, probed_at=time.time())
        why = self.refusal(address)
        if why is not None:
            return replace(
                base, failure=Failure.REFUSED_BY_POLICY, detail=why, failed_step="policy"
            )
        key = (address, port, host.lower(), protocol)
        hit = self._fresh(key)
        if hit is not None:
            return hit
        async with self._lock(address):
            hit = self._fresh(key)  # another report may have probed while we waited
            if hit is not None:
                return hit
            result = await self._probe(base, self._ports.get(port, port))
            self._remember(key, result)
            return result

    def forget(self) -> None:
        self._cache.clear()

    # ---- politeness ---------------------------------------------------------------------------
    def _fresh(self, key: tuple[str, int, str, Protocol]) -> ProbeResult | None:
        hit = self._cache.get(key)
        if hit is None or time.time() - hit.probed_at > self.cache_seconds:
            return None
        return replace(hit, cached=True)

    def _remember(self, key: tuple[str, int, str, Protocol], result: ProbeResult) -> None:
        if self.cache_seconds <= 0:
            return
        now = time.time()
        if len(self._cache) >= _CACHE_MAX:
            for k in [k for k, v in self._cache.items() if now - v.probed_at > self.cache_seconds]:
                del self._cache[k]
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
        self._cache[key] = result

    def _lock(self, address: str) -> _AddressLock:
        return _AddressLock(self._locks, address)

    # ---- the probe ----------------------------------------------------------------------------
    async def _probe(self, base: ProbeResult, real_port: int) -> ProbeResult:
        started = time.monotonic()
        deadline = asyncio.get_running_loop().time() + self.probe_budget
        run = _Run(replace(base, connected_port=real_port), self.step_timeout, deadline)
        try:
            sock = await self._connect(run, real_port)
        except _Abort as abort:
            return run.finish(abort, started)
        try:
            if base.protocol.family == "smtp":
                await _SmtpSession(run, sock, self.helo_name).converse()
            else:
                await _StreamDialogue.converse_on(run, sock)
        except _Abort as abort:
            return run.finish(abort, started)
        except (OSError, EOFError, SMTPException) as exc:  # a reset between our reads
            return run.finish(_Abort(Failure.CLOSED, f"connection lost ({_why(exc)})", ""), started)
        # The dialogues close the socket: it belongs to its transport once one was made, and
        # closing a descriptor under a live transport could hit a reused one.
        return run.finish(None, started)

    async def _connect(self, run: _Run, real_port: int) -> socket.socket:
        """A TCP connection to the vetted address literal, timed on its own."""
        address = run.result.address
        family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        started = time.monotonic()
        self.connections += 1
        try:
            async with asyncio.timeout(self.step_timeout):
                # An IP literal: asyncio does not resolve it, so the policy-checked address is the
                # one we reach.
                await asyncio.get_running_loop().sock_connect(sock, (address, real_port))
        except OSError as exc:  # TimeoutError included
            sock.close()
            raise _connect_failure(run, exc, started) from None
        except BaseException:  # cancelled: the engine's budget ran out
            sock.close()
            raise
        ms = run.record("connect", started, True, f"{address} port {real_port}")
        run.result = replace(run.result, connect_ms=ms)
        return sock


def _connect_failure(run: _Run, exc: OSError, started: float) -> _Abort:
    if isinstance(exc, TimeoutError):
        ms = _ms(started)
        detail = f"no answer to the connection attempt within {ms / 1000:g} s"
        return run.fail("connect", started, Failure.CONNECT_TIMEOUT, detail)
    if isinstance(exc, ConnectionRefusedError):
        detail = "connection refused (nothing listens on the port)"
        return run.fail("connect", started, Failure.CONNECTION_REFUSED, detail)
    return run.fail("connect", started, Failure.UNREACHABLE, _why(exc))


async def probe_for(ctx: Context, host: str, address: str) -> ProbeResult | None:
    """The one port-25 probe of (host, address) in this report, shared by smtp, tls and dane.

    None when no prober is configured (`ctx.services["smtp"]`): then nothing connects anywhere.
    """
    prober = ctx.services.get("smtp")
    if not isinstance(prober, SmtpProber):
        return None
    return await ctx.once(f"smtp:{address}:{host}", lambda: prober.probe(host, address))


class _SmtpSession:
    """One SMTP dialogue through aiosmtplib: greeting, EHLO, STARTTLS, EHLO, QUIT; nothing else.

    Every aiosmtplib call runs under its own `asyncio.timeout`; its exceptions become `_Abort`s
    here, and the replies it returns (or raises as `SMTPResponseException`) become `Reply`s.
    """

    def __init__(self, run: _Run, sock: socket.socket, helo_name: str) -> None:
        self.run = run
        self.sock = sock
        self.clock = _capture_context()
        r = run.result
        self.implicit = r.protocol.implicit_tls
        self.sni = _sni(r.host)
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
            raise _Abort(Failure.EHLO_FAILED, f"EHLO was refused ({caps})", "ehlo")
        if not self.implicit:
            if not run.result.offers_starttls:
                await self._quit()
                raise _Abort(
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
            async with asyncio.timeout(run.budget()):
                self.first = await _first_bytes(self.sock, _PEEK)
                if not self.first:
                    raise ConnectionResetError("closed")  # EOF before a single byte
                reply = await self._read_greeting()
        except _IO_ERRORS as exc:
            raise self._greeting_failed(exc, started, bytes_seen=bool(self.first)) from None
        self._greeted(reply, started, time.monotonic())

    async def _greet_tls(self) -> None:
        """Port 465: aiosmtplib does the handshake and reads the greeting in one `connect()`."""
        run, clock = self.run, self.clock
        started = time.monotonic()
        try:
            async with asyncio.timeout(run.budget()) as limit:
                clock.on_done = lambda: limit.reschedule(_loop_time() + run.step_left())
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
            response = await self.smtp.connect()
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
        _judge_greeting("smtp", reply)

    def _greeting_failed(self, exc: BaseException, started: float, *, bytes_seen: bool) -> _Abort:
        failure, detail = _failure_of(exc, "banner", _ms(started))
        if failure is Failure.TIMEOUT and not bytes_seen:  # a tarpit: connected, then silence
            failure = Failure.NO_BANNER
            detail = f"connected, but no greeting within {_ms(started) / 1000:g} s"
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
        try:
            async with asyncio.timeout(run.budget()) as limit:
                # The 220 came and the handshake begins: it gets a step timeout of its own.
                clock.on_start = lambda: limit.reschedule(_loop_time() + run.step_left())
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
        raise _Abort(Failure.STARTTLS_REFUSED, f"STARTTLS answered {reply}", "starttls")

    def _starttls_failed(self, exc: BaseException, started: float) -> _Abort:
        clock = self.clock
        if clock.started is None:  # no 220: the STARTTLS command itself failed
            if type(exc) is SMTPException:  # aiosmtplib read the EHLO reply differently from us
                return self.run.fail(
                    "starttls", started, Failure.STARTTLS_MISSING, "STARTTLS is not offered"
                )
            return self.run.fail("starttls", started, *_failure_of(exc, "starttls", _ms(started)))
        # The server said 220 (aiosmtplib checks that before the handshake and keeps the text only
        # on success), so STARTTLS was accepted and the handshake is what failed.
        reply = Reply("220", ())
        self.run.result = replace(self.run.result, starttls=reply)
        self.run.record("starttls", started, True, "220", clock.started)
        return self._handshake_failed(exc, clock.started)

    def _handshake_done(self, started: float) -> None:
        """Record the handshake step and the TLS session the server gave us."""
        session = _session(self.clock.sslobj, self.sni)
        self.transport = self.smtp.transport or self.transport
        self.run.result = replace(self.run.result, tls=session)
        detail = f"{session.version} {session.cipher}"
        self.run.record("tls", started, True, detail, self.clock.done)

    def _handshake_failed(self, exc: BaseException, started: float) -> _Abort:
        if isinstance(exc, TimeoutError):
            detail = f"the TLS handshake did not finish within {_ms(started) / 1000:g} s"
        else:
            detail = f"the TLS handshake failed: {_why(exc)}"
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

    def _failed(self, exc: BaseException, step: str, started: float) -> _Abort:
        failure, detail = _failure_of(exc, step, _ms(started))
        if failure is Failure.GARBAGE:
            self._keep_garbage(exc, b"")
        return self.run.fail(step, started, failure, detail)

    async def _quit(self) -> None:
        """Say goodbye politely; a server that does not answer QUIT costs at most a second."""
        run = self.run
        started = time.monotonic()
        try:
            async with asyncio.timeout(
                min(_QUIT_WAIT, run.step_timeout, max(run.remaining(), 0.01))
            ):
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
        self.run.result = replace(self.run.result, garbage=garbage[:_PEEK])

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
    return Failure.CLOSED, f"connection lost ({_why(exc)})"


def _malformed(message: str) -> str:
    """The line in aiosmtplib's "Malformed SMTP response line: <line>" (decoded lossily)."""
    return message.removeprefix(_MALFORMED).rstrip("\r\n")


def _reply(code: int, message: str) -> Reply:
    # aiosmtplib decodes with surrogateescape; evidence must be plain, printable-safe text.
    text = message.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return Reply(str(code), tuple(text.split("\n")))


@dataclass
class _StreamDialogue:
    """IMAP and POP3 (client ports) on asyncio streams: greeting, CAPABILITY/CAPA, STARTTLS/STLS or
    implicit TLS, LOGOUT/QUIT. aiosmtplib speaks only SMTP, so these few lines stay ours."""

    run: _Run
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    clock: _CaptureContext = field(default_factory=lambda: _capture_context())
    got_line: bool = False  # some reply line arrived (a slow multi-line greeting is no tarpit)

    @classmethod
    async def converse_on(cls, run: _Run, sock: socket.socket) -> None:
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
        _judge_greeting(family, banner)
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
            raise _Abort(Failure.STARTTLS_MISSING, "the server does not offer STARTTLS", "starttls")
        line, tag = {"imap": ("A2 STARTTLS", "A2"), "pop3": ("STLS", "")}[family]
        reply = await self.timed("starttls", lambda: self.command(line, tag))
        run.result = replace(run.result, starttls=reply)
        if reply.code not in {"OK", "+OK"}:
            await self.quit(family)
            raise _Abort(Failure.STARTTLS_REFUSED, f"STARTTLS answered {reply}", "starttls")
        await self.handshake()
        await self.quit(family)

    async def greeting(self, family: str) -> Reply:
        read = {"imap": lambda: self.imap_reply("banner", "*"), "pop3": self.pop3_reply_banner}
        try:
            return await self.timed("banner", read[family])
        except _Abort as abort:
            if abort.failure is Failure.TIMEOUT and not self.got_line:
                raise _Abort(
                    Failure.NO_BANNER,
                    f"connected, but no greeting within {self.run.steps[-1].ms / 1000:g} s",
                    "banner",
                ) from None
            if abort.failure is Failure.CLOSED:
                raise _Abort(
                    Failure.EARLY_CLOSE,
                    "the server closed the connection without greeting",
                    "banner",
                ) from None
            raise

    async def handshake(self) -> None:
        run = self.run
        sni = _sni(run.result.host)
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
            detail = f"the TLS handshake failed: {_why(exc)}"
            raise run.fail("tls", started, Failure.TLS_FAILED, detail) from None
        session = _session(self.clock.sslobj, sni)
        run.result = replace(run.result, tls=session)
        run.record("tls", started, True, f"{session.version} {session.cipher}")

    async def quit(self, family: str) -> None:
        """Say goodbye politely; a server that does not answer costs at most a second."""
        run = self.run
        started = time.monotonic()
        try:
            async with asyncio.timeout(
                min(_QUIT_WAIT, run.step_timeout, max(run.remaining(), 0.01))
            ):
                await self.send({"imap": "A9 LOGOUT", "pop3": "QUIT"}[family])
                await self.reader.readline()
        except (TimeoutError, OSError, _Abort, ValueError):
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
            detail = f"no reply to {step} within {_ms(started) / 1000:g} s"
            raise run.fail(step, started, Failure.TIMEOUT, detail) from None
        except _Abort as abort:
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
            raise _Abort(Failure.GARBAGE, "a reply line was far too long", step) from None
        except OSError as exc:
            raise _Abort(Failure.CLOSED, f"connection lost ({_why(exc)})", step) from None
        if not raw.endswith(b"\n"):
            self.keep_garbage(raw)
            raise _Abort(Failure.CLOSED, "the server closed the connection", step)
        if len(raw) > _MAX_LINE:
            self.keep_garbage(raw)
            raise _Abort(Failure.GARBAGE, "a reply line was far too long", step)
        self.got_line = True
        return raw.rstrip(b"\r\n").decode("utf-8", "replace")

    def keep_garbage(self, raw: bytes) -> None:
        if not self.run.result.garbage:
            self.run.result = replace(self.run.result, garbage=raw[:_PEEK])

    def wrong(self, protocol: str, text: str, step: str) -> _Abort:
        self.keep_garbage(text.encode("utf-8", "replace"))
        return _Abort(Failure.GARBAGE, f"not {protocol} reply: {text[:80]!r}", step)

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
        raise _Abort(Failure.GARBAGE, f"more than {_MAX_LINES} reply lines", step)

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
            raise _Abort(Failure.GARBAGE, f"more than {_MAX_LINES} reply lines", step)
        return Reply(status.upper(), tuple(lines))


class _ClockedSSLObject(ssl.SSLObject):
    """Tells its context when the handshake starts and when it has finished.

    asyncio calls `do_handshake()` until it stops raising SSLWantReadError; the first call is the
    start, the one that returns is the end.
    """

    def do_handshake(self) -> None:
        clock = self.context
        if isinstance(clock, _CaptureContext):
            clock.handshake_starts()
        super().do_handshake()
        if isinstance(clock, _CaptureContext):
            clock.handshake_done(self)


class _CaptureContext(ssl.SSLContext):
    """A client context that accepts anything (see `_capture_context`), one per probe, which also
    keeps the handshake's times and its SSLObject (`sslobject_class` is the public hook)."""

    sslobject_class = _ClockedSSLObject
    started: float | None = None
    done: float | None = None
    sslobj: ssl.SSLObject | None = None
    on_start: Callable[[], object] | None = None
    on_done: Callable[[], object] | None = None

    def handshake_starts(self) -> None:
        if self.started is None:
            self.started = time.monotonic()
            if self.on_start is not None:
                self.on_start()

    def handshake_done(self, sslobj: ssl.SSLObject) -> None:
        self.done = time.monotonic()
        self.sslobj = sslobj
        if self.on_done is not None:
            self.on_done()


def _capture_context() -> _CaptureContext:
    """A client context that accepts anything, so that a bad server can still be described.

    Verification happens afterwards, in `checks.tls_analysis`; nothing is ever sent over this
    connection but greetings and QUIT. Old protocols and ciphers are allowed so that a TLS 1.0
    server is reported as such instead of as a handshake failure. Cheap (about 0.2 ms): no CA
    store is loaded.
    """
    ctx = _CaptureContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLSVersion.TLSv1 is deprecated
        with contextlib.suppress(ValueError, ssl.SSLError):  # OpenSSL may lack TLS 1.0
            ctx.minimum_version = ssl.TLSVersion.TLSv1
    try:
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    except ssl.SSLError:  # pragma: no cover
        ctx.set_ciphers("ALL")
    return ctx


def _session(obj: ssl.SSLObject | None, sni: str | None) -> TlsSession:
    if obj is None:  # pragma: no cover -- a finished handshake has its SSLObject
        return TlsSession("", "", 0, (), False, sni)
    chain, complete = _chain(obj)
    cipher = obj.cipher() or ("", "", 0)
    return TlsSession(obj.version() or "", cipher[0], int(cipher[2] or 0), chain, complete, sni)


def _chain(obj: ssl.SSLObject | ssl.SSLSocket) -> tuple[tuple[bytes, ...], bool]:
    """The peer's chain as sent (see the module docstring for why and how)."""
    public = getattr(obj, "get_unverified_chain", None)  # Python 3.13+
    if callable(public):
        return tuple(bytes(c) for c in public() or ()), True
    inner = getattr(obj, "_sslobj", None)  # 3.10-3.12: CPython's private _ssl._SSLSocket
    private = getattr(inner, "get_unverified_chain", None)
    if callable(private):
        certs = private() or ()
        return tuple(c.public_bytes(ssl._ssl.ENCODING_DER) for c in certs), True  # type: ignore[attr-defined]
    leaf = obj.getpeercert(binary_form=True)
    return ((leaf,) if leaf else ()), False


async def _close(writer: asyncio.StreamWriter) -> None:
    try:
        writer.close()
        async with asyncio.timeout(0.5):
            await writer.wait_closed()
    except (TimeoutError, OSError, ssl.SSLError):
        writer.transport.abort()


class _AddressLock:
    """An asyncio.Lock per address, dropped when nobody holds or waits for it."""

    def __init__(self, locks: dict[str, tuple[asyncio.Lock, int]], address: str) -> None:
        self._locks = locks
        self._address = address

    async def __aenter__(self) -> None:
        lock, users = self._locks.get(self._address, (asyncio.Lock(), 0))
        self._locks[self._address] = (lock, users + 1)
        try:
            await lock.acquire()
        except BaseException:
            self._release_user()
            raise

    async def __aexit__(self, *exc: object) -> None:
        lock, _ = self._locks[self._address]
        lock.release()
        self._release_user()

    def _release_user(self) -> None:
        lock, users = self._locks[self._address]
        if users <= 1:
            del self._locks[self._address]
        else:
            self._locks[self._address] = (lock, users - 1)


def _judge_greeting(family: str, banner: Reply) -> None:
    code = banner.code
    if family == "smtp":
        if code.startswith("4"):
            raise _Abort(Failure.GREETING_DEFERRED, f"the server greeted with {banner}", "banner")
        if code.startswith("5"):
            raise _Abort(Failure.GREETING_REJECTED, f"the server greeted with {banner}", "banner")
        if code != "220":
            raise _Abort(Failure.GARBAGE, f"unexpected greeting {banner}", "banner")
    elif code in {"BYE", "-ERR", "NO", "BAD"}:
        raise _Abort(Failure.GREETING_REJECTED, f"the server greeted with {banner}", "banner")


def _why(exc: BaseException) -> str:
    if isinstance(exc, SMTPException) and exc.__cause__ is not None:
        return _why(exc.__cause__)  # aiosmtplib wraps the socket or TLS error that says more
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return exc.reason.lower().replace("_", " ")
    text = getattr(exc, "strerror", None) or str(exc)
    if not text and isinstance(exc, ConnectionResetError):  # asyncio's EOF mid-handshake
        return "the server closed the connection"
    return str(text or type(exc).__name__)[:200]


def _ms(started: float, until: float | None = None) -> int:
    return round(((until if until is not None else time.monotonic()) - started) * 1000)


def _loop_time() -> float:
    return asyncio.get_running_loop().time()


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def _sni(host: str) -> str | None:
    """The TLS server name for `host`: none for an IP literal or a name TLS cannot carry."""
    if _is_ip(host):
        return None
    try:
        host.encode("idna")
    except UnicodeError:
        return None
    return host


def _default_helo() -> str:
    """Our own name for EHLO, without any DNS lookup (getfqdn would ask the system resolver)."""
    name = socket.gethostname()
    return name if "." in name else "mxbot.localdomain"


def _checked_helo(name: str) -> str:
    """Refuse at start-up a name aiosmtplib would refuse at the first EHLO."""
    if not name.isascii() or not name.strip() or any(c.isspace() or ord(c) < 32 for c in name):
        raise ValueError(f"helo_name {name!r}: give one ASCII host name")
    return name.strip()


async def mail_endpoints(ctx: Context) -> tuple[tuple[tuple[str, str], ...], str]:
    """(host, address) pairs to probe on port 25, or () and the reason there are none.

    For an IP target the host name is its PTR name (what a sender would see), else the address.
    """
    if ctx.target.is_address:
        address = ctx.target.name
        ptr = await ctx.dns.ptr(address)
        names = ptr.targets() if ptr.ok else ()
        return ((names[0] if names else address, address),), ""
    mx = await ctx.mx()
    if mx.null:
        return (), "The domain takes no mail (null MX)."
    if not mx.receives_mail:
        return (), "No mail hosts to connect to (see the MX check)."
    pairs = tuple(dict.fromkeys(await ctx.mail_addresses()))
    if not pairs:
        return (), "No mail host has an address to connect to (see the address check)."
    return pairs, ""


def where(host: str, address: str, port: int | None = None) -> str:
    """How findings name an endpoint: `mx.example.com [192.0.2.1]` (`:587` when not 25)."""
    text = host if host == address else f"{host} [{address}]"
    return f"{text} port {port}" if port not in (None, 25) else text
