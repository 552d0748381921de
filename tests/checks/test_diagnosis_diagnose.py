"""Applying the rules (pure): which cause leads, what a consequence becomes, and the all-clear."""

from __future__ import annotations

from checks.diagnosis.diagnose import diagnose
from checks.diagnosis.rules import Rule
from checks.model import Cause, Finding, Record
from tests.checks.diagnosis_samples import (
    ERROR,
    FAIL,
    INFO,
    PASS,
    SKIP,
    WARN,
    consequences,
    f,
    findings_of,
    mx_ok,
    report,
    result,
    statuses,
)
from tests.findings import by_code


def test_a_healthy_report_has_no_cause_and_says_so_plainly() -> None:
    diagnosed = diagnose(report(result("mx", mx_ok(2)), result("spf", f("spf.ok", PASS))))

    assert diagnosed.cause is None
    assert diagnosed.headline == "Mail for example.test should flow: nothing is failing."


def test_warnings_are_mentioned_but_are_no_cause() -> None:
    diagnosed = diagnose(
        report(result("mx", mx_ok(1)), result("dmarc", f("dmarc.policy_none", WARN)))
    )

    assert diagnosed.cause is None
    assert diagnosed.headline.endswith("nothing is failing, but DMARC has warnings.")


def test_checks_that_could_not_finish_hedge_the_all_clear() -> None:
    diagnosed = diagnose(
        report(result("mx", mx_ok(1)), result("dnsbl", f("dnsbl.query_refused", ERROR)))
    )

    assert diagnosed.cause is None
    assert "as far as mxbot could tell" in diagnosed.headline
    assert "DNSBL could not be checked" in diagnosed.headline


def test_a_failure_no_rule_knows_is_still_the_cause() -> None:
    diagnosed = diagnose(
        report(
            result("mx", mx_ok(1)),
            result("bimi", f("bimi.invalid")),
            result("tls_rpt", f("tls_rpt.invalid")),
        )
    )

    assert diagnosed.cause == Cause("bimi", "bimi.invalid")
    assert diagnosed.headline == "BIMI: bimi.invalid happened."


def test_the_highest_cause_leads_and_the_next_is_named_briefly() -> None:
    diagnosed = diagnose(
        report(
            result("mx", mx_ok(1)),
            result("spf", f("spf.missing")),
            result("smtp", f("smtp.connection_refused")),
            result("dmarc", f("dmarc.missing")),
        )
    )

    assert diagnosed.cause == Cause("smtp", "smtp.connection_refused")
    assert diagnosed.headline == (
        "Mail to example.test cannot be delivered: its mail servers refuse connections on port "
        "25. Also, example.test publishes no SPF record."
    )


def test_a_domain_that_does_not_exist_fails_once_and_is_not_told_to_publish_dmarc() -> None:
    dmarc_missing = Finding(
        "dmarc.missing",
        FAIL,
        "There is no DMARC record for example.test.",
        fix="Publish a DMARC record.",
        record=Record("_dmarc.example.test.", "TXT", '"v=DMARC1; p=none"'),
    )
    diagnosed = diagnose(
        report(
            result("mx", f("mx.nxdomain")),
            result("spf", f("spf.missing")),
            result("dmarc", dmarc_missing),
        )
    )

    assert [code for code, status in statuses(diagnosed) if status is FAIL] == ["mx.nxdomain"]
    assert " Also" not in diagnosed.headline  # spf.missing is a consequence, not a second cause
    repeated = by_code(findings_of(diagnosed), "dmarc.missing")
    assert (repeated.status, repeated.because) == (SKIP, "mx.nxdomain")
    assert (repeated.fix, repeated.record) == ("", None)
    assert repeated.message == (
        "Because example.test does not exist: There is no DMARC record for example.test."
    )


def test_passing_findings_are_never_claimed_and_notes_only_when_the_rule_says() -> None:
    diagnosed = diagnose(
        report(
            result("mx", f("mx.nxdomain")),
            result("dnsbl", f("dnsbl.clean", PASS)),
            result("mta_sts", f("mta_sts.none", INFO)),  # "optional: serve a policy…"
        )
    )
    noted = diagnose(
        report(
            result("smtp", f("smtp.connection_refused")),
            result("dane", f("dane.none", INFO), f("dane.no_tls")),
        )
    )

    assert consequences(diagnosed) == {("mta_sts.none", SKIP, "mx.nxdomain")}
    assert consequences(noted) == {("dane.no_tls", INFO, "smtp.connection_refused")}


def test_diagnosing_a_diagnosed_report_changes_nothing() -> None:
    once = diagnose(
        report(
            result("mx", f("mx.lookup_failed", ERROR)),
            result("spf", f("spf.lookup_failed", ERROR)),
            result("dmarc", f("dmarc.missing")),
        )
    )

    assert diagnose(once) == once


def test_one_dead_mx_host_beside_a_working_one_does_not_stop_mail() -> None:
    diagnosed = diagnose(report(result("mx", f("mx.target_no_address"), mx_ok(2))))

    assert diagnosed.headline.startswith("Mail to example.test still flows through its other MX")


def test_without_a_count_of_the_hosts_no_rule_claims_every_host() -> None:
    diagnosed = diagnose(report(result("mx", f("mx.target_no_address"))))  # no mx.ok listing

    assert diagnosed.cause == Cause("mx", "mx.target_no_address")
    assert diagnosed.headline == "MX: mx.target_no_address happened."  # no rule: the fallback


def test_refusing_and_rejecting_servers_together_stop_delivery() -> None:
    diagnosed = diagnose(
        report(result("smtp", f("smtp.connection_refused"), f("smtp.greeting_rejected")))
    )

    assert diagnosed.cause == Cause("smtp", "smtp.connection_refused")
    assert diagnosed.headline.endswith(
        "Also, the mail servers of example.test greet senders with a refusal."
    )


def test_an_mta_sts_mismatch_in_testing_mode_is_no_cause() -> None:
    diagnosed = diagnose(report(result("mta_sts", f("mta_sts.mx_mismatch", WARN))))

    assert diagnosed.cause is None


def test_the_headline_names_the_domain_as_its_owner_reads_it() -> None:
    diagnosed = diagnose(report(result("spf", f("spf.missing")), display_name="bücher.example"))

    assert diagnosed.headline.startswith("Mail from bücher.example may be junked")


def test_a_rule_table_can_be_passed_in() -> None:
    table = (Rule("bimi", 1, ("bimi.*",), "BIMI is broken for {domain}.", "BIMI is broken"),)

    diagnosed = diagnose(report(result("bimi", f("bimi.invalid"))), table)

    assert diagnosed.headline == "BIMI is broken for example.test."
