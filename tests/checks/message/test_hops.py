"""The Received chain: hops read from real-world field shapes, delays, the slowest hop named, and
dates without zones, out of order or unreadable noted rather than crashed on."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from checks.message.hops import chain, external_hop, judge, parse_received, span
from checks.model import Status
from tests.findings import code_set

GMAIL = (
    "from mail.sender.test (mail.sender.test. [192.0.2.25]) by mx.google.com with ESMTPS id "
    "a1si2.2025.12.31.15.00.04 for <bob@gmail.com> (version=TLS1_3 cipher=TLS_AES_256_GCM_SHA384 "
    "bits=256/256); Wed, 31 Dec 2025 15:00:04 -0800 (PST)"
)
POSTFIX = (
    "from relay.sender.test (relay.sender.test [198.51.100.2]) by mx.receiver.test (Postfix) "
    "with ESMTP id 4F1A2B3C4D for <bob@receiver.test>; Wed, 31 Dec 2025 23:00:04 +0000 (UTC)"
)
EXCHANGE = (
    "from DM6PR12MB1234.namprd12.prod.outlook.com (2603:10b6:5:1c0::10) by "
    "DM6PR12MB5678.namprd12.prod.outlook.com with HTTPS; Wed, 31 Dec 2025 23:00:05 +0000"
)
EXIM = (
    "from [203.0.113.50] (helo=laptop) by relay.sender.test with esmtpsa (TLS1.3) tls "
    "TLS_AES_256_GCM_SHA384 (Exim 4.97) (envelope-from <alice@sender.test>) id 1vXyZ2-000Abc-Qr "
    "for bob@receiver.test; Wed, 31 Dec 2025 23:00:02 +0000"
)


def test_a_gmail_received_field_gives_every_part() -> None:
    hop = parse_received(GMAIL)

    assert (hop.from_host, hop.from_ip, hop.by_host, hop.protocol, hop.tls) == (
        "mail.sender.test",
        "192.0.2.25",
        "mx.google.com",
        "ESMTPS",
        True,
    )
    assert hop.when == datetime(2025, 12, 31, 23, 0, 4, tzinfo=UTC)
    assert not hop.zone_missing


@pytest.mark.parametrize(
    ("value", "ip", "tls"),
    [
        (POSTFIX, "198.51.100.2", False),
        (EXCHANGE, "2603:10b6:5:1c0::10", True),
        (EXIM, "203.0.113.50", True),
    ],
)
def test_other_mtas_fields_are_read(value: str, ip: str, tls: bool | None) -> None:
    hop = parse_received(value)

    assert hop.from_ip == ip
    assert hop.tls is tls
    assert hop.when is not None


def test_hops_run_oldest_first_with_delays_and_the_slowest_named() -> None:
    received = [
        "from b.test ([192.0.2.2]) by c.test with ESMTPS; Wed, 31 Dec 2025 23:40:00 +0000",
        "from a.test ([192.0.2.1]) by b.test with ESMTPS; Wed, 31 Dec 2025 23:00:10 +0000",
        "from laptop ([10.0.0.5]) by a.test with ESMTPSA; Wed, 31 Dec 2025 23:00:00 +0000",
    ]

    hops = chain(received)
    findings = judge(hops)

    assert [h.by_host for h in hops] == ["a.test", "b.test", "c.test"]
    assert [h.delay_seconds for h in hops] == [None, 10.0, 2390.0]
    assert code_set(findings) == {("hops.summary", Status.PASS), ("hops.slow", Status.WARN)}
    slow = next(f for f in findings if f.code == "hops.slow")
    assert "b.test → c.test" in slow.message
    assert "39 min 50 s" in slow.message


def test_dates_without_zone_out_of_order_or_unreadable_are_noted_not_crashed_on() -> None:
    received = [
        "from b.test ([192.0.2.2]) by c.test with SMTP; Wed, 31 Dec 2025 22:00:00 +0000",
        "from a.test ([192.0.2.1]) by b.test with SMTP; Wed, 31 Dec 2025 23:00:10",
        "from x ([192.0.2.9]) by a.test with SMTP; yesterday-ish, around tea time",
        "by nothing; Fri, 99 Foo 20251 99:99:99 +9999",
        "garbage without any structure at all",
    ]

    hops = chain(received)
    codes = {f.code for f in judge(hops)}

    assert len(hops) == 5
    assert {"hops.no_zone", "hops.bad_date", "hops.out_of_order"} <= codes
    assert all(h.delay_seconds is None or h.delay_seconds != h.delay_seconds - 1 for h in hops)


def test_no_received_fields_is_said_plainly() -> None:
    assert code_set(judge(())) == {("hops.none", Status.INFO)}


def test_five_hundred_hops_are_a_loop() -> None:
    received = [
        f"from h{i}.test ([192.0.2.{i % 250 + 1}]) by h{i + 1}.test with ESMTPS; "
        f"Wed, 31 Dec 2025 23:{i // 60 % 60:02d}:{i % 60:02d} +0000"
        for i in range(500)
    ]

    hops = chain(received)

    assert len(hops) == 500
    assert ("hops.loop", Status.WARN) in code_set(judge(hops))


def test_the_external_hop_skips_private_and_loopback_clients() -> None:
    hops = chain(
        [
            "from mx ([127.0.0.1]) by store with LMTP; Wed, 31 Dec 2025 23:00:09 +0000",
            "from out.sender.test ([192.0.2.25]) by mx with ESMTPS; Wed, 31 Dec 2025 23:00:04 +0000",
            "from laptop ([10.0.0.5]) by out.sender.test with ESMTPSA; Wed, 31 Dec 2025 23:00:01 +0000",
        ]
    )

    hop = external_hop(hops)

    assert hop is not None
    assert hop.from_ip == "192.0.2.25"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(4, "4 s"), (200, "3 min 20 s"), (7500, "2 h 5 min"), (3 * 86400 + 3600 * 4, "3 d 4 h")],
)
def test_spans_read_as_words(seconds: float, text: str) -> None:
    assert span(seconds) == text
