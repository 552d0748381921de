"""Which zone holds a domain, and which name servers serve it, as the parent and the zone each say
(RFC 1034 4.2.2, RFC 2181 6)?

The apex is the closest name at or above the domain with an SOA record at the resolvers. Its name
servers come from two places that should agree: the delegation in the parent zone (asked of the
parent's own servers, directly: a referral, with glue) and the zone's own NS set. When the
resolvers fail for the domain (or say it does not exist), the zone above is asked directly whether
it delegates it: a zone whose every server is lame fails at the resolvers, and the parent still
names its servers. Each server's addresses are its glue and its A/AAAA records at the resolvers.

Shared by the `ns` check and `mxbot live` (`checks.live`); `ask_each` puts one question to every
address of every server at once.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Sequence
from dataclasses import dataclass

from checks.net.direct import DirectClient, Reply
from checks.net.dns import Answer, DnsClient, Outcome

_MAX_SERVERS = 16  # more NS records than any zone needs; a bound on the questions asked
_MAX_ADDRESSES = 4  # per server
_PARENT_TRIES = 3  # the parent's servers asked, in turn, for its delegation (one address each)
_PARENT_SILENCES = 2  # after this many silent ones, stop: a firewall lets only resolvers out


class Found(enum.StrEnum):
    ZONE = "zone"  # the apex and at least one name server
    NO_SERVERS = "no_servers"  # an apex, but neither it nor its parent names a server
    NXDOMAIN = "nxdomain"  # the domain does not exist, and nothing above delegates it
    FAILED = "failed"  # the resolvers fail for the domain, and its parent could not say more
    NONE = "none"  # no SOA record at the domain or anywhere above it


@dataclass(frozen=True, slots=True)
class NameServer:
    """One server named for the zone, by the parent, the zone, or both."""

    name: str  # lower-case, no trailing dot
    in_parent: bool
    in_zone: bool
    glue: tuple[str, ...] = ()  # addresses the parent's referral gave for it
    resolved: tuple[str, ...] = ()  # its A and AAAA records at the resolvers
    lookup: str = ""  # why its addresses could not be looked up, when they could not

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.resolved, *self.glue)))[:_MAX_ADDRESSES]

    def in_bailiwick(self, apex: str) -> bool:
        """Named inside the zone it serves: resolvers need its glue to reach it at all."""
        return self.name == apex or self.name.endswith("." + apex)


@dataclass(frozen=True, slots=True)
class Delegation:
    """What the parent zone's servers said about the apex."""

    parent: str  # the parent zone's apex
    reply: Reply | None  # the response used: a referral, or an authoritative answer
    tried: tuple[Reply, ...] = ()  # every response (or failure) on the way to it

    @property
    def zone(self) -> str:
        """The zone delegated: a referral's, or the name asked about."""
        if self.reply is None:
            return ""
        return self.reply.referral_zone or self.reply.name

    @property
    def names(self) -> tuple[str, ...]:
        if self.reply is None:
            return ()
        return self.reply.referral or self.reply.targets()

    @property
    def delegates(self) -> bool:
        return bool(self.names)

    @property
    def denied(self) -> bool:
        """The parent says, with authority, that there is no delegation (NXDOMAIN or no NS)."""
        return self.reply is not None and not self.delegates

    def glue_for(self, name: str) -> tuple[str, ...]:
        if self.reply is None:
            return ()
        return tuple(address for owner, address in self.reply.glue if owner == name)


@dataclass(frozen=True, slots=True)
class Zone:
    """The zone of a domain and its name servers, or why they could not be found."""

    domain: str
    found: Found
    apex: str = ""
    delegation: Delegation | None = None  # None: no parent zone, or its servers not reached
    zone_ns: Answer | None = None  # the zone's own NS set, at the resolvers
    servers: tuple[NameServer, ...] = ()
    detail: str = ""  # why, when nothing was found

    @property
    def addresses(self) -> tuple[tuple[str, str], ...]:
        """(server name, address) for every address of every server, each address once."""
        seen: dict[str, tuple[str, str]] = {}
        for server in self.servers:
            for address in server.addresses:
                seen.setdefault(address, (server.name, address))
        return tuple(seen.values())

    @property
    def zone_names(self) -> tuple[str, ...]:
        if self.zone_ns is None or not self.zone_ns.ok:
            return ()
        return tuple(sorted(set(self.zone_ns.targets())))


@dataclass(frozen=True, slots=True)
class Asked:
    """One question put to one address of one server."""

    server: str
    address: str
    reply: Reply


async def discover(dns: DnsClient, direct: DirectClient, domain: str) -> Zone:
    """The zone of `domain` and its name servers (see the module docstring)."""
    walk = await _walk(dns, domain)
    if not walk.apex:
        found = Found.FAILED if walk.failure is not None else Found.NONE
        return Zone(domain, found, detail=_why(domain, walk))
    if walk.unknown:  # the resolvers could not show the domain: does the zone above delegate it?
        delegation = await _delegation(dns, direct, walk.apex, domain)
        if delegation.delegates:
            return await _zone(dns, domain, delegation.zone, delegation)
        if walk.failure is not None:
            return Zone(domain, Found.FAILED, detail=_why(domain, walk))
        return Zone(domain, Found.NXDOMAIN, detail=f"{domain} does not exist (NXDOMAIN).")
    parent = await _walk(dns, _parent(walk.apex)) if walk.apex != "." else _Walk("")
    if not parent.apex:
        return await _zone(dns, domain, walk.apex, None)
    return await _zone(
        dns, domain, walk.apex, await _delegation(dns, direct, parent.apex, walk.apex)
    )


async def ask_each(
    direct: DirectClient, zone: Zone, name: str, rdtype: str, *, recurse: bool = False
) -> tuple[Asked, ...]:
    """Ask every address of every server of `zone` the same question, all at once."""
    pairs = zone.addresses
    replies = await asyncio.gather(
        *(direct.ask(address, name, rdtype, recurse=recurse) for _, address in pairs)
    )
    return tuple(
        Asked(server, address, reply)
        for (server, address), reply in zip(pairs, replies, strict=True)
    )


# ---- the walk up to the apex --------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Walk:
    apex: str  # the closest name with an SOA record; "" when none answered
    failure: Answer | None = None  # the first lookup on the way that failed
    unknown: bool = False  # the resolvers failed on the name itself, or said it does not exist


async def _walk(dns: DnsClient, name: str) -> _Walk:
    failure: Answer | None = None
    unknown = False
    for candidate in _ancestors(name):
        # asked with DO set, as the dnssec check asks it, so a report puts the question once
        answer = await dns.query(candidate, "SOA", dnssec=True)
        if answer.ok and not answer.cnames:
            return _Walk(candidate, failure, unknown)
        if answer.failed:
            failure = failure or answer
        if candidate == name:
            unknown = answer.failed or answer.outcome is Outcome.NXDOMAIN
    return _Walk("", failure, unknown)


def _ancestors(name: str) -> list[str]:
    labels = name.lower().rstrip(".").split(".") if name not in ("", ".") else []
    return [".".join(labels[i:]) for i in range(len(labels))] + ["."]


def _parent(name: str) -> str:
    _, _, rest = name.partition(".")
    return rest or "."


def _why(domain: str, walk: _Walk) -> str:
    if walk.failure is not None:
        return f"looking up the zone of {domain} failed: {walk.failure.describe()}"
    return f"no SOA record at {domain} or above it"


# ---- the parent's delegation --------------------------------------------------------------------
async def _delegation(dns: DnsClient, direct: DirectClient, parent: str, name: str) -> Delegation:
    """Ask the parent's servers, in turn, for the NS records of `name`; the first usable response
    (a referral to a zone between the parent and `name`, or an authoritative answer or denial) is
    the delegation."""
    servers = await dns.query(parent, "NS")
    tried: list[Reply] = []
    for server in sorted(set(servers.targets())):
        a, aaaa = await dns.addresses(server)
        addresses = a.addresses() + aaaa.addresses()
        if not addresses:
            continue
        reply = await direct.ask(addresses[0], name, "NS")
        tried.append(reply)
        if _usable(reply, parent, name):
            return Delegation(parent, reply, tuple(tried))
        silent = sum(1 for r in tried if not r.responded)
        if len(tried) >= _PARENT_TRIES or silent >= _PARENT_SILENCES:
            break
    return Delegation(parent, None, tuple(tried))


def _usable(reply: Reply, parent: str, name: str) -> bool:
    if reply.is_referral:
        cut = reply.referral_zone
        return cut != parent and (name == cut or name.endswith("." + cut))
    return reply.authoritative and reply.rcode in ("NOERROR", "NXDOMAIN") and not reply.cname


# ---- the zone's servers and their addresses -----------------------------------------------------
async def _zone(dns: DnsClient, domain: str, apex: str, delegation: Delegation | None) -> Zone:
    zone_ns = await dns.query(apex, "NS")
    in_zone = set(zone_ns.targets()) if zone_ns.ok and not zone_ns.cnames else set()
    in_parent = set(delegation.names) if delegation is not None else set()
    names = sorted(in_zone | in_parent)[:_MAX_SERVERS]
    if not names:
        detail = f"neither {apex} nor its parent names a name server"
        return Zone(domain, Found.NO_SERVERS, apex, delegation, zone_ns, detail=detail)
    looked_up = await asyncio.gather(*(dns.addresses(n) for n in names))
    servers = tuple(
        _server(n, n in in_parent, n in in_zone, delegation, a, aaaa)
        for n, (a, aaaa) in zip(names, looked_up, strict=True)
    )
    return Zone(domain, Found.ZONE, apex, delegation, zone_ns, servers)


def _server(
    name: str,
    in_parent: bool,
    in_zone: bool,
    delegation: Delegation | None,
    a: Answer,
    aaaa: Answer,
) -> NameServer:
    failed = [x for x in (a, aaaa) if x.failed]
    return NameServer(
        name,
        in_parent,
        in_zone,
        glue=delegation.glue_for(name) if delegation is not None else (),
        resolved=a.addresses() + aaaa.addresses(),
        lookup=failed[0].describe() if failed else "",
    )


def names(servers: Sequence[NameServer]) -> str:
    """'ns1.example.com, ns2.example.net' for messages."""
    return ", ".join(s.name for s in servers)
