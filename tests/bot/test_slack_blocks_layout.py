"""The report's layout in Slack: problems first, one compact line for the rest, within limits."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.render import blocks, summary, text
from checks.model import Cause, CheckResult, Finding, Record, Report, Status
from checks.target import normalise
from tests.bot.blockkit_support import (
    HOSTILE,
    SCREEN_PX,
    no_live_markup,
    px_from,
    validate,
)


def check(cid: str, title: str, status: Status, message: str = "", **kw: Any) -> CheckResult:
    finding = Finding(f"{cid}.{status.value}", status, message or f"{title} is {status}.", **kw)
    return CheckResult(cid, title, (finding,), 3)


SPF_RECORD = Record("example.com.", "TXT", '"v=spf1 mx -all"')
RESULTS = (
    check("mx", "Mail exchangers (MX)", Status.PASS),
    check("ptr", "Reverse DNS (PTR)", Status.PASS),
    check(
        "spf",
        "SPF",
        Status.FAIL,
        "The record ends in +all.",
        fix="End it in -all.",
        record=SPF_RECORD,
    ),
    check("dmarc", "DMARC", Status.WARN, "p=none.", fix="Move to p=quarantine."),
    check("bimi", "BIMI", Status.INFO),
    check("smtp", "SMTP (port 25)", Status.ERROR, "mx1 did not answer."),
    check("tls", "TLS certificates", Status.SKIP),
)
REPORT = Report("example.com", RESULTS, 1234, resolvers=("127.0.0.1:53",))


def texts(message: dict[str, Any]) -> list[str]:
    """Each block as one string: its text, "---" for a divider, button labels for actions."""
    out = []
    for block in message["blocks"]:
        match block["type"]:
            case "header" | "section":
                out.append(block["text"]["text"])
            case "context":
                out.append(block["elements"][0]["text"])
            case "actions":
                out.append(" ".join(e["text"]["text"] for e in block["elements"]))
            case _:
                out.append("---")
    return out


def test_the_report_reads_headline_problems_then_one_compact_line_per_status() -> None:
    diagnosed = replace(REPORT, headline="Anyone may send as example.com.")

    message = blocks.render(diagnosed, command="example.com", report_id="7")

    validate(message)
    kinds = [b["type"] for b in message["blocks"]]
    header, lead, rule, spf, smtp, dmarc, compact, context, buttons = texts(message)
    assert kinds == [
        "header",
        "section",
        "divider",
        *["section"] * 3,
        "context",
        "context",
        "actions",
    ]
    assert header == "❌ example.com"
    assert lead == (
        "*Anyone may send as example.com.*\n*example.com*: *problems found* "
        "(7 checks: 1 failing, 1 inconclusive, 1 warning, 1 note, 2 passing, 1 skipped)"
    )
    assert spf == (
        "❌ *SPF*: The record ends in +all.\n> *Fix:* End it in -all.\n"
        '```example.com. 3600 IN TXT "v=spf1 mx -all"```'
    )
    assert smtp == "❓ *SMTP (port 25)*: mx1 did not answer."
    assert dmarc == "⚠️ *DMARC*: p=none.\n> *Fix:* Move to p=quarantine."
    assert compact == "✅ MX · PTR\n\u2139\ufe0f BIMI\n\u2796 TLS certificates"  # small print
    assert rule == "---"
    assert context.startswith("Took 1.2 s · resolver 127.0.0.1:53")
    assert buttons == "Re-run Details"


def test_without_a_headline_the_summary_sentence_leads() -> None:
    message = blocks.render(REPORT, command="example.com")

    assert texts(message)[1] == (
        "*example.com*: *problems found* "
        "(7 checks: 1 failing, 1 inconclusive, 1 warning, 1 note, 2 passing, 1 skipped)"
    )
    assert message["text"].startswith("❌ example.com: problems found (7 checks: 1 failing")


def test_the_check_holding_the_root_cause_comes_first() -> None:
    diagnosed = replace(REPORT, headline="p=none.", cause=Cause("dmarc", "dmarc.warn"))

    lines = texts(blocks.render(diagnosed, command="example.com"))

    assert lines[3].startswith("⚠️ *DMARC*")
    assert lines[4].startswith("❌ *SPF*")


def test_a_clean_report_is_the_lead_and_the_compact_lines() -> None:
    clean = Report("example.com", RESULTS[:2], 20)

    assert texts(blocks.render(clean, command="example.com"))[:4] == [
        "✅ example.com",
        "*example.com*: *all good* (2 checks: 2 passing)",
        "---",
        "✅ MX · PTR",
    ]


def test_while_running_the_same_order_with_one_line_naming_the_pending_checks() -> None:
    done = [RESULTS[0], RESULTS[2], RESULTS[4]]
    pending = [("smtp", "SMTP (port 25)"), ("tls", "TLS certificates"), ("dane", "DANE (TLSA)")]

    message = blocks.render_progress(normalise("example.com"), done, pending)

    validate(message)
    assert texts(message) == [
        "⏳ Checking example.com…",
        texts(blocks.render(REPORT, command="x"))[3],  # the problem, as the final report has it
        "✅ MX\n\u2139\ufe0f BIMI\n⏳ SMTP · TLS certificates · DANE",
        "3 of 6 checks done",
    ]
    assert [b["type"] for b in message["blocks"]] == ["header", "section", "context", "context"]


def test_details_list_every_check_problems_first() -> None:
    [details] = blocks.render_details(REPORT)

    heads = [t.split("*")[1] for t in texts(details)[1:] if " ms)" in t]
    assert heads == [
        "SPF",
        "SMTP (port 25)",
        "DMARC",
        "Mail exchangers (MX)",
        "Reverse DNS (PTR)",
        "BIMI",
        "TLS certificates",
    ]


def test_problems_beyond_a_laptop_screen_get_one_line_each_and_fixes_in_details() -> None:
    long_fix = "Do this, then that, then the other thing, carefully. " * 3
    many = tuple(
        check(
            f"c{i}",
            f"Check {i}",
            Status.FAIL,
            f"Problem {i} " * 12,
            fix=long_fix,
            record=SPF_RECORD,
        )
        for i in range(10)
    )

    message = blocks.render(Report("example.com", many, 1), command="x", report_id="1")

    validate(message)
    lines = texts(message)
    first, rest = lines[3], lines[4]
    assert "*Fix:*" in first  # the first problem always in full
    assert rest.startswith("❌ *Check 1*: Problem 1")
    assert "\n❌ *Check 9*: Problem 9" in rest
    assert rest.endswith("…\n_Their fixes and records: press Details._")
    assert "*Fix:*" not in rest
    assert px_from(message, 3) <= SCREEN_PX


def _hostile_results() -> tuple[CheckResult, ...]:
    evidence = (HOSTILE + "x" * (3000 - len(HOSTILE)),)
    return tuple(
        CheckResult(
            f"c{i}",
            f"{HOSTILE} {i}",
            tuple(
                Finding(
                    f"c{i}.bad{j}",
                    Status.FAIL,
                    f"{HOSTILE} " * 40,
                    fix=HOSTILE * 30,
                    record=Record("a.example.", "TXT", f'"{HOSTILE * 20}"'),
                    evidence=evidence,
                )
                for j in range(4)
            ),
            5,
        )
        for i in range(16)
    )


def test_sixteen_checks_failing_with_hostile_text_stay_within_limits_and_problems_first() -> None:
    results = _hostile_results()
    report = Report("example.com", results, 1, headline=HOSTILE * 10)
    pending = [(r.id, r.title) for r in results[8:]]

    messages = [
        blocks.render(report, command=HOSTILE, report_id="1", watchable=True),
        blocks.render_progress(normalise("example.com"), results[:8], pending),
        *blocks.render_details(report),
    ]

    for message in messages:
        validate(message)
        no_live_markup(message)
    assert texts(messages[0])[3].startswith("❌ *&lt;!channel&gt;")  # the first problem…
    assert px_from(messages[0], 3) <= SCREEN_PX  # …on screen, even with Slack at the bottom
    assert "&lt;!channel&gt; &lt;!here&gt;" in json.dumps(messages[-1])  # evidence, escaped


# ---- the counts are the same words in Slack and in the terminal --------------------------------

_status = st.sampled_from(list(Status))
_result = st.builds(
    lambda cid, statuses: CheckResult(
        cid, cid, tuple(Finding(f"{cid}.x", s, "m") for s in statuses), 1
    ),
    st.text(alphabet="abcdef", min_size=1, max_size=5),
    st.lists(_status, max_size=3),
)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_result, max_size=20))
def test_slack_and_the_terminal_count_alike(results: list[CheckResult]) -> None:
    report = Report("example.com", tuple(results), 1)

    counts = summary.counts(report.results)
    slack = texts(blocks.render(report, command="x"))[1]
    terminal = " ".join(text.render(report, width=400).splitlines()[0].split())

    assert slack.endswith(f"({counts})")
    assert terminal.endswith(f"— {counts}")
