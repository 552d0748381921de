"""End to end: the app's real aiohttp server on 127.0.0.1, signed requests in, Web API calls out.

Slack itself is a local stand-in (`tests.fakes.slackapi.SlackApi`); checks run on a canned engine or on
the real engine against the DNS test server. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from bot.commands import Command
from bot.settings import Secret
from bot.slack.engine_binding import bind_engine
from checks import address, mx
from checks.context import Context
from checks.engine import ReportStream
from checks.model import DOMAIN, CheckResult, Finding, Report, Status
from checks.net.dns import DnsClient
from checks.registry import Check
from checks.settings import Nameserver, Settings
from tests.fakes.dnsserver import DnsTestServer
from tests.fakes.slackapi import TEAM
from tests.fakes.slackharness import (
    CANNED,
    SECRET,
    Canned,
    MakeHarness,
    blocks_text,
    buttons,
    final_update,
    harness_factory,
)


@pytest.fixture
async def make_harness(tmp_path: Path) -> AsyncIterator[MakeHarness]:
    async with harness_factory(tmp_path) as make:
        yield make


# ---- the report flow ----------------------------------------------------------------------------


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
    assert "⏳ *MX*: running…" in blocks_text(placeholder)
    assert "✅ *MX*: 2 MX records." in blocks_text(first)
    assert "⏳ *SPF*: running…" in blocks_text(first)
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


@pytest.mark.parametrize("how", ["unsigned", "bad signature", "stale"])
async def test_requests_that_are_not_from_slack_get_401_and_post_nothing(
    make_harness: MakeHarness, how: str
) -> None:
    h = await make_harness()
    forms: dict[str, dict[str, Any]] = {
        "unsigned": {"sign": False},
        "bad signature": {"secret": "not-the-secret"},
        "stale": {"timestamp": int(time.time()) - 6 * 60},
    }
    kw = forms[how]

    status, _, _ = await h.command("example.com", **kw)
    status_event, _, _ = await h.event(
        {
            "type": "app_mention",
            "user": "U1",
            "text": "<@UBOT> example.com",
            "ts": "1.1",
            "channel": "C1",
        },
        **kw,
    )
    # a signed request afterwards proves the server was listening: only it reaches Slack
    await h.command("help")

    assert (status, status_event) == (401, 401)
    assert h.api.chat_calls() == []


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


async def test_a_mention_is_answered_in_its_thread(make_harness: MakeHarness) -> None:
    h = await make_harness()
    event = {
        "type": "app_mention",
        "user": "U1",
        "text": "<@UBOT> check mx for <http://example.com|example.com>",
        "ts": "1700000000.000100",
        "thread_ts": "1700000000.000001",
        "channel": "C1",
    }

    status, _, _ = await h.event(event)
    [posted] = await h.api.wait_for("chat.postMessage")
    await final_update(h.api)

    assert status == 200
    assert posted.params["thread_ts"] == "1700000000.000001"
    assert h.store.claims == [("Ev1", True)]


async def test_a_retried_or_duplicated_event_runs_once(make_harness: MakeHarness) -> None:
    engine = Canned()
    h = await make_harness(run=engine, plan=engine.plan)
    event = {
        "type": "app_mention",
        "user": "U1",
        "text": "<@UBOT> example.com",
        "ts": "1.1",
        "channel": "C1",
    }

    await h.event(event, event_id="EvSame")
    await final_update(h.api)
    await h.event(
        event,
        event_id="EvSame",
        headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
    )
    await h.event({**event, "ts": "1.2"}, event_id="EvSame")
    async with asyncio.timeout(5), h.store.claimed:
        await h.store.claimed.wait_for(lambda: len(h.store.claims) == 3)

    assert h.store.claims == [("EvSame", True), ("EvSame", False), ("EvSame", False)]
    assert len(engine.commands) == 1
    assert len(h.api.calls_to("chat.postMessage")) == 1


async def test_mention_usage_errors_are_ephemeral_and_escaped(make_harness: MakeHarness) -> None:
    h = await make_harness()
    event = {
        "type": "app_mention",
        "user": "U1",
        "text": "<@UBOT> <!channel>",
        "ts": "1.1",
        "channel": "C1",
    }

    await h.event(event)
    [reply] = await h.api.wait_for("chat.postEphemeral")

    assert reply.params["user"] == "U1"
    assert "<!channel>" not in json.dumps(reply.params)


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
    assert (
        'mxbot_slack_api_errors_total{method="chat.postMessage",error="not_in_channel"} 1'
        in h.metrics.render()
    )


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


async def test_buttons_rerun_and_post_details_in_the_thread(make_harness: MakeHarness) -> None:
    engine = Canned()
    h = await make_harness(run=engine, plan=engine.plan)
    await h.command("example.com spf")
    final = await final_update(h.api)
    values = buttons(final)

    status_rerun, _, _ = await h.click("mx_rerun", values["mx_rerun"], final.params["ts"])
    await final_update(h.api, 2)
    status_details, _, _ = await h.click("mx_details", values["mx_details"], final.params["ts"])
    details = (await h.api.wait_for("chat.postMessage", 3))[2]

    assert (status_rerun, status_details) == (200, 200)
    assert [c.text for c in engine.commands] == ["example.com spf", "example.com spf"]
    assert details.params["thread_ts"] == final.params["ts"]
    text = blocks_text(details)
    assert "`spf.x`" in text
    assert "Evidence:" in text
    assert "&lt;!channel&gt;" in text
    assert "<!channel>" not in json.dumps(details.params)


async def test_details_of_another_workspaces_report_are_not_shown(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness()

    await h.click("mx_details", "1", "1.1")
    [reply] = await h.api.wait_for("response_url")

    assert "no longer available" in reply.params["text"]


async def test_app_home_shows_the_workspaces_latest_reports(make_harness: MakeHarness) -> None:
    h = await make_harness()
    await h.command("example.com")
    await final_update(h.api)

    await h.event(
        {"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home"}, event_id="EvHome"
    )
    [published] = await h.api.wait_for("views.publish")

    view = published.params["view"]
    assert published.params["user_id"] == "U1"
    assert view["type"] == "home"
    assert "*example.com*: problems found" in json.dumps(view, ensure_ascii=False)


async def test_rate_limits_refuse_with_a_clear_reply(make_harness: MakeHarness) -> None:
    h = await make_harness(user_reports_per_minute=1)

    await h.command("example.com")
    _, body, _ = await h.command("example.org")
    await final_update(h.api)

    assert "try again in" in json.loads(body)["text"]
    assert len(h.api.calls_to("chat.postMessage")) == 1
    assert 'mxbot_reports_refused_total{reason="user_rate"} 1' in h.metrics.render()


async def test_reports_beyond_the_cap_are_queued_and_say_so(make_harness: MakeHarness) -> None:
    engine = Canned(hold=True)
    h = await make_harness(run=engine, plan=engine.plan, max_concurrent_reports=1)

    await h.command("example.com")
    await h.api.wait_for("chat.update")
    await h.command("example.org", user="U2", channel="C2")
    second = (await h.api.wait_for("chat.postMessage", 2))[1]
    engine.release.set()
    await final_update(h.api, 2)

    assert "Queued: 1 report ahead of this one." in blocks_text(second)


async def test_healthz_and_metrics(make_harness: MakeHarness) -> None:
    h = await make_harness()
    await h.command("example.com")
    await final_update(h.api)

    async with h.http.get(f"{h.url}/healthz") as health:
        health_text = await health.text()
    async with h.http.get(f"{h.url}/metrics") as metrics:
        exposition = await metrics.text()

    assert (health.status, health_text) == (200, "ok\n")
    assert metrics.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert 'mxbot_reports_total{status="fail"} 1' in exposition
    assert 'mxbot_check_outcomes_total{check="spf",status="fail"} 1' in exposition
    assert "mxbot_report_duration_seconds_count 1" in exposition
    assert re.search(r'mxbot_report_duration_seconds_bucket\{le="\+Inf"\} 1', exposition)


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
    assert "Mail exchangers (MX)" in text
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


# ---- multi-workspace OAuth ----------------------------------------------------------------------


# slack-sdk sends oauth.v2.access credentials with aiohttp.BasicAuth, which aiohttp 3.14 deprecates.
@pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")
async def test_oauth_install_keeps_the_installation_and_uses_its_token(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness(bot_token=Secret(), client_id="111.222", client_secret=Secret("cs"))
    h.api.oauth_response = {
        "ok": True,
        "app_id": "A1",
        "authed_user": {"id": "U9"},
        "scope": "app_mentions:read,chat:write,commands",
        "token_type": "bot",
        "access_token": "xoxb-installed",
        "bot_user_id": "UBOT2",
        "team": {"id": "T0002", "name": "Two"},
        "enterprise": None,
        "is_enterprise_install": False,
    }

    async with h.http.get(f"{h.url}/slack/install", allow_redirects=False) as install:
        page = await install.text()
        cookie = install.cookies["slack-app-oauth-state"]
    state = re.search(r"state=([\w-]+)", page)
    assert state is not None
    # The state cookie is Secure (production is https); a browser on https sends it back.
    async with h.http.get(
        f"{h.url}/slack/oauth_redirect?code=c0de&state={state[1]}",
        headers={"Cookie": f"slack-app-oauth-state={cookie.value}"},
        allow_redirects=False,
    ) as callback:
        await callback.text()
    bot = await h.store.installation_store.async_find_bot(enterprise_id=None, team_id="T0002")
    await h.command("example.com", team="T0002")
    [posted] = await h.api.wait_for("chat.postMessage")
    await final_update(h.api)

    assert install.status == 200
    assert "client_id=111.222" in page
    assert "scope=app_mentions:read,chat:write,commands" in page
    assert callback.status == 200
    assert bot is not None
    assert bot.bot_token == "xoxb-installed"
    assert posted.headers["Authorization"] == "Bearer xoxb-installed"


async def test_single_workspace_mode_has_no_install_page(make_harness: MakeHarness) -> None:
    h = await make_harness()

    async with h.http.get(f"{h.url}/slack/install") as response:
        assert response.status == 404


async def test_url_verification_challenge_is_echoed(make_harness: MakeHarness) -> None:
    h = await make_harness()
    body = json.dumps(
        {
            "token": "x",
            "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
            "type": "url_verification",
        }
    )

    status, text, _ = await h.post(body, "application/json")

    assert status == 200
    assert "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in text
    assert h.api.chat_calls() == []


async def test_ssl_check_is_answered_without_work(make_harness: MakeHarness) -> None:
    h = await make_harness()

    status, _, _ = await h.post(
        urlencode({"ssl_check": "1", "token": "x"}), "application/x-www-form-urlencoded"
    )

    assert status == 200
    assert h.api.chat_calls() == []


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


# ---- watch-lists --------------------------------------------------------------------------------


async def test_watch_adds_the_domain_and_answers_ephemerally(make_harness: MakeHarness) -> None:
    h = await make_harness(watch=True)

    status, body, _ = await h.command("watch <http://Example.com|Example.com> daily 08:30")
    listed = await h.command("watches")

    assert status == 200
    assert "Now watching *example.com*" in body
    assert "08:30" in body
    assert "example.com" in listed[1]
    assert h.api.chat_calls() == []  # answered in the ack, no report run


async def test_the_watch_button_puts_the_reported_domain_on_the_list(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness(watch=True)
    await h.command("example.com")
    final = await final_update(h.api)
    assert buttons(final)["mx_watch"] == "example.com"

    status, _, _ = await h.click("mx_watch", "example.com", final.params["ts"])
    await h.api.wait_until(lambda: bool(h.api.calls_to("response_url")))

    assert status == 200
    reply = h.api.calls_to("response_url")[-1].params
    assert "Now watching *example.com*" in json.dumps(reply)
    assert reply["response_type"] == "ephemeral"


async def test_help_lists_the_watch_commands_when_watch_lists_are_on(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness(watch=True)

    _, body, _ = await h.command("help")

    assert "/mx watch" in body
    assert "/mx unwatch" in body


async def test_a_shutdown_finishes_or_closes_reports_in_flight(make_harness: MakeHarness) -> None:
    engine = Canned(hold=True)  # never released: the report is still running at shutdown
    h = await make_harness(run=engine, plan=engine.plan)
    await h.command("example.com")
    await h.api.wait_for("chat.update")
    assert len(h.in_flight) == 1

    cut_short = await h.in_flight.drain(0.1)
    await h.api.wait_until(
        lambda: "restarted" in json.dumps(h.api.calls_to("chat.update")[-1].params)
    )

    assert cut_short == 1
    assert len(h.in_flight) == 0


async def test_tokens_and_the_signing_secret_never_reach_the_logs(
    make_harness: MakeHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")  # the most talkative setting, slack_sdk's request logging included
    h = await make_harness()
    h.api.errors["chat.postMessage"] = "invalid_auth"  # an API error path logs context too

    await h.command("example.com")
    await h.api.wait_for("response_url")
    await h.post("token=x&text=forged", "application/x-www-form-urlencoded", secret="wrong")

    assert caplog.text  # something was logged, so the absence below means something
    assert "xoxb-test-token" not in caplog.text
    assert SECRET not in caplog.text
