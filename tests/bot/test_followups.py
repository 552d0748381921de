"""Follow-ups ("tell me when it's live") in the database, on SQLite and on PostgreSQL: claimed by
one instance at a time, ended once with one post through the outbox whatever the instances,
the clock, Slack or a crash do; a cancel that comes first wins; a restart loses nothing.

Looks are real (`checks.live` against name servers on loopback) where the verdict matters, and
canned where only the bookkeeping does; Slack is the Web API stand-in, counted as it received."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.digest.delivery import SETTLE, PostState, Tally
from bot.digest.follower import run_due_followups
from bot.digest.followup import LEASE, Followed, Look, Request, State, key, post
from bot.digest.scheduler import single_team
from bot.slack.engine_binding import bind_look
from bot.store.watch import WatchStore
from checks.live.result import LiveReport, RecordLive, Verdict, Wanted
from checks.settings import Settings
from tests.checks.zone_servers import ZoneServers, zone
from tests.fakes.slackapi import Fault, SlackApi

T0 = datetime.now(UTC).replace(microsecond=0)  # Slack stamps by the real clock: stay near it
TEAM, CHANNEL, USER = "T1", "C1", "U1"
SPF = Wanted("example.test", "TXT", "SPF")
V1 = '@ 300 IN MX 10 mx\nmx 300 IN A 192.0.2.25\n@ 300 IN TXT "v=spf1 -all"\n'
V2 = V1.replace("v=spf1 -all", "v=spf1 mx -all")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mxbot.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def stores(url: str) -> Iterator[Callable[[], WatchStore]]:
    """Instances' stores on the test's database, each with its own engine and pool."""
    made: list[WatchStore] = []

    def make() -> WatchStore:
        store = WatchStore(url)
        store.create_all()
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


@pytest.fixture
async def api() -> AsyncIterator[SlackApi]:
    server = await SlackApi().start()
    server.clock = time.time
    yield server
    await server.stop()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def request(thread: str = "1700000000.000100", *, records: Sequence[Followed] = ()) -> Request:
    followed = tuple(records) or (Followed(SPF, ('"v=spf1 mx -all"',)),)
    return Request(TEAM, CHANNEL, thread, USER, "example.test", followed, 2, T0, at(30), at(330))


def canned(verdict: Verdict) -> Look:
    """A look that always sees `verdict` (TXT "v=spf1 mx -all" the current answer)."""

    async def look(domain: str, wanted: Sequence[Wanted]) -> LiveReport:
        new = ('"v=spf1 mx -all"',)
        records = tuple(
            RecordLive(w, verdict, f"{w.label}: {verdict}.", new, longest_ttl=300) for w in wanted
        )
        return LiveReport(domain, domain, records, verdict, f"{domain}: {verdict}.", 2)

    return look


async def tick(
    store: WatchStore, api: SlackApi, look: Look, seconds: float, owner: str = "one"
) -> Tally:
    return await run_due_followups(
        followups=store.followups,
        outbox=store.outbox,
        look=look,
        client_for_team=single_team(AsyncWebClient(token="xoxb-test", base_url=api.base_url)),
        now=at(seconds),
        owner=owner,
        jitter=lambda: 1.0,
    )


def in_thread(api: SlackApi, thread: str) -> list[str]:
    return [m["text"] for m in api.posted(CHANNEL) if m.get("thread_ts") == thread]


# ---- the store ------------------------------------------------------------------------------------


async def test_one_instance_at_a_time_looks_and_only_it_ends_the_follow_up(
    stores: Callable[[], WatchStore],
) -> None:
    one, two = stores(), stores()
    stored, created = await one.followups.add(request())

    early = await one.followups.claim_next("one", now=at(29))
    mine = await one.followups.claim_next("one", now=at(30))
    theirs = await two.followups.claim_next("two", now=at(30))
    ending = post(stored, State.LIVE, {"text": "live"}, now=at(30))
    stray = await two.followups.finish(
        stored.id, "two", ending=State.LIVE, post=ending, now=at(30), looks=1, last=""
    )
    done = await one.followups.finish(
        stored.id, "one", ending=State.LIVE, post=ending, now=at(30), looks=1, last="live."
    )

    assert created
    assert early is None
    assert mine is not None
    assert mine.request == request()
    assert theirs is None
    assert (stray, done) == (False, True)
    assert await one.outbox.state(key(stored, State.LIVE)) is PostState.PENDING
    ended = await two.followups.get(stored.id)
    assert ended is not None
    assert (ended.state, ended.looks, ended.last) == (State.LIVE, 1, "live.")
    assert await two.followups.claim_next("two", now=at(9999)) is None


async def test_a_look_whose_process_died_is_taken_over_once_its_lease_ends(
    stores: Callable[[], WatchStore],
) -> None:
    one, two = stores(), stores()
    stored, _ = await one.followups.add(request())
    await one.followups.claim_next("dies", now=at(30))

    held = await two.followups.claim_next("two", now=at(30) + LEASE - timedelta(seconds=1))
    taken = await two.followups.claim_next("two", now=at(30) + LEASE + timedelta(seconds=1))
    late = await one.followups.reschedule(stored.id, "dies", next_look_at=at(90), looks=1, last="")

    assert held is None
    assert taken is not None
    assert late is False  # the dead look's owner no longer holds it


async def test_a_cancel_during_a_look_wins_and_nothing_is_posted(
    stores: Callable[[], WatchStore],
) -> None:
    store = stores()
    stored, _ = await store.followups.add(request())
    await store.followups.claim_next("one", now=at(30))

    [cancelled] = await store.followups.cancel(TEAM, CHANNEL, by="U2", now=at(31))
    ending = post(stored, State.LIVE, {"text": "live"}, now=at(32))
    finished = await store.followups.finish(
        stored.id, "one", ending=State.LIVE, post=ending, now=at(32), looks=1, last=""
    )

    assert cancelled.state is State.CANCELLED
    assert finished is False
    assert await store.outbox.state(ending.key) is None
    assert await store.followups.cancel(TEAM, CHANNEL, by="U2", now=at(33)) == []


async def test_the_same_request_twice_is_one_follow_up_and_a_new_one_after_it_ended(
    stores: Callable[[], WatchStore],
) -> None:
    store = stores()
    first, created = await store.followups.add(request())
    again, created_again = await store.followups.add(request())
    other, created_other = await store.followups.add(request("1700000000.000200"))
    await store.followups.cancel(TEAM, CHANNEL, by=USER, now=at(1), followup_id=first.id)
    after, created_after = await store.followups.add(request())

    assert (created, created_again, created_other, created_after) == (True, False, True, True)
    assert again.id == first.id
    assert len({first.id, other.id, after.id}) == 3


# ---- following: the look, the decision, the one post --------------------------------------------


async def test_it_looks_with_back_off_and_gives_up_once_the_limit_passes(
    stores: Callable[[], WatchStore], api: SlackApi
) -> None:
    store = stores()
    stored, _ = await store.followups.add(request())
    look = canned(Verdict.SERVERS_DISAGREE)

    for seconds in (30, 89, 90, 209, 210, 329):
        assert (await tick(store, api, look, seconds)).posted == 0
    looked = await store.followups.get(stored.id)
    gave_up = await tick(store, api, look, 330)

    assert looked is not None
    assert looked.looks == 3  # at 30, 90 and 210 s: 30 s, then 60 s, then 120 s
    assert looked.request.next_look_at == at(330)  # never past the give-up time
    assert gave_up.posted == 1
    [said] = in_thread(api, stored.request.thread_ts)
    assert said.startswith(
        "<@U1> I stopped following example.test after 5 min 30 s (4 looks): example.test: "
    )


async def test_resolvers_caching_the_old_answer_are_looked_at_again_when_their_ttl_ends(
    stores: Callable[[], WatchStore], api: SlackApi
) -> None:
    store = stores()
    stored, _ = await store.followups.add(request())

    async def cached(domain: str, wanted: Sequence[Wanted]) -> LiveReport:
        report = await canned(Verdict.RESOLVERS_STALE)(domain, wanted)
        records = tuple(
            RecordLive(r.wanted, r.verdict, r.sentence, r.new, wait_s=7, longest_ttl=300)
            for r in report.records
        )
        return LiveReport(domain, domain, records, report.verdict, report.sentence, 2)

    await tick(store, api, cached, 30)
    looked = await store.followups.get(stored.id)

    assert looked is not None
    assert looked.request.next_look_at == at(38)  # the cache's 7 s and one more, not 60 s


async def test_two_instances_racing_post_each_follow_up_once(
    stores: Callable[[], WatchStore],
    api: SlackApi,
    zone_servers: ZoneServers,
    settings: Settings,
) -> None:
    zone_servers.sound(zone(2, extra=V2))  # every server caught up
    one, two = stores(), stores()
    threads = [f"1700000000.{i:06d}" for i in range(12)]
    for thread in threads:
        await one.followups.add(request(thread))
    look = bind_look(settings)

    tallies = await asyncio.gather(tick(one, api, look, 30, "one"), tick(two, api, look, 30, "two"))
    again = await asyncio.gather(tick(one, api, look, 400, "one"), tick(two, api, look, 400, "two"))

    print(f"\nfollow-up race: one posted {tallies[0].posted}, two posted {tallies[1].posted}")
    assert sum(t.posted for t in tallies) == 12
    assert sum(t.posted for t in again) == 0
    for thread in threads:
        [said] = in_thread(api, thread)
        assert said.startswith(
            "<@U1> example.test TXT (SPF) is live everywhere (after 30 s, 1 look)"
        )


async def test_a_restarted_instance_finishes_the_follow_up(
    stores: Callable[[], WatchStore],
    api: SlackApi,
    zone_servers: ZoneServers,
    settings: Settings,
) -> None:
    zone_servers.sound(zone(2, extra=V2))
    zone_servers.serve("127.0.0.11", zone(1, extra=V1))  # ns1 is behind
    before = stores()
    stored, _ = await before.followups.add(request())
    stale = await tick(before, api, bind_look(settings), 30)
    before.close()  # the bot restarts

    after = stores()
    zone_servers.serve("127.0.0.11", zone(2, extra=V2))
    live = await tick(after, api, bind_look(settings), 90)

    assert (stale.posted, live.posted) == (0, 1)
    [said] = in_thread(api, stored.request.thread_ts)
    assert "is live everywhere (after 90 s, 2 looks)" in said


async def test_a_post_slack_took_before_the_crash_is_found_in_the_thread_not_made_twice(
    stores: Callable[[], WatchStore], api: SlackApi
) -> None:
    store = stores()
    stored, _ = await store.followups.add(request())
    api.inject("chat.postMessage", Fault.HANGUP)  # posted, then the connection drops

    first = await tick(store, api, canned(Verdict.LIVE), 30)
    settle = 30 + SETTLE.total_seconds()
    second = await tick(store, api, canned(Verdict.LIVE), settle)

    assert (first.posted, first.retrying) == (0, 1)
    assert (second.posted, second.found) == (0, 1)
    assert len(in_thread(api, stored.request.thread_ts)) == 1
    assert api.calls_to("conversations.replies")[0].params["ts"] == stored.request.thread_ts
    assert api.calls_to("conversations.history") == []


async def test_a_failed_post_is_retried_by_the_next_pass_and_made_once(
    stores: Callable[[], WatchStore], api: SlackApi
) -> None:
    store = stores()
    stored, _ = await store.followups.add(request())
    api.inject("chat.postMessage", Fault.UNAVAILABLE)

    failed = await tick(store, api, canned(Verdict.LIVE), 30)
    retried = await tick(store, api, canned(Verdict.LIVE), 90)

    assert (failed.retrying, retried.posted) == (1, 1)
    assert len(in_thread(api, stored.request.thread_ts)) == 1


async def test_live_on_another_answer_than_followed_says_the_zone_moved_on(
    stores: Callable[[], WatchStore], api: SlackApi
) -> None:
    store = stores()
    old = (Followed(SPF, ('"v=spf1 -all"',)),)
    stored, _ = await store.followups.add(request(records=old))

    await tick(store, api, canned(Verdict.LIVE), 30)

    [message] = [m for m in api.posted(CHANNEL) if m.get("thread_ts")]
    assert "the zone has changed since" in str(message["blocks"])
    assert stored.request.records == old


async def test_a_shutdown_during_a_look_hands_the_follow_up_back_at_once(
    stores: Callable[[], WatchStore], api: SlackApi
) -> None:
    store = stores()
    stored, _ = await store.followups.add(request())
    looking = asyncio.Event()

    async def hangs(domain: str, wanted: Sequence[Wanted]) -> LiveReport:
        looking.set()
        await asyncio.Event().wait()  # until cancelled
        raise AssertionError("never reached")

    running = asyncio.create_task(tick(store, api, hangs, 30))
    async with asyncio.timeout(5):
        await looking.wait()
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    taken = await stores().followups.claim_next("next", now=at(31))

    assert taken is not None  # not held for the rest of the dead look's lease
    assert taken.id == stored.id
    assert api.chat_calls() == []
