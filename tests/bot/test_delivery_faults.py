"""Scheduled posts under faults: each slot's digest is posted exactly once while it is useful, on
SQLite and on PostgreSQL, whatever the network, Slack or the process does.

Two kinds of run: instances in this process, driven by an injected clock against the Web API
stand-in and its faults (`tests.fakes.slackapi.Fault`); and `mxbot digest --once` as a real
process, killed with SIGKILL or sent SIGTERM at a chosen moment, then the next run (an instance
here, its clock set past the killed run's lease) finishing the job. Every test counts what Slack
accepted (`SlackApi.posted`), not what the code says it did.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dns.name
import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import make_url
from sqlalchemy.exc import OperationalError

from bot.digest.schedule import Cadence, When
from bot.digest.scheduler import run_due, single_team
from bot.store.watch import WatchStore
from tests.bot.delivery_support import (
    TEAM,
    USER,
    Database,
    canned,
    client_on,
    due_now,
    finished,
    killed,
    start_digest_once,
)
from tests.fakes.dnsserver import DnsTestServer
from tests.fakes.postgres import PostgresCluster
from tests.fakes.slackapi import Fault, SlackApi

NOW = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)  # the hourly digests below are due at 09:00, 10:00…
POST = "chat.postMessage"
LATER = timedelta(minutes=16)  # past any lease a killed process held (15 minutes at most)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        yield Database(f"sqlite:///{tmp_path / 'mxbot.db'}")
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    url: str = request.getfixturevalue("pg_url")
    yield Database(url, cluster.dsn(make_url(url).database or ""))


@pytest.fixture
async def api() -> AsyncIterator[SlackApi]:
    server = await SlackApi().start()
    server.clock = time.time  # Slack stamps messages by its own clock, not the tests' injected one
    yield server
    await server.stop()


@pytest.fixture
def stores(db: Database) -> Iterator[Callable[[], WatchStore]]:
    """Instances' stores on the test's database, each with its own engine and pool."""
    made: list[WatchStore] = []

    def make() -> WatchStore:
        store = WatchStore(db.url)
        store.create_all()
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[WatchStore]:
    store = WatchStore(pg_url)
    store.create_all()
    yield store
    store.close()


async def hourly(store: WatchStore, channel: str = "C1") -> None:
    await store.add_watch(TEAM, channel, "a.example", user_id=USER, now=NOW)
    await store.set_schedule(TEAM, channel, When(Cadence.HOURLY), now=NOW)


async def tick(store: WatchStore, client: AsyncWebClient, at: datetime, owner: str = "one") -> None:
    """One pass of an instance at `at`, as its loop or cron would run it."""
    await run_due(
        store=store,
        engine_runner=canned(),
        client_for_team=single_team(client),
        now=at,
        owner=owner,
    )


def at(hh: int, mm: int) -> datetime:
    return datetime(2024, 5, 1, hh, mm, tzinfo=UTC)


# ---- Slack fails for a slot, then comes back ----------------------------------------------------


@pytest.mark.parametrize(
    "fault", [Fault.UNAVAILABLE, Fault.RATELIMITED, Fault.DROP, Fault.HANG, Fault.HANGUP]
)
async def test_slack_failing_for_one_slot_then_back_posts_that_slot_once(
    fault: Fault, api: SlackApi, stores: Callable[[], WatchStore]
) -> None:
    store = stores()
    await hourly(store)
    client = client_on(api, timeout=1)  # a hung request costs a second, not the default 30
    api.down(POST, fault)

    await tick(store, client, at(9, 0))
    during = len(api.posted("C1"))
    api.restore(POST)
    await tick(store, client, at(9, 10))
    after_retry = len(api.posted("C1"))
    await tick(store, client, at(10, 0))

    # A hang-up after Slack accepted the message already posted it: it must not be posted again.
    assert during == (1 if fault is Fault.HANGUP else 0)
    assert after_retry == 1
    assert len(api.posted("C1")) == 2  # 09:00 once, 10:00 once


async def test_two_instances_racing_throughout_post_each_slot_once(
    api: SlackApi, stores: Callable[[], WatchStore]
) -> None:
    setup, one, two = stores(), stores(), stores()
    for channel in ("C1", "C2", "C3"):
        await hourly(setup, channel)
    client = client_on(api)
    script: list[tuple[datetime, Fault | None]] = [
        (at(9, 0), Fault.UNAVAILABLE),  # Slack down at the 09:00 slot…
        (at(9, 1), Fault.UNAVAILABLE),
        (at(9, 7), None),  # …and back
        (at(9, 30), None),
        (at(10, 0), Fault.HANGUP),  # every 10:00 post accepted, its answer lost
        (at(10, 5), None),
        (at(11, 0), None),
        (at(11, 0), None),  # both instances again at the same moment: nothing left to do
    ]
    seen: list[int] = []

    for moment, fault in script:
        if fault is None:
            api.restore(POST)
        else:
            api.down(POST, fault)
        await asyncio.gather(
            tick(one, client, moment, "one"),
            tick(two, client, moment, "two"),
        )
        seen.append(len(api.posted()))

    assert seen == [0, 0, 3, 3, 6, 6, 9, 9]  # three channels, each slot once
    for channel in ("C1", "C2", "C3"):
        assert len(api.posted(channel)) == 3


# ---- the database restarts mid-run (PostgreSQL) --------------------------------------------------


async def test_the_database_restarting_with_a_reply_in_flight_costs_nothing(
    pg_store: WatchStore, postgres_cluster: PostgresCluster, api: SlackApi
) -> None:
    store = pg_store
    await hourly(store)
    api.inject(POST, Fault.DELAY)
    client = client_on(api)
    run = asyncio.create_task(tick(store, client, at(9, 0)))

    await api.wait_for(POST)
    with postgres_cluster.down():  # every pooled connection is cut; back before the answer
        pass
    api.release()
    await run
    await tick(store, client, at(9, 0) + LATER)
    await tick(store, client, at(10, 0))

    assert len(api.posted("C1")) == 2  # 09:00 once, 10:00 once


async def test_the_database_down_when_slack_answers_neither_loses_nor_doubles_the_post(
    pg_store: WatchStore, postgres_cluster: PostgresCluster, api: SlackApi
) -> None:
    store = pg_store
    await hourly(store)
    api.inject(POST, Fault.DELAY)
    client = client_on(api)
    run = asyncio.create_task(tick(store, client, at(9, 0)))

    await api.wait_for(POST)
    with postgres_cluster.down():
        api.release()  # Slack posted it; the run cannot record that
        with pytest.raises(OperationalError):
            await run
    await tick(store, client, at(9, 0) + LATER)  # the next pass, past the dead run's lease
    await tick(store, client, at(10, 0))

    assert len(api.posted("C1")) == 2  # 09:00 once, 10:00 once


# ---- mxbot digest --once killed, or stopped, mid-run ---------------------------------------------


async def test_killed_before_the_post_reached_slack_it_is_posted_once(
    db: Database,
    stores: Callable[[], WatchStore],
    api: SlackApi,
    dns_server: DnsTestServer,
    tmp_path: Path,
) -> None:
    setup = stores()
    await due_now(setup, "C9", "nothing.test")
    api.inject(POST, Fault.HANG)  # Slack never acts on this request
    process = await start_digest_once(db, api, dns_server, tmp_path)

    await api.wait_for(POST, within=30)
    await killed(process)
    await tick(setup, client_on(api), datetime.now(UTC) + LATER, "next")

    assert len(api.posted("C9")) == 1


async def test_killed_with_the_reply_in_flight_it_is_not_posted_again(
    db: Database,
    stores: Callable[[], WatchStore],
    api: SlackApi,
    dns_server: DnsTestServer,
    tmp_path: Path,
) -> None:
    setup = stores()
    await due_now(setup, "C9", "nothing.test")
    api.inject(POST, Fault.DELAY)  # Slack posts it; the answer is still on its way
    process = await start_digest_once(db, api, dns_server, tmp_path)

    await api.wait_for(POST, within=30)
    await killed(process)
    api.release()
    await tick(setup, client_on(api), datetime.now(UTC) + LATER, "next")

    assert len(api.posted("C9")) == 1


async def test_killed_after_slack_answered_but_before_recording_it_is_not_posted_again(
    db: Database,
    stores: Callable[[], WatchStore],
    api: SlackApi,
    dns_server: DnsTestServer,
    tmp_path: Path,
) -> None:
    setup = stores()
    await due_now(setup, "C9", "nothing.test")
    api.inject(POST, Fault.DELAY)
    process = await start_digest_once(db, api, dns_server, tmp_path)

    [call] = await api.wait_for(POST, within=30)
    with db.writes_held():  # the process cannot record what Slack answered…
        api.release()
        await api.wait_until(lambda: call.answered)
        await killed(process)  # …and dies waiting to
    await tick(setup, client_on(api), datetime.now(UTC) + LATER, "next")

    assert len(api.posted("C9")) == 1


async def test_sigterm_with_the_post_in_flight_exits_non_zero_in_one_line_and_frees_the_lease(
    db: Database,
    stores: Callable[[], WatchStore],
    api: SlackApi,
    dns_server: DnsTestServer,
    tmp_path: Path,
) -> None:
    setup = stores()
    await due_now(setup, "C9", "nothing.test")
    api.inject(POST, Fault.HANG)
    process = await start_digest_once(db, api, dns_server, tmp_path)

    await api.wait_for(POST, within=30)
    process.send_signal(signal.SIGTERM)
    code, err = await finished(process, within=10)
    await tick(setup, client_on(api), datetime.now(UTC) + timedelta(minutes=1), "next")

    assert code != 0
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert len(api.posted("C9")) == 1  # the next run, a minute later, posted it


async def test_sigterm_during_the_checks_exits_non_zero_and_frees_the_lease_at_once(
    db: Database,
    stores: Callable[[], WatchStore],
    api: SlackApi,
    dns_server: DnsTestServer,
    tmp_path: Path,
) -> None:
    setup = stores()
    await due_now(setup, "C9", "slow.test")
    dns_server.behaviour.timeout_zones.add(
        dns.name.from_text("slow.test")
    )  # the checks wait on DNS
    process = await start_digest_once(db, api, dns_server, tmp_path)

    await _eventually(lambda: dns_server.count("slow.test", "MX") > 0, within=30)
    process.send_signal(signal.SIGTERM)
    code, err = await finished(process, within=10)
    dns_server.behaviour.timeout_zones.clear()
    await tick(setup, client_on(api), datetime.now(UTC), "next")  # cron's next minute

    assert code != 0
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert api.posted("C9") != []  # the lease was freed: the very next run made the digest
    assert len(api.posted("C9")) == 1


async def test_digest_once_with_slack_unreachable_exits_non_zero_in_one_line_and_retries(
    db: Database,
    stores: Callable[[], WatchStore],
    api: SlackApi,
    dns_server: DnsTestServer,
    tmp_path: Path,
) -> None:
    setup = stores()
    await due_now(setup, "C9", "nothing.test")
    api.down(POST, Fault.UNAVAILABLE)

    code, err = await finished(await start_digest_once(db, api, dns_server, tmp_path))
    api.restore(POST)
    await tick(setup, client_on(api), datetime.now(UTC) + timedelta(minutes=10), "next")

    assert code == 1
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert len(api.posted("C9")) == 1  # still due after the failure, posted by the next run


async def _eventually(predicate: Callable[[], bool], within: float) -> None:
    """Poll a condition another thread changes (the DNS server's), bounded by `within`."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 -- the DNS server's own thread sets no event
            await asyncio.sleep(0.02)
