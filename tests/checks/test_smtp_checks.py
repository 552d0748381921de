"""The smtp and tls checks end to end: zone on the loopback DNS server, mail servers on loopback, one
probe per address shared by the checks, and reports that stay within budget."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from checks import dane, registry, smtp
from checks.engine import ReportStream, make_context, run_report
from checks.model import Status
from checks.net.probe.prober import SmtpProber
from checks.net.services import Services
from checks.settings import Settings
from checks.target import normalise
from checks.tls import check as tls
from tests.checks.smtp_setup import ZONE, context, pki
from tests.fakes.dnsserver import DnsTestServer
from tests.fakes.mailservers.hostile import tarpit
from tests.fakes.mailservers.loopback import Loopback, free_port
from tests.fakes.mailservers.pki import Pki
from tests.fakes.mailservers.smtp import SmtpScript, aiosmtpd_server
from tests.findings import by_code, code_set

__all__ = ["pki"]  # the module-scoped test CA fixture


async def test_a_good_mx_passes_smtp_and_tls_with_one_connection(
    dns_server: DnsTestServer, settings: Settings, pki: Pki
) -> None:
    script = SmtpScript(tls=pki.context(pki.good))
    async with Loopback(script) as server:
        ctx = context(dns_server, settings, pki, server.port)

        smtp_findings = await smtp.run(ctx)
        tls_findings = await tls.run(ctx)

    assert code_set(smtp_findings) == {("smtp.ok", Status.PASS)}
    assert code_set(tls_findings) == {("tls.ok", Status.PASS)}
    assert server.accepted == 1  # smtp and tls shared the probe
    assert "MAIL" not in " ".join(script.commands)
    assert "RCPT" not in " ".join(script.commands)


async def test_a_greeting_name_other_than_the_ptr_is_noted(
    dns_server: DnsTestServer, settings: Settings, pki: Pki
) -> None:
    async with aiosmtpd_server(pki.context(pki.good)) as server:
        ctx = context(dns_server, settings, pki, server.port, ptr="host-1.isp.test.")

        found = await smtp.run(ctx)

    assert code_set(found) == {("smtp.ok", Status.PASS), ("smtp.banner_name_mismatch", Status.INFO)}


async def test_an_expired_certificate_fails_tls_but_not_smtp(
    dns_server: DnsTestServer, settings: Settings, pki: Pki
) -> None:
    async with aiosmtpd_server(pki.context(pki.expired)) as server:
        ctx = context(dns_server, settings, pki, server.port)

        assert code_set(await smtp.run(ctx)) == {("smtp.ok", Status.PASS)}
        assert code_set(await tls.run(ctx)) == {("tls.cert_expired", Status.FAIL)}


async def test_an_expired_leaf_older_than_its_trusted_root_is_only_expired(
    dns_server: DnsTestServer, settings: Settings, pki: Pki
) -> None:
    # The test CA is valid from 2000-01-01; this leaf from 1999 is checked for trust at a moment
    # inside the root's validity too, so the dates are its only problem.
    now = dt.datetime.now(dt.UTC)
    old = pki.ca.issue_cert(
        "mx.example.test",
        not_before=dt.datetime(1999, 6, 1, tzinfo=dt.UTC),
        not_after=now - dt.timedelta(days=2),
    )
    async with aiosmtpd_server(pki.context(old)) as server:
        ctx = context(dns_server, settings, pki, server.port)

        assert code_set(await tls.run(ctx)) == {("tls.cert_expired", Status.FAIL)}


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        ("self_signed", {("tls.cert_self_signed", Status.WARN)}),
        ("wrong_name", {("tls.cert_name_mismatch", Status.WARN)}),
        ("incomplete", {("tls.cert_chain_incomplete", Status.WARN)}),
    ],
)
async def test_certificate_problems_are_named(
    dns_server: DnsTestServer,
    settings: Settings,
    pki: Pki,
    make: str,
    expected: set[tuple[str, Status]],
) -> None:
    contexts = {
        "self_signed": lambda: pki.self_signed_context(),
        "wrong_name": lambda: pki.context(pki.wrong_name),
        "incomplete": lambda: pki.context(pki.via_intermediate, full_chain=False),
    }
    async with aiosmtpd_server(contexts[make]()) as server:
        ctx = context(dns_server, settings, pki, server.port)

        assert code_set(await tls.run(ctx)) == expected


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (
            SmtpScript(banner=(b"421 4.7.0 Too many connections",), close_after_banner=True),
            ("smtp.greeting_deferred", Status.ERROR),
        ),
        (
            SmtpScript(banner=(b"554 5.3.2 No SMTP service here",)),
            ("smtp.greeting_rejected", Status.FAIL),
        ),
        (
            SmtpScript(banner=(b"554 5.7.1 Your IP is listed at zen.spamhaus.org",)),
            ("smtp.blocked_by_server", Status.ERROR),
        ),
        (
            SmtpScript(ehlo=(b"250-mx.example.test", b"250 8BITMIME")),
            ("smtp.starttls_missing", Status.FAIL),
        ),
        (
            SmtpScript(starttls=b"454 4.7.0 TLS not available"),
            ("smtp.starttls_refused", Status.FAIL),
        ),
        (SmtpScript(after_starttls_raw=b"garbage\r\n"), ("smtp.tls_failed", Status.FAIL)),
    ],
)
async def test_failures_become_their_own_findings(
    dns_server: DnsTestServer,
    settings: Settings,
    pki: Pki,
    script: SmtpScript,
    expected: tuple[str, Status],
) -> None:
    async with Loopback(script) as server:
        ctx = context(dns_server, settings, pki, server.port)

        found = await smtp.run(ctx)
        tls_found = await tls.run(ctx)

    assert expected in code_set(found)
    assert code_set(tls_found) == {("tls.not_checked", Status.SKIP)}
    if expected[0] in (
        "smtp.greeting_rejected",
        "smtp.greeting_deferred",
        "smtp.blocked_by_server",
    ):
        quoted = script.banner[0].decode()
        assert any(quoted in f.message for f in found), "the message quotes the server's greeting"


async def test_a_closed_port_fails(dns_server: DnsTestServer, settings: Settings, pki: Pki) -> None:
    ctx = context(dns_server, settings, pki, free_port())

    assert code_set(await smtp.run(ctx)) == {("smtp.connection_refused", Status.FAIL)}


async def test_private_addresses_are_refused_as_a_finding_without_connecting(
    dns_server: DnsTestServer, settings: Settings, pki: Pki
) -> None:
    async with Loopback(tarpit) as server:
        ctx = context(dns_server, settings, pki, server.port, allow_private=False)

        found = await smtp.run(ctx)

    assert code_set(found) == {("smtp.address_refused", Status.INFO)}
    assert server.accepted == 0


async def test_a_null_mx_is_skipped(
    dns_server: DnsTestServer, settings: Settings, pki: Pki
) -> None:
    ctx = context(dns_server, settings, pki, free_port(), zone="@ 300 IN MX 0 .\n")

    assert code_set(await smtp.run(ctx)) == {("smtp.skipped", Status.SKIP)}
    assert code_set(await tls.run(ctx)) == {("tls.skipped", Status.SKIP)}
    assert code_set(await dane.run(ctx)) == {("dane.skipped", Status.SKIP)}


async def test_without_a_prober_nothing_is_contacted(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    dns_server.load_zone(ZONE, "example.test")
    ctx = make_context(normalise("example.test"), settings)

    assert code_set(await smtp.run(ctx)) == {("smtp.not_configured", Status.SKIP)}


async def test_a_tarpit_cannot_stretch_the_report(
    dns_server: DnsTestServer, settings: Settings, pki: Pki
) -> None:
    async with Loopback(tarpit) as server:
        ctx = context(dns_server, settings, pki, server.port, report_budget=1.5, check_budget=1.5)
        started = time.monotonic()

        report = await run_report([smtp, tls, dane], ctx)
        elapsed = time.monotonic() - started

    assert elapsed < 1.5 + 2.0  # within the report budget
    assert ("smtp.no_banner", Status.WARN) in code_set(list(report.results[0].findings))
    assert server.accepted == 1


# ---- a greeting that comes late on purpose ------------------------------------------------------
GREETING = 1.5  # the greeting wait, scaled down (default 20 s) with the 0.4 s step timeout
PAUSE = 1.0  # the server's deliberate pause: longer than a step, within the wait
PROBED = {"smtp", "tls"}  # the checks that wait for the port-25 probe (dane: only with TLSA)


async def test_a_server_that_pauses_before_greeting_passes_with_a_note(
    dns_server: DnsTestServer, settings: Settings, pki: Pki
) -> None:
    script = SmtpScript(tls=pki.context(pki.good), greeting_delay=PAUSE)
    async with Loopback(script) as server:
        ctx = context(dns_server, settings, pki, server.port, greeting_timeout=GREETING)

        found = await smtp.run(ctx)
        tls_found = await tls.run(ctx)

    assert code_set(found) == {("smtp.ok", Status.PASS), ("smtp.slow_greeting", Status.INFO)}
    assert "greets only after 1." in by_code(found, "smtp.slow_greeting").message
    assert code_set(tls_found) == {("tls.ok", Status.PASS)}


async def test_a_server_silent_past_the_greeting_wait_is_reported_as_a_tarpit(
    dns_server: DnsTestServer, settings: Settings, pki: Pki
) -> None:
    async with Loopback(tarpit) as server:
        ctx = context(dns_server, settings, pki, server.port, greeting_timeout=GREETING)
        started = time.monotonic()

        found = await smtp.run(ctx)
        elapsed = time.monotonic() - started

    assert code_set(found) == {("smtp.no_banner", Status.WARN)}
    assert f"no greeting within {GREETING:g} s" in found[0].message
    assert GREETING * 0.9 < elapsed < GREETING + 2.0


async def test_the_other_checks_arrive_before_a_slow_greeting(
    dns_server: DnsTestServer, settings: Settings, pki: Pki
) -> None:
    script = SmtpScript(tls=pki.context(pki.good), greeting_delay=PAUSE)
    async with Loopback(script) as server:
        ctx = context(dns_server, settings, pki, server.port, greeting_timeout=GREETING)
        plan = registry.select(None, is_address=False)
        started = time.monotonic()
        arrived: dict[str, float] = {}

        async for result in ReportStream(plan, ctx):
            arrived[result.id] = time.monotonic() - started

    others = {cid: t for cid, t in arrived.items() if cid not in PROBED}
    assert set(arrived) == {c.ID for c in plan}
    assert set(arrived) >= PROBED
    assert max(others.values()) < PAUSE  # all in while the server still pauses
    assert max(others.values()) < min(arrived[cid] for cid in PROBED)
    assert arrived["smtp"] > PAUSE


async def test_the_report_budget_wins_over_a_slow_probe(
    dns_server: DnsTestServer, settings: Settings, pki: Pki
) -> None:
    async with Loopback(tarpit) as server:
        dns_server.load_zone(ZONE, "example.test")
        s = settings.with_overrides(
            timeout=3.0, check_budget=0.6, report_budget=0.8, ca_file=pki.ca_file
        )
        ctx = make_context(
            normalise("example.test"), s, services=Services(smtp=SmtpProber(s, port=server.port))
        )
        started = time.monotonic()

        report = await run_report([smtp, tls, dane], ctx)
        elapsed = time.monotonic() - started

    assert elapsed < 2.5  # the 3 s step timeout never ran out: the budget cut it
    # The probe sizes itself to the check budget (0.9 x 0.6 s), so it still says what it saw.
    assert code_set(list(report.results[0].findings)) == {("smtp.no_banner", Status.WARN)}
    assert "0.5" in report.results[0].findings[0].message


async def test_the_engine_cuts_a_probe_that_outlives_the_check_budget(
    dns_server: DnsTestServer, settings: Settings, pki: Pki
) -> None:
    async with Loopback(tarpit) as server:
        dns_server.load_zone(ZONE, "example.test")
        s = settings.with_overrides(
            timeout=3.0, check_budget=0.5, report_budget=0.7, probe_budget=10.0
        )
        ctx = make_context(
            normalise("example.test"), s, services=Services(smtp=SmtpProber(s, port=server.port))
        )
        started = time.monotonic()

        report = await run_report([smtp, tls, dane], ctx)
        elapsed = time.monotonic() - started

    assert elapsed < 2.5  # a 10 s probe budget and 3 s steps: only the engine cut it short
    assert {r.id: r.status for r in report.results} == {
        "smtp": Status.ERROR,
        "tls": Status.ERROR,
        "dane": Status.INFO,  # no TLSA records: nothing to wait for
    }
    assert ("smtp.timeout", Status.ERROR) in code_set(list(report.results[0].findings))
