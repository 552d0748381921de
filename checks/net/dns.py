"""The one DNS client: every lookup the engine makes goes through here, as a value, never an exception.

Outcomes are decided once at this seam (answer, NXDOMAIN, no data, SERVFAIL, timeout) so that checks
can tell "there is no record" from "we could not find out", which is the difference between a fail and
an error in every report.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import ipaddress
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.DNSKEY
import dns.rdtypes.ANY.DS
import dns.rdtypes.ANY.MX
import dns.rdtypes.ANY.NSEC3PARAM
import dns.rdtypes.ANY.RRSIG
import dns.rdtypes.ANY.TLSA
import dns.rdtypes.IN.A
import dns.rdtypes.IN.AAAA
import dns.rdtypes.IN.SRV
import dns.rdtypes.txtbase
import dns.resolver
import dns.reversename
import dns.rrset

from checks.settings import Nameserver, Settings

log = logging.getLogger(__name__)

_MAX_CNAME_HOPS = 10
_EDNS_PAYLOAD = 1232  # DNS flag day 2020: avoids IP fragmentation

_R = TypeVar("_R", bound=dns.rdata.Rdata)


class Outcome(enum.StrEnum):
    ANSWER = "answer"
    NXDOMAIN = "nxdomain"  # the name does not exist
    NODATA = "nodata"  # the name exists, but has no record of this type
    SERVFAIL = "servfail"  # the resolver gave up (or refused, or a CNAME loop)
    TIMEOUT = "timeout"  # no resolver answered in time


@dataclass(frozen=True, slots=True)
class Answer:
    """One lookup's result. `rdata` holds the final records after any CNAME chain."""

    name: str  # as asked, lower-case, no trailing dot
    rdtype: str
    outcome: Outcome
    rdata: tuple[dns.rdata.Rdata, ...] = ()
    cnames: tuple[str, ...] = ()  # names the chain went through after `name`
    authenticated: bool = False  # AD bit: a validating resolver vouched for it
    server: str = ""  # which resolver gave this answer (or was last asked)
    rcode: str = "NOERROR"
    ttl: int = 0
    size: int = 0  # bytes of the (last) response on the wire
    tcp: bool = False  # the UDP answer was truncated and TCP was used
    detail: str = ""  # why, in words, when the outcome is not an answer
    signatures: tuple[dns.rdata.Rdata, ...] = ()  # RRSIGs, when DNSSEC records were asked for

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.ANSWER

    @property
    def failed(self) -> bool:
        """We could not find out (as opposed to: the answer is 'none')."""
        return self.outcome in (Outcome.SERVFAIL, Outcome.TIMEOUT)

    @property
    def canonical(self) -> str:
        return self.cnames[-1] if self.cnames else self.name

    def of_type(self, cls: type[_R]) -> tuple[_R, ...]:
        """The records that are `cls`, typed, so callers read their fields without guessing."""
        return tuple(r for r in self.rdata if isinstance(r, cls))

    def mx_records(self) -> tuple[dns.rdtypes.ANY.MX.MX, ...]:
        return self.of_type(dns.rdtypes.ANY.MX.MX)

    def srv_records(self) -> tuple[dns.rdtypes.IN.SRV.SRV, ...]:
        return self.of_type(dns.rdtypes.IN.SRV.SRV)

    def tlsa_records(self) -> tuple[dns.rdtypes.ANY.TLSA.TLSA, ...]:
        return self.of_type(dns.rdtypes.ANY.TLSA.TLSA)

    def dnskeys(self) -> tuple[dns.rdtypes.ANY.DNSKEY.DNSKEY, ...]:
        return self.of_type(dns.rdtypes.ANY.DNSKEY.DNSKEY)

    def ds_records(self) -> tuple[dns.rdtypes.ANY.DS.DS, ...]:
        return self.of_type(dns.rdtypes.ANY.DS.DS)

    def nsec3params(self) -> tuple[dns.rdtypes.ANY.NSEC3PARAM.NSEC3PARAM, ...]:
        return self.of_type(dns.rdtypes.ANY.NSEC3PARAM.NSEC3PARAM)

    def rrsigs(self) -> tuple[dns.rdtypes.ANY.RRSIG.RRSIG, ...]:
        """The signatures over the answer (asked with `dnssec=True`)."""
        return tuple(r for r in self.signatures if isinstance(r, dns.rdtypes.ANY.RRSIG.RRSIG))

    def texts(self) -> tuple[str, ...]:
        """TXT records with their strings joined (RFC 7208 3.3), decoded leniently."""
        txts = self.of_type(dns.rdtypes.txtbase.TXTBase)
        return tuple(b"".join(r.strings).decode("utf-8", "replace") for r in txts)

    def addresses(self) -> tuple[str, ...]:
        """A and AAAA records as text."""
        kinds = (dns.rdtypes.IN.A.A, dns.rdtypes.IN.AAAA.AAAA)
        return tuple(str(r.address) for r in self.rdata if isinstance(r, kinds))

    def targets(self) -> tuple[str, ...]:
        """Names an MX, PTR, NS, CNAME or SRV answer points at, without the trailing dot."""
        out = []
        for r in self.rdata:
            target = getattr(r, "exchange", None) or getattr(r, "target", None)
            out.append(_text(target) if target is not None else "")
        return tuple(out)

    def describe(self) -> str:
        """A short phrase for messages: 'NXDOMAIN', 'a timeout (no answer from 1.2.3.4:53 in 3 s)'."""
        match self.outcome:
            case Outcome.ANSWER:
                return "an answer"
            case Outcome.NXDOMAIN:
                return "NXDOMAIN (the name does not exist)"
            case Outcome.NODATA:
                return f"no {self.rdtype} record"
            case Outcome.SERVFAIL:
                return f"{self.rcode} from {self.server or 'the resolver'}" + (
                    f" ({self.detail})" if self.detail else ""
                )
            case Outcome.TIMEOUT:
                return f"a timeout ({self.detail or 'no answer'})"


def _text(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True).lower() if name != dns.name.root else "."


@dataclass(slots=True)
class QueryStats:
    sent: int = 0  # queries put on the wire (after coalescing and caching)
    asked: int = 0  # lookups requested by checks


@dataclass(frozen=True, slots=True)
class _Key:
    name: str
    rdtype: str
    dnssec: bool
    cd: bool


class DnsClient:
    """Async DNS over the configured resolvers, with a cache that lives as long as the client.

    Make one per report: identical lookups in flight are coalesced into one query, and nothing is
    kept across reports (DNS changes during an incident are exactly what the user is waiting for).
    """

    def __init__(self, settings: Settings, nameservers: Sequence[Nameserver] | None = None) -> None:
        self._timeout = settings.timeout
        self._attempts = max(1, settings.dns_retries + 1)
        self._nameservers = tuple(nameservers or settings.resolvers) or _system_nameservers()
        self._cache: dict[_Key, asyncio.Task[Answer]] = {}
        self.stats = QueryStats()

    @property
    def nameservers(self) -> tuple[Nameserver, ...]:
        return self._nameservers

    async def query(
        self, name: str, rdtype: str, *, dnssec: bool = False, cd: bool = False
    ) -> Answer:
        """Look `name` up, following CNAMEs; cached and coalesced per client."""
        key = _Key(name.lower().rstrip("."), rdtype.upper(), dnssec, cd)
        self.stats.asked += 1
        task = self._cache.get(key)
        if task is None:
            task = asyncio.ensure_future(self._resolve(key))
            self._cache[key] = task
        # shield: one check timing out must not cancel a lookup other checks are waiting on
        return await asyncio.shield(task)

    async def txt(self, name: str) -> Answer:
        return await self.query(name, "TXT")

    async def addresses(self, name: str) -> tuple[Answer, Answer]:
        """A and AAAA together."""
        a, aaaa = await asyncio.gather(self.query(name, "A"), self.query(name, "AAAA"))
        return a, aaaa

    async def ptr(self, address: str) -> Answer:
        return await self.query(dns.reversename.from_address(address).to_text(), "PTR")

    async def _resolve(self, key: _Key) -> Answer:
        try:
            qname = dns.name.from_text(key.name) if key.name != "." else dns.name.root
            rdtype = dns.rdatatype.from_text(key.rdtype)
        except (dns.exception.DNSException, ValueError, UnicodeError) as exc:
            return Answer(key.name, key.rdtype, Outcome.NXDOMAIN, detail=f"not a valid name: {exc}")
        cnames: list[str] = []
        seen = {qname}
        current = qname
        tcp_used = False
        for _ in range(_MAX_CNAME_HOPS):
            answer, target = await self._ask(current, rdtype, key)
            tcp_used = tcp_used or answer.tcp
            chain = [*cnames, *answer.cnames]
            if target is None or target in seen:
                if target is not None:  # the chain came back to a name already followed
                    return _with(answer, key, chain, tcp_used, Outcome.SERVFAIL, "CNAME loop")
                return _with(answer, key, chain, tcp_used)
            seen.add(target)
            cnames, current = [*chain], target
        return Answer(
            key.name,
            key.rdtype,
            Outcome.SERVFAIL,
            cnames=tuple(cnames),
            detail="CNAME chain too long",
        )

    async def _exchange(
        self, query: dns.message.Message, server: Nameserver, key: _Key
    ) -> tuple[dns.message.Message, bool] | Answer:
        """One query to one server: the response (and whether TCP was used), or a failed Answer."""
        self.stats.sent += 1
        started = time.monotonic()
        try:
            response, tcp = await dns.asyncquery.udp_with_fallback(
                query, server.host, timeout=self._timeout, port=server.port
            )
        except (dns.exception.Timeout, TimeoutError):
            return Answer(
                key.name,
                key.rdtype,
                Outcome.TIMEOUT,
                server=str(server),
                detail=f"no answer from {server} in {self._timeout:g} s",
            )
        except (OSError, dns.exception.DNSException) as exc:
            return Answer(
                key.name,
                key.rdtype,
                Outcome.SERVFAIL,
                server=str(server),
                rcode="ERROR",
                detail=f"{type(exc).__name__}: {exc}"[:200],
            )
        elapsed = (time.monotonic() - started) * 1000
        log.debug("%s %s from %s in %.0f ms", query.question[0].name, key.rdtype, server, elapsed)
        return response, tcp

    async def _ask(
        self, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType, key: _Key
    ) -> tuple[Answer, dns.name.Name | None]:
        """One name on the wire, over the resolvers in turn; returns (answer, CNAME target to chase)."""
        last = Answer(key.name, key.rdtype, Outcome.TIMEOUT, detail="no resolver configured")
        for attempt in range(self._attempts):
            for server in self._nameservers:
                exchanged = await self._exchange(_query(qname, rdtype, key, edns=True), server, key)
                if isinstance(exchanged, Answer):
                    last = exchanged
                    continue
                response, tcp = exchanged
                if response.rcode() in (dns.rcode.FORMERR, dns.rcode.NOTIMP, dns.rcode.BADVERS):
                    # RFC 6891 7: a server that does not speak EDNS; ask again the old way
                    plain = await self._exchange(
                        _query(qname, rdtype, key, edns=False), server, key
                    )
                    if isinstance(plain, Answer):
                        last = plain
                        continue
                    response, tcp = plain
                answer, target = _interpret(response, qname, rdtype, key, server, tcp)
                if answer.outcome is Outcome.SERVFAIL and attempt + 1 < self._attempts:
                    last = answer
                    continue
                if answer.outcome is not Outcome.SERVFAIL:
                    return answer, target
                last = answer
        return last, None


def _query(
    qname: dns.name.Name, rdtype: dns.rdatatype.RdataType, key: _Key, *, edns: bool
) -> dns.message.Message:
    query = dns.message.make_query(
        qname,
        rdtype,
        use_edns=0 if edns else False,
        want_dnssec=key.dnssec and edns,
        payload=_EDNS_PAYLOAD,
    )
    query.flags |= dns.flags.AD  # RFC 6840 5.7: ask for the AD bit without needing DO
    if key.cd:
        query.flags |= dns.flags.CD
    return query


def _interpret(
    response: dns.message.Message,
    qname: dns.name.Name,
    rdtype: dns.rdatatype.RdataType,
    key: _Key,
    server: Nameserver,
    tcp: bool,
) -> tuple[Answer, dns.name.Name | None]:
    rcode = response.rcode()
    base = Answer(  # what every outcome of this response shares; the outcome is decided below
        key.name,
        key.rdtype,
        Outcome.ANSWER,
        server=str(server),
        rcode=dns.rcode.to_text(rcode),
        authenticated=bool(response.flags & dns.flags.AD),
        size=len(response.to_wire()) if response.wire is None else len(response.wire),
        tcp=tcp,
    )
    cnames: list[str] = []
    current = qname
    seen = {qname}
    while True:
        rrset = _find(response, current, rdtype)
        if rrset is not None:
            sigs = _find(response, current, dns.rdatatype.RRSIG, covers=rdtype)
            return replace(
                base,
                rdata=tuple(rrset),
                cnames=tuple(cnames),
                ttl=rrset.ttl,
                signatures=tuple(sigs) if sigs is not None else (),
            ), None
        cname = (
            _find(response, current, dns.rdatatype.CNAME) if rdtype != dns.rdatatype.CNAME else None
        )
        if cname is None:
            break
        target = cname[0].target
        cnames.append(_text(target))
        if target in seen:
            return replace(
                base, outcome=Outcome.SERVFAIL, cnames=tuple(cnames), detail="CNAME loop"
            ), None
        seen.add(target)
        current = target
    if rcode == dns.rcode.NXDOMAIN:
        outcome = Outcome.NXDOMAIN
    elif rcode == dns.rcode.NOERROR:
        outcome = Outcome.NODATA
        # An authoritative server answers only for its own zones: chase a CNAME that leaves them.
        if cnames and not response.flags & dns.flags.RA:
            return replace(base, outcome=outcome, cnames=tuple(cnames)), current
    else:
        outcome = Outcome.SERVFAIL
    return replace(base, outcome=outcome, cnames=tuple(cnames)), None


def _find(
    response: dns.message.Message,
    name: dns.name.Name,
    rdtype: dns.rdatatype.RdataType,
    covers: dns.rdatatype.RdataType = dns.rdatatype.NONE,
) -> dns.rrset.RRset | None:
    for rrset in response.answer:
        if rrset.name == name and rrset.rdtype == rdtype and rrset.covers == covers:
            return rrset
    return None


def _with(
    answer: Answer,
    key: _Key,
    cnames: list[str],
    tcp: bool,
    outcome: Outcome | None = None,
    detail: str = "",
) -> Answer:
    return replace(
        answer,
        name=key.name,
        cnames=tuple(cnames),
        tcp=tcp,
        outcome=outcome or answer.outcome,
        detail=detail or answer.detail,
    )


@functools.cache
def _system_nameservers() -> tuple[Nameserver, ...]:
    """The host's resolv.conf, read as a file (no lookup happens here), once per process rather
    than once per report."""
    try:
        resolver = dns.resolver.Resolver(configure=True)
    except (dns.resolver.NoResolverConfiguration, OSError):
        return ()
    out = []
    for ns in resolver.nameservers:
        text = str(ns)
        try:
            ipaddress.ip_address(text)
        except ValueError:
            continue
        out.append(Nameserver(text, resolver.port))
    return tuple(out)
