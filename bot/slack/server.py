"""HTTP mode (Bolt's aiohttp adapter) and Socket Mode for the Slack app.

HTTP routes: `POST /slack/events` (events, commands, interactivity), `GET /slack/install` and
`GET /slack/oauth_redirect` (multi-workspace OAuth only), `GET /healthz`, `GET /metrics` (the app's
metrics), and `GET /probe` (one report as Prometheus series, `bot.exporter`) when given a prober.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from sqlalchemy import text

from bot.exporter.exposition import respond
from bot.exporter.http import probe_handler
from bot.exporter.probe import Prober
from bot.metrics import Metrics
from bot.store.db import Store
from checks.settings import SettingsError

EVENTS_PATH = "/slack/events"


def build_web_app(
    app: AsyncApp,
    *,
    metrics: Metrics,
    store: Store,
    prober: Prober | None = None,
    probe_token: str = "",
) -> web.Application:
    """The aiohttp application serving `app` plus health, metrics and (with `prober`) probes,
    behind `probe_token` when given (`bot.exporter.http.probe_handler`)."""

    async def events(request: web.Request) -> web.Response:
        response = await app.async_dispatch(await bolt_request(request))
        return await to_aiohttp_response(response)

    async def oauth(request: web.Request) -> web.Response:
        flow = app.oauth_flow
        if flow is None:
            raise web.HTTPNotFound(text="This app is installed with a single bot token.")
        bolt = await bolt_request(request)
        if request.path == flow.install_path:
            response = await flow.handle_installation(bolt)
        else:
            response = await flow.handle_callback(bolt)
        return await to_aiohttp_response(response)

    async def healthz(request: web.Request) -> web.Response:
        await asyncio.to_thread(_ping, store)
        return web.Response(text="ok\n")

    async def metrics_endpoint(request: web.Request) -> web.StreamResponse:
        return await respond(metrics.registry, request)

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
    if prober is not None:
        web_app.add_routes([web.get("/probe", probe_handler(prober, probe_token))])
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


async def bolt_request(request: web.Request) -> AsyncBoltRequest:
    """Bolt's view of an HTTP request, refusing what Bolt would choke on (500) or misread.

    Bodies over aiohttp's `client_max_size` (1 MiB) get 413 from `request.text()`. A garbled
    timestamp header gets 401 (Bolt's verifier would raise on it). A body that is not a JSON object
    or a form (with at most a JSON-object `payload`) gets 400. Bolt's own parser reads any form
    containing the letters "payload" (say, `/mx payloadcms.com`) as an empty body: the body is
    parsed here instead, and handed to Bolt with a context built from it.
    """
    timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
    if timestamp and not timestamp.isdigit():
        raise web.HTTPUnauthorized(text="bad request timestamp")
    try:
        raw = await request.text()  # 413 over the size limit
        return make_bolt_request(raw, request.content_type, request.query_string, request.headers)
    except ValueError:  # UnicodeDecodeError included
        raise web.HTTPBadRequest(text="malformed request body") from None


def make_bolt_request(
    raw: str, content_type: str, query: str, headers: Mapping[str, str]
) -> AsyncBoltRequest:
    """The request for Bolt; `ValueError` when the body is not something Slack sends."""
    body = parse_body(raw, content_type)
    try:
        bolt = AsyncBoltRequest(body=raw, query=query, headers=dict(headers))
    except (ValueError, RecursionError, AttributeError, TypeError, KeyError, IndexError) as exc:
        # Bolt reads ids out of the body before any signature check, assuming Slack's shapes.
        raise ValueError(f"Bolt cannot read this body: {type(exc).__name__}") from None
    if bolt.body != body:
        bolt.body = body
        bolt.context = build_async_context(AsyncBoltContext(), body)
    return bolt


def parse_body(raw: str, content_type: str) -> dict[str, Any]:
    """A JSON object (Events API), or a form whose `payload`, if any, is a JSON object."""
    if not raw:
        return {}
    body: Any
    try:
        if content_type == "application/json" or raw.startswith("{"):
            body = json.loads(raw)
        else:
            form = dict(parse_qsl(raw, keep_blank_values=True))
            body = json.loads(form["payload"]) if "payload" in form else form
    except RecursionError:  # deeply nested JSON
        raise ValueError("the request body nests too deeply") from None
    if not isinstance(body, dict):
        raise ValueError("the request body is not an object")
    return body


def socket_handler(app: AsyncApp, app_token: str) -> AsyncSocketModeHandler:
    """Socket Mode over the app-level token; uses the app's Web API client (and its base URL)."""
    return AsyncSocketModeHandler(app, app_token, web_client=app.client)


async def connect_socket(handler: AsyncSocketModeHandler, app_token: str) -> None:
    """Open the Socket Mode connection; `SettingsError` when Slack refuses the app token.

    slack-sdk would retry a refused token forever (a traceback every 10 s): the first websocket
    URL is asked for here, so a wrong token ends `mxbot socket` with a message instead.
    """
    try:
        response = await handler.client.web_client.apps_connections_open(app_token=app_token)
    except SlackApiError as exc:
        code = exc.response.get("error") or exc.response.status_code
        raise SettingsError(
            f"Slack refused SLACK_APP_TOKEN for Socket Mode ({code}): give the app-level token "
            "(xapp-…) with the connections:write scope"
        ) from None
    handler.client.wss_uri = str(response["url"])
    await handler.connect_async()  # type: ignore[no-untyped-call]


def _ping(store: Store) -> None:
    with store.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
