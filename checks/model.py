"""The result model every check, renderer and digest speaks: statuses, findings, results, reports."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

# What kind of target a check applies to (a check module's SCOPE).
DOMAIN: frozenset[str] = frozenset({"domain"})
ADDRESS: frozenset[str] = frozenset({"address"})
DOMAIN_AND_ADDRESS: frozenset[str] = DOMAIN | ADDRESS


class Status(enum.StrEnum):
    """How a finding should make the reader feel, least alarming first."""

    SKIP = "skip"
    PASS = "pass"  # noqa: S105 -- a status, not a password
    INFO = "info"
    WARN = "warn"
    ERROR = "error"  # we could not tell (timeout, SERVFAIL, a bug)
    FAIL = "fail"  # a definite problem: it leads every summary

    @property
    def severity(self) -> int:
        # Declaration order is the ranking; change it here and nowhere else.
        return _ORDER[self]

    @staticmethod
    def worst(statuses: Iterable[Status]) -> Status:
        """The most alarming of `statuses`; PASS when there are none."""
        return max(statuses, key=lambda s: s.severity, default=Status.PASS)


_ORDER = {status: rank for rank, status in enumerate(Status)}


@dataclass(frozen=True, slots=True)
class Record:
    """A ready-to-paste DNS record: what the fix asks the admin to publish."""

    name: str  # fully qualified, with the trailing dot
    type: str
    value: str  # presentation format, TXT values already quoted
    ttl: int = 3600

    @property
    def zone_line(self) -> str:
        return f"{self.name} {self.ttl} IN {self.type} {self.value}"


@dataclass(frozen=True, slots=True)
class Fact:
    """A value a check measured, kept for machines (the Prometheus probe, record history) beside
    the prose: a number (`value`), or a record as published (`text`, whose `value` is 0).

    Renderers never show facts; people read the message. `name` is in `FACTS` or `TEXT_FACTS`; `subject` says
    what was measured when a check measures several things (a mail host, a blocklist zone, a DKIM
    selector), as the check saw it: remote text, so whoever makes a label of it validates it
    first. A text fact with `text` "" says the record is definitely not published.
    """

    name: str
    value: float
    subject: str = ""
    text: str = ""


# The closed list of fact names, and what each measures. A fact that could not be measured is
# left out (absent means unknown, never zero).
FACTS: Mapping[str, str] = {
    "mx.hosts": "MX records the domain publishes (0 for none, a null MX or no such domain)",
    "spf.lookups": "DNS lookups the SPF record costs a receiver, includes and redirects counted",
    "tls.not_after": "the notAfter of the certificate a mail host presented, in Unix seconds; "
    "subject: the host",
    "dnsbl.listed": "mail addresses of the target the blocklist lists (policy listings such as "
    "the Spamhaus PBL not counted); subject: the blocklist zone",
}

# Text facts: the records a domain publishes, as each run saw them (record history). Each is
# measured only when the look-up answered; "" means nothing is published.
TEXT_FACTS: Mapping[str, str] = {
    "mx.set": "the MX set, one 'preference host' per line, sorted",
    "spf.record": "the SPF record (several: one per line, sorted)",
    "dmarc.record": "the DMARC record receivers use; subject: where it was found (_dmarc.…)",
    "dkim.key": "a DKIM key record found; subject: its selector",
    "mta_sts.id": "the id of the _mta-sts TXT record",
    "mta_sts.policy": "the MTA-STS policy served: mode, max_age and mx lines",
    "tls_rpt.record": "the TLS-RPT record at _smtp._tls (several: one per line, sorted)",
    "dane.tlsa": "the TLSA records of a mail host, one per line, sorted; subject: _25._tcp.<host>",
    "tls.fingerprint": "the SHA-256 fingerprint of the certificate a mail host presented; "
    "subject: the host",
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One observation, and what to do about it."""

    code: str  # stable, dotted: "dmarc.policy_none"; tests and digests key on it
    status: Status
    message: str  # one plain-text sentence, no markup
    fix: str = ""  # imperative: "Publish ...", "Remove ..."
    record: Record | None = None  # ready-to-paste record, when there is one
    evidence: tuple[str, ...] = ()  # raw remote data; untrusted, renderers escape it
    because: str = ""  # set by the diagnosis: the code of the root cause this finding only repeats
    facts: tuple[Fact, ...] = ()  # numbers measured on the way, for machines; never rendered


def with_facts(findings: Sequence[Finding], facts: Iterable[Fact]) -> list[Finding]:
    """`findings` with `facts` added to the first one. A check's facts belong to the check (see
    `CheckResult.facts`), so the finding that carries them does not matter; the first one always
    exists when a check measured something."""
    out = list(findings)
    extra = tuple(facts)
    if out and extra:
        out[0] = replace(out[0], facts=(*out[0].facts, *extra))
    return out


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What one check concluded, and how long it took."""

    id: str
    title: str
    findings: tuple[Finding, ...]
    duration_ms: int

    @property
    def status(self) -> Status:
        return Status.worst(f.status for f in self.findings) if self.findings else Status.SKIP

    @property
    def facts(self) -> tuple[Fact, ...]:
        """What the check measured, over all its findings (`Fact`)."""
        return tuple(fact for f in self.findings for fact in f.facts)

    @property
    def headline(self) -> Finding | None:
        """The finding that explains the check's status (the first of the worst)."""
        status = self.status
        return next((f for f in self.findings if f.status is status), None)


@dataclass(frozen=True, slots=True)
class Cause:
    """Where the root cause of a report's trouble was found: a check and one of its findings."""

    check: str  # check id: "mx"
    code: str  # finding code: "mx.nxdomain"


@dataclass(frozen=True, slots=True)
class Report:
    """All results for one target, in display order."""

    domain: str
    results: tuple[CheckResult, ...]
    duration_ms: int
    display_name: str = ""  # the Unicode form of an IDN, when it differs
    resolvers: tuple[str, ...] = field(default=())
    headline: str = ""  # the most likely root cause in one sentence, once diagnosed
    cause: Cause | None = None  # where that cause was found; None when nothing is wrong

    @property
    def status(self) -> Status:
        return Status.worst(r.status for r in self.results)
