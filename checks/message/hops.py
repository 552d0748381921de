"""The Received chain (RFC 5321 4.4, RFC 3848): where did the message go, over TLS or not, and
which hop was slow?

Received fields are prepended, so the topmost is the newest; hops are numbered oldest first. A
date without a usable zone is read as UTC and noted; a date earlier than the hop before it is a
wrong clock, noted and never turned into a negative "delay"; nothing here raises.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_tz
from typing import Final

from checks.message.result import Hop
from checks.model import Finding, Status

ID: Final = "hops"
TITLE: Final = "Received chain"

SLOW_SECONDS: Final = 15 * 60  # a hop slower than this is worth a look (a queue, a deferral)
LOOP_HOPS: Final = 100  # RFC 5321 6.3: a relay may treat 100 Received fields as a loop
_SKEW_SECONDS: Final = 60  # clocks disagreeing by less than this are not worth a note
_FROM: Final = re.compile(r"\bfrom\s+(\S+)(.*?)(?=\bby\b|$)", re.I | re.S)
_BY: Final = re.compile(r"\bby\s+([^\s;()]+)", re.I)
_WITH: Final = re.compile(r"\bwith\s+([A-Za-z0-9_-]+)", re.I)
_IP: Final = re.compile(r"\[(?:IPv6:)?([0-9A-Fa-f:.]+)\]")
_BARE_IP: Final = re.compile(r"\(([0-9A-Fa-f:.]*[:.][0-9A-Fa-f:.]*)\)")
# RFC 5322 3.3 zone, or the obsolete names (4.3); a date without one is read as UTC and noted
_ZONE: Final = re.compile(
    r"(?:[+-]\d{4}|\b(?:UT|UTC|GMT|[ECMP][SD]T|[A-IK-Za-ik-z]))\s*(?:\([^)]*\))?\s*$"
)
_TLS_COMMENT: Final = re.compile(r"\b(?:TLSv?1\.[0-3]|version=TLS|using TLS|cipher=)", re.I)


def parse_received(value: str, index: int = 0) -> Hop:
    """One Received field value, read leniently: missing parts are empty, never an error."""
    body, _, date_text = value.rpartition(";") if ";" in value else (value, "", "")
    sender = _FROM.search(body)
    from_host, from_rest = (sender.group(1), sender.group(2)) if sender else ("", "")
    by = _BY.search(body)
    protocol = _WITH.search(body)
    proto = protocol.group(1).upper() if protocol else ""
    when, zone_missing = _date(date_text)
    return Hop(
        index=index,
        from_host=from_host.strip("()[]<>").lower(),
        from_ip=_address(from_rest) or _address(from_host),
        by_host=by.group(1).lower() if by else "",
        protocol=proto,
        tls=_tls(proto, body),
        when=when,
        zone_missing=zone_missing,
        raw=" ".join(value.split()),
    )


def chain(received: Sequence[str]) -> tuple[Hop, ...]:
    """The hops, oldest first, each with its delay since the previous readable date."""
    hops = [parse_received(v, i + 1) for i, v in enumerate(reversed(received))]
    out: list[Hop] = []
    previous: datetime | None = None
    for hop in hops:
        delay = None
        if hop.when is not None and previous is not None:
            delay = (hop.when - previous).total_seconds()
        out.append(_with_delay(hop, delay))
        if hop.when is not None:
            previous = hop.when
    return tuple(out)


def judge(hops: Sequence[Hop]) -> list[Finding]:
    """What the chain says: its length and duration, the slowest hop, dates to distrust."""
    if not hops:
        return [
            Finding(
                "hops.none",
                Status.INFO,
                "There are no Received fields: these headers were not taken from a delivered "
                "message (a draft, or the headers were trimmed).",
            )
        ]
    findings = [_summary(hops)]
    findings += _slowest(hops)
    findings += _dates(hops)
    if len(hops) >= LOOP_HOPS:
        findings.append(
            Finding(
                "hops.loop",
                Status.WARN,
                f"The message went through {len(hops)} hops; from {LOOP_HOPS} on, servers treat "
                "it as a mail loop and bounce it (RFC 5321 6.3).",
                fix="Look for two servers (or a forward rule) that hand the message back and forth.",
            )
        )
    return findings


def external_hop(hops: Sequence[Hop], *, allow_private: bool = False) -> Hop | None:
    """The receiver's first hop from outside: the newest hop whose client address is not
    private, loopback or link-local (when `allow_private`, the newest with any address)."""
    for hop in reversed(hops):
        if hop.from_ip and not _internal(hop.from_ip):
            return hop
    if allow_private:
        return next((h for h in reversed(hops) if h.from_ip), None)
    return None


def span(seconds: float) -> str:
    """A duration in words: "4 s", "3 min 20 s", "2 h 5 min", "3 d 4 h"."""
    whole = round(abs(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


# ---- helpers ------------------------------------------------------------------------------------


def _date(text: str) -> tuple[datetime | None, bool]:
    text = text.strip()
    if not text:
        return None, False
    try:
        parts = parsedate_tz(text)
    except (ValueError, IndexError, TypeError):  # the email package's own parse, on odd input
        return None, False
    if parts is None:
        return None, False
    offset = parts[9] if _ZONE.search(text) else None
    try:
        naive = datetime(*parts[:6])  # the zone is applied on the next line
    except (ValueError, OverflowError):
        return None, False
    when = naive.replace(tzinfo=UTC) - timedelta(seconds=offset or 0)
    return when, offset is None


def _address(text: str) -> str:
    for pattern in (_IP, _BARE_IP):
        for found in pattern.findall(text):
            try:
                return str(ipaddress.ip_address(found))
            except ValueError:
                continue
    return ""


def _tls(protocol: str, body: str) -> bool | None:
    if _TLS_COMMENT.search(body):
        return True
    if not protocol:
        return None
    # RFC 3848: ESMTPS / ESMTPSA / UTF8SMTPS / LMTPS: the S after the protocol means TLS
    return protocol.rstrip("A").endswith("S") and protocol not in ("SMTP", "LMTP")


def _internal(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_link_local or ip.is_unspecified or _rfc1918(ip)


def _rfc1918(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    private = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
    return any(
        ip in ipaddress.ip_network(n) for n in private if ip.version == (6 if ":" in n else 4)
    )


def _with_delay(hop: Hop, delay: float | None) -> Hop:
    return Hop(
        hop.index,
        hop.from_host,
        hop.from_ip,
        hop.by_host,
        hop.protocol,
        hop.tls,
        hop.when,
        hop.zone_missing,
        delay,
        hop.raw,
    )


def _name(hop: Hop) -> str:
    return hop.by_host or f"hop {hop.index}"


def _summary(hops: Sequence[Hop]) -> Finding:
    dated = [h for h in hops if h.when is not None]
    first, last = hops[0], hops[-1]
    route = f"from {first.from_host or first.from_ip or 'the sender'} to {_name(last)}"
    if len(dated) >= 2:
        total = (dated[-1].when - dated[0].when).total_seconds()  # type: ignore[operator]
        took = f" in {span(total)}" if total >= 0 else ""
    else:
        took = ""
    n = len(hops)
    return Finding(
        "hops.summary",
        Status.PASS,
        f"{n} hop{'s' if n != 1 else ''}{took}, {route}.",
        evidence=tuple(h.raw for h in hops[:3]),
    )


def _slowest(hops: Sequence[Hop]) -> list[Finding]:
    timed = [h for h in hops if h.delay_seconds is not None and h.delay_seconds >= 0]
    if not timed:
        return []
    slow = max(timed, key=lambda h: h.delay_seconds or 0.0)
    seconds = slow.delay_seconds or 0.0
    before = hops[slow.index - 2] if slow.index >= 2 else None
    where = f"{_name(before)} → {_name(slow)}" if before else _name(slow)
    message = f"The slowest hop was {where} (hop {slow.index}): {span(seconds)}."
    if seconds < SLOW_SECONDS:
        return [Finding("hops.slowest", Status.INFO, message)]
    return [
        Finding(
            "hops.slow",
            Status.WARN,
            message[:-1] + ", so the message sat in a queue there (a deferral, greylisting, "
            "rate limiting or a down next hop).",
            fix=f"Read the mail log of {_name(before) if before else _name(slow)} for this "
            "message: it names the deferral.",
            evidence=(slow.raw,),
        )
    ]


def _dates(hops: Sequence[Hop]) -> list[Finding]:
    findings: list[Finding] = []
    undated = [h for h in hops if h.when is None]
    zoneless = [h for h in hops if h.zone_missing]
    backwards = [
        h for h in hops if h.delay_seconds is not None and h.delay_seconds < -_SKEW_SECONDS
    ]
    if undated:
        findings.append(
            Finding(
                "hops.bad_date",
                Status.INFO,
                f"{len(undated)} Received field(s) have no readable date (hop "
                f"{', '.join(str(h.index) for h in undated[:5])}); their delays are unknown.",
                evidence=tuple(h.raw for h in undated[:3]),
            )
        )
    if zoneless:
        findings.append(
            Finding(
                "hops.no_zone",
                Status.INFO,
                f"{len(zoneless)} Received date(s) have no time zone (hop "
                f"{', '.join(str(h.index) for h in zoneless[:5])}); read as UTC, so delays "
                "around them may be off by hours.",
                evidence=tuple(h.raw for h in zoneless[:3]),
            )
        )
    if backwards:
        hop = backwards[0]
        findings.append(
            Finding(
                "hops.out_of_order",
                Status.INFO,
                f"Hop {hop.index} ({_name(hop)}) is dated {span(-(hop.delay_seconds or 0))} "
                "before the hop that handed the message to it: a server's clock is wrong, so "
                "those delays are not real.",
                fix=f"Check NTP on {_name(hop)}.",
                evidence=(hop.raw,),
            )
        )
    return findings
