"""The one delivery path, seen from the operator's side: what a late, dropped, blind or interrupted
post does and says, `digest now`, and `mxbot digest --once` flags; Slack stood in, clock injected.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest

from bot.cli.errors import UsageError
from bot.cli.main import parse_args
from bot.digest.delivery import EVENT_TYPE, PostState
from bot.digest.schedule import Cadence, When
from bot.digest.scheduler import digest_now, loop, run_due, single_team
from bot.metrics import Metrics
from bot.settings import AppSettings, Secret
from bot.store.watch import WatchStore
from checks.model import Status
from checks.settings import Settings
from tests.bot.delivery_support import TEAM, USER, canned, client_on, due_now
from tests.exposition import sample
from tests.fakes.slackapi import Fault, SlackApi

NOW = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
POST = "chat.postMessage"
KEY_0900 = "digest:T1:C1:2024-05-01T09:00Z"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[WatchStore]:
    made = WatchStore(f"sqlite:///{tmp_path / 'mxbot.db'}")
    made.create_all()
    yield made
    made.close()


@pytest.fixture
async def api() -> AsyncIterator[SlackApi]:
    server = await SlackApi().start()
    server.clock = time.time
    yield server
    await server.stop()


async def hourly(store: WatchStore, channel: str = "C1") -> int:
    await store.add_watch(TEAM, channel, "a.example", user_id=USER, now=NOW)
    return (await store.set_schedule(TEAM, channel, When(Cadence.HOURLY), now=NOW)).id


def at(hh: int, mm: int) -> datetime:
    return datetime(2024, 5, 1, hh, mm, tzinfo=UTC)


async def tick(store: WatchStore, api: SlackApi, moment: datetime, **kw: Any) -> Any:
    return await run_due(
        store=store,
        engine_runner=canned(Status.FAIL),
        client_for_team=single_team(client_on(api)),
        now=moment,
        owner="one",
        **kw,
    )


def shown(message: dict[str, Any]) -> str:
    return json.dumps(message["blocks"], ensure_ascii=False)


async def test_a_digest_retried_late_says_when_it_was_due_and_carries_its_key(
    store: WatchStore, api: SlackApi
) -> None:
    await hourly(store)
    api.down(POST, Fault.UNAVAILABLE)
    failed = await tick(store, api, at(9, 0))
    api.restore(POST)

    posted = await tick(store, api, at(9, 20))

    assert (failed.retrying, posted.posted) == (1, 1)
    [message] = api.posted("C1")
    assert message["metadata"] == {
        "event_type": EVENT_TYPE,
        "event_payload": {"key": KEY_0900, "kind": "digest"},
    }
    assert "this was due at 2024-05-01 09:00 UTC" in shown(message)
    assert message["text"].startswith("Posted late: this was due at 2024-05-01 09:00 UTC.")


async def test_a_digest_not_posted_within_its_grace_is_dropped_with_a_line_and_a_metric(
    store: WatchStore, api: SlackApi, caplog: pytest.LogCaptureFixture
) -> None:
    await hourly(store)
    metrics = Metrics()
    caplog.set_level(logging.WARNING, logger="bot.digest")
    api.down(POST, Fault.UNAVAILABLE)

    for moment in (at(9, 0), at(9, 2), at(9, 10), at(9, 30), at(9, 46)):
        await tick(store, api, moment, metrics=metrics)
    api.restore(POST)
    await tick(store, api, at(10, 0), metrics=metrics)

    assert len(api.posted("C1")) == 1  # 09:00 never (its 45 minutes passed), 10:00 once
    assert "due 2024-05-01 10:00 UTC" not in shown(api.posted("C1")[0])  # on time: no note
    [line] = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert line.startswith("digest for channel C1 (team T1) due 2024-05-01 09:00 UTC dropped")
    assert "grace period passed (last: HTTP 503)" in line
    assert sample(metrics, "mxbot_scheduled_posts_total", kind="digest", outcome="dropped") == 1
    assert sample(metrics, "mxbot_scheduled_posts_total", kind="digest", outcome="posted") == 1
    assert "mxbot_scheduled_posts_total" in generate_latest(metrics.registry).decode()
    assert await store.outbox.state(KEY_0900) is PostState.DROPPED


async def test_without_the_history_scope_a_post_in_doubt_is_dropped_never_posted_twice(
    store: WatchStore, api: SlackApi, caplog: pytest.LogCaptureFixture
) -> None:
    await hourly(store)
    api.errors["conversations.history"] = "missing_scope"  # installed before the new scopes
    api.inject(POST, Fault.HANGUP)  # posted, its answer lost: in doubt

    await tick(store, api, at(9, 0))
    await tick(store, api, at(9, 10))

    assert len(api.posted("C1")) == 1
    assert await store.outbox.state(KEY_0900) is PostState.DROPPED
    assert "channels:history" in caplog.text


async def test_a_pass_cancelled_mid_post_hands_the_post_back_to_be_looked_for(
    store: WatchStore, api: SlackApi
) -> None:
    await hourly(store)
    api.inject(POST, Fault.DELAY)
    task = asyncio.create_task(tick(store, api, at(9, 0)))
    await api.wait_for(POST)

    task.cancel()  # what serve and socket do at SIGTERM
    with pytest.raises(asyncio.CancelledError):
        await task
    api.release()
    waiting = await store.outbox.state(KEY_0900)
    early = await tick(store, api, at(9, 0))  # Slack is given time to finish what it received
    later = await tick(store, api, at(9, 1))

    assert waiting is PostState.PENDING  # the lease is free; the post is in doubt
    assert (early.posted, early.found) == (0, 0)
    assert (later.posted, later.found) == (0, 1)
    assert len(api.posted("C1")) == 1
    assert len(api.calls_to("conversations.history")) == 1


async def test_the_loop_stops_cleanly_and_leaves_nothing_held(
    store: WatchStore, api: SlackApi
) -> None:
    await hourly(store)
    api.inject(POST, Fault.HANG)
    task = asyncio.create_task(
        loop(
            store=store,
            engine_runner=canned(),
            client_for_team=single_team(client_on(api)),
            owner="one",
            interval=0.05,
            clock=lambda: at(9, 0),
        )
    )
    await api.wait_for(POST)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    api.release()

    after = await tick(store, api, at(9, 5))
    assert (after.posted, after.found) == (1, 0)  # looked first: the hung request posted nothing
    assert len(api.posted("C1")) == 1


async def test_digest_now_posts_once_a_minute_and_keeps_the_schedule(
    store: WatchStore, api: SlackApi
) -> None:
    schedule_id = await hourly(store)
    clients = single_team(client_on(api))

    async def now(moment: datetime, owner: str = "one") -> Any:
        return await digest_now(
            store=store,
            engine_runner=canned(),
            client_for_team=clients,
            team_id=TEAM,
            channel_id="C1",
            now=moment,
            owner=owner,
        )

    first = await now(at(8, 40))
    again = await now(at(8, 40) + timedelta(seconds=20))
    assert await store.claim(schedule_id, "busy", now=at(8, 42), due_only=False)
    busy = await now(at(8, 42))
    await store.release(schedule_id, "busy")
    unknown = await digest_now(
        store=store,
        engine_runner=canned(),
        client_for_team=clients,
        team_id=TEAM,
        channel_id="C404",
        now=at(8, 42),
        owner="one",
    )
    scheduled = await tick(store, api, at(9, 0))

    assert (first.posted, again.posted) == (1, 0)
    assert (busy, unknown) == (None, None)
    assert scheduled.posted == 1  # the 09:00 digest still comes
    assert len(api.posted("C1")) == 2
    schedule = await store.schedule(TEAM, "C1")
    assert schedule is not None
    assert schedule.next_run_at == at(10, 0)


async def test_digest_once_force_posts_one_channels_digest_now(
    tmp_path: Path, api: SlackApi, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    setup = WatchStore(url)
    setup.create_all()
    for channel in ("C1", "C2"):
        await setup.add_watch(TEAM, channel, "nothing.test", user_id=USER, now=NOW)
        await setup.set_schedule(TEAM, channel, When(Cadence.DAILY, 9, 0), now=datetime.now(UTC))
    setup.close()
    config = AppSettings(
        engine=settings, bot_token=Secret("xoxb-test"), api_url=api.base_url, database_url=url
    )
    forced = parse_args(["digest", "--once", "--channel", "C2", "--force"])
    nothing_due = parse_args(["digest", "--once", "--channel", "C1"])

    code = await forced.handler(forced, config)
    idle = await nothing_due.handler(nothing_due, config)

    assert (code, idle) == (0, 0)
    assert [c for c in api.posted()] == api.posted("C2")
    assert len(api.posted("C2")) == 1
    assert "posted 1 digest\n" in capsys.readouterr().out


async def test_force_without_a_channel_is_a_usage_error(tmp_path: Path, api: SlackApi) -> None:
    config = AppSettings(
        bot_token=Secret("xoxb-test"),
        api_url=api.base_url,
        database_url=f"sqlite:///{tmp_path / 'cli.db'}",
    )
    args = parse_args(["digest", "--once", "--force"])

    with pytest.raises(UsageError, match="--channel"):
        await args.handler(args, config)


@pytest.mark.parametrize(
    "error",
    ["channel_not_found", "is_archived", "not_in_channel", "account_inactive", "invalid_auth"],
)
async def test_slack_refusing_the_channel_stops_its_digests_in_one_line_and_keeps_the_list(
    error: str, store: WatchStore, api: SlackApi, caplog: pytest.LogCaptureFixture
) -> None:
    await hourly(store)
    metrics = Metrics()
    caplog.set_level(logging.WARNING, logger="bot.digest")
    api.errors[POST] = error

    for moment in (at(9, 0), at(9, 30), at(10, 0), at(11, 0)):
        await tick(store, api, moment, metrics=metrics)

    assert len(api.calls_to(POST)) == 1  # stopped, not retried forever
    [line] = [r.getMessage() for r in caplog.records]
    assert f"digests stopped for channel C1 (team T1): Slack said {error}" in line
    assert sample(metrics, "mxbot_scheduled_posts_total", kind="digest", outcome="stopped") == 1
    assert [w.domain for w in await store.watches(TEAM, "C1")] == ["a.example"]


async def test_a_message_slack_refuses_is_dropped_and_the_next_digest_still_comes(
    store: WatchStore, api: SlackApi, caplog: pytest.LogCaptureFixture
) -> None:
    await hourly(store)
    caplog.set_level(logging.WARNING, logger="bot.digest")
    api.errors[POST] = "invalid_blocks"
    await tick(store, api, at(9, 0))
    del api.errors[POST]

    await tick(store, api, at(10, 0))

    assert await store.outbox.state(KEY_0900) is PostState.DROPPED
    assert "Slack refused the message: invalid_blocks" in caplog.text
    assert len(api.posted("C1")) == 1  # the 10:00 digest


async def test_digest_once_fails_while_a_due_digest_waits_for_its_retry(
    tmp_path: Path, api: SlackApi, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    setup = WatchStore(url)
    setup.create_all()
    await due_now(setup, "C9", "nothing.test")
    setup.close()
    config = AppSettings(
        engine=settings, bot_token=Secret("xoxb-test"), api_url=api.base_url, database_url=url
    )
    args = parse_args(["digest", "--once"])
    api.down(POST, Fault.UNAVAILABLE)

    first = await args.handler(args, config)
    said_first = capsys.readouterr().err
    second = await args.handler(args, config)  # cron's next minute: the retry is not due yet
    said_second = capsys.readouterr().err

    assert (first, second) == (1, 1)
    assert "1 not posted: digest for channel C9 (team T1)" in said_first
    assert "not posted (HTTP 503); retrying at" in said_first
    assert "waiting to be retried at" in said_second
    assert "(last: HTTP 503)" in said_second
    assert len(said_first.splitlines()) == len(said_second.splitlines()) == 1
