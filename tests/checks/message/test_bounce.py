"""Bounces of every style: the delivery status read from each, the cause from the provider's
text, and the live checks that the cause asks for, run on the DNS test server."""

from __future__ import annotations

import pytest

from checks.message import bounce, codes, knowledge
from checks.message.parse import parse
from checks.message.result import Kind
from checks.model import Status
from tests.checks.message.conftest import Diagnose
from tests.checks.message.corpus import ROOT
from tests.checks.message.findings import section_codes

F, W = Status.FAIL, Status.WARN

# file, style, action, status, remote MTA (part), recipient, finding, live report targets
BOUNCES = [
    (
        "dsn-gmail-5.7.26.eml",
        "dsn",
        "failed",
        "5.7.26",
        "gmail-smtp-in.l.google.com",
        "bob@gmail.com",
        ("bounce.unauthenticated", F),
        {"sender.test"},
    ),
    (
        "postfix-pasted.txt",
        "postfix",
        "failed",
        "5.7.1",
        "outlook-com.olc.protection.outlook.com",
        "carol@outlook.com",
        ("bounce.microsoft_blocked_ip", F),
        {"203.0.113.9"},
    ),
    (
        "exim-5.1.1.eml",
        "exim",
        "failed",
        "5.1.1",
        "mx.receiver.test",
        "nobody@receiver.test",
        ("bounce.recipient_unknown", F),
        {"receiver.test"},
    ),
    (
        "exchange-5.7.515.eml",
        "exchange",
        "failed",
        "5.7.515",
        "DM6PR12MB1234",
        "dave@hotmail.com",
        ("bounce.microsoft_unauthenticated", F),
        {"sender.test"},
    ),
    (
        "gmail-blocked.eml",
        "gmail",
        "failed",
        "5.7.1",
        "",
        "erin@partner.test",
        ("bounce.blocklisted", F),
        {"203.0.113.9"},
    ),
    (
        "yahoo-tss04.eml",
        "yahoo",
        "delayed",
        "4.7.0",
        "",
        "frank@yahoo.com",
        ("bounce.yahoo_deferred_volume", W),
        {"203.0.113.9"},
    ),
    (
        "delayed-postfix.eml",
        "dsn",
        "delayed",
        "4.4.1",
        "",
        "gina@slow.test",
        ("bounce.unreachable", W),
        {"slow.test"},
    ),
]


@pytest.mark.parametrize(
    ("name", "style", "action", "status", "mta", "recipient", "finding", "live"),
    BOUNCES,
    ids=[b[0] for b in BOUNCES],
)
async def test_each_bounce_style_is_read_and_explained(
    diagnose_file: Diagnose,
    name: str,
    style: str,
    action: str,
    status: str,
    mta: str,
    recipient: str,
    finding: tuple[str, Status],
    live: set[str],
) -> None:
    report = await diagnose_file(f"bounces/{name}")

    assert report.kind is Kind.BOUNCE
    dsn = report.dsn
    assert dsn is not None
    first = dsn.first
    assert first is not None
    assert (dsn.style, first.action, first.status, first.recipient) == (
        style,
        action,
        status,
        recipient,
    )
    assert mta in (first.remote_mta or dsn.reporting_mta)
    assert first.diagnostic
    assert dsn.permanent is (action == "failed")
    assert finding in section_codes(report, "bounce")
    assert {r.domain for r in report.live} == live
    assert report.cause is not None
    assert report.cause.code == finding[0]


async def test_the_gmail_dsn_checks_the_sending_domain_live(diagnose_file: Diagnose) -> None:
    report = await diagnose_file("bounces/dsn-gmail-5.7.26.eml")

    (sender,) = report.live
    assert {r.id for r in sender.results} == {"spf", "dkim", "dmarc"}
    assert report.dsn is not None
    assert report.dsn.original_from == "sender.test"
    assert report.dsn.meaning.endswith("Multiple authentication checks failed")
    assert "5.7.26" in report.headline
    assert "permanent" in report.headline


async def test_the_blocklisted_ip_is_found_on_the_blocklist_live(diagnose_file: Diagnose) -> None:
    report = await diagnose_file("bounces/gmail-blocked.eml")

    (ip,) = report.live
    assert ("dnsbl.listed", F) in {(f.code, f.status) for r in ip.results for f in r.findings}


async def test_live_checks_can_be_left_out(diagnose_file: Diagnose) -> None:
    report = await diagnose_file("bounces/gmail-blocked.eml", run_live=False)

    assert report.live == ()


async def test_a_delivered_report_is_no_failure(diagnose_file: Diagnose) -> None:
    text = (
        (ROOT / "bounces/delayed-postfix.eml")
        .read_bytes()
        .replace(b"Action: delayed", b"Action: delivered")
        .replace(b"Status: 4.4.1", b"Status: 2.0.0")
    )

    report = await diagnose_file(text)

    assert section_codes(report, "bounce") == {("bounce.delivered", Status.PASS)}


async def test_an_unknown_reply_is_shown_as_given(diagnose_file: Diagnose) -> None:
    text = (
        b"From: MAILER-DAEMON@relay.test\r\nSubject: Undelivered Mail Returned to Sender\r\n\r\n"
        b"This is the mail system at host relay.test.\r\n\r\n<x@y.test>: host mx.y.test[192.0.2.1] "
        b"said: 550 5.9.9 Something unheard of (in reply to RCPT TO command)\r\n"
    )

    report = await diagnose_file(text)

    assert ("bounce.unknown_reason", F) in section_codes(report, "bounce")
    assert report.dsn is not None
    assert report.dsn.first is not None
    assert report.dsn.first.diagnostic.startswith("550 5.9.9 Something unheard of")


def test_a_multiline_reply_reads_as_one_line() -> None:
    parsed = parse((ROOT / "bounces/dsn-gmail-5.7.26.eml").read_bytes())

    dsn = bounce.read(parsed, bounce.style(parsed))

    assert dsn.first is not None
    assert "\n" not in dsn.first.diagnostic
    assert "550-5.7.26" not in dsn.first.diagnostic[12:]  # continuation codes are dropped


def test_an_ordinary_message_is_no_bounce() -> None:
    parsed = parse((ROOT / "good.eml").read_bytes())

    assert bounce.style(parsed) == ""


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (
            "5.7.26",
            "Permanent failure (the sender gives up): Multiple authentication checks failed",
        ),
        ("4.2.2", "Persistent transient failure (the sender retries): Mailbox full"),
        (
            "5.1.1",
            "Permanent failure (the sender gives up): Bad destination mailbox address (no such user)",
        ),
        (
            "5.7.515",
            "Permanent failure (the sender gives up): Other or undefined security status (often: refused by policy)",
        ),
        ("2.0.0", "Success: Other undefined status"),
        ("nonsense", ""),
    ],
)
def test_enhanced_status_codes_have_their_rfc_3463_meaning(code: str, words: str) -> None:
    assert codes.meaning(code) == words


@pytest.mark.parametrize(
    ("status", "text", "key"),
    [
        (
            "5.7.26",
            "Unauthenticated email from a.test is not accepted due to domain's DMARC policy",
            "unauthenticated",
        ),
        ("5.7.27", "The sender does not pass SPF", "spf_failed"),
        (
            "5.7.25",
            "The IP address sending this message does not have a PTR record setup",
            "no_ptr",
        ),
        ("4.7.28", "Our system has detected an unusual rate of unsolicited mail", "rate_limited"),
        ("4.7.29", "this message wasn't sent over a TLS connection", "no_tls"),
        (
            "4.7.32",
            "the From: header isn't aligned with either the authenticated SPF or DKIM",
            "not_aligned",
        ),
        ("5.7.1", "likely unsolicited mail", "spam_suspected"),
        (
            "5.7.509",
            "Access denied, sending domain a.test does not pass DMARC verification",
            "microsoft_dmarc_reject",
        ),
        ("5.4.1", "Recipient address rejected: Access denied", "microsoft_recipient_unknown"),
        ("5.7.1", "Client host [192.0.2.1] blocked using bl.spamcop.net", "blocklisted"),
        ("5.2.2", "mailbox full", "mailbox_full"),
        ("5.7.9", "Message not accepted for policy reasons", "yahoo_policy"),
        ("5.3.4", "Message size exceeds fixed limit", "too_big"),
        ("4.7.1", "Greylisted, please try again later", "greylisted"),
        ("5.7.1", "Relay access denied", "relay_denied"),
    ],
)
def test_provider_texts_map_to_their_cause(status: str, text: str, key: str) -> None:
    known = knowledge.lookup(status, text)

    assert known is not None
    assert known.key == key
