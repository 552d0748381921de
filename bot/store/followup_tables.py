"""The follow-ups' table ("tell me when it's live"), and how a row maps to a `Followup`.

A table of its own (`mxbot_followup`), on the watch-lists' metadata; the migration
`r0003_followups` creates it (and adopts one an unmigrated mxbot made). Times are naive UTC, as in
`bot.store.watch_tables`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.digest.followup import Followup, Request, State, records_from_json
from bot.store.watch_tables import WatchBase, aware


class FollowupRow(WatchBase):
    """One follow-up: who asked, where to answer, what it follows, and where it stands."""

    __tablename__ = "mxbot_followup"
    __table_args__ = (
        Index("ix_mxbot_followup_due", "state", "next_look_at"),
        Index("ix_mxbot_followup_channel", "team_id", "channel_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    thread_ts: Mapped[str] = mapped_column(String(32))  # the thread the answer goes to
    user_id: Mapped[str] = mapped_column(String(32))  # who asked (mentioned in the answer)
    domain: Mapped[str] = mapped_column(String(255))
    records: Mapped[str] = mapped_column(Text)  # JSON: `bot.digest.followup.records_to_json`
    serial: Mapped[int | None] = mapped_column(Integer, nullable=True)  # newest when asked
    state: Mapped[str] = mapped_column(String(10))  # bot.digest.followup.State
    # While following: one per thread and records (a double click adds nothing); NULL once ended.
    active_key: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime())
    next_look_at: Mapped[datetime] = mapped_column(DateTime())
    give_up_at: Mapped[datetime] = mapped_column(DateTime())
    looks: Mapped[int] = mapped_column(Integer, default=0)
    last: Mapped[str] = mapped_column(Text, default="")  # the last look's sentence
    lease_owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    ended_by: Mapped[str] = mapped_column(String(32), default="")  # who cancelled it
    post_key: Mapped[str] = mapped_column(String(200), default="")  # its last post's, in the outbox


def followup_of(row: FollowupRow) -> Followup:
    """The row as a `Followup`, its times aware UTC again."""
    request = Request(
        team_id=row.team_id,
        channel_id=row.channel_id,
        thread_ts=row.thread_ts,
        user_id=row.user_id,
        domain=row.domain,
        records=records_from_json(row.records),
        serial=row.serial,
        created_at=aware(row.created_at),
        next_look_at=aware(row.next_look_at),
        give_up_at=aware(row.give_up_at),
    )
    return Followup(row.id, request, State(row.state), row.looks, row.last)
