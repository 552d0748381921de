"""Watch-lists, digest schedules and digest history: which domains a channel watches, and when.

Three tables on their own `MetaData`, so they live beside `bot.store.db`'s in the same database
(SQLite by default, PostgreSQL for several instances). One synchronous SQLAlchemy engine, called
from the event loop through `bot.store.threads.in_thread`, as `bot.store.db` does.

Several instances may share the database: a due schedule is *claimed* with one conditional
UPDATE (`... WHERE next_run_at <= now AND lease is free`), and only the instance whose UPDATE
changed a row runs that digest. All times are stored as naive UTC (SQLite has no time zones).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import (
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from bot.digest.schedule import DEFAULT_LEASE, Cadence, Schedule, When
from bot.digest.snapshot import DigestRun, Snapshot, overall, snapshot_from_json, snapshot_to_json
from bot.store.db import create_tables
from bot.store.threads import in_thread
from checks.model import Status

MAX_WATCHES: Final = 50  # domains per channel; a digest of more would not fit one message
_CHANNEL_LOCK: Final = 0x6D78  # PostgreSQL advisory-lock namespace: one channel's watch-list


class WatchBase(DeclarativeBase):
    """The watch-list tables' own metadata (create them with `WatchStore.create_all`)."""


class WatchRow(WatchBase):
    __tablename__ = "mxbot_watch"
    __table_args__ = (UniqueConstraint("team_id", "channel_id", "domain"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    domain: Mapped[str] = mapped_column(String(255))
    added_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime())


class ScheduleRow(WatchBase):
    __tablename__ = "mxbot_schedule"
    __table_args__ = (
        UniqueConstraint("team_id", "channel_id"),
        Index("ix_mxbot_schedule_due", "next_run_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    cadence: Mapped[str] = mapped_column(String(8))  # hourly | daily | weekly
    time_of_day: Mapped[str] = mapped_column(String(5))  # HH:MM UTC (hourly: only MM counts)
    weekday: Mapped[int | None] = mapped_column(Integer, nullable=True)  # 0 = Monday
    next_run_at: Mapped[datetime] = mapped_column(DateTime())
    lease_owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)


class DigestRunRow(WatchBase):
    __tablename__ = "mxbot_digest_run"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    schedule_id: Mapped[int] = mapped_column(
        ForeignKey("mxbot_schedule.id", ondelete="CASCADE"), index=True
    )
    ran_at: Mapped[datetime] = mapped_column(DateTime())
    status: Mapped[str] = mapped_column(String(8))  # worst over every watched domain
    posted: Mapped[int] = mapped_column(Integer, default=1)  # 0 when Slack refused the post
    snapshot: Mapped[str] = mapped_column(Text)  # JSON: `bot.digest.snapshot.snapshot_to_json`


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

    def __init__(self, engine: Engine | str, *, max_watches: int = MAX_WATCHES) -> None:
        self._owns_engine = isinstance(engine, str)
        # Pre-ping, as `bot.store.db` does: a connection the server dropped is replaced, not used.
        self.engine: Engine = (
            create_engine(engine, pool_pre_ping=True) if isinstance(engine, str) else engine
        )
        self.max_watches = max_watches

    def create_all(self) -> None:
        """Create missing tables (idempotent; safe when several instances start at once)."""
        create_tables(self.engine, WatchBase.metadata)

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
                    created_at=_naive(now),
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
            gone = session.execute(
                delete(WatchRow)
                .where(*_channel(WatchRow, team_id, channel_id))
                .where(WatchRow.domain == domain)
            )
            left = session.scalar(
                select(func.count(WatchRow.id)).where(*_channel(WatchRow, team_id, channel_id))
            )
            if not left:
                ids = select(ScheduleRow.id).where(*_channel(ScheduleRow, team_id, channel_id))
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
                Watch(r.domain, r.added_by, _aware(r.created_at)) for r in session.scalars(query)
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
            return _schedule_of(row) if row is not None else None

    @in_thread
    def set_schedule(
        self, team_id: str, channel_id: str, when: When | None, *, now: datetime
    ) -> Schedule:
        """Set the channel's digest time; `None` keeps an existing one or sets the default."""
        for _ in range(2):  # a second pass when another instance created the row meanwhile
            with Session(self.engine, expire_on_commit=False) as session:
                row = session.scalar(
                    select(ScheduleRow).where(*_channel(ScheduleRow, team_id, channel_id))
                )
                if row is not None and when is None:
                    return _schedule_of(row)
                chosen = when or When()
                if row is None:
                    row = ScheduleRow(team_id=team_id, channel_id=channel_id)
                    session.add(row)
                row.cadence = chosen.cadence.value
                row.time_of_day = f"{chosen.hour:02d}:{chosen.minute:02d}"
                row.weekday = chosen.weekday if chosen.cadence is Cadence.WEEKLY else None
                row.next_run_at = _naive(chosen.next_after(now))
                try:
                    session.commit()
                except IntegrityError:
                    session.rollback()
                    continue
                return _schedule_of(row)
        raise RuntimeError(f"could not set the schedule of {team_id}/{channel_id}")

    @in_thread
    def claim_next(
        self, owner: str, *, now: datetime, lease: timedelta = DEFAULT_LEASE
    ) -> Schedule | None:
        """The most overdue schedule this owner won, leased to it until `now + lease`.

        One at a time, so a lease only has to outlast one digest, and instances sharing the
        database spread the due digests between them.
        """
        at = _naive(now)
        query = (
            select(ScheduleRow.id)
            .where(ScheduleRow.next_run_at <= at)
            .where(or_(ScheduleRow.lease_until.is_(None), ScheduleRow.lease_until < at))
            .order_by(ScheduleRow.next_run_at, ScheduleRow.id)
            .limit(20)
        )
        with Session(self.engine) as session:
            candidates = list(session.scalars(query))
        for schedule_id in candidates:  # lost races move on to the next candidate
            if WatchStore.claim.sync(self, schedule_id, owner, now=now, lease=lease):
                with Session(self.engine) as session:
                    row = session.get(ScheduleRow, schedule_id)
                    if row is not None:
                        return _schedule_of(row)
        return None

    @in_thread
    def claim(
        self, schedule_id: int, owner: str, *, now: datetime, lease: timedelta = DEFAULT_LEASE
    ) -> bool:
        """Atomically take one due schedule; False when it is not due or another holds it."""
        at = _naive(now)
        # One statement, so the database decides: of several instances racing for the same
        # schedule, exactly one UPDATE matches the row.
        statement = (
            update(ScheduleRow)
            .where(ScheduleRow.id == schedule_id)
            .where(ScheduleRow.next_run_at <= at)
            .where(or_(ScheduleRow.lease_until.is_(None), ScheduleRow.lease_until < at))
            .values(lease_owner=owner, lease_until=at + lease)
            .execution_options(synchronize_session=False)
        )
        with self.engine.begin() as connection:
            return _rowcount(connection.execute(statement)) == 1

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
            .values(next_run_at=_naive(next_run_at), lease_owner=None, lease_until=None)
            .execution_options(synchronize_session=False)
        )
        with Session(self.engine) as session:
            held = _rowcount(session.execute(release)) == 1
            if held and snapshot is not None:
                session.add(
                    DigestRunRow(
                        schedule_id=schedule_id,
                        ran_at=_naive(ran_at),
                        status=overall(snapshot).value,
                        posted=1 if posted else 0,
                        snapshot=snapshot_to_json(snapshot),
                    )
                )
            session.commit()
        return held

    @in_thread
    def release(self, schedule_id: int, owner: str) -> None:
        """Give a claimed schedule back unrun (shutting down): it stays due for anyone."""
        statement = (
            update(ScheduleRow)
            .where(ScheduleRow.id == schedule_id)
            .where(ScheduleRow.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
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
            if row is None:
                return None
            return DigestRun(
                id=row.id,
                schedule_id=row.schedule_id,
                ran_at=_aware(row.ran_at),
                status=Status(row.status),
                posted=bool(row.posted),
                snapshot=snapshot_from_json(row.snapshot),
            )


def _channel(
    table: type[WatchRow] | type[ScheduleRow], team_id: str, channel_id: str
) -> Sequence[Any]:
    return (table.team_id == team_id, table.channel_id == channel_id)


def _schedule_of(row: ScheduleRow) -> Schedule:
    hour, _, minute = row.time_of_day.partition(":")
    when = When(Cadence(row.cadence), int(hour), int(minute), row.weekday or 0)
    return Schedule(row.id, row.team_id, row.channel_id, when, _aware(row.next_run_at))


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _naive(moment: datetime) -> datetime:
    """Naive UTC for the database (SQLite keeps no zone; comparisons must agree)."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
