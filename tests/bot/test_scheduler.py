"""The digest scheduler end to end: real checks against the DNS test server, digests posted to a
local stand-in for the Slack Web API, claims shared by several instances, errors contained."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.oauth.installation_store import Installation
from slack_sdk.web.async_client import AsyncWebClient

from bot.cli import digest as digest_command
from bot.cli.main import parse_args
from bot.digest.schedule import Cadence, When
from bot.digest.scheduler import (
    EngineRunner,
    loop,
    make_runner,
    run_due,
    single_team,
)
from bot.metrics import Metrics
from bot.settings import AppSettings, Secret
from bot.store.db import Store
from bot.store.watch import WatchStore
from checks.model import CheckResult, Finding, Report, Status
from checks.net.services import Services
from checks.settings import Settings
from tests.exposition import sample
from tests.fakes.dnsserver import DnsTestServer
from tests.fakes.slackapi import Fault, SlackApi

NOW = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
HOURLY = When(Cadence.HOURLY)
SOA = "@ 300 IN SOA ns1 host 1 7200 3600 1209600 300\n"
HEALTHY = (
    SOA + '@ MX 10 mx\nmx A 127.0.0.1\n@ TXT "v=spf1 mx -all"\n_dmarc TXT "v=DMARC1; p=reject"\n'
)
NO_DMARC = SOA + '@ MX 10 mx\nmx A 127.0.0.1\n@ TXT "v=spf1 mx -all"\n'


@pytest.fixture
def store(tmp_path: Path) -> Iterator[WatchStore]:
    watch_store = WatchStore(f"sqlite:///{tmp_path / 'mxbot.db'}")
    watch_store.create_all()
    yield watch_store
    watch_store.close()


@pytest.fixture
async def api() -> AsyncIterator[SlackApi]:
    server = await SlackApi().start()
    yield server
    await server.stop()


def client_on(api: SlackApi) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-test", base_url=api.base_url)


async def watch(store: WatchStore, channel: str, *domains: str, team: str = "T1") -> int:
    for domain in domains:
        await store.add_watch(team, channel, domain, user_id="U1", now=NOW)
    return (await store.set_schedule(team, channel, HOURLY, now=NOW)).id


def shown(call_params: dict[str, Any]) -> str:
    return "\n".join(
        b["text"]["text"] for b in call_params["blocks"] if b["type"] in {"section", "header"}
    )


def canned(status_for: dict[str, Status]) -> EngineRunner:
    async def run(domain: str) -> Report:
        status = status_for.get(domain, Status.PASS)
        finding = Finding(f"mx.{status.value}", status, f"{domain} is {status.value}.")
        return Report(domain, (CheckResult("mx", "MX", (finding,), 1),), 1)

    return run


async def test_digests_show_what_broke_and_what_was_fixed_against_real_dns(
    store: WatchStore, api: SlackApi, dns_server: DnsTestServer, settings: Settings
) -> None:
    dns_server.load_zone(NO_DMARC, "a.test")
    dns_server.load_zone(HEALTHY, "b.test")
    schedule_id = await watch(store, "C1", "a.test", "b.test")
    runner = make_runner(settings, checks=["mx", "spf", "dmarc"], services=Services())
    clients = single_team(client_on(api))
    first_at = NOW + timedelta(minutes=30)

    first = await run_due(
        store=store, engine_runner=runner, client_for_team=clients, now=first_at, owner="me"
    )
    dns_server.clear()
    dns_server.load_zone(HEALTHY, "a.test")  # a.test publishes DMARC
    dns_server.load_zone(HEALTHY.replace('@ TXT "v=spf1 mx -all"\n', ""), "b.test")  # SPF lost
    idle = await run_due(
        store=store,
        engine_runner=runner,
        client_for_team=clients,
        now=first_at + timedelta(minutes=59),
        owner="me",
    )
    second = await run_due(
        store=store,
        engine_runner=runner,
        client_for_team=clients,
        now=first_at + timedelta(hours=1),
        owner="me",
    )

    assert (first.posted, idle.posted, second.posted) == (1, 0, 1)
    posts = api.calls_to("chat.postMessage")
    assert [p.params["channel"] for p in posts] == ["C1", "C1"]
    one, two = shown(posts[0].params), shown(posts[1].params)
    assert "1 of 2 watched domains has problems" in one
    assert "`dmarc.missing`" in one
    assert "since" not in one
    assert (
        "1 of 2 watched domains has problems; 1 newly broken and 1 fixed since 2024-05-01 09:00 UTC"
        in two
    )
    assert "\U0001f195 `spf.missing`" in two
    assert "*b.test* broke: `spf.missing`" in two
    assert "*a.test* fixed: `dmarc.missing`" in two
    assert posts[1].params["text"].startswith("1 of 2 watched domains has problems")
    schedule = await store.schedule("T1", "C1")
    assert schedule is not None
    assert schedule.next_run_at == datetime(2024, 5, 1, 11, 0, tzinfo=UTC)
    assert await store.claim(schedule_id, "other", now=schedule.next_run_at)  # lease released


async def test_a_channel_slack_refuses_stops_its_digests_alone_until_someone_acts(
    store: WatchStore, api: SlackApi, caplog: pytest.LogCaptureFixture
) -> None:
    broken_api = await SlackApi().start()
    broken_api.errors["chat.postMessage"] = "is_archived"
    await watch(store, "C1", "a.example", team="T1")
    t2 = await watch(store, "C2", "b.example", team="T2")
    clients = {"T1": client_on(api), "T2": client_on(broken_api)}

    async def client_for(team: str) -> AsyncWebClient | None:
        return clients[team]

    metrics = Metrics()
    caplog.set_level(logging.WARNING, logger="bot.digest")

    posted = await run_due(
        store=store,
        engine_runner=canned({}),
        client_for_team=client_for,
        now=NOW + timedelta(hours=1),
        owner="me",
        metrics=metrics,
    )
    later = await run_due(
        store=store,
        engine_runner=canned({}),
        client_for_team=client_for,
        now=NOW + timedelta(hours=2),
        owner="me",
        metrics=metrics,
    )
    stopped = await store.stop_reason(t2)
    await store.set_schedule("T2", "C2", None, now=NOW + timedelta(hours=2))  # `/mx watch …`
    await broken_api.stop()

    assert (posted.posted, posted.stopped, later.posted, later.stopped) == (1, 1, 1, 0)
    assert [c.params["channel"] for c in api.calls_to("chat.postMessage")] == ["C1", "C1"]
    assert len(broken_api.calls_to("chat.postMessage")) == 1  # not tried again once stopped
    [line] = [r.getMessage() for r in caplog.records if "stopped" in r.getMessage()]
    assert "digests stopped for channel C2 (team T2): Slack said is_archived" in line
    assert "watch-list is kept" in line
    assert "xoxb-test" not in caplog.text
    assert (
        sample(
            metrics, "mxbot_slack_api_errors_total", method="chat.postMessage", error="is_archived"
        )
        == 1
    )
    assert sample(metrics, "mxbot_scheduled_posts_total", kind="digest", outcome="stopped") == 1
    assert stopped == "Slack said is_archived"
    assert await store.stop_reason(t2) is None  # someone acted in the channel: they run again
    assert [w.domain for w in await store.watches("T2", "C2")] == ["b.example"]


async def test_an_unposted_digest_is_not_the_baseline_for_the_next(
    store: WatchStore, api: SlackApi
) -> None:
    schedule_id = await watch(store, "C1", "a.example")
    states = {"a.example": Status.FAIL}
    clients = single_team(client_on(api))
    api.clock = time.time
    api.down("chat.postMessage", Fault.UNAVAILABLE)

    for minutes in (60, 75, 110):  # the 09:00 digest fails until its grace (45 min) is over
        await run_due(
            store=store,
            engine_runner=canned(states),
            client_for_team=clients,
            now=NOW + timedelta(minutes=minutes),
            owner="me",
        )
    api.restore("chat.postMessage")
    await run_due(
        store=store,
        engine_runner=canned(states),
        client_for_team=clients,
        now=NOW + timedelta(hours=2),
        owner="me",
    )

    (post,) = api.posted("C1")
    assert "since" not in shown(post)  # the first digest anyone saw
    last = await store.last_run(schedule_id, posted_only=False)
    assert last is not None
    assert last.posted


async def test_two_instances_sharing_a_database_post_each_digest_once(
    tmp_path: Path, api: SlackApi
) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    setup = WatchStore(url)
    setup.create_all()
    for i in range(6):
        await watch(setup, f"C{i}", f"d{i}.example")
    one, two = WatchStore(url), WatchStore(url)
    clients = single_team(client_on(api))
    later = NOW + timedelta(hours=1)

    counts = await asyncio.gather(
        run_due(
            store=one, engine_runner=canned({}), client_for_team=clients, now=later, owner="one"
        ),
        run_due(
            store=two, engine_runner=canned({}), client_for_team=clients, now=later, owner="two"
        ),
    )

    assert sum(c.posted for c in counts) == 6
    channels = sorted(c.params["channel"] for c in api.calls_to("chat.postMessage"))
    assert channels == [f"C{i}" for i in range(6)]
    for instance in (setup, one, two):
        instance.close()


async def test_checks_run_at_most_four_at_once_and_a_crash_is_reported(
    store: WatchStore, api: SlackApi
) -> None:
    await watch(store, "C1", *(f"d{i:02d}.example" for i in range(12)))
    running = 0
    most = 0

    async def runner(domain: str) -> Report:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        running -= 1
        if domain == "d03.example":
            raise RuntimeError("boom")
        return await canned({})(domain)

    posted = await run_due(
        store=store,
        engine_runner=runner,
        client_for_team=single_team(client_on(api)),
        now=NOW + timedelta(hours=1),
        owner="me",
    )

    assert posted.posted == 1
    assert most == 4
    (post,) = api.calls_to("chat.postMessage")
    assert "`digest.check_crashed`" in shown(post.params)
    assert "1 of 12 watched domains has problems" in shown(post.params)


async def test_the_loop_posts_due_digests_until_stopped(store: WatchStore, api: SlackApi) -> None:
    await watch(store, "C1", "a.example")
    stop = asyncio.Event()
    task = asyncio.create_task(
        loop(
            store=store,
            engine_runner=canned({}),
            client_for_team=single_team(client_on(api)),
            owner="me",
            interval=0.05,
            clock=lambda: NOW + timedelta(hours=1),
            stop=stop,
        )
    )

    await api.wait_for("chat.postMessage", 1, within=5)
    stop.set()
    await asyncio.wait_for(task, timeout=5)

    assert len(api.calls_to("chat.postMessage")) == 1  # not due again within the hour


async def test_mxbot_digest_once_posts_due_digests(
    tmp_path: Path, api: SlackApi, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    setup = WatchStore(url)
    setup.create_all()
    await setup.add_watch("T1", "C9", "nothing.test", user_id="U1", now=NOW)
    await setup.set_schedule(
        "T1", "C9", When(Cadence.HOURLY), now=datetime.now(UTC) - timedelta(hours=2)
    )
    setup.close()
    args = parse_args(["digest", "--once"])
    config = AppSettings(
        engine=settings, bot_token=Secret("xoxb-test"), api_url=api.base_url, database_url=url
    )

    code = await args.handler(args, config)

    assert code == 0
    assert "posted 1 digest" in capsys.readouterr().out
    (post,) = api.calls_to("chat.postMessage")
    assert post.params["channel"] == "C9"
    assert "`mx.nxdomain`" in shown(post.params)


async def test_a_digest_cancelled_at_shutdown_is_left_due_for_another_instance(
    store: WatchStore, api: SlackApi
) -> None:
    schedule_id = await watch(store, "C1", "a.example")
    started = asyncio.Event()

    async def slow(domain: str) -> Report:
        started.set()
        await asyncio.sleep(30)
        raise AssertionError("not reached")

    later = NOW + timedelta(hours=1)
    task = asyncio.create_task(
        run_due(
            store=store,
            engine_runner=slow,
            client_for_team=single_team(client_on(api)),
            now=later,
            owner="leaving",
        )
    )
    await asyncio.wait_for(started.wait(), timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert await store.claim(schedule_id, "other", now=later)
    assert api.calls_to("chat.postMessage") == []


async def test_oauth_digests_post_with_each_teams_own_bot_token(
    tmp_path: Path, api: SlackApi
) -> None:
    config = AppSettings(client_id="111.222", client_secret=Secret("cs"), api_url=api.base_url)
    app_store = Store(f"sqlite:///{tmp_path / 'oauth.db'}", client_id=config.client_id)
    app_store.create_all()
    await app_store.installation_store.async_save(
        Installation(
            app_id="A1",
            enterprise_id=None,
            team_id="T1",
            bot_token="xoxb-team-one",
            bot_id="B1",
            bot_user_id="UBOT",
            user_id="U1",
        )
    )
    watch_store = WatchStore(app_store.engine)
    watch_store.create_all()
    await watch(watch_store, "C1", "a.example", team="T1")
    await watch(watch_store, "C2", "b.example", team="T2")  # T2 uninstalled the app

    posted = await run_due(
        store=watch_store,
        engine_runner=canned({}),
        client_for_team=digest_command.clients_for(config, app_store),
        now=NOW + timedelta(hours=1),
        owner="me",
    )

    assert posted.posted == 1
    (post,) = api.calls_to("chat.postMessage")
    assert post.params["channel"] == "C1"
    assert post.headers["Authorization"] == "Bearer xoxb-team-one"
    app_store.close()
