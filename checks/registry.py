"""The closed list of checks, in display order; adding a check is adding a module here.

A check module is imported when a report first needs it, so `mxbot check --only mx` loads one
check rather than seventeen (their imports, cryptography among them, are most of a CLI call's
start-up). `load` names each module in an import statement that mypy verifies against `Check`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from checks.context import Context
from checks.model import Finding


class Check(Protocol):
    """The shape of a check module; mypy verifies each module `load` returns."""

    @property
    def ID(self) -> str: ...

    @property
    def TITLE(self) -> str: ...

    @property
    def SCOPE(self) -> frozenset[str]: ...

    async def run(self, ctx: Context) -> list[Finding]: ...


IDS: tuple[str, ...] = (
    "mx",
    "address",
    "ptr",
    "spf",
    "dmarc",
    "dkim",
    "bimi",
    "smtp",
    "tls",
    "dnsbl",
    "asn",
    "mta_sts",
    "tls_rpt",
    "ns",
    "dnssec",
    "dane",
    "ports",
)  # display order
OPT_IN: frozenset[str] = frozenset({"ports"})  # run only when asked for by name


def load(check_id: str) -> Check:
    """The module of one check. Raises KeyError for an unknown id."""
    module: Check
    match check_id:
        case "mx":
            from checks import mx as module
        case "address":
            from checks import address as module
        case "ptr":
            from checks import ptr as module
        case "spf":
            from checks.spf import check as module
        case "dmarc":
            from checks.dmarc import check as module
        case "dkim":
            from checks.dkim import check as module
        case "bimi":
            from checks.bimi import check as module
        case "smtp":
            from checks import smtp as module
        case "tls":
            from checks.tls import check as module
        case "dnsbl":
            from checks import dnsbl as module
        case "asn":
            from checks import asn as module
        case "mta_sts":
            from checks import mta_sts as module
        case "tls_rpt":
            from checks import tls_rpt as module
        case "ns":
            from checks.ns import check as module
        case "dnssec":
            from checks.dnssec import check as module
        case "dane":
            from checks import dane as module
        case "ports":
            from checks import ports as module
        case _:
            raise KeyError(check_id)
    return module


def all_checks() -> list[Check]:
    """Every check, in display order (imports them all)."""
    return [load(i) for i in IDS]


def by_id() -> dict[str, Check]:
    return {c.ID: c for c in all_checks()}


def select(only: Sequence[str] | None, *, is_address: bool) -> list[Check]:
    """The checks to run for a target, in display order. Raises KeyError naming an unknown id."""
    if only:
        unknown = [name for name in only if name not in IDS]
        if unknown:
            raise KeyError(", ".join(unknown))
        wanted = set(only)
        return [load(i) for i in IDS if i in wanted]
    scope = "address" if is_address else "domain"
    return [c for c in all_checks() if scope in c.SCOPE and c.ID not in OPT_IN]


def all_ids() -> list[str]:
    return list(IDS)
