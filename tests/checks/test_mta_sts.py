"""MTA-STS: the pure parsers, and the check against live DNS and HTTPS servers on loopback."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import replace

import dns.name
import pytest
from hypothesis import given
from hypothesis import strategies as st

from checks import mta_sts
from checks.model import Finding, Status
from checks.mta_sts import MtaStsPolicy, MtaStsSyntaxError, mx_matches, parse, parse_txt
from checks.net.https import HttpsFetcher
from checks.net.services import Services
from checks.settings import Settings
from tests.conftest import MakeContext
from tests.fakes.dnsserver import DnsTestServer
from tests.fakes.httpsserver import HttpsTestServer, Reply, shared_server
from tests.findings import codes

HOST = "mta-sts.example.test"
ZONE = """
$TTL 300
@        SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 300
@        MX  10 mail.example.test.
@        MX  20 mx2.example.test.
mail     A   127.0.0.1
mx2      A   127.0.0.1
mta-sts  A   127.0.0.1
{extra}
"""
TXT = '_mta-sts TXT "v=STSv1; id=20240501T1200"'
GOOD = b"version: STSv1\r\nmode: enforce\r\nmx: mail.example.test\r\nmx: *.example.test\r\nmax_age: 604800\r\n"


# ---- parsers ------------------------------------------------------------------------------------


def test_a_policy_parses_with_crlf_or_lf_lines() -> None:
    text = GOOD.decode()

    assert (
        parse(text)
        == parse(text.replace("\r\n", "\n"))
        == MtaStsPolicy("enforce", ("mail.example.test", "*.example.test"), 604800)
    )


def test_unknown_policy_fields_are_kept_as_extensions() -> None:
    policy = parse("version: STSv1\nmode: none\nmax_age: 0\nfoo_bar: baz\n")

    assert (policy.mode, policy.mx, policy.extensions) == ("none", (), (("foo_bar", "baz"),))


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("mode: enforce\nmx: a.test\nmax_age: 1", "version"),
        ("version: STSv2\nmode: enforce\nmx: a.test\nmax_age: 1", "STSv1"),
        ("version: STSv1\nmode: strict\nmx: a.test\nmax_age: 1", "mode"),
        ("version: STSv1\nmode: enforce\nmax_age: 1", "mx"),
        ("version: STSv1\nmode: enforce\nmx: a.test", "max_age"),
        ("version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 31557601", "limit"),
        ("version: STSv1\nmode: enforce\nmx: a.test\nmax_age: -5", "max_age"),
        ("version: STSv1\nmode: enforce\nmx: *.*.test\nmax_age: 5", "mx"),
        ("version: STSv1\nmode: enforce\nmx: bad host\nmax_age: 5", "mx"),
        ("version: STSv1\nmode enforce\nmx: a.test\nmax_age: 5", "line 2"),
        ("version: STSv1\nmode: testing\nmode: enforce\nmx: a.test\nmax_age: 5", "more than once"),
        ("<html>Not found</html>", "line 1"),
    ],
)
def test_bad_policies_are_rejected_with_a_reason(text: str, why: str) -> None:
    with pytest.raises(MtaStsSyntaxError, match=why):
        parse(text)


@pytest.mark.parametrize(
    ("pattern", "host", "expected"),
    [
        ("mail.example.test", "MAIL.example.test.", True),
        ("*.example.test", "mx1.example.test", True),
        ("*.example.test", "a.b.example.test", False),
        ("*.example.test", "example.test", False),
        ("mail.example.test", "mail2.example.test", False),
    ],
)
def test_mx_patterns_match_per_rfc_8461_4_1(pattern: str, host: str, expected: bool) -> None:
    assert mx_matches(pattern, host) is expected


@pytest.mark.parametrize(
    ("text", "sts_id"),
    [("v=STSv1; id=abc123", "abc123"), ("v=STSv1;id=X1;", "X1"), ("v=STSv1; id=a; ext=1", "a")],
)
def test_txt_records_parse(text: str, sts_id: str) -> None:
    assert parse_txt(text).id == sts_id


@pytest.mark.parametrize(
    "text",
    [
        "v=STSv1",
        "v=STSv1; id=",
        "v=STSv1; id=a-b",
        "v=STSv1; id=" + "a" * 33,
        "id=a; v=STSv1",
        "v=stsv1; id=a",
        "v=STSv1; id=a; id=b",
        "v=STSv1; junk",
    ],
)
def test_bad_txt_records_are_rejected(text: str) -> None:
    with pytest.raises(MtaStsSyntaxError):
        parse_txt(text)


def test_txt_fields_keep_case_and_order_and_a_later_v_is_an_extension() -> None:
    record = parse_txt("v=STSv1 ;\tid=a\t; ID=b; v=x;")

    assert (record.id, record.extensions) == ("a", (("ID", "b"), ("v", "x")))


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("v=STSv1; id =a", "is not a name=value field"),  # RFC 8461 3.1: nothing before "="
        ("v=STSv1; id= a", "use 1 to 32 letters"),  # ... nor after it
        ("v=STSv1; id=a;\r", "is not a name=value field"),  # only WSP surrounds ";"
        ("v=STSv1; ID=a", "no id= field"),  # names are case-sensitive
        ("v=STSv1; id=a; ext=1; ext=2", "ext= appears more than once"),
    ],
)
def test_bad_txt_records_are_rejected_with_a_reason(text: str, why: str) -> None:
    with pytest.raises(MtaStsSyntaxError, match=why):
        parse_txt(text)


@given(st.text(max_size=300))
def test_parse_never_crashes_on_hostile_text(text: str) -> None:
    with contextlib.suppress(MtaStsSyntaxError):
        parse(text)


@given(st.text(max_size=100))
def test_parse_txt_never_crashes_on_hostile_text(text: str) -> None:
    with contextlib.suppress(MtaStsSyntaxError):
        parse_txt("v=STSv1; " + text)


_label = st.from_regex(r"[a-z0-9]{1,10}", fullmatch=True)


@given(_label, _label, st.lists(_label, min_size=1, max_size=3))
def test_a_wildcard_covers_exactly_one_label(first: str, second: str, base: list[str]) -> None:
    domain = ".".join(base)

    assert mx_matches(f"*.{domain}", f"{first}.{domain}")
    assert not mx_matches(f"*.{domain}", f"{first}.{second}.{domain}")
    assert not mx_matches(f"*.{domain}", domain)


# ---- the check ----------------------------------------------------------------------------------


@pytest.fixture
def https() -> HttpsTestServer:
    server = shared_server()
    server.reset()
    return server


RunCheck = Callable[..., Awaitable[list[Finding]]]


@pytest.fixture
def run_check(context_for: MakeContext, settings: Settings, https: HttpsTestServer) -> RunCheck:
    fetcher = HttpsFetcher(replace(settings, ca_file=https.ca_file), port=https.port)

    async def check(
        extra: str = TXT, domain: str = "example.test", zone: str = ZONE
    ) -> list[Finding]:
        ctx = await context_for(zone.format(extra=extra), domain)
        ctx.services = Services(https=fetcher)
        return await mta_sts.run(ctx)

    return check


async def test_a_valid_enforced_policy_covering_every_mx_passes(
    run_check: RunCheck, https: HttpsTestServer
) -> None:
    https.serve(HOST, Reply(body=GOOD))

    findings = await run_check()

    assert codes(findings) == [("mta_sts.ok", Status.PASS)]
    assert "enforce" in findings[0].message


async def test_an_mx_outside_an_enforced_policy_fails(
    run_check: RunCheck, https: HttpsTestServer
) -> None:
    https.serve(HOST, Reply(body=GOOD.replace(b"mx: *.example.test\r\n", b"")))

    findings = await run_check()

    assert codes(findings) == [("mta_sts.mx_mismatch", Status.FAIL)]
    assert "mx2.example.test" in findings[0].message
    assert "mx: mx2.example.test" in findings[0].fix


async def test_an_mx_outside_a_testing_policy_warns_and_testing_is_explained(
    run_check: RunCheck, https: HttpsTestServer
) -> None:
    body = b"version: STSv1\nmode: testing\nmx: mail.example.test\nmax_age: 86400\n"
    https.serve(HOST, Reply(body=body))

    findings = await run_check()

    assert codes(findings) == [
        ("mta_sts.mx_mismatch", Status.WARN),
        ("mta_sts.mode_testing", Status.INFO),
    ]


async def test_no_mta_sts_at_all_is_information(run_check: RunCheck) -> None:
    findings = await run_check(extra="")

    assert codes(findings) == [("mta_sts.none", Status.INFO)]
    assert findings[0].record is not None
    assert findings[0].record.name == "_mta-sts.example.test."
    assert "mx: mail.example.test\nmx: mx2.example.test" in findings[0].fix


async def test_a_policy_without_its_txt_record_fails_with_the_record_to_publish(
    run_check: RunCheck, https: HttpsTestServer
) -> None:
    https.serve(HOST, Reply(body=GOOD))

    findings = await run_check(extra="")

    assert codes(findings) == [("mta_sts.txt_missing", Status.FAIL)]
    assert findings[0].record is not None
    assert findings[0].record.value.startswith('"v=STSv1; id=')


async def test_a_txt_record_without_a_policy_fails_with_the_policy_to_serve(
    run_check: RunCheck,
) -> None:
    findings = await run_check()

    assert codes(findings) == [("mta_sts.policy_http_status", Status.FAIL)]
    assert "version: STSv1\nmode: testing\nmx: mail.example.test" in findings[0].fix


async def test_a_txt_record_whose_policy_host_does_not_exist_fails(run_check: RunCheck) -> None:
    zone = "$TTL 300\n@ SOA ns hm 1 2 3 4 5\n@ MX 10 mail.other.test.\n{extra}"

    findings = await run_check(domain="other.test", zone=zone)

    assert codes(findings) == [("mta_sts.policy_host_missing", Status.FAIL)]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            Reply(302, headers=(("Location", "https://www.example.test/p"),)),
            "mta_sts.policy_redirect",
        ),
        (Reply(body=b"x" * 70000), "mta_sts.policy_too_large"),
        (Reply(body=b"<html>hello</html>", content_type="text/html"), "mta_sts.policy_invalid"),
        (Reply(stall=True), "mta_sts.policy_unreachable"),
    ],
    ids=["redirect", "oversize", "html", "stalled"],
)
async def test_unusable_policy_responses_fail(
    run_check: RunCheck, https: HttpsTestServer, reply: Reply, expected: str
) -> None:
    https.serve(HOST, reply)

    findings = await run_check()

    assert (expected, Status.FAIL) in codes(findings)


async def test_a_certificate_for_the_wrong_name_fails(run_check: RunCheck) -> None:
    zone = "$TTL 300\n@ SOA ns hm 1 2 3 4 5\n@ MX 10 mx.wrong.test.\nmta-sts A 127.0.0.1\n{extra}"

    findings = await run_check(domain="wrong.test", zone=zone)

    assert codes(findings) == [("mta_sts.policy_certificate", Status.FAIL)]


async def test_a_wrong_content_type_warns(run_check: RunCheck, https: HttpsTestServer) -> None:
    https.serve(HOST, Reply(body=GOOD, content_type="application/octet-stream"))

    findings = await run_check()

    assert codes(findings) == [("mta_sts.policy_content_type", Status.WARN)]


async def test_a_short_max_age_warns_and_mode_none_is_explained(
    run_check: RunCheck, https: HttpsTestServer
) -> None:
    https.serve(HOST, Reply(body=GOOD.replace(b"604800", b"300")))
    short = await run_check()
    https.serve(HOST, Reply(body=b"version: STSv1\nmode: none\nmax_age: 86400\n"))
    none = await run_check()

    assert codes(short) == [("mta_sts.max_age_short", Status.WARN)]
    assert codes(none) == [("mta_sts.mode_none", Status.INFO)]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (TXT + '\n_mta-sts TXT "v=STSv1; id=other"', "mta_sts.txt_multiple"),
        ('_mta-sts TXT "v=STSv1; id=not-alnum!"', "mta_sts.txt_invalid"),
    ],
)
async def test_broken_txt_records_fail(
    run_check: RunCheck, https: HttpsTestServer, extra: str, expected: str
) -> None:
    https.serve(HOST, Reply(body=GOOD))

    findings = await run_check(extra=extra)

    assert codes(findings) == [(expected, Status.FAIL)]


async def test_a_failing_txt_lookup_is_an_error_not_a_verdict(
    run_check: RunCheck, dns_server: DnsTestServer
) -> None:
    dns_server.behaviour.servfail.add(dns.name.from_text("_mta-sts.example.test"))

    findings = await run_check()

    assert codes(findings) == [("mta_sts.lookup_failed", Status.ERROR)]


async def test_without_an_https_client_the_policy_is_not_fetched_and_says_so(
    context_for: MakeContext,
) -> None:
    ctx = await context_for(ZONE.format(extra=TXT))  # no services: nothing may connect

    findings = await mta_sts.run(ctx)

    checked = [f for f in findings if f.code == "mta_sts.policy_not_checked"]
    assert [f.status for f in checked] == [Status.ERROR]
    assert "no HTTPS client" in checked[0].message
