"""The one /mx grammar: forms, mentions, Slack markup, and junk that gets a usage hint."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.commands import HELP, Command, UsageError, parse
from checks.context import Options

KNOWN = ("mx", "address", "ptr", "spf", "dkim", "dmarc", "mta_sts")


def p(text: str, **kw: str) -> Command:
    return parse(text, known=KNOWN, **kw)


@pytest.mark.parametrize(
    ("text", "name", "checks", "options"),
    [
        ("example.com", "example.com", (), Options()),
        ("Example.COM.", "example.com", (), Options()),
        ("example.com spf dmarc", "example.com", ("spf", "dmarc"), Options()),
        ("spf example.com 203.0.113.7", "example.com", ("spf",), Options(sending_ip="203.0.113.7")),
        ("dkim example.com s1", "example.com", ("dkim",), Options(selectors=("s1",))),
        (
            "dkim example.com mail s2.eu",
            "example.com",
            ("dkim",),
            Options(selectors=("mail", "s2.eu")),
        ),
        ("203.0.113.7", "203.0.113.7", (), Options()),
        ("<http://a.example|a.example>", "a.example", (), Options()),
        ("<mailto:ops@a.example|ops@a.example> mx", "a.example", ("mx",), Options()),
        ("postmaster@b.example", "b.example", (), Options()),
        ("https://c.example/contact", "c.example", (), Options()),
        ("bücher.example", "xn--bcher-kva.example", (), Options()),
        ("check dmarc for example.com", "example.com", ("dmarc",), Options()),
        ("mta-sts example.com", "example.com", ("mta_sts",), Options()),
        (
            "is 192.0.2.1 allowed to send for example.com?",
            "example.com",
            ("spf",),
            Options(sending_ip="192.0.2.1"),
        ),
    ],
)
def test_every_documented_form_parses(
    text: str, name: str, checks: tuple[str, ...], options: Options
) -> None:
    command = p(text)

    assert command.kind == "report"
    assert command.target is not None
    assert (command.target.name, command.checks, command.options) == (name, checks, options)


def test_the_bots_own_mention_is_stripped_and_others_are_refused() -> None:
    assert p("<@UBOT> check mx for example.com", bot_user="UBOT").checks == ("mx",)
    with pytest.raises(UsageError, match="mention"):
        p("<@UBOT> <@U999> example.com", bot_user="UBOT")


@pytest.mark.parametrize("text", ["", "help", "  ?  ", "<@UBOT> help"])
def test_help(text: str) -> None:
    assert p(text) == HELP


@pytest.mark.parametrize(
    ("text", "usage"),
    [
        ("spff example.com", "example.com spf"),
        ("example.com example.org", "example.com"),
        ("dmarc", "example.com dmarc"),
        ("spf", "spf example.com 203.0.113.7"),
        ("foo", "example.com"),
        ("dkim example.com b@d!", "dkim example.com selector"),
        ("x" * 2000, "example.com"),
    ],
)
def test_junk_gets_the_closest_valid_usage(text: str, usage: str) -> None:
    with pytest.raises(UsageError) as caught:
        p(text)

    assert caught.value.usage == usage


@given(st.text(max_size=300))
def test_parse_raises_nothing_but_usage_errors(text: str) -> None:
    try:
        command = p(text)
    except UsageError:
        return
    assert command.kind in {"report", "help", "live"}


_label = st.from_regex(r"[a-z][a-z0-9]{0,10}", fullmatch=True)
_domain = st.builds(lambda a, b: f"{a}.{b}", _label, st.sampled_from(["example", "test", "org"]))


@given(
    _domain,
    st.lists(st.sampled_from(KNOWN), unique=True, max_size=3),
    st.sampled_from(["", "ip", "dkim"]),
    st.lists(
        st.from_regex(r"sel[a-z0-9]{0,5}", fullmatch=True), min_size=1, max_size=3, unique=True
    ),
)
def test_the_canonical_text_parses_back_to_the_same_command(
    domain: str, checks: list[str], form: str, selectors: list[str]
) -> None:
    if form == "ip":
        text = " ".join(["spf", *checks, domain, "198.51.100.9"])
    elif form == "dkim":
        text = " ".join(["dkim", *checks, domain, *selectors])
    else:
        text = " ".join([domain, *checks])
    command = p(text)

    assert p(command.text) == command


@pytest.mark.parametrize(
    ("text", "name", "record"),
    [
        ("live example.com", "example.com", ()),
        ("live Example.COM TXT s1._domainkey", "example.com", ("TXT", "s1._domainkey")),
        ("live example.com mx", "example.com", ("MX", "@")),
        ("live example.com A www", "example.com", ("A", "www")),
        (
            "<@UBOT> is the TXT s1._domainkey of example.com live yet?",
            "example.com",
            ("TXT", "s1._domainkey"),
        ),
        ("is example.com live?", "example.com", ()),
    ],
)
def test_live_takes_a_domain_and_one_record(text: str, name: str, record: tuple[str, ...]) -> None:
    command = p(text, bot_user="UBOT")

    assert command.kind == "live"
    assert command.target is not None
    assert (command.target.name, command.record) == (name, record)
    assert p(command.text) == command


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("live", "which domain"),
        ("live 192.0.2.1", "which domain"),
        ("live example.com www", "record type of 'www'"),
        ("live example.com TXT a b", "one record"),
    ],
)
def test_a_live_question_missing_its_parts_gets_the_live_usage(text: str, reason: str) -> None:
    with pytest.raises(UsageError, match=reason) as caught:
        p(text)

    assert caught.value.usage == "live example.com TXT s1._domainkey"


@pytest.mark.parametrize(
    "text",
    ["live cancel example.com", "cancel live Example.com", "<@UBOT> live stop example.com please"],
)
def test_live_cancel_names_the_domain_to_stop_following(text: str) -> None:
    command = p(text, bot_user="UBOT")

    assert command.kind == "live_cancel"
    assert command.target is not None
    assert command.target.name == "example.com"
    assert p(command.text) == command


@pytest.mark.parametrize(
    "text", ["live cancel", "live cancel example.com TXT", "live cancel 192.0.2.1"]
)
def test_live_cancel_without_one_domain_says_how(text: str) -> None:
    with pytest.raises(UsageError, match="which domain to stop following") as caught:
        p(text)

    assert caught.value.usage == "live cancel example.com"
