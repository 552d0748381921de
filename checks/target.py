"""Turn what a person typed or pasted into a target: a domain (A-labels) or an IP address.

Shared by the CLI and Slack, so `/mx <mailto:ops@Example.COM|ops@Example.COM>` and
`mxbot check https://example.com/path` mean the same thing as `example.com`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import idna


class TargetError(ValueError):
    """The input is not a domain name or IP address; the message says what was wrong."""


@dataclass(frozen=True, slots=True)
class Target:
    """A normalised target: `name` is what we query (A-labels, or the address text)."""

    name: str
    unicode: str = ""  # the U-label form of an IDN, when it differs from `name`
    is_address: bool = False

    @property
    def display(self) -> str:
        return f"{self.unicode} ({self.name})" if self.unicode else self.name


_SLACK_LINK = re.compile(r"^<([^<>|]*)(?:\|([^<>]*))?>$")
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")  # '_' allowed: _dmarc, _domainkey names


def normalise(raw: str) -> Target:
    """Normalise one token; raise `TargetError` with a human reason when it is not a target."""
    text = _unwrap(raw.strip())
    if not text:
        raise TargetError("give a domain name, e-mail address or IP address")
    address = _as_address(text)
    if address is not None:
        return Target(address, is_address=True)
    host = _host_part(text)
    return _domain(host, original=raw.strip())


def _unwrap(text: str) -> str:
    """Slack link markup: `<http://a.com|a.com>`, `<mailto:x@a.com|x@a.com>`, `<http://a.com>`.

    Slack sends a literally typed `<`, `>` or `&` as `&lt;`, `&gt;`, `&amp;`: undo that first.
    """
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    match = _SLACK_LINK.match(text)
    if match:
        target, label = match.group(1), match.group(2)
        if target.startswith(("@", "#", "!")):
            raise TargetError("that is a Slack mention, not a domain")
        text = label or target
        if label and target.startswith("mailto:"):
            text = target  # the label may be shortened; the target is exact
    return text.strip().strip("'\"`").strip()


def _as_address(text: str) -> str | None:
    candidate = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    if candidate.lower().startswith("ipv6:"):
        candidate = candidate[5:]
    try:
        return ipaddress.ip_address(candidate).compressed
    except ValueError:
        return None


def _host_part(text: str) -> str:
    lowered = text.lower()
    if lowered.startswith("mailto:"):
        text = text[7:].split("?", 1)[0]
    elif "://" in text:
        parts = urlsplit(text)
        if not parts.hostname:
            raise TargetError(f"{text!r} is a URL without a host name")
        return parts.hostname
    if "@" in text:
        local, _, text = text.rpartition("@")
        if not text:
            raise TargetError(f"{local!r}@ has no domain after the @")
    # a bare host with a path or port, e.g. "example.com/contact" or "mail.example.com:25"
    text = re.split(r"[/?#]", text, maxsplit=1)[0]
    if text.count(":") == 1:
        text = text.split(":", 1)[0]
    return text


def _domain(host: str, original: str) -> Target:
    host = host.strip().rstrip(".")
    if not host:
        raise TargetError(f"{original!r} has no domain name in it")
    if any(c.isspace() for c in host):
        raise TargetError(f"{original!r} contains spaces; give one domain name")
    try:
        ascii_name = idna.encode(host, uts46=True).decode("ascii").lower()
    except idna.IDNAError as exc:
        ascii_name = _lenient_ascii(host, exc)
    if len(ascii_name) > 253:
        raise TargetError(f"{ascii_name[:40]}… is longer than the 253 characters a name may have")
    labels = ascii_name.split(".")
    if len(labels) < 2:
        raise TargetError(
            f"{host!r} is a single label; give a full domain name such as example.com"
        )
    for label in labels:
        if not _LABEL.match(label):
            raise TargetError(_label_problem(label, host))
    if labels[-1].isdigit():
        raise TargetError(f"{host!r} looks like an incomplete IP address, not a domain name")
    unicode_name = _unicode(ascii_name)
    return Target(ascii_name, unicode=unicode_name if unicode_name != ascii_name else "")


def _lenient_ascii(host: str, exc: idna.IDNAError) -> str:
    """Plain-ASCII names idna rejects only for '_' or similar; anything else is a real error."""
    if host.isascii():
        return host.lower()
    raise TargetError(f"{host!r} is not a valid internationalised domain name ({exc})") from None


def _label_problem(label: str, host: str) -> str:
    if not label:
        return f"{host!r} has an empty label (two dots in a row?)"
    if len(label) > 63:
        return f"{host!r} has a label longer than 63 characters"
    if label.startswith("-") or label.endswith("-"):
        return f"{host!r}: a label may not start or end with a hyphen ({label!r})"
    bad = sorted({c for c in label if not (c.isalnum() or c in "-_")})
    return f"{host!r} contains characters a domain name cannot have: {' '.join(bad) or label!r}"


def _unicode(ascii_name: str) -> str:
    try:
        return idna.decode(ascii_name)
    except idna.IDNAError:
        return ascii_name
