"""The `/mx` grammar's fix and keygen forms: text in, `Command` out, and back to the same text."""

from __future__ import annotations

import pytest

from bot.commands import UsageError, parse


@pytest.mark.parametrize(
    ("text", "domain", "checks"),
    [
        ("fix example.com", "example.com", ()),
        ("Fix <http://example.com|example.com>", "example.com", ()),
        ("example.com fix", "example.com", ()),
        ("fix example.com spf dmarc", "example.com", ("spf", "dmarc")),
        ("please fix ops@bücher.example", "xn--bcher-kva.example", ()),
    ],
)
def test_fix_names_one_domain(text: str, domain: str, checks: tuple[str, ...]) -> None:
    cmd = parse(text)

    assert cmd.kind == "fix"
    assert cmd.target is not None
    assert cmd.target.name == domain
    assert cmd.checks == checks
    assert parse(cmd.text) == cmd


@pytest.mark.parametrize("text", ["fix", "fix 203.0.113.7", "fix spf example.com 192.0.2.1"])
def test_fix_without_a_domain_suggests_the_form(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse(text)

    assert caught.value.usage == "fix example.com"


def test_a_typo_in_a_fix_keeps_the_fix_in_the_suggestion() -> None:
    with pytest.raises(UsageError) as caught:
        parse("fix example.com spff")

    assert caught.value.usage == "fix example.com spf"


@pytest.mark.parametrize("text", ["dkim keygen", "dkim keygen example.com s1", "keygen"])
def test_keygen_is_its_own_command(text: str) -> None:
    cmd = parse(text)

    assert cmd.kind == "keygen"
    assert parse(cmd.text) == cmd


def test_keygen_remembers_the_domain_for_the_pointer() -> None:
    cmd = parse("dkim keygen example.com s1")

    assert cmd.target is not None
    assert cmd.target.name == "example.com"
