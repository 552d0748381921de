"""The `spf` check (lint and sending-IP evaluation) and the `mxbot spf` subcommand."""

from __future__ import annotations

import argparse
import io
import json

import dns.name
import pytest

from bot.cli import spf as spf_command
from bot.cli.main import parse_args
from checks.model import Finding, Status
from checks.settings import Settings
from checks.spf import check as spf
from checks.spf.repair import spf_record
from tests.conftest import MakeContext
from tests.fakes.dnsserver import DnsTestServer
from tests.findings import by_code, codes

MX = """$TTL 300
@ MX 10 mail
mail A 192.0.2.10
"""


async def lint(context_for: MakeContext, zone: str, **options: object) -> list[Finding]:
    ctx = await context_for(MX + zone, "example.test", **options)
    return await spf.run(ctx)


async def test_a_clean_record_passes_and_shows_the_lookup_count(context_for: MakeContext) -> None:
    findings = await lint(
        context_for,
        '@ TXT "v=spf1 mx include:_spf.example.test -all"\n_spf TXT "v=spf1 ip4:192.0.2.0/24 -all"',
    )

    assert codes(findings) == [("spf.ok", Status.PASS)]
    assert "2 of 10 DNS lookups" in findings[0].message


async def test_no_record_fails_with_a_record_to_publish(context_for: MakeContext) -> None:
    findings = await lint(context_for, '@ TXT "some-verification=1"')

    assert codes(findings) == [("spf.missing", Status.FAIL)]
    assert findings[0].record is not None
    assert findings[0].record.zone_line == 'example.test. 3600 IN TXT "v=spf1 mx ~all"'


async def test_no_record_on_a_null_mx_domain_suggests_minus_all(context_for: MakeContext) -> None:
    ctx = await context_for("$TTL 300\n@ MX 0 .\n@ A 192.0.2.1", "example.test")

    findings = await spf.run(ctx)

    assert findings[0].record is not None
    assert findings[0].record.value == '"v=spf1 -all"'


async def test_two_records_fail_with_a_merged_record(context_for: MakeContext) -> None:
    findings = await lint(
        context_for, '@ TXT "v=spf1 mx -all"\n@ TXT "v=spf1 include:_spf.google.com ~all"'
    )

    assert codes(findings) == [("spf.multiple", Status.FAIL)]
    assert findings[0].record is not None
    assert findings[0].record.value == '"v=spf1 include:_spf.google.com mx ~all"'


async def test_a_syntax_error_names_the_term_and_offers_the_record_without_it(
    context_for: MakeContext,
) -> None:
    findings = await lint(context_for, '@ TXT "v=spf1 mx ip4:192.0.2.300 -all"')

    assert codes(findings) == [("spf.syntax", Status.FAIL)]
    assert "'ip4:192.0.2.300'" in findings[0].message
    assert findings[0].record is not None
    assert findings[0].record.value == '"v=spf1 mx -all"'


async def test_over_ten_lookups_fails_and_shows_the_include_tree(context_for: MakeContext) -> None:
    zone = """
@ TXT "v=spf1 mx include:big.example.test include:small.example.test -all"
big TXT "v=spf1 a a a a a a a include:small.example.test"
small TXT "v=spf1 a ip4:192.0.2.1"
"""
    findings = await lint(context_for, zone)

    finding = by_code(findings, "spf.too_many_lookups")
    assert finding.status is Status.FAIL
    assert "needs 13 DNS lookups" in finding.message
    assert finding.evidence == (
        "example.test: 13 lookups (3 in the record itself)",
        "  include:big.example.test -> big.example.test: 9 lookups (8 in the record itself)",
        "    include:small.example.test -> small.example.test: 1 lookup",
        "  include:small.example.test -> small.example.test: 1 lookup",
    )


async def test_over_the_limit_by_own_a_and_mx_offers_a_record_with_their_addresses(
    context_for: MakeContext,
) -> None:
    zone = """
@ TXT "v=spf1 mx a:mail.example.test/28 include:big.example.test -all"
big TXT "v=spf1 a a a a a a a a a"
"""
    findings = await lint(context_for, zone)

    finding = by_code(findings, "spf.too_many_lookups")
    assert finding.record is not None
    assert finding.record.value == (
        '"v=spf1 ip4:192.0.2.10 ip4:192.0.2.0/28 include:big.example.test -all"'
    )


async def test_more_than_two_void_lookups_fails(context_for: MakeContext) -> None:
    zone = '@ TXT "v=spf1 a:gone1.example.test a:gone2.example.test mx:gone3.example.test -all"'

    findings = await lint(context_for, zone)

    assert ("spf.too_many_void_lookups", Status.FAIL) in codes(findings)


async def test_one_or_two_void_lookups_warn_and_the_record_drops_them(
    context_for: MakeContext,
) -> None:
    # RFC 7208 4.6.4 allows two, but such terms never match and use up the receiver's budget:
    # one more void lookup anywhere in the tree and every message gets permerror.
    zone = '@ TXT "v=spf1 a:gone1.example.test mx:mail.example.test mx -all"'

    findings = await lint(context_for, zone)

    assert codes(findings) == [("spf.void_lookups", Status.WARN)]
    assert findings[0].evidence == (
        "example.test: a:gone1.example.test",
        "example.test: mx:mail.example.test",
    )
    assert findings[0].record is not None
    assert findings[0].record.value == '"v=spf1 mx -all"'


async def test_more_than_two_void_lookups_also_offers_the_record_without_them(
    context_for: MakeContext,
) -> None:
    zone = '@ TXT "v=spf1 a:gone1.example.test a:gone2.example.test mx:gone3.example.test -all"'

    findings = await lint(context_for, zone)

    assert codes(findings) == [("spf.too_many_void_lookups", Status.FAIL)]
    assert findings[0].record is not None
    assert findings[0].record.value == '"v=spf1 -all"'


@pytest.mark.parametrize(
    ("ending", "code", "status"),
    [
        ("+all", "spf.plus_all", Status.FAIL),
        ("all", "spf.plus_all", Status.FAIL),
        ("?all", "spf.neutral_all", Status.WARN),
    ],
)
async def test_permissive_endings_are_flagged_with_a_softfail_record(
    context_for: MakeContext, ending: str, code: str, status: Status
) -> None:
    findings = await lint(context_for, f'@ TXT "v=spf1 mx {ending}"')

    assert codes(findings) == [(code, status)]
    assert findings[0].record is not None
    assert findings[0].record.value == '"v=spf1 mx ~all"'


async def test_an_include_ending_in_plus_all_fails(context_for: MakeContext) -> None:
    findings = await lint(
        context_for, '@ TXT "v=spf1 include:open.example.test -all"\nopen TXT "v=spf1 +all"'
    )

    assert codes(findings) == [("spf.plus_all", Status.FAIL)]
    assert "open.example.test" in findings[0].message


async def test_ptr_is_deprecated(context_for: MakeContext) -> None:
    findings = await lint(context_for, '@ TXT "v=spf1 ptr -all"')

    assert codes(findings) == [("spf.ptr_deprecated", Status.WARN)]


async def test_the_validated_name_macro_is_deprecated_like_ptr(context_for: MakeContext) -> None:
    # RFC 7208 7.3: %{p} needs the same reverse lookups as ptr and is discouraged for the same
    # reasons.
    findings = await lint(context_for, '@ TXT "v=spf1 mx exists:%{p}.%{d} -all"')

    assert codes(findings) == [("spf.ptr_deprecated", Status.WARN)]
    assert "exists:%{p}.%{d}" in findings[0].message


async def test_include_of_a_name_without_spf_fails_and_the_record_drops_it(
    context_for: MakeContext,
) -> None:
    findings = await lint(context_for, '@ TXT "v=spf1 mx include:mail.example.test -all"')

    assert codes(findings) == [("spf.include_no_spf", Status.FAIL)]
    assert findings[0].record is not None
    assert findings[0].record.value == '"v=spf1 mx -all"'


async def test_include_loops_fail(context_for: MakeContext) -> None:
    zone = """
@ TXT "v=spf1 include:a.example.test -all"
a TXT "v=spf1 include:b.example.test"
b TXT "v=spf1 redirect=a.example.test"
"""
    findings = await lint(context_for, zone)

    assert ("spf.loop", Status.FAIL) in codes(findings)


async def test_terms_after_all_and_an_ignored_redirect_are_warned_and_removed(
    context_for: MakeContext,
) -> None:
    zone = '@ TXT "v=spf1 mx -all ip4:192.0.2.1 redirect=_spf.example.test"'

    findings = await lint(context_for, zone)

    assert codes(findings) == [
        ("spf.terms_after_all", Status.WARN),
        ("spf.redirect_ignored", Status.WARN),
    ]
    assert {f.record.value for f in findings if f.record} == {'"v=spf1 mx -all"'}


async def test_no_all_and_no_redirect_warns_of_the_neutral_default(
    context_for: MakeContext,
) -> None:
    findings = await lint(context_for, '@ TXT "v=spf1 mx"')

    assert codes(findings) == [("spf.no_all", Status.WARN)]
    assert findings[0].record is not None
    assert findings[0].record.value == '"v=spf1 mx ~all"'


async def test_an_answer_too_large_for_udp_is_warned(context_for: MakeContext) -> None:
    tokens = "\n".join(f'@ TXT "token-{i}={"x" * 90}"' for i in range(6))

    findings = await lint(context_for, f'@ TXT "v=spf1 mx -all"\n{tokens}')

    assert codes(findings) == [("spf.too_large", Status.WARN)]


async def test_a_failed_lookup_is_an_error_not_a_missing_record(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    dns_server.behaviour.servfail.add(dns.name.from_text("example.test"))

    findings = await lint(context_for, "")

    assert codes(findings) == [("spf.lookup_failed", Status.ERROR)]


async def test_a_long_corrected_record_is_split_into_255_character_strings() -> None:
    text = "v=spf1 " + " ".join(f"ip4:192.0.2.{i}" for i in range(40)) + " -all"

    record = spf_record("example.test", text)

    strings = [s.strip('"') for s in record.value.split('" "')]
    assert len(text) > 255
    assert all(len(s) <= 255 for s in strings)
    assert "".join(strings) == text


async def test_an_authorised_sending_ip_passes(context_for: MakeContext) -> None:
    findings = await lint(context_for, '@ TXT "v=spf1 mx -all"', sending_ip="192.0.2.10")

    assert codes(findings) == [("spf.ip_authorised", Status.PASS), ("spf.ok", Status.PASS)]


async def test_an_unauthorised_sending_ip_fails_with_a_record_that_adds_it(
    context_for: MakeContext,
) -> None:
    findings = await lint(context_for, '@ TXT "v=spf1 mx -all"', sending_ip="198.51.100.7")

    assert codes(findings) == [("spf.ip_not_authorised", Status.FAIL)]
    assert findings[0].record is not None
    assert findings[0].record.value == '"v=spf1 ip4:198.51.100.7 mx -all"'
    assert any("mx: no match" in line for line in findings[0].evidence)


async def test_the_record_lookup_is_shared_through_the_context(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    ctx = await context_for(MX + '@ TXT "v=spf1 mx -all"', "example.test")

    first = await spf.published(ctx)
    await spf.run(ctx)

    assert first.records == ("v=spf1 mx -all",)
    assert await ctx.once("spf_record", lambda: spf.published(ctx)) is first  # memoised


# ---- mxbot spf ----------------------------------------------------------------------------------
def _args(*argv: str) -> argparse.Namespace:
    return parse_args(["spf", *argv])


async def test_mxbot_spf_prints_json_with_result_explanation_and_trace(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    dns_server.load_zone(
        MX + '@ TXT "v=spf1 mx -all exp=why.example.test"\nwhy TXT "%{i} may not send for %{d}"',
        "example.test",
    )
    out = io.StringIO()

    status = await spf_command.run(
        _args("example.test", "--ip", "198.51.100.7", "--json"), settings, out
    )

    data = json.loads(out.getvalue())
    assert status == 1  # not a pass
    assert (data["result"], data["explanation"]) == (
        "fail",
        "198.51.100.7 may not send for example.test",
    )
    assert {
        "kind": "lookup",
        "name": "example.test",
        "rdtype": "TXT",
        "outcome": "answer",
    }.items() <= {**data["trace"][1]}.items()


async def test_mxbot_spf_prints_the_result_first_then_the_trace(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    dns_server.load_zone(MX + '@ TXT "v=spf1 mx -all"', "example.test")
    out = io.StringIO()

    status = await spf_command.run(
        _args("user@example.test", "--ip", "192.0.2.10", "--helo", "mail.example.test"),
        settings,
        out,
    )

    lines = out.getvalue().splitlines()
    assert status == 0
    assert lines[0] == "SPF pass for 192.0.2.10 at example.test"
    assert "  sender user@example.test, helo mail.example.test" in lines
    assert "trace:" in lines
    assert "  - mx: match" in lines


@pytest.mark.parametrize(
    "argv",
    [
        ("example.test", "--ip", "not-an-ip"),
        ("192.0.2.1", "--ip", "192.0.2.1"),
        ("example.test", "--ip", "192.0.2.1", "--sender", "nobody"),
    ],
)
async def test_mxbot_spf_rejects_bad_input_with_status_2(
    settings: Settings, argv: tuple[str, ...]
) -> None:
    assert await spf_command.run(_args(*argv), settings, io.StringIO()) == 2


async def test_an_include_built_from_the_domain_macro_is_followed(context_for: MakeContext) -> None:
    # %{d} is the domain whose record it is: known without a message (RFC 7208 7.3), so the lint
    # can see that every evaluation reaches a name with no SPF record (permerror, 5.2).
    findings = await lint(
        context_for, '@ TXT "v=spf1 mx include:_spf.%{d} exists:%{d2r}.gone.example.test -all"'
    )

    assert codes(findings) == [
        ("spf.void_lookups", Status.WARN),
        ("spf.include_no_spf", Status.FAIL),
    ]
    assert "_spf.example.test" in findings[1].message
    assert findings[0].evidence == ("example.test: exists:%{d2r}.gone.example.test",)


async def test_an_include_that_depends_on_the_message_is_not_followed(
    context_for: MakeContext,
) -> None:
    findings = await lint(context_for, '@ TXT "v=spf1 mx include:%{i}._spf.%{d} -all"')

    assert codes(findings) == [("spf.ok", Status.PASS)]
