"""`mxbot serve [--port]` (HTTP mode) and `mxbot socket` (Socket Mode), for the CLI to register."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from bot.cli import digest as digest_command
from bot.cli.signals import until_signalled
from bot.exporter.probe import Prober
from bot.metrics import Metrics
from bot.settings import AppSettings
from bot.slack.app import build_app
from bot.slack.engine_binding import bind_diagnose, bind_engine, bind_live, bind_look
from bot.slack.inflight import InFlight
from bot.slack.server import build_web_app, connect_socket, socket_handler, start_http
from bot.store.db import Store
from bot.store.watch import WatchStore
from checks.net.services import Services, build_services
from checks.settings import Settings, SettingsError

log = logging.getLogger(__name__)


# A deploy sends SIGTERM; Heroku-style platforms allow ~30 s before SIGKILL.
SHUTDOWN_GRACE = 10.0


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    """`serve` (HTTP, with a port) or `socket` (Socket Mode, no arguments of its own)."""
    if command == "socket":
        parser.set_defaults(handler=run_socket)
        return
    parser.add_argument(
        "--port", type=int, default=None, help="listen port (default: $PORT or 3000)"
    )
    parser.add_argument("--host", default="0.0.0.0", help="listen address (default: all)")  # noqa: S104 -- a server
    parser.set_defaults(handler=run_serve)


def app_settings(settings: AppSettings | Settings) -> AppSettings:
    """The CLI hands over engine settings (with its flags applied); add the Slack ones."""
    if isinstance(settings, AppSettings):
        return settings
    return replace(AppSettings.from_env(os.environ), engine=settings)


async def run_serve(args: argparse.Namespace, settings: AppSettings | Settings) -> int:
    """HTTP mode until SIGINT/SIGTERM."""
    config = app_settings(settings)
    if not config.signing_secret:
        raise SettingsError("SLACK_SIGNING_SECRET is required for HTTP mode")
    if not (config.bot_token or config.multi_workspace):
        raise SettingsError(
            "set SLACK_BOT_TOKEN (one workspace) or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (OAuth)"
        )
    port = getattr(args, "port", None) or config.port
    parts = _build(config)
    runner, bound = await start_http(
        build_web_app(
            parts.app,
            metrics=parts.metrics,
            store=parts.store,
            prober=Prober(config.engine, parts.services),  # shares the app's SMTP lock and cache
            probe_token=config.probe_token.reveal(),
        ),
        args.host,
        port,
    )
    log.info("mxbot listening on %s:%s (events at /slack/events)", args.host, bound)
    if not config.probe_token:
        log.warning("GET /probe is open to anyone who reaches this server; set MXBOT_PROBE_TOKEN")
    await _serve_until_signalled(config, parts, close=runner.cleanup)
    return 0


async def run_socket(args: argparse.Namespace, settings: AppSettings | Settings) -> int:
    """Socket Mode until SIGINT/SIGTERM."""
    config = app_settings(settings)
    if not config.app_token:
        raise SettingsError(
            "SLACK_APP_TOKEN (xapp-…, with connections:write) is required for Socket Mode"
        )
    if not (config.bot_token or config.multi_workspace):
        raise SettingsError("SLACK_BOT_TOKEN is required")
    parts = _build(config)
    handler = socket_handler(parts.app, config.app_token.reveal())
    try:
        await connect_socket(handler, config.app_token.reveal())
    except BaseException:
        await handler.close_async()  # type: ignore[no-untyped-call]
        parts.store.close()
        raise
    log.info("mxbot connected over Socket Mode")
    await _serve_until_signalled(config, parts, close=handler.close_async)
    return 0


@dataclass(frozen=True)
class _Parts:
    """What one bot process runs on, built once and shared by the app and the digests (one SMTP
    prober, so one per-address lock and cache for /mx and digests alike)."""

    store: Store
    watch_store: WatchStore
    services: Services
    metrics: Metrics
    in_flight: InFlight
    app: Any


def _build(config: AppSettings) -> _Parts:
    store = Store(config.database_url, client_id=config.client_id)
    store.create_all()
    watch_store = digest_command.watch_store_for(config, store, create=False)
    services = build_services(config.engine)
    metrics = Metrics()
    in_flight = InFlight()
    app = build_app(
        config,
        engine=bind_engine(config.engine, services=services),
        diagnose=bind_diagnose(config.engine, services=services),
        live=bind_live(config.engine),
        look=bind_look(config.engine),
        store=store,
        metrics=metrics,
        watch_store=watch_store,
        in_flight=in_flight,
        digest_now=digest_command.on_demand(
            config, store, watch_store, metrics=metrics, services=services
        ),
    )
    return _Parts(store, watch_store, services, metrics, in_flight, app)


async def _serve_until_signalled(
    config: AppSettings, parts: _Parts, *, close: Callable[[], Awaitable[object]]
) -> None:
    """Digests and follow-ups beside the app until SIGINT/SIGTERM; then the same orderly
    shutdown in both modes: stop them (the digest being made and the follow-up being looked at
    stay due, a post in flight is handed back in doubt, every lease is freed), let reports and
    `/mx digest now` in flight finish (or say so), close the transport, then the store. Several
    instances share the digests and follow-ups through the database."""
    store, in_flight = parts.store, parts.in_flight
    client = None if config.multi_workspace else parts.app.client
    background = [
        digest_command.start_scheduler(
            config,
            store,
            metrics=parts.metrics,
            client=client,
            watch_store=parts.watch_store,
            services=parts.services,
        ),
        digest_command.start_followups(
            config, store, watch_store=parts.watch_store, metrics=parts.metrics, client=client
        ),
    ]
    try:
        await until_signalled()
    finally:
        for task in background:
            task.cancel()
        for task in background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await in_flight.drain(SHUTDOWN_GRACE)
        await close()
        store.close()
