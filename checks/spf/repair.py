"""SPF repairs (RFC 7208 3.3, 4.5, 4.6): which corrected record, ready to paste, do the findings about
<domain>'s SPF record propose?

A finding builder returns the edits it proposes next to its findings, as a `Proposal`. `attach`
applies every edit, in order, to one copy of the record's terms, so all the findings that asked
for a repair offer the same corrected record.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from checks.model import Finding, Record
from checks.spf.parse import Mechanism, Modifier, SpfRecord, SpfSyntaxError, is_spf, parse

_MAX_STRING = 255  # RFC 7208 3.3: one TXT character-string holds at most 255 octets
_MAX_BAD_TERMS = 10  # syntax errors removed before giving up on a repair


@dataclass(frozen=True, slots=True)
class Replace:
    """Put `new` wherever `old` stands (+all becomes ~all)."""

    code: str  # the finding that proposes it
    old: str
    new: str

    def apply(self, terms: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(self.new if t == self.old else t for t in terms)


@dataclass(frozen=True, slots=True)
class Drop:
    """Remove these terms wherever they stand."""

    code: str
    terms: frozenset[str]

    def apply(self, terms: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(t for t in terms if t not in self.terms)


@dataclass(frozen=True, slots=True)
class Append:
    """Add a term at the end."""

    code: str
    term: str

    def apply(self, terms: tuple[str, ...]) -> tuple[str, ...]:
        return (*terms, self.term)


Edit = Replace | Drop | Append


@dataclass(frozen=True, slots=True)
class Proposal:
    """Findings, and the edits to the record that they propose."""

    findings: tuple[Finding, ...] = ()
    edits: tuple[Edit, ...] = ()

    def __add__(self, other: Proposal) -> Proposal:
        return Proposal(self.findings + other.findings, self.edits + other.edits)


def attach(domain: str, record: SpfRecord, proposal: Proposal) -> list[Finding]:
    """The findings, where each one that proposed an edit carries the record with all edits made."""
    value = corrected(domain, record, proposal.edits)
    if value is None:
        return list(proposal.findings)
    codes = {edit.code for edit in proposal.edits}
    return [
        dataclasses.replace(f, record=value) if f.code in codes else f for f in proposal.findings
    ]


def corrected(domain: str, record: SpfRecord, edits: tuple[Edit, ...]) -> Record | None:
    """The record with every edit made in order, or None when that changes nothing."""
    terms = tuple(t.text for t in record.terms)
    for edit in edits:
        terms = edit.apply(terms)
    text = " ".join(["v=spf1", *terms])
    if not edits or text == record.text:
        return None
    try:
        parse(text)
    except SpfSyntaxError:  # pragma: no cover -- repairs only remove or swap valid terms
        return None
    return spf_record(domain, text)


def spf_record(domain: str, text: str) -> Record:
    """A ready-to-paste TXT record, split into 255-character strings (RFC 7208 3.3)."""
    chunks = [text[i : i + _MAX_STRING] for i in range(0, len(text), _MAX_STRING)] or [""]
    return Record(f"{domain}.", "TXT", " ".join(f'"{c}"' for c in chunks))


def merged(records: tuple[str, ...]) -> str | None:
    """One record with every mechanism of the valid ones; ~all unless they all agree on the end.

    DNS returns the records in no fixed order, so they are merged in sorted order.
    """
    terms: list[str] = []
    endings: set[str] = set()
    for text in sorted(records):
        try:
            record = parse(text)
        except SpfSyntaxError:
            return None
        for term in record.terms:
            if isinstance(term, Mechanism) and term.name == "all":
                endings.add(term.text.lower().lstrip("+"))
            elif isinstance(term, Modifier):
                return None  # redirect/exp of several records cannot be merged blindly
            elif term.text not in terms:
                terms.append(term.text)
    ending = endings.pop() if len(endings) == 1 and endings != {"all"} else "~all"
    return " ".join(["v=spf1", *terms, ending])


def without_bad_terms(text: str) -> str | None:
    """The record with the offending terms removed, if that leaves a valid record."""
    if not is_spf(text):
        return None
    for _ in range(_MAX_BAD_TERMS):
        try:
            parse(text)
        except SpfSyntaxError as exc:
            if not exc.term or exc.term not in text.split(" "):
                return None
            words = text.split(" ")
            words.remove(exc.term)
            text = " ".join(w for w in words if w)
            continue
        return text
    return None
