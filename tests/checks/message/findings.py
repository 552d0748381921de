"""What the message tests assert on: (section, code, status) of a diagnosis's findings."""

from __future__ import annotations

from checks.message.result import MessageReport
from checks.model import Status

Triple = tuple[str, str, Status]


def triples(report: MessageReport) -> set[Triple]:
    return {(s.id, f.code, f.status) for s in report.sections for f in s.findings}


def section_codes(report: MessageReport, section: str) -> set[tuple[str, Status]]:
    return {(f.code, f.status) for s in report.sections if s.id == section for f in s.findings}
