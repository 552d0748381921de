"""The outbox: every scheduled post from its intent to its end, shared by every instance.

A post's row is written before Slack is asked (`add`, in the producer's transaction). Claiming an
attempt is one conditional UPDATE, as for schedules, so of several instances exactly one makes
each attempt; the claim leases the row (`POSTING`) until the attempt's outcome is recorded. A
`POSTING` row whose lease ran out belonged to a process that died mid-attempt: the next claim
marks it in doubt (since that attempt started), so the deliverer looks in Slack before posting.
The state machine itself is `bot.digest.delivery`; this module only stores it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, Engine, and_, case, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.digest.delivery import POST_LEASE, Delivery, Next, Post, PostState, Waiting
from bot.store.threads import in_thread
from bot.store.watch_tables import (
    DigestRunRow,
    OutboxRow,
    ScheduleStopRow,
    aware,
    naive,
)

KEEP_SETTLED: Final = timedelta(days=30)  # posted, dropped and stopped rows, then pruned
_SETTLED: Final = (PostState.POSTED, PostState.DROPPED, PostState.STOPPED)


class Outbox:
    """Scheduled posts over one SQLAlchemy engine (the watch-lists' own, `WatchStore.outbox`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @in_thread
    def enqueue(self, post: Post, *, now: datetime) -> bool:
        """Record the intent to post; False when a post with this key already exists."""
        with Session(self.engine) as session:
            add(session, post, now=now)
            try:
                session.commit()
            except IntegrityError:
                return False
        return True

    @in_thread
    def claim(
        self,
        owner: str,
        *,
        now: datetime,
        lease: timedelta = POST_LEASE,
        key: str | None = None,
        channel_id: str | None = None,
    ) -> Delivery | None:
        """The most overdue post this owner won for one attempt, leased until `now + lease`."""
        at = naive(now)
        query = select(OutboxRow.key).where(_claimable(at))
        if key is not None:
            query = query.where(OutboxRow.key == key)
        if channel_id is not None:
            query = query.where(OutboxRow.channel_id == channel_id)
        query = query.order_by(OutboxRow.due_at, OutboxRow.key).limit(20)
        with Session(self.engine) as session:
            candidates = list(session.scalars(query))
        for candidate in candidates:  # a lost race moves on to the next one
            if self._take(candidate, owner, at, lease):
                with Session(self.engine) as session:
                    row = session.get(OutboxRow, candidate)
                    if row is not None:
                        return delivery_of(row)
        return None

    def _take(self, key: str, owner: str, at: datetime, lease: timedelta) -> bool:
        # One statement, so the database decides. SET reads the row as it was: a crashed attempt
        # (POSTING) leaves the post in doubt since that attempt started.
        crashed = OutboxRow.state == PostState.POSTING.value
        statement = (
            update(OutboxRow)
            .where(OutboxRow.key == key)
            .where(_claimable(at))
            .values(
                state=PostState.POSTING.value,
                lease_owner=owner,
                lease_until=at + lease,
                attempts=OutboxRow.attempts + 1,
                attempt_started_at=at,
                in_doubt_since=case(
                    (
                        crashed,
                        func.coalesce(OutboxRow.in_doubt_since, OutboxRow.attempt_started_at),
                    ),
                    else_=OutboxRow.in_doubt_since,
                ),
            )
            .execution_options(synchronize_session=False)
        )
        with self.engine.begin() as connection:
            return _rowcount(connection.execute(statement)) == 1

    @in_thread
    def record(self, key: str, owner: str, outcome: Next, *, now: datetime, ts: str = "") -> bool:
        """Record an attempt's outcome and free the lease. A posted digest marks its run posted
        and resumes its schedule; a stopped one stops its schedule. False when this owner no
        longer held the post (its lease ran out and another instance took it)."""
        values: dict[str, Any] = {
            "state": outcome.state.value,
            "lease_owner": None,
            "lease_until": None,
            "reason": outcome.reason[:300],
            "in_doubt_since": naive(outcome.in_doubt_since) if outcome.in_doubt_since else None,
        }
        if outcome.retry_at is not None:
            values["next_attempt_at"] = naive(outcome.retry_at)
        if outcome.state in _SETTLED:
            values["settled_at"] = naive(now)
        if ts:
            values["ts"] = ts
        statement = (
            update(OutboxRow)
            .where(OutboxRow.key == key)
            .where(OutboxRow.lease_owner == owner)
            .where(OutboxRow.state == PostState.POSTING.value)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        with Session(self.engine) as session:
            if _rowcount(session.execute(statement)) != 1:
                session.rollback()
                return False
            row = session.get(OutboxRow, key)
            if row is not None and outcome.state is PostState.POSTED:
                _posted(session, row)
            session.commit()
            if row is not None and outcome.state is PostState.STOPPED and row.schedule_id:
                _stop(session, row.schedule_id, outcome.reason, now)
        return True

    @in_thread
    def state(self, key: str) -> PostState | None:
        with Session(self.engine) as session:
            found = session.scalar(select(OutboxRow.state).where(OutboxRow.key == key))
            return PostState(found) if found else None

    @in_thread
    def waiting(self, *, now: datetime, channel_id: str | None = None) -> list[Waiting]:
        """Posts due by `now`, not made yet and not being attempted: waiting for a retry."""
        query = (
            select(OutboxRow)
            .where(OutboxRow.state == PostState.PENDING.value)
            .where(OutboxRow.due_at <= naive(now))
            .order_by(OutboxRow.next_attempt_at, OutboxRow.key)
        )
        if channel_id is not None:
            query = query.where(OutboxRow.channel_id == channel_id)
        with Session(self.engine) as session:
            return [
                Waiting(delivery_of(row).post, aware(row.next_attempt_at), row.reason)
                for row in session.scalars(query)
            ]


def add(session: Session, post: Post, *, now: datetime, run_id: int | None = None) -> None:
    """Stage a post's row in `session` (the producer commits it with the rest of its work), and
    prune settled rows past keeping."""
    at = naive(now)
    session.execute(
        delete(OutboxRow)
        .where(OutboxRow.state.in_([s.value for s in _SETTLED]))
        .where(OutboxRow.settled_at < at - KEEP_SETTLED)
    )
    session.add(
        OutboxRow(
            key=post.key,
            kind=post.kind,
            team_id=post.team_id,
            channel_id=post.channel_id,
            schedule_id=post.schedule_id,
            run_id=run_id,
            message=json.dumps(dict(post.message), ensure_ascii=False),
            due_at=naive(post.due_at),
            expires_at=naive(post.expires_at),
            state=PostState.PENDING.value,
            next_attempt_at=at,
            attempts=0,
            ts="",
            reason="",
            created_at=at,
        )
    )


def supersede(session: Session, schedule_id: int, *, by: str, now: datetime) -> tuple[str, ...]:
    """Drop a schedule's older posts still waiting (unleased) for `by`, a newer one: a digest
    says more than the one before it. Returns their keys."""
    waiting = (
        (OutboxRow.schedule_id == schedule_id)
        & (OutboxRow.state == PostState.PENDING.value)
        & (OutboxRow.key != by)
    )
    keys = tuple(session.scalars(select(OutboxRow.key).where(waiting)))
    if keys:
        session.execute(
            update(OutboxRow)
            .where(waiting)
            .where(OutboxRow.key.in_(keys))
            .values(
                state=PostState.DROPPED.value,
                reason=f"superseded by {by}"[:300],
                settled_at=naive(now),
                in_doubt_since=None,
            )
            .execution_options(synchronize_session=False)
        )
    return keys


def forget_schedule(session: Session, schedule_ids: Sequence[int], *, now: datetime) -> None:
    """The channel stopped watching: its waiting posts are dropped, its stop is forgotten."""
    session.execute(
        update(OutboxRow)
        .where(OutboxRow.schedule_id.in_(schedule_ids))
        .where(OutboxRow.state == PostState.PENDING.value)
        .values(
            state=PostState.DROPPED.value,
            reason="the channel no longer watches any domain",
            settled_at=naive(now),
        )
        .execution_options(synchronize_session=False)
    )
    session.execute(delete(ScheduleStopRow).where(ScheduleStopRow.schedule_id.in_(schedule_ids)))


def delivery_of(row: OutboxRow) -> Delivery:
    post = Post(
        key=row.key,
        team_id=row.team_id,
        channel_id=row.channel_id,
        message=json.loads(row.message),
        due_at=aware(row.due_at),
        expires_at=aware(row.expires_at),
        kind=row.kind,
        schedule_id=row.schedule_id,
    )
    doubt = aware(row.in_doubt_since) if row.in_doubt_since else None
    return Delivery(post, row.attempts, doubt, row.reason)


def _claimable(at: datetime) -> ColumnElement[bool]:
    """Due and free, or held by an attempt whose lease ran out (its process died)."""
    return or_(
        and_(
            OutboxRow.state == PostState.PENDING.value,
            OutboxRow.next_attempt_at <= at,
        ),
        and_(
            OutboxRow.state == PostState.POSTING.value,
            OutboxRow.lease_until < at,
        ),
    )


def _posted(session: Session, row: OutboxRow) -> None:
    """A digest posted: its run becomes the baseline of the next, and its schedule runs again."""
    if row.run_id is not None:
        session.execute(
            update(DigestRunRow)
            .where(DigestRunRow.id == row.run_id)
            .values(posted=1)
            .execution_options(synchronize_session=False)
        )
    if row.schedule_id is not None:
        session.execute(
            delete(ScheduleStopRow).where(ScheduleStopRow.schedule_id == row.schedule_id)
        )


def _stop(session: Session, schedule_id: int, reason: str, now: datetime) -> None:
    """Stop a schedule (in its own transaction: another instance may stop it at once)."""
    if session.get(ScheduleStopRow, schedule_id) is not None:
        return
    session.add(
        ScheduleStopRow(schedule_id=schedule_id, reason=reason[:300], stopped_at=naive(now))
    )
    try:
        session.commit()
    except IntegrityError:
        session.rollback()


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
