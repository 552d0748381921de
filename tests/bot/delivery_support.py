"""What the delivery fault tests share: a database of either kind whose writes a test can hold
back, `mxbot digest --once` as a real process, a digest due now, and a canned engine.

`Database` is SQLite (a file) or a fresh database on the private PostgreSQL (`pg_url`). Holding
its writes (`writes_held`) is how a test stops a process between Slack's answer and the moment it
records it: the process blocks on its first write, and is killed there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import make_url

from bot.digest.schedule import Cadence, When
from bot.digest.scheduler import EngineRunner
from bot.store.watch import WatchStore
from checks.model import CheckResult, Finding, Report, Status
from tests.fakes.dnsserver import DnsTestServer
from tests.fakes.slackapi import SlackApi

TEAM, USER = "T1", "U1"


@dataclass(frozen=True)
class Database:
    """Where the instances keep their state: `url` for the stores and the processes."""

    url: str
    dsn: str = ""  # PostgreSQL only: libpq's form of `url`, for the test's own connection

    @property
    def kind(self) -> str:
        return "postgresql" if self.dsn else "sqlite"

    @contextlib.contextmanager
    def writes_held(self) -> Iterator[None]:
        """Every write to mxbot's tables waits until the block ends; reads go on."""
        if self.dsn:
            with psycopg.connect(self.dsn) as conn:  # one transaction, rolled back at the end
                names = conn.execute(
                    "SELECT tablename FROM pg_tables WHERE tablename LIKE 'mxbot%'"
                ).fetchall()
                tables = sql.SQL(", ").join(sql.Identifier(n[0]) for n in names)
                conn.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(tables))
                yield
                conn.rollback()
            return
        path = make_url(self.url).database
        assert path is not None
        lite = sqlite3.connect(path, isolation_level=None)
        try:
            lite.execute("BEGIN IMMEDIATE")  # the write lock; readers go on
            yield
            lite.execute("ROLLBACK")
        finally:
            lite.close()


def client_on(api: SlackApi, *, timeout: int = 5) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-test", base_url=api.base_url, timeout=timeout)


def canned(status: Status = Status.PASS) -> EngineRunner:
    async def run(domain: str) -> Report:
        finding = Finding(f"mx.{status.value}", status, f"{domain} is {status.value}.")
        return Report(domain, (CheckResult("mx", "MX", (finding,), 1),), 1)

    return run


async def due_now(store: WatchStore, channel: str, domain: str) -> datetime:
    """A daily digest of `domain` in `channel`, due an hour ago (real time, for processes); the
    next one is a day later, so every post a test sees belongs to this slot. Returns the slot."""
    now = datetime.now(UTC)
    slot = (now - timedelta(hours=1)).replace(second=0, microsecond=0)
    before = now - timedelta(hours=2)
    await store.add_watch(TEAM, channel, domain, user_id=USER, now=before)
    schedule = await store.set_schedule(
        TEAM, channel, When(Cadence.DAILY, slot.hour, slot.minute), now=before
    )
    assert schedule.next_run_at == slot
    return slot


def mxbot_command() -> list[str]:
    script = Path(sys.executable).with_name("mxbot")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from bot.cli.main import main; sys.exit(main())"]


async def start_digest_once(
    db: Database, api: SlackApi, dns_server: DnsTestServer, home: Path, *args: str
) -> asyncio.subprocess.Process:
    """`mxbot digest --once` as cron runs it: its own process, Slack and DNS stood in."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "SLACK_API_URL": api.base_url,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "MXBOT_RESOLVERS": dns_server.address,
        "MXBOT_TIMEOUT": "0.5",
        "MXBOT_ALLOW_PRIVATE": "1",
        "MXBOT_DATABASE_URL": db.url,
    }
    return await asyncio.create_subprocess_exec(
        *mxbot_command(),
        "digest",
        "--once",
        *args,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finished(process: asyncio.subprocess.Process, within: float = 30) -> tuple[int, str]:
    """The exit code and stderr of a process left to finish on its own."""
    async with asyncio.timeout(within):
        _, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, err.decode(errors="replace")


async def killed(process: asyncio.subprocess.Process) -> None:
    """kill -9, and wait for it to be gone."""
    process.kill()
    async with asyncio.timeout(10):
        await process.communicate()
