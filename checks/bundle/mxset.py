"""The MX set after the fixes (RFC 5321 5.1, RFC 2181 10.3), the address records a new MX host
needs, and the MTA-STS policy (RFC 8461 3.2) that names those hosts.

An MX change replaces the whole MX set, so the set is rebuilt: today's records (the `mx.ok`
finding's evidence, "10 mx1.example") with each proposed change made.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from checks.bundle.proposals import Proposal, unique
from checks.bundle.result import Action, Entry, PolicyFile, Reason
from checks.model import Record, Report

POLICY_PATH: Final = "/.well-known/mta-sts.txt"
POLICY_MAX_AGE: Final = 604800  # one week: RFC 8461 3.2 suggests weeks once the policy is stable
_PLACEHOLDER: Final = "<address of your mail server>"

Host = tuple[int, str]  # (preference, host name without the trailing dot)


@dataclass(frozen=True, slots=True)
class MxPlan:
    entries: tuple[Entry, ...]  # the MX set, then any address records it needs
    hosts: tuple[Host, ...]  # the MX set after the fixes


def today(report: Report) -> tuple[Host, ...]:
    """The MX set as the mx check read it."""
    for result in report.results:
        for finding in result.findings:
            if finding.code == "mx.ok":
                return tuple(h for h in (_host(e) for e in finding.evidence) if h is not None)
    return ()


def plan(domain: str, report: Report, proposals: Sequence[Proposal]) -> MxPlan:
    """The MX set with every proposed change made; nothing when nothing proposes one."""
    before = today(report)
    if not proposals:
        return MxPlan((), before)
    hosts = list(before)
    extra: list[Entry] = []
    ambiguous = False
    for proposal in proposals:
        new = _host(proposal.record.value)
        if new is None:
            continue
        old = _replaced(proposal.finding.code, hosts, new)
        ambiguous |= old is None
        hosts = [h for h in hosts if h not in (old or [])]
        hosts += [] if new in hosts else [new]
        extra += _address_records(proposal, new[1], old or [])
    entry = _mx_entry(domain, before, hosts, proposals, extra, ambiguous=ambiguous)
    return MxPlan((entry, *extra), tuple(sorted(hosts)))


def policy(domain: str, hosts: Sequence[Host]) -> PolicyFile | None:
    """The MTA-STS policy to serve in testing mode, naming the MX hosts; None without any."""
    names = [h for _, h in sorted(hosts) if h and not _is_ip(h)]
    if not names:
        return None
    lines = ["version: STSv1", "mode: testing", *(f"mx: {h}" for h in names)]
    lines.append(f"max_age: {POLICY_MAX_AGE}")
    return PolicyFile(f"https://mta-sts.{domain}{POLICY_PATH}", "\n".join(lines) + "\n")


def receives_mail(hosts: Sequence[Host]) -> bool:
    """Is there an MX host to deliver to (not none, not only the null MX "0 .")?"""
    return any(name for _, name in hosts)


def _host(text: str) -> Host | None:
    preference, _, name = text.strip().partition(" ")
    if not preference.isdigit() or not name.strip():
        return None
    return int(preference), name.strip().lower().rstrip(".")


def _replaced(code: str, hosts: list[Host], new: Host) -> list[Host] | None:
    """Which of today's MX records the proposal replaces; None when that cannot be told."""
    preference, target = new
    same = [h for h in hosts if h[0] == preference and h[1] != target]
    if code == "mx.target_ip":
        return [h for h in same if _is_ip(h[1])]
    if code in ("mx.none", "mx.implicit") or not same:
        return []
    return same if len(same) == 1 else None


def _mx_entry(
    domain: str,
    before: Sequence[Host],
    after: Sequence[Host],
    proposals: Sequence[Proposal],
    extra: Sequence[Entry],
    *,
    ambiguous: bool,
) -> Entry:
    ttl = proposals[0].record.ttl
    waits = any(e.action is Action.FILL_IN for e in extra)
    hint = "publish it together with the address record below, once that is filled in"
    if ambiguous:
        hint = "several MX records share that preference: delete the one the finding names"
    return Entry(
        name=f"{domain}.",
        type="MX",
        kind="MX",
        records=tuple(Record(f"{domain}.", "MX", f"{p} {h}.", ttl) for p, h in sorted(after)),
        reasons=unique(p.reason for p in proposals),
        action=Action.FILL_IN if waits else Action.PUBLISH,
        current=tuple(f"{p} {h}." for p, h in before),
        new=not before,
        hint=hint if waits or ambiguous else "",
    )


def _address_records(proposal: Proposal, target: str, old: Sequence[Host]) -> list[Entry]:
    """What a new MX host needs: the address mail goes to today, or one to fill in."""
    match proposal.finding.code:
        case "mx.target_ip":
            addresses = [h for _, h in old if _is_ip(h)]
            why = f"the new MX host {target} takes the address the MX named directly"
        case "mx.implicit":
            addresses = [e for e in proposal.finding.evidence if _is_ip(e)]
            why = f"the new MX host {target} takes the address mail goes to today"
        case "mx.none":
            record = Record(f"{target}.", "A", _PLACEHOLDER, proposal.record.ttl)
            return [_address_entry(target, "A", [record], proposal.reason, Action.FILL_IN)]
        case _:
            return []
    entries = []
    for rdtype, version in (("A", 4), ("AAAA", 6)):
        ips = [a for a in addresses if ipaddress.ip_address(a).version == version]
        records = [Record(f"{target}.", rdtype, a, proposal.record.ttl) for a in ips]
        if records:
            entries.append(_address_entry(target, rdtype, records, proposal.reason, hint=why))
    return entries


def _address_entry(
    target: str,
    rdtype: str,
    records: list[Record],
    reason: Reason,
    action: Action = Action.PUBLISH,
    hint: str = "",
) -> Entry:
    if action is Action.FILL_IN:
        hint = f"fill in the address of your mail server {target}"
    return Entry(f"{target}.", rdtype, rdtype, tuple(records), (reason,), action, hint=hint)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
