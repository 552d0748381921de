"""Deliver the scheduled posts that are due: claim each from the outbox, make one attempt
(`bot.digest.courier`), record what follows (`bot.digest.delivery.after`), and say so. A post
that is dropped or stopped gets one log line and a metric, never silence; a retry is logged at
info level (it is expected) and counted.

Digests go through here today; alerts, recoveries and "it's live" follow-ups are posts like any
other: `Outbox.enqueue(Post(...))`, then the same `deliver_due`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Protocol

from slack_sdk.web.async_client import AsyncWebClient

from bot.digest import courier
from bot.digest.delivery import (
    POST_LEASE,
    Attempt,
    Delivery,
    Next,
    Outcome,
    PostState,
    Step,
    Tally,
    abandoned,
    after,
    describe,
    stamp,
    step,
)
from bot.metrics import Metrics

log = logging.getLogger(__name__)

ClientForTeam = Callable[[str], Awaitable[AsyncWebClient | None]]


class PostBox(Protocol):
    """What delivering needs of the database (`bot.store.outbox.Outbox`)."""

    async def claim(
        self,
        owner: str,
        *,
        now: datetime,
        lease: timedelta = ...,
        key: str | None = ...,
        channel_id: str | None = ...,
    ) -> Delivery | None: ...

    async def record(
        self, key: str, owner: str, outcome: Next, *, now: datetime, ts: str = ...
    ) -> bool: ...


async def deliver_due(
    outbox: PostBox,
    client_for_team: ClientForTeam,
    *,
    now: datetime,
    owner: str,
    metrics: Metrics | None = None,
    key: str | None = None,
    channel_id: str | None = None,
) -> Tally:
    """Attempt every due post once (or only `key`, or one channel's); what became of them."""
    tally = Tally()
    while True:
        claimed = await outbox.claim(
            owner, now=now, lease=POST_LEASE, key=key, channel_id=channel_id
        )
        if claimed is None:
            return tally
        tally.add(
            await deliver(outbox, claimed, client_for_team, now=now, owner=owner, metrics=metrics)
        )


async def deliver(
    outbox: PostBox,
    delivery: Delivery,
    client_for_team: ClientForTeam,
    *,
    now: datetime,
    owner: str,
    metrics: Metrics | None = None,
) -> Tally:
    """One attempt at a claimed post, its outcome recorded. Cancelled (a shutdown), the post is
    handed back in doubt: the request may have reached Slack, so the next attempt looks first."""
    post = delivery.post
    plan = step(delivery, now)
    try:
        made = await _attempt(delivery, plan, client_for_team, now)
    except asyncio.CancelledError:
        await asyncio.shield(
            outbox.record(post.key, owner, abandoned(delivery, started=now), now=now)
        )
        raise
    outcome = after(delivery, made, started=now, now=now)
    held = await outbox.record(post.key, owner, outcome, now=now, ts=made.ts)
    if not held:
        log.warning(
            "%s: another instance took it over before its outcome was recorded", describe(post)
        )
    return _account(delivery, made, outcome, metrics)


async def _attempt(
    delivery: Delivery, plan: Step, client_for_team: ClientForTeam, now: datetime
) -> Attempt:
    if plan is Step.DROP:
        return Attempt(Outcome.NOT_POSTED)
    client = await client_for_team(delivery.post.team_id)
    if client is None:
        return Attempt(Outcome.PERMANENT, "not_installed")
    return await courier.attempt(client, delivery, plan, now)


def _account(delivery: Delivery, made: Attempt, outcome: Next, metrics: Metrics | None) -> Tally:
    """Log, count and tally what one attempt came to."""
    post, tally = delivery.post, Tally()
    if made.error and metrics is not None:
        method = (
            "conversations.history" if made.outcome is Outcome.LOOKUP_FAILED else "chat.postMessage"
        )
        metrics.slack_error(method, made.error)
    match outcome.state:
        case PostState.POSTED if made.outcome is Outcome.FOUND:
            tally.found += 1
            log.info("%s was posted by an interrupted attempt (ts %s)", describe(post), made.ts)
        case PostState.POSTED:
            tally.posted += 1
        case PostState.PENDING:
            tally.retrying += 1
            retry = stamp(outcome.retry_at) if outcome.retry_at else "later"
            line = f"{describe(post)} not posted ({outcome.reason or 'in doubt'}); retrying at {retry}, until {stamp(post.expires_at)}"
            tally.problems.append(line)
            log.info("%s", line)
        case PostState.DROPPED:
            tally.dropped += 1
            line = f"{describe(post)} dropped after {delivery.attempt} attempt(s): {outcome.reason}"
            tally.problems.append(line)
            log.warning("%s", line)
        case PostState.STOPPED:
            tally.stopped += 1
            line = (
                f"{post.kind}s stopped for channel {post.channel_id} (team {post.team_id}): "
                f"{outcome.reason}; the watch-list is kept, and `/mx watch` or `/mx digest now` "
                "there starts them again"
            )
            tally.problems.append(line)
            log.error("%s", line)
    if metrics is not None:
        metrics.scheduled_post(post.kind, _outcome_name(made, outcome))
    return tally


def _outcome_name(made: Attempt, outcome: Next) -> str:
    """The metric's label: posted, found (posted earlier), retrying, dropped or stopped."""
    if made.outcome is Outcome.FOUND:
        return "found"
    return "retrying" if outcome.state is PostState.PENDING else outcome.state.value
