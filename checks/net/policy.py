"""Address policy: never connect to private, loopback, link-local or other non-global addresses
unless the settings allow it, so the bot cannot be used to scan the network it runs in."""

from __future__ import annotations

import ipaddress

from checks.context import is_documentation, is_global
from checks.settings import Settings


def refusal(address: str, settings: Settings) -> str | None:
    """Why we will not connect to `address`, or None when we may."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"{address!r} is not an IP address"
    if settings.connect_networks and not any(
        ip.version == net.version and ip in net for net in settings.connect_networks
    ):
        allowed = ", ".join(str(n) for n in settings.connect_networks)
        return f"{address} is outside the networks these settings allow connections to ({allowed})"
    if settings.allow_private or is_global(address):
        return None
    if is_documentation(ip):
        kind = "a documentation-only"
    elif ip.is_loopback:
        kind = "a loopback"
    elif ip.is_link_local:
        kind = "a link-local"
    elif ip.is_private:
        kind = "a private"
    else:
        kind = "a non-global"
    return (
        f"{address} is {kind} address; mxbot does not connect to such addresses "
        "unless MXBOT_ALLOW_PRIVATE=1 (or --allow-private) is set"
    )
