"""DKIM (RFC 6376, RFC 8301, RFC 8463): does each DKIM-Signature on the message verify, and when
it does not, why: body changed, a signed header changed, key missing, revoked, expired or weak?

The cryptography is `dkimpy`'s (the maintained verifier). Its DNS is ours: every key is looked
up first through the report's `DnsClient` (the configured resolvers, never the system's), and
dkimpy's `dnsfunc` only reads those answers back, so it never touches the network itself. The key
is judged (missing, revoked, weak) by mxbot's own key reader, `checks.dkim.key`, and `x=` with the
injected clock, so a verdict names the reason rather than dkimpy's bare False.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import dkim
import dkim.util

from checks.dkim.key import DkimSyntaxError, load_key
from checks.dkim.key import parse as parse_key
from checks.message.hops import span
from checks.message.parse import Parsed
from checks.model import Finding, Status
from checks.net.dns import Answer, DnsClient, Outcome

ID: Final = "dkim_verify"
TITLE: Final = "DKIM signatures"

MIN_BITS: Final = 1024  # RFC 8301 3.2: verifiers MUST NOT accept smaller RSA keys
GOOD_BITS: Final = 2048  # RFC 8301 3.2: signers SHOULD use at least this
MAX_SIGNATURES: Final = 10  # more is an attack on the verifier, not mail
# dkimpy logs at error level; its messages carry no body, but keep them out of the app's log.
_QUIET = logging.getLogger("checks.message.dkimpy")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


@dataclass(frozen=True, slots=True)
class Signature:
    """One DKIM-Signature's verdict: "pass" or the reason it failed (a finding code's tail)."""

    domain: str  # d=
    selector: str  # s=
    verdict: str
    detail: str = ""
    signed: tuple[str, ...] = ()  # h=, lower-cased
    bits: int = 0
    algorithm: str = ""
    testing: bool = False  # the key says t=y
    key_type: str = ""  # "rsa" or "ed25519", once the key is read

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    @property
    def key_name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"


@dataclass(frozen=True, slots=True)
class _Tags:
    index: int
    tags: Mapping[bytes, bytes]

    def text(self, name: bytes) -> str:
        return self.tags.get(name, b"").decode("ascii", "replace").strip()


async def verify_all(
    parsed: Parsed, dns: DnsClient, *, now: float, headers_only: bool
) -> tuple[Signature, ...]:
    """Every signature's verdict, top to bottom (keys fetched at once)."""
    values = parsed.get_all("DKIM-Signature")[:MAX_SIGNATURES]
    tagged: list[_Tags | Signature] = [_tags(i, v) for i, v in enumerate(values)]
    names = {_key_name(t) for t in tagged if isinstance(t, _Tags)}
    answers = dict(zip(names, await asyncio.gather(*(dns.txt(n) for n in names)), strict=True))
    prejudged = [t if isinstance(t, Signature) else _prejudge(t, answers, now) for t in tagged]
    todo = [
        (t, p.signature)
        for t, p in zip(tagged, prejudged, strict=True)
        if isinstance(t, _Tags) and isinstance(p, _Ready)
    ]
    if not todo:
        return tuple(p for p in prejudged if isinstance(p, Signature))
    keys = {n: _first_key(a) for n, a in answers.items()}
    checked = await asyncio.to_thread(_crypto, parsed.raw, todo, keys, headers_only)
    out = iter(checked)
    return tuple(next(out) if isinstance(p, _Ready) else p for p in prejudged)


def judge(signatures: Sequence[Signature], *, headers_only: bool) -> list[Finding]:
    if not signatures:
        return [
            Finding(
                "dkim_verify.none",
                Status.WARN,
                "The message carries no DKIM signature, so DMARC can rest on SPF alone, which "
                "forwarding breaks; Gmail, Yahoo and Microsoft require DKIM of bulk senders.",
                fix="Sign outgoing mail with DKIM for the From domain (mxbot dkim keygen makes "
                "the key and the record).",
            )
        ]
    findings = [_finding(s) for s in signatures]
    findings += [
        _short(s) for s in signatures if s.passed and s.key_type == "rsa" and s.bits < GOOD_BITS
    ]
    if headers_only:
        findings.append(
            Finding(
                "dkim_verify.headers_only",
                Status.INFO,
                "Only headers were given: the header signatures were verified, the body hashes "
                "(bh=) could not be.",
            )
        )
    return findings


# ---- before the cryptography ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Ready:
    """Passed every check mxbot makes itself; the cryptography decides."""

    signature: Signature


def _tags(index: int, value: str) -> _Tags | Signature:
    try:
        tags = dkim.util.parse_tag_value(value.encode("utf-8", "replace"))
    except (dkim.util.InvalidTagValueList, ValueError, IndexError) as exc:
        return Signature("", "", "malformed", f"the DKIM-Signature is not a tag list ({exc})")
    sig = _Tags(index, tags)
    missing = [t for t in ("d", "s", "b", "bh", "h", "a") if t.encode() not in tags]
    if missing:
        return _signature(sig, "malformed", f"it lacks {', '.join(t + '=' for t in missing)}")
    return sig


def _signature(sig: _Tags, verdict: str, detail: str = "", **kw: Any) -> Signature:
    signed = tuple(h.strip().lower() for h in sig.text(b"h").split(":") if h.strip())
    return Signature(
        sig.text(b"d").lower(),
        sig.text(b"s").lower(),
        verdict,
        detail,
        signed,
        algorithm=sig.text(b"a"),
        **kw,
    )


def _key_name(sig: _Tags) -> str:
    return f"{sig.text(b's')}._domainkey.{sig.text(b'd')}".lower().rstrip(".")


def _first_key(answer: Answer) -> str | None:
    texts = answer.texts() if answer.ok else ()
    return next((t for t in texts if "p=" in t), texts[0] if texts else None)


def _prejudge(sig: _Tags, answers: Mapping[str, Answer], now: float) -> Signature | _Ready:
    """The verdicts that need no cryptography: expiry, and the key as published."""
    expiry = sig.text(b"x")
    if expiry.isdigit() and int(expiry) < now:
        ago = span(now - int(expiry))
        return _signature(sig, "expired", f"its x= expiry passed {ago} ago")
    name = _key_name(sig)
    answer = answers[name]
    if answer.failed:
        return _signature(
            sig, "lookup_failed", f"the key lookup of {name} failed: {answer.describe()}"
        )
    text = _first_key(answer)
    if text is None:
        why = "the name does not exist" if answer.outcome is Outcome.NXDOMAIN else "no TXT record"
        return _signature(sig, "key_missing", f"there is no key at {name} ({why})")
    try:
        key = parse_key(text)
    except DkimSyntaxError as exc:
        return _signature(sig, "key_invalid", f"the key record at {name} is unusable: {exc}")
    if key.revoked:
        return _signature(sig, "key_revoked", f"the key at {name} is revoked (empty p=)")
    loaded = load_key(key)
    if isinstance(loaded, str):
        return _signature(sig, "key_invalid", f"the key at {name} does not load: {loaded}")
    kind, bits, _ = loaded
    if kind == "rsa" and bits < MIN_BITS:
        return _signature(sig, "weak_key", f"the key at {name} is {bits}-bit RSA", bits=bits)
    return _Ready(_signature(sig, "pass", bits=bits, testing=key.testing, key_type=kind))


# ---- the cryptography (in a thread: a large body takes a moment to hash) -----------------------


def _crypto(
    raw: bytes,
    todo: Sequence[tuple[_Tags, Signature]],
    keys: Mapping[str, str | None],
    headers_only: bool,
) -> list[Signature]:
    def dnsfunc(name: bytes, timeout: float = 5) -> bytes | None:
        found = keys.get(name.decode("ascii", "replace").lower().rstrip("."))
        return found.encode("utf-8") if found is not None else None

    try:
        verifier = dkim.DKIM(raw, logger=_QUIET, minkey=0)
    except dkim.DKIMException as exc:
        why = f"the message cannot be read for DKIM ({exc})"
        return [_failed(ready, "malformed", why) for _, ready in todo]
    return [_one(verifier, sig, ready, dnsfunc, headers_only) for sig, ready in todo]


def _one(
    verifier: dkim.DKIM, sig: _Tags, ready: Signature, dnsfunc: Any, headers_only: bool
) -> Signature:
    # x= and t= are judged with the injected clock (`_prejudge`), not dkimpy's own time.time():
    # they are left out of the fields dkimpy validates (the hash still covers the header as sent).
    tags = {k: v for k, v in sig.tags.items() if k not in (b"x", b"t")}
    if headers_only:  # no body to hash: check what the header signature covers only
        tags.pop(b"bh", None)
    fields = [f for f in verifier.headers if f[0].lower() == b"dkim-signature"]
    if sig.index >= len(fields):
        return _failed(ready, "malformed", "the signature could not be read")
    include = [h.strip().lower() for h in re.split(rb"\s*:\s*", sig.tags[b"h"])]
    try:
        dkim.validate_signature_fields({**tags, b"bh": sig.tags[b"bh"]})
        ok = verifier.verify_sig(tags, include, fields[sig.index], dnsfunc)
    except dkim.ValidationError as exc:
        text = str(exc)
        if text.startswith("body hash mismatch"):
            return _failed(ready, "body_hash_mismatch", "the body hash does not match")
        return _failed(ready, "malformed", text)
    except dkim.KeyFormatError as exc:
        return _failed(ready, "key_invalid", str(exc))
    except dkim.DKIMException as exc:
        return _failed(ready, "malformed", str(exc) or type(exc).__name__)
    if ok:
        return ready
    return _failed(ready, "signature_mismatch", "the header signature (b=) does not verify")


def _failed(sig: Signature, verdict: str, detail: str) -> Signature:
    return Signature(
        sig.domain,
        sig.selector,
        verdict,
        detail,
        sig.signed,
        sig.bits,
        sig.algorithm,
        sig.testing,
        sig.key_type,
    )


# ---- findings ----------------------------------------------------------------------------------

_FAILURES: Final = {
    "body_hash_mismatch": (
        "body hash mismatch: the body changed after it was signed (a mailing-list footer, a "
        "disclaimer or signature added by a gateway, or rewritten line endings)",
        "Find what alters the body after signing (list footer, gateway disclaimer, antivirus "
        "tag) and have it sign after, or stop it; ARC lets a forwarder vouch for its change.",
    ),
    "signature_mismatch": (
        "header signature mismatch: a signed header field changed on the way (a [tag] added to "
        "the Subject, From rewritten), or the key in DNS is not the one that signed",
        "Compare the published key with the signer's private key, and stop gateways from "
        "rewriting signed header fields.",
    ),
    "key_missing": (
        "the selector's public key is not published",
        "Publish the selector's key (the signer's DNS record), or sign with a selector that is "
        "published.",
    ),
    "key_revoked": (
        "the key is revoked (p= is empty), so every signature made with it fails",
        "Sign with the current selector; a revoked key means the signer still uses an old one.",
    ),
    "expired": (
        "the signature has expired (x=)",
        "Give signatures a longer x= (days, not hours), or drop x=: messages sit in queues.",
    ),
    "weak_key": (
        f"the key is shorter than {MIN_BITS} bits, so receivers treat the signature as absent "
        "(RFC 8301)",
        "Generate a 2048-bit key (`mxbot dkim keygen`), publish it under a new selector, sign "
        "with it.",
    ),
    "key_invalid": ("the key record is unusable", "Republish the key record from the signer."),
    "malformed": ("the signature is malformed", "Fix the signer: its signatures do not parse."),
    "lookup_failed": ("the key could not be looked up", "Run it again; DNS did not answer."),
}


def _finding(sig: Signature) -> Finding:
    who = f"d={sig.domain or '?'} s={sig.selector or '?'}"
    if sig.passed:
        kind = "Ed25519" if sig.key_type == "ed25519" else "RSA"
        size = f", {sig.bits}-bit {kind} key" if sig.bits else ""
        note = "; the key is in test mode (t=y)" if sig.testing else ""
        return Finding(
            "dkim_verify.pass", Status.PASS, f"The DKIM signature {who} verifies{size}{note}."
        )
    what, fix = _FAILURES.get(sig.verdict, ("it does not verify", ""))
    status = Status.ERROR if sig.verdict == "lookup_failed" else Status.FAIL
    return Finding(
        f"dkim_verify.{sig.verdict}",
        status,
        f"The DKIM signature {who} fails: {what}.",
        fix=fix,
        evidence=(sig.detail,) if sig.detail else (),
    )


def _short(sig: Signature) -> Finding:
    return Finding(
        "dkim_verify.short_key",
        Status.WARN,
        f"The key at {sig.key_name} is {sig.bits}-bit RSA; RFC 8301 asks for at least "
        f"{GOOD_BITS} bits, and 1024-bit keys are within reach of a determined attacker.",
        fix="Roll to a 2048-bit key under a new selector (`mxbot dkim keygen`).",
    )
