"""One question to one named server, as asked: the name servers of a zone, or one resolver.

`DnsClient` resolves, over whichever configured resolver answers. Here nothing is resolved: the
question goes to the server given (an authoritative server with recursion off, or a resolver with
it on), over UDP with EDNS (RFC 6891), again over TCP when the answer is truncated (RFC 7766), again
without EDNS for a server that does not speak it, and the whole response comes back as a value:
its flags (AA, RA), the records, a referral and its glue, the SOA of a negative answer. Whether a
server is authoritative, lame, stale or an open resolver is decided by the callers, from values.

Authoritative servers are named by remote data (a zone's NS records), so the address policy
(`checks.net.policy`) is asked before each one, as before every connection; they are asked on
`settings.authoritative_port` (53; a lab or a test serving its zones on loopback sets another).
Configured resolvers are trusted as `DnsClient` trusts them.
"""

from __future__ import annotations

import enum
import errno
import logging
from dataclasses import dataclass, replace

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdatatype
import dns.rdtypes.ANY.NS
import dns.rdtypes.ANY.SOA
import dns.rrset

from checks.net.policy import refusal
from checks.settings import Nameserver, Settings

log = logging.getLogger(__name__)

_EDNS_PAYLOAD = 1232  # DNS flag day 2020: avoids IP fragmentation
_NO_ROUTE = frozenset(
    {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT}
)


class Delivery(enum.StrEnum):
    """What became of the question, before any DNS meaning."""

    RESPONSE = "response"  # a response came back (its rcode may still be an error)
    TIMEOUT = "timeout"  # no response in time, every attempt
    CLOSED = "closed"  # the address answered that nothing listens there (port unreachable)
    UNREACHABLE = "unreachable"  # no route from here (say, an IPv6 address from an IPv4-only host)
    NOT_ASKED = "not_asked"  # the address policy forbids connecting to it


@dataclass(frozen=True, slots=True)
class Soa:
    """The SOA fields a comparison needs (RFC 1035 3.3.13)."""

    zone: str
    serial: int
    refresh: int
    retry: int
    expire: int
    minimum: int
    ttl: int
    primary: str = ""  # MNAME: the primary server, lower-case, no trailing dot

    @property
    def negative_ttl(self) -> int:
        """How long a resolver caches "no such record" (RFC 2308 5: the lesser of the two)."""
        return min(self.ttl, self.minimum)


@dataclass(frozen=True, slots=True)
class Reply:
    """One server's response to one question, as values; no exception ever leaves this module."""

    server: Nameserver
    name: str  # as asked, lower-case, no trailing dot
    rdtype: str
    delivery: Delivery
    rcode: str = ""  # "NOERROR", "NXDOMAIN", "REFUSED", … when a response came back
    authoritative: bool = False  # AA
    recursion_available: bool = False  # RA
    records: tuple[dns.rdata.Rdata, ...] = ()  # the type asked, at the name asked
    ttl: int = 0  # of those records (a resolver's: what remains in its cache)
    cname: str = ""  # the name is an alias for this one (the answer holds its CNAME)
    referral_zone: str = ""  # a referral: the zone whose servers it names (authority NS)
    referral: tuple[str, ...] = ()  # those servers' names
    glue: tuple[tuple[str, str], ...] = ()  # (name, address) from the additional section
    soa: Soa | None = None  # of a negative answer, from the authority section
    tcp: bool = False  # the UDP response was truncated and TCP was used
    detail: str = ""  # why, in words, when no usable response came back

    @property
    def responded(self) -> bool:
        return self.delivery is Delivery.RESPONSE

    @property
    def is_referral(self) -> bool:
        return self.responded and self.rcode == "NOERROR" and bool(self.referral)

    @property
    def nxdomain(self) -> bool:
        return self.responded and self.rcode == "NXDOMAIN"

    @property
    def nodata(self) -> bool:
        """The name exists but holds nothing of this type (no alias, no referral either)."""
        return (
            self.responded
            and self.rcode == "NOERROR"
            and not self.records
            and not self.cname
            and not self.referral
        )

    def soa_record(self) -> Soa | None:
        """The SOA asked for, when the question was SOA and the server gave one."""
        return next((_soa(self.name, r, self.ttl) for r in self._soas()), None)

    def _soas(self) -> tuple[dns.rdtypes.ANY.SOA.SOA, ...]:
        return tuple(r for r in self.records if isinstance(r, dns.rdtypes.ANY.SOA.SOA))

    def addresses(self) -> tuple[str, ...]:
        """A and AAAA records as text."""
        return tuple(
            r.to_text() for r in self.records if r.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA)
        )

    def targets(self) -> tuple[str, ...]:
        """The names NS records point at, lower-case, without the trailing dot."""
        return tuple(_text(r.target) for r in self.records if isinstance(r, dns.rdtypes.ANY.NS.NS))

    def describe(self) -> str:
        """A short phrase for messages: 'REFUSED', 'no answer in 3 s', 'an answer without authority'."""
        match self.delivery:
            case Delivery.RESPONSE:
                if self.rcode not in ("NOERROR", "NXDOMAIN"):
                    return self.rcode
                if self.is_referral:
                    return f"a referral to {self.referral_zone or '.'}"
                if not self.authoritative:
                    return "an answer without authority (no AA bit)"
                return "an authoritative answer"
            case _:
                return self.detail or str(self.delivery)


class DirectClient:
    """Asks one server one question; nothing cached, so each call sees the server as it is now."""

    def __init__(self, settings: Settings, *, port: int | None = None) -> None:
        """Args:
        port: where authoritative servers listen (default `settings.authoritative_port`, 53).
        """
        self._settings = settings
        self._timeout = settings.timeout
        self._attempts = max(1, settings.dns_retries + 1)
        self.port = settings.authoritative_port if port is None else port
        self.sent = 0  # queries put on the wire

    def server(self, address: str) -> Nameserver:
        """Where a name server with this address is asked."""
        return Nameserver(address, self.port)

    async def ask(self, address: str, name: str, rdtype: str, *, recurse: bool = False) -> Reply:
        """Ask a name server at `address` (named by a zone) directly, recursion off unless asked."""
        server = self.server(address)
        why = refusal(address, self._settings)
        if why is not None:
            return Reply(server, _key(name), rdtype, Delivery.NOT_ASKED, detail=why)
        return await self._ask(server, name, rdtype, recurse=recurse)

    async def ask_resolver(self, resolver: Nameserver, name: str, rdtype: str) -> Reply:
        """Ask one configured resolver, recursion on: what it serves now, from its cache or not."""
        return await self._ask(resolver, name, rdtype, recurse=True)

    async def _ask(self, server: Nameserver, name: str, rdtype: str, *, recurse: bool) -> Reply:
        key = _key(name)
        try:
            qname = dns.name.from_text(key) if key != "." else dns.name.root
            qtype = dns.rdatatype.from_text(rdtype)
        except (dns.exception.DNSException, ValueError, UnicodeError) as exc:
            return Reply(server, key, rdtype, Delivery.NOT_ASKED, detail=f"not a valid name: {exc}")
        last = Reply(server, key, rdtype, Delivery.TIMEOUT)
        for _ in range(self._attempts):
            exchanged = await self._exchange(server, qname, qtype, recurse=recurse, edns=True)
            if isinstance(exchanged, Reply):
                last = exchanged
                if exchanged.delivery is Delivery.TIMEOUT:
                    continue  # a lost datagram is common; a dead server is not
                return exchanged
            response, tcp = exchanged
            if response.rcode() in (dns.rcode.FORMERR, dns.rcode.NOTIMP, dns.rcode.BADVERS):
                # RFC 6891 7: a server that does not speak EDNS; ask again the old way
                plain = await self._exchange(server, qname, qtype, recurse=recurse, edns=False)
                if isinstance(plain, Reply):
                    return plain
                response, tcp = plain
            return _reply(server, key, qname, qtype, response, tcp)
        return last

    async def _exchange(
        self,
        server: Nameserver,
        qname: dns.name.Name,
        qtype: dns.rdatatype.RdataType,
        *,
        recurse: bool,
        edns: bool,
    ) -> tuple[dns.message.Message, bool] | Reply:
        key, rdtype = _text(qname), dns.rdatatype.to_text(qtype)
        query = dns.message.make_query(
            qname,
            qtype,
            use_edns=0 if edns else False,
            payload=_EDNS_PAYLOAD,
            flags=dns.flags.RD if recurse else 0,
        )
        self.sent += 1
        try:
            response, tcp = await dns.asyncquery.udp_with_fallback(
                query, server.host, timeout=self._timeout, port=server.port
            )
        except (dns.exception.Timeout, TimeoutError):
            detail = f"no answer from {server} in {self._timeout:g} s"
            return Reply(server, key, rdtype, Delivery.TIMEOUT, detail=detail)
        except ConnectionRefusedError:
            detail = f"nothing listens for DNS at {server}"
            return Reply(server, key, rdtype, Delivery.CLOSED, detail=detail)
        except OSError as exc:
            delivery = Delivery.UNREACHABLE if exc.errno in _NO_ROUTE else Delivery.CLOSED
            return Reply(server, key, rdtype, delivery, detail=f"{server}: {exc.strerror or exc}")
        except dns.exception.DNSException as exc:  # a malformed or mismatched response
            detail = f"{type(exc).__name__}: {exc}"[:200]
            return Reply(server, key, rdtype, Delivery.RESPONSE, rcode="FORMERR", detail=detail)
        log.debug(
            "direct %s %s to %s: %s", key, rdtype, server, dns.rcode.to_text(response.rcode())
        )
        return response, tcp


def _reply(
    server: Nameserver,
    key: str,
    qname: dns.name.Name,
    qtype: dns.rdatatype.RdataType,
    response: dns.message.Message,
    tcp: bool,
) -> Reply:
    answer = _find(response.answer, qname, qtype)
    alias = _find(response.answer, qname, dns.rdatatype.CNAME) if answer is None else None
    found = Reply(
        server,
        key,
        dns.rdatatype.to_text(qtype),
        Delivery.RESPONSE,
        rcode=dns.rcode.to_text(response.rcode()),
        authoritative=bool(response.flags & dns.flags.AA),
        recursion_available=bool(response.flags & dns.flags.RA),
        cname=_text(alias[0].target) if alias is not None else "",
        glue=_glue(response),
        tcp=tcp,
    )
    if answer is not None:
        return replace(found, records=tuple(answer), ttl=answer.ttl)
    zone, names = _referral(response, qname)
    return replace(found, soa=_negative(response), referral_zone=zone, referral=names)


def _referral(response: dns.message.Message, qname: dns.name.Name) -> tuple[str, tuple[str, ...]]:
    """The zone cut a referral points at, and the servers it names (RFC 1034 4.3.2)."""
    for rrset in response.authority:
        if rrset.rdtype == dns.rdatatype.NS and qname.is_subdomain(rrset.name):
            return _text(rrset.name), tuple(_text(r.target) for r in rrset)
    return "", ()


def _negative(response: dns.message.Message) -> Soa | None:
    """The SOA a negative answer carries in its authority section (RFC 2308 3)."""
    for rrset in response.authority:
        if isinstance(rrset[0], dns.rdtypes.ANY.SOA.SOA):
            return _soa(_text(rrset.name), rrset[0], rrset.ttl)
    return None


def _glue(response: dns.message.Message) -> tuple[tuple[str, str], ...]:
    return tuple(
        (_text(rrset.name), r.to_text())
        for rrset in response.additional
        if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA)
        for r in rrset
    )


def _find(
    section: list[dns.rrset.RRset], name: dns.name.Name, rdtype: dns.rdatatype.RdataType
) -> dns.rrset.RRset | None:
    return next((r for r in section if r.name == name and r.rdtype == rdtype), None)


def _soa(zone: str, rdata: dns.rdtypes.ANY.SOA.SOA, ttl: int) -> Soa:
    return Soa(
        zone,
        rdata.serial,
        rdata.refresh,
        rdata.retry,
        rdata.expire,
        rdata.minimum,
        ttl,
        _text(rdata.mname),
    )


def _key(name: str) -> str:
    return name.lower().rstrip(".") or "."


def _text(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True).lower() if name != dns.name.root else "."
