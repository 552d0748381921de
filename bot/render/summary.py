"""What every face shows first, decided once: the problems in order, the folded rest, the counts.

Slack (`blocks.py`) and the terminal (`text.py`) lay a report out the same way: the problems
(fail, error, warn) first, the check holding the report's root cause before the others, then
one compact line per status for everything that passed, left a note or did not apply. Both
count with `counts`, so their summaries read the same word for word.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from checks.model import Cause, CheckResult, Finding, Report, Status

PROBLEM: Final = frozenset({Status.FAIL, Status.ERROR, Status.WARN})
FOLDED: Final = (Status.PASS, Status.INFO, Status.SKIP)  # the compact lines, in this order

# status -> (one, many), most alarming first: "15 checks: 1 failing, 3 notes, 9 passing, 2 skipped"
_WORDS: Final = {
    Status.FAIL: ("failing", "failing"),
    Status.ERROR: ("inconclusive", "inconclusive"),
    Status.WARN: ("warning", "warnings"),
    Status.INFO: ("note", "notes"),
    Status.PASS: ("passing", "passing"),
    Status.SKIP: ("skipped", "skipped"),
}
_PAREN = re.compile(r"(?P<base>.*?) \((?P<inner>[^()]*)\)")
_ACRONYM = re.compile(r"[A-Z0-9][A-Z0-9/-]*")


def counts(results: Sequence[CheckResult]) -> str:
    """How many checks ended how: "15 checks: 1 failing, 3 notes, 9 passing, 2 skipped"."""
    if not results:
        return "no checks"
    parts = []
    for status in sorted(_WORDS, key=lambda s: -s.severity):
        n = sum(1 for r in results if r.status is status)
        if n:
            parts.append(f"{n} {_WORDS[status][n != 1]}")
    total = len(results)
    return f"{total} check{'s' if total != 1 else ''}: {', '.join(parts)}"


def problems(results: Sequence[CheckResult], cause: Cause | None = None) -> list[CheckResult]:
    """The checks that failed, erred or warned: the root cause's check first, then worst first,
    ties in display order."""
    bad = [r for r in results if r.status in PROBLEM]
    first = cause.check if cause is not None else None
    return sorted(bad, key=lambda r: (r.id != first, -r.status.severity))


def folded(results: Sequence[CheckResult]) -> list[tuple[Status, list[CheckResult]]]:
    """The other checks, grouped by status (pass, info, skip), each group in display order."""
    groups = [(s, [r for r in results if r.status is s]) for s in FOLDED]
    return [(s, group) for s, group in groups if group]


def in_order(report: Report) -> list[CheckResult]:
    """Every check, problems first (as `problems`), then the rest in display order."""
    bad = problems(report.results, report.cause)
    return bad + [r for r in report.results if r.status not in PROBLEM]


def problem_findings(result: CheckResult) -> list[Finding]:
    """A check's findings worth acting on: its headline first, then the others worst first."""
    head = result.headline
    rest = [f for f in result.findings if f.status in PROBLEM and f is not head]
    rest.sort(key=lambda f: -f.status.severity)
    return ([head] if head is not None else []) + rest


def problem_groups(result: CheckResult) -> list[tuple[Finding, list[Finding]]]:
    """`problem_findings` grouped by code: each problem once, with the same problem found
    elsewhere (another host, another address), whose fix reads the same."""
    groups: dict[str, tuple[Finding, list[Finding]]] = {}
    for finding in problem_findings(result):
        if finding.code in groups:
            groups[finding.code][1].append(finding)
        else:
            groups[finding.code] = (finding, [])
    return list(groups.values())


def short_title(title: str) -> str:
    """A check's name for a compact line: "Mail exchangers (MX)" → "MX", "SMTP (port 25)" →
    "SMTP", "Network (ASN)" → "ASN"; a title without such a name stays whole ("TLS
    certificates")."""
    match = _PAREN.fullmatch(title)
    if match is None:
        return title
    base, inner = match["base"], match["inner"]
    if _ACRONYM.fullmatch(base):
        return base
    if inner and " " not in inner:
        return inner
    return title
