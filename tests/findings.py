"""What tests assert on: a finding's stable (code, status), not its prose, which may improve."""

from __future__ import annotations

from collections.abc import Iterable

from checks.model import Finding, Report, Status

Code = tuple[str, Status]


def codes(findings: Iterable[Finding]) -> list[Code]:
    """(code, status) of each finding, in the order the check gave them."""
    return [(f.code, f.status) for f in findings]


def code_set(findings: Iterable[Finding]) -> set[Code]:
    """(code, status) of the findings, where their order is not the point."""
    return set(codes(findings))


def report_codes(report: Report, check: str) -> set[Code]:
    """`code_set` of one check's result in a report."""
    return code_set(next(r for r in report.results if r.id == check).findings)


def by_code(findings: Iterable[Finding], code: str) -> Finding:
    """The one finding with `code` (StopIteration, so a failing test, when there is none)."""
    return next(f for f in findings if f.code == code)
