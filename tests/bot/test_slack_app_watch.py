"""Watch-lists through the app's real HTTP server: `/mx watch`, the Watch button on a report, and
the help that lists them.
"""

from __future__ import annotations

import json

from tests.bot.slack_traffic import mention
from tests.fakes.slackharness import MakeHarness, buttons, final_update


async def test_watch_changes_are_announced_in_the_channel_and_the_list_is_not(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness(watch=True)

    status, body, _ = await h.command("watch <http://Example.com|Example.com> daily 08:30")
    listed = await h.command("watches")
    again = await h.command("watch example.com")
    removed = await h.command("unwatch example.com")

    assert status == 200
    added = json.loads(body)
    assert added["response_type"] == "in_channel"  # everyone sees what the channel now watches
    assert "Now watching *example.com* in this channel (by <@U1>)" in body
    assert "08:30" in body
    assert "example.com" in listed[1]
    assert "response_type" not in json.loads(listed[1])  # a question: only the asker sees it
    assert "response_type" not in json.loads(again[1])  # nothing changed
    assert json.loads(removed[1])["response_type"] == "in_channel"
    assert "Stopped watching *example.com* here (by <@U1>)" in removed[1]
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
    assert reply["response_type"] == "in_channel"
    assert reply["replace_original"] is False  # the report stays; the change is a new message


async def test_help_lists_the_watch_commands_when_watch_lists_are_on(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness(watch=True)

    _, body, _ = await h.command("help")

    assert "/mx watch" in body
    assert "/mx unwatch" in body


async def test_a_mentioned_watch_change_is_posted_to_the_channel(make_harness: MakeHarness) -> None:
    h = await make_harness(watch=True)

    await h.event(mention("<@UBOT> watch example.com hourly"))
    [posted] = await h.api.wait_for("chat.postMessage")

    assert "Now watching *example.com* in this channel (by <@U1>)" in json.dumps(posted.params)
    assert posted.params["thread_ts"] == "1700000000.000100"
    assert posted.params["reply_broadcast"] is True  # in the thread, and shown in the channel
    assert "response_type" not in posted.params
    assert h.api.calls_to("chat.postEphemeral") == []


async def test_digest_now_answers_at_once_then_posts_the_channels_digest_once(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness(digests=True)
    await h.command("watch example.com")

    status, body, _ = await h.command("digest now")
    [posted] = await h.api.wait_for("chat.postMessage", within=10)
    _, twice, _ = await h.command("digest now")  # within the same minute: the same digest
    await h.in_flight.drain(5)

    assert status == 200
    assert "Making this channel's digest now: checking 1 domain" in body
    assert "response_type" not in json.loads(body)
    assert posted.params["channel"] == "C1"
    assert posted.params["metadata"]["event_type"] == "mxbot_scheduled_post"
    assert "Mail digest" in json.dumps(posted.params["blocks"])
    assert "Making this channel's digest now" in twice
    assert len(h.api.posted("C1")) == 1


async def test_digest_now_says_why_when_the_digest_cannot_be_posted(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness(digests=True)
    await h.command("watch example.com")
    h.api.errors["chat.postMessage"] = "not_in_channel"

    await h.command("digest now")
    await h.api.wait_until(lambda: bool(h.api.calls_to("response_url")))

    [told] = h.api.calls_to("response_url")
    assert told.params["response_type"] == "ephemeral"
    assert "could not be posted" in told.params["text"]
    assert "not_in_channel" in told.params["text"]


async def test_digest_now_in_a_channel_without_a_watch_list_says_how_to_start(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness(digests=True)

    _, body, _ = await h.command("digest now")

    assert "watches no domains yet" in body
    assert h.api.chat_calls() == []


async def test_alerts_and_history_through_the_app(make_harness: MakeHarness) -> None:
    h = await make_harness(watch=True)

    _, turned_on, _ = await h.command("watch example.com alert after 3")
    _, listed, _ = await h.command("watches")
    _, history, _ = await h.command("history example.com")
    _, usage, _ = await h.command("watch example.com alert after 99")

    assert json.loads(turned_on)["response_type"] == "in_channel"
    assert "Alerts: here, when it fails" in turned_on
    assert "after 3 checks in a row (checked every 15 min)" in turned_on
    assert ":bell: alerts after 3" in listed
    assert "No record history for *example.com* yet" in history
    assert "response_type" not in json.loads(history)  # a question: only the asker sees it
    assert "Alert after 1 to 20 checks in a row." in usage
    assert h.api.chat_calls() == []
