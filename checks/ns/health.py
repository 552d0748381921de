"""Name-server health, judged from what the servers said (pure): do the parent and the zone name the
same servers (RFC 1034 4.2.2), does each answer for the zone (lame delegation, RFC 1912 2.8), do
they serve one version of it, is there glue where the parent needs it, are there two or more
servers in more than one network (RFC 2182), are the SOA timers and the negative TTL sane (RFC 1912
2.2, RFC 2308 5), and does any also resolve for anyone (RFC 5358)?
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from checks.model import Finding, Status
from checks.net.direct import Delivery, Reply, Soa
from checks.ns.discovery import Asked, Delegation, Found, NameServer, Zone

_WEEK = 7 * 86400
_DAY = 86400
_NEGATIVE_TTL_MAX = 3 * 3600  # RFC 2308 5: "one to three hours"; BIND caps at 3 h
_SERIAL_HALF = 2**31  # RFC 1982 serial arithmetic over 32 bits


class Standing(enum.StrEnum):
    """How one address of a server answered the SOA question about the zone."""

    AUTHORITATIVE = "authoritative"
    LAME = "lame"  # answered, but not for the zone: refused, failed, referred, or no AA bit
    SILENT = "silent"  # no answer at all
    UNTESTED = "untested"  # not asked (address policy) or not reachable from here


def standing(reply: Reply) -> Standing:
    if reply.delivery in (Delivery.NOT_ASKED, Delivery.UNREACHABLE):
        return Standing.UNTESTED
    if not reply.responded:
        return Standing.SILENT
    if reply.authoritative and reply.rcode == "NOERROR" and reply.soa_record() is not None:
        return Standing.AUTHORITATIVE
    return Standing.LAME


def newer(a: int, b: int) -> bool:
    """RFC 1982 3.2: is serial `a` newer than serial `b`?"""
    return a != b and ((a > b and a - b < _SERIAL_HALF) or (a < b and b - a > _SERIAL_HALF))


def newest(serials: Sequence[int]) -> int:
    """The serial no other is newer than (the largest, when RFC 1982 leaves it undefined)."""
    ahead = [s for s in serials if not any(newer(o, s) for o in serials)]
    return max(ahead or serials)


@dataclass(frozen=True, slots=True)
class _Seen:
    """The SOA answers, read once: each address's standing and the authoritative SOAs."""

    asked: tuple[Asked, ...]

    def where(self, *kinds: Standing) -> list[Asked]:
        return [a for a in self.asked if standing(a.reply) in kinds]

    def soas(self) -> list[tuple[Asked, Soa]]:
        return [
            (a, soa)
            for a in self.where(Standing.AUTHORITATIVE)
            if (soa := a.reply.soa_record()) is not None
        ]

    def newest_soa(self) -> Soa | None:
        soas = [soa for _, soa in self.soas()]
        if not soas:
            return None
        top = newest([s.serial for s in soas])
        return next(s for s in soas if s.serial == top)


def judge(zone: Zone, soas: Sequence[Asked], recursion: Sequence[Asked] = ()) -> list[Finding]:
    """The findings of the `ns` check for `zone`, given every address's SOA answer (and its answer
    to a recursive question, for open recursion)."""
    if zone.found is not Found.ZONE:
        return [_not_found(zone)]
    seen = _Seen(tuple(soas))
    reached = _reachability(zone, seen)
    findings = [
        *reached,
        *_delegation(zone),
        *_serials(zone, seen),
        *_resilience(zone),
        *_timers(zone, seen.newest_soa()),
        *_open_recursion(recursion),
    ]
    if seen.where(Standing.AUTHORITATIVE):
        findings.append(_ok(zone, seen))
    return findings


def label(asked: Asked) -> str:
    return f"{asked.server} ({asked.address})"


# ---- nothing to judge ---------------------------------------------------------------------------
def _not_found(zone: Zone) -> Finding:
    if zone.found is Found.FAILED:
        return Finding(
            "ns.lookup_failed",
            Status.ERROR,
            f"Could not find the name servers of {zone.domain}: {zone.detail}.",
            fix="Check that the domain's name servers answer; then run the check again.",
        )
    return Finding("ns.not_found", Status.SKIP, f"No name servers to check: {zone.detail}.")


# ---- does each server answer for the zone? ------------------------------------------------------
def _reachability(zone: Zone, seen: _Seen) -> list[Finding]:
    authoritative = seen.where(Standing.AUTHORITATIVE)
    lame, silent = seen.where(Standing.LAME), seen.where(Standing.SILENT)
    if silent and not any(":" in a.address for a in (*authoritative, *lame)):
        # no IPv6 address answered at all: more likely this host's IPv6 than theirs
        silent = [a for a in silent if ":" not in a.address]
    untested = [a for a in seen.where(Standing.SILENT, Standing.UNTESTED) if a not in silent]
    not_asked = [_not_asked(a) for a in untested]
    nowhere = [_no_address(zone, s) for s in zone.servers if not s.addresses]
    if not authoritative and (lame or nowhere):
        failing = [f"{label(a)}: {a.reply.describe()}" for a in (*lame, *silent)]
        failing += [f"{s.name}: no address" for s in zone.servers if not s.addresses]
        lame_ones = [_lame(zone, a) for a in lame]
        return [_all_lame(zone, failing), *lame_ones, *nowhere, *not_asked]
    if not authoritative:
        return [_unreachable(zone, silent), *not_asked] if silent else not_asked
    return [
        *(_lame(zone, a) for a in lame),
        *(_unresponsive(zone, a) for a in silent),
        *nowhere,
        *not_asked,
    ]


def _all_lame(zone: Zone, failing: Sequence[str]) -> Finding:
    return Finding(
        "ns.all_lame",
        Status.FAIL,
        f"No name server of {zone.apex} answers for the zone (a lame delegation): resolvers "
        f"cannot look up any name in it, so mail to and from {zone.domain} fails.",
        fix=f"Make at least one of the servers serve {zone.apex} again (check its configuration "
        "for the zone), or delegate the zone, at the registrar, to servers that do.",
        evidence=tuple(failing),
    )


def _lame(zone: Zone, asked: Asked) -> Finding:
    return Finding(
        "ns.lame",
        Status.FAIL,
        f"{label(asked)} is named as a name server of {zone.apex} but does not answer for it "
        f"({asked.reply.describe()}): a lame delegation, so resolvers that ask it lose time or "
        "fail.",
        fix=f"Make {asked.server} serve {zone.apex} (as a secondary of the primary), or remove "
        "it from the zone's NS records and from the delegation at the registrar.",
        evidence=(_named_by(zone, asked.server),),
    )


def _unresponsive(zone: Zone, asked: Asked) -> Finding:
    return Finding(
        "ns.unresponsive",
        Status.FAIL,
        f"{label(asked)}, a name server of {zone.apex}, does not answer at all "
        f"({asked.reply.describe()}) while the others do: resolvers wait for it, then try them.",
        fix="Bring it back, or remove it from the zone's NS records and from the delegation at "
        "the registrar.",
        evidence=(_named_by(zone, asked.server),),
    )


def _no_address(zone: Zone, server: NameServer) -> Finding:
    why = (
        f"looking it up failed: {server.lookup}" if server.lookup else "it has no A or AAAA record"
    )
    return Finding(
        "ns.no_address",
        Status.FAIL,
        f"{server.name}, a name server of {zone.apex}, has no address ({why}), so resolvers "
        "cannot ask it.",
        fix=f"Publish the address of {server.name}, or remove it from the zone's NS records and "
        "from the delegation at the registrar.",
        evidence=(_named_by(zone, server.name),),
    )


def _unreachable(zone: Zone, silent: Sequence[Asked]) -> Finding:
    """Not a verdict on the zone: resolvers that reach its servers would fail too, and the MX
    lookup would say so; more likely mxbot's network lets only its resolvers out."""
    return Finding(
        "ns.unreachable",
        Status.INFO,
        f"Not checked: none of the name servers of {zone.apex} answered mxbot's direct "
        "questions, so something between mxbot and them drops DNS (a firewall that lets only "
        "resolvers out), or they are all down.",
        fix=f"Ask them from another network (dig @SERVER {zone.apex} SOA); if they answer there, "
        "the block is on mxbot's side.",
        evidence=tuple(f"{label(a)}: {a.reply.describe()}" for a in silent),
    )


def _not_asked(asked: Asked) -> Finding:
    why = asked.reply.describe()
    if ":" in asked.address and not asked.reply.responded:
        why += "; no IPv6 address of the zone answered, so this host's IPv6 is the likelier cause"
    return Finding("ns.not_asked", Status.INFO, f"{label(asked)} was not checked: {why}.")


def _named_by(zone: Zone, name: str) -> str:
    server = next((s for s in zone.servers if s.name == name), None)
    if server is None:
        return ""
    parent = zone.delegation.parent if zone.delegation is not None else "the parent"
    places = [
        p
        for p, yes in ((f"the parent ({parent})", server.in_parent), ("the zone", server.in_zone))
        if yes
    ]
    return f"{name} is named by {' and '.join(places)}"


# ---- the parent's delegation against the zone's own NS set --------------------------------------
def _delegation(zone: Zone) -> list[Finding]:
    delegation = zone.delegation
    if delegation is None:
        return []
    if delegation.reply is None:
        why = (
            f"none of its servers answered ({delegation.tried[-1].describe()})"
            if delegation.tried
            else "its servers could not be found"
        )
        return [
            Finding(
                "ns.parent_not_checked",
                Status.INFO,
                f"The delegation of {zone.apex} in its parent zone ({delegation.parent}) was not "
                f"checked: {why}.",
            )
        ]
    if delegation.denied:
        return [_not_delegated(zone, delegation.parent, delegation.reply)]
    glue = _glue(zone) if delegation.reply.is_referral else []
    return [*_mismatch(zone, delegation), *glue]


def _not_delegated(zone: Zone, parent: str, reply: Reply) -> Finding:
    said = "NXDOMAIN" if reply.nxdomain else "no NS records"
    return Finding(
        "ns.not_delegated",
        Status.FAIL,
        f"The parent zone ({parent}) does not delegate {zone.apex}: its server {reply.server.host} "
        f"answers {said} for it, so resolvers stop finding the zone as their caches expire.",
        fix=f"Restore the delegation of {zone.apex} (its NS records) at the registrar.",
    )


def _mismatch(zone: Zone, delegation: Delegation) -> list[Finding]:
    parent, own = set(delegation.names), set(zone.zone_names)
    if parent == own or (zone.zone_ns is not None and zone.zone_ns.failed):
        return []
    listed = ", ".join(sorted(own)) if own else "none"
    return [
        Finding(
            "ns.delegation_mismatch",
            Status.WARN,
            f"The parent zone ({delegation.parent}) delegates {zone.apex} to "
            f"{', '.join(sorted(parent))}, but the zone itself lists {listed}: resolvers use one "
            "set or the other, so a server missing from one is asked less, or after it was "
            "retired (RFC 1034 4.2.2: the two should match).",
            fix="Make the NS records in the zone and the delegation at the registrar list the "
            "same servers.",
            evidence=(
                f"only in the parent: {', '.join(sorted(parent - own)) or '-'}",
                f"only in the zone: {', '.join(sorted(own - parent)) or '-'}",
            ),
        )
    ]


def _glue(zone: Zone) -> list[Finding]:
    """Judged on a real referral only: a server that serves the parent and the zone alike answers
    with authority, and need not add addresses."""
    findings = []
    for server in zone.servers:
        if not server.in_parent or not server.in_bailiwick(zone.apex):
            continue  # out of bailiwick: resolvers look its address up themselves
        if not server.glue:
            findings.append(_glue_missing(zone, server))
        elif server.resolved and set(server.glue) - set(server.resolved):
            # an address the server no longer has; glue for fewer of its addresses is fine
            findings.append(_glue_mismatch(zone, server))
    return findings


def _glue_missing(zone: Zone, server: NameServer) -> Finding:
    known = f" ({', '.join(server.resolved)})" if server.resolved else ""
    return Finding(
        "ns.glue_missing",
        Status.FAIL,
        f"The parent zone delegates {zone.apex} to {server.name}, a name inside the zone itself, "
        "but gives no address for it (glue): resolvers cannot reach that server, since finding "
        "its address needs the zone it serves.",
        fix=f"Register the address of {server.name}{known} at the registrar (a glue, or host, "
        "record).",
    )


def _glue_mismatch(zone: Zone, server: NameServer) -> Finding:
    return Finding(
        "ns.glue_mismatch",
        Status.WARN,
        f"The parent zone's glue for {server.name} says {', '.join(server.glue)}, but its own "
        f"address records say {', '.join(server.resolved)}: resolvers that follow the delegation "
        "ask the glue address.",
        fix=f"Update the glue for {server.name} at the registrar to match its address records.",
    )


# ---- one version of the zone --------------------------------------------------------------------
def _serials(zone: Zone, seen: _Seen) -> list[Finding]:
    soas = seen.soas()
    serials = sorted({soa.serial for _, soa in soas})
    if len(serials) < 2:
        return []
    top = newest(serials)
    behind = [(a, soa) for a, soa in soas if soa.serial != top]
    ahead = [a for a, soa in soas if soa.serial == top]
    stale = "; ".join(f"{label(a)} serves serial {soa.serial}" for a, soa in behind)
    refresh = next(soa.refresh for _, soa in soas if soa.serial == top)
    return [
        Finding(
            "ns.serial_mismatch",
            Status.WARN,
            f"The name servers of {zone.apex} serve different versions of the zone: {stale}, "
            f"the others ({', '.join(label(a) for a in ahead)}) serial {top}; until they catch "
            "up, resolvers that ask them get the old records.",
            fix="Check zone transfers from the primary to the servers behind (NOTIFY, "
            "allow-transfer, the serial's increase); they should catch up within the zone's "
            f"refresh interval ({refresh} s).",
            evidence=tuple(f"{label(a)}: serial {soa.serial}" for a, soa in soas),
        )
    ]


# ---- two or more servers, in more than one network (RFC 2182) ---------------------------------
def _resilience(zone: Zone) -> list[Finding]:
    if len(zone.servers) == 1:
        only = zone.servers[0].name
        return [
            Finding(
                "ns.single",
                Status.WARN,
                f"{zone.apex} has only one name server ({only}): when it is down or unreachable, "
                "so is every name in the zone, mail routing included (RFC 1034 4.1 and RFC 2182 "
                "5 ask for at least two).",
                fix="Add a second name server on another network, to the zone's NS records and "
                "to the delegation at the registrar.",
            )
        ]
    networks = {network(address) for _, address in zone.addresses}
    if len(networks) != 1:
        return []
    return [
        Finding(
            "ns.same_network",
            Status.WARN,
            f"All name servers of {zone.apex} are in one network ({networks.pop()}): one outage "
            "or one routing problem takes all of them away (RFC 2182 3.1).",
            fix="Add a name server in another network (another provider's secondary service, say).",
            evidence=tuple(f"{server} {address}" for server, address in zone.addresses),
        )
    ]


def network(address: str) -> str:
    """The /24 (IPv4) or /48 (IPv6) an address is in: RFC 2182's unit of "the same network"."""
    ip = ipaddress.ip_address(address)
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


# ---- SOA timers (RFC 1912 2.2) and the negative TTL (RFC 2308 5) -------------------------------
def _timers(zone: Zone, soa: Soa | None) -> list[Finding]:
    if soa is None:
        return []
    findings = []
    odd = _odd_timers(soa)
    if odd:
        findings.append(
            Finding(
                "ns.soa_timers",
                Status.WARN,
                f"The SOA timers of {zone.apex} are unusual: {'; '.join(odd)} (RFC 1912 2.2).",
                fix="Use a refresh of hours (not days), a retry shorter than the refresh, and an "
                "expire of two to four weeks.",
                evidence=(_soa_text(soa),),
            )
        )
    if soa.negative_ttl > _NEGATIVE_TTL_MAX:
        findings.append(_negative_ttl(zone, soa))
    return findings


def _odd_timers(soa: Soa) -> list[str]:
    odd = []
    if soa.refresh > _DAY:
        odd.append(f"refresh {soa.refresh} s: secondaries without NOTIFY see changes days late")
    if soa.retry >= soa.refresh:
        odd.append(f"retry {soa.retry} s is not shorter than refresh {soa.refresh} s")
    if soa.expire <= soa.refresh + soa.retry:
        odd.append(f"expire {soa.expire} s is not longer than refresh and retry together")
    elif soa.expire < _WEEK:
        odd.append(
            f"expire {soa.expire} s: secondaries stop answering less than a week after they lose "
            "the primary"
        )
    return odd


def _negative_ttl(zone: Zone, soa: Soa) -> Finding:
    return Finding(
        "ns.negative_ttl_long",
        Status.WARN,
        f"{zone.apex} tells resolvers to remember that a name does not exist for "
        f"{soa.negative_ttl} s (the lesser of its SOA TTL and MINIMUM, RFC 2308 5): a record "
        "added now stays invisible that long to resolvers that looked for it before.",
        fix="Lower the SOA MINIMUM (its last field) to 3600 or less; RFC 2308 5 suggests one to "
        "three hours.",
        evidence=(_soa_text(soa),),
    )


def _soa_text(soa: Soa) -> str:
    return (
        f"{soa.zone} SOA serial {soa.serial} refresh {soa.refresh} retry {soa.retry} "
        f"expire {soa.expire} minimum {soa.minimum} (TTL {soa.ttl})"
    )


# ---- open recursion (RFC 5358) ------------------------------------------------------------------
def _open_recursion(recursion: Sequence[Asked]) -> list[Finding]:
    return [
        Finding(
            "ns.open_recursion",
            Status.INFO,
            f"{label(a)} also resolves names for anyone (open recursion): it answered a recursive "
            "question about the root zone. Open resolvers are used in amplification attacks "
            "(RFC 5358).",
            fix="Turn recursion off on authoritative servers, or allow it only for your own "
            "networks.",
        )
        for a in recursion
        if a.reply.recursion_available and a.reply.rcode == "NOERROR" and a.reply.records
    ]


# ---- all well -----------------------------------------------------------------------------------
def _ok(zone: Zone, seen: _Seen) -> Finding:
    serials = sorted({soa.serial for _, soa in seen.soas()})
    count = len(zone.servers)
    names = ", ".join(s.name for s in zone.servers)
    version = (
        f"serial {serials[0]}" if len(serials) == 1 else "serials " + ", ".join(map(str, serials))
    )
    parent = ""
    if zone.delegation is not None and zone.delegation.delegates:
        parent = f"; its parent zone ({zone.delegation.parent}) delegates it"
    return Finding(
        "ns.ok",
        Status.PASS,
        f"{zone.apex} has {count} name server{'s' if count != 1 else ''} ({names}), "
        f"answering with {version}{parent}.",
        evidence=tuple(f"{label(a)}: {_evidence(a.reply)}" for a in seen.asked),
    )


def _evidence(reply: Reply) -> str:
    soa = reply.soa_record()
    if standing(reply) is Standing.AUTHORITATIVE and soa is not None:
        return f"serial {soa.serial}" + (" (over TCP)" if reply.tcp else "")
    return reply.describe()
