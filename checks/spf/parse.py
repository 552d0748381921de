"""SPF record syntax (RFC 7208 4.5, 4.6.1, 5, 6, 7, 12): pure parsing of records and macro strings.

Nothing here touches the network. `parse` turns a record into terms or raises `SpfSyntaxError`
naming the bad term; `expand` performs macro expansion on already-known values (the caller looks
up `%{p}` first, since that is the only macro needing DNS).
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from dataclasses import dataclass
from typing import Final

MECHANISMS: Final = frozenset({"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"})
# RFC 7208 4.6.4: the terms that cause DNS queries at evaluation time (redirect counts too).
DNS_MECHANISMS: Final = frozenset({"include", "a", "mx", "ptr", "exists"})
QUALIFIERS: Final = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
MAX_DOMAIN = 253  # RFC 7208 7.3: expanded names are truncated on the left to fit

_VERSION = "v=spf1"
_LETTERS = frozenset("slodiphcrtv")
_EXP_ONLY = frozenset("crt")  # RFC 7208 7.2: only allowed in explanation text
_DELIMITERS = frozenset(".-+,/_=")
_MODIFIER = re.compile(r"([A-Za-z][A-Za-z0-9_.-]*)=(.*)\Z", re.S)
_MECH_NAME = re.compile(r"([A-Za-z][A-Za-z0-9]*)")
# a/mx: [":" domain-spec] [dual-cidr-length]; the lazy spec leaves the longest CIDR suffix.
_DUAL_CIDR = re.compile(r"(?::(?P<spec>.*?))?(?:/(?P<c4>\d+))?(?://(?P<c6>\d+))?\Z", re.S)
_NETWORK = re.compile(r":(?P<net>[^/]*)(?:/(?P<cidr>\d+))?\Z", re.S)
_QNUM = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IP4 = re.compile(rf"{_QNUM}(?:\.{_QNUM}){{3}}\Z")
_IP6_CHARS = re.compile(r"[0-9A-Fa-f:.]+\Z")
_CIDR = re.compile(r"(?:0|[1-9][0-9]*)\Z")
_TOPLABEL = re.compile(
    r"(?:[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*|[A-Za-z0-9]+-[A-Za-z0-9-]*[A-Za-z0-9])\Z"
)


class SpfSyntaxError(ValueError):
    """The text is not a valid SPF record; `term` is the offending term (or the whole record)."""

    def __init__(self, message: str, term: str = "") -> None:
        super().__init__(message)
        self.term = term


@dataclass(frozen=True, slots=True)
class Mechanism:
    text: str  # as written in the record
    qualifier: str  # "+", "-", "~" or "?" (explicit or the default "+")
    name: str  # lower-case mechanism name
    domain_spec: str | None = None  # include/a/mx/ptr/exists target, unexpanded
    network: str | None = None  # ip4/ip6 address as written
    cidr4: int | None = None
    cidr6: int | None = None

    @property
    def result(self) -> str:
        return QUALIFIERS[self.qualifier]

    @property
    def queries_dns(self) -> bool:
        return self.name in DNS_MECHANISMS


@dataclass(frozen=True, slots=True)
class Modifier:
    text: str
    name: str  # lower-case
    value: str


Term = Mechanism | Modifier


@dataclass(frozen=True, slots=True)
class SpfRecord:
    text: str
    terms: tuple[Term, ...]

    @property
    def mechanisms(self) -> tuple[Mechanism, ...]:
        return tuple(t for t in self.terms if isinstance(t, Mechanism))

    @property
    def redirect(self) -> str | None:
        return self._modifier("redirect")

    @property
    def exp(self) -> str | None:
        return self._modifier("exp")

    @property
    def has_all(self) -> bool:
        return any(m.name == "all" for m in self.mechanisms)

    def _modifier(self, name: str) -> str | None:
        return next(
            (t.value for t in self.terms if isinstance(t, Modifier) and t.name == name), None
        )


@dataclass(frozen=True, slots=True)
class Macro:
    letter: str  # lower-case
    upper: bool  # URL-encode the value (RFC 7208 7.3)
    digits: int | None
    reverse: bool
    delimiters: str


Token = str | Macro  # a literal run, or one macro-expand


@dataclass(frozen=True, slots=True)
class MacroValues:
    """What the macro letters stand for during one evaluation (RFC 7208 7.3)."""

    sender: str  # s
    local: str  # l
    sender_domain: str  # o
    domain: str  # d
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address  # i, c, v
    helo: str  # h
    receiver: str = "unknown"  # r
    now: int = 0  # t
    validated: str = "unknown"  # p, looked up by the caller when the text uses it


def is_spf(text: str) -> bool:
    """RFC 7208 4.5: "v=spf1" exactly (any case), then a space or the end."""
    return text[:6].lower() == _VERSION and (len(text) == 6 or text[6] == " ")


def parse(text: str) -> SpfRecord:
    """Parse one SPF record into terms. Any syntax error anywhere raises SpfSyntaxError (4.6)."""
    if not is_spf(text):
        raise SpfSyntaxError("the record must begin with v=spf1 followed by a space", text[:12])
    terms: list[Term] = []
    seen: set[str] = set()
    for word in text[6:].split(" "):
        if not word:
            continue  # 1*SP between terms, trailing spaces allowed (4.5, 12)
        term = _term(word)
        if isinstance(term, Modifier) and term.name in ("redirect", "exp"):
            if term.name in seen:  # RFC 7208 6: each at most once
                raise SpfSyntaxError(f"{term.name}= appears more than once", word)
            seen.add(term.name)
        terms.append(term)
    return SpfRecord(text, tuple(terms))


def _term(word: str) -> Term:
    bad = next((c for c in word if not "\x21" <= c <= "\x7e"), None)
    if bad is not None:
        raise SpfSyntaxError(
            f"{word!r} contains {bad!r}: SPF records are printable ASCII separated by spaces", word
        )
    modifier = _MODIFIER.match(word)
    if modifier:
        name, value = modifier.group(1).lower(), modifier.group(2)
        if name in ("redirect", "exp"):
            check_domain_spec(value, word)
        else:
            tokens(value, term=word, exp=False)
        return Modifier(word, name, value)
    return _mechanism(word)


def _mechanism(word: str) -> Mechanism:
    qualifier = word[0] if word[0] in QUALIFIERS else "+"
    rest = word[1:] if word[0] in QUALIFIERS else word
    match = _MECH_NAME.match(rest)
    name = match.group(1).lower() if match else ""
    args = rest[len(name) :]
    if name not in MECHANISMS or (args and args[0] not in ":/"):
        raise SpfSyntaxError(f"{word!r} is not a known mechanism or modifier", word)
    if name == "all":
        if args:
            raise SpfSyntaxError(f"{word!r}: all takes no argument", word)
        return Mechanism(word, qualifier, name)
    if name in ("include", "exists", "ptr"):
        if name == "ptr" and not args:
            return Mechanism(word, qualifier, name)
        if not args.startswith(":"):
            raise SpfSyntaxError(f"{word!r}: {name} needs ':' and a domain", word)
        return Mechanism(word, qualifier, name, domain_spec=check_domain_spec(args[1:], word))
    if name in ("a", "mx"):
        return _dual_cidr(word, qualifier, name, args)
    return _network(word, qualifier, name, args)


def _dual_cidr(word: str, qualifier: str, name: str, args: str) -> Mechanism:
    match = _DUAL_CIDR.match(args)
    if match is None:
        raise SpfSyntaxError(f"{word!r}: expected {name}[:domain][/cidr4][//cidr6]", word)
    spec = match.group("spec")
    if spec is not None:
        check_domain_spec(spec, word)
    return Mechanism(
        word,
        qualifier,
        name,
        domain_spec=spec,
        cidr4=_cidr(match.group("c4"), 32, word),
        cidr6=_cidr(match.group("c6"), 128, word),
    )


def _network(word: str, qualifier: str, name: str, args: str) -> Mechanism:
    match = _NETWORK.match(args)
    net = match.group("net") if match else ""
    if match is None or not _valid_network(name, net):
        raise SpfSyntaxError(f"{word!r}: {net or 'the address'} is not an {name} address", word)
    limit = 32 if name == "ip4" else 128
    cidr = _cidr(match.group("cidr"), limit, word)
    if name == "ip4":
        return Mechanism(word, qualifier, name, network=net, cidr4=cidr)
    return Mechanism(word, qualifier, name, network=net, cidr6=cidr)


def _valid_network(name: str, net: str) -> bool:
    if name == "ip4":
        return _IP4.match(net) is not None
    if not _IP6_CHARS.match(net):
        return False
    try:
        ipaddress.IPv6Address(net)
    except ValueError:
        return False
    return True


def _cidr(text: str | None, limit: int, word: str) -> int | None:
    if text is None:
        return None
    if not _CIDR.match(text) or int(text) > limit:
        raise SpfSyntaxError(f"{word!r}: /{text} is not a prefix length from 0 to {limit}", word)
    return int(text)


def check_domain_spec(spec: str, term: str = "") -> str:
    """RFC 7208 7.1: a macro-string ending in '.' toplabel ['.'] or in a macro-expand."""
    term = term or spec
    parts = tokens(spec, term=term, exp=False)
    if not parts:
        raise SpfSyntaxError(f"{term!r}: the domain is empty", term)
    if isinstance(parts[-1], Macro) or parts[-1] in ("%", " ", "%20"):
        return spec
    literal = spec[:-1] if spec.endswith(".") else spec
    _head, dot, top = literal.rpartition(".")
    if not dot or not _TOPLABEL.match(top) or "%" in top:
        raise SpfSyntaxError(
            f"{term!r}: {spec!r} does not end in a valid top-level label (RFC 7208 7.1)", term
        )
    return spec


def tokens(text: str, *, term: str = "", exp: bool = False) -> list[Token]:
    """Split a macro-string into literals and macros; exp=True allows c, r, t and spaces."""
    out: list[Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "%":
            if not ("\x21" <= char <= "\x7e" or (exp and char == " ")):
                raise SpfSyntaxError(f"{term or text!r} contains {char!r}", term or text)
            _append(out, char)
            i += 1
            continue
        nxt = text[i + 1 : i + 2]
        if nxt in ("%", "_", "-"):
            # %% is a literal percent; %_ a space; %- a URL-encoded space (RFC 7208 7.1).
            out.append({"%": "%", "_": " ", "-": "%20"}[nxt])
            i += 2
            continue
        if nxt != "{":
            raise SpfSyntaxError(
                f"{term or text!r}: '%' must be followed by {{, %, _ or -", term or text
            )
        end = text.find("}", i)
        if end < 0:
            raise SpfSyntaxError(f"{term or text!r}: unterminated macro", term or text)
        out.append(_macro(text[i + 2 : end], term or text, exp))
        i = end + 1
    return out


def _append(out: list[Token], char: str) -> None:
    if out and isinstance(out[-1], str) and out[-1] not in ("%", " ", "%20"):
        out[-1] += char
    else:
        out.append(char)


def _macro(body: str, term: str, exp: bool) -> Macro:
    match = re.fullmatch(r"([A-Za-z])([0-9]*)([rR]?)(.*)", body, re.S)
    if match is None or match.group(1).lower() not in _LETTERS:
        raise SpfSyntaxError(f"{term!r}: %{{{body}}} is not a macro", term)
    letter, digits, reverse, delimiters = match.groups()
    if letter.lower() in _EXP_ONLY and not exp:
        raise SpfSyntaxError(f"{term!r}: %{{{letter}}} is allowed only in exp= text", term)
    if any(d not in _DELIMITERS for d in delimiters):
        raise SpfSyntaxError(f"{term!r}: %{{{body}}} has an invalid delimiter", term)
    if digits and int(digits) == 0:
        raise SpfSyntaxError(f"{term!r}: %{{{body}}} keeps zero labels", term)
    return Macro(
        letter.lower(),
        letter.isupper(),
        int(digits) if digits else None,
        bool(reverse),
        delimiters or ".",
    )


def uses_validated_name(text: str, *, exp: bool = False) -> bool:
    """Does expanding `text` need %{p} (the only macro needing DNS)? False on syntax errors."""
    try:
        return any(isinstance(t, Macro) and t.letter == "p" for t in tokens(text, exp=exp))
    except SpfSyntaxError:
        return False


def expand(text: str, values: MacroValues, *, exp: bool = False) -> str:
    """Expand a macro-string (7.3). Raises SpfSyntaxError on bad syntax."""
    return "".join(
        t if isinstance(t, str) else _value(t, values) for t in tokens(text, term=text, exp=exp)
    )


def expand_domain(spec: str, values: MacroValues) -> str:
    """Expand a domain-spec, drop a trailing dot, and truncate to 253 characters (7.3)."""
    name = expand(spec, values)
    if name.endswith("."):
        name = name[:-1]
    while len(name) > MAX_DOMAIN and "." in name:
        name = name.split(".", 1)[1]
    return name


def _value(macro: Macro, values: MacroValues) -> str:
    raw = _raw(macro.letter, values)
    if macro.digits is not None or macro.reverse or macro.delimiters != ".":
        parts = re.split("[" + re.escape(macro.delimiters) + "]", raw)
        if macro.reverse:
            parts.reverse()
        if macro.digits is not None:
            parts = parts[-macro.digits :]
        raw = ".".join(parts)
    return urllib.parse.quote(raw, safe="") if macro.upper else raw


def _raw(letter: str, v: MacroValues) -> str:
    ip = v.ip
    match letter:
        case "s":
            return v.sender
        case "l":
            return v.local
        case "o":
            return v.sender_domain
        case "d":
            return v.domain
        case "i":
            if ip.version == 4:
                return str(ip)
            return ".".join(ip.exploded.replace(":", "").upper())  # RFC 7208 7.4: "1.0.B.C..."
        case "p":
            return v.validated
        case "v":
            return "in-addr" if ip.version == 4 else "ip6"
        case "h":
            return v.helo
        case "c":
            return str(ip)
        case "r":
            return v.receiver
        case _:  # "t"
            return str(v.now)
