"""Alerts between digests: claim each alerting watch that is due, check its domain, move its
conditions on (`bot.digest.alerts`), and hand any alert or recovery to the outbox, then deliver
them through the one delivery path (`bot.digest.dispatch`).

Several instances may run this against one database: a watch is claimed with one conditional
UPDATE, so one instance checks it; the posts are written with the new states in the transaction
that frees the lease, keyed by transition, so each is posted once. The check also records the
domain's record values (`bot.digest.history`), so history sees changes between digests too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Final, Protocol

from bot.digest.alerts import AlertWatch, Condition, State, advance, post_for, read
from bot.digest.delivery import Post, Tally
from bot.digest.dispatch import ClientForTeam, PostBox, deliver_due
from bot.digest.history import HistoryBox, observe
from bot.metrics import Metrics
from checks.model import Report

log = logging.getLogger(__name__)

CONCURRENCY: Final = 4  # domains checked at once in one pass

EngineRunner = Callable[[str], Awaitable[Report]]


class AlertBox(Protocol):
    """What alerting needs of its table (`bot.store.alerts.AlertBook`)."""

    async def claim_next(
        self, owner: str, *, now: datetime, lease: timedelta = ...
    ) -> AlertWatch | None: ...

    async def finish(
        self,
        watch_id: int,
        owner: str,
        *,
        states: Mapping[Condition, State] | None,
        posts: Sequence[Post],
        now: datetime,
    ) -> bool: ...

    async def release(self, watch_id: int, owner: str) -> None: ...


class AlertStore(Protocol):
    """The database, as alerting sees it (`bot.store.watch.WatchStore`)."""

    @property
    def alerts(self) -> AlertBox: ...

    @property
    def outbox(self) -> PostBox: ...

    @property
    def history(self) -> HistoryBox: ...


async def run_alerts(
    *,
    store: AlertStore,
    engine_runner: EngineRunner,
    client_for_team: ClientForTeam,
    now: datetime,
    owner: str,
    concurrency: int = CONCURRENCY,
    metrics: Metrics | None = None,
) -> Tally:
    """Check every alerting watch that is due, `concurrency` at a time, and deliver what that
    made; what came of the posts."""
    keys: list[str] = []
    while batch := await _claim(store.alerts, owner, now, concurrency):
        made = await asyncio.gather(*(_check(store, engine_runner, w, now, owner) for w in batch))
        keys.extend(key for posts in made for key in posts)
    tally = Tally()
    for key in keys:
        tally.add(
            await deliver_due(
                store.outbox, client_for_team, now=now, owner=owner, metrics=metrics, key=key
            )
        )
    return tally


async def _claim(alerts: AlertBox, owner: str, now: datetime, most: int) -> list[AlertWatch]:
    batch: list[AlertWatch] = []
    while len(batch) < most and (watch := await alerts.claim_next(owner, now=now)) is not None:
        batch.append(watch)
    return batch


async def _check(
    store: AlertStore, engine_runner: EngineRunner, watch: AlertWatch, now: datetime, owner: str
) -> list[str]:
    """One watch checked and recorded; the keys of the posts it made. A crash of the checks
    changes nothing (the watch is checked again next time); a shutdown leaves it due."""
    try:
        report = await engine_runner(watch.domain)
    except asyncio.CancelledError:
        await asyncio.shield(store.alerts.release(watch.watch_id, owner))
        raise
    except Exception:  # the engine reports its own errors; this is a bug
        log.exception("checks crashed for %s in an alert check", watch.domain)
        await store.alerts.finish(watch.watch_id, owner, states=None, posts=(), now=now)
        return []
    await store.history.record(watch.team_id, watch.domain, observe(report), now=now)
    states, transitions = advance(watch, read(report, now), now)
    posts = [post_for(watch, t, now) for t in transitions]
    if not await store.alerts.finish(watch.watch_id, owner, states=states, posts=posts, now=now):
        log.warning("alert check of %s: lease expired before it was recorded", watch.domain)
        return []
    for t in transitions:
        log.info(
            "%s for %s (%s) in channel %s",
            "alert" if t.alert else "recovery",
            watch.domain,
            t.condition.value,
            watch.channel_id,
        )
    return [p.key for p in posts]
