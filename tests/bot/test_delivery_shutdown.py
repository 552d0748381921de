"""`mxbot socket` and `mxbot serve` stopped by SIGTERM with a digest's post in flight: the process
exits cleanly, every lease is freed, and the digest is posted once by the next run."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.digest.scheduler import run_due, single_team
from bot.store.watch import WatchStore
from tests.bot.delivery_support import canned, client_on, due_now, finished, mxbot_command
from tests.bot.test_slack_socket import mxbot_socket
from tests.fakes.dnsserver import DnsTestServer
from tests.fakes.realservers.processes import free_port
from tests.fakes.slackapi import Fault, SlackApi

POST = "chat.postMessage"


def hang_the_digest(api: SlackApi) -> None:
    api.clock = time.time
    api.inject(POST, Fault.HANG)  # the digest's post never gets an answer


async def next_run(url: str, api: SlackApi) -> None:
    """The next instance's pass, a minute later."""
    store = WatchStore(url)
    try:
        await run_due(
            store=store,
            engine_runner=canned(),
            client_for_team=single_team(client_on(api)),
            now=datetime.now(UTC) + timedelta(minutes=1),
            owner="next",
        )
    finally:
        store.close()


async def test_mxbot_socket_stopped_mid_post_frees_the_digest_for_the_next_run(
    dns_server: DnsTestServer, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/mxbot.db"
    setup = WatchStore(url)
    setup.create_all()
    await due_now(setup, "C9", "nothing.test")
    setup.close()

    async with mxbot_socket(dns_server, tmp_path, prepare=hang_the_digest) as running:
        await running.api.wait_for(POST, within=30)
        code, err = await running.stop()
        await next_run(url, running.api)

        assert code == 0, err
        assert "Traceback" not in err
        assert len(running.api.posted("C9")) == 1


async def test_mxbot_serve_stopped_mid_post_frees_the_digest_for_the_next_run(
    dns_server: DnsTestServer, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/mxbot.db"
    setup = WatchStore(url)
    setup.create_all()
    await due_now(setup, "C9", "nothing.test")
    setup.close()
    api = await SlackApi().start()
    hang_the_digest(api)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "SLACK_API_URL": api.base_url,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": "s3cret",
        "MXBOT_RESOLVERS": dns_server.address,
        "MXBOT_TIMEOUT": "0.5",
        "MXBOT_ALLOW_PRIVATE": "1",
        "MXBOT_DATABASE_URL": url,
    }
    process = await asyncio.create_subprocess_exec(
        *mxbot_command(),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(free_port("127.0.0.1")),
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await api.wait_for(POST, within=30)
        process.send_signal(signal.SIGTERM)
        code, err = await finished(process, within=20)
        await next_run(url, api)

        assert code == 0, err
        assert "Traceback" not in err
        assert len(api.posted("C9")) == 1
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await api.stop()
