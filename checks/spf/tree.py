"""SPF lookup tree (RFC 7208 4.6.4, 5.2, 6.1): what does a receiver meet when it follows every
include and redirect of <domain>'s record?

The walk is static: every term is counted as if it were evaluated, so the totals are the worst
case a receiver can meet, whatever the sending IP.
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
from dataclasses import dataclass

from checks.net.dns import Answer, DnsClient, Outcome
from checks.spf.evaluate import MAX_NAMES
from checks.spf.parse import (
    Macro,
    MacroValues,
    Mechanism,
    SpfRecord,
    SpfSyntaxError,
    expand_domain,
    is_spf,
    parse,
    tokens,
)

_MAX_NODES = 60  # records fetched while walking includes, so a hostile tree cannot run away
_ANY_IP = ipaddress.ip_address("192.0.2.1")  # macro values need one; %{d} never reads it


class Problem(enum.StrEnum):
    """Why a record in the tree could not be walked; shown in the tree lines as `[value]`."""

    NO_SPF = "no_spf"  # the name has no SPF record: permerror for include and redirect (5.2, 6.1)
    MULTIPLE = "multiple"  # more than one SPF record (4.5)
    SYNTAX = "syntax"  # an invalid record (4.6)
    LOOP = "loop"  # the name is already being evaluated higher up
    LOOKUP_FAILED = "lookup_failed"  # the TXT lookup timed out or failed
    DYNAMIC = "dynamic"  # the target depends on the message (a macro other than %{d})
    TRUNCATED = "truncated"  # the walk stopped after _MAX_NODES records


class Probe(enum.StrEnum):
    """What the lookup of one a, mx or exists term found, as far as the limits care."""

    UNREMARKABLE = "unremarkable"  # it found records, failed, or was not probed
    VOID = "void"  # NXDOMAIN or no records: counts against the void-lookup limit (4.6.4)
    TOO_MANY_MX = "too_many_mx"  # an MX set of more than MAX_NAMES names: permerror (4.6.4)


@dataclass(frozen=True, slots=True)
class Node:
    """One record in the include/redirect tree, with what was wrong with reaching it."""

    domain: str
    via: str  # the term that led here; "" at the top
    depth: int
    text: str | None = None
    own: int = 0  # DNS-querying terms in this record (RFC 7208 4.6.4)
    children: tuple[Node, ...] = ()
    voids: tuple[str, ...] = ()  # terms whose lookup found nothing
    problem: Problem | None = None
    detail: str = ""
    too_many_mx: tuple[str, ...] = ()
    plus_all: bool = False

    @property
    def total(self) -> int:
        return self.own + sum(c.total for c in self.children)

    @property
    def void_total(self) -> int:
        return len(self.voids) + sum(c.void_total for c in self.children)

    def walk(self) -> list[Node]:
        return [self, *(n for c in self.children for n in c.walk())]

    def lines(self) -> list[str]:
        label = f"{self.via} -> {self.domain}" if self.via else self.domain
        note = f" [{self.problem}]" if self.problem is not None else ""
        own = f" ({self.own} in the record itself)" if self.children else ""
        out = [
            f"{'  ' * self.depth}{label}: {self.total} lookup{'s' * (self.total != 1)}{own}{note}"
        ]
        return out + [line for c in self.children for line in c.lines()]


async def walk(dns: DnsClient, domain: str, answer: Answer) -> Node:
    """The tree under <domain>'s record, starting from the TXT answer already fetched."""
    return await _Walk(dns).node(domain, "", (), answer)


@dataclass(slots=True)
class _Walk:
    """One walk: counts the records fetched so that a hostile tree stays bounded."""

    dns: DnsClient
    fetched: int = 0

    async def node(
        self, domain: str, via: str, path: tuple[str, ...], answer: Answer | None = None
    ) -> Node:
        depth = len(path)
        key = domain.lower().rstrip(".")
        if key in path:
            return Node(domain, via, depth, problem=Problem.LOOP, detail=" -> ".join((*path, key)))
        self.fetched += 1
        if self.fetched > _MAX_NODES:
            return Node(domain, via, depth, problem=Problem.TRUNCATED)
        answer = answer or await self.dns.txt(domain)
        if answer.failed:
            return Node(domain, via, depth, problem=Problem.LOOKUP_FAILED, detail=answer.describe())
        texts = [t for t in answer.texts() if is_spf(t)] if answer.ok else []
        if not texts:
            return Node(domain, via, depth, problem=Problem.NO_SPF, detail=answer.describe())
        if len(texts) > 1:
            return Node(domain, via, depth, problem=Problem.MULTIPLE, detail=" | ".join(texts))
        try:
            record = parse(texts[0])
        except SpfSyntaxError as exc:
            return Node(domain, via, depth, texts[0], problem=Problem.SYNTAX, detail=str(exc))
        return await self.expand(domain, via, (*path, key), record)

    async def expand(self, domain: str, via: str, path: tuple[str, ...], record: SpfRecord) -> Node:
        follow = _followed(record)
        children = await asyncio.gather(*(self.child(term, spec, path) for term, spec in follow))
        probes = await asyncio.gather(*(self.probe(m, domain) for m in record.mechanisms))
        probed = list(zip(record.mechanisms, probes, strict=True))
        return Node(
            domain,
            via,
            len(path) - 1,
            record.text,
            own=_own_lookups(record),
            children=tuple(children),
            voids=tuple(m.text for m, p in probed if p is Probe.VOID),
            too_many_mx=tuple(m.text for m, p in probed if p is Probe.TOO_MANY_MX),
            plus_all=any(m.name == "all" and m.qualifier == "+" for m in record.mechanisms),
        )

    async def child(self, term: str, spec: str, path: tuple[str, ...]) -> Node:
        if "%" in spec:
            target = _static_target(spec, path[-1])
            if target is None:  # depends on the message: cannot be followed without one
                return Node(spec, term, len(path), problem=Problem.DYNAMIC, own=0)
            return await self.node(target, term, path)
        return await self.node(spec.rstrip("."), term, path)

    async def probe(self, mech: Mechanism, domain: str) -> Probe:
        """Look up an a, mx or exists term's target as a receiver would, for the limits."""
        if mech.name not in ("a", "mx", "exists"):
            return Probe.UNREMARKABLE
        spec = mech.domain_spec or domain
        target = _static_target(spec, domain) if "%" in spec else spec.rstrip(".")
        if target is None:
            return Probe.UNREMARKABLE
        if mech.name == "mx":
            answer = await self.dns.query(target, "MX")
            if answer.ok and len(answer.rdata) > MAX_NAMES:
                return Probe.TOO_MANY_MX
            return _void_if(_void(answer))
        if mech.name == "exists":
            return _void_if(_void(await self.dns.query(target, "A")))
        a, aaaa = await self.dns.addresses(target)
        return _void_if(_void(a) and _void(aaaa))


def _followed(record: SpfRecord) -> list[tuple[str, str]]:
    """(term, domain-spec) of every include, then the redirect when no all overrides it (6.1)."""
    follow = [
        (m.text, m.domain_spec) for m in record.mechanisms if m.name == "include" and m.domain_spec
    ]
    if record.redirect is not None and not record.has_all:
        follow.append((f"redirect={record.redirect}", record.redirect))
    return follow


def _static_target(spec: str, domain: str) -> str | None:
    """The target of a domain-spec whose only macro is %{d} (the domain whose record it is, known
    without a message, RFC 7208 7.3), or None when it depends on the message."""
    try:
        parts = tokens(spec)
    except SpfSyntaxError:  # pragma: no cover -- parse() validated the spec already
        return None
    if any(isinstance(t, Macro) and t.letter != "d" for t in parts):
        return None
    values = MacroValues(sender="", local="", sender_domain="", domain=domain, ip=_ANY_IP, helo="")
    return expand_domain(spec, values)


def _void(answer: Answer) -> bool:
    return answer.outcome in (Outcome.NXDOMAIN, Outcome.NODATA)


def _void_if(void: bool) -> Probe:
    return Probe.VOID if void else Probe.UNREMARKABLE


def _own_lookups(record: SpfRecord) -> int:
    count = sum(1 for m in record.mechanisms if m.queries_dns)
    return count + (1 if record.redirect is not None and not record.has_all else 0)
