"""The pure BIMI logo and evidence checkers: Tiny PS verdicts, certificate validity, and no input
that makes them raise."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checks.bimi.logo import EvidenceVerdict, SvgVerdict, check_evidence, check_svg
from tests.checks.bimi_samples import NOW, TINY_PS, make_vmc


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
