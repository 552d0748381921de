"""`mxbot digest [--once] [--channel C [--team T] [--force]] [--grace MINUTES] [--interval S]`: post
the due watch-list digests now (cron), or keep doing so.

`--once` exits 0 when every due digest was posted (or nothing was due), 1 when one was not (it
failed now or waits for its retry, or was dropped or stopped: one line on stderr says which and why),
and 128 + the signal's number when SIGTERM or SIGINT stopped it: what it held is released first,
and a post in flight is left for the next run to look for before posting. `--force` posts one
channel's digest now, whether or not it is due.

Each pass also looks at the due follow-ups ("tell me when it's live", `bot.digest.follower`) and
posts those that ended; without `--once` they are looked at every few seconds beside the digests.
`start_scheduler` and `start_followups` are the same loops as background tasks, for `mxbot serve`
/ `mxbot socket`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.exc import SQLAlchemyError

from bot.cli.errors import EXIT_OK, EXIT_PROBLEM, UsageError
from bot.digest.delivery import DigestNow, Tally, Waiting, describe, stamp
from bot.digest.follower import INTERVAL as FOLLOWUP_INTERVAL
from bot.digest.follower import followup_loop, make_look, run_due_followups
from bot.digest.followup import Look
from bot.digest.scheduler import (
    ClientForTeam,
    EngineRunner,
    digest_now,
    installed_teams,
    loop,
    make_runner,
    run_due,
    single_team,
)
from bot.digest.watchdog import run_alerts
from bot.metrics import Metrics
from bot.settings import AppSettings
from bot.slack.app import make_client
from bot.store.db import Store
from bot.store.watch import WatchStore
from checks.net.services import Services
from checks.settings import Settings, SettingsError

T = TypeVar("T")
SIGNALS = (signal.SIGINT, signal.SIGTERM)


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    """The `digest` arguments (the shared engine flags are already on `parser`)."""
    parser.description = "Check every watched domain of each due schedule and post the digest."
    parser.add_argument(
        "--once", action="store_true", help="run the due digests now and exit (for cron)"
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how often to look for due digests when looping (default: 60)",
    )
    parser.add_argument("--channel", metavar="C", help="only this channel's digest (an id: C…)")
    parser.add_argument("--team", metavar="T", help="with --channel: the workspace (T…)")
    parser.add_argument(
        "--force", action="store_true", help="with --channel: post its digest now, due or not"
    )
    parser.add_argument(
        "--grace",
        type=int,
        metavar="MINUTES",
        help="how long a failed digest is retried (env MXBOT_DIGEST_GRACE; default: 45 min "
        "hourly, 4 h daily, 12 h weekly; never past the next one)",
    )
    parser.set_defaults(handler=run)


async def run(args: argparse.Namespace, settings: AppSettings | Settings) -> int:
    """Run due digests once (`--once`) or until SIGINT/SIGTERM."""
    config = _app_settings(settings)
    if not (config.bot_token or config.multi_workspace):
        raise SettingsError(
            "set SLACK_BOT_TOKEN (one workspace) or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (OAuth)"
        )
    interval = float(getattr(args, "interval", 60.0))
    if not 1 <= interval <= 86400:
        raise SettingsError("--interval: use a number of seconds between 1 and 86400")
    grace = _grace(getattr(args, "grace", None), config)
    if getattr(args, "force", False) and not (args.once and args.channel):
        raise UsageError("--force posts one channel's digest now: use it with --once --channel C")
    store = Store(config.database_url, client_id=config.client_id)
    try:
        await asyncio.to_thread(store.create_all)  # the schema upgraded first, under a lock
        watch_store = watch_store_for(config, store, create=False)
        job = _Once(
            args,
            watch_store,
            make_runner(config.engine),
            clients_for(config, store),
            make_look(config.engine),
        )
        if args.once:
            return await job.run(grace)
        await interruptible(_loops(job, interval, grace))
        return EXIT_OK
    except SQLAlchemyError as exc:  # the database is down or unreachable: say so in one line
        return _fail(f"database error: {_first_line(exc)}")
    finally:
        store.close()


async def _loops(job: _Once, interval: float, grace: timedelta | None) -> None:
    """`digest` without `--once`: digests (and alerts between them) every `interval`, follow-ups
    every few seconds."""
    owner = owner_id()
    await asyncio.gather(
        loop(
            store=job.store,
            engine_runner=job.runner,
            client_for_team=job.clients,
            owner=owner,
            interval=interval,
            grace=grace,
            also=alert_pass(job.store, job.runner, job.clients),
        ),
        followup_loop(
            followups=job.store.followups,
            outbox=job.store.outbox,
            look=job.look,
            client_for_team=job.clients,
            owner=owner,
            interval=min(interval, FOLLOWUP_INTERVAL),
        ),
    )


class _Once:
    """`digest --once`: one pass (or one channel's digest now) and the due follow-ups, and its
    one-line verdict."""

    def __init__(
        self,
        args: argparse.Namespace,
        store: WatchStore,
        runner: EngineRunner,
        clients: ClientForTeam,
        look: Look,
    ) -> None:
        self.args = args
        self.store = store
        self.runner = runner
        self.clients = clients
        self.look = look
        self.followed = Tally()  # what the follow-ups of this pass posted

    async def run(self, grace: timedelta | None) -> int:
        tally, stopped_by = await interruptible(self._pass(grace))
        if stopped_by is not None:
            return _fail(
                f"stopped by {stopped_by.name}; what was due stays due for the next run",
                128 + stopped_by.value,
            )
        if tally is None:
            return EXIT_PROBLEM  # already said why
        waiting = await self.store.outbox.waiting(
            now=datetime.now(UTC), channel_id=self.args.channel
        )
        return _verdict(tally, waiting, self.followed)

    async def _pass(self, grace: timedelta | None) -> Tally | None:
        now, channel = datetime.now(UTC), self.args.channel
        if not self.args.force:
            tally = await run_due(
                store=self.store,
                engine_runner=self.runner,
                client_for_team=self.clients,
                now=now,
                owner=owner_id(),
                grace=grace,
                channel_id=channel,
            )
            self.followed = await run_due_followups(
                followups=self.store.followups,
                outbox=self.store.outbox,
                look=self.look,
                client_for_team=self.clients,
                now=datetime.now(UTC),
                owner=owner_id(),
                channel_id=channel,
            )
            if channel is None:  # alerts between digests are due too (cron runs this alone)
                tally.add(await alert_pass(self.store, self.runner, self.clients)(now))
            return tally
        schedules = await self.store.channel_schedules(channel, self.args.team)
        if len(schedules) != 1:
            _fail(
                f"channel {channel} watches no domains"
                if not schedules
                else f"channel {channel} has digests in several workspaces: name one with --team"
            )
            return None
        [schedule] = schedules
        made = await digest_now(
            store=self.store,
            engine_runner=self.runner,
            client_for_team=self.clients,
            team_id=schedule.team_id,
            channel_id=channel,
            now=now,
            owner=owner_id(),
        )
        if made is None:
            _fail(f"a digest of channel {channel} is being made right now by another instance")
        return made


def _verdict(tally: Tally, waiting: list[Waiting], followed: Tally | None = None) -> int:
    """One line: how many were posted; on stderr, and exit 1, when a due one was not (failed
    now, or still waiting for its retry)."""
    count = tally.posted + tally.found
    done = f"posted {count} digest{'s' if count != 1 else ''}"
    if tally.found:
        done += f" ({tally.found} by an earlier, interrupted run)"
    if followed is not None and (followed.posted or followed.found or followed.failed):
        ended = followed.posted + followed.found
        done += f" and {ended} follow-up{'s' if ended != 1 else ''}"
        tally = _merged(tally, followed)
    problems = tally.problems or [
        f"{describe(w.post)} waiting to be retried at {stamp(w.retry_at)}"
        + (f" (last: {w.reason})" if w.reason else "")
        for w in waiting
    ]
    if not problems:
        print(f"mxbot digest: {done}")
        return EXIT_OK
    failed = tally.failed or len(waiting)
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return _fail(f"{done}; {failed} not posted: {problems[0]}{more}")


def _merged(first: Tally, second: Tally) -> Tally:
    merged = Tally()
    merged.add(first)
    merged.add(second)
    return merged


def _fail(line: str, code: int = EXIT_PROBLEM) -> int:
    print(f"mxbot digest: {line}", file=sys.stderr)
    return code


async def interruptible(work: Coroutine[Any, Any, T]) -> tuple[T | None, signal.Signals | None]:
    """Run `work` until it ends or SIGTERM/SIGINT arrives; then cancel it (it releases what it
    holds on the way out) and name the signal."""
    task = asyncio.ensure_future(work)
    running = asyncio.get_running_loop()
    received: list[signal.Signals] = []

    def on_signal(sig: signal.Signals) -> None:
        received.append(sig)
        task.cancel()

    for sig in SIGNALS:
        running.add_signal_handler(sig, on_signal, sig)
    try:
        return await task, None
    except asyncio.CancelledError:
        if not received:
            raise
        return None, received[0]
    finally:
        for sig in SIGNALS:
            running.remove_signal_handler(sig)


def start_scheduler(
    config: AppSettings,
    store: Store,
    *,
    metrics: Metrics | None = None,
    interval: float = 60.0,
    client: Any = None,
    watch_store: WatchStore | None = None,
    services: Services | None = None,
) -> asyncio.Task[None]:
    """The digest loop as a background task beside the app (cancel it at shutdown: the digest
    being made stays due, a post in flight is handed back to be looked for).

    Creates the watch tables in `store`'s database unless `watch_store` is given. `client` (one
    workspace only) reuses the app's Web API client; by default one is made from the settings.
    `services` are the app's, so digests and reports share one prober (and its politeness).
    """
    if watch_store is None:
        watch_store = watch_store_for(config, store)
    clients = single_team(client) if client is not None else clients_for(config, store)
    runner = make_runner(config.engine, services=services)
    return asyncio.create_task(
        loop(
            store=watch_store,
            engine_runner=runner,
            client_for_team=clients,
            owner=owner_id(),
            interval=interval,
            metrics=metrics,
            grace=_grace(None, config),
            also=alert_pass(watch_store, runner, clients, metrics=metrics),
        ),
        name="mxbot-digests",
    )


def start_followups(
    config: AppSettings,
    store: Store,
    *,
    watch_store: WatchStore,
    metrics: Metrics | None = None,
    interval: float = FOLLOWUP_INTERVAL,
    client: Any = None,
) -> asyncio.Task[None]:
    """The follow-up loop ("tell me when it's live") as a background task beside the app (cancel
    it at shutdown: the follow-up being looked at stays due, a post in flight is handed back)."""
    clients = single_team(client) if client is not None else clients_for(config, store)
    return asyncio.create_task(
        followup_loop(
            followups=watch_store.followups,
            outbox=watch_store.outbox,
            look=make_look(config.engine),
            client_for_team=clients,
            owner=owner_id(),
            interval=interval,
            metrics=metrics,
        ),
        name="mxbot-followups",
    )


def watch_store_for(config: AppSettings, store: Store, *, create: bool = True) -> WatchStore:
    """The watch-lists in `store`'s database, with the configured history retention and alert
    cadence; the schema brought to the newest revision first unless `create` is False."""
    if create:
        store.create_all()
    return WatchStore(
        store.engine, history_keep=config.history_keep, alert_interval=config.alert_interval
    )


def alert_pass(
    store: WatchStore,
    runner: EngineRunner,
    clients: ClientForTeam,
    *,
    metrics: Metrics | None = None,
) -> Callable[[datetime], Awaitable[Tally]]:
    """One pass of alerts between digests (`bot.digest.watchdog.run_alerts`), at a given time."""

    def run_at(now: datetime) -> Awaitable[Tally]:
        return run_alerts(
            store=store,
            engine_runner=runner,
            client_for_team=clients,
            now=now,
            owner=owner_id(),
            metrics=metrics,
        )

    return run_at


def on_demand(
    config: AppSettings,
    store: Store,
    watch_store: WatchStore,
    *,
    metrics: Metrics | None = None,
    services: Services | None = None,
    client: Any = None,
) -> DigestNow:
    """`/mx digest now` for the Slack app: a channel's digest now, through the one delivery
    path; None when the channel has none or one is being made."""
    runner = make_runner(config.engine, services=services)
    clients = single_team(client) if client is not None else clients_for(config, store)

    def now_for(team_id: str, channel_id: str) -> Awaitable[Tally | None]:
        return digest_now(
            store=watch_store,
            engine_runner=runner,
            client_for_team=clients,
            team_id=team_id,
            channel_id=channel_id,
            now=datetime.now(UTC),
            owner=owner_id(),
            metrics=metrics,
        )

    return now_for


def clients_for(config: AppSettings, store: Store) -> ClientForTeam:
    """Installed workspaces' bot tokens (OAuth), or the one SLACK_BOT_TOKEN."""
    if config.multi_workspace:
        return installed_teams(
            store.installation_store, lambda token: make_client(config, token=token)
        )
    return single_team(make_client(config, token=config.bot_token.reveal() or None))


def owner_id() -> str:
    """Who holds a lease: host, process and a random part (two loops in one process differ)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _grace(minutes: int | None, config: AppSettings) -> timedelta | None:
    """--grace, else MXBOT_DIGEST_GRACE; None: by cadence (`bot.digest.delivery.grace_for`)."""
    chosen = minutes if minutes is not None else config.digest_grace_minutes
    if chosen and not 1 <= chosen <= 7 * 24 * 60:
        raise SettingsError("--grace: use a number of minutes between 1 and 10080 (a week)")
    return timedelta(minutes=chosen) if chosen else None


def _first_line(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0]}" if lines else type(cause).__name__


def _app_settings(settings: AppSettings | Settings) -> AppSettings:
    """The CLI hands over engine settings (with its flags applied); add the Slack ones."""
    if isinstance(settings, AppSettings):
        return settings
    return replace(AppSettings.from_env(os.environ), engine=settings)
