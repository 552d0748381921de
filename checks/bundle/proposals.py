"""Which records a report's findings propose, and which of them belong in a fix bundle.

Every finding at warn or worse that carries a record is a fix. Informational proposals are
optional: the ones worth starting with (TLS-RPT, MTA-STS in testing mode) are taken; the rest
(BIMI needs a logo and a certificate; SRV records are opt-in) are only named in a note.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final

from checks.bundle.presentation import one_line
from checks.bundle.result import Reason
from checks.model import Finding, Record, Report, Status

# Informational proposals worth publishing from the start.
STARTERS: Final = frozenset({"tls_rpt.none", "mta_sts.none"})
# Findings that say nothing of the record's kind is published today.
ABSENT: Final = frozenset(
    {"spf.missing", "dmarc.missing", "tls_rpt.none", "mta_sts.none", "bimi.missing", "mx.none"}
)


@dataclass(frozen=True, slots=True)
class Proposal:
    """A finding that proposes a record, and the check that made it."""

    check: str
    finding: Finding

    @property
    def record(self) -> Record:
        assert self.finding.record is not None  # noqa: S101 -- only built for findings with one
        return self.finding.record

    @property
    def reason(self) -> Reason:
        f = self.finding
        return Reason(self.check, f.code, f.status, one_line(f.message))

    @property
    def severity(self) -> int:
        return self.finding.status.severity


def gather(report: Report) -> tuple[list[Proposal], list[Proposal]]:
    """(the proposals to bundle, the optional ones left out), in display order."""
    taken: list[Proposal] = []
    optional: list[Proposal] = []
    for proposal in _all(report):
        status = proposal.finding.status
        if status.severity >= Status.WARN.severity or proposal.finding.code in STARTERS:
            taken.append(proposal)
        elif status is Status.INFO:
            optional.append(proposal)
    return taken, optional


def _all(report: Report) -> Iterator[Proposal]:
    for result in report.results:
        for finding in result.findings:
            if finding.record is not None:
                yield Proposal(result.id, finding)


def unfixed(report: Report) -> list[Finding]:
    """Failures and warnings that propose no record: what DNS records alone will not fix."""
    return [
        f
        for r in report.results
        for f in r.findings
        if f.record is None and f.status in (Status.FAIL, Status.WARN)
    ]


def unique(reasons: Iterable[Reason]) -> tuple[Reason, ...]:
    """The reasons in order, each once."""
    out: list[Reason] = []
    for reason in reasons:
        if reason not in out:
            out.append(reason)
    return tuple(out)
