"""SPF evaluation (RFC 7208 4-6): check_host() on the project's DnsClient, with a full trace.

The evaluation is sequential by design: terms are tried left to right and the first match wins,
so looking ahead would spend DNS queries (and the 10-lookup budget) the RFC does not allow.
"""

from __future__ import annotations

import enum
import ipaddress
import time
from dataclasses import dataclass, field

from checks.net.dns import Answer, DnsClient, Outcome
from checks.spf.parse import (
    MacroValues,
    Mechanism,
    SpfRecord,
    SpfSyntaxError,
    expand,
    expand_domain,
    is_spf,
    parse,
    uses_validated_name,
)

MAX_LOOKUPS = (
    10  # RFC 7208 4.6.4: DNS-querying terms per check_host() (include/a/mx/ptr/exists/redirect)
)
MAX_VOID_LOOKUPS = 2  # RFC 7208 4.6.4: terms whose lookup gave NXDOMAIN or no records
MAX_NAMES = 10  # RFC 7208 4.6.4: MX names per mx, PTR names per ptr (and %{p})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Result(enum.StrEnum):
    """RFC 7208 2.6."""

    NONE = "none"
    NEUTRAL = "neutral"
    PASS = "pass"  # noqa: S105 -- an SPF result, not a password
    FAIL = "fail"
    SOFTFAIL = "softfail"
    TEMPERROR = "temperror"
    PERMERROR = "permerror"


@dataclass(frozen=True, slots=True)
class TraceEntry:
    """One step of the evaluation: a record fetched, a term tried, a DNS lookup, a verdict."""

    depth: int  # 0 for the domain asked about, +1 inside each include/redirect
    kind: str  # "check", "record", "term", "lookup", "redirect", "explanation", "result", "error"
    text: str  # one readable line
    name: str = ""  # lookups: the name asked
    rdtype: str = ""  # lookups: the type asked
    outcome: str = ""  # lookups: answer/nxdomain/nodata/servfail/timeout; terms: match/no match


@dataclass(frozen=True, slots=True)
class SpfResult:
    result: Result
    domain: str
    ip: str
    explanation: str | None = None  # from exp= (6.2), only for fail
    mechanism: str | None = None  # the top-level term that decided, if any
    reason: str = ""
    trace: tuple[TraceEntry, ...] = ()
    lookups: int = 0  # DNS-querying terms evaluated
    void_lookups: int = 0


class _Stop(Exception):  # internal control flow, never leaves this module
    """temperror or permerror: RFC 7208 says evaluation ends at once, at every depth."""

    def __init__(self, result: Result, reason: str) -> None:
        super().__init__(reason)
        self.result = result
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _Verdict:
    result: Result
    mechanism: str | None = None
    reason: str = ""
    explanation: str | None = None


def identity(mailfrom: str, helo: str) -> tuple[str, str]:
    """(domain, sender) to check (RFC 7208 2.4, 4.3): MAIL FROM, or postmaster@HELO when null."""
    mailfrom = mailfrom.strip().strip("<>")
    if not mailfrom:
        return helo, f"postmaster@{helo}"
    local, at, domain = mailfrom.rpartition("@")
    if not at:
        return mailfrom, f"postmaster@{mailfrom}"
    return domain, f"{local or 'postmaster'}@{domain}"


def parse_ip(text: str) -> IPAddress:
    """The client address; an IPv4-mapped IPv6 address is IPv4 (RFC 7208 5, 4.6.4). ValueError if bad."""
    ip = ipaddress.ip_address(text.strip().strip("[]"))
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


async def check_host(
    dns: DnsClient,
    ip: str | IPAddress,
    domain: str,
    sender: str,
    helo: str = "",
    *,
    receiver: str = "unknown",
    now: int | None = None,
) -> SpfResult:
    """Evaluate the SPF policy of `domain` for a message from `ip` (RFC 7208 4)."""
    address = parse_ip(str(ip))
    local, _, sender_domain = sender.rpartition("@")
    evaluation = _Evaluation(
        dns,
        address,
        sender,
        local or "postmaster",
        sender_domain or domain,
        helo,
        receiver,
        int(time.time()) if now is None else now,
    )
    domain = domain.strip()
    try:
        verdict = await evaluation.check(domain, 0, want_exp=True)
    except _Stop as stop:
        verdict = _Verdict(stop.result, reason=stop.reason)
        evaluation.note(0, "error", f"{stop.result.value}: {stop.reason}")
    evaluation.note(0, "result", f"{verdict.result.value}: {verdict.reason}".rstrip(": "))
    return SpfResult(
        result=verdict.result,
        domain=domain,
        ip=str(address),
        explanation=verdict.explanation,
        mechanism=verdict.mechanism,
        reason=verdict.reason,
        trace=tuple(evaluation.trace),
        lookups=evaluation.lookups,
        void_lookups=evaluation.voids,
    )


def valid_domain(name: str) -> bool:
    """RFC 7208 4.3: a multi-label name with no empty or over-long label (else the result is none)."""
    if name.endswith("."):
        name = name[:-1]
    if not name or len(name) > 253 or name.startswith("["):
        return False
    labels = name.split(".")
    if len(labels) < 2:
        return False
    return all(0 < len(label) <= 63 for label in labels) and all(
        "\x21" <= c <= "\x7e" for c in name
    )


@dataclass
class _Evaluation:
    dns: DnsClient
    ip: IPAddress
    sender: str
    local: str
    sender_domain: str
    helo: str
    receiver: str
    now: int
    lookups: int = 0
    voids: int = 0
    trace: list[TraceEntry] = field(default_factory=list)

    def note(self, depth: int, kind: str, text: str, outcome: str = "") -> None:
        self.trace.append(TraceEntry(depth, kind, text, outcome=outcome))

    # ---- records ------------------------------------------------------------------------------
    async def check(self, domain: str, depth: int, *, want_exp: bool) -> _Verdict:
        """One check_host() call (RFC 7208 4.3-4.7); raises _Stop for temperror/permerror."""
        self.note(depth, "check", f"check_host({self.ip}, {domain})")
        if not valid_domain(domain):
            return _Verdict(Result.NONE, reason=f"{domain!r} is not a valid domain name (4.3)")
        record = await self.record(domain, depth)
        if record is None:
            return _Verdict(Result.NONE, reason=f"{domain} publishes no SPF record")
        for mech in record.mechanisms:
            if mech.queries_dns:
                self.count(depth, mech.text)
            matched = await self.match(mech, domain, depth)
            self.note(
                depth,
                "term",
                f"{mech.text}: {'match' if matched else 'no match'}",
                "match" if matched else "no match",
            )
            if matched:
                result = Result(mech.result)
                explanation = None
                if result is Result.FAIL and want_exp:
                    explanation = await self.explain(record, domain, depth)
                return _Verdict(result, mech.text, f"{domain}: {mech.text} matched", explanation)
        if record.redirect is not None and not record.has_all:  # 6.1: ignored when "all" exists
            return await self.redirect(record.redirect, domain, depth, want_exp=want_exp)
        return _Verdict(Result.NEUTRAL, reason=f"{domain}: no term matched (default neutral, 4.7)")

    async def record(self, domain: str, depth: int) -> SpfRecord | None:
        answer = await self.lookup(domain, "TXT", depth)
        if answer.failed:
            raise _Stop(Result.TEMPERROR, f"the TXT lookup of {domain} failed: {answer.describe()}")
        texts = [t for t in answer.texts() if is_spf(t)] if answer.ok else []
        if not texts:
            return None
        if len(texts) > 1:  # 4.5
            raise _Stop(Result.PERMERROR, f"{domain} has {len(texts)} SPF records")
        self.note(depth, "record", f"{domain}: {texts[0]}")
        try:
            return parse(texts[0])
        except SpfSyntaxError as exc:
            raise _Stop(Result.PERMERROR, f"{domain}: syntax error: {exc}") from None

    async def redirect(self, spec: str, domain: str, depth: int, *, want_exp: bool) -> _Verdict:
        self.count(depth, f"redirect={spec}")
        target = await self.expand_domain(spec, domain, depth)
        self.note(depth, "redirect", f"redirect={spec} -> {target}")
        inner = await self.check(target, depth + 1, want_exp=want_exp)
        if inner.result is Result.NONE:  # 6.1
            raise _Stop(Result.PERMERROR, f"redirect target {target} has no SPF record")
        return _Verdict(inner.result, inner.mechanism, inner.reason, inner.explanation)

    # ---- limits -------------------------------------------------------------------------------
    def count(self, depth: int, term: str) -> None:
        self.lookups += 1
        if self.lookups > MAX_LOOKUPS:
            raise _Stop(
                Result.PERMERROR,
                f"{term} would be DNS-querying term number {self.lookups}; the limit is {MAX_LOOKUPS} (4.6.4)",
            )

    def void(self, depth: int, term: str) -> None:
        self.voids += 1
        self.note(depth, "term", f"{term}: void lookup {self.voids}")
        if self.voids > MAX_VOID_LOOKUPS:
            raise _Stop(
                Result.PERMERROR,
                f"{term} is void lookup number {self.voids}; the limit is {MAX_VOID_LOOKUPS} (4.6.4)",
            )

    # ---- DNS ----------------------------------------------------------------------------------
    async def lookup(self, name: str, rdtype: str, depth: int) -> Answer:
        answer = await self.dns.query(name, rdtype)
        self.trace.append(
            TraceEntry(
                depth, "lookup", _describe(name, rdtype, answer), name, rdtype, answer.outcome.value
            )
        )
        return answer

    async def addresses(self, name: str, depth: int, term: str) -> Answer:
        """A or AAAA, by the client's family; a DNS error ends the evaluation (RFC 7208 5)."""
        answer = await self.lookup(name, "A" if self.ip.version == 4 else "AAAA", depth)
        if answer.failed:
            raise _Stop(
                Result.TEMPERROR, f"{term}: the lookup of {name} failed: {answer.describe()}"
            )
        return answer

    # ---- macros -------------------------------------------------------------------------------
    async def values(self, domain: str, text: str, depth: int, *, exp: bool = False) -> MacroValues:
        validated = "unknown"
        if uses_validated_name(text, exp=exp):
            validated = await self.validated_name(domain, depth)
        return MacroValues(
            sender=self.sender,
            local=self.local,
            sender_domain=self.sender_domain,
            domain=domain,
            ip=self.ip,
            helo=self.helo,
            receiver=self.receiver,
            now=self.now,
            validated=validated,
        )

    async def expand_domain(self, spec: str, domain: str, depth: int) -> str:
        return expand_domain(spec, await self.values(domain, spec, depth))

    async def validated_names(self, depth: int) -> list[str]:
        """RFC 7208 5.5: PTR names (first 10) whose A/AAAA include the client address."""
        ptr = await self.lookup(_reverse(self.ip), "PTR", depth)
        if not ptr.ok:
            return []
        names = [n for n in ptr.targets() if n][:MAX_NAMES]
        return [n for n in names if await self.confirms(n, depth)]

    async def confirms(self, name: str, depth: int) -> bool:
        answer = await self.lookup(name, "A" if self.ip.version == 4 else "AAAA", depth)
        return answer.ok and any(ipaddress.ip_address(a) == self.ip for a in answer.addresses())

    async def validated_name(self, domain: str, depth: int) -> str:
        """%{p} (7.3): a validated name in <domain> if any, else any validated name, else unknown."""
        names = await self.validated_names(depth)
        for name in names:
            if _within(name, domain):
                return name
        return names[0] if names else "unknown"

    # ---- mechanisms ---------------------------------------------------------------------------
    async def match(self, mech: Mechanism, domain: str, depth: int) -> bool:
        match mech.name:
            case "all":
                return True
            case "ip4" | "ip6":
                return self.in_network(mech)
            case "include":
                return await self.include(mech, domain, depth)
            case "a":
                target = await self.target(mech, domain, depth)
                answer = await self.addresses(target, depth, mech.text)
                if not answer.ok:
                    self.void(depth, mech.text)
                return self.any_in(answer.addresses(), mech)
            case "mx":
                return await self.mx(mech, domain, depth)
            case "ptr":
                return await self.ptr(mech, domain, depth)
            case _:  # "exists": always an A query (5.7)
                target = await self.target(mech, domain, depth)
                answer = await self.lookup(target, "A", depth)
                if answer.failed:
                    raise _Stop(Result.TEMPERROR, f"{mech.text}: the lookup of {target} failed")
                if not answer.ok:
                    self.void(depth, mech.text)
                return answer.ok

    async def target(self, mech: Mechanism, domain: str, depth: int) -> str:
        if mech.domain_spec is None:
            return domain
        return await self.expand_domain(mech.domain_spec, domain, depth)

    def in_network(self, mech: Mechanism) -> bool:
        version = 4 if mech.name == "ip4" else 6
        if self.ip.version != version or mech.network is None:
            return False
        cidr = mech.cidr4 if version == 4 else mech.cidr6
        prefix = 32 if version == 4 else 128
        network = ipaddress.ip_network(
            f"{mech.network}/{prefix if cidr is None else cidr}", strict=False
        )
        return self.ip in network

    def any_in(self, addresses: tuple[str, ...], mech: Mechanism) -> bool:
        cidr = mech.cidr4 if self.ip.version == 4 else mech.cidr6
        prefix = self.ip.max_prefixlen if cidr is None else cidr
        for text in addresses:
            network = ipaddress.ip_network(f"{text}/{prefix}", strict=False)
            if self.ip in network:
                return True
        return False

    async def include(self, mech: Mechanism, domain: str, depth: int) -> bool:
        target = await self.target(mech, domain, depth)
        inner = await self.check(target, depth + 1, want_exp=False)
        if inner.result is Result.NONE:  # 5.2: none becomes permerror
            raise _Stop(Result.PERMERROR, f"{mech.text}: {target} has no SPF record")
        return inner.result is Result.PASS

    async def mx(self, mech: Mechanism, domain: str, depth: int) -> bool:
        target = await self.target(mech, domain, depth)
        answer = await self.lookup(target, "MX", depth)
        if answer.failed:
            raise _Stop(Result.TEMPERROR, f"{mech.text}: the MX lookup of {target} failed")
        if not answer.ok:
            self.void(depth, mech.text)
            return False
        hosts = [h for h in answer.targets() if h and h != "."]
        if len(answer.rdata) > MAX_NAMES:  # 4.6.4: more than 10 MX names is a permerror
            raise _Stop(
                Result.PERMERROR,
                f"{mech.text}: {target} has {len(answer.rdata)} MX records; the limit is {MAX_NAMES}",
            )
        for host in hosts:
            found = await self.addresses(host, depth, mech.text)
            if self.any_in(found.addresses(), mech):
                return True
        return False

    async def ptr(self, mech: Mechanism, domain: str, depth: int) -> bool:
        target = await self.target(mech, domain, depth)
        ptr = await self.lookup(_reverse(self.ip), "PTR", depth)
        if ptr.outcome in (Outcome.NXDOMAIN, Outcome.NODATA):
            self.void(depth, mech.text)
        if not ptr.ok:  # 5.5: a DNS error here means no match, not temperror
            return False
        names = [n for n in ptr.targets() if n][:MAX_NAMES]
        for name in names:
            if _within(name, target) and await self.confirms(name, depth):
                return True
        return False

    # ---- explanation --------------------------------------------------------------------------
    async def explain(self, record: SpfRecord, domain: str, depth: int) -> str | None:
        """RFC 6.2: any problem with the exp= record means no explanation, never another result."""
        if record.exp is None:
            return None
        name = await self.expand_domain(record.exp, domain, depth)
        answer = await self.lookup(name, "TXT", depth)
        texts = answer.texts() if answer.ok else ()
        if len(texts) != 1:
            self.note(depth, "explanation", f"exp={record.exp}: no usable explanation at {name}")
            return None
        try:
            values = await self.values(domain, texts[0], depth, exp=True)
            text = expand(texts[0], values, exp=True)
        except SpfSyntaxError:
            self.note(depth, "explanation", f"exp={record.exp}: the explanation has a syntax error")
            return None
        self.note(depth, "explanation", text)
        return text


def _within(name: str, domain: str) -> bool:
    name, domain = name.lower().rstrip("."), domain.lower().rstrip(".")
    return name == domain or name.endswith("." + domain)


def _reverse(ip: IPAddress) -> str:
    return ip.reverse_pointer


def _describe(name: str, rdtype: str, answer: Answer) -> str:
    if not answer.ok:
        return f"{name} {rdtype}: {answer.describe()}"
    if rdtype == "TXT":
        values = [repr(t) for t in answer.texts()]
    elif rdtype in ("A", "AAAA"):
        values = list(answer.addresses())
    else:
        values = list(answer.targets())
    shown = ", ".join(values[:12]) + (f", … ({len(values)} in all)" if len(values) > 12 else "")
    via = f" (via CNAME {' -> '.join(answer.cnames)})" if answer.cnames else ""
    return f"{name} {rdtype}{via}: {shown}"
