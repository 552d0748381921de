"""Where follow-ups run: `mxbot digest --once` (cron) looks at the due ones and posts those that
ended; `mxbot serve` runs them beside the app and stops cleanly. Real processes, the name servers
on loopback, Slack stood in; the follow-up was stored by another instance before."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.digest.followup import Followed, Request, State
from bot.store.watch import WatchStore
from checks.live.result import Wanted
from checks.settings import Settings
from tests.bot.delivery_support import finished, mxbot_command
from tests.checks.zone_servers import ZoneServers, zone
from tests.fakes.cachingresolver import free_port
from tests.fakes.slackapi import SlackApi

THREAD = "1700000000.000100"
V2 = '@ 300 IN MX 10 mx\nmx 300 IN A 192.0.2.25\n@ 300 IN TXT "v=spf1 mx -all"\n'


@pytest.fixture
async def api() -> AsyncIterator[SlackApi]:
    server = await SlackApi().start()
    server.clock = time.time
    yield server
    await server.stop()


async def due_followup(url: str) -> int:
    """A follow-up another instance started a minute ago, due now."""
    now = datetime.now(UTC)
    store = WatchStore(url)
    store.create_all()
    followed = (Followed(Wanted("example.test", "TXT", "SPF"), ('"v=spf1 mx -all"',)),)
    request = Request(
        "T1",
        "C1",
        THREAD,
        "U1",
        "example.test",
        followed,
        2,
        now - timedelta(minutes=1),
        now - timedelta(seconds=1),
        now + timedelta(minutes=5),
    )
    stored, _ = await store.followups.add(request)
    store.close()
    return stored.id


def environment(url: str, api: SlackApi, settings: Settings, home: Path) -> dict[str, str]:
    resolver = settings.resolvers[0] if settings.resolvers else None
    assert resolver is not None
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "SLACK_API_URL": api.base_url,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": "s3cret",
        "MXBOT_RESOLVERS": f"{resolver.host}:{resolver.port}",
        "MXBOT_AUTHORITATIVE_PORT": str(settings.authoritative_port),
        "MXBOT_TIMEOUT": "0.5",
        "MXBOT_ALLOW_PRIVATE": "1",
        "MXBOT_CONNECT_NETWORKS": "127.0.0.0/8",
        "MXBOT_DATABASE_URL": url,
    }


async def ended(url: str, followup_id: int) -> State:
    store = WatchStore(url)
    found = await store.followups.get(followup_id)
    store.close()
    assert found is not None
    return found.state


async def test_digest_once_posts_a_due_follow_up_that_is_live(
    zone_servers: ZoneServers, settings: Settings, api: SlackApi, tmp_path: Path
) -> None:
    zone_servers.sound(zone(2, extra=V2))
    url = f"sqlite:///{tmp_path}/mxbot.db"
    followup_id = await due_followup(url)

    process = await asyncio.create_subprocess_exec(
        *mxbot_command(),
        "digest",
        "--once",
        env=environment(url, api, settings, tmp_path),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(30):
        out, err = await process.communicate()

    assert process.returncode == 0, err.decode()
    assert out.decode().strip() == "mxbot digest: posted 0 digests and 1 follow-up"
    [said] = api.posted("C1")
    assert said["thread_ts"] == THREAD
    assert said["text"].startswith("<@U1> example.test TXT (SPF) is live everywhere")
    assert await ended(url, followup_id) is State.LIVE


async def test_serve_runs_follow_ups_beside_the_app_and_stops_cleanly(
    zone_servers: ZoneServers, settings: Settings, api: SlackApi, tmp_path: Path
) -> None:
    zone_servers.sound(zone(2, extra=V2))
    url = f"sqlite:///{tmp_path}/mxbot.db"
    followup_id = await due_followup(url)

    process = await asyncio.create_subprocess_exec(
        *mxbot_command(),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(free_port("127.0.0.1")),
        env=environment(url, api, settings, tmp_path),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await api.wait_until(lambda: len(api.posted("C1")) == 1, within=30)
        process.send_signal(signal.SIGTERM)
        code, err = await finished(process, within=20)

        assert code == 0, err
        assert "Traceback" not in err
        assert api.posted("C1")[0]["thread_ts"] == THREAD
        assert await ended(url, followup_id) is State.LIVE
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
