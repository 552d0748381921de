"""Probe a mail server step by step (connect, greeting, EHLO/CAPA, STARTTLS or implicit TLS, QUIT),
politely and within bounds, and say exactly where it went wrong. No mail is ever sent: no MAIL, no
RCPT, no AUTH.

Design choices:
- Raw asyncio streams rather than aiosmtplib: we need each step timed on its own, the exact bytes of
  a non-SMTP banner, and the certificate chain with verification off; aiosmtplib hides the first,
  turns the second into a generic exception and verifies (or not) the third in one go. The same
  small dialogue engine speaks SMTP, IMAP and POP3 for the client-ports check.
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
import re
import socket
import ssl
import time
import warnings
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Final

from checks.netpolicy import refusal
from checks.settings import Settings
from checks.tls_analysis import TlsAnalysis, TrustStore, analyse

if TYPE_CHECKING:
    from checks.context import Context

_MAX_LINE = 4096  # RFC 5321 4.5.3.1.5 says 512; real servers are a little sloppier
_MAX_LINES = 100
_READ_LIMIT = 8192
_QUIT_WAIT = 1.0
_CACHE_MAX = 4096
_SMTP_LINE = re.compile(r"^(\d{3})([ -]|$)(.*)$")
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
class _Dialogue:
    """The mutable state of one probe while it runs; frozen into a ProbeResult at the end."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    step_timeout: float
    deadline: float  # loop time
    steps: list[Step] = field(default_factory=list)
    garbage: bytes = b""  # the first bytes of an answer in the wrong protocol
    got_line: bool = False  # some reply line arrived (a slow multi-line greeting is no tarpit)
    banner: Reply | None = None  # kept when the greeting itself ends the probe (4xx/5xx)

    def remaining(self) -> float:
        return self.deadline - asyncio.get_running_loop().time()

    def budget(self) -> float:
        left = self.remaining()
        if left <= 0:
            raise _Abort(Failure.TIMEOUT, "the probe's time budget ran out", "budget")
        return min(self.step_timeout, left)

    async def send(self, line: str) -> None:
        self.writer.write(line.encode("ascii") + b"\r\n")
        async with asyncio.timeout(self.budget()):
            await self.writer.drain()

    async def line(self, step: str) -> str:
        try:
            raw = await self.reader.readline()
        except (ValueError, asyncio.LimitOverrunError):
            raise _Abort(Failure.GARBAGE, "a reply line was far too long", step) from None
        except OSError as exc:
            raise _Abort(Failure.CLOSED, f"connection lost ({_why(exc)})", step) from None
        if not raw.endswith(b"\n"):
            self.garbage = self.garbage or raw[:200]
            raise _Abort(Failure.CLOSED, "the server closed the connection", step)
        if len(raw) > _MAX_LINE:
            self.garbage = raw[:200]
            raise _Abort(Failure.GARBAGE, "a reply line was far too long", step)
        self.got_line = True
        return raw.rstrip(b"\r\n").decode("utf-8", "replace")

    def wrong(self, protocol: str, text: str, step: str) -> _Abort:
        self.garbage = text.encode("utf-8", "replace")[:200]
        return _Abort(Failure.GARBAGE, f"not {protocol} reply: {text[:80]!r}", step)

    async def smtp_reply(self, step: str) -> Reply:
        lines: list[str] = []
        code = ""
        for _ in range(_MAX_LINES):
            text = await self.line(step)
            m = _SMTP_LINE.match(text)
            if m is None or (code and m.group(1) != code):
                raise self.wrong("an SMTP", text, step)
            code = m.group(1)
            lines.append(m.group(3))
            if m.group(2) != "-":
                return Reply(code, tuple(lines))
        raise _Abort(Failure.GARBAGE, f"more than {_MAX_LINES} reply lines", step)

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

    async def timed(self, step: str, action: Callable[[], Awaitable[Reply]]) -> tuple[Reply, int]:
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.budget()):
                reply = await action()
        except TimeoutError:
            ms = _ms(started)
            self.steps.append(Step(step, ms, False, "no reply in time"))
            raise _Abort(
                Failure.TIMEOUT, f"no reply to {step} within {ms / 1000:g} s", step
            ) from None
        except _Abort as abort:
            self.steps.append(Step(step, _ms(started), False, abort.detail))
            raise
        ms = _ms(started)
        self.steps.append(Step(step, ms, True, str(reply)[:120]))
        return reply, ms


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
        self.helo_name = helo_name or str(extra.get("helo_name") or _default_helo())
        self.step_timeout = settings.timeout
        self.probe_budget = float(
            extra.get("probe_budget", min(4 * settings.timeout, settings.check_budget * 0.9))
        )
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._cache: dict[tuple[str, int, str, Protocol], ProbeResult] = {}
        self._tls_context = _capture_context()
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
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        deadline = loop.time() + self.probe_budget
        base = replace(base, connected_port=real_port)
        connected = await self._connect(base, real_port)
        if isinstance(connected, ProbeResult):
            return replace(connected, total_ms=_ms(started))
        (reader, writer), connect_ms = connected
        d = _Dialogue(reader, writer, self.step_timeout, deadline)
        d.steps.append(Step("connect", connect_ms, True, f"{base.address} port {real_port}"))
        result = replace(base, connect_ms=connect_ms)
        try:
            result = await self._converse(d, result)
        except _Abort as abort:
            result = self._aborted(d, result, abort)
        except (OSError, EOFError) as exc:  # a reset between our reads
            result = replace(
                result, failure=Failure.CLOSED, detail=f"connection lost ({_why(exc)})"
            )
        finally:
            await _close(d.writer)
        return replace(result, steps=tuple(d.steps), total_ms=_ms(started))

    async def _connect(
        self, base: ProbeResult, real_port: int
    ) -> tuple[tuple[asyncio.StreamReader, asyncio.StreamWriter], int] | ProbeResult:
        started = time.monotonic()
        self.connections += 1
        try:
            async with asyncio.timeout(self.step_timeout):
                # An IP literal: asyncio does not resolve it, so the policy-checked address is the
                # one we reach.
                pair = await asyncio.open_connection(base.address, real_port, limit=_READ_LIMIT)
        except TimeoutError:
            ms = _ms(started)
            return _failed(
                base,
                Failure.CONNECT_TIMEOUT,
                f"no answer to the connection attempt within {ms / 1000:g} s",
                "connect",
                ms,
            )
        except ConnectionRefusedError:
            return _failed(
                base,
                Failure.CONNECTION_REFUSED,
                "connection refused (nothing listens on the port)",
                "connect",
                _ms(started),
            )
        except OSError as exc:
            return _failed(base, Failure.UNREACHABLE, _why(exc), "connect", _ms(started))
        return pair, _ms(started)

    async def _converse(self, d: _Dialogue, result: ProbeResult) -> ProbeResult:
        proto = result.protocol
        if proto.implicit_tls:
            result = replace(result, tls=await self._handshake(d, result.host))
        banner, banner_ms = await self._greeting(d, proto.family)
        d.banner = banner
        result = replace(result, banner=banner, banner_ms=banner_ms)
        _judge_greeting(proto.family, banner)
        caps = await self._capabilities(d, proto.family)
        result = replace(result, capabilities=caps)
        if proto.implicit_tls:
            await self._quit(d, proto.family)
            return result
        if not result.offers_starttls:
            await self._quit(d, proto.family)
            raise _Abort(Failure.STARTTLS_MISSING, "the server does not offer STARTTLS", "starttls")
        reply = await self._starttls(d, proto.family)
        result = replace(result, starttls=reply)
        if reply.code not in {"220", "OK", "+OK"}:
            await self._quit(d, proto.family)
            raise _Abort(Failure.STARTTLS_REFUSED, f"STARTTLS answered {reply}", "starttls")
        result = replace(result, tls=await self._handshake(d, result.host))
        if proto.family == "smtp":
            after, _ = await d.timed("ehlo-tls", lambda: self._ehlo(d))
            result = replace(result, after_tls=after)
        await self._quit(d, proto.family)
        return result

    async def _greeting(self, d: _Dialogue, family: str) -> tuple[Reply, int]:
        readers: dict[str, Callable[[], Awaitable[Reply]]] = {
            "smtp": lambda: d.smtp_reply("banner"),
            "imap": lambda: d.imap_reply("banner", "*"),
            "pop3": lambda: d.pop3_reply("banner"),
        }
        try:
            return await d.timed("banner", readers[family])
        except _Abort as abort:
            if abort.failure is Failure.TIMEOUT and not d.got_line:
                raise _Abort(
                    Failure.NO_BANNER,
                    f"connected, but no greeting within {d.steps[-1].ms / 1000:g} s",
                    "banner",
                ) from None
            if abort.failure is Failure.CLOSED:
                raise _Abort(
                    Failure.EARLY_CLOSE,
                    "the server closed the connection without greeting",
                    "banner",
                ) from None
            raise

    async def _capabilities(self, d: _Dialogue, family: str) -> Reply:
        if family == "smtp":
            reply, _ = await d.timed("ehlo", lambda: self._ehlo(d))
            if reply.code != "250":  # HELO would not help: STARTTLS needs EHLO (RFC 3207)
                raise _Abort(Failure.EHLO_FAILED, f"EHLO was refused ({reply})", "ehlo")
            return reply
        if family == "imap":
            reply, _ = await d.timed("capability", lambda: self._command(d, "A1 CAPABILITY", "A1"))
        else:
            reply, _ = await d.timed("capa", lambda: self._command(d, "CAPA", "", multiline=True))
        return reply

    async def _starttls(self, d: _Dialogue, family: str) -> Reply:
        command = {"smtp": ("STARTTLS", None), "imap": ("A2 STARTTLS", "A2"), "pop3": ("STLS", "")}
        line, tag = command[family]
        reply, _ = await d.timed("starttls", lambda: self._command(d, line, tag))
        return reply

    async def _ehlo(self, d: _Dialogue) -> Reply:
        await d.send(f"EHLO {self.helo_name}")
        return await d.smtp_reply("ehlo")

    async def _command(
        self, d: _Dialogue, line: str, tag: str | None, *, multiline: bool = False
    ) -> Reply:
        await d.send(line)
        if tag is None:
            return await d.smtp_reply(line.lower())
        if tag:
            return await d.imap_reply(line.lower(), tag)
        return await d.pop3_reply(line.lower(), multiline=multiline)

    async def _handshake(self, d: _Dialogue, host: str) -> TlsSession:
        sni = None if _is_ip(host) else host
        started = time.monotonic()
        timeout = d.budget()
        try:
            async with asyncio.timeout(timeout):
                await d.writer.start_tls(
                    self._tls_context, server_hostname=sni, ssl_handshake_timeout=timeout
                )
        except TimeoutError:
            d.steps.append(Step("tls", _ms(started), False, "no handshake in time"))
            raise _Abort(
                Failure.TLS_FAILED, f"the TLS handshake did not finish within {timeout:g} s", "tls"
            ) from None
        except (ssl.SSLError, OSError, EOFError) as exc:
            d.steps.append(Step("tls", _ms(started), False, _why(exc)))
            raise _Abort(
                Failure.TLS_FAILED, f"the TLS handshake failed: {_why(exc)}", "tls"
            ) from None
        session = _session(d.writer, sni)
        d.steps.append(Step("tls", _ms(started), True, f"{session.version} {session.cipher}"))
        return session

    async def _quit(self, d: _Dialogue, family: str) -> None:
        """Say goodbye politely; a server that does not answer QUIT costs at most a second."""
        line = {"smtp": "QUIT", "imap": "A9 LOGOUT", "pop3": "QUIT"}[family]
        started = time.monotonic()
        try:
            async with asyncio.timeout(
                min(_QUIT_WAIT, self.step_timeout, max(d.remaining(), 0.01))
            ):
                await d.send(line)
                await d.reader.readline()
        except (TimeoutError, OSError, _Abort, ValueError):
            d.steps.append(Step("quit", _ms(started), False, "no goodbye"))
            return
        d.steps.append(Step("quit", _ms(started), True))

    def _aborted(self, d: _Dialogue, result: ProbeResult, abort: _Abort) -> ProbeResult:
        return replace(
            result,
            failure=abort.failure,
            detail=abort.detail,
            failed_step=abort.step,
            garbage=d.garbage,
            banner=result.banner or d.banner,
        )


async def probe_for(ctx: Context, host: str, address: str) -> ProbeResult | None:
    """The one port-25 probe of (host, address) in this report, shared by smtp, tls and dane.

    None when no prober is configured (`ctx.services["smtp"]`): then nothing connects anywhere.
    """
    prober = ctx.services.get("smtp")
    if not isinstance(prober, SmtpProber):
        return None
    return await ctx.once(f"smtp:{address}:{host}", lambda: prober.probe(host, address))


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


def _session(writer: asyncio.StreamWriter, sni: str | None) -> TlsSession:
    obj = writer.get_extra_info("ssl_object")
    if not isinstance(obj, ssl.SSLObject | ssl.SSLSocket):
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


def _capture_context() -> ssl.SSLContext:
    """A client context that accepts anything, so that a bad server can still be described.

    Verification happens afterwards, in `checks.tls_analysis`; nothing is ever sent over this
    connection but greetings and QUIT. Old protocols and ciphers are allowed so that a TLS 1.0
    server is reported as such instead of as a handshake failure.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
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


async def _close(writer: asyncio.StreamWriter) -> None:
    try:
        writer.close()
        async with asyncio.timeout(0.5):
            await writer.wait_closed()
    except (TimeoutError, OSError, ssl.SSLError):
        writer.transport.abort()


def _failed(base: ProbeResult, failure: Failure, detail: str, step: str, ms: int) -> ProbeResult:
    return replace(
        base,
        failure=failure,
        detail=detail,
        failed_step=step,
        steps=(Step(step, ms, False, detail),),
    )


def _why(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return exc.reason.lower().replace("_", " ")
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text)[:200]


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def _default_helo() -> str:
    """Our own name for EHLO, without any DNS lookup (getfqdn would ask the system resolver)."""
    name = socket.gethostname()
    return name if "." in name else "mxbot.localdomain"


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
