"""*Tell me when it's live* in Slack, used as a user would: `/mx live` on a zone with a stale name
server (real name servers on loopback), the button clicked through a signed request, then the
follow-up passes driven by a test clock (no sleeps) while the server catches up, or does not.
The app's real HTTP server and store, Slack stood in; every post counted as Slack received it."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.digest.delivery import EVENT_TYPE, Tally
from bot.digest.follower import run_due_followups
from bot.digest.scheduler import single_team
from bot.render import followup
from bot.slack.engine_binding import bind_live, bind_look
from bot.store.watch import WatchStore
from checks.live.result import Wanted
from checks.model import Record, Status
from checks.settings import Settings
from tests.bot.blockkit_support import validate
from tests.checks.zone_servers import ZoneServers, zone
from tests.fakes.slackapi import Call, SlackApi
from tests.fakes.slackharness import Canned, Harness, MakeHarness, blocks_text, buttons, result

T0 = datetime.now(UTC).replace(microsecond=0)
V1 = '@ 300 IN MX 10 mx\nmx 300 IN A 192.0.2.25\n@ 300 IN TXT "v=spf1 -all"\n'
V2 = V1.replace("v=spf1 -all", "v=spf1 mx -all")
STALE = "ns1.example.test (127.0.0.11)"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def thread_posts(api: SlackApi, thread: str) -> list[dict[str, Any]]:
    return [m for m in api.posted("C1") if m.get("thread_ts") == thread]


async def ask(h: Harness, text: str = "live example.test TXT") -> tuple[Call, str]:
    """`/mx live …`, then a click on the button under the answer; (the answer, its ts)."""
    await h.command(text)
    [answer] = await h.api.wait_for("chat.update")
    ts = str(answer.params["ts"])
    status, _, _ = await h.click(followup.FOLLOW, buttons(answer)[followup.FOLLOW], ts)
    assert status == 200
    return answer, ts


async def acked(h: Harness, thread: str) -> dict[str, Any]:
    await h.api.wait_until(lambda: len(thread_posts(h.api, thread)) >= 1)
    return thread_posts(h.api, thread)[0]


async def tick(h: Harness, seconds: float, store: WatchStore | None = None) -> Tally:
    """One follow-up pass at T0 + `seconds`, as `mxbot serve` runs them (or another instance)."""
    store = store or h.watch_store
    assert store is not None
    client = AsyncWebClient(token="xoxb-test", base_url=h.api.base_url)
    return await run_due_followups(
        followups=store.followups,
        outbox=store.outbox,
        look=bind_look(SETTINGS[0]),
        client_for_team=single_team(client),
        now=at(seconds),
        owner="one",
        jitter=lambda: 1.0,  # the longest pause of each step: looks fall at 30, 90, 210, 330 s
    )


SETTINGS: list[Settings] = []  # the test's settings, for `tick` (set by `harness`)


async def harness(
    make_harness: MakeHarness, settings: Settings, clock: Callable[[], datetime] = lambda: T0
) -> Harness:
    SETTINGS[:] = [settings]
    return await make_harness(live=bind_live(settings), look=bind_look(settings), clock=clock)


def stale(zone_servers: ZoneServers) -> None:
    """ns2 (and the resolver) serve serial 2; ns1 missed it and still serves serial 1."""
    zone_servers.sound(zone(2, extra=V2))
    zone_servers.serve("127.0.0.11", zone(1, extra=V1))


async def test_it_posts_once_in_the_thread_when_the_stale_server_catches_up(
    make_harness: MakeHarness, zone_servers: ZoneServers, settings: Settings
) -> None:
    stale(zone_servers)
    h = await harness(make_harness, settings)
    answer, thread = await ask(h)
    ack = await acked(h, thread)

    early = await tick(h, 29)  # the first look is due 30 s after the click
    still = await tick(h, 30)  # ns1 still at serial 1
    zone_servers.serve("127.0.0.11", zone(2, extra=V2))  # the secondary transfers the zone
    live = await tick(h, 90)
    after = [await tick(h, s) for s in (91, 400, 90000)]

    assert ack["text"].startswith("I'll post here when example.test is live everywhere, or at ")
    assert "I'll post here when every name server and every resolver" in blocks_text_of(ack)
    assert (early.posted, still.posted, live.posted) == (0, 0, 1)
    assert [a.posted for a in after] == [0, 0, 0]
    [ack_again, done] = thread_posts(h.api, thread)
    assert ack_again == ack
    assert done["text"].startswith(
        "<@U1> example.test TXT is live everywhere (after 90 s, 2 looks)."
    )
    assert done["metadata"] == {
        "event_type": EVENT_TYPE,
        "event_payload": {"key": f"live:T0001:C1:{thread}:1:live", "kind": "followup"},
    }
    assert 'TXT \\"v=spf1 mx -all' in blocks_text_of(done)
    validate(done)
    validate(answer.params)


async def test_it_gives_up_after_the_longest_ttl_saying_what_still_disagrees(
    make_harness: MakeHarness, zone_servers: ZoneServers, settings: Settings
) -> None:
    stale(zone_servers)
    h = await harness(make_harness, settings)
    _, thread = await ask(h)
    await acked(h, thread)

    tallies = [await tick(h, s) for s in (30, 90, 210, 329)]  # 329: not due, the last is at 330
    gave_up = await tick(h, 330)  # 300 s, the longest TTL, and 30 s
    later = await tick(h, 5000)

    assert [t.posted for t in tallies] == [0, 0, 0, 0]
    assert (gave_up.posted, later.posted) == (1, 0)
    [_, done] = thread_posts(h.api, thread)
    assert done["text"].startswith(
        "<@U1> I stopped following example.test after 5 min 30 s (4 looks): The name servers "
        f'disagree on example.test TXT: {STALE} still serves TXT "v=spf1 -all" (serial 1)'
    )
    assert f"live:T0001:C1:{thread}:1:gave_up" in json.dumps(done["metadata"])
    assert "behind" in blocks_text_of(done)  # the server's row, marked
    validate(done)


def blocks_text_of(message: dict[str, Any]) -> str:
    return json.dumps(message.get("blocks", []), ensure_ascii=False)


async def test_cancel_on_the_ack_stops_it_and_nothing_more_is_posted(
    make_harness: MakeHarness, zone_servers: ZoneServers, settings: Settings
) -> None:
    stale(zone_servers)
    h = await harness(make_harness, settings)
    _, thread = await ask(h)
    ack = await acked(h, thread)
    [cancel] = [e for b in ack["blocks"] if b["type"] == "actions" for e in b["elements"]]

    await h.click(followup.UNFOLLOW, cancel["value"], ack["ts"], thread_ts=thread, user="U2")
    await h.api.wait_until(lambda: len(thread_posts(h.api, thread)) == 2)
    zone_servers.serve("127.0.0.11", zone(2, extra=V2))
    passes = [await tick(h, s) for s in (30, 90, 400)]
    await h.click(followup.UNFOLLOW, cancel["value"], ack["ts"], thread_ts=thread)
    [again] = await h.api.wait_for("response_url")

    assert [p.posted for p in passes] == [0, 0, 0]
    [_, cancelled] = thread_posts(h.api, thread)
    assert cancelled["text"].startswith("🛑 <@U2> cancelled: I no longer follow example.test")
    assert "ended already" in again.params["text"]
    validate(ack)


async def test_live_cancel_stops_the_channels_follow_ups_of_a_domain(
    make_harness: MakeHarness, zone_servers: ZoneServers, settings: Settings
) -> None:
    stale(zone_servers)
    h = await harness(make_harness, settings)
    _, thread = await ask(h)
    await acked(h, thread)

    _, body, _ = await h.command("live cancel example.test")
    _, none_left, _ = await h.command("live cancel example.test")

    assert (
        json.loads(body)["text"] == "Stopped following example.test in this channel (1 follow-up)."
    )
    assert json.loads(none_left)["text"] == "I was not following example.test in this channel."
    assert "cancelled" in thread_posts(h.api, thread)[1]["text"]
    assert (await tick(h, 30)).posted == 0


async def test_a_restarted_bot_finishes_the_follow_up_from_the_database(
    make_harness: MakeHarness, zone_servers: ZoneServers, settings: Settings, tmp_path: Any
) -> None:
    stale(zone_servers)
    h = await harness(make_harness, settings)
    _, thread = await ask(h)
    await acked(h, thread)
    await tick(h, 30)  # one look before the restart

    restarted = WatchStore(f"sqlite:///{tmp_path}/mxbot.db")  # a new process on the same file
    restarted.create_all()
    zone_servers.serve("127.0.0.11", zone(2, extra=V2))
    live = await tick(h, 90, restarted)
    restarted.close()

    assert live.posted == 1
    assert "is live everywhere" in thread_posts(h.api, thread)[1]["text"]


async def test_a_double_click_follows_once(
    make_harness: MakeHarness, zone_servers: ZoneServers, settings: Settings
) -> None:
    stale(zone_servers)
    h = await harness(make_harness, settings)
    answer, thread = await ask(h)
    await acked(h, thread)

    await h.click(followup.FOLLOW, buttons(answer)[followup.FOLLOW], thread)
    [again] = await h.api.wait_for("response_url")

    assert "already following example.test in this thread" in again.params["text"]
    assert h.watch_store is not None
    assert len(await h.watch_store.followups.following("T0001", "C1")) == 1
    assert len(thread_posts(h.api, thread)) == 1


async def test_a_change_already_live_is_said_so_and_not_followed(
    make_harness: MakeHarness, zone_servers: ZoneServers, settings: Settings
) -> None:
    zone_servers.sound(zone(2, extra=V2))
    h = await harness(make_harness, settings)
    value = followup.encode("example.test", [Wanted("example.test", "TXT")])
    assert value is not None

    await h.click(followup.FOLLOW, value, "1700000000.000009")
    await h.api.wait_until(lambda: len(thread_posts(h.api, "1700000000.000009")) == 1)

    [said] = thread_posts(h.api, "1700000000.000009")
    assert "already give the same answer" in blocks_text_of(said)
    assert h.watch_store is not None
    assert await h.watch_store.followups.following("T0001", "C1") == []


async def test_an_answer_that_is_live_has_no_button(
    make_harness: MakeHarness, zone_servers: ZoneServers, settings: Settings
) -> None:
    zone_servers.sound(zone(2, extra=V2))
    h = await harness(make_harness, settings)

    await h.command("live example.test TXT")
    [answer] = await h.api.wait_for("chat.update")

    assert followup.FOLLOW not in blocks_text(answer)


# ---- the button under reports and fix bundles, and what refuses it ------------------------------

SPF_FAILS = (
    result(
        "spf",
        Status.FAIL,
        "The SPF record allows nothing.",
        fix="Allow the MX hosts.",
        record=Record("example.test.", "TXT", '"v=spf1 mx -all"'),
    ),
    result("mx", Status.PASS, "1 MX record."),
)


@pytest.mark.parametrize("command", ["example.test", "fix example.test"])
async def test_the_button_under_a_report_or_its_fix_follows_the_records_the_fix_changes(
    make_harness: MakeHarness, zone_servers: ZoneServers, settings: Settings, command: str
) -> None:
    stale(zone_servers)  # the fix is published at the primary; ns1 has not caught up
    engine = Canned(SPF_FAILS)
    SETTINGS[:] = [settings]
    h = await make_harness(run=engine, plan=engine.plan, look=bind_look(settings), clock=lambda: T0)

    await h.command(command)
    await h.api.wait_until(lambda: any(buttons(c) for c in h.api.calls_to("chat.update")))
    [final] = [c for c in h.api.calls_to("chat.update") if buttons(c)]
    value = buttons(final)[followup.FOLLOW]
    await h.click(followup.FOLLOW, value, str(final.params["ts"]))
    ack = await acked(h, str(final.params["ts"]))

    assert followup.decode(value) == ("example.test", [("TXT", "@", "SPF")])
    assert "example.test TXT (SPF)" in blocks_text_of(ack)
    validate(final.params)
    validate(ack)


async def test_a_forged_click_starts_nothing(
    make_harness: MakeHarness, zone_servers: ZoneServers, settings: Settings
) -> None:
    stale(zone_servers)
    h = await harness(make_harness, settings)
    value = followup.encode("example.test", [Wanted("example.test", "TXT")])
    assert value is not None

    status, _, _ = await h.click(followup.FOLLOW, value, "1700000000.000009", secret="forged")

    assert status == 401
    assert h.api.chat_calls() == []
    assert h.watch_store is not None
    assert await h.watch_store.followups.following("T0001", "C1") == []


async def test_a_click_with_no_thread_to_answer_in_is_told_why(
    make_harness: MakeHarness, zone_servers: ZoneServers, settings: Settings
) -> None:
    stale(zone_servers)
    h = await harness(make_harness, settings)
    value = followup.encode("example.test", [Wanted("example.test", "TXT")])
    payload = {
        "type": "block_actions",
        "team": {"id": "T0001"},
        "user": {"id": "U1", "team_id": "T0001"},
        "api_app_id": "A1",
        "channel": {"id": "C1"},
        "container": {"type": "message", "message_ts": "1.2", "is_ephemeral": True},
        "response_url": h.api.response_url("click"),
        "actions": [{"type": "button", "action_id": followup.FOLLOW, "value": value}],
    }

    await h.interact(payload)
    [told] = await h.api.wait_for("response_url")

    assert "only follow up in a thread" in told.params["text"]
    assert h.api.calls_to("chat.postMessage") == []


@pytest.mark.parametrize(
    "value",
    [
        "not json",
        '{"d": "example.test", "r": [["NOPE", "@", ""]]}',
        '{"d": "example.test", "r": [["TXT", "other.example.", ""]]}',
    ],
)
async def test_a_button_value_that_is_not_a_record_of_the_domain_is_refused(
    make_harness: MakeHarness, settings: Settings, value: str
) -> None:
    h = await harness(make_harness, settings)

    await h.click(followup.FOLLOW, value, "1700000000.000009")
    [told] = await h.api.wait_for("response_url")

    assert "no longer works" in told.params["text"]
    assert h.api.calls_to("chat.postMessage") == []


async def test_an_app_that_does_not_follow_says_so(make_harness: MakeHarness) -> None:
    h = await make_harness()
    value = followup.encode("example.test", [Wanted("example.test", "TXT")])
    assert value is not None

    await h.click(followup.FOLLOW, value, "1700000000.000009")
    [told] = await h.api.wait_for("response_url")

    assert "does not follow DNS changes" in told.params["text"]


async def test_what_a_stale_server_serves_is_escaped_when_it_gives_up(
    make_harness: MakeHarness, zone_servers: ZoneServers, settings: Settings
) -> None:
    old = V1 + 's1._domainkey 300 IN TXT "v=DKIM1; <!channel> p=old"\n'
    zone_servers.sound(zone(2, extra=old.replace("p=old", "p=new")))
    zone_servers.serve("127.0.0.11", zone(1, extra=old))
    h = await harness(make_harness, settings)
    _, thread = await ask(h, "live example.test TXT s1._domainkey")
    ack = await acked(h, thread)

    for seconds in (30, 90, 210, 330):
        await tick(h, seconds)
    [_, done] = thread_posts(h.api, thread)

    for message in (ack, done):
        shown = json.dumps(message, ensure_ascii=False)
        assert "<!channel>" not in shown
        assert "&lt;!channel&gt;" in shown
        assert "<" not in message["text"].replace("<@U1>", "")
        validate(message)
