"""Probe a mail server step by step (connect, greeting, EHLO/CAPA, STARTTLS or implicit TLS, QUIT),
politely and within bounds, and say exactly where it went wrong. No mail is ever sent: no MAIL, no
RCPT, no AUTH, no DATA.

The pieces, one module each:
- `checks.net.probe.result`: the frozen `ProbeResult` and its parts (`Reply`, `Step`, `TlsSession`,
  `Failure`, `Protocol`);
- `checks.net.probe.smtp`: SMTP on 25, 587 (STARTTLS) and 465 (implicit TLS), spoken by aiosmtplib;
- `checks.net.probe.mailbox`: IMAP and POP3 on the client ports, on asyncio streams;
- `checks.net.probe.capture`: the handshake with verification off, its timing and the chain as sent
  (verified afterwards by `checks.tls.chain`, so no second connection is made);
- `checks.net.probe.run`: one probe's clock, steps and early end, shared by the two sessions;
- here: the TCP connection and the rules that keep probing safe and polite.

Design choices:
- Connect: we open the TCP connection ourselves, to the address the caller resolved through
  `ctx.dns` and `checks.net.policy.refusal` vetted, and hand the connected socket to the session.
  Connect is timed and classified on its own (refused, timeout, unreachable).
- Address policy: the caller passes an address it resolved through `ctx.dns`; we connect to that
  literal (SNI = the host name), never to a name, so DNS rebinding cannot change where we go, and
  `checks.net.policy.refusal` is asked before every connection.
- Politeness: one connection at a time per address (an asyncio.Lock), and results are cached per
  (address, port, name, protocol) for `cache_seconds` across reports, so repeated reports and
  digests do not hammer anyone's MX. A connect failure (timeout, refused, unreachable) is also
  kept for the address and port under any name: nothing was said, so the name changes nothing.
- Bounds: every step has `settings.timeout`, except the port-25 greeting, which has
  `settings.greeting_timeout` (servers pause before it on purpose); the whole probe has
  `probe_budget` (default: the greeting wait and three steps, capped by the check and report
  budgets); replies are limited in lines and bytes.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Mapping
from dataclasses import replace

from aiosmtplib import SMTPException

from checks.net.policy import refusal
from checks.net.probe.mailbox import MailboxSession
from checks.net.probe.result import Failure, ProbeResult, Protocol
from checks.net.probe.run import ProbeAbort, ProbeRun, elapsed_ms, why
from checks.net.probe.smtp import SmtpSession
from checks.net.trust import TrustStore
from checks.settings import Settings

_CACHE_MAX = 4096
# Failures before a single byte was exchanged: the same whatever host name we probe as.
_UNREACHED = frozenset({Failure.CONNECT_TIMEOUT, Failure.CONNECTION_REFUSED, Failure.UNREACHABLE})


class SmtpProber:
    """Process-wide: holds the per-address locks, the short result cache and the trust store.

    Args:
        port: where "port 25" really listens (tests); shorthand for `ports={25: port}`.
        ports: standard port -> port to connect to, for the client ports (tests).
        cache_seconds: how long a result is reused across reports (`settings.smtp_cache_seconds`).
        helo_name: the name we give in EHLO (`settings.helo_name`).
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
        self.cache_seconds = (
            cache_seconds if cache_seconds is not None else settings.smtp_cache_seconds
        )
        self.helo_name = _checked_helo(helo_name or settings.helo_name or _default_helo())
        self.step_timeout = settings.timeout
        self.greeting_timeout = max(settings.greeting_timeout, settings.timeout)
        self.probe_budget = (
            settings.probe_budget
            if settings.probe_budget is not None
            else _default_budget(settings, self.greeting_timeout)
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

    def refusal(self, address: str) -> str | None:
        """Why we will not connect to `address`: the project's one address policy."""
        return refusal(address, self.settings)

    async def probe(
        self, host: str, address: str, *, port: int = 25, protocol: Protocol = Protocol.SMTP
    ) -> ProbeResult:
        """Probe `address` (already resolved through ctx.dns) as `host`; never raises for I/O."""
        base = ProbeResult(host, address, port, protocol, probed_at=time.time())
        refused = self.refusal(address)
        if refused is not None:
            return replace(
                base, failure=Failure.REFUSED_BY_POLICY, detail=refused, failed_step="policy"
            )
        key = (address, port, host.lower(), protocol)
        hit = self._fresh(key) or self._fresh_unreached(key)
        if hit is not None:
            return hit
        async with self._lock(address):
            # another report (or another MX name for this address) may have probed while we waited
            hit = self._fresh(key) or self._fresh_unreached(key)
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

    def _fresh_unreached(self, key: tuple[str, int, str, Protocol]) -> ProbeResult | None:
        """A fresh connect failure of this address and port, probed under any host name.

        Nothing was said on such a connection, so the name (only ever the TLS server name) made no
        difference: three MX names on one firewalled address cost one connect timeout, not three.
        """
        address, port, host, protocol = key
        hit = self._fresh((address, port, "", protocol))
        return None if hit is None else replace(hit, host=host)

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
        if result.failure in _UNREACHED:
            self._cache[(key[0], key[1], "", key[3])] = result

    def _lock(self, address: str) -> _AddressLock:
        return _AddressLock(self._locks, address)

    # ---- the probe ----------------------------------------------------------------------------
    async def _probe(self, base: ProbeResult, real_port: int) -> ProbeResult:
        started = time.monotonic()
        deadline = asyncio.get_running_loop().time() + self.probe_budget
        # Port 25 only: postscreen and greet_pause guard MX hosts; submission servers greet at once.
        greeting = self.greeting_timeout if base.port == 25 else self.step_timeout
        run = ProbeRun(
            replace(base, connected_port=real_port), self.step_timeout, deadline, greeting
        )
        try:
            sock = await self._connect(run, real_port)
        except ProbeAbort as abort:
            return run.finish(abort, started)
        try:
            if base.protocol.family == "smtp":
                await SmtpSession(run, sock, self.helo_name).converse()
            else:
                await MailboxSession.converse_on(run, sock)
        except ProbeAbort as abort:
            return run.finish(abort, started)
        except (OSError, EOFError, SMTPException) as exc:  # a reset between our reads
            return run.finish(
                ProbeAbort(Failure.CLOSED, f"connection lost ({why(exc)})", ""), started
            )
        # The dialogues close the socket: it belongs to its transport once one was made, and
        # closing a descriptor under a live transport could hit a reused one.
        return run.finish(None, started)

    async def _connect(self, run: ProbeRun, real_port: int) -> socket.socket:
        """A TCP connection to the vetted address literal, timed on its own."""
        address = run.result.address
        limit = run.budget()  # a step timeout, or less when the probe budget is smaller
        family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        started = time.monotonic()
        self.connections += 1
        try:
            async with asyncio.timeout(limit):
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


def _default_budget(settings: Settings, greeting_timeout: float) -> float:
    """The greeting wait and three steps, leaving the check one step (at most a tenth of its
    budget) after the probe for its own lookups, so that the probe says what it saw before the
    engine's cut."""
    wanted = greeting_timeout + 3 * settings.timeout
    budget = min(settings.check_budget, settings.report_budget)
    return min(wanted, budget - min(settings.timeout, budget / 10))


def _connect_failure(run: ProbeRun, exc: OSError, started: float) -> ProbeAbort:
    if isinstance(exc, TimeoutError):
        ms = elapsed_ms(started)
        detail = f"no answer to the connection attempt within {ms / 1000:g} s"
        return run.fail("connect", started, Failure.CONNECT_TIMEOUT, detail)
    if isinstance(exc, ConnectionRefusedError):
        detail = "connection refused (nothing listens on the port)"
        return run.fail("connect", started, Failure.CONNECTION_REFUSED, detail)
    return run.fail("connect", started, Failure.UNREACHABLE, why(exc))


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


def _default_helo() -> str:
    """Our own name for EHLO, without any DNS lookup (getfqdn would ask the system resolver)."""
    name = socket.gethostname()
    return name if "." in name else "mxbot.localdomain"


def _checked_helo(name: str) -> str:
    """Refuse at start-up a name aiosmtplib would refuse at the first EHLO."""
    if not name.isascii() or not name.strip() or any(c.isspace() or ord(c) < 32 for c in name):
        raise ValueError(f"helo_name {name!r}: give one ASCII host name")
    return name.strip()
