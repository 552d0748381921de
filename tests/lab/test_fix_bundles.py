"""`mxbot fix` on every lab domain: the snippet is a zone dnspython reads, and once its live
records are in place (each replacing what its comment names) the checks that proposed them no
longer report what they fixed, and fail for nothing new. What the bundle leaves as comments
(a value to fill in, another zone's record, the MTA-STS record waiting for its policy) is not
applied, so the problems those would fix may remain.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

import dns.name
import dns.rdataset
import dns.rdatatype
import dns.rrset
import dns.zone
import pytest

from bot.lab.zones import domains, load
from checks import registry
from checks.bundle.assemble import assemble
from checks.bundle.result import Action, Bundle
from checks.engine import make_context, run_report
from checks.model import Report, Status
from checks.settings import Nameserver, Settings
from checks.target import normalise
from tests.fakes.dnsserver import DnsTestServer

# The checks whose findings propose records; the others only add to "not fixed by DNS records".
CHECKS = ("mx", "spf", "dmarc", "bimi", "mta_sts", "tls_rpt", "dnssec")
LAB_DOMAINS = sorted(domains())
_VERSION = re.compile(r"\s*v\s*=\s*([a-z0-9.]+)\s*(;|\s|$)", re.IGNORECASE)


class Lab:
    """The lab on its own DNS server, put back as it was before each domain's bundle."""

    def __init__(self) -> None:
        self.server = DnsTestServer().start()
        load(self.server)
        self._records = dict(self.server.records)
        self._names = set(self.server.names)
        self.settings = Settings(
            resolvers=(Nameserver(self.server.host, self.server.port),),
            timeout=0.5,
            dns_retries=1,
            check_budget=5.0,
            report_budget=8.0,
            connect_networks=(ipaddress.ip_network("127.0.0.0/8"),),
        )

    def reset(self) -> None:
        self.server.records = dict(self._records)
        self.server.names = set(self._names)

    async def report(self, domain: str) -> Report:
        checks = registry.select(list(CHECKS), is_address=False)
        return await run_report(checks, make_context(normalise(domain), self.settings))

    def apply(self, zone: dns.zone.Zone) -> None:
        """Each RRset of the snippet replaces what is there: for TXT, the records of its kind."""
        for name, node in zone.nodes.items():
            for rdataset in node.rdatasets:
                self._put(name, rdataset)

    def _put(self, name: dns.name.Name, new: dns.rdataset.Rdataset) -> None:
        rrset = dns.rrset.RRset(name, new.rdclass, new.rdtype)
        rrset.update(new)  # type: ignore[no-untyped-call]
        old = self.server.records.get((name, new.rdtype))
        if new.rdtype == dns.rdatatype.TXT and old is not None:
            replaced = {kind(r) for r in new}
            for rdata in old:
                if kind(rdata) not in replaced:
                    rrset.add(rdata)
        self.server.records[(name, new.rdtype)] = rrset
        while True:  # the name and its ancestors exist now (as the server's own loading does)
            self.server.names.add(name)
            if len(name) <= 1:
                break
            name = name.parent()


def kind(rdata: object) -> str:
    """A TXT record's version tag (v=spf1, v=DMARC1 anywhere among its tags), else its text."""
    text = b"".join(rdata.strings).decode("utf-8", "replace")  # type: ignore[attr-defined]
    for part in [text, *text.split(";")]:
        match = _VERSION.match(part)
        if match:
            return match.group(1).lower()
    return text


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    built = Lab()
    yield built
    built.server.stop()


def parsed(bundle: Bundle) -> dns.zone.Zone:
    return dns.zone.from_text(
        bundle.zone, origin=bundle.domain, relativize=False, check_origin=False
    )


@pytest.mark.parametrize("domain", LAB_DOMAINS)
async def test_the_bundle_fixes_what_it_says_it_fixes(lab: Lab, domain: str) -> None:
    lab.reset()
    before = await lab.report(domain)
    bundle = assemble(before)
    zone = parsed(bundle)
    live = bundle.with_action(Action.PUBLISH)
    assert len(zone.nodes) == len({e.name for e in live})
    if not live:
        return

    lab.apply(zone)
    after = await lab.report(domain)

    fixed = {r.code for e in live for r in e.reasons}
    still = {
        f.code
        for r in after.results
        for f in r.findings
        if f.code in fixed and f.status.severity >= Status.WARN.severity
    }
    assert still == set(), bundle.zone
    touched = {r.check for e in live for r in e.reasons}
    known = {f.code for r in before.results for f in r.findings if f.status is Status.FAIL}
    known |= {r.code for e in bundle.entries if e.action is not Action.PUBLISH for r in e.reasons}
    new = {
        (r.id, f.code)
        for r in after.results
        if r.id in touched
        for f in r.findings
        if f.status is Status.FAIL and f.code not in known
    }
    assert new == set(), bundle.zone
