"""The message diagnosis's three faces, pure: the terminal text, Block Kit within Slack's limits
whatever the message holds, and the JSON shape; remote text escaped everywhere."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

from bot.render import message_blocks, message_json, message_text
from checks.message.result import Dsn, DsnRecipient, Hop, Kind, MessageReport
from checks.model import Cause, CheckResult, Finding, Report, Status
from tests.bot.blockkit_support import HOSTILE, no_live_markup, validate


def hop(i: int, delay: float | None = 4.0) -> Hop:
    return Hop(
        index=i,
        from_host=f"h{i}.test",
        from_ip=f"192.0.2.{i % 250 + 1}",
        by_host=f"h{i + 1}.test",
        protocol="ESMTPS",
        tls=True,
        when=datetime(2025, 12, 31, 23, 0, tzinfo=UTC),
        delay_seconds=None if i == 1 else delay,
        raw=f"from h{i}.test by h{i + 1}.test",
    )


def bounce_report(diagnostic: str = "550 5.7.26 Unauthenticated email") -> MessageReport:
    finding = Finding(
        "bounce.unauthenticated",
        Status.FAIL,
        "Gmail refused the message as unauthenticated.",
        fix="Sign with DKIM.",
        evidence=(diagnostic,),
    )
    live = Report(
        domain="sender.test",
        results=(CheckResult("spf", "SPF", (Finding("spf.ok", Status.PASS, "fine"),), 1),),
        duration_ms=3,
        headline="Mail for sender.test should flow.",
    )
    return MessageReport(
        kind=Kind.BOUNCE,
        headline="Mail to bob@gmail.com bounced (5.7.26, permanent, not retried): Gmail refused it.",
        sections=(CheckResult("bounce", "Bounce", (finding,), 0),),
        dsn=Dsn(
            "dsn",
            "mail.sender.test",
            (
                DsnRecipient(
                    "bob@gmail.com",
                    "failed",
                    "5.7.26",
                    "gmail-smtp-in.l.google.com",
                    diagnostic,
                    "550",
                ),
            ),
            "Permanent failure: Multiple authentication checks failed",
            True,
            "sender.test",
        ),
        live=(live,),
        cause=Cause("bounce", "bounce.unauthenticated"),
        subject="Undelivered Mail Returned to Sender",
        duration_ms=40,
        resolvers=("127.0.0.1:53",),
    )


def message_report(hops: int = 3, subject: str = "Quarterly figures") -> MessageReport:
    sections = tuple(
        CheckResult(
            f"s{i}",
            f"Section {i}",
            (Finding(f"s{i}.x", Status.WARN, f"Problem {i}.", fix="Fix it."),),
            0,
        )
        for i in range(60)
    )
    return MessageReport(
        kind=Kind.MESSAGE,
        headline="DMARC fails for sender.test.",
        sections=sections,
        hops=tuple(hop(i) for i in range(1, hops + 1)),
        subject=subject,
        from_domain="sender.test",
    )


def test_text_shows_the_headline_then_the_bounce_then_the_live_check() -> None:
    out = message_text.render(bounce_report(), width=100)

    lines = out.splitlines()
    assert lines[0].startswith("Mail to bob@gmail.com bounced (5.7.26")
    assert "  Status     5.7.26 Permanent failure: Multiple authentication checks failed" in out
    assert "  Remote MTA gmail-smtp-in.l.google.com" in out
    assert (
        out.index("Bounce (dsn")
        < out.index("FAIL  Bounce:")
        < out.index("── Checked live: sender.test")
    )


def test_text_shortens_a_long_chain_unless_verbose() -> None:
    report = message_report(hops=500)

    short = message_text.render(report)
    full = message_text.render(report, verbose=True)

    assert "Hops (500, oldest first):" in short
    assert "… 488 more (-v shows all)" in short
    assert full.count(" → ") >= 500


def test_text_drops_terminal_control_characters_from_headers() -> None:
    out = message_text.render(message_report(subject="evil\x1b[2J\rsubject"))

    assert "\x1b[2J" not in out
    assert "\r" not in out


def test_blocks_stay_within_slacks_limits_for_a_huge_diagnosis() -> None:
    message = message_blocks.render(message_report(hops=500, subject="x" * 400))

    validate(message)
    assert len(message["blocks"]) <= 50


def test_blocks_escape_every_remote_text() -> None:
    hostile = replace(bounce_report(diagnostic=f"550 5.7.1 {HOSTILE}"), subject=HOSTILE)

    message = message_blocks.render(hostile)

    validate(message)
    no_live_markup(message)


def test_json_has_the_documented_keys() -> None:
    data = message_json.render(bounce_report())

    assert {"kind", "status", "headline", "findings", "hops", "dsn"} <= set(data)
    assert data["kind"] == "bounce"
    assert data["status"] == "fail"
    assert data["findings"][0]["code"] == "bounce.unauthenticated"
    assert {"action", "status", "remote_mta", "diagnostic", "recipients"} <= set(data["dsn"])
    assert data["dsn"]["recipients"][0]["recipient"] == "bob@gmail.com"
    json.dumps(data)  # plain data throughout
