"""ARC (RFC 8617): when the message was forwarded, does its chain of custody validate?

dkimpy verifies the chain (every ARC-Seal, the newest ARC-Message-Signature); its key lookups
read answers fetched first through the report's `DnsClient`, as for DKIM.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import dkim
import dkim.util

from checks.message.parse import Parsed
from checks.model import Finding, Status
from checks.net.dns import DnsClient

ID: Final = "arc"
TITLE: Final = "ARC chain"

MAX_SETS: Final = 50  # RFC 8617 4.2.1: i= runs 1..50
_FIELDS: Final = ("arc-seal", "arc-message-signature")
_QUIET = logging.getLogger("checks.message.dkimpy")


@dataclass(frozen=True, slots=True)
class ArcVerdict:
    """The chain's validation status (RFC 8617 5.2): none, pass or fail, and why."""

    status: str  # "none", "pass", "fail"
    sets: int
    reason: str = ""
    sealers: tuple[str, ...] = ()  # d= of each ARC-Seal, oldest first


async def verify(parsed: Parsed, dns: DnsClient) -> ArcVerdict:
    seals = [v for n, v in parsed.fields if n.lower() == "arc-seal"]
    if not seals:
        return ArcVerdict("none", 0)
    if len(seals) > MAX_SETS:
        return ArcVerdict("fail", len(seals), f"{len(seals)} ARC sets; the limit is {MAX_SETS}")
    names = sorted(
        {n for name, v in parsed.fields if name.lower() in _FIELDS for n in [_key_name(v)] if n}
    )
    answers = await asyncio.gather(*(dns.txt(n) for n in names))
    keys = {
        n: (a.texts()[0] if a.ok and a.texts() else None)
        for n, a in zip(names, answers, strict=True)
    }
    sealers = tuple(reversed([_tag(v, b"d") for v in seals]))
    status, reason = await asyncio.to_thread(_chain, parsed.raw, keys)
    return ArcVerdict(status, len(seals), reason, sealers)


def judge(verdict: ArcVerdict, forwarded_dmarc_fail: bool) -> list[Finding]:
    if verdict.status == "none":
        return [
            Finding(
                "arc.none",
                Status.SKIP,
                "No ARC headers: the message was not forwarded by an ARC sealer.",
            )
        ]
    who = ", ".join(verdict.sealers) or "?"
    if verdict.status == "pass":
        note = (
            " A receiver that trusts these sealers may accept it although DMARC fails."
            if forwarded_dmarc_fail
            else ""
        )
        return [
            Finding(
                "arc.pass",
                Status.PASS,
                f"The ARC chain ({verdict.sets} set(s), sealed by {who}) validates.{note}",
            )
        ]
    return [
        Finding(
            "arc.fail",
            Status.WARN,
            f"The ARC chain ({verdict.sets} set(s), sealed by {who}) does not validate: "
            f"{verdict.reason}. Receivers ignore it, so a forwarder's vouching is lost.",
            fix="The last forwarder must seal after its own changes; check its ARC signing keys.",
        )
    ]


def _tag(value: str, name: bytes) -> str:
    try:
        tags = dkim.util.parse_tag_value(value.encode("utf-8", "replace"))
    except (dkim.util.InvalidTagValueList, ValueError, IndexError):
        return ""
    value_bytes: bytes = tags.get(name, b"")
    return value_bytes.decode("ascii", "replace").strip().lower()


def _key_name(value: str) -> str:
    selector, domain = _tag(value, b"s"), _tag(value, b"d")
    return f"{selector}._domainkey.{domain}".rstrip(".") if selector and domain else ""


def _chain(raw: bytes, keys: Mapping[str, str | None]) -> tuple[str, str]:
    def dnsfunc(name: bytes, timeout: float = 5) -> bytes | None:
        found = keys.get(name.decode("ascii", "replace").lower().rstrip("."))
        return found.encode("utf-8") if found is not None else None

    try:
        cv, _, reason = dkim.ARC(raw, logger=_QUIET, minkey=1024).verify(dnsfunc=dnsfunc)
    except dkim.DKIMException as exc:
        return "fail", str(exc) or type(exc).__name__
    if cv == dkim.CV_Pass:
        return "pass", ""
    return "fail", f"{reason}"
