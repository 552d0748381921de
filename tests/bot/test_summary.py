"""What both faces show first: the problems' order, the folded rest, the counts' wording."""

from __future__ import annotations

import pytest

from bot.render import summary
from checks.model import Cause, CheckResult, Finding, Status


def result(cid: str, *statuses: Status, code: str = "") -> CheckResult:
    findings = tuple(Finding(code or f"{cid}.{s.value}", s, f"{cid} {s.value}") for s in statuses)
    return CheckResult(cid, cid.upper(), findings, 1)


def test_counts_name_every_status_worst_first_in_the_words_slack_and_the_terminal_share() -> None:
    results = [
        result("mx", Status.PASS),
        result("spf", Status.FAIL),
        *(result(f"n{i}", Status.INFO) for i in range(3)),
        *(result(f"p{i}", Status.PASS) for i in range(8)),
        result("tls", Status.SKIP),
        result("ports", Status.SKIP),
    ]

    assert summary.counts(results) == "15 checks: 1 failing, 3 notes, 9 passing, 2 skipped"


def test_counts_are_singular_and_plural_as_english_wants() -> None:
    one = [result("a", Status.WARN)]
    two = [result("a", Status.WARN), result("b", Status.WARN), result("c", Status.ERROR)]

    assert summary.counts(one) == "1 check: 1 warning"
    assert summary.counts(two) == "3 checks: 1 inconclusive, 2 warnings"
    assert summary.counts([]) == "no checks"


def test_problems_come_worst_first_in_display_order_and_pass_info_skip_are_folded() -> None:
    results = [
        result("mx", Status.PASS),
        result("dmarc", Status.WARN),
        result("spf", Status.FAIL),
        result("dkim", Status.INFO),
        result("smtp", Status.ERROR),
        result("address", Status.FAIL),
        result("tls", Status.SKIP),
    ]

    problems = summary.problems(results)
    folded = summary.folded(results)

    assert [r.id for r in problems] == ["spf", "address", "smtp", "dmarc"]
    assert [(s, [r.id for r in group]) for s, group in folded] == [
        (Status.PASS, ["mx"]),
        (Status.INFO, ["dkim"]),
        (Status.SKIP, ["tls"]),
    ]


def test_the_root_causes_check_leads_the_problems_even_when_it_only_warns() -> None:
    results = [result("spf", Status.FAIL), result("mx", Status.WARN)]

    problems = summary.problems(results, Cause("mx", "mx.warn"))

    assert [r.id for r in problems] == ["mx", "spf"]


def test_the_same_problem_on_several_hosts_is_grouped_under_its_first() -> None:
    check = CheckResult(
        "address",
        "A",
        (
            Finding("address.ok", Status.PASS, "mx0 fine"),
            Finding("address.private", Status.FAIL, "mx1 private"),
            Finding("address.v6_missing", Status.WARN, "mx1 no AAAA"),
            Finding("address.private", Status.FAIL, "mx2 private"),
        ),
        1,
    )

    groups = summary.problem_groups(check)

    assert [(f.message, [s.message for s in same]) for f, same in groups] == [
        ("mx1 private", ["mx2 private"]),
        ("mx1 no AAAA", []),
    ]


@pytest.mark.parametrize(
    ("title", "short"),
    [
        ("Mail exchangers (MX)", "MX"),
        ("Mail host addresses (A/AAAA)", "A/AAAA"),
        ("Reverse DNS (PTR)", "PTR"),
        ("SMTP (port 25)", "SMTP"),
        ("DANE (TLSA)", "DANE"),
        ("Network (ASN)", "ASN"),
        ("TLS certificates", "TLS certificates"),
        ("MTA-STS", "MTA-STS"),
        ("Odd (two words)", "Odd (two words)"),
        ("<!channel> (x", "<!channel> (x"),
    ],
)
def test_a_compact_line_names_a_check_by_its_short_name(title: str, short: str) -> None:
    assert summary.short_title(title) == short
