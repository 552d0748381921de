"""BIMI assertion records parsed on their own: the tags read, invalid records refused naming the
first problem, and no other error raised."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checks.bimi import record as bimi


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
