"""Watch-lists, digest schedules and digest history: which domains a channel watches, and when.

Their tables are on their own `MetaData` (`bot.store.watch_tables`), beside `bot.store.db`'s in the
same database (SQLite by default, PostgreSQL for several instances). One synchronous SQLAlchemy
engine, called from the event loop through `bot.store.threads.in_thread`, as `bot.store.db` does.
The schedule and snapshot types are the digest's (`bot.digest.schedule`, `bot.digest.snapshot`):
this package stores them, and `bot.digest` never imports it.

The follow-ups ("tell me when it's live", `bot.store.followups`, their table in
`bot.store.followup_tables`) live beside them, on the same metadata and engine.

Several instances may share the database: a due schedule is *claimed* with one conditional
UPDATE (`... WHERE next_run_at <= now AND lease is free`), and only the instance whose UPDATE
changed a row makes that digest. The digest is then handed to the outbox (`bot.store.outbox`) in
the same transaction that moves the schedule on (`enqueue_digest`): from there, the one delivery
path posts it. All times are stored as naive UTC (SQLite has no time zones).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import Engine, create_engine, delete, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.digest.alerts import DEFAULT_INTERVAL
from bot.digest.delivery import Post, Queued
from bot.digest.history import DEFAULT_KEEP
from bot.digest.schedule import DEFAULT_LEASE, Schedule, When
from bot.digest.snapshot import DigestRun, Snapshot, overall, snapshot_to_json
from bot.store import alerts, followups, outbox
from bot.store.alerts import AlertBook
from bot.store.history import RecordHistory
from bot.store.migrate import upgrade
from bot.store.threads import in_thread
from bot.store.watch_tables import (
    DigestRunRow,
    ScheduleRow,
    ScheduleStopRow,
    WatchRow,
    aware,
    naive,
    run_of,
    schedule_of,
    write_when,
)

MAX_WATCHES: Final = 50  # domains per channel; a digest of more would not fit one message
_CHANNEL_LOCK: Final = 0x6D78  # PostgreSQL advisory-lock namespace: one channel's watch-list


@dataclass(frozen=True, slots=True)
class Watch:
    domain: str
    added_by: str
    created_at: datetime


class AddOutcome(StrEnum):
    ADDED = "added"
    ALREADY = "already"
    FULL = "full"


class WatchStore:
    """Watch-lists, schedules and digest runs over one SQLAlchemy engine.

    Pass `bot.store.db.Store.engine` to share its database (and, for SQLite, its file), or a URL.
    """

    def __init__(
        self,
        engine: Engine | str,
        *,
        max_watches: int = MAX_WATCHES,
        history_keep: timedelta = DEFAULT_KEEP,
        alert_interval: timedelta = DEFAULT_INTERVAL,
    ) -> None:
        self._owns_engine = isinstance(engine, str)
        # Pre-ping, as `bot.store.db` does: a connection the server dropped is replaced, not used.
        self.engine: Engine = (
            create_engine(engine, pool_pre_ping=True) if isinstance(engine, str) else engine
        )
        self.max_watches = max_watches
        self.outbox = outbox.Outbox(self.engine)  # the scheduled posts, in the same database
        self.followups = followups.Followups(self.engine)  # "tell me when it's live"
        self.history = RecordHistory(self.engine, keep=history_keep)  # record values seen
        self.alerts = AlertBook(self.engine, interval=alert_interval)  # alerting watches

    def create_all(self) -> None:
        """Bring the database to the newest schema (`bot.store.migrate.upgrade`; idempotent, and
        safe when several instances start at once)."""
        upgrade(self.engine)

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()

    # ---- watch-lists -------------------------------------------------------------------------
    @in_thread
    def add_watch(
        self, team_id: str, channel_id: str, domain: str, *, user_id: str, now: datetime
    ) -> AddOutcome:
        with Session(self.engine) as session:
            self._lock_channel(session, team_id, channel_id)
            existing = session.scalar(
                select(WatchRow.id)
                .where(*_channel(WatchRow, team_id, channel_id))
                .where(WatchRow.domain == domain)
            )
            if existing is not None:
                return AddOutcome.ALREADY
            count = session.scalar(
                select(func.count(WatchRow.id)).where(*_channel(WatchRow, team_id, channel_id))
            )
            if (count or 0) >= self.max_watches:
                return AddOutcome.FULL
            session.add(
                WatchRow(
                    team_id=team_id,
                    channel_id=channel_id,
                    domain=domain,
                    added_by=user_id,
                    created_at=naive(now),
                )
            )
            try:
                session.commit()
            except IntegrityError:  # the same domain added at the same moment elsewhere
                return AddOutcome.ALREADY
        return AddOutcome.ADDED

    def _lock_channel(self, session: Session, team_id: str, channel_id: str) -> None:
        """On PostgreSQL, adds to one channel take turns until commit: otherwise two instances
        both count 49 domains and both add one, and the channel ends up over the limit."""
        if self.engine.dialect.name == "postgresql":
            key = zlib.crc32(f"{team_id}/{channel_id}".encode()) - 2**31  # into int4's range
            session.execute(select(func.pg_advisory_xact_lock(_CHANNEL_LOCK, key)))

    @in_thread
    def remove_watch(self, team_id: str, channel_id: str, domain: str) -> bool:
        """True when the domain was on the list. The last one gone takes the schedule with it."""
        with Session(self.engine) as session:
            alerts.forget(
                session,
                list(
                    session.scalars(
                        select(WatchRow.id)
                        .where(*_channel(WatchRow, team_id, channel_id))
                        .where(WatchRow.domain == domain)
                    )
                ),
            )
            gone = session.execute(
                delete(WatchRow)
                .where(*_channel(WatchRow, team_id, channel_id))
                .where(WatchRow.domain == domain)
            )
            left = session.scalar(
                select(func.count(WatchRow.id)).where(*_channel(WatchRow, team_id, channel_id))
            )
            if not left:
                ids = list(
                    session.scalars(
                        select(ScheduleRow.id).where(*_channel(ScheduleRow, team_id, channel_id))
                    )
                )
                outbox.forget_schedule(session, ids, now=datetime.now(UTC))
                session.execute(delete(DigestRunRow).where(DigestRunRow.schedule_id.in_(ids)))
                session.execute(
                    delete(ScheduleRow).where(*_channel(ScheduleRow, team_id, channel_id))
                )
            session.commit()
            return bool(_rowcount(gone))

    @in_thread
    def watches(self, team_id: str, channel_id: str) -> list[Watch]:
        query = (
            select(WatchRow)
            .where(*_channel(WatchRow, team_id, channel_id))
            .order_by(WatchRow.domain)
        )
        with Session(self.engine) as session:
            return [
                Watch(r.domain, r.added_by, aware(r.created_at)) for r in session.scalars(query)
            ]

    @in_thread
    def team_watches(self, team_id: str) -> dict[str, list[str]]:
        """Every channel's watched domains in a workspace (for App Home)."""
        query = (
            select(WatchRow.channel_id, WatchRow.domain)
            .where(WatchRow.team_id == team_id)
            .order_by(WatchRow.channel_id, WatchRow.domain)
        )
        out: dict[str, list[str]] = {}
        with Session(self.engine) as session:
            for channel, domain in session.execute(query):
                out.setdefault(channel, []).append(domain)
        return out

    # ---- schedules ---------------------------------------------------------------------------
    @in_thread
    def schedule(self, team_id: str, channel_id: str) -> Schedule | None:
        with Session(self.engine) as session:
            row = session.scalar(
                select(ScheduleRow).where(*_channel(ScheduleRow, team_id, channel_id))
            )
            return schedule_of(row) if row is not None else None

    @in_thread
    def set_schedule(
        self, team_id: str, channel_id: str, when: When | None, *, now: datetime
    ) -> Schedule:
        """Set the channel's digest time; `None` keeps an existing one or sets the default.

        Someone acted in the channel, so digests Slack refused there (`stop_reason`) go again."""
        for _ in range(2):  # a second pass when another instance created the row meanwhile
            with Session(self.engine, expire_on_commit=False) as session:
                row = session.scalar(
                    select(ScheduleRow).where(*_channel(ScheduleRow, team_id, channel_id))
                )
                if row is None:
                    row = ScheduleRow(team_id=team_id, channel_id=channel_id)
                    session.add(row)
                    write_when(row, when or When(), now)
                elif when is not None:
                    write_when(row, when, now)
                try:
                    session.flush()
                    session.execute(
                        delete(ScheduleStopRow).where(ScheduleStopRow.schedule_id == row.id)
                    )
                    session.commit()
                except IntegrityError:
                    session.rollback()
                    continue
                return schedule_of(row)
        raise RuntimeError(f"could not set the schedule of {team_id}/{channel_id}")

    @in_thread
    def channel_schedules(self, channel_id: str, team_id: str | None = None) -> list[Schedule]:
        """The schedules of a channel (one per workspace that has it), for `--channel`."""
        query = select(ScheduleRow).where(ScheduleRow.channel_id == channel_id)
        if team_id is not None:
            query = query.where(ScheduleRow.team_id == team_id)
        with Session(self.engine) as session:
            return [schedule_of(row) for row in session.scalars(query.order_by(ScheduleRow.id))]

    @in_thread
    def stop_reason(self, schedule_id: int) -> str | None:
        """Why Slack refuses this schedule's digests, or None when they run."""
        with Session(self.engine) as session:
            row = session.get(ScheduleStopRow, schedule_id)
            return row.reason if row is not None else None

    @in_thread
    def claim_next(
        self,
        owner: str,
        *,
        now: datetime,
        lease: timedelta = DEFAULT_LEASE,
        channel_id: str | None = None,
    ) -> Schedule | None:
        """The most overdue running schedule this owner won, leased to it until `now + lease`.

        One at a time, so a lease only has to outlast one digest, and instances sharing the
        database spread the due digests between them. Stopped schedules are left alone.
        """
        at = naive(now)
        stopped = exists().where(ScheduleStopRow.schedule_id == ScheduleRow.id)
        query = (
            select(ScheduleRow.id)
            .where(ScheduleRow.next_run_at <= at)
            .where(or_(ScheduleRow.lease_until.is_(None), ScheduleRow.lease_until < at))
            .where(~stopped)
            .order_by(ScheduleRow.next_run_at, ScheduleRow.id)
            .limit(20)
        )
        if channel_id is not None:
            query = query.where(ScheduleRow.channel_id == channel_id)
        with Session(self.engine) as session:
            candidates = list(session.scalars(query))
        for schedule_id in candidates:  # lost races move on to the next candidate
            if WatchStore.claim.sync(self, schedule_id, owner, now=now, lease=lease):
                with Session(self.engine) as session:
                    row = session.get(ScheduleRow, schedule_id)
                    if row is not None:
                        return schedule_of(row)
        return None

    @in_thread
    def claim(
        self,
        schedule_id: int,
        owner: str,
        *,
        now: datetime,
        lease: timedelta = DEFAULT_LEASE,
        due_only: bool = True,
    ) -> bool:
        """Atomically take one schedule; False when another holds it or (unless `due_only` is
        False: a digest asked for now) when it is not due."""
        at = naive(now)
        # One statement, so the database decides: of several instances racing for the same
        # schedule, exactly one UPDATE matches the row.
        statement = (
            update(ScheduleRow)
            .where(ScheduleRow.id == schedule_id)
            .where(or_(ScheduleRow.lease_until.is_(None), ScheduleRow.lease_until < at))
            .values(lease_owner=owner, lease_until=at + lease)
            .execution_options(synchronize_session=False)
        )
        if due_only:
            statement = statement.where(ScheduleRow.next_run_at <= at)
        with self.engine.begin() as connection:
            return _rowcount(connection.execute(statement)) == 1

    @in_thread
    def enqueue_digest(
        self,
        schedule_id: int,
        owner: str,
        *,
        ran_at: datetime,
        snapshot: Snapshot,
        post: Post,
        next_run_at: datetime | None,
    ) -> Queued:
        """Hand a made digest to the outbox, in one transaction: its run (posted once the
        outbox posts it), its post, the schedule moved on to `next_run_at` (None: left as it is,
        for a digest asked for now) and its lease freed. Not held: nothing is recorded."""
        values: dict[str, Any] = {"lease_owner": None, "lease_until": None}
        if next_run_at is not None:
            values["next_run_at"] = naive(next_run_at)
        release = (
            update(ScheduleRow)
            .where(ScheduleRow.id == schedule_id)
            .where(ScheduleRow.lease_owner == owner)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        with Session(self.engine) as session:
            if _rowcount(session.execute(release)) != 1:
                session.rollback()
                return Queued(held=False)
            run = DigestRunRow(
                schedule_id=schedule_id,
                ran_at=naive(ran_at),
                status=overall(snapshot).value,
                posted=0,  # until the outbox posts it: only posted runs are baselines
                snapshot=snapshot_to_json(snapshot),
            )
            session.add(run)
            session.flush()
            superseded = outbox.supersede(session, schedule_id, by=post.key, now=ran_at)
            outbox.add(session, post, now=ran_at, run_id=run.id)
            try:
                session.commit()
            except IntegrityError:  # this slot's post exists already (made by an earlier holder)
                session.rollback()
                WatchStore.release.sync(self, schedule_id, owner, next_run_at=next_run_at)
                return Queued(held=True)
        return Queued(held=True, superseded=superseded)

    @in_thread
    def finish(
        self,
        schedule_id: int,
        owner: str,
        *,
        ran_at: datetime,
        snapshot: Snapshot | None,
        posted: bool,
        next_run_at: datetime,
    ) -> bool:
        """Record the run (when there is a snapshot), move the schedule on and free the lease.

        False when this owner no longer held the lease (it expired and another took it).
        """
        release = (
            update(ScheduleRow)
            .where(ScheduleRow.id == schedule_id)
            .where(ScheduleRow.lease_owner == owner)
            .values(next_run_at=naive(next_run_at), lease_owner=None, lease_until=None)
            .execution_options(synchronize_session=False)
        )
        with Session(self.engine) as session:
            held = _rowcount(session.execute(release)) == 1
            if held and snapshot is not None:
                session.add(
                    DigestRunRow(
                        schedule_id=schedule_id,
                        ran_at=naive(ran_at),
                        status=overall(snapshot).value,
                        posted=1 if posted else 0,
                        snapshot=snapshot_to_json(snapshot),
                    )
                )
            session.commit()
        return held

    @in_thread
    def release(self, schedule_id: int, owner: str, *, next_run_at: datetime | None = None) -> None:
        """Give a claimed schedule back (shutting down: it stays due for anyone), or move it on
        to `next_run_at` when its digest is already made."""
        values: dict[str, Any] = {"lease_owner": None, "lease_until": None}
        if next_run_at is not None:
            values["next_run_at"] = naive(next_run_at)
        statement = (
            update(ScheduleRow)
            .where(ScheduleRow.id == schedule_id)
            .where(ScheduleRow.lease_owner == owner)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        with self.engine.begin() as connection:
            connection.execute(statement)

    @in_thread
    def last_run(self, schedule_id: int, *, posted_only: bool = True) -> DigestRun | None:
        """The latest run, by default the latest whose digest reached the channel."""
        query = select(DigestRunRow).where(DigestRunRow.schedule_id == schedule_id)
        if posted_only:
            query = query.where(DigestRunRow.posted == 1)
        query = query.order_by(DigestRunRow.ran_at.desc(), DigestRunRow.id.desc()).limit(1)
        with Session(self.engine) as session:
            row = session.scalar(query)
            return run_of(row) if row is not None else None


def _channel(
    table: type[WatchRow] | type[ScheduleRow], team_id: str, channel_id: str
) -> Sequence[Any]:
    return (table.team_id == team_id, table.channel_id == channel_id)


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
