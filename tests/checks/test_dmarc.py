"""DMARC: the RFC 9989 tree walk, tag validation and RFC 9990 report authorisation, over real DNS."""

from __future__ import annotations

import contextlib

import dns.name
import dns.rdatatype
import pytest
from hypothesis import given
from hypothesis import strategies as st

from checks.dmarc import check as dmarc
from checks.dmarc import discovery as dmarc_discovery
from checks.model import Finding, Status
from tests.conftest import MakeContext
from tests.fakes.dnsserver import DnsTestServer
from tests.findings import code_set, codes

BASE = "@ 300 IN MX 10 mx.example.test.\nmx 300 IN A 192.0.2.10\n"


def zone(*records: str) -> str:
    return BASE + "".join(f"{r}\n" for r in records)


async def check(context_for: MakeContext, z: str, domain: str = "example.test") -> list[Finding]:
    ctx = await context_for(z, domain, origin="example.test")
    return await dmarc.run(ctx)


GOOD = '_dmarc 300 IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@example.test"'


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


# ---- the tree walk -----------------------------------------------------------------------------


def test_walk_names_follow_rfc9989_shortcut() -> None:
    assert dmarc_discovery.walk_names("a.b.example.com") == (
        "a.b.example.com",
        "b.example.com",
        "example.com",
        "com",
    )
    deep = "l10.l9.l8.l7.l6.l5.l4.l3.l2.l1"
    assert dmarc_discovery.walk_names(deep) == (
        deep,
        "l7.l6.l5.l4.l3.l2.l1",
        "l6.l5.l4.l3.l2.l1",
        "l5.l4.l3.l2.l1",
        "l4.l3.l2.l1",
        "l3.l2.l1",
        "l2.l1",
        "l1",
    )


async def test_deep_subdomain_inherits_the_org_record_in_at_most_8_lookups(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    deep = "a.b.c.d.e.f.g.h.example.test"
    ctx = await context_for(
        zone(GOOD, "a.b.c.d.e.f.g.h 300 IN A 192.0.2.1"), deep, origin="example.test"
    )

    findings = await dmarc.run(ctx)
    pol = await dmarc_discovery.policy(ctx)

    assert codes(findings) == [("dmarc.inherited", Status.INFO), ("dmarc.ok", Status.PASS)]
    assert pol is not None
    assert pol.source == "example.test"
    assert pol.org_domain == "example.test"
    dmarc_queries = [n for n, t in dns_server.names_queried() if n.startswith("_dmarc.")]
    assert len(dmarc_queries) <= 8
    assert dns_server.count("_dmarc.b.c.d.e.f.g.h.example.test", "TXT") == 0  # the shortcut
    assert dns_server.count("_dmarc.c.d.e.f.g.h.example.test", "TXT") == 0
    assert dns_server.count("_dmarc.d.e.f.g.h.example.test", "TXT") == 1  # the 7-label name


async def test_subdomain_gets_sp_of_the_org_record(context_for: MakeContext) -> None:
    z = zone(
        '_dmarc 300 IN TXT "v=DMARC1; p=reject; sp=none; rua=mailto:d@example.test"',
        "shop 300 IN A 192.0.2.1",
    )
    ctx = await context_for(z, "shop.example.test", origin="example.test")

    findings = await dmarc.run(ctx)

    assert codes(findings) == [
        ("dmarc.inherited", Status.INFO),
        ("dmarc.policy_none", Status.WARN),
        ("dmarc.subdomain_policy_weaker", Status.WARN),
    ]


async def test_nonexistent_subdomain_gets_np(context_for: MakeContext) -> None:
    z = zone('_dmarc 300 IN TXT "v=DMARC1; p=reject; np=reject; rua=mailto:d@example.test"')
    ctx = await context_for(z, "ghost.example.test", origin="example.test")

    pol = await dmarc_discovery.policy(ctx)

    assert pol is not None
    assert pol.applied == "reject"


async def test_psd_record_covers_a_domain_without_its_own(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    dns_server.add(
        "_dmarc.test", "TXT", '"v=DMARC1; p=reject; psd=y; rua=mailto:psd@registry.example"'
    )
    ctx = await context_for(zone(), "example.test", origin="example.test")

    findings = await dmarc.run(ctx)
    pol = await dmarc_discovery.policy(ctx)

    assert codes(findings) == [("dmarc.psd_policy", Status.WARN)]
    assert pol is not None
    assert pol.from_psd
    assert pol.source == "test"
    assert pol.org_domain == "example.test"  # one label below the psd=y record


async def test_psd_y_decides_the_org_domain_of_a_deep_name(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    dns_server.add("_dmarc.test", "TXT", '"v=DMARC1; p=reject; psd=y"')
    ctx = await context_for(
        zone(GOOD, "x.y 300 IN A 192.0.2.1"), "x.y.example.test", origin="example.test"
    )

    pol = await dmarc_discovery.policy(ctx)

    assert pol is not None
    assert pol.source == "example.test"
    assert pol.org_domain == "example.test"


async def test_psd_n_marks_the_org_domain(context_for: MakeContext) -> None:
    z = zone(GOOD, '_dmarc.y 300 IN TXT "v=DMARC1; p=reject; psd=n"', "x.y 300 IN A 192.0.2.1")
    ctx = await context_for(z, "x.y.example.test", origin="example.test")

    pol = await dmarc_discovery.policy(ctx)

    assert pol is not None
    assert pol.source == "y.example.test"
    assert pol.org_domain == "y.example.test"


async def test_multiple_records_at_subdomain_fall_back_to_the_org_record(
    context_for: MakeContext,
) -> None:
    z = zone(
        GOOD,
        '_dmarc.shop 300 IN TXT "v=DMARC1; p=none"',
        '_dmarc.shop 300 IN TXT "v=DMARC1; p=quarantine"',
    )

    findings = await check(context_for, z, "shop.example.test")

    assert codes(findings)[:2] == [
        ("dmarc.multiple", Status.FAIL),
        ("dmarc.inherited", Status.INFO),
    ]
    assert "use the policy at _dmarc.example.test" in findings[0].message


# ---- report authorisation (RFC 9990 3) ---------------------------------------------------------


EXTERNAL = '_dmarc 300 IN TXT "v=DMARC1; p=reject; rua=mailto:agg@reports.example; ruf=mailto:f@reports.example"'


@pytest.fixture(autouse=True)
def reports_example_receives_mail(dns_server: DnsTestServer) -> None:
    """The external report destination these tests use takes mail (its MX is the subject of
    the report_undeliverable tests, which change it)."""
    dns_server.add("reports.example", "MX", "10 mx.example.test.")


async def test_external_rua_without_authorisation_fails_with_the_record_to_publish(
    context_for: MakeContext,
) -> None:
    findings = await check(context_for, zone(EXTERNAL))

    assert codes(findings) == [
        ("dmarc.rua_unauthorized", Status.FAIL),
        ("dmarc.ruf_unauthorized", Status.FAIL),
    ]
    record = findings[0].record
    assert record is not None
    assert record.zone_line == 'example.test._report._dmarc.reports.example. 3600 IN TXT "v=DMARC1"'


async def test_external_rua_with_exact_authorisation_passes(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    dns_server.add("example.test._report._dmarc.reports.example", "TXT", '"v=DMARC1"')

    findings = await check(context_for, zone(EXTERNAL))

    assert codes(findings) == [("dmarc.ok", Status.PASS)]


async def test_external_rua_with_wildcard_authorisation_passes(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    dns_server.add("*._report._dmarc.reports.example", "TXT", '"v=DMARC1;"')

    findings = await check(context_for, zone(EXTERNAL))

    assert codes(findings) == [("dmarc.ok", Status.PASS)]


async def test_authorisation_that_is_not_dmarc1_does_not_count(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    dns_server.add("*._report._dmarc.reports.example", "TXT", '"hello"')

    findings = await check(context_for, zone(EXTERNAL))

    assert ("dmarc.rua_unauthorized", Status.FAIL) in codes(findings)


async def test_reports_within_the_same_org_domain_need_no_authorisation(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    z = zone(
        '_dmarc 300 IN TXT "v=DMARC1; p=reject; rua=mailto:d@reports.example.test"',
        "reports 300 IN MX 10 mx.example.test.",
    )

    findings = await check(context_for, z)

    assert codes(findings) == [("dmarc.ok", Status.PASS)]
    assert dns_server.count("example.test._report._dmarc.reports.example.test", "TXT") == 0


async def test_authorisation_lookup_failure_is_an_error(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    dns_server.behaviour.servfail.add(
        dns.name.from_text("example.test._report._dmarc.reports.example")
    )

    findings = await check(context_for, zone(EXTERNAL))

    assert ("dmarc.report_auth_lookup_failed", Status.ERROR) in codes(findings)


async def test_report_address_at_a_domain_that_does_not_exist_warns(
    context_for: MakeContext,
) -> None:
    z = zone('_dmarc 300 IN TXT "v=DMARC1; p=reject; rua=mailto:d@gone.example.test"')

    findings = await check(context_for, z)

    assert codes(findings) == [("dmarc.report_undeliverable", Status.WARN)]
    assert "gone.example.test" in findings[0].message
    assert "NXDOMAIN" in findings[0].message


async def test_report_address_at_a_null_mx_domain_warns(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    # replace the fixture's MX (add() would merge with it)
    dns_server.records.pop((dns.name.from_text("reports.example"), dns.rdatatype.MX))
    dns_server.add("reports.example", "MX", "0 .")
    dns_server.add("example.test._report._dmarc.reports.example", "TXT", '"v=DMARC1"')

    findings = await check(context_for, zone(EXTERNAL))

    assert codes(findings) == [("dmarc.report_undeliverable", Status.WARN)]
    assert findings[0].message.startswith("rua and ruf in _dmarc.example.test")
    assert "null MX" in findings[0].message


async def test_report_address_needs_an_mx_or_an_address(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    z = zone(
        '_dmarc 300 IN TXT "v=DMARC1; p=reject; rua=mailto:d@a.example.test,mailto:d@b.example.test"',
        'a 300 IN TXT "exists, but takes no mail"',
        "b 300 IN A 192.0.2.20",  # an address is the implicit MX (RFC 5321 5.1)
    )

    findings = await check(context_for, z)

    assert codes(findings) == [("dmarc.report_undeliverable", Status.WARN)]
    assert "a.example.test, which has neither an MX record nor an address" in findings[0].message


# ---- the parser --------------------------------------------------------------------------------


def test_parse_reads_every_tag() -> None:
    r = dmarc.parse(
        "v=DMARC1; p=Quarantine; sp=reject; np=reject; adkim=s; aspf=s; fo=1:d; psd=n; t=n; "
        "rua=mailto:a@x.example!10m, mailto:b@y.example; ruf=mailto:c@x.example"
    )

    assert (r.p, r.sp, r.np, r.adkim, r.aspf, r.fo, r.psd, r.testing) == (
        "quarantine",
        "reject",
        "reject",
        "s",
        "s",
        ("1", "d"),
        "n",
        False,
    )
    assert [(u.address, u.domain, u.size) for u in r.rua] == [
        ("a@x.example", "x.example", "10m"),
        ("b@y.example", "y.example", ""),
    ]
    assert r.problems == ()


@pytest.mark.parametrize("text", ["", "p=reject; v=DMARC1", "v=DMARC2; p=reject", "v=spf1 -all"])
def test_parse_rejects_what_is_not_a_dmarc_record(text: str) -> None:
    with pytest.raises(dmarc.DmarcSyntaxError):
        dmarc.parse(text)


def test_duplicate_tags_keep_the_first() -> None:
    r = dmarc.parse("v=DMARC1; p=reject; p=none")

    assert r.p == "reject"
    assert [p.tag for p in r.problems] == ["p"]


def test_bad_entries_become_problems_and_reading_goes_on() -> None:
    r = dmarc.parse("v=DMARC1;\xa0P = reject ;; junk; 1x=y; p=none; ADKIM=s; V=DMARC1")

    assert dict(r.tags) == {"p": "reject", "adkim": "s", "v": "DMARC1"}
    assert [(p.tag, p.value, p.reason) for p in r.problems] == [
        ("junk", "", "is not a tag=value pair"),
        ("1x", "y", "is not a tag=value pair"),
        ("p", "none", "appears twice; receivers use the first"),
        ("v", "DMARC1", "appears twice; only the first tag may be v"),
    ]


@given(st.text())
def test_parse_raises_only_its_own_error(text: str) -> None:
    with contextlib.suppress(dmarc.DmarcSyntaxError):
        dmarc.parse(text)


@given(
    st.lists(
        st.sampled_from(
            [
                "p=",
                "sp=",
                "rua=",
                "mailto:",
                "@",
                "!",
                ",",
                ";",
                " ",
                "x",
                "1",
                "none",
                "ümlaut",
                "=",
                "v=DMARC1;",
            ]
        ),
        max_size=30,
    )
)
def test_parse_survives_tag_soup(parts: list[str]) -> None:
    with contextlib.suppress(dmarc.DmarcSyntaxError):
        dmarc.parse("v=DMARC1;" + "".join(parts))


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


def test_duplicate_tag_is_a_tag_warning_not_a_policy_error() -> None:
    r = dmarc.parse("v=DMARC1; p=reject; p=none; rua=mailto:d@example.test")

    assert r.policy_valid
    assert r.policy == "reject"


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
