"""The report's Re-run and Details buttons over the app's real HTTP server."""

from __future__ import annotations

import json

from tests.fakes.slackharness import Canned, MakeHarness, blocks_text, buttons, final_update


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
