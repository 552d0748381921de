"""DKIM key records (RFC 6376 3.6.1): what does one published key say, and does it load?

The key is loaded as a verifier would (RSA per RFC 8301, Ed25519 per RFC 8463); judging its
size and flags is `checks.dkim.verdict`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from checks import tagvalue

_WSP = re.compile(r"[ \t\r\n]+")
_GRAMMAR: Final = tagvalue.Grammar(
    tag_name=tagvalue.TAG_NAME,  # RFC 6376 3.2: ALPHA *ALNUMPUNC
    fold_case=False,  # RFC 6376 3.2: tags are interpreted case-sensitively
    version=tagvalue.Version.OPTIONAL_FIRST,  # RFC 6376 3.6.1: v= MUST be the first tag
    on_problem=tagvalue.OnProblem.REJECT_RECORD,  # RFC 6376 3.2: a duplicate invalidates the list
    space_around_semicolon=tagvalue.FWS,  # RFC 6376 3.2: tag-spec = [FWS] ... [FWS]
    space_before_equals=tagvalue.FWS,  # RFC 6376 3.2: tag-name [FWS] "=" [FWS] tag-value
    space_after_equals=tagvalue.FWS,
    blank=tagvalue.ANY_SPACE,  # empty specs of any whitespace are tolerated, as verifiers do
)


class DkimSyntaxError(ValueError):
    """The text is not a DKIM key record a verifier would use; the message says why."""


@dataclass(frozen=True, slots=True)
class DkimKey:
    """A parsed key record (RFC 6376 3.6.1); `public_key` is the decoded p= (empty: revoked)."""

    text: str
    tags: Mapping[str, str]
    key_type: str = "rsa"
    public_key: bytes = b""
    flags: tuple[str, ...] = ()
    hashes: tuple[str, ...] | None = None  # None: h= absent, every algorithm allowed
    services: tuple[str, ...] = ("*",)
    notes: str = ""

    @property
    def revoked(self) -> bool:
        return not self.public_key

    @property
    def testing(self) -> bool:
        return "y" in self.flags


def parse(text: str) -> DkimKey:
    """Parse one key record (TXT strings already joined). Pure and total: only DkimSyntaxError."""
    read = tagvalue.parse(text, _GRAMMAR)
    if read.problems:
        raise DkimSyntaxError(_describe(read.problems[0]))
    tags = read.tags
    if "v" in tags and tags["v"] != "DKIM1":
        raise DkimSyntaxError(f"v={tags['v']}: the only version is DKIM1")
    if "p" not in tags:
        raise DkimSyntaxError("the p= tag (the public key) is missing")
    return DkimKey(
        text=text,
        tags=tags,
        key_type=tags.get("k", "rsa").lower(),
        public_key=_base64(tags["p"]),
        flags=_list(tags.get("t", "")),
        hashes=_list(tags["h"]) if "h" in tags else None,
        services=_list(tags.get("s", "*")),
        notes=tags.get("n", ""),
    )


def _describe(problem: tagvalue.Problem) -> str:
    match problem.kind:
        case tagvalue.Kind.NOT_A_PAIR:
            return f"{problem.entry!r} is not a tag=value pair"
        case tagvalue.Kind.DUPLICATE:  # RFC 6376 3.2: it makes the whole record invalid
            return f"the tag {problem.name}= appears twice"
        case tagvalue.Kind.VERSION_NOT_FIRST:
            return "v= must be the first tag"


def _list(value: str) -> tuple[str, ...]:
    return tuple(v for v in (_WSP.sub("", x).lower() for x in value.split(":")) if v)


def _base64(value: str) -> bytes:
    data = _WSP.sub("", value)  # RFC 6376 3.6.1: FWS may appear inside base64 values
    try:
        return base64.b64decode(data.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise DkimSyntaxError("p= is not valid base64") from exc


def load_key(key: DkimKey) -> tuple[str, int, bool] | str:
    """(kind, bits, is_pkcs1) for a usable key, else the reason it cannot be loaded."""
    data = key.public_key
    if key.key_type == "ed25519":
        if len(data) != 32:  # RFC 8463 4.2: the raw 32-byte key, not SubjectPublicKeyInfo
            hint = (
                " (it looks like SubjectPublicKeyInfo; RFC 8463 wants the raw 32-byte key)"
                if len(data) == 44
                else ""
            )
            return f"an Ed25519 key is 32 bytes, this one is {len(data)}{hint}"
        try:
            ed25519.Ed25519PublicKey.from_public_bytes(data)
        except (ValueError, UnsupportedAlgorithm) as exc:
            return f"not an Ed25519 key ({exc})"
        return "ed25519", 256, False
    if key.key_type != "rsa":
        return f"k={key.key_type} is not a key type verifiers know (rsa, ed25519)"
    try:  # accepts SubjectPublicKeyInfo and the bare PKCS#1 RSAPublicKey some publish
        loaded = serialization.load_der_public_key(data)
    except (ValueError, UnsupportedAlgorithm, TypeError):
        return "p= does not decode to an RSA public key"
    if not isinstance(loaded, rsa.RSAPublicKey):
        return f"k=rsa, but p= holds a {type(loaded).__name__.removesuffix('PublicKey')} key"
    spki = loaded.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "rsa", loaded.key_size, spki != data
