"""DANE for SMTP (RFC 7672, RFC 6698): do the DNSSEC-validated TLSA records at _25._tcp.<mx> match
the certificate chain each MX address presents?

Senders that do DANE (Postfix, Exim, many large providers) refuse to deliver to a host whose TLSA
records do not match, so a stale TLSA record after a certificate change is an outage. Only
DANE-TA(2) and DANE-EE(3) apply to SMTP (RFC 7672 3.1.3); PKIX usages 0 and 1 are ignored there.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from checks.context import Context, HostAddresses
from checks.model import DOMAIN, Fact, Finding, Record, Status, with_facts
from checks.net.dns import Answer
from checks.net.policy import is_ip_literal
from checks.net.probe.result import Failure, ProbeResult, where
from checks.tls.chain import load_chain, name_matches, signed_chain

ID: Final = "dane"
TITLE: Final = "DANE (TLSA)"
SCOPE: Final = DOMAIN

_USAGES = {0: "PKIX-TA", 1: "PKIX-EE", 2: "DANE-TA", 3: "DANE-EE"}
_SELECTORS = {0: "Cert", 1: "SPKI"}
_MATCHING = {0: "Full", 1: "SHA2-256", 2: "SHA2-512"}
_DIGEST_LENGTH = {1: 32, 2: 64}
_NO_TLS = frozenset(
    {Failure.STARTTLS_MISSING, Failure.STARTTLS_REFUSED, Failure.TLS_FAILED, Failure.EHLO_FAILED}
)


class TlsaSyntaxError(ValueError):
    """The text is not a TLSA record in presentation format."""


@dataclass(frozen=True, slots=True)
class Tlsa:
    usage: int
    selector: int
    mtype: int
    data: bytes

    @property
    def usable(self) -> bool:
        """RFC 7672 3.1.3 and 3.1: what an SMTP sender will use."""
        return (
            self.usage in (2, 3)
            and self.selector in _SELECTORS
            and self.mtype in _MATCHING
            and len(self.data) == _DIGEST_LENGTH.get(self.mtype, len(self.data))
            and bool(self.data)
        )

    @property
    def text(self) -> str:
        return f"{self.usage} {self.selector} {self.mtype} {self.data.hex()}"

    @property
    def label(self) -> str:
        usage = _USAGES.get(self.usage, f"usage {self.usage}")
        sel = _SELECTORS.get(self.selector, f"selector {self.selector}")
        mt = _MATCHING.get(self.mtype, f"matching type {self.mtype}")
        return f"{usage} {sel} {mt}"


def parse(text: str) -> Tlsa:
    """A TLSA record in presentation format: `3 1 1 <hex>` (the hex may contain spaces)."""
    parts = text.split()
    if len(parts) < 4:
        raise TlsaSyntaxError("a TLSA record has usage, selector, matching type and data")
    try:
        usage, selector, mtype = (int(p) for p in parts[:3])
    except ValueError:
        raise TlsaSyntaxError("usage, selector and matching type must be numbers") from None
    if not all(0 <= v <= 255 for v in (usage, selector, mtype)):
        raise TlsaSyntaxError("usage, selector and matching type are 0 to 255")
    try:
        data = bytes.fromhex("".join(parts[3:]))
    except ValueError:
        raise TlsaSyntaxError("the association data must be hexadecimal") from None
    return Tlsa(usage, selector, mtype, data)


def association(cert: x509.Certificate, selector: int, mtype: int) -> bytes:
    """RFC 6698 2.1.2-2.1.3: the bytes a TLSA record with these parameters holds for `cert`."""
    if selector == 0:
        raw = cert.public_bytes(serialization.Encoding.DER)
    else:
        raw = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    if mtype == 1:
        return hashlib.sha256(raw).digest()
    if mtype == 2:
        return hashlib.sha512(raw).digest()
    return raw


def matches(record: Tlsa, chain: Sequence[x509.Certificate], host: str, now: dt.datetime) -> bool:
    """RFC 7672 3.1.1/3.1.2: DANE-EE matches the leaf alone (no name, no dates); DANE-TA matches
    a certificate in the presented chain that signs down to the leaf, which must name the host
    and be within its dates."""
    if not record.usable or not chain:
        return False
    if record.usage == 3:
        return association(chain[0], record.selector, record.mtype) == record.data
    for i, cert in enumerate(chain):
        if association(cert, record.selector, record.mtype) != record.data:
            continue
        leaf = chain[0]
        return (
            signed_chain(chain, i)
            and name_matches(host, _san(leaf))
            and leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc
        )
    return False


async def run(ctx: Context) -> list[Finding]:
    mx = await ctx.mx()
    if mx.null:
        return [Finding("dane.skipped", Status.SKIP, "The domain takes no mail (null MX).")]
    hosts = [h for h in await ctx.mx_addresses() if not is_ip_literal(h.host)]
    if not hosts:
        return [Finding("dane.skipped", Status.SKIP, "No mail hosts to look up.")]
    answers = await asyncio.gather(*(ctx.dns.query(f"_25._tcp.{h.host}", "TLSA") for h in hosts))
    found = [(h, a) for h, a in zip(hosts, answers, strict=True) if a.ok or a.failed]
    if not found:
        return [
            Finding(
                "dane.none",
                Status.INFO,
                "No MX host publishes TLSA records (_25._tcp.<host>), so DANE is not in use. "
                "It is optional and needs DNSSEC; MTA-STS is the alternative without DNSSEC.",
            )
        ]
    per_host = await asyncio.gather(*(_host(ctx, h, a, mx.answer.authenticated) for h, a in found))
    return [f for fs in per_host for f in fs]


async def _host(
    ctx: Context, host: HostAddresses, answer: Answer, mx_validated: bool
) -> list[Finding]:
    findings = await _judge_host(ctx, host, answer, mx_validated)
    if answer.failed:
        return findings
    text = "\n".join(sorted(r.text for r in _records(answer)))  # record history
    return with_facts(findings, [Fact("dane.tlsa", 0, f"_25._tcp.{host.host}", text)])


async def _judge_host(
    ctx: Context, host: HostAddresses, answer: Answer, mx_validated: bool
) -> list[Finding]:
    name = f"_25._tcp.{host.host}"
    if answer.failed:
        return [
            Finding(
                "dane.lookup_failed",
                Status.ERROR,
                f"The TLSA lookup of {name} failed: {answer.describe()}. If senders' resolvers "
                "fail the same way, DANE senders defer mail to this host (RFC 7672 2.2).",
                fix="Check that the zone's name servers answer TLSA queries (some firewalls drop "
                "unknown record types).",
            )
        ]
    records = _records(answer)
    evidence = tuple(f"{name}. TLSA {r.text}" for r in records)
    if not answer.authenticated:
        return [
            Finding(
                "dane.not_validated",
                Status.WARN,
                f"{name} has TLSA records, but the answer was not DNSSEC-validated (no AD bit), "
                "so senders ignore them: either the zone is not signed or the resolver in use "
                "does not validate.",
                fix="Sign the zone with DNSSEC (and publish its DS), or remove the TLSA records.",
                evidence=evidence,
            )
        ]
    notes = _context_notes(host, name, mx_validated, records, evidence)
    usable = [r for r in records if r.usable]
    if not usable:
        return [
            *notes,
            Finding(
                "dane.no_usable_records",
                Status.WARN,
                f"None of the TLSA records at {name} is usable for SMTP (only DANE-TA(2) and "
                "DANE-EE(3) with known selector and matching type count), so senders require "
                "TLS but cannot authenticate the server.",
                fix="Publish a 3 1 1 record for the server's key (see the record to paste).",
                evidence=evidence,
            ),
        ]
    probes = await asyncio.gather(*(ctx.smtp_probe(host.host, a) for a in host.addresses))
    verdicts = [_verdict(host.host, name, usable, p, evidence) for p in probes if p is not None]
    return [*notes, *verdicts, _rollover(name, usable, evidence)]


def _context_notes(
    host: HostAddresses,
    name: str,
    mx_validated: bool,
    records: list[Tlsa],
    evidence: tuple[str, ...],
) -> list[Finding]:
    out: list[Finding] = []
    if not (host.a.authenticated or host.aaaa.authenticated):
        out.append(
            Finding(
                "dane.address_not_validated",
                Status.WARN,
                f"The address records of {host.host} are not DNSSEC-validated, so senders do "
                f"not look up {name} at all (RFC 7672 2.2.2) and the TLSA records have no effect.",
                fix=f"Serve {host.host} from a signed zone.",
                evidence=evidence,
            )
        )
    if not mx_validated:
        out.append(
            Finding(
                "dane.mx_not_validated",
                Status.INFO,
                "The MX records are not DNSSEC-validated, so an attacker who can forge DNS could "
                "send mail elsewhere; DANE protects only the MX hosts senders end up with.",
                fix="Sign the domain's zone with DNSSEC.",
            )
        )
    pkix = [r for r in records if r.usage in (0, 1)]
    if pkix:
        out.append(
            Finding(
                "dane.pkix_usage",
                Status.WARN,
                f"{name} has TLSA records with usage 0 or 1 (PKIX-TA/PKIX-EE), which senders "
                "ignore on port 25 (RFC 7672 3.1.3).",
                fix="Replace them with DANE-EE (3 1 1) or DANE-TA (2 1 1) records.",
                evidence=tuple(f"{name}. TLSA {r.text}" for r in pkix),
            )
        )
    return out


def _verdict(
    host: str, name: str, usable: list[Tlsa], p: ProbeResult, evidence: tuple[str, ...]
) -> Finding:
    w = where(host, p.address)
    if p.tls is None:
        if p.failure in _NO_TLS:
            return Finding(
                "dane.no_tls",
                Status.FAIL,
                f"{name} publishes TLSA records, so DANE senders require TLS, but {w} gave none "
                f"({p.detail}); those senders will not deliver.",
                fix="Enable STARTTLS with the certificate the TLSA records describe.",
                evidence=evidence,
            )
        refused = p.failure is Failure.REFUSED_BY_POLICY
        return Finding(
            "dane.not_verified",
            Status.INFO if refused else Status.ERROR,
            f"Could not check {w} against its TLSA records: {p.detail}.",
            evidence=evidence,
        )
    chain = load_chain(p.tls.chain)
    now = dt.datetime.now(dt.UTC)
    hits = [r for r in usable if matches(r, chain, host, now)]
    if hits:
        return Finding(
            "dane.ok",
            Status.PASS,
            f"{w}: the certificate matches TLSA {', '.join(r.label for r in hits)} at {name}.",
            evidence=evidence,
        )
    spki = association(chain[0], 1, 1).hex() if chain else "<sha256 of the server key>"
    return Finding(
        "dane.mismatch",
        Status.FAIL,
        f"The certificate of {w} matches none of the TLSA records at {name}, so senders that "
        "validate DANE will not deliver to it (a certificate changed without updating TLSA?).",
        fix="Publish a TLSA record for the current key (below), wait for the TTL, then remove "
        "the stale record.",
        record=Record(f"{name}.", "TLSA", f"3 1 1 {spki}"),
        evidence=(
            *evidence,
            *(f"presented [{i}] {c.subject.rfc4514_string()}" for i, c in enumerate(chain)),
        ),
    )


def _rollover(name: str, usable: list[Tlsa], evidence: tuple[str, ...]) -> Finding:
    if len({r.text for r in usable}) >= 2:
        return Finding(
            "dane.rollover_ready",
            Status.INFO,
            f"{name} has {len(usable)} usable TLSA records, so a key rollover can be prepared "
            "(the next key published before it is used).",
            evidence=evidence,
        )
    return Finding(
        "dane.single_record",
        Status.INFO,
        f"{name} has a single usable TLSA record: the next certificate change must publish a "
        "new TLSA record first (at least two TTLs before the switch), or mail will stop.",
        fix="Before rotating keys, add the TLSA record of the next key (or also publish a 2 1 1 "
        "record for the issuing CA).",
        evidence=evidence,
    )


def _records(answer: Answer) -> list[Tlsa]:
    return [Tlsa(r.usage, r.selector, r.mtype, r.cert) for r in answer.tlsa_records()]


def _san(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return []
    return [str(n) for n in ext.get_values_for_type(x509.DNSName)]
