"""What the Slack listeners share: their dependencies, and where a request came from."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.digest.delivery import DigestNow
from bot.digest.followup import Jitter, Look
from bot.metrics import Metrics
from bot.settings import AppSettings
from bot.slack.engine_binding import DiagnoseMessage, Plan, RunChecks, RunLive
from bot.slack.inflight import InFlight
from bot.slack.limits import RateLimiter, ReportGate
from bot.store.db import Store
from bot.store.watch import WatchStore


@dataclass
class Deps:
    """What the listeners need; built once by `bot.slack.app.build_app`."""

    settings: AppSettings
    engine: RunChecks
    store: Store
    plan: Plan
    metrics: Metrics
    user_limit: RateLimiter
    channel_limit: RateLimiter
    gate: ReportGate
    watch_store: WatchStore | None = None  # watch-lists and digests, when the app keeps them
    digest_now: DigestNow | None = None  # `/mx digest now`, when the app runs digests
    live: RunLive | None = None  # `/mx live`, when the app answers it
    look: Look | None = None  # "tell me when it's live" (with `watch_store`: where it is kept)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    jitter: Jitter = random.random  # spreading follow-ups' looks, not a secret
    in_flight: InFlight = field(default_factory=InFlight)
    diagnose: DiagnoseMessage | None = None  # messages, headers, bounces (None: not offered)

    @property
    def follows(self) -> bool:
        """Whether the app offers "tell me when it's live": it looks, and keeps follow-ups."""
        return self.look is not None and self.watch_store is not None


@dataclass(frozen=True, slots=True)
class Where:
    """Where a report goes and who asked for it."""

    team: str
    channel: str
    user: str
    thread_ts: str | None = None
    response_url: str | None = None


def where_from_action(body: dict[str, Any]) -> Where:
    """Where a button was clicked: a channel message, a thread, or an ephemeral message."""
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id", ""
    )
    message = body.get("message") or {}
    return Where(
        team=(body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id", ""),
        channel=channel,
        user=(body.get("user") or {}).get("id", ""),
        thread_ts=message.get("thread_ts") or (body.get("container") or {}).get("thread_ts"),
        response_url=body.get("response_url"),
    )


def thread_of(body: dict[str, Any]) -> str | None:
    """The thread a clicked message belongs to (or starts); None for an ephemeral message."""
    container = body.get("container") or {}
    message = body.get("message") or {}
    if container.get("is_ephemeral") or not (message or container.get("message_ts")):
        return None
    thread = (
        message.get("thread_ts")
        or container.get("thread_ts")
        or message.get("ts")
        or container.get("message_ts")
    )
    return str(thread) if thread else None
