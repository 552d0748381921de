"""The address policy that keeps the bot from scanning the network it runs in."""

from __future__ import annotations

import ipaddress

import pytest

from checks.net.policy import refusal
from checks.settings import Settings, SettingsError

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1",
        "192.168.1.1",
        "172.16.0.1",
        "127.0.0.1",
        "::1",
        "169.254.169.254",
        "100.64.0.1",
        "fe80::1",
        "fd00::1",
        "0.0.0.0",  # noqa: S104 -- an address under test, not a bind
        "::ffff:10.0.0.1",
    ],
)
def test_non_global_addresses_are_refused_by_default(address: str) -> None:
    reason = refusal(address, Settings())

    assert reason is not None
    assert "MXBOT_ALLOW_PRIVATE" in reason


def test_global_addresses_are_allowed_by_default() -> None:
    assert refusal("8.8.8.8", Settings()) is None
    assert refusal("2606:4700::1111", Settings()) is None


def test_allow_private_opens_private_ranges() -> None:
    assert refusal("10.0.0.1", Settings(allow_private=True)) is None


def test_connect_networks_pin_connections_even_to_global_addresses() -> None:
    pinned = Settings(allow_private=True, connect_networks=LOOPBACK)

    assert refusal("127.0.0.9", pinned) is None
    assert refusal("::1", pinned) is None
    assert refusal("8.8.8.8", pinned) is not None
    assert refusal("10.0.0.1", pinned) is not None


def test_connect_networks_come_from_the_environment() -> None:
    settings = Settings.from_env({"MXBOT_CONNECT_NETWORKS": "127.0.0.0/8, ::1/128"})

    assert settings.connect_networks == LOOPBACK
    with pytest.raises(SettingsError, match="not a network"):
        Settings.from_env({"MXBOT_CONNECT_NETWORKS": "nonsense"})
