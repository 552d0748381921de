"""The JSON renderer: a report as plain data, with a stable schema documented in README.md."""

from __future__ import annotations

from typing import Any

from checks.model import Cause, CheckResult, Finding, Report


def finding(f: Finding) -> dict[str, Any]:
    return {
        "code": f.code,
        "status": str(f.status),
        "message": f.message,
        "fix": f.fix,
        "record": (
            None
            if f.record is None
            else {
                "name": f.record.name,
                "type": f.record.type,
                "value": f.record.value,
                "ttl": f.record.ttl,
                "zone_line": f.record.zone_line,
            }
        ),
        "evidence": list(f.evidence),
        "because": f.because,
    }


def result(r: CheckResult) -> dict[str, Any]:
    return {
        "id": r.id,
        "title": r.title,
        "status": str(r.status),
        "duration_ms": r.duration_ms,
        "findings": [finding(f) for f in r.findings],
    }


def cause(c: Cause | None) -> dict[str, str] | None:
    return None if c is None else {"check": c.check, "code": c.code}


def render(report: Report) -> dict[str, Any]:
    return {
        "domain": report.domain,
        "unicode": report.display_name or report.domain,
        "status": str(report.status),
        "headline": report.headline,
        "cause": cause(report.cause),
        "duration_ms": report.duration_ms,
        "resolvers": list(report.resolvers),
        "checks": [result(r) for r in report.results],
    }
