"""DMARC: the check's verdicts on a record, its tags and DNS failures, over real DNS."""

from __future__ import annotations

import dns.name

from checks.model import Status
from tests.checks.dmarc_zones import GOOD, check, zone
from tests.conftest import MakeContext
from tests.fakes.dnsserver import DnsTestServer
from tests.findings import code_set, codes

# ---- verdicts ----------------------------------------------------------------------------------


async def test_enforcing_record_with_reports_passes(context_for: MakeContext) -> None:
    findings = await check(context_for, zone(GOOD))

    assert codes(findings) == [("dmarc.ok", Status.PASS)]
    assert findings[0].evidence == ("v=DMARC1; p=reject; rua=mailto:dmarc@example.test",)


async def test_no_record_anywhere_fails_with_a_record_to_paste(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    findings = await check(context_for, zone())

    assert codes(findings) == [("dmarc.missing", Status.FAIL)]
    record = findings[0].record
    assert record is not None
    assert record.name == "_dmarc.example.test."
    assert record.value == '"v=DMARC1; p=none; rua=mailto:dmarc-reports@example.test"'
    assert dns_server.count("_dmarc.example.test", "TXT") == 1
    assert dns_server.count("_dmarc.test", "TXT") == 1


async def test_monitoring_only_policy_says_what_a_spoofer_can_do(
    context_for: MakeContext,
) -> None:
    findings = await check(
        context_for, zone('_dmarc 300 IN TXT "v=DMARC1; p=none; rua=mailto:d@example.test"')
    )

    assert codes(findings) == [("dmarc.policy_none", Status.WARN)]
    assert "anyone can still send" in findings[0].message
    assert findings[0].record is not None
    assert "p=quarantine" in findings[0].record.value


async def test_test_mode_is_a_warning(context_for: MakeContext) -> None:
    findings = await check(
        context_for,
        zone('_dmarc 300 IN TXT "v=DMARC1; p=reject; t=y; rua=mailto:d@example.test"'),
    )

    assert codes(findings) == [("dmarc.testing", Status.WARN)]
    assert findings[0].record is not None
    assert "t=y" not in findings[0].record.value


async def test_weaker_subdomain_policy_is_a_warning(context_for: MakeContext) -> None:
    findings = await check(
        context_for,
        zone('_dmarc 300 IN TXT "v=DMARC1; p=reject; sp=none; rua=mailto:d@example.test"'),
    )

    assert codes(findings) == [("dmarc.subdomain_policy_weaker", Status.WARN)]
    assert "np is not set" in findings[0].message


async def test_weaker_nonexistent_policy_is_a_warning(context_for: MakeContext) -> None:
    findings = await check(
        context_for,
        zone('_dmarc 300 IN TXT "v=DMARC1; p=reject; np=quarantine; rua=mailto:d@example.test"'),
    )

    assert codes(findings) == [("dmarc.nonexistent_policy_weaker", Status.WARN)]


async def test_missing_rua_is_a_warning_and_the_fix_adds_one(context_for: MakeContext) -> None:
    findings = await check(context_for, zone('_dmarc 300 IN TXT "v=DMARC1; p=reject"'))

    assert codes(findings) == [("dmarc.rua_missing", Status.WARN)]
    assert findings[0].record is not None
    assert findings[0].record.value == '"v=DMARC1; p=reject; rua=mailto:dmarc-reports@example.test"'


async def test_two_records_fail_and_receivers_discard_both(context_for: MakeContext) -> None:
    findings = await check(
        context_for,
        zone(
            '_dmarc 300 IN TXT "v=DMARC1; p=reject; rua=mailto:d@example.test"',
            '_dmarc 300 IN TXT "v=DMARC1; p=none"',
        ),
    )

    assert codes(findings) == [("dmarc.multiple", Status.FAIL)]
    assert len(findings[0].evidence) == 2


async def test_lower_case_version_is_invalid_and_shown(context_for: MakeContext) -> None:
    findings = await check(context_for, zone('_dmarc 300 IN TXT "v=dmarc1; p=reject"'))

    assert codes(findings) == [("dmarc.invalid", Status.FAIL)]
    assert findings[0].evidence == ("v=dmarc1; p=reject",)
    assert findings[0].record is not None
    assert findings[0].record.value.startswith('"v=DMARC1; p=reject; rua=')


async def test_version_not_first_is_invalid(context_for: MakeContext) -> None:
    findings = await check(context_for, zone('_dmarc 300 IN TXT "v=DMARC1p=reject"'))

    assert codes(findings) == [("dmarc.invalid", Status.FAIL)]


async def test_missing_p_without_rua_means_no_policy(context_for: MakeContext) -> None:
    findings = await check(context_for, zone('_dmarc 300 IN TXT "v=DMARC1; adkim=s"'))

    assert ("dmarc.policy_invalid", Status.FAIL) in codes(findings)
    assert "no DMARC policy" in findings[0].message


async def test_bad_p_with_rua_is_treated_as_none(context_for: MakeContext) -> None:
    findings = await check(
        context_for, zone('_dmarc 300 IN TXT "v=DMARC1; p=block; rua=mailto:d@example.test"')
    )

    assert codes(findings) == [
        ("dmarc.policy_invalid", Status.FAIL),
        ("dmarc.policy_none", Status.WARN),
    ]
    assert "p=none" in findings[0].message


async def test_missing_p_with_rua_is_read_as_none_not_invalid(context_for: MakeContext) -> None:
    # RFC 9989 4.7: p is RECOMMENDED; a record without it is treated as p=none (and 4.10 agrees
    # when there is a rua address). That is a monitoring-only policy, not a broken record.
    findings = await check(
        context_for, zone('_dmarc 300 IN TXT "v=DMARC1; rua=mailto:d@example.test"')
    )

    assert codes(findings) == [("dmarc.policy_none", Status.WARN)]
    assert "has no p tag, which receivers read as p=none" in findings[0].message
    assert findings[0].record is not None
    assert "p=quarantine" in findings[0].record.value


async def test_version_tag_not_first_is_invalid_and_the_fix_keeps_the_policy(
    context_for: MakeContext,
) -> None:
    findings = await check(
        context_for,
        zone('_dmarc 300 IN TXT "p=reject; v=DMARC1; rua=mailto:d@example.test"'),
    )

    assert codes(findings) == [("dmarc.invalid", Status.FAIL)]
    assert "must begin with v=DMARC1" in findings[0].message
    assert findings[0].record is not None
    assert findings[0].record.value == '"v=DMARC1; p=reject; rua=mailto:d@example.test"'


async def test_bad_tag_values_warn_and_name_the_tag(context_for: MakeContext) -> None:
    findings = await check(
        context_for,
        zone(
            '_dmarc 300 IN TXT "v=DMARC1; p=reject; adkim=x; fo=2; psd=maybe; '
            'rua=mailto:d@example.test,https://example.test/r"'
        ),
    )

    assert codes(findings) == [("dmarc.tag_invalid", Status.WARN)] * 4
    assert [m.message.split(",")[1].split("=")[0].strip() for m in findings] == [
        "adkim",
        "fo",
        "psd",
        "rua",
    ]


async def test_unknown_tag_is_a_note(context_for: MakeContext) -> None:
    findings = await check(
        context_for,
        zone('_dmarc 300 IN TXT "v=DMARC1; p=reject; foo=bar; rua=mailto:d@example.test"'),
    )

    assert codes(findings) == [("dmarc.unknown_tag", Status.INFO), ("dmarc.ok", Status.PASS)]


async def test_removed_tags_are_explained_for_rfc7489_receivers(context_for: MakeContext) -> None:
    findings = await check(
        context_for,
        zone(
            '_dmarc 300 IN TXT "v=DMARC1; p=reject; pct=0; rf=afrf; ri=3600; '
            'rua=mailto:d@example.test"'
        ),
    )

    assert codes(findings) == [("dmarc.removed_tag", Status.INFO)] * 3 + [("dmarc.ok", Status.PASS)]
    assert "next lower policy (p=quarantine)" in findings[0].message


async def test_partial_pct_is_explained(context_for: MakeContext) -> None:
    findings = await check(
        context_for,
        zone('_dmarc 300 IN TXT "v=DMARC1; p=quarantine; pct=20; rua=mailto:d@example.test"'),
    )

    assert codes(findings)[0] == ("dmarc.removed_tag", Status.INFO)
    assert "only 20%" in findings[0].message
    assert "p=none to the rest" in findings[0].message


async def test_bad_sp_turns_the_whole_record_into_p_none(context_for: MakeContext) -> None:
    findings = await check(
        context_for,
        zone('_dmarc 300 IN TXT "v=DMARC1; p=reject; sp=strict; rua=mailto:d@example.test"'),
    )

    assert codes(findings) == [
        ("dmarc.policy_invalid", Status.FAIL),
        ("dmarc.policy_none", Status.WARN),
    ]
    assert "whole record as p=none" in findings[0].message


async def test_sp_in_a_subdomain_record_is_noted_as_ignored_not_warned_about(
    context_for: MakeContext,
) -> None:
    findings = await check(
        context_for,
        zone(
            '_dmarc 300 IN TXT "v=DMARC1; p=reject; rua=mailto:d@example.test"',
            '_dmarc.mail 300 IN TXT "v=DMARC1; p=reject; sp=none; rua=mailto:d@example.test"',
            "mail 300 IN A 192.0.2.1",
        ),
        "mail.example.test",
    )

    found = code_set(findings)
    assert ("dmarc.sp_ignored", Status.INFO) in found
    assert ("dmarc.subdomain_policy_weaker", Status.WARN) not in found


# ---- DNS failures ------------------------------------------------------------------------------


async def test_servfail_is_an_error_not_a_missing_record(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    dns_server.behaviour.servfail.add(dns.name.from_text("_dmarc.example.test"))

    findings = await check(context_for, zone(GOOD))

    assert codes(findings) == [("dmarc.lookup_failed", Status.ERROR)]


async def test_timeout_is_an_error(context_for: MakeContext, dns_server: DnsTestServer) -> None:
    dns_server.behaviour.timeout.add(dns.name.from_text("_dmarc.example.test"))

    findings = await check(context_for, zone(GOOD))

    assert codes(findings) == [("dmarc.lookup_failed", Status.ERROR)]


async def test_failure_higher_up_the_walk_is_an_error(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    dns_server.behaviour.servfail.add(dns.name.from_text("_dmarc.example.test"))

    findings = await check(context_for, zone(GOOD), "mail.example.test")

    assert codes(findings) == [("dmarc.lookup_failed", Status.ERROR)]
