"""TLS sessions and certificates (RFC 5280 chains, RFC 6125 names, RFC 8996 versions): what a
sender or a mail client would think of what the server presented.

Everything here is a pure function of DER bytes, a trust store and a clock, so it is tested without
a network. The probe (`checks.net.probe.capture`) captures the chain with verification off (a server with
a bad certificate must still be described), and this module decides, in this order: does the chain
lead to a trusted root (judged apart from the name and the dates, so that each problem is named on
its own), does the leaf name the host, is it within its dates, and are the key, protocol and cipher
strong enough.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509 import DNSName, IPAddress
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from checks.model import Finding, Status
from checks.net.probe.result import ProbeResult
from checks.net.trust import TrustStore, load_der

EXPIRY_WARN_DAYS = 14
_MIN_RSA_BITS = 2048
_MIN_EC_BITS = 256
_MAX_CHAIN_DEPTH = 8

# Negotiated-cipher fragments (OpenSSL names) that no sender should accept any more, and why.
_WEAK_CIPHERS: tuple[tuple[str, str], ...] = (
    ("NULL", "no encryption at all"),
    ("EXP", "export-grade (deliberately weakened) keys"),
    ("ANON", "no server authentication (anonymous key exchange)"),
    ("ADH", "no server authentication (anonymous key exchange)"),
    ("AECDH", "no server authentication (anonymous key exchange)"),
    ("RC4", "the broken RC4 stream cipher (RFC 7465)"),
    ("DES-CBC3", "3DES, a 64-bit block cipher open to Sweet32"),
    ("3DES", "3DES, a 64-bit block cipher open to Sweet32"),
    ("DES-CBC", "single DES (56-bit keys)"),
    ("RC2", "the broken RC2 cipher"),
    ("IDEA", "IDEA, a 64-bit block cipher"),
    ("MD5", "MD5 message authentication"),
)


class Grade(enum.StrEnum):
    """How a negotiated protocol version rates (the NCSC-NL / Internet.nl scale)."""

    GOOD = "good"
    SUFFICIENT = "sufficient"
    INSUFFICIENT = "insufficient"


class ChainProblem(enum.StrEnum):
    NONE = "none"
    SELF_SIGNED = "self_signed"  # the leaf signs itself
    UNTRUSTED_ROOT = "untrusted_root"  # the chain ends in a root the store does not hold
    INCOMPLETE = "incomplete"  # an intermediate is missing (or the CA is unknown)
    INVALID = "invalid"  # anything else the verifier rejected
    EMPTY = "empty"  # no certificate was presented


@dataclass(frozen=True, slots=True)
class CertSummary:
    """One certificate, described for people."""

    subject: str  # RFC 4514 string
    issuer: str
    common_name: str
    issuer_name: str  # the issuer's CN (or O), for short messages
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    not_before: dt.datetime
    not_after: dt.datetime
    key_type: str  # "RSA", "EC", "Ed25519", …
    key_bits: int
    key_detail: str  # "RSA 2048", "EC P-256"
    signature_hash: str  # "sha256", "" for EdDSA
    self_issued: bool  # issuer name equals subject name
    sha256: str  # fingerprint of the DER, hex

    @property
    def names(self) -> tuple[str, ...]:
        return self.dns_names + self.ip_addresses


@dataclass(frozen=True, slots=True)
class ChainCheck:
    trusted: bool
    problem: ChainProblem
    detail: str = ""  # the verifier's own words, for evidence
    missing_issuer: str = ""  # the issuer we could not find, for INCOMPLETE


@dataclass(frozen=True, slots=True)
class TlsAnalysis:
    """What a client would conclude about one TLS session with `host`."""

    host: str
    version: str  # "TLSv1.3"
    cipher: str  # OpenSSL name
    grade: Grade
    weak_cipher: str  # why the cipher is weak; "" when it is not
    forward_secrecy: bool
    chain: tuple[CertSummary, ...]  # as presented, leaf first
    chain_complete_capture: bool  # False when only the leaf could be captured
    trust: ChainCheck
    name_matches: bool
    days_left: int  # until the leaf expires (negative when expired)
    not_yet_valid: bool
    weak_key: str  # why the leaf key is weak; "" when it is not

    @property
    def leaf(self) -> CertSummary | None:
        return self.chain[0] if self.chain else None

    @property
    def expired(self) -> bool:
        return bool(self.chain) and self.days_left < 0


def load_chain(ders: Sequence[bytes]) -> tuple[x509.Certificate, ...]:
    """Parse the presented chain, skipping anything that is not a certificate."""
    return tuple(c for c in (load_der(d) for d in ders) if c is not None)


def summarise(cert: x509.Certificate) -> CertSummary:
    dns_names, ips = _sans(cert)
    key_type, bits, detail = describe_key(cert.public_key())
    hash_alg = cert.signature_hash_algorithm
    return CertSummary(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        common_name=_attr(cert.subject, NameOID.COMMON_NAME),
        issuer_name=_attr(cert.issuer, NameOID.COMMON_NAME)
        or _attr(cert.issuer, NameOID.ORGANIZATION_NAME)
        or cert.issuer.rfc4514_string(),
        dns_names=dns_names,
        ip_addresses=ips,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        key_type=key_type,
        key_bits=bits,
        key_detail=detail,
        signature_hash=hash_alg.name if hash_alg is not None else "",
        self_issued=cert.issuer == cert.subject,
        sha256=hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest(),
    )


def describe_key(key: object) -> tuple[str, int, str]:
    """(type, bits, "RSA 2048" / "EC P-256" / "Ed25519")."""
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size, f"RSA {key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        curve = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}.get(
            key.curve.name, key.curve.name
        )
        return "EC", key.key_size, f"EC {curve}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256, "Ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456, "Ed448"
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size, f"DSA {key.key_size}"
    return "unknown", 0, type(key).__name__


def weak_key(summary: CertSummary) -> str:
    if summary.key_type == "RSA" and summary.key_bits < _MIN_RSA_BITS:
        return f"an RSA key of {summary.key_bits} bits (use at least {_MIN_RSA_BITS})"
    if summary.key_type == "EC" and summary.key_bits < _MIN_EC_BITS:
        return f"an EC key of {summary.key_bits} bits (use P-256 or larger)"
    if summary.key_type == "DSA":
        return "a DSA key (no longer accepted by current TLS clients)"
    return ""


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


def grade_protocol(version: str) -> Grade:
    if version == "TLSv1.3":
        return Grade.GOOD
    if version == "TLSv1.2":
        return Grade.SUFFICIENT
    return Grade.INSUFFICIENT


def weak_cipher(cipher: str) -> str:
    """Why the negotiated cipher is weak, or "" (TLS 1.3 suites are all fine)."""
    upper = cipher.upper()
    if upper.startswith(("TLS_AES_", "TLS_CHACHA20_")):
        return ""
    for fragment, why in _WEAK_CIPHERS:
        if fragment in upper.split("-") or (fragment in upper and "-" in fragment):
            return why
    return ""


def forward_secrecy(version: str, cipher: str) -> bool:
    """TLS 1.3 always has it; before that only (EC)DHE key exchange does."""
    if version == "TLSv1.3":
        return True
    upper = cipher.upper()
    return upper.startswith(("ECDHE", "DHE", "EDH"))


def check_chain(chain: Sequence[x509.Certificate], trust: TrustStore) -> ChainCheck:
    """Does the presented chain lead to a root in `trust`? Judged apart from the name and dates.

    The verifier is asked about a name the leaf does carry, at a moment inside every presented
    certificate's validity, so that a wrong name or an expired leaf is reported as exactly that
    and not as "untrusted".
    """
    if not chain:
        return ChainCheck(False, ChainProblem.EMPTY, "the server presented no certificate")
    leaf, rest = chain[0], list(chain[1:])
    detail = "no trusted roots are loaded"
    if trust.store is not None:
        try:
            _policy(trust.store, _inside(chain)).build_server_verifier(_subject_for(leaf)).verify(
                leaf, rest
            )
        except (VerificationError, ValueError) as exc:
            detail = str(exc)[:300]
        else:
            return ChainCheck(True, ChainProblem.NONE)
    return _diagnose(chain, trust, detail)


def analyse_probe(
    result: ProbeResult, trust: TrustStore, now: dt.datetime | None = None
) -> TlsAnalysis | None:
    """The certificate and protocol verdict on a probe's TLS session, for its host name."""
    tls = result.tls
    if tls is None:
        return None
    return analyse(
        result.host,
        tls.version,
        tls.cipher,
        tls.chain,
        trust,
        now or dt.datetime.now(dt.UTC),
        complete_capture=tls.complete_capture,
    )


def analyse(
    host: str,
    version: str,
    cipher: str,
    ders: Sequence[bytes],
    trust: TrustStore,
    now: dt.datetime,
    *,
    complete_capture: bool = True,
) -> TlsAnalysis:
    """The whole verdict on one session, for `host` as the reference identifier."""
    chain = load_chain(ders)
    summaries = tuple(summarise(c) for c in chain)
    leaf = summaries[0] if summaries else None
    days_left = (leaf.not_after - now).days if leaf else 0
    if leaf and leaf.not_after < now and days_left >= 0:
        days_left = -1  # expired less than a day ago still counts as expired
    return TlsAnalysis(
        host=host,
        version=version,
        cipher=cipher,
        grade=grade_protocol(version),
        weak_cipher=weak_cipher(cipher),
        forward_secrecy=forward_secrecy(version, cipher),
        chain=summaries,
        chain_complete_capture=complete_capture,
        trust=check_chain(chain, trust),
        name_matches=leaf is not None and name_matches(host, leaf.dns_names, leaf.ip_addresses),
        days_left=days_left,
        not_yet_valid=leaf is not None and leaf.not_before > now,
        weak_key=weak_key(leaf) if leaf else "",
    )


def findings(a: TlsAnalysis, check_id: str, where: str, *, clients_verify: bool) -> list[Finding]:
    """Findings for one session. `where` names the endpoint ("mx.example.com [192.0.2.1]:25").

    `clients_verify`: the peers (mail clients on 465/587/993) refuse an unverifiable certificate.
    On port 25, senders mostly use opportunistic TLS and deliver anyway, so trust and name problems
    are warnings there; MTA-STS and DANE are what make senders strict, and those checks say so.
    """
    strict = Status.FAIL if clients_verify else Status.WARN
    out = _protocol_findings(a, check_id, where) + _certificate_findings(a, check_id, where, strict)
    if not any(f.status.severity >= Status.WARN.severity for f in out):
        out.append(Finding(f"{check_id}.ok", Status.PASS, f"{where}: {describe(a)}."))
    return out


def describe(a: TlsAnalysis) -> str:
    """One line: protocol, cipher, certificate, issuer, expiry, key."""
    version = a.version.replace("TLSv", "TLS ")
    leaf = a.leaf
    if leaf is None:
        return f"{version} ({a.cipher}), no certificate"
    trusted = "trusted chain" if a.trust.trusted else "untrusted chain"
    names = ", ".join(leaf.names[:4]) or leaf.common_name or "(no names)"
    return (
        f"{version} ({a.cipher}); certificate for {names} from {leaf.issuer_name}, "
        f"valid until {leaf.not_after:%Y-%m-%d} ({a.days_left} days), {leaf.key_detail}, {trusted}"
    )


def _protocol_findings(a: TlsAnalysis, check_id: str, where: str) -> list[Finding]:
    out: list[Finding] = []
    if a.grade is Grade.INSUFFICIENT:
        out.append(
            Finding(
                f"{check_id}.protocol_old",
                Status.FAIL,
                f"{where} negotiated {a.version}, which is deprecated (RFC 8996) and insufficient; "
                "senders that require TLS 1.2 will not deliver securely.",
                fix="Enable TLS 1.2 and 1.3 on the server and disable TLS 1.0 and 1.1.",
                evidence=(a.version, a.cipher),
            )
        )
    if a.weak_cipher:
        out.append(
            Finding(
                f"{check_id}.cipher_weak",
                Status.FAIL,
                f"{where} chose the cipher {a.cipher}: {a.weak_cipher}.",
                fix="Remove NULL, export, anonymous, RC4, DES and 3DES suites from the server's "
                "cipher list (for example use the Mozilla 'intermediate' profile).",
                evidence=(a.cipher,),
            )
        )
    elif not a.forward_secrecy:
        out.append(
            Finding(
                f"{check_id}.no_forward_secrecy",
                Status.WARN,
                f"{where} chose {a.cipher}, a suite with RSA key exchange: recorded traffic can be "
                "decrypted later if the server key leaks (no forward secrecy).",
                fix="Prefer ECDHE suites (or enable TLS 1.3) in the server's cipher configuration.",
                evidence=(a.cipher,),
            )
        )
    if a.grade is Grade.SUFFICIENT and not out:
        out.append(
            Finding(
                f"{check_id}.tls12",
                Status.INFO,
                f"{where} negotiated TLS 1.2, which is sufficient; TLS 1.3 would be better.",
                fix="Enable TLS 1.3 when the server software supports it.",
            )
        )
    return out


def _certificate_findings(
    a: TlsAnalysis, check_id: str, where: str, strict: Status
) -> list[Finding]:
    leaf = a.leaf
    if leaf is None:
        return [
            Finding(
                f"{check_id}.cert_missing",
                strict,
                f"{where} presented no certificate.",
                fix="Configure a certificate for the host name on the server.",
            )
        ]
    evidence = _evidence(a)
    out = _trust_findings(a, check_id, where, strict, evidence)
    if not a.name_matches:
        out.append(
            Finding(
                f"{check_id}.cert_name_mismatch",
                strict,
                f"The certificate of {where} does not name {a.host} "
                f"(it names {', '.join(leaf.names[:6]) or 'nothing in its SAN'}), so clients "
                "that verify the name will refuse it.",
                fix=f"Install a certificate whose subjectAltName includes {a.host}.",
                evidence=evidence,
            )
        )
    out.extend(_date_findings(a, check_id, where, leaf, evidence))
    if a.weak_key:
        out.append(
            Finding(
                f"{check_id}.key_weak",
                Status.FAIL,
                f"The certificate of {where} has {a.weak_key}.",
                fix="Issue a new certificate with an RSA 2048+ or EC P-256 key.",
                evidence=evidence,
            )
        )
    if leaf.signature_hash in {"sha1", "md5"}:
        out.append(
            Finding(
                f"{check_id}.signature_weak",
                Status.WARN,
                f"The certificate of {where} is signed with {leaf.signature_hash.upper()}, which "
                "current clients reject.",
                fix="Reissue the certificate with a SHA-256 signature.",
                evidence=evidence,
            )
        )
    if not a.chain_complete_capture:
        out.append(
            Finding(
                f"{check_id}.chain_leaf_only",
                Status.INFO,
                f"Only the leaf certificate of {where} could be captured on this Python; "
                "intermediates were not examined.",
            )
        )
    return out


def _trust_findings(
    a: TlsAnalysis, check_id: str, where: str, strict: Status, evidence: tuple[str, ...]
) -> list[Finding]:
    trust = a.trust
    if trust.trusted:
        return []
    consequence = (
        "mail clients will refuse to connect"
        if strict is Status.FAIL
        else "senders using opportunistic TLS still deliver, but MTA-STS (enforce) and "
        "certificate-checking senders will not"
    )
    ev = (*evidence, trust.detail) if trust.detail else evidence
    match trust.problem:
        case ChainProblem.SELF_SIGNED:
            code, what = "cert_self_signed", "is self-signed"
            fix = "Install a certificate from a public CA (for example Let's Encrypt)."
        case ChainProblem.UNTRUSTED_ROOT:
            root = a.chain[-1].common_name or a.chain[-1].subject
            code, what = "cert_untrusted", f"chains to {root}, a root that is not trusted"
            fix = "Install a certificate from a publicly trusted CA."
        case ChainProblem.INCOMPLETE:
            code = "cert_chain_incomplete"
            what = (
                f"is sent without the intermediate certificate of {trust.missing_issuer} "
                "(or that CA is not trusted)"
            )
            fix = "Configure the server with the full chain (leaf plus intermediates), e.g. fullchain.pem."
        case _:
            code, what = "cert_invalid", "does not verify"
            fix = "Reissue the certificate from a public CA and install the full chain."
    return [
        Finding(
            f"{check_id}.{code}",
            strict,
            f"The certificate of {where} {what}; {consequence}.",
            fix=fix,
            evidence=ev,
        )
    ]


def _date_findings(
    a: TlsAnalysis, check_id: str, where: str, leaf: CertSummary, evidence: tuple[str, ...]
) -> list[Finding]:
    if a.expired:
        return [
            Finding(
                f"{check_id}.cert_expired",
                Status.FAIL,
                f"The certificate of {where} expired on {leaf.not_after:%Y-%m-%d %H:%M} UTC; "
                "certificate-checking senders and clients refuse it.",
                fix="Renew the certificate and reload the mail server.",
                evidence=evidence,
            )
        ]
    if a.not_yet_valid:
        return [
            Finding(
                f"{check_id}.cert_not_yet_valid",
                Status.FAIL,
                f"The certificate of {where} is not valid before "
                f"{leaf.not_before:%Y-%m-%d %H:%M} UTC.",
                fix="Check the server clock and the certificate's dates.",
                evidence=evidence,
            )
        ]
    if a.days_left < EXPIRY_WARN_DAYS:
        return [
            Finding(
                f"{check_id}.cert_expiring",
                Status.WARN,
                f"The certificate of {where} expires on {leaf.not_after:%Y-%m-%d} "
                f"(in {a.days_left} days).",
                fix="Renew it now and check that automatic renewal reloads the mail server.",
                evidence=evidence,
            )
        ]
    return []


def _evidence(a: TlsAnalysis) -> tuple[str, ...]:
    out = [f"{a.version} {a.cipher}"]
    for i, c in enumerate(a.chain):
        out.append(
            f"[{i}] subject={c.subject} issuer={c.issuer} "
            f"valid {c.not_before:%Y-%m-%d}..{c.not_after:%Y-%m-%d} {c.key_detail} "
            f"sha256={c.sha256[:16]}…"
        )
    return tuple(out)


def _diagnose(chain: Sequence[x509.Certificate], trust: TrustStore, detail: str) -> ChainCheck:
    leaf, top = chain[0], chain[-1]
    if len(chain) == 1 and leaf.issuer == leaf.subject and _signed_by(leaf, leaf):
        return ChainCheck(False, ChainProblem.SELF_SIGNED, detail)
    if top.issuer == top.subject:
        return ChainCheck(False, ChainProblem.UNTRUSTED_ROOT, detail)
    if not trust.knows_subject(top.issuer):
        issuer = _attr(top.issuer, NameOID.COMMON_NAME) or top.issuer.rfc4514_string()
        return ChainCheck(False, ChainProblem.INCOMPLETE, detail, missing_issuer=issuer)
    return ChainCheck(False, ChainProblem.INVALID, detail)


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def signed_chain(chain: Sequence[x509.Certificate], upto: int) -> bool:
    """Each certificate from the leaf up to index `upto` is signed by the next one."""
    return all(_signed_by(chain[i], chain[i + 1]) for i in range(upto))


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


def _inside(chain: Sequence[x509.Certificate]) -> dt.datetime:
    start = max(c.not_valid_before_utc for c in chain)
    end = min(c.not_valid_after_utc for c in chain)
    moment = start + dt.timedelta(seconds=1)
    return moment if moment < end else start


def _subject_for(leaf: x509.Certificate) -> DNSName | IPAddress:
    dns_names, ips = _sans(leaf)
    for name in dns_names:
        candidate = "x" + name[1:] if name.startswith("*.") else name
        try:
            return DNSName(candidate)
        except ValueError:
            continue
    if ips:
        return IPAddress(ipaddress.ip_address(ips[0]))
    return DNSName("invalid")  # no SAN: the verifier will say so


def _sans(cert: x509.Certificate) -> tuple[tuple[str, ...], tuple[str, ...]]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return (), ()
    dns_names = tuple(str(n) for n in ext.get_values_for_type(x509.DNSName))
    ips = tuple(str(i) for i in ext.get_values_for_type(x509.IPAddress))
    return dns_names, ips


def _attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else ""


def _same_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, text: str) -> bool:
    try:
        return ipaddress.ip_address(text) == ip
    except ValueError:
        return False
