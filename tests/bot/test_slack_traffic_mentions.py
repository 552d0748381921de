"""Mentions as Slack really sends them, over the app's real HTTP server: link markup, threads,
edits, mentions from bots and of other users, and retried deliveries.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.bot.slack_traffic import mention, sentinel
from tests.fakes.slackapi import BOT_USER
from tests.fakes.slackharness import Canned, Harness, MakeHarness, final_update


async def claims(h: Harness, count: int) -> list[tuple[str, bool]]:
    async with asyncio.timeout(5), h.store.claimed:
        await h.store.claimed.wait_for(lambda: len(h.store.claims) >= count)
    return h.store.claims


@pytest.mark.parametrize(
    ("text", "target"),
    [
        (f"<@{BOT_USER}> check <http://example.com|example.com> please", "example.com"),
        (f"<@{BOT_USER}> <mailto:ops@example.com|ops@example.com>", "example.com"),
        (
            f"<@{BOT_USER}|mxbot> dmarc for <https://www.example.net/a?b=c|www.example.net/a>",
            "www.example.net",
        ),
        (f"<@{BOT_USER}> *example.com*", "example.com"),
        (f"<@{BOT_USER}>\u00a0~example.com~ &amp; thanks", "example.com"),
    ],
)
async def test_mentions_with_slack_markup_run_on_the_domain(
    make_harness: MakeHarness, text: str, target: str
) -> None:
    engine = Canned()
    h = await make_harness(run=engine, plan=engine.plan)

    status, _, _ = await h.event(mention(text))
    [posted] = await h.api.wait_for("chat.postMessage")
    await final_update(h.api)

    assert status == 200
    assert [c.target.name for c in engine.commands if c.target] == [target]
    assert posted.params["thread_ts"] == "1700000000.000100"  # a thread under the mention
    assert h.api.calls_to("chat.postEphemeral") == []


async def test_a_mention_inside_a_thread_is_answered_in_that_thread(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness()

    await h.event(
        mention(
            f"<@{BOT_USER}> <http://example.com|example.com>",
            ts="1700000050.000200",
            thread_ts="1700000000.000001",
            parent_user_id="U2",
        )
    )
    [posted] = await h.api.wait_for("chat.postMessage")
    final = await final_update(h.api)

    assert posted.params["thread_ts"] == "1700000000.000001"
    assert final.params["ts"] == "1700000000.000001" or final.params["channel"] == "C1"


async def test_an_edited_mention_does_not_run_again(make_harness: MakeHarness) -> None:
    engine = Canned()
    h = await make_harness(run=engine, plan=engine.plan)
    original = mention(f"<@{BOT_USER}> example.com")
    await h.event(original, event_id="EvOriginal")
    await final_update(h.api)

    # Slack re-sends app_mention for an edit: a new event id, the same ts, an `edited` field …
    edited = {
        **mention(f"<@{BOT_USER}> example.com spf"),
        "edited": {"user": "U1", "ts": "1700000030.000000"},
    }
    status_edit, _, _ = await h.event(edited, event_id="EvEdit")
    # … and, to apps subscribed to channel messages, a message_changed event.
    changed = {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "channel": "C1",
        "ts": "1700000030.000300",
        "event_ts": "1700000030.000300",
        "message": {
            **mention(f"<@{BOT_USER}> example.com spf"),
            "type": "message",
            "edited": {"user": "U1", "ts": "1700000030.000000"},
        },
        "previous_message": {**mention(f"<@{BOT_USER}> example.com"), "type": "message"},
    }
    status_changed, _, _ = await h.event(changed, event_id="EvChanged")
    await sentinel(h, engine)

    assert (status_edit, status_changed) == (200, 200)
    assert [c.text for c in engine.commands] == ["example.com", "example.org"]
    assert len(h.api.calls_to("chat.postMessage")) == 2
    assert h.api.calls_to("chat.postEphemeral") == []


@pytest.mark.parametrize(
    "extra",
    [
        {"bot_id": "B999", "subtype": "bot_message", "username": "deploybot"},
        {"bot_id": "B999", "app_id": "A999", "bot_profile": {"id": "B999", "name": "other"}},
        {"user": BOT_USER, "bot_id": "BBOT"},
    ],
    ids=["bot_message", "app_bot", "itself"],
)
async def test_mentions_from_bots_are_ignored(
    make_harness: MakeHarness, extra: dict[str, Any]
) -> None:
    engine = Canned()
    h = await make_harness(run=engine, plan=engine.plan)

    status, _, _ = await h.event(mention(f"<@{BOT_USER}> example.com", **extra), event_id="EvBot")
    if extra.get("user") != BOT_USER:  # Bolt itself drops the bot's own events earlier
        await claims(h, 1)
    await sentinel(h, engine)

    assert status == 200
    assert [c.text for c in engine.commands] == ["example.org"]
    assert len(h.api.calls_to("chat.postMessage")) == 1
    assert h.api.calls_to("chat.postEphemeral") == []


async def test_another_users_mention_is_refused_with_usage(make_harness: MakeHarness) -> None:
    engine = Canned()
    h = await make_harness(run=engine, plan=engine.plan)

    await h.event(mention(f"<@{BOT_USER}> <@U999> example.com"))
    [reply] = await h.api.wait_for("chat.postEphemeral")

    assert reply.params["user"] == "U1"
    assert reply.params["thread_ts"] == "1700000000.000100"
    assert "Slack mention" in reply.params["text"]
    assert "`@mxbot example.com`" in reply.params["text"]
    assert "<@U999>" not in json.dumps(reply.params)
    assert engine.commands == []
    assert h.api.calls_to("chat.postMessage") == []


async def test_a_retried_delivery_after_the_first_ran_does_not_run_again(
    make_harness: MakeHarness,
) -> None:
    engine = Canned()
    h = await make_harness(run=engine, plan=engine.plan)
    event = mention(f"<@{BOT_USER}> example.com")
    await h.event(event, event_id="EvRetry")
    await final_update(h.api)

    status, _, _ = await h.event(
        event,
        event_id="EvRetry",
        headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
    )
    await claims(h, 2)
    await sentinel(h, engine)

    assert status == 200
    assert h.store.claims[:2] == [("EvRetry", True), ("EvRetry", False)]
    assert [c.text for c in engine.commands] == ["example.com", "example.org"]
    assert len(h.api.calls_to("chat.postMessage")) == 2
