"""Load on the app's real HTTP server: per-user rate limits, the queue beyond the concurrency cap,
and the reports still in flight at shutdown.
"""

from __future__ import annotations

import json

from tests.exposition import sample
from tests.fakes.slackharness import Canned, MakeHarness, blocks_text, final_update


async def test_rate_limits_refuse_with_a_clear_reply(make_harness: MakeHarness) -> None:
    h = await make_harness(user_reports_per_minute=1)

    await h.command("example.com")
    _, body, _ = await h.command("example.org")
    await final_update(h.api)

    assert "try again in" in json.loads(body)["text"]
    assert len(h.api.calls_to("chat.postMessage")) == 1
    assert sample(h.metrics, "mxbot_reports_refused_total", reason="user_rate") == 1


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
