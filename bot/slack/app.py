"""Build the Bolt `AsyncApp` from settings, an engine and a store: the only place that creates one.

One workspace needs `SLACK_BOT_TOKEN` + `SLACK_SIGNING_SECRET`; with `SLACK_CLIENT_ID` and
`SLACK_CLIENT_SECRET` the app installs into many workspaces over OAuth, installations kept in
the store. Nothing happens at import time and nothing here touches the network.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.digest.delivery import DigestNow
from bot.digest.followup import Look
from bot.metrics import Metrics
from bot.settings import BOT_SCOPES, AppSettings
from bot.slack.deps import Deps
from bot.slack.engine_binding import DiagnoseMessage, Plan, RunChecks, RunLive, registry_plan
from bot.slack.inflight import InFlight
from bot.slack.limits import RateLimiter, ReportGate
from bot.slack.listeners import register
from bot.store.db import Store
from bot.store.watch import WatchStore


def make_client(settings: AppSettings, *, token: str | None = None) -> AsyncWebClient:
    """A Web API client on the configured host that waits out 429s (Retry-After) and retries resets."""
    return AsyncWebClient(
        token=token,
        base_url=settings.api_url,
        retry_handlers=[
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
            AsyncConnectionErrorRetryHandler(max_retry_count=1),
        ],
    )


def build_app(
    settings: AppSettings,
    *,
    engine: RunChecks,
    store: Store,
    client: AsyncWebClient | None = None,
    metrics: Metrics | None = None,
    plan: Plan = registry_plan,
    watch_store: WatchStore | None = None,
    in_flight: InFlight | None = None,
    diagnose: DiagnoseMessage | None = None,
    digest_now: DigestNow | None = None,
    live: RunLive | None = None,
    look: Look | None = None,
    clock: Callable[[], datetime] | None = None,
) -> AsyncApp:
    """The Slack app with every listener registered.

    Args:
        engine: runs the checks of a command (`bot.slack.engine_binding.bind_engine`, or a canned one).
        client: the Web API client; by default one on `settings.api_url` with retry handlers.
        plan: which checks a command will run, for the ⏳ rows of the progress message.
        digest_now: a channel's digest now (`/mx digest now`), when the app runs digests.
        live: answers `/mx live` (`bot.slack.engine_binding.bind_live`); without it, the app says
            that it does not follow changes.
        look: one look at records (`bot.slack.engine_binding.bind_look`): with `watch_store`, the
            app offers "tell me when it's live" (the follow-ups run in `bot.digest.follower`).
        clock: the time follow-ups start at (UTC; the system's by default).
    """
    metrics = metrics or Metrics()
    _quiet_token_warning()
    if settings.multi_workspace:
        client = client or make_client(settings)
        app = AsyncApp(
            client=client,
            signing_secret=settings.signing_secret.reveal(),
            installation_store=store.installation_store,
            oauth_settings=AsyncOAuthSettings(
                client_id=settings.client_id,
                client_secret=settings.client_secret.reveal(),
                scopes=list(BOT_SCOPES),
                installation_store=store.installation_store,
                state_store=store.state_store,
                authorization_url=settings.oauth_authorize_url,
            ),
        )
    else:
        client = client or make_client(settings, token=settings.bot_token.reveal() or None)
        app = AsyncApp(client=client, signing_secret=settings.signing_secret.reveal())
    gate = ReportGate(settings.max_concurrent_reports, settings.max_queued_reports)
    metrics.load = lambda: (gate.running, gate.waiting)
    deps = Deps(
        settings=settings,
        engine=engine,
        store=store,
        plan=plan,
        metrics=metrics,
        user_limit=RateLimiter(settings.user_reports_per_minute),
        channel_limit=RateLimiter(settings.channel_reports_per_minute),
        gate=gate,
        watch_store=watch_store,
        in_flight=in_flight if in_flight is not None else InFlight(),
        diagnose=diagnose,
        digest_now=digest_now,
        live=live,
        look=look,
    )
    if clock is not None:
        deps.clock = clock
    register(app, deps)
    return app


class _TokenUnusedFilter(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN itself and warns that it goes unused when we pass our own
    client (built with the same token and SLACK_API_URL): true, expected, and noise at every start."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "token` will be unused" not in record.getMessage()


def _quiet_token_warning() -> None:
    logger = logging.getLogger("slack_bolt.AsyncApp")
    if not any(isinstance(f, _TokenUnusedFilter) for f in logger.filters):
        logger.addFilter(_TokenUnusedFilter())
