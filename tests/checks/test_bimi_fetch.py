"""BIMI's logo and mark certificate fetched from a loopback HTTPS server, and what the check makes
of what comes back."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest

from checks.bimi import check as bimi
from checks.model import Finding, Status
from checks.net.https import HttpsFetcher
from checks.net.services import Services
from checks.settings import Settings
from tests.checks.bimi_samples import BASE, ENFORCED, NOW, TINY_PS, make_vmc
from tests.conftest import MakeContext
from tests.fakes.httpsserver import HttpsTestServer, Reply, shared_server
from tests.findings import by_code, codes

HOST = "bimi.example.test"  # covered by the test server's *.example.test certificate
LOGO, VMC = "/logo.svg", "/vmc.pem"
FETCHED = (
    ENFORCED
    + "bimi 300 IN A 127.0.0.1\n"
    + f'default._bimi 300 IN TXT "v=BIMI1; l=https://{HOST}{LOGO}; a=https://{HOST}{VMC}"\n'
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
