"""The message diagnosis's one sentence: of everything found, what most likely explains the
trouble? Pure, over a finished `MessageReport`."""

from __future__ import annotations

from typing import Final

from checks.message.result import Kind, MessageReport
from checks.model import Cause, Finding, Status

# Causes in the order a postmaster would name them: what a receiver acts on first.
_PRIORITY: Final = (
    "dmarc_align.fail",
    "dkim_verify.body_hash_mismatch",
    "dkim_verify.signature_mismatch",
    "dkim_verify.key_missing",
    "dkim_verify.key_revoked",
    "dkim_verify.expired",
    "dkim_verify.weak_key",
    "spf_verify.fail",
    "spf_verify.permerror",
    "dmarc_align.no_policy",
    "bulk.unauthenticated",
    "bulk.fcrdns",
    "bulk.no_tls",
    "bulk.dmarc_missing",
    "bulk.one_click_missing",
    "arc.fail",
)
_SEVERE: Final = (Status.FAIL, Status.ERROR, Status.WARN)


def headline_of(report: MessageReport) -> tuple[Cause | None, str]:
    """(where the cause was found, the sentence)."""
    if report.kind is Kind.BOUNCE:
        return _bounce(report)
    found = _cause(report)
    if found is None:
        return None, _all_good(report)
    section, finding = found
    line = finding.message
    if finding.code == "dmarc_align.fail":
        line += _why_dkim(report)
    elif finding.code.startswith("dkim_verify.") and _passes(report, "dmarc_align.pass"):
        line += " DMARC still passes, on SPF alone, which any forwarding breaks."
    return Cause(section, finding.code), line


def _cause(report: MessageReport) -> tuple[str, Finding] | None:
    bad = [
        (s.id, f)
        for s in report.sections
        for f in s.findings
        if f.status in (Status.FAIL, Status.ERROR, Status.WARN)
    ]
    if not bad:
        return None
    rank = {code: i for i, code in enumerate(_PRIORITY)}
    for status in _SEVERE:
        tier = [(sid, f) for sid, f in bad if f.status is status]
        if tier:
            return min(tier, key=lambda pair: rank.get(pair[1].code, len(rank)))
    return None


def _why_dkim(report: MessageReport) -> str:
    failed = [
        f
        for s in report.sections
        if s.id == "dkim_verify"
        for f in s.findings
        if f.status is Status.FAIL
    ]
    if not failed:
        return ""
    reason = failed[0].message.split(" fails: ", 1)[-1].split(":", 1)[0].rstrip(".")
    return f" The DKIM signature failed on a {reason}." if "mismatch" in reason else ""


def _passes(report: MessageReport, code: str) -> bool:
    return any(f.code == code for s in report.sections for f in s.findings)


def _all_good(report: MessageReport) -> str:
    passed = {f.code for s in report.sections for f in s.findings if f.status is Status.PASS}
    parts = []
    if "dmarc_align.pass" in passed:
        parts.append("DMARC passes")
    if "dkim_verify.pass" in passed:
        parts.append("DKIM verifies")
    if any(code.startswith("spf_verify.pass") for code in passed):
        parts.append("SPF passes")
    if not parts:
        return "Nothing wrong found in these headers."
    return "Nothing wrong: " + ", ".join(parts) + "."


def _bounce(report: MessageReport) -> tuple[Cause | None, str]:
    dsn = report.dsn
    section = report.sections[0] if report.sections else None
    if section is None or not section.findings:
        return None, "The bounce could not be read."
    finding = section.findings[0]
    if finding.status is Status.PASS or dsn is None or dsn.first is None:
        return None, finding.message
    first = dsn.first
    code = first.status or first.reply_code or "no code"
    retry = "permanent, not retried" if dsn.permanent else "temporary, being retried"
    who = f" to {first.recipient}" if first.recipient else ""
    lead = f"Mail{who} {'bounced' if dsn.permanent else 'is delayed'} ({code}, {retry}): "
    message = finding.message
    return Cause("bounce", finding.code), lead + message
