"""DKIM key verdicts (RFC 6376, RFC 8301, RFC 8463): can verifiers use the key at a selector, and
is it strong enough?"""

from __future__ import annotations

from checks.dkim.key import DkimKey, DkimSyntaxError, load_key, parse
from checks.dkim.selectors import Probe
from checks.model import Finding, Status

_MIN_RSA_BITS = 1024  # RFC 8301 3.2: verifiers MUST NOT accept smaller keys
_GOOD_RSA_BITS = 2048  # RFC 8301 3.2: signers SHOULD use at least this
_MAX_RSA_BITS = 4096  # RFC 8301 3.2: verifiers need only support keys up to this size


def judge(p: Probe, *, explicit: bool) -> list[Finding]:
    """Findings for a selector that answered; a revoked key is a warning only when asked for."""
    texts = p.answer.texts()
    where = p.chain
    if len(texts) > 1:
        return [
            Finding(
                "dkim.multiple",
                Status.FAIL,
                f"{where} has {len(texts)} TXT records; RFC 6376 3.6.2.2 leaves the result "
                "undefined, and many verifiers fail DKIM.",
                fix="Keep exactly one key record at this name.",
                evidence=texts,
            )
        ]
    try:
        key = parse(texts[0])
    except DkimSyntaxError as exc:
        return [
            Finding(
                "dkim.invalid",
                Status.FAIL,
                f"The DKIM record at {where} is not valid ({exc}), so verifiers cannot use it and "
                f"mail signed with s={p.selector} fails DKIM.",
                fix="Publish the key record exactly as your provider gives it (v=DKIM1; k=...; p=...).",
                evidence=texts,
            )
        ]
    return _judge_key(p, key, explicit=explicit)


def _judge_key(p: Probe, key: DkimKey, *, explicit: bool) -> list[Finding]:
    where = p.chain
    ev = (key.text,)
    if key.revoked:
        return [
            Finding(
                "dkim.revoked",
                Status.WARN if explicit else Status.INFO,
                f"The DKIM key at {where} is revoked (empty p=); mail signed with s={p.selector} "
                "fails DKIM.",
                fix="Nothing to do if the selector is retired; otherwise publish the current key.",
                evidence=ev,
            )
        ]
    findings = _usage(p, key)
    summary, strength = _strength(p, key)
    findings += strength
    if key.testing:
        findings.append(
            Finding(
                "dkim.testing",
                Status.WARN,
                f"The DKIM key at {where} has t=y (testing): verifiers may treat signed mail as "
                "unsigned (RFC 6376 3.6.1).",
                fix="Remove the y flag from t= once signing works.",
                evidence=ev,
            )
        )
    if summary and not any(f.status.severity >= Status.WARN.severity for f in findings):
        strict = "; t=s: only exact-domain identities" if "s" in key.flags else ""
        findings.append(
            Finding("dkim.ok", Status.PASS, f"DKIM key at {where}: {summary}{strict}.", evidence=ev)
        )
    return findings


def _usage(p: Probe, key: DkimKey) -> list[Finding]:
    """Tags that make the key unusable for e-mail: the service type and the hash algorithms."""
    out: list[Finding] = []
    if not {"*", "email"} & set(key.services):
        out.append(
            Finding(
                "dkim.not_for_email",
                Status.FAIL,
                f"The DKIM key at {p.chain} has s={key.tags.get('s', '')}, which excludes e-mail, "
                "so verifiers must not use it for mail.",
                fix="Remove s= (or set s=email).",
                evidence=(key.text,),
            )
        )
    if key.hashes is not None and "sha256" not in key.hashes:
        out.append(
            Finding(
                "dkim.sha1_only",
                Status.FAIL,
                f"The DKIM key at {p.chain} allows only h={key.tags.get('h', '')}; verifiers no "
                "longer accept rsa-sha1 signatures (RFC 8301), so every signature fails.",
                fix="Remove h= (or set h=sha256) and sign with rsa-sha256.",
                evidence=(key.text,),
            )
        )
    return out


def _strength(p: Probe, key: DkimKey) -> tuple[str, list[Finding]]:
    """A summary of the loaded key ("RSA 2048-bit"), and findings about its size or encoding."""
    ev = (key.text,)
    loaded = load_key(key)
    if isinstance(loaded, str):
        code = (
            "dkim.key_type_unknown"
            if key.key_type not in ("rsa", "ed25519")
            else "dkim.key_invalid"
        )
        return "", [
            Finding(
                code,
                Status.FAIL,
                f"The DKIM key at {p.chain} cannot be used: {loaded}. Mail signed with "
                f"s={p.selector} fails DKIM.",
                fix="Publish the key again, copied exactly from your provider or key generator.",
                evidence=ev,
            )
        ]
    kind, bits, pkcs1 = loaded
    out: list[Finding] = []
    if kind == "ed25519":
        return "Ed25519 (RFC 8463; verifiers without Ed25519 support need an RSA key too)", out
    summary = f"RSA {bits}-bit"
    if bits < _MIN_RSA_BITS:
        out.append(
            _size(
                p,
                key,
                "dkim.key_too_short",
                Status.FAIL,
                bits,
                "verifiers must reject it (RFC 8301), so DKIM fails",
            )
        )
    elif bits < _GOOD_RSA_BITS:
        out.append(
            _size(
                p,
                key,
                "dkim.key_weak",
                Status.WARN,
                bits,
                "RFC 8301 asks for at least 2048 bits, and 1024-bit keys can be factored "
                "by a well-funded attacker",
            )
        )
    elif bits > _MAX_RSA_BITS:
        out.append(
            _size(
                p,
                key,
                "dkim.key_too_long",
                Status.WARN,
                bits,
                "verifiers need only support keys up to 4096 bits (RFC 8301), so some "
                "fail the signature",
            )
        )
    if pkcs1:
        out.append(
            Finding(
                "dkim.key_pkcs1",
                Status.INFO,
                f"The DKIM key at {p.chain} is a bare PKCS#1 RSAPublicKey; most verifiers expect "
                "SubjectPublicKeyInfo (RFC 6376 erratum 3017) and a few may not accept it.",
                fix="Publish the key as SubjectPublicKeyInfo (openssl rsa -pubout output).",
                evidence=ev,
            )
        )
    return summary, out


def _size(p: Probe, key: DkimKey, code: str, status: Status, bits: int, why: str) -> Finding:
    return Finding(
        code,
        status,
        f"The DKIM key at {p.chain} is RSA {bits}-bit: {why}.",
        fix="Generate a 2048-bit RSA key, publish it under a new selector, and switch signing to it.",
        evidence=(key.text,),
    )
