"""One TLS session as a sender or a mail client would judge it (RFC 8996 versions, RFC 7465 ciphers):
protocol grade, cipher, forward secrecy, and the chain, name, dates and key of its certificate.

Everything here is a pure function of DER bytes, a trust store and a clock, so it is tested without
a network. The probe (`checks.net.probe.capture`) captures the chain with verification off (a server
with a bad certificate must still be described); `checks.tls.chain` judges the chain and the name,
and this module adds the dates, the key, the protocol and the cipher. `checks.tls.findings` turns
the verdict into findings.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass

from checks.net.probe.result import ProbeResult
from checks.net.trust import TrustStore
from checks.tls.certificate import CertSummary, summarise, weak_key
from checks.tls.chain import ChainCheck, check_chain, load_chain, name_matches

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
        trust=check_chain(chain, trust, now),
        name_matches=leaf is not None and name_matches(host, leaf.dns_names, leaf.ip_addresses),
        days_left=days_left,
        not_yet_valid=leaf is not None and leaf.not_before > now,
        weak_key=weak_key(leaf) if leaf else "",
    )
