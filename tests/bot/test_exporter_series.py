"""A report as probe series (pure): statuses as numbers, facts as gauges, and labels that only ever
hold our own names or validated host names, bounded in number."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest

from bot.exporter import labels
from bot.exporter.series import HELP, MAX_LABELLED, STATUS_VALUES, probe_registry
from checks.model import CheckResult, Fact, Finding, Report, Status
from tests.exposition import Labels, samples

NO_LABELS: Labels = frozenset()


def report(*results: CheckResult) -> Report:
    return Report("example.test", results, 1234)


def result(check: str, *findings: Finding) -> CheckResult:
    return CheckResult(check, check.upper(), findings, 10)


def finding(status: Status, *facts: Fact, code: str = "x.y") -> Finding:
    return Finding(code, status, "a sentence", facts=facts)


def exposed(r: Report, seconds: float = 1.5) -> dict[str, dict[Labels, float]]:
    return samples(generate_latest(probe_registry(r, seconds)).decode())


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("MX.Example.TEST.", "mx.example.test"),
        ("mail_1.example.test", "mail_1.example.test"),
        ("192.0.2.1", "192.0.2.1"),
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ('ev\\"il{x=1}.example.test', None),
        ("a\nb.example.test", None),
        ("-bad.example.test", None),
        ("", None),
        ("a." * 127 + "test", None),  # 255 characters
        ("é.example.test", None),  # names reach us as A-labels; anything else is not one
    ],
)
def test_only_host_names_and_addresses_become_labels(text: str, label: str | None) -> None:
    assert labels.host(text) == label


def test_statuses_count_from_fine_to_failing() -> None:
    r = report(*(result(s.value, finding(s)) for s in Status))

    found = exposed(r)["mxbot_check_status"]

    assert {dict(k)["check"]: v for k, v in found.items()} == {
        "skip": 0,
        "pass": 0,
        "info": 0,
        "warn": 1,
        "error": 2,
        "fail": 3,
    }
    assert STATUS_VALUES[Status.FAIL] > STATUS_VALUES[Status.ERROR]


@pytest.mark.parametrize(
    ("worst", "success"),
    [(Status.WARN, 1), (Status.INFO, 1), (Status.ERROR, 0), (Status.FAIL, 0)],
)
def test_a_probe_succeeds_unless_something_failed_or_could_not_be_checked(
    worst: Status, success: int
) -> None:
    r = report(result("mx", finding(Status.PASS)), result("spf", finding(worst)))

    assert exposed(r)["mxbot_probe_success"] == {NO_LABELS: success}


def test_findings_are_counted_per_check_and_status_zeros_included() -> None:
    r = report(result("spf", finding(Status.WARN), finding(Status.WARN), finding(Status.INFO)))

    found = exposed(r)["mxbot_check_findings"]

    assert len(found) == len(Status)
    assert found[frozenset({("check", "spf"), ("status", "warn")})] == 2
    assert found[frozenset({("check", "spf"), ("status", "fail")})] == 0


def test_each_host_shows_its_soonest_certificate_and_the_probe_its_soonest_of_all() -> None:
    tls = result(
        "tls",
        finding(Status.PASS, Fact("tls.not_after", 2000, "mx1.example.test")),
        finding(Status.PASS, Fact("tls.not_after", 1000, "mx1.example.test")),  # another address
        finding(Status.PASS, Fact("tls.not_after", 3000, "MX2.example.test.")),
        finding(Status.PASS, Fact("tls.not_after", 500, 'x"} 1\nmxbot_probe_success{a="')),
    )

    found = exposed(report(tls))

    assert found["mxbot_tls_cert_not_after_timestamp_seconds"] == {
        frozenset({("host", "mx1.example.test")}): 1000,
        frozenset({("host", "mx2.example.test")}): 3000,
    }
    assert found["mxbot_tls_earliest_cert_expiry"] == {NO_LABELS: 500}  # the unnamed host counts
    assert found["mxbot_probe_success"] == {NO_LABELS: 1}


def test_a_domain_with_hundreds_of_hosts_answers_with_a_bounded_exposition() -> None:
    facts = [Fact("tls.not_after", 10_000 - i, f"mx{i}.example.test") for i in range(500)]
    tls = result("tls", finding(Status.PASS, *facts))

    found = exposed(report(tls))["mxbot_tls_cert_not_after_timestamp_seconds"]

    assert len(found) == MAX_LABELLED
    assert min(found.values()) == 10_000 - 499  # the soonest are the ones kept
    assert frozenset({("host", "mx499.example.test")}) in found


def test_blocklist_zones_are_labels_only_when_they_are_names() -> None:
    dnsbl = result(
        "dnsbl",
        finding(
            Status.FAIL,
            Fact("dnsbl.listed", 1, "bl.test"),
            Fact("dnsbl.listed", 0, "clean.test"),
            Fact("dnsbl.listed", 1, 'bad"zone'),
        ),
    )

    assert exposed(report(dnsbl))["mxbot_dnsbl_listed"] == {
        frozenset({("zone", "bl.test")}): 1,
        frozenset({("zone", "clean.test")}): 0,
    }


def test_what_was_not_measured_has_no_series() -> None:
    r = report(result("mx", finding(Status.ERROR)), result("spf", finding(Status.ERROR)))

    found = exposed(r, seconds=0.25)

    assert set(found) == {
        "mxbot_probe_success",
        "mxbot_probe_duration_seconds",
        "mxbot_check_status",
        "mxbot_check_findings",
    }
    assert found["mxbot_probe_duration_seconds"] == {NO_LABELS: 0.25}


def test_single_numbers_come_from_their_facts() -> None:
    r = report(
        result("mx", finding(Status.PASS, Fact("mx.hosts", 3))),
        result("spf", finding(Status.FAIL, Fact("spf.lookups", 14))),
    )

    found = exposed(r)

    assert found["mxbot_mx_hosts"] == {NO_LABELS: 3}
    assert found["mxbot_spf_dns_lookups"] == {NO_LABELS: 14}


def test_every_help_line_names_its_unit_or_scale() -> None:
    assert "0 pass, info or skip; 1 warn; 2 error" in HELP["mxbot_check_status"]
    assert "Unix seconds" in HELP["mxbot_tls_cert_not_after_timestamp_seconds"]
    assert "Unix seconds" in HELP["mxbot_tls_earliest_cert_expiry"]
