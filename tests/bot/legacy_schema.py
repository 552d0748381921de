"""The database as the last release before migrations made it: its models, frozen here, and its
`create_all` (mxbot's tables, then slack-sdk's installation and OAuth state stores').

A copy of `bot/store/db.py` and `bot/store/watch_tables.py` at that release, so the migration
tests build the old schema the way it was really built, whatever the models become.
"""

from __future__ import annotations

from datetime import datetime

from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import DateTime, Engine, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class ReportRow(Base):
    __tablename__ = "mxbot_reports"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(32), index=True)
    channel_id: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(255))
    command: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(8))
    summary: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class ProcessedEvent(Base):
    __tablename__ = "mxbot_processed_events"

    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class WatchBase(DeclarativeBase):
    pass


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
    cadence: Mapped[str] = mapped_column(String(8))
    time_of_day: Mapped[str] = mapped_column(String(5))
    weekday: Mapped[int | None] = mapped_column(Integer, nullable=True)
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
    status: Mapped[str] = mapped_column(String(8))
    posted: Mapped[int] = mapped_column(Integer, default=1)
    snapshot: Mapped[str] = mapped_column(Text)


class OutboxRow(WatchBase):
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
    run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    message: Mapped[str] = mapped_column(Text)
    due_at: Mapped[datetime] = mapped_column(DateTime())
    expires_at: Mapped[datetime] = mapped_column(DateTime())
    state: Mapped[str] = mapped_column(String(10))
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    attempt_started_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    in_doubt_since: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    ts: Mapped[str] = mapped_column(String(32), default="")
    reason: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime())
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)


class ScheduleStopRow(WatchBase):
    __tablename__ = "mxbot_schedule_stop"

    schedule_id: Mapped[int] = mapped_column(
        ForeignKey("mxbot_schedule.id", ondelete="CASCADE"), primary_key=True
    )
    reason: Mapped[str] = mapped_column(String(300))
    stopped_at: Mapped[datetime] = mapped_column(DateTime())


def create_all(engine: Engine, client_id: str = "") -> None:
    """What `Store.create_all` and `WatchStore.create_all` did: every table, no version table."""
    installations = SQLAlchemyInstallationStore(client_id=client_id, engine=engine)
    states = SQLAlchemyOAuthStateStore(expiration_seconds=600, engine=engine)
    with engine.begin() as connection:
        for metadata in (Base.metadata, installations.metadata, states.metadata):
            metadata.create_all(connection)
        WatchBase.metadata.create_all(connection)
