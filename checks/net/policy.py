"""Address policy: never connect to private, loopback, link-local or other non-global addresses
unless the settings allow it, so the bot cannot be used to scan the network it runs in."""

from __future__ import annotations

import ipaddress

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


def is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


_DOCUMENTATION = tuple(
    ipaddress.ip_network(n)
    for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32", "3fff::/20")
)


def is_documentation(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """RFC 5737 / RFC 3849 / RFC 9637: addresses for examples and labs, never routed."""
    return any(ip.version == net.version and ip in net for net in _DOCUMENTATION)


def is_global(address: str) -> bool:
    """Reachable from the internet: not private, loopback, link-local, CGNAT, reserved, …"""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def worth_looking_up(address: str, allow_private: bool) -> bool:
    """Whether an address belongs in third-party lookups (blocklists, ASN): global ones, private
    ones too in a lab, never loopback (127.0.0.2 is every blocklist's test entry)."""
    if ipaddress.ip_address(address).is_loopback:
        return False
    return allow_private or is_global(address)
