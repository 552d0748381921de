"""Findings on one TLS session: the protocol and cipher first, then the certificate (trust, name,
dates, key, signature), worded for port 25 (opportunistic senders) or for mail clients (which
verify)."""

from __future__ import annotations

from checks.model import Finding, Status
from checks.tls.analysis import Grade, TlsAnalysis
from checks.tls.certificate import CertSummary
from checks.tls.chain import ChainProblem

EXPIRY_WARN_DAYS = 14


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
