"""The closed list of checks, in display order; adding a check is adding a module here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from checks import address, asn, dane, dnsbl, mta_sts, mx, ports, ptr, smtp, tls_rpt
from checks.bimi import check as bimi
from checks.context import Context
from checks.dkim import check as dkim
from checks.dmarc import check as dmarc
from checks.dnssec import check as dnssec
from checks.model import Finding
from checks.spf import check as spf
from checks.tls import check as tls


class Check(Protocol):
    """The shape of a check module; mypy verifies each module listed below."""

    @property
    def ID(self) -> str: ...

    @property
    def TITLE(self) -> str: ...

    @property
    def SCOPE(self) -> frozenset[str]: ...

    async def run(self, ctx: Context) -> list[Finding]: ...


CHECKS: Sequence[Check] = [
    mx,
    address,
    ptr,
    spf,
    dmarc,
    dkim,
    bimi,
    smtp,
    tls,
    dnsbl,
    asn,
    mta_sts,
    tls_rpt,
    dnssec,
    dane,
    ports,
]  # display order
OPT_IN: frozenset[str] = frozenset({"ports"})  # run only when asked for by name


def by_id() -> dict[str, Check]:
    return {c.ID: c for c in CHECKS}


def select(only: Sequence[str] | None, *, is_address: bool) -> list[Check]:
    """The checks to run for a target, in display order. Raises KeyError naming an unknown id."""
    known = by_id()
    if only:
        unknown = [name for name in only if name not in known]
        if unknown:
            raise KeyError(", ".join(unknown))
        wanted = set(only)
        return [c for c in CHECKS if c.ID in wanted]
    scope = "address" if is_address else "domain"
    return [c for c in CHECKS if scope in c.SCOPE and c.ID not in OPT_IN]


def all_ids() -> list[str]:
    return [c.ID for c in CHECKS]
