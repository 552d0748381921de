"""The watch-list store on a real SQLite file: watch-lists per channel and their limit, schedules,
runs and their snapshots, leases, and atomic claims between instances.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.digest.schedule import Cadence, When
from bot.digest.snapshot import DomainSnapshot, FindingState, snapshot_from_json, snapshot_to_json
from bot.store.watch import AddOutcome, WatchStore
from checks.model import Status
from tests.bot.watch_support import CHANNEL, NOW, TEAM, USER, store

__all__ = ["store"]  # the fixture, imported so pytest finds it here


async def test_watch_lists_round_trip_per_channel(store: WatchStore) -> None:
    assert (
        await store.add_watch(TEAM, CHANNEL, "b.example", user_id=USER, now=NOW) is AddOutcome.ADDED
    )
    assert (
        await store.add_watch(TEAM, CHANNEL, "a.example", user_id=USER, now=NOW) is AddOutcome.ADDED
    )
    assert (
        await store.add_watch(TEAM, CHANNEL, "a.example", user_id=USER, now=NOW)
        is AddOutcome.ALREADY
    )
    await store.add_watch(TEAM, "C2", "c.example", user_id=USER, now=NOW)

    watches = await store.watches(TEAM, CHANNEL)

    assert [w.domain for w in watches] == ["a.example", "b.example"]
    assert watches[0].created_at == NOW
    assert watches[0].added_by == USER
    assert await store.team_watches(TEAM) == {
        CHANNEL: ["a.example", "b.example"],
        "C2": ["c.example"],
    }
    assert await store.watches("T2", CHANNEL) == []


async def test_a_channel_holds_at_most_the_limit(tmp_path: Path) -> None:
    small = WatchStore(f"sqlite:///{tmp_path / 'small.db'}", max_watches=3)
    small.create_all()
    for i in range(3):
        await small.add_watch(TEAM, CHANNEL, f"d{i}.example", user_id=USER, now=NOW)

    outcome = await small.add_watch(TEAM, CHANNEL, "d3.example", user_id=USER, now=NOW)

    assert outcome is AddOutcome.FULL
    assert len(await small.watches(TEAM, CHANNEL)) == 3
    small.close()


async def test_schedules_round_trip_and_the_last_unwatch_removes_them(store: WatchStore) -> None:
    await store.add_watch(TEAM, CHANNEL, "a.example", user_id=USER, now=NOW)
    default = await store.set_schedule(TEAM, CHANNEL, None, now=NOW)
    kept = await store.set_schedule(TEAM, CHANNEL, None, now=NOW)
    weekly = await store.set_schedule(TEAM, CHANNEL, When(Cadence.WEEKLY, 6, 15, 4), now=NOW)

    assert default.when == When(Cadence.DAILY, 9, 0)
    assert default.next_run_at == datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
    assert kept == default
    assert weekly.id == default.id
    assert await store.schedule(TEAM, CHANNEL) == weekly
    assert weekly.next_run_at == datetime(2024, 5, 3, 6, 15, tzinfo=UTC)

    assert await store.remove_watch(TEAM, CHANNEL, "a.example") is True
    assert await store.remove_watch(TEAM, CHANNEL, "a.example") is False
    assert await store.schedule(TEAM, CHANNEL) is None


async def test_runs_keep_their_snapshot_and_only_posted_ones_count(store: WatchStore) -> None:
    await store.add_watch(TEAM, CHANNEL, "a.example", user_id=USER, now=NOW)
    schedule = await store.set_schedule(TEAM, CHANNEL, When(Cadence.HOURLY), now=NOW)
    snap = {
        "a.example": DomainSnapshot(
            "a.example",
            Status.FAIL,
            (FindingState("spf", "spf.missing", Status.FAIL, "<!channel>"),),
        )
    }
    later = NOW + timedelta(hours=1)
    assert await store.claim(schedule.id, "me", now=later)

    finished = await store.finish(
        schedule.id,
        "me",
        ran_at=later,
        snapshot=snap,
        posted=True,
        next_run_at=later + timedelta(hours=1),
    )
    assert await store.claim(schedule.id, "me", now=later + timedelta(hours=1))
    await store.finish(
        schedule.id,
        "me",
        ran_at=later + timedelta(hours=1),
        snapshot={},
        posted=False,
        next_run_at=later + timedelta(hours=2),
    )

    run = await store.last_run(schedule.id)
    assert finished
    assert run is not None
    assert run.ran_at == later
    assert run.posted
    assert run.snapshot == snap
    assert run.status is Status.FAIL
    unposted = await store.last_run(schedule.id, posted_only=False)
    assert unposted is not None
    assert not unposted.posted
    assert snapshot_from_json(snapshot_to_json(snap)) == snap


async def test_a_schedule_is_claimed_only_when_due_and_unleased(store: WatchStore) -> None:
    await store.add_watch(TEAM, CHANNEL, "a.example", user_id=USER, now=NOW)
    schedule = await store.set_schedule(TEAM, CHANNEL, When(Cadence.DAILY, 9, 0), now=NOW)
    due = schedule.next_run_at

    early = await store.claim_next("a", now=due - timedelta(seconds=1))
    first = await store.claim_next("a", now=due)
    second = await store.claim_next("b", now=due + timedelta(minutes=1))
    after_lease = await store.claim_next("b", now=due + timedelta(minutes=16))

    assert early is None
    assert first == schedule
    assert second is None  # a holds the lease
    assert after_lease == schedule  # a died; b takes over
    assert not await store.finish(
        schedule.id, "a", ran_at=due, snapshot={}, posted=True, next_run_at=due + timedelta(days=1)
    )  # a's lease is gone: its late finish changes nothing


def test_two_instances_racing_for_due_schedules_never_both_win(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    setup = WatchStore(url)
    setup.create_all()
    ids = []
    for i in range(20):
        channel = f"C{i}"
        WatchStore.add_watch.sync(setup, TEAM, channel, "a.example", user_id=USER, now=NOW)
        ids.append(
            WatchStore.set_schedule.sync(setup, TEAM, channel, When(Cadence.HOURLY), now=NOW).id
        )
    instances = [WatchStore(url), WatchStore(url)]
    due = NOW + timedelta(hours=1)
    barrier = threading.Barrier(2)
    won: dict[str, list[int]] = {"one": [], "two": []}

    def race(name: str, instance: WatchStore) -> None:
        for schedule_id in ids:
            barrier.wait(timeout=5)
            if WatchStore.claim.sync(
                instance, schedule_id, name, now=due, lease=timedelta(minutes=15)
            ):
                won[name].append(schedule_id)

    threads = [
        threading.Thread(target=race, args=(name, inst))
        for name, inst in zip(won, instances, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(won["one"] + won["two"]) == ids  # every schedule claimed exactly once
    assert not set(won["one"]) & set(won["two"])
    for instance in [setup, *instances]:
        instance.close()
