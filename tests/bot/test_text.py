"""The terminal renderer, checked the way rich checks its renderables: fixed width, exact text."""

from __future__ import annotations

from dataclasses import replace

from bot.render import text
from checks.model import CheckResult, Finding, Record, Report, Status

REPORT = Report(
    domain="example.test",
    duration_ms=412,
    resolvers=("127.0.0.1:53",),
    results=(
        CheckResult("mx", "MX", (Finding("mx.ok", Status.PASS, "2 MX records."),), 12),
        CheckResult(
            "spf",
            "SPF",
            (
                Finding(
                    "spf.plus_all",
                    Status.FAIL,
                    "The record ends in +all, so anyone may send as example.test.",
                    fix="End it in -all.",
                    record=Record("example.test.", "TXT", '"v=spf1 mx -all"'),
                    evidence=("v=spf1 mx +all \x1b[2J",),
                ),
            ),
            7,
        ),
    ),
)

EXPECTED = """\
example.test: FAIL — 1 failed, 1 passed in 412 ms
First problem: SPF: The record ends in +all, so anyone may send as example.test.

PASS  MX   2 MX records.
FAIL  SPF  The record ends in +all, so anyone may send as example.test.

SPF (fail, 7 ms)
  FAIL  The record ends in +all, so anyone may send as example.test.
        Fix: End it in -all.
        Record:
          example.test. 3600 IN TXT "v=spf1 mx -all"
        | v=spf1 mx +all �[2J

Resolvers: 127.0.0.1:53
"""


def test_plain_output_is_exactly_the_summary_then_rows_then_fixes() -> None:
    assert text.render(REPORT, width=80) == EXPECTED


def test_a_diagnosed_report_leads_with_its_headline_then_the_summary() -> None:
    diagnosed = replace(REPORT, headline="Anyone can send mail as example.test and pass SPF.")

    lines = text.render(diagnosed, width=80).splitlines()

    assert lines[:3] == [
        "Anyone can send mail as example.test and pass SPF.",
        "example.test: FAIL — 1 failed, 1 passed in 412 ms",
        "",
    ]


def test_colour_is_added_only_when_asked_and_remote_escapes_never_pass() -> None:
    coloured = text.render(REPORT, width=80, colour=True)

    assert "\x1b[1;31mFAIL\x1b[0m" in coloured
    assert "\x1b[2J" not in coloured  # the ESC from DNS was replaced before printing


def test_verbose_shows_passing_findings_too() -> None:
    assert "2 MX records." in text.render(REPORT, verbose=True).split("MX (pass, 12 ms)")[1]
