"""Alerting watches: which watched domains alert, on what threshold, when each is checked next,
and where its conditions stand (`bot.digest.alerts`).

A due watch is claimed like a digest schedule: one conditional UPDATE takes its lease, so of
several instances exactly one checks it. What the check made (the conditions' new states, the
alert or recovery posts) is written in one transaction with the lease released, and only while
the lease is still held; the posts go to the outbox (`bot.store.outbox`), keyed by transition, so
each is made once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Engine, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.digest.alerts import (
    DEFAULT_INTERVAL,
    AlertWatch,
    Condition,
    State,
    states_from_json,
    states_to_json,
)
from bot.digest.delivery import Post
from bot.store import outbox
from bot.store.threads import in_thread
from bot.store.watch_tables import AlertRow, OutboxRow, WatchRow, naive

ALERT_LEASE: Final = timedelta(minutes=5)  # one domain's checks take a minute at most


class AlertBook:
    """Alerting watches over one SQLAlchemy engine (the watch-lists', `WatchStore.alerts`)."""

    def __init__(self, engine: Engine, *, interval: timedelta = DEFAULT_INTERVAL) -> None:
        self.engine = engine
        self.interval = interval

    @in_thread
    def set(
        self, team_id: str, channel_id: str, domain: str, threshold: int, *, now: datetime
    ) -> bool:
        """Alert on this watched domain after `threshold` runs in a row (0: stop alerting).
        False when the domain is not on the channel's watch-list."""
        with Session(self.engine) as session:
            watch_id = session.scalar(
                select(WatchRow.id)
                .where(WatchRow.team_id == team_id, WatchRow.channel_id == channel_id)
                .where(WatchRow.domain == domain)
            )
            if watch_id is None:
                return False
            row = session.get(AlertRow, watch_id)
            if threshold <= 0:
                if row is not None:
                    session.delete(row)
            elif row is not None:
                row.threshold = threshold
            else:
                session.add(_new_row(watch_id, team_id, channel_id, domain, threshold, now))
            try:
                session.commit()
            except IntegrityError:  # turned on at the same moment elsewhere: it is on
                session.rollback()
        return True

    @in_thread
    def thresholds(self, team_id: str, channel_id: str) -> dict[str, int]:
        """The channel's alerting domains and their thresholds."""
        query = select(AlertRow.domain, AlertRow.threshold).where(
            AlertRow.team_id == team_id, AlertRow.channel_id == channel_id
        )
        with Session(self.engine) as session:
            return {domain: threshold for domain, threshold in session.execute(query)}

    @in_thread
    def claim_next(
        self, owner: str, *, now: datetime, lease: timedelta = ALERT_LEASE
    ) -> AlertWatch | None:
        """The most overdue alerting watch this owner won, leased until `now + lease`."""
        at = naive(now)
        query = (
            select(AlertRow.watch_id)
            .where(AlertRow.next_check_at <= at)
            .where(or_(AlertRow.lease_until.is_(None), AlertRow.lease_until < at))
            .order_by(AlertRow.next_check_at, AlertRow.watch_id)
            .limit(20)
        )
        with Session(self.engine) as session:
            candidates = list(session.scalars(query))
        for watch_id in candidates:  # a lost race moves on to the next one
            if self._take(watch_id, owner, at, lease):
                with Session(self.engine) as session:
                    row = session.get(AlertRow, watch_id)
                    if row is not None:
                        return _watch_of(row)
        return None

    def _take(self, watch_id: int, owner: str, at: datetime, lease: timedelta) -> bool:
        statement = (
            update(AlertRow)
            .where(AlertRow.watch_id == watch_id)
            .where(AlertRow.next_check_at <= at)
            .where(or_(AlertRow.lease_until.is_(None), AlertRow.lease_until < at))
            .values(lease_owner=owner, lease_until=at + lease)
            .execution_options(synchronize_session=False)
        )
        with self.engine.begin() as connection:
            return _rowcount(connection.execute(statement)) == 1

    @in_thread
    def finish(
        self,
        watch_id: int,
        owner: str,
        *,
        states: Mapping[Condition, State] | None,
        posts: Sequence[Post],
        now: datetime,
    ) -> bool:
        """Record a check (`states` None: it could not run, nothing changes), hand its posts to
        the outbox, free the lease and set the next check; all or nothing. False when this owner
        no longer held the watch (its lease ran out and another took it)."""
        values: dict[str, Any] = {
            "lease_owner": None,
            "lease_until": None,
            "next_check_at": naive(now + self.interval),
            "checked_at": naive(now),
        }
        if states is not None:
            values["state"] = states_to_json(states)
        release = (
            update(AlertRow)
            .where(AlertRow.watch_id == watch_id)
            .where(AlertRow.lease_owner == owner)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        with Session(self.engine) as session:
            if _rowcount(session.execute(release)) != 1:
                session.rollback()
                return False
            for post in posts:
                if session.get(OutboxRow, post.key) is None:  # made once, whoever made it
                    outbox.add(session, post, now=now)
            session.commit()
        return True

    @in_thread
    def release(self, watch_id: int, owner: str) -> None:
        """Give a claimed watch back unchecked (shutting down: it stays due for anyone)."""
        statement = (
            update(AlertRow)
            .where(AlertRow.watch_id == watch_id)
            .where(AlertRow.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
            .execution_options(synchronize_session=False)
        )
        with self.engine.begin() as connection:
            connection.execute(statement)


def forget(session: Session, watch_ids: Sequence[int]) -> None:
    """The watches are gone: so are their alerts (SQLite does not cascade by default)."""
    session.execute(delete(AlertRow).where(AlertRow.watch_id.in_(list(watch_ids))))


def _new_row(
    watch_id: int, team_id: str, channel_id: str, domain: str, threshold: int, now: datetime
) -> AlertRow:
    return AlertRow(
        watch_id=watch_id,
        team_id=team_id,
        channel_id=channel_id,
        domain=domain,
        threshold=threshold,
        next_check_at=naive(now),  # checked at the next pass
        state="{}",
    )


def _watch_of(row: AlertRow) -> AlertWatch:
    return AlertWatch(
        row.watch_id,
        row.team_id,
        row.channel_id,
        row.domain,
        row.threshold,
        states_from_json(row.state),
    )


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
