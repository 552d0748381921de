"""The Block Kit renderer: Slack's limits hold and nothing remote becomes a live mention."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block

from bot.render import blocks
from checks.model import CheckResult, Finding, Record, Report, Status
from checks.target import normalise
from tests.bot.blockkit_support import HOSTILE, no_live_markup, validate

WHEN = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def finding(status: Status, message: str = "m", **kw: Any) -> Finding:
    return Finding(f"x.{status.value}", status, message, **kw)


def report(*results: CheckResult, domain: str = "example.com", display: str = "") -> Report:
    return Report(domain, results, 1234, display_name=display, resolvers=("127.0.0.1:53",))


def test_a_failing_report_expands_the_fix_and_the_record_to_paste() -> None:
    record = Record("_dmarc.example.com.", "TXT", '"v=DMARC1; p=none"')
    bad = CheckResult(
        "dmarc",
        "DMARC policy",
        (finding(Status.FAIL, "No DMARC record.", fix="Publish one.", record=record),),
        12,
    )
    good = CheckResult("mx", "Mail exchangers (MX)", (finding(Status.PASS, "2 MX records."),), 30)

    message = blocks.render(report(good, bad), command="example.com", when=WHEN, report_id="7")

    validate(message)
    text = json.dumps(message["blocks"], ensure_ascii=False)
    assert message["blocks"][0]["text"]["text"] == "❌ example.com"
    assert "*Fix:* Publish one." in text
    assert '```_dmarc.example.com. 3600 IN TXT \\"v=DMARC1; p=none\\"```' in text
    assert "✅ MX" in text  # what passed: named in the compact line…
    assert "2 MX records." in json.dumps(blocks.render_details(report(good, bad)))  # …in full here
    assert "2025-01-02 03:04:05 UTC" in text
    buttons = message["blocks"][-1]["elements"]
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        ("mx_rerun", "example.com"),
        ("mx_details", "7"),
    ]


def test_the_notification_text_is_the_diagnosis_headline_escaped() -> None:
    result = CheckResult("spf", "SPF", (finding(Status.FAIL, "No SPF record."),), 1)
    diagnosed = replace(report(result), headline=f"SPF: {HOSTILE}")

    message = blocks.render(diagnosed, command="example.com")

    validate(message)
    no_live_markup(message)
    assert message["text"].splitlines()[0] == f"❌ {blocks.escape(diagnosed.headline)}"


def test_the_header_shows_the_unicode_form_of_an_idn() -> None:
    target = normalise("bücher.example")
    result = CheckResult("mx", "MX", (finding(Status.PASS),), 1)

    message = blocks.render(
        report(result, domain=target.name, display=target.unicode), command=target.name
    )

    assert message["blocks"][0]["text"]["text"] == "✅ bücher.example (xn--bcher-kva.example)"


def test_hostile_remote_text_is_escaped_even_inside_code_blocks() -> None:
    hostile = finding(
        Status.WARN,
        HOSTILE,
        fix=HOSTILE,
        record=Record("a.example.", "TXT", f'"{HOSTILE}"'),
        evidence=(HOSTILE,),
    )
    result = CheckResult("spf", HOSTILE, (hostile,), 5)

    messages = [
        blocks.render(report(result), command="example.com"),
        blocks.render_progress(normalise("example.com"), [result], [("x", HOSTILE)]),
        *blocks.render_details(report(result)),
    ]

    for message in messages:
        validate(message)
        no_live_markup(message)
    assert "&lt;!channel&gt;" in json.dumps(messages[0]["blocks"])


def test_progress_shows_running_checks_with_an_hourglass() -> None:
    done = CheckResult("mx", "Mail exchangers (MX)", (finding(Status.PASS, "fine"),), 8)

    message = blocks.render_progress(
        normalise("example.com"), [done], [("spf", "SPF"), ("dmarc", "DMARC")]
    )

    validate(message)
    text = json.dumps(message["blocks"], ensure_ascii=False)
    assert message["text"] == "Checking example.com…"
    assert "⏳ SPF · DMARC" in text
    assert "✅ MX" in text
    assert "1 of 3 checks done" in text


def test_hundreds_of_long_findings_are_truncated_with_a_marker() -> None:
    many = tuple(
        finding(Status.FAIL, "x" * 2500, fix="y" * 2500, evidence=("z" * 5000,)) for _ in range(300)
    )
    results = tuple(CheckResult(f"c{i}", f"Check {i}", many, i) for i in range(80))

    messages = [blocks.render(report(*results), command="example.com")]
    messages += blocks.render_details(report(*results))

    for message in messages:
        validate(message)
    text = json.dumps(messages, ensure_ascii=False)
    assert "press Details" in text
    assert len(messages) == 1 + blocks.MAX_DETAIL_MESSAGES


# ---- properties ---------------------------------------------------------------------------------

_text = st.one_of(
    st.text(max_size=400),
    st.sampled_from([HOSTILE, "<!everyone>", "<@W1|x>", "```", "&amp;", "a" * 5000]),
    st.text(alphabet="<>&!@#|`*_~ \n", max_size=200),
)
_record = st.builds(
    Record, _text, st.sampled_from(["TXT", "MX", "A"]), _text, st.integers(0, 2**31)
)
_finding = st.builds(
    Finding,
    _text,
    st.sampled_from(list(Status)),
    _text,
    _text,
    st.none() | _record,
    st.lists(_text, max_size=5).map(tuple),
)
_result = st.builds(
    CheckResult, _text, _text, st.lists(_finding, max_size=25).map(tuple), st.integers(0, 10**7)
)
_report = st.builds(
    Report,
    st.from_regex(r"[a-z0-9-]{1,63}(\.[a-z0-9-]{1,63}){1,4}", fullmatch=True),
    st.lists(_result, max_size=40).map(tuple),
    st.integers(0, 10**7),
    _text,
    st.lists(_text, max_size=3).map(tuple),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_report, _text, _text)
def test_any_report_renders_within_every_limit_and_without_live_mentions(
    any_report: Report, command: str, report_id: str
) -> None:
    messages = [blocks.render(any_report, command=command, report_id=report_id)]
    messages += blocks.render_details(any_report)
    pending = [(r.id, r.title) for r in any_report.results]
    messages.append(blocks.render_progress(normalise("example.com"), any_report.results, pending))

    for message in messages:
        validate(message)
        no_live_markup(message)


@given(_text)
def test_escape_leaves_no_angle_brackets_and_round_trips(text: str) -> None:
    escaped = blocks.escape(text)

    assert "<" not in escaped
    assert ">" not in escaped
    unescaped = re.sub("&(amp|lt|gt);", lambda m: {"amp": "&", "lt": "<", "gt": ">"}[m[1]], escaped)
    assert unescaped == text


def test_help_and_home_are_valid_block_kit() -> None:
    checks = [("mx", "Mail exchangers (MX)"), ("spf", "SPF")]
    line = blocks.HistoryLine(Status.FAIL, HOSTILE, HOSTILE, WHEN)

    validate(blocks.render_help("/mx", checks))
    home = blocks.render_home(checks, [line] * 30)

    assert home["type"] == "home"
    for block in Block.parse_all(home["blocks"]):
        assert block is not None
        block.validate_json()
    assert "<" not in json.dumps(home)
