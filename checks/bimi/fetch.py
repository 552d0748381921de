"""BIMI indicator fetch (draft-brand-indicators-for-message-identification): can a mailbox provider
fetch the logo (`l=`) and the mark certificate (`a=`), and use what comes back?

The content is judged by the pure functions of `checks.bimi.logo`; the certificate chain is not
verified against a BIMI root list (we do not ship one).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Final
from urllib.parse import urlsplit

from checks.bimi.logo import (
    LOGO_PARSE_LIMIT,
    LOGO_RECOMMENDED_BYTES,
    EvidenceVerdict,
    SvgVerdict,
    check_evidence,
    check_svg,
)
from checks.bimi.record import BimiRecord, is_https
from checks.context import Context
from checks.model import Finding, Status
from checks.net.https import FetchOutcome, FetchResult, HttpsFetcher

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


async def fetch_and_judge(ctx: Context, name: str, record: BimiRecord) -> list[Finding]:
    """Fetch l= (first location) and a= concurrently and judge what came back."""
    fetcher = ctx.services.https
    urls = [u for u in (record.logos[:1] + ((record.evidence,) if record.evidence else ())) if u]
    if not isinstance(fetcher, HttpsFetcher):
        if not any(is_https(u) for u in urls):
            return []
        return [
            Finding(
                "bimi.fetch_skipped",
                Status.INFO,
                "The logo and certificate were not fetched (no HTTPS client is configured), so "
                "their content is unchecked.",
            )
        ]
    logo_url = record.logos[0] if record.logos and is_https(record.logos[0]) else None
    evidence_url = record.evidence if record.evidence and is_https(record.evidence) else None
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
