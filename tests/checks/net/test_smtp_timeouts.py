"""Connect timeouts (a firewall that drops SYNs) and hang-ups at the edges of the dialogue, for real
on loopback: the probe names them within one step timeout, the smtp check judges them by whether
any other mail host answered, reports stay within budget, and a dropped address is not knocked on
twice while its result is fresh.

The dropping port is `tests.fakes.mailservers.hostile.Blackhole`: a backlog-0 listener whose accept
queue is full, so the kernel drops every further SYN. Nothing is simulated or patched: the prober's
own `sock_connect` waits for a SYN-ACK that never comes.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Iterator
from typing import TypeVar

import pytest

from checks import dane, ports, smtp
from checks.context import Context
from checks.engine import make_context, run_report
from checks.model import Status
from checks.net.probe.prober import SmtpProber
from checks.net.probe.result import Failure
from checks.net.services import Services
from checks.settings import Settings
from checks.target import normalise
from checks.tls import check as tls
from tests.fakes.dnsserver import DnsTestServer
from tests.fakes.mailservers.hostile import Blackhole, close_after_starttls, tarpit
from tests.fakes.mailservers.loopback import Loopback
from tests.fakes.mailservers.loopback import prober_settings as loopback_settings
from tests.fakes.mailservers.pki import Pki, make_pki
from tests.fakes.mailservers.smtp import SmtpScript
from tests.findings import by_code, code_set

HOST = "mx.example.test"
TIMEOUT = 0.4  # one step
SLACK = 1.0  # scheduling on a busy CI machine; still far below a second step timeout + budget

T = TypeVar("T")

ZONE_TWO_HOSTS = """
@ 300 IN MX 10 mx.example.test.
@ 300 IN MX 20 mx2.example.test.
mx 300 IN A 127.0.0.1
mx2 300 IN A 127.0.0.2
"""


@pytest.fixture(scope="module")
def pki() -> Iterator[Pki]:
    made, tmp = make_pki()
    yield made
    tmp.cleanup()


def prober_settings(pki: Pki, **changes: object) -> Settings:
    return loopback_settings(pki, TIMEOUT, **changes)


def report_context(
    dns_server: DnsTestServer,
    settings: Settings,
    pki: Pki,
    prober_port: int,
    zone: str,
    *,
    cache_seconds: float = 0,
    prober: SmtpProber | None = None,
    **changes: object,
) -> Context:
    dns_server.load_zone(zone, "example.test")
    s = settings.with_overrides(**{"ca_file": pki.ca_file, "timeout": TIMEOUT, **changes})
    p = prober or SmtpProber(s, port=prober_port, cache_seconds=cache_seconds)
    return make_context(normalise("example.test"), s, services=Services(smtp=p))


# ---- the probe ---------------------------------------------------------------------------------
async def test_the_blackhole_really_drops_connection_attempts() -> None:
    # The oracle for everything below, measured without the prober: a plain connect gets no
    # SYN-ACK, for as long as we care to wait, and is not refused.
    async with Blackhole() as hole:
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        with _nonblocking() as sock, pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                await loop.sock_connect(sock, (hole.host, hole.port))

        assert time.monotonic() - started >= 0.45


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
async def test_a_dropped_syn_is_a_connect_timeout_within_one_step(pki: Pki, address: str) -> None:
    async with Blackhole(address) as hole:
        p = SmtpProber(prober_settings(pki), port=hole.port, cache_seconds=0)
        started = time.monotonic()

        r = await p.probe(HOST, address)
        elapsed = time.monotonic() - started

    assert r.failure is Failure.CONNECT_TIMEOUT, r.detail
    assert r.failed_step == "connect"
    assert not r.connected
    assert [(s.name, s.ok) for s in r.steps] == [("connect", False)]
    assert r.detail.startswith(f"no answer to the connection attempt within {TIMEOUT:g}")
    assert not r.inconclusive  # the probe says what happened; the check judges whose fault
    assert p.connections == 1
    assert TIMEOUT * 0.9 < elapsed < TIMEOUT + SLACK


async def test_the_connect_timeout_is_the_step_timeout_not_a_constant(pki: Pki) -> None:
    longer = 2.5 * TIMEOUT
    async with Blackhole() as hole:
        p = SmtpProber(prober_settings(pki, timeout=longer), port=hole.port, cache_seconds=0)
        started = time.monotonic()

        r = await p.probe(HOST, "127.0.0.1")
        elapsed = time.monotonic() - started

    assert r.failure is Failure.CONNECT_TIMEOUT
    assert longer * 0.9 < elapsed < longer + SLACK


async def test_a_probe_budget_shorter_than_a_step_also_bounds_the_connect(pki: Pki) -> None:
    # A 3 s step timeout but a 0.5 s probe budget: the connect, like every later step, must stop
    # at the budget, so the probe (not the engine's cut) says what it saw.
    async with Blackhole() as hole:
        s = prober_settings(pki, timeout=3.0, probe_budget=0.5)
        p = SmtpProber(s, port=hole.port, cache_seconds=0)
        started = time.monotonic()

        r = await p.probe(HOST, "127.0.0.1")
        elapsed = time.monotonic() - started

    assert r.failure is Failure.CONNECT_TIMEOUT, r.detail
    assert 0.45 < elapsed < 0.5 + SLACK


async def test_a_second_caller_waits_for_the_lock_then_reuses_the_timeout(pki: Pki) -> None:
    async with Blackhole() as hole:
        p = SmtpProber(prober_settings(pki), port=hole.port, cache_seconds=60)
        started = time.monotonic()

        first, second = await asyncio.gather(
            p.probe(HOST, "127.0.0.1"), _after(0.05, p.probe(HOST, "127.0.0.1"))
        )
        elapsed = time.monotonic() - started

    assert (first.failure, second.failure) == (Failure.CONNECT_TIMEOUT, Failure.CONNECT_TIMEOUT)
    assert (first.cached, second.cached) == (False, True)
    assert p.connections == 1
    assert elapsed < 2 * TIMEOUT  # one connect timeout, not two in a row


async def test_other_names_for_a_dropped_address_reuse_its_connect_timeout(pki: Pki) -> None:
    # Three MX names on one firewalled address: nothing but the SNI differs between the probes,
    # and no byte was ever exchanged, so one timeout answers for all three.
    async with Blackhole("127.0.0.2") as hole:
        p = SmtpProber(prober_settings(pki), port=hole.port, cache_seconds=60)
        started = time.monotonic()

        results = await asyncio.gather(
            *(p.probe(f"mx{i}.example.test", "127.0.0.2") for i in range(3))
        )
        elapsed = time.monotonic() - started

    assert {r.failure for r in results} == {Failure.CONNECT_TIMEOUT}
    assert sorted(r.host for r in results) == [f"mx{i}.example.test" for i in range(3)]
    assert p.connections == 1
    assert elapsed < 2 * TIMEOUT


async def test_names_for_a_dropped_address_are_probed_again_without_a_cache(pki: Pki) -> None:
    # cache_seconds=0 means "never reuse": each name then pays its own connect timeout.
    async with Blackhole("127.0.0.2") as hole:
        p = SmtpProber(prober_settings(pki), port=hole.port, cache_seconds=0)

        await asyncio.gather(*(p.probe(f"mx{i}.example.test", "127.0.0.2") for i in range(2)))

    assert p.connections == 2


# ---- the greeting wait: its own setting, longer than a step -------------------------------------
GREETING = 1.5  # the greeting wait, scaled down like the step timeout (default 20 s vs 3 s)
PAUSE = 1.0  # a deliberate pause before the greeting: longer than a step, within the wait


@pytest.mark.parametrize(
    "pregreet",
    [None, b"220-mx.example.test ESMTP"],
    ids=["greet-pause", "postscreen-multi-line"],
)
async def test_a_deliberate_pause_before_the_greeting_is_waited_out(
    pki: Pki, pregreet: bytes | None
) -> None:
    script = SmtpScript(tls=pki.context(pki.good), greeting_delay=PAUSE, pregreet=pregreet)
    async with Loopback(script) as server:
        p = SmtpProber(
            prober_settings(pki, greeting_timeout=GREETING), port=server.port, cache_seconds=0
        )
        started = time.monotonic()

        r = await p.probe(HOST, "127.0.0.1")
        elapsed = time.monotonic() - started

    assert r.failure is None, r.detail
    assert r.banner is not None
    assert r.banner.code == "220"
    assert r.banner_ms is not None
    assert PAUSE * 1000 * 0.9 < r.banner_ms < GREETING * 1000
    assert elapsed < PAUSE + SLACK


async def test_silence_past_the_greeting_wait_is_a_tarpit(pki: Pki) -> None:
    async with Loopback(tarpit) as server:
        p = SmtpProber(
            prober_settings(pki, greeting_timeout=GREETING), port=server.port, cache_seconds=0
        )
        started = time.monotonic()

        r = await p.probe(HOST, "127.0.0.1")
        elapsed = time.monotonic() - started

    assert r.failure is Failure.NO_BANNER, r.detail
    assert r.detail.startswith(f"connected, but no greeting within {GREETING:g}")
    assert GREETING * 0.9 < elapsed < GREETING + SLACK  # the greeting wait, not a step timeout


async def test_the_greeting_wait_is_for_port_25_only(pki: Pki) -> None:
    # Greeting pauses guard MX hosts against spambots; a submission server greets at once, so a
    # pause there is waited out only as long as any step.
    script = SmtpScript(tls=pki.context(pki.good), greeting_delay=PAUSE)
    async with Loopback(script) as server:
        s = prober_settings(pki, greeting_timeout=GREETING)
        p = SmtpProber(s, ports={587: server.port}, cache_seconds=0)
        started = time.monotonic()

        r = await p.probe(HOST, "127.0.0.1", port=587)
        elapsed = time.monotonic() - started

    assert r.failure is Failure.NO_BANNER, r.detail
    assert elapsed < TIMEOUT + SLACK


# ---- the smtp check: whose fault is it? --------------------------------------------------------
async def test_one_host_answers_and_one_drops_so_the_timeout_is_a_failure(
    dns_server: DnsTestServer, settings: Settings, pki: Pki
) -> None:
    good = SmtpScript(tls=pki.context(pki.good))
    async with Loopback(good) as server, Blackhole("127.0.0.2", server.port):
        ctx = report_context(dns_server, settings, pki, server.port, ZONE_TWO_HOSTS)

        found = await smtp.run(ctx)

    assert code_set(found) == {("smtp.ok", Status.PASS), ("smtp.connect_timeout", Status.FAIL)}
    timeout = by_code(found, "smtp.connect_timeout")
    assert "mx2.example.test [127.0.0.2]" in timeout.message
    assert "127.0.0.1" not in timeout.message
    assert "127.0.0.2" in timeout.fix
    assert "mx.example.test [127.0.0.1]" in by_code(found, "smtp.ok").message


async def test_only_dropping_hosts_is_inconclusive(
    dns_server: DnsTestServer, settings: Settings, pki: Pki
) -> None:
    async with Blackhole("127.0.0.1") as first, Blackhole("127.0.0.2", first.port):
        ctx = report_context(dns_server, settings, pki, first.port, ZONE_TWO_HOSTS)

        found = await smtp.run(ctx)

    assert code_set(found) == {("smtp.connect_timeout", Status.ERROR)}  # maybe our own network
    assert len(found) == 2
    assert {f.message.split(" does not answer")[0] for f in found} == {
        "mx.example.test [127.0.0.1]",
        "mx2.example.test [127.0.0.2]",
    }


async def test_a_host_that_connects_but_fails_later_still_proves_the_network(
    dns_server: DnsTestServer, settings: Settings, pki: Pki
) -> None:
    # Reachable means "the TCP connection was made", whatever came after it.
    no_tls = SmtpScript(ehlo=(b"250-mx.example.test", b"250 8BITMIME"))
    async with Loopback(no_tls) as server, Blackhole("127.0.0.2", server.port):
        ctx = report_context(dns_server, settings, pki, server.port, ZONE_TWO_HOSTS)

        found = await smtp.run(ctx)

    assert code_set(found) == {
        ("smtp.starttls_missing", Status.FAIL),
        ("smtp.connect_timeout", Status.FAIL),
    }


async def test_a_dropping_mx_keeps_the_report_within_budget(
    dns_server: DnsTestServer, settings: Settings, pki: Pki
) -> None:
    zone = ZONE_TWO_HOSTS + f"_25._tcp.mx2 300 IN TLSA 3 1 1 {'ab' * 32}\n"
    async with Blackhole("127.0.0.1") as first, Blackhole("127.0.0.2", first.port):
        ctx = report_context(
            dns_server, settings, pki, first.port, zone, check_budget=2.0, report_budget=2.5
        )
        dns_server.behaviour.authenticated = True
        started = time.monotonic()

        report = await run_report([smtp, tls, dane], ctx)
        elapsed = time.monotonic() - started

    by_id = {r.id: r for r in report.results}
    assert code_set(by_id["smtp"].findings) == {("smtp.connect_timeout", Status.ERROR)}
    assert code_set(by_id["tls"].findings) == {("tls.not_checked", Status.SKIP)}
    dane_not_verified = by_code(by_id["dane"].findings, "dane.not_verified")
    assert (dane_not_verified.status, dane_not_verified.because) == (
        Status.SKIP,  # no mail server answered: the diagnosis says that once, for smtp
        "smtp.connect_timeout",
    )
    assert ctx.services.smtp is not None
    assert ctx.services.smtp.connections == 2  # smtp, tls and dane shared each probe
    assert elapsed < TIMEOUT + SLACK  # the two addresses were probed side by side
    assert elapsed < 2.5


async def test_a_report_cut_short_by_its_budget_still_names_the_connect_timeout(
    dns_server: DnsTestServer, settings: Settings, pki: Pki
) -> None:
    # The step timeout (3 s) is longer than the check budget (0.6 s); the probe sizes itself to
    # the budget, so the finding is the connect timeout and not the engine's generic cut.
    zone = "@ 300 IN MX 10 mx.example.test.\nmx 300 IN A 127.0.0.1\n"
    async with Blackhole() as hole:
        ctx = report_context(
            dns_server,
            settings,
            pki,
            hole.port,
            zone,
            timeout=3.0,
            check_budget=0.6,
            report_budget=0.8,
        )
        started = time.monotonic()

        report = await run_report([smtp], ctx)
        elapsed = time.monotonic() - started

    assert code_set(report.results[0].findings) == {("smtp.connect_timeout", Status.ERROR)}
    assert elapsed < 0.8 + SLACK


async def test_a_second_report_waits_for_the_first_probe_and_reuses_it(
    dns_server: DnsTestServer, settings: Settings, pki: Pki
) -> None:
    good = SmtpScript(tls=pki.context(pki.good))
    async with Loopback(good) as server, Blackhole("127.0.0.2", server.port):
        s = settings.with_overrides(ca_file=pki.ca_file, timeout=TIMEOUT)
        shared = SmtpProber(s, port=server.port, cache_seconds=60)
        first = report_context(dns_server, settings, pki, 0, ZONE_TWO_HOSTS, prober=shared)
        second = report_context(dns_server, settings, pki, 0, ZONE_TWO_HOSTS, prober=shared)
        started = time.monotonic()

        one, two = await asyncio.gather(
            run_report([smtp], first), _after(0.05, run_report([smtp], second))
        )
        elapsed = time.monotonic() - started

    expected = {("smtp.ok", Status.PASS), ("smtp.connect_timeout", Status.FAIL)}
    assert code_set(one.results[0].findings) == expected
    assert code_set(two.results[0].findings) == expected
    assert shared.connections == 2  # one per address, for both reports
    assert server.accepted == 1
    reused = by_code(two.results[0].findings, "smtp.connect_timeout")
    assert "(cached probe)" in reused.evidence
    assert elapsed < 2 * TIMEOUT  # the second report did not pay a second timeout


# ---- IPv4 and IPv6: which address failed -------------------------------------------------------
@pytest.mark.parametrize(("answers", "drops"), [("127.0.0.1", "::1"), ("::1", "127.0.0.1")])
async def test_a_dual_stack_mx_names_the_family_that_drops(
    dns_server: DnsTestServer, settings: Settings, pki: Pki, answers: str, drops: str
) -> None:
    zone = "@ 300 IN MX 10 mx.example.test.\nmx 300 IN A 127.0.0.1\nmx 300 IN AAAA ::1\n"
    good = SmtpScript(tls=pki.context(pki.good))
    async with Loopback(good, host=answers) as server, Blackhole(drops, server.port):
        ctx = report_context(dns_server, settings, pki, server.port, zone)

        found = await smtp.run(ctx)

    assert code_set(found) == {("smtp.ok", Status.PASS), ("smtp.connect_timeout", Status.FAIL)}
    assert f"mx.example.test [{drops}]" in by_code(found, "smtp.connect_timeout").message
    assert f"[{answers}]" not in by_code(found, "smtp.connect_timeout").message
    assert f"mx.example.test [{answers}]" in by_code(found, "smtp.ok").message


@pytest.mark.parametrize(("answers", "closed"), [("127.0.0.1", "::1"), ("::1", "127.0.0.1")])
async def test_a_dual_stack_mx_names_the_family_that_refuses(
    dns_server: DnsTestServer, settings: Settings, pki: Pki, answers: str, closed: str
) -> None:
    zone = "@ 300 IN MX 10 mx.example.test.\nmx 300 IN A 127.0.0.1\nmx 300 IN AAAA ::1\n"
    async with Loopback(SmtpScript(tls=pki.context(pki.good)), host=answers) as server:
        ctx = report_context(dns_server, settings, pki, server.port, zone)  # nothing on `closed`

        found = await smtp.run(ctx)

    assert code_set(found) == {("smtp.ok", Status.PASS), ("smtp.connection_refused", Status.FAIL)}
    refused = by_code(found, "smtp.connection_refused")
    assert f"mx.example.test [{closed}]" in refused.message
    assert f"[{answers}]" not in refused.message


# ---- a hang-up between STARTTLS's 220 and the handshake ----------------------------------------
@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
async def test_a_hang_up_after_starttls_220_is_a_tls_failure_at_once(pki: Pki, reset: bool) -> None:
    async with Loopback(close_after_starttls(reset=reset)) as server:
        p = SmtpProber(prober_settings(pki), port=server.port, cache_seconds=0)
        started = time.monotonic()

        r = await p.probe(HOST, "127.0.0.1")
        elapsed = time.monotonic() - started

    assert r.failure is Failure.TLS_FAILED, r.detail
    assert r.failed_step == "tls"
    assert [(s.name, s.ok) for s in r.steps][-2:] == [("starttls", True), ("tls", False)]
    assert r.starttls is not None
    assert r.starttls.code == "220"
    assert "within" not in r.detail  # seen as a hang-up, not waited out as a timeout
    assert elapsed < TIMEOUT + SLACK


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
async def test_a_hang_up_instead_of_a_starttls_reply_is_not_blamed_on_tls(
    pki: Pki, reset: bool
) -> None:
    # No 220: nothing says the server agreed to TLS, so this is a dropped dialogue (inconclusive),
    # told apart from the hang-up after a 220 above.
    async with Loopback(close_after_starttls(reset=reset, reply=False)) as server:
        p = SmtpProber(prober_settings(pki), port=server.port, cache_seconds=0)
        started = time.monotonic()

        r = await p.probe(HOST, "127.0.0.1")
        elapsed = time.monotonic() - started

    assert r.failure is Failure.CLOSED, r.detail
    assert r.failed_step == "starttls"
    assert r.starttls is None
    assert elapsed < TIMEOUT + SLACK


async def test_a_hang_up_after_starttls_220_fails_the_smtp_check(
    dns_server: DnsTestServer, settings: Settings, pki: Pki
) -> None:
    zone = "@ 300 IN MX 10 mx.example.test.\nmx 300 IN A 127.0.0.1\n"
    async with Loopback(close_after_starttls(reset=False)) as server:
        ctx = report_context(dns_server, settings, pki, server.port, zone)
        started = time.monotonic()

        report = await run_report([smtp, tls], ctx)
        elapsed = time.monotonic() - started

    by_id = {r.id: r for r in report.results}
    assert code_set(by_id["smtp"].findings) == {("smtp.tls_failed", Status.FAIL)}
    assert code_set(by_id["tls"].findings) == {("tls.not_checked", Status.SKIP)}
    assert "mx.example.test [127.0.0.1]" in by_id["smtp"].findings[0].message
    assert elapsed < TIMEOUT + SLACK


# ---- client ports --------------------------------------------------------------------------------
async def test_a_dropped_client_port_is_closed_and_bounded(
    dns_server: DnsTestServer, settings: Settings, pki: Pki
) -> None:
    zone = "@ 300 IN MX 10 mx.example.test.\nmx 300 IN A 127.0.0.1\nimap 300 IN A 127.0.0.1\n"
    async with Blackhole() as hole:
        ctx = report_context(dns_server, settings, pki, hole.port, zone)
        ctx.services = Services(
            smtp=SmtpProber(ctx.settings, ports={993: hole.port, 143: hole.port}, cache_seconds=0)
        )
        started = time.monotonic()

        found = await ports.run(ctx)
        elapsed = time.monotonic() - started

    assert code_set(found) == {("ports.closed", Status.INFO), ("ports.none_open", Status.INFO)}
    assert sum(f.code == "ports.closed" for f in found) == 2
    assert elapsed < 2 * TIMEOUT + SLACK  # two ports, one address: one after the other


# ---- helpers -----------------------------------------------------------------------------------
async def _after(delay: float, awaitable: Awaitable[T]) -> T:
    """Start `awaitable` a little later, so that the first caller certainly holds the lock."""
    await asyncio.sleep(delay)
    return await awaitable


def _nonblocking() -> socket.socket:
    sock = socket.socket()
    sock.setblocking(False)
    return sock
