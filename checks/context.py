"""What a check receives: the target, settings, clients, and memoised facts that several checks share."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from checks.net.direct import DirectClient
from checks.net.dns import Answer, DnsClient, Outcome
from checks.net.policy import is_ip_literal, worth_looking_up
from checks.net.probe.result import ProbeResult
from checks.net.services import Services
from checks.settings import Settings
from checks.target import Target

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Options:
    """What the user asked for beyond the target."""

    selectors: tuple[str, ...] = ()  # DKIM selectors to check instead of the common list
    sending_ip: str | None = None  # for "is this IP allowed to send for the domain?"


@dataclass(frozen=True, slots=True)
class MxHost:
    preference: int
    name: str  # lower-case, no trailing dot; an IP literal stays as written


@dataclass(frozen=True, slots=True)
class MxSet:
    """The domain's mail exchangers as a sender would find them (RFC 5321 5.1)."""

    answer: Answer
    hosts: tuple[MxHost, ...] = ()  # sorted by preference
    null: bool = False  # RFC 7505 "0 ." only: the domain takes no mail
    implicit: bool = False  # no MX: the domain's own A/AAAA is the mail host

    @property
    def receives_mail(self) -> bool:
        return bool(self.hosts) and not self.null

    @property
    def no_hosts_reason(self) -> str:
        """Why there are no mail hosts to check, for the checks that build on them."""
        if self.null:
            return "The domain takes no mail (null MX), so there is nothing to check here."
        if self.answer.failed:
            return f"Not checked: the MX lookup failed ({self.answer.describe()})."
        if self.answer.outcome is Outcome.NXDOMAIN:
            return "Not checked: the domain does not exist."
        return "Not checked: the domain has no mail hosts."


@dataclass(frozen=True, slots=True)
class HostAddresses:
    host: str
    a: Answer
    aaaa: Answer

    @property
    def addresses(self) -> tuple[str, ...]:
        return self.a.addresses() + self.aaaa.addresses()


@dataclass
class Context:
    """One report's view of the world. Caches here live exactly as long as the report."""

    target: Target
    settings: Settings
    dns: DnsClient
    options: Options = field(default_factory=Options)
    services: Services = field(default_factory=lambda: Services())  # process-wide clients
    _memo: dict[str, asyncio.Task[Any]] = field(default_factory=dict, repr=False)
    _direct: DirectClient | None = field(default=None, repr=False)

    @property
    def domain(self) -> str:
        return self.target.name

    @property
    def direct(self) -> DirectClient:
        """Questions put to one named server (a zone's name servers), on these settings."""
        if self._direct is None:
            self._direct = DirectClient(self.settings)
        return self._direct

    async def once(self, key: str, compute: Callable[[], Awaitable[T]]) -> T:
        """Compute a shared fact once per report, whichever check asks first."""
        task = self._memo.get(key)
        if task is None:
            task = asyncio.ensure_future(compute())
            self._memo[key] = task
        result: T = await asyncio.shield(task)
        return result

    async def mx(self) -> MxSet:
        return await self.once("mx", self._mx)

    async def mx_addresses(self) -> tuple[HostAddresses, ...]:
        """A and AAAA of every MX host (of the domain itself for an implicit MX)."""
        return await self.once("mx_addresses", self._mx_addresses)

    async def mail_addresses(self) -> tuple[tuple[str, str], ...]:
        """(host, address) pairs a sender would connect to; the address itself for an IP target."""
        if self.target.is_address:
            return ((self.target.name, self.target.name),)
        hosts = await self.mx_addresses()
        return tuple((h.host, addr) for h in hosts for addr in h.addresses)

    async def distinct_mail_addresses(self) -> tuple[tuple[str, str], ...]:
        """`mail_addresses` with each address once, under the first host that names it."""
        first: dict[str, tuple[str, str]] = {}
        for host, address in await self.mail_addresses():
            first.setdefault(address, (host, address))
        return tuple(first.values())

    async def lookup_addresses(self) -> tuple[tuple[str, ...], str]:
        """Mail addresses worth asking third parties about (blocklists, ASN), and when there are
        none, why: (addresses, reason)."""
        if not self.target.is_address:
            mx = await self.mx()
            if not mx.receives_mail:
                return (), mx.no_hosts_reason
        addresses = tuple(
            a
            for _, a in await self.distinct_mail_addresses()
            if worth_looking_up(a, self.settings.allow_private)
        )
        return addresses, "" if addresses else "No public mail addresses to look up."

    async def mail_endpoints(self) -> tuple[tuple[tuple[str, str], ...], str]:
        """(host, address) pairs to probe on port 25, or () and the reason there are none.

        For an IP target the host name is its PTR name (what a sender would see), else the address.
        """
        if self.target.is_address:
            address = self.target.name
            ptr = await self.dns.ptr(address)
            names = ptr.targets() if ptr.ok else ()
            return ((names[0] if names else address, address),), ""
        mx = await self.mx()
        if mx.null:
            return (), "The domain takes no mail (null MX)."
        if not mx.receives_mail:
            return (), "No mail hosts to connect to (see the MX check)."
        pairs = tuple(dict.fromkeys(await self.mail_addresses()))
        if not pairs:
            return (), "No mail host has an address to connect to (see the address check)."
        return pairs, ""

    async def smtp_probe(self, host: str, address: str) -> ProbeResult | None:
        """The one port-25 probe of (host, address) in this report, shared by smtp, tls and dane.

        None when no prober is configured (`services.smtp`): then nothing connects anywhere.
        """
        prober = self.services.smtp
        if prober is None:
            return None
        return await self.once(f"smtp:{address}:{host}", lambda: prober.probe(host, address))

    async def _mx(self) -> MxSet:
        answer = await self.dns.query(self.domain, "MX")
        if answer.outcome is Outcome.NODATA:
            return MxSet(answer, (MxHost(0, self.domain),), implicit=True)
        if not answer.ok:
            return MxSet(answer)
        records = zip(answer.mx_records(), answer.targets(), strict=True)
        hosts = sorted(
            (MxHost(r.preference, t) for r, t in records), key=lambda h: (h.preference, h.name)
        )
        null = any(h.name == "." for h in hosts)
        return MxSet(answer, tuple(hosts), null=null)

    async def _mx_addresses(self) -> tuple[HostAddresses, ...]:
        mx = await self.mx()
        if not mx.receives_mail:
            return ()
        names = list(dict.fromkeys(h.name for h in mx.hosts if not is_ip_literal(h.name)))
        pairs = await asyncio.gather(*(self.dns.addresses(n) for n in names))
        return tuple(HostAddresses(n, a, aaaa) for n, (a, aaaa) in zip(names, pairs, strict=True))
