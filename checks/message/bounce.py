"""Bounces (RFC 3464 delivery status notifications, and the plain-text reports of Postfix, Exim,
Exchange/Microsoft 365, Gmail and Yahoo): who failed, with what status, said by which server?

A DSN's `message/delivery-status` part is read field by field here: `flufl.bounce` (the
maintained bounce detector) only answers "which recipients", and a diagnosis needs each one's
action, status, remote MTA and diagnostic text. For plain-text bounces `flufl.bounce` does find
the recipients, and the styles below find the reply each one got. `style()` tells a bounce
from a message; `read()` returns `None` for a text that is no bounce at all.
"""

from __future__ import annotations

import email.message
import ipaddress
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from flufl.bounce import all_failures

from checks.message.codes import enhanced_in, is_permanent, meaning, reply_in
from checks.message.parse import Parsed, parse
from checks.message.result import Dsn, DsnRecipient

ID: Final = "bounce"
TITLE: Final = "Bounce"

MAX_RECIPIENTS: Final = 100
_ADDRESS: Final = r"[^\s<>()\[\]@,;:\"']+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"
_SUBJECT: Final = re.compile(
    r"undeliver|undelivered|delivery (?:status notification|failure|has failed)|returned mail|"
    r"failure notice|mail delivery failed|non-?delivery|delivery notification|could not be delivered|"
    r"message not delivered|delayed mail|warning: could not send",
    re.I,
)
_DAEMON: Final = re.compile(r"mailer-daemon|postmaster|mail delivery (?:sub)?system", re.I)
# Each style: the marker that names it, most specific first.
_STYLES: Final = (
    (
        "exchange",
        re.compile(
            r"Delivery has failed to these recipients|Diagnostic information for administrators|Remote Server returned|Generating server:",
            re.I,
        ),
    ),
    (
        "gmail",
        re.compile(
            r"The response (?:from the remote server )?was:|wasn't delivered to|\*\* (?:Address not found|Message blocked|Message not delivered) \*\*",
            re.I,
        ),
    ),
    ("yahoo", re.compile(r"Sorry, we were unable to deliver your message|Remote host said:", re.I)),
    (
        "exim",
        re.compile(
            r"created automatically by mail delivery software|following address(?:\(es\))? failed|SMTP error from remote mail server",
            re.I,
        ),
    ),
    (
        "postfix",
        re.compile(
            r"This is the mail system at host|\(in reply to [A-Z ]+command\)|said: \d{3}", re.I
        ),
    ),
)
_DELAYED: Final = re.compile(
    r"THIS IS A WARNING ONLY|has been delayed|not yet been delivered|will (?:continue|keep) trying",
    re.I,
)
_CODE_START: Final = re.compile(r"^[45]\d\d[- ](?:[245]\.\d{1,3}\.\d{1,3}\s+)?")
_REPLY_LINE: Final = re.compile(r"(?m)^\s*[#'\"]?\s*([45]\d\d[ -][^\n]{3,})$")


# flufl.bounce logs each detector's exception with its traceback; the exceptions are handled
# here (`_flufl_recipients`), and a bounce's text must not reach the app's log through them.
_FLUFL_LOG = logging.getLogger("flufl.bounce")
_FLUFL_LOG.addHandler(logging.NullHandler())
_FLUFL_LOG.propagate = False


def style(parsed: Parsed) -> str:
    """The bounce's style ("dsn", "postfix", …), or "" when `parsed` is no bounce."""
    if _is_dsn(parsed):
        return "dsn"
    text = parsed.text
    subject = parsed.get("Subject") or ""
    sender = parsed.get("From") or ""
    bouncy = bool(_SUBJECT.search(subject) or _DAEMON.search(sender)) or not parsed.fields
    for name, marker in _STYLES:
        if marker.search(text) and (bouncy or name in ("exchange", "gmail", "yahoo", "exim")):
            return name
    if bouncy and enhanced_in(text) and reply_in(text):
        return "generic"
    return ""


def read(parsed: Parsed, kind: str) -> Dsn:
    """The bounce as a `Dsn`; `kind` is what `style` said."""
    if kind == "dsn":
        return _read_dsn(parsed)
    return _read_text(parsed, kind)


# ---- RFC 3464 ----------------------------------------------------------------------------------


def _is_dsn(parsed: Parsed) -> bool:
    mime = parsed.mime
    if mime is None:
        return False
    if mime.get_content_type() == "multipart/report":
        report_type = mime.get_param("report-type")
        return (isinstance(report_type, str) and report_type.lower() == "delivery-status") or any(
            p.get_content_type() == "message/delivery-status" for p in mime.walk()
        )
    return False


def _read_dsn(parsed: Parsed) -> Dsn:
    assert parsed.mime is not None  # noqa: S101 -- _is_dsn said so
    blocks = list(_status_blocks(parsed.mime))
    per_message = blocks[0] if blocks else {}
    recipients = tuple(_recipient(b) for b in blocks[1:] if _names_recipient(b))[:MAX_RECIPIENTS]
    if not recipients:  # some MTAs put everything in one block
        recipients = tuple(_recipient(b) for b in blocks if _names_recipient(b))[:MAX_RECIPIENTS]
    if not recipients:  # a report whose status part is unreadable: read its words instead
        return _read_text(parsed, "dsn")
    return _dsn("dsn", _value(per_message, "reporting-mta"), recipients, parsed)


def _status_blocks(mime: email.message.Message) -> Iterator[dict[str, str]]:
    for part in mime.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        payload = part.get_payload()
        if isinstance(payload, list):
            for block in payload:
                if isinstance(block, email.message.Message):
                    yield {k.lower(): " ".join(str(v).split()) for k, v in block.items()}
        elif isinstance(payload, str):
            yield from _text_blocks(payload)
        return


def _text_blocks(text: str) -> Iterator[dict[str, str]]:
    for chunk in re.split(r"\r?\n\s*\r?\n", text):
        block: dict[str, str] = {}
        last = ""
        for line in chunk.splitlines():
            if line[:1] in (" ", "\t") and last:
                block[last] += " " + line.strip()
            elif ":" in line:
                name, _, value = line.partition(":")
                last = name.strip().lower()
                block[last] = value.strip()
        if block:
            yield block


def _names_recipient(block: dict[str, str]) -> bool:
    return "final-recipient" in block or "original-recipient" in block


def _value(block: dict[str, str], name: str) -> str:
    """A typed field's value without its type ("dns; mx.example" → "mx.example")."""
    value = block.get(name, "")
    kind, sep, rest = value.partition(";")
    return rest.strip() if sep and " " not in kind.strip() else value.strip()


def _recipient(block: dict[str, str]) -> DsnRecipient:
    diagnostic = _value(block, "diagnostic-code")
    status = enhanced_in(block.get("status", "")) or enhanced_in(diagnostic)
    return DsnRecipient(
        recipient=(_value(block, "final-recipient") or _value(block, "original-recipient"))
        .strip("<>")
        .lower(),
        action=block.get("action", "").split()[0].lower() if block.get("action") else "",
        status=status,
        remote_mta=_value(block, "remote-mta"),
        diagnostic=diagnostic,
        reply_code=reply_in(diagnostic + " "),
    )


# ---- plain text ---------------------------------------------------------------------------------


def _read_text(parsed: Parsed, kind: str) -> Dsn:
    text = parsed.text
    temporary, permanent = _flufl_recipients(parsed)
    replies = list(_replies(text, kind))
    named = [r for r, _, _ in replies if r]
    addresses = list(dict.fromkeys([*named, *permanent, *temporary]))[:MAX_RECIPIENTS]
    fallback = replies[0] if replies else ("", "", "")
    delayed = bool(_DELAYED.search(text))
    recipients = []
    for address in addresses or [""]:
        _, diagnostic, host = next((r for r in replies if r[0] == address), fallback)
        status = enhanced_in(diagnostic) or _class_only(diagnostic)
        temp = address in temporary or delayed or (status.startswith("4"))
        recipients.append(
            DsnRecipient(
                recipient=address,
                action="delayed" if temp else "failed",
                status=status,
                remote_mta=host,
                diagnostic=diagnostic,
                reply_code=reply_in(diagnostic + " "),
            )
        )
    return _dsn(kind, _reporting_host(text), tuple(recipients), parsed)


def _flufl_recipients(parsed: Parsed) -> tuple[list[str], list[str]]:
    mime = parsed.mime
    if mime is None:
        mime = email.message.Message()
        mime["From"] = "unknown@invalid"  # flufl's detectors read From, and pasted text has none
        mime.set_payload(parsed.text, "utf-8")
    try:
        temporary, permanent = all_failures(mime)
    except (ValueError, TypeError, LookupError, AttributeError, IndexError, UnicodeError):
        return [], []
    return _addresses(temporary), _addresses(permanent)


def _addresses(found: frozenset[bytes]) -> list[str]:
    return sorted(a.decode("ascii", "replace").lower() for a in found)


def _replies(text: str, kind: str) -> Iterator[tuple[str, str, str]]:
    """(recipient, the reply text, the remote host) in the order the bounce gives them."""
    match kind:
        case "postfix" | "dsn":
            pattern = rf"<({_ADDRESS})>(?:\s*\(expanded from[^)]*\))?:\s*(.+?)(?:\n\s*\n|\Z)"
        case "exim":
            pattern = rf"(?m)^\s+({_ADDRESS})\s*\n(.+?)(?:\n\s*\n|\Z)"
        case "yahoo":
            pattern = rf"<?({_ADDRESS})>?:\s*\n(.+?)(?:\n\s*\n|\Z)"
        case "exchange":
            pattern = rf"(?m)^\s*({_ADDRESS})\s*\n(.+?)(?:\n\s*\n|\Z)"
        case _:
            pattern = ""
    found = False
    if pattern:
        for m in re.finditer(pattern, text, re.S):
            block = m.group(2)
            reply = _reply_text(block)
            if reply:
                found = True
                yield m.group(1).lower(), reply, _remote_host(block)
    if not found:
        reply = _reply_text(text)
        if reply:
            near = re.search(rf"({_ADDRESS})", text)
            yield (near.group(1).lower() if near else ""), reply, _remote_host(text)


def _reply_text(block: str) -> str:
    """The remote server's reply in `block`, unwrapped: "550 5.7.26 This mail is …"."""
    for marker in (
        r"said:\s*",
        r"Remote (?:Server|host) (?:returned|said):?\s*'?",
        r"The response(?: from the remote server)? was:\s*",
        r"SMTP error from remote mail server after [^:]+:\s*",
    ):
        m = re.search(marker + r"(.+?)(?:\(in reply to|'\s*$|\n\s*\n|\Z)", block, re.S | re.I)
        if m and reply_in(m.group(1) + " "):
            return _squash(m.group(1))
    m = _REPLY_LINE.search(block)
    if m:
        start = m.start(1)
        end = block.find("\n\n", start)
        return _squash(block[start : end if end > 0 else len(block)])
    return ""


def _squash(text: str) -> str:
    """A reply as one line, from its first reply code on: "550-5.7.26 a" / "550-5.7.26 b" become
    "550-5.7.26 a b". At most 1000 characters."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    first = next((i for i, line in enumerate(lines) if _CODE_START.match(line)), None)
    if first is not None:
        code = lines[first][:3]
        rest = [_CODE_START.sub("", ln) if ln.startswith(code) else ln for ln in lines[first + 1 :]]
        lines = [lines[first], *rest]
    return " ".join(" ".join(lines).split()).strip(" '#")[:1000]


def _remote_host(block: str) -> str:
    m = re.search(r"host\s+([A-Za-z0-9.-]+\s*\[[0-9A-Fa-f.:]+\])", block)
    if m:
        return " ".join(m.group(1).split())
    m = re.search(r"Generating server:\s*(\S+)", block)
    return m.group(1) if m else ""


def _reporting_host(text: str) -> str:
    m = re.search(
        r"mail system at host ([A-Za-z0-9.-]+)|Reporting-MTA:\s*dns;\s*(\S+)|Generating server:\s*(\S+)",
        text,
        re.I,
    )
    return next((g.rstrip(".") for g in m.groups() if g), "") if m else ""


def _class_only(diagnostic: str) -> str:
    reply = reply_in(diagnostic + " ")
    return f"{reply[0]}.0.0" if reply else ""


# ---- the whole ------------------------------------------------------------------------------------


def _dsn(kind: str, reporting: str, recipients: tuple[DsnRecipient, ...], parsed: Parsed) -> Dsn:
    first = recipients[0] if recipients else None
    status = first.status if first else ""
    permanent = is_permanent(status) if status else bool(first and first.action == "failed")
    return Dsn(
        style=kind,
        reporting_mta=reporting,
        recipients=recipients,
        meaning=meaning(status) if status else "",
        permanent=permanent,
        original_from=_original_from(parsed),
    )


def _original_from(parsed: Parsed) -> str:
    """The From domain of the message that bounced, when the bounce returned its headers."""
    mime = parsed.mime
    if mime is None:
        return ""
    for part in mime.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], email.message.Message):
                return _domain_of(str(inner[0].get("From", "")))
        elif kind in ("text/rfc822-headers", "message/rfc822-headers"):
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes) and payload.strip():
                try:
                    return parse(payload).from_domain
                except ValueError:
                    return ""
    return ""


def _domain_of(value: str) -> str:
    m = re.search(rf"({_ADDRESS})", value)
    return m.group(1).rpartition("@")[2].lower() if m else ""


@dataclass(frozen=True, slots=True)
class Named:
    """What a bounce names that can be checked live."""

    sender_domain: str
    recipient_domain: str
    ip: str


def named(dsn: Dsn, parsed: Parsed) -> Named:
    """The sending domain (the returned message's From, else the bounce's To), the first
    recipient's domain, and the sending IP the reply names."""
    to = _domain_of(parsed.get("To") or "")
    sender = dsn.original_from or to
    recipient = next(
        (r.recipient.rpartition("@")[2] for r in dsn.recipients if "@" in r.recipient), ""
    )
    text = " ".join(r.diagnostic for r in dsn.recipients)
    return Named(sender, recipient, _ip_in(text))


def _ip_in(text: str) -> str:
    for m in re.finditer(
        r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?![\d.])|\[([0-9A-Fa-f:]+:[0-9A-Fa-f:]*)\]", text
    ):
        candidate = m.group(1) or m.group(2)
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return ""
