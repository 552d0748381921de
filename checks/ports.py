"""Client ports (RFC 6186 SRV records, RFC 8314 implicit TLS): can mail clients submit and read
mail over TLS, and would they accept the certificate?

Hosts come from the SRV records (_submissions._tcp, _submission._tcp, _imaps._tcp, _imap._tcp,
_pop3s._tcp, _pop3._tcp) or, failing those, from the usual names (smtp., mail., imap., pop.).
465/993/995 are probed with implicit TLS, 587/143/110 with STARTTLS. Mail clients verify
certificates, so trust and name problems are failures here, unlike on port 25. Opt-in: it makes
several connections per host.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Final

from checks.context import Context
from checks.model import DOMAIN, Finding, Record, Status
from checks.net.probe.prober import SmtpProber
from checks.net.probe.result import Failure, ProbeResult, Protocol, where
from checks.tls.analysis import analyse_probe
from checks.tls.findings import findings as tls_findings

ID: Final = "ports"
TITLE: Final = "Client ports"
SCOPE: Final = DOMAIN

_MAX_ADDRESSES = 2  # per host and service: enough to see a difference, polite enough


@dataclass(frozen=True, slots=True)
class _Service:
    srv: str  # SRV label
    label: str  # for people
    protocol: Protocol
    port: int
    names: tuple[str, ...]  # usual host names to try without SRV


_SERVICES = (
    _Service(
        "_submissions._tcp", "submission (implicit TLS)", Protocol.SMTPS, 465, ("smtp", "mail")
    ),
    _Service("_submission._tcp", "submission (STARTTLS)", Protocol.SMTP, 587, ("smtp", "mail")),
    _Service("_imaps._tcp", "IMAP (implicit TLS)", Protocol.IMAPS, 993, ("imap", "mail")),
    _Service("_imap._tcp", "IMAP (STARTTLS)", Protocol.IMAP, 143, ("imap", "mail")),
    _Service("_pop3s._tcp", "POP3 (implicit TLS)", Protocol.POP3S, 995, ("pop", "pop3", "mail")),
    _Service("_pop3._tcp", "POP3 (STARTTLS)", Protocol.POP3, 110, ("pop", "pop3", "mail")),
)


@dataclass(frozen=True, slots=True)
class _Target:
    service: _Service
    host: str
    port: int
    from_srv: bool


async def run(ctx: Context) -> list[Finding]:
    prober = ctx.services.smtp
    if not isinstance(prober, SmtpProber):
        return [
            Finding("ports.not_configured", Status.SKIP, "No prober is configured for this run.")
        ]
    located = await asyncio.gather(*(_locate(ctx, s) for s in _SERVICES))
    notes = [f for _, fs in located for f in fs]
    targets = [t for ts, _ in located for t in ts]
    if not targets:
        return [
            *notes,
            Finding(
                "ports.no_hosts",
                Status.INFO,
                f"{ctx.domain} publishes no client SRV records and none of the usual names "
                "(smtp., mail., imap., pop.) resolves, so there is nothing to probe.",
            ),
        ]
    pairs = await _addresses(ctx, targets)
    budget = max(ctx.settings.check_budget - 1.0, ctx.settings.timeout)
    tasks = [
        asyncio.ensure_future(prober.probe(t.host, a, port=t.port, protocol=t.service.protocol))
        for t, a in pairs
    ]
    _done, pending = await asyncio.wait(tasks, timeout=budget) if tasks else (set(), set())
    out = list(notes)
    for (t, a), task in zip(pairs, tasks, strict=True):
        if task in pending:
            task.cancel()
            out.append(
                Finding(
                    "ports.not_finished",
                    Status.ERROR,
                    f"{t.service.label} on {where(t.host, a, t.port)} was not probed within the budget.",
                )
            )
            continue
        out.extend(f for f in _judge(prober, t, task.result()) if f not in out)
    if not any(f.code in {"ports.ok"} or f.code.startswith("ports.cert") for f in out):
        out.append(
            Finding(
                "ports.none_open",
                Status.INFO,
                "No client port answered with TLS on the hosts found.",
            )
        )
    return out


async def _locate(ctx: Context, s: _Service) -> tuple[list[_Target], list[Finding]]:
    """SRV first (RFC 6186 3); else the first usual name that has an address."""
    name = f"{s.srv}.{ctx.domain}"
    answer = await ctx.dns.query(name, "SRV")
    if answer.ok:
        records = sorted(answer.srv_records(), key=lambda r: (r.priority, -r.weight))
        if any(r.target.to_text() == "." for r in records):
            return [], [
                Finding(
                    "ports.srv_not_offered",
                    Status.INFO,
                    f'{name} says {s.label} is not offered (target ".", RFC 6186 3.4).',
                )
            ]
        targets = [
            _Target(s, r.target.to_text(omit_final_dot=True).lower(), int(r.port), True)
            for r in records[:2]
        ]
        return targets, []
    for label in s.names:
        host = f"{label}.{ctx.domain}"
        a, aaaa = await ctx.dns.addresses(host)
        if a.ok or aaaa.ok:
            return [_Target(s, host, s.port, False)], []
    return [], []


async def _addresses(ctx: Context, targets: list[_Target]) -> list[tuple[_Target, str]]:
    answers = await asyncio.gather(*(ctx.dns.addresses(t.host) for t in targets))
    out: list[tuple[_Target, str]] = []
    for t, (a, aaaa) in zip(targets, answers, strict=True):
        addresses = a.addresses() + aaaa.addresses()
        out.extend((t, addr) for addr in addresses[:_MAX_ADDRESSES])
    return out


def _judge(prober: SmtpProber, t: _Target, r: ProbeResult) -> list[Finding]:
    w = f"{t.service.label} on {where(t.host, r.address, t.port)}"
    if r.failure is None:
        srv = [] if t.from_srv else [_srv_hint(t)]
        analysis = analyse_probe(r, prober.trust)
        if analysis is None:  # pragma: no cover -- a probe without failure has TLS
            return []
        return [*tls_findings(analysis, ID, w, clients_verify=True), *srv]
    match r.failure:
        case Failure.REFUSED_BY_POLICY:
            return [
                Finding("ports.address_refused", Status.INFO, f"Not connecting to {w}: {r.detail}.")
            ]
        case Failure.CONNECTION_REFUSED | Failure.CONNECT_TIMEOUT | Failure.UNREACHABLE:
            return [Finding("ports.closed", Status.INFO, f"{w}: {r.detail}; not offered here.")]
        case Failure.STARTTLS_MISSING:
            return [
                Finding(
                    "ports.starttls_missing",
                    Status.FAIL,
                    f"{w} does not offer STARTTLS, so clients would send passwords in clear text.",
                    fix="Enable STARTTLS (or close the port and offer only implicit TLS, RFC 8314).",
                    evidence=(r.describe_steps(),),
                )
            ]
        case Failure.STARTTLS_REFUSED | Failure.TLS_FAILED:
            return [
                Finding(
                    "ports.tls_failed",
                    Status.FAIL,
                    f"{w}: TLS does not work ({r.detail}); mail clients cannot connect securely.",
                    fix="Check the certificate, key and TLS settings of this service.",
                    evidence=(r.describe_steps(),),
                )
            ]
        case Failure.GARBAGE | Failure.GREETING_REJECTED:
            return [
                Finding(
                    "ports.unexpected_answer",
                    Status.WARN,
                    f"{w} answers, but not as expected ({r.detail}).",
                    evidence=(r.describe_steps(), repr(r.garbage[:120])),
                )
            ]
        case _:
            return [
                Finding(
                    "ports.inconclusive",
                    Status.ERROR,
                    f"{w}: {r.detail}. Inconclusive; run the check again later.",
                    evidence=(r.describe_steps(),),
                )
            ]


def _srv_hint(t: _Target) -> Finding:
    domain = t.host.split(".", 1)[1] if "." in t.host else t.host
    return Finding(
        "ports.srv_missing",
        Status.INFO,
        f"{t.host} answers for {t.service.label}, but there is no {t.service.srv} SRV record, "
        "so mail clients must guess the server (RFC 6186 lets them find it).",
        fix="Publish the SRV record below so that clients configure themselves.",
        record=Record(f"{t.service.srv}.{domain}.", "SRV", f"0 1 {t.port} {t.host}."),
    )
