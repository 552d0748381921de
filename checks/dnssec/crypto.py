"""DNSSEC cryptography (RFC 8624, RFC 9276): are a zone's key algorithms, RSA key sizes, DS digests
and NSEC3 parameters ones that validators still trust?

Pure judging: `judge` takes the records the DNSSEC check already fetched and returns findings.
RFC 8624 has since been obsoleted by RFC 9904, which moved the same tables to the IANA registry
without changing the requirements quoted here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import dns.dnssec
import dns.name
import dns.rdtypes.ANY.DNSKEY
import dns.rdtypes.ANY.DS
import dns.rdtypes.ANY.NSEC3PARAM

from checks.model import Finding, Record, Status

_SEP: Final = 0x0001  # DNSKEY flag: secure entry point (a key-signing key)
_ZONE: Final = 0x0100  # DNSKEY flag: a zone key

# RFC 8624 3.1 (DNSSEC signing column): MUST NOT sign with these; validators drop them, so a zone
# signed only with them is treated as insecure (RFC 4035 5.2).
_DEPRECATED: Final = {1: "RSAMD5", 3: "DSA", 6: "DSA-NSEC3-SHA1", 12: "ECC-GOST"}
# RFC 8624 3.1: NOT RECOMMENDED for signing (SHA-1); some validators already refuse SHA-1.
_WEAK: Final = {5: "RSASHA1", 7: "RSASHA1-NSEC3-SHA1"}
_GOOD: Final = {
    8: "RSASHA256",
    10: "RSASHA512",
    13: "ECDSAP256SHA256",
    14: "ECDSAP384SHA384",
    15: "ED25519",
    16: "ED448",
}
_RSA: Final = frozenset({5, 7, 8, 10})  # RSAMD5 (1) is judged by its algorithm alone
_RSA_MIN_BITS: Final = 2048
# RFC 8624 3.3 (DS digests): SHA-1 and GOST "MUST NOT" for delegation; SHA-256 MUST.
_DIGEST_NAMES: Final = {0: "NULL", 1: "SHA-1", 2: "SHA-256", 3: "GOST R 34.11-94", 4: "SHA-384"}
_SOUND_DIGESTS: Final = frozenset({2, 4})
# RFC 9276 3.2: resolvers may treat NSEC3 with high iteration counts as insecure; at the time of
# writing they did so above 150 (BIND, Knot, PowerDNS) or 100 (later Unbound releases).
_ITERATIONS_INSECURE: Final = 100

_ROLL_FIX: Final = (
    "Roll {apex} to algorithm 13 (ECDSAP256SHA256), or 8 (RSASHA256) with a 2048-bit key: "
    "most DNS hosts offer this as an algorithm rollover. Publish the new key's DS at the "
    "registrar, and remove the old DS and key only once the new ones are visible (RFC 6781 4.1.4)."
)


class DnskeySyntaxError(ValueError):
    """The DNSKEY public key field is not a well-formed key for its algorithm."""


@dataclass(frozen=True, slots=True)
class ZoneKeys:
    """The DNSSEC records of one zone, as fetched: DNSKEY, the parent's DS, NSEC3PARAM."""

    apex: str
    dnskeys: tuple[dns.rdtypes.ANY.DNSKEY.DNSKEY, ...] = ()
    ds: tuple[dns.rdtypes.ANY.DS.DS, ...] = ()
    nsec3params: tuple[dns.rdtypes.ANY.NSEC3PARAM.NSEC3PARAM, ...] = ()


def rsa_modulus_bits(key: bytes) -> int:
    """The size of an RSA DNSKEY's modulus (RFC 3110 2: exponent length, exponent, modulus)."""
    if not key:
        raise DnskeySyntaxError("the RSA key is empty")
    if key[0]:
        exp_len, start = key[0], 1
    elif len(key) >= 3:
        exp_len, start = int.from_bytes(key[1:3], "big"), 3
    else:
        raise DnskeySyntaxError("the RSA key ends inside its exponent length")
    modulus = key[start + exp_len :]
    if exp_len == 0 or len(key) < start + exp_len or not modulus:
        raise DnskeySyntaxError("the RSA key has no exponent or no modulus")
    return int.from_bytes(modulus, "big").bit_length()


def judge(zone: ZoneKeys) -> list[Finding]:
    """Findings on the cryptography of one signed zone; [] when it is all sound."""
    keys = [k for k in zone.dnskeys if k.flags & _ZONE]
    return [
        *_algorithm_findings(zone, keys),
        *_rsa_findings(zone.apex, keys),
        *_ds_findings(zone, keys),
        *_nsec3_findings(zone.apex, zone.nsec3params),
    ]


def only_deprecated_algorithms(zone: ZoneKeys) -> bool:
    """Is every key algorithm in use one that validators no longer implement (RFC 8624 3.1)?"""
    algorithms = {k.algorithm for k in zone.dnskeys if k.flags & _ZONE} or {
        ds.algorithm for ds in zone.ds
    }
    return bool(algorithms) and algorithms <= _DEPRECATED.keys()


def algorithm_name(algorithm: int) -> str:
    name = _DEPRECATED.get(algorithm) or _WEAK.get(algorithm) or _GOOD.get(algorithm)
    return f"algorithm {algorithm} ({name})" if name else f"algorithm {algorithm}"


# ---- key algorithms ---------------------------------------------------------------------------


def _algorithm_findings(
    zone: ZoneKeys, keys: Sequence[dns.rdtypes.ANY.DNSKEY.DNSKEY]
) -> list[Finding]:
    """One finding per deprecated or weak algorithm in use (DNSKEYs, else the DS records)."""
    in_use: dict[int, list[str]] = {}
    for key in keys:
        in_use.setdefault(key.algorithm, []).append(str(dns.dnssec.key_id(key)))
    if not keys:
        for ds in zone.ds:
            in_use.setdefault(ds.algorithm, []).append(str(ds.key_tag))
    sound = any(a in _GOOD for a in in_use)
    findings = []
    for algorithm, tags in sorted(in_use.items()):
        what = f"{zone.apex} is signed with {algorithm_name(algorithm)} (key tag {', '.join(tags)})"
        if algorithm in _DEPRECATED:
            findings.append(_deprecated(zone.apex, what, sound))
        elif algorithm in _WEAK:
            findings.append(
                Finding(
                    "dnssec.algorithm_weak",
                    Status.WARN,
                    f"{what}, which RFC 8624 3.1 marks NOT RECOMMENDED for signing because it "
                    "relies on SHA-1; some validators (for example on systems that disable SHA-1 "
                    "signatures) already treat such zones as insecure, and DANE with them.",
                    fix=_ROLL_FIX.format(apex=zone.apex),
                )
            )
    return findings


def _deprecated(apex: str, what: str, sound: bool) -> Finding:
    if sound:  # RFC 6840 5.11: validators use whichever algorithm they support
        consequence = (
            "Validators ignore those keys; the zone still validates through its other algorithm, "
            "so this is an unfinished algorithm rollover."
        )
        fix = f"Finish the rollover: remove the old keys from {apex} and their DS at the registrar."
    else:
        consequence = (
            "Validators do not implement it, so they treat the zone as unsigned: the protection "
            "of your MX and other records, and DANE for mail to you, are lost."
        )
        fix = _ROLL_FIX.format(apex=apex)
    return Finding(
        "dnssec.algorithm_deprecated",
        Status.WARN if sound else Status.FAIL,
        f"{what}, which RFC 8624 3.1 says MUST NOT be used for signing. {consequence}",
        fix=fix,
    )


def _rsa_findings(apex: str, keys: Sequence[dns.rdtypes.ANY.DNSKEY.DNSKEY]) -> list[Finding]:
    short: list[str] = []
    for key in keys:
        if key.algorithm not in _RSA:
            continue
        try:
            bits = rsa_modulus_bits(key.key)
        except DnskeySyntaxError:
            continue  # a malformed key cannot validate anything; the chain verdict shows that
        if bits < _RSA_MIN_BITS:
            role = "KSK" if key.flags & _SEP else "ZSK"
            short.append(f"{role} {dns.dnssec.key_id(key)} ({bits} bits)")
    if not short:
        return []
    return [
        Finding(
            "dnssec.rsa_key_short",
            Status.WARN,
            f"{apex} uses RSA keys shorter than {_RSA_MIN_BITS} bits: {', '.join(short)}. "
            "Keys this short are below current guidance (NIST SP 800-131A has disallowed RSA "
            "signatures under 2048 bits since 2013) and within reach of a determined attacker.",
            fix=f"Roll the keys of {apex} to 2048-bit RSA, or better to algorithm 13 "
            "(ECDSAP256SHA256), which is shorter and stronger.",
        )
    ]


# ---- DS digests -------------------------------------------------------------------------------


def _ds_findings(zone: ZoneKeys, keys: Sequence[dns.rdtypes.ANY.DNSKEY.DNSKEY]) -> list[Finding]:
    digests = {ds.digest_type for ds in zone.ds}
    if not digests or digests & _SOUND_DIGESTS:
        return []
    tags = ", ".join(sorted({str(ds.key_tag) for ds in zone.ds}))
    used = ", ".join(f"{d} ({_DIGEST_NAMES.get(d, 'unknown')})" for d in sorted(digests))
    record = _sha256_ds(zone, keys)
    if digests == {1}:
        return [
            Finding(
                "dnssec.ds_sha1",
                Status.WARN,
                f"The parent zone's DS record for {zone.apex} (key tag {tags}) uses only digest "
                "type 1 (SHA-1). RFC 8624 3.3 says SHA-1 MUST NOT be used for DNSSEC delegation "
                "(new DS records), though validators must still accept it; validators that "
                "disable SHA-1 treat the zone as insecure.",
                fix=f"Publish a SHA-256 DS (digest type 2) for {zone.apex} at the registrar"
                + (" (this one)" if record else "")
                + ", then remove the SHA-1 DS once its TTL has passed.",
                record=record,
            )
        ]
    return [
        Finding(
            "dnssec.ds_digest_deprecated",
            Status.FAIL,
            f"The parent zone's DS record for {zone.apex} (key tag {tags}) uses only digest "
            f"type {used}. RFC 8624 3.3 says GOST MUST NOT be used for delegation and validators "
            "need not implement it; those that do not treat the zone as insecure, so the "
            "protection of your records and DANE are lost.",
            fix=f"Replace the DS for {zone.apex} at the registrar with a SHA-256 DS "
            "(digest type 2)" + (" (this one)." if record else "."),
            record=record,
        )
    ]


def _sha256_ds(zone: ZoneKeys, keys: Sequence[dns.rdtypes.ANY.DNSKEY.DNSKEY]) -> Record | None:
    """The SHA-256 DS for the key the existing DS points at (else the first KSK)."""
    tags = {ds.key_tag for ds in zone.ds}
    ksks = [k for k in keys if k.flags & _SEP] or list(keys)
    chosen = [k for k in ksks if dns.dnssec.key_id(k) in tags] or ksks
    if not chosen:
        return None
    ds = dns.dnssec.make_ds(dns.name.from_text(zone.apex), chosen[0], "SHA256")
    return Record(f"{zone.apex}.", "DS", ds.to_text())


# ---- NSEC3 ------------------------------------------------------------------------------------


def _nsec3_findings(
    apex: str, params: Sequence[dns.rdtypes.ANY.NSEC3PARAM.NSEC3PARAM]
) -> list[Finding]:
    findings = []
    iterations = max((p.iterations for p in params), default=0)
    if iterations > 0:
        risk = (
            "Current validators already treat NSEC3 with more than 100 or 150 iterations as "
            "insecure, so proofs that a name (for example a TLSA record) does not exist stop "
            "being trusted."
            if iterations > _ITERATIONS_INSECURE
            else "Validators may treat such NSEC3 answers as insecure (RFC 9276 3.2), and every "
            "extra iteration adds CPU cost for them and for your servers."
        )
        findings.append(
            Finding(
                "dnssec.nsec3_iterations",
                Status.WARN,
                f"{apex} uses NSEC3 with {iterations} extra hash iterations; RFC 9276 3.1 says "
                f"the iteration count MUST be 0. {risk}",
                fix=f"Re-sign {apex} with NSEC3 iterations 0 and an empty salt "
                "(NSEC3PARAM 1 0 0 -), or switch to NSEC.",
                evidence=tuple(f"NSEC3PARAM {p.to_text()}" for p in params),
            )
        )
    if any(p.salt for p in params):
        findings.append(
            Finding(
                "dnssec.nsec3_salt",
                Status.INFO,
                f"{apex} uses an NSEC3 salt. RFC 9276 3.1 says operators SHOULD NOT use one: it "
                "does not stop zone walking, and changing it means re-signing the whole zone.",
                fix=f"At the next re-signing of {apex}, use an empty salt (NSEC3PARAM 1 0 0 -).",
                evidence=tuple(f"NSEC3PARAM {p.to_text()}" for p in params),
            )
        )
    return findings
