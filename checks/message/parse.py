"""Reading pasted evidence (RFC 5322 header fields, RFC 2045 MIME): its header fields, unfolded,
and its text parts, within fixed bounds, whatever the bytes are.

Binary data, an empty paste and anything past `MAX_BYTES` are `MessageSyntaxError`s; everything
else parses, however broken: a line that is not a header field ends the header section (pasted
headers often lose the blank line), and the MIME structure is the email package's lenient read.
"""

from __future__ import annotations

import email
import email.errors
import email.header
import email.message
import email.policy
import re
from dataclasses import dataclass, field
from email.utils import getaddresses
from typing import Final

MAX_BYTES: Final = 25 * 1024 * 1024  # Gmail's limit for one message; more is not mail
MAX_FIELDS: Final = 2000  # header fields read; a message with more is itself the anomaly
MAX_TEXT: Final = 256 * 1024  # characters of text parts scanned for bounce wording
_FIELD: Final = re.compile(rb"^([\x21-\x39\x3b-\x7e]+)[ \t]*:")  # RFC 5322 3.6.8 field-name
_MBOX: Final = re.compile(rb"^From [^\r\n]*\r?\n")  # an mbox separator line before the headers
_BINARY_SAMPLE: Final = 64 * 1024
_CONTROL: Final = frozenset(range(32)) - {9, 10, 12, 13}


class MessageSyntaxError(ValueError):
    """The input is not a message, headers or a bounce we can read; the message says why."""


@dataclass(frozen=True, slots=True)
class Parsed:
    """A pasted message's header fields and text; `raw` is kept only for DKIM body hashes."""

    fields: tuple[tuple[str, str], ...]  # (name as written, value unfolded), top to bottom
    raw: bytes = field(repr=False)  # header section and body, as DKIM hashes them
    body: bool  # something follows the header section
    text: str = field(default="", repr=False)  # text parts, for reading bounce wording only
    mime: email.message.Message | None = field(default=None, repr=False, compare=False)
    dropped_fields: int = 0  # fields past MAX_FIELDS, not read

    def get(self, name: str) -> str | None:
        """The first (topmost) field called `name`, any case."""
        wanted = name.lower()
        return next((v for n, v in self.fields if n.lower() == wanted), None)

    def get_all(self, name: str) -> list[str]:
        wanted = name.lower()
        return [v for n, v in self.fields if n.lower() == wanted]

    @property
    def from_addresses(self) -> list[str]:
        """The addresses in From (RFC 5322 3.6.2), lower-cased."""
        values = self.get_all("From")
        return [a.lower() for _, a in getaddresses(values) if "@" in a]

    @property
    def from_domain(self) -> str:
        addresses = self.from_addresses
        return addresses[0].rpartition("@")[2].rstrip(">. ") if addresses else ""

    @property
    def content_type(self) -> str:
        return self.mime.get_content_type() if self.mime is not None else "text/plain"


def parse(data: bytes) -> Parsed:
    """Read `data` (a message, its header section, or a bounce). Only MessageSyntaxError."""
    if len(data) > MAX_BYTES:
        raise MessageSyntaxError(
            f"the input is {len(data) / 1048576:.1f} MB; a message is at most "
            f"{MAX_BYTES // 1048576} MB (paste its headers instead)"
        )
    data = _strip_preamble(data)
    if not data.strip():
        raise MessageSyntaxError("the input is empty")
    if _binary(data[:_BINARY_SAMPLE]):
        raise MessageSyntaxError(
            "the input is binary data, not a message (save the message as .eml or paste its text)"
        )
    lines = data.splitlines(keepends=True)
    head, rest = _header_section(lines)
    fields = [(name, value) for name, value in _fields(head)]
    dropped = max(len(fields) - MAX_FIELDS, 0)
    body = b"".join(rest)
    raw = b"".join(head) + (b"" if not rest or _blank(rest[0]) else b"\r\n") + body
    mime = _mime(raw) if fields else None
    text = _text(mime) if mime is not None else data.decode("utf-8", "replace")[:MAX_TEXT]
    return Parsed(
        fields=tuple(fields[:MAX_FIELDS]),
        raw=raw,
        body=bool(body.strip()),
        text=text,
        mime=mime,
        dropped_fields=dropped,
    )


def _strip_preamble(data: bytes) -> bytes:
    data = data.removeprefix(b"\xef\xbb\xbf").lstrip(b"\r\n \t")
    return _MBOX.sub(b"", data, count=1)


def _binary(sample: bytes) -> bool:
    """NUL bytes, or many control characters: an image, an archive, a .msg (OLE) file."""
    if b"\x00" in sample:
        return True
    controls = sum(1 for b in sample if b in _CONTROL)
    return controls > max(len(sample) // 100, 8)


def _blank(line: bytes) -> bool:
    return not line.strip(b"\r\n")


def _header_section(lines: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """The header lines, and the rest (the blank line and the body)."""
    for index, line in enumerate(lines):
        if _blank(line):
            return lines[:index], lines[index:]
        if line[:1] in (b" ", b"\t") and index > 0:
            continue  # a folded continuation (RFC 5322 2.2.3)
        if not _FIELD.match(line):
            return lines[:index], lines[index:]
    return lines, []


def _fields(head: list[bytes]) -> list[tuple[str, str]]:
    fields: list[tuple[str, list[bytes]]] = []
    for line in head:
        match = _FIELD.match(line)
        if match is not None:
            fields.append((match.group(1).decode("ascii"), [line[match.end() :]]))
        elif fields:
            fields[-1][1].append(line)
    return [(name, _unfold(parts)) for name, parts in fields]


def _unfold(parts: list[bytes]) -> str:
    """RFC 5322 2.2.3: remove the line breaks of a folded field; decoded leniently (RFC 6532)."""
    joined = b"".join(p.rstrip(b"\r\n") for p in parts)
    return joined.decode("utf-8", "replace").strip()


def _mime(raw: bytes) -> email.message.Message | None:
    try:
        return email.message_from_bytes(raw, policy=email.policy.compat32)
    except (email.errors.MessageError, ValueError, LookupError, IndexError):
        return None


def _text(mime: email.message.Message) -> str:
    """The text/plain parts (and delivery-status ones) that bounce wording is read from."""
    out: list[str] = []
    size = 0
    for part in mime.walk():
        kind = part.get_content_type()
        if kind not in ("text/plain", "message/delivery-status") and part is not mime:
            continue
        if part.is_multipart():
            continue
        piece = _decoded(part)
        out.append(piece)
        size += len(piece)
        if size >= MAX_TEXT:
            break
    return "\n".join(out)[:MAX_TEXT]


def _decoded(part: email.message.Message) -> str:
    try:
        payload = part.get_payload(decode=True)
    except (email.errors.MessageError, ValueError, LookupError, IndexError):
        payload = None
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except LookupError:  # an unknown charset name
        return payload.decode("utf-8", "replace")


def decode_words(value: str) -> str:
    """A header value with its RFC 2047 encoded words decoded (for Subject and names only)."""
    try:
        parts = email.header.decode_header(value)
    except (email.errors.HeaderParseError, ValueError, LookupError):
        return value
    out = []
    for text, charset in parts:
        if isinstance(text, bytes):
            try:
                out.append(text.decode(charset or "utf-8", "replace"))
            except LookupError:
                out.append(text.decode("utf-8", "replace"))
        else:
            out.append(text)
    return "".join(out)
