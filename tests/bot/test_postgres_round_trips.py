"""The stores on a real PostgreSQL server, one instance at a time: reports, event ids, OAuth
installations, watch-lists, schedules, runs and leases round trip as the README promises.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk.oauth.installation_store import Installation
from sqlalchemy.orm import Session

from bot.digest.schedule import Cadence, When
from bot.digest.snapshot import DomainSnapshot, FindingState
from bot.store.db import ProcessedEvent, Store
from bot.store.watch import AddOutcome, WatchStore
from checks.model import Cause, CheckResult, Finding, Record, Report, Status
from tests.bot.postgres_support import CHANNEL, NOW, TEAM, USER


@pytest.fixture
def store(pg_url: str) -> Iterator[Store]:
    db = Store(pg_url, client_id="111.222")
    db.create_all()
    yield db
    db.close()


@pytest.fixture
def watch_store(pg_url: str) -> Iterator[WatchStore]:
    db = WatchStore(pg_url)
    db.create_all()
    yield db
    db.close()


# ---- bot.store.db ----------------------------------------------------------------------------------


def a_report(domain: str, status: Status = Status.FAIL) -> Report:
    finding = Finding(
        "spf.missing",
        status,
        "bücher.example publishes no SPF record.",
        fix="Publish an SPF record.",
        record=Record("bücher.example.", "TXT", '"v=spf1 mx -all"', 3600),
        # Hostile remote data, kept raw: markup, a NUL byte, a non-BMP character.
        evidence=("<!channel> v=spf1 \x00 -all", "\U0001f4e7 ok"),
    )
    claimed = Finding("dmarc.missing", Status.SKIP, "Because …", because="spf.missing")
    return Report(
        domain,
        (
            CheckResult("spf", "SPF", (finding,), 12),
            CheckResult("dmarc", "DMARC", (claimed,), 3),
        ),
        34,
        display_name="bücher.example",
        resolvers=("127.0.0.1:53",),
        headline="Mail from bücher.example may be junked or rejected: it publishes no SPF record.",
        cause=Cause("spf", "spf.missing"),
    )


async def test_reports_round_trip_and_stay_in_their_workspace(store: Store) -> None:
    store.create_all()  # idempotent on a database that has the tables
    before = datetime.now(UTC)
    first = await store.add_report(
        a_report("xn--bcher-kva.example"),
        team_id=TEAM,
        channel_id=CHANNEL,
        user_id=USER,
        command="/mx bücher.example",
    )
    second = await store.add_report(
        a_report("b.example", Status.PASS),
        team_id=TEAM,
        channel_id=CHANNEL,
        user_id=USER,
        command="/mx b.example",
    )
    await store.add_report(
        a_report("c.example"), team_id="T2", channel_id="C9", user_id="U9", command="/mx c"
    )

    got = await store.get_report(first, team_id=TEAM)
    recent = await store.recent_reports(TEAM, limit=5)

    assert got is not None
    assert got.report == a_report("xn--bcher-kva.example")
    assert got.status is Status.FAIL
    assert got.command == "/mx bücher.example"
    # timestamptz comes back in the server's zone (not UTC here): the same instant all the same.
    assert got.created_at.utcoffset() is not None
    assert before <= got.created_at <= datetime.now(UTC)
    assert await store.get_report(first, team_id="T2") is None  # another workspace's report
    assert await store.get_report(10_000, team_id=TEAM) is None
    assert [r.id for r in recent] == [second, first]
    assert [r.id for r in await store.recent_reports(TEAM, limit=1)] == [second]


async def test_a_retried_event_runs_once_and_old_ids_are_forgotten(store: Store) -> None:
    with Session(store.engine) as session:
        session.add(ProcessedEvent(event_id="Ev-old", seen_at=NOW))  # long expired
        session.commit()

    first = await store.claim_event("Ev1")
    retry = await store.claim_event("Ev1")
    old_again = await store.claim_event("Ev-old")

    assert (first, retry, old_again) == (True, False, True)


async def test_an_oauth_installation_round_trips(store: Store) -> None:
    installations = store.installation_store
    first = Installation(
        app_id="A1",
        enterprise_id=None,
        team_id="T0002",
        team_name="Twö",
        bot_token="xoxb-first",
        bot_id="B1",
        bot_user_id="UBOT2",
        bot_scopes="app_mentions:read,chat:write,commands",
        user_id="U9",
        is_enterprise_install=False,
        installed_at=time.time() - 60,
    )
    await installations.async_save(first)
    again = Installation(
        app_id="A1",
        enterprise_id=None,
        team_id="T0002",
        team_name="Twö",
        bot_token="xoxb-second",
        bot_id="B1",
        bot_user_id="UBOT2",
        bot_scopes="app_mentions:read,chat:write,commands",
        user_id="U9",
        is_enterprise_install=False,
    )
    await installations.async_save(again)  # a reinstall: the newest token wins

    bot = await installations.async_find_bot(enterprise_id=None, team_id="T0002")
    found = await installations.async_find_installation(enterprise_id=None, team_id="T0002")
    missing = await installations.async_find_bot(enterprise_id=None, team_id="T0003")
    state = await store.state_store.async_issue()
    consumed = await store.state_store.async_consume(state)
    replayed = await store.state_store.async_consume(state)
    await installations.async_delete_installation(enterprise_id=None, team_id="T0002")
    await installations.async_delete_bot(enterprise_id=None, team_id="T0002")
    gone = await installations.async_find_bot(enterprise_id=None, team_id="T0002")

    assert bot is not None
    assert bot.bot_token == "xoxb-second"
    assert found is not None
    assert (found.team_name, found.user_id, found.bot_token) == ("Twö", "U9", "xoxb-second")
    assert missing is None
    assert (consumed, replayed) == (True, False)
    assert gone is None


# ---- bot.store.watch ----------------------------------------------------------------------------


async def test_watch_lists_round_trip_per_channel(watch_store: WatchStore) -> None:
    db = watch_store
    assert await db.add_watch(TEAM, CHANNEL, "b.example", user_id=USER, now=NOW) is AddOutcome.ADDED
    assert await db.add_watch(TEAM, CHANNEL, "a.example", user_id=USER, now=NOW) is AddOutcome.ADDED
    again = await db.add_watch(TEAM, CHANNEL, "a.example", user_id=USER, now=NOW)
    await db.add_watch(TEAM, "C2", "c.example", user_id=USER, now=NOW)

    watches = await db.watches(TEAM, CHANNEL)

    assert again is AddOutcome.ALREADY
    assert [w.domain for w in watches] == ["a.example", "b.example"]
    assert watches[0].created_at == NOW  # naive UTC in, aware UTC out, whatever the server's zone
    assert await db.team_watches(TEAM) == {CHANNEL: ["a.example", "b.example"], "C2": ["c.example"]}
    assert await db.remove_watch(TEAM, CHANNEL, "a.example") is True
    assert await db.remove_watch(TEAM, CHANNEL, "a.example") is False
    assert [w.domain for w in await db.watches(TEAM, CHANNEL)] == ["b.example"]


async def test_a_channel_holds_at_most_fifty_domains(watch_store: WatchStore) -> None:
    longest = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])  # 253 characters, the most
    for i in range(49):
        await watch_store.add_watch(TEAM, CHANNEL, f"d{i:02d}.example", user_id=USER, now=NOW)
    fiftieth = await watch_store.add_watch(TEAM, CHANNEL, longest, user_id=USER, now=NOW)

    refused = await watch_store.add_watch(TEAM, CHANNEL, "one-more.example", user_id=USER, now=NOW)

    assert fiftieth is AddOutcome.ADDED
    assert refused is AddOutcome.FULL
    assert len(await watch_store.watches(TEAM, CHANNEL)) == 50
    other = await watch_store.add_watch(TEAM, "C2", "one-more.example", user_id=USER, now=NOW)
    assert other is AddOutcome.ADDED  # the limit is per channel


async def test_schedules_and_runs_round_trip(watch_store: WatchStore) -> None:
    db = watch_store
    await db.add_watch(TEAM, CHANNEL, "a.example", user_id=USER, now=NOW)
    default = await db.set_schedule(TEAM, CHANNEL, None, now=NOW)
    weekly = await db.set_schedule(TEAM, CHANNEL, When(Cadence.WEEKLY, 6, 15, 4), now=NOW)
    hourly = await db.set_schedule(TEAM, CHANNEL, When(Cadence.HOURLY), now=NOW)
    snap = {
        "a.example": DomainSnapshot(
            "a.example",
            Status.FAIL,
            (FindingState("spf", "spf.missing", Status.FAIL, "<!channel> \x00 bücher \U0001f4e7"),),
            "a.example",
        )
    }
    due = hourly.next_run_at

    claimed = await db.claim(hourly.id, "me", now=due)
    finished = await db.finish(
        hourly.id,
        "me",
        ran_at=due,
        snapshot=snap,
        posted=True,
        next_run_at=due + timedelta(hours=1),
    )
    run = await db.last_run(hourly.id)

    assert default.next_run_at == datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
    assert weekly.id == default.id
    assert weekly.next_run_at == datetime(2024, 5, 3, 6, 15, tzinfo=UTC)
    assert await db.schedule(TEAM, CHANNEL) is not None
    assert (claimed, finished) == (True, True)
    assert run is not None
    assert (run.ran_at, run.status, run.posted, run.snapshot) == (due, Status.FAIL, True, snap)
    after = await db.schedule(TEAM, CHANNEL)
    assert after is not None
    assert after.next_run_at == due + timedelta(hours=1)
    assert await db.remove_watch(TEAM, CHANNEL, "a.example")  # the last one: schedule and runs go
    assert await db.schedule(TEAM, CHANNEL) is None
    assert await db.last_run(hourly.id, posted_only=False) is None


async def test_a_schedule_is_claimed_only_when_due_and_unleased(watch_store: WatchStore) -> None:
    db = watch_store
    await db.add_watch(TEAM, CHANNEL, "a.example", user_id=USER, now=NOW)
    schedule = await db.set_schedule(TEAM, CHANNEL, When(Cadence.DAILY, 9, 0), now=NOW)
    due = schedule.next_run_at

    early = await db.claim_next("a", now=due - timedelta(seconds=1))
    first = await db.claim_next("a", now=due)
    second = await db.claim_next("b", now=due + timedelta(minutes=1))
    after_lease = await db.claim_next("b", now=due + timedelta(minutes=16))
    late_finish = await db.finish(
        schedule.id, "a", ran_at=due, snapshot={}, posted=True, next_run_at=due + timedelta(days=1)
    )

    assert (early, first, second, after_lease) == (None, schedule, None, schedule)
    assert late_finish is False  # a's lease is gone: its late finish changes nothing
    await db.release(schedule.id, "b")
    assert await db.claim(schedule.id, "c", now=due + timedelta(minutes=17))
