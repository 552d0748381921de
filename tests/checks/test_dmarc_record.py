"""DMARC records parsed on their own: every tag read, non-DMARC text refused, bad entries kept as
problems, and no other error raised."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checks.dmarc import record as dmarc


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


def test_duplicate_tag_is_a_tag_warning_not_a_policy_error() -> None:
    r = dmarc.parse("v=DMARC1; p=reject; p=none; rua=mailto:d@example.test")

    assert r.policy_valid
    assert r.policy == "reject"
