"""`/mx live` in Slack, through the app's real HTTP server and the real `live` engine on loopback
name servers: a placeholder, then the verdict, escaped and inside Block Kit's limits."""

from __future__ import annotations

import json

from bot.slack.engine_binding import bind_live
from checks.settings import Settings
from tests.bot.blockkit_support import no_live_markup, validate
from tests.checks.zone_servers import ZoneServers, zone
from tests.fakes.slackharness import MakeHarness, blocks_text

V1 = '@ 300 IN MX 10 mx\nmx 300 IN A 192.0.2.25\n@ 300 IN TXT "v=spf1 -all"\n'
V2 = (
    V1.replace("v=spf1 -all", "v=spf1 mx -all") + 's1._domainkey 300 IN TXT "v=DKIM1; <!channel>"\n'
)


async def test_live_posts_a_placeholder_then_names_the_stale_server(
    make_harness: MakeHarness, zone_servers: ZoneServers, settings: Settings
) -> None:
    zone_servers.sound(zone(2, extra=V2))
    zone_servers.serve("127.0.0.11", zone(1, extra=V1))
    h = await make_harness(live=bind_live(settings))

    status, body, _ = await h.command("live example.test TXT")
    [placeholder] = await h.api.wait_for("chat.postMessage")
    [final] = await h.api.wait_for("chat.update")

    assert (status, body) == (200, "")
    assert "whether the change is live" in placeholder.params["text"]
    assert final.params["text"].startswith(
        "The name servers disagree on example.test TXT: ns1.example.test (127.0.0.11) still "
        'serves TXT "v=spf1 -all" (serial 1)'
    )
    assert "live example.test TXT @" in blocks_text(final)  # the command, to ask again
    validate(final.params)


async def test_live_answers_are_escaped(
    make_harness: MakeHarness, zone_servers: ZoneServers, settings: Settings
) -> None:
    zone_servers.sound(zone(2, extra=V2))
    h = await make_harness(live=bind_live(settings))

    await h.command("live example.test TXT s1._domainkey")
    [final] = await h.api.wait_for("chat.update")

    assert final.params["text"].startswith("s1._domainkey.example.test TXT is live everywhere")
    assert "&lt;!channel&gt;" in blocks_text(final)
    assert "<!channel>" not in json.dumps(final.params)
    no_live_markup(final.params)
    validate(final.params)


async def test_live_without_a_domain_gets_a_usage_reply(make_harness: MakeHarness) -> None:
    h = await make_harness()

    _, body, _ = await h.command("live TXT")

    assert "`/mx live example.com TXT s1._domainkey`" in json.loads(body)["text"]
    assert h.api.chat_calls() == []


async def test_an_app_without_live_says_so(make_harness: MakeHarness) -> None:
    h = await make_harness()

    await h.command("live example.test")
    [posted] = await h.api.wait_for("chat.postMessage")

    assert "`mxbot live`" in posted.params["text"]
