"""The /mx report flow over the app's real HTTP server, Slack stood in: ack, placeholder,
progress and final report, usage replies, fallbacks and retries on Slack errors, an engine crash,
and the real engine against the DNS test server.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from bot.commands import Command
from bot.slack.engine_binding import bind_engine
from checks import address, mx
from checks.context import Context
from checks.engine import ReportStream
from checks.model import DOMAIN, CheckResult, Finding, Report, Status
from checks.net.dns import DnsClient
from checks.registry import Check
from checks.settings import Nameserver, Settings
from tests.exposition import sample
from tests.fakes.dnsserver import DnsTestServer
from tests.fakes.slackapi import TEAM
from tests.fakes.slackharness import CANNED, Canned, MakeHarness, blocks_text, buttons, final_update


async def test_mx_acks_at_once_then_posts_a_placeholder_and_fills_it_in(
    make_harness: MakeHarness,
) -> None:
    engine = Canned(hold=True)
    h = await make_harness(run=engine, plan=engine.plan)
    placeholder_ts = "1700000000.424242"  # what Slack answers chat.postMessage with
    h.api.answers["chat.postMessage"] = {"ok": True, "channel": "C1", "ts": placeholder_ts}

    status, body, _ = await h.command("example.com")
    [placeholder] = await h.api.wait_for("chat.postMessage")
    [first] = await h.api.wait_for("chat.update")
    engine.release.set()
    final = await final_update(h.api)

    assert status == 200
    assert body == ""  # acknowledged while the engine was still held: ack comes before any work
    assert placeholder.params["text"] == "Checking example.com…"
    assert placeholder.params["channel"] == "C1"
    assert "⏳ MX · SPF" in blocks_text(placeholder)  # every check named as pending
    assert "✅ MX" in blocks_text(first)  # done and passed: folded into the compact line
    assert "⏳ SPF" in blocks_text(first)
    assert first.params["ts"] == placeholder_ts  # progress edits the placeholder…
    assert final.params["ts"] == placeholder_ts  # …and so does the finished report
    text = blocks_text(final)
    assert "❌ example.com" in text
    assert "*Fix:* Publish a record that ends in -all." in text
    assert '```example.com. 3600 IN TXT \\"v=spf1 mx -all\\"```' in text
    assert "&lt;!channel&gt; &lt;@U123&gt;" in text
    assert "<!channel>" not in json.dumps(final.params)
    assert "link_names" not in final.params
    assert set(buttons(final)) == {"mx_rerun", "mx_details"}
    assert [c.method for c in h.api.calls if c.method.startswith("chat.")].count(
        "chat.postMessage"
    ) == 1


async def test_junk_gets_a_short_ephemeral_usage_reply(make_harness: MakeHarness) -> None:
    h = await make_harness()

    status, body, _ = await h.command("spff example.com")

    assert status == 200
    reply = json.loads(body)
    assert "did you mean spf?" in reply["text"]
    assert "`/mx example.com spf`" in reply["text"]
    assert "Traceback" not in body
    assert h.api.chat_calls() == []


async def test_help_lists_the_forms_and_the_checks(make_harness: MakeHarness) -> None:
    h = await make_harness()

    _, body, _ = await h.command("help")

    assert "/mx spf example.com 203.0.113.7" in body
    assert "`mx`" in body


async def test_not_in_channel_falls_back_to_the_response_url(make_harness: MakeHarness) -> None:
    h = await make_harness()
    h.api.errors["chat.postMessage"] = "not_in_channel"

    await h.command("example.com", response_url=h.api.response_url("fallback"))
    placeholder, final = await h.api.wait_for("response_url", 2)

    assert placeholder.path == "/response/fallback"
    assert placeholder.params["response_type"] == "in_channel"
    assert placeholder.params["text"] == "Checking example.com…"
    assert final.params["replace_original"] is True
    assert "❌ example.com" in blocks_text(final)
    assert h.api.calls_to("chat.update") == []
    errors = sample(
        h.metrics, "mxbot_slack_api_errors_total", method="chat.postMessage", error="not_in_channel"
    )
    assert errors == 1


async def test_a_posting_error_is_told_to_the_waiting_user(make_harness: MakeHarness) -> None:
    h = await make_harness()
    h.api.errors["chat.postMessage"] = "invalid_blocks"

    await h.command("example.com")
    [told] = await h.api.wait_for("response_url")

    assert told.params["response_type"] == "ephemeral"
    assert "`invalid_blocks`" in told.params["text"]


async def test_slack_429_is_waited_out_and_retried(make_harness: MakeHarness) -> None:
    h = await make_harness()
    h.api.rate_limited["chat.postMessage"] = 1

    await h.command("example.com")
    await final_update(h.api)

    assert len(h.api.calls_to("chat.postMessage")) == 2


class Broken:
    """An engine with a bug: it crashes after the first result."""

    def __call__(self, command: Command) -> Broken:
        return self

    def __aiter__(self) -> AsyncIterator[CheckResult]:
        return self._run()

    @property
    def report(self) -> Report:
        raise AssertionError("a crashed run has no report")

    async def _run(self) -> AsyncIterator[CheckResult]:
        yield CANNED[0]
        raise RuntimeError("bug")


async def test_an_engine_crash_replaces_the_placeholder_with_a_notice(
    make_harness: MakeHarness, caplog: pytest.LogCaptureFixture
) -> None:
    h = await make_harness(run=Broken())

    await h.command("example.com")
    await h.api.wait_until(
        lambda: any(
            "failed on my side" in c.params.get("text", "") for c in h.api.calls_to("chat.update")
        )
    )

    assert "Traceback" not in json.dumps([c.params for c in h.api.calls])
    assert "report on example.com failed" in caplog.text


# ---- the real engine against the DNS test server ------------------------------------------------


class TxtProbe:
    """A check that repeats the domain's TXT records, as SPF or DMARC findings quote them."""

    ID = "txt"
    TITLE = "TXT records"
    SCOPE = DOMAIN

    async def run(self, ctx: Context) -> list[Finding]:
        answer = await ctx.dns.txt(ctx.domain)
        return [
            Finding(
                "txt.seen",
                Status.WARN,
                f"The domain publishes {text}",
                fix=f"Remove {text}",
                evidence=(text,),
            )
            for text in answer.texts()
        ]


ZONE = """
@     300 IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 300
@     300 IN MX 10 mail
@     300 IN TXT "<!channel> v=spf1 -all <@U123>"
mail  300 IN A 127.0.0.1
"""


async def test_real_engine_report_escapes_a_hostile_txt_record(
    make_harness: MakeHarness, dns_server: DnsTestServer, settings: Settings
) -> None:
    dns_server.load_zone(ZONE, "example.test")
    probe: Check = TxtProbe()

    def select(only: Any, *, is_address: bool) -> list[Check]:
        return [mx, address, probe]

    engine = bind_engine(settings, select=select)
    plan = lambda cmd: [(c.ID, c.TITLE) for c in select(None, is_address=False)]  # noqa: E731
    h = await make_harness(run=engine, plan=plan, engine=settings)

    started = time.perf_counter()
    status, _, ack_seconds = await h.command("example.test")
    await h.api.wait_for("chat.update")
    first_update_seconds = time.perf_counter() - started
    final = await final_update(h.api)

    print(
        f"\nack {ack_seconds * 1000:.1f} ms, first chat.update {first_update_seconds * 1000:.1f} ms"
    )
    assert status == 200
    text = blocks_text(final)
    assert '"✅ MX\\n\u2139\ufe0f A/AAAA"' in text  # both real checks, in the compact lines
    assert "&lt;!channel&gt; v=spf1 -all &lt;@U123&gt;" in text
    assert "<!channel>" not in json.dumps(final.params)
    assert "<@U123>" not in json.dumps(final.params)
    assert "127.0.0.1" in text  # the resolver in the context line


async def test_the_reports_resolvers_are_those_of_the_dns_client_the_engine_used(
    make_harness: MakeHarness, dns_server: DnsTestServer, settings: Settings
) -> None:
    dns_server.load_zone(ZONE, "example.test")
    no_resolvers = replace(settings, resolvers=())  # as when resolv.conf supplies the resolvers
    used = Nameserver(dns_server.host, dns_server.port)
    probe: Check = TxtProbe()

    def engine(command: Command) -> ReportStream:
        assert command.target is not None
        dns = DnsClient(no_resolvers, [used])
        return ReportStream([probe], Context(command.target, no_resolvers, dns))

    h = await make_harness(
        run=engine, plan=lambda cmd: [(probe.ID, probe.TITLE)], engine=no_resolvers
    )

    await h.command("example.test")
    final = await final_update(h.api)
    stored = await h.store.get_report(int(buttons(final)["mx_details"]), team_id=TEAM)

    text = blocks_text(final)
    assert "v=spf1 -all" in text  # the answer came through that client
    assert f"resolver {used} ·" in text
    assert stored is not None
    assert stored.report.resolvers == (str(used),)
