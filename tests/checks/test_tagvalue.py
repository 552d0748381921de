"""The shared tag=value list reader: each grammar option on its own, and hostile input."""

from __future__ import annotations

import dataclasses
import re
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checks import tagvalue
from checks.tagvalue import ANY_SPACE, FWS, NO_SPACE, WSP, Grammar, Kind, OnProblem, Version

# Three grammars spanning the options, declared here so these tests do not depend on the records'.
KEY_LIKE = Grammar(  # RFC 6376 3.2, as DKIM key records
    tag_name=tagvalue.TAG_NAME,
    fold_case=False,
    version=Version.OPTIONAL_FIRST,
    on_problem=OnProblem.REJECT_RECORD,
    space_around_semicolon=FWS,
    space_before_equals=FWS,
    space_after_equals=FWS,
    blank=FWS,
)
POLICY_LIKE = Grammar(  # RFC 7489 6.3, as DMARC records
    tag_name=tagvalue.TAG_NAME,
    fold_case=True,
    version=Version.LEADS,
    on_problem=OnProblem.SKIP_TAG,
    space_around_semicolon=ANY_SPACE,
    space_before_equals=ANY_SPACE,
    space_after_equals=ANY_SPACE,
    blank=ANY_SPACE,
)
FIELD_LIKE = Grammar(  # RFC 8460 3, as TLS-RPT records
    tag_name=re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}"),
    fold_case=False,
    version=Version.LEADS,
    on_problem=OnProblem.REJECT_RECORD,
    space_around_semicolon=WSP,
    space_before_equals=NO_SPACE,
    space_after_equals=NO_SPACE,
    blank=WSP,
)
GRAMMARS = [KEY_LIKE, POLICY_LIKE, FIELD_LIKE]


def kinds(result: tagvalue.TagList) -> list[Kind]:
    return [p.kind for p in result.problems]


# ---- what every grammar shares --------------------------------------------------------------------


def test_tags_keep_the_order_written() -> None:
    result = tagvalue.parse("v=DKIM1; k=rsa; h=sha256; p=AAAA", KEY_LIKE)

    assert list(result.tags.items()) == [
        ("v", "DKIM1"),
        ("k", "rsa"),
        ("h", "sha256"),
        ("p", "AAAA"),
    ]
    assert result.problems == ()


def test_a_value_is_split_at_the_first_equals_sign_only() -> None:
    result = tagvalue.parse("v=DMARC1; rua=mailto:a@b.test?x=y==", POLICY_LIKE)

    assert result.tags == {"rua": "mailto:a@b.test?x=y=="}


def test_empty_values_are_tags() -> None:
    result = tagvalue.parse("p=; n=", KEY_LIKE)

    assert result.tags == {"p": "", "n": ""}


@pytest.mark.parametrize("grammar", GRAMMARS)
@pytest.mark.parametrize("text", ["", ";", ";;;", " ; \t;", "v=X1", "v=X1;", "v=X1; ;;"])
def test_empty_text_and_bare_separators_give_no_tags_and_no_problems(
    grammar: Grammar, text: str
) -> None:
    result = tagvalue.parse(text, grammar)

    assert list(result.tags) in ([], ["v"])
    assert result.problems == ()


@pytest.mark.parametrize("grammar", GRAMMARS)
def test_a_trailing_semicolon_and_empty_entries_are_skipped(grammar: Grammar) -> None:
    result = tagvalue.parse("v=X1;; a=1 ;;; b=2;", grammar)

    assert (dict(result.tags), result.problems) == (
        {**({"v": "X1"} if grammar is KEY_LIKE else {}), "a": "1", "b": "2"},
        (),
    )


# ---- whitespace around ";" and "=" ----------------------------------------------------------------


def test_folding_whitespace_around_tags_is_trimmed_and_inner_whitespace_kept() -> None:
    result = tagvalue.parse("v=DKIM1;\r\n\tk = rsa ;\r\n p =\tAAAA BBBB\r\n\t", KEY_LIKE)

    assert result.tags == {"v": "DKIM1", "k": "rsa", "p": "AAAA BBBB"}


def test_fws_is_not_any_whitespace() -> None:
    result = tagvalue.parse("\x0bk=rsa", KEY_LIKE)

    assert kinds(result) == [Kind.NOT_A_PAIR]
    assert result.problems[0].name == "\x0bk"


def test_no_space_may_stand_before_the_equals_sign_where_the_grammar_says_so() -> None:
    assert kinds(tagvalue.parse("v=TLSRPTv1; rua =mailto:a@b.test", FIELD_LIKE)) == [
        Kind.NOT_A_PAIR
    ]


def test_space_after_the_equals_sign_stays_in_the_value_where_the_grammar_says_so() -> None:
    result = tagvalue.parse("v=TLSRPTv1;\t rua= mailto:a@b.test \t", FIELD_LIKE)

    assert result.tags == {"rua": " mailto:a@b.test"}


def test_space_after_the_equals_sign_can_be_trimmed_alone() -> None:
    grammar = dataclasses.replace(FIELD_LIKE, space_after_equals=WSP)

    assert tagvalue.parse("v=TLSRPTv1; rua= x", grammar).tags == {"rua": "x"}
    assert kinds(tagvalue.parse("v=TLSRPTv1; rua =x", grammar)) == [Kind.NOT_A_PAIR]


def test_blank_decides_which_entries_are_empty() -> None:
    nbsp_is_blank = dataclasses.replace(KEY_LIKE, blank=ANY_SPACE)

    assert tagvalue.parse("p=AAAA;\xa0", nbsp_is_blank).tags == {"p": "AAAA"}
    assert kinds(tagvalue.parse("p=AAAA;\xa0", KEY_LIKE)) == [Kind.NOT_A_PAIR]


def test_a_carriage_return_alone_is_not_blank_under_wsp() -> None:
    result = tagvalue.parse("v=TLSRPTv1;\r", FIELD_LIKE)

    assert [(p.kind, p.entry) for p in result.problems] == [(Kind.NOT_A_PAIR, "\r")]


def test_any_space_is_every_character_str_strip_removes() -> None:
    every = {chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()}

    assert set(ANY_SPACE) == every
    assert len(ANY_SPACE) == len(every)


# ---- tag names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "entry", ["junk", "=x", " = x", "1x=2", "é=1", "a b=1", "a-b=1", "p\x00=1"]
)
def test_entries_outside_the_tag_name_rule_are_not_pairs(entry: str) -> None:
    result = tagvalue.parse(f"k=rsa; {entry}; p=", KEY_LIKE)

    assert kinds(result) == [Kind.NOT_A_PAIR]
    assert result.problems[0].entry == entry.strip()


def test_a_problem_carries_the_trimmed_pieces() -> None:
    result = tagvalue.parse("v=DMARC1;  1x =  y  ;  junk  ", POLICY_LIKE)

    assert result.problems == (
        tagvalue.Problem(Kind.NOT_A_PAIR, "1x =  y", "1x", "y"),
        tagvalue.Problem(Kind.NOT_A_PAIR, "junk", "junk", ""),
    )


def test_case_folding_lowers_names_and_finds_duplicates_across_case() -> None:
    result = tagvalue.parse("v=DMARC1; P=reject; p=none; ADKIM=s", POLICY_LIKE)

    assert result.tags == {"p": "reject", "adkim": "s"}
    assert [(p.kind, p.name, p.value) for p in result.problems] == [(Kind.DUPLICATE, "p", "none")]


def test_without_case_folding_names_differing_in_case_are_different_tags() -> None:
    assert tagvalue.parse("k=rsa; K=ed25519", KEY_LIKE).tags == {"k": "rsa", "K": "ed25519"}


def test_non_ascii_values_are_kept_verbatim() -> None:
    assert tagvalue.parse("n=café ☕; p=", KEY_LIKE).tags == {"n": "café ☕", "p": ""}


# ---- duplicates and what a problem does -----------------------------------------------------------


def test_reject_record_stops_at_the_first_problem_with_no_tags() -> None:
    result = tagvalue.parse("k=rsa; p=AAAA; p=BBBB; junk", KEY_LIKE)

    assert result.tags == {}
    assert [(p.kind, p.name, p.value) for p in result.problems] == [(Kind.DUPLICATE, "p", "BBBB")]


def test_skip_tag_keeps_the_first_value_and_every_problem_in_text_order() -> None:
    result = tagvalue.parse("v=DMARC1; junk; p=reject; p=none; 1=2; sp=none", POLICY_LIKE)

    assert result.tags == {"p": "reject", "sp": "none"}
    assert kinds(result) == [Kind.NOT_A_PAIR, Kind.DUPLICATE, Kind.NOT_A_PAIR]


# ---- the version tag ------------------------------------------------------------------------------


def test_optional_first_accepts_v_first_or_absent() -> None:
    assert tagvalue.parse("v=DKIM1; p=", KEY_LIKE).tags == {"v": "DKIM1", "p": ""}
    assert tagvalue.parse("p=", KEY_LIKE).tags == {"p": ""}


@pytest.mark.parametrize("text", ["p=; v=DKIM1", "; v=DKIM1; p=", " ;v=DKIM1"])
def test_optional_first_rejects_v_after_any_part_even_an_empty_one(text: str) -> None:
    assert kinds(tagvalue.parse(text, KEY_LIKE)) == [Kind.VERSION_NOT_FIRST]


def test_a_duplicate_v_is_reported_as_a_duplicate_before_its_place() -> None:
    assert kinds(tagvalue.parse("v=DKIM1; v=DKIM1", KEY_LIKE)) == [Kind.DUPLICATE]


def test_leads_does_not_read_the_first_part_and_takes_a_later_v_as_a_tag() -> None:
    result = tagvalue.parse("anything at all; p=reject; v=DMARC1", POLICY_LIKE)

    assert result.tags == {"p": "reject", "v": "DMARC1"}
    assert result.problems == ()


def test_leads_once_takes_a_later_v_in_any_case_as_a_duplicate() -> None:
    grammar = dataclasses.replace(POLICY_LIKE, version=Version.LEADS_ONCE)

    result = tagvalue.parse("v=BIMI1; l=; V=BIMI1", grammar)

    assert result.tags == {"l": ""}
    assert [(p.kind, p.name) for p in result.problems] == [(Kind.DUPLICATE, "V")]


# ---- hostile input --------------------------------------------------------------------------------


def test_a_huge_value_is_read_whole() -> None:
    key = "A" * 1_000_000

    assert tagvalue.parse(f"v=DKIM1; p={key}", KEY_LIKE).tags["p"] == key


def test_a_huge_run_of_separators_is_empty() -> None:
    assert tagvalue.parse("v=DMARC1" + ";" * 1_000_000, POLICY_LIKE) == tagvalue.TagList({})


def test_huge_junk_stops_at_once_when_rejecting_and_is_all_reported_when_skipping() -> None:
    junk = "x;" * 100_000

    assert len(tagvalue.parse(junk, KEY_LIKE).problems) == 1
    assert len(tagvalue.parse("v=DMARC1;" + junk, POLICY_LIKE).problems) == 100_000


def test_a_huge_tag_name_is_one_tag() -> None:
    name = "a" * 100_000

    assert list(tagvalue.parse(f"v=DMARC1; {name}=1", POLICY_LIKE).tags) == [name]


ATOMS = [
    "v",
    "V",
    "p",
    "=",
    ";",
    " ",
    "\t",
    "\r\n",
    "\x0b",
    "\xa0",
    "é",
    "1",
    "_",
    "-",
    "x",
    "\x00",
]


@given(st.sampled_from(GRAMMARS), st.text() | st.lists(st.sampled_from(ATOMS)).map("".join))
def test_parse_never_raises_and_keeps_its_promises(grammar: Grammar, text: str) -> None:
    result = tagvalue.parse(text, grammar)

    for name, value in result.tags.items():
        assert grammar.tag_name.fullmatch(name)
        assert name == name.lower() or not grammar.fold_case
        assert value == value.lstrip(grammar.space_after_equals)
        assert value == value.rstrip(grammar.space_around_semicolon)
        assert ";" not in name + value
    if grammar.on_problem is OnProblem.REJECT_RECORD:
        assert len(result.problems) <= 1
        assert not (result.problems and result.tags)
    for problem in result.problems:
        assert problem.entry == problem.entry.strip(grammar.blank)
        assert problem.entry
