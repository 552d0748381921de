"""The one-line-per-report table: fixed input, exact text."""

from __future__ import annotations

from bot.render import table
from checks.model import Cause, CheckResult, Finding, Report, Status


def report(
    domain: str,
    *results: CheckResult,
    headline: str = "",
    cause: Cause | None = None,
    display_name: str = "",
) -> Report:
    return Report(domain, results, 5, display_name, headline=headline, cause=cause)


def result(check: str, *findings: Finding) -> CheckResult:
    return CheckResult(check, check.upper(), findings, 1)


SOUND = report(
    "good.test",
    result("mx", Finding("mx.ok", Status.PASS, "2 MX records.")),
    result("dkim", Finding("dkim.none_found", Status.INFO, "No selector found.")),
)
BROKEN = report(
    "bad.test",
    result("mx", Finding("mx.implicit", Status.WARN, "No MX record.")),
    result("spf", Finding("spf.plus_all", Status.FAIL, "The record ends in\n +all.")),
    result("dmarc", Finding("dmarc.missing", Status.FAIL, "No DMARC record.")),
)


def test_each_report_is_one_row_under_its_section_title() -> None:
    out = table.render([("Mail", [SOUND, BROKEN]), ("Empty", []), ("Other", [SOUND])])

    assert out == (
        "Mail\n"
        "  good.test  PASS                nothing to fix\n"
        "  bad.test   FAIL  spf.plus_all  The record ends in +all.\n"
        "\n"
        "Other\n"
        "  good.test  PASS  nothing to fix\n"
    )


def test_info_and_skipped_checks_still_pass() -> None:
    assert table.verdict(SOUND) is Status.PASS
    assert table.line(SOUND).reason == table.NOTHING_TO_FIX


def test_the_reason_is_the_first_check_at_the_worst_status() -> None:
    row = table.line(BROKEN)

    assert (row.verdict, row.code) == (Status.FAIL, "spf.plus_all")
    assert row.reason.startswith("The record ends in")


def test_the_diagnosis_headline_wins_when_there_is_one() -> None:
    diagnosed = report(
        "bad.test",
        *BROKEN.results,
        headline="Nothing can be delivered: the MX is missing.",
        cause=Cause("mx", "mx.implicit"),
    )

    row = table.line(diagnosed)

    assert (row.code, row.reason) == ("mx.implicit", "Nothing can be delivered: the MX is missing.")


def test_rows_are_cut_to_the_width_and_coloured_only_when_asked() -> None:
    out = table.render([("Mail", [BROKEN])], colour=True, width=40)

    assert "\x1b[1;31mFAIL\x1b[0m" in out
    assert out.splitlines()[1].endswith("…")
    assert "\x1b" not in table.render([("Mail", [BROKEN])])


def test_an_idn_row_shows_the_unicode_name() -> None:
    idn = report("xn--bcher-kva.test", *SOUND.results, display_name="bücher.test")

    assert table.line(idn).name == "bücher.test"
