"""Record history: each record value a watched domain had, from when it was first seen to when it
was last seen; a new row only when the value changes. Rows last seen longer ago than the
retention (`MXBOT_HISTORY_DAYS`) are pruned as new runs are recorded; a value still in place is
seen again at every run, so it is never pruned while the domain is watched.

History is kept per workspace and domain (the channels of one workspace watching one domain share
it), and its types are the digest's (`bot.digest.history`).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import Engine, Select, delete, func, select
from sqlalchemy.orm import Session

from bot.digest.history import DEFAULT_KEEP, Change, Observation
from bot.store.threads import in_thread
from bot.store.watch_tables import RecordRow, aware, naive

_DOMAIN_LOCK: Final = 0x6D79  # PostgreSQL advisory-lock namespace: one domain's history


class RecordHistory:
    """Record history over one SQLAlchemy engine (the watch-lists', `WatchStore.history`)."""

    def __init__(self, engine: Engine, *, keep: timedelta = DEFAULT_KEEP) -> None:
        self.engine = engine
        self.keep = keep

    @in_thread
    def record(
        self, team_id: str, domain: str, observation: Observation, *, now: datetime
    ) -> list[Change]:
        """Record what a run saw; the changes it made (a first value has `before` None)."""
        at = naive(now)
        changes: list[Change] = []
        with Session(self.engine) as session:
            self._lock(session, team_id, domain)
            session.execute(delete(RecordRow).where(RecordRow.last_seen < at - self.keep))
            current = _latest(session.scalars(_rows(team_id, [domain])))
            seen = {(s.kind, s.subject): s.value for s in observation.seen}
            for kind, subject in current:  # gone from a whole look: ""
                if (kind, subject) not in seen and subject and kind in observation.complete:
                    seen[(kind, subject)] = ""
            for (kind, subject), value in seen.items():
                row = current.get((kind, subject))
                if row is not None and row.value == value:
                    row.last_seen = at
                    continue
                if row is None and value == "" and subject:
                    continue  # a subject never seen, gone: nothing to say
                session.add(
                    RecordRow(
                        team_id=team_id,
                        domain=domain,
                        kind=kind,
                        subject=subject,
                        value=value,
                        first_seen=at,
                        last_seen=at,
                    )
                )
                before = row.value if row is not None else None
                changes.append(Change(domain, kind, subject, before, value, now))
            session.commit()
        return changes

    def _lock(self, session: Session, team_id: str, domain: str) -> None:
        """On PostgreSQL, two runs recording one domain (two channels' digests) take turns, so a
        change is recorded once."""
        if self.engine.dialect.name == "postgresql":
            key = zlib.crc32(f"{team_id}/{domain}".encode()) - 2**31
            session.execute(select(func.pg_advisory_xact_lock(_DOMAIN_LOCK, key)))

    @in_thread
    def changes(self, team_id: str, domains: Sequence[str], *, since: datetime) -> list[Change]:
        """Values that replaced another after `since`, for these domains, oldest first."""
        with Session(self.engine) as session:
            every = _changes(session.scalars(_rows(team_id, domains)))
        return [c for c in every if c.before is not None and c.at > since]

    @in_thread
    def of(self, team_id: str, domain: str, *, limit: int = 50) -> list[Change]:
        """A domain's history, newest first: every change, and each record's first value."""
        with Session(self.engine) as session:
            every = _changes(session.scalars(_rows(team_id, [domain])))
        return every[::-1][:limit]


def _rows(team_id: str, domains: Sequence[str]) -> Select[RecordRow]:
    return (
        select(RecordRow)
        .where(RecordRow.team_id == team_id)
        .where(RecordRow.domain.in_(list(domains)))
        .order_by(RecordRow.first_seen, RecordRow.id)
    )


def _latest(rows: Iterable[RecordRow]) -> dict[tuple[str, str], RecordRow]:
    latest: dict[tuple[str, str], RecordRow] = {}
    for row in rows:  # oldest first: the last one per record is its current value
        latest[(row.kind, row.subject)] = row
    return latest


def _changes(rows: Iterable[RecordRow]) -> list[Change]:
    """Each row as a change from the row before it of the same record, oldest first."""
    before: dict[tuple[str, str, str], str] = {}
    out: list[Change] = []
    for row in rows:
        key = (row.domain, row.kind, row.subject)
        if before.get(key) == row.value:  # two runs raced (SQLite) to record one value: once
            continue
        out.append(
            Change(
                row.domain, row.kind, row.subject, before.get(key), row.value, aware(row.first_seen)
            )
        )
        before[key] = row.value
    return out
