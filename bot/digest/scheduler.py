"""Run due digests: claim a schedule, check every watched domain, post what broke and what changed.

Several instances may run `loop` against one database: a schedule is claimed with one
conditional UPDATE (see `bot.store.watch`), so exactly one instance posts each digest. A Slack
error on one digest (channel archived, token revoked) is logged and counted; the others go on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol

from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.web.async_client import AsyncWebClient

from bot.digest import render as digest
from bot.digest.schedule import DEFAULT_LEASE, Schedule
from bot.digest.snapshot import DigestRun, DomainSnapshot, FindingState, Snapshot
from bot.metrics import Metrics
from checks import registry
from checks.engine import make_context, run_report
from checks.model import Report, Status
from checks.net.services import Services, build_services
from checks.settings import Settings
from checks.target import normalise

log = logging.getLogger(__name__)

CONCURRENCY: Final = 4  # domains checked at once, across every digest of one pass

EngineRunner = Callable[[str], Awaitable[Report]]
ClientForTeam = Callable[[str], Awaitable[AsyncWebClient | None]]
Clock = Callable[[], datetime]


class Watched(Protocol):
    @property
    def domain(self) -> str: ...


class DigestStore(Protocol):
    """What running digests needs of the database (`bot.store.watch.WatchStore`).

    A protocol, so this package never imports the store: the store imports the plain schedule
    and snapshot types from here instead, and the dependency runs one way.
    """

    async def claim_next(
        self, owner: str, *, now: datetime, lease: timedelta = ...
    ) -> Schedule | None: ...

    async def watches(self, team_id: str, channel_id: str) -> Sequence[Watched]: ...

    async def last_run(self, schedule_id: int, *, posted_only: bool = ...) -> DigestRun | None: ...

    async def finish(
        self,
        schedule_id: int,
        owner: str,
        *,
        ran_at: datetime,
        snapshot: Snapshot | None,
        posted: bool,
        next_run_at: datetime,
    ) -> bool: ...

    async def release(self, schedule_id: int, owner: str) -> None: ...


def make_runner(
    settings: Settings,
    *,
    checks: Sequence[str] | None = None,
    services: Services | None = None,
) -> EngineRunner:
    """The real engine as a `(domain) -> Report` callable; services are built once and shared."""
    shared = build_services(settings) if services is None else services
    only = list(checks) if checks else None

    async def run(domain: str) -> Report:
        target = normalise(domain)
        selected = registry.select(only, is_address=target.is_address)
        ctx = make_context(target, settings, services=shared)
        return await run_report(selected, ctx)

    return run


def single_team(client: AsyncWebClient) -> ClientForTeam:
    """One workspace (SLACK_BOT_TOKEN): the same client for every team."""

    async def client_for(team_id: str) -> AsyncWebClient | None:
        return client

    return client_for


def installed_teams(
    installations: AsyncInstallationStore, client_with_token: Callable[[str], AsyncWebClient]
) -> ClientForTeam:
    """Multi-workspace OAuth: a client with the team's bot token, None when it is not installed.

    `client_with_token` is the app's client factory (`bot.slack.app.make_client`), passed in so
    running digests does not import the Slack app (and, through it, the store).
    """

    async def client_for(team_id: str) -> AsyncWebClient | None:
        bot = await installations.async_find_bot(enterprise_id=None, team_id=team_id)
        if bot is None or not bot.bot_token:
            return None
        return client_with_token(bot.bot_token)

    return client_for


async def run_due(
    *,
    store: DigestStore,
    engine_runner: EngineRunner,
    client_for_team: ClientForTeam,
    now: datetime,
    owner: str,
    concurrency: int = CONCURRENCY,
    lease: timedelta = DEFAULT_LEASE,
    metrics: Metrics | None = None,
) -> int:
    """Claim and run due digests one by one until none is left; returns how many were posted.

    Domains of a digest are checked `concurrency` at a time. Several instances may call this at
    once against one database: each digest is claimed by exactly one of them.
    """
    gate = asyncio.Semaphore(concurrency)
    job = _Job(store, engine_runner, client_for_team, owner, gate, metrics)
    posted = 0
    while (schedule := await store.claim_next(owner, now=now, lease=lease)) is not None:
        posted += await job.run(schedule, now)
    return posted


async def loop(
    *,
    store: DigestStore,
    engine_runner: EngineRunner,
    client_for_team: ClientForTeam,
    owner: str,
    interval: float = 60.0,
    clock: Clock | None = None,
    metrics: Metrics | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run due digests every `interval` seconds until `stop` is set (or the task is cancelled)."""
    clock = clock or (lambda: datetime.now(UTC))
    stop = stop or asyncio.Event()
    while not stop.is_set():
        try:
            await run_due(
                store=store,
                engine_runner=engine_runner,
                client_for_team=client_for_team,
                now=clock(),
                owner=owner,
                metrics=metrics,
            )
        except Exception:  # a database hiccup must not end the scheduler
            log.exception("digest pass failed; retrying in %g s", interval)
        try:
            async with asyncio.timeout(interval):
                await stop.wait()
        except TimeoutError:
            pass


class _Job:
    """One pass of `run_due`: what every claimed schedule shares."""

    def __init__(
        self,
        store: DigestStore,
        engine_runner: EngineRunner,
        client_for_team: ClientForTeam,
        owner: str,
        gate: asyncio.Semaphore,
        metrics: Metrics | None,
    ) -> None:
        self.store = store
        self.engine_runner = engine_runner
        self.client_for_team = client_for_team
        self.owner = owner
        self.gate = gate
        self.metrics = metrics

    async def run(self, schedule: Schedule, now: datetime) -> bool:
        """Run one digest; True when it was posted. Never raises: the lease is always released."""
        next_run = schedule.when.next_after(now)
        try:
            return await self._digest(schedule, now, next_run)
        except asyncio.CancelledError:  # shutting down: leave it due for another instance
            await asyncio.shield(self.store.release(schedule.id, self.owner))
            raise
        except Exception:  # one broken digest must not stop the others
            log.exception(
                "digest %s failed (team %s, channel %s)",
                schedule.id,
                schedule.team_id,
                schedule.channel_id,
            )
            await self._skip(schedule, now, next_run)
            return False

    async def _skip(self, schedule: Schedule, now: datetime, next_run: datetime) -> None:
        """Nothing posted this time: move the schedule on and release it."""
        await self.store.finish(
            schedule.id, self.owner, ran_at=now, snapshot=None, posted=False, next_run_at=next_run
        )

    async def _digest(self, schedule: Schedule, now: datetime, next_run: datetime) -> bool:
        watches = await self.store.watches(schedule.team_id, schedule.channel_id)
        if not watches:
            await self._skip(schedule, now, next_run)
            return False
        snapshots = await asyncio.gather(*(self._check(w.domain) for w in watches))
        current = {s.domain: s for s in snapshots}
        previous = await self.store.last_run(schedule.id)
        changes = digest.diff(previous.snapshot if previous else None, current)
        message = digest.render_digest(
            current,
            changes,
            since=previous.ran_at if previous else None,
            when=now,
            schedule=schedule.when.describe(),
        )
        posted = await self._post(schedule, message)
        held = await self.store.finish(
            schedule.id,
            self.owner,
            ran_at=now,
            snapshot=current,
            posted=posted,
            next_run_at=next_run,
        )
        if not held:
            log.warning("digest %s: lease expired before the run finished", schedule.id)
        return posted

    async def _check(self, domain: str) -> DomainSnapshot:
        async with self.gate:
            try:
                report = await self.engine_runner(domain)
            except Exception as exc:  # the engine reports its own errors; this is a bug
                log.exception("checks crashed for %s in a digest", domain)
                finding = FindingState(
                    "digest",
                    "digest.check_crashed",
                    Status.ERROR,
                    f"The checks could not run ({type(exc).__name__}).",
                )
                return DomainSnapshot(domain, Status.ERROR, (finding,))
        return digest.snapshot(report)

    async def _post(self, schedule: Schedule, message: digest.Message) -> bool:
        client = await self.client_for_team(schedule.team_id)
        if client is None:
            log.warning(
                "digest %s: no bot token for team %s; not posted", schedule.id, schedule.team_id
            )
            self._count("chat.postMessage", "not_installed")
            return False
        try:
            await client.chat_postMessage(
                channel=schedule.channel_id, unfurl_links=False, unfurl_media=False, **message
            )
        except SlackApiError as exc:
            code = str(exc.response.get("error") or exc.response.status_code)
            self._count("chat.postMessage", code)
            log.warning(
                "digest %s: Slack chat.postMessage failed: %s (team %s, channel %s)",
                schedule.id,
                code,
                schedule.team_id,
                schedule.channel_id,
            )
            return False
        return True

    def _count(self, method: str, code: str) -> None:
        if self.metrics is not None:
            self.metrics.slack_error(method, code)
