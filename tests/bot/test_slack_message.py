"""The message diagnosis in Slack, end to end: signed requests into the app's real HTTP server,
the real diagnosis on the DNS test server, Web API calls (files.info, the file download with the
bot token, views.open, chat.postMessage, response URLs) to the local stand-in.

The shortcut answers in the message's thread, or to the asker alone where the bot is not in the
channel; `/mx message` opens a paste box; a file sent in a DM is answered in its thread. Headers
are escaped, the body is never echoed, nothing is stored.
"""

from __future__ import annotations

import json

import pytest
from prometheus_client import generate_latest
from slack_sdk.models.views import View

from bot.slack.engine_binding import bind_diagnose
from bot.slack.message_input import MAX_FILE_BYTES, from_text
from bot.slack.message_listeners import MODAL, MODAL_ACTION, MODAL_BLOCK
from checks.settings import Settings
from tests.bot.blockkit_support import no_live_markup, validate
from tests.checks.message.corpus import ROOT as CORPUS
from tests.checks.message.corpus import zone
from tests.exposition import sample
from tests.fakes.dnsserver import DnsTestServer
from tests.fakes.slackapi import BOT_TOKEN, Call
from tests.fakes.slackharness import Harness, MakeHarness

BOUNCE_TEXT = (CORPUS / "bounces/postfix-pasted.txt").read_text()


def slack_escaped(text: str) -> str:
    """Text as Slack delivers a message's `text`: the three control characters escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@pytest.fixture
async def harness(
    make_harness: MakeHarness, dns_server: DnsTestServer, settings: Settings
) -> Harness:
    dns_server.load_zone(zone(), ".")
    engine = settings.with_overrides(dnsbl_zones=("bl.test",))
    return await make_harness(diagnose=bind_diagnose(engine, services=None))


def all_text(h: Harness) -> str:
    return json.dumps([c.params for c in h.api.calls], ensure_ascii=False)


async def answered(h: Harness) -> Call:
    [call] = await h.api.wait_for("chat.postMessage")
    return call


async def test_the_shortcut_on_a_pasted_bounce_answers_in_its_thread(harness: Harness) -> None:
    status, _, elapsed = await harness.shortcut(
        {
            "ts": "1700000000.000200",
            "thread_ts": "1700000000.000100",
            "text": slack_escaped(BOUNCE_TEXT),
        }
    )
    call = await answered(harness)

    assert status == 200
    assert elapsed < 3.0
    assert call.params["channel"] == "C1"
    assert call.params["thread_ts"] == "1700000000.000100"
    message = {"text": call.params["text"], "blocks": call.params["blocks"]}
    validate(message)
    no_live_markup(message)
    shown = json.dumps(call.params["blocks"])
    assert "S3150" in shown
    assert "Checked live: 203.0.113.9" in shown
    assert "5.7.1" in call.params["text"]


async def test_the_shortcut_reads_an_attached_eml_with_the_bot_token(harness: Harness) -> None:
    data = (CORPUS / "tampered-body.eml").read_bytes()
    file = harness.api.add_file("F1", "forwarded.eml", data)

    await harness.shortcut(
        {"ts": "1700000000.000300", "text": "why did this land in spam?", "files": [file]}
    )
    call = await answered(harness)

    [info] = harness.api.calls_to("files.info")
    [download] = harness.api.calls_to("file_download")
    assert info.params["file"] == "F1"
    assert download.headers["Authorization"] == f"Bearer {BOT_TOKEN}"
    assert call.params["thread_ts"] == "1700000000.000300"
    assert "body hash mismatch" in call.params["text"]
    assert "Hello Bob" not in all_text(harness)  # the body is never echoed


async def test_where_the_bot_is_not_in_the_channel_only_the_asker_is_answered(
    harness: Harness,
) -> None:
    harness.api.errors["chat.postMessage"] = "not_in_channel"

    await harness.shortcut({"ts": "1.5", "text": slack_escaped(BOUNCE_TEXT)})
    [reply] = await harness.api.wait_for("response_url")

    assert reply.params["response_type"] == "ephemeral"
    assert "S3150" in json.dumps(reply.params["blocks"])
    assert (
        sample(
            harness.metrics,
            "mxbot_slack_api_errors_total",
            method="chat.postMessage",
            error="not_in_channel",
        )
        == 1
    )


async def test_a_file_over_the_cap_is_refused_before_downloading(harness: Harness) -> None:
    file = harness.api.add_file("F2", "huge.eml", b"x", size=MAX_FILE_BYTES + 1)

    await harness.shortcut({"ts": "1.6", "text": "", "files": [file]})
    call = await answered(harness)

    assert "MB" in call.params["text"]
    assert harness.api.calls_to("file_download") == []


async def test_a_file_that_lies_about_its_size_is_cut_off_while_downloading(
    harness: Harness,
) -> None:
    file = harness.api.add_file("F3", "liar.eml", b"x" * (MAX_FILE_BYTES + 10), size=100)

    await harness.shortcut({"ts": "1.7", "text": "", "files": [file]})
    call = await answered(harness)

    assert "MB" in call.params["text"]


async def test_a_hostile_header_is_shown_escaped_and_pings_nobody(harness: Harness) -> None:
    hostile = (
        (CORPUS / "spoofed.eml")
        .read_bytes()
        .replace(b"Subject: Urgent wire transfer", b"Subject: <!channel> <@U123> wire transfer")
    )
    file = harness.api.add_file("F4", "spoof.eml", hostile)

    await harness.shortcut({"ts": "1.8", "text": "", "files": [file]})
    call = await answered(harness)

    message = {"text": call.params["text"], "blocks": call.params["blocks"]}
    no_live_markup(message)
    assert "&lt;!channel&gt;" in json.dumps(call.params["blocks"])


async def test_text_that_is_not_mail_gets_a_plain_answer(harness: Harness) -> None:
    await harness.shortcut({"ts": "1.9", "text": "lunch at 12?"})
    call = await answered(harness)

    assert "could not diagnose" in call.params["text"]


async def test_mx_message_opens_a_paste_box_and_posts_the_diagnosis_in_the_channel(
    harness: Harness,
) -> None:
    status, body, _ = await harness.command("message", channel="C7")
    [opened] = await harness.api.wait_for("views.open")
    view = opened.params["view"]
    headers = (CORPUS / "headers-only.txt").read_text()

    await harness.submit_view(
        view, {MODAL_BLOCK: {MODAL_ACTION: {"type": "plain_text_input", "value": headers[:3000]}}}
    )
    call = await answered(harness)

    assert status == 200
    assert body == ""
    assert opened.params["trigger_id"] == "1.2.3"
    assert view["callback_id"] == MODAL
    View(
        **view
    ).validate_json()  # Slack's own validator for the modal    assert call.params["channel"] == "C7"
    validate({"text": call.params["text"], "blocks": call.params["blocks"]})
    assert "Headers" in json.dumps(call.params["blocks"][0])


async def test_an_empty_paste_keeps_the_box_open_with_an_error(harness: Harness) -> None:
    await harness.command("message")
    [opened] = await harness.api.wait_for("views.open")

    status, body, _ = await harness.submit_view(
        opened.params["view"],
        {MODAL_BLOCK: {MODAL_ACTION: {"type": "plain_text_input", "value": "  "}}},
    )

    assert status == 200
    assert json.loads(body)["response_action"] == "errors"


async def test_a_file_sent_in_a_dm_is_answered_in_its_thread(harness: Harness) -> None:
    file = harness.api.add_file(
        "F5", "bounce.eml", (CORPUS / "bounces/dsn-gmail-5.7.26.eml").read_bytes()
    )
    event = {
        "type": "message",
        "subtype": "file_share",
        "channel": "D1",
        "channel_type": "im",
        "user": "U1",
        "ts": "1700000000.000500",
        "text": "",
        "files": [file],
    }

    status, _, _ = await harness.event(event, event_id="EvDm1")
    call = await answered(harness)

    assert status == 200
    assert (call.params["channel"], call.params["thread_ts"]) == ("D1", "1700000000.000500")
    assert "5.7.26" in call.params["text"]
    assert harness.store.claims == [("EvDm1", True)]


async def test_a_short_dm_gets_the_how_to_and_channel_messages_are_ignored(
    harness: Harness,
) -> None:
    await harness.event(
        {
            "type": "message",
            "channel": "C1",
            "channel_type": "channel",
            "user": "U1",
            "ts": "2.1",
            "text": "hi",
        },
        event_id="EvC",
    )
    await harness.event(
        {
            "type": "message",
            "channel": "D1",
            "channel_type": "im",
            "user": "U1",
            "ts": "2.2",
            "text": "hello",
        },
        event_id="EvD",
    )
    call = await answered(harness)

    assert call.params["channel"] == "D1"
    assert "shortcut" in call.params["text"] or "shortcut" in json.dumps(call.params["blocks"])
    assert [c for c, _ in harness.store.claims] == ["EvD"]


async def test_nothing_of_the_message_is_stored_or_counted(harness: Harness) -> None:
    file = harness.api.add_file("F6", "m.eml", (CORPUS / "good.eml").read_bytes())

    await harness.shortcut({"ts": "3.1", "text": "", "files": [file]})
    await answered(harness)

    assert await harness.store.recent_reports("T0001") == []
    metrics = generate_latest(harness.metrics.registry).decode()
    assert "sender.test" not in metrics
    assert "Quarterly" not in metrics


def test_slack_markup_is_undone_before_diagnosis() -> None:
    text = "```Return-Path: &lt;<mailto:a@b.test|a@b.test>&gt;\nSee <https://x.test/y|https://x.test/y> &amp; more```"

    assert from_text(text) == b"Return-Path: <a@b.test>\nSee https://x.test/y & more"


async def test_a_mention_asking_for_message_gets_the_how_to_alone(harness: Harness) -> None:
    event = {
        "type": "app_mention",
        "user": "U1",
        "text": "<@UBOT> message",
        "ts": "4.1",
        "channel": "C1",
    }

    await harness.event(event, event_id="EvM")
    [reply] = await harness.api.wait_for("chat.postEphemeral")

    assert "Diagnose with mxbot" in reply.params["text"]
    assert harness.api.calls_to("chat.postMessage") == []
