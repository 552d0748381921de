"""Why does mail to or from this domain fail? The rule table applied to a finished report (pure).

Every rule whose triggers are in the report is a candidate cause; the highest priority leads.
Walking down the candidates, each cause claims its consequences: findings that fail only because of
it become `skip` or `info`, say "Because …", lose their fix (the cause's fix is the one to apply)
and keep their code, with `because` naming the cause's code. A candidate whose every trigger was
claimed by a higher cause is no cause of its own (the SPF record "missing" from a domain that does
not exist). The headline names the leading cause, and the next one briefly.

With no rule matched, a failing finding is still the cause (the first in display order), so a
report that fails never says all is well; with nothing failing, the headline says so plainly.
Diagnosing a diagnosed report changes nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from checks.diagnosis.rules import RULES, Coverage, Population, Rule
from checks.model import Cause, CheckResult, Finding, Report, Status

Place = tuple[int, int]  # (index of the result, index of the finding in it)


@dataclass(frozen=True, slots=True)
class _Spot:
    """One finding and where it sits in the report."""

    place: Place
    result: CheckResult
    finding: Finding


@dataclass(frozen=True, slots=True)
class _Candidate:
    rule: Rule
    triggers: tuple[_Spot, ...]  # in display order


@dataclass(frozen=True, slots=True)
class _Cause:
    rule: Rule
    spot: _Spot  # the trigger that names it: the first one left unclaimed


def diagnose(report: Report, rules: Sequence[Rule] = RULES) -> Report:
    """`report` with its root cause, headline, and the findings that only repeat the cause."""
    spots = list(_spots(report))
    candidates = sorted(_candidates(report, spots, rules), key=lambda c: -c.rule.priority)
    causes, claimed = _attribute(candidates, spots)
    domain = report.display_name or report.domain
    results = tuple(
        dataclasses.replace(
            result,
            findings=tuple(
                _consequence(f, claimed[(i, j)], domain) if (i, j) in claimed else f
                for j, f in enumerate(result.findings)
            ),
        )
        for i, result in enumerate(report.results)
    )
    diagnosed = dataclasses.replace(report, results=results)
    if causes:
        lead = causes[0]
        return dataclasses.replace(
            diagnosed,
            headline=_headline(causes, domain),
            cause=Cause(lead.spot.result.id, lead.spot.finding.code),
        )
    return _without_rule(diagnosed, domain)


def _spots(report: Report) -> Iterator[_Spot]:
    for i, result in enumerate(report.results):
        for j, finding in enumerate(result.findings):
            yield _Spot((i, j), result, finding)


def _matches(globs: Iterable[str], code: str) -> bool:
    return any(fnmatchcase(code, g) for g in globs)


# ---- which rules fire ---------------------------------------------------------------------------
def _candidates(report: Report, spots: list[_Spot], rules: Sequence[Rule]) -> Iterator[_Candidate]:
    for rule in rules:
        triggers = tuple(
            s
            for s in spots
            if not s.finding.because  # already a consequence (a report diagnosed before)
            and s.finding.status in rule.statuses
            and _matches(rule.triggers, s.finding.code)
        )
        if triggers and _covered(rule.coverage, report):
            yield _Candidate(rule, triggers)


def _covered(coverage: Coverage | None, report: Report) -> bool:
    """Does the cause hit every member of the population (or only some, as the rule asks)?"""
    if coverage is None:
        return True
    result = next((r for r in report.results if r.id == coverage.population.check), None)
    size = _size(coverage.population, result) if result is not None else None
    if result is None or size is None:
        return False  # no count of the members: claim neither "every" nor "some"
    codes = [f.code for f in result.findings]
    down = sum(1 for c in codes if _matches(coverage.down, c))
    unknown = sum(1 for c in codes if _matches(coverage.unknown, c))
    return down > 0 and (down + unknown >= size) == coverage.every


def _size(population: Population, result: CheckResult) -> int | None:
    if population.listed_by:
        listing = next((f for f in result.findings if f.code == population.listed_by), None)
        return len(listing.evidence) if listing is not None else None
    return sum(1 for f in result.findings if not _matches(population.extras, f.code))


# ---- which findings each cause claims -----------------------------------------------------------
def _attribute(
    candidates: Sequence[_Candidate], spots: Sequence[_Spot]
) -> tuple[list[_Cause], dict[Place, _Cause]]:
    """Causes in priority order, and the findings each claims as its consequences."""
    causes: list[_Cause] = []
    claimed: dict[Place, _Cause] = {}
    kept: set[Place] = set()  # the triggers of causes found so far stay as they are
    for candidate in candidates:
        live = [s for s in candidate.triggers if s.place not in claimed]
        if not live:
            continue  # only a consequence of a higher cause
        cause = _Cause(candidate.rule, live[0])
        causes.append(cause)
        kept.update(s.place for s in live)
        for s in spots:
            if (
                s.place not in kept
                and s.place not in claimed
                and not s.finding.because
                and s.finding.status in candidate.rule.claims
                and _matches(candidate.rule.consequences, s.finding.code)
            ):
                claimed[s.place] = cause
    return causes, claimed


def _consequence(finding: Finding, cause: _Cause, domain: str) -> Finding:
    fact = cause.rule.fact.format(domain=domain)
    return dataclasses.replace(
        finding,
        status=cause.rule.demote_to,
        message=f"Because {fact}: {finding.message}",
        fix="",
        record=None,
        because=cause.spot.finding.code,
    )


# ---- the headline -------------------------------------------------------------------------------
def _headline(causes: Sequence[_Cause], domain: str) -> str:
    text = causes[0].rule.headline.format(domain=domain)
    if len(causes) > 1:
        text += f" Also, {causes[1].rule.fact.format(domain=domain)}."
    return text


def _without_rule(report: Report, domain: str) -> Report:
    """No rule matched: the first failing finding is the cause, else the report says all is well."""
    failing = next(
        (
            (r, f)
            for r in report.results
            for f in r.findings
            if f.status is Status.FAIL and not f.because
        ),
        None,
    )
    if failing is not None:
        result, finding = failing
        message = " ".join(finding.message.split())
        return dataclasses.replace(
            report, headline=f"{result.title}: {message}", cause=Cause(result.id, finding.code)
        )
    return dataclasses.replace(report, headline=_all_well(report, domain), cause=None)


def _all_well(report: Report, domain: str) -> str:
    unknown = [r.title for r in report.results if r.status is Status.ERROR]
    warned = [r.title for r in report.results if r.status is Status.WARN]
    if not unknown and not warned:
        return f"Mail for {domain} should flow: nothing is failing."
    buts = []
    if unknown:
        buts.append(f"{_join(unknown)} could not be checked")
    if warned:
        buts.append(f"{_join(warned)} {'has' if len(warned) == 1 else 'have'} warnings")
    hedge = " as far as mxbot could tell" if unknown else ""
    return f"Mail for {domain} should flow{hedge}: nothing is failing, but {' and '.join(buts)}."


def _join(titles: Sequence[str]) -> str:
    return titles[0] if len(titles) == 1 else f"{', '.join(titles[:-1])} and {titles[-1]}"
