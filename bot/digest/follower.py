"""Run due follow-ups ("tell me when it's live"): claim one, look again at every name server and
resolver (`checks.live`), and end it with one post in its thread, through the outbox, when it is
live or when it gives up; otherwise look again later (`bot.digest.followup.decide`).

Several instances may run this against one database: a follow-up is claimed with one conditional
UPDATE (see `bot.store.followups`), so one instance looks at a time; its end and its post's intent
are one transaction, so it ends once, and the outbox's key (`live:T:C:thread:id:outcome`) makes the
post once, looked for in the thread after a crash like a digest in its channel. The store and the
Slack clients come from the caller, as for the digest scheduler.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot.digest.delivery import Post, Tally
from bot.digest.dispatch import ClientForTeam, PostBox, deliver_due
from bot.digest.followup import (
    LEASE,
    Decision,
    Followup,
    Jitter,
    Look,
    State,
    decide,
    post,
)
from bot.metrics import Metrics
from bot.render import followup as render
from bot.render.blocks import Message
from checks.live.result import LiveReport, Wanted
from checks.live.survey import survey
from checks.settings import Settings

log = logging.getLogger(__name__)

INTERVAL = 10.0  # seconds between passes beside the app: the shortest pause between looks is 15 s

Clock = Callable[[], datetime]


class FollowupStore(Protocol):
    """What following needs of the database (`bot.store.followups.Followups`)."""

    async def claim_next(
        self,
        owner: str,
        *,
        now: datetime,
        lease: timedelta = ...,
        channel_id: str | None = ...,
    ) -> Followup | None: ...

    async def reschedule(
        self, followup_id: int, owner: str, *, next_look_at: datetime, looks: int, last: str
    ) -> bool: ...

    async def release(self, followup_id: int, owner: str) -> None: ...

    async def finish(
        self,
        followup_id: int,
        owner: str,
        *,
        ending: State,
        post: Post,
        now: datetime,
        looks: int,
        last: str,
    ) -> bool: ...


def make_look(settings: Settings) -> Look:
    """`mxbot live`'s one look, bound to `settings`."""

    async def look(domain: str, wanted: Sequence[Wanted]) -> LiveReport:
        return await survey(domain, wanted, settings)

    return look


async def run_due_followups(
    *,
    followups: FollowupStore,
    outbox: PostBox,
    look: Look,
    client_for_team: ClientForTeam,
    now: datetime,
    owner: str,
    metrics: Metrics | None = None,
    jitter: Jitter = random.random,  # spreading looks, not a secret
    channel_id: str | None = None,
) -> Tally:
    """Look once at every due follow-up and post, through the outbox, for each that ended; then
    attempt every other post due again (one an instance could not finish: a retry, or one in
    doubt after a crash)."""
    tally = Tally()
    while (
        claimed := await followups.claim_next(owner, now=now, lease=LEASE, channel_id=channel_id)
    ) is not None:
        key = await _follow(followups, claimed, look, now=now, owner=owner, jitter=jitter)
        if key is not None:
            tally.add(
                await deliver_due(
                    outbox, client_for_team, now=now, owner=owner, metrics=metrics, key=key
                )
            )
    tally.add(
        await deliver_due(
            outbox, client_for_team, now=now, owner=owner, metrics=metrics, channel_id=channel_id
        )
    )
    return tally


async def _follow(
    followups: FollowupStore,
    followup: Followup,
    look: Look,
    *,
    now: datetime,
    owner: str,
    jitter: Jitter,
) -> str | None:
    """One look at a claimed follow-up, and what follows; the key of its last post, if it ended."""
    request = followup.request
    try:
        report: LiveReport | None = await look(request.domain, [f.wanted for f in request.records])
    except asyncio.CancelledError:  # shutting down: it stays due for another instance
        await asyncio.shield(followups.release(followup.id, owner))
        raise
    except Exception:  # a bug: logged; the follow-up looks again later (or gives up)
        log.exception("%s: the look failed", followup.where)
        report = None
    decision = decide(followup, report, now=now, jitter=jitter)
    looks, last = followup.looks + 1, report.sentence if report is not None else followup.last
    if decision.ending is None:
        assert decision.next_look_at is not None  # noqa: S101 -- decide gives one when going on
        if not await followups.reschedule(
            followup.id, owner, next_look_at=decision.next_look_at, looks=looks, last=last
        ):
            log.warning("%s: another instance took it over during the look", followup.where)
        return None
    ending = post(
        followup, decision.ending, _message(followup, decision, report, now, looks), now=now
    )
    if not await followups.finish(
        followup.id, owner, ending=decision.ending, post=ending, now=now, looks=looks, last=last
    ):
        log.info("%s: cancelled or taken over during the look; not posting", followup.where)
        return None
    log.info("%s: %s after %d looks", followup.where, decision.ending.value, looks)
    return ending.key


def _message(
    followup: Followup, decision: Decision, report: LiveReport | None, now: datetime, looks: int
) -> Message:
    request = followup.request
    if decision.ending is State.LIVE and report is not None:
        return render.render_live(
            report,
            asker=request.user_id,
            since=request.created_at,
            now=now,
            looks=looks,
            changed=[(f.wanted, f.answer) for f in decision.changed],
        )
    return render.render_gave_up(
        report,
        asker=request.user_id,
        domain=request.domain,
        last=followup.last,
        since=request.created_at,
        now=now,
        looks=looks,
    )


async def followup_loop(
    *,
    followups: FollowupStore,
    outbox: PostBox,
    look: Look,
    client_for_team: ClientForTeam,
    owner: str,
    interval: float = INTERVAL,
    clock: Clock | None = None,
    metrics: Metrics | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run due follow-ups every `interval` seconds until `stop` is set (or the task is cancelled:
    the follow-up being looked at stays due, a post in flight is handed back in doubt)."""
    clock = clock or (lambda: datetime.now(UTC))
    stop = stop or asyncio.Event()
    while not stop.is_set():
        try:
            await run_due_followups(
                followups=followups,
                outbox=outbox,
                look=look,
                client_for_team=client_for_team,
                now=clock(),
                owner=owner,
                metrics=metrics,
            )
        except Exception:  # a database hiccup must not end the loop
            log.exception("follow-up pass failed; retrying in %g s", interval)
        try:
            async with asyncio.timeout(interval):
                await stop.wait()
        except TimeoutError:
            pass
