"""Several instances racing on one real PostgreSQL server: each event claimed once, no channel
overfilled, each schedule claimed by one, and each due digest posted once.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.digest.schedule import Cadence, When
from bot.digest.scheduler import make_runner, run_due, single_team
from bot.store.db import ProcessedEvent, Store
from bot.store.watch import AddOutcome, WatchStore
from bot.store.watch_tables import DigestRunRow, ScheduleRow
from checks.net.services import Services
from checks.settings import Settings
from tests.bot.postgres_support import NOW, TEAM, USER, race
from tests.bot.test_scheduler import HEALTHY, NO_DMARC, client_on, shown, watch
from tests.fakes.dnsserver import DnsTestServer
from tests.fakes.slackapi import SlackApi

LEASE = timedelta(minutes=15)


@pytest.fixture
async def api() -> AsyncIterator[SlackApi]:
    server = await SlackApi().start()
    yield server
    await server.stop()


# ---- bot.store.db ----------------------------------------------------------------------------------


def test_two_instances_racing_on_the_same_events_claim_each_once(pg_url: str) -> None:
    setup = Store(pg_url)
    setup.create_all()
    with Session(setup.engine) as session:  # expired ids: both instances prune them as they go
        session.add_all(ProcessedEvent(event_id=f"old{i}", seen_at=NOW) for i in range(20))
        session.commit()
    ids = [f"Ev{i:03d}" for i in range(100)]
    instances = {"one": Store(pg_url), "two": Store(pg_url)}
    won: dict[str, list[str]] = {name: [] for name in instances}
    step = threading.Barrier(len(instances))

    def claimer(name: str) -> Callable[[], None]:
        def body() -> None:
            for event_id in ids:  # both deliveries of every event arrive at the same moment
                step.wait(timeout=5)
                if Store.claim_event.sync(instances[name], event_id):
                    won[name].append(event_id)

        return body

    started = time.perf_counter()
    race({name: claimer(name) for name in instances})
    elapsed = time.perf_counter() - started

    print(
        f"\nevent race: {len(ids)} ids, one won {len(won['one'])}, two won {len(won['two'])}, "
        f"{elapsed * 1000:.0f} ms"
    )
    assert sorted(won["one"] + won["two"]) == ids  # every event handled exactly once
    with Session(setup.engine) as session:
        left = set(session.scalars(select(ProcessedEvent.event_id)))
    assert left == set(ids)  # the expired ones were pruned, no claim lost
    for instance in (setup, *instances.values()):
        instance.close()


# ---- bot.store.watch ----------------------------------------------------------------------------


def test_two_instances_adding_at_the_limit_never_overfill_a_channel(pg_url: str) -> None:
    setup = WatchStore(pg_url)
    setup.create_all()
    channels = [f"C{i}" for i in range(10)]
    for channel in channels:
        for i in range(49):
            WatchStore.add_watch.sync(
                setup, TEAM, channel, f"d{i:02d}.example", user_id=USER, now=NOW
            )
    instances = {"one": WatchStore(pg_url), "two": WatchStore(pg_url)}
    outcomes: dict[str, list[AddOutcome]] = {name: [] for name in instances}
    step = threading.Barrier(len(instances))

    def adder(name: str) -> Callable[[], None]:
        def body() -> None:
            for channel in channels:  # both add a different 50th domain at the same moment
                step.wait(timeout=5)
                got = WatchStore.add_watch.sync(
                    instances[name], TEAM, channel, f"{name}.example", user_id=USER, now=NOW
                )
                outcomes[name].append(got)

        return body

    race({name: adder(name) for name in instances})

    sizes = {channel: len(WatchStore.watches.sync(setup, TEAM, channel)) for channel in channels}
    assert sizes == dict.fromkeys(channels, 50)  # was 51 in every channel before the fix
    for first, second in zip(outcomes["one"], outcomes["two"], strict=True):
        assert {first, second} == {AddOutcome.ADDED, AddOutcome.FULL}
    for db in (setup, *instances.values()):
        db.close()


def test_two_instances_adding_the_same_domain_make_one_watch_and_one_schedule(pg_url: str) -> None:
    setup = WatchStore(pg_url)
    setup.create_all()
    instances = {"one": WatchStore(pg_url), "two": WatchStore(pg_url)}
    outcomes: list[AddOutcome] = []
    step = threading.Barrier(len(instances))

    def adder(name: str) -> Callable[[], None]:
        def body() -> None:
            for i in range(20):  # `watch a.example` in one channel, twice at once
                step.wait(timeout=5)
                outcomes.append(
                    WatchStore.add_watch.sync(
                        instances[name], TEAM, f"C{i}", "a.example", user_id=USER, now=NOW
                    )
                )
                WatchStore.set_schedule.sync(instances[name], TEAM, f"C{i}", None, now=NOW)

        return body

    race({name: adder(name) for name in instances})

    assert sorted(outcomes).count(AddOutcome.ADDED) == 20
    assert sorted(outcomes).count(AddOutcome.ALREADY) == 20
    with Session(setup.engine) as session:
        schedules = session.scalar(select(func.count(ScheduleRow.id)))
    assert schedules == 20
    for db in (setup, *instances.values()):
        db.close()


def _due_schedules(url: str, count: int) -> list[int]:
    setup = WatchStore(url)
    setup.create_all()
    ids = []
    for i in range(count):
        WatchStore.add_watch.sync(setup, TEAM, f"C{i}", "a.example", user_id=USER, now=NOW)
        ids.append(
            WatchStore.set_schedule.sync(setup, TEAM, f"C{i}", When(Cadence.HOURLY), now=NOW).id
        )
    setup.close()
    return ids


def test_two_instances_racing_for_each_schedule_never_both_win(pg_url: str) -> None:
    ids = _due_schedules(pg_url, 40)
    instances = {"one": WatchStore(pg_url), "two": WatchStore(pg_url)}
    due = NOW + timedelta(hours=1)
    won: dict[str, list[int]] = {name: [] for name in instances}
    step = threading.Barrier(len(instances))

    def claimer(name: str) -> Callable[[], None]:
        def body() -> None:
            for schedule_id in ids:  # both ask for the same schedule at the same moment
                step.wait(timeout=5)
                if WatchStore.claim.sync(instances[name], schedule_id, name, now=due, lease=LEASE):
                    won[name].append(schedule_id)

        return body

    race({name: claimer(name) for name in instances})

    print(f"\nclaim race: {len(ids)} schedules, one won {len(won['one'])}, two {len(won['two'])}")
    assert sorted(won["one"] + won["two"]) == ids  # every schedule claimed exactly once
    with Session(instances["one"].engine) as session:
        owners = dict(session.execute(select(ScheduleRow.id, ScheduleRow.lease_owner)).all())
    assert owners == {i: name for name, got in won.items() for i in got}  # the winner holds it
    for instance in instances.values():
        instance.close()


def test_instances_draining_due_schedules_share_them_without_overlap(pg_url: str) -> None:
    ids = _due_schedules(pg_url, 30)
    instances = {name: WatchStore(pg_url) for name in ("one", "two", "three")}
    due = NOW + timedelta(hours=1)
    won: dict[str, list[int]] = {name: [] for name in instances}

    def drainer(name: str) -> Callable[[], None]:
        def body() -> None:
            db = instances[name]
            while (
                schedule := WatchStore.claim_next.sync(db, name, now=due, lease=LEASE)
            ) is not None:
                won[name].append(schedule.id)
                WatchStore.finish.sync(
                    db,
                    schedule.id,
                    name,
                    ran_at=due,
                    snapshot=None,
                    posted=False,
                    next_run_at=due + timedelta(hours=1),
                )

        return body

    race({name: drainer(name) for name in instances})

    print("\ndrain race: " + ", ".join(f"{n} took {len(w)}" for n, w in won.items()))
    assert sorted(i for got in won.values() for i in got) == ids
    for instance in instances.values():
        instance.close()


# ---- end to end ---------------------------------------------------------------------------------


async def test_two_bot_instances_post_each_due_digest_once(
    pg_url: str, api: SlackApi, dns_server: DnsTestServer, settings: Settings
) -> None:
    app_store = Store(pg_url)  # the app's layout: both stores' tables in one database
    app_store.create_all()
    setup = WatchStore(app_store.engine)
    setup.create_all()
    domains = [f"d{i}.test" for i in range(6)]
    for i, domain in enumerate(domains):
        dns_server.load_zone(NO_DMARC if i % 2 else HEALTHY, domain)
        await watch(setup, f"C{i}", domain)
    one, two = WatchStore(pg_url), WatchStore(pg_url)
    runner = make_runner(settings, checks=["mx", "spf", "dmarc"], services=Services())
    clients = single_team(client_on(api))
    later = NOW + timedelta(hours=1)

    counts = await asyncio.gather(
        run_due(store=one, engine_runner=runner, client_for_team=clients, now=later, owner="one"),
        run_due(store=two, engine_runner=runner, client_for_team=clients, now=later, owner="two"),
    )
    again = await run_due(
        store=two, engine_runner=runner, client_for_team=clients, now=later, owner="two"
    )

    print(f"\nrun_due: one posted {counts[0].posted}, two posted {counts[1].posted}")
    assert sum(c.posted for c in counts) == 6
    assert again.posted == 0  # nothing due until the next hour
    posts = {c.params["channel"]: shown(c.params) for c in api.calls_to("chat.postMessage")}
    assert len(api.calls_to("chat.postMessage")) == 6
    assert sorted(posts) == [f"C{i}" for i in range(6)]
    for i in range(6):
        assert ("`dmarc.missing`" in posts[f"C{i}"]) == bool(i % 2)
    with Session(app_store.engine) as session:
        runs = session.scalar(select(func.count(DigestRunRow.id)))
        leases = session.scalars(select(ScheduleRow.lease_owner)).all()
    assert runs == 6
    assert leases == [None] * 6  # every lease released
    for db in (one, two, setup):
        db.close()
    app_store.close()
