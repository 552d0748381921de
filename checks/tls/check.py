"""TLS on port 25 (RFC 3207, RFC 8996, RFC 6125): which protocol and cipher each MX negotiates, and
what a certificate-checking sender would think of its certificate (chain, name, dates, key).

It reads the probe the smtp check made (one connection per address per report); addresses that
present the same certificate and session parameters are reported together.
"""

from __future__ import annotations

import asyncio
from typing import Final

from checks.context import Context
from checks.model import DOMAIN_AND_ADDRESS, Fact, Finding, Status, with_facts
from checks.net.probe.prober import SmtpProber
from checks.net.probe.result import ProbeResult
from checks.tls.analysis import TlsAnalysis, analyse_probe
from checks.tls.findings import findings

ID: Final = "tls"
TITLE: Final = "TLS certificates"
SCOPE: Final = DOMAIN_AND_ADDRESS


async def run(ctx: Context) -> list[Finding]:
    pairs, why_not = await ctx.mail_endpoints()
    if not pairs:
        return [Finding("tls.skipped", Status.SKIP, why_not)]
    prober = ctx.services.smtp
    probes = await asyncio.gather(*(ctx.smtp_probe(host, address) for host, address in pairs))
    results = [p for p in probes if p is not None and p.tls is not None]
    if not isinstance(prober, SmtpProber) or not results:
        return [
            Finding(
                "tls.not_checked",
                Status.SKIP,
                "No TLS session could be made with any mail host (the SMTP check says why).",
            )
        ]
    groups: dict[tuple[str, str, str, str], list[tuple[ProbeResult, TlsAnalysis]]] = {}
    for r in results:
        analysis = analyse_probe(r, prober.trust)
        if analysis is None:
            continue
        leaf = analysis.leaf.sha256 if analysis.leaf else ""
        groups.setdefault((r.host, leaf, analysis.version, analysis.cipher), []).append(
            (r, analysis)
        )
    out: list[Finding] = []
    for (host, *_), members in groups.items():
        addresses = ", ".join(r.address for r, _ in members)
        label = host if host == addresses else f"{host} [{addresses}]"
        analysis = members[0][1]
        out.extend(
            with_facts(findings(analysis, ID, label, clients_verify=False), _expiry(analysis))
        )
    return out


def _expiry(analysis: TlsAnalysis) -> list[Fact]:
    """The certificate's notAfter (the probe's expiry series) and fingerprint (record history)."""
    leaf = analysis.leaf
    if leaf is None:
        return []
    return [
        Fact("tls.not_after", leaf.not_after.timestamp(), analysis.host),
        Fact("tls.fingerprint", 0, analysis.host, leaf.sha256),
    ]
