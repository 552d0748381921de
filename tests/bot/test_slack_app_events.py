"""Events over the app's real HTTP server: a mention is answered in its thread and runs once per
event id, its usage errors are ephemeral, and App Home shows the workspace's latest reports.
"""

from __future__ import annotations

import asyncio
import json

from tests.fakes.slackharness import Canned, MakeHarness, final_update


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
