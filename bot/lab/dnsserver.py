"""An authoritative DNS server on loopback: real UDP and TCP on 127.0.0.1, answering from zone text.

The lab (`mxbot demo`) serves its domains with it, and the tests (as `tests.fakes.dnsserver`) serve
theirs. It runs on its own thread and event loop, so synchronous code, subprocesses (the CLI) and
async tests can all use it. Behaviours the tests need and real servers have: CNAME chasing inside the
data, wildcards, NXDOMAIN versus empty non-terminals, truncation over UDP, referrals at zone cuts
(a parent's delegation, with glue), and injected faults (names that time out or SERVFAIL, a fixed
delay on every answer, a lame server that refuses or answers without authority, an open resolver,
counting of every query).

Several servers can share one port on different loopback addresses (`port=`), as the name servers
of one zone do on port 53; `also=` makes one server answer on more addresses than one.
"""

from __future__ import annotations

import asyncio
import collections
import socket
import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone

Key = tuple[dns.name.Name, dns.rdatatype.RdataType]


@dataclass
class Behaviour:
    """Faults and recordings, changed freely (by the lab or a test) while the server runs."""

    delay: float = 0.0  # seconds before every answer
    timeout: set[dns.name.Name] = field(default_factory=set)  # never answer
    servfail: set[dns.name.Name] = field(default_factory=set)
    # whole zones gone wrong: the name and everything below it
    servfail_zones: set[dns.name.Name] = field(default_factory=set)
    timeout_zones: set[dns.name.Name] = field(default_factory=set)
    drop_all: bool = False  # a server that never answers anything
    udp_limit: int | None = None  # force truncation above this many bytes over UDP
    no_edns: bool = False  # an old server: FORMERR to any query with an OPT record
    # Set the AD bit, as a validating resolver would for a signed zone: on every answer, or only
    # for the names listed (this server does no DNSSEC itself; DANE tests need the bit).
    authenticated: bool = False
    authenticated_names: set[dns.name.Name] = field(default_factory=set)
    # never answer a query for a type the name holds no record of (a "braindead" server that
    # answers TXT but times out on, say, SPF or AAAA; the RFC 7208 test suite's TIMEOUT entries)
    timeout_missing: set[dns.name.Name] = field(default_factory=set)
    # A lame server (RFC 1912 2.8): named for these zones but refusing them (REFUSED) ...
    refused_zones: set[dns.name.Name] = field(default_factory=set)
    # ... or answering for everything without the AA bit, as a cache does
    not_authoritative: bool = False
    # RA set: a server that also resolves for anyone (an open resolver, RFC 5358)
    recursion_available: bool = False
    # Zone cuts this server is the parent of: names at or below them get a referral (the NS set at
    # the cut in the authority section, addresses of in-bailiwick servers as glue), not an answer;
    # the DS at the cut is the parent's own, answered (RFC 4035 3.1.4.1).
    delegations: set[dns.name.Name] = field(default_factory=set)


class DnsServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, also: Iterable[str] = ()) -> None:
        """Args:
        port: the port to listen on (UDP and TCP); 0 for a free one.
        also: more addresses answering the same data on the same port.
        """
        self.records: dict[Key, dns.rrset.RRset] = {}
        self.names: set[dns.name.Name] = set()
        self.behaviour = Behaviour()
        self.queries: collections.Counter[tuple[str, str]] = collections.Counter()
        self.tcp_queries = 0
        self.recursion_desired = 0  # queries that asked for recursion (RD)
        self.host = host  # 127.0.0.1, or ::1 for IPv6
        self.port = port
        self.also = tuple(also)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._lock = threading.Lock()
        self._udp: list[asyncio.DatagramTransport] = []
        self.replies: set[asyncio.Task[None]] = set()
        self._tcp: list[asyncio.Server] = []

    # ---- data ---------------------------------------------------------------------------------
    def load_zone(self, text: str, origin: str) -> None:
        """Add every record of a zone file (relative names are under `origin`)."""
        zone = dns.zone.from_text(text, origin=origin, relativize=False, check_origin=False)
        with self._lock:
            for name, node in zone.nodes.items():
                for rdataset in node.rdatasets:
                    rrset = dns.rrset.RRset(
                        name, rdataset.rdclass, rdataset.rdtype, rdataset.covers
                    )
                    rrset.update(rdataset)  # type: ignore[no-untyped-call]
                    self._put(rrset)

    def add(self, name: str, rdtype: str, *values: str, ttl: int = 300) -> None:
        """Add records given in presentation format: add("a.test", "TXT", '"v=spf1 -all"')."""
        owner = dns.name.from_text(name)  # relative text is taken as absolute
        rrset = dns.rrset.from_text_list(
            owner, ttl, "IN", rdtype, list(values), origin=dns.name.root, relativize=False
        )
        with self._lock:
            existing = self.records.get((rrset.name, rrset.rdtype))
            if existing is not None:
                rrset.update(existing)  # type: ignore[no-untyped-call]
            self._put(rrset)

    def add_rrset(self, rrset: dns.rrset.RRset) -> None:
        """Add records built in code (e.g. TXT with arbitrary bytes), merged with any already there."""
        with self._lock:
            existing = self.records.get((rrset.name, rrset.rdtype))
            if existing is not None:
                rrset.update(existing)  # type: ignore[no-untyped-call]
            self._put(rrset)

    def remove(self, origin: str) -> None:
        """Forget every record at or below `origin`, as a server does before loading a zone anew."""
        apex = dns.name.from_text(origin)
        with self._lock:
            self.records = {k: v for k, v in self.records.items() if not k[0].is_subdomain(apex)}
            self.names.clear()
            for rrset in self.records.values():
                self._put(rrset)

    def clear(self) -> None:
        with self._lock:
            self.records.clear()
            self.names.clear()
            self.behaviour = Behaviour()
            self.queries.clear()
            self.tcp_queries = 0
            self.recursion_desired = 0

    def _put(self, rrset: dns.rrset.RRset) -> None:
        self.records[(rrset.name, rrset.rdtype)] = rrset
        name = rrset.name
        while True:  # every ancestor exists (empty non-terminals answer NODATA, not NXDOMAIN)
            self.names.add(name)
            if len(name) <= 1:
                break
            name = name.parent()

    # ---- lifecycle ----------------------------------------------------------------------------
    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def start(self) -> DnsServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    async def _close(self) -> None:
        for udp in self._udp:
            udp.close()
        for tcp in self._tcp:
            tcp.close()
            await tcp.wait_closed()
        current = asyncio.current_task()
        for task in asyncio.all_tasks():
            if task is not current:
                task.cancel()

    async def _serve(self) -> None:
        for _ in range(1 if self.port else 20):  # UDP and TCP on the same port, on every address
            sockets = _bind((self.host, *self.also), self.port)
            if sockets:
                break
        else:
            raise OSError(f"no free port for the DNS server on {self.host} ({self.port or 'any'})")
        self.port = sockets[0][0].getsockname()[1]
        for udp, tcp in sockets:
            transport, _ = await self._loop.create_datagram_endpoint(lambda: _Udp(self), sock=udp)
            self._udp.append(transport)
            tcp.listen(64)
            self._tcp.append(await asyncio.start_server(self._tcp_client, sock=tcp))

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                length = struct.unpack("!H", await reader.readexactly(2))[0]
                wire = await reader.readexactly(length)
                self.tcp_queries += 1
                reply = await self.respond(wire, tcp=True)
                if reply is None:
                    continue
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    # ---- answering ----------------------------------------------------------------------------
    async def respond(self, wire: bytes, *, tcp: bool) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except Exception:  # noqa: BLE001 -- garbage in, no answer out, like a real server
            return None
        if not query.question:
            return None
        question = query.question[0]
        self.queries[
            (
                question.name.to_text(omit_final_dot=True).lower(),
                dns.rdatatype.to_text(question.rdtype),
            )
        ] += 1
        if query.flags & dns.flags.RD:
            self.recursion_desired += 1
        b = self.behaviour
        if b.drop_all or question.name in b.timeout or _under(question.name, b.timeout_zones):
            return None
        if question.name in b.timeout_missing and not self._holds(question.name, question.rdtype):
            return None
        if b.delay:
            await asyncio.sleep(b.delay)
        if b.no_edns and query.edns >= 0:
            refusal = dns.message.make_response(query)
            refusal.use_edns(False)
            refusal.set_rcode(dns.rcode.FORMERR)
            return refusal.to_wire()
        response = dns.message.make_response(query)
        self._fill(response, question.name, question.rdtype)
        try:
            out = response.to_wire(max_size=65535)
        except Exception:  # noqa: BLE001 -- bad test data: answer like a broken server would
            response = dns.message.make_response(query)
            response.set_rcode(dns.rcode.SERVFAIL)
            out = response.to_wire()
        limit = b.udp_limit or (query.payload if query.edns >= 0 else 512)
        if not tcp and len(out) > limit:
            response.answer.clear()
            response.authority.clear()
            response.additional.clear()
            response.flags |= dns.flags.TC
            out = response.to_wire()
        return out

    def _fill(self, response: dns.message.Message, qname: dns.name.Name, rdtype: int) -> None:
        """The flags, the rcode and the sections, as this server's behaviour has them."""
        b = self.behaviour
        response.flags |= dns.flags.AA
        response.flags &= ~dns.flags.RA
        if b.recursion_available:
            response.flags |= dns.flags.RA
        if b.not_authoritative:
            response.flags &= ~dns.flags.AA
        if b.authenticated or qname in b.authenticated_names:
            response.flags |= dns.flags.AD
        cut = self._cut(qname, rdtype)
        if qname in b.servfail or _under(qname, b.servfail_zones):
            response.set_rcode(dns.rcode.SERVFAIL)
        elif _under(qname, b.refused_zones):
            response.flags &= ~dns.flags.AA
            response.set_rcode(dns.rcode.REFUSED)
        elif cut is not None:
            with self._lock:
                self._refer(response, cut)
        else:
            with self._lock:
                self._answer(response, qname, rdtype)

    def _answer(self, response: dns.message.Message, qname: dns.name.Name, rdtype: int) -> None:
        name = qname
        for _ in range(10):
            rrset = self._lookup(name, rdtype)
            if rrset is not None:
                response.answer.append(rrset)
                return
            cname = self._lookup(name, dns.rdatatype.CNAME)
            if cname is None or rdtype == dns.rdatatype.CNAME:
                break
            response.answer.append(cname)
            name = cname[0].target
            if any(r.name == name for r in response.answer):
                return  # a loop: hand back what we have, as real servers do
        if name not in self.names and self._wildcard(name) is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
        self._negative(response, name)

    def _negative(self, response: dns.message.Message, name: dns.name.Name) -> None:
        """RFC 2308 3: a negative answer carries its zone's SOA, with the TTL resolvers cache the
        absence for (the lesser of the SOA's TTL and its MINIMUM)."""
        while True:
            soa = self.records.get((name, dns.rdatatype.SOA))
            if soa is not None:
                ttl = min(soa.ttl, soa[0].minimum)
                negative = dns.rrset.RRset(soa.name, soa.rdclass, soa.rdtype)
                negative.update(soa)  # type: ignore[no-untyped-call]
                negative.ttl = ttl
                response.authority.append(negative)
                return
            if name == dns.name.root:
                return
            name = name.parent()

    def _cut(self, qname: dns.name.Name, rdtype: int) -> dns.name.Name | None:
        """The delegation `qname` falls under, if any (the DS at a cut is the parent's to answer)."""
        for cut in sorted(self.behaviour.delegations, key=len, reverse=True):
            if qname.is_subdomain(cut) and not (qname == cut and rdtype == dns.rdatatype.DS):
                return cut
        return None

    def _refer(self, response: dns.message.Message, cut: dns.name.Name) -> None:
        """A referral (RFC 1034 4.3.2 step 3b): no AA, the cut's NS set, glue for servers under it."""
        response.flags &= ~dns.flags.AA
        ns = self.records.get((cut, dns.rdatatype.NS))
        if ns is None:
            return
        response.authority.append(ns)
        for rdata in ns:
            target = rdata.target
            if not target.is_subdomain(cut):
                continue  # out of bailiwick: resolvers look its address up themselves
            for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
                glue = self.records.get((target, rdtype))
                if glue is not None:
                    response.additional.append(glue)

    def _holds(self, name: dns.name.Name, rdtype: int) -> bool:
        with self._lock:
            return any(
                (name, dns.rdatatype.RdataType.make(t)) in self.records
                for t in (rdtype, dns.rdatatype.CNAME)
            )

    def _lookup(self, name: dns.name.Name, rdtype: int) -> dns.rrset.RRset | None:
        rdtype = dns.rdatatype.RdataType.make(rdtype)
        found = self.records.get((name, rdtype))
        if found is not None:
            return found
        if name in self.names:
            return None
        wildcard = self._wildcard(name)
        if wildcard is None:
            return None
        source = self.records.get((wildcard, rdtype))
        if source is None:
            return None
        synthesised = dns.rrset.RRset(name, source.rdclass, source.rdtype)
        synthesised.update(source)  # type: ignore[no-untyped-call]
        return synthesised

    def _wildcard(self, name: dns.name.Name) -> dns.name.Name | None:
        """RFC 4592: the wildcard at the closest encloser, if the name does not exist itself."""
        encloser = name.parent() if name != dns.name.root else name
        while True:
            if encloser in self.names:
                candidate = dns.name.Name(("*",)).concatenate(encloser)
                return candidate if candidate in self.names else None
            if encloser == dns.name.root:
                return None
            encloser = encloser.parent()

    def count(self, name: str, rdtype: str) -> int:
        return self.queries[(name.lower().rstrip("."), rdtype.upper())]

    def names_queried(self) -> Iterable[tuple[str, str]]:
        return self.queries.keys()


def _under(name: dns.name.Name, zones: set[dns.name.Name]) -> bool:
    return any(name.is_subdomain(zone) for zone in zones)


def _bind(hosts: Iterable[str], port: int) -> list[tuple[socket.socket, socket.socket]]:
    """A UDP and a TCP socket on `port` (a free one for 0) at every host; [] if one is taken."""
    bound: list[tuple[socket.socket, socket.socket]] = []
    for host in hosts:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        udp = socket.socket(family, socket.SOCK_DGRAM)
        tcp = socket.socket(family, socket.SOCK_STREAM)
        # a whole lab's reports at once send bursts the default buffer drops (the kernel caps
        # this at net.core.rmem_max); a dropped query costs the client a full timeout
        udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            udp.bind((host, port))
            port = udp.getsockname()[1]  # the rest share the first one's port
            tcp.bind((host, port))
        except OSError:
            udp.close()
            tcp.close()
            for pair in bound:
                for sock in pair:
                    sock.close()
            return []
        bound.append((udp, tcp))
    return bound


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        task = asyncio.ensure_future(self._reply(data, addr))
        self.server.replies.add(task)  # keep a reference until it is done
        task.add_done_callback(self.server.replies.discard)

    async def _reply(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        reply = await self.server.respond(data, tcp=False)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)
