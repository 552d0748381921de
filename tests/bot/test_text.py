"""The terminal renderer, checked the way rich checks its renderables: fixed width, exact text."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.render import text
from checks.model import Cause, CheckResult, Finding, Record, Report, Status


def addr(host: str, ip: str) -> Finding:
    return Finding(
        "address.private",
        Status.FAIL,
        f"{host} has the private address {ip}, which senders on the internet cannot reach.",
        fix=f"Publish the public address of {host}.",
        evidence=(ip,),
    )


REPORT = Report(
    domain="example.test",
    duration_ms=412,
    resolvers=("127.0.0.1:53",),
    results=(
        CheckResult(
            "mx", "Mail exchangers (MX)", (Finding("mx.ok", Status.PASS, "2 MX records."),), 12
        ),
        CheckResult(
            "address",
            "Mail host addresses (A/AAAA)",
            (addr("mx1.example.test", "10.0.0.1"), addr("mx2.example.test", "10.0.0.2")),
            3,
        ),
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
        CheckResult(
            "dmarc",
            "DMARC",
            (
                Finding(
                    "dmarc.policy_none",
                    Status.WARN,
                    "_dmarc.example.test says p=none, so receivers deliver mail that fails DMARC.",
                    fix="Move to p=quarantine once your reports are clean.",
                    record=Record("_dmarc.example.test.", "TXT", '"v=DMARC1; p=quarantine"'),
                ),
            ),
            5,
        ),
        CheckResult(
            "dkim", "DKIM", (Finding("dkim.none", Status.INFO, "No DKIM selector found."),), 9
        ),
        CheckResult("bimi", "BIMI", (Finding("bimi.none", Status.INFO, "No BIMI record."),), 4),
        CheckResult(
            "smtp",
            "SMTP (port 25)",
            (Finding("smtp.skipped", Status.SKIP, "No public address to connect to."),),
            0,
        ),
        CheckResult(
            "tls_rpt",
            "TLS-RPT",
            (Finding("tls_rpt.ok", Status.PASS, "Reports go to tlsrpt@example.test."),),
            6,
        ),
    ),
)


AT_40 = """\
example.test: FAIL — 8 checks:
2 failing, 1 warning, 2 notes,
2 passing, 1 skipped

FAIL  Mail host addresses (A/AAAA):
      mx1.example.test has the private
      address 10.0.0.1, which senders on
      the internet cannot reach.
      Fix: Publish the public address of
           mx1.example.test.
      | 10.0.0.1
      FAIL  mx2.example.test has the
            private address 10.0.0.2,
            which senders on the
            internet cannot reach.

FAIL  SPF: The record ends in +all, so
      anyone may send as example.test.
      Fix: End it in -all.
      Record:
        example.test. 3600 IN TXT "v=spf1 mx -all"
      | v=spf1 mx +all �[2J

WARN  DMARC: _dmarc.example.test says
      p=none, so receivers deliver mail
      that fails DMARC.
      Fix: Move to p=quarantine once
           your reports are clean.
      Record:
        _dmarc.example.test. 3600 IN TXT "v=DMARC1; p=quarantine"

PASS  MX · TLS-RPT
INFO  DKIM · BIMI
SKIP  SMTP
(-v shows every check in full)

Took 412 ms · resolver 127.0.0.1:53
"""

AT_80 = """\
example.test: FAIL — 8 checks: 2 failing, 1 warning, 2 notes, 2 passing,
1 skipped

FAIL  Mail host addresses (A/AAAA): mx1.example.test has the private address
      10.0.0.1, which senders on the internet cannot reach.
      Fix: Publish the public address of mx1.example.test.
      | 10.0.0.1
      FAIL  mx2.example.test has the private address 10.0.0.2, which senders on
            the internet cannot reach.

FAIL  SPF: The record ends in +all, so anyone may send as example.test.
      Fix: End it in -all.
      Record:
        example.test. 3600 IN TXT "v=spf1 mx -all"
      | v=spf1 mx +all �[2J

WARN  DMARC: _dmarc.example.test says p=none, so receivers deliver mail that
      fails DMARC.
      Fix: Move to p=quarantine once your reports are clean.
      Record:
        _dmarc.example.test. 3600 IN TXT "v=DMARC1; p=quarantine"

PASS  MX · TLS-RPT
INFO  DKIM · BIMI
SKIP  SMTP
(-v shows every check in full)

Took 412 ms · resolver 127.0.0.1:53
"""

AT_160 = """\
example.test: FAIL — 8 checks: 2 failing, 1 warning, 2 notes, 2 passing, 1 skipped

FAIL  Mail host addresses (A/AAAA): mx1.example.test has the private address 10.0.0.1, which senders on the internet cannot reach.
      Fix: Publish the public address of mx1.example.test.
      | 10.0.0.1
      FAIL  mx2.example.test has the private address 10.0.0.2, which senders on the internet cannot reach.

FAIL  SPF: The record ends in +all, so anyone may send as example.test.
      Fix: End it in -all.
      Record:
        example.test. 3600 IN TXT "v=spf1 mx -all"
      | v=spf1 mx +all �[2J

WARN  DMARC: _dmarc.example.test says p=none, so receivers deliver mail that fails DMARC.
      Fix: Move to p=quarantine once your reports are clean.
      Record:
        _dmarc.example.test. 3600 IN TXT "v=DMARC1; p=quarantine"

PASS  MX · TLS-RPT
INFO  DKIM · BIMI
SKIP  SMTP
(-v shows every check in full)

Took 412 ms · resolver 127.0.0.1:53
"""


@pytest.mark.parametrize(("width", "expected"), [(40, AT_40), (80, AT_80), (160, AT_160)])
def test_plain_output_is_the_summary_then_problems_then_one_line_per_status(
    width: int, expected: str
) -> None:
    assert text.render(REPORT, width=width) == expected


@pytest.mark.parametrize("width", [40, 80, 160])
def test_only_a_record_to_paste_may_overflow_the_width(width: int) -> None:
    lines = text.render(REPORT, width=width, verbose=True).splitlines()

    wide = [line for line in lines if len(line) > width]

    assert all(line.lstrip().startswith(("example.test.", "_dmarc.")) for line in wide)


def test_the_headline_comes_first_and_its_cause_leads_the_problems() -> None:
    diagnosed = replace(
        REPORT,
        headline="Anyone may send mail as example.test: its SPF record ends in +all.",
        cause=Cause("spf", "spf.plus_all"),
    )

    lines = text.render(diagnosed, width=160).splitlines()

    assert lines[0] == "Anyone may send mail as example.test: its SPF record ends in +all."
    assert lines[1].startswith("example.test: FAIL — 8 checks: 2 failing")
    assert lines[3].startswith("FAIL  SPF: The record ends in +all")


def test_a_diagnosed_report_leads_with_its_headline_then_the_summary() -> None:
    diagnosed = replace(REPORT, headline="Anyone can send mail as example.test and pass SPF.")

    lines = text.render(diagnosed, width=120).splitlines()

    assert lines[:3] == [
        "Anyone can send mail as example.test and pass SPF.",
        "example.test: FAIL — 8 checks: 2 failing, 1 warning, 2 notes, 2 passing, 1 skipped",
        "",
    ]


def test_colour_is_added_only_when_asked_and_remote_escapes_never_pass() -> None:
    coloured = text.render(REPORT, width=80, colour=True)

    assert "\x1b[1;31mFAIL\x1b[0m" in coloured
    assert "\x1b[32mPASS\x1b[0m  MX · TLS-RPT" in coloured
    assert "\x1b[2J" not in coloured  # the ESC from DNS was replaced before printing


def test_verbose_shows_every_check_in_full_instead_of_the_compact_lines() -> None:
    verbose = text.render(REPORT, width=80, verbose=True)

    assert "PASS  Mail exchangers (MX) (12 ms): 2 MX records." in verbose
    assert "SKIP  SMTP (port 25) (0 ms): No public address to connect to." in verbose
    assert "Fix: Publish the public address of mx2.example.test." in verbose
    assert "| 10.0.0.2" in verbose
    assert "PASS  MX · TLS-RPT" not in verbose


def _evidence_report(evidence: tuple[str, ...], repeats: int = 0) -> Report:
    same = tuple(
        Finding("x.bad", Status.FAIL, f"Host {i} is bad.", fix="Fix it.") for i in range(repeats)
    )
    bad = Finding("x.bad", Status.FAIL, "Host is bad.", fix="Fix it.", evidence=evidence)
    return Report("example.test", (CheckResult("x", "X", (bad, *same), 1),), 1)


def test_long_evidence_is_cut_with_a_marker_and_shown_whole_when_verbose() -> None:
    report = _evidence_report(("a" * 200, "b", "c", "d", "e"))

    plain = text.render(report, width=40)
    verbose = text.render(report, width=40, verbose=True)

    assert "      | " + "a" * 32 + "\n      | " + "a" * 31 + "…\n" in plain
    assert "| … 2 more (-v shows all)" in plain
    assert "| e" not in plain
    shown = [line.removeprefix("      | ") for line in verbose.splitlines() if "| a" in line]
    assert "".join(shown) == "a" * 200
    assert "| e" in verbose


def test_the_same_problem_elsewhere_is_named_then_counted() -> None:
    plain = text.render(_evidence_report((), repeats=5), width=80)

    assert "      FAIL  Host 2 is bad." in plain
    assert "Host 3 is bad." not in plain
    assert "      … and 2 more like it (-v shows all)" in plain
    assert plain.count("Fix: Fix it.") == 1  # the fix reads the same: said once


def test_a_compact_line_wraps_between_names_each_broken_line_ending_in_a_dot() -> None:
    titles = ["Mail exchangers (MX)", "Reverse DNS (PTR)", "SPF", "DMARC", "TLS certificates"]
    titles += ["DNS blocklists", "MTA-STS"]
    passing = tuple(
        CheckResult(f"c{i}", t, (Finding("c.ok", Status.PASS, "ok"),), 1)
        for i, t in enumerate(titles)
    )

    plain = text.render(Report("example.test", passing, 1), width=40)

    assert (
        "\nPASS  MX · PTR · SPF · DMARC ·\n      TLS certificates ·\n      DNS blocklists · MTA-STS\n"
        in plain
    )


def test_a_number_stays_with_its_word_when_the_summary_wraps() -> None:
    lines = text.render(REPORT, width=40).splitlines()

    assert lines[:3] == [
        "example.test: FAIL — 8 checks:",
        "2 failing, 1 warning, 2 notes,",
        "2 passing, 1 skipped",
    ]
