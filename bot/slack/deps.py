"""What the Slack listeners share: their dependencies, and where a request came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.digest.delivery import DigestNow
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
    in_flight: InFlight = field(default_factory=InFlight)
    diagnose: DiagnoseMessage | None = None  # messages, headers, bounces (None: not offered)


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
