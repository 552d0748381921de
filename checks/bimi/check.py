"""BIMI (draft-brand-indicators-for-message-identification): is a brand logo published, and can it show?

The assertion record lives at `default._bimi.<domain>` (falling back to the organisational domain);
mailbox providers show the logo only when DMARC is at enforcement, and Gmail and Apple Mail also
want a mark certificate (VMC or CMC) at `a=`. Like a mailbox provider, the check then fetches the
logo (`l=`) and the evidence document (`a=`) with the process-wide HTTPS client and judges them
(`checks/bimi_logo.py`): SVG Tiny PS, size, and the certificate's BIMI EKU, names and dates. The
certificate chain is not verified against a BIMI root list (we do not ship one).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from checks import tagvalue
from checks.bimi.logo import (
    LOGO_PARSE_LIMIT,
    LOGO_RECOMMENDED_BYTES,
    EvidenceVerdict,
    SvgVerdict,
    check_evidence,
    check_svg,
)
from checks.context import Context
from checks.dmarc import discovery as dmarc_discovery
from checks.model import DOMAIN, Finding, Record, Status
from checks.net.dns import Answer
from checks.net.https import FetchOutcome, FetchResult, HttpsFetcher

ID: Final = "bimi"
TITLE: Final = "BIMI"
SCOPE: Final = DOMAIN

_SELECTOR: Final = (
    "default"  # the draft's default selector; others come from a BIMI-Selector header
)
_VERSION = re.compile(r"[ \t]*v[ \t]*=[ \t]*BIMI1[ \t]*(;|$)")
_LOOKS_LIKE_BIMI = re.compile(r"\s*v\s*=\s*bimi", re.IGNORECASE)
_KNOWN: Final = frozenset({"v", "l", "a", "avp"})
# The draft's tag list (bimi-sep = *WSP ";" *WSP, *WSP around "="), read leniently: any whitespace
# and tag names in any case (its first ABNF quoted "v", which is case-insensitive).
_GRAMMAR: Final = tagvalue.Grammar(
    tag_name=tagvalue.TAG_NAME,  # RFC 6376 3.2 tag-name, whose tag=value syntax BIMI borrows
    fold_case=True,
    version=tagvalue.Version.LEADS_ONCE,  # v=BIMI1 first (matched by _VERSION), and only once
    on_problem=tagvalue.OnProblem.REJECT_RECORD,  # RFC 6376 3.2: a duplicate invalidates it
    space_around_semicolon=tagvalue.ANY_SPACE,
    space_before_equals=tagvalue.ANY_SPACE,
    space_after_equals=tagvalue.ANY_SPACE,
    blank=tagvalue.ANY_SPACE,
)


class BimiSyntaxError(ValueError):
    """The text is not a BIMI assertion record; the message says why."""


@dataclass(frozen=True, slots=True)
class BimiRecord:
    """A parsed assertion record. `evidence` is None when a= is absent, "" when empty."""

    text: str
    tags: Mapping[str, str]
    logos: tuple[str, ...]  # l=, comma-separated locations; empty: no logo
    evidence: str | None
    unknown: tuple[str, ...] = ()

    @property
    def declined(self) -> bool:
        """`v=BIMI1; l=; a=;`: the domain says it does not take part."""
        return not self.logos and not self.evidence


def parse(text: str) -> BimiRecord:
    """Parse one BIMI TXT record (strings joined). Pure and total: only BimiSyntaxError."""
    if not _VERSION.match(text):
        raise BimiSyntaxError("the record must begin with v=BIMI1")
    read = tagvalue.parse(text, _GRAMMAR)
    if read.problems:
        raise BimiSyntaxError(_describe(read.problems[0]))
    tags = read.tags
    logos = tuple(x.strip() for x in tags.get("l", "").split(",") if x.strip())
    return BimiRecord(
        text=text,
        tags=tags,
        logos=logos,
        evidence=tags.get("a"),
        unknown=tuple(t for t in tags if t not in _KNOWN),
    )


def _describe(problem: tagvalue.Problem) -> str:
    if problem.kind is tagvalue.Kind.DUPLICATE:  # v= included (Version.LEADS_ONCE)
        return f"the tag {problem.name}= appears twice"
    return f"{problem.entry!r} is not a tag=value pair"


async def run(ctx: Context) -> list[Finding]:
    name = f"{_SELECTOR}._bimi.{ctx.domain}"
    answer = await ctx.dns.txt(name)
    if not answer.failed and not _records(answer):
        org = await dmarc_discovery.org_domain(ctx, ctx.domain)
        if org != ctx.domain:  # the draft's fallback to the organisational domain
            fallback = await ctx.dns.txt(f"{_SELECTOR}._bimi.{org}")
            if fallback.failed or _records(fallback):
                name, answer = f"{_SELECTOR}._bimi.{org}", fallback
    if answer.failed:
        return [
            Finding(
                "bimi.lookup_failed",
                Status.ERROR,
                f"The DNS lookup of {name} failed ({answer.describe()}), so BIMI cannot be checked.",
            )
        ]
    texts = _records(answer)
    if not texts:
        return [_missing(ctx.domain)]
    if len(texts) > 1:
        return [
            Finding(
                "bimi.multiple",
                Status.FAIL,
                f"{name} has {len(texts)} BIMI records, so mailbox providers ignore all of them "
                "and show no logo.",
                fix="Keep exactly one BIMI record.",
                evidence=texts,
            )
        ]
    try:
        record = parse(texts[0])
    except BimiSyntaxError as exc:
        return [
            Finding(
                "bimi.invalid",
                Status.FAIL,
                f"The BIMI record at {name} is not valid ({exc}), so no logo is shown.",
                fix="Publish the record as v=BIMI1; l=https://...svg; a=https://...pem",
                record=Record(f"{name}.", "TXT", _example(ctx.domain)),
                evidence=texts,
            )
        ]
    return await _judge(ctx, name, record)


def _records(answer: Answer) -> tuple[str, ...]:
    return tuple(t for t in answer.texts() if _LOOKS_LIKE_BIMI.match(t)) if answer.ok else ()


def _example(domain: str) -> str:
    return f'"v=BIMI1; l=https://{domain}/bimi/logo.svg; a=https://{domain}/bimi/vmc.pem"'


def _missing(domain: str) -> Finding:
    return Finding(
        "bimi.missing",
        Status.INFO,
        f"{domain} publishes no BIMI record (optional: it shows your logo next to your mail in "
        "supporting mailbox providers, once DMARC is at enforcement).",
        fix="If you want the logo shown, publish an SVG Tiny PS logo and a BIMI record.",
        record=Record(f"{_SELECTOR}._bimi.{domain}.", "TXT", _example(domain)),
    )


async def _judge(ctx: Context, name: str, record: BimiRecord) -> list[Finding]:
    ev = (record.text,)
    if record.declined:
        return [
            Finding(
                "bimi.declined",
                Status.INFO,
                f"{name} is a declination record (empty l= and a=): the domain asks mailbox "
                "providers to show no logo.",
                evidence=ev,
            )
        ]
    findings = _locations(name, record)
    findings += [
        Finding(
            "bimi.unknown_tag",
            Status.INFO,
            f"{name} has a tag BIMI does not define ({tag}=); mailbox providers ignore it.",
            evidence=ev,
        )
        for tag in record.unknown
    ]
    findings += await _dmarc_ready(ctx)
    findings += await _fetched(ctx, name, record)
    if not any(f.status.severity >= Status.WARN.severity for f in findings):
        findings.append(
            Finding(
                "bimi.ok",
                Status.PASS,
                f"{name} points at the logo {record.logos[0]}, and DMARC is at enforcement.",
                evidence=ev,
            )
        )
    return findings


def _https(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() == "https" and bool(parts.hostname)


def _locations(name: str, record: BimiRecord) -> list[Finding]:
    ev = (record.text,)
    out: list[Finding] = []
    bad = [u for u in record.logos if not _https(u)]
    if bad or not record.logos:
        shown = ", ".join(bad) if bad else "(empty)"
        out.append(
            Finding(
                "bimi.logo_not_https",
                Status.FAIL,
                f"The logo location l={shown} in {name} is not an https:// URL, so mailbox "
                "providers will not fetch the logo.",
                fix="Serve the SVG Tiny PS logo over HTTPS and put its https:// URL in l=.",
                evidence=ev,
            )
        )
    if record.evidence and not _https(record.evidence):
        out.append(
            Finding(
                "bimi.evidence_not_https",
                Status.FAIL,
                f"The certificate location a={record.evidence} in {name} is not an https:// URL, "
                "so mailbox providers ignore it.",
                fix="Serve the VMC/CMC PEM file over HTTPS and put its https:// URL in a=.",
                evidence=ev,
            )
        )
    elif not record.evidence:
        out.append(
            Finding(
                "bimi.no_evidence",
                Status.INFO,
                f"{name} has no a= (mark certificate): Gmail and Apple Mail show BIMI logos only "
                "with a Verified Mark Certificate or Common Mark Certificate; some other providers "
                "show it without one.",
                fix="To get the logo shown in Gmail and Apple Mail, obtain a VMC or CMC and "
                "publish its https:// URL in a=.",
                evidence=ev,
            )
        )
    return out


async def _dmarc_ready(ctx: Context) -> list[Finding]:
    pol = await dmarc_discovery.policy(ctx)
    if pol is not None and pol.enforcing:
        return []
    why = _not_enforcing(pol) or "the policy is not quarantine or reject"
    return [
        Finding(
            "bimi.dmarc_not_enforced",
            Status.WARN,
            f"DMARC for {ctx.domain} is not at enforcement ({why}), so mailbox providers will not "
            "show the BIMI logo.",
            fix="Move DMARC to p=quarantine or p=reject for the domain and its subdomains, "
            "without t=y (and without pct below 100); see the DMARC check.",
            evidence=(pol.record.text,) if pol else (),
        )
    ]


def _not_enforcing(pol: dmarc_discovery.DmarcPolicy | None) -> str:
    """Why the policy does not count as enforcement for BIMI; "" when it does."""
    if pol is None or pol.record.policy is None:
        return "there is no usable DMARC record"
    r = pol.record
    strong = ("quarantine", "reject")
    reasons = []
    if r.policy not in strong:
        reasons.append(f"p={r.policy}")
    if r.subdomain_policy not in strong:
        reasons.append(f"sp={r.subdomain_policy}")
    if pol.applied not in strong and pol.source != pol.domain and not reasons:
        reasons.append(f"the policy that applies to {pol.domain} is {pol.applied}")
    if r.testing:
        reasons.append("t=y")
    if r.pct is not None and r.pct < 100:
        reasons.append(f"pct={r.pct}, which RFC 7489 receivers honour")
    return ", ".join(reasons)


# ---- fetching the logo and the evidence document, as a mailbox provider does ---------------------

_EVIDENCE_MAX_BYTES: Final = 64 * 1024
_SVG_TYPE: Final = "image/svg+xml"


def _fetch_target(url: str, port: int) -> tuple[str, str] | None:
    """(host, path) when `url` is an https:// URL our fetcher can reach; None otherwise."""
    try:
        parts = urlsplit(url)
        explicit = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() != "https" or not parts.hostname:
        return None
    if explicit is not None and explicit not in (443, port):
        return None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.hostname, path


async def _fetched(ctx: Context, name: str, record: BimiRecord) -> list[Finding]:
    """Fetch l= (first location) and a= concurrently and judge what came back."""
    fetcher = ctx.services.https
    urls = [u for u in (record.logos[:1] + ((record.evidence,) if record.evidence else ())) if u]
    if not isinstance(fetcher, HttpsFetcher):
        if not any(_https(u) for u in urls):
            return []
        return [
            Finding(
                "bimi.fetch_skipped",
                Status.INFO,
                "The logo and certificate were not fetched (no HTTPS client is configured), so "
                "their content is unchecked.",
            )
        ]
    logo_url = record.logos[0] if record.logos and _https(record.logos[0]) else None
    evidence_url = record.evidence if record.evidence and _https(record.evidence) else None
    logo, evidence = await asyncio.gather(
        _get(ctx, fetcher, logo_url, LOGO_PARSE_LIMIT),
        _get(ctx, fetcher, evidence_url, _EVIDENCE_MAX_BYTES),
    )
    out: list[Finding] = []
    if logo_url is not None:
        out += _judge_logo(logo_url, logo)
    if evidence_url is not None:
        out += _judge_evidence(ctx, name, evidence_url, evidence)
    return out


async def _get(
    ctx: Context, fetcher: HttpsFetcher, url: str | None, max_bytes: int
) -> FetchResult | str | None:
    """The fetch result; a reason string when we cannot fetch this URL at all; None: no URL."""
    if url is None:
        return None
    target = _fetch_target(url, fetcher.port)
    if target is None:
        return "it names a port other than 443, which we do not fetch"
    return await fetcher.fetch(ctx.dns, *target, max_bytes=max_bytes)


def _skipped(what: str, url: str, why: str) -> Finding:
    return Finding(
        "bimi.fetch_skipped",
        Status.INFO,
        f"The {what} at {url} was not fetched ({why}), so its content is unchecked.",
    )


def _unusable(result: FetchResult) -> str:
    """Why a mailbox provider gets nothing usable from this fetch; "" when it got a 200."""
    if not result.ok or result.response is None:
        return result.detail or result.outcome.value
    response = result.response
    if response.is_redirect:
        where = response.header("location") or "(no Location)"
        return f"it answers with a redirect (HTTP {response.status} to {where}), not followed"
    if response.status != 200:
        return f"it answers HTTP {response.status} {response.reason}".rstrip()
    return ""


def _judge_logo(url: str, result: FetchResult | str | None) -> list[Finding]:
    if result is None:
        return []
    if isinstance(result, str):
        return [_skipped("logo", url, result)]
    if result.outcome is FetchOutcome.REFUSED:
        return [_skipped("logo", url, result.detail)]
    if result.outcome is FetchOutcome.TOO_LARGE:
        return [_logo_too_large(url, f"more than {LOGO_PARSE_LIMIT} bytes", checked=False)]
    if why := _unusable(result):
        return [
            Finding(
                "bimi.logo_unreachable",
                Status.FAIL,
                f"The BIMI logo at {url} cannot be fetched ({why}), so mailbox providers show "
                "no logo.",
                fix="Serve the SVG logo at that https:// URL with status 200, a valid certificate "
                "and no redirect.",
            )
        ]
    assert result.response is not None  # _unusable said it is a 200  # noqa: S101
    return _logo_content(url, result.response.body, result.response.content_type)


def _logo_too_large(url: str, size: str, *, checked: bool) -> Finding:
    return Finding(
        "bimi.logo_too_large",
        Status.WARN,
        f"The BIMI logo at {url} is {size}; the BIMI group recommends 32 KB or less and some "
        "mailbox providers refuse larger logos."
        + ("" if checked else " Its content was not checked."),
        fix="Simplify the SVG (fewer paths, no embedded data) until it is 32 KB or smaller.",
    )


def _logo_content(url: str, body: bytes, content_type: str) -> list[Finding]:
    out: list[Finding] = []
    if len(body) > LOGO_RECOMMENDED_BYTES:
        out.append(_logo_too_large(url, f"{len(body)} bytes", checked=True))
    svg = check_svg(body)
    served = f"served as {content_type or 'no content type'}"
    if svg.verdict is SvgVerdict.NOT_SVG:
        out.append(
            Finding(
                "bimi.logo_not_svg",
                Status.FAIL,
                f"The BIMI logo at {url} is not an SVG image ({served}; {svg.problems[0]}), so "
                "mailbox providers show no logo.",
                fix="Publish the logo as an SVG Tiny PS file served as image/svg+xml.",
                evidence=(body[:120].decode("utf-8", "replace"),),
            )
        )
    elif svg.verdict is SvgVerdict.NOT_TINY_PS:
        out.append(
            Finding(
                "bimi.logo_not_tiny_ps",
                Status.FAIL,
                f"The BIMI logo at {url} is an SVG but not SVG Tiny PS: "
                f"{'; '.join(svg.problems)}. Mailbox providers reject it and show no logo.",
                fix='Convert it to SVG Tiny PS: root <svg version="1.2" baseProfile="tiny-ps">, '
                "a <title>, no scripts, images, animation, external links or root x/y.",
                evidence=svg.problems,
            )
        )
    else:
        if content_type != _SVG_TYPE:
            out.append(
                Finding(
                    "bimi.logo_content_type",
                    Status.WARN,
                    f"The BIMI logo at {url} is {served}, not {_SVG_TYPE}; some mailbox "
                    "providers refuse it.",
                    fix=f"Serve the logo with Content-Type: {_SVG_TYPE}.",
                )
            )
        out.append(
            Finding(
                "bimi.logo_ok",
                Status.PASS,
                f"The BIMI logo at {url} is SVG Tiny PS ({len(body)} bytes"
                + (f', titled "{svg.title}"' if svg.title else "")
                + ").",
            )
        )
    return out


def _judge_evidence(
    ctx: Context, name: str, url: str, result: FetchResult | str | None
) -> list[Finding]:
    if result is None:
        return []
    if isinstance(result, str):
        return [_skipped("certificate", url, result)]
    if result.outcome is FetchOutcome.REFUSED:
        return [_skipped("certificate", url, result.detail)]
    if why := _unusable(result):
        return [
            Finding(
                "bimi.evidence_unreachable",
                Status.FAIL,
                f"The mark certificate at {url} cannot be fetched ({why}), so Gmail and Apple "
                "Mail show no logo.",
                fix="Serve the VMC/CMC PEM file at that https:// URL with status 200, a valid "
                "certificate and no redirect.",
            )
        ]
    assert result.response is not None  # _unusable said it is a 200  # noqa: S101
    record_domain = name.split("._bimi.", 1)[1]
    selector = name.split(".", 1)[0]
    domains = tuple(dict.fromkeys((ctx.domain, record_domain)))
    check = check_evidence(
        result.response.body, domains=domains, selector=selector, now=dt.datetime.now(dt.UTC)
    )
    unverified = "The chain was not verified against the BIMI trust roots (we ship no root list)."
    if check.verdict is EvidenceVerdict.OK:
        shown = ", ".join(check.names)
        return [
            Finding(
                "bimi.evidence_ok",
                Status.PASS,
                f"The mark certificate at {url} has the BIMI key usage, names {shown}, and is "
                f"valid until {check.not_after:%Y-%m-%d}. {unverified}",
                evidence=(check.subject,),
            )
        ]
    code, what = (
        ("bimi.evidence_expired", "has expired")
        if check.verdict is EvidenceVerdict.EXPIRED
        else ("bimi.evidence_invalid", "is not a usable BIMI mark certificate")
    )
    return [
        Finding(
            code,
            Status.FAIL,
            f"The mark certificate at {url} {what} ({'; '.join(check.problems)}), so Gmail and "
            f"Apple Mail show no logo. {unverified}",
            fix="Publish the PEM of a current VMC or CMC issued for this domain (leaf first, "
            "then its intermediates).",
            evidence=(check.subject,) if check.subject else (),
        )
    ]
