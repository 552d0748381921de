"""SPF (RFC 7208): does <domain> publish one valid SPF record that receivers can evaluate within limits?

The lint walks the record and everything it includes (statically, as every term would be
evaluated), so the lookup count is the worst case a receiver can meet. When the user gives a
sending IP, the real check_host() runs for it and its result is reported as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from checks.context import Context
from checks.model import DOMAIN, Finding, Record, Status
from checks.net.dns import Answer, DnsClient, Outcome
from checks.spf import flatten, sending_ip
from checks.spf.evaluate import MAX_LOOKUPS, MAX_NAMES, MAX_VOID_LOOKUPS
from checks.spf.parse import (
    Modifier,
    SpfRecord,
    SpfSyntaxError,
    is_spf,
    parse,
    uses_validated_name,
)
from checks.spf.repair import merged, spf_record, without_bad_terms
from checks.spf.tree import Node, Problem, walk

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

_UDP_LIMIT = 512  # RFC 1035 4.2.1: larger answers need EDNS or TCP


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
        return [
            Finding(
                "spf.lookup_failed",
                Status.ERROR,
                f"The TXT lookup of {ctx.domain} failed ({found.answer.describe()}), so its SPF "
                "record could not be read; receivers seeing the same get temperror.",
            )
        ]
    if not found.records:
        return [await _missing(ctx, found.answer)]
    if len(found.records) > 1:
        return [_multiple(ctx.domain, found.records)]
    text = found.records[0]
    try:
        record = parse(text)
    except SpfSyntaxError as exc:
        return [_syntax(ctx.domain, text, exc)]
    tree = await walk(ctx.dns, ctx.domain, found.answer)
    findings = _lint(ctx.domain, record, tree, found.answer)
    if tree.total > MAX_LOOKUPS:
        flat = await flatten.flattened(ctx.dns, ctx.domain, record, tree.total)
        findings = flatten.offer(findings, flat)
    if ctx.options.sending_ip:
        findings += await sending_ip.evaluate(ctx, record, ctx.options.sending_ip)
    if not any(
        f.status.severity > Status.INFO.severity for f in findings if f.code != "spf.ip_authorised"
    ):
        findings.append(
            Finding(
                "spf.ok",
                Status.PASS,
                f"{ctx.domain} has one valid SPF record, using {tree.total} of {MAX_LOOKUPS} DNS "
                f"lookups, ending in {_ending(record)}.",
                evidence=(text, *tree.lines()),
            )
        )
    return findings


# ---- fetching ---------------------------------------------------------------------------------
async def _fetch(dns: DnsClient, domain: str) -> Published:
    answer = await dns.txt(domain)
    return Published(answer, tuple(t for t in answer.texts() if is_spf(t)) if answer.ok else ())


# ---- findings for the record ------------------------------------------------------------------
def _lint(domain: str, record: SpfRecord, tree: Node, answer: Answer) -> list[Finding]:
    fixed = _Repair(record)
    findings = [
        *_all_findings(domain, record, fixed),
        *_order_findings(domain, record, fixed),
        *_tree_findings(domain, tree, fixed),
        *_size_findings(domain, answer),
    ]
    uses = [m.text for m in record.mechanisms if m.name == "ptr" or _uses_p(m.domain_spec)]
    if any(
        t.name == "redirect" and _uses_p(t.value) for t in record.terms if isinstance(t, Modifier)
    ):
        uses.append(f"redirect={record.redirect}")
    if uses:
        findings.append(
            Finding(
                "spf.ptr_deprecated",
                Status.WARN,
                f"{domain}'s SPF record uses {', '.join(uses)}: RFC 7208 5.5 and 7.3 say not to "
                "use ptr or the %{p} macro: they are slow, cost several lookups per message, and "
                "many receivers skip or distrust them.",
                fix="Replace them with ip4:/ip6: ranges (or a:host names) for your sending servers.",
                evidence=(record.text,),
            )
        )
    record_value = fixed.record(domain)
    return [_with_record(f, record_value) if f.code in fixed.codes else f for f in findings]


def _uses_p(spec: str | None) -> bool:
    return spec is not None and uses_validated_name(spec)


def _with_record(finding: Finding, record: Record | None) -> Finding:
    if record is None:
        return finding
    return Finding(
        finding.code, finding.status, finding.message, finding.fix, record, finding.evidence
    )


class _Repair:
    """One corrected record that applies every safe repair the findings ask for."""

    def __init__(self, record: SpfRecord) -> None:
        self.original = record
        self.terms: list[str] = [t.text for t in record.terms]
        self.codes: set[str] = set()

    def replace(self, code: str, old: str, new: str) -> None:
        self.terms = [new if t == old else t for t in self.terms]
        self.codes.add(code)

    def drop(self, code: str, terms: set[str]) -> None:
        self.terms = [t for t in self.terms if t not in terms]
        self.codes.add(code)

    def append(self, code: str, term: str) -> None:
        self.terms.append(term)
        self.codes.add(code)

    def text(self) -> str:
        return " ".join(["v=spf1", *self.terms])

    def record(self, domain: str) -> Record | None:
        text = self.text()
        if not self.codes or text == self.original.text:
            return None
        try:
            parse(text)
        except SpfSyntaxError:  # pragma: no cover -- repairs only remove or swap valid terms
            return None
        return spf_record(domain, text)


def _all_findings(domain: str, record: SpfRecord, fixed: _Repair) -> list[Finding]:
    alls = [m for m in record.mechanisms if m.name == "all"]
    if not alls:
        if record.redirect is not None:
            return []
        fixed.append("spf.no_all", "~all")
        return [
            Finding(
                "spf.no_all",
                Status.WARN,
                f"{domain}'s SPF record has no all mechanism and no redirect, so mail from any "
                "unlisted server gets neutral (RFC 7208 4.7): receivers treat it as if there were no "
                "policy.",
                fix="End the record with ~all (or -all once you are sure every sender is listed).",
                evidence=(record.text,),
            )
        ]
    first = alls[0]
    if first.qualifier == "+":
        fixed.replace("spf.plus_all", first.text, "~all")
        return [
            Finding(
                "spf.plus_all",
                Status.FAIL,
                f"{domain}'s SPF record ends in {first.text}, which authorises every server on the "
                "internet to send as the domain.",
                fix="Replace it with ~all (or -all), after listing your real senders.",
                evidence=(record.text,),
            )
        ]
    if first.qualifier == "?":
        fixed.replace("spf.neutral_all", first.text, "~all")
        return [
            Finding(
                "spf.neutral_all",
                Status.WARN,
                f"{domain}'s SPF record ends in ?all, so unlisted servers get neutral: spoofed mail "
                "is treated as if the domain had no SPF policy.",
                fix="Use ~all (or -all once every sender is listed).",
                evidence=(record.text,),
            )
        ]
    return []


def _order_findings(domain: str, record: SpfRecord, fixed: _Repair) -> list[Finding]:
    findings: list[Finding] = []
    mechanisms = list(record.mechanisms)
    index = next((i for i, m in enumerate(mechanisms) if m.name == "all"), None)
    if index is not None and index + 1 < len(mechanisms):
        after = [m.text for m in mechanisms[index + 1 :]]
        fixed.drop("spf.terms_after_all", set(after))
        findings.append(
            Finding(
                "spf.terms_after_all",
                Status.WARN,
                f"{domain}'s SPF record has {', '.join(after)} after {mechanisms[index].text}; "
                "evaluation stops at all, so those terms are never used.",
                fix=f"Move them before {mechanisms[index].text} if they are senders, else remove them.",
                evidence=(record.text,),
            )
        )
    if index is not None and record.redirect is not None:
        redirect = next(
            t.text for t in record.terms if isinstance(t, Modifier) and t.name == "redirect"
        )
        fixed.drop("spf.redirect_ignored", {redirect})
        findings.append(
            Finding(
                "spf.redirect_ignored",
                Status.WARN,
                f"{domain}'s SPF record has both an all mechanism and {redirect}; RFC 7208 6.1 says "
                "the redirect is then ignored.",
                fix="Remove the redirect, or remove the all mechanism if the redirect is what you meant.",
                evidence=(record.text,),
            )
        )
    return findings


def _tree_findings(domain: str, tree: Node, fixed: _Repair) -> list[Finding]:
    findings: list[Finding] = []
    if tree.total > MAX_LOOKUPS:
        findings.append(
            Finding(
                "spf.too_many_lookups",
                Status.FAIL,
                f"{domain}'s SPF record needs {tree.total} DNS lookups when fully evaluated; "
                f"receivers stop at {MAX_LOOKUPS} (RFC 7208 4.6.4) and return permerror, so mail "
                "from senders listed late in the record fails SPF.",
                fix="Remove includes you no longer use, replace a/mx with ip4:/ip6: ranges, or "
                "move some senders to a subdomain with its own SPF record.",
                evidence=tuple(tree.lines()),
            )
        )
    voids = [f"{n.domain}: {v}" for n in tree.walk() for v in n.voids]
    if tree.voids:  # the record's own dead terms can be dropped; an include's are not ours
        fixed.drop("spf.void_lookups", set(tree.voids))
        fixed.codes.add("spf.too_many_void_lookups")
    if 0 < tree.void_total <= MAX_VOID_LOOKUPS:
        # Allowed, but dead: such a term never matches, and each one uses up the budget of two
        # void lookups that a receiver allows the whole evaluation (RFC 7208 4.6.4).
        findings.append(
            Finding(
                "spf.void_lookups",
                Status.WARN,
                f"{domain}'s SPF tree has {len(voids)} term{'s' * (len(voids) != 1)} whose "
                "lookup finds nothing (a name that does not exist or has no records): "
                f"{', '.join(voids)}. Such terms never match, and receivers allow only "
                f"{MAX_VOID_LOOKUPS} of them per evaluation (RFC 7208 4.6.4); one more, in your "
                "record or a provider's include, makes every message permerror.",
                fix="Remove the terms naming hosts or domains that no longer exist.",
                evidence=tuple(voids),
            )
        )
    if tree.void_total > MAX_VOID_LOOKUPS:
        findings.append(
            Finding(
                "spf.too_many_void_lookups",
                Status.FAIL,
                f"{len(voids)} terms in {domain}'s SPF tree look up names that do not exist or have "
                f"no records; receivers allow {MAX_VOID_LOOKUPS} (RFC 7208 4.6.4) and then return "
                "permerror.",
                fix="Remove the terms naming hosts or domains that no longer exist.",
                evidence=tuple(voids),
            )
        )
    for node in tree.walk():
        findings += _node_findings(domain, node, fixed)
    return findings


def _node_findings(domain: str, node: Node, fixed: _Repair) -> list[Finding]:
    where = f"{node.via} (in the SPF tree of {domain})"
    top_term = node.via if node.depth == 1 else ""
    if node.problem is Problem.NO_SPF:
        code = "spf.include_no_spf" if node.via.startswith("include") else "spf.redirect_no_spf"
        if top_term:
            fixed.drop(code, {top_term})
        return [
            Finding(
                code,
                Status.FAIL,
                f"{where} points at {node.domain}, which has no SPF record ({node.detail}); "
                "receivers return permerror when they reach it.",
                fix=f"Remove {node.via} or correct the name (check the provider's documentation).",
            )
        ]
    if node.problem is Problem.LOOP:
        return [
            Finding(
                "spf.loop",
                Status.FAIL,
                f"{where} loops back to a record already being evaluated ({node.detail}); receivers "
                "run out of lookups and return permerror.",
                fix=f"Remove {node.via} from the record of the domain that includes it.",
            )
        ]
    if node.problem is Problem.LOOKUP_FAILED:
        return [
            Finding(
                "spf.lookup_failed",
                Status.ERROR,
                f"The TXT lookup of {node.domain} ({where}) failed: {node.detail}.",
            )
        ]
    if node.problem in (Problem.MULTIPLE, Problem.SYNTAX):
        return [
            Finding(
                f"spf.{node.problem}",
                Status.FAIL,
                f"{node.domain}, reached by {where}, has "
                + (
                    "more than one SPF record"
                    if node.problem is Problem.MULTIPLE
                    else "an invalid SPF record"
                )
                + f" ({node.detail}); receivers return permerror when they reach it.",
                fix=f"Ask the owner of {node.domain} to fix it, or remove {node.via}.",
                evidence=(node.text or node.detail,),
            )
        ]
    findings: list[Finding] = []
    if node.plus_all and node.depth > 0:
        findings.append(
            Finding(
                "spf.plus_all",
                Status.FAIL,
                f"{node.domain}, included by {where}, ends in +all: the include matches every "
                "server on the internet, so anyone passes SPF as the domain.",
                fix=f"Remove {node.via}, or ask the owner of {node.domain} to end it in ~all or -all.",
                evidence=(node.text or "",),
            )
        )
    findings += [
        Finding(
            "spf.too_many_mx",
            Status.FAIL,
            f"{term} in the SPF record of {node.domain} names a domain with more than {MAX_NAMES} MX "
            "records; receivers return permerror (RFC 7208 4.6.4).",
            fix="Replace the mx mechanism with ip4:/ip6: ranges of the servers that send.",
        )
        for term in node.too_many_mx
    ]
    return findings


def _size_findings(domain: str, answer: Answer) -> list[Finding]:
    if answer.size <= _UDP_LIMIT and not answer.tcp:
        return []
    how = "it needed TCP" if answer.tcp else f"it is {answer.size} bytes"
    return [
        Finding(
            "spf.too_large",
            Status.WARN,
            f"The TXT answer at {domain} is too large for a plain 512-byte UDP reply ({how}); "
            "receivers without EDNS must retry over TCP, and some give up with temperror.",
            fix=f"Delete stale TXT records at {domain} (old verification tokens) and keep the SPF "
            "record short.",
        )
    ]


# ---- missing / multiple / syntax --------------------------------------------------------------
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


def _ending(record: SpfRecord) -> str:
    alls = [m.text for m in record.mechanisms if m.name == "all"]
    if alls:
        return alls[0]
    return f"redirect={record.redirect}" if record.redirect else "no all (neutral)"
