"""DMARC records (RFC 9989; report URIs RFC 9990): what does one _dmarc TXT record say, read the
way receivers read it?

`parse` is pure and total: bad tag values become `problems` and the defaults receivers fall back
to, and only a text that is no DMARC record at all raises `DmarcSyntaxError`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from checks import tagvalue

POLICIES: Final = ("none", "quarantine", "reject")  # weakest first: the index is the strength
# RFC 9989 4.10 step 2: only records that *start* with the version tag count (DMARC1 is
# case-sensitive in the ABNF, %s"DMARC1"); anything else at _dmarc is discarded.
_VERSION = re.compile(r"[ \t]*v[ \t]*=[ \t]*DMARC1[ \t]*(;|$)", re.IGNORECASE)
_EXACT_VERSION = re.compile(r"[ \t]*[vV][ \t]*=[ \t]*DMARC1[ \t]*(;|$)")
_LOOKS_LIKE_DMARC = re.compile(r"\s*v\s*=\s*dmarc", re.IGNORECASE)
_HAS_VERSION_TAG = re.compile(r"(?:^|;)[ \t]*v[ \t]*=[ \t]*DMARC1[ \t]*(?:;|$)", re.IGNORECASE)
_DIGITS = re.compile(r"[0-9]+")
_SIZE = re.compile(r"[0-9]+[kmgtKMGT]?")  # RFC 7489 "!10m" size limit on a report URI
_HOST = re.compile(
    r"(?=.{1,253}$)([A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9-]{2,63}"
)
_FO_VALUES: Final = frozenset({"0", "1", "d", "s"})
_KNOWN: Final = frozenset(
    {"v", "p", "sp", "np", "adkim", "aspf", "fo", "psd", "t", "rua", "ruf", "pct", "rf", "ri"}
)
_REMOVED: Final = frozenset(
    {"pct", "rf", "ri"}
)  # RFC 9989 Appendix C: gone, still seen in the wild
_GRAMMAR: Final = tagvalue.Grammar(
    tag_name=tagvalue.TAG_NAME,  # RFC 7489 6.3: the tag-value syntax of DKIM (RFC 6376 3.2)
    fold_case=True,  # RFC 7489 6.4: tag names are ABNF quoted strings, case-insensitive
    version=tagvalue.Version.LEADS,  # matched by _EXACT_VERSION; a later v= is judged in _build
    on_problem=tagvalue.OnProblem.SKIP_TAG,  # RFC 7489 6.3: discard syntax errors, use defaults
    space_around_semicolon=tagvalue.ANY_SPACE,  # RFC 7489 6.4 allows *WSP; we accept any space
    space_before_equals=tagvalue.ANY_SPACE,  # RFC 7489 6.4: "p" *WSP "=" *WSP
    space_after_equals=tagvalue.ANY_SPACE,
    blank=tagvalue.ANY_SPACE,
)


class DmarcSyntaxError(ValueError):
    """The text is not a DMARC record receivers would use; the message says why."""


@dataclass(frozen=True, slots=True)
class ReportUri:
    """One `rua`/`ruf` entry. `domain` is the destination host of a mailto: URI, else ""."""

    uri: str
    scheme: str
    address: str = ""
    domain: str = ""
    size: str = ""  # RFC 7489 size limit ("10m"), kept for display only


@dataclass(frozen=True, slots=True)
class TagProblem:
    tag: str
    value: str
    reason: str


@dataclass(frozen=True, slots=True)
class DmarcRecord:
    """A parsed record. Bad tag values become `problems` and defaults, as receivers treat them."""

    text: str
    tags: Mapping[str, str]  # first occurrence of each tag, names lower-cased
    p: str | None  # None: missing or invalid (see `policy`)
    sp: str | None = None
    np: str | None = None
    adkim: str = "r"
    aspf: str = "r"
    fo: tuple[str, ...] = ("0",)
    psd: str = "u"
    testing: bool = False
    rua: tuple[ReportUri, ...] = ()
    ruf: tuple[ReportUri, ...] = ()
    pct: int | None = None
    unknown: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    problems: tuple[TagProblem, ...] = ()
    invalid_policy_tags: tuple[str, ...] = ()  # p, sp or np present with a bad value

    @property
    def policy_valid(self) -> bool:
        """p present and valid, and sp/np (when present) valid too."""
        return self.p is not None and not self.invalid_policy_tags

    @property
    def policy(self) -> str | None:
        """p as receivers apply it (RFC 9989 4.7, as RFC 7489 6.6.3): a missing or bad p, sp or
        np turns the whole record into p=none when it has a usable rua, else into no policy."""
        if self.policy_valid:
            return self.p
        return "none" if any(u.scheme == "mailto" and u.domain for u in self.rua) else None

    @property
    def subdomain_policy(self) -> str | None:
        return (self.sp or self.p) if self.policy_valid else self.policy

    @property
    def nonexistent_policy(self) -> str | None:
        return (self.np or self.sp or self.p) if self.policy_valid else self.policy


def parse(text: str) -> DmarcRecord:
    """Parse one DMARC TXT record (strings already joined). Pure and total: only DmarcSyntaxError."""
    if not _EXACT_VERSION.match(text):
        if _VERSION.match(text):
            raise DmarcSyntaxError("the version must be written v=DMARC1, in capitals")
        raise DmarcSyntaxError("the record must begin with v=DMARC1")
    read = tagvalue.parse(text, _GRAMMAR)
    return _build(text, dict(read.tags), [_problem(p) for p in read.problems])


def _problem(problem: tagvalue.Problem) -> TagProblem:
    """A malformed entry as a problem receivers skip (Version.LEADS: v= is never out of place)."""
    if problem.kind is tagvalue.Kind.DUPLICATE:
        return TagProblem(
            problem.name.lower(), problem.value, "appears twice; receivers use the first"
        )
    return TagProblem(problem.name or problem.entry, problem.value, "is not a tag=value pair")


def _build(text: str, tags: dict[str, str], problems: list[TagProblem]) -> DmarcRecord:
    invalid: list[str] = []

    def policy(tag: str) -> str | None:
        if tag not in tags:
            return None
        value = tags[tag].lower()
        if value in POLICIES:
            return value
        problems.append(TagProblem(tag, tags[tag], "must be none, quarantine or reject"))
        invalid.append(tag)
        return None

    def choice(tag: str, allowed: tuple[str, ...], default: str) -> str:
        value = tags.get(tag, default).lower()
        if value in allowed:
            return value
        problems.append(TagProblem(tag, tags[tag], f"must be {' or '.join(allowed)}"))
        return default

    if "v" in tags:
        problems.append(TagProblem("v", tags["v"], "appears twice; only the first tag may be v"))
    p = policy("p")
    if "p" not in tags:
        problems.append(TagProblem("p", "", "is missing"))
    return DmarcRecord(
        text=text,
        tags=tags,
        p=p,
        sp=policy("sp"),
        np=policy("np"),
        adkim=choice("adkim", ("r", "s"), "r"),
        aspf=choice("aspf", ("r", "s"), "r"),
        fo=_fo(tags, problems),
        psd=choice("psd", ("y", "n", "u"), "u"),
        testing=choice("t", ("y", "n"), "n") == "y",
        rua=_uris(tags, "rua", problems),
        ruf=_uris(tags, "ruf", problems),
        pct=_pct(tags, problems),
        unknown=tuple(t for t in tags if t not in _KNOWN),
        removed=tuple(t for t in tags if t in _REMOVED),
        problems=tuple(problems),
        invalid_policy_tags=tuple(invalid),
    )


def _fo(tags: Mapping[str, str], problems: list[TagProblem]) -> tuple[str, ...]:
    if "fo" not in tags:
        return ("0",)
    options = tuple(o.strip().lower() for o in tags["fo"].split(":"))
    if not options or any(o not in _FO_VALUES for o in options):
        problems.append(TagProblem("fo", tags["fo"], "must be 0, 1, d or s, separated by colons"))
        return tuple(o for o in options if o in _FO_VALUES) or ("0",)
    return options


def _pct(tags: Mapping[str, str], problems: list[TagProblem]) -> int | None:
    if "pct" not in tags:
        return None
    value = tags["pct"]
    if not _DIGITS.fullmatch(value) or int(value) > 100:
        problems.append(TagProblem("pct", value, "must be a whole number from 0 to 100"))
        return None
    return int(value)


def _uris(tags: Mapping[str, str], tag: str, problems: list[TagProblem]) -> tuple[ReportUri, ...]:
    if tag not in tags:
        return ()
    out: list[ReportUri] = []
    for raw in tags[tag].split(","):
        raw = raw.strip()
        uri, problem = _uri(raw)
        if problem:
            problems.append(TagProblem(tag, raw, problem))
        if uri is not None:
            out.append(uri)
    return tuple(out)


def _uri(raw: str) -> tuple[ReportUri | None, str]:
    """One report URI; a mailto: with a plausible destination host, or a reason it is unusable."""
    if not raw:
        return None, "has an empty URI (a stray comma?)"
    uri, size = raw, ""
    head, bang, tail = raw.rpartition("!")
    if bang and _SIZE.fullmatch(tail):
        uri, size = head, tail
    scheme, colon, rest = uri.partition(":")
    if not colon or not scheme:
        return None, "is not a URI (write mailto:address@example.com)"
    scheme = scheme.lower()
    if scheme != "mailto":
        # RFC 9990 2: mailto is the only delivery method receivers use
        return ReportUri(
            uri, scheme, size=size
        ), "uses a URI scheme other than mailto:, which receivers do not send to"
    address = rest.split("?", 1)[0]
    local, at, host = address.rpartition("@")
    host = host.rstrip(".").lower()
    if not at or not local or not _HOST.fullmatch(host):
        return ReportUri(uri, scheme, address, size=size), "is not a usable mailto: address"
    return ReportUri(uri, scheme, address, host, size), ""


def is_dmarc(text: str) -> bool:
    """Does the TXT string start with v=DMARC1 exactly (what receivers count, RFC 9989 4.10)?"""
    return _EXACT_VERSION.match(text) is not None


def looks_like_dmarc(text: str) -> bool:
    """Was the TXT string meant as a DMARC record, however badly written (shown as evidence)?"""
    return _LOOKS_LIKE_DMARC.match(text) is not None or _HAS_VERSION_TAG.search(text) is not None
