"""`mxbot live` against a real caching resolver (Debian's Unbound) that still holds the old answer,
and the absence of a record added since: the verdict and its seconds, as the resolver counts them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import dns.message
import dns.query
import dns.rdatatype
import pytest

from checks.live import records
from checks.live.result import LiveReport, Verdict
from checks.live.survey import survey
from checks.settings import Nameserver, Settings
from tests.checks.zone_servers import PARENT_ADDRESS, ZoneServers, zone
from tests.fakes.cachingresolver import CachingResolver, binaries_present
from tests.fakes.dnsserver import DnsTestServer

MAIL_V1 = (
    '@ 300 IN MX 10 mx\nmx 300 IN A 192.0.2.25\n@ 300 IN TXT "v=spf1 -all"\n'
    '@ 300 IN TXT "google-site-verification=abc"\n_dmarc 300 IN TXT "v=DMARC1; p=reject"\n'
)
MAIL_V2 = MAIL_V1.replace("v=spf1 -all", "v=spf1 mx -all") + '_mta-sts 300 IN TXT "v=STSv1; id=2"\n'
NEGATIVE_TTL = 120
SOA_TIMERS = f"7200 3600 1209600 {NEGATIVE_TTL}"


@pytest.fixture
def unbound(dns_server_session: DnsTestServer) -> Iterator[CachingResolver]:
    if not binaries_present():
        pytest.skip("unbound is not installed (CI installs it from .ci/apt-packages)")
    port = dns_server_session.port
    resolver = CachingResolver(
        {"example.test": [f"127.0.0.11@{port}"], "test": [f"{PARENT_ADDRESS}@{port}"]}
    )
    yield resolver
    resolver.stop()


def ask(resolver: CachingResolver, name: str) -> dns.message.Message:
    query = dns.message.make_query(name, dns.rdatatype.TXT)
    return dns.query.udp(query, resolver.host, port=resolver.port, timeout=2)


async def test_a_resolver_holding_the_old_answer_and_an_old_absence_is_timed_by_its_ttls(
    zone_servers: ZoneServers, settings: Settings, unbound: CachingResolver
) -> None:
    zone_servers.sound(zone(1, extra=MAIL_V1, soa=SOA_TIMERS))
    unbound.start("example.test")
    ask(unbound, "example.test")  # cached: the old SPF record, for 300 s
    ask(unbound, "_mta-sts.example.test")  # cached: no such name, for the negative TTL
    zone_servers.sound(zone(2, extra=MAIL_V2, soa=SOA_TIMERS))  # the change, on every server
    resolver = Nameserver(unbound.host, unbound.port)

    report: LiveReport = await survey(
        "example.test",
        records.mail_set("example.test"),
        replace(settings, live_resolvers=(resolver,)),
    )

    by_label = {r.wanted.label: r for r in report.records}
    spf = by_label["example.test TXT (SPF)"]
    sts = by_label["_mta-sts.example.test TXT (MTA-STS)"]
    assert report.verdict is Verdict.RESOLVERS_STALE
    assert by_label["example.test MX"].verdict is Verdict.LIVE
    assert spf.verdict is sts.verdict is Verdict.RESOLVERS_STALE
    assert 295 <= spf.wait_s <= 300  # the TTL Unbound has left, a second or two after caching
    assert NEGATIVE_TTL - 5 <= sts.wait_s <= NEGATIVE_TTL
    assert report.wait_s == spf.wait_s
    assert spf.sentence == (
        'The name servers agree on example.test TXT (SPF) (TXT "v=spf1 mx -all", serial 2), '
        f"but 1 of 2 resolvers still serves the old answer for at most {spf.wait_s} more seconds: "
        f'{resolver} has TXT "v=spf1 -all" for {spf.wait_s} s more.'
    )
    assert sts.sentence == (
        "The name servers agree on _mta-sts.example.test TXT (MTA-STS) "
        '(TXT "v=STSv1; id=2", serial 2), but 1 of 2 resolvers still says there is no such record '
        f"for at most {sts.wait_s} more seconds (the zone's negative-caching TTL): {resolver} has "
        f"no record for {sts.wait_s} s more."
    )
    assert report.sentence.startswith(spf.sentence[:-1])
