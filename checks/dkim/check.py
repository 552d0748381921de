"""DKIM (RFC 6376, RFC 8301, RFC 8463): are the domain's public keys published, usable and strong?

Selectors cannot be listed, so without `--selector` we probe the ones the big providers use and
report what we find; finding none is information, never a failure. RFC 8020 lets us stop early:
NXDOMAIN at `_domainkey.<domain>` means no name below it, so no selector, can exist.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Final

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from checks import tagvalue
from checks.context import Context
from checks.model import DOMAIN, Finding, Status
from checks.net.dns import Answer, Outcome

ID: Final = "dkim"
TITLE: Final = "DKIM"
SCOPE: Final = DOMAIN

# Selectors probed when none is given: (selector, who uses it). Providers that make up random or
# dated selectors cannot be found this way (see _UNGUESSABLE).
COMMON_SELECTORS: Final[tuple[tuple[str, str], ...]] = (
    ("google", "Google Workspace"),
    ("selector1", "Microsoft 365"),  # Exchange Online: selector1/selector2 CNAMEs
    ("selector2", "Microsoft 365"),
    ("s1", "SendGrid"),  # SendGrid automated security: s1/s2 CNAMEs
    ("s2", "SendGrid"),
    ("smtpapi", "SendGrid (legacy)"),
    ("k1", "Mailchimp"),  # Mailchimp: k1 (k2, k3 for newer set-ups)
    ("k2", "Mailchimp"),
    ("k3", "Mailchimp"),
    ("mandrill", "Mandrill (Mailchimp Transactional)"),
    ("fm1", "Fastmail"),  # Fastmail: fm1/fm2/fm3 CNAMEs to dkim.fmhosted.com
    ("fm2", "Fastmail"),
    ("fm3", "Fastmail"),
    ("zoho", "Zoho Mail"),
    ("zmail", "Zoho Mail"),
    ("mg", "Mailgun"),  # Mailgun: mg, mailo, pic, smtp depending on account age
    ("mailo", "Mailgun"),
    ("pic", "Mailgun"),
    ("smtp", "Mailgun (legacy)"),
    ("pm", "Postmark"),  # Postmark: mostly dated selectors like 20240101123456pm
    ("protonmail", "Proton Mail"),  # Proton: protonmail, protonmail2, protonmail3 CNAMEs
    ("protonmail2", "Proton Mail"),
    ("protonmail3", "Proton Mail"),
    ("sig1", "iCloud Mail custom domains"),
    ("mailjet", "Mailjet"),
    ("hs1", "HubSpot"),
    ("hs2", "HubSpot"),
    ("zendesk1", "Zendesk"),
    ("zendesk2", "Zendesk"),
    ("default", "generic (cPanel, OpenDKIM, rspamd defaults)"),
    ("dkim", "generic (rspamd, Mail-in-a-Box)"),
    ("mail", "generic (many MTAs, Brevo)"),
    ("selector", "generic"),
    ("key1", "generic"),
    ("key2", "generic"),
    ("s1024", "generic (key-size named)"),
    ("s2048", "generic (key-size named)"),
)
_UNGUESSABLE: Final = (
    "Amazon SES (Easy DKIM uses three random per-domain selectors)",
    "Postmark (dated selectors such as 20240101123456pm)",
)
_MIN_RSA_BITS = 1024  # RFC 8301 3.2: verifiers MUST NOT accept smaller keys
_GOOD_RSA_BITS = 2048  # RFC 8301 3.2: signers SHOULD use at least this
_MAX_RSA_BITS = 4096  # RFC 8301 3.2: verifiers need only support keys up to this size
_WSP = re.compile(r"[ \t\r\n]+")
_GRAMMAR: Final = tagvalue.Grammar(
    tag_name=tagvalue.TAG_NAME,  # RFC 6376 3.2: ALPHA *ALNUMPUNC
    fold_case=False,  # RFC 6376 3.2: tags are interpreted case-sensitively
    version=tagvalue.Version.OPTIONAL_FIRST,  # RFC 6376 3.6.1: v= MUST be the first tag
    on_problem=tagvalue.OnProblem.REJECT_RECORD,  # RFC 6376 3.2: a duplicate invalidates the list
    space_around_semicolon=tagvalue.FWS,  # RFC 6376 3.2: tag-spec = [FWS] ... [FWS]
    space_before_equals=tagvalue.FWS,  # RFC 6376 3.2: tag-name [FWS] "=" [FWS] tag-value
    space_after_equals=tagvalue.FWS,
    blank=tagvalue.ANY_SPACE,  # empty specs of any whitespace are tolerated, as verifiers do
)


class DkimSyntaxError(ValueError):
    """The text is not a DKIM key record a verifier would use; the message says why."""


@dataclass(frozen=True, slots=True)
class DkimKey:
    """A parsed key record (RFC 6376 3.6.1); `public_key` is the decoded p= (empty: revoked)."""

    text: str
    tags: Mapping[str, str]
    key_type: str = "rsa"
    public_key: bytes = b""
    flags: tuple[str, ...] = ()
    hashes: tuple[str, ...] | None = None  # None: h= absent, every algorithm allowed
    services: tuple[str, ...] = ("*",)
    notes: str = ""

    @property
    def revoked(self) -> bool:
        return not self.public_key

    @property
    def testing(self) -> bool:
        return "y" in self.flags


def parse(text: str) -> DkimKey:
    """Parse one key record (TXT strings already joined). Pure and total: only DkimSyntaxError."""
    read = tagvalue.parse(text, _GRAMMAR)
    if read.problems:
        raise DkimSyntaxError(_describe(read.problems[0]))
    tags = read.tags
    if "v" in tags and tags["v"] != "DKIM1":
        raise DkimSyntaxError(f"v={tags['v']}: the only version is DKIM1")
    if "p" not in tags:
        raise DkimSyntaxError("the p= tag (the public key) is missing")
    return DkimKey(
        text=text,
        tags=tags,
        key_type=tags.get("k", "rsa").lower(),
        public_key=_base64(tags["p"]),
        flags=_list(tags.get("t", "")),
        hashes=_list(tags["h"]) if "h" in tags else None,
        services=_list(tags.get("s", "*")),
        notes=tags.get("n", ""),
    )


def _describe(problem: tagvalue.Problem) -> str:
    match problem.kind:
        case tagvalue.Kind.NOT_A_PAIR:
            return f"{problem.entry!r} is not a tag=value pair"
        case tagvalue.Kind.DUPLICATE:  # RFC 6376 3.2: it makes the whole record invalid
            return f"the tag {problem.name}= appears twice"
        case tagvalue.Kind.VERSION_NOT_FIRST:
            return "v= must be the first tag"


def _list(value: str) -> tuple[str, ...]:
    return tuple(v for v in (_WSP.sub("", x).lower() for x in value.split(":")) if v)


def _base64(value: str) -> bytes:
    data = _WSP.sub("", value)  # RFC 6376 3.6.1: FWS may appear inside base64 values
    try:
        return base64.b64decode(data.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise DkimSyntaxError("p= is not valid base64") from exc


# ---- the check ---------------------------------------------------------------------------------


# A selector no one publishes: if it answers, a wildcard covers _domainkey.
_CANARY: Final = "mxbot-no-such-selector"
# DKIM key records must carry p= (RFC 6376 3.6.1) and may start with v=DKIM1.
_DKIM_LIKE = re.compile(r"(^|;)\s*p\s*=|^\s*v\s*=\s*DKIM1\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class _Probe:
    selector: str
    answer: Answer

    @property
    def name(self) -> str:
        return self.answer.name

    @property
    def chain(self) -> str:
        return " → ".join((self.name, *self.answer.cnames))


async def run(ctx: Context) -> list[Finding]:
    parent_name = f"_domainkey.{ctx.domain}"
    explicit = ctx.options.selectors
    if explicit:
        parent, probes = await asyncio.gather(
            ctx.dns.txt(parent_name), _probe(ctx, tuple(s.lower() for s in explicit))
        )
        findings = [f for p in probes for f in _explicit(p)]
        if (
            parent.outcome is Outcome.NXDOMAIN
            and not parent.cnames
            and any(p.answer.ok for p in probes)
        ):
            findings.append(_nxdomain_parent(parent_name))
        return findings
    parent = await ctx.dns.txt(parent_name)
    if parent.outcome is Outcome.NXDOMAIN and not parent.cnames:
        return [
            Finding(
                "dkim.no_domainkey",
                Status.INFO,
                f"{parent_name} does not exist (NXDOMAIN), so no DKIM selector can exist below it "
                "(RFC 8020); no selectors were probed. Mail from this domain is not DKIM-signed "
                "with its own domain.",
                fix="If you send mail, publish the DKIM key your provider gives you.",
            )
        ]
    canary, probes = await asyncio.gather(
        ctx.dns.txt(f"{_CANARY}.{parent_name}"),
        _probe(ctx, tuple(s for s, _ in COMMON_SELECTORS)),
    )
    kept = [_unless_noise(p, canary) for p in probes]
    notes = [_wildcard(canary)] if canary.ok else []
    return notes + _summarise(kept)


def _unless_noise(p: _Probe, canary: Answer) -> _Probe:
    """A guessed selector whose answer is a wildcard's (the same as a name nobody uses) or not a
    DKIM record at all (a zone-wide `* TXT "v=spf1 …"`) found nothing: say so, don't judge it."""
    if not p.answer.ok:
        return p
    texts = p.answer.texts()
    wildcard = canary.ok and set(texts) == set(canary.texts())
    if wildcard or not any(_DKIM_LIKE.search(t) for t in texts):
        return _Probe(p.selector, replace(p.answer, outcome=Outcome.NODATA, rdata=()))
    return p


def _wildcard(canary: Answer) -> Finding:
    shown = "; ".join(canary.texts())[:120]
    return Finding(
        "dkim.wildcard",
        Status.INFO,
        f"{canary.name} answers although no one publishes that selector: a wildcard TXT record "
        f'covers every name there ("{shown}"). Selectors answering exactly the same were not '
        "counted as DKIM keys.",
        fix="If the wildcard is not meant to cover _domainkey, narrow it; explicit selector "
        "records are unaffected.",
        evidence=canary.texts(),
    )


async def _probe(ctx: Context, selectors: tuple[str, ...]) -> list[_Probe]:
    unique = tuple(dict.fromkeys(selectors))
    answers = await asyncio.gather(*(ctx.dns.txt(f"{s}._domainkey.{ctx.domain}") for s in unique))
    return [_Probe(s, a) for s, a in zip(unique, answers, strict=True)]


def _explicit(p: _Probe) -> list[Finding]:
    if p.answer.failed:
        return [_lookup_failed(p)]
    if not p.answer.ok:
        via = f" (the CNAME chain {p.chain} ends nowhere)" if p.answer.cnames else ""
        return [
            Finding(
                "dkim.selector_missing",
                Status.FAIL,
                f"There is no DKIM key at {p.name}{via}: {p.answer.describe()}. Mail signed with "
                f"s={p.selector} fails DKIM everywhere.",
                fix="Publish the key your mail provider or signing server gives for this selector.",
                evidence=p.answer.cnames,
            )
        ]
    return _judge(p, explicit=True)


def _summarise(probes: list[_Probe]) -> list[Finding]:
    found = [p for p in probes if p.answer.ok]
    failed = [p for p in probes if p.answer.failed]
    findings = [f for p in found for f in _judge(p, explicit=False)]
    findings += [
        _dangling(p) for p in probes if p.answer.cnames and not p.answer.ok and not p.answer.failed
    ]
    if found:
        return findings
    if failed:
        names = ", ".join(p.name for p in failed[:5]) + (" …" if len(failed) > 5 else "")
        return [
            *findings,
            Finding(
                "dkim.lookup_failed",
                Status.ERROR,
                f"No DKIM key was found, but {len(failed)} selector lookups failed ({names}: "
                f"{failed[0].answer.describe()}), so the search is incomplete.",
            ),
        ]
    tried = ", ".join(p.selector for p in probes)
    return [
        *findings,
        Finding(
            "dkim.none_found",
            Status.INFO,
            f"No DKIM key was found at the {len(probes)} common selectors ({tried}). Selectors "
            "cannot be listed, so this does not mean mail is unsigned; "
            + "; ".join(_UNGUESSABLE)
            + " cannot be guessed.",
            fix="Look at the s= tag of the DKIM-Signature header in a message you sent, and run "
            "the check with that selector.",
        ),
    ]


def _lookup_failed(p: _Probe) -> Finding:
    return Finding(
        "dkim.lookup_failed",
        Status.ERROR,
        f"The DNS lookup of {p.name} failed ({p.answer.describe()}), so the key cannot be checked.",
    )


def _dangling(p: _Probe) -> Finding:
    return Finding(
        "dkim.cname_dangling",
        Status.WARN,
        f"{p.name} is a CNAME that leads nowhere ({p.chain}: {p.answer.describe()}); the provider "
        "no longer publishes that key, so mail still signed with it fails DKIM.",
        fix=f"Remove the CNAME at {p.name} if you no longer use that provider, or re-enable DKIM "
        "in the provider's settings.",
        evidence=p.answer.cnames,
    )


def _nxdomain_parent(name: str) -> Finding:
    return Finding(
        "dkim.domainkey_nxdomain",
        Status.WARN,
        f"{name} answers NXDOMAIN although a selector below it exists; resolvers that follow RFC "
        "8020 then treat every selector as missing, and DKIM fails for them.",
        fix="Fix the DNS server (an empty non-terminal must answer NOERROR without data, not "
        "NXDOMAIN), or move the zone to a provider that does.",
    )


def _judge(p: _Probe, *, explicit: bool) -> list[Finding]:
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


def _judge_key(p: _Probe, key: DkimKey, *, explicit: bool) -> list[Finding]:
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


def _usage(p: _Probe, key: DkimKey) -> list[Finding]:
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


def _strength(p: _Probe, key: DkimKey) -> tuple[str, list[Finding]]:
    """A summary of the loaded key ("RSA 2048-bit"), and findings about its size or encoding."""
    ev = (key.text,)
    loaded = _load_key(key)
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


def _size(p: _Probe, key: DkimKey, code: str, status: Status, bits: int, why: str) -> Finding:
    return Finding(
        code,
        status,
        f"The DKIM key at {p.chain} is RSA {bits}-bit: {why}.",
        fix="Generate a 2048-bit RSA key, publish it under a new selector, and switch signing to it.",
        evidence=(key.text,),
    )


def _load_key(key: DkimKey) -> tuple[str, int, bool] | str:
    """(kind, bits, is_pkcs1) for a usable key, else the reason it cannot be loaded."""
    data = key.public_key
    if key.key_type == "ed25519":
        if len(data) != 32:  # RFC 8463 4.2: the raw 32-byte key, not SubjectPublicKeyInfo
            hint = (
                " (it looks like SubjectPublicKeyInfo; RFC 8463 wants the raw 32-byte key)"
                if len(data) == 44
                else ""
            )
            return f"an Ed25519 key is 32 bytes, this one is {len(data)}{hint}"
        try:
            ed25519.Ed25519PublicKey.from_public_bytes(data)
        except (ValueError, UnsupportedAlgorithm) as exc:
            return f"not an Ed25519 key ({exc})"
        return "ed25519", 256, False
    if key.key_type != "rsa":
        return f"k={key.key_type} is not a key type verifiers know (rsa, ed25519)"
    try:  # accepts SubjectPublicKeyInfo and the bare PKCS#1 RSAPublicKey some publish
        loaded = serialization.load_der_public_key(data)
    except (ValueError, UnsupportedAlgorithm, TypeError):
        return "p= does not decode to an RSA public key"
    if not isinstance(loaded, rsa.RSAPublicKey):
        return f"k=rsa, but p= holds a {type(loaded).__name__.removesuffix('PublicKey')} key"
    spki = loaded.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "rsa", loaded.key_size, spki != data
