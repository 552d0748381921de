"""Sender requirements of Gmail and Yahoo (February 2024) and Microsoft (May 2025): would this
message meet them?

Every sender: SPF or DKIM passes, forward-confirmed reverse DNS, TLS on the hop. Bulk senders
(5,000 a day and more) also: SPF and DKIM both pass, a DMARC record with the From domain aligned,
and one-click unsubscribe (RFC 8058: `List-Unsubscribe` with an https URI and
`List-Unsubscribe-Post: List-Unsubscribe=One-Click`, both covered by a valid DKIM signature).
A message that does not look like bulk mail is not held to the bulk rules: no false alarms.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from checks.message.alignment import Alignment
from checks.message.parse import Parsed
from checks.message.sender import Sender, judge_fcrdns
from checks.message.signatures import Signature
from checks.model import Finding, Status

ID: Final = "bulk"
TITLE: Final = "Gmail/Yahoo/Microsoft sender rules"

_BULK_PRECEDENCE: Final = frozenset({"bulk", "list", "junk"})
_HTTPS: Final = re.compile(r"<\s*https://[^>]+>", re.I)
_ONE_CLICK: Final = re.compile(r"^\s*List-Unsubscribe\s*=\s*One-Click\s*$", re.I)


def is_bulk(parsed: Parsed) -> bool:
    """Looks like bulk mail: list headers, a bulk Precedence, or a feedback loop id."""
    precedence = (parsed.get("Precedence") or "").strip().lower()
    return precedence in _BULK_PRECEDENCE or any(
        parsed.get(h) is not None for h in ("List-Unsubscribe", "List-Id", "Feedback-ID")
    )


def judge(
    parsed: Parsed,
    signatures: Sequence[Signature],
    sender: Sender,
    alignment: Alignment | None,
) -> list[Finding]:
    bulk = is_bulk(parsed)
    findings = [_authenticated(signatures, sender, bulk=bulk)]
    fcrdns = judge_fcrdns(sender)
    if fcrdns is not None:
        findings.append(fcrdns)
    findings.append(_tls(sender))
    if bulk:
        findings.append(_dmarc(alignment))
        findings.append(_one_click(parsed, signatures))
    else:
        findings.append(
            Finding(
                "bulk.not_bulk",
                Status.INFO,
                "This does not look like bulk mail (no List-Unsubscribe, List-Id or bulk "
                "Precedence), so the bulk-only rules (DMARC alignment, one-click unsubscribe) "
                "were not applied.",
            )
        )
    return findings


def _authenticated(signatures: Sequence[Signature], sender: Sender, *, bulk: bool) -> Finding:
    dkim_ok = any(s.passed for s in signatures)
    spf_ok = sender.spf_pass
    if dkim_ok and spf_ok:
        return Finding("bulk.authenticated", Status.PASS, "SPF and DKIM both pass.")
    missing = " and ".join(n for n, ok in (("SPF", spf_ok), ("DKIM", dkim_ok)) if not ok)
    if bulk or not (dkim_ok or spf_ok):
        rule = "bulk senders need both to pass" if bulk else "every sender needs one to pass"
        return Finding(
            "bulk.unauthenticated",
            Status.FAIL,
            f"{missing} did not pass; {rule} (Gmail answers 5.7.26 or 5.7.27, Microsoft 5.7.515).",
            fix="Sign with DKIM for the From domain and list the sending server in the envelope "
            "domain's SPF record.",
        )
    return Finding(
        "bulk.authenticated",
        Status.PASS,
        f"{'DKIM' if dkim_ok else 'SPF'} passes, enough for a sender below bulk volume "
        f"({missing} does not).",
    )


def _tls(sender: Sender) -> Finding:
    hop = sender.hop
    if hop is None or hop.tls is None:
        return Finding(
            "bulk.tls_unknown",
            Status.INFO,
            "The receiver's Received field does not say whether the hop used TLS.",
        )
    if hop.tls:
        return Finding(
            "bulk.tls", Status.PASS, f"The hop into {hop.by_host or 'the receiver'} used TLS."
        )
    return Finding(
        "bulk.no_tls",
        Status.FAIL,
        f"The hop from {hop.from_host or hop.from_ip} into {hop.by_host or 'the receiver'} did not "
        f"use TLS ({hop.protocol}); Gmail requires TLS of every sender and rate-limits without it "
        "(4.7.29).",
        fix=f"Enable STARTTLS for outgoing mail on {hop.from_host or hop.from_ip} (Postfix: "
        "smtp_tls_security_level = may).",
    )


def _dmarc(alignment: Alignment | None) -> Finding:
    if alignment is not None and alignment.policy is not None and alignment.passes:
        return Finding(
            "bulk.dmarc", Status.PASS, "A DMARC record is published and the message aligns."
        )
    why = (
        "no DMARC record is published"
        if alignment is None or alignment.policy is None
        else "the message does not align with the From domain"
    )
    return Finding(
        "bulk.dmarc_missing",
        Status.FAIL,
        f"Bulk senders need a DMARC record (p=none is enough) and an aligned message; here {why}.",
        fix="Publish a DMARC record for the From domain and sign with DKIM for that domain.",
    )


def _one_click(parsed: Parsed, signatures: Sequence[Signature]) -> Finding:
    unsubscribe = parsed.get("List-Unsubscribe") or ""
    post = parsed.get("List-Unsubscribe-Post") or ""
    problems = []
    if not _HTTPS.search(unsubscribe):
        problems.append(
            "List-Unsubscribe has no https URI" if unsubscribe else "there is no List-Unsubscribe"
        )
    if not _ONE_CLICK.match(post):
        problems.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click is missing")
    covered = any(
        s.passed and {"list-unsubscribe", "list-unsubscribe-post"} <= set(s.signed)
        for s in signatures
    )
    if not problems and not covered:
        problems.append("no valid DKIM signature covers both fields (RFC 8058 4)")
    if not problems:
        return Finding(
            "bulk.one_click", Status.PASS, "One-click unsubscribe (RFC 8058) is in place."
        )
    return Finding(
        "bulk.one_click_missing",
        Status.FAIL,
        f"One-click unsubscribe (RFC 8058) is incomplete: {'; '.join(problems)}. Gmail and Yahoo "
        "require it of bulk mail.",
        fix="Send `List-Unsubscribe: <https://…>` and `List-Unsubscribe-Post: "
        "List-Unsubscribe=One-Click`, and sign both with DKIM.",
        evidence=tuple(v for v in (unsubscribe, post) if v),
    )
