"""SMTP on port 25 (RFC 5321, RFC 3207): can a sender connect to every MX address, is it greeted,
and does STARTTLS work?

One probe per address per report (shared with the tls and dane checks), bounded in time. A server
that turns us away for now (421, "too many connections", hanging up at once) is reported as
inconclusive, not as broken: that is rate limiting or scanner blocking, and real senders retry.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from checks.context import Context
from checks.model import DOMAIN_AND_ADDRESS, Finding, Status
from checks.net.probe.result import Failure, ProbeResult, where

ID: Final = "smtp"
TITLE: Final = "SMTP (port 25)"
SCOPE: Final = DOMAIN_AND_ADDRESS

# 5xx greetings worded like "we block you" are about the bot's own address, not the server.
_BLOCKS_US = re.compile(
    r"block|black ?list|blocklist|listed|reputation|denied|not allowed|your ip|spamhaus|banned|rbl",
    re.IGNORECASE,
)
_INCONCLUSIVE_FIX = (
    "Nothing to change if mail arrives: run the check again later, or from another network."
)


@dataclass(frozen=True, slots=True)
class _Verdict:
    """How one way of failing is reported. `message`, `fix` and `extra_evidence` are str.format
    templates over the probe's fields: {w} (the endpoint), {detail}, {address}, {banner},
    {reply} (the STARTTLS reply, else the detail), {step} and {first_bytes}."""

    code: str  # after "smtp."
    status: Status
    message: str
    fix: str = ""
    evidence: bool = True  # the probe's steps, banner and EHLO reply
    extra_evidence: str = ""


_STALLED: Final = _Verdict(
    "stalled",
    Status.ERROR,
    "{w} stopped answering during {step} ({detail}). "
    "Inconclusive: run the check again; if it repeats, the server is overloaded.",
    fix=_INCONCLUSIVE_FIX,
)

# One row per way a probe can stop (one not listed reads as stalled); _verdict swaps in the
# variants below when the rest of the report changes what the failure means.
_FAILURES: Final[Mapping[Failure, _Verdict]] = {
    Failure.REFUSED_BY_POLICY: _Verdict(
        "address_refused",
        Status.INFO,
        "Not connecting to {w}: {detail}.",
        fix="Publish the server's public address, or allow private addresses in a lab.",
        evidence=False,
    ),
    Failure.CONNECTION_REFUSED: _Verdict(
        "connection_refused",
        Status.FAIL,
        "{w} refuses connections on port 25: nothing listens there, so senders cannot "
        "deliver to this address (they try the other MX hosts, then give up).",
        fix="Start the mail server on {address} port 25, or open port 25 in its firewall; "
        "if the host no longer handles mail, remove it from the MX records.",
    ),
    Failure.CONNECT_TIMEOUT: _Verdict(  # and no other mail host answered either
        "connect_timeout",
        Status.ERROR,
        "{w} does not answer on port 25 ({detail}). Either a firewall drops connections to "
        "it, or the network the bot runs in blocks outgoing port 25 (common in clouds).",
        fix="Run the check from a network that allows outgoing port 25; if it still times out, "
        "open port 25 to the server.",
    ),
    Failure.UNREACHABLE: _Verdict(
        "unreachable",
        Status.ERROR,
        "{w} could not be reached from here ({detail}); this may be the bot's own "
        "network (no IPv6 route, say) rather than the server.",
    ),
    Failure.NO_BANNER: _Verdict(  # silent past the greeting wait (settings.greeting_timeout)
        "no_banner",
        Status.WARN,
        "{w} accepts the connection but stays silent ({detail}), longer than deliberate "
        "greeting pauses last (postscreen, greet_pause: a few seconds): the server is "
        "overloaded, tarpitting, or something in front of it holds connections open. "
        "Senders wait up to 5 minutes (RFC 5321 4.5.3.2.1), so mail may be slow rather than lost.",
        fix="Check the mail server's load and any greeting delay (postscreen, greet_pause); "
        "a healthy server greets within a second, or after its deliberate pause.",
    ),
    Failure.EARLY_CLOSE: _Verdict(
        "closed_early",
        Status.ERROR,
        "{w} closed the connection without greeting. Inconclusive: servers do this to "
        "addresses they rate-limit or treat as scanners, and real senders may be served.",
        fix=_INCONCLUSIVE_FIX,
    ),
    Failure.GREETING_DEFERRED: _Verdict(
        "greeting_deferred",
        Status.ERROR,
        "{w} turned us away for now ({banner}). Inconclusive: this is rate limiting "
        "(too many connections) or scanner blocking; senders retry after a 4xx.",
        fix=_INCONCLUSIVE_FIX,
    ),
    Failure.GREETING_REJECTED: _Verdict(  # and the greeting does not blame the bot's address
        "greeting_rejected",
        Status.FAIL,
        "{w} greets with a refusal ({banner}): it takes no mail, so senders bounce or try "
        "other MX hosts.",
        fix="If this host should receive mail, configure it to accept SMTP; otherwise remove it "
        "from the MX records.",
    ),
    Failure.GARBAGE: _Verdict(
        "not_smtp",
        Status.FAIL,
        "{w} answers on port 25, but not with SMTP ({detail}); senders cannot deliver.",
        fix="Make sure port 25 reaches the mail server and not another service "
        "(a load balancer, an HTTP or SSH server, TLS-only SMTP).",
        extra_evidence="first bytes: {first_bytes}",
    ),
    Failure.EHLO_FAILED: _Verdict(
        "ehlo_rejected",
        Status.FAIL,
        "{w} refuses EHLO ({detail}), so no STARTTLS and no ESMTP extensions.",
        fix="Enable ESMTP (EHLO) on the mail server.",
    ),
    Failure.STARTTLS_MISSING: _Verdict(
        "starttls_missing",
        Status.FAIL,
        "{w} does not offer STARTTLS, so mail to it travels unencrypted, and senders "
        "that require TLS (MTA-STS, DANE) will not deliver.",
        fix="Configure a certificate on the mail server and enable STARTTLS "
        "(Postfix: smtpd_tls_security_level = may). If a firewall rewrites the EHLO "
        "reply (SMTP inspection/fixup), turn that feature off.",
    ),
    Failure.STARTTLS_REFUSED: _Verdict(
        "starttls_refused",
        Status.FAIL,
        "{w} offers STARTTLS but refuses it ({reply}); senders fall back "
        "to plain text or, when they require TLS, do not deliver.",
        fix="Check the TLS certificate and key paths in the mail server's configuration.",
    ),
    Failure.TLS_FAILED: _Verdict(
        "tls_failed",
        Status.FAIL,
        "The TLS handshake with {w} failed ({detail}); senders that require TLS will "
        "not deliver and others may fall back to plain text.",
        fix="Check the server's certificate, key and TLS protocol settings (enable TLS 1.2 "
        "and 1.3).",
    ),
    Failure.TIMEOUT: _STALLED,  # it stopped answering part-way
    Failure.CLOSED: _STALLED,
}

# A connect timeout to one host while others answer: not the bot's network, a firewall.
_FIREWALLED: Final = _Verdict(
    "connect_timeout",
    Status.FAIL,
    "{w} does not answer on port 25 ({detail}) while other mail hosts do, so a "
    "firewall drops connections to it; senders cannot deliver to this address.",
    fix="Open port 25 to {address} in the firewall, or remove the host from the MX records.",
)
# A refusing greeting that _BLOCKS_US recognises as aimed at the bot's own address.
_BLOCKS_THE_BOT: Final = _Verdict(
    "blocked_by_server",
    Status.ERROR,
    "{w} rejects the bot's own address ({banner}). Inconclusive for other senders.",
    fix=_INCONCLUSIVE_FIX,
)


async def run(ctx: Context) -> list[Finding]:
    pairs, why_not = await ctx.mail_endpoints()
    if not pairs:
        return [Finding("smtp.skipped", Status.SKIP, why_not)]
    probes = await asyncio.gather(*(ctx.smtp_probe(host, address) for host, address in pairs))
    results = [p for p in probes if p is not None]
    if not results:
        return [
            Finding(
                "smtp.not_configured",
                Status.SKIP,
                "No SMTP prober is configured for this run, so no mail server was contacted.",
            )
        ]
    reachable = any(r.connected for r in results)
    ptrs = await asyncio.gather(*(_ptr_names(ctx, r) for r in results))
    findings: list[Finding] = []
    for result, ptr in zip(results, ptrs, strict=True):
        verdict, *names = _judge(result, ptr, reachable_elsewhere=reachable)
        findings += [verdict, *_slow_greeting(result, ctx.settings.timeout), *names]
    return findings


async def _ptr_names(ctx: Context, r: ProbeResult) -> tuple[str, ...]:
    if r.banner is None:
        return ()
    answer = await ctx.dns.ptr(r.address)
    return answer.targets() if answer.ok else ()


def _judge(r: ProbeResult, ptr: tuple[str, ...], *, reachable_elsewhere: bool) -> list[Finding]:
    if r.failure is None:
        return _passed(r, ptr)
    failed = _failure(r, r.failure, reachable_elsewhere)
    return [failed, *(_names(r, ptr) if r.banner is not None else [])]


def _passed(r: ProbeResult, ptr: tuple[str, ...]) -> list[Finding]:
    w = where(r.host, r.address)
    tls = r.tls
    assert tls is not None  # noqa: S101 -- a probe without failure has a TLS session
    if r.after_tls is not None and r.after_tls.code != "250":
        return [
            Finding(
                "smtp.ehlo_after_tls_rejected",
                Status.FAIL,
                f"{w} accepts STARTTLS but then refuses EHLO ({r.after_tls}), so senders that "
                "use TLS cannot deliver.",
                fix="Check the mail server's log for errors right after the TLS handshake.",
                evidence=_evidence(r),
            ),
            *_names(r, ptr),
        ]
    version = tls.version.replace("TLSv", "TLS ")
    cached = " (result from the last minute, reused)" if r.cached else ""
    size = _size(r.extensions)
    return [
        Finding(
            "smtp.ok",
            Status.PASS,
            f"{w} greets in {_duration(r.banner_ms)}, offers STARTTLS and negotiates {version} "
            f"({tls.cipher}){size}{cached}.",
            evidence=_evidence(r),
        ),
        *_names(r, ptr),
    ]


def _failure(r: ProbeResult, failure: Failure, reachable_elsewhere: bool) -> Finding:
    """The finding for where the probe stopped: a row of `_FAILURES`, filled in."""
    verdict = _verdict(r, failure, reachable_elsewhere)
    fields = {
        "w": where(r.host, r.address),
        "detail": r.detail,
        "address": r.address,
        "banner": r.banner,
        "reply": r.starttls or r.detail,
        "step": r.failed_step or "the dialogue",
        "first_bytes": repr(r.garbage[:120]),
    }
    evidence = _evidence(r) if verdict.evidence else ()
    if verdict.extra_evidence:
        evidence = (*evidence, verdict.extra_evidence.format(**fields))
    return Finding(
        f"smtp.{verdict.code}",
        verdict.status,
        verdict.message.format(**fields),
        fix=verdict.fix.format(**fields),
        evidence=evidence,
    )


def _verdict(r: ProbeResult, failure: Failure, reachable_elsewhere: bool) -> _Verdict:
    """The row for `failure`, or its variant when the rest of the report changes the meaning."""
    if failure is Failure.CONNECT_TIMEOUT and reachable_elsewhere:
        return _FIREWALLED
    if failure is Failure.GREETING_REJECTED and _BLOCKS_US.search(
        r.banner.text if r.banner else r.detail
    ):
        return _BLOCKS_THE_BOT
    return _FAILURES.get(failure, _STALLED)


def _slow_greeting(r: ProbeResult, step_timeout: float) -> list[Finding]:
    """A 220 that came later than any other step may take: a pause, noted, not a failure."""
    if r.banner is None or r.banner.code != "220" or r.banner_ms is None:
        return []
    if r.banner_ms <= step_timeout * 1000:
        return []
    return [
        Finding(
            "smtp.slow_greeting",
            Status.INFO,
            f"{where(r.host, r.address)} greets only after {r.banner_ms / 1000:.1f} s. That is "
            "usually deliberate (Postfix postscreen, sendmail greet_pause: a pause that "
            "catches spambots talking first) and harmless: senders wait up to 5 minutes for "
            "the greeting (RFC 5321 4.5.3.2.1).",
            fix="Nothing to change if the pause is deliberate; otherwise look for a slow "
            "reverse DNS or ident lookup of the client, or an overloaded server.",
            evidence=(f"banner after {r.banner_ms} ms: {r.banner}",),
        )
    ]


def _names(r: ProbeResult, ptr: tuple[str, ...]) -> list[Finding]:
    """RFC 5321 4.1.3/4.3.1: the greeting names the server; receivers compare it with the PTR."""
    if not ptr or r.banner is None:
        return []
    announced = [("greeting", r.banner.first_word)]
    if r.capabilities is not None:
        announced.append(("EHLO reply", r.capabilities.first_word))
    wrong = [(what, name) for what, name in announced if name and name not in ptr]
    if not wrong:
        return []
    said = "; ".join(f"its {what} says {name}" for what, name in wrong)
    return [
        Finding(
            "smtp.banner_name_mismatch",
            Status.INFO,
            f"{where(r.host, r.address)}: {said}, but the PTR of {r.address} is {', '.join(ptr)}. "
            "Harmless for receiving mail; when the same host sends, receivers like the names "
            "to agree.",
            fix=f"Set the server's host name (Postfix: myhostname) to {ptr[0]}.",
            evidence=(str(r.banner),),
        )
    ]


def _evidence(r: ProbeResult) -> tuple[str, ...]:
    out = [f"steps: {r.describe_steps()}"] if r.steps else []
    if r.banner is not None:
        out.append(f"banner: {r.banner}")
    if r.extensions:
        out.append("EHLO: " + ", ".join(r.extensions))
    if r.cached:
        out.append("(cached probe)")
    return tuple(out)


def _duration(ms: int | None) -> str:
    if ms is None:
        return "? ms"
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def _size(extensions: tuple[str, ...]) -> str:
    for ext in extensions:
        parts = ext.split()
        if parts and parts[0].upper() == "SIZE" and len(parts) > 1 and parts[1].isdigit():
            limit = int(parts[1])
            if limit:
                return f"; accepts messages up to {limit / 1_000_000:.0f} MB"
    return ""
