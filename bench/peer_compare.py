"""Developer tool: mxbot's SPF and DMARC verdicts side by side with checkdmarc's and pyspf's.

Every domain of the lab (`bot.lab.zones`, what `mxbot demo` checks) is served by its loopback DNS
server; mxbot, checkdmarc and pyspf all resolve through it and nothing else (dnspython's default
resolver is replaced before a peer is imported, so not even a peer's fallback can reach the system
resolver). For each domain it prints the verdict of mxbot's `spf` and `dmarc` checks next to
checkdmarc's `check_spf`/`check_dmarc` (error -> fail, warnings -> warn, else ok), and for every
lab address (`SPF_PROBE_IPS`) the check_host() result of `mxbot spf DOMAIN --ip X` next to pyspf's
`spf.check2`. Disagreements that
were judged against the RFCs carry the judgement (see `JUDGED`); a new, unjudged disagreement is
marked `??` and makes the exit status 1.

This is not part of the test suite and installs nothing. The peers live in their own venv:

    python3 -m venv /tmp/peers && /tmp/peers/bin/pip install checkdmarc pyspf dnspython
    .venv/bin/python bench/peer_compare.py [--peers /tmp/peers] [--only-disagreements] [DOMAIN ...]
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import importlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.nameserver
import dns.query
import dns.resolver

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.lab.dnsserver import DnsServer
from bot.lab.zones import SPF_PROBE_IPS, domains, load
from checks import registry
from checks.engine import make_context, run_report
from checks.model import CheckResult, Status
from checks.net.dns import DnsClient
from checks.settings import Nameserver, Settings
from checks.spf.evaluate import check_host
from checks.target import normalise

# (domain, check or "ip:<address>") -> who is right, and why (RFC 7208, RFC 9989/9990).
# "peer" marks the peer's error or a deliberate RFC 9989-versus-RFC 7489 difference.
JUDGED: dict[tuple[str, str], str] = {
    ("mail.dmarc-sub-sp.lab", "dmarc"): "mxbot: sp= is read only in the organisational domain's "
    "record (RFC 9989 4.7, 4.10), so in a subdomain's record it is noted as ignored, not warned about",
    # ---- SPF: checkdmarc ----
    ("spf-plusall.lab", "spf"): "mxbot: +all authorises every host (RFC 7208 5.1); the peer "
    "accepts it silently",
    ("spf-include-plusall.lab", "spf"): "mxbot: an included +all makes the include match every "
    "host (RFC 7208 5.2); the peer does not look",
    ("spf-neutral.lab", "spf"): "mxbot: ?all gives neutral, which receivers treat like no policy "
    "(RFC 7208 8.2); a lint choice the peer does not make",
    ("spf-noall.lab", "spf"): "mxbot: no all and no redirect means the default neutral "
    "(RFC 7208 4.7); a lint choice the peer does not make",
    ("spf-macro-ptr.lab", "spf"): "mxbot: %{p} is discouraged like ptr (RFC 7208 7.3, 5.5); "
    "the peer warns only about the ptr mechanism",
    ("spf-upper.lab", "spf"): "peer: ABNF strings are case-insensitive (RFC 7208 12, RFC 5234 "
    "2.3), so V=SPF1 MX -ALL is valid (pyspf agrees and passes it)",
    ("spf-unknown-mod.lab", "spf"): "both fine: unknown modifiers MUST be ignored (RFC 7208 6); "
    "the peer mentions it as a warning, mxbot stays quiet",
    ("spf-redirect-plusall.lab", "spf"): "mxbot: the redirect target ends in +all, so every "
    "host passes (RFC 7208 6.1, 5.1); the peer does not look",
    ("spf-empty.lab", "spf"): "mxbot: v=spf1 alone gives neutral to every host (RFC 7208 4.7); "
    "a lint choice the peer does not make",
    ("spf-dynamic-include.lab", "spf"): "mxbot: include:%{d}.… expands to a name without SPF for "
    "every message, so every evaluation is permerror (RFC 7208 7.3, 5.2; pyspf agrees on every "
    "address); the peer does not expand %{d}",
    # ---- SPF: pyspf ----
    ("spf-void2.lab", "ip:2001:db8::26"): "mxbot: RFC 7208 4.6.4 counts void *terms*; the mx "
    "term's MX lookup was not void. pyspf also counts the empty AAAA lookup of an A-only MX host "
    "as a third void lookup (stricter than the RFC; receivers running pyspf do the same)",
    # ---- DMARC: checkdmarc ----
    ("dmarc-ext.lab", "dmarc"): "both flag it; severity only: RFC 9990 3 says receivers MUST NOT "
    "send to an unauthorised destination, so no reports arrive (mxbot fail, peer warn)",
    ("dmarc-ruf-ext.lab", "dmarc"): "both flag it; severity only (RFC 9990 3), as dmarc-ext.lab",
    ("dmarc-ext-nx.lab", "dmarc"): "both flag it; severity only (RFC 9990 3); mxbot adds that "
    "the destination does not exist",
    ("dmarc-ext-aonly.lab", "dmarc"): "mxbot: a domain without MX but with an address receives "
    "mail at that address (implicit MX, RFC 5321 5.1); the peer asks for an MX",
    ("dmarc-nop.lab", "dmarc"): "RFC 9989 is ambiguous: 4.7 reads a missing p as p=none, 4.10 "
    "says a record without a valid p and without rua gets no DMARC processing; mxbot follows "
    "4.10 (fail), the peer 4.7 (warn); either way nothing is enforced",
    ("dmarc-np-none.lab", "dmarc"): "mxbot: np=none under p=reject lets spoofers invent "
    "subdomains (RFC 9989 4.7 np); the peer does not compare np with p",
    ("dmarc-testing.lab", "dmarc"): "mxbot: t=y asks receivers to apply one level less "
    "(RFC 9989 4.7 t); the peer does not flag test mode",
    ("dmarc-pct50.lab", "dmarc"): "expected: RFC 9989 removed pct (Appendix C); mxbot notes it "
    "(info), the peer warns for RFC 7489 receivers",
    ("dmarc-pct0.lab", "dmarc"): "expected: RFC 9989 removed pct (Appendix C), as dmarc-pct50.lab",
    ("dmarc-ri.lab", "dmarc"): "expected: RFC 9989 removed ri (Appendix C); info versus warn",
    ("dmarc-only-v.lab", "dmarc"): "RFC 9989 ambiguity, as dmarc-nop.lab",
    ("dmarc-size.lab", "dmarc"): "both fine: receivers ignore the RFC 7489 !size suffix "
    "(RFC 9990); the peer mentions it as a warning, mxbot stays quiet",
    ("dmarc-unknown-tag.lab", "dmarc"): "both fine: unknown tags MUST be ignored (RFC 9989 4.7); "
    "info versus warn",
    ("dmarc-rua-nomailto.lab", "dmarc"): "mxbot: syntax errors outside v are discarded in "
    "favour of defaults (RFC 9989 4.7), so the record stands without reports (warn); the peer "
    "rejects the whole record",
    ("dmarc-dup-tag.lab", "dmarc"): "mxbot: as dmarc-rua-nomailto.lab, RFC 9989 4.7 discards "
    "syntax errors after v; receivers use the first p; the peer rejects the record",
    ("dmarc-fo-bad.lab", "dmarc"): "mxbot: RFC 9989 4.7, the bad fo value falls back to the "
    "default; the peer rejects the record",
    ("nomx.lab", "dmarc"): "mxbot: nomx.lab has no MX but an address, which receives its reports "
    "(implicit MX, RFC 5321 5.1), as dmarc-ext-aonly.lab; the peer asks for an MX",
    (
        "hostile.lab",
        "dmarc",
    ): "both fine: the unknown tag x=<!here> MUST be ignored (RFC 9989 4.7); "
    "info versus warn, as dmarc-unknown-tag.lab",
    ("dmarc-unrelated.lab", "dmarc"): "peer: records that do not start with v=DMARC1 are "
    "discarded (RFC 9989 4.10 step 2), so another TXT string at _dmarc is harmless",
}

_EXTRA_TARGETS = ("mail.dmarc-org.lab", "servfail.lab", "timeout.lab")


@dataclass(frozen=True, slots=True)
class Row:
    domain: str
    what: str  # "spf", "dmarc" or "ip:<address>"
    ours: str  # category: detail
    peer: str
    agree: bool

    @property
    def judged(self) -> str:
        return JUDGED.get((self.domain, self.what), "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--peers",
        default="/tmp/peers",  # noqa: S108 -- the venv the docstring tells you to make
        help="the venv holding the peers",
    )
    parser.add_argument("--only-disagreements", action="store_true")
    parser.add_argument("--no-ip", action="store_true", help="skip the check_host comparison")
    parser.add_argument("domains", nargs="*")
    args = parser.parse_args()
    server = DnsServer().start()
    try:
        load(server)
        _pin_dnspython(server)
        peers = _import_peers(args.peers)
        if peers is None:
            return 2
        names = args.domains or [*domains(), *_EXTRA_TARGETS]
        rows = asyncio.run(_compare(server, names, peers, ip=not args.no_ip))
    finally:
        server.stop()
    _print(rows, only_disagreements=args.only_disagreements)
    unjudged = [r for r in rows if not r.agree and not r.judged]
    return 1 if unjudged else 0


# ---- peers --------------------------------------------------------------------------------------
def _pin_dnspython(server: DnsServer) -> dns.resolver.Resolver:
    """Point dnspython's default resolver (pyspf's) at the lab's server, and refuse any query to
    another address: a peer that builds its own resolver from /etc/resolv.conf fails loudly."""
    for name in ("udp", "tcp", "https", "tls", "quic"):
        original = getattr(dns.query, name, None)
        if original is not None:
            setattr(dns.query, name, _loopback_only(original, server))
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [server.host]
    resolver.port = server.port
    resolver.timeout = 1.0
    resolver.lifetime = 2.0
    dns.resolver.default_resolver = resolver
    return resolver


def _loopback_only(query: Any, server: DnsServer) -> Any:
    def guarded(q: Any, where: str, *args: Any, **kwargs: Any) -> Any:
        if where != server.host:
            raise RuntimeError(
                f"peer_compare: refused a DNS query to {where} (not the lab's server)"
            )
        return query(q, where, *args, **kwargs)

    return guarded


def _import_peers(venv: str) -> dict[str, Any] | None:
    for site in sorted(glob.glob(f"{venv}/lib/python3*/site-packages")):
        if site not in sys.path:
            sys.path.append(site)  # after ours: the project's own dnspython wins
    try:  # by name: the peers are not the project's dependencies, so mypy cannot see them
        spf_peer = importlib.import_module("checkdmarc.spf")
        dmarc_peer = importlib.import_module("checkdmarc.dmarc")
        pyspf = importlib.import_module("spf")
    except ImportError as exc:
        print(
            f"peer_compare: the peers are not installed ({exc}). Install them in their own venv:\n"
            f"  python3 -m venv {venv} && {venv}/bin/pip install checkdmarc pyspf dnspython\n"
            f"then run again with --peers {venv}.",
            file=sys.stderr,
        )
        return None
    return {
        "check_spf": spf_peer.check_spf,
        "check_dmarc": dmarc_peer.check_dmarc,
        "spf": pyspf,
    }


# ---- comparing ----------------------------------------------------------------------------------
async def _compare(
    server: DnsServer, names: list[str], peers: dict[str, Any], *, ip: bool
) -> list[Row]:
    settings = Settings(
        resolvers=(Nameserver(server.host, server.port),),
        timeout=1.0,
        dns_retries=0,
        check_budget=10.0,
        report_budget=15.0,
    )
    resolver = dns.resolver.default_resolver
    assert resolver is not None
    # checkdmarc builds a fresh resolver from `nameservers` for some lookups (the exp= TXT record)
    # even when given `resolver`: name the lab's server there too, port included.
    nameservers = [dns.nameserver.Do53Nameserver(server.host, server.port)]
    kw = {"resolver": resolver, "nameservers": nameservers, "timeout": 1.0, "retries": 0}
    rows: list[Row] = []
    for name in names:
        ours = await _mxbot(settings, name)
        spf_peer = _checkdmarc(peers["check_spf"](name, **kw))
        dmarc_peer = _checkdmarc(peers["check_dmarc"](name, **kw))
        rows.append(_row(name, "spf", ours["spf"], spf_peer))
        rows.append(_row(name, "dmarc", ours["dmarc"], dmarc_peer))
        if ip and (name.startswith("spf-") or name == "good.lab"):
            for address in SPF_PROBE_IPS:
                rows.append(await _ip_row(settings, name, address, peers["spf"]))
    return rows


def _row(domain: str, what: str, ours: str, peer: str) -> Row:
    return Row(domain, what, ours, peer, ours.split(":")[0] == peer.split(":")[0])


async def _mxbot(settings: Settings, name: str) -> dict[str, str]:
    target = normalise(name)
    ctx = make_context(target, settings)
    report = await run_report(registry.select(["spf", "dmarc"], is_address=False), ctx)
    return {r.id: _verdict(r) for r in report.results}


def _verdict(result: CheckResult) -> str:
    worst = max((f.status for f in result.findings), key=lambda s: s.severity)
    category = {
        Status.FAIL: "fail",
        Status.ERROR: "error",
        Status.WARN: "warn",
    }.get(worst, "ok")
    codes = [
        f.code.split(".", 1)[1]
        for f in result.findings
        if f.status.severity >= Status.WARN.severity or category == "ok"
    ]
    return f"{category}: {', '.join(dict.fromkeys(codes))}"


def _checkdmarc(result: dict[str, Any]) -> str:
    if result.get("error"):
        text = str(result["error"])
        category = "error" if _is_dns_failure(text) else "fail"
        return f"{category}: {_short(text)}"
    warnings = result.get("warnings") or []
    if warnings:
        return "warn: " + " | ".join(_short(str(w)) for w in warnings)
    return "ok: valid"


def _is_dns_failure(text: str) -> bool:
    lowered = text.lower()
    return any(w in lowered for w in ("servfail", "timed out", "timeout", "temporary"))


def _short(text: str, limit: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def _ip_row(settings: Settings, name: str, address: str, pyspf: Any) -> Row:
    ours = await check_host(DnsClient(settings), address, name, f"postmaster@{name}", name)
    theirs, _why = pyspf.check2(i=address, s=f"postmaster@{name}", h=name, timeout=5)
    peer = "none" if theirs in ("", "none") else str(theirs)
    return Row(name, f"ip:{address}", ours.result.value, peer, ours.result.value == peer)


# ---- output -------------------------------------------------------------------------------------
def _print(rows: list[Row], *, only_disagreements: bool) -> None:
    print("| domain | what | mxbot | peer | agree? | judgement |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        if only_disagreements and row.agree:
            continue
        mark = "yes" if row.agree else ("no" if row.judged else "no ??")
        cells = (row.domain, row.what, row.ours, row.peer, mark, row.judged)
        print("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    agree = sum(r.agree for r in rows)
    judged = sum(1 for r in rows if not r.agree and r.judged)
    print(
        f"\n{len(rows)} comparisons: {agree} agree, {judged} judged disagreements, "
        f"{len(rows) - agree - judged} unjudged."
    )


if __name__ == "__main__":
    sys.exit(main())
