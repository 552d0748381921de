"""A message diagnosis as JSON (`mxbot message --json`): kind, status, headline, findings, hops,
the bounce's delivery status, and the live reports; the schema is in README.md."""

from __future__ import annotations

from typing import Any

from bot.render import jsonout
from checks.message.result import Dsn, DsnRecipient, Hop, MessageReport


def render(report: MessageReport) -> dict[str, Any]:
    return {
        "kind": str(report.kind),
        "status": str(report.status),
        "headline": report.headline,
        "cause": None
        if report.cause is None
        else {"section": report.cause.check, "code": report.cause.code},
        "subject": report.subject,
        "from_domain": report.from_domain,
        "findings": [
            {"section": s.id, **jsonout.finding(f)} for s in report.sections for f in s.findings
        ],
        "sections": [
            {"id": s.id, "title": s.title, "status": str(s.status)} for s in report.sections
        ],
        "hops": [hop(h) for h in report.hops],
        "dsn": dsn(report.dsn),
        "live": [jsonout.render(r) for r in report.live],
        "duration_ms": report.duration_ms,
        "resolvers": list(report.resolvers),
    }


def hop(h: Hop) -> dict[str, Any]:
    return {
        "index": h.index,
        "from": h.from_host,
        "from_ip": h.from_ip,
        "by": h.by_host,
        "with": h.protocol,
        "tls": h.tls,
        "time": h.when.isoformat() if h.when is not None else None,
        "zone_missing": h.zone_missing,
        "delay_seconds": h.delay_seconds,
    }


def dsn(d: Dsn | None) -> dict[str, Any] | None:
    if d is None:
        return None
    first = d.first
    return {
        "style": d.style,
        "action": first.action if first else "",
        "status": first.status if first else "",
        "meaning": d.meaning,
        "permanent": d.permanent,
        "remote_mta": first.remote_mta if first else "",
        "diagnostic": first.diagnostic if first else "",
        "reporting_mta": d.reporting_mta,
        "recipients": [recipient(r) for r in d.recipients],
    }


def recipient(r: DsnRecipient) -> dict[str, str]:
    return {
        "recipient": r.recipient,
        "action": r.action,
        "status": r.status,
        "remote_mta": r.remote_mta,
        "diagnostic": r.diagnostic,
    }
