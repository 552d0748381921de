"""What a message diagnosis concludes: hops, the bounce's delivery status, findings by area.

Plain frozen data, read by the renderers (`bot/render/message*.py`) and nothing else of the engine:
the message body is never part of it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from checks.model import Cause, CheckResult, Report, Status


class Kind(enum.StrEnum):
    """What was pasted: a whole message, its headers only, or a bounce."""

    MESSAGE = "message"
    HEADERS = "headers"
    BOUNCE = "bounce"


@dataclass(frozen=True, slots=True)
class Hop:
    """One Received header field (RFC 5321 4.4), oldest hop first once ordered."""

    index: int  # 1 = the first relay the message went through
    from_host: str  # the name the client gave (HELO) or the receiver's reverse lookup
    from_ip: str  # the connecting address, "" when the header names none
    by_host: str
    protocol: str  # "ESMTPS", "SMTP", "LMTP", … ("" when absent)
    tls: bool | None  # None: the header does not say
    when: datetime | None  # None: no readable date
    zone_missing: bool = False  # the date had no usable time-zone offset (read as UTC)
    delay_seconds: float | None = None  # since the previous hop; None for the first or unknown
    raw: str = ""  # the header's value, unfolded (untrusted: renderers escape it)


@dataclass(frozen=True, slots=True)
class DsnRecipient:
    """One recipient's delivery status (RFC 3464 2.3), or its plain-text equivalent."""

    recipient: str
    action: str  # failed, delayed, delivered, relayed, expanded
    status: str  # the RFC 3463 enhanced code, "5.7.26"; "" when the bounce gives none
    remote_mta: str = ""
    diagnostic: str = ""  # the remote server's reply, as given
    reply_code: str = ""  # the SMTP basic code, "550"


@dataclass(frozen=True, slots=True)
class Dsn:
    """A bounce, read: who reported it, in what style, and each recipient's status."""

    style: str  # "dsn", "postfix", "exim", "exchange", "gmail", "yahoo", "generic"
    reporting_mta: str
    recipients: tuple[DsnRecipient, ...]
    meaning: str  # what the first status code means (RFC 3463)
    permanent: bool  # 5.x.x: it will not be retried
    original_from: str = ""  # the returned message's From domain, when it came back with it

    @property
    def first(self) -> DsnRecipient | None:
        return self.recipients[0] if self.recipients else None


@dataclass(frozen=True, slots=True)
class MessageReport:
    """Everything said about one pasted message, headers or bounce; `sections` read like a
    report's checks (one per area: hops, authentication, bulk-sender rules, bounce)."""

    kind: Kind
    headline: str
    sections: tuple[CheckResult, ...]
    hops: tuple[Hop, ...] = ()
    dsn: Dsn | None = None
    live: tuple[Report, ...] = ()  # checks run live on what the message names
    cause: Cause | None = None
    subject: str = ""
    from_domain: str = ""
    duration_ms: int = 0
    resolvers: tuple[str, ...] = ()

    @property
    def status(self) -> Status:
        statuses = [s.status for s in self.sections] + [r.status for r in self.live]
        return Status.worst(statuses)

    @property
    def findings(self) -> tuple[tuple[str, str], ...]:
        """(section id, finding code) of every finding, in order (what tests and JSON list)."""
        return tuple((s.id, f.code) for s in self.sections for f in s.findings)
