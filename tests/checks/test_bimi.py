"""BIMI: the assertion record, its locations, and DMARC enforcement, over real DNS."""

from __future__ import annotations

import dns.name
import pytest

from checks.bimi import check as bimi
from checks.model import Finding, Status
from tests.checks.bimi_samples import BASE, ENFORCED
from tests.conftest import MakeContext
from tests.fakes.dnsserver import DnsTestServer
from tests.findings import codes

GOOD = (
    'default._bimi 300 IN TXT "v=BIMI1; l=https://example.test/logo.svg; '
    'a=https://example.test/vmc.pem"\n'
)


async def run(context_for: MakeContext, zone: str, domain: str = "example.test") -> list[Finding]:
    ctx = await context_for(BASE + zone, domain, origin="example.test")
    return await bimi.run(ctx)


async def test_record_with_certificate_and_enforced_dmarc_passes(context_for: MakeContext) -> None:
    findings = await run(context_for, ENFORCED + GOOD)

    assert codes(findings) == [("bimi.fetch_skipped", Status.INFO), ("bimi.ok", Status.PASS)]


async def test_no_record_is_only_information(context_for: MakeContext) -> None:
    findings = await run(context_for, ENFORCED)

    assert codes(findings) == [("bimi.missing", Status.INFO)]
    assert findings[0].record is not None
    assert findings[0].record.name == "default._bimi.example.test."


async def test_declination_record_is_information(context_for: MakeContext) -> None:
    findings = await run(context_for, 'default._bimi 300 IN TXT "v=BIMI1; l=; a=;"\n')

    assert codes(findings) == [("bimi.declined", Status.INFO)]


async def test_dmarc_p_none_warns_that_no_logo_is_shown(context_for: MakeContext) -> None:
    findings = await run(
        context_for, '_dmarc 300 IN TXT "v=DMARC1; p=none; rua=mailto:d@example.test"\n' + GOOD
    )

    assert codes(findings) == [
        ("bimi.dmarc_not_enforced", Status.WARN),
        ("bimi.fetch_skipped", Status.INFO),
    ]
    assert "p=none" in findings[0].message


@pytest.mark.parametrize(
    ("tags", "reason"),
    [
        ("p=reject; sp=none", "sp=none"),
        ("p=reject; t=y", "t=y"),
        ("p=quarantine; pct=50", "pct=50"),
    ],
)
async def test_dmarc_short_of_enforcement_warns(
    context_for: MakeContext, tags: str, reason: str
) -> None:
    findings = await run(context_for, f'_dmarc 300 IN TXT "v=DMARC1; {tags}"\n' + GOOD)

    assert codes(findings)[0] == ("bimi.dmarc_not_enforced", Status.WARN)
    assert reason in findings[0].message


async def test_no_dmarc_warns(context_for: MakeContext) -> None:
    findings = await run(context_for, GOOD)

    assert codes(findings)[0] == ("bimi.dmarc_not_enforced", Status.WARN)


async def test_http_logo_fails(context_for: MakeContext) -> None:
    findings = await run(
        context_for,
        ENFORCED + 'default._bimi 300 IN TXT "v=BIMI1; l=http://example.test/logo.svg; '
        'a=https://example.test/vmc.pem"\n',
    )

    assert codes(findings) == [
        ("bimi.logo_not_https", Status.FAIL),
        ("bimi.fetch_skipped", Status.INFO),
    ]


async def test_http_certificate_fails(context_for: MakeContext) -> None:
    findings = await run(
        context_for,
        ENFORCED + 'default._bimi 300 IN TXT "v=BIMI1; l=https://example.test/logo.svg; '
        'a=http://example.test/vmc.pem"\n',
    )

    assert codes(findings) == [
        ("bimi.evidence_not_https", Status.FAIL),
        ("bimi.fetch_skipped", Status.INFO),
    ]


async def test_missing_certificate_is_a_note_about_gmail_and_apple(
    context_for: MakeContext,
) -> None:
    findings = await run(
        context_for,
        ENFORCED + 'default._bimi 300 IN TXT "v=BIMI1; l=https://example.test/logo.svg"\n',
    )

    assert codes(findings) == [
        ("bimi.no_evidence", Status.INFO),
        ("bimi.fetch_skipped", Status.INFO),
        ("bimi.ok", Status.PASS),
    ]
    assert "Gmail" in findings[0].message


async def test_unknown_tag_is_a_note(context_for: MakeContext) -> None:
    findings = await run(
        context_for,
        ENFORCED + 'default._bimi 300 IN TXT "v=BIMI1; l=https://example.test/l.svg; '
        'a=https://example.test/v.pem; zz=1"\n',
    )

    assert codes(findings) == [
        ("bimi.unknown_tag", Status.INFO),
        ("bimi.fetch_skipped", Status.INFO),
        ("bimi.ok", Status.PASS),
    ]


async def test_invalid_record_fails_and_is_shown(context_for: MakeContext) -> None:
    findings = await run(
        context_for, 'default._bimi 300 IN TXT "v=bimi1; l=https://x.test/l.svg"\n'
    )

    assert codes(findings) == [("bimi.invalid", Status.FAIL)]
    assert findings[0].evidence == ("v=bimi1; l=https://x.test/l.svg",)


async def test_two_records_fail(context_for: MakeContext) -> None:
    findings = await run(
        context_for, GOOD + 'default._bimi 300 IN TXT "v=BIMI1; l=https://example.test/2.svg"\n'
    )

    assert codes(findings) == [("bimi.multiple", Status.FAIL)]


async def test_subdomain_falls_back_to_the_org_record(context_for: MakeContext) -> None:
    findings = await run(
        context_for, ENFORCED + GOOD + "news 300 IN A 192.0.2.1\n", "news.example.test"
    )

    assert codes(findings) == [("bimi.fetch_skipped", Status.INFO), ("bimi.ok", Status.PASS)]
    assert "default._bimi.example.test" in findings[1].message


async def test_servfail_is_an_error(context_for: MakeContext, dns_server: DnsTestServer) -> None:
    dns_server.behaviour.servfail.add(dns.name.from_text("default._bimi.example.test"))

    findings = await run(context_for, ENFORCED + GOOD)

    assert codes(findings) == [("bimi.lookup_failed", Status.ERROR)]
