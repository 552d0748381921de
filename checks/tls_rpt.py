"""SMTP TLS Reporting (RFC 8460): does `_smtp._tls.<domain>` say where senders report TLS failures?

Without it, senders that fail to deliver because of MTA-STS or DANE have nowhere to tell you.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Final

from checks import tagvalue
from checks.context import Context
from checks.model import DOMAIN, Fact, Finding, Record, Status, with_facts
from checks.net.policy import is_ip_literal

ID: Final = "tls_rpt"
TITLE: Final = "TLS-RPT"
SCOPE: Final = DOMAIN

_VERSION = re.compile(r"v=TLSRPTv1[ \t]*(;|$)")  # RFC 8460 3: case-sensitive, first field
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")  # RFC 8460 3 tlsrpt-ext-name
# RFC 8460 3: field-delim = *WSP ";" *WSP, names case-sensitive (%s"rua="), nothing before "=".
_GRAMMAR: Final = tagvalue.Grammar(
    tag_name=_KEY,
    fold_case=False,
    version=tagvalue.Version.LEADS,  # matched by _VERSION; a later v= is an extension
    on_problem=tagvalue.OnProblem.REJECT_RECORD,
    space_around_semicolon=tagvalue.WSP,
    space_before_equals=tagvalue.NO_SPACE,
    space_after_equals=tagvalue.WSP,  # more lenient than the ABNF: "rua= mailto:..." is read
    blank=tagvalue.WSP,
)
_MAILTO = re.compile(r"mailto:[^@\s,;]+@[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(\?[^\s,;]*)?")
_HTTPS = re.compile(r"https://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:\d{1,5})?(/[^\s,;]*)?")


class TlsRptSyntaxError(ValueError):
    """The text is not a usable TLS-RPT record; the message says why."""


@dataclass(frozen=True, slots=True)
class TlsRptRecord:
    rua: tuple[str, ...]
    extensions: tuple[tuple[str, str], ...] = ()


def parse(text: str) -> TlsRptRecord:
    """Parse one `_smtp._tls` TXT record (RFC 8460 3). Pure."""
    if not _VERSION.match(text):
        raise TlsRptSyntaxError("the record must begin with v=TLSRPTv1")
    read = tagvalue.parse(text, _GRAMMAR)
    if read.problems:
        raise TlsRptSyntaxError(_describe(read.problems[0]))
    values = dict(read.tags)
    rua_text = values.pop("rua", None)
    if rua_text is None:
        raise TlsRptSyntaxError("the record has no rua= field (where reports go)")
    return TlsRptRecord(_rua(rua_text), tuple(values.items()))


def _describe(problem: tagvalue.Problem) -> str:
    if problem.kind is tagvalue.Kind.DUPLICATE:
        return f"{problem.name}= appears more than once"
    return f"{problem.entry[:60]!r} is not a name=value field"


def _rua(text: str) -> tuple[str, ...]:
    uris = tuple(u.strip(" \t") for u in text.split(","))
    for uri in uris:
        if not uri:
            raise TlsRptSyntaxError("rua= has an empty entry")
        scheme = uri.partition(":")[0].lower()
        if scheme not in ("mailto", "https"):
            raise TlsRptSyntaxError(f"rua entry {uri[:60]!r}: use a mailto: or https: URI")
        pattern = _MAILTO if scheme == "mailto" else _HTTPS
        if not pattern.fullmatch(scheme + uri[len(scheme) :]):
            raise TlsRptSyntaxError(f"rua entry {uri[:60]!r} is not a valid {scheme}: URI")
    return uris


async def run(ctx: Context) -> list[Finding]:
    name = f"_smtp._tls.{ctx.domain}"
    answer = await ctx.dns.txt(name)
    if answer.failed:
        return [
            Finding(
                "tls_rpt.lookup_failed",
                Status.ERROR,
                f"The lookup of {name} TXT failed: {answer.describe()}.",
                fix="Check that the domain's name servers answer; then run the check again.",
            )
        ]
    # RFC 8460 3: records not starting with v=TLSRPTv1 are discarded; exactly one must remain.
    records = [t for t in answer.texts() if _VERSION.match(t)]
    seen = Fact("tls_rpt.record", 0, text="\n".join(sorted(records)))  # record history
    return with_facts(await _verdict(ctx, name, records), [seen])


async def _verdict(ctx: Context, name: str, records: list[str]) -> list[Finding]:
    match records:
        case []:
            return [await _missing(ctx, name)]
        case [text]:
            return [_judge(ctx.domain, name, text)]
        case _:
            return [
                Finding(
                    "tls_rpt.multiple",
                    Status.FAIL,
                    f"{name} has {len(records)} TLS-RPT records, so senders ignore all of them "
                    "(RFC 8460 3).",
                    fix="Delete all but one; list several report addresses in one rua=, "
                    "separated by commas.",
                    evidence=tuple(records),
                )
            ]


def _judge(domain: str, name: str, text: str) -> Finding:
    try:
        record = parse(text)
    except TlsRptSyntaxError as exc:
        return Finding(
            "tls_rpt.invalid",
            Status.FAIL,
            f"The TLS-RPT record at {name} is invalid: {exc}; senders ignore it.",
            fix="Replace it with a valid record.",
            record=_record(domain),
            evidence=(text,),
        )
    return Finding(
        "tls_rpt.ok",
        Status.PASS,
        f"TLS failure reports for {domain} go to {', '.join(record.rua)}.",
        evidence=(text,),
    )


async def _missing(ctx: Context, name: str) -> Finding:
    deployed = await _transport_policies(ctx)
    if deployed:
        why = (
            f"{' and '.join(deployed)} {'is' if len(deployed) == 1 else 'are'} deployed, so "
            "senders that fail to deliver because of it have no way to tell you"
        )
    else:
        why = (
            "it is optional, but it is how you hear about failures once you deploy MTA-STS or DANE"
        )
    return Finding(
        "tls_rpt.none",
        Status.INFO,
        f"{name} has no TLS-RPT record: {why}.",
        fix="Publish a TLS-RPT record naming a mailbox that reads the daily JSON reports.",
        record=_record(ctx.domain),
    )


async def _transport_policies(ctx: Context) -> list[str]:
    """Which of MTA-STS and DANE the domain publishes (from cached lookups other checks share)."""
    sts = await ctx.dns.txt(f"_mta-sts.{ctx.domain}")
    found = ["MTA-STS"] if any(t.startswith("v=STSv1") for t in sts.texts()) else []
    mx = await ctx.mx()
    if mx.receives_mail:
        names = [h.name for h in mx.hosts if not is_ip_literal(h.name)]
        answers = await asyncio.gather(*(ctx.dns.query(f"_25._tcp.{n}", "TLSA") for n in names))
        if any(a.ok for a in answers):
            found.append("DANE")
    return found


def _record(domain: str) -> Record:
    return Record(f"_smtp._tls.{domain}.", "TXT", f'"v=TLSRPTv1; rua=mailto:tls-reports@{domain}"')
