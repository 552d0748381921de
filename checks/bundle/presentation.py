"""Reading proposed records and remote evidence as zone text (RFC 1035 5.1): TXT strings, the kind
of a TXT record (its v= tag), placeholders to fill in, and one-line comments that cannot break out.
"""

from __future__ import annotations

import re
from typing import Final

_QUOTED: Final = re.compile(r'"((?:[^"\\]|\\.)*)"')
_ESCAPE: Final = re.compile(r"\\(\d{3}|.)")
_LEADING_VERSION: Final = re.compile(r"\s*v\s*=\s*([A-Za-z0-9.]+)", re.IGNORECASE)
_TAG: Final = re.compile(r"\s*[A-Za-z][A-Za-z0-9_]*\s*=.*")
_PLACEHOLDER: Final = re.compile(r"<[^<>]+>")
_SPACES: Final = re.compile(r"\s+")
MAX_COMMENT: Final = 400  # characters of one quoted finding or record in a comment

# v= tag value (lower case) -> what a reader calls the record
_KINDS: Final = {
    "spf1": "SPF",
    "dmarc1": "DMARC",
    "dkim1": "DKIM",
    "bimi1": "BIMI",
    "stsv1": "MTA-STS",
    "tlsrptv1": "TLS-RPT",
}


def txt_text(value: str) -> str:
    """The text of a TXT value in presentation format: its strings unquoted and joined."""
    strings = _QUOTED.findall(value)
    if not strings:
        return value.strip()
    return "".join(_ESCAPE.sub(_unescape, s) for s in strings)


def _unescape(match: re.Match[str]) -> str:
    code = match.group(1)
    return chr(int(code)) if code.isdigit() else code


def version(text: str) -> str:
    """The v= tag of a record's text, lower case ("spf1", "dmarc1"), or "" when it has none.

    The tag leads (RFC 7208 4.5, RFC 9989), but a misordered tag list ("p=reject; v=DMARC1")
    is still the record the admin means to replace, so a v= among `;`-separated tags counts.
    """
    leading = _LEADING_VERSION.match(text)
    if leading:
        return leading.group(1).lower()
    parts = [p for p in text.split(";") if p.strip()]
    if len(parts) < 2 or not all(_TAG.fullmatch(p) for p in parts):
        return ""
    found = (_LEADING_VERSION.match(p) for p in parts)
    return next((m.group(1).lower() for m in found if m), "")


def kind_key(rdtype: str, value: str) -> str:
    """What makes two records "the same record" to replace: a TXT record's version, else nothing."""
    if rdtype.upper() != "TXT":
        return ""
    text = txt_text(value)
    return version(text) or "text:" + text


def kind_label(rdtype: str, key: str) -> str:
    if rdtype.upper() != "TXT":
        return rdtype.upper()
    return _KINDS.get(key, "TXT")


def is_placeholder(value: str) -> bool:
    """A value with a `<…>` to fill in ("<address of your mail server>"), outside TXT quotes."""
    return bool(_PLACEHOLDER.search(_QUOTED.sub("", value)))


def is_printable(line: str) -> bool:
    """One zone line, nothing that could end it early or hide in a terminal."""
    return line.isprintable()


def one_line(text: str, limit: int = MAX_COMMENT) -> str:
    """Remote or finding text for a `;` comment: one printable line, clipped."""
    flat = "".join(c if c.isprintable() else " " for c in text)
    flat = _SPACES.sub(" ", flat).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def quoted(text: str) -> str:
    """Remote text shown as a TXT value would be, on one line."""
    return '"' + one_line(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def in_zone(name: str, domain: str) -> bool:
    """Is `name` at or below `domain` (so in the zone the admin of `domain` edits)?"""
    name, domain = name.lower().rstrip("."), domain.lower().rstrip(".")
    return name == domain or name.endswith("." + domain)


def owner_hint(name: str) -> str:
    """Whose zone a name outside ours is in, as far as the name tells: below the last `_` label
    (x._report._dmarc.collector.example -> collector.example), else the last two labels."""
    labels = name.lower().rstrip(".").split(".")
    underscored = [i for i, label in enumerate(labels) if label.startswith("_")]
    rest = labels[underscored[-1] + 1 :] if underscored else labels[-2:]
    return ".".join(rest) or name
