"""Watch-lists through the app's real HTTP server: `/mx watch`, the Watch button on a report, and
the help that lists them.
"""

from __future__ import annotations

import json

from tests.fakes.slackharness import MakeHarness, buttons, final_update


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
