"""MX (RFC 5321 5.1, RFC 7505): where does mail for the domain go, and can a sender use it?"""

from __future__ import annotations

import asyncio
from typing import Final

from checks.context import Context, MxHost, MxSet
from checks.model import DOMAIN, Fact, Finding, Record, Status, with_facts
from checks.net.dns import Answer, Outcome
from checks.net.policy import is_ip_literal

ID: Final = "mx"
TITLE: Final = "Mail exchangers (MX)"
SCOPE: Final = DOMAIN


async def run(ctx: Context) -> list[Finding]:
    mx = await ctx.mx()
    findings = await _judge(ctx, mx)
    return findings if mx.answer.failed else with_facts(findings, [_published(mx)])


def _published(mx: MxSet) -> Fact:
    """The MX set as published, for record history ("" for none: no MX, or no such domain)."""
    shown = [] if mx.implicit else sorted(f"{h.preference} {h.name}" for h in mx.hosts)
    return Fact("mx.set", 0, text="\n".join(shown))


async def _judge(ctx: Context, mx: MxSet) -> list[Finding]:
    answer = mx.answer
    name = ctx.domain
    if answer.outcome is Outcome.NXDOMAIN:
        return [
            Finding(
                "mx.nxdomain",
                Status.FAIL,
                f"{name} does not exist in DNS (NXDOMAIN), so no mail can be delivered to it.",
                fix="Check the spelling; if it is right, the domain's delegation or registration is broken.",
                facts=_hosts(0),
            )
        ]
    if answer.failed:
        return [
            Finding(
                "mx.lookup_failed",
                Status.ERROR,
                f"The MX lookup for {name} failed: {answer.describe()}.",
                fix="Check that the domain's name servers answer; then run the check again.",
            )
        ]
    if mx.implicit:
        return await _implicit(ctx, mx)
    if mx.null:
        return [_null(name, mx)]
    return [*await _targets(ctx, mx), _summary(name, mx)]


def _summary(name: str, mx: MxSet) -> Finding:
    listing = ", ".join(f"{h.preference} {h.name}" for h in mx.hosts)
    preferences = [h.preference for h in mx.hosts]
    shared = len(set(preferences)) < len(preferences)
    note = " Hosts with equal preference share the load." if shared else ""
    return Finding(
        "mx.ok",
        Status.PASS,
        f"{name} has {len(mx.hosts)} MX record{'s' if len(mx.hosts) != 1 else ''}: {listing}.{note}",
        evidence=tuple(f"{h.preference} {h.name}" for h in mx.hosts),
        facts=_hosts(len(mx.hosts)),
    )


def _hosts(count: int) -> tuple[Fact, ...]:
    return (Fact("mx.hosts", count),)


def _null(name: str, mx: MxSet) -> Finding:
    if len(mx.hosts) > 1:
        others = ", ".join(h.name for h in mx.hosts if h.name != ".")
        return Finding(
            "mx.null_mixed",
            Status.FAIL,
            f'{name} publishes a null MX ("0 .") together with other MX records ({others}); '
            "RFC 7505 forbids this and senders will treat the domain inconsistently.",
            fix="Remove the null MX if the domain receives mail, or remove the other MX records if it does not.",
            evidence=tuple(f"{h.preference} {h.name}" for h in mx.hosts),
            facts=_hosts(sum(1 for h in mx.hosts if h.name != ".")),
        )
    return Finding(
        "mx.null",
        Status.INFO,
        f"{name} publishes a null MX (RFC 7505): it says it accepts no mail. Senders bounce at once.",
        fix="If the domain should receive mail, replace the null MX with your mail hosts.",
        evidence=("0 .",),
        facts=_hosts(0),
    )


async def _implicit(ctx: Context, mx: MxSet) -> list[Finding]:
    a, aaaa = await ctx.dns.addresses(ctx.domain)
    name = ctx.domain
    if a.failed and aaaa.failed:
        return [
            Finding(
                "mx.lookup_failed",
                Status.ERROR,
                f"{name} has no MX record, and looking up its address failed: {a.describe()}.",
            )
        ]
    addresses = a.addresses() + aaaa.addresses()
    record = Record(f"{name}.", "MX", f"10 mail.{name}.")
    if not addresses:
        return [
            Finding(
                "mx.none",
                Status.FAIL,
                f"{name} has no MX record and no A/AAAA address, so no mail can be delivered to it.",
                fix=f"Publish MX records for your mail hosts; if {name} sends but never receives mail, "
                "publish a null MX (0 .) instead.",
                record=record,
                facts=_hosts(0),
            )
        ]
    return [
        Finding(
            "mx.implicit",
            Status.WARN,
            f"{name} has no MX record; senders fall back to its own address "
            f"({', '.join(addresses)}) as an implicit MX (RFC 5321 5.1).",
            fix="Publish an explicit MX record; if the domain takes no mail, publish a null MX (0 .).",
            record=record,
            evidence=addresses,
            facts=_hosts(0),
        )
    ]


async def _targets(ctx: Context, mx: MxSet) -> list[Finding]:
    real = [h for h in mx.hosts if not is_ip_literal(h.name)]
    answers = await asyncio.gather(*(ctx.dns.addresses(h.name) for h in real))
    found = dict(zip((h.name for h in real), answers, strict=True))
    findings: list[Finding] = []
    for host in mx.hosts:
        if is_ip_literal(host.name):
            findings.append(_ip_literal(ctx.domain, host))
            continue
        a, aaaa = found[host.name]
        findings.extend(_target(ctx.domain, host, a, aaaa))
    return findings


def _ip_literal(domain: str, host: MxHost) -> Finding:
    return Finding(
        "mx.target_ip",
        Status.FAIL,
        f"The MX {host.name} is an IP address; an MX must name a host (RFC 7505 3, RFC 5321 5.1), "
        "and most senders will not deliver.",
        fix="Give the server a name with an A/AAAA record and point the MX at that name.",
        record=Record(f"{domain}.", "MX", f"{host.preference} mail.{domain}."),
    )


def _target(domain: str, host: MxHost, a: Answer, aaaa: Answer) -> list[Finding]:
    if a.failed and aaaa.failed:
        return [
            Finding(
                "mx.target_lookup_failed",
                Status.ERROR,
                f"Looking up the address of MX {host.name} failed: {a.describe()}.",
            )
        ]
    if a.cnames or aaaa.cnames:
        target = (a.cnames or aaaa.cnames)[-1]
        return [
            Finding(
                "mx.target_cname",
                Status.FAIL,
                f"The MX {host.name} is an alias (CNAME to {target}); RFC 2181 10.3 forbids MX targets "
                "that are aliases and some senders refuse them.",
                fix=f"Point the MX straight at {target}.",
                record=Record(f"{domain}.", "MX", f"{host.preference} {target}."),
            )
        ]
    if not (a.ok or aaaa.ok):
        why = "does not exist" if a.outcome is Outcome.NXDOMAIN else "has no A or AAAA record"
        return [
            Finding(
                "mx.target_no_address",
                Status.FAIL,
                f"The MX {host.name} {why}, so senders cannot deliver to it.",
                fix=f"Publish an A (and AAAA) record for {host.name}, or remove this MX.",
                record=Record(f"{host.name}.", "A", "<address of your mail server>"),
            )
        ]
    return []
