"""Every table under Alembic: a new database gets the models' schema, a database the last release
made with `create_all` is adopted with every row kept, and instances upgrading together do it once,
on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from slack_sdk.oauth.installation_store import Installation
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import MetaData, create_engine, func, inspect, select, text
from sqlalchemy.orm import Session

from bot.digest.delivery import PostState
from bot.store import migrate
from bot.store.db import Base, Store, report_to_json
from bot.store.watch import WatchStore
from bot.store.watch_tables import WatchBase
from checks.model import CheckResult, Finding, Report, Status
from tests.bot import legacy_schema as old
from tests.bot.postgres_support import race

NOW = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]
LEGACY_TABLES = (
    "mxbot_reports",
    "mxbot_processed_events",
    "mxbot_watch",
    "mxbot_schedule",
    "mxbot_digest_run",
    "mxbot_outbox",
    "mxbot_schedule_stop",
    "slack_installations",
    "slack_bots",
    "slack_oauth_states",
)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mxbot.db'}"
    return str(request.getfixturevalue("pg_url"))


def naive(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None)


def model_metadata() -> MetaData:
    """Every table the running code expects: ours, the watch-lists', slack-sdk's stores'."""
    engine = create_engine("sqlite://")
    merged = MetaData()
    sources = (
        Base.metadata,
        WatchBase.metadata,
        SQLAlchemyInstallationStore(client_id="", engine=engine).metadata,
        SQLAlchemyOAuthStateStore(expiration_seconds=600, engine=engine).metadata,
    )
    for metadata in sources:
        for table in metadata.tables.values():
            table.to_metadata(merged)
    return merged


def schema_drift(url: str) -> list[Any]:
    """What Alembic's autogenerate would change to make the database match the models."""
    engine = create_engine(url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        drift = compare_metadata(context, model_metadata())
    engine.dispose()
    return list(drift)


def fill_legacy(url: str) -> dict[str, Any]:
    """The last release's database with a row in every table, written as it wrote them."""
    engine = create_engine(url)
    old.create_all(engine, client_id="111.222")
    report = Report(
        "a.example", (CheckResult("mx", "MX", (Finding("mx.ok", Status.PASS, "ok"),), 3),), 9
    )
    with Session(engine) as session:
        session.add(
            old.ReportRow(
                team_id="T1",
                channel_id="C1",
                user_id="U1",
                target="a.example",
                command="a.example",
                status="pass",
                summary=report_to_json(report),
                created_at=NOW,
            )
        )
        session.add(old.ProcessedEvent(event_id="Ev1", seen_at=datetime.now(UTC)))  # recent
        session.add(
            old.WatchRow(
                team_id="T1",
                channel_id="C1",
                domain="a.example",
                added_by="U1",
                created_at=naive(NOW),
            )
        )
        schedule = old.ScheduleRow(
            team_id="T1",
            channel_id="C1",
            cadence="hourly",
            time_of_day="00:00",
            weekday=None,
            next_run_at=naive(NOW + timedelta(minutes=30)),
        )
        session.add(schedule)
        session.flush()
        session.add(
            old.DigestRunRow(
                schedule_id=schedule.id, ran_at=naive(NOW), status="pass", posted=1, snapshot="[]"
            )
        )
        session.add(
            old.OutboxRow(
                key="digest:T1:C1:2024-05-01T08:00Z",
                kind="digest",
                team_id="T1",
                channel_id="C1",
                schedule_id=schedule.id,
                run_id=None,
                message=json.dumps({"text": "hi"}),
                due_at=naive(NOW),
                expires_at=naive(NOW + timedelta(hours=1)),
                state="pending",
                next_attempt_at=naive(NOW),
                attempts=1,
                ts="",
                reason="ratelimited",
                created_at=naive(NOW),
            )
        )
        session.add(
            old.ScheduleStopRow(
                schedule_id=schedule.id, reason="Slack said is_archived", stopped_at=naive(NOW)
            )
        )
        session.commit()
        schedule_id = schedule.id
    installations = SQLAlchemyInstallationStore(client_id="111.222", engine=engine)
    installations.save(
        Installation(
            app_id="A1",
            enterprise_id=None,
            team_id="T1",
            user_id="U1",
            bot_token="xoxb-old",
            bot_id="B1",
            bot_user_id="UB1",
            bot_scopes="chat:write",
        )
    )
    state = SQLAlchemyOAuthStateStore(expiration_seconds=600, engine=engine).issue()
    counts = _counts(engine)
    engine.dispose()
    return {"schedule_id": schedule_id, "counts": counts, "state": state}


def _counts(engine: Any) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            t: int(connection.scalar(select(func.count()).select_from(text(t))) or 0)
            for t in LEGACY_TABLES
        }


async def test_a_new_database_gets_exactly_the_schema_the_code_expects(url: str) -> None:
    engine = create_engine(url)

    made = migrate.upgrade(engine)

    assert made.current == migrate.head()
    assert made.is_current
    assert schema_drift(url) == []
    assert migrate.upgrade(engine).current == made.current  # again: nothing to do
    engine.dispose()


async def test_a_database_made_by_the_last_release_is_adopted_with_every_row(url: str) -> None:
    legacy = fill_legacy(url)
    probe = create_engine(url)
    assert migrate.current(probe).current is None
    probe.dispose()

    store = Store(url, client_id="111.222")
    store.create_all()  # what `serve`, `socket` and `digest` do at start
    watches = WatchStore(store.engine)

    assert migrate.current(store.engine).is_current
    assert _counts(store.engine) == legacy["counts"]
    assert schema_drift(url) == []
    assert [r.target for r in await store.recent_reports("T1")] == ["a.example"]
    assert [w.domain for w in await watches.watches("T1", "C1")] == ["a.example"]
    last = await watches.last_run(legacy["schedule_id"])
    assert last is not None
    assert last.ran_at == NOW
    assert await watches.stop_reason(legacy["schedule_id"]) == "Slack said is_archived"
    assert await watches.outbox.state("digest:T1:C1:2024-05-01T08:00Z") is PostState.PENDING
    assert not await store.claim_event("Ev1")  # still remembered
    bot = await store.installation_store.async_find_bot(enterprise_id=None, team_id="T1")
    assert bot is not None
    assert bot.bot_token == "xoxb-old"
    assert await store.state_store.async_consume(legacy["state"])
    tables = set(inspect(store.engine).get_table_names())
    assert {"mxbot_alert", "mxbot_record_history", "alembic_version"} <= tables
    store.close()


async def test_an_older_release_without_the_outbox_gains_it_and_keeps_its_rows(url: str) -> None:
    legacy = fill_legacy(url)
    engine = create_engine(url)
    with engine.begin() as connection:  # a release from before the outbox and stops
        connection.execute(text("DROP TABLE mxbot_outbox"))
        connection.execute(text("DROP TABLE mxbot_schedule_stop"))

    migrate.upgrade(engine)

    counts = _counts(engine)
    assert counts["mxbot_outbox"] == counts["mxbot_schedule_stop"] == 0
    assert {
        t: n for t, n in counts.items() if t not in ("mxbot_outbox", "mxbot_schedule_stop")
    } == {
        t: n
        for t, n in legacy["counts"].items()
        if t not in ("mxbot_outbox", "mxbot_schedule_stop")
    }
    assert schema_drift(url) == []
    engine.dispose()


@pytest.mark.parametrize("legacy", [False, True], ids=["new", "last-release"])
def test_instances_upgrading_at_once_upgrade_once(url: str, legacy: bool) -> None:
    if legacy:
        fill_legacy(url)
    engines = {name: create_engine(url) for name in ("one", "two", "three")}
    done: dict[str, migrate.Revision] = {}

    def upgrader(name: str) -> Callable[[], None]:
        def body() -> None:
            done[name] = migrate.upgrade(engines[name])

        return body

    race({name: upgrader(name) for name in engines})

    assert {r.current for r in done.values()} == {migrate.head()}
    assert schema_drift(url) == []
    with engines["one"].connect() as connection:
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    assert [v[0] for v in versions] == [migrate.head()]
    for engine in engines.values():
        engine.dispose()


def test_mxbot_db_upgrade_and_current_say_where_the_database_stands(tmp_path: Path) -> None:
    env = {**os.environ, "MXBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}

    def mxbot(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 -- our own entry point, fixed arguments
            [sys.executable, "-m", "bot.cli.main", *argv],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    before = mxbot("db", "current")
    up = mxbot("db", "upgrade")
    again = mxbot("db", "upgrade")
    after = mxbot("db", "current")

    assert (before.returncode, up.returncode, again.returncode, after.returncode) == (1, 0, 0, 0)
    assert before.stdout.startswith("none: not under migrations yet")
    assert f"to {migrate.head()}" in up.stdout
    assert "already at" in again.stdout
    assert after.stdout.strip() == f"{migrate.head()} (the newest)"
