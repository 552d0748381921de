"""SPF (RFC 7208): does <domain> publish one valid SPF record that receivers can evaluate within limits?

The lint walks the record and everything it includes (statically, as every term would be
evaluated), so the lookup count is the worst case a receiver can meet. When the user gives a
sending IP, the real check_host() runs for it and its result is reported as well.

This module judges what is published (nothing, several records, one invalid or one valid record);
`tree` walks the includes, `lint` and `flatten` judge one valid record, `repair` builds the
records the findings propose, and `sending_ip` evaluates the address the user named.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from checks.context import Context
from checks.model import DOMAIN, Fact, Finding, Status, with_facts
from checks.net.dns import Answer, DnsClient, Outcome
from checks.spf import flatten, sending_ip
from checks.spf.evaluate import MAX_LOOKUPS
from checks.spf.lint import lint
from checks.spf.parse import SpfRecord, SpfSyntaxError, is_spf, parse
from checks.spf.repair import merged, spf_record, without_bad_terms
from checks.spf.tree import Node, walk

__all__ = [
    "ID",
    "SCOPE",
    "TITLE",
    "Published",
    "SpfRecord",
    "SpfSyntaxError",
    "parse",
    "published",
    "run",
]

ID: Final = "spf"
TITLE: Final = "SPF"
SCOPE: Final = DOMAIN


@dataclass(frozen=True, slots=True)
class Published:
    """The TXT answer at the domain and the SPF records in it (shared with other checks)."""

    answer: Answer
    records: tuple[str, ...]


async def published(ctx: Context) -> Published:
    return await ctx.once("spf_record", lambda: _fetch(ctx.dns, ctx.domain))


async def run(ctx: Context) -> list[Finding]:
    found = await published(ctx)
    if found.answer.failed:
        return [_lookup_failed(ctx.domain, found.answer)]
    seen = Fact("spf.record", 0, text="\n".join(sorted(found.records)))  # record history
    return with_facts(await _verdict(ctx, found), [seen])


async def _verdict(ctx: Context, found: Published) -> list[Finding]:
    if not found.records:
        return [await _missing(ctx, found.answer)]
    if len(found.records) > 1:
        return [_multiple(ctx.domain, found.records)]
    text = found.records[0]
    try:
        record = parse(text)
    except SpfSyntaxError as exc:
        return [_syntax(ctx.domain, text, exc)]
    return await _judge(ctx, record, found.answer)


async def _fetch(dns: DnsClient, domain: str) -> Published:
    answer = await dns.txt(domain)
    return Published(answer, tuple(t for t in answer.texts() if is_spf(t)) if answer.ok else ())


async def _judge(ctx: Context, record: SpfRecord, answer: Answer) -> list[Finding]:
    """Lint the one valid record and its tree, then evaluate the sending IP if there is one."""
    tree = await walk(ctx.dns, ctx.domain, answer)
    findings = lint(ctx.domain, record, tree, answer)
    if tree.total > MAX_LOOKUPS:
        flat = await flatten.flattened(ctx.dns, ctx.domain, record, tree.total)
        findings = flatten.offer(findings, flat)
    if ctx.options.sending_ip:
        findings += await sending_ip.evaluate(ctx, record, ctx.options.sending_ip)
    if not any(
        f.status.severity > Status.INFO.severity for f in findings if f.code != "spf.ip_authorised"
    ):
        findings.append(_ok(ctx.domain, record, tree))
    return with_facts(findings, [Fact("spf.lookups", tree.total)])


def _ok(domain: str, record: SpfRecord, tree: Node) -> Finding:
    return Finding(
        "spf.ok",
        Status.PASS,
        f"{domain} has one valid SPF record, using {tree.total} of {MAX_LOOKUPS} DNS "
        f"lookups, ending in {_ending(record)}.",
        evidence=(record.text, *tree.lines()),
    )


def _ending(record: SpfRecord) -> str:
    alls = [m.text for m in record.mechanisms if m.name == "all"]
    if alls:
        return alls[0]
    return f"redirect={record.redirect}" if record.redirect else "no all (neutral)"


# ---- nothing, several, or one invalid record ----------------------------------------------------
def _lookup_failed(domain: str, answer: Answer) -> Finding:
    return Finding(
        "spf.lookup_failed",
        Status.ERROR,
        f"The TXT lookup of {domain} failed ({answer.describe()}), so its SPF "
        "record could not be read; receivers seeing the same get temperror.",
    )


async def _missing(ctx: Context, answer: Answer) -> Finding:
    if answer.outcome is Outcome.NXDOMAIN:
        return Finding(
            "spf.missing",
            Status.FAIL,
            f"{ctx.domain} does not exist (NXDOMAIN), so it has no SPF record.",
        )
    mx = await ctx.mx()
    if mx.null:
        text, fix = (
            "v=spf1 -all",
            "The domain takes no mail; publish this record to say it sends none.",
        )
    else:
        text = "v=spf1 mx ~all"
        fix = (
            "Publish an SPF record listing every server that sends as the domain: mx for your own "
            "mail servers, include: for providers (e.g. include:_spf.google.com), ip4:/ip6: ranges."
        )
    return Finding(
        "spf.missing",
        Status.FAIL,
        f"{ctx.domain} has no SPF record, so receivers cannot tell its mail from forgeries and "
        "many (Gmail, Yahoo, Microsoft) junk or reject it.",
        fix=fix,
        record=spf_record(ctx.domain, text),
    )


def _multiple(domain: str, records: tuple[str, ...]) -> Finding:
    merged_text = merged(records)
    return Finding(
        "spf.multiple",
        Status.FAIL,
        f"{domain} has {len(records)} SPF records; RFC 7208 4.5 makes that a permerror, so every "
        "message fails SPF.",
        fix="Merge them into one record and delete the others.",
        record=spf_record(domain, merged_text) if merged_text else None,
        evidence=records,
    )


def _syntax(domain: str, text: str, exc: SpfSyntaxError) -> Finding:
    repaired = without_bad_terms(text)
    return Finding(
        "spf.syntax",
        Status.FAIL,
        f"{domain}'s SPF record has a syntax error at {exc.term!r}: {exc}. Receivers return "
        "permerror for the whole record (RFC 7208 4.6).",
        fix=f"Correct or remove {exc.term!r}."
        + (" Without it the record reads as below." if repaired else ""),
        record=spf_record(domain, repaired) if repaired else None,
        evidence=(text,),
    )
