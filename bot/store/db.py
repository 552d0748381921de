"""The app's database: Slack installations, report history and processed event ids.

One synchronous SQLAlchemy engine (SQLite file by default, any SQLAlchemy URL otherwise), used
from the event loop through `bot.store.threads.in_thread`, so the app needs no async driver.
Installations and OAuth states live in slack-sdk's own SQLAlchemy tables, wrapped for Bolt's
async API. Watch-lists keep their own tables in the same database (`bot.store.watch`). Every
table, slack-sdk's included, is created and changed by Alembic revisions (`bot.store.migrate`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import (
    DateTime,
    Engine,
    String,
    Text,
    create_engine,
    delete,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from bot.store.migrate import upgrade
from bot.store.threads import in_thread
from checks.model import Cause, CheckResult, Fact, Finding, Record, Report, Status

log = logging.getLogger(__name__)

EVENT_MEMORY = timedelta(hours=2)  # Slack retries within minutes; keep ids well beyond that
STATE_EXPIRY_SECONDS = 600


class Base(DeclarativeBase):
    pass


class ReportRow(Base):
    """One finished report, for App Home, the Details button and (later) digests."""

    __tablename__ = "mxbot_reports"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(32), index=True)
    channel_id: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(255))
    command: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(8))
    summary: Mapped[str] = mapped_column(Text)  # the Report as JSON
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class ProcessedEvent(Base):
    """Event ids already handled, so Slack's retries and duplicates never run twice."""

    __tablename__ = "mxbot_processed_events"

    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


@dataclasses.dataclass(frozen=True, slots=True)
class StoredReport:
    id: int
    team_id: str
    channel_id: str
    user_id: str
    target: str
    command: str
    status: Status
    created_at: datetime
    report: Report


class Store:
    """Report history, event dedupe and Slack installations over one SQLAlchemy engine."""

    def __init__(self, url: str, *, client_id: str = "") -> None:
        # Pre-ping: a pooled connection the server dropped (restart, failover, idle timeout) is
        # replaced on checkout instead of failing the next event, report or digest.
        self.engine: Engine = create_engine(url, pool_pre_ping=True)
        self._installations = SQLAlchemyInstallationStore(client_id=client_id, engine=self.engine)
        self._states = SQLAlchemyOAuthStateStore(
            expiration_seconds=STATE_EXPIRY_SECONDS, engine=self.engine
        )
        self.installation_store: AsyncInstallationStore = AsyncInstallations(self._installations)
        self.state_store: AsyncOAuthStateStore = AsyncStates(self._states)

    def create_all(self) -> None:
        """Bring the database to the newest schema (`bot.store.migrate.upgrade`): every table,
        ours, the watch-lists' and slack-sdk's, under Alembic; idempotent, and safe when several
        instances start at once."""
        upgrade(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    @in_thread
    def claim_event(self, event_id: str) -> bool:
        """True the first time an event id is seen; False for every retry or duplicate."""
        now = datetime.now(UTC)
        with Session(self.engine) as session:
            session.execute(
                delete(ProcessedEvent).where(ProcessedEvent.seen_at < now - EVENT_MEMORY)
            )
            session.add(ProcessedEvent(event_id=event_id, seen_at=now))
            try:
                session.commit()
            except IntegrityError:
                return False
        return True

    @in_thread
    def add_report(
        self, report: Report, *, team_id: str, channel_id: str, user_id: str, command: str
    ) -> int:
        row = ReportRow(
            team_id=team_id,
            channel_id=channel_id,
            user_id=user_id,
            target=report.domain,
            command=command,
            status=report.status.value,
            summary=report_to_json(report),
            created_at=datetime.now(UTC),
        )
        with Session(self.engine, expire_on_commit=False) as session:
            session.add(row)
            session.commit()
            return row.id

    @in_thread
    def get_report(self, report_id: int, *, team_id: str) -> StoredReport | None:
        """The report, only if it was run in this workspace."""
        with Session(self.engine) as session:
            row = session.get(ReportRow, report_id)
            if row is None or row.team_id != team_id:
                return None
            return _stored(row)

    @in_thread
    def recent_reports(self, team_id: str, limit: int = 10) -> list[StoredReport]:
        query = (
            select(ReportRow)
            .where(ReportRow.team_id == team_id)
            .order_by(ReportRow.created_at.desc(), ReportRow.id.desc())
            .limit(limit)
        )
        with Session(self.engine) as session:
            return [_stored(row) for row in session.scalars(query)]


def _stored(row: ReportRow) -> StoredReport:
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
    return StoredReport(
        id=row.id,
        team_id=row.team_id,
        channel_id=row.channel_id,
        user_id=row.user_id,
        target=row.target,
        command=row.command,
        status=Status(row.status),
        created_at=created,
        report=report_from_json(row.summary),
    )


def report_to_json(report: Report) -> str:
    return json.dumps(dataclasses.asdict(report), ensure_ascii=False)


def report_from_json(text: str) -> Report:
    data: dict[str, Any] = json.loads(text)
    results = tuple(
        CheckResult(
            id=r["id"],
            title=r["title"],
            findings=tuple(_finding(f) for f in r["findings"]),
            duration_ms=int(r["duration_ms"]),
        )
        for r in data["results"]
    )
    return Report(
        domain=data["domain"],
        results=results,
        duration_ms=int(data["duration_ms"]),
        display_name=data.get("display_name", ""),
        resolvers=tuple(data.get("resolvers", ())),
        headline=data.get("headline", ""),  # reports stored before the diagnosis have none
        cause=Cause(**data["cause"]) if data.get("cause") else None,
    )


def _finding(data: dict[str, Any]) -> Finding:
    record = data.get("record")
    return Finding(
        code=data["code"],
        status=Status(data["status"]),
        message=data["message"],
        fix=data.get("fix", ""),
        record=Record(**record) if record else None,
        evidence=tuple(data.get("evidence", ())),
        because=data.get("because", ""),
        facts=tuple(Fact(**fact) for fact in data.get("facts", ())),
    )


class AsyncInstallations(AsyncInstallationStore):
    """slack-sdk's SQLAlchemy installation store, for Bolt's async app (calls run in a thread)."""

    def __init__(self, store: SQLAlchemyInstallationStore) -> None:
        self._store = store

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_save(self, installation: Installation) -> None:
        await asyncio.to_thread(self._store.save, installation)

    async def async_save_bot(self, bot: Bot) -> None:
        await asyncio.to_thread(self._store.save_bot, bot)

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        return await asyncio.to_thread(
            self._store.find_bot,
            enterprise_id=enterprise_id,
            team_id=team_id,
            is_enterprise_install=is_enterprise_install,
        )

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        return await asyncio.to_thread(
            self._store.find_installation,
            enterprise_id=enterprise_id,
            team_id=team_id,
            user_id=user_id,
            is_enterprise_install=is_enterprise_install,
        )

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await asyncio.to_thread(
            self._store.delete_bot, enterprise_id=enterprise_id, team_id=team_id
        )

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        await asyncio.to_thread(
            self._store.delete_installation,
            enterprise_id=enterprise_id,
            team_id=team_id,
            user_id=user_id,
        )


class AsyncStates(AsyncOAuthStateStore):
    """slack-sdk's SQLAlchemy OAuth state store, for Bolt's async app."""

    def __init__(self, store: SQLAlchemyOAuthStateStore) -> None:
        self._store = store

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        return await asyncio.to_thread(self._store.issue)

    async def async_consume(self, state: str) -> bool:
        return await asyncio.to_thread(self._store.consume, state)
