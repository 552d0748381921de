"""SPF record syntax and macro expansion (RFC 7208 4.5, 5, 6, 7, 12), pure functions only."""

from __future__ import annotations

import contextlib
import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checks.spf.parse import (
    MacroValues,
    Modifier,
    SpfSyntaxError,
    check_domain_spec,
    expand,
    expand_domain,
    is_spf,
    parse,
)

# RFC 7208 7.4: the worked examples use this sender and these addresses.
V4 = MacroValues(
    sender="strong-bad@email.example.com",
    local="strong-bad",
    sender_domain="email.example.com",
    domain="email.example.com",
    ip=ipaddress.ip_address("192.0.2.3"),
    helo="mx.example.org",
    receiver="mx.example.net",
    now=1700000000,
    validated="mx.example.org",
)
V6 = MacroValues(
    sender=V4.sender,
    local=V4.local,
    sender_domain=V4.sender_domain,
    domain=V4.domain,
    ip=ipaddress.ip_address("2001:db8::cb01"),
    helo=V4.helo,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("%{s}", "strong-bad@email.example.com"),
        ("%{o}", "email.example.com"),
        ("%{d}", "email.example.com"),
        ("%{d4}", "email.example.com"),
        ("%{d3}", "email.example.com"),
        ("%{d2}", "example.com"),
        ("%{d1}", "com"),
        ("%{dr}", "com.example.email"),
        ("%{d2r}", "example.email"),
        ("%{l}", "strong-bad"),
        ("%{l-}", "strong.bad"),
        ("%{lr}", "strong-bad"),
        ("%{lr-}", "bad.strong"),
        ("%{l1r-}", "strong"),
        ("%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"),
        ("%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"),
        ("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"),
        ("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"),
        ("%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"),
    ],
)
def test_rfc7208_section_7_4_examples_expand_as_written(text: str, expected: str) -> None:
    assert expand(text, V4) == expected


def test_ipv6_i_macro_is_nibbles_in_dot_format() -> None:
    # RFC 7208 7.4 prints the nibbles in lower case; DNS is case-insensitive, and the RFC 7208 test
    # suite (v-macro-ip6) expects upper case in explanation text, as RFC 4408 printed them.
    expanded = expand("%{ir}.%{v}._spf.%{d2}", V6)

    assert expanded.lower() == (
        "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"
    )


def test_exp_only_letters_expand_in_explanations() -> None:
    assert expand("%{c} %{r} %{t} %{h} %{p}", V4, exp=True) == (
        "192.0.2.3 mx.example.net 1700000000 mx.example.org mx.example.org"
    )
    assert expand("%{c}", V6, exp=True) == "2001:db8::cb01"


def test_upper_case_letters_url_encode_the_value() -> None:
    assert expand("%{S}", V4) == "strong-bad%40email.example.com"


def test_escapes_give_percent_space_and_encoded_space() -> None:
    assert expand("a%%b%_c%-d", V4, exp=True) == "a%b c%20d"


@pytest.mark.parametrize(
    "bad", ["%{c}.example.com", "%{r}.example.com", "%{t}.example.com", "%{d0}.example.com"]
)
def test_exp_only_letters_and_zero_digits_are_errors_in_a_domain(bad: str) -> None:
    with pytest.raises(SpfSyntaxError):
        check_domain_spec(bad)


@pytest.mark.parametrize("bad", ["%", "%x", "%{", "%{x}", "%{d*}", "foo%"])
def test_a_percent_must_start_a_macro_or_escape(bad: str) -> None:
    with pytest.raises(SpfSyntaxError):
        expand(bad, V4, exp=True)


def test_expanded_domains_are_truncated_on_the_left_to_253_characters() -> None:
    values = MacroValues(
        sender="x@" + "a" * 60 + ".example.com",
        local="x" * 60,
        sender_domain="example.com",
        domain="example.com",
        ip=ipaddress.ip_address("192.0.2.1"),
        helo="h.example.com",
    )

    name = expand_domain("%{l}.%{l}.%{l}.%{l}.%{l}.example.com", values)

    assert len(name) <= 253
    assert name.endswith(".example.com")
    assert not name.startswith(".")


def test_a_record_parses_into_mechanisms_and_modifiers() -> None:
    record = parse(
        "v=spf1 +a mx/24 -ip4:192.0.2.0/24 ~ip6:2001:db8::/32 ?include:x.example.com "
        "exists:%{i}.bl.example.com ptr:example.com a:foo.example.com/28//64 "
        "exp=exp.example.com redirect=_spf.example.com -all"
    )

    mechs = record.mechanisms
    assert [m.name for m in mechs] == [
        "a",
        "mx",
        "ip4",
        "ip6",
        "include",
        "exists",
        "ptr",
        "a",
        "all",
    ]
    assert [m.qualifier for m in mechs][:5] == ["+", "+", "-", "~", "?"]
    assert mechs[1].cidr4 == 24
    assert mechs[1].domain_spec is None
    assert (mechs[7].domain_spec, mechs[7].cidr4, mechs[7].cidr6) == ("foo.example.com", 28, 64)
    assert record.redirect == "_spf.example.com"
    assert record.exp == "exp.example.com"
    assert record.has_all


def test_names_and_version_are_case_insensitive() -> None:
    record = parse("V=SpF1 INCLUDE:X.example.com Redirect=y.example.com -ALL")

    assert [m.name for m in record.mechanisms] == ["include", "all"]
    assert record.redirect == "y.example.com"


def test_unknown_modifiers_are_kept_and_ignored() -> None:
    record = parse("v=spf1 default=+ moo.cow-far_out=man:dog/cat -all")

    assert [t.name for t in record.terms if isinstance(t, Modifier)] == [
        "default",
        "moo.cow-far_out",
    ]


@pytest.mark.parametrize(
    ("record", "term"),
    [
        ("v=spf1 ip4:192.0.2.1/33 -all", "ip4:192.0.2.1/33"),
        ("v=spf1 ip4:192.0.2.1/032 -all", "ip4:192.0.2.1/032"),
        ("v=spf1 ip4:192.0.2 -all", "ip4:192.0.2"),
        ("v=spf1 ip6:2001:db8::/129 -all", "ip6:2001:db8::/129"),
        ("v=spf1 a:museum -all", "a:museum"),
        ("v=spf1 a: -all", "a:"),
        ("v=spf1 a//129", "a//129"),
        ("v=spf1 include:example.com/24", "include:example.com/24"),
        ("v=spf1 exists", "exists"),
        ("v=spf1 -all:foo", "-all:foo"),
        ("v=spf1 foo:bar -all", "foo:bar"),
        ("v=spf1 redirect=a.example.com redirect=b.example.com", "redirect=b.example.com"),
        ("v=spf1 exp= -all", "exp="),
        ("v=spf1 a:ctrl.example.com\rptr -all", "a:ctrl.example.com\rptr"),
        ("v=spf1 \u0096all", "\u0096all"),
        ("v=spf1 a:%{x}.example.com", "a:%{x}.example.com"),
    ],
)
def test_syntax_errors_name_the_bad_term(record: str, term: str) -> None:
    with pytest.raises(SpfSyntaxError) as caught:
        parse(record)

    assert caught.value.term == term


@pytest.mark.parametrize(
    "good",
    [
        "v=spf1",
        "v=spf1 ",
        "v=spf1  a   -all ",
        "v=spf1 a:foo:bar/baz.example.com",
        "v=spf1 a:example.com. -all",
        "v=spf1 a:e-x.example.co-m",
        "v=spf1 ip6:::ffff:192.0.2.1 ip4:0.0.0.0/0",
        "v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d}",
        "v=spf1 a:%{d}",
    ],
)
def test_valid_records_parse(good: str) -> None:
    assert parse(good).text == good


@pytest.mark.parametrize(
    ("text", "spf"),
    [
        ("v=spf1", True),
        ("V=SPF1 -all", True),
        ("v=spf10", False),
        ("v=spf1-all", False),
        ("", False),
    ],
)
def test_version_must_be_followed_by_a_space_or_the_end(text: str, spf: bool) -> None:
    assert is_spf(text) is spf


def test_mechanism_results_follow_the_qualifier() -> None:
    record = parse("v=spf1 a -a ~a ?a")

    assert [m.result for m in record.mechanisms] == ["pass", "fail", "softfail", "neutral"]
    assert all(m.queries_dns for m in record.mechanisms)


_TERMISH = st.text(
    alphabet=st.sampled_from(
        list("v=spf1 aAmxptrincludeip46:/.%{}-+~?_,0123456789exists\x00\u00e9")
    ),
    max_size=60,
)


@given(st.text(max_size=200))
def test_any_text_either_parses_or_raises_the_parse_error(text: str) -> None:
    with contextlib.suppress(SpfSyntaxError):
        parse(text)


@given(_TERMISH)
def test_any_record_body_either_parses_or_raises_the_parse_error(body: str) -> None:
    try:
        record = parse("v=spf1 " + body)
    except SpfSyntaxError:
        return
    assert parse(record.text) == record


@given(_TERMISH, st.booleans())
def test_macro_expansion_either_expands_or_raises_the_parse_error(text: str, exp: bool) -> None:
    try:
        out = expand(text, V6, exp=exp)
    except SpfSyntaxError:
        return
    assert isinstance(out, str)


@given(_TERMISH)
def test_domain_expansion_never_exceeds_253_characters_when_it_has_dots(text: str) -> None:
    try:
        name = expand_domain(check_domain_spec(text), V4)
    except SpfSyntaxError:
        return
    assert len(name) <= 253 or "." not in name
