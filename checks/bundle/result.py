"""What `mxbot fix` hands back: the records to put in place, one zone snippet, the files to serve."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from checks.model import Record, Status


class Action(enum.StrEnum):
    """What the admin does with an entry; only PUBLISH lines are live in the zone snippet."""

    PUBLISH = "publish"  # paste as is
    FILL_IN = "fill_in"  # holds a value only the admin knows: a comment until filled in
    LATER = "later"  # waits for something outside DNS (the MTA-STS policy served): a comment
    ELSEWHERE = "elsewhere"  # belongs in another zone (the parent's DS, a report collector's)


@dataclass(frozen=True, slots=True)
class Reason:
    """A finding that asked for the entry, as the snippet's comment quotes it."""

    check: str
    code: str
    status: Status
    message: str  # one line, printable


@dataclass(frozen=True, slots=True)
class Entry:
    """One set of records to put in place at a name: for TXT, the one record of its kind (the SPF
    record, the DMARC record); for other types, every record of that type at the name."""

    name: str  # fully qualified, trailing dot
    type: str
    kind: str  # what the reader calls it: "SPF", "DMARC", "MX", "A"…
    records: tuple[Record, ...]
    reasons: tuple[Reason, ...]
    action: Action = Action.PUBLISH
    current: tuple[str, ...] = ()  # the values it replaces, where the evidence shows them
    new: bool = False  # the findings say there is nothing of its kind there today
    hint: str = ""  # one line: why it is there, or what to do before it can go live


@dataclass(frozen=True, slots=True)
class PolicyFile:
    """A file to serve over HTTPS (the MTA-STS policy): where, and what it says."""

    path: str  # the URL it must be served at
    content: str


@dataclass(frozen=True, slots=True)
class Bundle:
    """Everything to publish for one domain; `zone` is the snippet to paste, comments included."""

    domain: str  # A-labels, as in the zone
    display_name: str
    entries: tuple[Entry, ...]
    files: tuple[PolicyFile, ...]
    notes: tuple[str, ...]
    zone: str
    headline: str = ""  # the report's diagnosis, when there is one

    def with_action(self, action: Action) -> tuple[Entry, ...]:
        return tuple(e for e in self.entries if e.action is action)
