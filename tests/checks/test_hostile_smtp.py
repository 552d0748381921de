"""A mail server that talks Slack markup and terminal escapes: the report must stay inert everywhere."""

from __future__ import annotations

import json

from bot.render import blocks, jsonout, text
from checks import smtp
from checks.engine import make_context, run_report
from checks.net.probe.prober import SmtpProber
from checks.net.services import Services
from checks.settings import Settings
from checks.target import normalise
from checks.tls import check as tls
from tests.fakes.dnsserver import DnsTestServer
from tests.fakes.mailservers.loopback import Loopback
from tests.fakes.mailservers.smtp import SmtpScript

ZONE = """
@ 300 IN MX 10 mx.example.test.
mx 300 IN A 127.0.0.1
"""
NASTY = b"<!channel> <@U123> <#C123> <http://evil.test|click> \x1b[2J\x07"


async def test_a_hostile_banner_and_ehlo_come_out_inert(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    script = SmtpScript(
        banner=(b"554 5.7.1 " + NASTY,),  # a refusal, so the banner is quoted in the finding
    )
    async with Loopback(script) as server:
        dns_server.load_zone(ZONE, "example.test")
        dns_server.add("1.0.0.127.in-addr.arpa", "PTR", "mx.example.test.")
        ctx = make_context(
            normalise("example.test"),
            settings,
            services=Services(smtp=SmtpProber(settings, port=server.port, cache_seconds=0)),
        )

        report = await run_report([smtp, tls], ctx)

    quoted = [
        f
        for r in report.results
        for f in r.findings
        if "channel" in f.message + "".join(f.evidence)
    ]
    assert quoted, "the banner is shown as evidence, so the test exercises escaping"
    slack = json.dumps(blocks.render_report(report))
    for live in ("<!channel>", "<@U123>", "<#C123>", "<http://evil.test"):
        assert live not in slack
    terminal = text.render(report, verbose=True)
    assert "\x1b[2J" not in terminal
    assert "\x07" not in terminal
    json.dumps(jsonout.render(report))  # raw, but valid JSON


async def test_a_hostile_ehlo_name_is_inert_too(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    script = SmtpScript(ehlo=(b"250-" + NASTY, b"250 8BITMIME"))
    async with Loopback(script) as server:
        dns_server.load_zone(ZONE, "example.test")
        dns_server.add("1.0.0.127.in-addr.arpa", "PTR", "mx.example.test.")
        ctx = make_context(
            normalise("example.test"),
            settings,
            services=Services(smtp=SmtpProber(settings, port=server.port, cache_seconds=0)),
        )

        report = await run_report([smtp], ctx)

    slack = json.dumps(blocks.render_report(report))
    assert "<!channel>" not in slack
    assert "\x1b" not in text.render(report, verbose=True)
