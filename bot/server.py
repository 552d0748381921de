"""HTTP mode (Bolt's aiohttp adapter) and Socket Mode for the Slack app.

HTTP routes: `POST /slack/events` (events, commands, interactivity), `GET /slack/install` and
`GET /slack/oauth_redirect` (multi-workspace OAuth only), `GET /healthz`, `GET /metrics`.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from sqlalchemy import text

from bot.metrics import CONTENT_TYPE, Metrics
from bot.store import Store

EVENTS_PATH = "/slack/events"


def build_web_app(app: AsyncApp, *, metrics: Metrics, store: Store) -> web.Application:
    """The aiohttp application serving `app` plus health and metrics endpoints."""

    async def events(request: web.Request) -> web.Response:
        response = await app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    async def oauth(request: web.Request) -> web.Response:
        flow = app.oauth_flow
        if flow is None:
            raise web.HTTPNotFound(text="This app is installed with a single bot token.")
        bolt_request = await to_bolt_request(request)
        if request.path == flow.install_path:
            response = await flow.handle_installation(bolt_request)
        else:
            response = await flow.handle_callback(bolt_request)
        return await to_aiohttp_response(response)

    async def healthz(request: web.Request) -> web.Response:
        await asyncio.to_thread(_ping, store)
        return web.Response(text="ok\n")

    async def metrics_endpoint(request: web.Request) -> web.Response:
        return web.Response(body=metrics.render().encode(), headers={"Content-Type": CONTENT_TYPE})

    web_app = web.Application()
    web_app.add_routes(
        [
            web.post(EVENTS_PATH, events),
            web.get("/slack/install", oauth),
            web.get("/slack/oauth_redirect", oauth),
            web.get("/healthz", healthz),
            web.get("/metrics", metrics_endpoint),
        ]
    )
    return web_app


async def start_http(web_app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start serving; returns the runner (for cleanup) and the bound port (for port 0)."""
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = site._server  # aiohttp exposes the bound sockets only here
    sockets = getattr(server, "sockets", None) or []
    bound = sockets[0].getsockname()[1] if sockets else port
    return runner, int(bound)


def socket_handler(app: AsyncApp, app_token: str) -> AsyncSocketModeHandler:
    """Socket Mode over the app-level token; uses the app's Web API client (and its base URL)."""
    return AsyncSocketModeHandler(app, app_token, web_client=app.client)


def _ping(store: Store) -> None:
    with store.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
