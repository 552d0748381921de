"""Follow-ups ("tell me when it's live"), shared by every instance: added when a user asks,
claimed for one look at a time, and ended once, with their last post handed to the outbox.

Claiming is one conditional UPDATE, as for digest schedules (`bot.store.watch`): of several
instances, exactly one looks at a due follow-up, under a lease; a look whose process died is
taken over once the lease runs out. The follow-up's end (live, given up) and its post's intent
(`bot.store.outbox.add`) are one transaction, conditional on still holding the lease and on the
follow-up still running: it ends once, and a cancel that came first wins. The state machine is
`bot.digest.followup`; this module only stores it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.digest.delivery import Post
from bot.digest.followup import (
    KEEP_ENDED,
    LEASE,
    Followup,
    Request,
    State,
    active_key,
    records_to_json,
)
from bot.store import outbox
from bot.store.followup_tables import FollowupRow, followup_of
from bot.store.threads import in_thread
from bot.store.watch_tables import naive

_FOLLOWING = State.FOLLOWING.value


class Followups:
    """Follow-ups over one SQLAlchemy engine (the watch-lists' own, `WatchStore.followups`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @in_thread
    def add(self, request: Request) -> tuple[Followup, bool]:
        """Start following; (the follow-up, True), or (the one already following the same records
        in the same thread, False)."""
        at = naive(request.created_at)
        key = active_key(request)
        with Session(self.engine) as session:
            session.execute(
                delete(FollowupRow)
                .where(FollowupRow.state != _FOLLOWING)
                .where(FollowupRow.ended_at < at - KEEP_ENDED)
            )
            row = _row(request, key)
            session.add(row)
            try:
                session.commit()
            except IntegrityError:  # the same request a moment ago (here or on another instance)
                session.rollback()
                existing = session.scalar(select(FollowupRow).where(FollowupRow.active_key == key))
                if existing is None:
                    raise
                return followup_of(existing), False
            return followup_of(row), True

    @in_thread
    def get(self, followup_id: int) -> Followup | None:
        with Session(self.engine) as session:
            row = session.get(FollowupRow, followup_id)
            return followup_of(row) if row is not None else None

    @in_thread
    def claim_next(
        self, owner: str, *, now: datetime, lease: timedelta = LEASE, channel_id: str | None = None
    ) -> Followup | None:
        """The most overdue follow-up this owner won for one look, leased until `now + lease`."""
        at = naive(now)
        query = select(FollowupRow.id).where(_claimable(at))
        if channel_id is not None:
            query = query.where(FollowupRow.channel_id == channel_id)
        query = query.order_by(FollowupRow.next_look_at, FollowupRow.id).limit(20)
        with Session(self.engine) as session:
            candidates = list(session.scalars(query))
        for candidate in candidates:  # a lost race moves on to the next one
            if self._take(candidate, owner, at, lease):
                with Session(self.engine) as session:
                    row = session.get(FollowupRow, candidate)
                    if row is not None:
                        return followup_of(row)
        return None

    def _take(self, followup_id: int, owner: str, at: datetime, lease: timedelta) -> bool:
        # One statement, so the database decides which instance looks.
        statement = (
            update(FollowupRow)
            .where(FollowupRow.id == followup_id)
            .where(_claimable(at))
            .values(lease_owner=owner, lease_until=at + lease)
            .execution_options(synchronize_session=False)
        )
        with self.engine.begin() as connection:
            return _rowcount(connection.execute(statement)) == 1

    @in_thread
    def reschedule(
        self, followup_id: int, owner: str, *, next_look_at: datetime, looks: int, last: str
    ) -> bool:
        """Not live yet: look again at `next_look_at`; the lease is freed. False when this owner
        no longer held it."""
        values = {"next_look_at": naive(next_look_at), "looks": looks, "last": last}
        return self._held_update(followup_id, owner, values)

    @in_thread
    def release(self, followup_id: int, owner: str) -> None:
        """Give a claimed follow-up back (shutting down): it stays due for anyone."""
        self._held_update(followup_id, owner, {})

    @in_thread
    def finish(
        self,
        followup_id: int,
        owner: str,
        *,
        ending: State,
        post: Post,
        now: datetime,
        looks: int,
        last: str,
    ) -> bool:
        """End the follow-up and hand its last post to the outbox, in one transaction. False
        (nothing recorded, nothing to post) when this owner no longer held it or it was
        cancelled meanwhile."""
        values: dict[str, Any] = {
            **_ended(ending, now),
            "looks": looks,
            "last": last,
            "post_key": post.key,
        }
        with Session(self.engine) as session:
            if _rowcount(session.execute(_held(followup_id, owner).values(**values))) != 1:
                session.rollback()
                return False
            outbox.add(session, post, now=now)
            try:
                session.commit()
            except IntegrityError:  # its post is in the outbox already: end it all the same
                session.rollback()
                return self._held_update(followup_id, owner, values)
        return True

    @in_thread
    def cancel(
        self,
        team_id: str,
        channel_id: str,
        *,
        by: str,
        now: datetime,
        followup_id: int | None = None,
        domain: str | None = None,
    ) -> list[Followup]:
        """Stop the channel's follow-ups (one, or those of a domain); the ones this stopped."""
        query = select(FollowupRow.id).where(
            FollowupRow.team_id == team_id,
            FollowupRow.channel_id == channel_id,
            FollowupRow.state == _FOLLOWING,
        )
        if followup_id is not None:
            query = query.where(FollowupRow.id == followup_id)
        if domain is not None:
            query = query.where(FollowupRow.domain == domain)
        with Session(self.engine) as session:
            ids = list(session.scalars(query.order_by(FollowupRow.id)))
        return [f for i in ids if (f := self._cancel_one(i, by, now)) is not None]

    def _cancel_one(self, followup_id: int, by: str, now: datetime) -> Followup | None:
        statement = (
            update(FollowupRow)
            .where(FollowupRow.id == followup_id)
            .where(FollowupRow.state == _FOLLOWING)
            .values(**_ended(State.CANCELLED, now), ended_by=by[:32])
            .execution_options(synchronize_session=False)
        )
        with Session(self.engine) as session:
            if _rowcount(session.execute(statement)) != 1:  # it ended meanwhile
                session.rollback()
                return None
            session.commit()
            row = session.get(FollowupRow, followup_id)
            return followup_of(row) if row is not None else None

    @in_thread
    def following(self, team_id: str, channel_id: str) -> Sequence[Followup]:
        """The channel's follow-ups still running, oldest first."""
        query = (
            select(FollowupRow)
            .where(FollowupRow.team_id == team_id, FollowupRow.channel_id == channel_id)
            .where(FollowupRow.state == _FOLLOWING)
            .order_by(FollowupRow.id)
        )
        with Session(self.engine) as session:
            return [followup_of(row) for row in session.scalars(query)]

    def _held_update(self, followup_id: int, owner: str, values: dict[str, Any]) -> bool:
        freed = {"lease_owner": None, "lease_until": None, **values}
        statement = _held(followup_id, owner).values(**freed)
        with self.engine.begin() as connection:
            return _rowcount(connection.execute(statement)) == 1


def _row(request: Request, key: str) -> FollowupRow:
    return FollowupRow(
        team_id=request.team_id,
        channel_id=request.channel_id,
        thread_ts=request.thread_ts,
        user_id=request.user_id,
        domain=request.domain,
        records=records_to_json(request.records),
        serial=request.serial,
        state=_FOLLOWING,
        active_key=key,
        created_at=naive(request.created_at),
        next_look_at=naive(request.next_look_at),
        give_up_at=naive(request.give_up_at),
        looks=0,
        last="",
        ended_by="",
        post_key="",
    )


def _claimable(at: datetime) -> ColumnElement[bool]:
    """Following, due, and free or held by a look whose lease ran out (its process died)."""
    return and_(
        FollowupRow.state == _FOLLOWING,
        FollowupRow.next_look_at <= at,
        or_(FollowupRow.lease_until.is_(None), FollowupRow.lease_until < at),
    )


def _held(followup_id: int, owner: str) -> Any:
    """An UPDATE of a follow-up still running and leased to `owner`."""
    return (
        update(FollowupRow)
        .where(FollowupRow.id == followup_id)
        .where(FollowupRow.lease_owner == owner)
        .where(FollowupRow.state == _FOLLOWING)
        .execution_options(synchronize_session=False)
    )


def _ended(state: State, now: datetime) -> dict[str, Any]:
    return {
        "state": state.value,
        "active_key": None,
        "ended_at": naive(now),
        "lease_owner": None,
        "lease_until": None,
    }


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
