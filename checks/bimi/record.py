"""BIMI assertion records (draft-brand-indicators-for-message-identification): what does one
`default._bimi` TXT record say?"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from checks import tagvalue

_VERSION = re.compile(r"[ \t]*v[ \t]*=[ \t]*BIMI1[ \t]*(;|$)")
_KNOWN: Final = frozenset({"v", "l", "a", "avp"})
# The draft's tag list (bimi-sep = *WSP ";" *WSP, *WSP around "="), read leniently: any whitespace
# and tag names in any case (its first ABNF quoted "v", which is case-insensitive).
_GRAMMAR: Final = tagvalue.Grammar(
    tag_name=tagvalue.TAG_NAME,  # RFC 6376 3.2 tag-name, whose tag=value syntax BIMI borrows
    fold_case=True,
    version=tagvalue.Version.LEADS_ONCE,  # v=BIMI1 first (matched by _VERSION), and only once
    on_problem=tagvalue.OnProblem.REJECT_RECORD,  # RFC 6376 3.2: a duplicate invalidates it
    space_around_semicolon=tagvalue.ANY_SPACE,
    space_before_equals=tagvalue.ANY_SPACE,
    space_after_equals=tagvalue.ANY_SPACE,
    blank=tagvalue.ANY_SPACE,
)


class BimiSyntaxError(ValueError):
    """The text is not a BIMI assertion record; the message says why."""


@dataclass(frozen=True, slots=True)
class BimiRecord:
    """A parsed assertion record. `evidence` is None when a= is absent, "" when empty."""

    text: str
    tags: Mapping[str, str]
    logos: tuple[str, ...]  # l=, comma-separated locations; empty: no logo
    evidence: str | None
    unknown: tuple[str, ...] = ()

    @property
    def declined(self) -> bool:
        """`v=BIMI1; l=; a=;`: the domain says it does not take part."""
        return not self.logos and not self.evidence


def parse(text: str) -> BimiRecord:
    """Parse one BIMI TXT record (strings joined). Pure and total: only BimiSyntaxError."""
    if not _VERSION.match(text):
        raise BimiSyntaxError("the record must begin with v=BIMI1")
    read = tagvalue.parse(text, _GRAMMAR)
    if read.problems:
        raise BimiSyntaxError(_describe(read.problems[0]))
    tags = read.tags
    logos = tuple(x.strip() for x in tags.get("l", "").split(",") if x.strip())
    return BimiRecord(
        text=text,
        tags=tags,
        logos=logos,
        evidence=tags.get("a"),
        unknown=tuple(t for t in tags if t not in _KNOWN),
    )


def _describe(problem: tagvalue.Problem) -> str:
    if problem.kind is tagvalue.Kind.DUPLICATE:  # v= included (Version.LEADS_ONCE)
        return f"the tag {problem.name}= appears twice"
    return f"{problem.entry!r} is not a tag=value pair"


def is_https(url: str) -> bool:
    """Is this l= or a= location an https:// URL with a host (the only transport BIMI allows)?"""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() == "https" and bool(parts.hostname)
