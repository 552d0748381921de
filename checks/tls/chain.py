"""The chain a server presented (RFC 5280 path validation, RFC 6125 names): does it lead to a
trusted root, which link is missing when it does not, and does the leaf name the host?

The verdict on trust is kept apart from the name and the dates, so that each problem is named on
its own; everything here is a pure function of DER bytes and a trust store.
"""

from __future__ import annotations

import datetime as dt
import enum
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509 import DNSName, IPAddress
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from checks.net.trust import TrustStore, load_der
from checks.tls.certificate import attribute, subject_alt_names

_MAX_CHAIN_DEPTH = 8


class ChainProblem(enum.StrEnum):
    NONE = "none"
    SELF_SIGNED = "self_signed"  # the leaf signs itself
    UNTRUSTED_ROOT = "untrusted_root"  # the chain ends in a root the store does not hold
    INCOMPLETE = "incomplete"  # an intermediate is missing (or the CA is unknown)
    INVALID = "invalid"  # anything else the verifier rejected
    EMPTY = "empty"  # no certificate was presented


@dataclass(frozen=True, slots=True)
class ChainCheck:
    trusted: bool
    problem: ChainProblem
    detail: str = ""  # the verifier's own words, for evidence
    missing_issuer: str = ""  # the issuer we could not find, for INCOMPLETE


def load_chain(ders: Sequence[bytes]) -> tuple[x509.Certificate, ...]:
    """Parse the presented chain, skipping anything that is not a certificate."""
    return tuple(c for c in (load_der(d) for d in ders) if c is not None)


def check_chain(
    chain: Sequence[x509.Certificate], trust: TrustStore, now: dt.datetime | None = None
) -> ChainCheck:
    """Does the presented chain lead to a root in `trust`? Judged apart from the name and dates.

    The verifier is asked about a name the leaf does carry, at moments when the dates cannot be
    the problem: `now`, then a moment inside the validity of every presented certificate and of
    the trusted roots that could anchor it (a root the server does not send may start later than
    an old leaf). So a wrong name, or a leaf that expired or is not valid yet, is reported as
    exactly that and not also as "untrusted".
    """
    if not chain:
        return ChainCheck(False, ChainProblem.EMPTY, "the server presented no certificate")
    leaf, rest = chain[0], list(chain[1:])
    detail = "no trusted roots are loaded"
    if trust.store is not None:
        subject = _subject_for(leaf)
        for moment in _moments(chain, trust, now):
            try:
                _policy(trust.store, moment).build_server_verifier(subject).verify(leaf, rest)
            except (VerificationError, ValueError) as exc:
                detail = str(exc)[:300]
            else:
                return ChainCheck(True, ChainProblem.NONE)
    return _diagnose(chain, trust, detail)


def signed_chain(chain: Sequence[x509.Certificate], upto: int) -> bool:
    """Each certificate from the leaf up to index `upto` is signed by the next one."""
    return all(_signed_by(chain[i], chain[i + 1]) for i in range(upto))


def name_matches(host: str, dns_names: Sequence[str], ip_addresses: Sequence[str] = ()) -> bool:
    """RFC 6125 6.4 (as tightened by RFC 9525): the SAN names the host; the CN is not consulted.

    A wildcard is only a whole left-most label (`*.example.com`), matches exactly one label, and
    never stands for a public suffix alone (`*.com`).
    """
    host = host.strip().rstrip(".").lower()
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        ip = None
    if ip is not None:
        return any(_same_ip(ip, a) for a in ip_addresses)
    labels = host.split(".")
    for pattern in dns_names:
        pattern = pattern.strip().rstrip(".").lower()
        if pattern == host:
            return True
        plabels = pattern.split(".")
        if (
            plabels[0] == "*"
            and len(plabels) >= 3
            and len(labels) == len(plabels)
            and labels[1:] == plabels[1:]
            and "*" not in pattern[1:]
        ):
            return True
    return False


def _diagnose(chain: Sequence[x509.Certificate], trust: TrustStore, detail: str) -> ChainCheck:
    leaf, top = chain[0], chain[-1]
    if len(chain) == 1 and leaf.issuer == leaf.subject and _signed_by(leaf, leaf):
        return ChainCheck(False, ChainProblem.SELF_SIGNED, detail)
    if top.issuer == top.subject:
        return ChainCheck(False, ChainProblem.UNTRUSTED_ROOT, detail)
    if not trust.knows_subject(top.issuer):
        issuer = attribute(top.issuer, NameOID.COMMON_NAME) or top.issuer.rfc4514_string()
        return ChainCheck(False, ChainProblem.INCOMPLETE, detail, missing_issuer=issuer)
    return ChainCheck(False, ChainProblem.INVALID, detail)


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _policy(store: Store, moment: dt.datetime) -> PolicyBuilder:
    """RFC 5280 path validation with the Web PKI rules for CAs, lenient about leaf extensions.

    The CA/B Forum profile that cryptography applies by default also rejects leaves for details
    no mail server or client cares about (a critical subjectAltName, say); we name the problems
    that break delivery ourselves, so the leaf's extensions are only parsed here, not judged.
    """
    builder = PolicyBuilder().store(store).time(moment).max_chain_depth(_MAX_CHAIN_DEPTH)
    if hasattr(builder, "extension_policies"):  # cryptography >= 45
        builder = builder.extension_policies(
            ca_policy=ExtensionPolicy.webpki_defaults_ca(),
            ee_policy=ExtensionPolicy.permit_all().require_present(
                x509.SubjectAlternativeName, Criticality.AGNOSTIC, None
            ),
        )
    return builder


def _moments(
    chain: Sequence[x509.Certificate], trust: TrustStore, now: dt.datetime | None
) -> list[dt.datetime]:
    """When to ask the verifier: now (the usual case), then inside every date range involved."""
    top = chain[-1]
    anchors = [c for c in trust.certificates if c.subject in (top.issuer, top.subject)]
    moments = [] if now is None else [now]
    for candidates in [*([*chain, a] for a in anchors), chain]:
        moment = _inside(candidates)
        if moment not in moments:
            moments.append(moment)
    return moments


def _inside(certificates: Sequence[x509.Certificate]) -> dt.datetime:
    """A moment inside every certificate's validity (the latest start, when they do not overlap)."""
    start = max(c.not_valid_before_utc for c in certificates)
    end = min(c.not_valid_after_utc for c in certificates)
    moment = start + dt.timedelta(seconds=1)
    return moment if moment < end else start


def _subject_for(leaf: x509.Certificate) -> DNSName | IPAddress:
    dns_names, ips = subject_alt_names(leaf)
    for name in dns_names:
        candidate = "x" + name[1:] if name.startswith("*.") else name
        try:
            return DNSName(candidate)
        except ValueError:
            continue
    if ips:
        return IPAddress(ipaddress.ip_address(ips[0]))
    return DNSName("invalid")  # no SAN: the verifier will say so


def _same_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, text: str) -> bool:
    try:
        return ipaddress.ip_address(text) == ip
    except ValueError:
        return False
