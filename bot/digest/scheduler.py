"""Run due digests: claim a schedule, check every watched domain, make the digest, and hand it to
the one delivery path (`bot.digest.dispatch`), which posts it exactly once while it is useful.

Several instances may run `loop` against one database: a schedule is claimed with one
conditional UPDATE (see `bot.store.watch`), so exactly one instance makes each digest; the digest
goes to the outbox in the transaction that moves the schedule on, and the outbox's own claims
decide who posts it. A digest Slack refuses for good (channel archived, token revoked) stops that
schedule with one log line; the others go on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol

from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.web.async_client import AsyncWebClient

from bot.digest import render as digest
from bot.digest.delivery import (
    ON_DEMAND_GRACE,
    Post,
    Queued,
    Tally,
    digest_key,
    grace_for,
    on_demand_key,
)
from bot.digest.dispatch import ClientForTeam as ClientForTeam  # re-exported: the seam's type
from bot.digest.dispatch import PostBox, deliver_due
from bot.digest.history import HistoryBox, observe
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
Clock = Callable[[], datetime]


class Watched(Protocol):
    @property
    def domain(self) -> str: ...


class DigestStore(Protocol):
    """What running digests needs of the database (`bot.store.watch.WatchStore`).

    A protocol, so this package never imports the store: the store imports the plain schedule,
    snapshot and delivery types from here instead, and the dependency runs one way.
    """

    @property
    def outbox(self) -> PostBox: ...

    @property
    def history(self) -> HistoryBox: ...

    async def claim_next(
        self,
        owner: str,
        *,
        now: datetime,
        lease: timedelta = ...,
        channel_id: str | None = ...,
    ) -> Schedule | None: ...

    async def claim(
        self,
        schedule_id: int,
        owner: str,
        *,
        now: datetime,
        lease: timedelta = ...,
        due_only: bool = ...,
    ) -> bool: ...

    async def schedule(self, team_id: str, channel_id: str) -> Schedule | None: ...

    async def watches(self, team_id: str, channel_id: str) -> Sequence[Watched]: ...

    async def last_run(self, schedule_id: int, *, posted_only: bool = ...) -> DigestRun | None: ...

    async def enqueue_digest(
        self,
        schedule_id: int,
        owner: str,
        *,
        ran_at: datetime,
        snapshot: Snapshot,
        post: Post,
        next_run_at: datetime | None,
    ) -> Queued: ...

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

    async def release(
        self, schedule_id: int, owner: str, *, next_run_at: datetime | None = ...
    ) -> None: ...


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
    grace: timedelta | None = None,
    channel_id: str | None = None,
) -> Tally:
    """Make every due digest and deliver it, then retry every post due again; what came of them.

    Domains of a digest are checked `concurrency` at a time. Several instances may call this at
    once against one database: each digest is made by one of them, and each post attempted by
    one at a time. `grace` overrides how long a digest stays worth posting (`grace_for`);
    `channel_id` limits the pass to one channel.
    """
    job = _Job(store, engine_runner, owner, asyncio.Semaphore(concurrency), metrics, grace)
    tally = Tally()
    while (
        schedule := await store.claim_next(owner, now=now, lease=lease, channel_id=channel_id)
    ) is not None:
        key = await job.run(schedule, now)
        if key is not None:
            tally.add(await _deliver(store, client_for_team, now, owner, metrics, key=key))
    tally.add(await _deliver(store, client_for_team, now, owner, metrics, channel_id=channel_id))
    return tally


async def digest_now(
    *,
    store: DigestStore,
    engine_runner: EngineRunner,
    client_for_team: ClientForTeam,
    team_id: str,
    channel_id: str,
    now: datetime,
    owner: str,
    metrics: Metrics | None = None,
    lease: timedelta = DEFAULT_LEASE,
) -> Tally | None:
    """A channel's digest now, outside its schedule (`/mx digest now`, `digest --force`).

    Claimed like a scheduled one, so it never runs beside another digest of the channel: None
    when the channel has no schedule or another instance holds it (a digest is being made).
    The schedule keeps its time; asking twice within a minute posts once.
    """
    schedule = await store.schedule(team_id, channel_id)
    if schedule is None:
        return None
    if not await store.claim(schedule.id, owner, now=now, lease=lease, due_only=False):
        return None
    job = _Job(store, engine_runner, owner, asyncio.Semaphore(CONCURRENCY), metrics, None)
    key = await job.run(schedule, now, on_demand=True)
    if key is None:
        return Tally()
    return await _deliver(store, client_for_team, now, owner, metrics, key=key)


async def _deliver(
    store: DigestStore,
    client_for_team: ClientForTeam,
    now: datetime,
    owner: str,
    metrics: Metrics | None,
    *,
    key: str | None = None,
    channel_id: str | None = None,
) -> Tally:
    return await deliver_due(
        store.outbox,
        client_for_team,
        now=now,
        owner=owner,
        metrics=metrics,
        key=key,
        channel_id=channel_id,
    )


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
    grace: timedelta | None = None,
    also: Callable[[datetime], Awaitable[object]] | None = None,
) -> None:
    """Run due digests every `interval` seconds until `stop` is set (or the task is cancelled:
    the digest being made is left due, the post in flight handed back in doubt). `also` is
    another pass made each time, after the digests' (alerts: `bot.digest.watchdog`)."""
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
                grace=grace,
            )
            if also is not None:
                await also(clock())
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
        owner: str,
        gate: asyncio.Semaphore,
        metrics: Metrics | None,
        grace: timedelta | None,
    ) -> None:
        self.store = store
        self.engine_runner = engine_runner
        self.owner = owner
        self.gate = gate
        self.metrics = metrics
        self.grace = grace

    async def run(
        self, schedule: Schedule, now: datetime, *, on_demand: bool = False
    ) -> str | None:
        """Make one digest and hand it to the outbox; its post's key, or None when there is
        nothing to post. Never raises but for a shutdown, which leaves the schedule due."""
        next_run = None if on_demand else schedule.when.next_after(now)
        try:
            return await self._make(schedule, now, next_run, on_demand=on_demand)
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
            await self.store.release(schedule.id, self.owner, next_run_at=next_run)
            return None

    async def _make(
        self, schedule: Schedule, now: datetime, next_run: datetime | None, *, on_demand: bool
    ) -> str | None:
        watches = await self.store.watches(schedule.team_id, schedule.channel_id)
        if not watches:
            await self.store.release(schedule.id, self.owner, next_run_at=next_run)
            return None
        team = schedule.team_id
        snapshots = await asyncio.gather(*(self._check(team, w.domain, now) for w in watches))
        current = {s.domain: s for s in snapshots}
        previous = await self.store.last_run(schedule.id)
        changes = digest.diff(previous.snapshot if previous else None, current)
        records = (
            await self.store.history.changes(team, list(current), since=previous.ran_at)
            if previous
            else []
        )
        message = digest.render_digest(
            current,
            changes,
            since=previous.ran_at if previous else None,
            when=now,
            schedule=schedule.when.describe(),
            records=records,
        )
        post = self._post(schedule, message, now, on_demand=on_demand)
        queued = await self.store.enqueue_digest(
            schedule.id,
            self.owner,
            ran_at=now,
            snapshot=current,
            post=post,
            next_run_at=next_run,
        )
        if not queued.held:
            log.warning("digest %s: lease expired before the digest was made", schedule.id)
            return None
        for key in queued.superseded:
            log.warning("digest %s dropped unposted: superseded by %s", key, post.key)
            if self.metrics is not None:
                self.metrics.scheduled_post(post.kind, "superseded")
        return post.key

    def _post(
        self, schedule: Schedule, message: digest.Message, now: datetime, *, on_demand: bool
    ) -> Post:
        """The digest as a post: keyed by its slot (or the minute it was asked for), worth
        posting for its grace period from when it was made."""
        team, channel = schedule.team_id, schedule.channel_id
        if on_demand:
            return Post(
                on_demand_key(team, channel, now),
                team,
                channel,
                message,
                now,
                now + ON_DEMAND_GRACE,
                schedule_id=schedule.id,
            )
        slot = schedule.next_run_at
        grace = grace_for(schedule.when, self.grace)
        return Post(
            digest_key(team, channel, slot),
            team,
            channel,
            message,
            slot,
            max(slot, now) + grace,
            schedule_id=schedule.id,
        )

    async def _check(self, team_id: str, domain: str, now: datetime) -> DomainSnapshot:
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
        await self.store.history.record(team_id, domain, observe(report), now=now)
        return digest.snapshot(report)
