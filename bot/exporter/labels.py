"""Which label values a probe may carry: names and addresses we validated, never remote free text.

DNS answers may hold any bytes (`mx "evil\\"{x=1}"`); a label built from one would be a
cardinality bomb or a broken exposition. Hosts become labels only as a valid host name or an IP
address (canonical form); anything else is left out of the labelled series.
"""

from __future__ import annotations

import ipaddress
import re

_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")  # LDH, plus '_' as checks.target allows
_MAX_NAME = 253


def dns_name(text: str) -> str | None:
    """`text` as a lower-case host name without the trailing dot, or None when it is not one."""
    name = text.lower().removesuffix(".")
    if not name or len(name) > _MAX_NAME:
        return None
    return name if all(_LABEL.match(label) for label in name.split(".")) else None


def host(text: str) -> str | None:
    """A mail host as a label value: a host name, or an IP address in canonical form."""
    try:
        return ipaddress.ip_address(text).compressed
    except ValueError:
        return dns_name(text)
