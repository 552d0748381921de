"""The runner: everything at once, results as they finish, budgets enforced, one crash costs one row."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Final

import pytest

from checks import engine, registry
from checks.context import Context
from checks.model import DOMAIN, Finding, Status
from checks.net.dns import DnsClient
from checks.settings import Nameserver, Settings
from checks.target import normalise
from tests.conftest import MakeContext
from tests.fakes.dnsserver import DnsTestServer


class Fast:
    ID: Final = "fast"
    TITLE: Final = "Answers at once"
    SCOPE: Final = DOMAIN

    async def run(self, ctx: Context) -> list[Finding]:
        return [Finding("fast.ok", Status.PASS, "fine")]


class Slow:
    ID: Final = "slow"
    TITLE: Final = "Answers after a while"
    SCOPE: Final = DOMAIN

    async def run(self, ctx: Context) -> list[Finding]:
        await asyncio.sleep(0.3)
        return [Finding("slow.ok", Status.PASS, "fine")]


class Tarpit:
    ID: Final = "tarpit"
    TITLE: Final = "Never answers"
    SCOPE: Final = DOMAIN

    async def run(self, ctx: Context) -> list[Finding]:
        await asyncio.sleep(3600)
        return []


class Crash:
    ID: Final = "crash"
    TITLE: Final = "Has a bug"
    SCOPE: Final = DOMAIN

    async def run(self, ctx: Context) -> list[Finding]:
        raise RuntimeError("boom")


async def test_results_stream_in_completion_order(context_for: MakeContext) -> None:
    ctx = await context_for()

    order = [r.id async for r in engine.stream([Slow(), Fast()], ctx)]

    assert order == ["fast", "slow"]


async def test_a_report_stream_yields_as_checks_finish_then_holds_the_report(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    ctx = await context_for()
    running = engine.ReportStream([Slow(), Fast()], ctx)

    arrived = [r.id async for r in running]
    report = running.report

    assert arrived == ["fast", "slow"]
    assert [r.id for r in report.results] == ["slow", "fast"]  # the order the checks were given
    assert report.domain == "example.test"
    assert report.resolvers == (f"{dns_server.host}:{dns_server.port}",)
    assert report.duration_ms >= 250  # Slow sleeps 0.3 s


async def test_the_report_is_not_there_before_the_stream_ends(context_for: MakeContext) -> None:
    ctx = await context_for()
    running = engine.ReportStream([Fast(), Slow()], ctx)
    results = aiter(running)

    first = await anext(results)

    assert first.id == "fast"
    with pytest.raises(RuntimeError, match="not finished"):
        _ = running.report
    with pytest.raises(RuntimeError, match="only once"):
        aiter(running)
    assert [r.id async for r in results] == ["slow"]
    assert running.report.status is Status.PASS


async def test_the_reports_resolvers_are_those_of_the_dns_client_in_use(
    settings: Settings, dns_server: DnsTestServer
) -> None:
    no_resolvers = replace(settings, resolvers=())  # as when resolv.conf supplies them
    used = Nameserver(dns_server.host, dns_server.port)
    ctx = Context(
        target=normalise("example.test"),
        settings=no_resolvers,
        dns=DnsClient(no_resolvers, [used]),
    )

    report = await engine.run_report([Fast()], ctx)

    assert report.resolvers == (str(used),)


async def test_one_bad_check_costs_only_its_own_row(
    context_for: MakeContext, caplog: object
) -> None:
    ctx = await context_for()

    report = await engine.run_report([Crash(), Fast()], ctx)

    assert [(r.id, r.status) for r in report.results] == [
        ("crash", Status.ERROR),
        ("fast", Status.PASS),
    ]
    assert report.results[0].findings[0].code == "crash.crashed"
    assert "boom" not in report.results[0].findings[0].message  # no internals in user-facing text


async def test_a_check_that_hangs_is_cut_at_its_budget(
    context_for: MakeContext, settings: Settings
) -> None:
    ctx = await context_for()
    ctx.settings = replace(settings, check_budget=0.2, report_budget=5)
    started = time.monotonic()

    report = await engine.run_report([Tarpit(), Fast()], ctx)

    assert time.monotonic() - started < 5  # the tarpit sleeps an hour
    assert [(r.id, r.findings[0].code) for r in report.results] == [
        ("tarpit", "tarpit.timeout"),
        ("fast", "fast.ok"),
    ]


async def test_the_report_budget_bounds_everything(
    context_for: MakeContext, settings: Settings
) -> None:
    ctx = await context_for()
    ctx.settings = replace(settings, check_budget=60, report_budget=0.3)
    started = time.monotonic()

    results = [r async for r in engine.stream([Tarpit(), Fast(), Slow()], ctx)]

    assert time.monotonic() - started < 5  # the tarpit sleeps an hour
    by_id = {r.id: r.status for r in results}
    assert by_id == {
        "fast": Status.PASS,
        "slow": Status.ERROR,
        "tarpit": Status.ERROR,
    } or by_id == {
        "fast": Status.PASS,
        "slow": Status.PASS,
        "tarpit": Status.ERROR,
    }


async def test_domain_checks_are_skipped_for_an_ip_target(context_for: MakeContext) -> None:
    ctx = await context_for("", domain="192.0.2.1")

    report = await engine.run_report([Fast()], ctx)

    assert report.results[0].findings[0].code == "fast.not_applicable"
    assert report.results[0].status is Status.SKIP


async def test_a_full_report_asks_each_question_once(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    zone = "@ 300 IN SOA ns1 host 1 7200 3600 1209600 300\n@ MX 10 a\n@ MX 20 b\na A 192.0.2.1\nb A 192.0.2.2\n"
    dns_server.add("1.2.0.192.in-addr.arpa", "PTR", "a.example.test.")
    ctx = await context_for(zone)

    report = await engine.run_report(
        registry.select(["mx", "address", "ptr"], is_address=False), ctx
    )

    assert {r.id for r in report.results} == {"mx", "address", "ptr"}
    repeated = {q: n for q, n in dns_server.queries.items() if n > 1}
    assert repeated == {}
    assert (
        ctx.dns.stats.asked > ctx.dns.stats.sent
    )  # checks asked the same questions; the wire saw them once


def test_every_registered_check_has_a_unique_id_title_and_scope() -> None:
    ids = [c.ID for c in registry.all_checks()]

    assert len(ids) == len(set(ids))
    assert all(c.TITLE and c.SCOPE for c in registry.all_checks())
    assert set(ids) >= registry.OPT_IN


async def test_every_check_together_still_asks_each_question_once(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    zone = """@ 300 IN SOA ns1 host 1 7200 3600 1209600 300
@ MX 10 mx1
@ MX 20 mx2
mx1 A 192.0.2.1
mx2 A 192.0.2.2
mx2 AAAA 2001:db8::2
@ TXT "v=spf1 mx include:_spf.example.test -all"
_spf TXT "v=spf1 ip4:198.51.100.0/24 -all"
_dmarc TXT "v=DMARC1; p=reject; rua=mailto:d@example.test"
_mta-sts TXT "v=STSv1; id=1"
_smtp._tls TXT "v=TLSRPTv1; rua=mailto:t@example.test"
default._bimi TXT "v=BIMI1; l=https://example.test/logo.svg"
"""
    dns_server.add("1.2.0.192.in-addr.arpa", "PTR", "mx1.example.test.")
    ctx = await context_for(zone)

    report = await engine.run_report(registry.select(None, is_address=False), ctx)

    assert {r.id for r in report.results} == {c.ID for c in registry.select(None, is_address=False)}
    assert {q: n for q, n in dns_server.queries.items() if n > 1} == {}
