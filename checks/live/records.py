"""Which records `mxbot live` follows: the mail set by default (MX, the SPF record, the DMARC record,
the MTA-STS record), or one record set the user names (`TXT s1._domainkey`), and which TXT strings
count as which kind of record."""

from __future__ import annotations

import re

import dns.rdata
import dns.rdatatype
import dns.rdtypes.txtbase

from checks.live.result import Wanted

# Each kind is a TXT record that starts so (RFC 7208 4.5, RFC 9989 4.7, RFC 8461 3.1).
_KINDS = {
    "SPF": re.compile(r"v=spf1(\s|$)", re.IGNORECASE),
    "DMARC": re.compile(r"\s*v\s*=\s*DMARC1\s*(;|$)"),
    "MTA-STS": re.compile(r"v=STSv1\s*(;|$)"),
}
KINDS = frozenset(_KINDS)  # the kinds of TXT record told apart
_META = frozenset({"ANY", "AXFR", "IXFR", "OPT", "TSIG", "TKEY", "MAILA", "MAILB", "NONE"})


class RecordError(ValueError):
    """Not a record type or name to follow; the message says why."""


def mail_set(domain: str) -> tuple[Wanted, ...]:
    """The records a mail fix usually changes."""
    return (
        Wanted(domain, "MX"),
        Wanted(domain, "TXT", "SPF"),
        Wanted(f"_dmarc.{domain}", "TXT", "DMARC"),
        Wanted(f"_mta-sts.{domain}", "TXT", "MTA-STS"),
    )


def one(domain: str, rdtype: str, name: str = "@") -> Wanted:
    """The record set `rdtype` at `name`: relative to the domain unless it ends with a dot or
    with the domain; '@' is the domain itself."""
    kind = rdtype.upper()
    try:
        dns.rdatatype.from_text(kind)
    except (dns.rdatatype.UnknownRdatatype, ValueError):
        raise RecordError(f"{rdtype!r} is not a DNS record type (MX, TXT, A, CNAME…)") from None
    if kind in _META:
        raise RecordError(f"{kind} is a query type, not a record to follow")
    return Wanted(_absolute(domain, name), kind)


def _absolute(domain: str, name: str) -> str:
    text = name.strip().lower()
    if text in ("", "@", domain, domain + "."):
        return domain
    if text.endswith("."):
        return text.rstrip(".")
    if text.endswith("." + domain):
        return text
    return f"{text}.{domain}"


def counts(wanted: Wanted, rdata: dns.rdata.Rdata) -> bool:
    """Whether a record is one of the kind followed (every record, when no kind is named)."""
    pattern = _KINDS.get(wanted.kind)
    if pattern is None:
        return True
    if not isinstance(rdata, dns.rdtypes.txtbase.TXTBase):
        return False
    text = b"".join(rdata.strings).decode("utf-8", "replace")  # RFC 7208 3.3: joined
    return pattern.match(text) is not None
