"""Traffic as Slack really sends it, over the app's real HTTP server (`tests.fakes.slackharness`).

Mentions with Slack's link markup, edits and bot messages; slash commands from DMs and Enterprise
Grid; retries; button clicks from threads and ephemeral messages; expired response URLs; oversized
and malformed bodies; stale signatures. Where something must *not* happen (a second run, a post),
the test first sends a request that must happen and waits for it, so the absence is observed after
the app has had every chance to misbehave.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.slack.server import make_bolt_request
from tests.fakes.slackapi import BOT_USER, TEAM
from tests.fakes.slackharness import (
    Canned,
    Harness,
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


def mention(text: str, *, ts: str = "1700000000.000100", **extra: Any) -> dict[str, Any]:
    """An app_mention event with the fields Slack sends (blocks trimmed to one text element)."""
    return {
        "client_msg_id": "6a3f1c2e-0000-4000-8000-000000000001",
        "type": "app_mention",
        "text": text,
        "user": "U1",
        "ts": ts,
        "blocks": [
            {
                "type": "rich_text",
                "block_id": "b1",
                "elements": [
                    {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
                ],
            }
        ],
        "team": TEAM,
        "channel": "C1",
        "event_ts": ts,
        **extra,
    }


async def sentinel(h: Harness, engine: Canned, *, event_id: str = "EvSentinel") -> None:
    """A mention that must run: once its report is final, anything that ran earlier has shown."""
    reports = len([c for c in h.api.calls_to("chat.update") if buttons(c)])
    await h.event(mention(f"<@{BOT_USER}> example.org", ts="1700000999.000999"), event_id=event_id)
    await final_update(h.api, reports + 1)
    assert engine.commands[-1].text == "example.org"


async def claims(h: Harness, count: int) -> list[tuple[str, bool]]:
    async with asyncio.timeout(5), h.store.claimed:
        await h.store.claimed.wait_for(lambda: len(h.store.claims) >= count)
    return h.store.claims


# ---- mentions -----------------------------------------------------------------------------------


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


# ---- slash commands -----------------------------------------------------------------------------


async def test_a_dm_command_the_bot_cannot_post_to_goes_through_the_response_url(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness()
    h.api.errors["chat.postMessage"] = "channel_not_found"

    status, body, _ = await h.command(
        "example.com",
        channel="D0123ABCD",
        response_url=h.api.response_url("dm"),
        fields={"channel_name": "directmessage"},
    )
    placeholder, final = await h.api.wait_for("response_url", 2)

    assert (status, body) == (200, "")
    assert [c.params["channel"] for c in h.api.calls_to("chat.postMessage")] == ["D0123ABCD"]
    assert placeholder.path == final.path == "/response/dm"
    assert placeholder.params["text"] == "Checking example.com…"
    assert final.params["replace_original"] is True
    assert "❌ example.com" in blocks_text(final)
    assert h.api.calls_to("chat.postEphemeral") == []


@pytest.mark.parametrize("org_wide", ["false", "true"])
async def test_a_command_from_an_enterprise_grid_workspace_runs(
    make_harness: MakeHarness, org_wide: str
) -> None:
    engine = Canned()
    h = await make_harness(run=engine, plan=engine.plan)

    status, _, _ = await h.command(
        "example.com",
        fields={
            "enterprise_id": "E0001",
            "enterprise_name": "Example Org",
            "is_enterprise_install": org_wide,
        },
    )
    [posted] = await h.api.wait_for("chat.postMessage")
    await final_update(h.api)

    assert status == 200
    assert posted.params["channel"] == "C1"
    assert [c.text for c in engine.commands] == ["example.com"]


# ---- buttons ------------------------------------------------------------------------------------


def click_payload(
    h: Harness, action_id: str, value: str, *, container: dict[str, Any], message: Any
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": "U1", "username": "ann", "name": "ann", "team_id": TEAM},
        "api_app_id": "A1",
        "token": "legacy",
        "container": container,
        "trigger_id": "1.2.3",
        "team": {"id": TEAM, "domain": "test"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": "C1", "name": "ops"},
        "state": {"values": {}},
        "response_url": h.api.response_url("click"),
        "actions": [
            {
                "action_id": action_id,
                "block_id": "mx_actions",
                "text": {"type": "plain_text", "text": action_id, "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    if message is not None:
        payload["message"] = message
    return payload


async def test_buttons_on_a_report_inside_a_thread_stay_in_the_thread(
    make_harness: MakeHarness,
) -> None:
    engine = Canned()
    h = await make_harness(run=engine, plan=engine.plan, watch=True)
    await h.command("example.com")
    report = await final_update(h.api)
    values = buttons(report)
    parent, ts = "1700000000.000001", report.params["ts"]
    container = {
        "type": "message",
        "message_ts": ts,
        "channel_id": "C1",
        "is_ephemeral": False,
        "thread_ts": parent,
    }
    message = {"type": "message", "user": BOT_USER, "ts": ts, "thread_ts": parent, "text": "…"}

    for action in ("mx_rerun", "mx_details", "mx_watch"):
        status, _, _ = await h.interact(
            click_payload(h, action, values[action], container=container, message=message)
        )
        assert status == 200
    await final_update(h.api, 2)
    await h.api.wait_for("chat.postMessage", 3)
    [watch_reply] = await h.api.wait_for("response_url")

    rerun, details = sorted(
        h.api.calls_to("chat.postMessage")[1:], key=lambda c: "`spf.x`" in blocks_text(c)
    )
    assert rerun.params["thread_ts"] == parent
    assert details.params["thread_ts"] == parent
    assert "Now watching *example.com*" in watch_reply.params["text"]


async def test_buttons_on_an_ephemeral_message_do_not_crash_and_still_answer(
    make_harness: MakeHarness, caplog: pytest.LogCaptureFixture
) -> None:
    engine = Canned()
    h = await make_harness(run=engine, plan=engine.plan, watch=True)
    await h.command("example.com")
    values = buttons(await final_update(h.api))
    container = {
        "type": "message",
        "message_ts": "1700000500.000500",
        "channel_id": "C1",
        "is_ephemeral": True,
    }

    statuses = [
        (
            await h.interact(
                click_payload(h, action, values[action], container=container, message=None)
            )
        )[0]
        for action in ("mx_details", "mx_watch", "mx_rerun")
    ]
    await final_update(h.api, 2)
    await h.api.wait_for("response_url", 2)

    assert statuses == [200, 200, 200]
    details, watch = h.api.calls_to("response_url")[:2]
    assert details.params["response_type"] == "ephemeral"
    assert details.params["replace_original"] is False
    assert "`spf.x`" in json.dumps(details.params)
    assert "Now watching *example.com*" in watch.params["text"]
    rerun = h.api.calls_to("chat.postMessage")[1]
    assert rerun.params["channel"] == "C1"
    assert rerun.params.get("thread_ts") is None
    assert len(h.api.calls_to("chat.postMessage")) == 2  # no Details dumped into the channel
    assert "listener failed" not in caplog.text


async def test_an_expired_response_url_is_logged_not_fatal(
    make_harness: MakeHarness, caplog: pytest.LogCaptureFixture
) -> None:
    engine = Canned()
    h = await make_harness(run=engine, plan=engine.plan)
    h.api.expired.add("click")
    container = {"type": "message", "message_ts": "1.1", "channel_id": "C1", "is_ephemeral": False}

    with caplog.at_level(logging.WARNING, logger="bot.slack.replies"):
        status, _, _ = await h.interact(
            click_payload(
                h,
                "mx_details",
                "999",
                container=container,
                message={"type": "message", "ts": "1.1"},
            )
        )
        await h.api.wait_for("response_url")
        await sentinel(h, engine)

    assert status == 200
    assert "response_url answered 404" in caplog.text
    assert "listener failed" not in caplog.text
    assert 'mxbot_slack_api_errors_total{method="response_url",error="404"} 1' in h.metrics.render()


# ---- hostile and broken requests ----------------------------------------------------------------


async def test_a_body_over_one_megabyte_is_refused_without_work(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness()
    form = urlencode({"command": "/mx", "text": "example.com", "padding": "x" * (1024 * 1024)})

    status, _, _ = await h.post(form, "application/x-www-form-urlencoded")
    status_after, _, _ = await h.command("help")

    assert status == 413
    assert status_after == 200
    assert h.api.chat_calls() == []


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (urlencode({"payload": "{not json"}), "application/x-www-form-urlencoded"),
        (urlencode({"payload": "[1, 2]"}), "application/x-www-form-urlencoded"),
        (urlencode({"payload": '"a string"'}), "application/x-www-form-urlencoded"),
        ('{"type": "event_callback", "event": ', "application/json"),
        ("[]", "application/json"),
        ("\xff\xfe", "application/json"),
    ],
    ids=[
        "payload-not-json",
        "payload-list",
        "payload-string",
        "json-cut",
        "json-list",
        "json-junk",
    ],
)
async def test_malformed_bodies_get_400_without_work(
    make_harness: MakeHarness, body: str, content_type: str, caplog: pytest.LogCaptureFixture
) -> None:
    h = await make_harness()

    status, text, _ = await h.post(body, content_type)
    status_unsigned, _, _ = await h.post(body, content_type, sign=False)
    status_after, _, _ = await h.command("help")

    assert status == 400
    assert 400 <= status_unsigned < 500
    assert status_after == 200
    assert "Traceback" not in text
    assert h.api.chat_calls() == []
    assert "Error handling request" not in caplog.text


# The offset, not the timestamp, is the parameter: a timestamp taken at collection time drifts
# into the five-minute window while earlier tests run.
@pytest.mark.parametrize("offset", [-6 * 60, 6 * 60], ids=["old", "future"])
async def test_a_validly_signed_request_outside_five_minutes_gets_401(
    make_harness: MakeHarness, offset: int
) -> None:
    h = await make_harness()
    timestamp = int(time.time()) + offset

    status, _, _ = await h.command("example.com", timestamp=timestamp)
    status_click, _, _ = await h.click("mx_rerun", "example.com", "1.1", timestamp=timestamp)
    status_after, _, _ = await h.command("help")

    assert (status, status_click, status_after) == (401, 401, 200)
    assert h.api.chat_calls() == []


async def test_a_garbled_timestamp_header_gets_401(make_harness: MakeHarness) -> None:
    h = await make_harness()
    body = urlencode({"command": "/mx", "text": "example.com"})

    status, _, _ = await h.post(
        body,
        "application/x-www-form-urlencoded",
        sign=False,
        headers={"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=00"},
    )

    assert status == 401
    assert h.api.chat_calls() == []


async def test_a_command_whose_text_contains_payload_is_read_as_a_command(
    make_harness: MakeHarness,
) -> None:
    engine = Canned()
    h = await make_harness(run=engine, plan=engine.plan)

    status, _, _ = await h.command("payloadcms.com", fields={"user_name": "payload-admin"})
    await final_update(h.api)

    assert status == 200
    assert [c.text for c in engine.commands] == ["payloadcms.com"]


async def test_bytes_that_are_not_utf8_or_nest_too_deeply_get_400(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness()
    deep = '{"event": ' + "[" * 100_000 + "]" * 100_000 + "}"

    async with h.http.post(
        f"{h.url}/slack/events",
        data=b'{"type": "\xff\xfe"}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    ) as response:
        status_bytes = response.status
    status_deep, _, _ = await h.post(deep, "application/json")
    status_after, _, _ = await h.command("help")

    assert (status_bytes, status_deep, status_after) == (400, 400, 200)
    assert h.api.chat_calls() == []


# ---- any body: a Bolt request or a ValueError, never anything else ------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
_keys = st.sampled_from(
    [
        "type",
        "team",
        "team_id",
        "user",
        "user_id",
        "channel",
        "channel_id",
        "event",
        "enterprise",
        "enterprise_id",
        "authorizations",
        "is_enterprise_install",
        "actions",
        "container",
        "response_url",
        "view",
        "api_app_id",
        "payload",
        "command",
        "text",
    ]
)
_objects = st.dictionaries(_keys | st.text(max_size=6), _json, max_size=6)


@settings(max_examples=300, deadline=None)
@given(body=_objects, form=st.booleans())
def test_any_body_becomes_a_bolt_request_or_a_value_error(body: dict[str, Any], form: bool) -> None:
    raw = urlencode({"payload": json.dumps(body)}) if form else json.dumps(body)
    content_type = "application/x-www-form-urlencoded" if form else "application/json"
    try:
        request = make_bolt_request(raw, content_type, "", {"Content-Type": content_type})
    except ValueError:
        return
    assert request.body == body
