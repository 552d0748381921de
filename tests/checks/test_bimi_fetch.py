"""BIMI: the assertion record, its locations, and DMARC enforcement, over real DNS."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import replace

import dns.name
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from checks.bimi import check as bimi
from checks.bimi.logo import BIMI_EKU, EvidenceVerdict, SvgVerdict, check_evidence, check_svg
from checks.model import Finding, Status
from checks.net.https import HttpsFetcher
from checks.net.services import Services
from checks.settings import Settings
from tests.conftest import MakeContext
from tests.fakes.dnsserver import DnsTestServer
from tests.fakes.httpsserver import HttpsTestServer, Reply, shared_server
from tests.findings import by_code, codes

BASE = "@ 300 IN MX 10 mx.example.test.\nmx 300 IN A 192.0.2.10\n"
ENFORCED = '_dmarc 300 IN TXT "v=DMARC1; p=reject; rua=mailto:d@example.test"\n'
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


def test_parse_reads_the_tags() -> None:
    r = bimi.parse("v=BIMI1; l=https://a.test/l.svg; a=https://a.test/v.pem; avp=brand")

    assert r.logos == ("https://a.test/l.svg",)
    assert r.evidence == "https://a.test/v.pem"
    assert r.unknown == ()
    assert not r.declined


@pytest.mark.parametrize("text", ["", "l=x; v=BIMI1", "v=BIMI2", "v=BIMI1; l", "v=BIMI1; l=; l="])
def test_parse_rejects_invalid_records(text: str) -> None:
    with pytest.raises(bimi.BimiSyntaxError):
        bimi.parse(text)


def test_parse_reads_tag_names_in_any_case_and_any_whitespace() -> None:
    r = bimi.parse("v=BIMI1;\u3000L = https://a.test/l.svg ;; A=\t;")

    assert dict(r.tags) == {"l": "https://a.test/l.svg", "a": ""}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("v=BIMI1; l=; V=BIMI1", "the tag V= appears twice"),  # v= comes once, and first
        ("v=BIMI1; l=; L=x", "the tag L= appears twice"),
        ("v=BIMI1; l=;  1x=y ; junk", "'1x=y' is not a tag=value pair"),
    ],
)
def test_parse_names_the_first_problem(text: str, message: str) -> None:
    with pytest.raises(bimi.BimiSyntaxError, match=message):
        bimi.parse(text)


@given(st.text())
def test_parse_raises_only_its_own_error(text: str) -> None:
    with contextlib.suppress(bimi.BimiSyntaxError):
        bimi.parse(text)


@given(
    st.lists(
        st.sampled_from(["v=BIMI1", ";", "l=", "a=", "https://", ",", "=", " ", "ü"]), max_size=25
    )
)
def test_parse_survives_tag_soup(parts: list[str]) -> None:
    with contextlib.suppress(bimi.BimiSyntaxError):
        bimi.parse("".join(parts))


# ---- the logo and the mark certificate, fetched from a loopback HTTPS server -------------------

HOST = "bimi.example.test"  # covered by the test server's *.example.test certificate
LOGO, VMC = "/logo.svg", "/vmc.pem"
FETCHED = (
    ENFORCED
    + "bimi 300 IN A 127.0.0.1\n"
    + f'default._bimi 300 IN TXT "v=BIMI1; l=https://{HOST}{LOGO}; a=https://{HOST}{VMC}"\n'
)
TINY_PS = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<!-- brand -->\n'
    b'<svg xmlns="http://www.w3.org/2000/svg" version="1.2" baseProfile="tiny-ps" '
    b'viewBox="0 0 100 100"><title>Example Brand</title>'
    b'<circle cx="50" cy="50" r="40" fill="#c00"/></svg>\n'
)
SVG_11 = (
    b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
    b'version="1.1" x="0" y="0" viewBox="0 0 10 10"><script>alert(1)</script>'
    b'<image xlink:href="https://cdn.example.test/a.png" width="1" height="1"/>'
    b'<rect width="1" height="1"><animate attributeName="x" to="5"/></rect></svg>'
)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)
BOMB = (
    b'<?xml version="1.0"?>\n<!DOCTYPE svg [\n<!ENTITY a "aaaaaaaaaa">\n'
    b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">\n<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">\n]>\n'
    b'<svg xmlns="http://www.w3.org/2000/svg" version="1.2" baseProfile="tiny-ps">'
    b"<title>&c;</title></svg>"
)
NOW = dt.datetime.now(dt.UTC)
_KEY = ec.generate_private_key(ec.SECP256R1())


def make_vmc(
    names: tuple[str, ...] = ("example.test",),
    *,
    eku: bool = True,
    not_after: dt.datetime | None = None,
) -> bytes:
    """A self-signed stand-in for a VMC: the fields a provider reads, no real chain."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Example Brand")])
    usages = [BIMI_EKU] if eku else [ExtendedKeyUsageOID.SERVER_AUTH]
    after = not_after or NOW + dt.timedelta(days=365)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(_KEY.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(after - dt.timedelta(days=400))
        .not_valid_after(after)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .add_extension(x509.ExtendedKeyUsage(usages), False)
        .sign(_KEY, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


SVG = "image/svg+xml"
PEM = "application/pem-certificate-chain"


@pytest.fixture
def https() -> HttpsTestServer:
    server = shared_server()
    server.reset()
    return server


RunFetched = Callable[..., Awaitable[list[Finding]]]


@pytest.fixture
def run_fetched(context_for: MakeContext, settings: Settings, https: HttpsTestServer) -> RunFetched:
    fetcher = HttpsFetcher(replace(settings, ca_file=https.ca_file), port=https.port)

    async def check(
        logo: Reply | None = None, vmc: Reply | None = None, zone: str = FETCHED
    ) -> list[Finding]:
        https.serve(HOST, logo or Reply(body=TINY_PS, content_type=SVG), LOGO)
        https.serve(HOST, vmc or Reply(body=make_vmc(), content_type=PEM), VMC)
        ctx = await context_for(BASE + zone, "example.test", origin="example.test")
        ctx.services = Services(https=fetcher)
        return await bimi.run(ctx)

    return check


async def test_a_tiny_ps_logo_and_a_vmc_pass(run_fetched: RunFetched) -> None:
    findings = await run_fetched()

    assert codes(findings) == [
        ("bimi.logo_ok", Status.PASS),
        ("bimi.evidence_ok", Status.PASS),
        ("bimi.ok", Status.PASS),
    ]
    assert f"{len(TINY_PS)} bytes" in findings[0].message
    assert "Example Brand" in findings[0].message
    assert "not verified against the BIMI trust roots" in findings[1].message


async def test_an_svg_11_logo_is_not_tiny_ps_and_says_why(run_fetched: RunFetched) -> None:
    findings = await run_fetched(logo=Reply(body=SVG_11, content_type=SVG))

    logo = by_code(findings, "bimi.logo_not_tiny_ps")
    assert logo.status is Status.FAIL
    for why in ('version="1.1"', "baseProfile", "x=", "y=", "<title>", "<script>", "<image>"):
        assert why in logo.message
    assert "animation" in logo.message
    assert "https://cdn.example.test/a.png" in logo.message
    assert "bimi.ok" not in [f.code for f in findings]


async def test_a_png_is_not_svg(run_fetched: RunFetched) -> None:
    findings = await run_fetched(logo=Reply(body=PNG, content_type="image/png"))

    assert ("bimi.logo_not_svg", Status.FAIL) in codes(findings)
    assert "image/png" in by_code(findings, "bimi.logo_not_svg").message


async def test_a_40_kib_logo_warns_but_is_still_checked(run_fetched: RunFetched) -> None:
    padding = b"<!-- " + b"x" * (40 * 1024) + b" -->"
    big = TINY_PS.replace(b"</svg>", padding + b"</svg>")

    findings = await run_fetched(logo=Reply(body=big, content_type=SVG))

    assert codes(findings)[:2] == [
        ("bimi.logo_too_large", Status.WARN),
        ("bimi.logo_ok", Status.PASS),
    ]
    assert str(len(big)) in findings[0].message
    assert "bimi.ok" not in [f.code for f in findings]


async def test_a_huge_logo_is_too_large_and_not_parsed(run_fetched: RunFetched) -> None:
    # The length alone trips the limit. (A real 300 KB body leaves the fetcher's TLS close waiting
    # on the server's unread bytes, and the abandoned transport then warns at garbage collection.)
    claims = Reply(
        body=b"<svg>", content_type=SVG, sized=False, headers=(("Content-Length", "300000"),)
    )

    findings = await run_fetched(logo=claims)

    assert ("bimi.logo_too_large", Status.WARN) in codes(findings)


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        (Reply(404, b"nope"), "HTTP 404"),
        (Reply(301, headers=(("Location", "https://cdn.example.test/l.svg"),)), "redirect"),
        (Reply(raw=b"garbage\r\n\r\n"), "not an HTTP response"),
    ],
    ids=["404", "redirect", "not-http"],
)
async def test_an_unfetchable_logo_fails(run_fetched: RunFetched, reply: Reply, why: str) -> None:
    findings = await run_fetched(logo=reply)

    logo = by_code(findings, "bimi.logo_unreachable")
    assert logo.status is Status.FAIL
    assert why in logo.message


async def test_a_logo_host_with_the_wrong_certificate_fails(run_fetched: RunFetched) -> None:
    # *.example.test covers one label only, so logo.brand.example.test is a wrong name
    zone = (
        ENFORCED
        + "logo.brand 300 IN A 127.0.0.1\n"
        + 'default._bimi 300 IN TXT "v=BIMI1; l=https://logo.brand.example.test/l.svg"\n'
    )

    findings = await run_fetched(zone=zone)

    logo = by_code(findings, "bimi.logo_unreachable")
    assert "certificate" in logo.message


async def test_a_doctype_bomb_is_refused_unparsed(run_fetched: RunFetched) -> None:
    findings = await run_fetched(logo=Reply(body=BOMB, content_type=SVG))

    logo = by_code(findings, "bimi.logo_not_tiny_ps")
    assert "<!DOCTYPE" in logo.message


async def test_an_svg_served_with_the_wrong_type_warns(run_fetched: RunFetched) -> None:
    findings = await run_fetched(logo=Reply(body=TINY_PS, content_type="text/plain"))

    assert codes(findings)[:2] == [
        ("bimi.logo_content_type", Status.WARN),
        ("bimi.logo_ok", Status.PASS),
    ]


async def test_a_certificate_without_the_bimi_eku_is_invalid(run_fetched: RunFetched) -> None:
    findings = await run_fetched(vmc=Reply(body=make_vmc(eku=False), content_type=PEM))

    ev = by_code(findings, "bimi.evidence_invalid")
    assert ev.status is Status.FAIL
    assert "1.3.6.1.5.5.7.3.31" in ev.message


async def test_an_expired_certificate_fails(run_fetched: RunFetched) -> None:
    old = make_vmc(not_after=NOW - dt.timedelta(days=3))

    findings = await run_fetched(vmc=Reply(body=old, content_type=PEM))

    assert ("bimi.evidence_expired", Status.FAIL) in codes(findings)


async def test_a_certificate_for_another_domain_is_invalid(run_fetched: RunFetched) -> None:
    other = make_vmc(("other.test",))

    findings = await run_fetched(vmc=Reply(body=other, content_type=PEM))

    ev = by_code(findings, "bimi.evidence_invalid")
    assert "other.test" in ev.message
    assert "default._bimi.example.test" in ev.message


async def test_a_certificate_naming_the_selector_passes(run_fetched: RunFetched) -> None:
    pem = make_vmc(("default._bimi.example.test",))

    findings = await run_fetched(vmc=Reply(body=pem, content_type=PEM))

    assert ("bimi.evidence_ok", Status.PASS) in codes(findings)


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        (Reply(404), "bimi.evidence_unreachable"),
        (Reply(body=b"-----BEGIN CERTIFICATE-----\nnot base64\n"), "bimi.evidence_invalid"),
        (Reply(body=TINY_PS), "bimi.evidence_invalid"),
    ],
    ids=["404", "bad-pem", "not-pem"],
)
async def test_unusable_evidence_fails(run_fetched: RunFetched, reply: Reply, code: str) -> None:
    findings = await run_fetched(vmc=reply)

    assert (code, Status.FAIL) in codes(findings)
    assert ("bimi.logo_ok", Status.PASS) in codes(findings)


async def test_the_fetch_goes_to_the_named_host_and_path(
    run_fetched: RunFetched, https: HttpsTestServer
) -> None:
    await run_fetched()

    assert sorted(p for _, p in https.seen.requests) == [LOGO, VMC]
    assert set(https.seen.sni) == {HOST}


# ---- the pure checkers ---------------------------------------------------------------------------


def test_the_good_logo_is_tiny_ps() -> None:
    assert check_svg(TINY_PS).verdict is SvgVerdict.OK


@pytest.mark.parametrize(
    ("body", "verdict"),
    [
        (b"", SvgVerdict.NOT_SVG),
        (b"<html><svg/></html>", SvgVerdict.NOT_SVG),
        (b"\xff\xfe<\x00s\x00", SvgVerdict.NOT_SVG),
        (b"<svg", SvgVerdict.NOT_TINY_PS),
        (b"<svg><title>t</title></svg>", SvgVerdict.NOT_TINY_PS),
        (TINY_PS.replace(b"<title>Example Brand</title>", b""), SvgVerdict.NOT_TINY_PS),
        (
            TINY_PS.replace(b"<circle", b'<a xlink:href="http://x.test/"/><circle'),
            SvgVerdict.NOT_TINY_PS,
        ),
        (TINY_PS.replace(b"<circle", b'<circle onload="x()"'), SvgVerdict.NOT_TINY_PS),
        (b'<?xml version="1.0" encoding="UTF-16"?>' + TINY_PS.split(b"-->\n")[1], SvgVerdict.OK),
    ],
)
def test_svg_verdicts(body: bytes, verdict: SvgVerdict) -> None:
    assert check_svg(body).verdict is verdict


@settings(max_examples=300)
@given(st.binary(max_size=2000))
def test_check_svg_is_total_on_arbitrary_bytes(body: bytes) -> None:
    assert check_svg(body).verdict in SvgVerdict


@given(
    st.lists(
        st.sampled_from(
            [
                "<svg ",
                "<svg>",
                "</svg>",
                "<?xml ?>",
                "<!--",
                "-->",
                "<!DOCTYPE",
                "[",
                "]",
                ">",
                '"',
                "=",
                "<title>",
                "</title>",
                "&a;",
                "<!ENTITY",
                "\ufeff",
                " ",
                "xmlns=",
                "é",
            ]
        ),
        max_size=30,
    )
)
def test_check_svg_is_total_on_markup_soup(parts: list[str]) -> None:
    assert check_svg("".join(parts).encode()).verdict in SvgVerdict


@given(st.binary(max_size=600))
def test_check_evidence_is_total(body: bytes) -> None:
    pem = b"-----BEGIN CERTIFICATE-----\n" + body + b"\n-----END CERTIFICATE-----\n"
    for data in (body, pem):
        check = check_evidence(data, domains=("example.test",), selector="default", now=NOW)
        assert check.verdict is EvidenceVerdict.INVALID


def test_a_not_yet_valid_certificate_is_invalid() -> None:
    pem = make_vmc(not_after=NOW + dt.timedelta(days=800))

    check = check_evidence(pem, domains=("example.test",), selector="default", now=NOW)

    assert check.verdict is EvidenceVerdict.INVALID
    assert "not valid until" in check.problems[0]
