"""`mxbot digest [--once] [--interval SECONDS]`: post due watch-list digests now, or keep doing so.

`start_scheduler` is the same loop as a background task, for `mxbot serve` / `mxbot socket`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from bot.digest.scheduler import (
    ClientForTeam,
    installed_teams,
    loop,
    make_runner,
    run_due,
    single_team,
)
from bot.metrics import Metrics
from bot.settings import AppSettings
from bot.slack.app import make_client
from bot.store.db import Store
from bot.store.watch import WatchStore
from checks.net.services import Services
from checks.settings import Settings, SettingsError

EXIT_OK = 0


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
    store = Store(config.database_url, client_id=config.client_id)
    watch_store = WatchStore(store.engine)
    try:
        await asyncio.to_thread(store.create_all)
        await asyncio.to_thread(watch_store.create_all)
        clients = clients_for(config, store)
        runner = make_runner(config.engine)
        if args.once:
            posted = await run_due(
                store=watch_store,
                engine_runner=runner,
                client_for_team=clients,
                now=datetime.now(UTC),
                owner=owner_id(),
            )
            print(f"mxbot digest: posted {posted} digest{'s' if posted != 1 else ''}")
            return EXIT_OK
        stop = asyncio.Event()
        _on_signals(stop)
        await loop(
            store=watch_store,
            engine_runner=runner,
            client_for_team=clients,
            owner=owner_id(),
            interval=interval,
            stop=stop,
        )
        return EXIT_OK
    finally:
        store.close()


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
    """The digest loop as a background task beside the app (cancel it at shutdown).

    Creates the watch tables in `store`'s database unless `watch_store` is given. `client` (one
    workspace only) reuses the app's Web API client; by default one is made from the settings.
    `services` are the app's, so digests and reports share one prober (and its politeness).
    """
    if watch_store is None:
        watch_store = WatchStore(store.engine)
        watch_store.create_all()
    clients = single_team(client) if client is not None else clients_for(config, store)
    return asyncio.create_task(
        loop(
            store=watch_store,
            engine_runner=make_runner(config.engine, services=services),
            client_for_team=clients,
            owner=owner_id(),
            interval=interval,
            metrics=metrics,
        ),
        name="mxbot-digests",
    )


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


def _app_settings(settings: AppSettings | Settings) -> AppSettings:
    """The CLI hands over engine settings (with its flags applied); add the Slack ones."""
    if isinstance(settings, AppSettings):
        return settings
    return replace(AppSettings.from_env(os.environ), engine=settings)


def _on_signals(stop: asyncio.Event) -> None:
    running = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            running.add_signal_handler(sig, stop.set)
