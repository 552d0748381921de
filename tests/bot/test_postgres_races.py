"""The stores on a real PostgreSQL server, as the README promises for several instances.

`tests/fakes/postgres.py` starts a private cluster (session-wide); every test gets a fresh database.
Each "instance" is its own store object with its own engine and connection pool, as separate
bot processes would have, and races run on real threads against the one server.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from slack_sdk.oauth.installation_store import Installation
from sqlalchemy import func, make_url, select, text
from sqlalchemy.orm import Session

from bot.digest.schedule import Cadence, When
from bot.digest.scheduler import make_runner, run_due, single_team
from bot.digest.snapshot import DomainSnapshot, FindingState
from bot.store.db import ProcessedEvent, Store
from bot.store.watch import AddOutcome, WatchStore
from bot.store.watch_tables import DigestRunRow, ScheduleRow
from checks.model import CheckResult, Finding, Record, Report, Status
from checks.net.services import Services
from checks.settings import Settings
from tests.bot.test_scheduler import HEALTHY, NO_DMARC, client_on, shown, watch
from tests.fakes.dnsserver import DnsTestServer
from tests.fakes.postgres import PostgresCluster, postgres_cluster
from tests.fakes.slackapi import SlackApi

__all__ = ["postgres_cluster"]  # the session fixture, imported so pytest finds it here

NOW = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)  # a Wednesday, as in test_watch/test_scheduler
TEAM, CHANNEL, USER = "T1", "C1", "U1"
LEASE = timedelta(minutes=15)


@pytest.fixture
def pg_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    with postgres_cluster.fresh_database(f"mxbot_{uuid.uuid4().hex[:12]}") as url:
        yield url


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


@pytest.fixture
async def api() -> AsyncIterator[SlackApi]:
    server = await SlackApi().start()
    yield server
    await server.stop()


def race(instances: dict[str, Callable[[], None]], timeout: float = 30) -> None:
    """Run each callable on its own thread, released together; re-raise the first failure."""
    start = threading.Barrier(len(instances))
    errors: list[BaseException] = []

    def run(body: Callable[[], None]) -> None:
        try:
            start.wait(timeout=5)
            body()
        except BaseException as exc:  # noqa: BLE001 -- re-raised in the test's thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(body,)) for body in instances.values()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(t.is_alive() for t in threads), "a racer hung"
    if errors:
        raise errors[0]


# ---- schema -------------------------------------------------------------------------------------


def test_instances_starting_together_on_a_new_database_all_come_up(pg_url: str) -> None:
    stores = {f"i{n}": Store(pg_url, client_id="111.222") for n in range(4)}

    def start(db: Store) -> Callable[[], None]:
        def body() -> None:  # what `mxbot serve` does at start
            db.create_all()
            WatchStore(db.engine).create_all()

        return body

    race({name: start(db) for name, db in stores.items()})  # raised DuplicateTable before

    with Session(stores["i0"].engine) as session:
        tables = set(session.scalars(select(text("tablename")).select_from(text("pg_tables"))))
    assert {
        "mxbot_reports",
        "mxbot_processed_events",
        "slack_bots",
        "slack_installations",
    } <= tables
    assert {"slack_oauth_states", "mxbot_watch", "mxbot_schedule", "mxbot_digest_run"} <= tables
    for db in stores.values():
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
    return Report(
        domain,
        (CheckResult("spf", "SPF", (finding,), 12),),
        34,
        display_name="bücher.example",
        resolvers=("127.0.0.1:53",),
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


async def test_connections_the_server_dropped_are_replaced_not_failed(
    pg_url: str, postgres_cluster: PostgresCluster
) -> None:
    db = Store(pg_url)
    db.create_all()
    watches = WatchStore(pg_url)
    watches.create_all()
    assert await db.claim_event("Ev1")
    assert await watches.watches(TEAM, CHANNEL) == []
    # What a server restart, a failover or an idle-connection reaper does to the pools.
    with psycopg.connect(postgres_cluster.dsn(), autocommit=True) as admin:
        dropped = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s",
            (make_url(pg_url).database,),
        ).fetchone()

    claimed = await db.claim_event("Ev2")  # raised AdminShutdown before pre-ping
    added = await watches.add_watch(TEAM, CHANNEL, "a.example", user_id=USER, now=NOW)

    assert dropped is not None
    assert dropped[0] == 2
    assert claimed
    assert added is AddOutcome.ADDED
    db.close()
    watches.close()


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

    print(f"\nrun_due: one posted {counts[0]}, two posted {counts[1]}")
    assert sum(counts) == 6
    assert again == 0  # nothing due until the next hour
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
