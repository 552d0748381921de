"""Slash commands and button clicks as Slack really sends them, over the app's real HTTP server:
commands from DMs and Enterprise Grid, clicks from threads and ephemeral messages, and expired
response URLs.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest

from tests.bot.slack_traffic import sentinel
from tests.exposition import sample
from tests.fakes.slackapi import BOT_USER, TEAM
from tests.fakes.slackharness import (
    Canned,
    Harness,
    MakeHarness,
    blocks_text,
    buttons,
    final_update,
)

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
    assert (
        sample(h.metrics, "mxbot_slack_api_errors_total", method="response_url", error="404") == 1
    )
