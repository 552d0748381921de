"""`mxbot live` against real name servers on loopback: live everywhere, a stale server, a server with
a different record, a lame one; and the wait, driven by a test clock."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import dns.name
import pytest

from checks.live import records
from checks.live.result import LiveReport, State, Verdict, Wanted
from checks.live.survey import survey
from checks.live.wait import limit_for, wait_until_live
from checks.settings import Settings
from tests.checks.zone_servers import ADDRESSES, ZoneServers, zone
from tests.fakes.dnsserver import DnsTestServer

MAIL_V1 = (
    '@ 300 IN MX 10 mx\nmx 300 IN A 192.0.2.25\n@ 300 IN TXT "v=spf1 -all"\n'
    '@ 300 IN TXT "google-site-verification=abc"\n'
    '_dmarc 300 IN TXT "v=DMARC1; p=reject"\n'
    's1._domainkey 300 IN TXT "v=DKIM1; p=old"\n'
)
MAIL_V2 = MAIL_V1.replace("v=spf1 -all", "v=spf1 mx -all").replace("p=old", "p=new")
V1, V2 = zone(1, extra=MAIL_V1), zone(2, extra=MAIL_V2)
THREE = {**ADDRESSES, "ns3.example.test": "127.0.0.13"}
NS3 = "ns3.example.test (127.0.0.13)"


async def look(settings: Settings, *wanted: Wanted) -> LiveReport:
    return await survey("example.test", wanted or records.mail_set("example.test"), settings)


def of(report: LiveReport, label: str) -> tuple[Verdict, str]:
    found = next(r for r in report.records if r.wanted.label == label)
    return found.verdict, found.sentence


async def test_a_change_served_by_every_server_and_resolver_is_live_everywhere(
    zone_servers: ZoneServers, settings: Settings
) -> None:
    zone_servers.sound(V2)

    report = await look(settings)

    assert report.verdict is Verdict.LIVE
    assert report.serial == 2
    assert report.sentence == (
        "Live everywhere: 2 name server addresses of example.test (serial 2) and 1 resolver give "
        "the same answers for example.test MX, example.test TXT (SPF), _dmarc.example.test TXT "
        "(DMARC), _mta-sts.example.test TXT (MTA-STS)."
    )


async def test_a_stale_server_is_named_with_its_serial_and_its_old_answer(
    zone_servers: ZoneServers, settings: Settings
) -> None:
    zone_servers.sound(V2)
    zone_servers.serve("127.0.0.11", V1)

    report = await look(settings)

    assert report.verdict is Verdict.SERVERS_DISAGREE
    assert of(report, "example.test MX")[0] is Verdict.LIVE  # unchanged between the serials
    assert report.sentence == (
        "The name servers disagree on example.test TXT (SPF): ns1.example.test (127.0.0.11) "
        'still serves TXT "v=spf1 -all" (serial 1), while the other one serves TXT '
        '"v=spf1 mx -all" (serial 2).'
    )


async def test_a_server_with_another_record_at_the_same_serial_is_named(
    zone_servers: ZoneServers, settings: Settings
) -> None:
    text = zone(2, THREE, extra=MAIL_V2)
    zone_servers.delegate(tuple(THREE), glue=THREE)
    zone_servers.publish(text)
    zone_servers.serve("127.0.0.11", text)
    zone_servers.serve("127.0.0.13", text.replace("MX 10 mx", "MX 10 other.example.net."))

    report = await look(settings, records.one("example.test", "MX"))

    assert report.verdict is Verdict.SERVERS_DISAGREE
    assert report.sentence == (
        f"The name servers disagree on example.test MX: {NS3} serves MX 10 "
        "other.example.net. at the same serial 2, while the other 2 serve MX 10 "
        "mx.example.test. (serial 2)."
    )


async def test_a_lame_server_is_named_but_does_not_hold_the_change_back(
    zone_servers: ZoneServers, settings: Settings
) -> None:
    text = zone(2, THREE, extra=MAIL_V2)
    zone_servers.delegate(tuple(THREE), glue=THREE)
    zone_servers.publish(text)
    zone_servers.serve("127.0.0.11", text)
    zone_servers.servers["127.0.0.13"].behaviour.refused_zones.add(
        dns.name.from_text("example.test")
    )

    report = await look(settings, records.one("example.test", "TXT", "s1._domainkey"))

    assert report.verdict is Verdict.LIVE
    assert report.sentence == (
        "s1._domainkey.example.test TXT is live everywhere: 2 name server addresses (serial 2) "
        'and 1 resolver give TXT "v=DKIM1; p=new" '
        f"({NS3} does not answer for the zone: REFUSED)."
    )
    lame = next(s for s in report.records[0].servers if s.address == "127.0.0.13")
    assert lame.state is State.LAME


async def test_at_one_serial_the_primarys_answer_is_the_current_one(
    zone_servers: ZoneServers, settings: Settings
) -> None:
    zone_servers.sound(V2)  # ns2 (and the resolver) without the record
    zone_servers.serve("127.0.0.11", V2 + '_mta-sts 300 IN TXT "v=STSv1; id=2"\n')  # the primary

    report = await look(settings, records.one("example.test", "TXT", "_mta-sts"))

    assert report.sentence == (
        "The name servers disagree on _mta-sts.example.test TXT: ns2.example.test (127.0.1.1) "
        'serves no record at the same serial 2, while the other one serves TXT "v=STSv1; id=2" '
        "(serial 2)."
    )


async def test_stale_lame_and_different_servers_at_once_are_each_named(
    zone_servers: ZoneServers, settings: Settings
) -> None:
    four = {**THREE, "ns4.example.test": "127.0.0.12"}
    text = zone(2, four, extra=MAIL_V2)
    zone_servers.delegate(tuple(four), glue=four)
    zone_servers.publish(text)  # ns2, and the resolver: current
    zone_servers.serve("127.0.0.11", zone(1, four, extra=MAIL_V1))  # ns1: stale
    zone_servers.servers["127.0.0.13"].behaviour.refused_zones.add(
        dns.name.from_text("example.test")
    )  # ns3: lame
    zone_servers.serve("127.0.0.12", text.replace("v=spf1 mx -all", "v=spf1 a -all"))  # ns4

    report = await look(settings, records.one("example.test", "TXT"))

    record = report.records[0]
    assert report.verdict is Verdict.SERVERS_DISAGREE
    assert report.sentence == (
        "The name servers disagree on example.test TXT: ns1.example.test (127.0.0.11) still "
        'serves TXT "google-site-verification=abc" | "v=spf1 -all" (serial 1); '
        'ns4.example.test (127.0.0.12) serves TXT "google-site-verification=abc" | "v=spf1 a '
        '-all" at the same serial 2, while the other one serves TXT '
        '"google-site-verification=abc" | "v=spf1 mx -all" (serial 2).'
    )
    states = {s.address: (s.state, s.serial) for s in record.servers}
    assert states == {
        "127.0.0.11": (State.RECORDS, 1),
        "127.0.1.1": (State.RECORDS, 2),
        "127.0.0.12": (State.RECORDS, 2),
        "127.0.0.13": (State.LAME, None),
    }
    assert record.resolvers[0].answer == record.new  # the resolver agrees with the current one


async def test_no_answering_server_means_no_verdict(
    zone_servers: ZoneServers, settings: Settings
) -> None:
    zone_servers.sound(V2)
    zone_servers.servers["127.0.0.11"].behaviour.refused_zones.add(
        dns.name.from_text("example.test")
    )
    zone_servers.resolver.behaviour.refused_zones.add(dns.name.from_text("example.test"))

    report = await look(settings, records.one("example.test", "MX"))

    assert report.verdict is Verdict.UNKNOWN
    assert report.sentence.startswith("Could not tell whether example.test MX is live:")


async def test_a_domain_without_a_zone_cannot_be_told(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    report = await survey("example.invalid", records.mail_set("example.invalid"), settings)

    assert report.verdict is Verdict.UNKNOWN
    assert report.records == ()
    assert "no SOA record" in report.sentence


async def test_only_the_servers_the_zone_names_and_the_resolvers_are_asked(
    zone_servers: ZoneServers, settings: Settings
) -> None:
    zone_servers.sound(V2)

    await look(settings)

    assert zone_servers.asked("127.0.0.12") == zone_servers.asked("127.0.0.14") == 0
    assert zone_servers.asked("127.0.0.13") == 0
    assert zone_servers.asked("127.0.0.11") > 0
    assert zone_servers.asked("127.0.0.10") == 1  # the parent: its delegation, once


async def test_a_look_is_bounded_when_every_server_is_silent(
    zone_servers: ZoneServers, settings: Settings
) -> None:
    zone_servers.sound(V2)
    zone_servers.servers["127.0.0.11"].behaviour.drop_all = True
    zone_servers.resolver.behaviour.timeout_zones.add(dns.name.from_text("example.test"))
    started = time.monotonic()

    report = await look(replace(settings, report_budget=2.0))

    assert report.verdict is Verdict.UNKNOWN
    assert time.monotonic() - started < 4.0


def test_record_names_are_relative_to_the_domain_unless_they_say_otherwise() -> None:
    assert records.one("example.com", "txt", "s1._domainkey").name == "s1._domainkey.example.com"
    assert records.one("example.com", "MX", "@").name == "example.com"
    assert records.one("example.com", "A", "www.example.com").name == "www.example.com"
    assert records.one("example.com", "A", "www.example.net.").name == "www.example.net"
    with pytest.raises(records.RecordError, match="not a DNS record type"):
        records.one("example.com", "SPF2", "@")
    with pytest.raises(records.RecordError, match="query type"):
        records.one("example.com", "ANY", "@")


# ---- --wait: a test clock, no sleeps --------------------------------------------------------------
@dataclass
class FakeClock:
    """Time that moves only when the wait sleeps."""

    now: float = 1000.0
    pauses: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


async def test_wait_returns_as_soon_as_the_stale_server_catches_up(
    zone_servers: ZoneServers, settings: Settings
) -> None:
    zone_servers.sound(V2)
    zone_servers.serve("127.0.0.11", V1)
    clock = FakeClock()
    rounds: list[float] = []

    async def sleep(seconds: float) -> None:
        await clock.sleep(seconds)
        if clock.now - 1000.0 >= 6:  # the secondary transfers the zone 6 s in
            zone_servers.serve("127.0.0.11", V2)

    waited = await wait_until_live(
        lambda: look(settings),
        clock=clock,
        sleep=sleep,
        on_round=lambda r: rounds.append(r.next_in_s),
    )

    assert waited.live
    assert waited.looks == 3
    assert clock.pauses == [2.0, 4.0]
    assert rounds == [2.0, 4.0]
    assert waited.report.verdict is Verdict.LIVE


async def test_wait_gives_up_after_the_longest_ttl_and_a_margin(
    zone_servers: ZoneServers, settings: Settings
) -> None:
    zone_servers.sound(V2)
    zone_servers.serve("127.0.0.11", V1)
    clock = FakeClock()

    waited = await wait_until_live(lambda: look(settings), clock=clock, sleep=clock.sleep)

    assert not waited.live
    assert waited.limit_s == 300 + 30  # the records' TTL, and the least margin
    assert sum(clock.pauses) == pytest.approx(330)
    assert clock.pauses[:6] == [2, 4, 8, 16, 32, 60]
    assert waited.report.verdict is Verdict.SERVERS_DISAGREE


def test_the_wait_is_never_longer_than_a_day() -> None:
    report = LiveReport("example.com", "example.com", (), Verdict.UNKNOWN, "")

    assert limit_for(report) == 30
    assert limit_for(replace(report, records=())) == 30
