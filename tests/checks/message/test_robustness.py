"""Bad input gets a clear answer within the budget: binary data, 10 MB, 500 Received fields,
malformed dates, broken MIME, an empty paste, text that is no mail at all."""

from __future__ import annotations

import time

import pytest

from checks.message.diagnose import classify, diagnose
from checks.message.parse import MAX_BYTES, MessageSyntaxError, parse
from checks.message.result import Kind
from checks.model import Status
from checks.settings import Settings
from tests.checks.message.conftest import Diagnose
from tests.checks.message.corpus import ROOT, received, sign
from tests.checks.message.corpus import message as make_message
from tests.checks.message.findings import section_codes
from tests.fakes.dnsserver import DnsTestServer


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (b"   \r\n\r\n", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 40, "binary"),
        (b"PK\x03\x04" + bytes(200), "binary"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500), "binary"),  # an Outlook .msg
    ],
)
def test_unreadable_input_is_a_syntax_error_that_says_why(data: bytes, words: str) -> None:
    with pytest.raises(MessageSyntaxError, match=words):
        parse(data)


def test_more_than_the_limit_is_refused_before_reading() -> None:
    with pytest.raises(MessageSyntaxError, match="MB"):
        parse(b"x" * (MAX_BYTES + 1))


def test_text_that_is_no_mail_is_refused() -> None:
    with pytest.raises(MessageSyntaxError, match="not a message"):
        classify(parse((ROOT / "not-mail.txt").read_bytes()))


async def test_a_10_mb_message_is_diagnosed_within_the_budget(
    diagnose_file: Diagnose, message_settings: Settings
) -> None:
    body_line = b"All work and no play makes Jack a dull boy. " * 2 + b"\r\n"
    big = make_message(subject="Big").replace(
        b"Hello Bob,", b"Hello Bob,\r\n" + body_line * 112_000
    )
    signed = received(sign(big, "s2048"))
    assert len(signed) > 10_000_000
    started = time.monotonic()

    report = await diagnose_file(signed)

    assert time.monotonic() - started < message_settings.report_budget
    assert ("dkim_verify.pass", Status.PASS) in section_codes(report, "dkim_verify")


async def test_five_hundred_received_fields_are_read_within_the_budget(
    diagnose_file: Diagnose, message_settings: Settings
) -> None:
    hops = b"".join(
        f"Received: from h{i}.test ([192.0.2.{i % 250 + 1}]) by h{i + 1}.test with ESMTPS; "
        f"Wed, 31 Dec 2025 2{i // 360 % 4}:{i // 6 % 60:02d}:{i % 6 * 10:02d} +0000\r\n".encode()
        for i in range(500)
    )
    started = time.monotonic()

    report = await diagnose_file(hops + (ROOT / "good.eml").read_bytes())

    assert time.monotonic() - started < message_settings.report_budget
    assert len(report.hops) == 503
    assert ("hops.loop", Status.WARN) in section_codes(report, "hops")


async def test_malformed_dates_and_broken_mime_still_give_a_diagnosis(
    diagnose_file: Diagnose,
) -> None:
    broken = (
        b"Received: from a.test ([192.0.2.1]) by b.test; Feb 30 2025 25:61:00\r\n"
        b"Received: from c.test ([192.0.2.2]) by a.test; \r\n"
        b"From: someone@sender.test\r\n"
        b"Subject: =?utf-8?B?not base64 at all?=\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="never-closed"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        b"--never-closed\r\nContent-Type: text/plain; charset=x-unknown-charset\r\n\r\n"
        b"\xff\xfe broken \xc3\x28 bytes\r\n--wrong-boundary--\r\n"
    )

    report = await diagnose_file(broken)

    assert report.kind is Kind.MESSAGE
    assert ("hops.bad_date", Status.INFO) in section_codes(report, "hops")
    assert report.headline


async def test_a_header_that_pings_everyone_is_kept_verbatim_for_the_renderers_to_escape(
    diagnose_file: Diagnose,
) -> None:
    hostile = (
        (ROOT / "spoofed.eml")
        .read_bytes()
        .replace(b"Subject: Urgent wire transfer", b"Subject: <!channel> Urgent wire transfer")
    )

    report = await diagnose_file(hostile)

    assert report.subject == "<!channel> Urgent wire transfer"


async def test_a_silent_dns_server_costs_an_error_not_a_hang(
    message_settings: Settings, dns_server: DnsTestServer
) -> None:
    dns_server.behaviour.drop_all = True  # every query goes unanswered
    tight = message_settings.with_overrides(report_budget=1.0, timeout=0.3)
    started = time.monotonic()

    report = await diagnose((ROOT / "good.eml").read_bytes(), tight)

    assert time.monotonic() - started < 2.0
    assert report.status in (Status.ERROR, Status.FAIL)
