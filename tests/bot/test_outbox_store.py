"""The outbox in the database, on SQLite and PostgreSQL: one attempt at a time per post, a dead
attempt claimed again in doubt, digests' runs and schedules kept in step, and a database made by
an older mxbot upgraded in place."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

from bot.digest.delivery import POST_LEASE, Next, Post, PostState
from bot.digest.schedule import Cadence, When
from bot.digest.snapshot import DomainSnapshot
from bot.store.outbox import Outbox
from bot.store.watch import WatchStore
from bot.store.watch_tables import DigestRunRow, ScheduleRow, WatchRow, naive, write_when
from checks.model import Status
from tests.bot.postgres_support import race

NOW = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
TEAM, CHANNEL = "T1", "C1"
SNAP = {"a.example": DomainSnapshot("a.example", Status.PASS, ())}


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mxbot.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(url: str) -> Iterator[WatchStore]:
    made = WatchStore(url)
    made.create_all()
    yield made
    made.close()


def post(key: str = "k1", schedule_id: int | None = None) -> Post:
    return Post(
        key, TEAM, CHANNEL, {"text": "hi"}, NOW, NOW + timedelta(hours=4), schedule_id=schedule_id
    )


async def scheduled(store: WatchStore) -> int:
    await store.add_watch(TEAM, CHANNEL, "a.example", user_id="U1", now=NOW - timedelta(hours=1))
    schedule = await store.set_schedule(
        TEAM, CHANNEL, When(Cadence.HOURLY), now=NOW - timedelta(minutes=30)
    )
    return schedule.id


async def made(store: WatchStore, schedule_id: int, key: str, at: datetime = NOW) -> None:
    """What a producer does: claim the schedule, hand its digest to the outbox."""
    assert await store.claim(schedule_id, "maker", now=at, due_only=False)
    queued = await store.enqueue_digest(
        schedule_id,
        "maker",
        ran_at=at,
        snapshot=SNAP,
        post=post(key, schedule_id),
        next_run_at=at + timedelta(hours=1),
    )
    assert queued.held


async def test_one_instance_at_a_time_attempts_a_post_and_only_it_records_the_outcome(
    store: WatchStore,
) -> None:
    outbox = store.outbox
    assert await outbox.enqueue(post(), now=NOW)
    assert not await outbox.enqueue(post(), now=NOW)  # one intent per key

    first = await outbox.claim("one", now=NOW)
    second = await outbox.claim("two", now=NOW)
    stray = await outbox.record("k1", "two", Next(PostState.POSTED), now=NOW)
    done = await outbox.record("k1", "one", Next(PostState.POSTED), now=NOW, ts="1.2")

    assert first is not None
    assert (first.attempt, first.in_doubt_since) == (1, None)
    assert first.post == post()
    assert second is None
    assert (stray, done) == (False, True)
    assert await outbox.state("k1") is PostState.POSTED
    assert await outbox.claim("two", now=NOW + timedelta(days=1)) is None


async def test_an_attempt_whose_process_died_is_taken_again_in_doubt_once_its_lease_ends(
    store: WatchStore,
) -> None:
    outbox = store.outbox
    await outbox.enqueue(post(), now=NOW)
    await outbox.claim("dies", now=NOW)

    early = await outbox.claim("next", now=NOW + POST_LEASE - timedelta(seconds=1))
    again = await outbox.claim("next", now=NOW + POST_LEASE + timedelta(seconds=1))
    late_record = await outbox.record("k1", "dies", Next(PostState.POSTED), now=NOW)

    assert early is None
    assert again is not None
    assert (again.attempt, again.in_doubt_since) == (2, NOW)
    assert late_record is False  # the dead attempt's owner no longer holds it


async def test_a_post_waits_for_its_retry_and_keeps_its_doubt(store: WatchStore) -> None:
    outbox = store.outbox
    await outbox.enqueue(post(), now=NOW)
    await outbox.claim("one", now=NOW)
    retry = NOW + timedelta(minutes=2)
    await outbox.record("k1", "one", Next(PostState.PENDING, retry, NOW, "HTTP 503"), now=NOW)

    [waiting] = await outbox.waiting(now=NOW)
    before = await outbox.claim("one", now=retry - timedelta(seconds=1))
    then = await outbox.claim("one", now=retry)

    assert (waiting.post.key, waiting.retry_at, waiting.reason) == ("k1", retry, "HTTP 503")
    assert before is None
    assert then is not None
    assert (then.attempt, then.in_doubt_since) == (2, NOW)
    assert await outbox.waiting(now=retry) == []  # being attempted: not waiting


async def test_a_posted_digest_becomes_the_baseline_and_a_refused_one_stops_its_schedule(
    store: WatchStore,
) -> None:
    schedule_id = await scheduled(store)
    await made(store, schedule_id, "d1")
    unposted = await store.last_run(schedule_id)
    await store.outbox.claim("one", now=NOW)
    await store.outbox.record("d1", "one", Next(PostState.POSTED), now=NOW)
    baseline = await store.last_run(schedule_id)

    await made(store, schedule_id, "d2", NOW + timedelta(hours=1))
    await store.outbox.claim("one", now=NOW + timedelta(hours=1))
    await store.outbox.record(
        "d2", "one", Next(PostState.STOPPED, reason="Slack said is_archived"), now=NOW
    )
    skipped = await store.claim_next("one", now=NOW + timedelta(days=1))
    reason = await store.stop_reason(schedule_id)
    await store.set_schedule(TEAM, CHANNEL, None, now=NOW + timedelta(days=1))  # `/mx watch`

    assert unposted is None  # handed to the outbox, not yet posted: no baseline
    assert baseline is not None
    assert baseline.posted
    assert skipped is None
    assert reason == "Slack said is_archived"
    assert await store.stop_reason(schedule_id) is None
    assert await store.claim_next("one", now=NOW + timedelta(days=1)) is not None
    assert [w.domain for w in await store.watches(TEAM, CHANNEL)] == ["a.example"]


async def test_a_newer_digest_supersedes_an_older_one_still_waiting(store: WatchStore) -> None:
    schedule_id = await scheduled(store)
    await made(store, schedule_id, "old")
    assert await store.claim(schedule_id, "maker", now=NOW + timedelta(hours=1))

    queued = await store.enqueue_digest(
        schedule_id,
        "maker",
        ran_at=NOW + timedelta(hours=1),
        snapshot=SNAP,
        post=post("new", schedule_id),
        next_run_at=NOW + timedelta(hours=2),
    )

    assert queued.superseded == ("old",)
    assert await store.outbox.state("old") is PostState.DROPPED
    assert await store.outbox.state("new") is PostState.PENDING


async def test_unwatching_the_last_domain_drops_the_channels_waiting_posts(
    store: WatchStore,
) -> None:
    schedule_id = await scheduled(store)
    await made(store, schedule_id, "d1")

    await store.remove_watch(TEAM, CHANNEL, "a.example")

    assert await store.outbox.state("d1") is PostState.DROPPED
    assert await store.outbox.claim("one", now=NOW + timedelta(hours=1)) is None


def test_instances_racing_for_every_post_attempt_each_once(url: str, store: WatchStore) -> None:
    keys = [f"k{i:02d}" for i in range(30)]
    for key in keys:
        Outbox.enqueue.sync(store.outbox, post(key), now=NOW)
    instances = {name: WatchStore(url) for name in ("one", "two", "three")}
    won: dict[str, list[str]] = {name: [] for name in instances}
    lock = threading.Lock()

    def claimer(name: str) -> Callable[[], None]:
        def body() -> None:
            box = instances[name].outbox
            while (got := Outbox.claim.sync(box, name, now=NOW)) is not None:
                with lock:
                    won[name].append(got.post.key)

        return body

    race({name: claimer(name) for name in instances})

    claimed = sorted(k for keys_won in won.values() for k in keys_won)
    assert claimed == keys
    for instance in instances.values():
        instance.close()


async def test_a_database_made_before_the_outbox_gains_it_and_keeps_its_digests(
    url: str,
) -> None:
    old = WatchStore(url)
    old.create_all()
    with old.engine.begin() as connection:  # what an older mxbot left: no outbox, no stops
        for table in ("alembic_version", "mxbot_alert", "mxbot_record_history"):  # no migrations
            connection.execute(text(f"DROP TABLE {table}"))
        connection.execute(text("DROP TABLE mxbot_outbox"))
        connection.execute(text("DROP TABLE mxbot_schedule_stop"))
    with Session(old.engine) as session:  # its rows, written as it wrote them
        session.add(
            WatchRow(
                team_id=TEAM,
                channel_id=CHANNEL,
                domain="a.example",
                added_by="U1",
                created_at=naive(NOW),
            )
        )
        schedule = ScheduleRow(team_id=TEAM, channel_id=CHANNEL)
        write_when(schedule, When(Cadence.HOURLY), NOW - timedelta(minutes=30))
        session.add(schedule)
        session.flush()
        schedule_id = schedule.id
        session.add(
            DigestRunRow(
                schedule_id=schedule_id, ran_at=naive(NOW), status="pass", posted=1, snapshot="[]"
            )
        )
        session.commit()
    old.close()

    upgraded = WatchStore(url)
    upgraded.create_all()
    await made(upgraded, schedule_id, "d1", NOW + timedelta(hours=1))

    tables = set(inspect(upgraded.engine).get_table_names())
    baseline = await upgraded.last_run(schedule_id)
    assert {"mxbot_outbox", "mxbot_schedule_stop", "mxbot_schedule", "mxbot_digest_run"} <= tables
    assert baseline is not None
    assert baseline.ran_at == NOW  # the older run is still the baseline until d1 is posted
    assert await upgraded.outbox.state("d1") is PostState.PENDING
    upgraded.close()
