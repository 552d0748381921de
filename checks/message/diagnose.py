"""The message diagnosis: one pasted message, header section or bounce in, one `MessageReport` out,
with the likely cause in one sentence.

Like `checks.engine` for domain reports, this is where a crash or a timeout in one area becomes
an `error` finding for that area alone; everything runs under the report budget, and every
lookup goes through one `DnsClient` on the configured resolvers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from checks.context import Context
from checks.message import alignment, arc, bounce, bulk, explain, hops, knowledge, live, reported
from checks.message import sender as sending
from checks.message import signatures as dkim_sigs
from checks.message.headline import headline_of
from checks.message.parse import MAX_FIELDS, MessageSyntaxError, Parsed, decode_words, parse
from checks.message.result import Kind, MessageReport
from checks.model import CheckResult, Finding, Report, Status
from checks.net.dns import DnsClient
from checks.net.services import Services
from checks.settings import Settings
from checks.target import TargetError, normalise

log = logging.getLogger(__name__)
T = TypeVar("T")

_MAIL_FIELDS = frozenset(
    {
        "from",
        "to",
        "subject",
        "date",
        "received",
        "message-id",
        "return-path",
        "dkim-signature",
        "authentication-results",
        "delivered-to",
    }
)


@dataclass(frozen=True, slots=True)
class _Crashed:
    name: str
    error: str


def classify(parsed: Parsed) -> tuple[Kind, str]:
    """(kind, bounce style); MessageSyntaxError when it is neither a message nor a bounce."""
    style = bounce.style(parsed)
    if style:
        return Kind.BOUNCE, style
    names = {n.lower() for n, _ in parsed.fields}
    if not names & _MAIL_FIELDS:
        raise MessageSyntaxError(
            "this is not a message, its headers, or a bounce (no mail header fields such as "
            "From, Received or Authentication-Results, and no bounce wording)"
        )
    return (Kind.MESSAGE if parsed.body else Kind.HEADERS), ""


async def diagnose(
    data: bytes,
    settings: Settings,
    *,
    services: Services | None = None,
    now: float | None = None,
    run_live: bool = True,
) -> MessageReport:
    """Read `data` and judge it. Only MessageSyntaxError (the input is not mail) is raised."""
    started = time.monotonic()
    parsed = parse(data)
    kind, style = classify(parsed)
    dns = DnsClient(settings)
    clock = time.time() if now is None else now
    shared = services or Services()
    try:
        async with asyncio.timeout(settings.report_budget):
            if kind is Kind.BOUNCE:
                report = await _bounce(parsed, style, settings, dns, shared, run_live)
            else:
                report = await _message(parsed, kind, settings, dns, shared, clock)
    except TimeoutError:
        report = _timed_out(kind, settings.report_budget)
    return _finish(report, parsed, dns, started)


# ---- messages and header sections ----------------------------------------------------------------


async def _message(
    parsed: Parsed, kind: Kind, settings: Settings, dns: DnsClient, services: Services, now: float
) -> MessageReport:
    received = parsed.get_all("Received")
    chain = hops.chain(received)
    results, unreadable = reported.read(parsed.fields)
    headers_only = kind is Kind.HEADERS
    sigs, sender, arc_verdict = await asyncio.gather(
        _guard("dkim", dkim_sigs.verify_all(parsed, dns, now=now, headers_only=headers_only)),
        _guard(
            "spf",
            sending.evaluate(
                parsed, chain, results, dns, allow_private=settings.allow_private, now=int(now)
            ),
        ),
        _guard("arc", arc.verify(parsed, dns)),
    )
    aligned = await _alignment(parsed, settings, dns, services, sigs, sender)
    sections = [
        _section(alignment.ID, alignment.TITLE, aligned, alignment.judge),
        _section(
            dkim_sigs.ID,
            dkim_sigs.TITLE,
            sigs,
            lambda s: dkim_sigs.judge(s, headers_only=headers_only),
        ),
        _section(sending.ID, sending.TITLE, sender, sending.judge),
        _section(arc.ID, arc.TITLE, arc_verdict, lambda v: arc.judge(v, _dmarc_failed(aligned))),
        _bulk_section(parsed, sigs, sender, aligned),
        CheckResult(reported.ID, reported.TITLE, tuple(reported.judge(results, unreadable)), 0),
        CheckResult(hops.ID, hops.TITLE, tuple(hops.judge(chain)), 0),
    ]
    if parsed.dropped_fields:
        sections.append(_dropped(parsed.dropped_fields))
    return MessageReport(kind, "", tuple(sections), hops=chain)


async def _alignment(
    parsed: Parsed,
    settings: Settings,
    dns: DnsClient,
    services: Services,
    sigs: tuple[dkim_sigs.Signature, ...] | _Crashed,
    sender: sending.Sender | _Crashed,
) -> alignment.Alignment | _Crashed | str:
    domains = {a.rpartition("@")[2] for a in parsed.from_addresses}
    if len(domains) != 1:
        return "no From address" if not domains else f"{len(domains)} From domains"
    if isinstance(sigs, _Crashed) or isinstance(sender, _Crashed):
        return _Crashed("dmarc", "a verdict it needs crashed")
    try:
        target = normalise(domains.pop())
    except TargetError:
        return "the From domain is not a valid domain name"
    ctx = Context(target=target, settings=settings, dns=dns, services=services)
    return await _guard("dmarc", alignment.evaluate(ctx, sigs, sender))


def _dmarc_failed(aligned: object) -> bool:
    return isinstance(aligned, alignment.Alignment) and not aligned.passes


def _bulk_section(parsed: Parsed, sigs: object, sender: object, aligned: object) -> CheckResult:
    if not isinstance(sigs, tuple) or not isinstance(sender, sending.Sender):
        return _crashed_section(bulk.ID, bulk.TITLE, "the verdicts it rests on crashed")
    align = aligned if isinstance(aligned, alignment.Alignment) else None
    return CheckResult(bulk.ID, bulk.TITLE, tuple(bulk.judge(parsed, sigs, sender, align)), 0)


# ---- bounces ----------------------------------------------------------------------------------------


async def _bounce(
    parsed: Parsed,
    style: str,
    settings: Settings,
    dns: DnsClient,
    services: Services,
    run_live: bool,
) -> MessageReport:
    dsn = bounce.read(parsed, style)
    names = bounce.named(dsn, parsed)
    first = dsn.first
    diagnostic = " ".join(r.diagnostic for r in dsn.recipients[:3])
    known = knowledge.lookup(first.status, diagnostic) if first is not None else None
    findings = explain.findings(dsn, known, names, diagnostic)
    reports: tuple[Report, ...] = ()
    if run_live and known is not None and known.live:
        plans = live.plans(
            known.live,
            sender_domain=names.sender_domain,
            recipient_domain=names.recipient_domain,
            ip=names.ip,
        )
        reports = await live.run(plans, settings, services)
    chain = hops.chain(parsed.get_all("Received"))
    section = CheckResult(bounce.ID, bounce.TITLE, tuple(findings), 0)
    return MessageReport(Kind.BOUNCE, "", (section,), hops=chain, dsn=dsn, live=reports)


# ---- plumbing -------------------------------------------------------------------------------------


async def _guard(name: str, work: Awaitable[T]) -> T | _Crashed:
    """One area's verdict; a bug there becomes that area's error, never the whole diagnosis's."""
    try:
        return await work
    except Exception as exc:  # one buggy area must not sink the diagnosis
        log.exception("message diagnosis: %s crashed", name)
        return _Crashed(name, type(exc).__name__)


def _section(
    id_: str, title: str, verdict: object, judge: Callable[..., list[Finding]]
) -> CheckResult:
    if isinstance(verdict, _Crashed):
        return _crashed_section(id_, title, f"internal error ({verdict.error})")
    if isinstance(verdict, str):  # a reason the area does not apply
        return CheckResult(
            id_,
            title,
            (Finding(f"{id_}.not_applicable", Status.SKIP, f"Not checked: {verdict}."),),
            0,
        )
    return CheckResult(id_, title, tuple(judge(verdict)), 0)


def _crashed_section(id_: str, title: str, why: str) -> CheckResult:
    finding = Finding(f"{id_}.crashed", Status.ERROR, f"This part could not be checked: {why}.")
    return CheckResult(id_, title, (finding,), 0)


def _dropped(count: int) -> CheckResult:
    finding = Finding(
        "parse.too_many_fields",
        Status.WARN,
        f"The header section has {count} fields past the first {MAX_FIELDS}, which were not read; "
        "a message like this is itself suspicious (a loop, or an attack on filters).",
    )
    return CheckResult("parse", "Header section", (finding,), 0)


def _timed_out(kind: Kind, budget: float) -> MessageReport:
    finding = Finding(
        "message.timeout",
        Status.ERROR,
        f"The diagnosis did not finish within its {budget:g} s budget (a DNS server is slow or "
        "not answering).",
        fix="Run it again, or point --resolver at a resolver that answers.",
    )
    return MessageReport(kind, "", (CheckResult("message", "Diagnosis", (finding,), 0),))


def _finish(report: MessageReport, parsed: Parsed, dns: DnsClient, started: float) -> MessageReport:
    cause, line = headline_of(report)
    return MessageReport(
        kind=report.kind,
        headline=line,
        sections=report.sections,
        hops=report.hops,
        dsn=report.dsn,
        live=report.live,
        cause=cause,
        subject=decode_words(parsed.get("Subject") or "")[:300],
        from_domain=parsed.from_domain,
        duration_ms=round((time.monotonic() - started) * 1000),
        resolvers=tuple(str(ns) for ns in dns.nameservers),
    )
