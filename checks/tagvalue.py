"""Tag=value lists (RFC 6376 3.2) as DKIM keys, DMARC (RFC 7489 6.4), BIMI, MTA-STS (RFC 8461 3.1)
and TLS-RPT (RFC 8460 3) write them: one pure reader, each record's differences as a `Grammar`.

The reader splits at ";" and at the first "=" of each entry, and never raises: malformed entries
come back as `Problem` values, for each record's own parser to word in its own error or finding.
Tag values are not validated here; that is each record's business. Every grammar here skips empty
entries (a trailing ";", and also ";;", which the ABNFs do not allow but publishers write).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

# The whitespace a grammar lets stand around ";" or "=", as characters for str.strip().
WSP: Final = " \t"  # RFC 5234 B.1 WSP (RFC 8461 3.1 sts-sep, RFC 8460 3 field-delim)
FWS: Final = " \t\r\n"  # RFC 6376 3.2 [FWS]: WSP, and the CRLF of a folded line
NO_SPACE: Final = ""  # RFC 8461 3.1, RFC 8460 3: nothing between a field name and its "="
# Every character str.isspace() accepts, which is what str.strip() removes with no argument.
ANY_SPACE: Final = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
TAG_NAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]*")  # RFC 6376 3.2: ALPHA *ALNUMPUNC
VERSION_TAG: Final = "v"  # every record here names its version tag v=


class Version(enum.Enum):
    """Where the version tag v= may stand."""

    # RFC 6376 3.6.1: v= is optional, but when present it MUST be the first tag. "First" means
    # the first ";"-separated part: not even an empty part may precede it.
    OPTIONAL_FIRST = enum.auto()
    # The record must start with its version tag, which the caller matches with its own RFC's rule
    # before reading (DMARC, MTA-STS, TLS-RPT). That first part is not read again, and a later v=
    # is read as any other tag: DMARC reports it itself, MTA-STS and TLS-RPT take it for an
    # extension field.
    LEADS = enum.auto()
    # As LEADS, and a later v= repeats the version tag: a duplicate (BIMI, which borrows the
    # tag-list rules of RFC 6376 3.2).
    LEADS_ONCE = enum.auto()


class OnProblem(enum.Enum):
    """What one malformed or duplicate entry does to the record."""

    # RFC 6376 3.2: a duplicate tag invalidates the entire tag-list; and an entry outside the
    # grammar means the text is not such a record (DKIM, BIMI, MTA-STS, TLS-RPT). Reading stops.
    REJECT_RECORD = enum.auto()
    # RFC 7489 6.3: syntax errors in the remainder of a DMARC record are discarded in favour of
    # defaults; the entry is skipped (a duplicate keeps the first value) and reading goes on.
    SKIP_TAG = enum.auto()


class Kind(enum.Enum):
    """Why an entry was not read as a tag."""

    NOT_A_PAIR = enum.auto()  # no "=", or a name outside the grammar's tag-name rule
    DUPLICATE = enum.auto()  # the tag name was already read (after case-folding, if any)
    VERSION_NOT_FIRST = enum.auto()  # Version.OPTIONAL_FIRST, and v= came later


@dataclass(frozen=True, slots=True)
class Grammar:
    """How one record type writes its tag=value list. Each field is a rule of that record's RFC,
    cited where the grammar is declared (checks.dkim.key, checks.dmarc.record, checks.bimi.record,
    checks.mta_sts, checks.tls_rpt)."""

    tag_name: re.Pattern[str]  # matched against the whole name
    fold_case: bool  # tag names are case-insensitive and returned lower-cased
    version: Version
    on_problem: OnProblem
    space_around_semicolon: str  # trimmed from both ends of every entry
    space_before_equals: str  # trimmed from the end of the name
    space_after_equals: str  # trimmed from the start of the value
    # An entry of nothing but these characters is empty and skipped; malformed entries are quoted
    # with these trimmed. Wider than space_around_semicolon only where a parser always was.
    blank: str


@dataclass(frozen=True, slots=True)
class Problem:
    """One entry that was not read as a tag, with its pieces trimmed as the grammar says."""

    kind: Kind
    entry: str  # the entry, trimmed of the grammar's blank characters
    name: str  # as written (not case-folded); for NOT_A_PAIR, possibly empty or not a name
    value: str  # "" when there is no "="


@dataclass(frozen=True, slots=True)
class TagList:
    """The tags read, first value of each, in the order written; and the problems, in text order.

    Under OnProblem.REJECT_RECORD a problem ends the reading: `tags` is then empty and
    `problems` holds that one problem.
    """

    tags: Mapping[str, str]
    problems: tuple[Problem, ...] = ()


def parse(text: str, grammar: Grammar) -> TagList:
    """Read a tag=value list (TXT strings already joined). Pure and total: it never raises."""
    tags: dict[str, str] = {}
    problems: list[Problem] = []
    skip = 0 if grammar.version is Version.OPTIONAL_FIRST else 1  # LEADS: the caller read it
    for index, part in enumerate(text.split(";")):
        if index < skip or not part.strip(grammar.blank):
            continue
        entry = part.strip(grammar.space_around_semicolon)
        name, sep, value = entry.partition("=")
        name = name.rstrip(grammar.space_before_equals)
        value = value.lstrip(grammar.space_after_equals)
        kind = _kind(name, sep, index, tags, grammar)
        if kind is None:
            tags[name.lower() if grammar.fold_case else name] = value
            continue
        problem = Problem(kind, part.strip(grammar.blank), name, value)
        if grammar.on_problem is OnProblem.REJECT_RECORD:
            return TagList({}, (problem,))
        problems.append(problem)
    return TagList(tags, tuple(problems))


def _kind(
    name: str, sep: str, index: int, tags: Mapping[str, str], grammar: Grammar
) -> Kind | None:
    """What is wrong with one entry, checked in this order; None when it is a good tag."""
    if not sep or not grammar.tag_name.fullmatch(name):
        return Kind.NOT_A_PAIR
    key = name.lower() if grammar.fold_case else name
    if key in tags or (key == VERSION_TAG and grammar.version is Version.LEADS_ONCE):
        return Kind.DUPLICATE
    if key == VERSION_TAG and grammar.version is Version.OPTIONAL_FIRST and index != 0:
        return Kind.VERSION_NOT_FIRST
    return None
