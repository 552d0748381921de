"""The fix bundle for one report: every proposed record, reconciled (one SPF record, one DMARC
record, one MX set), with the MTA-STS policy to serve and notes on what records cannot fix.

Pure: a function of the `Report`, so every face (terminal, JSON, Slack) shows the same bundle.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Final

from checks.bundle import mxset, zone
from checks.bundle.presentation import (
    in_zone,
    is_placeholder,
    is_printable,
    kind_key,
    kind_label,
    one_line,
    owner_hint,
    txt_text,
    version,
)
from checks.bundle.proposals import ABSENT, STARTERS, Proposal, gather, unfixed, unique
from checks.bundle.result import Action, Bundle, Entry, PolicyFile
from checks.model import Record, Report, Status

# Findings after which a fresh MTA-STS policy file is worth serving (RFC 8461 3.2).
POLICY_CODES: Final = frozenset(
    {
        "mta_sts.none",
        "mta_sts.txt_invalid",
        "mta_sts.policy_invalid",
        "mta_sts.policy_http_status",
        "mta_sts.policy_host_missing",
        "mta_sts.policy_too_large",
        "mta_sts.policy_redirect",
        "mta_sts.mx_mismatch",
    }
)
# Proposals that wait for the policy file: the TXT record makes senders fetch it.
WAITS_FOR_POLICY: Final = frozenset({"mta_sts.none"})

_MAILTO: Final = re.compile(r"mailto:([^,;!\s]+@[^,;!\s]+)", re.IGNORECASE)

_ORDER: Final = {action: rank for rank, action in enumerate(Action)}  # the snippet's sections

Group = list[Proposal]


def assemble(report: Report) -> Bundle:
    taken, optional = gather(report)
    domain = report.domain
    mx = mxset.plan(domain, report, [p for p in taken if p.record.type.upper() == "MX"])
    groups = _groups(p for p in taken if p.record.type.upper() != "MX")
    policy = _policy(report, mx.hosts)
    entries = [*mx.entries, *(_entry(domain, g) for g in groups)]
    receiving = mxset.receives_mail(mx.hosts)
    if not receiving:  # no inbound mail: nothing for TLS reports or MTA-STS to be about
        entries = [e for e in entries if not all(r.code in STARTERS for r in e.reasons)]
    if policy is None:  # nothing to serve: the MTA-STS record would point at nothing
        entries = [e for e in entries if e.action is not Action.LATER]
    unsafe = [e for e in entries if not all(is_printable(r.zone_line) for r in e.records)]
    entries = sorted((e for e in entries if e not in unsafe), key=lambda e: _ORDER[e.action])
    notes = [
        *_policy_notes(domain, policy, entries),
        *_spf_notes(domain, entries, mx.hosts),
        *_mailbox_notes(domain, entries, receiving=receiving),
        *_alternatives(groups),
        *(f"Left out, as it holds control characters: {e.kind} at {e.name}." for e in unsafe),
        *_optional_notes(optional),
        *_unfixed_notes(report),
        *_error_notes(report),
    ]
    return Bundle(
        domain=domain,
        display_name=report.display_name or domain,
        entries=tuple(entries),
        files=(policy,) if policy else (),
        notes=tuple(notes),
        zone=zone.render(domain, entries),
        headline=report.headline,
    )


def _groups(proposals: Iterator[Proposal]) -> list[Group]:
    """Proposals for the same record (name, type and, for TXT, version), in first-seen order."""
    groups: dict[tuple[str, str, str], Group] = {}
    for p in proposals:
        r = p.record
        key = (r.name.lower(), r.type.upper(), kind_key(r.type, r.value))
        groups.setdefault(key, []).append(p)
    return list(groups.values())


def _chosen(group: Group) -> Proposal:
    """The proposal that fixes the worst finding (the first of those): for TXT, the one record."""
    return max(group, key=lambda p: p.severity)


def _entry(domain: str, group: Group) -> Entry:
    first = group[0].record
    rdtype = first.type.upper()
    key = kind_key(rdtype, first.value)
    records: tuple[Record, ...]
    if rdtype == "TXT":
        records = (_chosen(group).record,)
    else:
        records = tuple({p.record.value: p.record for p in group}.values())
    action, hint = _action(domain, group, records)
    return Entry(
        name=first.name,
        type=rdtype,
        kind=kind_label(rdtype, key),
        records=records,
        reasons=unique(p.reason for p in group if p.record in records),
        action=action,
        current=_current(rdtype, key, group) if action is not Action.ELSEWHERE else (),
        new=any(p.finding.code in ABSENT for p in group),
        hint=hint,
    )


def _action(domain: str, group: Group, records: Sequence[Record]) -> tuple[Action, str]:
    name = records[0].name
    if records[0].type.upper() == "DS":  # RFC 4034 5: the DS set lives in the parent zone
        return Action.ELSEWHERE, "publish it at your registrar (the parent zone), not here"
    if not in_zone(name, domain):
        return Action.ELSEWHERE, f"ask the admins of {owner_hint(name)} to publish it"
    if any(is_placeholder(r.value) for r in records):
        return Action.FILL_IN, ""
    if all(p.finding.code in WAITS_FOR_POLICY for p in group):
        return Action.LATER, ""
    return Action.PUBLISH, ""


def _current(rdtype: str, key: str, group: Group) -> tuple[str, ...]:
    """Today's records of the same kind, where the findings' evidence shows them."""
    if rdtype != "TXT":
        return ()
    seen: list[str] = []
    for p in group:
        for item in p.finding.evidence:
            if version(item) and version(item) == key and item not in seen:
                seen.append(item)
    return tuple(seen)


def _policy(report: Report, hosts: Sequence[mxset.Host]) -> PolicyFile | None:
    wanted = any(f.code in POLICY_CODES for r in report.results for f in r.findings)
    return mxset.policy(report.domain, hosts) if wanted else None


# ---- notes --------------------------------------------------------------------------------------
def _policy_notes(
    domain: str, policy: PolicyFile | None, entries: Sequence[Entry]
) -> Iterator[str]:
    if policy is None:
        return
    host = f"mta-sts.{domain}"
    waiting = any(e.action is Action.LATER for e in entries)
    yield (
        f"MTA-STS: serve the policy file at {policy.path} as text/plain, with no redirect, from a "
        f"web server with a certificate for {host} (which needs an A/AAAA or CNAME record)"
        + (
            "; then publish the _mta-sts record left as a comment in the snippet."
            if waiting
            else "."
        )
    )
    yield (
        "The policy starts in mode: testing; once the TLS reports show no failures for a few "
        "weeks, change it to mode: enforce and change the id in the _mta-sts record."
    )


def _spf_notes(domain: str, entries: Sequence[Entry], hosts: Sequence[mxset.Host]) -> Iterator[str]:
    """An SPF record that names no sender only suits a domain that sends no mail."""
    for entry in entries:
        if entry.kind != "SPF" or entry.action is not Action.PUBLISH or not hosts:
            continue
        terms = txt_text(entry.records[0].value).split()[1:]
        if all(t.lower().lstrip("+-~?") == "all" for t in terms):
            yield (
                f"The SPF record for {domain} names no sender, only how to treat the rest: if the "
                "domain sends mail, add its senders (mx, include:, ip4:) before publishing."
            )


def _mailbox_notes(domain: str, entries: Sequence[Entry], *, receiving: bool) -> Iterator[str]:
    """Report addresses the snippet introduces at the domain must be mailboxes someone reads."""
    found: list[str] = []
    for entry in entries:
        if entry.action is Action.PUBLISH and entry.type == "TXT":
            text = txt_text(entry.records[0].value)
            found += [a for a in _MAILTO.findall(text) if in_zone(a.partition("@")[2], domain)]
    if not found:
        return
    addresses = ", ".join(dict.fromkeys(found))
    if receiving:
        yield f"Reports will go to {addresses}: create the mailboxes (or change the addresses) first."
    else:
        yield (
            f"Reports would go to {addresses}, but {domain} receives no mail: change the "
            "addresses to a mailbox in a domain that does before publishing."
        )


def _alternatives(groups: Sequence[Group]) -> Iterator[str]:
    """Other values proposed for a record that can exist only once."""
    for group in groups:
        if group[0].record.type.upper() != "TXT":
            continue
        chosen = _chosen(group)
        for p in group:
            if p.record.value != chosen.record.value:
                yield (
                    f"Next step, not in the snippet (there can be only one such record): "
                    f"{p.finding.code} ({p.finding.status.value}) proposes "
                    f"{one_line(p.record.zone_line)}; publish it in place of the one above once "
                    "that works as intended."
                )


def _optional_notes(optional: Sequence[Proposal]) -> Iterator[str]:
    for p in optional:
        r = p.record
        label = kind_label(r.type, kind_key(r.type, r.value))
        yield f"Optional, left out: the {label} record at {r.name.rstrip('.')} ({p.finding.code})."


def _unfixed_notes(report: Report) -> Iterator[str]:
    counts: dict[tuple[str, str], int] = {}
    for f in unfixed(report):
        key = (f.code, f.status.value)
        counts[key] = counts.get(key, 0) + 1
    if counts:
        listed = ", ".join(
            f"{code} ({status}){f' x{n}' if n > 1 else ''}" for (code, status), n in counts.items()
        )
        yield f"Not fixed by DNS records (see mxbot check {report.domain}): {listed}."


def _error_notes(report: Report) -> Iterator[str]:
    """Checks that could not tell may have had fixes to propose: the bundle may be incomplete."""
    failed = [r.id for r in report.results if r.status is Status.ERROR]
    if failed:
        yield (
            f"Could not check everything ({', '.join(failed)}): this bundle may lack their fixes; "
            "run it again once those lookups answer."
        )
