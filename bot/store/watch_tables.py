"""The watch-list tables (their own `MetaData`), and how schedules, runs and times map to rows.

Times are stored as naive UTC: SQLite keeps no time zone, and comparisons must agree.

Every table is under Alembic (`bot.store.migrate`, revisions in `bot/store/migrations/`): a new
table or column here needs a revision there too (`tests/bot/test_migrations.py` compares them).
Alert watches (`mxbot_alert`) and record history (`mxbot_record_history`) came with revision 0002.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.digest.schedule import Cadence, Schedule, When
from bot.digest.snapshot import DigestRun, snapshot_from_json
from checks.model import Status


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


class OutboxRow(WatchBase):
    """A scheduled post, from the intent to its end (`bot.digest.delivery`)."""

    __tablename__ = "mxbot_outbox"
    __table_args__ = (
        Index("ix_mxbot_outbox_due", "state", "next_attempt_at"),
        Index("ix_mxbot_outbox_schedule", "schedule_id", "state"),
    )

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    schedule_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # its mxbot_digest_run
    message: Mapped[str] = mapped_column(Text)  # JSON: text and blocks
    due_at: Mapped[datetime] = mapped_column(DateTime())
    expires_at: Mapped[datetime] = mapped_column(DateTime())
    state: Mapped[str] = mapped_column(String(10))  # bot.digest.delivery.PostState
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    attempt_started_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    in_doubt_since: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    ts: Mapped[str] = mapped_column(String(32), default="")  # Slack's, once posted or found
    reason: Mapped[str] = mapped_column(String(300), default="")  # the last error, or the end
    created_at: Mapped[datetime] = mapped_column(DateTime())
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)


class ScheduleStopRow(WatchBase):
    """A schedule Slack refuses to take posts for (channel archived, bot removed…), and why.

    Its digests stop until someone acts in the channel (`/mx watch`, `/mx digest now`); the
    watch-list is kept."""

    __tablename__ = "mxbot_schedule_stop"

    schedule_id: Mapped[int] = mapped_column(
        ForeignKey("mxbot_schedule.id", ondelete="CASCADE"), primary_key=True
    )
    reason: Mapped[str] = mapped_column(String(300))
    stopped_at: Mapped[datetime] = mapped_column(DateTime())


class AlertRow(WatchBase):
    """A watch that alerts between digests: its threshold, when it is checked next, who holds
    it, and where each condition stands (`bot.digest.alerts`, as JSON)."""

    __tablename__ = "mxbot_alert"
    __table_args__ = (Index("ix_mxbot_alert_due", "next_check_at"),)

    watch_id: Mapped[int] = mapped_column(
        ForeignKey("mxbot_watch.id", ondelete="CASCADE"), primary_key=True
    )
    team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    domain: Mapped[str] = mapped_column(String(255))
    threshold: Mapped[int] = mapped_column(Integer)  # consecutive runs before a transition
    next_check_at: Mapped[datetime] = mapped_column(DateTime())
    lease_owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    checked_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    state: Mapped[str] = mapped_column(Text, default="{}")  # `bot.digest.alerts.states_to_json`


class RecordRow(WatchBase):
    """One value a record had for a while: a new row only when it changes (`bot.digest.history`)."""

    __tablename__ = "mxbot_record_history"
    __table_args__ = (
        Index("ix_mxbot_record_history_key", "team_id", "domain", "kind", "subject"),
        Index("ix_mxbot_record_history_last_seen", "last_seen"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(32))
    domain: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32))  # a text fact's name: "spf.record", …
    subject: Mapped[str] = mapped_column(String(255))  # a DKIM selector, an MX host, or ""
    value: Mapped[str] = mapped_column(Text)  # "" when none was published
    first_seen: Mapped[datetime] = mapped_column(DateTime())
    last_seen: Mapped[datetime] = mapped_column(DateTime())


def write_when(row: ScheduleRow, when: When, now: datetime) -> None:
    """Store `when` in the row, due next at its first run after `now`."""
    row.cadence = when.cadence.value
    row.time_of_day = f"{when.hour:02d}:{when.minute:02d}"
    row.weekday = when.weekday if when.cadence is Cadence.WEEKLY else None
    row.next_run_at = naive(when.next_after(now))


def schedule_of(row: ScheduleRow) -> Schedule:
    """The row as a `Schedule`, its time aware UTC again."""
    hour, _, minute = row.time_of_day.partition(":")
    when = When(Cadence(row.cadence), int(hour), int(minute), row.weekday or 0)
    return Schedule(row.id, row.team_id, row.channel_id, when, aware(row.next_run_at))


def run_of(row: DigestRunRow) -> DigestRun:
    """The row as a `DigestRun`, its snapshot decoded."""
    return DigestRun(
        id=row.id,
        schedule_id=row.schedule_id,
        ran_at=aware(row.ran_at),
        status=Status(row.status),
        posted=bool(row.posted),
        snapshot=snapshot_from_json(row.snapshot),
    )


def naive(moment: datetime) -> datetime:
    """Naive UTC for the database (SQLite keeps no zone; comparisons must agree)."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def aware(moment: datetime) -> datetime:
    """A naive time read back from the database, as the UTC it was stored in."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
