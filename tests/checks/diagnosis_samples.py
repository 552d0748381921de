"""Reports built from findings directly, for the diagnosis's pure tests, and what to read off them."""

from __future__ import annotations

from checks.model import CheckResult, Finding, Report, Status

DOMAIN = "example.test"
FAIL, ERROR, WARN, INFO, PASS, SKIP = (
    Status.FAIL,
    Status.ERROR,
    Status.WARN,
    Status.INFO,
    Status.PASS,
    Status.SKIP,
)


def f(code: str, status: Status = FAIL, *, evidence: tuple[str, ...] = ()) -> Finding:
    """A finding with a message that says which it is, and a fix, so a test can see both go."""
    return Finding(code, status, f"{code} happened.", fix=f"Fix {code}.", evidence=evidence)


def result(check: str, *findings: Finding) -> CheckResult:
    return CheckResult(check, check.upper(), findings, 1)


def report(*results: CheckResult, display_name: str = "") -> Report:
    return Report(DOMAIN, results, 10, display_name=display_name)


def mx_ok(hosts: int) -> Finding:
    """mx.ok listing `hosts` MX hosts, as the mx check does in its evidence."""
    return f("mx.ok", PASS, evidence=tuple(f"{10 * i} mx{i}.{DOMAIN}" for i in range(hosts)))


def address_ok(addresses: int) -> Finding:
    return f(
        "address.ok", PASS, evidence=tuple(f"mx.{DOMAIN} 192.0.2.{i}" for i in range(addresses))
    )


def findings_of(diagnosed: Report) -> list[Finding]:
    return [finding for r in diagnosed.results for finding in r.findings]


def consequences(diagnosed: Report) -> set[tuple[str, Status, str]]:
    """(code, status, cause code) of every finding the diagnosis marked as a consequence."""
    return {(x.code, x.status, x.because) for x in findings_of(diagnosed) if x.because}


def statuses(diagnosed: Report) -> list[tuple[str, Status]]:
    return [(x.code, x.status) for x in findings_of(diagnosed)]
