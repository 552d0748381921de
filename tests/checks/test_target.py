"""The input normaliser: what people paste in Slack and terminals becomes one clean target."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checks.target import TargetError, normalise


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("example.com", "example.com"),
        ("  Example.COM.  ", "example.com"),
        ("ops@example.com", "example.com"),
        ("mailto:ops@example.com?subject=hi", "example.com"),
        ("https://www.example.com/path?q=1", "www.example.com"),
        ("example.com/contact", "example.com"),
        ("<http://example.com|example.com>", "example.com"),
        ("<mailto:ops@example.com|ops@example.com>", "example.com"),
        ("<https://example.com>", "example.com"),
        ("mail.example.com:25", "mail.example.com"),
        ("_dmarc.example.com", "_dmarc.example.com"),
        ('"example.com"', "example.com"),
        ("&lt;example.com&gt;", "example.com"),
        ("&lt;http://example.com|example.com&gt;", "example.com"),
    ],
)
def test_pasted_forms_become_the_domain(raw: str, name: str) -> None:
    assert normalise(raw).name == name


def test_idn_is_converted_to_a_labels_and_keeps_its_unicode_form() -> None:
    target = normalise("Bücher.Example")

    assert target.name == "xn--bcher-kva.example"
    assert target.unicode == "bücher.example"
    assert target.display == "bücher.example (xn--bcher-kva.example)"


@pytest.mark.parametrize(
    ("raw", "address"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("[192.0.2.1]", "192.0.2.1"),
        ("2001:DB8::1", "2001:db8::1"),
        ("[IPv6:2001:db8::1]", "2001:db8::1"),
    ],
)
def test_ip_addresses_are_address_targets(raw: str, address: str) -> None:
    target = normalise(raw)

    assert target.is_address
    assert target.name == address


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "give a domain"),
        ("localhost", "single label"),
        ("foo..com", "empty label"),
        ("-bad.com", "hyphen"),
        ("exa mple.com", "spaces"),
        ("a" * 64 + ".com", "longer than 63"),
        ("ex!ample.com", "characters"),
        ("1.2.3", "incomplete IP"),
        ("<@U123ABC>", "mention"),
        ("user@", "no domain"),
        ("http://", "without a host"),
    ],
)
def test_junk_is_rejected_with_a_specific_reason(raw: str, reason: str) -> None:
    with pytest.raises(TargetError, match=reason):
        normalise(raw)


@given(st.text(max_size=300))
def test_no_input_raises_anything_but_target_error(raw: str) -> None:
    try:
        target = normalise(raw)
    except TargetError:
        return
    assert target.name == target.name.strip().lower()
    assert len(target.name) <= 253
