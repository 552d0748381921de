"""A message diagnosis for the terminal: the headline, the bounce's delivery status, the hops,
then the findings laid out as a report's checks (`text.render`), then each live check.

Everything from the message is remote text: `text.clean` keeps it from driving the terminal.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Final

from bot.render import text
from checks.message.result import Dsn, Hop, Kind, MessageReport
from checks.model import Report

MAX_HOPS_SHOWN: Final = 12  # the first and last few of a long chain; -v shows all
_KIND: Final = {"message": "message", "headers": "headers", "bounce": "bounce"}


def as_report(report: MessageReport) -> Report:
    """The diagnosis's sections as a `Report`, so the report renderers lay them out."""
    who = (
        f" from {report.from_domain}"
        if report.from_domain and report.kind is not Kind.BOUNCE
        else ""
    )
    return Report(
        domain=f"{_KIND[report.kind.value]}{who}",
        results=report.sections,
        duration_ms=report.duration_ms,
        resolvers=report.resolvers,
        headline=report.headline,
        cause=report.cause,
    )


def render(
    report: MessageReport, *, colour: bool = False, width: int = 80, verbose: bool = False
) -> str:
    body = text.render(as_report(report), colour=colour, width=width, verbose=verbose)
    lead, _, rest = body.partition("\n\n")
    hops = report.hops if report.kind is not Kind.BOUNCE else ()  # a bounce's own trip: noise
    middle = [*_about(report), *_dsn(report.dsn, max(width, 40)), *_hops(hops, verbose)]
    parts = [lead, "\n".join(text.clean(line) for line in middle), rest.rstrip("\n")]
    for live in report.live:
        parts.append(_live(live, colour, width, verbose))
    return "\n\n".join(p for p in parts if p) + "\n"


def _about(report: MessageReport) -> list[str]:
    lines = []
    if report.subject:
        lines.append(f"Subject: {report.subject}")
    return lines


def _dsn(dsn: Dsn | None, width: int) -> list[str]:
    if dsn is None or dsn.first is None:
        return []
    first = dsn.first
    retry = "permanent, not retried" if dsn.permanent else "temporary, being retried"
    lines = [f"Bounce ({dsn.style}{', from ' + dsn.reporting_mta if dsn.reporting_mta else ''}):"]
    rows = [
        ("Recipient", ", ".join(r.recipient or "?" for r in dsn.recipients[:5])),
        ("Action", f"{first.action} ({retry})"),
        ("Status", f"{first.status} {dsn.meaning}".strip() if first.status else "none given"),
        ("Remote MTA", first.remote_mta),
        ("Said", first.diagnostic),
    ]
    for name, value in rows:
        if value:
            lines += textwrap.wrap(
                value, width, initial_indent=f"  {name:<11}", subsequent_indent=" " * 13
            )
    return lines


def _hops(hops: Sequence[Hop], verbose: bool) -> list[str]:
    if not hops:
        return []
    shown: list[Hop | None] = list(hops)
    if not verbose and len(hops) > MAX_HOPS_SHOWN:
        half = MAX_HOPS_SHOWN // 2
        shown = [*hops[:half], None, *hops[-half:]]
    lines = [f"Hops ({len(hops)}, oldest first):"]
    for hop in shown:
        if hop is None:
            lines.append(f"  … {len(hops) - MAX_HOPS_SHOWN} more (-v shows all)")
            continue
        lines.append("  " + hop_line(hop))
    return lines


def hop_line(hop: Hop) -> str:
    """ "2  mail.a.test [192.0.2.25] → mx.b.test  ESMTPS TLS  +4 s" (one line per hop)."""
    source = hop.from_host or "?"
    if hop.from_ip and hop.from_ip != hop.from_host:
        source += f" [{hop.from_ip}]"
    tls = {True: "TLS", False: "no TLS", None: ""}[hop.tls]
    if hop.when is None:
        when = "no date"
    elif hop.delay_seconds is None:
        when = hop.when.strftime("%Y-%m-%d %H:%M:%S UTC")
    elif hop.delay_seconds < 0:
        when = f"-{round(-hop.delay_seconds)} s (clock?)"
    else:
        when = f"+{_short_span(hop.delay_seconds)}"
    zone = " (no zone)" if hop.zone_missing else ""
    via = " ".join(p for p in (hop.protocol, tls) if p)
    return f"{hop.index:>2}  {source} → {hop.by_host or '?'}  {via}  {when}{zone}".replace(
        "    ", "  "
    )


def _short_span(seconds: float) -> str:
    whole = round(seconds)
    if whole < 120:
        return f"{whole} s"
    if whole < 7200:
        return f"{whole // 60} min"
    return f"{whole / 3600:.1f} h"


def _live(report: Report, colour: bool, width: int, verbose: bool) -> str:
    checks = " · ".join(r.title for r in report.results)
    head = f"── Checked live: {report.display_name or report.domain} ({checks}) ──"
    return (
        text.clean(head)
        + "\n"
        + text.render(report, colour=colour, width=width, verbose=verbose).rstrip("\n")
    )
