"""What `mxbot live` found, as plain values the renderers read: for each record asked about, what
every name server and every resolver serves, and the verdict in one sentence."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Verdict(enum.StrEnum):
    """Worst last: a report's verdict is the worst of its records'."""

    LIVE = "live"  # every name server and every resolver give the new answer
    RESOLVERS_STALE = "resolvers_stale"  # the servers agree; some resolvers still cache the old
    SERVERS_DISAGREE = "servers_disagree"  # a name server serves another answer (stale, or not)
    UNKNOWN = "unknown"  # no name server answered for the zone: nothing to compare

    @property
    def rank(self) -> int:
        return list(Verdict).index(self)


class State(enum.StrEnum):
    """What one server (or resolver) gave for one record."""

    RECORDS = "records"  # the records (an alias counts as its CNAME)
    NONE = "none"  # no such record: NXDOMAIN, or no data of this type (of this kind)
    LAME = "lame"  # a name server that does not answer for the zone
    FAILED = "failed"  # no usable answer: a timeout, SERVFAIL
    UNTESTED = "untested"  # not asked (the address policy), or not reachable from here


@dataclass(frozen=True, slots=True)
class Wanted:
    """One record set to follow: `kind` narrows TXT to one kind of record ("SPF", "DMARC", …)."""

    name: str  # lower-case, no trailing dot
    rdtype: str
    kind: str = ""

    @property
    def label(self) -> str:
        """'example.com MX', 'example.com TXT (SPF)'."""
        return f"{self.name} {self.rdtype}" + (f" ({self.kind})" if self.kind else "")


@dataclass(frozen=True, slots=True)
class Seen:
    """What one name server address, or one resolver, serves for one record."""

    server: str  # the name server's name; for a resolver, its address
    address: str  # the address asked ("127.0.0.1:53" for a resolver)
    state: State
    answer: tuple[str, ...] = ()  # the records in presentation format, sorted
    ttl: int = 0  # seconds: the records' TTL (a resolver's: what remains in its cache), or how
    # long "no such record" is cached (the negative TTL, RFC 2308)
    serial: int | None = None  # the SOA serial a name server serves; None for a resolver
    detail: str = ""  # why, when there is no answer

    @property
    def who(self) -> str:
        return self.server if self.server == self.address else f"{self.server} ({self.address})"

    @property
    def answered(self) -> bool:
        return self.state in (State.RECORDS, State.NONE)

    def shows(self) -> str:
        """The answer in words: 'TXT "v=spf1 -all"', 'no record', 'REFUSED'."""
        if self.state is State.RECORDS:
            return " | ".join(self.answer)
        if self.state is State.NONE:
            return "no record"
        return self.detail or str(self.state)


@dataclass(frozen=True, slots=True)
class RecordLive:
    """One record's verdict, and what each server and resolver gave."""

    wanted: Wanted
    verdict: Verdict
    sentence: str  # the verdict in one sentence
    new: tuple[str, ...] | None = None  # the current answer (() for "no record"); None: unknown
    servers: tuple[Seen, ...] = ()
    resolvers: tuple[Seen, ...] = ()
    wait_s: int = 0  # resolvers_stale: the most seconds any of them keeps the old answer
    longest_ttl: int = 0  # the longest TTL seen, positive or negative: the most any cache waits

    @property
    def behind(self) -> tuple[Seen, ...]:
        """The servers and resolvers that answer, but not with the current answer."""
        return tuple(
            s
            for s in (*self.servers, *self.resolvers)
            if s.answered and self.new is not None and s.answer != self.new
        )


@dataclass(frozen=True, slots=True)
class LiveReport:
    """Is the change live? One verdict over every record asked about."""

    domain: str
    apex: str  # the zone the records live in ("" when it could not be found)
    records: tuple[RecordLive, ...]
    verdict: Verdict
    sentence: str
    serial: int | None = None  # the newest serial any name server serves
    duration_ms: int = 0

    @property
    def live(self) -> bool:
        return self.verdict is Verdict.LIVE

    @property
    def wait_s(self) -> int:
        return max((r.wait_s for r in self.records), default=0)

    @property
    def longest_ttl(self) -> int:
        return max((r.longest_ttl for r in self.records), default=0)
